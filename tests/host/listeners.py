#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""listeners.py: a server whose clients reset, on listeners of every kind,
for the tests of the accepted connections' local address (the shim takes it
from the listener when the listener is bound to one address, and asks each
connection otherwise: docs/design.md "A short written list of extra calls").

    listeners.py

One line per accepted connection that the client reset:
"peer=ADDR local=ADDR listener_fd=N", both addresses as the kernel gives
them (accept's address, getsockname of the accepted socket) in the records'
notation, and what the server's recv() got. In order:
  1. a listener on 127.0.0.3;
  2. that listener closed, a new one (the same fd number) on 127.0.0.6;
  3. a listener on 0.0.0.0, the client connecting to 127.0.0.2;
  4. a dual-stack listener on ::, the client connecting to 127.0.0.4;
  5. a listener on 127.0.0.7 dup2()'d onto the number of the one of step 2.
"""
import socket
import struct
import os


def fmt(addr):
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listen(family, host):
    s = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind((host, 0))
    s.listen(8)
    return s


def reset_one(listener, connect_to, port=None):
    """A client connects to connect_to and resets; the server's side of it."""
    port = port or listener.getsockname()[1]
    c = socket.create_connection((connect_to, port))
    conn, peer = listener.accept()
    local = conn.getsockname()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    try:
        got = repr(conn.recv(100))
    except OSError as e:
        got = type(e).__name__
    print(f"peer={fmt(peer)} local={fmt(local)} "
          f"listener_fd={listener.fileno()} recv={got}", flush=True)
    conn.close()


a = listen(socket.AF_INET, "127.0.0.3")
reset_one(a, "127.0.0.3")
a_fd = a.fileno()
a.close()
b = listen(socket.AF_INET, "127.0.0.6")
print(f"the new listener took the old one's number: {b.fileno() == a_fd}", flush=True)
reset_one(b, "127.0.0.6")
w = listen(socket.AF_INET, "0.0.0.0")
reset_one(w, "127.0.0.2")
v = listen(socket.AF_INET6, "::")
reset_one(v, "127.0.0.4")
c = listen(socket.AF_INET, "127.0.0.7")
os.dup2(c.fileno(), b.fileno())  # b's number now holds c's socket
reset_one(b, "127.0.0.7", port=c.getsockname()[1])

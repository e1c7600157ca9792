#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""causes/server.py MODE PORT_FILE: the servers of tests/causes.bats that
resetd has no mode for. It listens on a free loopback port and writes it to
PORT_FILE. TLS modes use cert.pem and key.pem in $CAUSE_CERT_DIR.

  tls-rst-after-request: TLS handshake, read the request, abort (RST)
                without answering.
  tls-rst-on-close-notify: TLS handshake, read the request, answer it, wait
                for the client's close_notify, then abort (RST).
  tls-slow-close: TLS handshake, read the request, close (FIN, no
                close_notify) 2 s later without answering.
  tls-rst-on-hello: read the ClientHello, abort: a TLS handshake reset.
  hang:         read the request, create PORT_FILE.got, never answer (kill -9
                it, or what is in front of it).
  early-answer: read 4 bytes of the request, answer 413 at once, wait 50 ms,
                close() with the rest of the upload unread (RST).
  big-response: answer any request with 8 MiB (a client that gives up
                mid-download makes our send fail; run it under the shim).
  read-request: read until the peer goes away (a server under the shim whose
                client aborts)."""
import os, socket, ssl, struct, sys, time
mode, port_file = sys.argv[1], sys.argv[2]
here = os.environ["CAUSE_CERT_DIR"]  # cert.pem and key.pem
def abort(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
def read_request(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
def tls_request(s):  # the TLS handshake (our test certificate), then the request
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(here, "cert.pem"), os.path.join(here, "key.pem"))
    t = ctx.wrap_socket(s, server_side=True)
    read_request(t)
    return t
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", 0)); l.listen(16)
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % l.getsockname()[1])
os.rename(port_file + ".tmp", port_file)
c, _ = l.accept()
try:
    if mode == "early-answer":
        c.recv(4)
        c.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        time.sleep(0.05)
        c.close()
        time.sleep(2)
    elif mode == "big-response":
        c.recv(4096)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8388608\r\n\r\n")
        for i in range(128):
            c.sendall(b"d" * 65536)
    elif mode == "read-request":
        while c.recv(4096):
            pass
    elif mode == "tls-rst-after-request":
        t = tls_request(c)
        time.sleep(0.05)
        abort(t)
        time.sleep(2)
    elif mode == "tls-rst-on-close-notify":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(here, "cert.pem"), os.path.join(here, "key.pem"))
        t = ctx.wrap_socket(c, server_side=True)
        read_request(t)
        t.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        while t.recv(4096):  # b"" once the client's close_notify is in
            pass
        abort(t)
        time.sleep(1)
    elif mode == "tls-slow-close":
        t = tls_request(c)
        time.sleep(2)
        t.close()
        time.sleep(1)
    elif mode == "tls-rst-on-hello":
        c.recv(16)
        time.sleep(0.05)
        abort(c)
        time.sleep(2)
    elif mode == "hang":
        read_request(c)
        open(port_file + ".got", "w").close()
        time.sleep(60)
except OSError as e:
    print("server error:", e.errno, e)
    sys.exit(1)
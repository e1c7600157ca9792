#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""causes/client.py MODE ARGS...: the clients of tests/causes.bats, one
misbehaving or unlucky client per mode.

CAUSE_HOOK (optional): a shell command run between connect and the request,
without the shim (e.g. an iptables rule, ss -K). On an OSError the client
prints "error: NAME ERRNO MESSAGE" and exits 1."""
import http.client
import os
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from testhook import error_line, run_hook  # noqa: E402


def hook():
    run_hook("CAUSE_HOOK")


def fail(e):
    error_line(e)
    sys.exit(1)


mode, args = sys.argv[1], sys.argv[2:]
REQ = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
try:
    if mode == "keepalive":          # PORT GAP_S: two GETs on one keep-alive connection
        c = http.client.HTTPConnection("127.0.0.1", int(args[0]), timeout=10)
        c.request("GET", "/"); r = c.getresponse(); print("first:", r.status, r.read())
        time.sleep(float(args[1]))
        c.request("GET", "/"); r = c.getresponse(); print("second:", r.status, r.read())
    elif mode == "eof-write":        # PORT GAP_S: read to EOF, wait, write again (x5)
        s = socket.create_connection(("127.0.0.1", int(args[0])))
        s.sendall(REQ)
        while s.recv(4096):
            pass
        print("eof")
        time.sleep(float(args[1]))
        for i in range(5):
            s.send(REQ); time.sleep(0.05)
    elif mode == "upload":           # PORT: 16 KiB, read the early answer, then 1 MiB more
        s = socket.create_connection(("127.0.0.1", int(args[0])))
        s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1064960\r\n\r\n" + b"u" * 16384)
        print("early answer:", s.recv(4096)[:12])
        # Long enough for the server's close (50 ms) to reset us, short of the
        # 200 ms quiet gap after which a reset reads as an idle timeout.
        time.sleep(0.12)
        chunk = b"u" * 65536
        for i in range(16):
            s.sendall(chunk)
    elif mode == "recv-first":       # PORT: never send, wait for the server to speak
        s = socket.create_connection(("127.0.0.1", int(args[0])))
        time.sleep(0.2)
        print("got", s.recv(4096))
    elif mode == "hold":             # PORT USER_TIMEOUT_MS before|after: request, wait, read
        s = socket.create_connection(("127.0.0.1", int(args[0])))
        if int(args[1]):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(args[1]))
        if args[2] == "before":
            hook()
        s.sendall(REQ)
        if args[2] == "after":
            hook()
        time.sleep(0.6)
        print("got", s.recv(4096))
    elif mode == "abort":            # PORT: send half a request, then close with RST
        s = socket.create_connection(("127.0.0.1", int(args[0])))
        s.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(0.2)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    elif mode == "read-some-close":  # PORT: request, read a little of the response, close
        s = socket.create_connection(("127.0.0.1", int(args[0])))
        s.sendall(REQ)
        print("read", len(s.recv(1000)))
        s.close()
        time.sleep(0.3)
    elif mode == "https-get":        # PORT: one HTTPS GET (certificate not checked), read the answer
        c = http.client.HTTPSConnection("127.0.0.1", int(args[0]), context=ssl._create_unverified_context())
        c.request("GET", "/")
        c.getresponse()
    elif mode == "connect":          # PORT [HOST]: a blocking connect (to 127.0.0.1 by default)
        socket.create_connection((args[1] if len(args) > 1 else "127.0.0.1", int(args[0])))
    else:
        sys.exit("unknown mode " + mode)
except OSError as e:
    fail(e)
#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""diagnosis_client.py MODE PORT ARGS...: the clients of tests/diagnosis.bats,
one misbehaving or unlucky client per mode, against 127.0.0.1:PORT.

CAUSE_HOOK (optional): a shell command run without the shim at the point
the mode names (e.g. an iptables rule that starts black-holing the server).
On an OSError the client prints "error: NAME ERRNO MESSAGE" and exits 1."""

import os
import socket
import sys
import time

from testhook import error_line, run_hook

REQ = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def hook():
    run_hook("CAUSE_HOOK")


def main(mode, args):
    if mode == "keepalive":          # PORT GAP_S: a GET, GAP_S quiet, a GET on the same connection
        s = socket.create_connection(("127.0.0.1", int(args[0])))
        s.sendall(REQ); print("first:", s.recv(4096)[:12])
        time.sleep(float(args[1]))
        s.sendall(REQ)
        d = s.recv(4096)
        print("second:", d[:12])
        if not d:
            sys.exit(1)
    elif mode == "goodbye":          # PORT: a GET and its answer, 1 s quiet, a GET, read to EOF
        s = socket.create_connection(("127.0.0.1", int(args[0])))
        s.sendall(REQ); print("first:", s.recv(4096)[:12])
        time.sleep(1)
        s.sendall(REQ)
        got = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
        print("read %d bytes, then EOF" % len(got))
        sys.exit(1)
    elif mode == "slow-upload":      # PORT [expect]: headers, then 1 KiB of the body every 0.4 s
        s = socket.create_connection(("127.0.0.1", int(args[0])))
        expect = len(args) > 1 and args[1] == "expect"
        s.sendall(b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10240\r\n" +
                  (b"Expect: 100-continue\r\n" if expect else b"") + b"\r\n")
        if expect:
            print("interim:", s.recv(4096).split(b"\r\n")[0].decode())
        for i in range(10):
            time.sleep(0.4)
            s.send(b"u" * 1024)
        print("response:", s.recv(4096)[:12])
    elif mode == "ka-idle-hold":     # PORT GAP_S USER_TIMEOUT_MS: GET, CAUSE_HOOK, GAP_S quiet, GET
        s = socket.create_connection(("127.0.0.1", int(args[0])))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(args[2]))
        s.sendall(REQ); print("first:", s.recv(4096)[:12])
        hook()
        time.sleep(float(args[1]))
        s.sendall(REQ)
        print("second:", s.recv(4096)[:12])
    elif mode == "read-timeout":     # PORT GAP_S TIMEOUT_S: as ka-idle-hold (GAP_S < 0: one GET,
        s = socket.create_connection(("127.0.0.1", int(args[0])))  # hook after connect), then a
        if float(args[1]) >= 0:                                      # read timeout and close
            s.sendall(REQ); print("first:", s.recv(4096)[:12])
        hook()
        if float(args[1]) > 0:
            time.sleep(float(args[1]))
        s.sendall(REQ)
        s.settimeout(float(args[2]))
        try:
            s.recv(4096)
        except TimeoutError:
            print("read timed out")
        s.close()
        time.sleep(0.2)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    try:
        main(sys.argv[1], sys.argv[2:])
    except OSError as e:
        error_line(e)
        sys.exit(1)

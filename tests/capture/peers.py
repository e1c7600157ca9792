#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""peers.py: the server and clients tests/capture.bats runs in its namespaces.

  peers.py server PORT            HTTP/1.1 server on [::]:PORT (IPv4 and IPv6), one thread per
                                  connection, keep-alive; what it does depends on the path:
                                    /abort    reads the request, closes with SO_LINGER 0 (an RST)
                                    /stream   answers with a chunk every 20 ms for 5 s
                                    anything else: a short 200 response
  peers.py idle HOST PORT SECS    one keep-alive connection: a request, SECS of quiet, a second
                                  request; prints "ok" or the error of the second exchange
  peers.py stream HOST PORT       reads /stream until the end or an error; prints "ok" or it
  peers.py churn HOST PORT N      N connections one after another, each a request and a response:
                                  even ones closed normally (FIN), odd ones with SO_LINGER 0 (RST);
                                  every fifth asks /abort (the server's RST); prints the counts
"""
import socket
import struct
import sys
import threading
import time

LINGER0 = struct.pack("ii", 1, 0)


def handle(conn):
    f = conn.makefile("rb")
    try:
        while True:
            line = f.readline()
            if not line:
                return
            path = line.split()[1].decode() if len(line.split()) > 1 else "/"
            while True:
                h = f.readline()
                if not h or h in (b"\r\n", b"\n"):
                    break
            if path == "/abort":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
                return
            if path == "/stream":
                conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                end = time.time() + 5
                while time.time() < end:
                    conn.sendall(b"x" * 100 + b"\n")
                    time.sleep(0.02)
                return
            body = b"hello\n"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    except OSError:
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def server(port):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", int(port)))
    s.listen(512)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def connect(host, port):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    c = socket.socket(fam, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect((host, int(port)))
    return c


def exchange(c, path="/"):
    c.sendall(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path.encode())
    data = b""
    while b"hello\n" not in data:
        d = c.recv(4096)
        if not d:
            raise ConnectionError("eof")
        data += d


def idle(host, port, secs):
    c = connect(host, port)
    exchange(c)
    time.sleep(float(secs))
    try:
        exchange(c)
        print("ok")
    except OSError as e:
        print(type(e).__name__)


def stream(host, port):
    c = connect(host, port)
    c.sendall(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
    try:
        while c.recv(65536):
            pass
        print("ok")
    except OSError as e:
        print(type(e).__name__)


def churn(host, port, n):
    counts = {"ok": 0, "reset": 0, "error": 0}
    for i in range(int(n)):
        try:
            c = connect(host, port)
            if i % 5 == 4:
                c.sendall(b"GET /abort HTTP/1.1\r\nHost: t\r\n\r\n")
                try:
                    c.recv(100)
                except ConnectionResetError:
                    pass
                counts["reset"] += 1
            else:
                exchange(c)
                counts["ok"] += 1
            if i % 2:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
            c.close()
        except OSError:
            counts["error"] += 1
    print(" ".join("%s=%d" % kv for kv in counts.items()))


def main(argv):
    cmds = {"server": server, "idle": idle, "stream": stream, "churn": churn}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.stderr.write(__doc__)
        return 2
    cmds[argv[1]](*argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

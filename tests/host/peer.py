#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""peer.py: an HTTP/1.1 peer for the "never hurt the host" tests that logs
every request it receives, so a test can prove what reached the server (a
request sent twice, a request the app never made).

    peer.py --port-file F --log F [--answer N] [--delay-ms N] [--unix PATH]

Connection 1 answers its first N requests (default 0), then, once it has
read at least one more complete request, sleeps --delay-ms and aborts with
an RST (SO_LINGER 0). Every later connection answers every request
(keep-alive) with 200 and the request's path as the body, or with
--stall-later never reads at all. --rst-after-answer: connection 1
aborts --delay-ms after its --answer'th answer instead of waiting for the
next request; --fin-after-answer: it closes normally (FIN) then.
--body-bytes N pads every answer's body with N dots. --delay-all: every
answer waits --delay-ms first. The log gets one line per complete request
received: "<conn> <METHOD> <path> <body bytes>", flushed at once.
"""
import argparse
import os
import socket
import struct
import threading
import time


def read_request(sock, buf):
    """Returns (request_tuple, rest) or (None, buf) at EOF/reset."""
    while b"\r\n\r\n" not in buf:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return None, buf
        if not chunk:
            return None, buf
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    method, path = lines[0].split(b" ")[:2]
    length = 0
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while b"0\r\n\r\n" not in rest:
            chunk = sock.recv(65536)
            if not chunk:
                return None, buf
            rest += chunk
        body, _, rest = rest.partition(b"0\r\n\r\n")
        return (method.decode(), path.decode(), len(body)), rest
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None, buf
        rest += chunk
    return (method.decode(), path.decode(), length), rest[length:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--answer", type=int, default=0)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--delay-all", action="store_true")
    ap.add_argument("--stall-later", action="store_true")
    ap.add_argument("--rst-after-answer", action="store_true")
    ap.add_argument("--fin-after-answer", action="store_true")
    ap.add_argument("--body-bytes", type=int, default=0)
    ap.add_argument("--unix")
    a = ap.parse_args()
    log = open(a.log, "a", buffering=1)
    lock = threading.Lock()
    if a.unix:
        ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ls.bind(a.unix)
        port = 0
    else:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", 0))
        port = ls.getsockname()[1]
    ls.listen(64)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, a.port_file)
    nconn = 0

    def serve(conn, n):
        if n > 1 and a.stall_later:
            time.sleep(60)  # never read: the client's send stalls
            return
        buf = b""
        answered = 0
        while True:
            req, buf = read_request(conn, buf)
            if req is None:
                conn.close()
                return
            with lock:
                log.write("%d %s %s %d\n" % (n, req[0], req[1], req[2]))
            if n == 1 and answered >= a.answer:
                # read what else is already in flight, then abort
                time.sleep(a.delay_ms / 1000.0)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                return
            if a.delay_all:
                time.sleep(a.delay_ms / 1000.0)
            body = req[1].encode() + b"." * a.body_bytes
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            answered += 1
            if n == 1 and (a.rst_after_answer or a.fin_after_answer) and answered >= a.answer:
                time.sleep(a.delay_ms / 1000.0)
                if a.rst_after_answer:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                return

    while True:
        conn, _ = ls.accept()
        nconn += 1
        threading.Thread(target=serve, args=(conn, nconn), daemon=True).start()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""clients.py: Python clients for the bats suites, so a test can check that
an ordinary Python program behaves identically with and without the shim.

    clients.py socket HOST PORT [--ipv6]   socket.sendall() + socket.recv()
    clients.py http HOST PORT [PATH]       http.client GET, prints status + body size

No socket timeouts on purpose (a timeout turns Python's I/O into poll() +
non-blocking calls); instead the whole run is bounded by alarm(30). Errors
are not caught: the traceback and exit status are what the tests compare.
"""
import http.client
import signal
import socket
import sys

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def socket_client(host, port, family):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.connect((host, port))
    print("connected")
    sys.stdout.flush()
    s.sendall(REQUEST)
    data = s.recv(65536)
    print("received %d bytes" % len(data))
    s.close()


def http_client(host, port, path):
    conn = http.client.HTTPConnection(host, port)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    print("status %d, %d bytes" % (resp.status, len(body)))
    conn.close()


def main(argv):
    signal.alarm(30)
    if len(argv) < 3 or argv[0] not in ("socket", "http"):
        sys.stderr.write(__doc__)
        return 2
    kind, host, port = argv[0], argv[1], int(argv[2])
    if kind == "socket":
        family = socket.AF_INET6 if "--ipv6" in argv[3:] else socket.AF_INET
        socket_client(host, port, family)
    else:
        http_client(host, port, argv[3] if len(argv) > 3 else "/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

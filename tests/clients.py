#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""clients.py: the Python programs of the bats suites (ordinary stdlib
clients, one small server, one launcher), so a test can check that a Python program
behaves identically with and without the shim.

    clients.py socket HOST PORT [--ipv6]
        socket.sendall() + socket.recv() of one request.
    clients.py http HOST PORT [PATH]
        one http.client GET; prints "status <s>, <n> bytes".
    clients.py gets HOST PORT N [SERVERLOG]
        N GETs (/1, /2, ...) on one http.client connection. Prints
        "<i> <status> <bytes> <ms>" per request (ms: request to end of body)
        or "<i> error <Exception> <errno>"; after an error the next request
        goes out on a new connection. With SERVERLOG (keepalive-server's
        log), after an error and BEFORE closing its socket it waits (<= 2 s)
        for the server to log how its side ended and prints "server: <line>"
        (a close with unread data would also reset the server's side, so the
        check must happen while the socket is still open). Exit 0.
    clients.py methods HOST PORT [--continue] METHOD...
        one http.client connection, one request per METHOD (path /1, /2, ...).
        "METHOD+key" adds an Idempotency-Key header; POST/PUT send a 3-byte
        body. Prints "<i> <METHOD> <status> <body bytes>". Without --continue
        an error is not caught (traceback, exit 1); with it the error is
        printed as "<i> <METHOD> error <ExceptionName>", the connection
        closed, and the next request goes out on a new connection.
    clients.py conns PORT N
        N connections to 127.0.0.1:PORT, one GET each; prints "<i> ok" or
        "<i> <Exception>" per connection.
    clients.py resets PORT N
        N connections to 127.0.0.1:PORT, one HTTP/1.0 request each, one
        recv (a reset is expected and ignored), close. Prints nothing; the
        server's resets are what the records count. Exit 0.
    clients.py connects PORT [N]
        N (default 1) blocking connects to 127.0.0.1:PORT; prints
        "<i> connected" or "<i> <Exception>"; exit 1 if any failed.
    clients.py connect-timed PORT
        one blocking connect() to 127.0.0.1:PORT; prints "connected" (exit 0)
        or lets the error escape (traceback, exit 1). Always writes
        "connect_ms <n>" (time spent in connect()) to stderr.
    clients.py connect-repoll PORT [BIND_PORT]
        a non-blocking connect to 127.0.0.1:PORT whose outcome is learnt by
        calling connect() again every 10 ms (at most 300 calls); prints
        "connect: ok", "connect: <ERRNO>" or the EINPROGRESS/EALREADY it
        gave up on.
    clients.py connect-poll-soerror PORT [BIND_PORT]
        a non-blocking connect (from 127.0.0.1:BIND_PORT when given), poll()
        for POLLOUT, then getsockopt(SO_ERROR), as asyncio does; prints each
        step's result.
    clients.py tls-then-http PORT
        a raw socket that starts like a TLS client: a handshake record (first
        byte 0x16), reads the server's answer, then sends a second message on
        the same (reused) connection and waits for a reply. The second
        message is plain "GET / HTTP/1.1": even bytes that look like HTTP must
        never be replayed once the connection carried TLS.
    clients.py broken-pipe-run COMMAND...
        runs COMMAND with its stderr, and fd 7, on the write end of a pipe
        whose read end is already closed; prints "status=<exit status>" and
        then COMMAND's stdout.
    clients.py keepalive-server PORTFILE LOG
        a keep-alive HTTP server on 127.0.0.1 (port written atomically to
        PORTFILE) that logs, per connection, each request and how the
        connection ended: "conn <n> request <m>", then "conn <n> eof" or
        "conn <n> <Exception>". Runs until killed.

Clients set no socket timeouts on purpose (a timeout turns Python's I/O into
poll() + non-blocking calls); instead a client's whole run is bounded by
alarm(30). Errors the description does not mention are not caught: the
traceback and exit status are what the tests compare.
"""
import errno
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def socket_client(host, port, *opts):
    family = socket.AF_INET6 if "--ipv6" in opts else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.connect((host, int(port)))
    print("connected")
    sys.stdout.flush()
    s.sendall(REQUEST)
    data = s.recv(65536)
    print("received %d bytes" % len(data))
    s.close()


def http_client(host, port, path="/"):
    conn = http.client.HTTPConnection(host, int(port))
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    print("status %d, %d bytes" % (resp.status, len(body)))
    conn.close()


def server_side_end(serverlog):
    """The keepalive-server's line saying how a connection ended (<= 2 s)."""
    seen, deadline = "nothing", time.monotonic() + 2
    while seen == "nothing" and time.monotonic() < deadline:
        for line in open(serverlog):
            if re.match(r"conn [0-9]+ (eof|[A-Z])", line):
                seen = line.strip()
                break
        time.sleep(0.01)
    return seen


def gets(host, port, n, serverlog=None):
    conn = http.client.HTTPConnection(host, int(port))
    for i in range(1, int(n) + 1):
        t = time.monotonic()
        try:
            conn.request("GET", "/%d" % i)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            print("%d error %s %s" % (i, type(e).__name__, e.errno), flush=True)
            if serverlog:
                print("server: " + server_side_end(serverlog), flush=True)
            conn.close()
            continue
        print("%d %d %d %d" % (i, resp.status, len(data), (time.monotonic() - t) * 1000), flush=True)
    conn.close()


def methods(host, port, *args):
    keep_going = "--continue" in args
    specs = [a for a in args if a != "--continue"]
    conn = http.client.HTTPConnection(host, int(port))
    for i, spec in enumerate(specs, 1):
        method, _, key = spec.partition("+")
        headers = {"Idempotency-Key": "k-%d" % i} if key else {}
        body = b"a=1" if method in ("POST", "PUT") else None
        try:
            conn.request(method, "/%d" % i, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            if not keep_going:
                raise
            print("%d %s error %s" % (i, method, type(e).__name__), flush=True)
            conn.close()
            continue
        print("%d %s %d %d" % (i, method, resp.status, len(data)), flush=True)
    conn.close()


def conns(port, n):
    for i in range(1, int(n) + 1):
        conn = http.client.HTTPConnection("127.0.0.1", int(port))
        try:
            conn.request("GET", "/")
            conn.getresponse().read()
            print("%d ok" % i, flush=True)
        except OSError as e:
            print("%d %s" % (i, type(e).__name__), flush=True)
        conn.close()


def resets(port, n):
    for _ in range(int(n)):
        s = socket.create_connection(("127.0.0.1", int(port)))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        try:
            s.recv(100)
        except ConnectionResetError:
            pass
        s.close()


def connects(port, n="1"):
    bad = 0
    for i in range(1, int(n) + 1):
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", int(port)))
            print("%d connected" % i, flush=True)
        except OSError as e:
            print("%d %s" % (i, type(e).__name__), flush=True)
            bad = 1
        s.close()
    return bad


def connect_timed(port):
    s = socket.socket()
    t = time.monotonic()
    try:
        s.connect(("127.0.0.1", int(port)))
    finally:
        sys.stderr.write("connect_ms %d\n" % ((time.monotonic() - t) * 1000))
    print("connected")


def connect_repoll(port, bind_port="0"):
    """A non-blocking connect whose outcome is learnt by calling connect()
    again (POSIX): prints the errno it ends with, or that it gave up."""
    s = socket.socket()
    if bind_port != "0":
        s.bind(("127.0.0.1", int(bind_port)))
    s.setblocking(False)
    err = s.connect_ex(("127.0.0.1", int(port)))
    calls = 1
    while err in (errno.EINPROGRESS, errno.EALREADY) and calls < 300:
        time.sleep(0.01)
        err = s.connect_ex(("127.0.0.1", int(port)))
        calls += 1
    print("connect: %s" % (errno.errorcode.get(err, err) if err else "ok"))


def connect_poll_soerror(port, bind_port="0"):
    """A non-blocking connect learnt as asyncio does: poll for POLLOUT, then
    SO_ERROR; then a write. bind_port: a fixed source port (0: none)."""
    import select
    s = socket.socket()
    if bind_port != "0":
        s.bind(("127.0.0.1", int(bind_port)))
    s.setblocking(False)
    err = s.connect_ex(("127.0.0.1", int(port)))
    print("connect: %s" % errno.errorcode.get(err, err))
    p = select.poll()
    p.register(s, select.POLLOUT)
    ready = p.poll(5000)
    print("poll: %s" % ("ready" if ready else "timed out"))
    e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    print("SO_ERROR: %s" % (errno.errorcode.get(e, e) if e else 0))


def tls_then_http(port):
    s = socket.create_connection(("127.0.0.1", int(port)))
    hello = (b"\x16\x03\x01\x00\x2e\x01\x00\x00\x2a\x03\x03" + bytes(range(32)) +
             b"\x00\x00\x02\x13\x01\x01\x00")
    s.sendall(hello)
    got = b""
    while not got.endswith(b"ok\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    print("first reply %d bytes" % len(got), flush=True)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = s.recv(4096)
    print("second reply %d bytes" % len(data), flush=True)


def broken_pipe_run(*command):
    r, w = os.pipe()
    os.close(r)
    os.dup2(w, 7)
    p = subprocess.run(command, stderr=w, stdout=subprocess.PIPE, pass_fds=(7,))
    sys.stdout.write("status=%d\n%s" % (p.returncode, p.stdout.decode()))


def keepalive_server(portfile, logpath):
    import threading  # the server alone needs threads

    log = open(logpath, "a", buffering=1)
    lock = threading.Lock()

    def note(s):
        with lock:
            log.write(s + "\n")

    def serve(c, n):
        buf, m = b"", 0
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = c.recv(65536)
                    if not chunk:
                        note("conn %d eof" % n)
                        return
                    buf += chunk
                _, _, buf = buf.partition(b"\r\n\r\n")
                m += 1
                note("conn %d request %d" % (n, m))
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        except OSError as e:
            note("conn %d %s" % (n, type(e).__name__))
        finally:
            c.close()

    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    os.rename(portfile + ".tmp", portfile)
    n = 0
    while True:
        c, _ = srv.accept()
        n += 1
        threading.Thread(target=serve, args=(c, n), daemon=True).start()


# name: (function, required arguments, bounded by alarm(30))
COMMANDS = {
    "socket": (socket_client, 2, True),
    "http": (http_client, 2, True),
    "gets": (gets, 3, True),
    "methods": (methods, 2, True),
    "conns": (conns, 2, True),
    "resets": (resets, 2, True),
    "connects": (connects, 1, True),
    "connect-timed": (connect_timed, 1, True),
    "connect-repoll": (connect_repoll, 1, True),
    "connect-poll-soerror": (connect_poll_soerror, 1, True),
    "tls-then-http": (tls_then_http, 1, True),
    "broken-pipe-run": (broken_pipe_run, 1, True),
    "keepalive-server": (keepalive_server, 2, False),
}


def main(argv):
    if not argv or argv[0] not in COMMANDS or len(argv) - 1 < COMMANDS[argv[0]][1]:
        sys.stderr.write(__doc__)
        return 2
    fn, _, bounded = COMMANDS[argv[0]]
    if bounded:
        signal.alarm(30)
    return fn(*argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

# SPDX-License-Identifier: MIT
"""accuracy_client.py: the clients of tests/accuracy.bats, one per MODE.

    accuracy_client.py MODE ARGS...

Each mode does what a real application does (a pooled database connection,
a keep-alive HTTP session, a slow upload), with one pause in the middle where
ACC_HOOK (a shell command, run without LD_PRELOAD) makes the failure happen:
a kill, a restart, a reload, a firewall rule. Errors are printed as
"error: TYPE ERRNO MESSAGE" and the exit status is 1. Needs Debian's python3
(psycopg2, pymysql and requests come from Debian packages).
"""
import os
import socket
import sys
import time

from testhook import error_line as report, run_hook


def hook():
    run_hook("ACC_HOOK")


def http_upload(host, port, head_stall, body_stall):
    """POST whose headers (after the first line) or body arrive late."""
    s = socket.create_connection((host, int(port)), timeout=20)
    s.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\n")
    time.sleep(float(head_stall))
    s.sendall(b"Content-Type: application/octet-stream\r\nContent-Length: 200000\r\n\r\n" + b"a" * 1000)
    time.sleep(float(body_stall))
    for _ in range(40):
        s.sendall(b"b" * 4960)
        time.sleep(0.01)
    print("answer:", s.recv(4096)[:40])


def main():
    mode, a = sys.argv[1], sys.argv[2:]
    if mode == "upload":  # HOST PORT HEAD_STALL_S BODY_STALL_S
        http_upload(*a)
    elif mode == "http-ka":  # HOST PORT PATH: two GETs on one keep-alive connection, hook between
        import http.client
        c = http.client.HTTPConnection(a[0], int(a[1]), timeout=20)
        c.request("GET", a[2]); r = c.getresponse(); print("first:", r.status, len(r.read()))
        hook()
        c.request("GET", a[2]); r = c.getresponse(); print("second:", r.status, len(r.read()))
    elif mode == "requests":  # URL TIMEOUT_S: two GETs on a requests.Session, hook between
        import requests
        s = requests.Session()
        print("first:", s.get(a[0], timeout=float(a[1])).status_code)
        hook()
        print("second:", s.get(a[0], timeout=float(a[1])).status_code)
    elif mode == "pg":  # DSN N: N pooled psycopg2 connections, a query on each, hook, a query on each
        import psycopg2
        pool = [psycopg2.connect(a[0]) for _ in range(int(a[1]))]
        for c in pool:
            c.autocommit = True
            c.cursor().execute("select 1")
        hook()
        failed = 0
        for c in pool:
            try:
                c.cursor().execute("select 1")
            except psycopg2.Error as e:
                failed += 1
                report(e, e.pgcode)
        print("failed", failed)
        sys.exit(1 if failed else 0)
    elif mode == "mysql":  # PORT N: N pooled pymysql connections, query, hook, query
        import pymysql
        pool = [pymysql.connect(host="127.0.0.1", port=int(a[0]), user="root", password="", connect_timeout=5)
                for _ in range(int(a[1]))]
        for c in pool:
            c.cursor().execute("select 1")
        hook()
        failed = 0
        for c in pool:
            try:
                c.cursor().execute("select 1")
            except pymysql.Error as e:
                failed += 1
                print("error:", type(e).__name__, e.args)
        print("failed", failed)
        sys.exit(1 if failed else 0)
    elif mode == "ka-user-timeout":  # HOST PORT MS: two GETs on one socket with TCP_USER_TIMEOUT, hook between
        s = socket.create_connection((a[0], int(a[1])), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(a[2]))
        req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        s.sendall(req); print("first:", s.recv(4096)[:12])
        hook()
        s.sendall(req); print("second:", s.recv(4096)[:12])
    elif mode == "hold":  # HOST PORT N SECONDS: N connections, a request on each, held open
        socks = []
        for _ in range(int(a[2])):
            try:
                c = socket.create_connection((a[0], int(a[1])), timeout=5)
                c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                socks.append(c)
            except OSError as e:
                report(e)
        time.sleep(float(a[3]))
        answered = 0
        for c in socks:
            c.settimeout(0.2)
            try:
                if c.recv(4096):
                    answered += 1
            except OSError:
                pass
        print("connected", len(socks), "answered", answered)
    elif mode == "redis":  # PORT: PING, hook, PING on one connection (RESP by hand)
        s = socket.create_connection(("127.0.0.1", int(a[0])), timeout=10)
        s.sendall(b"PING\r\n"); print("first:", s.recv(100))
        hook()
        s.sendall(b"PING\r\n"); r = s.recv(100); print("second:", r)
        if not r:
            sys.exit(1)
    else:
        sys.exit("unknown mode " + mode)


try:
    main()
except OSError as e:
    report(e)
    sys.exit(1)
except Exception as e:  # requests and the database drivers wrap the OSError
    report(e)
    sys.exit(1)

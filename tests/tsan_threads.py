# SPDX-License-Identifier: MIT
"""tsan_threads.py: a threaded server and client pool for tests/tsan.sh.

One process: a server thread that accepts, reads the request and aborts
(SO_LINGER 0), and CLIENTS client threads that each make CONNS connections
(connect, send a GET, read until the reset). Every connection ends in an
ECONNRESET on the client and an accepted-then-aborted socket on the server,
so the shim's shared state (the fd table, the connection pool, the rate
limiter, the summary counters, the log sink) is used by all threads at once.
With ROTATE set, a thread renames the log file ROTATE times meanwhile, as
logrotate's "create" does, so the sink reopens while other threads write.

    python3 tsan_threads.py CLIENTS CONNS [LOG ROTATE]

Prints "resets=N of M"; exit 0 when every client saw its reset.
"""
import os
import socket
import struct
import sys
import threading
import time

clients, conns = int(sys.argv[1]), int(sys.argv[2])
log = sys.argv[3] if len(sys.argv) > 3 else None
rotate = int(sys.argv[4]) if len(sys.argv) > 4 else 0
total = clients * conns

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(128)
port = srv.getsockname()[1]
resets = 0
lock = threading.Lock()


def server():
    for _ in range(total):
        c, _ = srv.accept()
        c.recv(100)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()


def client():
    global resets
    for _ in range(conns):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        try:
            while s.recv(100):
                pass
        except ConnectionResetError:
            with lock:
                resets += 1
        s.close()


def rotator():
    for i in range(rotate):
        time.sleep(0.02)
        try:
            os.rename(log, "%s.%d" % (log, i + 1))
        except FileNotFoundError:
            pass


threads = [threading.Thread(target=server)]
threads += [threading.Thread(target=client) for _ in range(clients)]
if log and rotate:
    threads.append(threading.Thread(target=rotator))
for t in threads:
    t.start()
for t in threads:
    t.join()
print("resets=%d of %d" % (resets, total))
sys.exit(0 if resets == total else 1)

#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""cases.py: client programs for the "never hurt the host" tests. Each case is
an ordinary program doing one thing that an earlier shim got wrong; the tests
run it bare and under the shim and compare what the program printed, its exit
status and what the peer (tests/host/peer.py) logged.

    cases.py CASE PORT

Prints what the app received (the response bodies, or the error), one line
per step. Errors are printed, not raised, so both runs exit 0 unless the
shim crashes the program.
"""
import ctypes
import os
import signal
import socket
import sys
import tempfile
import time

libc = ctypes.CDLL(None, use_errno=True)
SYS_close = 3


def req(method, path, body=b"", extra=b""):
    head = b"%s %s HTTP/1.1\r\nHost: t\r\n%s" % (method.encode(), path.encode(), extra)
    if body or method in ("POST", "PUT"):
        head += b"Content-Length: %d\r\n" % len(body)
    return head + b"\r\n" + body


def read_response(s):
    """Reads one response; returns its body, or raises OSError/EOFError."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("EOF")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    while len(rest) < n:
        chunk = s.recv(65536)
        if not chunk:
            raise EOFError("EOF in body")
        rest += chunk
    return rest[:n]


def report(label, fn):
    try:
        out = fn()
        print("%s: %r" % (label, out))
    except (OSError, EOFError) as e:
        print("%s: %s" % (label, type(e).__name__ + (" errno=%s" % e.errno if isinstance(e, OSError) else "")))
    sys.stdout.flush()


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    return s


def case_pipeline_one_write(port):
    s = connect(port)
    s.sendall(req("GET", "/a") + req("POST", "/pay", b"amount=10"))
    report("response", lambda: read_response(s))


def case_pipeline_two_writes(port):
    s = connect(port)
    s.sendall(req("GET", "/a"))
    s.sendall(req("POST", "/pay", b"amount=10"))
    report("response", lambda: read_response(s))


def case_writev_two_gets(port):
    s = connect(port)
    os.writev(s.fileno(), [req("GET", "/a"), req("GET", "/b")])
    report("response /a", lambda: read_response(s))
    report("response /b", lambda: read_response(s))


def case_post_body_like_get(port):
    s = connect(port)
    body = b"GET /y HTTP/1.1\r\nHost: t\r\n\r\n"
    head = b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
    os.writev(s.fileno(), [head, body])
    report("response", lambda: read_response(s))


def case_writev_put(port):
    # headers and body in one writev, as node's fetch sends a PUT: one
    # complete idempotent request, which may be replayed.
    s = connect(port)
    body = b"x" * 100
    head = b"PUT /item HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body)
    os.writev(s.fileno(), [head, body])
    report("response", lambda: read_response(s))


def sendfile_bytes(s, data):
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.flush()
        os.sendfile(s.fileno(), f.fileno(), 0, len(data))


def case_sendfile_post_after_get(port):
    s = connect(port)
    s.sendall(req("GET", "/a"))
    report("response /a", lambda: read_response(s))
    sendfile_bytes(s, req("POST", "/pay", b"amount=10"))
    report("response /pay", lambda: read_response(s))


def case_sendfile_body(port):
    s = connect(port)
    body = b"y" * 64
    s.sendall(b"PUT /item HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body))
    sendfile_bytes(s, body)
    report("response", lambda: read_response(s))


def unseen_close_then_pipe(port, how):
    s = connect(port)
    s.sendall(req("GET", "/a"))
    report("response /a", lambda: read_response(s))
    s.sendall(req("GET", "/b"))
    fd = s.detach()
    if how == "syscall":
        libc.syscall(SYS_close, fd)
    else:
        libc.fdopen.restype = ctypes.c_void_p
        f = libc.fdopen(fd, b"r+")
        libc.fclose(ctypes.c_void_p(f))
    r, w = os.pipe()
    print("pipe reused the number: %s" % (r == fd))
    os.close(w)
    report("pipe read", lambda: os.read(r, 100))
    report("pipe read again", lambda: os.read(r, 100))


def case_syscall_close_pipe(port):
    unseen_close_then_pipe(port, "syscall")


def case_fclose_pipe(port):
    unseen_close_then_pipe(port, "fclose")


def pair_on_unseen_closed_dup(port):
    """A keep-alive connection answered once; a second fd on its socket is
    closed where the shim cannot see it and a socketpair takes the number.
    Returns (the connection, the pair's socket on that number)."""
    s = connect(port)
    s.sendall(req("GET", "/a"))
    report("response /a", lambda: read_response(s))
    d = os.dup(s.fileno())
    libc.syscall(SYS_close, d)
    a, b = socket.socketpair()
    pair = a if a.fileno() == d else b
    print("pair reused the number: %s" % (pair.fileno() == d))
    return s, pair


def case_unseen_dup_close_shutdown(port):
    # The pair is shut down. That shutdown is the pair's, not the HTTP
    # connection's: the connection's EPIPE, writing after the peer closed,
    # is no "write after our own shutdown" and gets its record.
    s, pair = pair_on_unseen_closed_dup(port)
    pair.shutdown(socket.SHUT_WR)
    time.sleep(0.3)  # the peer closes 20 ms after its answer
    report("request /b", lambda: s.sendall(req("GET", "/b")))  # goes out; the peer resets
    time.sleep(0.1)
    report("request /c", lambda: s.sendall(req("GET", "/c")))


def case_unseen_dup_close_setfl(port):
    # The pair is made non-blocking: that is the pair's flag, not the
    # connection's. The replay after the reset at /b builds its socket
    # blocking, like the app's, so the next reads wait.
    s, pair = pair_on_unseen_closed_dup(port)
    os.set_blocking(pair.fileno(), False)
    s.sendall(req("GET", "/b"))
    report("response /b", lambda: read_response(s))
    s.sendall(req("GET", "/c"))
    report("response /c", lambda: read_response(s))


def case_zero_length_read(port):
    # read(fd, buf, 0) returns 0 on a healthy connection: it is no EOF, so
    # no request may be replayed for it and no record written.
    s = connect(port)
    for path in ("/a", "/b", "/c"):
        s.sendall(req("GET", path))
        report("read of 0 bytes", lambda: os.read(s.fileno(), 0))
        report("response " + path, lambda: read_response(s))


def case_zero_length_read_after_reset(port):
    # The peer resets; the app reads zero bytes (read(fd, buf, 0), an empty
    # readv, an empty recvmsg) and then reads for real: bare, that read gets
    # the reset. A read of zero bytes must not consume the pending error.
    import select
    empty = {
        "read": lambda s: os.read(s.fileno(), 0),
        "readv": lambda s: os.readv(s.fileno(), [bytearray(0)]),
        "recvmsg": lambda s: s.recvmsg_into([bytearray(0)])[0],
    }
    for name, read0 in empty.items():
        s = connect(port)
        s.sendall(req("GET", "/"))
        select.select([s], [], [], 5)  # the RST is in
        time.sleep(0.05)
        report(name + " of 0 bytes", lambda: read0(s))
        report("then recv", lambda: s.recv(100))
        s.close()


def case_inherited_client(port):
    # sshd's re-exec: the connection is handed to a new program on fds 0
    # and 1, which only reads and writes them (the shim loaded there never
    # saw the socket created).
    s = connect(port)
    os.dup2(s.fileno(), 0)
    os.dup2(s.fileno(), 1)
    os.execv(sys.executable, [sys.executable, __file__, "inherited-child", "0"])


def case_inherited_server(port):
    # inetd's way: a listener accepts and execs the handler with the
    # connection on fds 0 and 1; the client aborts after its request.
    import struct
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(1)
    if os.fork() == 0:  # the client; it keeps the listener open, as inetd does
        c = connect(port)
        c.sendall(req("GET", "/"))
        time.sleep(0.3)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        time.sleep(3)  # the handler reads the reset well before this
        os._exit(0)
    c, _ = ls.accept()
    ls.close()
    os.dup2(c.fileno(), 0)
    os.dup2(c.fileno(), 1)
    os.execv(sys.executable, [sys.executable, __file__, "inherited-child", "1"])


def case_inherited_child(server):
    # fds 0 and 1 are the connection; what the app sees goes to stderr.
    sys.stdout = sys.stderr
    if server == 1:
        report("read request", lambda: len(os.read(0, 1000)))
        time.sleep(0.5)
    else:
        report("write request", lambda: os.write(1, req("GET", "/")))
        time.sleep(0.3)
    report("read", lambda: os.read(0, 100))


def case_scm_rights_sendfile(port):
    # vsftpd's data socket: made by another (bare) process and received by
    # SCM_RIGHTS; the first call on it here is a sendfile that meets the
    # peer's reset.
    import subprocess
    a, b = socket.socketpair()
    helper = (
        "import socket, sys\n"
        "b = socket.socket(fileno=int(sys.argv[2]))\n"
        "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
        "s.sendall(b'GET / HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n')\n"
        "socket.send_fds(b, [b'x'], [s.fileno()])\n")
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    subprocess.run([sys.executable, "-c", helper, str(port), str(b.fileno())],
                   pass_fds=[b.fileno()], env=env, check=True)
    _, fds, _, _ = socket.recv_fds(a, 10, 1)
    time.sleep(0.3)  # the peer's reset is in
    with tempfile.TemporaryFile() as f:
        f.write(b"y" * 100)
        f.flush()
        report("sendfile", lambda: os.sendfile(fds[0], f.fileno(), 0, 100))


def case_scm_rights_accepted(_):
    # vsftpd's passive data connection: accepted by one process (after an
    # earlier accept, the control connection) from a listener it then
    # closes, passed by SCM_RIGHTS to its fork child, whose first call on it
    # is a sendfile into the peer's reset. The client (bare) prints its
    # address on the data connection.
    import subprocess
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    ctl = socket.socket()
    ctl.bind(("127.0.0.1", 0))
    ctl.listen(1)
    client = (
        "import socket, struct, sys\n"
        "c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))\n"
        "d = socket.create_connection(('127.0.0.1', int(c.recv(16).decode())))\n"
        "print('local %s:%d' % d.getsockname(), flush=True)\n"
        "c.recv(16)\n"
        "d.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))\n"
        "d.close()\n"
        "c.sendall(b'reset')\n"
        "c.recv(16)\n")
    cl = subprocess.Popen([sys.executable, "-c", client, str(ctl.getsockname()[1])], env=env,
                          stdout=subprocess.PIPE)
    c, _ = ctl.accept()
    a, b = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        a.close()
        _, fds, _, _ = socket.recv_fds(b, 10, 1)
        b.sendall(b"got")
        b.recv(10)  # the client has reset it
        with tempfile.TemporaryFile() as f:
            f.write(b"y" * 100)
            f.flush()
            report("sendfile", lambda: os.sendfile(fds[0], f.fileno(), 0, 100))
        sys.stdout.flush()
        os._exit(0)
    b.close()
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    c.sendall(str(lst.getsockname()[1]).encode())
    d, _ = lst.accept()
    lst.close()
    socket.send_fds(a, [b"x"], [d.fileno()])
    d.close()
    a.recv(10)
    c.sendall(b"go")
    c.recv(16)
    time.sleep(0.1)
    a.sendall(b"on")
    os.waitpid(pid, 0)
    c.sendall(b"bye")
    print(cl.communicate()[0].decode().strip())


def case_socketpair_teardown(_):
    # A program's own plumbing: one end of a socketpair closes with data
    # unread; the other end's next read and write fail (ECONNRESET, EPIPE).
    a, b = socket.socketpair()
    a.sendall(b"unread")
    b.close()
    report("recv", lambda: a.recv(10))
    report("send", lambda: a.send(b"x"))


def case_forking_server(arg):
    # A fork-per-connection server (sshd, dnsmasq, exim): the parent closes
    # its copy of each accepted connection at once, the child serves it.
    # Its own clients (bare, spawned) make n requests over tcp, then over a
    # unix socket. "N:exit-stdio": tcp only, and each child answers as
    # exim's does, through C stdio (fdopen, fputs, fflush), and ends with
    # _exit() with the connection still open. "N:child-first": the parent
    # closes its copy only after the child has served and closed the
    # connection and exited (a slow parent on a busy machine).
    import subprocess
    n, _, how = str(arg).partition(":")
    n = int(n)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    d = tempfile.mkdtemp()
    for family in ("tcp",) if how == "exit-stdio" else ("tcp", "unix"):
        if family == "tcp":
            ls = socket.socket()
            ls.bind(("127.0.0.1", 0))
            addr = "127.0.0.1:%d" % ls.getsockname()[1]
        else:
            ls = socket.socket(socket.AF_UNIX)
            ls.bind(os.path.join(d, "s"))
            addr = os.path.join(d, "s")
        ls.listen(8)
        client = (
            "import socket, sys\n"
            "a = sys.argv[1]\n"
            "for i in range(int(sys.argv[2])):\n"
            "    if ':' in a:\n"
            "        h, p = a.split(':'); s = socket.create_connection((h, int(p)))\n"
            "    else:\n"
            "        s = socket.socket(socket.AF_UNIX); s.connect(a)\n"
            "    s.sendall(b'ping'); print(s.recv(10).decode()); s.close()\n")
        cl = subprocess.Popen([sys.executable, "-c", client, addr, str(n)], env=env,
                              stdout=subprocess.PIPE)
        for _ in range(n):
            c, _ = ls.accept()
            pid = os.fork()
            if pid == 0:
                ls.close()
                c.recv(10)
                time.sleep(0.05)  # the parent has closed its copy by now
                if how == "exit-stdio":
                    import ctypes
                    libc = ctypes.CDLL(None)
                    libc.fdopen.restype = ctypes.c_void_p
                    f = ctypes.c_void_p(libc.fdopen(c.fileno(), b"w"))
                    libc.fputs(b"pong", f)
                    libc.fflush(f)
                    os._exit(0)
                c.sendall(b"pong")
                c.close()
                os._exit(0)
            if how == "child-first":
                os.waitpid(pid, 0)
                c.close()
            else:
                c.close()
                os.waitpid(pid, 0)
        print(family, cl.communicate()[0].decode().split())
        ls.close()


def reset_once(port):
    """A request that a resetd rst-after-request server resets: a record is due."""
    s = connect(port)
    s.sendall(req("GET", "/"))
    report("reset", lambda: s.recv(100))
    s.close()


def case_closefrom_reuse(port):
    # A daemon's way: close every fd above stderr (the shim's log among
    # them, opened at the first reset) and open files that take the numbers
    # back. A fork child and the next record must leave those files alone.
    reset_once(port)
    os.closerange(3, 256)
    d = tempfile.mkdtemp()
    fds = [os.open(os.path.join(d, "f%d" % i), os.O_CREAT | os.O_WRONLY, 0o600) for i in range(4)]
    pid = os.fork()
    if pid == 0:
        for i, fd in enumerate(fds):
            report("child write f%d" % i, lambda: os.write(fd, b"child"))
        os._exit(0)
    os.waitpid(pid, 0)
    reset_once(port)
    for i, fd in enumerate(fds):
        report("write f%d" % i, lambda: os.write(fd, b"data"))
    for i, fd in enumerate(fds):
        report("close f%d" % i, lambda: os.close(fd))


def case_closefrom_reuse_socket(ports):
    # The same with the records going to a socket (syslog): after closerange
    # the program's own TCP connection takes the number; the next record must
    # not travel down it. ports: "RESET_PORT,ECHO_PORT".
    port, echo = (int(p) for p in ports.split(","))
    reset_once(port)
    os.closerange(3, 256)
    conns = [connect(echo) for _ in range(3)]
    reset_once(port)
    for i, c in enumerate(conns):
        c.sendall(b"hello\n")
        report("echo %d" % i, lambda: c.recv(65536))


def case_nonblocking_replay_stall(port):
    # A big idempotent request, a small send buffer (inherited by the
    # replay's socket) and a peer that never reads on the new connection:
    # the replay inside this non-blocking recv must give up quickly.
    import select
    import time
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    s.connect(("127.0.0.1", port))
    body = b"z" * 1500000
    s.sendall(b"PUT /big HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    s.setblocking(False)
    select.select([s], [], [], 10)
    t0 = time.monotonic()
    report("response", lambda: s.recv(100))
    took = time.monotonic() - t0
    print("non-blocking recv returned within 1.5 s: %s" % (took < 1.5))


def case_unread_response_then_write(port):
    # The app reads only the start of a response; the peer resets; the app
    # then sends its next request and reads on. Linux keeps the unread bytes
    # after the reset: bare, the app reads them next.
    import time
    s = connect(port)
    s.sendall(req("GET", "/a"))
    time.sleep(0.1)
    print("first read: %d bytes" % len(s.recv(100)))
    time.sleep(0.3)  # the peer's RST arrives
    report("write", lambda: s.send(req("GET", "/r")))
    report("read", lambda: len(s.recv(65536)))
    report("read again", lambda: len(s.recv(65536)))


def case_unix_accept(path):
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(4)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    conn, addr = ls.accept()
    print("accepted, peer address %r" % (addr,))
    c.sendall(b"ping")
    print("server got %r" % conn.recv(10))
    conn.sendall(b"pong")
    print("client got %r" % c.recv(10))


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    signal.alarm(30)
    name, arg = sys.argv[1], sys.argv[2]
    CASES[name.replace("-", "_")](arg if name in ("unix-accept", "closefrom-reuse-socket", "forking-server") else int(arg))

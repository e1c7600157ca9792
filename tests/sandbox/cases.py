#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""cases.py: the Python programs of tests/sandbox.bats (the shim in
sandboxes, chroots, privilege drops, and programs whose fds carry traffic).

    cases.py abort-before-accept N
        N clients connect to a listener of this process and reset (SO_LINGER
        0, close) before it accepts them; then it accepts each with an address
        buffer and reads: prints "<n> accepted from 127.0.0.1, <m> reset".
    cases.py stderr-is-socket PORT
        puts one end of a socketpair on fd 2 (as inetd and vsftpd put a
        client's socket on fds 0-2), then sends a request to 127.0.0.1:PORT
        (a resetting server) and reads: prints what the read raised, and
        then "stream: <n> bytes" with what arrived at the other end of fd 2.
    cases.py chroot-reset PORT JAIL
        chroot(JAIL) (an empty directory), then sends a request to
        127.0.0.1:PORT (a resetting server) and reads: prints what it raised.
    cases.py drop-fork-reset PORT
        as root: drops to uid/gid 65534, forks; the child sends a request to
        127.0.0.1:PORT (a resetting server), reads, prints "child <pid>:
        <what it raised>" and _exit()s; the parent waits and prints the
        child's exit status.
    cases.py fork-resets PORT N
        forks N children one after the other (a forking daemon's
        per-connection processes); each sends a request to 127.0.0.1:PORT (a
        resetting server), reads, prints "child <i>: <what it raised>" and
        _exit()s; then the parent does the same and prints "parent: ...".
"""
import os
import socket
import struct
import sys


def abort_before_accept(n):
    n = int(n)
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(n + 8)
    for _ in range(n):
        c = socket.socket()
        c.connect(ls.getsockname())
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    accepted = resets = 0
    for _ in range(n):
        s, addr = ls.accept()
        accepted += addr[0] == "127.0.0.1"
        try:
            s.recv(10)
        except ConnectionResetError:
            resets += 1
        s.close()
    print(f"{n} accepted from 127.0.0.1: {accepted}, reset: {resets}")


def stderr_is_socket(port):
    ours, theirs = socket.socketpair()
    os.dup2(theirs.fileno(), 2)
    theirs.close()
    c = socket.create_connection(("127.0.0.1", int(port)))
    c.sendall(b"GET / HTTP/1.0\r\n\r\n")
    try:
        c.recv(100)
        print("read: ok")
    except OSError as e:
        print(f"read: {type(e).__name__}")
    c.close()
    ours.setblocking(False)
    got = b""
    try:
        while True:
            chunk = ours.recv(65536)
            if not chunk:
                break
            got += chunk
    except BlockingIOError:
        pass
    print(f"stream: {len(got)} bytes")
    sys.stdout.flush()


def request_reset(port):
    """One request to a resetting server; what the read raised. (No name
    lookup: after a chroot or a privilege drop the codecs it would import
    are out of reach.)"""
    c = socket.socket()
    c.connect(("127.0.0.1", int(port)))
    c.sendall(b"GET / HTTP/1.0\r\n\r\n")
    try:
        c.recv(100)
        return "ok"
    except OSError as e:
        return type(e).__name__
    finally:
        c.close()


def chroot_reset(port, jail):
    os.chroot(jail)
    os.chdir("/")
    print(f"read: {request_reset(port)}")


def child_reset(port, label):
    """Forks a child that prints label ({pid}: its pid) and its request's fate;
    returns the child's wait status."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        print(f"{label.format(pid=os.getpid())}: {request_reset(port)}")
        sys.stdout.flush()
        os._exit(0)
    return os.waitpid(pid, 0)[1]


def drop_fork_reset(port):
    os.setgid(65534)
    os.setuid(65534)
    status = child_reset(port, "child {pid}")
    print(f"child exit {os.waitstatus_to_exitcode(status)}")


def fork_resets(port, n):
    for i in range(int(n)):
        child_reset(port, f"child {i}")
    print(f"parent: {request_reset(port)}")


CASES = {
    "fork-resets": fork_resets,
    "chroot-reset": chroot_reset,
    "drop-fork-reset": drop_fork_reset,
    "abort-before-accept": abort_before_accept,
    "stderr-is-socket": stderr_is_socket,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in CASES:
        sys.exit("usage: cases.py " + "|".join(CASES) + " ARGS...")
    CASES[sys.argv[1]](*sys.argv[2:])

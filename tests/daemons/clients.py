#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""clients.py: the clients and the one backend of tests/daemons.bats, each an
ordinary stdlib program talking to a real daemon on 127.0.0.1.

    clients.py abort PORT [--until TEXT] [--send HEX] [--more] [--pause S]
        connects, reads until TEXT has arrived (when given), sends the bytes
        HEX (when given), with --more waits (<= 5 s) for at least one more
        byte from the server, with --pause sleeps S seconds (a forked child
        gets to its read), then closes with SO_LINGER 0: the daemon's side
        gets a RST. Prints "local 127.0.0.1:<port>" (the peer address
        the daemon's record must name) and, with --more, "more yes|no".
    clients.py ssh-preauth-abort PORT
        an SSH client that exchanges banners, waits for the server's
        KEXINIT (sent by sshd's sandboxed pre-authentication child) and
        resets: the reset meets that child. Prints "local ..." and
        "kexinit yes|no".
    clients.py ftp PORT
        anonymous login, LIST, RETR of file.txt and big.bin with ftplib;
        prints the welcome line, the reply codes, the listed names, the
        text file and the big file's length and sha256.
    clients.py ftp-login PORT
        anonymous login, PWD, TYPE I and QUIT (no file access); prints the
        replies.
    clients.py ftp-data-abort PORT
        anonymous login, then RETR big.bin over a passive data connection
        that the client resets after its first bytes; prints "local ..."
        and "server HOST:PORT" (the data connection's two ends) and the
        server's final reply code.
    clients.py dns PORT NAME
        one A query over TCP (RFC 1035 4.2.2 framing); prints the rcode, the
        answer count and the last answer's address.
    clients.py smtp PORT
        EHLO, NOOP and QUIT with smtplib; prints the reply codes.
    clients.py socks PORT
        a SOCKS5 greeting offering "no authentication"; prints the reply.
    clients.py reset-backend PORT LOG
        an HTTP backend on 127.0.0.1:PORT that reads each request's head,
        appends its request line to LOG and resets the connection (SO_LINGER
        0) without answering. Runs until killed.

Every client's run is bounded by alarm(30); errors the description does not
mention are not caught, so the traceback and exit status are what the
tests compare bare and under the shim.
"""
import signal
import socket
import struct
import sys
import time

# ftplib, smtplib (which pulls in the email package) and hashlib are imported
# by the subcommands that use them: each client is a fresh process, and on a
# busy machine the imports were most of a client's run.


def connect(port):
    return socket.create_connection(("127.0.0.1", int(port)))


def reset_close(sock):
    """Close so that the peer gets a RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def print_local(sock):
    host, port = sock.getsockname()[:2]
    print(f"local {host}:{port}", flush=True)


def read_until(sock, text, limit=5.0):
    """Read until TEXT was received (or LIMIT seconds passed); returns the bytes."""
    sock.settimeout(limit)
    got = b""
    try:
        while text not in got:
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    sock.settimeout(None)
    return got


def more_arrives(sock, limit=5.0):
    sock.settimeout(limit)
    try:
        return len(sock.recv(4096)) > 0
    except socket.timeout:
        return False
    finally:
        sock.settimeout(None)


def abort(port, *opts):
    until = send = None
    more = False
    pause = 0.0
    args = list(opts)
    while args:
        a = args.pop(0)
        if a == "--until":
            until = args.pop(0).encode()
        elif a == "--send":
            send = bytes.fromhex(args.pop(0))
        elif a == "--more":
            more = True
        elif a == "--pause":
            pause = float(args.pop(0))
        else:
            raise SystemExit(f"abort: unknown option {a}")
    s = connect(port)
    print_local(s)
    if until:
        read_until(s, until)
    if send:
        s.sendall(send)
    if more:
        print("more", "yes" if more_arrives(s) else "no", flush=True)
    time.sleep(pause)
    reset_close(s)


def ssh_preauth_abort(port):
    s = connect(port)
    print_local(s)
    banner = read_until(s, b"\r\n")
    s.sendall(b"SSH-2.0-rstwatch_test\r\n")
    # The server's KEXINIT follows its banner; it may have come with it.
    after = banner.split(b"\r\n", 1)[1] if b"\r\n" in banner else b""
    print("kexinit", "yes" if after or more_arrives(s) else "no", flush=True)
    reset_close(s)


def ftp_session(port):
    import ftplib
    import hashlib
    import io

    f = ftplib.FTP()
    f.connect("127.0.0.1", int(port))
    print(f.getwelcome())
    print(f.login())
    lines = []
    f.retrlines("LIST", lines.append)
    print("list", sorted(line.split()[-1] for line in lines))
    text = io.BytesIO()
    print(f.retrbinary("RETR file.txt", text.write))
    print("file.txt", text.getvalue())
    big = io.BytesIO()
    print(f.retrbinary("RETR big.bin", big.write))
    print("big.bin", len(big.getvalue()), hashlib.sha256(big.getvalue()).hexdigest())
    print(f.quit())


def ftp_login(port):
    import ftplib

    f = ftplib.FTP()
    f.connect("127.0.0.1", int(port))
    print(f.getwelcome())
    print(f.login())
    print("pwd", f.pwd())
    print(f.sendcmd("TYPE I"))
    print(f.quit())


def ftp_data_abort(port):
    import ftplib

    f = ftplib.FTP()
    f.connect("127.0.0.1", int(port))
    f.login()
    f.voidcmd("TYPE I")
    data = f.transfercmd("RETR big.bin")
    print_local(data)
    host, port = data.getpeername()[:2]
    print(f"server {host}:{port}", flush=True)
    data.recv(1024)
    reset_close(data)
    try:
        print("reply", f.getresp()[:3])
    except ftplib.Error as e:
        print("reply", str(e)[:3])
    f.quit()


def dns_query(port, name):
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    msg = struct.pack(">HHHHHH", 0x5253, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
    s = connect(port)
    s.sendall(struct.pack(">H", len(msg)) + msg)
    head = b""
    while len(head) < 2:
        head += s.recv(2 - len(head))
    (length,) = struct.unpack(">H", head)
    reply = b""
    while len(reply) < length:
        chunk = s.recv(length - len(reply))
        if not chunk:
            break
        reply += chunk
    answers = struct.unpack(">H", reply[6:8])[0]
    print("rcode", reply[3] & 15, "answers", answers, "addr", ".".join(map(str, reply[-4:])))
    s.close()


def smtp_session(port):
    import smtplib

    s = smtplib.SMTP("127.0.0.1", int(port), local_hostname="client.test")  # no getfqdn() lookup
    print("ehlo", s.ehlo("client.test")[0])
    print("noop", s.noop()[0])
    print("quit", s.quit()[0])


def socks_greeting(port):
    s = connect(port)
    s.sendall(b"\x05\x01\x00")
    print("reply", read_until(s, b"\x00", 10).hex())
    s.close()


def reset_backend(port, logpath):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", int(port)))
    ls.listen(16)
    with open(logpath, "a") as log:
        while True:
            c, _ = ls.accept()
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = c.recv(4096)
                if not chunk:
                    break
                head += chunk
            log.write(head.split(b"\r\n", 1)[0].decode(errors="replace") + "\n")
            log.flush()
            reset_close(c)


COMMANDS = {
    "abort": abort,
    "ssh-preauth-abort": ssh_preauth_abort,
    "ftp": ftp_session,
    "ftp-login": ftp_login,
    "ftp-data-abort": ftp_data_abort,
    "dns": dns_query,
    "smtp": smtp_session,
    "socks": socks_greeting,
    "reset-backend": reset_backend,
}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        raise SystemExit("usage: clients.py " + "|".join(COMMANDS) + " ARGS...")
    if argv[1] != "reset-backend":
        signal.alarm(30)
    COMMANDS[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)

#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""fuzzdiff.py: the driver of the differential socket-API fuzzer.

Runs the executor (build/helpers/fuzzdiff, see tests/helpers/fuzzdiff.c) over
a range of seeds bare and under LD_PRELOAD=librstwatch.so in several modes,
and compares, seed by seed:

* every call's return value, errno and received-bytes hash, and the bytes the
  peer received: identical, except for a documented replay (a complete single
  idempotent request re-sent on a new connection after a reset/EOF before any
  response byte), which must appear as exactly that;
* the shim's records (RSTWATCH_LOG=fd:102) against what the transcript says
  the program saw: one reset-family record per connection that saw a reset,
  an eof record where the response was due (a reused connection, or a fresh
  one whose first request bytes were HTTP; not after the program's own
  shutdown(SHUT_WR), nor an EOF that follows its own shutdown(SHUT_RD)), a close
  record per connection with RSTWATCH_RECORD=all, nothing else.

Usage:
  fuzzdiff.py [--first N] [--count N] [--modes m1,m2] [--chunk N] [--tap]
              [--skip FEATURES] [--known | --allow IDS] [--seeds S1,S2,...]
              [--keep DIR] [--regressions tests/fuzzdiff/regressions.txt]
Modes: defaults, all (RSTWATCH_RECORD=all), connect, idempotent; "self"
runs bare twice (checks the harness's own determinism).
Exit status 0 when no divergence was found (with --known: none that is not
explained by a known defect). Known defects: 1-8 are the shim defects listed in
the issue this fuzzer was written for (unix accept crash, malloc in signal
paths, pipelined replay, stale replay buffer after sendfile, writev replay,
stale fd entries after unseen closes, close while another thread is blocked,
blocking replay in non-blocking calls); A-F were found by this fuzzer; all are
described in tests/fuzzdiff/regressions.txt.
"""
import argparse
import calendar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BUILD", "build")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
EXE = os.path.join(BUILD, "helpers", "fuzzdiff")
LIB = os.path.join(BUILD, "librstwatch.so")
REPLAY_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nreplay")
FAST_RETRY = {"RSTWATCH_RETRY_BASE_MS": "1", "RSTWATCH_RETRY_CAP_MS": "2"}
MODES = {
    "self": None,
    "defaults": {},
    "all": {"RSTWATCH_RECORD": "all"},
    "connect": dict(FAST_RETRY, RSTWATCH_RETRY="connect"),
    "idempotent": dict(FAST_RETRY, RSTWATCH_RETRY="idempotent"),
}
RESET_ERRNOS = {"ECONNRESET", "EPIPE", "ECONNREFUSED", "ECONNABORTED", "ETIMEDOUT",
                "EHOSTUNREACH", "ENETUNREACH"}
QUIET_ERRNOS = {"EAGAIN", "EINTR", "EINPROGRESS", "EALREADY", "EISCONN"}
# Calls the shim sees (stdio goes through glibc's internal write).
SHIM_SENDS = {"send", "sendto", "sendmsg", "sendmmsg", "write", "writev", "sendfile", "splice",
              "headers_then_body", "child_send", "pair_send"}
# The writes whose bytes the shim looks at to learn the protocol (sendmmsg,
# sendfile and splice move bytes it does not see).
SHIM_SNIFFS = {"send", "sendto", "sendmsg", "write", "writev", "headers_then_body", "child_send"}
# errno values a SO_ERROR read may return, by number
SO_ERRNOS = {104: "ECONNRESET", 32: "EPIPE", 111: "ECONNREFUSED", 110: "ETIMEDOUT",
             113: "EHOSTUNREACH", 101: "ENETUNREACH", 103: "ECONNABORTED"}
SHIM_READS = {"recv", "recvfrom", "recvmsg", "recvmmsg", "read", "readv", "recv_waitall",
              "thread_recv", "child_peek"}
ALL_READS = SHIM_READS
ALL_SENDS = SHIM_SENDS | {"stdio", "splice"}
LINE = re.compile(r"^C (\d+) (\S+) lk=(-?\d+) fd=(-?\d+) r=(-?\d+) e=(\S+) h=([0-9a-f]+) sig=(-?\d+)$")


def fnv(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


REPLAY_PREFIX_HASH = {n: "%016x" % fnv(REPLAY_RESPONSE[:n]) for n in range(1, len(REPLAY_RESPONSE) + 1)}


def spawn(mode_env, first, count, workdir, tag, skip):
    """Starts one peer and one client over seeds [first, first+count)."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    tr_path = os.path.join(workdir, tag + ".tr")
    log_path = os.path.join(workdir, tag + ".log")
    tf = open(tr_path, "wb")
    lf = open(log_path, "wb")
    base = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    for v in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"):  # sanitized builds (make SANITIZE=...)
        if v in os.environ:
            base[v] = os.environ[v]
    try:
        os.dup2(b.fileno(), 100)
        peer = subprocess.Popen([EXE, "peer"], pass_fds=[100], env=base, cwd="/tmp")
        os.close(100)
        os.dup2(a.fileno(), 100)
        os.dup2(tf.fileno(), 101)
        os.dup2(lf.fileno(), 102)
        env = dict(base)
        if skip:
            env["FUZZDIFF_SKIP"] = skip
        if mode_env is not None:
            env.update(mode_env)
            san = os.environ.get("SAN_RUNTIME", "")
            env["LD_PRELOAD"] = (san + ":" if san else "") + LIB
            env["RSTWATCH_LOG"] = "fd:102"
        client = subprocess.Popen([EXE, "client", str(first), str(count)], pass_fds=[100, 101, 102],
                                  env=env, cwd="/tmp", stderr=None if os.environ.get("FUZZDIFF_STDERR") else subprocess.PIPE)
    finally:
        for fd in (100, 101, 102):
            try:
                os.close(fd)
            except OSError:
                pass
        a.close()
        b.close()
        tf.close()
        lf.close()
    return client, peer, tr_path, log_path


def read_transcript(path):
    seqs = {}
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            seed, _, rest = line.partition(" ")
            seqs.setdefault(int(seed), []).append(rest)
    return seqs


def read_records(path):
    by_pid = {}
    with open(path, "rb") as f:
        for raw in f:
            try:
                rec = json.loads(raw)
            except ValueError:
                by_pid.setdefault(-1, []).append({"type": "unparsable", "raw": raw[:200]})
                continue
            by_pid.setdefault(rec.get("pid", -1), []).append(rec)
    return by_pid


def record_us(rec):
    """A record's "time" (2026-12-02T13:21:48.610540Z) in microseconds since the epoch."""
    try:
        t = rec.get("time", "")
        base = calendar.timegm(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S"))
        frac = t[20:-1] if len(t) > 20 else "0"
        return base * 1000000 + int((frac + "000000")[:6])
    except (ValueError, TypeError):
        return 0


def norm(line):
    if line.startswith("END "):
        return "END"  # the SIGPIPE total: each call's own count is compared already
    return re.sub(r" (pid|t)=\d+", "", line)


def compared(lines):
    """The lines that must match (O lines carry run-specific addresses)."""
    return [norm(l) for l in lines if not l.startswith("O ") and not l.startswith("X REPLAY")]


class Divergence:
    def __init__(self, seed, mode, what, detail, known=None):
        self.seed, self.mode, self.what, self.detail, self.known = seed, mode, what, detail, known
        self.flaky = False

    def __str__(self):
        k = " [known: %s]" % self.known if self.known else ""
        if self.flaky:
            k += " [did not reproduce when re-run: timing noise]"
        return "seed=%d mode=%s %s: %s%s" % (self.seed, self.mode, self.what, self.detail, k)


def call(line):
    m = LINE.match(line)
    if not m:
        return None
    step, name, lk, fd, r, e, h, sig = m.groups()
    return {"step": int(step), "name": name, "lk": int(lk), "fd": int(fd), "r": int(r), "e": e,
            "h": h, "sig": int(sig)}


def requests_of(lines, upto, lk):
    """Q lines on lk since the last response byte, before index upto."""
    qs = []
    pending = None  # the Q line whose write comes next
    for line in lines[:upto]:
        if line.startswith("Q "):
            f = dict(kv.split("=", 1) for kv in line.split()[2:])
            if int(f["lk"]) == lk:
                qs.append(f)
                pending = f
        c = call(line)
        if c and c["lk"] == lk and c["name"] in ALL_READS and c["r"] > 0:
            qs = []
        if c and c["lk"] == lk and c["name"] in ALL_SENDS | {"child_send"} and pending is not None:
            if c["r"] <= 0 and pending in qs:
                qs.remove(pending)  # nothing of a failed write reached the peer
            pending = None
    return qs


def unread_after(lines, i, lk):
    """(bytes, line) when the bare run still read data on lk after line i."""
    for line in lines[i + 1:]:
        c = call(line)
        if c and c["lk"] == lk and c["name"] in ALL_READS:
            return (c["r"], line) if c["r"] > 0 else None
        if c and c["lk"] == lk and c["name"] in ("close",) and False:
            return None
    return None


def classify(seed, bare, shim, i, b, s, skip, raw_shim=()):
    """Names the known defect a divergence matches, or None."""
    sc = call(s) if s else None
    bc = call(b) if b else None
    if b and (b.startswith("TIMEOUT") or b.startswith("CRASH")):
        return None  # the bare reference run failed: the harness's problem, never the shim's
    ctx = " ".join(shim[max(0, i - 12):i + 1])
    if s and s.startswith("CRASH") and i > 0:
        prev = bare[i] if i < len(bare) else ""
        if "accept4" in prev:
            return "1 unix accept crash"
        if "signals=1" in shim[0]:
            return "2 malloc in signal-reachable paths"
    if s and s.startswith("CRASH") and "signals=1" in shim[0]:
        return "2 malloc in signal-reachable paths"
    if s and s.startswith("TIMEOUT"):
        reps = [l for l in raw_shim if l.startswith("X REPLAY")]
        if any("answered=0" in l or " after=0 " not in l for l in reps):
            return "3 pipelined requests replayed whole (the replayed bytes are not one request)"
        if shim and "signals=1" in shim[0]:
            return "C a signal handler's socket()/close() spins on the pool lock (deadlock)"
        return None
    if bc and sc and bc["name"] == sc["name"] == "sendmmsg" and bc["r"] == sc["r"] and bc["sig"] != sc["sig"]:
        return "A sendmmsg partial success loses the SIGPIPE"
    name = (sc or bc or {}).get("name", "")
    if name in ("pipe_read", "null_read", "eventfd_write", "memfd_rw", "pipe_write") or (
            sc and sc["lk"] < 0):
        if "raw_close" in ctx or "fdopen_fclose" in ctx or "stdio" in ctx:
            return "6 stale fd table entry after an unseen close"
    if "thread_started" in ctx or name == "thread_recv":
        return "7 close while another thread is blocked"
    before = " ".join(shim[:i + 1])
    if any(w in before for w in ("raw_close", "fdopen_fclose", " stdio ")) and any(
            l.startswith("X REPLAY") for l in raw_shim):
        return "6 stale fd table entry after an unseen close (possibly: a replay after one)"
    return None


def compare_calls(seed, mode, bare, shim, skip):
    """Diffs the two transcripts; returns (divergences, tainted lks, the
    indexes of poll/epoll_wait calls that hid events: a replay happened there)."""
    divs, tainted, poll_hidden = [], {}, []
    thread_taint = []
    B, S = compared(bare), compared(shim)
    taint_k = set()
    lk_k = {}
    for line in shim:
        m = re.match(r"^P \d+ (?:accept|connect_to) k=(\d+)", line)
        if m:
            pass
    # map lk -> peer index k from the order of O/P lines
    last_lk = None
    for line in shim:
        m = re.match(r"^C \d+ (?:socket\S*|accept\S*) lk=(-?\d+)", line)
        if m:
            last_lk = int(m.group(1))
        m = re.match(r"^P \d+ (?:accept|connect_to) k=(\d+)", line)
        if m and last_lk is not None:
            lk_k[last_lk] = int(m.group(1))
        m = re.match(r"^O \d+ lk=(\d+)", line)
    n = max(len(B), len(S))
    for i in range(n):
        b = B[i] if i < len(B) else None
        s = S[i] if i < len(S) else None
        if b == s:
            continue
        bc, sc = call(b) if b else None, call(s) if s else None
        if bc and sc and bc["name"] == sc["name"] and bc["lk"] == sc["lk"] and bc["lk"] in tainted:
            continue
        if bc and sc and bc["name"] == "recvmmsg_count" and sc["lk"] in tainted:
            continue
        pm_b = re.match(r"^(?:P \d+ \S+|X PEER) k=(\d+)", b or "")
        pm_s = re.match(r"^(?:P \d+ \S+|X PEER) k=(\d+)", s or "")
        if pm_b and pm_s and int(pm_b.group(1)) in taint_k:
            continue
        # A replay: the bare call failed with a reset/EOF, the shimmed one
        # succeeded with the replayed request's answer (read) or completed
        # the request (write).
        if bc and sc and bc["name"] == sc["name"] and bc["lk"] == sc["lk"] and bc["fd"] == sc["fd"]:
            bare_failed = (bc["r"] < 0 and bc["e"] in ("ECONNRESET", "EPIPE")) or (
                bc["r"] == 0 and bc["name"] in ALL_READS)
            is_read = bc["name"] in SHIM_READS
            ok_read = is_read and sc["r"] > 0 and REPLAY_PREFIX_HASH.get(sc["r"]) == sc["h"]
            ok_write = bc["name"] in SHIM_SENDS and sc["r"] == int(sc["h"], 16) and sc["r"] > 0
            if bc["name"] == "recvmmsg" and sc["r"] > 0:
                ok_read = True  # the two messages' split hides the prefix; the REPLAY line decides
            # a non-blocking read that met the reset: the replay is under way, EAGAIN
            ok_nb = is_read and sc["r"] < 0 and sc["e"] == "EAGAIN"
            if bare_failed and (ok_read or ok_write or ok_nb) and mode == "idempotent":
                tainted[bc["lk"]] = i
                if bc["name"] == "thread_recv":
                    thread_taint.append(i)
                lost = unread_after(B, i, bc["lk"])
                if lost:
                    divs.append(Divergence(seed, mode, "replay",
                                           "lk=%d: the replay at %r replaced a connection with %d unread "
                                           "received bytes (bare: %r)" % (bc["lk"], s, lost[0], lost[1]),
                                           "B a replay discards unread received bytes"))
                if bc["lk"] in lk_k:
                    taint_k.add(lk_k[bc["lk"]])
                continue
        if bc and sc and bc["name"] == "recvmmsg_count" and bc["lk"] == sc["lk"]:
            # the count line precedes the recvmmsg it belongs to: decide there
            nb, ns = call(B[i + 1]) if i + 1 < len(B) else None, call(S[i + 1]) if i + 1 < len(S) else None
            if nb and ns and nb["r"] <= 0 and ns["r"] > 0 and mode != "self":
                continue
        if tainted and b and s and (b.startswith("END ") or (bc and sc and bc["lk"] < 0 and bc["name"] in (
                "poll", "epoll_wait") and bc["name"] == sc["name"])):
            continue  # readiness/SIGPIPE totals of a replayed connection differ by design
        # A replay inside poll/epoll_wait hides the failure events of the
        # connection it replaced: fewer entries ready, never more (the
        # replays themselves are checked in check_replays).
        if mode == "idempotent" and bc and sc and bc["name"] == sc["name"] and bc["name"] in (
                "poll", "poll_out", "epoll_wait") and 0 <= sc["r"] < bc["r"] \
                and any(l.startswith("X REPLAY") for l in shim):
            poll_hidden.append(i)
            # the connections replayed there: those whose last request
            # before this call is one the peer got again; their later
            # calls are the new connection's
            replayed_h = {l.split(" req_h=")[1].split()[0] for l in shim if l.startswith("X REPLAY")}
            last_q = {}
            for j, line in enumerate(S[:i]):
                q = re.match(r"^Q \d+ lk=(\d+) h=(\S+)", line)
                if q:
                    last_q[int(q.group(1))] = (q.group(2), j)
            for lk, (h, j) in last_q.items():
                if h not in replayed_h or lk in tainted:
                    continue
                # the app must not have seen this connection fail since
                told = [x for x in S[j:i] if x.startswith("C ") and call(x)["lk"] == lk and (
                    (call(x)["r"] < 0 and call(x)["e"] not in ("EAGAIN", "EINTR", "0")) or
                    (call(x)["r"] == 0 and call(x)["name"] in ALL_READS))]
                if told:
                    divs.append(Divergence(seed, mode, "replay",
                                           "lk=%d: replayed inside %r after the app saw it fail (%r)"
                                           % (lk, s, told[0]),
                                           "7 close while another thread is blocked"
                                           if "thread_" in told[0] else None))
                tainted[lk] = i
                if lk in lk_k:
                    taint_k.add(lk_k[lk])
            continue
        known = classify(seed, B, S, i, b, s, skip, shim)
        if not known and thread_taint:
            known = "7 close while another thread is blocked (its reset replayed the new connection)"
        divs.append(Divergence(seed, mode, "call", "bare %r / shim %r" % (b, s), known))
        # the calls stay aligned (choices never depend on results): go on, unless
        # the run ended early or too much differs already
        if b is None or s is None or not bc or not sc or len(divs) >= 4:
            break
    return divs, tainted, poll_hidden


def check_replays(seed, mode, shim, tainted, divs, poll_hidden=()):
    replays = [dict(kv.split("=", 1) for kv in l.split()[2:]) for l in shim if l.startswith("X REPLAY")]
    if mode not in ("idempotent", "self") and replays:
        divs.append(Divergence(seed, mode, "replay", "replay without RSTWATCH_RETRY=idempotent: %s" % replays))
        return
    if len(replays) < len(tainted):
        divs.append(Divergence(seed, mode, "replay",
                               "the app saw %d replay answer(s) but the peer got %d replay(s)"
                               % (len(tainted), len(replays))))
        return
    if replays and not tainted and not poll_hidden:
        incomplete = [r for r in replays if r["answered"] != "1" or r["after"] != "0"]
        divs.append(Divergence(seed, mode, "replay",
                               "%d replayed connection(s) at the peer that no call of the app explains: %s"
                               % (len(replays), replays[:2]),
                               "3 pipelined requests replayed whole" if incomplete else None))
        return
    S = compared(shim)
    unused = list(replays)
    for lk, idx in sorted(tainted.items(), key=lambda kv: kv[1]):
        qs = requests_of(S, idx, lk)
        want = qs[-1]["h"] if qs else None
        rep = next((r for r in unused if r["req_h"] == want), None)
        if rep is None:
            rep = next((r for r in unused), None)
        if rep is None:
            break
        unused.remove(rep)
        why = None
        if rep["answered"] != "1":
            why = "the replayed bytes are not a complete HTTP request"
        elif len(qs) > 1 and qs[0]["kind"] == "partial" and qs[0]["idem"] == "1" \
                and sum(int(q["len"]) for q in qs) == int(rep["req_len"]):
            why = None  # a partial request completed by later writes: the bytes frame as one request
        elif not qs:
            why = "the replayed request had already been answered (response bytes were read after it)"
        elif len(qs) != 1:
            why = "%d writes of requests since the last response byte (only one complete request may be replayed)" % len(qs)
        elif qs[0]["kind"] == "pipelined" and rep["answered"] == "1" and \
                int(rep["req_len"]) < int(qs[0]["len"]) <= int(rep["req_len"]) + int(rep["after"]) and \
                " headers_then_body " in S[idx]:
            # the first write of two was one whole request; the second went after
            # it (and maybe later writes: the app goes on on the new connection)
            why = None
        elif qs[0]["kind"] != "one":
            why = "the replayed write was %s, not one complete request" % qs[0]["kind"]
        elif qs[0]["idem"] != "1":
            why = "replayed a non-idempotent request"
        elif qs[0]["h"] != rep["req_h"] or int(qs[0]["len"]) != int(rep["req_len"]):
            why = "the replayed bytes (len %s) are not the request the app sent (len %s)" % (
                rep["req_len"], qs[0]["len"])
        owner = None
        for line in S:
            if line.startswith("Q ") and (" h=%s " % rep["req_h"]) in line:
                owner = int(re.search(r"lk=(\d+)", line).group(1))
        if why and owner is not None and owner != lk:
            why += " (the replayed request is lk=%d's)" % owner
            divs.append(Divergence(seed, mode, "replay", "lk=%d: %s" % (lk, why),
                                   "7 close while another thread is blocked" if "thread_started" in " ".join(S)
                                   else "6 stale fd table entry after an unseen close"))
            continue
        if why:
            known = None
            if not qs:
                known = "F a replay re-sends a request that was already answered"
            elif len(qs) > 1 or any(q["kind"] != "one" for q in qs) or rep["after"] != "0" \
                    or rep["answered"] != "1":
                known = "3 pipelined requests replayed whole (E on a fixed shim: the buffer spans writes)"
            divs.append(Divergence(seed, mode, "replay", "lk=%d: %s" % (lk, why), known))
    # The replays no read or write explains were made inside a poll or
    # epoll_wait that hid their failure events: each must be one complete
    # idempotent request, sent again whole, before any response byte.
    for rep in unused if poll_hidden else []:
        q = next((l for l in S if l.startswith("Q ") and (" h=%s " % rep["req_h"]) in l), "")
        f = dict(kv.split("=", 1) for kv in q.split()[2:] if "=" in kv)
        if not (f.get("kind") == "one" and f.get("idem") == "1" and f.get("len") == rep["req_len"]
                and rep["answered"] == "1" and rep["after"] == "0"):
            divs.append(Divergence(seed, mode, "replay",
                                   "a replay inside poll/epoll_wait that is not one complete idempotent "
                                   "request: %s (the app wrote: %r)" % (rep, q)))


class ProcState:
    def __init__(self):
        self.lk = {}      # lk -> dict(exchanges, dir, resp, recorded)
        self.fdmap = {}   # fd -> lk


def expected_records(shim, mode, tainted):
    """[(pid, lk, type, errno, fd, optional)] from the shimmed run's transcript."""
    kinds, addrs = {}, {}
    for line in shim:
        m = re.match(r"^O \d+ lk=(\d+) fd=(-?\d+) kind=(\S+) local=(\S+) peer=(\S+)", line)
        if m:
            kinds[int(m.group(1))] = m.group(3)
            addrs[int(m.group(1))] = (m.group(4), m.group(5))
    exp = []
    main_pid = int(re.search(r"pid=(\d+)", shim[0]).group(1)) if shim and shim[0].startswith("S ") else -1
    st = {main_pid: ProcState()}
    pid = main_pid
    saved = None

    def conn(ps, lk):
        return ps.lk.setdefault(lk, {"ex": 0, "dir": None, "resp": 0, "rec": False, "unseen": False})

    def expect(ps, lk, typ, errno, fd, optional=False):
        c = conn(ps, lk)
        if c["rec"]:
            return
        # an optional record may or may not have used the connection's one record:
        # the next one becomes optional too
        optional = optional or lk in tainted or kinds.get(lk) == "pair" or c.get("maybe", False)
        if optional:
            c["maybe"] = True
        else:
            c["rec"] = True
        parent = conn(st[saved], lk) if saved is not None else None
        if parent is not None and parent["ex"] == 0 and parent["resp"] == 0:
            # A fork child's record of a connection its parent holds but has
            # not used is the connection's one record for both (the shim
            # publishes it as ended where every holder sees it, and a holder
            # that never used it writes none: docs/design.md "Never hurt the
            # host"): the parent's own record of it, its close, is optional.
            parent["maybe"] = True
        exp.append({"pid": pid, "lk": lk, "type": typ, "errno": errno, "fd": fd, "optional": optional})

    last_q = {}  # lk -> the kind of the payload written last ("one", "junk", ...)
    for line in shim:
        if line.startswith("Q "):
            f = dict(kv.split("=", 1) for kv in line.split()[2:] if "=" in kv)
            last_q[int(f["lk"])] = f.get("kind")
            continue
        if line.startswith("F "):
            import copy
            saved = pid
            pid = int(re.search(r"pid=(\d+)", line).group(1))
            st[pid] = copy.deepcopy(st[saved])
            continue
        if line.startswith("W ") and saved is not None:
            pid, saved = saved, None
            continue
        c = call(line)
        if not c:
            continue
        ps = st[pid]
        lk, name, r, e, fd = c["lk"], c["name"], c["r"], c["e"], c["fd"]
        kind = kinds.get(lk)
        tracked = kind in ("tcp", "unix", "srv", "refused")
        if name in ("socket", "socket_nb", "socket_unix") and r >= 0:
            ps.fdmap[r] = lk
            continue
        if name.startswith("accept") and r >= 0:
            ps.fdmap[r] = lk
            continue
        if name == "socketpair" and r == 0:
            ps.fdmap[fd] = lk
            ps.fdmap[int(c["h"], 16)] = lk + 1
            continue
        if name in ("dup", "fcntl_dupfd", "fcntl_dupfd_high", "dup2", "dup3") and r >= 0:
            if name in ("dup2", "dup3") and r in ps.fdmap and ps.fdmap[r] != lk:
                old = ps.fdmap.pop(r)
                if old not in ps.fdmap.values() and kinds.get(old) in ("tcp", "unix", "srv") and mode == "all":
                    expect(ps, old, "close", None, r)
            if lk >= 0:
                ps.fdmap[r] = lk
            else:
                ps.fdmap.pop(r, None)
            continue
        if name in ("close", "raw_close", "fdopen_fclose", "child_close"):
            if ps.fdmap.get(fd) == lk and lk >= 0:
                del ps.fdmap[fd]
                if name != "close" and name != "child_close":
                    conn(ps, lk)["unseen"] = True
                if lk not in ps.fdmap.values() and mode == "all" and kind in ("tcp", "unix", "srv"):
                    # A fork child's close of a connection its parent still
                    # holds is not the connection's end: the last holder
                    # records it (docs/design.md "Never hurt the host").
                    # Optional: once the network closed the connection (a
                    # reset) the kernel no longer lists it, and each
                    # holder's close is recorded, as before.
                    parent_holds = saved is not None and lk in st[saved].fdmap.values()
                    expect(ps, lk, "close", None, fd,
                           optional=conn(ps, lk)["unseen"] or parent_holds)
            continue
        if lk < 0 or kind is None:
            continue
        cs = conn(ps, lk)
        if name in ("shutdown_wr", "shutdown_rdwr") and r == 0:
            cs["shut_wr"] = True
        if name in ("shutdown_rd", "shutdown_rdwr") and r == 0:
            cs["shut_rd"] = True  # reads give EOF from here on: the program's doing, no FIN
        if name.startswith("shutdown_"):
            continue
        if name == "connect_refused" and e == "ECONNREFUSED":
            expect(ps, lk, "reset", e, fd)
            continue
        if name == "so_error" and int(c["h"], 16) == 111:
            expect(ps, lk, "reset", "ECONNREFUSED", fd)
            continue
        if name == "connect_repoll":
            if e == "ECONNREFUSED":
                expect(ps, lk, "reset", e, fd)
            continue
        if name == "so_error_live":
            # the app read (and cleared) the socket's pending error: the
            # error, not the later EOF, is the connection's record
            so = SO_ERRNOS.get(int(c["h"], 16))
            if so in RESET_ERRNOS and (tracked or kind == "pair"):
                expect(ps, lk, "reset", so, fd, optional=kind == "pair")
            elif so and mode == "all" and tracked:
                expect(ps, lk, "error", so, fd, optional=True)
            continue
        if name in ("read0", "readv0"):
            continue  # a read of zero bytes says nothing about the connection
        if name in SHIM_SENDS:
            if r > 0 and name in SHIM_SNIFFS and "proto" not in cs:
                # the first bytes the shim sees say what the connection carries
                cs["proto"] = "other" if last_q.get(lk) == "junk" else "http"
            if r > 0:
                if cs["dir"] != "out":
                    cs["ex"] += 1
                    cs["dir"], cs["resp"] = "out", 0
            elif r < 0:
                if cs["dir"] != "out" and e not in ("EAGAIN", "EINTR"):
                    cs["ex"] += 1
                    cs["dir"], cs["resp"] = "out", 0
                if e == "EPIPE" and cs.get("shut_wr") and mode != "all" and tracked:
                    # a write after the program's own shutdown(SHUT_WR): its
                    # normal close path, counted by default, never recorded;
                    # it still uses the connection's one record
                    cs["rec"] = cs["rec"] or not cs.get("maybe", False)
                elif e in RESET_ERRNOS and (tracked or kind == "pair"):
                    expect(ps, lk, "reset", e, fd)
                elif mode == "all" and tracked and e not in QUIET_ERRNOS:
                    expect(ps, lk, "error", e, fd, optional=True)
            continue
        if name in SHIM_READS:
            if r > 0:
                cs["resp"] += r
                cs["dir"] = "in"
            elif r == 0:
                if not cs.get("fin") and not cs.get("shut_rd"):
                    cs["fin"] = True
                    # EOF where a response was due (reused, or fresh HTTP),
                    # not after the program's own shutdown(SHUT_WR). A fresh
                    # connection whose first bytes were junk carries another
                    # protocol (or, 1 in 256, a TLS record header): optional.
                    if (kind in ("tcp", "unix") and cs["ex"] >= 1 and cs["dir"] == "out"
                            and cs["resp"] == 0 and not cs.get("shut_wr")):
                        other = cs["ex"] == 1 and cs.get("proto") == "other"
                        expect(ps, lk, "eof", None, fd, optional=other)
            else:
                # a thread's call whose fd the main thread closed meanwhile: its
                # completion is orphaned, a record of it is optional
                orphan = name == "thread_recv" and ps.fdmap.get(fd) != lk
                if e in RESET_ERRNOS and (tracked or kind == "pair"):
                    expect(ps, lk, "reset", e, fd, optional=orphan)
                elif mode == "all" and tracked and e not in QUIET_ERRNOS:
                    expect(ps, lk, "error", e, fd, optional=True)
    return exp, addrs, kinds


def check_records(seed, mode, shim, records, tainted, divs):
    exp, addrs, kinds = expected_records(shim, mode, tainted)
    pids = set()
    for line in shim:
        m = re.match(r"^[SF] .*pid=(\d+)", line)
        if m:
            pids.add(int(m.group(1)))
    # pids are reused within a long run: keep the records written while this
    # sequence ran (S and DONE carry wall-clock microseconds)
    t0 = t1 = None
    for line in shim:
        m = re.match(r"^(S|DONE) .*t=(\d+)", line)
        if m and m.group(1) == "S":
            t0 = int(m.group(2)) - 1000
        elif m:
            t1 = int(m.group(2)) + 1000
    got = []
    for p in pids:
        got.extend(r for r in records.get(p, []) if r.get("type") not in ("summary",)
                   and (t0 is None or t1 is None or t0 <= record_us(r) <= t1))
    retry_ok = mode in ("connect", "idempotent")
    unmatched = list(got)
    conn_ids = {}
    for e in sorted(exp, key=lambda e: e["optional"]):
        local, peer = addrs.get(e["lk"], ("-", "-"))
        kind = kinds.get(e["lk"])
        cands = [r for r in unmatched if r.get("pid") == e["pid"] and r.get("type") == e["type"]
                 and r.get("fd") == e["fd"] and (not e["errno"] or r.get("errno") == e["errno"])]

        def fits(r, exact):
            if kind in ("tcp", "unix", "refused") and peer != "-" and r.get("peer") != peer:
                return False
            ok_local = (local,) if exact else (local, "unknown", None)
            if kind == "tcp" and local != "-" and r.get("local") not in ok_local:
                return False
            return True

        good = [r for r in cands if fits(r, True)] or [r for r in cands if fits(r, False)]
        match = good[0] if good else (cands[0] if cands else None)
        if match:
            unmatched.remove(match)
            if not e["optional"] and match.get("conn") is not None:
                key = (e["pid"], match.get("conn"))
                if conn_ids.setdefault(key, e["lk"]) != e["lk"]:
                    divs.append(Divergence(seed, mode, "record", "lk=%d and lk=%d share conn id %s"
                                           % (conn_ids[key], e["lk"], match.get("conn"))))
            if not fits(match, False) and e["lk"] not in tainted and not e["optional"]:
                divs.append(Divergence(seed, mode, "record", "lk=%d %s record names local %s peer %s, expected %s %s"
                                       % (e["lk"], e["type"], match.get("local"), match.get("peer"), local, peer)))
        elif not e["optional"]:
            divs.append(Divergence(seed, mode, "record", "missing %s record (errno %s) for lk=%d fd=%d pid=%d"
                                   % (e["type"], e["errno"], e["lk"], e["fd"], e["pid"])))
    pairs = any(k == "pair" for k in kinds.values())
    tainted_fds = set()
    for line in shim:
        c = call(line)
        if c and c["lk"] in tainted:
            tainted_fds.add(c["fd"])
    for r in unmatched:
        if r.get("fd") in tainted_fds and r.get("type") in ("reset", "eof", "close", "error"):
            continue  # the replayed connection's later life is not the bare run's
        if r.get("type") == "retry" and retry_ok:
            continue
        if pairs and r.get("peer") == "unix:(unnamed)" and r.get("role") == "client":
            continue  # a socketpair end the shim adopted at its reset: best effort, one per fd
        if r.get("type") in ("reset", "eof", "close", "error") and any(
                e["optional"] and e["fd"] == r.get("fd") for e in exp if e["pid"] == r.get("pid")):
            continue
        divs.append(Divergence(seed, mode, "record", "unexpected %s record: fd=%s op=%s errno=%s peer=%s cause=%s"
                               % (r.get("type"), r.get("fd"), r.get("op"), r.get("errno"), r.get("peer"),
                                  (r.get("cause") or {}).get("code"))))


def classify_record(div, shim):
    text = " ".join(shim)
    if div.known:
        return
    if "unexpected close record" in div.detail and ("raw_close" in text or "fdopen_fclose" in text):
        div.known = "D an unseen close of one fd ends a connection still open through a dup (possibly)"
    elif "thread_started" in text:
        div.known = "7 close while another thread is blocked (possibly)"
    elif "raw_close" in text or "fdopen_fclose" in text or "stdio" in text:
        div.known = "6 stale fd table entry after an unseen close (possibly)"
    elif "close record" in div.detail and "child_close" in text and "tsan" in os.path.basename(BUILD):
        # ThreadSanitizer's runtime keeps a thread of its own, so a process
        # closing a copy of a connection shared across fork cannot ask the
        # kernel whether another holds it (a blocked call in another thread
        # would hold it too): the documented fallback writes the record there.
        div.known = "J under TSan a forked copy's close cannot ask whether another process holds it"


def compare_seed(seed, mode, bare, shim, records, skip):
    if mode == "self":
        divs, _, _ = compare_calls(seed, mode, bare, shim, skip)
        for d in divs:
            d.known = None  # two bare runs: any difference is the harness's own
        return divs
    divs, tainted, poll_hidden = compare_calls(seed, mode, bare, shim, skip)
    if any(d.what == "call" and ("CRASH" in d.detail or "TIMEOUT" in d.detail) for d in divs):
        return divs
    check_replays(seed, mode, shim, tainted, divs, poll_hidden)
    if not any(d.what == "call" for d in divs):
        n = len(divs)
        check_records(seed, mode, shim, records, tainted, divs)
        for d in divs[n:]:
            classify_record(d, shim)
    return divs


def run_chunk(first, count, modes, skip, keep, recheck=True):
    workdir = tempfile.mkdtemp(prefix="fuzzdiff-")
    procs = {}
    try:
        procs["bare"] = spawn(None, first, count, workdir, "bare", skip)
        for m in modes:
            procs[m] = spawn(MODES[m], first, count, workdir, m, skip)
        for name, (client, peer, _, _) in procs.items():
            client.wait()
            peer.wait()
        bare = read_transcript(procs["bare"][2])
        divs = []
        for m in modes:
            shim = read_transcript(procs[m][2])
            records = read_records(procs[m][3])
            for seed in range(first, first + count):
                divs.extend(compare_seed(seed, m, bare.get(seed, []), shim.get(seed, []), records, skip))
        if recheck and count > 1:
            # a sequence that differed is run again alone, up to three times: one
            # that agrees then was timing noise of a loaded machine (a CI run
            # with other suites beside it, a TSan build ten times slower), not a
            # property of the shim; one that differs every time is reported.
            # The tries are spread out (at once, after 2 s, after 10 s more):
            # a burst of load that outlasts one sequence outlasts three in a row.
            def agrees(seed, m, pause):
                time.sleep(pause)
                return not run_chunk(seed, 1, [m], skip, "", recheck=False)

            for seed, m in sorted({(d.seed, d.mode) for d in divs}):
                if not any(d.known is None or not d.known for d in divs if (d.seed, d.mode) == (seed, m)):
                    continue
                if any(agrees(seed, m, pause) for pause in (0, 2, 10)):
                    for d in divs:
                        if (d.seed, d.mode) == (seed, m):
                            d.flaky = True
        if keep:
            os.makedirs(keep, exist_ok=True)
            for f in os.listdir(workdir):
                shutil.copy(os.path.join(workdir, f), os.path.join(keep, "%d-%s" % (first, f)))
        return divs
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--seeds", default="", help="comma-separated seeds instead of a range")
    ap.add_argument("--modes", default="defaults,all,connect,idempotent")
    ap.add_argument("--chunk", type=int, default=1000)
    ap.add_argument("--skip", default="", help="FUZZDIFF_SKIP features (accept_addr,signals,...)")
    ap.add_argument("--known", action="store_true", help="divergences of known defects do not fail")
    ap.add_argument("--allow", default="", help="comma-separated defect ids (e.g. A,B,C) that do not fail")
    ap.add_argument("--regressions", default="", help="run the seed/mode cases listed in FILE")
    ap.add_argument("--tap", action="store_true", help="print TAP, one test per mode")
    ap.add_argument("--keep", default="", help="copy transcripts and logs here")
    ap.add_argument("--max-print", type=int, default=30)
    args = ap.parse_args()
    if not os.access(EXE, os.X_OK) or not os.path.exists(LIB):
        print("fuzzdiff: build first (make all check-helpers): %s" % EXE, file=sys.stderr)
        return 2
    modes = [m for m in args.modes.split(",") if m]
    for m in modes:
        if m not in MODES:
            print("fuzzdiff: unknown mode %s" % m, file=sys.stderr)
            return 2
    allow = [a for a in args.allow.split(",") if a]

    def fails(d):
        if d.flaky:
            return False
        if not d.known:
            return True
        if args.known:
            return False
        return not any(d.known.startswith(a + " ") for a in allow)

    if args.regressions:
        return run_regressions(args.regressions, fails, args.tap)
    t0 = time.monotonic()
    divs = []
    ranges = []
    if args.seeds:
        ranges = [(int(s), 1) for s in args.seeds.split(",")]
    else:
        s = args.first
        while s < args.first + args.count:
            n = min(args.chunk, args.first + args.count - s)
            ranges.append((s, n))
            s += n
    total = 0
    for first, n in ranges:
        divs.extend(run_chunk(first, n, modes, args.skip, args.keep))
        total += n
        if not args.tap and len(ranges) > 1:
            el = time.monotonic() - t0
            print("# %d seeds x %d modes in %.0f s (%.0f sequences/s), %d divergences so far"
                  % (total, len(modes), el, total * len(modes) / el, len(divs)), flush=True)
    elapsed = time.monotonic() - t0
    seqs = total * len(modes)
    flaky = [d for d in divs if d.flaky]
    divs_all = divs
    divs = [d for d in divs if not d.flaky]
    unexplained = [d for d in divs if not d.known]
    if args.tap:
        print("1..%d" % len(modes))
        for i, m in enumerate(modes, 1):
            bad = [d for d in divs if d.mode == m and fails(d)]
            known = [d for d in divs if d.mode == m and d.known]
            print("%sok %d - seeds %s: bare and %s run agree (%d known-defect divergences)"
                  % ("not " if bad else "", i, args.seeds or "%d..%d" % (args.first, args.first + args.count - 1),
                     m, len(known)))
            noise = [d for d in flaky if d.mode == m]
            for d in (bad + known + noise)[:args.max_print]:
                print("#   %s" % d)
    else:
        for d in divs_all[:args.max_print]:
            print(d)
        if len(divs_all) > args.max_print:
            print("... %d more" % (len(divs_all) - args.max_print))
    print("# fuzzdiff: %d sequences (%d seeds x %d modes, seeds %s) in %.1f s = %.0f sequences/s; "
          "%d divergences, %d explained by known defects, %d unexplained; "
          "%d more did not reproduce when re-run (timing noise)"
          % (seqs, total, len(modes), args.seeds or "%d..%d" % (args.first, args.first + total - 1),
             elapsed, seqs / elapsed if elapsed else 0, len(divs), len(divs) - len(unexplained),
             len(unexplained), len(flaky)))
    return 1 if any(fails(d) for d in divs_all) else 0


def run_regressions(path, fails, tap):
    """One TAP test per line of the regressions file: that seed, that mode, no divergence."""
    cases = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            seed, mode, skip, rest = line.split(None, 3)
            reps = 1
            m = re.match(r"x(\d+) (.*)", rest)
            if m:  # a timing-dependent defect: try the seed several times
                reps, rest = int(m.group(1)), m.group(2)
            cases.append((int(seed), mode, "" if skip == "-" else skip, reps, rest))
    print("1..%d" % len(cases))
    bad_total = 0
    for i, (seed, mode, skip, reps, what) in enumerate(cases, 1):
        divs = []
        for _ in range(reps):
            divs = run_chunk(seed, 1, [mode], skip, "", recheck=False)
            if any(fails(d) for d in divs):
                break
        bad = [d for d in divs if fails(d)]
        bad_total += bool(bad)
        print("%sok %d - regression seed %d mode %s: %s" % ("not " if bad else "", i, seed, mode, what))
        for d in divs[:5]:
            print("#   %s" % d)
    return 1 if bad_total else 0


if __name__ == "__main__":
    sys.exit(main())

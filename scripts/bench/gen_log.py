#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen_log.py: writes a large synthetic rstwatch log (schema v1 JSON lines).

    gen_log.py --records N [--hosts K] [--seed S] [--start ISO] [--span-s SECONDS]
    gen_log.py --megabytes M ...        (stop once M MiB have been written)

The records have the shape the shim writes (every field, a realistic event
timeline of 4 to 12 events) and the mix of a busy day: client-role resets to a
handful of services, server-role client aborts from many clients (a fresh
ephemeral port each time), EOFs on reused connections, refused connects, retry
records and clean closes, spread over --span-s seconds from --start across K
hosts. It exists for the scale tests and the report-speed benchmark: real logs
of 60,000 records take a day of traffic to collect.
"""
import argparse
import json
import random
import sys
from datetime import datetime, timedelta, timezone

SERVICES = ["10.0.0.%d:%d" % (i, p) for i, p in ((5, 5432), (6, 6379), (7, 80), (8, 443), (9, 8080))]
PROGS = ["nginx", "python3", "node", "curl", "java", "redis-server"]
CLIENT_CAUSES = [
    ("reset", "recv", "ECONNRESET", 104, "reset_before_response",
     "the request was sent and the peer reset before any response byte: it crashed, restarted or rejected the request; check the server's logs at this time"),
    ("reset", "send", "EPIPE", 32, "idle_reuse",
     "the connection sat idle 62.0 s before this request and the peer had already closed it (idle timeout? AWS ALB closes after 60 s): set the client's idle timeout below it"),
    ("reset", "recv", "ECONNRESET", 104, "reset_mid_stream",
     "the peer reset the connection while data was flowing: a crash, a limit or a middlebox; see tcp.retrans"),
    ("error", "connect", "ECONNREFUSED", 111, "refused",
     "nothing is listening on the peer's port: check that the service runs and listens there"),
]
SERVER_CAUSE = ("reset", "recv", "ECONNRESET", 104, "client_abort",
                "the client aborted the connection (SO_LINGER 0 or a crash) before the exchange finished")


def events(rng, failing_op, errno_name, age_ms):
    n = rng.randint(4, 12)
    out, t = [], 0.0
    out.append({"t_ms": 0.0, "op": "connect", "ret": -1, "errno": "EINPROGRESS"})
    out.append({"t_ms": 0.1, "op": "connected", "ret": 0})
    step = max(age_ms - 0.2, 0.1) / (n - 2)
    t = 0.1
    for i in range(n - 3):
        t += step * rng.random()
        ev = {"t_ms": round(t, 3), "op": rng.choice(["send", "recv", "writev", "read"]),
              "ret": rng.randint(1, 16384)}
        if rng.random() < 0.3:
            ev["n"] = rng.randint(2, 40)
            ev["span_ms"] = round(step / 2, 3)
        out.append(ev)
    out.append({"t_ms": round(age_ms, 3), "op": failing_op, "ret": -1, "errno": errno_name})
    return out


def record(rng, i, t0, span_s, hosts):
    when = t0 + timedelta(seconds=rng.random() * span_s)
    host = "host%d" % rng.randrange(hosts) if hosts > 1 else "host0"
    roll = rng.random()
    age = round(rng.uniform(0.5, 90000.0), 3)
    rec = {"v": 1, "type": "reset", "time": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
           "pid": 1000 + rng.randrange(50), "tid": 1000 + rng.randrange(60),
           "prog": rng.choice(PROGS), "host": host, "fd": rng.randint(3, 900), "conn": i + 1,
           "family": "inet"}
    if roll < 0.45:
        typ, op, err, code, cause, hint = SERVER_CAUSE
        client = "10.1.%d.%d" % (rng.randrange(4), rng.randrange(1, 40))
        rec.update(role="server", local=rng.choice(["10.0.0.7:80", "10.0.0.8:443"]),
                   peer="%s:%d" % (client, rng.randint(32768, 60999)))
    elif roll < 0.9:
        typ, op, err, code, cause, hint = rng.choice(CLIENT_CAUSES)
        rec.update(role="client", local="10.1.0.%d:%d" % (rng.randrange(1, 40), rng.randint(32768, 60999)),
                   peer=rng.choice(SERVICES))
    elif roll < 0.95:
        typ, op, err, code, cause, hint = ("eof", "recv", None, 0, "idle_reuse",
                                           "the reused keep-alive connection was closed by the peer after sitting idle 5.0 s (Node's keepAliveTimeout?)")
        rec.update(role="client", local="10.1.0.3:%d" % rng.randint(32768, 60999), peer=rng.choice(SERVICES))
    elif roll < 0.98:
        rec.update(type="retry", role="client", local="10.1.0.3:40000", peer=rng.choice(SERVICES),
                   op="recv", errno="ECONNRESET", errno_code=104, attempt=1,
                   action="replay", outcome="ok", reason="GET on a reused connection")
        return rec
    else:
        typ, op, err, code, cause, hint = ("close", "close", None, 0, "none", None)
        rec.update(role="client", local="10.1.0.3:40001", peer=rng.choice(SERVICES))
    rec["type"] = typ
    rec.update({"op": op, "errno": err, "errno_code": code, "age_ms": age,
                "idle_ms": round(rng.uniform(0, age), 3), "idle_before_ms": round(rng.uniform(0, 100), 3),
                "bytes_out": rng.randint(0, 1 << 20), "bytes_in": rng.randint(0, 1 << 20),
                "calls_out": rng.randint(1, 400), "calls_in": rng.randint(0, 400),
                "exchanges": rng.randint(1, 40), "reused": rng.random() < 0.5,
                "tcp": {"state": rng.choice(["ESTABLISHED", "CLOSE_WAIT", "CLOSE"]), "rtt_us": rng.randint(20, 90000),
                        "rttvar_us": rng.randint(5, 9000), "retrans": 0, "total_retrans": rng.randint(0, 3),
                        "unacked": rng.randint(0, 4), "lost": 0, "last_data_recv_ms": rng.randint(0, 9000),
                        "last_data_sent_ms": rng.randint(0, 9000), "snapshot_age_ms": round(rng.uniform(0, 300), 3)},
                "cause": {"code": cause, "hint": hint} if hint else {"code": cause},
                "events": events(rng, op, err or "EOF", age), "events_dropped": rng.choice([0, 0, 0, 17])})
    if rng.random() < 0.05:
        rec["suppressed"] = rng.randint(1, 30)
    return rec


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=0)
    ap.add_argument("--megabytes", type=float, default=0)
    ap.add_argument("--hosts", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", default="2026-11-23T00:00:00")
    ap.add_argument("--span-s", type=float, default=86400.0)
    args = ap.parse_args()
    if not args.records and not args.megabytes:
        ap.error("give --records or --megabytes")
    rng = random.Random(args.seed)
    t0 = datetime.fromisoformat(args.start).replace(tzinfo=timezone.utc)
    limit = args.megabytes * (1 << 20)
    written, i = 0, 0
    out = sys.stdout
    while (not args.records or i < args.records) and (not limit or written < limit):
        line = json.dumps(record(rng, i, t0, args.span_s, args.hosts), separators=(",", ":")) + "\n"
        out.write(line)
        written += len(line)
        i += 1


if __name__ == "__main__":
    main()

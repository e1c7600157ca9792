// SPDX-License-Identifier: MIT
/*
 * schema.h: the record schema v1 as one table, the single place a record field is named.
 *
 * Each table is an X-macro: RECORD_FIELDS(X) calls X(key, KIND, member, doc) once per field of a
 * record, in the order the shim writes them. key is the JSON name, KIND one of the kinds below
 * (it fixes the JSON type and how a reader stores the value), member the C name of the field,
 * doc one line for people (docs/record.md's field table and `rstwatch cat --schema` come from it).
 * Nested objects and arrays have their own tables (tcp, cause, events[], counts[]).
 *
 * Both sides expand the same tables. The shim's writers (shim/record.c for connection records,
 * shim/summary.c for summaries, through shim/recfmt.h) walk a table in order and take every key
 * from it, so a record's keys are always a subsequence of its table, in table order: each record
 * type writes the fields that apply to it and skips the others. The readers (cli/) expand the
 * tables into struct members (logread.h), the parser's key lookup, the release of owned strings
 * and the re-emitted JSON of `report --json`. Adding a field is one line here plus its value in
 * the writer (record.c's switch warns, an error under WERROR=1 as make test and CI build, until
 * the new field has a case); the readers pick it up everywhere. This header is macros only: the
 * shim includes it without any libc.
 *
 * Kinds (JSON type -> C storage; "absent" is the value when the field is missing or ill-typed):
 *   STR     string  -> char * (owned, NULL absent)
 *   SHORT   string  -> char[LOG_SHORT_STR] (cut at a UTF-8 boundary, "" absent)
 *   COUNT   integer >= 0 -> long long (LOG_ABSENT)
 *   INT     integer -> long long + int has_<member>
 *   MS      number  -> double milliseconds (NAN absent, also when not finite or beyond ~31 years)
 *   BOOL    boolean -> int (-1 absent)
 *   VERSION, TYPE, TIME, PID: the strict fields that every record must carry (PID an integer
 *           >= 0: 0 is a process that could not learn its pid without a system call)
 *   TCP, CAUSE (object), EVENTS, COUNTS (array): nested tables below
 */
#ifndef RSTWATCH_SCHEMA_H
#define RSTWATCH_SCHEMA_H

#define RECORD_FIELDS(X)                                                                           \
    X("v", VERSION, v, "schema version, always 1")                                                 \
    X("type", TYPE, type, "reset, eof, error, close, retry, inject, summary or packet")            \
    X("time", TIME, time, "UTC time written, for packets captured (RFC 3339, microseconds)")       \
    X("host", STR, host, "hostname when the shim was loaded")                                      \
    X("pid", PID, pid, "process id; 0: unknown (a fork child under a seccomp filter)")             \
    X("tid", COUNT, tid, "thread id of the failing call; 0: unknown (under a seccomp filter)")     \
    X("prog", STR, prog, "program name")                                                           \
    X("fd", COUNT, fd, "fd of the failing call")                                                   \
    X("conn", COUNT, conn, "the connection's process-unique id")                                   \
    X("family", STR, family, "inet, inet6 or unix")                                                \
    X("role", STR, role, "client (connected), server (accepted) or unknown (inherited)")           \
    X("local", STR, local, "local address, 1.2.3.4:80, [::1]:80 or unix:/path")                    \
    X("peer", STR, peer, "peer address, same forms as local")                                      \
    X("op", STR, op, "the failing call")                                                           \
    X("errno", STR, err, "errno name of the failing call (null for eof and close)")                \
    X("errno_code", COUNT, errno_code, "errno number")                                             \
    X("age_ms", MS, age_ms, "since the connection was created")                                    \
    X("idle_ms", MS, idle_ms, "since its last successful I/O")                                     \
    X("idle_before_ms", MS, idle_before_ms, "quiet gap before the current request began")          \
    X("bytes_out", COUNT, bytes_out, "bytes sent")                                                 \
    X("bytes_in", COUNT, bytes_in, "bytes received")                                               \
    X("calls_out", COUNT, calls_out, "successful send calls")                                      \
    X("calls_in", COUNT, calls_in, "successful receive calls")                                     \
    X("exchanges", COUNT, exchanges, "request/response turns")                                     \
    X("reused", BOOL, reused, "the failure hit the 2nd or later exchange")                         \
    X("iface", STR, iface, "packet records: the interface the packet was captured on")             \
    X("dir", STR, dir, "packet records: in (to this host) or out (from it)")                       \
    X("flags", STR, flags, "packet records: TCP flags as tcpdump writes them (R, R., S., F.)")     \
    X("ttl", COUNT, ttl, "packet records: IPv4 TTL or IPv6 hop limit")                             \
    X("ip_id", COUNT, ip_id, "packet records: IPv4 identification (absent for IPv6)")              \
    X("seq", COUNT, seq, "packet records: TCP sequence number")                                    \
    X("ack", COUNT, ack, "packet records: TCP acknowledgement number (0 without ACK)")             \
    X("win", COUNT, win, "packet records: TCP window, unscaled")                                   \
    X("rst_from", STR, rst_from, "packet records: who sent the RST: peer, path, local or unknown") \
    X("hops", COUNT, hops, "packet records: hops from this host to the RST's sender, by its TTL")  \
    X("peer_ttl", COUNT, peer_ttl, "packet records: TTL or hop limit of the peer's own packets")   \
    X("peer_hops", COUNT, peer_hops, "packet records: hops to the peer, by its packets' TTL")      \
    X("ip_id_seq", STR, ip_id_seq,                                                                 \
      "packet records: the RST's IP ID against the peer's: in_sequence, zero, other or none")      \
    X("peer_after", COUNT, peer_after, "packet records: peer packets that arrived after the RST")  \
    X("since_data_ms", MS, since_data_ms, "packet records: since this host last sent data")        \
    X("rtt_ms", MS, rtt_ms, "packet records: the handshake's round-trip time")                     \
    X("tcp", TCP, tcp, "last TCP_INFO snapshot before the failing call, null for unix sockets")    \
    X("cause", CAUSE, cause, "the diagnosis: code and hint")                                       \
    X("attempt", COUNT, attempt, "retry records: the attempt number")                              \
    X("action", STR, action, "retry: reconnect, replay or none; inject: reset, refuse, delay")     \
    X("outcome", STR, outcome, "retry records: ok, in_progress, failed or refused")                \
    X("reason", STR, reason, "retry: why the action was or was not taken; summary: why written")   \
    X("suppressed", COUNT, suppressed, "records of the same key left out by the rate limit")       \
    X("events", EVENTS, events, "the last calls on the connection, oldest first")                  \
    X("events_dropped", COUNT, events_dropped, "older events overwritten in the ring")             \
    X("since", STR, since, "summary records: start of the period counted (RFC 3339)")              \
    X("period_ms", MS, period_ms, "summary records: length of the period counted")                 \
    X("counts", COUNTS, counts, "summary records: counts per type x peer x cause x role")

#define RECORD_TCP_FIELDS(X)                                                                       \
    X("state", SHORT, state, "TCP state name (ESTABLISHED, CLOSE_WAIT, ...)")                      \
    X("rtt_us", COUNT, rtt_us, "smoothed round-trip time")                                         \
    X("rttvar_us", COUNT, rttvar_us, "round-trip time variance")                                   \
    X("retrans", COUNT, retrans, "retransmits of the current segment")                             \
    X("total_retrans", COUNT, total_retrans, "retransmits over the connection's life")             \
    X("unacked", COUNT, unacked, "segments sent and not acknowledged")                             \
    X("lost", COUNT, lost, "segments presumed lost")                                               \
    X("last_data_recv_ms", COUNT, last_data_recv_ms, "since data was last received")               \
    X("last_data_sent_ms", COUNT, last_data_sent_ms, "since data was last sent")                   \
    X("min_rtt_us", COUNT, min_rtt_us, "lowest round-trip time seen (Linux 4.6+)")                 \
    X("unread", COUNT, unread, "bytes received and not yet read by the program (Linux 4.6+)")      \
    X("snapshot_age_ms", MS, snapshot_age_ms, "age of the snapshot when the record was written")   \
    X("after", BOOL, after, "taken after the failure (there was none before it)")

#define RECORD_CAUSE_FIELDS(X)                                                                     \
    X("code", STR, code, "cause code (refused, idle_reuse, ...)")                                  \
    X("hint", STR, hint, "one sentence: the likely cause and the next step")

#define RECORD_EVENT_FIELDS(X)                                                                     \
    X("t_ms", MS, t_ms, "since the connection was created")                                        \
    X("op", SHORT, op, "the call")                                                                 \
    X("ret", INT, ret, "its return value")                                                         \
    X("errno", SHORT, err, "its errno name when it failed")                                        \
    X("n", COUNT, n, "calls merged into this event")                                               \
    X("span_ms", MS, span_ms, "first to last merged call")

#define RECORD_COUNT_FIELDS(X)                                                                     \
    X("type", STR, type, "record type counted")                                                    \
    X("role", STR, role, "client or server")                                                       \
    X("peer", STR, peer, "peer address (server role: the client's address without its port)")      \
    X("local", STR, local, "server role: the listening address")                                   \
    X("cause", STR, cause, "cause code")                                                           \
    X("n", COUNT, n, "records due for this key in the period")                                     \
    X("records", COUNT, records, "of those, written as records")                                   \
    X("suppressed", COUNT, suppressed,                                                             \
      "left out (rate limit, or counted not recorded), not yet reported")

#endif

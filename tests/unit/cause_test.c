// SPDX-License-Identifier: MIT
/* cause_test.c: the cause classifier (shim/cause.c), table-driven.
 *
 * One table of cause_input -> expected cause code (every code at least twice,
 * the thresholds at their boundaries), one table of hint expectations, and
 * checks of the rule table itself. Prints TAP; exits 1 on any failure.
 *
 * TCP states (include/net/tcp_states.h): 1 ESTABLISHED, 7 CLOSE,
 * 8 CLOSE_WAIT, 9 LAST_ACK. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#include "cause.h"

/* The case tables start from a base (CLIENT, SERVER) and override fields:
 * exactly what -Woverride-init (in -Wextra) is meant to flag elsewhere. */
#pragma GCC diagnostic ignored "-Woverride-init"

static void diag(const char *msg)
{
    printf("# %s\n", msg);
}

enum { ST_ESTABLISHED = 1, ST_CLOSE = 7, ST_CLOSE_WAIT = 8, ST_LAST_ACK = 9 };

/* A client that sent a request (78 bytes) on an established connection. */
#define CLIENT .established = 1, .exchanges = 1, .bytes_out = 78
/* A server that received a request and may be answering it. */
#define SERVER .server = 1, .established = 1, .exchanges = 1, .bytes_in = 78

struct code_case {
    const char *name;
    struct cause_input in;
    enum cause_code want;
};

static const struct code_case code_cases[] = {
    /* ---- refused ---- */
    {"connect() refused", {.err = ECONNREFUSED, .op_class = OPC_CONNECT}, CAUSE_REFUSED},
    {"refusal reported by SO_ERROR after a non-blocking connect",
     {.err = ECONNREFUSED, .op_class = OPC_CONNECT, .bytes_out = 0},
     CAUSE_REFUSED},
    {"refusal seen by the first send of a non-blocking connect",
     {.err = ECONNREFUSED, .op_class = OPC_OUT},
     CAUSE_REFUSED},

    /* ---- connect_timeout: ETIMEDOUT/unreachable before the handshake ---- */
    {"ETIMEDOUT in connect (SYN unanswered)",
     {.err = ETIMEDOUT, .op_class = OPC_CONNECT},
     CAUSE_CONNECT_TIMEOUT},
    {"EHOSTUNREACH in connect",
     {.err = EHOSTUNREACH, .op_class = OPC_CONNECT},
     CAUSE_CONNECT_TIMEOUT},
    {"ENETUNREACH in connect",
     {.err = ENETUNREACH, .op_class = OPC_CONNECT},
     CAUSE_CONNECT_TIMEOUT},

    /* ---- retransmit_timeout: the same errors after the handshake ---- */
    {"ETIMEDOUT established (recv)",
     {CLIENT, .err = ETIMEDOUT, .op_class = OPC_IN},
     CAUSE_RETRANSMIT_TIMEOUT},
    {"EHOSTUNREACH established (send, ICMP soft error)",
     {CLIENT, .err = EHOSTUNREACH, .op_class = OPC_OUT},
     CAUSE_RETRANSMIT_TIMEOUT},
    {"ENETUNREACH established",
     {CLIENT, .err = ENETUNREACH, .op_class = OPC_IN},
     CAUSE_RETRANSMIT_TIMEOUT},
    {"ETIMEDOUT on an accepted connection",
     {SERVER, .err = ETIMEDOUT, .op_class = OPC_OUT},
     CAUSE_RETRANSMIT_TIMEOUT},
    {"ETIMEDOUT established wins over a long idle gap",
     {CLIENT, .err = ETIMEDOUT, .op_class = OPC_IN, .exchanges = 2, .idle_before_ms = 90000},
     CAUSE_RETRANSMIT_TIMEOUT},

    /* ---- local_abort ---- */
    {"ECONNABORTED in recv (socket destroyed on this host)",
     {CLIENT, .err = ECONNABORTED, .op_class = OPC_IN},
     CAUSE_LOCAL_ABORT},
    {"ECONNABORTED in a server's send",
     {SERVER, .err = ECONNABORTED, .op_class = OPC_OUT},
     CAUSE_LOCAL_ABORT},
    {"ECONNABORTED from accept",
     {.err = ECONNABORTED, .op_class = OPC_ACCEPT, .server = 1},
     CAUSE_LOCAL_ABORT},

    /* ---- idle_reuse: reused, nothing of the response yet, quiet >= 1000 ms ---- */
    {"idle_before_ms 2000 (the smallest known idle timeout) -> idle_reuse",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 91,
      .idle_before_ms = 2000},
     CAUSE_IDLE_REUSE},
    {"idle_before_ms 1999 (just below), no proof the peer had closed -> reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 91,
      .idle_before_ms = 1999},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"idle 999 ms but a CLOSE_WAIT snapshot taken as the request began -> early_close",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 91,
      .idle_before_ms = 999, .snap_state = ST_CLOSE_WAIT, .snap_fresh = 1, .snap_pre_request = 1},
     CAUSE_EARLY_CLOSE},
    {"idle 10 ms and a fresh CLOSE snapshot (a RST, not a FIN) is no idle timeout -> "
     "reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 3, .bytes_in = 200,
      .bytes_out = 300, .idle_before_ms = 10, .snap_state = ST_CLOSE, .snap_fresh = 1},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"EPIPE after our own shutdown(SHUT_WR) -> local_abort",
     {CLIENT, .err = EPIPE, .op_class = OPC_OUT, .exchanges = 1, .bytes_out = 10, .shut_wr = 1},
     CAUSE_LOCAL_ABORT},
    {"send fails after the early answer of an upload (response read before it) -> "
     "unread_data_close",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_OUT, .exchanges = 2, .bytes_in = 72,
      .bytes_out = 65536, .resp_before_write = 72, .idle_before_ms = 120},
     CAUSE_UNREAD_DATA_CLOSE},
    {"a write after 600 ms of quiet finds the peer's RST already in (fresh CLOSE) -> early_close",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_OUT, .exchanges = 2, .bytes_in = 3,
      .bytes_out = 40, .resp_before_write = 3, .idle_before_ms = 600, .snap_state = ST_CLOSE,
      .snap_fresh = 1, .snap_pre_request = 1, .awaiting_response = 1},
     CAUSE_EARLY_CLOSE},
    {"idle 10 ms but a fresh LAST_ACK snapshot -> early_close",
     {CLIENT, .err = EPIPE, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 91,
      .idle_before_ms = 10, .snap_state = ST_LAST_ACK, .snap_fresh = 1, .snap_pre_request = 1},
     CAUSE_EARLY_CLOSE},
    {"idle 1999 ms and the peer's RST in before the request -> early_close",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_OUT, .exchanges = 2, .bytes_in = 91,
      .idle_before_ms = 1999, .snap_state = ST_CLOSE, .snap_fresh = 1, .snap_pre_request = 1},
     CAUSE_EARLY_CLOSE},
    {"idle 2000 ms and the peer's FIN in before the request -> idle_reuse (a plausible timeout)",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 91,
      .awaiting_response = 1, .idle_before_ms = 2000, .snap_state = ST_CLOSE_WAIT, .snap_fresh = 1,
      .snap_pre_request = 1},
     CAUSE_IDLE_REUSE},
    {"CLOSE_WAIT snapshot that is not fresh does not count (idle 999)",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 91,
      .idle_before_ms = 999, .snap_state = ST_CLOSE_WAIT, .snap_fresh = 0},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"fresh ESTABLISHED snapshot, idle 10 ms -> reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 91,
      .idle_before_ms = 10, .snap_state = ST_ESTABLISHED, .snap_fresh = 1},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"EPIPE on a reused connection idle 65 s -> idle_reuse",
     {CLIENT, .err = EPIPE, .op_class = OPC_OUT, .exchanges = 3, .bytes_in = 300,
      .idle_before_ms = 65000},
     CAUSE_IDLE_REUSE},
    {"first exchange (not reused) idle 5 s -> reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 1, .idle_before_ms = 5000},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"reused, idle 5 s, but response bytes already in -> reset_mid_stream",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 500,
      .exchange_in = 400, .idle_before_ms = 5000},
     CAUSE_RESET_MID_STREAM},
    {"server: its last response written, nothing read since, RST 3 s later (a proxy's pool "
     "dropped it) -> idle_close",
     {.server = 1,
      .established = 1,
      .err = ECONNRESET,
      .op_class = OPC_IN,
      .exchanges = 2,
      .bytes_in = 79,
      .bytes_out = 125,
      .resp_before_write = 125,
      .quiet_ms = 3000},
     CAUSE_IDLE_CLOSE},
    {"server: the same RST 0.5 s after the response -> client_abort",
     {.server = 1,
      .established = 1,
      .err = ECONNRESET,
      .op_class = OPC_IN,
      .exchanges = 2,
      .bytes_in = 79,
      .bytes_out = 125,
      .resp_before_write = 125,
      .quiet_ms = 500},
     CAUSE_CLIENT_ABORT},
    {"server: RST 3 s after reading a request it had not answered -> client_abort",
     {.server = 1,
      .established = 1,
      .err = ECONNRESET,
      .op_class = OPC_IN,
      .exchanges = 1,
      .bytes_in = 79,
      .awaiting_response = 1,
      .quiet_ms = 3000},
     CAUSE_CLIENT_ABORT},
    {"server role is never idle_reuse (client aborted) -> client_abort",
     {SERVER, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .idle_before_ms = 5000},
     CAUSE_CLIENT_ABORT},
    /* We had read EOF: the app wrote after seeing the peer's FIN. That is the
     * more precise diagnosis than a stale keep-alive, whatever the idle gap. */
    {"EOF seen, then a write 1.5 s later -> write_after_peer_fin (not idle_reuse)",
     {CLIENT, .err = EPIPE, .op_class = OPC_OUT, .exchanges = 2, .bytes_in = 91, .peer_fin = 1,
      .idle_before_ms = 1500},
     CAUSE_WRITE_AFTER_PEER_FIN},
    {"EOF seen, second write right after (fresh CLOSE snapshot) -> write_after_peer_fin",
     {CLIENT, .err = EPIPE, .op_class = OPC_OUT, .exchanges = 2, .bytes_in = 91, .peer_fin = 1,
      .idle_before_ms = 0, .snap_state = ST_CLOSE, .snap_fresh = 1},
     CAUSE_WRITE_AFTER_PEER_FIN},

    /* ---- write_after_peer_fin ---- */
    {"EPIPE on send after EOF",
     {CLIENT, .err = EPIPE, .op_class = OPC_OUT, .peer_fin = 1},
     CAUSE_WRITE_AFTER_PEER_FIN},
    {"ECONNRESET on send, fresh CLOSE_WAIT snapshot, EOF not read",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_OUT, .snap_state = ST_CLOSE_WAIT, .snap_fresh = 1},
     CAUSE_WRITE_AFTER_PEER_FIN},
    {"a server writing after the client's FIN",
     {SERVER, .err = EPIPE, .op_class = OPC_OUT, .peer_fin = 1, .exchange_in = 10},
     CAUSE_WRITE_AFTER_PEER_FIN},
    {"stale CLOSE_WAIT snapshot on send (no EOF) -> reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_OUT, .snap_state = ST_CLOSE_WAIT, .snap_fresh = 0},
     CAUSE_RESET_BEFORE_RESPONSE},

    /* ---- unread_data_close ---- */
    {"recv reset after EOF (peer closed with our data unread)",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .peer_fin = 1, .bytes_in = 10,
      .exchange_in = 10},
     CAUSE_UNREAD_DATA_CLOSE},
    {"send reset after the response began (early answer to an upload)",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_OUT, .bytes_out = 65536, .bytes_in = 120,
      .exchange_in = 120},
     CAUSE_UNREAD_DATA_CLOSE},
    {"EPIPE on send after an early answer",
     {CLIENT, .err = EPIPE, .op_class = OPC_OUT, .bytes_out = 200000, .bytes_in = 40,
      .exchange_in = 40},
     CAUSE_UNREAD_DATA_CLOSE},
    {"client recv reset after EOF with nothing of a response read",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .peer_fin = 1, .bytes_out = 5000},
     CAUSE_UNREAD_DATA_CLOSE},

    /* ---- reset_before_response ---- */
    {"recv reset, request sent, nothing back",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"send reset, request partly sent, nothing back",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_OUT, .bytes_out = 4096},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"second quick request: earlier responses do not make it mid-stream",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 91,
      .exchange_in = 0, .idle_before_ms = 5},
     CAUSE_RESET_BEFORE_RESPONSE},

    /* ---- reset_mid_stream ---- */
    {"recv reset while the response was flowing",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .bytes_in = 1000, .exchange_in = 1000},
     CAUSE_RESET_MID_STREAM},
    {"server-push stream reset (client never sent)",
     {.established = 1, .err = ECONNRESET, .op_class = OPC_IN, .bytes_in = 5000},
     CAUSE_RESET_MID_STREAM},
    {"server: client reset while we read its request -> client_abort",
     {SERVER, .err = ECONNRESET, .op_class = OPC_IN},
     CAUSE_CLIENT_ABORT},
    /* The client closed (we read its EOF), then reset because our answer was
     * unread: from the server's side the client went away. */
    {"server: recv reset after the client's EOF -> client_abort (client gone)",
     {SERVER, .err = ECONNRESET, .op_class = OPC_IN, .peer_fin = 1},
     CAUSE_CLIENT_ABORT},
    /* A server's exchange_in counts the bytes of its own response; a client
     * that goes away mid-download is a client abort, not "our data unread
     * after an early answer". */
    {"server: send reset mid-response (client went away) -> client_abort",
     {SERVER, .err = ECONNRESET, .op_class = OPC_OUT, .bytes_out = 20000, .exchange_in = 20000},
     CAUSE_CLIENT_ABORT},

    /* ---- idle_close: a pooled connection closed while nothing was outstanding ---- */
    {"client: RST read on an idle pooled connection 1.5 s after its response -> idle_close",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .bytes_in = 91, .exchange_in = 91,
      .quiet_ms = 1500},
     CAUSE_IDLE_CLOSE},
    {"client: EOF read on an idle pooled connection 5 s after its response -> idle_close",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .exchanges = 3, .bytes_in = 300,
      .exchange_in = 100, .quiet_ms = 5000},
     CAUSE_IDLE_CLOSE},
    {"client: RST 0.3 s into a response pause is no idle close -> reset_mid_stream",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .bytes_in = 91, .exchange_in = 91,
      .quiet_ms = 300},
     CAUSE_RESET_MID_STREAM},
    {"client: RST 1.5 s after the request, nothing back, is not idle -> reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .awaiting_response = 1, .quiet_ms = 1500},
     CAUSE_RESET_BEFORE_RESPONSE},

    /* ---- tls_close_race: the reset answered this side's own TLS close_notify ---- */
    {"client: RST read right after our TLS close_notify (26 bytes back) -> tls_close_race",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 2361,
      .bytes_out = 2100589, .exchange_in = 26, .proto = PROTO_TLS, .closing = 1, .quiet_ms = 1},
     CAUSE_TLS_CLOSE_RACE},
    {"client: EPIPE writing after our TLS close_notify -> tls_close_race, not write_after_peer_fin",
     {CLIENT, .err = EPIPE, .op_class = OPC_OUT, .exchanges = 1, .bytes_in = 700, .bytes_out = 600,
      .peer_fin = 1, .proto = PROTO_TLS, .closing = 1},
     CAUSE_TLS_CLOSE_RACE},
    {"server: the client's close_notify is no closing of ours -> client_abort",
     {SERVER, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 1, .bytes_in = 500,
      .proto = PROTO_TLS, .closing = 1},
     CAUSE_CLIENT_ABORT},

    /* ---- response_timeout: nothing back, the peer gave up at a timeout ---- */
    {"EOF 30.4 s after the request, no response (gunicorn) -> response_timeout",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .awaiting_response = 1,
      .quiet_ms = 30400},
     CAUSE_RESPONSE_TIMEOUT},
    {"RST 60.0 s after the request on a reused connection -> response_timeout",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 4, .bytes_in = 900,
      .awaiting_response = 1, .quiet_ms = 60010},
     CAUSE_RESPONSE_TIMEOUT},
    {"EOF 2.01 s after the request (a round 2 s) -> response_timeout",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .awaiting_response = 1,
      .quiet_ms = 2010},
     CAUSE_RESPONSE_TIMEOUT},
    {"EOF 1.0 s after the query (a server killed it, the mariadb KILL case): too short for the "
     "round-second rule -> reset_before_response",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .exchanges = 3, .bytes_in = 200,
      .awaiting_response = 1, .quiet_ms = 1004, .snap_state = ST_CLOSE_WAIT, .snap_fresh = 1},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"EOF 1.6 s after the request (no round number) -> reset_before_response",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .awaiting_response = 1,
      .quiet_ms = 1600},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"RST 45 s after the request (no known timeout, past 30 s) -> reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .awaiting_response = 1, .quiet_ms = 45000},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"EOF 0.9 s after the request is too soon -> reset_before_response",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .awaiting_response = 1, .quiet_ms = 900},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"response bytes already in: a reset 30 s later is mid-stream, not a timeout",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .bytes_in = 5000, .exchange_in = 5000,
      .awaiting_response = 0, .quiet_ms = 200},
     CAUSE_RESET_MID_STREAM},

    /* ---- early_close: the peer's goodbye sat unread before the request ---- */
    {"PostgreSQL FATAL 57P01 queued before the query, then EOF (psql) -> early_close",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .exchanges = 3, .bytes_in = 700,
      .exchange_in = 110, .idle_before_ms = 1500, .snap_state = ST_CLOSE_WAIT, .snap_fresh = 1,
      .snap_pre_request = 1, .unread = 110, .goodbye = GOODBYE_PG, .goodbye_code = "57P01"},
     CAUSE_EARLY_CLOSE},
    {"a goodbye on a fresh connection's first request (connect, goodbye, request) -> early_close",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 1, .bytes_in = 0,
      .idle_before_ms = 500, .snap_state = ST_CLOSE_WAIT, .snap_pre_request = 1, .unread = 49,
      .goodbye = GOODBYE_HTTP, .goodbye_code = "408", .awaiting_response = 1},
     CAUSE_EARLY_CLOSE},
    {"more read after the request than was queued before it: a response began -> reset_mid_stream",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 900,
      .exchange_in = 400, .idle_before_ms = 5000, .snap_state = ST_CLOSE_WAIT,
      .snap_pre_request = 1, .unread = 110, .goodbye = GOODBYE_PG, .goodbye_code = "57P01"},
     CAUSE_RESET_MID_STREAM},
    {"unread bytes in a snapshot that is not the pre-request one: no goodbye -> "
     "reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 1, .unread = 110,
      .goodbye = GOODBYE_PG, .goodbye_code = "57P01", .snap_state = ST_CLOSE_WAIT},
     CAUSE_RESET_BEFORE_RESPONSE},

    /* ---- request_timeout: the server stopped waiting for our request ---- */
    {"slow upload: EPIPE on a write, a snapshot inside the send span shows CLOSE_WAIT and a 408 "
     "unread -> request_timeout",
     {CLIENT, .err = EPIPE, .op_class = OPC_OUT, .bytes_out = 300000, .snap_state = ST_CLOSE_WAIT,
      .snap_in_request = 1, .unread = 49, .request_ms = 2100, .awaiting_response = 1},
     CAUSE_REQUEST_TIMEOUT},
    {"stalled headers: ECONNRESET on the write after the stall, the peer had reset -> "
     "request_timeout",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_OUT, .bytes_out = 20, .snap_state = ST_CLOSE,
      .snap_in_request = 1, .request_ms = 1500, .awaiting_response = 1},
     CAUSE_REQUEST_TIMEOUT},
    {"the same after the app read an early 413: the peer answered early -> unread_data_close",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_OUT, .bytes_out = 300000, .bytes_in = 120,
      .exchange_in = 120, .snap_state = ST_CLOSE_WAIT, .snap_in_request = 1, .request_ms = 50},
     CAUSE_UNREAD_DATA_CLOSE},
    {"a snapshot inside the send span that shows the peer still there -> reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_OUT, .bytes_out = 300000,
      .snap_state = ST_ESTABLISHED, .snap_in_request = 1, .request_ms = 3000},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"a read (the request was all sent) is no request_timeout -> reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .bytes_out = 300, .snap_state = ST_CLOSE,
      .snap_in_request = 1, .request_ms = 1500, .awaiting_response = 1},
     CAUSE_RESET_BEFORE_RESPONSE},

    /* ---- path_reset: sooner than the peer could answer ---- */
    {"RST 5 us after the request on an 82 us path (an eighth is 10 us) -> path_reset",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .awaiting_response = 1, .quiet_us = 5,
      .min_rtt_us = 82},
     CAUSE_PATH_RESET},
    {"RST 11 us after the request on an 82 us path -> reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .awaiting_response = 1, .quiet_us = 11,
      .min_rtt_us = 82},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"RST 4.999 ms after the request on a 20 ms path (a quarter is 5 ms) -> path_reset",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .awaiting_response = 1, .quiet_us = 4999,
      .quiet_ms = 4, .min_rtt_us = 20000},
     CAUSE_PATH_RESET},
    {"RST 5 ms after the request on a 20 ms path -> reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .awaiting_response = 1, .quiet_us = 5000,
      .quiet_ms = 5, .min_rtt_us = 20000},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"RST 2 us after the request to a loopback peer: no path -> reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .awaiting_response = 1, .quiet_us = 2,
      .min_rtt_us = 30, .peer_loopback = 1},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"RST soon but the min RTT is unknown (old kernel) -> reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .awaiting_response = 1, .quiet_us = 2},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"prompt RST on a reused connection after 3 s idle, sooner than the path allows -> path_reset",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 100,
      .awaiting_response = 1, .idle_before_ms = 3000, .quiet_us = 4, .min_rtt_us = 90,
      .snap_state = ST_ESTABLISHED, .snap_pre_request = 1},
     CAUSE_PATH_RESET},

    /* ---- path_state_lost: a reused connection timed out right after a long idle ---- */
    {"ETIMEDOUT on a reused connection's request after 5 s idle -> path_state_lost",
     {CLIENT, .err = ETIMEDOUT, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 100,
      .awaiting_response = 1, .idle_before_ms = 5000, .total_retrans = 6},
     CAUSE_PATH_STATE_LOST},
    {"ETIMEDOUT after 1.9 s idle (no timeout that short) -> retransmit_timeout",
     {CLIENT, .err = ETIMEDOUT, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 100,
      .awaiting_response = 1, .idle_before_ms = 1999, .total_retrans = 6},
     CAUSE_RETRANSMIT_TIMEOUT},
    {"the app's own timeout closed a reused connection whose request after 5 s idle was never "
     "acknowledged -> path_state_lost",
     {CLIENT, .op_class = OPC_CLOSE, .exchanges = 2, .bytes_in = 100, .awaiting_response = 1,
      .idle_before_ms = 5000, .quiet_ms = 4000, .unacked = 1, .total_retrans = 4},
     CAUSE_PATH_STATE_LOST},

    /* ---- local_timeout: this program gave up on its request ---- */
    {"closed 4 s after the request, 1 segment unacked, 3 retransmissions -> local_timeout",
     {CLIENT, .op_class = OPC_CLOSE, .awaiting_response = 1, .quiet_ms = 4000, .unacked = 1,
      .total_retrans = 3},
     CAUSE_LOCAL_TIMEOUT},
    {"closed after 5 s idle, the request acknowledged once after a retransmission -> "
     "local_timeout",
     {CLIENT, .op_class = OPC_CLOSE, .exchanges = 2, .bytes_in = 100, .awaiting_response = 1,
      .idle_before_ms = 5000, .quiet_ms = 4000, .unacked = 0, .total_retrans = 1},
     CAUSE_LOCAL_TIMEOUT},
    {"closed with the request acknowledged and nothing retransmitted -> unknown (not recorded)",
     {CLIENT, .op_class = OPC_CLOSE, .awaiting_response = 1, .quiet_ms = 4000},
     CAUSE_UNKNOWN},
    {"closed with the answer queued unread -> unknown (not recorded)",
     {CLIENT, .op_class = OPC_CLOSE, .awaiting_response = 1, .quiet_ms = 4000, .unacked = 1,
      .total_retrans = 1, .unread = 300},
     CAUSE_UNKNOWN},

    /* ---- fd_limit ---- */
    {"accept() fails with EMFILE -> fd_limit",
     {.server = 1, .err = EMFILE, .op_class = OPC_ACCEPT},
     CAUSE_FD_LIMIT},
    {"accept() fails with ENFILE -> fd_limit",
     {.server = 1, .err = ENFILE, .op_class = OPC_ACCEPT},
     CAUSE_FD_LIMIT},
    {"EMFILE from socket() on a client is no accept -> unknown",
     {.err = EMFILE, .op_class = OPC_CONNECT},
     CAUSE_UNKNOWN},

    /* ---- response_timeout: from the value to 1.1 s after it ---- */
    {"EOF 3.52 s after the request (php-fpm request_terminate_timeout=3s) -> response_timeout",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .awaiting_response = 1,
      .quiet_ms = 3520},
     CAUSE_RESPONSE_TIMEOUT},
    {"EOF 7.9 s after the request (gunicorn --timeout 7) -> response_timeout",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .awaiting_response = 1,
      .quiet_ms = 7900},
     CAUSE_RESPONSE_TIMEOUT},
    {"EOF 1.97 s after the request (within 30 ms of 2 s) -> response_timeout",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .awaiting_response = 1,
      .quiet_ms = 1970},
     CAUSE_RESPONSE_TIMEOUT},
    {"EOF 1.96 s after the request -> reset_before_response",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .awaiting_response = 1,
      .quiet_ms = 1960},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"EOF 31.2 s after the request (past gunicorn's 30 s + 1.1 s) -> reset_before_response",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .awaiting_response = 1,
      .quiet_ms = 31200},
     CAUSE_RESET_BEFORE_RESPONSE},

    /* ---- snapshots after the request began prove nothing about before it ---- */
    {"wget's 2nd request, EOF 20 ms later, CLOSE_WAIT snapshot taken at the EOF -> "
     "reset_before_response",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 200,
      .awaiting_response = 1, .quiet_ms = 20, .snap_state = ST_CLOSE_WAIT, .snap_fresh = 1},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"1.5 s idle, pre-request snapshot ESTABLISHED, then EOF: the peer answered the request by "
     "closing -> reset_before_response",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 200,
      .awaiting_response = 1, .idle_before_ms = 1500, .quiet_ms = 30, .snap_state = ST_ESTABLISHED,
      .snap_fresh = 1, .snap_pre_request = 1},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"2.5 s idle, pre-request snapshot ESTABLISHED (no FIN), RST 190 us later on a 40 us path: "
     "the state was lost on the path or the peer host -> path_state_lost",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 200,
      .awaiting_response = 1, .idle_before_ms = 2500, .quiet_us = 190, .min_rtt_us = 40,
      .snap_state = ST_ESTABLISHED, .snap_fresh = 1, .snap_pre_request = 1},
     CAUSE_PATH_STATE_LOST},
    {"the same on loopback: no path, no other host -> reset_before_response, not idle_reuse",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 200,
      .awaiting_response = 1, .idle_before_ms = 2500, .quiet_us = 190, .min_rtt_us = 40,
      .snap_state = ST_ESTABLISHED, .snap_fresh = 1, .snap_pre_request = 1, .peer_loopback = 1},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"2.5 s idle, pre-request snapshot ESTABLISHED, RST 40 ms later on a 1 ms path: the peer's "
     "answer, no idle close -> reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 200,
      .awaiting_response = 1, .idle_before_ms = 2500, .quiet_ms = 40, .quiet_us = 40000,
      .min_rtt_us = 1000, .snap_state = ST_ESTABLISHED, .snap_fresh = 1, .snap_pre_request = 1},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"a fresh request reset 177 us after it on a 61 us path (a few RTTs): reset_before_response "
     "that does not blame the server",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .awaiting_response = 1, .quiet_us = 177,
      .min_rtt_us = 61, .snap_state = ST_ESTABLISHED, .snap_fresh = 1},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"curl's chunked upload: the peer's FIN was in at a send call inside the request, then EOF "
     "-> request_timeout",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .bytes_out = 10342, .bytes_in = 25,
      .awaiting_response = 1, .request_ms = 2972, .snap_state = ST_CLOSE_WAIT, .snap_fresh = 1,
      .snap_in_request = 1, .snap_mid_request = 1},
     CAUSE_REQUEST_TIMEOUT},
    {"FIN seen by a snapshot at the recv after the request (not inside it), then EOF -> "
     "reset_before_response",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .bytes_out = 100, .awaiting_response = 1,
      .request_ms = 2972, .snap_state = ST_CLOSE_WAIT, .snap_fresh = 1, .snap_in_request = 1},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"1.5 s idle, pre-request snapshot ESTABLISHED, prompt RST: no timeout that short -> "
     "reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 200,
      .awaiting_response = 1, .idle_before_ms = 1500, .quiet_ms = 2, .snap_state = ST_ESTABLISHED,
      .snap_fresh = 1, .snap_pre_request = 1},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"1.5 s idle, pre-request snapshot CLOSE_WAIT, EOF -> early_close",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 200,
      .awaiting_response = 1, .idle_before_ms = 1500, .quiet_ms = 1, .snap_state = ST_CLOSE_WAIT,
      .snap_fresh = 1, .snap_pre_request = 1},
     CAUSE_EARLY_CLOSE},

    /* ---- TLS ---- */
    {"TLS client reset during the handshake -> reset_before_response (TLS hint)",
     {.established = 1,
      .err = ECONNRESET,
      .op_class = OPC_IN,
      .bytes_out = 517,
      .bytes_in = 0,
      .proto = PROTO_TLS},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"fresh TLS 1.3 connection: 510 bytes of tickets then a reset -> reset_before_response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .bytes_out = 900, .bytes_in = 3500,
      .exchange_in = 510, .awaiting_response = 0, .proto = PROTO_TLS},
     CAUSE_RESET_BEFORE_RESPONSE},
    {"TLS, a real response (8 KiB) then a reset -> reset_mid_stream",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .bytes_out = 900, .bytes_in = 12000,
      .exchange_in = 8192, .proto = PROTO_TLS},
     CAUSE_RESET_MID_STREAM},
    {"TLS server: client aborts the handshake -> client_abort",
     {.server = 1,
      .established = 1,
      .err = ECONNRESET,
      .op_class = OPC_IN,
      .bytes_in = 517,
      .proto = PROTO_TLS},
     CAUSE_CLIENT_ABORT},

    {"TLS, 600 bytes back (tickets or a short response), RST 2 s later: ambiguous -> unknown",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .bytes_in = 3500, .exchange_in = 600,
      .quiet_ms = 2000, .proto = PROTO_TLS},
     CAUSE_UNKNOWN},
    {"TLS reused connection, only a 31-byte close_notify back, peer closed before the request "
     "-> idle_reuse",
     {CLIENT, .eof = 1, .peer_fin = 1, .op_class = OPC_OTHER, .exchanges = 2, .bytes_in = 1065,
      .exchange_in = 31, .awaiting_response = 1, .idle_before_ms = 2000,
      .snap_state = ST_CLOSE_WAIT, .snap_fresh = 1, .snap_pre_request = 1, .proto = PROTO_TLS},
     CAUSE_IDLE_REUSE},
    {"TLS pooled connection after a 5 KiB response, RST 3 s idle -> idle_close",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .bytes_in = 9000,
      .exchange_in = 5000, .quiet_ms = 3000, .proto = PROTO_TLS},
     CAUSE_IDLE_CLOSE},

    /* ---- not a reset ---- */
    {"ENOENT connecting to a missing AF_UNIX path -> refused",
     {.err = ENOENT, .op_class = OPC_CONNECT},
     CAUSE_REFUSED},

    /* ---- unknown ---- */
    {"recv reset before anything was sent or received",
     {.established = 1, .err = ECONNRESET, .op_class = OPC_IN},
     CAUSE_UNKNOWN},
    {"EPIPE on a connection that never carried a byte",
     {.established = 1, .err = EPIPE, .op_class = OPC_OTHER},
     CAUSE_UNKNOWN},
    {"an error outside the reset family (EINVAL)",
     {CLIENT, .err = EINVAL, .op_class = OPC_IN},
     CAUSE_UNKNOWN},
    {"no error at all (errno 0)", {CLIENT, .err = 0, .op_class = OPC_IN}, CAUSE_UNKNOWN},
};

static void check_codes(void)
{
    unsigned seen[CAUSE_COUNT] = {0};
    for (size_t i = 0; i < sizeof code_cases / sizeof code_cases[0]; i++) {
        const struct code_case *t = &code_cases[i];
        size_t rule = cause_classify(&t->in);
        enum cause_code got = cause_rules[rule].code;
        char name[300];
        if (strstr(t->name, "->"))
            snprintf(name, sizeof name, "classify: %s", t->name);
        else
            snprintf(name, sizeof name, "classify: %s -> %s", t->name, cause_code_name(t->want));
        ok(got == t->want, "%s", name);
        if (got != t->want) {
            char m[200];
            snprintf(m, sizeof m, "  got %s (rule %zu)", cause_code_name(got), rule);
            diag(m);
        }
        seen[t->want]++;
    }
    int all_twice = 1;
    for (int c = 0; c < CAUSE_COUNT; c++)
        if (seen[c] < 2) {
            char m[100];
            snprintf(m, sizeof m, "  code %s has only %u case(s)", cause_code_name(c), seen[c]);
            diag(m);
            all_twice = 0;
        }
    ok(all_twice, "the table covers every cause code at least twice");
}

/* ---- hints ------------------------------------------------------------------- */

struct hint_case {
    const char *name;
    struct cause_input in;
    const char *want[4];   /* substrings that must appear */
    const char *reject[3]; /* substrings that must not */
};

#define STALE(ms)                                                                                  \
    CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 2, .idle_before_ms = (ms)

static const struct hint_case hint_cases[] = {
    {"idle 65 s names the AWS ALB 60 s default",
     {STALE(65000)},
     {"65.0 s", "AWS ALB/ELB idle timeout default, 60 s", "idle timeout"},
     {"nginx", "Node.js", "already closed"}},
    {"early_close: the peer's FIN in before the request after 1.2 s idle names the smallest "
     "known idle timeout",
     {STALE(1234), .eof = 1, .err = 0, .snap_state = ST_CLOSE_WAIT, .snap_pre_request = 1},
     {"after only 1.2 s idle", "its FIN was in", "gunicorn keep-alive default, 2 s",
      "validate pooled connections"},
     {"past the", "set the client's idle timeout", NULL}},
    {"early_close after an RST names it, and says restart, reload and admin kill",
     {STALE(300), .snap_state = ST_CLOSE, .snap_pre_request = 1},
     {"after only 0.3 s idle", "its RST was in", "restart, reload, admin kill"},
     {"idle timeout and the client", NULL, NULL}},
    {"idle 2.1 s names the gunicorn keep-alive default",
     {STALE(2100)},
     {"idle 2.1 s", "past the gunicorn keep-alive default, 2 s",
      "set the client's idle timeout below"},
     {"AWS", NULL, NULL}},
    {"idle 4999 ms is below the Node.js/Apache 5 s default",
     {STALE(4999)},
     {"4.9 s"},
     {"Node.js", NULL, NULL}},
    {"a PostgreSQL goodbye names its SQLSTATE and what it means",
     {CLIENT, .eof = 1, .op_class = OPC_IN, .exchanges = 3, .exchange_in = 110,
      .idle_before_ms = 1500, .snap_state = ST_CLOSE_WAIT, .snap_pre_request = 1, .unread = 110,
      .goodbye = GOODBYE_PG, .goodbye_code = "57P01"},
     {"PostgreSQL error 57P01 (admin_shutdown", "110 bytes", "after 1.5 s idle",
      "no response to it"},
     {"before any response byte", "not an idle timeout", NULL}},
    {"idle_session_timeout is named, and not denied",
     {CLIENT, .eof = 1, .op_class = OPC_IN, .exchanges = 2, .exchange_in = 100,
      .idle_before_ms = 1200, .snap_state = ST_CLOSE_WAIT, .snap_pre_request = 1, .unread = 100,
      .goodbye = GOODBYE_PG, .goodbye_code = "57P05"},
     {"57P05 (idle_session_timeout", "session timeout"},
     {"not an idle timeout", NULL, NULL}},
    {"an unknown SQLSTATE is named by its class",
     {CLIENT, .eof = 1, .op_class = OPC_IN, .exchanges = 2, .exchange_in = 100,
      .snap_state = ST_CLOSE_WAIT, .snap_pre_request = 1, .unread = 100, .goodbye = GOODBYE_PG,
      .goodbye_code = "08P01"},
     {"PostgreSQL error 08P01 (SQLSTATE class 08)"},
     {NULL, NULL, NULL}},
    {"a MariaDB KILL names the admin kill",
     {CLIENT, .eof = 1, .op_class = OPC_IN, .exchanges = 2, .exchange_in = 40,
      .snap_state = ST_CLOSE_WAIT, .snap_pre_request = 1, .unread = 40, .goodbye = GOODBYE_MYSQL,
      .goodbye_code = "1927"},
     {"MySQL/MariaDB error 1927 (ER_CONNECTION_KILLED", "admin kill"},
     {NULL, NULL, NULL}},
    {"an HTTP 408 queued before the request is named",
     {CLIENT, .err = EPIPE, .op_class = OPC_OUT, .exchanges = 2, .snap_state = ST_CLOSE_WAIT,
      .snap_pre_request = 1, .unread = 49, .goodbye = GOODBYE_HTTP, .goodbye_code = "408"},
     {"HTTP 408 (Request Timeout"},
     {"we had seen EOF", NULL, NULL}},
    {"request_timeout quotes the request's duration and the unread bytes, and names the "
     "request-read timeouts",
     {CLIENT, .err = EPIPE, .op_class = OPC_OUT, .snap_state = ST_CLOSE_WAIT, .snap_in_request = 1,
      .unread = 49, .request_ms = 2100},
     {"going for 2.1 s", "49 bytes the peer sent were never read", "stopped waiting",
      "client_body_timeout"},
     {"we had seen EOF", "matching", NULL}},
    {"request_timeout at 60.4 s matches nginx's and Node's defaults",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_OUT, .snap_state = ST_CLOSE, .snap_in_request = 1,
      .request_ms = 60400},
     {"matching nginx client_header_timeout/client_body_timeout default, 60 s",
      "timeout http-request"},
     {"never read", NULL, NULL}},
    {"request_timeout at 85 s matches Node's headersTimeout, checked every 30 s",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_OUT, .snap_state = ST_CLOSE, .snap_in_request = 1,
      .request_ms = 85000},
     {"matching Node.js http.Server headersTimeout default, 60 s (checked every 30 s)"},
     {NULL, NULL, NULL}},
    {"path_reset quotes the time and the path's RTT and says how to confirm",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .awaiting_response = 1, .quiet_us = 5,
      .min_rtt_us = 82},
     {"came 5 us after the request's last byte", "an eighth", "(82 us)", "rstwatch capture"},
     {"server's logs", NULL, NULL}},
    {"path_reset on a physical path says a quarter",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .awaiting_response = 1, .quiet_us = 3000,
      .min_rtt_us = 20000},
     {"less than a quarter", "(20000 us)", "firewall", "tcpdump"},
     {NULL, NULL, NULL}},
    {"path_state_lost quotes the idle time and the retransmissions",
     {CLIENT, .err = ETIMEDOUT, .op_class = OPC_IN, .exchanges = 2, .awaiting_response = 1,
      .idle_before_ms = 5000, .total_retrans = 6},
     {"after 5.0 s idle", "(6 retransmissions)", "NAT or stateful firewall", "keepalive"},
     {"dead peer", NULL, NULL}},
    {"path_state_lost seen through the program's own timeout says so",
     {CLIENT, .op_class = OPC_CLOSE, .exchanges = 2, .awaiting_response = 1, .idle_before_ms = 4000,
      .quiet_ms = 4000, .unacked = 1, .total_retrans = 3},
     {"after 4.0 s idle", "program's own timeout closed it", "(3 retransmissions)"},
     {NULL, NULL, NULL}},
    {"local_timeout quotes the wait, the unacked segments and the retransmissions",
     {CLIENT, .op_class = OPC_CLOSE, .awaiting_response = 1, .quiet_ms = 4000, .unacked = 1,
      .total_retrans = 3},
     {"closed 4.0 s after the request", "1 segments unacknowledged", "3 retransmissions",
      "client read timeout"},
     {NULL, NULL, NULL}},
    {"fd_limit EMFILE names the process's limit",
     {.server = 1, .err = EMFILE, .op_class = OPC_ACCEPT},
     {"EMFILE", "out of file descriptors", "ulimit -n", "LimitNOFILE"},
     {"ENFILE", NULL, NULL}},
    {"fd_limit ENFILE names the system's",
     {.server = 1, .err = ENFILE, .op_class = OPC_ACCEPT},
     {"ENFILE", "fs.file-max"},
     {"EMFILE", NULL, NULL}},
    {"response_timeout at 3.52 s: a 3 s watchdog, php-fpm named",
     {CLIENT, .eof = 1, .op_class = OPC_IN, .awaiting_response = 1, .quiet_ms = 3520},
     {"no response 3.5 s after the request", "configured to 3 s", "request_terminate_timeout"},
     {NULL, NULL, NULL}},
    {"idle exactly 5 s names Node.js and Apache",
     {STALE(5000)},
     {"5.0 s", "Node.js and Apache httpd keep-alive defaults, 5 s"},
     {"AWS", NULL, NULL}},
    {"idle 75 s names nginx, not the ALB",
     {STALE(75000)},
     {"nginx keepalive_timeout default, 75 s"},
     {"AWS ALB", NULL, NULL}},
    {"idle 4 min names the Azure Load Balancer",
     {STALE(240000)},
     {"240.0 s", "Azure Load Balancer idle timeout default, 4 min"},
     {NULL, NULL, NULL}},
    {"idle 350 s names the AWS NAT Gateway",
     {STALE(350000)},
     {"AWS NAT Gateway/GWLB idle timeout, 350 s"},
     {NULL, NULL, NULL}},
    {"idle 2 h names a firewall's 1 h timeout",
     {STALE(7200000)},
     {"7200.0 s", "1 h connection timeout"},
     {NULL, NULL, NULL}},
    {"a CLOSE_WAIT snapshot from before the request says the peer had already closed",
     {STALE(65000), .snap_state = ST_CLOSE_WAIT, .snap_fresh = 1, .snap_pre_request = 1},
     {"AWS ALB/ELB", "the peer had already closed it"},
     {NULL, NULL, NULL}},
    {"retransmit_timeout appends the retransmission count",
     {CLIENT, .err = ETIMEDOUT, .op_class = OPC_IN, .total_retrans = 7},
     {"unacknowledged", "(7 retransmissions before the failure)"},
     {NULL, NULL, NULL}},
    {"retransmit_timeout without retransmissions appends nothing",
     {CLIENT, .err = ETIMEDOUT, .op_class = OPC_IN, .total_retrans = 0},
     {"check the path"},
     {"retransmissions before", NULL, NULL}},
    {"reset_mid_stream appends the retransmission count",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .bytes_in = 10, .exchange_in = 10,
      .total_retrans = 2},
     {"while data was flowing", "(2 retransmissions before the failure)"},
     {NULL, NULL, NULL}},
    {"reset_before_response does not mention retransmissions",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .total_retrans = 3},
     {"before any response byte", "server's logs"},
     {"retransmissions", NULL, NULL}},
    {"refused: check the service is listening",
     {.err = ECONNREFUSED, .op_class = OPC_CONNECT},
     {"nothing was listening", "listening there"},
     {NULL, NULL, NULL}},
    {"connect_timeout: check firewalls and routing",
     {.err = ETIMEDOUT, .op_class = OPC_CONNECT},
     {"never completed", "firewalls"},
     {NULL, NULL, NULL}},
    {"local_abort: check this host",
     {CLIENT, .err = ECONNABORTED, .op_class = OPC_IN},
     {"aborted on this host", "this host's logs"},
     {NULL, NULL, NULL}},
    {"server-side reset: the client aborted",
     {SERVER, .err = ECONNRESET, .op_class = OPC_IN},
     {"client aborted", "check the client side"},
     {NULL, NULL, NULL}},
    {"write_after_peer_fin: wrote after EOF",
     {CLIENT, .err = EPIPE, .op_class = OPC_OUT, .peer_fin = 1},
     {"already closed its side", "Connection: close"},
     {NULL, NULL, NULL}},
    {"unread_data_close: the peer answered early",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .peer_fin = 1},
     {"still unread", "answered early"},
     {NULL, NULL, NULL}},
    {"a CLOSE_WAIT snapshot taken at the failure does not say 'already closed'",
     {STALE(65000), .snap_state = ST_CLOSE_WAIT, .snap_fresh = 1},
     {"65.0 s"},
     {"already closed", NULL, NULL}},
    {"response_timeout at 30.4 s names gunicorn and PHP",
     {CLIENT, .eof = 1, .op_class = OPC_IN, .awaiting_response = 1, .quiet_ms = 30400},
     {"no response 30.4 s after the request, then EOF", "gunicorn", "max_execution_time"},
     {"round", "60 s", NULL}},
    {"response_timeout at 61 s names nginx proxy_read_timeout",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .awaiting_response = 1, .quiet_ms = 61000},
     {"then a reset", "nginx proxy_read_timeout", "raise that timeout"},
     {"gunicorn's", NULL, NULL}},
    {"response_timeout at 2.01 s says a round 2 s",
     {CLIENT, .eof = 1, .op_class = OPC_IN, .awaiting_response = 1, .quiet_ms = 2010},
     {"2.0 s after the request", "configured to 2 s"},
     {"gunicorn's", NULL, NULL}},
    {"EOF 1.6 s after the request: reset_before_response names the wait",
     {CLIENT, .eof = 1, .op_class = OPC_IN, .awaiting_response = 1, .quiet_ms = 1600},
     {"closed the connection (EOF)", "it came 1.6 s after the request"},
     {"reset before", NULL, NULL}},
    {"an EOF after a non-HTTP message allows for a protocol's own goodbye (memcached quit)",
     {CLIENT, .eof = 1, .op_class = OPC_IN, .exchanges = 2, .awaiting_response = 1,
      .proto = PROTO_OTHER},
     {"closed the connection (EOF)", "not HTTP", "nothing failed"},
     {"keepalive_requests", NULL, NULL}},
    {"an EOF after an HTTP request does not",
     {CLIENT, .eof = 1, .op_class = OPC_IN, .exchanges = 2, .awaiting_response = 1,
      .proto = PROTO_HTTP},
     {"closed the connection (EOF)"},
     {"nothing failed", NULL, NULL}},
    {"request 3 of an HTTP connection mentions keepalive_requests",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 3, .awaiting_response = 1,
      .proto = PROTO_HTTP},
     {"request 3", "per-connection request limit", "keepalive_requests"},
     {NULL, NULL, NULL}},
    {"request 3 of an ssh-like connection does not mention HTTP settings",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchanges = 3, .awaiting_response = 1,
      .proto = PROTO_OTHER},
     {"request 3", "per-connection request limit"},
     {"keepalive_requests", "nginx", "HTTP"}},
    {"TLS handshake reset names TLS causes and openssl s_client",
     {.established = 1,
      .err = ECONNRESET,
      .op_class = OPC_IN,
      .bytes_out = 517,
      .proto = PROTO_TLS},
     {"during the TLS handshake", "SNI", "openssl s_client"},
     {"request was sent", NULL, NULL}},
    {"TLS tickets are named as such, not as a response",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .bytes_in = 3500, .exchange_in = 510,
      .proto = PROTO_TLS},
     {"before any response byte", "510 bytes", "session tickets"},
     {NULL, NULL, NULL}},
    {"the close_notify of a reused TLS connection is named, not taken for a response",
     {CLIENT, .eof = 1, .op_class = OPC_OTHER, .exchanges = 2, .exchange_in = 31,
      .awaiting_response = 1, .idle_before_ms = 2000, .snap_state = ST_CLOSE_WAIT,
      .snap_pre_request = 1, .proto = PROTO_TLS},
     {"sat idle 2.0 s", "already closed it", "close_notify alert, not a response"},
     {"session tickets", NULL, NULL}},
    {"the TLS tickets-or-response ambiguity is said, not guessed",
     {CLIENT, .err = ECONNRESET, .op_class = OPC_IN, .exchange_in = 600, .quiet_ms = 2000,
      .proto = PROTO_TLS},
     {"either the peer gave up on the request or it closed the idle connection"},
     {"nothing failed", NULL, NULL}},
    {"idle_close names the idle time and FIN",
     {CLIENT, .eof = 1, .op_class = OPC_IN, .exchange_in = 91, .quiet_ms = 5200},
     {"idle 5.2 s then FIN", "nothing failed"},
     {"crash", "IDS", NULL}},
    {"client_abort while the request was unanswered suggests a client timeout",
     {SERVER, .err = ECONNRESET, .op_class = OPC_IN, .awaiting_response = 1},
     {"client aborted", "not been answered yet"},
     {NULL, NULL, NULL}},
    {"ENOENT on connect names the missing path",
     {.err = ENOENT, .op_class = OPC_CONNECT},
     {"no socket exists at that path"},
     {"no pattern fits", NULL, NULL}},
    {"EINVAL is not called a reset",
     {CLIENT, .err = EINVAL, .op_class = OPC_IN},
     {"not a reset"},
     {"no pattern fits this reset", NULL, NULL}},
    {"unknown: compare with the peer's logs",
     {.established = 1, .err = ECONNRESET, .op_class = OPC_IN},
     {"no pattern fits", "peer's logs"},
     {NULL, NULL, NULL}},
};

static void check_hints(void)
{
    for (size_t i = 0; i < sizeof hint_cases / sizeof hint_cases[0]; i++) {
        const struct hint_case *t = &hint_cases[i];
        char buf[1024];
        struct strbuf b;
        sb_init(&b, buf, sizeof buf);
        cause_write_hint(&b, cause_classify(&t->in), &t->in);
        const char *h = sb_cstr(&b);
        int good = !b.overflow && h[0];
        for (int k = 0; k < 4 && t->want[k]; k++)
            if (!strstr(h, t->want[k])) good = 0;
        for (int k = 0; k < 3 && t->reject[k]; k++)
            if (strstr(h, t->reject[k])) good = 0;
        /* one sentence: no newline, no trailing period doubling */
        if (strchr(h, '\n')) good = 0;
        char name[200];
        snprintf(name, sizeof name, "hint: %s", t->name);
        ok(good, "%s", name);
        if (!good) {
            printf("#   hint was: %s\n", h);
        }
    }
}

/* ---- the rule table ------------------------------------------------------------ */

static void check_table(void)
{
    /* The last rule is the catch-all: cause_classify must stop there for any input. */
    size_t n = cause_rule_count - 1;
    ok(cause_rules[n].code == CAUSE_UNKNOWN, "the last rule is the unknown catch-all");
    struct cause_input junk;
    memset(&junk, 0xa5, sizeof junk);
    size_t r = cause_classify(&junk);
    ok(r <= n, "arbitrary input stops at or before the catch-all rule");

    int covered[CAUSE_COUNT] = {0}, hints_ok = 1;
    for (size_t i = 0; i <= n; i++) {
        covered[cause_rules[i].code] = 1;
        if (!cause_rules[i].hint || strlen(cause_rules[i].hint) < 40) hints_ok = 0;
    }
    int all = 1;
    for (int c = 0; c < CAUSE_COUNT; c++)
        all &= covered[c];
    ok(all, "every cause code has a rule");
    ok(hints_ok, "every rule has a substantial hint");

    static const char *const names[CAUSE_COUNT] = {
        [CAUSE_REFUSED] = "refused",
        [CAUSE_CONNECT_TIMEOUT] = "connect_timeout",
        [CAUSE_RESET_BEFORE_RESPONSE] = "reset_before_response",
        [CAUSE_IDLE_REUSE] = "idle_reuse",
        [CAUSE_UNREAD_DATA_CLOSE] = "unread_data_close",
        [CAUSE_WRITE_AFTER_PEER_FIN] = "write_after_peer_fin",
        [CAUSE_RESET_MID_STREAM] = "reset_mid_stream",
        [CAUSE_RETRANSMIT_TIMEOUT] = "retransmit_timeout",
        [CAUSE_LOCAL_ABORT] = "local_abort",
        [CAUSE_IDLE_CLOSE] = "idle_close",
        [CAUSE_CLIENT_ABORT] = "client_abort",
        [CAUSE_RESPONSE_TIMEOUT] = "response_timeout",
        [CAUSE_TLS_CLOSE_RACE] = "tls_close_race",
        [CAUSE_EARLY_CLOSE] = "early_close",
        [CAUSE_REQUEST_TIMEOUT] = "request_timeout",
        [CAUSE_PATH_RESET] = "path_reset",
        [CAUSE_PATH_STATE_LOST] = "path_state_lost",
        [CAUSE_LOCAL_TIMEOUT] = "local_timeout",
        [CAUSE_FD_LIMIT] = "fd_limit",
        [CAUSE_UNKNOWN] = "unknown",
    };
    int names_ok = 1;
    for (int c = 0; c < CAUSE_COUNT; c++)
        if (strcmp(cause_code_name(c), names[c])) names_ok = 0;
    ok(names_ok, "cause_code_name matches the code list of docs/design.md \"The record\"");
    ok(!strcmp(cause_code_name(CAUSE_COUNT), "unknown") &&
           !strcmp(cause_code_name((enum cause_code) - 1), "unknown"),
       "out-of-range codes are named unknown");

    /* The hint writer never overflows a record's 768-byte hint buffer. */
    struct cause_input worst = {CLIENT,
                                .err = ECONNRESET,
                                .op_class = OPC_IN,
                                .exchanges = 9,
                                .idle_before_ms = UINT64_MAX / 2,
                                .snap_state = ST_CLOSE_WAIT,
                                .snap_fresh = 1,
                                .total_retrans = UINT32_MAX,
                                .quiet_us = UINT64_MAX / 2,
                                .quiet_ms = UINT64_MAX / 2,
                                .request_ms = UINT64_MAX / 2,
                                .min_rtt_us = UINT32_MAX,
                                .unacked = UINT32_MAX,
                                .unread = UINT32_MAX,
                                .goodbye = GOODBYE_PG,
                                .goodbye_code = "57P01"};
    int fits = 1;
    for (size_t i = 0; i <= n; i++) {
        char buf[768];
        struct strbuf b;
        sb_init(&b, buf, sizeof buf);
        cause_write_hint(&b, i, &worst);
        if (b.overflow) fits = 0;
    }
    ok(fits, "every hint fits the record's 768-byte hint buffer with extreme numbers");
}

/* ---- the request-direction sniffer ------------------------------------------------- */

/* Feeds one transfer of n bytes; returns s->handshake_only. */
static int feed(struct cause_sniff *s, const void *p, size_t n)
{
    struct iovec v = {(void *)p, n};
    cause_sniff_request(s, &v, 1, n);
    return s->handshake_only;
}

/* A TLS record of type t with a body of n bytes (n <= 64) into out; returns its length. */
static size_t tls_record(uint8_t *out, uint8_t t, size_t n)
{
    out[0] = t, out[1] = 3, out[2] = 3, out[3] = 0, out[4] = (uint8_t)n;
    memset(out + 5, 0xab, n);
    return 5 + n;
}

static void check_sniff(void)
{
    uint8_t buf[512];
    size_t n;

    struct cause_sniff s = {0};
    feed(&s, "GET / HTTP/1.1\r\n", 16);
    ok(s.proto == PROTO_HTTP && !s.handshake_only, "sniff: a GET is plain HTTP");
    s = (struct cause_sniff){0};
    feed(&s, "SSH-2.0-OpenSSH_9.2\r\n", 21);
    ok(s.proto == PROTO_OTHER, "sniff: an ssh banner is another protocol");

    /* TLS 1.3 client: ClientHello; CCS + encrypted Finished; the request. */
    s = (struct cause_sniff){0};
    n = tls_record(buf, 22, 60);
    buf[2] = 1; /* ClientHello's record version is 3,1 */
    int hs1 = feed(&s, buf, n);
    n = tls_record(buf, 20, 1);
    n += tls_record(buf + n, 23, 53);
    int hs2 = feed(&s, buf, n);
    n = tls_record(buf, 23, 40);
    int hs3 = feed(&s, buf, n);
    int hs4 = feed(&s, buf, n);
    ok(s.proto == PROTO_TLS && hs1 && hs2 && !hs3 && !hs4,
       "sniff: TLS 1.3 ClientHello and CCS+Finished are handshake, then requests are data "
       "(%d %d %d %d)",
       hs1, hs2, hs3, hs4);

    /* The same with CCS and Finished in separate writes, and a 5-byte header
     * split across two reads (a server reading in pieces). */
    s = (struct cause_sniff){0};
    n = tls_record(buf, 22, 60);
    hs1 = feed(&s, buf, n);
    n = tls_record(buf, 20, 1);
    hs2 = feed(&s, buf, n);
    n = tls_record(buf, 23, 53);
    hs3 = feed(&s, buf, 3) & feed(&s, buf + 3, n - 3);
    n = tls_record(buf, 23, 40);
    hs4 = feed(&s, buf, 2);
    int hs5 = feed(&s, buf + 2, n - 2);
    ok(hs1 && hs2 && hs3 && !hs5 && s.proto == PROTO_TLS,
       "sniff: split records and headers keep their boundaries (%d %d %d %d %d)", hs1, hs2, hs3,
       hs4, hs5);

    /* TLS 1.2 client: ClientHello; ClientKeyExchange + CCS + Finished (a
     * handshake record); then application data. */
    s = (struct cause_sniff){0};
    n = tls_record(buf, 22, 60);
    hs1 = feed(&s, buf, n);
    n = tls_record(buf, 22, 40);
    n += tls_record(buf + n, 20, 1);
    n += tls_record(buf + n, 22, 40);
    hs2 = feed(&s, buf, n);
    n = tls_record(buf, 23, 30);
    hs3 = feed(&s, buf, n);
    ok(hs1 && hs2 && !hs3, "sniff: TLS 1.2 handshake flights, then data (%d %d %d)", hs1, hs2, hs3);

    /* A stream that stops looking like TLS records is no longer interpreted. */
    s = (struct cause_sniff){0};
    n = tls_record(buf, 22, 10);
    feed(&s, buf, n);
    hs1 = feed(&s, "garbage!", 8);
    ok(s.proto == PROTO_OTHER && !hs1, "sniff: lost record boundaries: other protocol, data");

    /* Several iovecs, and a length shorter than the buffers. */
    s = (struct cause_sniff){0};
    uint8_t a[8], b[64];
    n = tls_record(b, 22, 40);
    memcpy(a, b, 2);
    struct iovec v[2] = {{a, 2}, {b + 2, sizeof b - 2}};
    cause_sniff_request(&s, v, 2, n);
    ok(s.proto == PROTO_TLS && s.handshake_only && s.left == 0 && s.hdr_have == 0,
       "sniff: a record spread over two iovecs, bounded by the transfer length");

    /* After application data: a TLS 1.3 close_notify is an application-data
     * record of 19 body bytes; TLS 1.2's has the alert type. Neither is a
     * request; a real request record is. */
    s = (struct cause_sniff){0};
    n = tls_record(buf, 22, 200);
    feed(&s, buf, n);
    n = tls_record(buf, 23, 120);
    feed(&s, buf, n);
    ok(!s.alert_only && !s.handshake_only && s.app_seen, "sniff: a request record is no alert");
    n = tls_record(buf, 23, 19);
    feed(&s, buf, n);
    ok(s.alert_only && !s.handshake_only, "sniff: a TLS 1.3 close_notify (24 bytes) is an alert");
    n = tls_record(buf, 21, 26);
    feed(&s, buf, n);
    ok(s.alert_only, "sniff: a TLS 1.2 alert record is an alert");
    n = tls_record(buf, 23, 40);
    feed(&s, buf, n);
    ok(!s.alert_only, "sniff: the next request after an alert-sized record is no alert");
}

/* ---- a peer's last words --------------------------------------------------------------- */

static void check_goodbye(void)
{
    /* PostgreSQL's pg_terminate_backend() goodbye: E, length, S FATAL, V FATAL, C 57P01, M ... */
    static const uint8_t pg[] = "E\0\0\0\x74SFATAL\0VFATAL\0C57P01\0Mterminating connection due to "
                                "administrator command\0Fpostgres.c\0L3207\0RProcessInterrupts\0";
    char code[8];
    ok(cause_sniff_goodbye(pg, sizeof pg - 1, code) == GOODBYE_PG && !strcmp(code, "57P01"),
       "goodbye: a PostgreSQL FATAL's SQLSTATE (%s)", code);
    ok(cause_sniff_goodbye(pg, 24, code) == GOODBYE_BYTES && code[0] == 0,
       "goodbye: a PostgreSQL message cut before its SQLSTATE is only bytes");
    static const uint8_t bad_state[] = "E\0\0\0\x20SFATAL\0C57p01\0\0";
    ok(cause_sniff_goodbye(bad_state, sizeof bad_state - 1, code) == GOODBYE_BYTES,
       "goodbye: a SQLSTATE of lower-case letters is no SQLSTATE");
    /* MariaDB's KILL: a 3-byte length, sequence 0, 0xff, 1927 little-endian, #70100 */
    static const uint8_t my[] = "\x1a\0\0\0\xff\x87\x07#70100Connection was killed";
    ok(cause_sniff_goodbye(my, sizeof my - 1, code) == GOODBYE_MYSQL && !strcmp(code, "1927"),
       "goodbye: a MariaDB error packet's number (%s)", code);
    static const uint8_t h408[] = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n";
    ok(cause_sniff_goodbye(h408, sizeof h408 - 1, code) == GOODBYE_HTTP && !strcmp(code, "408"),
       "goodbye: an HTTP 408 status line (%s)", code);
    ok(cause_sniff_goodbye(h408, 11, code) == GOODBYE_BYTES,
       "goodbye: a status line cut before its status is only bytes");
    ok(cause_sniff_goodbye((const uint8_t *)"-ERR bye\r\n", 10, code) == GOODBYE_BYTES &&
           code[0] == 0,
       "goodbye: other bytes are only bytes");
    ok(cause_sniff_goodbye(NULL, 0, code) == GOODBYE_NONE, "goodbye: nothing is none");
}

/* ---- record or count ---------------------------------------------------------------- */

static void check_count_instead(void)
{
    const struct cause_input idle = {CLIENT, .err = ECONNRESET, .op_class = OPC_IN,
                                     .exchange_in = 91, .quiet_ms = 1500};
    const struct cause_input own_shutdown = {CLIENT, .err = EPIPE, .op_class = OPC_OUT,
                                             .shut_wr = 1};
    const struct cause_input stale = {STALE(65000)};
    uint64_t idle0 = cause_counted(CAUSE_IDLE_CLOSE), local0 = cause_counted(CAUSE_LOCAL_ABORT);
    int a = cause_count_instead(&idle), b = cause_count_instead(&idle);
    int c = cause_count_instead(&own_shutdown), d = cause_count_instead(&stale);
    ok(a && b && c && !d, "idle_close and a write after our own shutdown are counted, a stale "
                          "keep-alive is recorded");
    ok(cause_counted(CAUSE_IDLE_CLOSE) == idle0 + 2 &&
           cause_counted(CAUSE_LOCAL_ABORT) == local0 + 1,
       "the counters count them (idle_close +2, local_abort +1)");
    const struct cause_input aborted = {CLIENT, .err = ECONNABORTED, .op_class = OPC_IN};
    ok(!cause_count_instead(&aborted) && cause_counted(CAUSE_LOCAL_ABORT) == local0 + 1,
       "ECONNABORTED (ss -K) is still recorded");
    ok(cause_counted(CAUSE_COUNT) == 0, "an out-of-range code counts nothing");
    const struct cause_input gave_up = {
        CLIENT,           .op_class = OPC_CLOSE, .awaiting_response = 1,
        .quiet_ms = 4000, .unacked = 1,          .total_retrans = 3};
    const struct cause_input lost = {CLIENT,
                                     .op_class = OPC_CLOSE,
                                     .exchanges = 2,
                                     .awaiting_response = 1,
                                     .idle_before_ms = 5000,
                                     .unacked = 1,
                                     .total_retrans = 3};
    uint64_t lt0 = cause_counted(CAUSE_LOCAL_TIMEOUT);
    ok(cause_count_instead(&gave_up) && !cause_count_instead(&lost) &&
           cause_counted(CAUSE_LOCAL_TIMEOUT) == lt0 + 1,
       "local_timeout is counted, path_state_lost recorded");
    const struct cause_input emfile = {.server = 1, .err = EMFILE, .op_class = OPC_ACCEPT};
    ok(!cause_count_instead(&emfile), "fd_limit is recorded");
}

int main(void)
{
    check_codes();
    check_hints();
    check_table();
    check_sniff();
    check_goodbye();
    check_count_instead();
    return tap_done();
}

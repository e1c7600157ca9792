// SPDX-License-Identifier: MIT
/* cause.h: errno + the connection's own timeline + its last TCP_INFO snapshot
 * -> a cause code and a one-sentence hint with the next troubleshooting step.
 * Pure functions over plain structs: table-driven and unit-tested. Also the
 * protocol sniffer that tells the I/O path which transfers carry application
 * data (a TLS handshake is not a request), and the "record or only count"
 * policy for closes that are normal life rather than failures. */
#ifndef RSTWATCH_CAUSE_H
#define RSTWATCH_CAUSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "strbuf.h"

#pragma GCC visibility push(hidden)

enum cause_code {
    CAUSE_REFUSED,
    CAUSE_CONNECT_TIMEOUT,
    CAUSE_RESET_BEFORE_RESPONSE,
    CAUSE_IDLE_REUSE,
    CAUSE_UNREAD_DATA_CLOSE,
    CAUSE_WRITE_AFTER_PEER_FIN,
    CAUSE_RESET_MID_STREAM,
    CAUSE_RETRANSMIT_TIMEOUT,
    CAUSE_LOCAL_ABORT,
    CAUSE_IDLE_CLOSE,
    CAUSE_CLIENT_ABORT,
    CAUSE_RESPONSE_TIMEOUT,
    CAUSE_TLS_CLOSE_RACE,
    CAUSE_EARLY_CLOSE,
    CAUSE_REQUEST_TIMEOUT,
    CAUSE_PATH_RESET,
    CAUSE_PATH_STATE_LOST,
    CAUSE_LOCAL_TIMEOUT,
    CAUSE_FD_LIMIT,
    CAUSE_UNKNOWN,
    CAUSE_COUNT
};

enum op_class { OPC_CONNECT, OPC_ACCEPT, OPC_OUT, OPC_IN, OPC_CLOSE, OPC_OTHER };

/* What bytes a peer left unread before it closed said, when the protocol
 * makes it plain (cause_sniff_goodbye). */
enum cause_goodbye {
    GOODBYE_NONE,  /* nothing unread, or not looked at */
    GOODBYE_BYTES, /* bytes of no known goodbye */
    GOODBYE_PG,    /* a PostgreSQL ErrorResponse; code: its SQLSTATE */
    GOODBYE_MYSQL, /* a MySQL/MariaDB error packet; code: its error number */
    GOODBYE_HTTP   /* an HTTP/1.x response; code: its status */
};

/* What the first bytes of the first request said the connection carries.
 * Below PROTO_SETTLED the request stream is still watched (unseen, or TLS
 * whose record boundaries tell handshake from application data). */
enum cause_proto {
    PROTO_UNSEEN,
    PROTO_TLS,
    PROTO_SETTLED,
    PROTO_HTTP = PROTO_SETTLED,
    PROTO_OTHER
};

struct cause_input {
    int err;         /* errno of the failing call (0 for an EOF record) */
    int eof;         /* not an error: the peer's FIN (EOF) is the event */
    int op_class;    /* enum op_class of the failing call */
    int server;      /* the connection was accepted, not connected */
    int established; /* the handshake had completed */
    int peer_fin;    /* we had read EOF from the peer */
    int linger0;     /* the app armed SO_LINGER {1,0} */
    uint32_t
        exchanges; /* request/response turns so far, current included (TLS: after the handshake) */
    uint64_t bytes_in, bytes_out;
    uint64_t exchange_in;       /* bytes received since the current request began */
    uint64_t resp_before_write; /* response bytes read just before a failed write began a request */
    int shut_wr;                /* the app had shut down its own sending side */
    uint64_t idle_before_ms;    /* quiet gap before the current exchange */
    unsigned snap_state;        /* TCP state in the last snapshot (0: none) */
    int snap_fresh;             /* that snapshot was taken after the last successful I/O */
    uint32_t total_retrans;
    /* ---- added with the idle_close / client_abort / response_timeout codes ---- */
    int snap_pre_request;  /* the snapshot was taken as the current request began, before its
                              first byte left, and after the previous exchange's last I/O */
    int awaiting_response; /* the last bytes moved were the request's: a response was due */
    uint64_t quiet_ms;     /* from the last successful I/O to the failure (the record's idle_ms) */
    int proto;             /* enum cause_proto */
    int closing;           /* this side had sent its TLS close_notify (no request since) */
    /* ---- added with the early_close / request_timeout / path_* / local_timeout codes ---- */
    uint64_t quiet_us;    /* quiet_ms in microseconds */
    uint64_t request_ms;  /* from the current request's first call to the failure */
    uint32_t min_rtt_us;  /* the snapshot's lowest round-trip time (0: unknown) */
    uint32_t unacked;     /* the snapshot's segments sent and not acknowledged */
    uint32_t unread;      /* the snapshot's bytes received and not read by the program */
    int snap_in_request;  /* the snapshot was taken inside the current request's send span,
                             after a quiet gap there, before any response byte was read */
    int snap_mid_request; /* ... and a request-direction call succeeded after it: it was taken
                             before the request's last byte left */
    int peer_loopback;    /* the peer is this host's loopback address: no path to blame */
    int goodbye;          /* enum cause_goodbye of the pre-request snapshot's unread bytes */
    char goodbye_code[8]; /* its code ("57P01", "1927", "408"), "" when none */
};

struct cause_rule {
    enum cause_code code;
    int (*match)(const struct cause_input *in);
    const char *hint;
};

/* The ordered rule table; the first matching rule wins (the last always matches). */
extern const struct cause_rule cause_rules[];
extern const size_t cause_rule_count;

/* Index into cause_rules of the rule that explains in. */
size_t cause_classify(const struct cause_input *in);

/* "refused", "idle_reuse", ... */
const char *cause_code_name(enum cause_code code);

/* Writes the rule's hint, with the measured numbers where they help (idle
 * time against known idle-timeout defaults, the wait against known request
 * timeouts, retransmissions). */
void cause_write_hint(struct strbuf *b, size_t rule, const struct cause_input *in);

/* ---- record or count --------------------------------------------------------- */

/* 1 when in is normal life rather than a failure (a pooled connection the
 * peer closed while idle, a write after this program's own shutdown, a reset
 * after this side's own TLS close_notify): with
 * the default RSTWATCH_RECORD=resets it is counted, not recorded. The
 * counter is bumped here; 0 means "write the record". Async-signal-safe. */
int cause_count_instead(const struct cause_input *in);

/* How many events of code were counted instead of recorded since load. */
uint64_t cause_counted(enum cause_code code);

/* A client connection with no request outstanding whose peer closed it after
 * at least this long quiet is an idle close; shorter is the end of a response. */
#define CAUSE_IDLE_CLOSE_MIN_MS 1000

/* ---- protocol sniffing --------------------------------------------------------- */

/* Per-connection state of the request-direction byte stream. Zero = unseen. */
struct cause_sniff {
    uint8_t proto;          /* enum cause_proto */
    uint8_t hdr_have;       /* TLS: bytes of a record header collected so far */
    uint8_t after_ccs;      /* TLS: the previous record was a ChangeCipherSpec */
    uint8_t app_seen;       /* TLS: an application-data record has gone by */
    uint8_t handshake_only; /* the last transfer carried only TLS handshake records */
    uint8_t alert_only;     /* ... only TLS alerts (a close_notify): this side is closing */
    uint8_t hdr[5];
    uint32_t left; /* TLS: body bytes of the current record still to come */
};

/* Feeds one successful request-direction transfer (a client's write, a
 * server's read) of len bytes in iov. Sets s->handshake_only when the
 * transfer carried no application data (TLS handshake, ChangeCipherSpec, the
 * TLS 1.3 Finished that follows it), so it must not begin an exchange, and
 * s->alert_only when it carried only alerts (the close_notify of a closing
 * client, whose answer is the peer's FIN, not a response). Only
 * called while s->proto is PROTO_UNSEEN or PROTO_TLS. Never reads past len. */
void cause_sniff_request(struct cause_sniff *s, const struct iovec *iov, size_t iovcnt, size_t len);

/* 1 when len bytes in iov begin an HTTP/1.x request line (a method and a
 * space); 0 for anything else, such as the body of a request still being
 * sent. */
int cause_http_request_begins(const struct iovec *iov, size_t iovcnt, size_t len);

/* An HTTP client may read an interim response (1xx: "HTTP/1.1 100
 * Continue\r\n\r\n", 25 bytes) in the middle of sending its request. A
 * response that short that the request then continues after was one. */
#define CAUSE_HTTP_INTERIM_MAX 32

/* Response bytes a fresh TLS 1.3 connection's first exchange may carry
 * without any response: the server's NewSessionTicket messages, sent right
 * after the handshake (RFC 8446 4.6.1; OpenSSL sends two of ~250 bytes). */
#define CAUSE_TLS_TICKETS_MAX 1200
/* ... and a later exchange: the peer's close_notify alert before its FIN, one
 * record of 23 to 31 bytes with the common AEAD ciphers (RFC 8446 6.1). */
#define CAUSE_TLS_ALERT_MAX 64

/* 1 when bytes of response-direction data in exchange number exchanges of a
 * connection carrying proto may be TLS housekeeping (tickets, close_notify)
 * rather than the start of a response. */
int cause_tls_not_a_response(int proto, uint32_t exchanges, uint64_t bytes);

/* Reads what n bytes a peer sent before closing say (p: the first of them,
 * never more than n read): a PostgreSQL ErrorResponse and its SQLSTATE, a
 * MySQL error packet and its number, an HTTP status line. Writes the code
 * (at most 7 characters and a NUL) into code; returns enum cause_goodbye. */
int cause_sniff_goodbye(const uint8_t *p, size_t n, char code[8]);

/* Bytes cause_sniff_goodbye wants to see: a PostgreSQL ErrorResponse's
 * SQLSTATE follows its severity fields within the first 40 bytes. */
#define CAUSE_GOODBYE_PEEK 64

/* True if err is in the reset family (ECONNRESET, EPIPE, ECONNREFUSED,
 * ECONNABORTED, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH). */
int cause_is_reset_errno(int err);

#pragma GCC visibility pop

#endif

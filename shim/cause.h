/* cause.h: errno + the connection's own timeline + its last TCP_INFO snapshot
 * -> a cause code and a one-sentence hint with the next troubleshooting step.
 * Pure functions over a plain struct: table-driven and unit-tested. */
#ifndef RSTWATCH_CAUSE_H
#define RSTWATCH_CAUSE_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"

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
    CAUSE_UNKNOWN,
    CAUSE_COUNT
};

enum op_class { OPC_CONNECT, OPC_ACCEPT, OPC_OUT, OPC_IN, OPC_OTHER };

struct cause_input {
    int err;            /* errno of the failing call (0 for an EOF record) */
    int eof;            /* not an error: EOF where a response was due (stale keep-alive) */
    int op_class;       /* enum op_class of the failing call */
    int server;         /* the connection was accepted, not connected */
    int established;    /* the handshake had completed */
    int peer_fin;       /* we had read EOF from the peer */
    int linger0;        /* the app armed SO_LINGER {1,0} */
    uint32_t exchanges; /* request/response turns so far, current included */
    uint64_t bytes_in, bytes_out;
    uint64_t exchange_in;       /* bytes received since the current request began */
    uint64_t resp_before_write; /* response bytes read just before a failed write began a request */
    int shut_wr;                /* the app had shut down its own sending side */
    uint64_t idle_before_ms;    /* quiet gap before the current exchange */
    unsigned snap_state;        /* TCP state in the last snapshot (0: none) */
    int snap_fresh;             /* that snapshot was taken after the last successful I/O */
    uint32_t total_retrans;
};

struct cause_rule {
    enum cause_code code;
    int (*match)(const struct cause_input *in);
    const char *hint;
};

/* The ordered rule table; the first matching rule wins (the last always matches). */
extern const struct cause_rule cause_rules[];

/* Index into cause_rules of the rule that explains in. */
size_t cause_classify(const struct cause_input *in);

/* "refused", "idle_reuse", ... */
const char *cause_code_name(enum cause_code code);

/* Writes the rule's hint, with the measured numbers where they help (idle
 * time against known idle-timeout defaults, retransmissions). */
void cause_write_hint(struct strbuf *b, size_t rule, const struct cause_input *in);

#endif

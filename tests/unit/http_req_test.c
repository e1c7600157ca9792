// SPDX-License-Identifier: MIT
/* http_req_test.c: table-driven cases for the replay policy's view of a
 * request buffer (shim/http_req.c): exactly one complete request, or why not;
 * idempotent, or why not. */
#include "http_req.h"

#include <string.h>

#include "tap.h"

struct single_case {
    const char *name, *bytes, *reason; /* reason NULL = exactly one request */
};

static const struct single_case single_cases[] = {
    {"a GET without body", "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", NULL},
    {"a PUT with Content-Length and its body", "PUT /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
     NULL},
    {"Content-Length with spaces", "PUT /a HTTP/1.1\r\nContent-length:   3  \r\n\r\nabc", NULL},
    {"a chunked body with trailers",
     "PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", NULL},
    {"a chunked body with a chunk extension",
     "PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n", NULL},
    {"two pipelined GETs", "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", "pipelined"},
    {"a GET then a POST", "GET /a HTTP/1.1\r\n\r\nPOST /p HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
     "pipelined"},
    {"a body longer than its Content-Length", "PUT /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nxGET",
     "pipelined"},
    {"headers without their body", "PUT /a HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
     "incomplete"},
    {"headers cut short", "GET /a HTTP/1.1\r\nHost: x\r\n", "incomplete"},
    {"a header line without a colon", "GET /a HTTP/1.1\r\nHost x\r\n\r\n", "malformed"},
    {"whitespace before a header's colon", "GET /a HTTP/1.1\r\nHost : x\r\n\r\n", "malformed"},
    {"a partial request completed by the next one: two Host headers",
     "HEAD /a HTTP/1.1\r\nHost: fPOST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nz",
     "more than one Host"},
    {"a chunked body without its last chunk",
     "PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", "incomplete"},
    {"a malformed chunk size", "PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
     "malformed"},
    {"two different Content-Lengths",
     "PUT /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", "Content-Length"},
    {"a bad Content-Length", "PUT /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "Content-Length"},
    {"Content-Length and chunked together",
     "PUT /a HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "both"},
    {"gzip transfer coding", "PUT /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
     "Transfer-Encoding"},
    {"a body that looks like a request line only", "GET /y HTTP/1.1\r\n\r\n", NULL},
    {"a partial request line glued to a request",
     "HEAD /r126 HTTP/1.HEAD /r765 HTTP/1.1\r\nHost: x\r\n\r\n", "not a plain-text"},
    {"a space inside the target", "GET /a b HTTP/1.1\r\n\r\n", "not a plain-text"},
    {"no version digit", "GET /a HTTP/1.\r\n\r\n", "not a plain-text"},
    {"no target", "GET  HTTP/1.1\r\n\r\n", "not a plain-text"},
    {"not HTTP at all", "\x16\x03\x01\x02\x00", "not a plain-text"},
    {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "not a plain-text"},
    {"empty", "", "not a plain-text"},
};

struct idem_case {
    const char *name, *bytes;
    int idempotent;
};

static const struct idem_case idem_cases[] = {
    {"GET", "GET / HTTP/1.1\r\n\r\n", 1},
    {"HEAD", "HEAD / HTTP/1.1\r\n\r\n", 1},
    {"PUT", "PUT / HTTP/1.1\r\n\r\n", 1},
    {"DELETE", "DELETE / HTTP/1.1\r\n\r\n", 1},
    {"POST", "POST / HTTP/1.1\r\n\r\n", 0},
    {"PATCH", "PATCH / HTTP/1.1\r\n\r\n", 0},
    {"GETX is not GET", "GETX / HTTP/1.1\r\n\r\n", 0},
    {"POST with Idempotency-Key", "POST / HTTP/1.1\r\nidempotency-key: k1\r\n\r\n", 1},
    {"POST with an empty Idempotency-Key", "POST / HTTP/1.1\r\nIdempotency-Key:\r\n\r\n", 0},
    {"Idempotency-Key only in the body",
     "POST / HTTP/1.1\r\nContent-Length: 20\r\n\r\nIdempotency-Key: k\r\n", 0},
    {"an extra method from the rules", "PURGE / HTTP/1.1\r\n\r\n", 1},
};

int main(void)
{
    for (size_t i = 0; i < sizeof single_cases / sizeof single_cases[0]; i++) {
        const struct single_case *t = &single_cases[i];
        const char *why = http_req_single(t->bytes, strlen(t->bytes));
        if (!t->reason)
            ok(why == NULL, "single: %s (got: %s)", t->name, why ? why : "single");
        else
            ok(why && strstr(why, t->reason), "not single: %s (got: %s)", t->name,
               why ? why : "single");
    }
    static const char extra[1][16] = {"PURGE"};
    for (size_t i = 0; i < sizeof idem_cases / sizeof idem_cases[0]; i++) {
        const struct idem_case *t = &idem_cases[i];
        const char *why = http_req_idempotent(t->bytes, strlen(t->bytes), extra, 1);
        ok((why == NULL) == t->idempotent, "idempotent=%d: %s", t->idempotent, t->name);
    }
    return tap_done();
}

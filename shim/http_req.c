// SPDX-License-Identifier: MIT
/* http_req.c: HTTP/1.x request framing and the idempotency test, for the
 * replay policy (see http_req.h). RFC 9112 section 6 decides where a request
 * message ends: Transfer-Encoding chunked, else Content-Length, else no body.
 * Anything this parser does not fully understand is refused, never guessed. */
#include "http_req.h"

#include <string.h>
#include <strings.h>

#define METHOD_MAX 16

/* Length of the method token at req (A-Z only), 0 if none. */
static size_t method_len(const char *req, size_t len)
{
    size_t n = 0;
    while (n < len && n < METHOD_MAX && req[n] >= 'A' && req[n] <= 'Z')
        n++;
    return n;
}

/* Is the header line h[0..n) named name (case-insensitive)? Sets *val to its value. */
static int header_is(const char *h, size_t n, const char *name, const char **val, size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || h[k] != ':' || strncasecmp(h, name, k) != 0) return 0;
    const char *v = h + k + 1, *end = h + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *val = v;
    *vlen = (size_t)(end - v);
    return 1;
}

/* Is h[0..n) a field line, "name:" with a token for name (RFC 9112 5.1: no
 * whitespace before the colon, which a server must reject)? */
static int field_line_ok(const char *h, size_t n)
{
    static const char tchar_punct[] = "!#$%&'*+-.^_`|~";
    size_t i = 0;
    while (i < n && h[i] != ':') {
        unsigned char ch = (unsigned char)h[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              (ch && strchr(tchar_punct, ch))))
            return 0;
        i++;
    }
    return i > 0 && i < n;
}

/* Parses a decimal Content-Length value; -1 if malformed or absurd. */
static long long parse_length(const char *v, size_t n)
{
    if (n == 0 || n > 15) return -1;
    long long x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* The end offset of a chunked body starting at p (last-chunk, trailers and
 * the final CRLF included), 0 if the body is incomplete, -1 if malformed. */
static long long chunked_end(const char *req, size_t len, size_t p)
{
    for (;;) {
        const char *eol = memmem(req + p, len - p, "\r\n", 2);
        if (!eol) return 0;
        size_t line_end = (size_t)(eol - req);
        unsigned long long size = 0;
        size_t q = p, digits = 0;
        int h;
        while (q < line_end && (h = hexval(req[q])) >= 0) {
            if (++digits > 12) return -1;
            size = size * 16 + (unsigned)h;
            q++;
        }
        if (!digits || (q < line_end && req[q] != ';' && req[q] != ' ' && req[q] != '\t'))
            return -1;
        p = line_end + 2;
        if (size == 0) break;
        if (size > len || p + size + 2 > len) return 0;
        if (req[p + size] != '\r' || req[p + size + 1] != '\n') return -1;
        p += size + 2;
    }
    /* trailer fields, then an empty line */
    for (;;) {
        const char *eol = memmem(req + p, len - p, "\r\n", 2);
        if (!eol) return 0;
        size_t line_end = (size_t)(eol - req);
        if (line_end == p) return (long long)(p + 2);
        p = line_end + 2;
    }
}

/* Is req[0..n) exactly "METHOD SP request-target SP HTTP/1.D" (RFC 9112
 * section 3), the target being visible characters without spaces? */
static int request_line_ok(const char *req, size_t n, size_t mlen)
{
    static const char version[] = " HTTP/1.";
    const size_t vlen = sizeof version - 1 + 1; /* " HTTP/1." and one digit */
    if (mlen == 0 || n < mlen + 2 + vlen || req[mlen] != ' ') return 0;
    const char *v = req + n - vlen;
    if (memcmp(v, version, vlen - 1) != 0 || v[vlen - 1] < '0' || v[vlen - 1] > '9') return 0;
    for (const char *t = req + mlen + 1; t < v; t++)
        if ((unsigned char)*t <= ' ' || (unsigned char)*t >= 0x7f) return 0;
    return v > req + mlen + 1;
}

const char *http_req_single(const char *req, size_t len)
{
    size_t mlen = method_len(req, len);
    const char *eol = len ? memmem(req, len, "\r\n", 2) : NULL;
    if (!eol || !request_line_ok(req, (size_t)(eol - req), mlen))
        return "not a plain-text HTTP/1.x request";
    const char *eoh = memmem(req, len, "\r\n\r\n", 4);
    if (!eoh) return "the request headers are incomplete";
    size_t body = (size_t)(eoh - req) + 4;
    long long clen = -2; /* -2: none seen */
    int chunked = 0, hosts = 0;
    for (const char *h = eol + 2; h < eoh + 2;) {
        const char *next = memmem(h, (size_t)(eoh + 2 - h), "\r\n", 2);
        if (!next) break;
        size_t n = (size_t)(next - h);
        const char *v;
        size_t vlen;
        /* A message a server must reject with 400 is not replayed either: no
         * parser's reading of it can be relied on (RFC 9112 3.2, 5.1). */
        if (!field_line_ok(h, n)) return "a request header line is malformed";
        if (header_is(h, n, "Host", &v, &vlen) && ++hosts > 1)
            return "the request has more than one Host header";
        if (header_is(h, n, "Content-Length", &v, &vlen)) {
            long long x = parse_length(v, vlen);
            if (x < 0 || (clen >= 0 && x != clen)) return "the request's Content-Length is unclear";
            clen = x;
        } else if (header_is(h, n, "Transfer-Encoding", &v, &vlen)) {
            if (vlen != 7 || strncasecmp(v, "chunked", 7) != 0)
                return "the request's Transfer-Encoding is not plain chunked";
            chunked = 1;
        }
        h = next + 2;
    }
    long long end;
    if (chunked) {
        if (clen != -2) return "the request has both Content-Length and Transfer-Encoding";
        end = chunked_end(req, len, body);
        if (end < 0) return "the request's chunked body is malformed";
        if (end == 0) return "the request body is incomplete";
    } else {
        end = (long long)body + (clen > 0 ? clen : 0);
        if ((unsigned long long)end > len) return "the request body is incomplete";
    }
    if ((size_t)end != len) return "more than one request is buffered (pipelined)";
    return NULL;
}

const char *http_req_idempotent(const char *req, size_t len, const char (*extra)[16],
                                unsigned nextra)
{
    static const char *const safe[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
    size_t mlen = method_len(req, len);
    for (size_t i = 0; i < sizeof safe / sizeof safe[0]; i++)
        if (strlen(safe[i]) == mlen && !memcmp(req, safe[i], mlen)) return NULL;
    for (unsigned i = 0; i < nextra; i++)
        if (strlen(extra[i]) == mlen && !memcmp(req, extra[i], mlen)) return NULL;
    const char *eol = memmem(req, len, "\r\n", 2);
    const char *eoh = memmem(req, len, "\r\n\r\n", 4);
    for (const char *h = eol ? eol + 2 : NULL; h && eoh && h < eoh + 2;) {
        const char *next = memmem(h, (size_t)(eoh + 2 - h), "\r\n", 2);
        if (!next) break;
        const char *v;
        size_t vlen;
        if (header_is(h, (size_t)(next - h), "Idempotency-Key", &v, &vlen) && vlen) return NULL;
        h = next + 2;
    }
    return "the method is not idempotent and there is no Idempotency-Key header";
}

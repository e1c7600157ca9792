/* http_req.h: what the replay policy needs to know about the bytes of an
 * HTTP/1.x request, decided from the bytes alone (no state, no allocation,
 * async-signal-safe): is this exactly one complete request, and is it one
 * that may be sent twice?
 *
 * A replay is only ever allowed for a buffer that holds exactly one complete
 * request: its request line, its headers, and exactly the body its framing
 * announces (Content-Length, or chunked up to the last chunk and trailers).
 * A buffer with a second request behind the first (pipelining), or a part of
 * one, is refused: replaying it would send a request twice or hand the app
 * a response to a request it did not make. */
#ifndef RSTWATCH_HTTP_REQ_H
#define RSTWATCH_HTTP_REQ_H

#include <stddef.h>

#pragma GCC visibility push(hidden)

/* NULL if req[0..len) is exactly one complete plain-text HTTP/1.x request;
 * otherwise a short reason, e.g. "more than one request is buffered (pipelined)". */
const char *http_req_single(const char *req, size_t len);

/* NULL if the request (already known to be single and complete) may be
 * replayed: its method is GET, HEAD, OPTIONS, TRACE, PUT or DELETE, or one of
 * extra[0..nextra) (16-byte method names), or it carries an Idempotency-Key
 * header; otherwise why not. */
const char *http_req_idempotent(const char *req, size_t len, const char (*extra)[16],
                                unsigned nextra);

#pragma GCC visibility pop

#endif

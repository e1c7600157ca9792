// SPDX-License-Identifier: MIT
/* conn_fixture.h: synthetic connections for the unit tests that drive the
 * record writer (record_test.c, schema_test.c): a zeroed conn with a ring of
 * `slots` events, created at T0, and inet addresses. */
#ifndef RSTWATCH_CONN_FIXTURE_H
#define RSTWATCH_CONN_FIXTURE_H

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conn_table.h"

static const uint64_t T0 = 5000000000000ull; /* an arbitrary CLOCK_MONOTONIC origin */
#define MS(x) ((uint64_t)((x)*1000000.0 + 0.5))

static inline struct conn *conn_new(unsigned slots)
{
    struct conn *c = calloc(1, sizeof *c + slots * sizeof(struct event));
    if (!c) abort();
    c->ring.mask = slots - 1;
    c->t_create = c->t_last = T0;
    return c;
}

static inline void set_in(union sockaddr_any *a, const char *ip, unsigned port)
{
    memset(a, 0, sizeof *a);
    a->in.sin_family = AF_INET;
    inet_pton(AF_INET, ip, &a->in.sin_addr);
    a->in.sin_port = htons((uint16_t)port);
}

#endif

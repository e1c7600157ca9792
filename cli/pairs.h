// SPDX-License-Identifier: MIT
/* pairs.h: records of one TCP connection seen from both ends, joined into one incident. */
#ifndef RSTWATCH_PAIRS_H
#define RSTWATCH_PAIRS_H

#include "incidents.h"

#include <stddef.h>

/* Allowed clock difference between two hosts' records of one connection. */
#define PAIRS_SLACK_US 1000000LL

struct conn_pair {
    const struct log_record *client, *server;
    double base_ms; /* absolute start of the pair's shared time axis (ms since the epoch) */
    char verdict[640];
};

/*
 * The incidents in the order to show them: each kept incident once, the two ends of a joined
 * connection as one entry (pair set, rec = the end that is an incident and came first).
 */
struct shown_incident {
    const struct log_record *rec;
    const struct conn_pair *pair; /* NULL: one end only */
};

struct pairs {
    struct conn_pair *pairs;
    size_t npairs;
    struct shown_incident *shown;
    size_t nshown;
};

/*
 * Joins the kept incidents of inc (after incidents_finish) with each other and with the kept
 * close records: a client-side record and a server-side record are one connection when the
 * client's local address is the server's peer and vice versa, their lifetimes overlap (within
 * PAIRS_SLACK_US) and, for loopback addresses, they come from the same host. At least one end
 * must be an incident. Fills *out (pointers into inc, valid while inc is). Returns 0 or -ENOMEM
 * (then *out lists every incident unpaired, or is empty).
 */
int pairs_find(const struct incidents *inc, struct pairs *out);

/* Releases *p. */
void pairs_free(struct pairs *p);

/* The absolute time (ms since the epoch) of an event of rec: its creation + t_ms. */
double pairs_event_ms(const struct log_record *rec, double t_ms);

/* The absolute start (ms since the epoch) of rec's connection. */
double pairs_start_ms(const struct log_record *rec);

#endif

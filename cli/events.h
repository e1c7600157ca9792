// SPDX-License-Identifier: MIT
/* events.h: incidents of one service that are one event: a restart and a shared timeout. */
#ifndef RSTWATCH_EVENTS_H
#define RSTWATCH_EVENTS_H

#include "pairs.h"

#include <stddef.h>
#include <stdint.h>

/* Connections of one service closed within this window are one restart or reload. */
#define EVENTS_RESTART_WINDOW_MS 1000.0
/* Requests to one service that failed this close in elapsed time are one timeout: a watchdog
 * that checks once a second fires from its value to about 1.1 s after it. */
#define EVENTS_TIMEOUT_BAND_MS 1100.0
/* A timeout is only called one when the requests waited at least this long. */
#define EVENTS_TIMEOUT_MIN_MS 1000.0
/* Causes counted per event (distinct codes). */
#define EVENTS_MAX_CAUSES 8

enum service_event_kind { EVENT_RESTART, EVENT_TIMEOUT };

struct service_event {
    enum service_event_kind kind;
    const char *service; /* the service address (points into a record) */
    const char *host;    /* the client's host, or NULL */
    size_t n;            /* connections (restart) or requests (timeout) */
    int64_t first_us, last_us;
    int server_times;              /* restart: every close time came from the server's record */
    double elapsed_lo, elapsed_hi; /* timeout: the waits, ms after the request */
    struct {
        const char *code;
        size_t n;
    } causes[EVENTS_MAX_CAUSES];
    size_t ncauses;
};

struct service_events {
    struct service_event *ev;
    size_t n;
};

/*
 * Finds the events among the shown incidents (client-side records, or the client end of a joined
 * connection): first shared timeouts (two or more requests to one service that failed unanswered
 * EVENTS_TIMEOUT_BAND_MS apart or closer in elapsed time), then, among the rest, restarts (two
 * or more connections to one service closed within EVENTS_RESTART_WINDOW_MS, by the server's
 * record's time when the connection is joined, else the client's). Oldest first. Returns 0 or
 * -ENOMEM (then *out is empty).
 */
int events_find(const struct pairs *pairs, struct service_events *out);

void events_free(struct service_events *e);

/* "server restart or reload, 3 connections" / "one timeout, 4 requests". */
const char *events_kind_name(enum service_event_kind kind);

#endif

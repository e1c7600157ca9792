// SPDX-License-Identifier: MIT
/* chrome.h: records -> Chrome trace-event JSON (Perfetto UI, chrome://tracing), capped in size. */
#ifndef RSTWATCH_CHROME_H
#define RSTWATCH_CHROME_H

#include "logread.h"

#include <stdio.h>

/* Default size cap of a trace: larger ones do not load in a browser's trace viewer. */
#define CHROME_MAX_BYTES (32u << 20)
/* Processes of the 2nd, 3rd... host get pid + n * this (pids stay below 2^22 on Linux). */
#define CHROME_HOST_PID_STRIDE 10000000LL
/* The trace pid (plus the host's stride) of the records whose pid is unknown (0: a fork child
 * under a seccomp filter): above every real pid, one process per host, each record a track. */
#define CHROME_UNKNOWN_PID (CHROME_HOST_PID_STRIDE - 1)
/* Distinct hosts kept apart; more share the last stride. */
#define CHROME_MAX_HOSTS 64

/* Streaming Chrome trace writer: begin, any number of records, end. */
struct chrome_writer {
    FILE *out;
    size_t max_bytes;            /* cap on the document */
    size_t bytes;                /* written so far */
    size_t events;               /* records written so far (0: no separating comma yet) */
    unsigned long long records;  /* records written */
    unsigned long long left_out; /* records not written because of the cap */
    int64_t last_ts_us;          /* the latest record time, for the note */
    struct chrome_track *tracks; /* (pid, track) pairs already named, open-addressed */
    size_t ntracks, track_slots;
    long long unknown_tracks;      /* tracks given to records of unknown pid so far */
    char *hosts[CHROME_MAX_HOSTS]; /* host i's processes are offset by i strides */
    size_t nhosts;
    FILE *buf; /* the current record's events, written out only when they fit */
    char *buf_data;
    size_t buf_len;
    int failed; /* an allocation or write failed */
};

/* Starts a trace document on out, capped at max_bytes (0: CHROME_MAX_BYTES). */
void chrome_begin(struct chrome_writer *w, FILE *out, size_t max_bytes);

/*
 * Writes one record's trace events: a "connection" slice on the connection's track (tid = conn),
 * its events as "X" slices, the failing call as a thread-scoped instant named after its errno
 * (args: cause, hint, errno, tcp), retry/inject records as instants. Names the process and the
 * track with "M" metadata events the first time they appear. pid is the record's pid, offset
 * per host when the records come from several hosts; records of unknown pid share one process
 * per host ("pid unknown") and each has a track of its own, since neither their pid nor their
 * conn (a fork child continues its parent's count) tells two such processes apart. Once the cap
 * is reached, records are only counted (left_out).
 */
void chrome_write_record(struct chrome_writer *w, const struct log_record *rec);

/* Closes the document (with a note of what the cap left out) and frees the writer. Returns 0,
 * or -1 if anything failed. */
int chrome_end(struct chrome_writer *w);

#endif

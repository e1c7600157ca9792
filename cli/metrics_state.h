// SPDX-License-Identifier: MIT
/* metrics_state.h: what `rstwatch metrics` remembers between runs (how far each log was read,
 * and the counters), the state file that holds it, and where a log's unread part begins. */
#ifndef RSTWATCH_METRICS_STATE_H
#define RSTWATCH_METRICS_STATE_H

#include "metrics_series.h"

#include <stddef.h>
#include <stdint.h>

/* A log's identity by content: the hash of its first line (with its newline), or of its first
 * MSTATE_FP_MAX bytes when that line is longer. */
#define MSTATE_FP_MAX 4096

/* What is remembered of one log file. */
struct mstate_file {
    char *path;        /* where it was last seen (for messages and following renames) */
    uint64_t dev, ino; /* its identity on disk */
    uint64_t size;     /* its size on disk when last read */
    int64_t mtime_ns;  /* its modification time then */
    int gz;            /* gzip-compressed: offsets count decompressed bytes */
    uint64_t offset;   /* bytes of its content already counted (complete lines) */
    uint64_t line;     /* number of the line at offset (for messages) */
    uint32_t fp_len;   /* fingerprint: the first fp_len bytes of its content (mstate_fp_len) */
    uint64_t fp;       /* ... hash to this (mstate_hash) */
    uint64_t torn_at;  /* 1 + offset of an unterminated last line already warned about */
    int ignored;       /* a rotated sibling of a file argument that continues no known log */
};

struct mstate {
    struct mstate_file *files;
    size_t nfiles, cap;
    size_t *slots, nslots;                   /* hash index of files by (dev, ino) (slots.h) */
    size_t *fp_slots, nfp_slots, fp_indexed; /* index by fingerprint of files[0..fp_indexed) */
    struct series_set series;
};

/* The hash of a fingerprint (64-bit FNV-1a). */
uint64_t mstate_hash(const void *buf, size_t len);

/* The length of the fingerprint of a content that starts with these len bytes (at most
 * MSTATE_FP_MAX): its first line with the newline; MSTATE_FP_MAX when no newline comes before;
 * 0 when the content is shorter than that and has no complete line (nothing to tell it by). */
size_t mstate_fp_len(const void *prefix, size_t len);

/* Empties *st, its counters capped at max_values per label (0: the default). */
void mstate_init(struct mstate *st, size_t max_values);

/* Releases everything and empties *st (the cap is kept). */
void mstate_free(struct mstate *st);

/*
 * Reads a state from text (len bytes) into *st (mstate_init'd). Returns 0, or -1 with a reason in
 * err when the text is not a state this version wrote (st is emptied then). Unknown metrics are
 * skipped (a later version's counters); a known one with the wrong number of labels is an error.
 */
int mstate_parse(const char *text, size_t len, struct mstate *st, char *err, size_t errlen);

/* The state as text (malloc'd, NUL-terminated); NULL when out of memory. */
char *mstate_dump(const struct mstate *st);

/* Appends a copy of *f (its path copied too); an entry of the same identity is replaced.
 * Returns the entry, or NULL (out of memory). */
struct mstate_file *mstate_add_file(struct mstate *st, const struct mstate_file *f);

/* The entry with this identity (that is not an ignored sibling unless ignored_ok), or NULL. */
struct mstate_file *mstate_find(const struct mstate *st, uint64_t dev, uint64_t ino,
                                int ignored_ok);

/* A log as found now: its identity and the first bytes of its (decompressed) content. */
struct mstate_probe {
    uint64_t dev, ino;
    const unsigned char *prefix; /* the first prefix_len bytes of the content */
    size_t prefix_len;           /* < MSTATE_FP_MAX only when the content is that short */
};

/*
 * Where the unread part of a log begins: the largest offset among the entries it continues (an
 * entry whose first line is its first line, whatever its name or inode: the same file grown, a
 * renamed one, a copy made by copytruncate, a gzip of a rotated one, a copy still being made),
 * with that entry's line number; 0 when it continues none (a new log, or one truncated and
 * written anew). Entries without a fingerprint (nothing counted yet) match their own inode only.
 * Returns how many entries it continues.
 */
size_t mstate_resume(struct mstate *st, const struct mstate_probe *p, uint64_t *offset,
                     uint64_t *line);

/* True when the log starts as the entry's content did (always, when the entry has no
 * fingerprint). */
int mstate_same_start(const struct mstate_file *e, const struct mstate_probe *p);

/* True when the log's first line is that of an ignored entry (a copy of an old rotation: its
 * gzip, its rename). */
int mstate_is_ignored_copy(struct mstate *st, const struct mstate_probe *p);

#endif

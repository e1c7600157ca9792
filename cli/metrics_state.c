// SPDX-License-Identifier: MIT
/*
 * metrics_state.c: the memory of `rstwatch metrics` from one run to the next.
 *
 * The state is a small JSON document: per log file, its identity (device, inode, size, mtime),
 * how many bytes of its content have been counted, and a fingerprint of its first bytes; and
 * every counter with its value. Counters come from the state, so a run adds only what the logs
 * gained since the last one and they never go down.
 *
 * Rotation is recognised by content, not by name: a log's first line (a record, with its
 * microsecond timestamp and pid; a syslog line with its time, host and pid) does not change when
 * logrotate renames the file, copies it (copytruncate) or compresses it, and does change when a
 * file is truncated and written anew. A file found now continues every entry whose first line
 * is its own first line, and its unread part begins at the largest of their offsets: bytes
 * counted once are never counted again, whichever copy of them is read later, even a copy still
 * being made (it has the first line as soon as it has any line to read).
 */
#include "metrics_state.h"

#include "slots.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_KEY "rstwatch_metrics_state"
#define STATE_VERSION 1

uint64_t mstate_hash(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

size_t mstate_fp_len(const void *prefix, size_t len)
{
    const char *nl = memchr(prefix, '\n', len < MSTATE_FP_MAX ? len : MSTATE_FP_MAX);
    if (nl) return (size_t)(nl - (const char *)prefix) + 1;
    return len >= MSTATE_FP_MAX ? MSTATE_FP_MAX : 0;
}

void mstate_init(struct mstate *st, size_t max_values)
{
    memset(st, 0, sizeof *st);
    series_init(&st->series, max_values);
}

void mstate_free(struct mstate *st)
{
    size_t max_values = st->series.max_values;
    for (size_t i = 0; i < st->nfiles; i++)
        free(st->files[i].path);
    free(st->files);
    free(st->slots);
    free(st->fp_slots);
    series_free(&st->series);
    mstate_init(st, max_values);
}

static uint64_t id_hash(uint64_t dev, uint64_t ino)
{
    uint64_t h = dev * 0x9E3779B97F4A7C15ull ^ ino * 0xC2B2AE3D27D4EB4Full;
    return h ^ (h >> 29);
}

static uint64_t file_at_hash(size_t e, const void *ctx)
{
    const struct mstate *st = ctx;
    return id_hash(st->files[e].dev, st->files[e].ino);
}

/* The slot of the entry with this identity, or of the empty slot where it would go. */
static size_t slot_of(const struct mstate *st, uint64_t dev, uint64_t ino)
{
    size_t i = id_hash(dev, ino) & (st->nslots - 1);
    for (; st->slots[i] != SLOT_EMPTY; i = (i + 1) & (st->nslots - 1)) {
        const struct mstate_file *e = &st->files[st->slots[i]];
        if (e->dev == dev && e->ino == ino) break;
    }
    return i;
}

struct mstate_file *mstate_add_file(struct mstate *st, const struct mstate_file *f)
{
    if (slots_reserve(&st->slots, &st->nslots, st->nfiles, 64, file_at_hash, st)) return NULL;
    char *path = strdup(f->path ? f->path : "");
    if (!path) return NULL;
    size_t i = slot_of(st, f->dev, f->ino);
    struct mstate_file *e;
    if (st->slots[i] != SLOT_EMPTY) {
        e = &st->files[st->slots[i]];
        free(e->path);
        st->fp_indexed = 0; /* its fingerprint may change: index again */
        free(st->fp_slots);
        st->fp_slots = NULL;
        st->nfp_slots = 0;
    } else {
        struct mstate_file *files =
            array_reserve(st->files, &st->cap, st->nfiles, sizeof *files, 16);
        if (!files) {
            free(path);
            return NULL;
        }
        st->files = files;
        st->slots[i] = st->nfiles;
        e = &st->files[st->nfiles++];
    }
    *e = *f;
    e->path = path;
    return e;
}

struct mstate_file *mstate_find(const struct mstate *st, uint64_t dev, uint64_t ino, int ignored_ok)
{
    if (!st->nslots) return NULL;
    size_t i = slot_of(st, dev, ino);
    if (st->slots[i] == SLOT_EMPTY) return NULL;
    struct mstate_file *e = &st->files[st->slots[i]];
    return ignored_ok || !e->ignored ? e : NULL;
}

static uint64_t fp_at_hash(size_t e, const void *ctx)
{
    const struct mstate *st = ctx;
    return st->files[e].fp;
}

/* Brings the fingerprint index up to date with files[] (entries are mostly appended). Returns 0,
 * or -1 when out of memory (the caller then looks at every entry). */
static int fp_index(struct mstate *st)
{
    for (; st->fp_indexed < st->nfiles; st->fp_indexed++) {
        /* slots_reserve places entries 0..n-1 anew when it grows: n is what is indexed. */
        if (slots_reserve(&st->fp_slots, &st->nfp_slots, st->fp_indexed, 64, fp_at_hash, st))
            return -1;
        size_t i = st->files[st->fp_indexed].fp & (st->nfp_slots - 1);
        while (st->fp_slots[i] != SLOT_EMPTY)
            i = (i + 1) & (st->nfp_slots - 1);
        st->fp_slots[i] = st->fp_indexed;
    }
    return 0;
}

/* Calls fn for every entry with this fingerprint (and, without an index, for every entry). */
static void each_with_fp(struct mstate *st, uint64_t h,
                         void (*fn)(const struct mstate_file *e, void *ctx), void *ctx)
{
    if (fp_index(st)) {
        for (size_t i = 0; i < st->nfiles; i++)
            fn(&st->files[i], ctx);
        return;
    }
    if (!st->nfp_slots) return; /* no entries */
    for (size_t i = h & (st->nfp_slots - 1); st->fp_slots[i] != SLOT_EMPTY;
         i = (i + 1) & (st->nfp_slots - 1))
        if (st->files[st->fp_slots[i]].fp == h) fn(&st->files[st->fp_slots[i]], ctx);
}

struct resume_ctx {
    size_t plen;
    uint64_t h;
    int ignored; /* look for ignored entries instead */
    size_t matched;
    uint64_t offset, line;
};

static void resume_match(const struct mstate_file *e, void *arg)
{
    struct resume_ctx *rc = arg;
    if (e->ignored != rc->ignored || !e->fp_len || e->fp_len != rc->plen || e->fp != rc->h) return;
    rc->matched++;
    if (e->offset > rc->offset || (e->offset == rc->offset && e->line > rc->line)) {
        rc->offset = e->offset;
        rc->line = e->line;
    }
}

size_t mstate_resume(struct mstate *st, const struct mstate_probe *p, uint64_t *offset,
                     uint64_t *line)
{
    /* An entry can only match with the length of the probe's own first line. */
    struct resume_ctx rc = {.plen = mstate_fp_len(p->prefix, p->prefix_len)};
    rc.h = mstate_hash(p->prefix, rc.plen);
    if (rc.plen) each_with_fp(st, rc.h, resume_match, &rc);
    /* Without a fingerprint (nothing counted yet), an entry matches its own inode only. */
    const struct mstate_file *own = mstate_find(st, p->dev, p->ino, 0);
    if (own && own->fp_len == 0 && own->offset == 0) rc.matched++;
    *offset = rc.offset;
    *line = rc.line;
    return rc.matched;
}

int mstate_same_start(const struct mstate_file *e, const struct mstate_probe *p)
{
    return e->fp_len == 0 ||
           (p->prefix_len >= e->fp_len && mstate_hash(p->prefix, e->fp_len) == e->fp);
}

int mstate_is_ignored_copy(struct mstate *st, const struct mstate_probe *p)
{
    struct resume_ctx rc = {.plen = mstate_fp_len(p->prefix, p->prefix_len), .ignored = 1};
    rc.h = mstate_hash(p->prefix, rc.plen);
    if (rc.plen) each_with_fp(st, rc.h, resume_match, &rc);
    return rc.matched > 0;
}

/* ---- the state file --------------------------------------------------------------------------
 */

static int fail(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "%s", what);
    return -1;
}

/* A non-negative integer member; -1 when absent or not one. */
static int get_u64(const json_t *o, const char *key, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int parse_file(const json_t *o, struct mstate *st, char *err, size_t errlen)
{
    struct mstate_file f = {0};
    uint64_t mtime = 0, fp_len = 0;
    const json_t *path = json_object_get(o, "path");
    const char *fp = json_string_value(json_object_get(o, "fp"));
    if (!json_is_object(o) || !json_is_string(path) || !fp || get_u64(o, "dev", &f.dev) ||
        get_u64(o, "ino", &f.ino) || get_u64(o, "size", &f.size) ||
        get_u64(o, "mtime_ns", &mtime) || get_u64(o, "offset", &f.offset) ||
        get_u64(o, "line", &f.line) || get_u64(o, "fp_len", &fp_len) || fp_len > MSTATE_FP_MAX)
        return fail(err, errlen, "a file entry lacks a field or has a wrong value");
    char *end = NULL;
    f.fp = strtoull(fp, &end, 16);
    if (strlen(fp) != 16 || *end)
        return fail(err, errlen, "a file entry's fp is not 16 hex digits");
    get_u64(o, "torn_at", &f.torn_at);
    f.mtime_ns = (int64_t)mtime;
    f.fp_len = (uint32_t)fp_len;
    f.gz = json_is_true(json_object_get(o, "gz"));
    f.ignored = json_is_true(json_object_get(o, "ignored"));
    f.path = (char *)json_string_value(path);
    if (!mstate_add_file(st, &f)) return fail(err, errlen, "out of memory");
    return 0;
}

static int parse_series(const json_t *o, struct mstate *st, char *err, size_t errlen)
{
    const char *name = json_string_value(json_object_get(o, "metric"));
    const json_t *labels = json_object_get(o, "labels");
    uint64_t value;
    if (!name || !json_is_array(labels) || get_u64(o, "value", &value))
        return fail(err, errlen, "a series lacks its metric, labels or value");
    int m = metric_by_name(name);
    if (m < 0) return 0; /* a counter of a later version: not ours to keep */
    size_t nl = metric_nlabels((enum metric_id)m);
    if (json_array_size(labels) != nl) return fail(err, errlen, "a series has the wrong labels");
    const char *values[METRIC_MAX_LABELS];
    for (size_t k = 0; k < nl; k++) {
        values[k] = json_string_value(json_array_get(labels, k));
        if (!values[k] || !*values[k]) return fail(err, errlen, "a label value is not a string");
    }
    if (series_restore(&st->series, (enum metric_id)m, values, value))
        return fail(err, errlen, "out of memory");
    return 0;
}

int mstate_parse(const char *text, size_t len, struct mstate *st, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    int rc = 0;
    if (!root) {
        snprintf(err, errlen, "not JSON (line %d: %s)", jerr.line, jerr.text);
        return -1;
    }
    const json_t *files = json_object_get(root, "files"), *series = json_object_get(root, "series");
    const json_t *v = json_object_get(root, STATE_KEY);
    if (!json_is_object(root) || !json_is_integer(v))
        rc = fail(err, errlen, "not a metrics state file");
    else if (json_integer_value(v) != STATE_VERSION)
        rc = fail(err, errlen, "a state file of another version");
    else if (!json_is_array(files) || !json_is_array(series))
        rc = fail(err, errlen, "no files or series array");
    for (size_t i = 0; !rc && i < json_array_size(files); i++)
        rc = parse_file(json_array_get(files, i), st, err, errlen);
    for (size_t i = 0; !rc && i < json_array_size(series); i++)
        rc = parse_series(json_array_get(series, i), st, err, errlen);
    json_decref(root);
    if (rc) mstate_free(st);
    return rc;
}

static json_t *file_json(const struct mstate_file *f)
{
    char fp[17];
    snprintf(fp, sizeof fp, "%016" PRIx64, f->fp);
    json_t *o =
        json_pack("{s:s, s:I, s:I, s:I, s:I, s:b, s:I, s:I, s:I, s:s}", "path", f->path, "dev",
                  (json_int_t)f->dev, "ino", (json_int_t)f->ino, "size", (json_int_t)f->size,
                  "mtime_ns", (json_int_t)f->mtime_ns, "gz", f->gz, "offset", (json_int_t)f->offset,
                  "line", (json_int_t)f->line, "fp_len", (json_int_t)f->fp_len, "fp", fp);
    if (o && f->torn_at) json_object_set_new(o, "torn_at", json_integer((json_int_t)f->torn_at));
    if (o && f->ignored) json_object_set_new(o, "ignored", json_true());
    return o;
}

char *mstate_dump(const struct mstate *st)
{
    json_t *files = json_array(), *series = json_array();
    json_t *root =
        json_pack("{s:i, s:o, s:o}", STATE_KEY, STATE_VERSION, "files", files, "series", series);
    int bad = !root;
    for (size_t i = 0; !bad && i < st->nfiles; i++)
        bad = json_array_append_new(files, file_json(&st->files[i]));
    for (size_t i = 0; !bad && i < st->series.n; i++) {
        const struct series *s = &st->series.s[i];
        json_t *labels = json_array();
        for (size_t k = 0; labels && k < metric_nlabels(s->metric); k++)
            json_array_append_new(labels, json_string(s->values[k]));
        bad = json_array_append_new(series, json_pack("{s:s, s:o, s:I}", "metric",
                                                      metric_defs[s->metric].name, "labels", labels,
                                                      "value", (json_int_t)s->value));
    }
    char *text = bad ? NULL : json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

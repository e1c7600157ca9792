/*
 * logscan.c: the input side of `rstwatch report` and `rstwatch export`.
 *
 * Expands the command-line inputs (files, directories of *.jsonl, "-" for stdin, or the default
 * log directory), splits each stream into lines with a bounded buffer (huge lines are skipped,
 * not loaded), hands every line to logread_parse_line and every good record to a callback. Bad
 * lines are reported as "rstwatch: FILE:LINE: reason", the way compilers report errors, so an
 * editor can jump to them; the caller decides the exit status from the statistics.
 */
#include "logscan.h"

#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LOGSCAN_CHUNK 65536
#define LOGSCAN_ERRLEN 256

struct line_buf {
    char *data;
    size_t len, cap;
    int overflow; /* the current line exceeded LOGSCAN_MAX_LINE and is being skipped */
};

static int line_append(struct line_buf *lb, const char *p, size_t n)
{
    if (lb->overflow) return 0;
    if (n > LOGSCAN_MAX_LINE - lb->len) {
        lb->overflow = 1;
        return 0;
    }
    if (lb->len + n > lb->cap) {
        size_t cap = lb->cap ? lb->cap : 4096;
        while (cap < lb->len + n)
            cap *= 2;
        char *data = realloc(lb->data, cap);
        if (!data) return -1;
        lb->data = data;
        lb->cap = cap;
    }
    memcpy(lb->data + lb->len, p, n);
    lb->len += n;
    return 0;
}

static int is_blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r') return 0;
    return 1;
}

static void bad_line(const char *name, size_t lineno, const char *reason,
                     struct logscan_stats *stats)
{
    fprintf(stderr, "rstwatch: %s:%zu: %s\n", name, lineno, reason);
    stats->bad_lines++;
}

/* The line being handed to the callback, for logscan_current_line. */
static const char *current_line;
static size_t current_len;

const char *logscan_current_line(size_t *len)
{
    *len = current_len;
    return current_line;
}

/* Handles one complete line; terminated says whether a newline ended it. */
static void finish_line(struct line_buf *lb, const char *name, size_t lineno, int terminated,
                        logscan_fn fn, void *ctx, struct logscan_stats *stats)
{
    char err[LOGSCAN_ERRLEN];
    if (lb->overflow) {
        snprintf(err, sizeof err, "line longer than %u MiB, skipped", LOGSCAN_MAX_LINE >> 20);
        bad_line(name, lineno, err, stats);
    } else if (!is_blank(lb->data, lb->len)) {
        struct log_record rec;
        if (logread_parse_line(lb->data, lb->len, &rec, err, sizeof err) == 0) {
            stats->records++;
            current_line = lb->data;
            current_len = lb->len;
            fn(&rec, ctx);
            current_line = NULL;
            current_len = 0;
        } else if (!terminated) {
            char msg[LOGSCAN_ERRLEN + 64];
            snprintf(msg, sizeof msg, "truncated last line (no newline at end of file): %s", err);
            bad_line(name, lineno, msg, stats);
        } else {
            bad_line(name, lineno, err, stats);
        }
    }
    lb->len = 0;
    lb->overflow = 0;
}

int logscan_stream(FILE *fp, const char *name, logscan_fn fn, void *ctx,
                   struct logscan_stats *stats)
{
    struct line_buf lb = {0};
    char *chunk = malloc(LOGSCAN_CHUNK);
    size_t lineno = 1;
    int rc = 0;
    if (!chunk) {
        fprintf(stderr, "rstwatch: %s: out of memory\n", name);
        stats->unreadable = 1;
        return -1;
    }
    stats->files++;
    size_t n;
    while ((n = fread(chunk, 1, LOGSCAN_CHUNK, fp)) > 0) {
        const char *p = chunk, *end = chunk + n;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t take = nl ? (size_t)(nl - p) : (size_t)(end - p);
            if (line_append(&lb, p, take)) {
                fprintf(stderr, "rstwatch: %s:%zu: out of memory\n", name, lineno);
                stats->unreadable = 1;
                rc = -1;
                goto out;
            }
            p += take;
            if (nl) {
                finish_line(&lb, name, lineno++, 1, fn, ctx, stats);
                p++;
            }
        }
    }
    if (ferror(fp)) {
        fprintf(stderr, "rstwatch: %s: read error: %s\n", name, strerror(errno));
        stats->unreadable = 1;
        rc = -1;
    } else if (lb.len > 0 || lb.overflow) {
        finish_line(&lb, name, lineno, 0, fn, ctx, stats);
    }
out:
    free(lb.data);
    free(chunk);
    return rc;
}

static void scan_file(const char *path, logscan_fn fn, void *ctx, struct logscan_stats *stats)
{
    FILE *fp = fopen(path, "re");
    if (!fp) {
        fprintf(stderr, "rstwatch: %s: %s\n", path, strerror(errno));
        stats->unreadable = 1;
        return;
    }
    logscan_stream(fp, path, fn, ctx, stats);
    fclose(fp);
}

static int jsonl_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 6 && strcmp(d->d_name + n - 6, ".jsonl") == 0;
}

/* Reads every *.jsonl directly inside dir; missing_ok: a missing directory is not an error. */
static void scan_dir(const char *dir, int missing_ok, logscan_fn fn, void *ctx,
                     struct logscan_stats *stats)
{
    struct dirent **names;
    int n = scandir(dir, &names, jsonl_filter, alphasort);
    if (n < 0) {
        if (!(missing_ok && errno == ENOENT)) {
            fprintf(stderr, "rstwatch: %s: %s\n", dir, strerror(errno));
            stats->unreadable = 1;
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        int len = snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (len > 0 && (size_t)len < sizeof path) {
            struct stat st;
            /* Skip subdirectories and sockets that happen to end in .jsonl. */
            if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) scan_file(path, fn, ctx, stats);
        }
        free(names[i]);
    }
    free(names);
}

void logscan_run(char *const *inputs, size_t ninputs, logscan_fn fn, void *ctx,
                 struct logscan_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    if (ninputs == 0) {
        char dir[PATH_MAX];
        if (cli_default_log_dir(dir, sizeof dir) == 0) scan_dir(dir, 1, fn, ctx, stats);
        return;
    }
    for (size_t i = 0; i < ninputs; i++) {
        struct stat st;
        if (strcmp(inputs[i], "-") == 0)
            logscan_stream(stdin, "<stdin>", fn, ctx, stats);
        else if (stat(inputs[i], &st) == 0 && S_ISDIR(st.st_mode))
            scan_dir(inputs[i], 0, fn, ctx, stats);
        else
            scan_file(inputs[i], fn, ctx, stats);
    }
}

// SPDX-License-Identifier: MIT
/*
 * metrics.c: `rstwatch metrics [-o FILE.prom] [--state FILE] [FILE|DIR ...]`.
 *
 * Turns the logs into Prometheus counters (metrics_series.c) for node_exporter's textfile
 * collector, and remembers between runs how far each log was read (metrics_state.c), so a run
 * every minute reads only what the logs gained and the counters only ever grow.
 *
 * A run: take the state's lock, load it, list the logs (the inputs, as report reads them, plus
 * the rotated siblings of each file argument: app.log.1, app.log.2.gz, app.log-20261207),
 * find for each where its unread part begins (metrics_state.h: by content, so renames,
 * copytruncate and gzip are recognised), read the complete lines after it, then write the state
 * and the output, each to a temporary file in the same directory renamed over the old one: the
 * collector and the next run never see half a file. A log whose size and mtime have not changed
 * is not opened at all.
 */
#include "cli.h"
#include "logscan.h"
#include "metrics_series.h"
#include "metrics_state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROG "rstwatch metrics"

struct metrics_opts {
    const char *out;   /* NULL or "-": stdout */
    const char *state; /* NULL: no state (every log read whole) */
    size_t max_values;
    int help;
};

/* A log found this run. */
struct candidate {
    char *path;
    struct stat st;
    int follow_only;   /* a sibling of a file argument: read only if it continues a known log */
    int followed_seen; /* ... of a file argument the state knows (it was read before) */
};

struct run {
    const struct metrics_opts *opts;
    struct mstate old, now; /* the state as loaded; what this run will save */
    struct candidate *cands;
    size_t ncands, cap;
    struct logscan_stats stats;
    int use_state;
    int stdin_input;
};

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: rstwatch metrics [-o FILE.prom] [--state FILE] [--max-values N] [FILE|DIR ...]\n"
        "  Counts the records of rstwatch logs as Prometheus counters (text format 0.0.4), for\n"
        "  node_exporter's textfile collector: rstwatch_incidents_total{service, side, cause,\n"
        "  errno, prog}, rstwatch_retries_total{service, action, outcome}, records read and\n"
        "  left out by the rate limit. Incremental: the state file remembers how far each\n"
        "  log was read (renamed, copytruncated and gzipped logs are recognised), so a run\n"
        "  reads only new records and the counters never go down.\n"
        "  FILE|DIR        logs, directories of logs (default: the default log directory); a\n"
        "                  FILE's rotated siblings (FILE.1, FILE.2.gz, FILE-DATE) are followed\n"
        "  -o, --output    write FILE.prom atomically (temporary file + rename); default stdout\n"
        "  --state FILE    where positions and counters are kept between runs (default:\n"
        "                  FILE.prom.state with -o; without -o and --state, every log is read\n"
        "                  whole and nothing is kept)\n"
        "  --max-values N  distinct values per label (service, prog, ...) before further ones\n"
        "                  are counted as \"other\" (default %d)\n",
        METRICS_DEFAULT_MAX_VALUES);
    fputs(LOGSCAN_EXIT_HELP, out);
}

static int parse_args(int argc, char **argv, struct metrics_opts *opts)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"state", required_argument, NULL, 's'},
                                             {"max-values", required_argument, NULL, 'm'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    int c;
    cli_getopt_restart();
    while ((c = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': opts->out = optarg; break;
        case 's': opts->state = optarg; break;
        case 'h': opts->help = 1; break;
        case 'm': {
            char *end = NULL;
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (errno || end == optarg || *end || v == 0 || v > 100000 || optarg[0] == '-') {
                fprintf(stderr, PROG ": --max-values wants a number from 1 to 100000 (got '%s')\n",
                        optarg);
                return -1;
            }
            opts->max_values = v;
            break;
        }
        default:
            if (optopt == 'o' || optopt == 's' || optopt == 'm')
                fprintf(stderr, PROG ": option '%s' needs a value\n", argv[optind - 1]);
            else
                fprintf(stderr, PROG ": unknown option '%s'\n", argv[optind - 1]);
            return -1;
        }
    }
    return 0;
}

/* ---- listing the logs ------------------------------------------------------------------------
 */

static void add_candidate(struct run *r, const char *path, const struct stat *st, int follow_only,
                          int followed_seen)
{
    if (r->ncands == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct candidate *cands = realloc(r->cands, cap * sizeof *cands);
        if (!cands) return;
        r->cands = cands;
        r->cap = cap;
    }
    char *copy = strdup(path);
    if (!copy) return;
    r->cands[r->ncands++] = (struct candidate){copy, *st, follow_only, followed_seen};
}

static int cmp_candidate(const void *a, const void *b)
{
    const struct candidate *x = a, *y = b;
    if (x->st.st_dev != y->st.st_dev) return x->st.st_dev < y->st.st_dev ? -1 : 1;
    if (x->st.st_ino != y->st.st_ino) return x->st.st_ino < y->st.st_ino ? -1 : 1;
    return x->follow_only - y->follow_only; /* an input first: it is read */
}

/* One candidate per file (by identity), an input rather than a sibling when it is both. */
static void unique_candidates(struct run *r)
{
    if (r->ncands) qsort(r->cands, r->ncands, sizeof *r->cands, cmp_candidate);
    size_t n = 0;
    for (size_t i = 0; i < r->ncands; i++) {
        struct candidate *c = &r->cands[i];
        if (n && r->cands[n - 1].st.st_dev == c->st.st_dev &&
            r->cands[n - 1].st.st_ino == c->st.st_ino) {
            free(c->path);
            continue;
        }
        r->cands[n++] = *c;
    }
    r->ncands = n;
}

static int has_entry_path(const struct mstate *st, const char *path)
{
    for (size_t i = 0; i < st->nfiles; i++)
        if (!st->files[i].ignored && strcmp(st->files[i].path, path) == 0) return 1;
    return 0;
}

/* The rotated siblings of the file argument path: same directory, name + "." or "-" + more. */
static void add_siblings(struct run *r, const char *path)
{
    int seen = has_entry_path(&r->old, path);
    char dirbuf[PATH_MAX], basebuf[PATH_MAX];
    snprintf(dirbuf, sizeof dirbuf, "%s", path);
    snprintf(basebuf, sizeof basebuf, "%s", path);
    const char *dir = dirname(dirbuf), *base = basename(basebuf);
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strncmp(n, base, blen) != 0 || (n[blen] != '.' && n[blen] != '-') || !n[blen + 1])
            continue;
        char sib[PATH_MAX];
        struct stat st;
        if (snprintf(sib, sizeof sib, "%s/%s", dir, n) < (int)sizeof sib && stat(sib, &st) == 0 &&
            S_ISREG(st.st_mode))
            add_candidate(r, sib, &st, 1, seen);
    }
    closedir(d);
}

static void visit(const char *path, int in_dir, void *vctx)
{
    struct run *r = vctx;
    if (strcmp(path, "-") == 0) {
        r->stdin_input = 1;
        return;
    }
    struct stat st;
    int found = stat(path, &st) == 0, err = errno;
    if (found && S_ISREG(st.st_mode)) {
        add_candidate(r, path, &st, 0, 0);
    } else if (in_dir) {
        return; /* vanished since the directory was listed */
    } else if (found || err != ENOENT || !has_entry_path(&r->old, path)) {
        /* A file read before and missing now is being rotated: its siblings hold the rest. */
        fprintf(stderr, "rstwatch: %s: %s\n", path, found ? "not a regular file" : strerror(err));
        r->stats.unreadable = 1;
    }
    if (!in_dir) add_siblings(r, path);
}

/* ---- reading one log -------------------------------------------------------------------------
 */

/* The first bytes of the content of the file open on fd (decompressed when gz). */
static size_t read_prefix(int fd, int gz, unsigned char *buf)
{
    if (!gz) {
        ssize_t n = pread(fd, buf, MSTATE_FP_MAX, 0);
        return n > 0 ? (size_t)n : 0;
    }
    pid_t pid;
    lseek(fd, 0, SEEK_SET);
    FILE *z = logscan_gunzip(fd, &pid);
    if (!z) return 0;
    size_t n = fread(buf, 1, MSTATE_FP_MAX, z);
    logscan_gunzip_close(z, pid);
    return n;
}

static void on_record(struct log_record *rec, void *ctx)
{
    struct run *r = ctx;
    series_account(&r->now.series, rec);
    log_record_free(rec);
}

/* Reads the content of the file open on fd from start on (complete lines only). */
static int read_from(struct run *r, const struct candidate *c, int fd, int gz, uint64_t start,
                     struct logscan_pos *pos)
{
    FILE *fp = NULL;
    pid_t pid = 0;
    int rc = 0;
    if (gz) {
        lseek(fd, 0, SEEK_SET);
        fp = logscan_gunzip(fd, &pid);
        /* Skip what was counted: decompressed bytes are read and dropped. */
        static char skip[65536];
        uint64_t left = start;
        while (fp && left > 0) {
            size_t n = fread(skip, 1, left < sizeof skip ? (size_t)left : sizeof skip, fp);
            if (n == 0) break;
            left -= n;
        }
    } else {
        int copy = dup(fd);
        fp = copy >= 0 ? fdopen(copy, "r") : NULL;
        if (!fp && copy >= 0) close(copy);
        if (fp && fseeko(fp, (off_t)start, SEEK_SET) != 0) {
            fclose(fp);
            fp = NULL;
        }
    }
    if (!fp) {
        fprintf(stderr, "rstwatch: %s: %s\n", c->path,
                gz ? "cannot run gzip -dc" : strerror(errno));
        r->stats.unreadable = 1;
        return -1;
    }
    size_t bad_before = r->stats.bad_lines;
    if (logscan_stream_lines(fp, c->path, on_record, r, &r->stats, pos)) rc = -1;
    if (gz) {
        /* A gzip that fails at the end (truncated or still being written) gave good lines up to
         * there: they are counted, and the position says so. */
        if (logscan_gunzip_close(fp, pid) && !rc) {
            fprintf(stderr, "rstwatch: %s: gzip -dc failed (corrupt or truncated file?)\n",
                    c->path);
            r->stats.unreadable = 1;
            rc = -1;
        }
    } else {
        fclose(fp);
    }
    uint64_t bad = r->stats.bad_lines - bad_before;
    if (bad) series_add(&r->now.series, METRIC_BAD_LINES, NULL, bad);
    if (pos->consumed) series_add(&r->now.series, METRIC_READ_BYTES, NULL, pos->consumed);
    return rc;
}

/* Keeps the old entry of a log that could not be looked at this time. */
static void keep_entry(struct run *r, const struct mstate_file *e)
{
    if (e && !mstate_find(&r->now, e->dev, e->ino, 1)) mstate_add_file(&r->now, e);
}

static void process(struct run *r, const struct candidate *c)
{
    uint64_t dev = (uint64_t)c->st.st_dev, ino = (uint64_t)c->st.st_ino;
    int64_t mtime = (int64_t)c->st.st_mtim.tv_sec * 1000000000 + c->st.st_mtim.tv_nsec;
    const struct mstate_file *known = mstate_find(&r->old, dev, ino, 1);
    /* Unchanged since the last run: nothing to read (an ignored sibling stays ignored, unless it
     * is now an input of its own). */
    if (known && known->size == (uint64_t)c->st.st_size && known->mtime_ns == mtime &&
        (!known->ignored || c->follow_only)) {
        keep_entry(r, known);
        return;
    }
    int fd = open(c->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "rstwatch: %s: %s\n", c->path, strerror(errno));
        r->stats.unreadable = 1;
        keep_entry(r, known);
        return;
    }
    static unsigned char prefix[MSTATE_FP_MAX];
    int gz = logscan_is_gzip(fd);
    struct mstate_probe probe = {dev, ino, prefix, read_prefix(fd, gz, prefix)};
    uint64_t start, line, start2, line2;
    size_t matched = mstate_resume(&r->old, &probe, &start, &line);
    /* Another copy of the same content read earlier in this run counts too. */
    if (mstate_resume(&r->now, &probe, &start2, &line2) && start2 > start)
        start = start2, line = line2;
    struct mstate_file e = {.path = c->path,
                            .dev = dev,
                            .ino = ino,
                            .size = (uint64_t)c->st.st_size,
                            .mtime_ns = mtime,
                            .gz = gz};
    /* A sibling that continues no known log: an old rotation, from before the file was
     * followed (or a copy of one), is left alone; one that appeared since the last run is a
     * rotation of content not counted yet (copytruncate of a file that was empty then). */
    int known_file = known && mstate_same_start(known, &probe); /* not an inode reused */
    if (c->follow_only && !matched &&
        (known_file || !c->followed_seen || mstate_is_ignored_copy(&r->old, &probe))) {
        e.ignored = 1;
        e.fp_len = (uint32_t)mstate_fp_len(prefix, probe.prefix_len);
        e.fp = mstate_hash(prefix, e.fp_len);
        mstate_add_file(&r->now, &e);
        close(fd);
        return;
    }
    struct logscan_pos pos = {.line = line ? line : 1};
    /* A read from the middle of a file knows its kind from the first line. */
    size_t first = mstate_fp_len(prefix, probe.prefix_len);
    if (start && first && prefix[first - 1] == '\n')
        pos.mode = logscan_line_mode((const char *)prefix, first - 1);
    int rc = read_from(r, c, fd, gz, start, &pos);
    e.offset = start + pos.consumed;
    e.line = pos.line;
    if (!gz) probe.prefix_len = read_prefix(fd, 0, prefix); /* it may have grown meanwhile */
    e.fp_len = (uint32_t)mstate_fp_len(prefix, probe.prefix_len);
    e.fp = mstate_hash(prefix, e.fp_len);
    if (pos.tail && rc == 0) {
        /* One warning per torn line, not one per run. */
        const struct mstate_file *same = mstate_find(&r->old, dev, ino, 0);
        e.torn_at = e.offset + 1;
        if (!same || same->torn_at != e.torn_at)
            fprintf(stderr,
                    "rstwatch: %s:%llu: the last line has no newline (a torn record?): left "
                    "unread until it is complete\n",
                    c->path, (unsigned long long)e.line);
    }
    mstate_add_file(&r->now, &e);
    close(fd);
}

/* ---- writing files ---------------------------------------------------------------------------
 */

typedef int (*write_fn)(FILE *out, const void *ctx);

/* Writes path through a temporary file in its directory, renamed over it (mode: its
 * permissions). Returns 0, or -1 with the reason on stderr. */
static int write_atomic(const char *path, mode_t mode, write_fn fn, const void *ctx)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
        fprintf(stderr, PROG ": %s: name too long\n", path);
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, PROG ": %s: cannot create a temporary file: %s\n", path, strerror(errno));
        return -1;
    }
    FILE *out = fdopen(fd, "w");
    int err = 0;
    if (!out) {
        err = errno;
        close(fd);
    } else {
        if (fchmod(fd, mode) || fn(out, ctx) || fflush(out) || fsync(fd)) err = errno ? errno : EIO;
        if (fclose(out) && !err) err = errno;
        if (!err && rename(tmp, path)) err = errno;
    }
    if (err) {
        unlink(tmp);
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(err));
        return -1;
    }
    return 0;
}

static int write_prom(FILE *out, const void *ctx)
{
    return series_write_prom(ctx, out);
}

static int write_state(FILE *out, const void *ctx)
{
    char *text = mstate_dump(ctx);
    if (!text) {
        errno = ENOMEM;
        return -1;
    }
    int rc = fputs(text, out) < 0 || fputc('\n', out) == EOF ? -1 : 0;
    free(text);
    return rc;
}

/* ---- the state file --------------------------------------------------------------------------
 */

/* Takes the lock that keeps two runs from reading the same bytes: fd of STATE.lock, or -1. */
static int lock_state(const char *state)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s.lock", state) >= (int)sizeof path) return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        fprintf(stderr, PROG ": %s: another run holds it; nothing done\n", path);
        close(fd);
        return -1;
    }
    return fd;
}

/* Loads the state: 0 (also when there is none yet), 1 when it was corrupt (warned, set aside,
 * every log read again from its start), -1 when it cannot be read at all. */
static int load_state(const char *path, struct mstate *st)
{
    FILE *fp = fopen(path, "re");
    if (!fp) {
        if (errno == ENOENT) return 0;
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    char buf[65536];
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(fp);
                fprintf(stderr, PROG ": %s: out of memory\n", path);
                return -1;
            }
            text = t;
        }
        memcpy(text + len, buf, n);
        len += n;
    }
    int read_error = ferror(fp);
    fclose(fp);
    if (read_error) {
        free(text);
        fprintf(stderr, PROG ": %s: read error\n", path);
        return -1;
    }
    char err[256];
    int rc = mstate_parse(text ? text : "", len, st, err, sizeof err);
    free(text);
    if (rc == 0) return 0;
    char aside[PATH_MAX];
    snprintf(aside, sizeof aside, "%s.corrupt", path);
    int moved = rename(path, aside) == 0;
    fprintf(stderr,
            "rstwatch: %s: unusable metrics state (%s)%s%s; every log is read again from its "
            "start and the counters start over\n",
            path, err, moved ? ", kept as " : "", moved ? aside : "");
    return 1;
}

/* ---- the command -----------------------------------------------------------------------------
 */

static int run_metrics(struct run *r, char **inputs, size_t ninputs)
{
    const struct metrics_opts *opts = r->opts;
    int lock_fd = -1, corrupt = 0;
    if (r->use_state) {
        lock_fd = lock_state(opts->state);
        if (lock_fd < 0) return 2;
        int rc = load_state(opts->state, &r->old);
        if (rc < 0) {
            close(lock_fd);
            return 2;
        }
        corrupt = rc;
        /* The counters go on from where they were; the old entries stay for matching. */
        series_free(&r->now.series);
        r->now.series = r->old.series;
        series_init(&r->old.series, opts->max_values);
    }
    logscan_walk(inputs, ninputs, visit, r, &r->stats);
    if (r->stdin_input && r->use_state) {
        fprintf(stderr, PROG ": - (stdin) cannot be read incrementally; leave out --state and -o "
                             "to count it once\n");
        r->stats.unreadable = 1;
    } else if (r->stdin_input) {
        size_t bad_before = r->stats.bad_lines;
        logscan_stream(stdin, "<stdin>", on_record, r, &r->stats);
        if (r->stats.bad_lines > bad_before)
            series_add(&r->now.series, METRIC_BAD_LINES, NULL, r->stats.bad_lines - bad_before);
    }
    unique_candidates(r);
    for (size_t i = 0; i < r->ncands; i++)
        process(r, &r->cands[i]);
    int rc = logscan_exit_status(&r->stats);
    if (corrupt && rc == 0) rc = 1;
    if (r->now.series.oom) {
        fprintf(stderr, PROG ": out of memory: some records were not counted\n");
        rc = 2;
    }
    if (r->use_state && write_atomic(opts->state, 0600, write_state, &r->now)) rc = 2;
    if (opts->out && strcmp(opts->out, "-") != 0) {
        if (write_atomic(opts->out, 0644, write_prom, &r->now.series)) rc = 2;
    } else if (series_write_prom(&r->now.series, stdout) || fflush(stdout)) {
        perror(PROG ": stdout");
        rc = 2;
    }
    if (lock_fd >= 0) close(lock_fd);
    return rc;
}

int cmd_metrics(int argc, char **argv)
{
    struct metrics_opts opts = {0};
    int usage_error = parse_args(argc, argv, &opts);
    int rc = cli_usage_or_help(usage_error, opts.help, usage);
    if (rc >= 0) return rc;
    char state_buf[PATH_MAX];
    if (!opts.state && opts.out && strcmp(opts.out, "-") != 0) {
        if (snprintf(state_buf, sizeof state_buf, "%s.state", opts.out) >= (int)sizeof state_buf) {
            fprintf(stderr, PROG ": %s: name too long\n", opts.out);
            return 2;
        }
        opts.state = state_buf;
    }
    struct run r = {.opts = &opts, .use_state = opts.state != NULL};
    mstate_init(&r.old, opts.max_values);
    mstate_init(&r.now, opts.max_values);
    rc = run_metrics(&r, argv + optind, (size_t)(argc - optind));
    for (size_t i = 0; i < r.ncands; i++)
        free(r.cands[i].path);
    free(r.cands);
    mstate_free(&r.old);
    mstate_free(&r.now);
    return rc;
}

// SPDX-License-Identifier: MIT
/*
 * logscan.c: the input side of `rstwatch report` and `rstwatch export`.
 *
 * Expands the command-line inputs (files, directories walked recursively, "-" for stdin, or the
 * default log directories), splits each stream into lines with a bounded buffer (huge lines are
 * skipped, not loaded), finds the record in each line and hands every good record to a callback.
 * Bad lines are reported as "rstwatch: FILE:LINE: reason", the way compilers report errors, so an
 * editor can jump to them; the caller decides the exit status from the statistics.
 *
 * Where records travel, they arrive wrapped: a line of a syslog file carries one after its
 * "Dec  2 13:00:00 host rstwatch[42]: " prefix, `journalctl -o json` puts it in the
 * RSTWATCH_JSON field, logrotate compresses old files with gzip (read through `gzip -dc`, by
 * content, whatever the name). Lines without a record (other programs' syslog messages, other
 * journal entries) are skipped silently; a line that starts a record and breaks is reported.
 * A summary record (the counts behind the rate limit) becomes one counts-only record per entry
 * that still has unreported suppressed records, so totals count every due record once.
 */
#include "logscan.h"

#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOGSCAN_CHUNK 65536
#define LOGSCAN_ERRLEN 256

struct line_buf {
    char *data;
    size_t len, cap;
    int overflow; /* the current line exceeded LOGSCAN_MAX_LINE and is being skipped */
    int mode;     /* 0 undecided, 1 JSON Lines (every line is a record), 2 wrapped (syslog) */
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

/* Printable text (a syslog line), not binary bytes. */
static int is_text(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 && p[i] != '\t' && p[i] != '\r') return 0;
    return 1;
}

static void bad_line(const char *name, size_t lineno, const char *reason,
                     struct logscan_stats *stats)
{
    fprintf(stderr, "rstwatch: %s:%zu: %s\n", name, lineno, reason);
    stats->bad_lines++;
}

/* Where the record starts in a line: the line itself, or after a syslog prefix. NULL: none. */
static const char *record_start(const char *p, size_t n, size_t *len)
{
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i < n && p[i] == '{') {
        *len = n - i;
        return p + i;
    }
    static const char mark[] = "{\"v\":";
    for (size_t k = i; k + sizeof mark - 1 <= n; k++) {
        if (p[k] == '{' && !memcmp(p + k, mark, sizeof mark - 1)) {
            *len = n - k;
            while (*len && (p[k + *len - 1] == '\r' || p[k + *len - 1] == ' '))
                (*len)--;
            return p + k;
        }
    }
    return NULL;
}

/* A journal field as bytes: a string, or an array of byte values (binary-safe form). */
static char *journal_field(const json_t *v, size_t *len)
{
    if (json_is_string(v)) {
        *len = json_string_length(v);
        char *s = malloc(*len + 1);
        if (s) memcpy(s, json_string_value(v), *len + 1);
        return s;
    }
    if (!json_is_array(v)) return NULL;
    *len = json_array_size(v);
    char *s = malloc(*len + 1);
    if (!s) return NULL;
    for (size_t i = 0; i < *len; i++)
        s[i] = (char)json_integer_value(json_array_get(v, i));
    s[*len] = 0;
    return s;
}

static void deliver(const char *rec_text, size_t len, const char *name, size_t lineno,
                    int terminated, logscan_fn fn, void *ctx, struct logscan_stats *stats);

/* The line being handed to the callback, for logscan_current_line. */
static const char *current_line;
static size_t current_len;

const char *logscan_current_line(size_t *len)
{
    *len = current_len;
    return current_line;
}

static void deliver(const char *text, size_t len, const char *name, size_t lineno, int terminated,
                    logscan_fn fn, void *ctx, struct logscan_stats *stats)
{
    char err[LOGSCAN_ERRLEN];
    struct log_record rec;
    if (logread_parse_line(text, len, &rec, err, sizeof err) == 0) {
        stats->records++;
        /* What the rate limit left out: a record's own count, and a summary's entries. */
        if (rec.suppressed > 0) stats->suppressed += (unsigned long long)rec.suppressed;
        if (rec.type == LOG_SUMMARY) {
            stats->summaries++;
            for (size_t i = 0; i < rec.ncounts; i++)
                if (rec.counts[i].suppressed > 0)
                    stats->suppressed += (unsigned long long)rec.counts[i].suppressed;
        }
        current_line = text;
        current_len = len;
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

/* A line of `journalctl -o json`: the record is RSTWATCH_JSON, or MESSAGE when a record went to
 * syslog and syslog into the journal. Other entries are skipped. Returns 1 when it was one. */
static int journal_line(const char *p, size_t n, const char *name, size_t lineno, logscan_fn fn,
                        void *ctx, struct logscan_stats *stats)
{
    if (!memmem(p, n, "\"__CURSOR\"", 10) && !memmem(p, n, "\"RSTWATCH_JSON\"", 15)) return 0;
    json_t *root = json_loadb(p, n, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return 0; /* not a journal entry after all: the record reader will say why */
    }
    size_t len = 0;
    char *text = journal_field(json_object_get(root, "RSTWATCH_JSON"), &len);
    if (!text) {
        char *msg = journal_field(json_object_get(root, "MESSAGE"), &len);
        size_t rl = 0;
        const char *start = msg ? record_start(msg, len, &rl) : NULL;
        if (start && rl && *start == '{' && memmem(start, rl, "\"v\":", 4)) {
            text = malloc(rl + 1);
            if (text) memcpy(text, start, rl), text[rl] = 0;
            len = rl;
        }
        free(msg);
    }
    json_decref(root);
    if (text) deliver(text, len, name, lineno, 1, fn, ctx, stats);
    free(text);
    return 1;
}

int logscan_line_mode(const char *line, size_t len)
{
    if (is_blank(line, len)) return 0;
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return line[i] == '{' || !is_text(line, len) ? 1 : 2;
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
        /* The first line decides: a file of records (or of journal entries) has every line
         * checked; in a syslog file, lines without a record belong to other programs. */
        size_t i = 0;
        while (i < lb->len && (lb->data[i] == ' ' || lb->data[i] == '\t'))
            i++;
        if (!lb->mode) lb->mode = logscan_line_mode(lb->data, lb->len);
        size_t len = lb->len - i;
        const char *text = lb->data + i;
        if (lb->mode == 2) text = record_start(lb->data, lb->len, &len);
        if (text && !journal_line(text, len, name, lineno, fn, ctx, stats))
            deliver(text, len, name, lineno, terminated, fn, ctx, stats);
    }
    lb->len = 0;
    lb->overflow = 0;
}

/* Reads the lines of fp from line number *pos->line on. final: an unterminated last line is a
 * line (a file that is complete); otherwise it is left unread and only measured (pos->tail). */
static int stream_lines(FILE *fp, const char *name, int final, logscan_fn fn, void *ctx,
                        struct logscan_stats *stats, struct logscan_pos *pos)
{
    struct line_buf lb = {.mode = pos->mode};
    char *chunk = malloc(LOGSCAN_CHUNK);
    size_t lineno = pos->line ? (size_t)pos->line : 1;
    int rc = 0;
    if (!chunk) {
        fprintf(stderr, "rstwatch: %s: out of memory\n", name);
        stats->unreadable = 1;
        return -1;
    }
    size_t before = stats->records + stats->bad_lines;
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
            pos->tail += take;
            if (nl) {
                finish_line(&lb, name, lineno++, 1, fn, ctx, stats);
                p++;
                pos->consumed += pos->tail + 1;
                pos->tail = 0;
            }
        }
    }
    if (ferror(fp)) {
        fprintf(stderr, "rstwatch: %s: read error: %s\n", name, strerror(errno));
        stats->unreadable = 1;
        rc = -1;
    } else if (final && (lb.len > 0 || lb.overflow)) {
        finish_line(&lb, name, lineno, 0, fn, ctx, stats);
    }
out:
    pos->line = lineno;
    pos->mode = lb.mode;
    /* Files count when they held records: a directory may hold other files too. */
    if (stats->records + stats->bad_lines > before || rc) stats->files++;
    free(lb.data);
    free(chunk);
    return rc;
}

int logscan_stream(FILE *fp, const char *name, logscan_fn fn, void *ctx,
                   struct logscan_stats *stats)
{
    struct logscan_pos pos = {0};
    return stream_lines(fp, name, 1, fn, ctx, stats, &pos);
}

int logscan_stream_lines(FILE *fp, const char *name, logscan_fn fn, void *ctx,
                         struct logscan_stats *stats, struct logscan_pos *pos)
{
    pos->consumed = pos->tail = 0;
    return stream_lines(fp, name, 0, fn, ctx, stats, pos);
}

FILE *logscan_gunzip(int fd, pid_t *pid)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return NULL;
    *pid = fork();
    if (*pid < 0) {
        close(p[0]), close(p[1]);
        return NULL;
    }
    if (*pid == 0) {
        dup2(fd, 0);
        dup2(p[1], 1);
        execlp("gzip", "gzip", "-dc", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    FILE *fp = fdopen(p[0], "r");
    if (!fp) {
        close(p[0]);
        kill(*pid, SIGKILL);
        while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    return fp;
}

int logscan_gunzip_close(FILE *z, pid_t pid)
{
    fclose(z);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int logscan_is_gzip(int fd)
{
    unsigned char magic[2] = {0, 0};
    return pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

static void scan_file(const char *path, logscan_fn fn, void *ctx, struct logscan_stats *stats)
{
    FILE *fp = fopen(path, "re");
    if (!fp) {
        fprintf(stderr, "rstwatch: %s: %s\n", path, strerror(errno));
        stats->unreadable = 1;
        return;
    }
    unsigned char magic[2] = {0, 0};
    size_t got = fread(magic, 1, 2, fp);
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) { /* gzip, whatever the name */
        pid_t pid;
        lseek(fileno(fp), 0, SEEK_SET);
        FILE *z = logscan_gunzip(fileno(fp), &pid);
        if (!z) {
            fprintf(stderr, "rstwatch: %s: cannot run gzip -dc: %s\n", path, strerror(errno));
            stats->unreadable = 1;
        } else {
            logscan_stream(z, path, fn, ctx, stats);
            if (logscan_gunzip_close(z, pid)) {
                fprintf(stderr, "rstwatch: %s: gzip -dc failed (corrupt or truncated file?)\n",
                        path);
                stats->unreadable = 1;
            }
        }
        fclose(fp);
        return;
    }
    rewind(fp);
    logscan_stream(fp, path, fn, ctx, stats);
    fclose(fp);
}

static int visible(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Visits every file under dir, recursively, in name order (symlinked directories are not
 * followed: no loops); missing_ok: a missing directory is not an error. */
static void walk_dir(const char *dir, int missing_ok, logscan_visit_fn visit, void *vctx,
                     struct logscan_stats *stats)
{
    struct dirent **names;
    int n = scandir(dir, &names, visible, alphasort);
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
        struct stat st;
        if (len > 0 && (size_t)len < sizeof path && lstat(path, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                walk_dir(path, 0, visit, vctx, stats);
            else if (S_ISREG(st.st_mode) ||
                     (S_ISLNK(st.st_mode) && stat(path, &st) == 0 && S_ISREG(st.st_mode)))
                visit(path, 1, vctx); /* sockets and FIFOs are skipped */
        }
        free(names[i]);
    }
    free(names);
}

/* root's services drop privileges (nginx workers, apt's methods): a process that started as
 * another user writes to that user's /tmp/rstwatch-UID. For root, those directories are part
 * of the default input when they belong to the user they are named after. */
static void walk_other_users(logscan_visit_fn visit, void *vctx, struct logscan_stats *stats)
{
    struct dirent **names;
    int n = scandir("/tmp", &names, visible, alphasort);
    for (int i = 0; i < n; i++) {
        const char *d = names[i]->d_name;
        char *end = NULL;
        unsigned long uid = strncmp(d, "rstwatch-", 9) ? 0 : strtoul(d + 9, &end, 10);
        char path[PATH_MAX];
        struct stat st;
        if (uid && end && !*end && snprintf(path, sizeof path, "/tmp/%s", d) < (int)sizeof path &&
            lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid && !(st.st_mode & 022))
            walk_dir(path, 1, visit, vctx, stats);
        free(names[i]);
    }
    if (n >= 0) free(names);
}

void logscan_walk(char *const *inputs, size_t ninputs, logscan_visit_fn visit, void *vctx,
                  struct logscan_stats *stats)
{
    if (ninputs == 0) {
        char dir[PATH_MAX];
        if (cli_default_log_dir(dir, sizeof dir) == 0) walk_dir(dir, 1, visit, vctx, stats);
        if (getuid() == 0) walk_other_users(visit, vctx, stats);
        return;
    }
    for (size_t i = 0; i < ninputs; i++) {
        struct stat st;
        if (strcmp(inputs[i], "-") != 0 && stat(inputs[i], &st) == 0 && S_ISDIR(st.st_mode))
            walk_dir(inputs[i], 0, visit, vctx, stats);
        else
            visit(inputs[i], 0, vctx);
    }
}

struct run_ctx {
    logscan_fn fn;
    void *ctx;
    struct logscan_stats *stats;
};

static void run_visit(const char *path, int in_dir, void *vctx)
{
    (void)in_dir;
    struct run_ctx *rc = vctx;
    if (strcmp(path, "-") == 0)
        logscan_stream(stdin, "<stdin>", rc->fn, rc->ctx, rc->stats);
    else
        scan_file(path, rc->fn, rc->ctx, rc->stats);
}

void logscan_run(char *const *inputs, size_t ninputs, logscan_fn fn, void *ctx,
                 struct logscan_stats *stats)
{
    memset(stats, 0, sizeof *stats);
    struct run_ctx rc = {fn, ctx, stats};
    logscan_walk(inputs, ninputs, run_visit, &rc, stats);
}

int logscan_exit_status(const struct logscan_stats *stats)
{
    if (stats->unreadable) return 2;
    return stats->bad_lines ? 1 : 0;
}

// SPDX-License-Identifier: MIT
/*
 * metrics_test.c: the memory of `rstwatch metrics` (cli/metrics_state.c) and its counters
 * (cli/metrics_series.c).
 *
 * The state file: a dump reads back to the same state; anything else (not JSON, another
 * version, a missing or ill-typed field, a series with the wrong labels) is refused as a whole,
 * never half read; a later version's unknown counters are skipped. Where a log's unread part
 * begins, for each way logrotate treats a file: grown in place, renamed, copied and truncated
 * (copytruncate), gzipped, a copy still being made, a file truncated and written anew.
 * The counters: the cap on distinct label values and "other", values once admitted staying
 * their own, summary counts and suppressed records folded in, and the text format's escapes.
 */
#include "metrics_series.h"
#include "metrics_state.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

/* ---- the state file --------------------------------------------------------------------------
 */

static void state_roundtrip(void)
{
    struct mstate st, back;
    mstate_init(&st, 0);
    mstate_init(&back, 0);
    struct mstate_file f = {.path = "/var/log/rstwatch/a \"b\".jsonl",
                            .dev = 2049,
                            .ino = 77,
                            .size = 5000,
                            .mtime_ns = 1796658592637618329LL,
                            .gz = 1,
                            .offset = 4999,
                            .line = 12,
                            .fp_len = 4096,
                            .fp = 0xfedcba9876543210ull,
                            .torn_at = 5000};
    mstate_add_file(&st, &f);
    struct mstate_file g = {.path = "/x.1", .dev = 1, .ino = 2, .ignored = 1};
    mstate_add_file(&st, &g);
    const char *v[] = {"127.0.0.1:80", "client", "refused", "ECONNREFUSED", "cu\"rl\n"};
    series_add(&st.series, METRIC_INCIDENTS, v, 42);
    series_add(&st.series, METRIC_READ_BYTES, NULL, 1234567890123ull);
    char *text = mstate_dump(&st);
    char err[256] = "";
    ok(text && mstate_parse(text, strlen(text), &back, err, sizeof err) == 0,
       "a dumped state reads back (%s)", err);
    char *again = mstate_dump(&back);
    ok(text && again && strcmp(text, again) == 0, "and dumps to the same text");
    ok(back.nfiles == 2 && back.files[0].fp == f.fp && back.files[0].torn_at == 5000 &&
           back.files[0].gz == 1 && back.files[0].mtime_ns == f.mtime_ns && back.files[1].ignored,
       "file entries keep every field");
    ok(series_total(&back.series, METRIC_INCIDENTS) == 42 &&
           series_total(&back.series, METRIC_READ_BYTES) == 1234567890123ull,
       "counters keep their values");
    free(text);
    free(again);
    mstate_free(&st);
    mstate_free(&back);
}

static void state_refused(const char *text, const char *what)
{
    struct mstate st;
    mstate_init(&st, 0);
    char err[256] = "";
    int rc = mstate_parse(text, strlen(text), &st, err, sizeof err);
    ok(rc == -1 && st.nfiles == 0 && st.series.n == 0 && err[0], "refused: %s (%s)", what, err);
    mstate_free(&st);
}

#define FILE_OK                                                                                    \
    "{\"path\":\"/a\",\"dev\":1,\"ino\":2,\"size\":3,\"mtime_ns\":4,\"gz\":false,\"offset\":3,"    \
    "\"line\":2,\"fp_len\":3,\"fp\":\"0123456789abcdef\"}"

static void state_corrupt(void)
{
    state_refused("", "an empty file");
    state_refused("{\"rstwatch_metrics_state\":1,\"files\":[", "a torn file");
    state_refused("garbage\n", "not JSON");
    state_refused("[]", "not an object");
    state_refused("{\"files\":[],\"series\":[]}", "no version");
    state_refused("{\"rstwatch_metrics_state\":2,\"files\":[],\"series\":[]}", "another version");
    state_refused("{\"rstwatch_metrics_state\":1,\"series\":[]}", "no files");
    state_refused("{\"rstwatch_metrics_state\":1,\"files\":[" FILE_OK ",{\"path\":\"/b\"}],"
                  "\"series\":[]}",
                  "a file entry without its fields (and the good one before it is dropped too)");
    state_refused("{\"rstwatch_metrics_state\":1,\"files\":[{\"path\":\"/a\",\"dev\":1,\"ino\":2,"
                  "\"size\":3,\"mtime_ns\":4,\"offset\":-3,\"line\":2,\"fp_len\":3,"
                  "\"fp\":\"0123456789abcdef\"}],\"series\":[]}",
                  "a negative offset");
    state_refused("{\"rstwatch_metrics_state\":1,\"files\":[{\"path\":\"/a\",\"dev\":1,\"ino\":2,"
                  "\"size\":3,\"mtime_ns\":4,\"offset\":3,\"line\":2,\"fp_len\":3,"
                  "\"fp\":\"xyz\"}],\"series\":[]}",
                  "a fingerprint that is not hex");
    state_refused("{\"rstwatch_metrics_state\":1,\"files\":[],\"series\":[{\"metric\":"
                  "\"rstwatch_incidents_total\",\"labels\":[\"a\"],\"value\":1}]}",
                  "a series with too few labels");
    state_refused("{\"rstwatch_metrics_state\":1,\"files\":[],\"series\":[{\"metric\":"
                  "\"rstwatch_records_total\",\"labels\":[\"reset\"],\"value\":-1}]}",
                  "a negative counter");

    struct mstate st;
    mstate_init(&st, 0);
    char err[256] = "";
    const char *later = "{\"rstwatch_metrics_state\":1,\"files\":[" FILE_OK "],\"series\":["
                        "{\"metric\":\"rstwatch_new_thing_total\",\"labels\":[],\"value\":9},"
                        "{\"metric\":\"rstwatch_records_total\",\"labels\":[\"reset\"],"
                        "\"value\":7}],\"later_field\":true}";
    ok(mstate_parse(later, strlen(later), &st, err, sizeof err) == 0 && st.nfiles == 1 &&
           st.series.n == 1 && series_total(&st.series, METRIC_RECORDS) == 7,
       "a later version's unknown counters and fields are skipped (%s)", err);
    mstate_free(&st);
}

/* ---- where a log's unread part begins --------------------------------------------------------
 */

/* A log's content for the tests: n records of distinct text. */
static char *content(const char *tag, int n)
{
    size_t cap = (size_t)n * 200 + 1, len = 0;
    char *s = malloc(cap);
    s[0] = 0;
    for (int i = 0; i < n; i++)
        len +=
            (size_t)snprintf(s + len, cap - len,
                             "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-12-07T10:%02d:%02d."
                             "123456Z\",\"pid\":%d,\"tag\":\"%s\",\"pad\":\"%s\"}\n",
                             i / 60 % 60, i % 60, 1000 + i, tag,
                             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    return s;
}

/* What the command stores after reading a log to its end. */
static void remember(struct mstate *st, const char *path, uint64_t dev, uint64_t ino,
                     const char *text, uint64_t offset, uint64_t line)
{
    size_t fp_len = mstate_fp_len(text, strlen(text));
    struct mstate_file f = {.path = (char *)path,
                            .dev = dev,
                            .ino = ino,
                            .size = strlen(text),
                            .offset = offset,
                            .line = line,
                            .fp_len = (uint32_t)fp_len,
                            .fp = mstate_hash(text, fp_len)};
    mstate_add_file(st, &f);
}

static uint64_t resume(struct mstate *st, uint64_t dev, uint64_t ino, const char *text,
                       size_t *matched, uint64_t *line)
{
    size_t len = strlen(text);
    struct mstate_probe p = {dev, ino, (const unsigned char *)text,
                             len < MSTATE_FP_MAX ? len : MSTATE_FP_MAX};
    uint64_t offset, l;
    size_t m = mstate_resume(st, &p, &offset, &l);
    if (matched) *matched = m;
    if (line) *line = l;
    return offset;
}

static void resume_cases(void)
{
    char *a = content("a", 100); /* ~13 KB: longer than a fingerprint */
    char *b = content("b", 100);
    char *short_a = content("a", 3); /* shorter than a fingerprint */
    size_t alen = strlen(a), cut = strlen(short_a);
    struct mstate st;
    mstate_init(&st, 0);
    size_t m;
    uint64_t line;

    ok(resume(&st, 1, 10, a, &m, NULL) == 0 && m == 0, "an unknown log is read from its start");

    /* Read up to the first 3 records, then it grew. */
    remember(&st, "app.log", 1, 10, short_a, cut, 4);
    ok(resume(&st, 1, 10, a, &m, &line) == cut && m == 1 && line == 4,
       "the same file grown resumes where it was left, with its line number");
    ok(resume(&st, 1, 99, a, &m, NULL) == cut && m == 1,
       "renamed (another name, same inode) or copied (another inode): the same content resumes");
    ok(resume(&st, 1, 10, b, &m, NULL) == 0 && m == 0,
       "truncated and written anew (same inode, other content): from the start");
    ok(resume(&st, 1, 10, "", &m, NULL) == 0 && m == 0, "truncated to nothing: from the start");
    char partial[512];
    size_t first = (size_t)(strchr(short_a, '\n') - short_a) + 1;
    memcpy(partial, short_a, first + 40);
    partial[first + 40] = 0;
    ok(resume(&st, 1, 55, partial, &m, NULL) == cut && m == 1,
       "a copy still being made, with one complete line: nothing in it is new");
    partial[first - 1] = 0;
    ok(resume(&st, 1, 55, partial, &m, NULL) == 0 && m == 0,
       "without a complete line it cannot be told apart (and has no line to read)");
    ok(mstate_fp_len(short_a, cut) == first && mstate_fp_len(partial, first - 1) == 0,
       "the fingerprint is the first line with its newline; none without one");
    char *long_line = malloc(MSTATE_FP_MAX + 10);
    memset(long_line, 'x', MSTATE_FP_MAX + 9);
    long_line[MSTATE_FP_MAX + 9] = 0;
    ok(mstate_fp_len(long_line, MSTATE_FP_MAX) == MSTATE_FP_MAX,
       "a first line longer than the fingerprint: its first %d bytes", MSTATE_FP_MAX);
    free(long_line);
    mstate_free(&st);

    /* Read whole (longer than a fingerprint); then copytruncate: a copy holds it, the original
     * starts over; then the copy is gzipped (the same content, decompressed). */
    remember(&st, "app.log", 1, 10, a, alen, 101);
    ok(resume(&st, 1, 11, a, &m, NULL) == alen, "copytruncate's copy: nothing new in it");
    ok(resume(&st, 1, 10, b, &m, NULL) == 0, "copytruncate's original, written anew: all new");
    ok(resume(&st, 1, 12, a, &m, NULL) == alen, "the copy gzipped later: nothing new in it");
    /* A partial copy (gzip still writing) was read to its end: both copies now say so. */
    remember(&st, "app.log.1.gz", 1, 12, a, alen + 500, 104);
    ok(resume(&st, 1, 11, a, &m, &line) == alen + 500 && m == 2 && line == 104,
       "two entries for the same content: the furthest offset wins (never read twice)");
    mstate_free(&st);

    /* An entry without a fingerprint (nothing counted yet) matches its own inode only. */
    struct mstate_file empty = {.path = "e", .dev = 3, .ino = 30};
    mstate_add_file(&st, &empty);
    ok(resume(&st, 3, 30, a, &m, NULL) == 0 && m == 1, "an empty log grown: its own inode matches");
    ok(resume(&st, 3, 31, a, &m, NULL) == 0 && m == 0, "and no other file matches it");
    /* An ignored sibling is never a source. */
    struct mstate_file ign = {.path = "x.9.gz",
                              .dev = 3,
                              .ino = 40,
                              .ignored = 1,
                              .fp_len = (uint32_t)mstate_fp_len(a, alen),
                              .fp = mstate_hash(a, mstate_fp_len(a, alen)),
                              .offset = 999};
    mstate_add_file(&st, &ign);
    ok(resume(&st, 3, 41, a, &m, NULL) == 0 && m == 0,
       "an ignored rotated sibling (never counted) is no proof that content was counted");
    ok(mstate_find(&st, 3, 40, 0) == NULL && mstate_find(&st, 3, 40, 1) != NULL,
       "mstate_find skips ignored entries unless asked");
    struct mstate_probe gz_of_ignored = {3, 42, (const unsigned char *)a, MSTATE_FP_MAX};
    struct mstate_probe other = {3, 43, (const unsigned char *)b, MSTATE_FP_MAX};
    ok(mstate_is_ignored_copy(&st, &gz_of_ignored) && !mstate_is_ignored_copy(&st, &other),
       "a copy of an ignored sibling (its gzip) is known as one; other content is not");
    mstate_free(&st);
    free(a);
    free(b);
    free(short_a);
}

/* ---- the counters ----------------------------------------------------------------------------
 */

static uint64_t incidents_of(const struct series_set *set, const char *label, const char *value)
{
    uint64_t n = 0;
    for (size_t i = 0; i < set->n; i++) {
        const struct series *s = &set->s[i];
        if (s->metric != METRIC_INCIDENTS) continue;
        for (size_t k = 0; metric_defs[s->metric].labels[k]; k++)
            if (!strcmp(metric_defs[s->metric].labels[k], label) && !strcmp(s->values[k], value))
                n += s->value;
    }
    return n;
}

static void add_incident(struct series_set *set, const char *service, uint64_t n)
{
    const char *v[] = {service, "server", "client_abort", "ECONNRESET", "nginx"};
    series_add(set, METRIC_INCIDENTS, v, n);
}

static void cap_cases(void)
{
    struct series_set set;
    series_init(&set, 2);
    add_incident(&set, "10.0.0.1:80", 1);
    add_incident(&set, "10.0.0.2:80", 1);
    add_incident(&set, "10.0.0.3:80", 5);
    add_incident(&set, "10.0.0.4:80", 7);
    add_incident(&set, "10.0.0.1:80", 1);
    ok(incidents_of(&set, "service", "other") == 12 &&
           incidents_of(&set, "service", "10.0.0.1:80") == 2,
       "over the cap, new services are counted as other; admitted ones keep their series");
    ok(series_total(&set, METRIC_INCIDENTS) == 15 && set.folded == 2, "totals stay exact");
    ok(set.labels[0].n == 3, "the label holds its 2 values and other");
    series_free(&set);

    /* Restored series come back whatever the cap (they were admitted before). */
    series_init(&set, 1);
    const char *v1[] = {"a:1", "client", "refused", "ECONNREFUSED", "curl"};
    const char *v2[] = {"b:2", "client", "refused", "ECONNREFUSED", "curl"};
    series_restore(&set, METRIC_INCIDENTS, v1, 3);
    series_restore(&set, METRIC_INCIDENTS, v2, 4);
    add_incident(&set, "b:2", 1);
    ok(incidents_of(&set, "service", "a:1") == 3 && incidents_of(&set, "service", "b:2") == 5,
       "restored values above a lowered cap stay admitted");
    series_free(&set);
}

static void account_cases(void)
{
    struct series_set set;
    series_init(&set, 0);
    struct log_record rec;
    memset(&rec, 0, sizeof rec);
    rec.type = LOG_RESET;
    rec.role = "server";
    rec.local = "10.0.0.7:80";
    rec.peer = "10.1.0.5:40312";
    rec.cause.code = "client_abort";
    rec.err = "ECONNRESET";
    rec.prog = "nginx";
    rec.suppressed = 4;
    series_account(&set, &rec);
    ok(incidents_of(&set, "service", "10.0.0.7:80") == 5,
       "a server's record counts under its listening address, with its suppressed ones");
    ok(incidents_of(&set, "service", "10.1.0.5:40312") == 0, "never under the client's port");

    struct log_count counts[3] = {
        {.type = "reset",
         .role = "client",
         .peer = "127.0.0.1:8080",
         .local = "",
         .cause = "reset_before_response",
         .n = 7,
         .records = 1,
         .suppressed = 2},
        {.type = "eof",
         .role = "client",
         .peer = "127.0.0.1:8080",
         .cause = "idle_reuse",
         .n = 3,
         .suppressed = 3},
        {.type = "close",
         .role = "client",
         .peer = "127.0.0.1:8080",
         .cause = "none",
         .n = 5,
         .suppressed = 5},
    };
    struct log_record sum;
    memset(&sum, 0, sizeof sum);
    sum.type = LOG_SUMMARY;
    sum.prog = "curl";
    sum.counts = counts;
    sum.ncounts = 3;
    series_account(&set, &sum);
    ok(incidents_of(&set, "cause", "reset_before_response") == 2 &&
           incidents_of(&set, "cause", "idle_reuse") == 3 &&
           incidents_of(&set, "cause", "none") == 0,
       "a summary's incident entries add their suppressed counts; clean closes are no incident");
    ok(incidents_of(&set, "errno", "unknown") == 2 && incidents_of(&set, "errno", "none") == 3,
       "a summary has no errno: unknown for resets, none for an eof");
    ok(series_total(&set, METRIC_SUPPRESSED) == 4 + 2 + 3 + 5 &&
           series_total(&set, METRIC_RECORDS) == 2,
       "suppressed records by type, from records and summaries; two records read");

    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    const char *odd[] = {"a\"b\\c\nd", "client", "x", "y", "z"};
    series_add(&set, METRIC_INCIDENTS, odd, 1);
    series_write_prom(&set, out);
    fclose(out);
    ok(strstr(buf, "service=\"a\\\"b\\\\c\\nd\"") != NULL, "label values escape \" \\ and newline");
    ok(strstr(buf, "# TYPE rstwatch_incidents_total counter\n") != NULL &&
           strstr(buf, "rstwatch_log_bad_lines_total 0\n") != NULL &&
           strstr(buf, "rstwatch_retries_total") == NULL,
       "HELP and TYPE per metric; unlabelled counters always present, empty labelled ones left "
       "out");
    free(buf);
    series_free(&set);
}

int main(void)
{
    state_roundtrip();
    state_corrupt();
    resume_cases();
    cap_cases();
    account_cases();
    return tap_done();
}

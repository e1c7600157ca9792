// SPDX-License-Identifier: MIT
/*
 * logread_test.c: the log reader's fast scanner against its reference parser (jansson).
 *
 * report reads hundreds of MB of records with a hand-written scanner; jansson stays the
 * reference. This test feeds both the same lines: the fixture records, records generated with
 * every kind of value the grammar allows (escapes, \u sequences, exponents, huge integers,
 * nesting, repeated keys, whitespace), and many random corruptions of all of them (cut, flipped,
 * inserted and deleted bytes). For every line: when the scanner accepts it, jansson must accept
 * it too and give an equal record; when jansson rejects it, the scanner must not accept it.
 * It also checks that ordinary shim records take the fast path (no silent fallback).
 *
 *   logread_test [FIXTURE_DIR [LOG]]  (default: tests/fixtures, or $RSTWATCH_ROOT/tests/fixtures)
 *
 * With LOG (e.g. scripts/bench/gen_log.py output, or a real log), every line of it is checked
 * the same way too.
 */
#include "logread.h"
#include "tap.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINES 256
#define MUTATIONS_PER_LINE 3000

static char *lines[MAX_LINES];
static size_t nlines;

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;

static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

static void add_line(const char *s, size_t len)
{
    if (nlines == MAX_LINES || len == 0) return;
    char *copy = malloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    lines[nlines++] = copy;
}

static void load_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 7 || strcmp(e->d_name + n - 6, ".jsonl") != 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while ((len = getline(&line, &cap, f)) > 0) {
            if (line[len - 1] == '\n') len--;
            add_line(line, (size_t)len);
        }
        free(line);
        fclose(f);
    }
    closedir(d);
}

/* Lines that exercise the grammar where the scanner and jansson could disagree. */
static const char *const crafted[] = {
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02.123456Z\",\"pid\":4242}",
    " \t{ \"v\" : 1 , \"type\" : \"eof\" , \"time\" : \"2026-11-23T05:31:02Z\" , \"pid\" : 1 } "
    "\r\n",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"prog\":"
    "\"a\\u00e9\\\"b\\\\c\\/\\n\"}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"prog\":"
    "\"\\ud83d\\ude00\"}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"prog\":\"\\u0000\"}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"prog\":\"\\ud800\"}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"prog\":\"x\","
    "\"prog\":\"y\"}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"ty\\u0070e\":"
    "\"eof\"}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"age_ms\":1e3,\"idle_"
    "ms\":-0.0}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"age_ms\":1."
    "7976931348623157e308}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"age_ms\":1e400}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"age_ms\":0."
    "1000000000000000055511151231257827}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"age_ms\":123456."
    "789012345}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"fd\":"
    "9223372036854775807}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"fd\":"
    "9223372036854775808}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"fd\":-12,\"conn\":1."
    "0}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"fd\":012}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"x\":[[[[[[[[[[[[[[[["
    "[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"x\":{\"a\":[1,2,{"
    "\"b\":null}],\"c\":true}}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"tcp\":null,"
    "\"cause\":\"x\",\"events\":{}}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"tcp\":{\"state\":"
    "\"ESTABLISHED_AND_A_VERY_LONG_STATE_NAME\",\"rtt_us\":1,\"rtt_us\":2}}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"events\":[1,\"a\",{"
    "\"t_ms\":\"x\"},{\"t_ms\":1,\"n\":0,\"ret\":-5},{\"op\":\"send\"}]}",
    "{\"v\":1,\"type\":\"summary\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"host\":\"h\","
    "\"since\":\"2026-11-23T05:30:02Z\",\"period_ms\":60000,\"counts\":[{\"type\":\"reset\","
    "\"role\":\"server\",\"peer\":\"10.0.0.1\",\"local\":\"10.0.0.2:80\",\"cause\":\"client_"
    "abort\",\"n\":12,\"records\":10,\"suppressed\":2},7]}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-02-30T05:31:02Z\",\"pid\":7}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2024-02-29T23:59:60.5+01:30\",\"pid\":7}",
    "{\"v\":1.0,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7}x",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"prog\":"
    "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"prog\":"
    "\"\xc0\xaf\"}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"prog\":"
    "\"\xed\xa0\x80\"}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":7,\"prog\":\"a\tb\"}",
    /* pid 0: a fork child under a seccomp filter could not learn it; read, as unknown */
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":0,\"tid\":0}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":-0}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":-1}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":0.0}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":null}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"pid\":2147483648}",
    "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\",\"prog\":\"x\"}",
    "[1,2]",
    "\"just a string\"",
    "",
};

/* Inserts a string at a random position. */
static size_t insert(char *buf, size_t len, size_t cap, const char *s)
{
    size_t n = strlen(s), at = rnd((unsigned)len + 1);
    if (len + n >= cap) return len;
    memmove(buf + at + n, buf + at, len - at);
    memcpy(buf + at, s, n);
    return len + n;
}

static size_t mutate(char *buf, size_t len, size_t cap)
{
    static const char *const bits[] = {
        "\\", "\"", "\\u00e9", "\\ud83d\\ude00", "1e5",  "-",    ".5", ",", ":", "{", "}",
        "[",  "]",  " ",       "null",           "\xc3", "\xff", "0"};
    switch (rnd(6)) {
    case 0: /* cut */ return len ? rnd((unsigned)len) : 0;
    case 1: /* flip a byte */
        if (len) buf[rnd((unsigned)len)] ^= (char)(1u << rnd(8));
        return len;
    case 2: /* delete a run */
        if (len > 4) {
            size_t at = rnd((unsigned)len - 2), n = 1 + rnd(3);
            if (at + n > len) n = len - at;
            memmove(buf + at, buf + at + n, len - at - n);
            return len - n;
        }
        return len;
    case 3: /* a digit changed: values move in and out of range */
        for (int tries = 0; tries < 20 && len; tries++) {
            size_t at = rnd((unsigned)len);
            if (buf[at] >= '0' && buf[at] <= '9') {
                buf[at] = (char)('0' + rnd(10));
                break;
            }
        }
        return len;
    default: return insert(buf, len, cap, bits[rnd(sizeof bits / sizeof bits[0])]);
    }
}

struct verdict {
    unsigned long long lines, fast, given_up, both_rejected, mismatches;
};

static void check_line(const char *buf, size_t len, struct verdict *v, int report_mismatch)
{
    struct log_record fast, ref;
    char err[256];
    int rf = logread_parse_line_fast(buf, len, &fast);
    int rr = logread_parse_line_reference(buf, len, &ref, err, sizeof err);
    v->lines++;
    int bad = 0;
    if (rf == 0) {
        v->fast++;
        bad = rr != 0 || !log_record_equal(&fast, &ref);
    } else if (rr == 0) {
        v->given_up++;
    } else {
        v->both_rejected++;
    }
    if (bad) {
        v->mismatches++;
        if (report_mismatch && v->mismatches <= 5)
            printf("# mismatch (reference %s): %.*s\n", rr ? err : "accepts, different record",
                   (int)(len > 300 ? 300 : len), buf);
    }
    log_record_free(&fast);
    if (rr == 0) log_record_free(&ref);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/fixtures";
    char path[4096];
    const char *root = getenv("RSTWATCH_ROOT");
    load_dir(dir);
    if (!nlines && root) {
        snprintf(path, sizeof path, "%s/tests/fixtures", root);
        load_dir(path);
    }
    ok(nlines >= 8, "fixture records loaded (%zu)", nlines);
    size_t fixtures = nlines;

    struct verdict plain = {0};
    for (size_t i = 0; i < fixtures; i++)
        check_line(lines[i], strlen(lines[i]), &plain, 1);
    ok(plain.mismatches == 0, "fixture records: scanner and jansson agree");
    /* The fixtures hold one deliberately hostile record (a control character in a hint). */
    ok(plain.fast + 1 >= plain.lines - plain.both_rejected,
       "fixture records take the fast path (%llu of %llu)", plain.fast,
       plain.lines - plain.both_rejected);

    struct verdict craft = {0};
    for (size_t i = 0; i < sizeof crafted / sizeof crafted[0]; i++) {
        add_line(crafted[i], strlen(crafted[i]));
        check_line(crafted[i], strlen(crafted[i]), &craft, 1);
    }
    ok(craft.mismatches == 0,
       "crafted lines: scanner and jansson agree (%llu fast, %llu by jansson)", craft.fast,
       craft.given_up);
    ok(craft.fast >= 10, "crafted lines with escapes, exponents and nesting mostly stay fast");

    /* A field written as null is absent, and remembered as null by both parsers. */
    static const char null_line[] = "{\"v\":1,\"type\":\"eof\",\"time\":\"2026-11-23T05:31:02Z\","
                                    "\"pid\":7,\"errno\":null,\"tcp\":null,\"fd\":3}";
    struct log_record fast, ref;
    char nerr[256];
    int rf = logread_parse_line_fast(null_line, sizeof null_line - 1, &fast);
    int rr = logread_parse_line_reference(null_line, sizeof null_line - 1, &ref, nerr, sizeof nerr);
    uint64_t want = LOG_NULL(err) | LOG_NULL(tcp);
    ok(rf == 0 && rr == 0 && fast.nulls == want && ref.nulls == want && !fast.err &&
           !fast.tcp.present && fast.fd == 3,
       "errno:null and tcp:null: absent values, null bits set by both parsers");
    if (rf == 0) log_record_free(&fast);
    if (rr == 0) log_record_free(&ref);

    /* A pid of 0 is unknown, not invalid: both parsers keep the record, the scanner on its own. */
    static const char unknown_pid[] =
        "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\","
        "\"pid\":0,\"tid\":0,\"prog\":\"sshd\",\"conn\":3}";
    rf = logread_parse_line_fast(unknown_pid, sizeof unknown_pid - 1, &fast);
    rr = logread_parse_line_reference(unknown_pid, sizeof unknown_pid - 1, &ref, nerr, sizeof nerr);
    char pidtext[LOG_PID_TEXT];
    ok(rf == 0 && rr == 0 && fast.pid == LOG_PID_UNKNOWN && log_record_equal(&fast, &ref) &&
           strcmp(log_pid_text(&fast, pidtext), "pid unknown") == 0,
       "pid 0: read by both parsers as unknown (%s)", rr ? nerr : "ok");
    if (rf == 0) log_record_free(&fast);
    if (rr == 0) log_record_free(&ref);
    static const char missing_pid[] =
        "{\"v\":1,\"type\":\"reset\",\"time\":\"2026-11-23T05:31:02Z\"}";
    rf = logread_parse_line_fast(missing_pid, sizeof missing_pid - 1, &fast);
    rr = logread_parse_line_reference(missing_pid, sizeof missing_pid - 1, &ref, nerr, sizeof nerr);
    ok(rf != 0 && rr != 0 && strstr(nerr, "missing required field \"pid\""),
       "no pid at all is still rejected by both (%s)", rr ? nerr : "accepted");
    if (rf == 0) log_record_free(&fast);
    if (rr == 0) log_record_free(&ref);

    struct verdict mut = {0};
    char buf[16384];
    for (size_t i = 0; i < nlines; i++) {
        size_t base = strlen(lines[i]);
        if (base >= sizeof buf / 2) continue;
        for (int m = 0; m < MUTATIONS_PER_LINE; m++) {
            memcpy(buf, lines[i], base);
            size_t len = base;
            for (unsigned k = 1 + rnd(3); k > 0; k--)
                len = mutate(buf, len, sizeof buf);
            check_line(buf, len, &mut, 1);
        }
    }
    ok(mut.mismatches == 0,
       "%llu corrupted lines: never accepted by the scanner alone, equal records otherwise "
       "(%llu fast, %llu by jansson, %llu rejected by both)",
       mut.lines, mut.fast, mut.given_up, mut.both_rejected);

    /* logread_parse_line combines the two: same answer as the reference on every line. */
    int same = 1;
    for (size_t i = 0; i < nlines; i++) {
        struct log_record a, b;
        char e1[256], e2[256];
        int ra = logread_parse_line(lines[i], strlen(lines[i]), &a, e1, sizeof e1);
        int rb = logread_parse_line_reference(lines[i], strlen(lines[i]), &b, e2, sizeof e2);
        if (ra != rb || (ra == 0 && !log_record_equal(&a, &b)) || (ra && strcmp(e1, e2) != 0))
            same = 0;
        if (ra == 0) log_record_free(&a);
        if (rb == 0) log_record_free(&b);
    }
    ok(same, "logread_parse_line gives the reference's record or its error message");
    if (argc > 2) {
        FILE *f = fopen(argv[2], "r");
        struct verdict big = {0};
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (f && (len = getline(&line, &cap, f)) > 0) {
            if (line[len - 1] == '\n') len--;
            check_line(line, (size_t)len, &big, 1);
        }
        free(line);
        if (f) fclose(f);
        ok(f && big.mismatches == 0 && big.given_up == 0,
           "%s: %llu lines, %llu fast, %llu by jansson, %llu mismatches", argv[2], big.lines,
           big.fast, big.given_up, big.mismatches);
    }
    for (size_t i = 0; i < nlines; i++)
        free(lines[i]);
    return tap_done();
}

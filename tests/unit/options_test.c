// SPDX-License-Identifier: MIT
/* options_test.c: options_load (shim/options.c) through a stub getenv.
 *
 * Each case sets a few RSTWATCH_* variables and states the resulting
 * options and the variables that must draw a warning: exactly one warning
 * per malformed variable, naming it, one line, and the default kept.
 * Prints TAP; exits 1 on any failure. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#include "options.h"

/* The case table starts each expectation from DEFAULTS and overrides fields. */
#pragma GCC diagnostic ignored "-Woverride-init"

/* ---- the stub environment and warning sink ---------------------------------------- */

#define MAX_VARS 12
static const char *const *stub_env; /* name, value, name, value, ..., NULL */
static int getenv_calls[64];
static char warnings[16][300];
static int nwarn;

static const char *stub_getenv(const char *name)
{
    for (size_t i = 0; i < option_count; i++)
        if (!strcmp(option_defs[i].name, name)) getenv_calls[i]++;
    for (const char *const *e = stub_env; e && *e; e += 2)
        if (!strcmp(e[0], name)) return e[1];
    return NULL;
}

static void stub_warn(const char *line)
{
    if (nwarn < 16) snprintf(warnings[nwarn], sizeof warnings[0], "%s", line);
    nwarn++;
}

static int run(const char *const *env, struct options *o)
{
    stub_env = env;
    nwarn = 0;
    memset(getenv_calls, 0, sizeof getenv_calls);
    memset(o, 0x5a, sizeof *o); /* options_load must set everything */
    return options_load(o, stub_getenv, stub_warn);
}

/* ---- expectations ------------------------------------------------------------------ */

struct expect {
    const char *log, *config, *inject; /* NULL: "" */
    int record, retry;                 /* enum values */
    unsigned events;
    int disabled;
    unsigned attempts, base_ms, cap_ms, replay_max;
};

#define DEFAULTS                                                                                   \
    .record = RECORD_RESETS, .retry = RETRY_OFF, .events = 64, .attempts = 3, .base_ms = 50,       \
    .cap_ms = 2000, .replay_max = 65536

static int same(const struct options *o, const struct expect *x, char *why, size_t n)
{
#define CHK(cond, ...)                                                                             \
    if (!(cond)) {                                                                                 \
        snprintf(why, n, __VA_ARGS__);                                                             \
        return 0;                                                                                  \
    }
    CHK(!strcmp(o->log, x->log ? x->log : ""), "log \"%.60s\"", o->log);
    CHK(!strcmp(o->config, x->config ? x->config : ""), "config \"%.60s\"", o->config);
    CHK(!strcmp(o->inject, x->inject ? x->inject : ""), "inject \"%.60s\"", o->inject);
    CHK((int)o->record == x->record, "record %d", o->record);
    CHK((int)o->retry == x->retry, "retry %d", o->retry);
    CHK(o->events == x->events, "events %u", o->events);
    CHK(o->disabled == x->disabled, "disabled %d", o->disabled);
    CHK(o->retry_attempts == x->attempts, "attempts %u", o->retry_attempts);
    CHK(o->retry_base_ms == x->base_ms, "base_ms %u", o->retry_base_ms);
    CHK(o->retry_cap_ms == x->cap_ms, "cap_ms %u", o->retry_cap_ms);
    CHK(o->replay_max == x->replay_max, "replay_max %u", o->replay_max);
#undef CHK
    return 1;
}

static char long_path[OPT_PATH_MAX + 10];
static char max_path[OPT_PATH_MAX];
static char long_garbage[300];

struct opt_case {
    const char *name;
    const char *env[2 * MAX_VARS + 1];
    struct expect want;
    const char *bad[6]; /* variables that must each get exactly one warning */
};

enum { CASE_NEWLINE = 29 };

static const struct opt_case cases[] = {
    {"no variables: every default, no warning", {NULL}, {DEFAULTS}, {NULL}},
    {"good values for every variable",
     {"RSTWATCH_LOG",
      "stderr",
      "RSTWATCH_RECORD",
      "all",
      "RSTWATCH_RETRY",
      "idempotent",
      "RSTWATCH_CONFIG",
      "/etc/rstwatch.json",
      "RSTWATCH_INJECT",
      "reset:after=2",
      "RSTWATCH_EVENTS",
      "256",
      "RSTWATCH_DISABLE",
      "1",
      "RSTWATCH_RETRY_ATTEMPTS",
      "5",
      "RSTWATCH_RETRY_BASE_MS",
      "100",
      "RSTWATCH_RETRY_CAP_MS",
      "3000",
      "RSTWATCH_REPLAY_MAX",
      "1024",
      NULL},
     {.log = "stderr",
      .config = "/etc/rstwatch.json",
      .inject = "reset:after=2",
      .record = RECORD_ALL,
      .retry = RETRY_IDEMPOTENT,
      .events = 256,
      .disabled = 1,
      .attempts = 5,
      .base_ms = 100,
      .cap_ms = 3000,
      .replay_max = 1024},
     {NULL}},
    {"RSTWATCH_RECORD=errors, RETRY=connect, DISABLE=0",
     {"RSTWATCH_RECORD", "errors", "RSTWATCH_RETRY", "connect", "RSTWATCH_DISABLE", "0", NULL},
     {DEFAULTS, .record = RECORD_ERRORS, .retry = RETRY_CONNECT},
     {NULL}},
    {"log templates and fd:N are kept verbatim",
     {"RSTWATCH_LOG", "fd:3", NULL},
     {DEFAULTS, .log = "fd:3"},
     {NULL}},
    {"log path with %p %t %h",
     {"RSTWATCH_LOG", "/var/log/rw/%h-%p-%t.jsonl", NULL},
     {DEFAULTS, .log = "/var/log/rw/%h-%p-%t.jsonl"},
     {NULL}},
    {"a 511-byte path fits", {"RSTWATCH_LOG", max_path, NULL}, {DEFAULTS, .log = max_path}, {NULL}},

    /* RSTWATCH_EVENTS: 8..4096, rounded up to a power of two */
    {"EVENTS=8 (minimum)", {"RSTWATCH_EVENTS", "8", NULL}, {DEFAULTS, .events = 8}, {NULL}},
    {"EVENTS=9 rounds up to 16", {"RSTWATCH_EVENTS", "9", NULL}, {DEFAULTS, .events = 16}, {NULL}},
    {"EVENTS=64", {"RSTWATCH_EVENTS", "64", NULL}, {DEFAULTS, .events = 64}, {NULL}},
    {"EVENTS=65 rounds up to 128",
     {"RSTWATCH_EVENTS", "65", NULL},
     {DEFAULTS, .events = 128},
     {NULL}},
    {"EVENTS=100 rounds up to 128",
     {"RSTWATCH_EVENTS", "100", NULL},
     {DEFAULTS, .events = 128},
     {NULL}},
    {"EVENTS=2049 rounds up to 4096",
     {"RSTWATCH_EVENTS", "2049", NULL},
     {DEFAULTS, .events = 4096},
     {NULL}},
    {"EVENTS=4096 (maximum)",
     {"RSTWATCH_EVENTS", "4096", NULL},
     {DEFAULTS, .events = 4096},
     {NULL}},
    {"EVENTS=0016 (leading zeros are still decimal)",
     {"RSTWATCH_EVENTS", "0016", NULL},
     {DEFAULTS, .events = 16},
     {NULL}},
    {"EVENTS empty", {"RSTWATCH_EVENTS", "", NULL}, {DEFAULTS}, {"RSTWATCH_EVENTS"}},
    {"EVENTS garbage", {"RSTWATCH_EVENTS", "lots", NULL}, {DEFAULTS}, {"RSTWATCH_EVENTS"}},
    {"EVENTS negative", {"RSTWATCH_EVENTS", "-64", NULL}, {DEFAULTS}, {"RSTWATCH_EVENTS"}},
    {"EVENTS with a plus sign", {"RSTWATCH_EVENTS", "+64", NULL}, {DEFAULTS}, {"RSTWATCH_EVENTS"}},
    {"EVENTS hex", {"RSTWATCH_EVENTS", "0x40", NULL}, {DEFAULTS}, {"RSTWATCH_EVENTS"}},
    {"EVENTS with spaces", {"RSTWATCH_EVENTS", " 64", NULL}, {DEFAULTS}, {"RSTWATCH_EVENTS"}},
    {"EVENTS trailing junk", {"RSTWATCH_EVENTS", "64k", NULL}, {DEFAULTS}, {"RSTWATCH_EVENTS"}},
    {"EVENTS=7 (below the minimum)",
     {"RSTWATCH_EVENTS", "7", NULL},
     {DEFAULTS},
     {"RSTWATCH_EVENTS"}},
    {"EVENTS=0", {"RSTWATCH_EVENTS", "0", NULL}, {DEFAULTS}, {"RSTWATCH_EVENTS"}},
    {"EVENTS=4097 (above the maximum)",
     {"RSTWATCH_EVENTS", "4097", NULL},
     {DEFAULTS},
     {"RSTWATCH_EVENTS"}},
    {"EVENTS huge", {"RSTWATCH_EVENTS", "4294967296", NULL}, {DEFAULTS}, {"RSTWATCH_EVENTS"}},
    {"EVENTS overflowing 64 bits",
     {"RSTWATCH_EVENTS", "99999999999999999999", NULL},
     {DEFAULTS},
     {"RSTWATCH_EVENTS"}},
    {"EVENTS that wraps 64 bits to a small value",
     {"RSTWATCH_EVENTS", "18446744073709551680", NULL},
     {DEFAULTS},
     {"RSTWATCH_EVENTS"}},

    /* enumerations */
    {"RECORD is case-sensitive",
     {"RSTWATCH_RECORD", "RESETS", NULL},
     {DEFAULTS},
     {"RSTWATCH_RECORD"}},
    {"RECORD empty", {"RSTWATCH_RECORD", "", NULL}, {DEFAULTS}, {"RSTWATCH_RECORD"}},
    [CASE_NEWLINE] = {"RECORD with a trailing newline",
                      {"RSTWATCH_RECORD", "all\n", NULL},
                      {DEFAULTS},
                      {"RSTWATCH_RECORD"}},
    {"RETRY garbage", {"RSTWATCH_RETRY", "always", NULL}, {DEFAULTS}, {"RSTWATCH_RETRY"}},
    {"DISABLE=yes", {"RSTWATCH_DISABLE", "yes", NULL}, {DEFAULTS}, {"RSTWATCH_DISABLE"}},
    {"DISABLE=2", {"RSTWATCH_DISABLE", "2", NULL}, {DEFAULTS}, {"RSTWATCH_DISABLE"}},

    /* paths */
    {"LOG=fd: without a number", {"RSTWATCH_LOG", "fd:", NULL}, {DEFAULTS}, {"RSTWATCH_LOG"}},
    {"LOG=fd:abc", {"RSTWATCH_LOG", "fd:abc", NULL}, {DEFAULTS}, {"RSTWATCH_LOG"}},
    {"LOG=fd:-1", {"RSTWATCH_LOG", "fd:-1", NULL}, {DEFAULTS}, {"RSTWATCH_LOG"}},
    {"LOG=fd: overflowing",
     {"RSTWATCH_LOG", "fd:99999999999999999999", NULL},
     {DEFAULTS},
     {"RSTWATCH_LOG"}},
    {"LOG empty", {"RSTWATCH_LOG", "", NULL}, {DEFAULTS}, {"RSTWATCH_LOG"}},
    {"LOG longer than OPT_PATH_MAX",
     {"RSTWATCH_LOG", long_path, NULL},
     {DEFAULTS},
     {"RSTWATCH_LOG"}},
    {"CONFIG longer than OPT_PATH_MAX",
     {"RSTWATCH_CONFIG", long_path, NULL},
     {DEFAULTS},
     {"RSTWATCH_CONFIG"}},
    {"INJECT longer than OPT_PATH_MAX",
     {"RSTWATCH_INJECT", long_path, NULL},
     {DEFAULTS},
     {"RSTWATCH_INJECT"}},

    /* retry numbers */
    {"RETRY_ATTEMPTS=1 and 20 are the bounds",
     {"RSTWATCH_RETRY_ATTEMPTS", "20", NULL},
     {DEFAULTS, .attempts = 20},
     {NULL}},
    {"RETRY_ATTEMPTS=0",
     {"RSTWATCH_RETRY_ATTEMPTS", "0", NULL},
     {DEFAULTS},
     {"RSTWATCH_RETRY_ATTEMPTS"}},
    {"RETRY_ATTEMPTS=21",
     {"RSTWATCH_RETRY_ATTEMPTS", "21", NULL},
     {DEFAULTS},
     {"RSTWATCH_RETRY_ATTEMPTS"}},
    {"RETRY_BASE_MS=60000 ok, CAP_MS=600000 ok",
     {"RSTWATCH_RETRY_BASE_MS", "60000", "RSTWATCH_RETRY_CAP_MS", "600000", NULL},
     {DEFAULTS, .base_ms = 60000, .cap_ms = 600000},
     {NULL}},
    {"RETRY_BASE_MS=60001",
     {"RSTWATCH_RETRY_BASE_MS", "60001", NULL},
     {DEFAULTS},
     {"RSTWATCH_RETRY_BASE_MS"}},
    {"RETRY_CAP_MS below BASE_MS is raised to it",
     {"RSTWATCH_RETRY_BASE_MS", "500", "RSTWATCH_RETRY_CAP_MS", "100", NULL},
     {DEFAULTS, .base_ms = 500, .cap_ms = 500},
     {NULL}},
    {"REPLAY_MAX=0 (replay nothing) is valid",
     {"RSTWATCH_REPLAY_MAX", "0", NULL},
     {DEFAULTS, .replay_max = 0},
     {NULL}},
    {"REPLAY_MAX=16777216 (maximum)",
     {"RSTWATCH_REPLAY_MAX", "16777216", NULL},
     {DEFAULTS, .replay_max = 16777216},
     {NULL}},
    {"REPLAY_MAX=16777217",
     {"RSTWATCH_REPLAY_MAX", "16777217", NULL},
     {DEFAULTS},
     {"RSTWATCH_REPLAY_MAX"}},

    /* several at once */
    {"five bad and two good variables: five warnings, the good ones applied",
     {"RSTWATCH_EVENTS", "99999999999999999999", "RSTWATCH_RECORD", "some", "RSTWATCH_RETRY",
      "connect", "RSTWATCH_DISABLE", "true", "RSTWATCH_RETRY_ATTEMPTS", "-3", "RSTWATCH_REPLAY_MAX",
      "1e6", "RSTWATCH_LOG", "stderr", NULL},
     {DEFAULTS, .retry = RETRY_CONNECT, .log = "stderr"},
     {"RSTWATCH_EVENTS", "RSTWATCH_RECORD", "RSTWATCH_DISABLE", "RSTWATCH_RETRY_ATTEMPTS",
      "RSTWATCH_REPLAY_MAX"}},
    {"a long garbage value is cut in the warning",
     {"RSTWATCH_RECORD", long_garbage, NULL},
     {DEFAULTS},
     {"RSTWATCH_RECORD"}},
};

/* How many warnings name var (as "ignoring VAR="). */
static int warnings_naming(const char *var)
{
    char key[80];
    snprintf(key, sizeof key, "%s=", var);
    int n = 0;
    for (int i = 0; i < nwarn && i < 16; i++)
        if (strstr(warnings[i], key)) n++;
    return n;
}

static void check_cases(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct opt_case *t = &cases[i];
        struct options o;
        int bad = run(t->env, &o);
        char why[200] = "";
        int good = same(&o, &t->want, why, sizeof why);
        int nbad = 0;
        while (nbad < 6 && t->bad[nbad])
            nbad++;
        if (good && (bad != nbad || nwarn != nbad))
            good = 0,
            snprintf(why, sizeof why, "%d warnings (returned %d), expected %d", nwarn, bad, nbad);
        for (int k = 0; good && k < nbad; k++)
            if (warnings_naming(t->bad[k]) != 1)
                good = 0, snprintf(why, sizeof why, "%s named by %d warnings", t->bad[k],
                                   warnings_naming(t->bad[k]));
        for (int k = 0; good && k < nwarn; k++) {
            /* one complete line that says what was expected and what is used */
            /* (a raw newline from the value itself is checked apart, below) */
            if ((strchr(warnings[k], '\n') && i != CASE_NEWLINE) ||
                !strstr(warnings[k], "expected") || !strstr(warnings[k], "using") ||
                strlen(warnings[k]) > 250)
                good = 0, snprintf(why, sizeof why, "warning \"%.180s\"", warnings[k]);
        }
        int each_once = 1;
        for (size_t k = 0; k < option_count; k++)
            each_once &= getenv_calls[k] == 1;
        if (good && !each_once)
            good = 0, snprintf(why, sizeof why, "not every variable read exactly once");
        if (!ok(good, "%s", t->name)) {
            printf("#   %s\n", why);
            for (int k = 0; k < nwarn && k < 16; k++)
                printf("#   warning: %s\n", warnings[k]);
        }
    }
}

static void check_warning_text(void)
{
    struct options o;
    const char *env1[] = {"RSTWATCH_EVENTS", "lots", NULL};
    run(env1, &o);
    ok(nwarn == 1 && strstr(warnings[0], "RSTWATCH_EVENTS=lots") &&
           strstr(warnings[0], "8..4096") && strstr(warnings[0], "using 64"),
       "the warning quotes the value, the accepted range and the default: \"%s\"", warnings[0]);

    const char *env2[] = {"RSTWATCH_RECORD", long_garbage, NULL};
    run(env2, &o);
    ok(nwarn == 1 && strstr(warnings[0], "...") && !strstr(warnings[0], long_garbage),
       "a 299-byte value is shortened with \"...\" in the warning");

    /* options.h promises warn_fn "a complete one-line message (no newline)",
     * whatever the value holds (sink_warn sanitizes too, other warn_fns may not). */
    const char *envnl[] = {"RSTWATCH_RECORD", "all\n\x1b[2J", NULL};
    run(envnl, &o);
    ok(nwarn == 1 && !strpbrk(warnings[0], "\n\x1b"),
       "a value with a newline and an escape still gives a one-line warning");

    const char *env3[] = {"RSTWATCH_CONFIG", "", NULL};
    run(env3, &o);
    ok(nwarn == 1 && strstr(warnings[0], "using none"), "an empty CONFIG says it uses none: \"%s\"",
       warnings[0]);

    /* The documented defaults in the table are the ones options_defaults applies. */
    struct options d;
    options_defaults(&d);
    int doc_ok = 1;
    for (size_t i = 0; i < option_count; i++) {
        const struct option_def *od = &option_defs[i];
        if (!od->name || strncmp(od->name, "RSTWATCH_", 9) || !od->doc || !*od->doc ||
            !od->values || !od->parse)
            doc_ok = 0;
        if (od->def && *od->def && strcmp(od->name, "RSTWATCH_LOG")) {
            /* parsing the documented default gives the built-in default */
            struct options p;
            options_defaults(&p);
            memset(&p, 0x5a, sizeof p);
            options_defaults(&p);
            if (od->parse(od->def, &p) || memcmp(&p, &d, sizeof p)) {
                printf("#   %s: documented default \"%s\" differs from options_defaults\n",
                       od->name, od->def);
                doc_ok = 0;
            }
        }
    }
    ok(doc_ok, "every option documents itself, and its documented default is the real one");
}

int main(void)
{
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[0] = '/';
    memset(max_path, 'b', sizeof max_path - 1);
    max_path[0] = '/';
    memset(long_garbage, 'x', sizeof long_garbage - 1);
    check_cases();
    check_warning_text();
    return tap_done();
}

// SPDX-License-Identifier: MIT
/* ratelimit_test.c: the RSTWATCH_RATE parser (shim/options.c) and the rate
 * limiter's arithmetic (shim/ratelimit.c): a burst then one per interval per
 * key, the byte budget, the "other" slot when the table is full, and the
 * counting rule summaries rely on (every due record counted exactly once).
 * Prints TAP; exits 1 on any failure. */
#include <stdio.h>
#include <string.h>

#include "tap.h"

#include "options.h"
#include "ratelimit.h"

#define S 1000000000ull

/* Key n: a client-side reset to 10.x.y.z:80. */
static struct rl_id key(unsigned n)
{
    struct rl_id id;
    memset(&id, 0, sizeof id);
    id.type = ratelimit_type_index("reset");
    id.cause = 4;
    id.family = 2;
    id.peer_port = 80;
    memcpy(id.peer_addr, &n, sizeof n);
    return id;
}

static void describe(struct rl_key *k, const void *ctx)
{
    unsigned n = *(const unsigned *)ctx;
    k->type = "reset";
    k->cause = "idle_reuse";
    snprintf(k->peer, sizeof k->peer, "10.%u.%u.%u:80", n >> 16 & 255, n >> 8 & 255, n & 255);
}

static struct rl_slot *count(unsigned n)
{
    struct rl_id id = key(n);
    return ratelimit_count(&id, describe, &n);
}

/* Sum of every slot's counts (drains them). */
static void drain_all(uint64_t *n, uint64_t *records, uint64_t *suppressed, size_t *keys)
{
    *n = *records = *suppressed = 0;
    *keys = 0;
    struct rl_counts c;
    for (size_t i = 0; i < ratelimit_nslots(); i++) {
        if (!ratelimit_drain(i, &c)) continue;
        *n += c.n, *records += c.records, *suppressed += c.suppressed;
        (*keys)++;
    }
}

int main(void)
{
    struct rate_limits r;
    options_rate_defaults(&r);
    ok(!options_parse_rate("burst=5,interval=250ms,budget=64KiB/10s,summary=2m", &r) &&
           r.burst == 5 && r.interval_ns == S / 4 && r.budget_bytes == 65536 &&
           r.budget_period_ns == 10 * S && r.summary_ns == 120 * S && !r.off,
       "a full RSTWATCH_RATE value parses");
    options_rate_defaults(&r);
    ok(!options_parse_rate("budget=1MiB/min", &r) && r.budget_bytes == 1048576 &&
           r.budget_period_ns == 60 * S && r.burst == 10,
       "a bare unit is one of it (1MiB/min); unnamed keys keep their defaults");
    ok(!options_parse_rate("off", &r) && r.off, "off");
    const char *bad[] = {"burst=0",    "burst=x", "interval=5parsecs", "budget=1MiB", "burst=1,",
                         "speed=3",    "",        "interval=0s",       "budget=0/s",  "burst=10,,x",
                         "summary=-1s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct rate_limits before, after;
        options_rate_defaults(&before);
        after = before;
        ok(options_parse_rate(bad[i], &after) != 0 && !memcmp(&before, &after, sizeof after),
           "\"%s\" is refused and changes nothing", bad[i]);
    }

    /* burst 3, then one per second */
    options_rate_defaults(&r);
    r.burst = 3;
    r.interval_ns = S;
    r.budget_bytes = 1000;
    r.budget_period_ns = 10 * S;
    ratelimit_configure(&r);
    uint64_t t = 100 * S;
    int admitted = 0;
    for (int i = 0; i < 10; i++)
        admitted += ratelimit_admit(count(1), t);
    ok(admitted == 3, "a burst of 3 at one instant, the rest left out (admitted %d)", admitted);
    ok(ratelimit_admit(count(2), t), "another peer has its own burst");
    struct rl_slot *sa = count(1);
    ok(ratelimit_admit(sa, t + S + 1), "one more after an interval");
    ok(ratelimit_take_suppressed(sa) == 7, "... and it reports the 7 left out before it");
    ok(!ratelimit_admit(count(1), t + S + 2), "but not two");

    uint64_t n, rec, sup;
    size_t keys;
    /* the record written above was not marked written: do what record_write does */
    drain_all(&n, &rec, &sup, &keys);
    ok(n == 13 && sup == 1 && keys == 2,
       "drain: 13 due over 2 keys, 1 unreported (n=%llu sup=%llu keys=%zu)", (unsigned long long)n,
       (unsigned long long)sup, keys);
    drain_all(&n, &rec, &sup, &keys);
    ok(n == 0 && keys == 0, "a drained table is empty");

    /* the byte budget: 1000 bytes per 10 s */
    ok(ratelimit_budget(600, t), "600 bytes fit the budget");
    ok(!ratelimit_budget(600, t), "600 more do not");
    ok(ratelimit_budget(600, t + 6 * S), "after 6 s they do");

    /* a full table: new keys are counted under "other", never lost */
    options_rate_defaults(&r);
    r.off = 1;
    ratelimit_configure(&r);
    uint64_t total = 0;
    for (unsigned i = 0; i < RL_SLOTS + 500; i++) {
        ratelimit_written(count(1000 + i));
        total++;
    }
    struct rl_counts c;
    uint64_t other = 0;
    int named = 0;
    n = 0;
    for (size_t i = 0; i < ratelimit_nslots(); i++) {
        if (!ratelimit_drain(i, &c)) continue;
        n += c.n;
        if (!strcmp(c.key.peer, "other")) other += c.n;
        if (c.n == 1 && !strcmp(c.key.peer, "10.0.3.233:80")) named = 1;
    }
    ok(named, "a key's text is the one its describe function gave");
    ok(n == total, "a full table still counts every record (%llu of %llu)", (unsigned long long)n,
       (unsigned long long)total);
    ok(other >= 500, "the overflow went to the \"other\" slot (%llu)", (unsigned long long)other);
    return tap_done();
}

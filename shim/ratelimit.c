// SPDX-License-Identifier: MIT
/* ratelimit.c: per-key record rate limits, the byte budget and the counts
 * behind summary records (see ratelimit.h). Every operation is a handful of
 * atomics on preallocated memory. */
#include "ratelimit.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#define RL_PROBE 32 /* slots looked at before a key goes to "other" */

_Static_assert(sizeof(struct rl_id) % 8 == 0, "rl_id is hashed a word at a time");

struct rl_slot {
    _Atomic uint64_t hash; /* 0: free */
    _Atomic int ready;     /* id and key are filled in */
    struct rl_id id;
    struct rl_key key;    /* key.type/cause point to static strings */
    _Atomic uint64_t tat; /* GCRA: theoretical arrival time of the next record */
    _Atomic uint64_t n, written, pending;
};

/* The record types a key can have; "other" slots exist per type and role. */
static const char *const types[] = {"reset", "error", "eof", "close", "retry", "inject", "packet"};
#define NTYPES (sizeof types / sizeof types[0])
#define NOTHER (NTYPES * 2)

static struct rl_slot slots[RL_SLOTS];
static struct rl_slot other[NOTHER];
static struct rate_limits limits = {
    .burst = 10,
    .interval_ns = 1000000000ull,
    .budget_bytes = 1024 * 1024,
    .budget_period_ns = 60000000000ull,
    .summary_ns = 60000000000ull,
};
static _Atomic uint64_t budget_tat;
static _Atomic int ever_suppressed;
static _Atomic int ever_dropped; /* a record the sink could neither write nor hold */
static _Atomic uint64_t due;     /* records due since the last drain */

void ratelimit_configure(const struct rate_limits *r)
{
    limits = *r;
    if (!limits.burst) limits.burst = 1;
    if (!limits.interval_ns) limits.interval_ns = 1;
    if (!limits.budget_bytes) limits.budget_bytes = 1;
    if (!limits.budget_period_ns) limits.budget_period_ns = 1;
    if (!limits.summary_ns) limits.summary_ns = 60000000000ull;
}

const struct rate_limits *ratelimit_limits(void)
{
    return &limits;
}

uint8_t ratelimit_type_index(const char *type)
{
    uint8_t t = 0;
    while (t < NTYPES - 1 && strcmp(types[t], type))
        t++;
    return t;
}

/* A word at a time (the id is 48 bytes), mixed as in splitmix64. */
static uint64_t hash_id(const struct rl_id *id)
{
    uint64_t w[sizeof *id / 8], h = 0x9e3779b97f4a7c15ull;
    memcpy(w, id, sizeof w);
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        h ^= w[i];
        h *= 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
    }
    return h ? h : 1;
}

static struct rl_slot *other_slot(const struct rl_id *id)
{
    size_t t = id->type < NTYPES ? id->type : NTYPES - 1;
    struct rl_slot *s = &other[t * 2 + (id->server ? 1 : 0)];
    if (!atomic_load(&s->ready)) { /* racing initialisers write the same bytes */
        s->key.type = types[t];
        s->key.cause = "other";
        s->key.server = id->server;
        memcpy(s->key.peer, "other", 6);
        s->key.local[0] = 0;
        atomic_store(&s->ready, 1);
    }
    return s;
}

struct rl_slot *ratelimit_slot(const struct rl_id *id, rl_describe_fn describe, const void *ctx)
{
    uint64_t h = hash_id(id);
    struct rl_slot *found = NULL;
    for (size_t i = 0; i < RL_PROBE && !found; i++) {
        struct rl_slot *s = &slots[(h + i) & (RL_SLOTS - 1)];
        uint64_t cur = atomic_load(&s->hash);
        if (cur == 0) {
            uint64_t expected = 0;
            if (atomic_compare_exchange_strong(&s->hash, &expected, h)) {
                s->id = *id;
                memset(&s->key, 0, sizeof s->key);
                describe(&s->key, ctx);
                s->key.server = id->server;
                atomic_store(&s->ready, 1);
                found = s;
                break;
            }
            cur = expected; /* another thread claimed it just now: maybe for this key */
        }
        if (cur != h) continue;
        if (!atomic_load(&s->ready)) break; /* being filled in: count under "other" */
        if (!memcmp(&s->id, id, sizeof *id)) found = s;
    }
    return found ? found : other_slot(id);
}

void ratelimit_count_in(struct rl_slot *s)
{
    atomic_fetch_add(&s->n, 1);
    atomic_fetch_add(&due, 1);
}

struct rl_slot *ratelimit_count(const struct rl_id *id, rl_describe_fn describe, const void *ctx)
{
    struct rl_slot *s = ratelimit_slot(id, describe, ctx);
    ratelimit_count_in(s);
    return s;
}

int ratelimit_would_admit(const struct rl_slot *s, uint64_t now)
{
    if (limits.off) return 1;
    uint64_t tau = (uint64_t)(limits.burst - 1) * limits.interval_ns;
    uint64_t tat = atomic_load(&s->tat);
    return (tat > now ? tat : now) - now <= tau;
}

int ratelimit_admit(struct rl_slot *s, uint64_t now)
{
    if (limits.off) return 1;
    uint64_t tau = (uint64_t)(limits.burst - 1) * limits.interval_ns;
    uint64_t tat = atomic_load(&s->tat);
    for (;;) {
        uint64_t t = tat > now ? tat : now;
        if (t - now > tau) {
            atomic_fetch_add(&s->pending, 1);
            atomic_store(&ever_suppressed, 1);
            return 0;
        }
        if (atomic_compare_exchange_weak(&s->tat, &tat, t + limits.interval_ns)) return 1;
    }
}

uint64_t ratelimit_take_suppressed(struct rl_slot *s)
{
    return atomic_exchange(&s->pending, 0);
}

int ratelimit_budget(size_t len, uint64_t now)
{
    if (limits.off) return 1;
    uint64_t cost = (uint64_t)(((__uint128_t)limits.budget_period_ns * len) / limits.budget_bytes);
    uint64_t tat = atomic_load(&budget_tat);
    for (;;) {
        uint64_t t = tat > now ? tat : now;
        if (t + cost - now > limits.budget_period_ns) return 0;
        if (atomic_compare_exchange_weak(&budget_tat, &tat, t + cost)) return 1;
    }
}

void ratelimit_suppress(struct rl_slot *s, uint64_t n)
{
    atomic_fetch_add(&s->pending, n);
    atomic_store(&ever_suppressed, 1);
}

void ratelimit_written(struct rl_slot *s)
{
    atomic_fetch_add(&s->written, 1);
}

void ratelimit_sent(struct rl_slot *s, int rc, uint64_t carried)
{
    if (rc == -ENOBUFS) {
        ratelimit_suppress(s, 1 + carried);
        atomic_store(&ever_dropped, 1);
    } else
        ratelimit_written(s);
}

int ratelimit_ever_suppressed(void)
{
    return atomic_load(&ever_suppressed);
}

int ratelimit_ever_dropped(void)
{
    return atomic_load(&ever_dropped);
}

uint64_t ratelimit_take_due(void)
{
    return atomic_exchange(&due, 0);
}

uint64_t ratelimit_due(void)
{
    return atomic_load_explicit(&due, memory_order_relaxed);
}

size_t ratelimit_nslots(void)
{
    return RL_SLOTS + NOTHER;
}

int ratelimit_drain(size_t i, struct rl_counts *out)
{
    struct rl_slot *s = i < RL_SLOTS ? &slots[i] : &other[i - RL_SLOTS];
    if (!atomic_load(&s->ready)) return 0;
    uint64_t n = atomic_exchange(&s->n, 0);
    uint64_t pend = atomic_exchange(&s->pending, 0);
    uint64_t w = atomic_exchange(&s->written, 0);
    if (!n && !pend && !w) return 0;
    out->key = s->key;
    out->n = n;
    out->records = w;
    out->suppressed = pend;
    return 1;
}

void ratelimit_atfork_child(void)
{
    for (size_t i = 0; i < ratelimit_nslots(); i++) {
        struct rl_slot *s = i < RL_SLOTS ? &slots[i] : &other[i - RL_SLOTS];
        /* Only stores where there is something: every store copies a page. */
        if (atomic_load_explicit(&s->n, memory_order_relaxed)) atomic_store(&s->n, 0);
        if (atomic_load_explicit(&s->pending, memory_order_relaxed)) atomic_store(&s->pending, 0);
        if (atomic_load_explicit(&s->written, memory_order_relaxed)) atomic_store(&s->written, 0);
        /* The parent's spent burst is not the child's: its first records
         * are written, as a new process's would be. */
        if (atomic_load_explicit(&s->tat, memory_order_relaxed)) atomic_store(&s->tat, 0);
    }
    if (atomic_load_explicit(&budget_tat, memory_order_relaxed)) atomic_store(&budget_tat, 0);
    atomic_store(&due, 0);
    atomic_store(&ever_suppressed, 0);
    atomic_store(&ever_dropped, 0);
}

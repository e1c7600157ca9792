// SPDX-License-Identifier: MIT
/* handoff.c: the table of connections handed to another process by
 * SCM_RIGHTS (see handoff.h). MAP_SHARED, so a fork child's writes reach its
 * parent and siblings; entries are copied in 8-byte words with atomic loads
 * and stores, framed by a sequence count (a seqlock without a lock: a writer
 * that finds the entry being written skips it, and a reader that sees the
 * count move does not retry, it misses). Async-signal-safe. */
#include "handoff.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "sandbox.h"

#define HANDOFF_SLOTS 48 /* one page: a handful of sockets in flight at a time */
#define ENTRY_WORDS (sizeof(struct handoff_entry) / sizeof(uint64_t))

_Static_assert(sizeof(struct handoff_entry) % sizeof(uint64_t) == 0, "whole words");

struct slot {
    _Atomic uint32_t seq; /* odd while the entry is written */
    uint32_t pad;
    uint64_t words[ENTRY_WORDS];
};

static struct slot *_Atomic table;

void handoff_ready(void)
{
    if (atomic_load_explicit(&table, memory_order_relaxed)) return;
    /* A filter may allow private mappings only (tor's): none under one. */
    if (sandbox_filtered()) return;
    void *p = mmap(NULL, HANDOFF_SLOTS * sizeof(struct slot), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
    struct slot *expect = NULL;
    if (!atomic_compare_exchange_strong(&table, &expect, (struct slot *)p))
        munmap(p, HANDOFF_SLOTS * sizeof(struct slot)); /* another thread made one */
}

int handoff_enabled(void)
{
    return atomic_load_explicit(&table, memory_order_relaxed) != NULL;
}

static struct slot *slot_of(struct slot *t, uint64_t ident)
{
    return &t[(ident ^ (ident >> 17)) % HANDOFF_SLOTS];
}

void handoff_publish(const struct conn *c, enum handoff_kind kind)
{
    struct slot *t = atomic_load_explicit(&table, memory_order_acquire);
    if (!t || !c->ident || c->ident == UINT64_MAX) return; /* no identity: cannot be found */
    struct handoff_entry e;
    memset(&e, 0, sizeof e);
    e.ident = c->ident;
    e.family = c->family;
    e.role = c->role;
    e.kind = (uint8_t)kind;
    e.peer = c->peer;
    e.local = c->local;
    uint64_t w[ENTRY_WORDS];
    memcpy(w, &e, sizeof w);
    struct slot *s = slot_of(t, e.ident);
    uint32_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
    if ((seq & 1) || !atomic_compare_exchange_strong_explicit(
                         &s->seq, &seq, seq + 1, memory_order_acquire, memory_order_relaxed))
        return; /* another writer is there */
    for (size_t i = 0; i < ENTRY_WORDS; i++)
        __atomic_store_n(&s->words[i], w[i], __ATOMIC_RELAXED);
    atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

int handoff_find(uint64_t ident, struct handoff_entry *out)
{
    struct slot *t = atomic_load_explicit(&table, memory_order_acquire);
    if (!t || !ident || ident == UINT64_MAX) return 0;
    struct slot *s = slot_of(t, ident);
    uint32_t seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    if (seq & 1 || seq == 0) return 0;
    uint64_t w[ENTRY_WORDS];
    for (size_t i = 0; i < ENTRY_WORDS; i++)
        w[i] = __atomic_load_n(&s->words[i], __ATOMIC_RELAXED);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&s->seq, memory_order_relaxed) != seq) return 0;
    memcpy(out, w, sizeof w);
    return out->ident == ident;
}

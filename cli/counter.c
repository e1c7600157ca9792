// SPDX-License-Identifier: MIT
/*
 * counter.c: how many incidents per name (peer, program, host), for the overview's top lists.
 * Memory grows with the number of distinct names only: an open-addressed hash index over an
 * array of entries, FNV-1a over the name.
 */
#include "counter.h"

#include "slots.h"

#include <stdlib.h>
#include <string.h>

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *p = s; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static uint64_t entry_hash(size_t e, const void *ctx)
{
    const struct counter *c = ctx;
    return name_hash(c->entries[e].name);
}

void counter_add(struct counter *c, const char *name, uint64_t n)
{
    if (!name || !*name) return;
    if (slots_reserve(&c->slots, &c->nslots, c->n, 64, entry_hash, c)) return;
    size_t i = name_hash(name) & (c->nslots - 1);
    for (; c->slots[i] != SLOT_EMPTY; i = (i + 1) & (c->nslots - 1)) {
        if (strcmp(c->entries[c->slots[i]].name, name) == 0) {
            c->entries[c->slots[i]].count += n;
            return;
        }
    }
    struct counter_entry *entries = array_reserve(c->entries, &c->cap, c->n, sizeof *entries, 16);
    if (!entries) return;
    c->entries = entries;
    char *copy = strdup(name);
    if (!copy) return;
    c->entries[c->n] = (struct counter_entry){.name = copy, .count = n};
    c->slots[i] = c->n++;
}

void counter_free(struct counter *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->entries[i].name);
    free(c->entries);
    free(c->slots);
    memset(c, 0, sizeof *c);
}

static int cmp_entry(const void *a, const void *b)
{
    const struct counter_entry *const *x = a, *const *y = b;
    if ((*x)->count != (*y)->count) return (*x)->count < (*y)->count ? 1 : -1;
    return strcmp((*x)->name, (*y)->name);
}

size_t counter_top(const struct counter *c, const struct counter_entry **out, size_t max)
{
    if (!c->n || !max) return 0;
    const struct counter_entry **all = malloc(c->n * sizeof *all);
    if (!all) return 0;
    for (size_t i = 0; i < c->n; i++)
        all[i] = &c->entries[i];
    qsort(all, c->n, sizeof *all, cmp_entry);
    size_t n = c->n < max ? c->n : max;
    memcpy(out, all, n * sizeof *all);
    free(all);
    return n;
}

// SPDX-License-Identifier: MIT
/* counter.h: name -> count, hash-indexed, for the overview's top lists (peers, programs, hosts). */
#ifndef RSTWATCH_COUNTER_H
#define RSTWATCH_COUNTER_H

#include <stddef.h>
#include <stdint.h>

struct counter {
    struct counter_entry {
        char *name;
        uint64_t count;
    } * entries;
    size_t n, cap;
    size_t *slots; /* hash index into entries (slots.h) */
    size_t nslots;
};

/* Adds n to name's count (a new name starts at 0); "" and NULL are not counted. Out of memory:
 * the addition is lost, nothing else. */
void counter_add(struct counter *c, const char *name, uint64_t n);

/* Counter entries sorted by count (most first); returns the number, at most max, put in out. */
size_t counter_top(const struct counter *c, const struct counter_entry **out, size_t max);

/* Releases everything and empties *c. */
void counter_free(struct counter *c);

#endif

// SPDX-License-Identifier: MIT
/* slots.c: growing the entry arrays of counter.c and incidents.c and their hash index (slots.h). */
#include "slots.h"

#include <stdlib.h>

int slots_reserve(size_t **slots, size_t *nslots, size_t n, size_t first_size, slots_hash_fn hash,
                  const void *ctx)
{
    if ((n + 1) * 4 <= *nslots * 3) return 0;
    size_t size = *nslots ? *nslots * 2 : first_size;
    size_t *fresh = malloc(size * sizeof *fresh);
    if (!fresh) return -1;
    for (size_t i = 0; i < size; i++)
        fresh[i] = SLOT_EMPTY;
    for (size_t e = 0; e < n; e++) {
        size_t i = hash(e, ctx) & (size - 1);
        while (fresh[i] != SLOT_EMPTY)
            i = (i + 1) & (size - 1);
        fresh[i] = e;
    }
    free(*slots);
    *slots = fresh;
    *nslots = size;
    return 0;
}

void *array_reserve(void *items, size_t *cap, size_t n, size_t size, size_t first)
{
    if (n < *cap) return items;
    size_t grown = *cap ? *cap * 2 : first;
    void *moved = realloc(items, grown * size);
    if (moved) *cap = grown;
    return moved;
}

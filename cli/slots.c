// SPDX-License-Identifier: MIT
/* slots.c: growing the open-addressed hash index of counter.c and incidents.c (see slots.h). */
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

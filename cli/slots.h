// SPDX-License-Identifier: MIT
/*
 * slots.h: the open-addressed hash index that counter.c and incidents.c keep over their arrays
 * of entries: a power-of-two table of slots, each the position of an entry or SLOT_EMPTY,
 * probed linearly from the entry's hash and kept at most 3/4 full.
 */
#ifndef RSTWATCH_SLOTS_H
#define RSTWATCH_SLOTS_H

#include <stddef.h>
#include <stdint.h>

#define SLOT_EMPTY SIZE_MAX

/* The hash of the entry at position e of the caller's array. */
typedef uint64_t (*slots_hash_fn)(size_t e, const void *ctx);

/*
 * Makes room in the index (*slots, *nslots) for one entry more than the n it holds: when that
 * would fill it beyond 3/4, doubles it (first_size, a power of two, when it is empty) and
 * places entries 0..n-1 again by hash(e, ctx). Returns 0, or -1 when out of memory (the index
 * is left as it was).
 */
int slots_reserve(size_t **slots, size_t *nslots, size_t n, size_t first_size, slots_hash_fn hash,
                  const void *ctx);

#endif

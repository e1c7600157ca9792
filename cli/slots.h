// SPDX-License-Identifier: MIT
/*
 * slots.h: the growing arrays of entries that counter.c and incidents.c keep, and the
 * open-addressed hash index over them: a power-of-two table of slots, each the position of an
 * entry or SLOT_EMPTY, probed linearly from the entry's hash and kept at most 3/4 full.
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

/*
 * Makes room for entry n in an array of *cap entries of size bytes each: when it is full, doubles
 * it (first entries when it is empty). Returns the array (moved or not; *cap updated), or NULL
 * when out of memory (the array is left as it was).
 */
void *array_reserve(void *items, size_t *cap, size_t n, size_t size, size_t first);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * tide/arena.h - binder-style buffer arena inside one mapping whose idle
 * pages stay resident for reuse and go back to the kernel under pressure.
 */
#ifndef TIDE_ARENA_H
#define TIDE_ARENA_H

#include <tide/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef TIDE_ARENA_MAX
#define TIDE_ARENA_MAX ((size_t)1 << 30)
#endif

struct tide_arena;

struct tide_arena_stats {
	size_t size, used_bytes, free_bytes;
	size_t pages_total, pages_used, pages_lru, pages_unmapped;
	size_t pages_high_water;
	unsigned long long page_faults_avoided; /* pages reused from the LRU */
};

/* The arena module fills in the kernel-doc comments. */
TIDE_API struct tide_arena *tide_arena_create(const char *name, size_t size);
TIDE_API void *tide_arena_alloc(struct tide_arena *a, size_t size);
TIDE_API void tide_arena_free(struct tide_arena *a, void *p);
TIDE_API void tide_arena_destroy(struct tide_arena *a);
TIDE_API void tide_arena_stats(struct tide_arena *a,
			       struct tide_arena_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* TIDE_ARENA_H */

// SPDX-License-Identifier: MIT
/*
 * arena.c - transaction buffers whose idle pages wait for reuse.
 *
 * Freed buffers leave their pages resident on the arena's LRU, so the next
 * transaction costs no page fault; the arena's shrinker (named after the
 * arena) hands them back when reclaim asks.
 */
#include <stdio.h>
#include <string.h>

#include <tide.h>

int main(void)
{
	struct tide_arena *a = tide_arena_create("example-arena", 1 << 20);
	struct tide_arena_stats st;
	void *buf[8];

	if (!a)
		return 1;
	for (int i = 0; i < 8; i++) {
		if (!(buf[i] = tide_arena_alloc(a, 16384)))
			return 1;
		memset(buf[i], i, 16384);
	}
	for (int i = 0; i < 8; i++)
		tide_arena_free(a, buf[i]);
	tide_arena_stats(a, &st);
	printf("after free: %zu pages on the LRU, %zu used\n", st.pages_lru,
	       st.pages_used);
	if (st.pages_lru != 32)
		return 1;

	/* A new buffer reuses LRU pages: no fault. */
	buf[0] = tide_arena_alloc(a, 8192);
	tide_arena_stats(a, &st);
	printf("reuse: %llu page faults avoided\n", st.page_faults_avoided);
	if (st.page_faults_avoided != 2)
		return 1;

	/* What reclaim does under pressure, here asked for directly. */
	printf("shrinker freed %lu pages\n",
	       tide_shrinker_scan("example-arena", 128));
	tide_arena_stats(a, &st);
	if (st.pages_lru != 0 || st.pages_used != 2)
		return 1;
	tide_arena_free(a, buf[0]);
	tide_arena_destroy(a);
	return 0;
}

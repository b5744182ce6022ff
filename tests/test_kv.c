// SPDX-License-Identifier: MIT
/*
 * test_kv.c - kv: hybrid allocation with honest shrinking.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>

#include <tide.h>

#include "harness.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)
#define PAGED_HDR 64

static size_t page(void)
{
	return tide__os_page_size();
}

static void fill(void *p, size_t n, unsigned seed)
{
	unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		c[i] = (unsigned char)(i * 31 + seed);
}

static bool intact(const void *p, size_t n, unsigned seed)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i] != (unsigned char)(i * 31 + seed))
			return false;
	return true;
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i])
			return false;
	return true;
}

/* Committed bytes of a paged block holding @size bytes (page units). */
static size_t committed(size_t size)
{
	return TIDE__ALIGN_UP(PAGED_HDR + size, page()) - PAGED_HDR;
}

/*
 * Sanitizers' and valgrind's allocators move a block on every realloc(),
 * to the same size too (to catch uses of the old address); glibc's keeps
 * a block that fits where it is.
 */
static bool heap_realloc_moves(void)
{
#ifdef TIDE__ASAN
	return true;
#else
	return th_tsan() || th_under_valgrind();
#endif
}

/* ---- backends and threshold ---------------------------------------- */

TEST(small_blocks_come_from_the_heap)
{
	char *p = tide_kvmalloc(100, 0);

	CHECK(p);
	CHECK(!tide_kv_is_paged(p));
	CHECK_KVSIZE(p, 100);
	CHECK_UEQ((uintptr_t)p % alignof(max_align_t), 0);
	/* heap: the allocator's usable size (no header) */
	CHECK_UEQ(tide_kvresident(p), malloc_usable_size(p));
	CHECK_CMP(tide_kvresident(p), >=, 100);
	fill(p, 100, 1);
	CHECK(intact(p, 100, 1));
	tide_kvfree(p);
}

TEST(threshold_splits_heap_and_paged_at_128k)
{
	void *below = tide_kvmalloc(128 * KiB - 1, 0);
	void *at = tide_kvmalloc(128 * KiB, 0);

	CHECK_UEQ(tide_kv_threshold(), 128 * KiB);
	CHECK(below && at);
	CHECK(!tide_kv_is_paged(below));
	CHECK(tide_kv_is_paged(at));
	CHECK_UEQ((uintptr_t)at % 16, 0);
	CHECK_UEQ(((uintptr_t)at - PAGED_HDR) % page(), 0);
	CHECK_UEQ(tide_kvresident(at), committed(128 * KiB));
	tide_kvfree(below);
	tide_kvfree(at);
}

TEST(set_threshold_changes_new_blocks_only)
{
	void *a = tide_kvmalloc(8 * KiB, 0), *b;

	tide_kv_set_threshold(4 * KiB);
	CHECK_UEQ(tide_kv_threshold(), 4 * KiB);
	b = tide_kvmalloc(8 * KiB, 0);
	CHECK(a && b);
	CHECK(!tide_kv_is_paged(a));
	CHECK(tide_kv_is_paged(b));
	tide_kv_set_threshold(SIZE_MAX);
	tide_kvfree(a);
	a = tide_kvmalloc(1 * MiB, 0);
	CHECK(a && !tide_kv_is_paged(a));
	tide_kvfree(a);
	tide_kvfree(b);
}

TEST(threshold_from_environment)
{
	void *p;

	/* Each test runs in a fresh process: kv has not read it yet. */
	setenv("TIDE_KV_THRESHOLD", "64K", 1);
	CHECK_UEQ(tide_kv_threshold(), 64 * KiB);
	p = tide_kvmalloc(64 * KiB, 0);
	CHECK(p && tide_kv_is_paged(p));
	tide_kvfree(p);
}

TEST(threshold_environment_garbage_is_ignored)
{
	setenv("TIDE_KV_THRESHOLD", "12Q", 1);
	CHECK_UEQ(tide_kv_threshold(), TIDE_KV_DEFAULT_THRESHOLD);
}

/*
 * A value past SIZE_MAX does not parse: ignored, not truncated.  Up to
 * 0.2.23 a 32-bit build read 4294967297 (2^32 + 1, no suffix) as a
 * threshold of 1.  On 64-bit the value is 2^64 + 1.
 */
TEST(threshold_environment_past_size_max_is_ignored)
{
#if SIZE_MAX == UINT32_MAX
	setenv("TIDE_KV_THRESHOLD", "4294967297", 1);
#else
	setenv("TIDE_KV_THRESHOLD", "18446744073709551617", 1);
#endif
	CHECK_UEQ(tide_kv_threshold(), TIDE_KV_DEFAULT_THRESHOLD);
}

TEST(zero_size_block_is_valid_and_unique)
{
	void *a = tide_kvmalloc(0, 0), *b = tide_kvmalloc(0, 0);

	CHECK(a && b && a != b);
	CHECK_KVSIZE(a, 0);
	tide_kvfree(a);
	tide_kvfree(b);
}

/* ---- the seed headline --------------------------------------------- */

TEST(shrink_256k_to_16k_returns_60_of_64_pages)
{
	enum { N = 64 };
	char *blk[N];
	long before, after, freed_kb, tail_kb;

	if (th_anon_kb() < 0)
		SKIP("no /proc/self/smaps_rollup");
	for (int i = 0; i < N; i++) {
		blk[i] = tide_kvmalloc(256 * KiB, 0);
		CHECK(blk[i] && tide_kv_is_paged(blk[i]));
		fill(blk[i], 256 * KiB, (unsigned)i);
	}
	before = th_anon_kb();
	for (int i = 0; i < N; i++) {
		char *q = tide_kvrealloc(blk[i], 16 * KiB, 0);

		CHECK_PTR_EQ(q, blk[i]); /* same pointer, no copy */
		CHECK_KVSIZE(q, 16 * KiB);
		/* 16 KiB + header: 5 pages stay, at least one always */
		CHECK_UEQ(tide_kvresident(q), 5 * page() - PAGED_HDR);
	}
	after = th_anon_kb();
	for (int i = 0; i < N; i++)
		CHECK(intact(blk[i], 16 * KiB, (unsigned)i));
	/* 65 pages each (header included) -> 5: 60 pages back per block */
	tail_kb = (long)(N * 60 * page() / KiB);
	freed_kb = before - after;
	th_note("RSS fell by %ld KiB of %ld KiB of tail pages (%.2f%%)",
		freed_kb, tail_kb, 100.0 * freed_kb / tail_kb);
	CHECK_CMP(freed_kb * 100, >=, tail_kb * 93);
	for (int i = 0; i < N; i++)
		tide_kvfree(blk[i]);
}

TEST(shrink_always_keeps_one_page)
{
	char *p = tide_kvmalloc(1 * MiB, 0);

	CHECK(p);
	p[0] = 7;
	CHECK_PTR_EQ(tide_kvrealloc(p, 1, 0), p);
	CHECK_UEQ(tide_kvresident(p), page() - PAGED_HDR);
	CHECK(tide_kv_is_paged(p)); /* stays paged below the threshold */
	CHECK_EQ(p[0], 7);
	tide_kvfree(p);
}

/* ---- the kernel's vrealloc test sequence --------------------------- */

TEST(vrealloc_sequence_keeps_data_and_pointers)
{
	size_t sz = 64 * page();
	char *p = tide_kvmalloc(sz, 0), *q;

	CHECK(p);
	fill(p, sz, 3);
	/* grow 4x: may move (mremap), data kept */
	q = tide_kvrealloc(p, 4 * sz, 0);
	CHECK(q);
	CHECK(intact(q, sz, 3));
	fill(q, 4 * sz, 4);
	p = q;
	/* shrink across pages: same pointer */
	q = tide_kvrealloc(p, 2 * sz + 100, 0);
	CHECK_PTR_EQ(q, p);
	CHECK(intact(q, 2 * sz + 100, 4));
	CHECK_UEQ(tide_kvresident(q), committed(2 * sz + 100));
	/* shrink inside the last page: same pointer, same pages */
	q = tide_kvrealloc(p, 2 * sz + 10, 0);
	CHECK_PTR_EQ(q, p);
	CHECK_UEQ(tide_kvresident(q), committed(2 * sz + 100));
	CHECK(intact(q, 2 * sz + 10, 4));
	/* grow back inside the committed page: in place */
	q = tide_kvrealloc(p, 2 * sz + 90, 0);
	CHECK_PTR_EQ(q, p);
	CHECK_KVSIZE(q, 2 * sz + 90);
	CHECK(intact(q, 2 * sz + 10, 4));
	tide_kvfree(q);
}

/* ---- growth without copying ---------------------------------------- */

static void *refuse_inplace_mremap(void *old, size_t old_len, size_t new_len,
				   int flags, void *new_addr)
{
	if (!(flags & MREMAP_MAYMOVE)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	return tide__os_default_hooks.mremap(old, old_len, new_len, flags,
					     new_addr);
}

TEST(paged_growth_moves_page_tables_not_bytes)
{
	struct tide__os_hooks h = tide__os_default_hooks;
	struct tide__os_stats s0, s1;
	size_t sz = 1 * MiB;
	char *p = tide_kvmalloc(sz, 0), *q;

	CHECK(p);
	fill(p, sz, 9);
	h.mremap = refuse_inplace_mremap; /* force the moving path */
	tide__os_set_hooks(&h);
	tide__os_stats(&s0);
	q = tide_kvrealloc(p, 64 * sz, 0);
	tide__os_stats(&s1);
	tide__os_set_hooks(NULL);
	CHECK(q);
	CHECK(intact(q, sz, 9));
	CHECK(all_zero(q + sz, 63 * sz));
#ifndef TIDE_PORTABLE_REMAP
	CHECK_UEQ(s1.copies - s0.copies, 0);
	/* Valgrind places mremap itself and may find room in place. */
	if (!th_under_valgrind())
		CHECK_UEQ(s1.moves - s0.moves, 1);
#else
	/* portable fallback: map, copy the data once, unmap */
	CHECK_UEQ(s1.copies - s0.copies, 1);
	CHECK_UEQ(s1.copied_bytes - s0.copied_bytes, sz);
#endif
	tide_kvfree(q);
}

TEST(paged_growth_in_place_when_room)
{
	struct tide__os_stats s0, s1;
	char *p = tide_kvmalloc(1 * MiB, 0), *q;

	CHECK(p);
	fill(p, 1 * MiB, 5);
	tide__os_stats(&s0);
	q = tide_kvrealloc(p, 2 * MiB, 0);
	tide__os_stats(&s1);
	CHECK(q && intact(q, 1 * MiB, 5));
	CHECK_UEQ(s1.copies - s0.copies,
#ifndef TIDE_PORTABLE_REMAP
		  0
#else
		  1
#endif
	);
	CHECK_UEQ(tide_kvresident(q), committed(2 * MiB));
	tide_kvfree(q);
}

TEST(heap_to_paged_promotion_copies_once)
{
	struct tide__os_stats s0, s1;
	char *p = tide_kvmalloc(1000, 0), *q;
	size_t usable;

	CHECK(p && !tide_kv_is_paged(p));
	/*
	 * kv copies the block's usable bytes (tide_kvsize()): glibc's
	 * 1000 on 64-bit, 1004 on 32-bit (its chunks keep a 4-byte header
	 * there).
	 */
	usable = tide_kvsize(p);
	CHECK_UEQ(usable, sizeof(size_t) == 8 ? 1000 : 1004);
	fill(p, 1000, 2);
	tide__os_stats(&s0);
	q = tide_kvrealloc(p, 1 * MiB, 0);
	tide__os_stats(&s1);
	CHECK(q && tide_kv_is_paged(q));
	CHECK(intact(q, 1000, 2));
	CHECK_UEQ(s1.copies - s0.copies, 1);
	CHECK_UEQ(s1.copied_bytes - s0.copied_bytes, usable);
	CHECK_EQ(s1.heap_live - s0.heap_live, -1);
	tide_kvfree(q);
}

/*
 * A heap block resized within its usable size (tide_kvsize()) has not
 * grown: it stays on the heap, in place, even at the threshold or more.
 * 0.2.8 to 0.2.23 moved it into a paged block when malloc's rounding had
 * already made room for the request (t - 1 bytes have t + 8 usable with
 * glibc), so that tide_kvrealloc(p, tide_kvsize(p)) copied the block
 * into a new mapping.  Growth past the usable size is promoted.
 */
TEST(heap_block_resized_within_its_usable_size_stays_on_the_heap)
{
	size_t t = tide_kv_threshold(), usable;
	char *p = tide_kvmalloc(t - 1, 0), *q;
	struct tide__os_stats s0, s1;

	CHECK(p && !tide_kv_is_paged(p));
	usable = tide__os_usable_size(p);
	/* glibc: t - 1 bytes take a chunk of t + 16, usable t + 8 */
	if (usable < t)
		th_note("usable size %zu: malloc did not round past the "
			"threshold (a sanitizer's allocator)",
			usable);
	fill(p, t - 1, 5);
	tide__os_stats(&s0);
	q = tide_kvrealloc(p, TIDE__MAX(usable, t - 1), 0);
	tide__os_stats(&s1);
	CHECK(q && !tide_kv_is_paged(q));
	CHECK_UEQ(s1.maps - s0.maps, 0);
	CHECK_UEQ(s1.copies - s0.copies, 0);
	CHECK(intact(q, t - 1, 5));
	/* Past the usable size: promoted, the one copy. */
	p = tide_kvrealloc(q, 2 * t, 0);
	CHECK(p && tide_kv_is_paged(p));
	CHECK_UEQ(tide_kvsize(p), 2 * t);
	CHECK(intact(p, t - 1, 5));
	tide_kvfree(p);
}

/*
 * A heap block shrunk after the threshold was lowered below its size
 * stays a heap block (existing blocks keep their backend): realloc(), no
 * mapping, no copy by kv.  Up to 0.2.23 every such shrink copied the
 * block into a fresh mapping.
 */
TEST(heap_block_shrunk_past_a_lowered_threshold_stays_on_the_heap)
{
	char *p = tide_kvmalloc(100 * KiB, 0), *q;
	struct tide__os_stats s0, s1;

	CHECK(p && !tide_kv_is_paged(p));
	fill(p, 100 * KiB, 8);
	tide_kv_set_threshold(64 * KiB);
	tide__os_stats(&s0);
	q = tide_kvrealloc(p, 80 * KiB, 0);
	tide__os_stats(&s1);
	CHECK(q && !tide_kv_is_paged(q));
	CHECK_KVSIZE(q, 80 * KiB);
	CHECK_UEQ(s1.maps - s0.maps, 0);
	CHECK_UEQ(s1.copies - s0.copies, 0);
	CHECK_EQ(s1.heap_live - s0.heap_live, 0);
	CHECK(intact(q, 80 * KiB, 8));
	/* Growing past its usable size again promotes it. */
	p = tide_kvrealloc(q, 90 * KiB, 0);
	CHECK(p && tide_kv_is_paged(p));
	CHECK(intact(p, 80 * KiB, 8));
	tide_kvfree(p);
}

/*
 * kv.h's way to use the bytes tide_kvsize() reports past the request
 * under _FORTIFY_SOURCE (p = tide_kvrealloc(p, tide_kvsize(p), flags),
 * which tells the compiler that size) keeps every block where it is: no
 * mapping, no move, no copy, the size unchanged.  Up to 0.2.23 a heap
 * block whose usable size reached the threshold was copied into a paged
 * block, and glibc's realloc() remapped a block it had mmap()ed itself to
 * one page more (ctest kv_usable_size_under_fortify builds the program).
 */
static void step_in_place(size_t size, unsigned flags, bool paged)
{
	char *p = tide_kvmalloc(size, flags), *q;
	struct tide__os_stats s0, s1;
	size_t n;

	CHECK(p);
	CHECK_EQ(tide_kv_is_paged(p), paged);
	n = tide_kvsize(p);
	fill(p, size, 3);
	tide__os_stats(&s0);
	q = tide_kvrealloc(p, n, flags);
	tide__os_stats(&s1);
	CHECK(q);
	if (paged || !heap_realloc_moves())
		CHECK_PTR_EQ(q, p);
	CHECK_UEQ(tide_kvsize(q), n);
	CHECK_EQ(tide_kv_is_paged(q), paged);
	CHECK_UEQ(s1.maps - s0.maps, 0);
	CHECK_UEQ(s1.remaps - s0.remaps, 0);
	CHECK_UEQ(s1.tail_unmaps - s0.tail_unmaps, 0);
	CHECK_UEQ(s1.copies - s0.copies, 0);
	CHECK(intact(q, size, 3));
	memset(q, 0x5a, n);
	tide_kvfree(q);
}

TEST(realloc_to_kvsize_keeps_the_block_in_place)
{
	size_t t = tide_kv_threshold();

	step_in_place(10, 0, false);
	step_in_place(100, TIDE_ZERO, false);
	step_in_place(t - 1, 0, false); /* glibc: its own mapping */
	step_in_place(t, 0, true);
	step_in_place(3 * t + 5, TIDE_ZERO, true);
	step_in_place(t, TIDE_HUGE, true);
	tide_kv_set_threshold(64 * t); /* heap blocks glibc maps */
	step_in_place(4 * t + 1000, 0, false);
	step_in_place(8 * t + 1000, TIDE_ZERO, false);
}

TEST(growing_60_times_costs_no_copy)
{
	struct tide__os_stats s0, s1;
	size_t sz = 128 * KiB;
	char *p = tide_kvmalloc(sz, 0);

	CHECK(p);
	tide__os_stats(&s0);
	for (int i = 0; i < 60; i++) {
		size_t n = sz + (size_t)i * 37 * page() + 13;

		p = tide_kvrealloc(p, n, 0);
		CHECK(p);
		p[n - 1] = (char)i;
	}
	tide__os_stats(&s1);
	CHECK_UEQ(s1.copies - s0.copies,
#ifndef TIDE_PORTABLE_REMAP
		  0
#else
		  s1.copies - s0.copies /* one per move; asserted elsewhere */
#endif
	);
	tide_kvfree(p);
}

/* ---- krealloc semantics -------------------------------------------- */

TEST(realloc_null_allocates)
{
	void *p = tide_kvrealloc(NULL, 50, 0);

	CHECK(p);
	CHECK_KVSIZE(p, 50);
	tide_kvfree(p);
}

/*
 * tide_kvrealloc(p, 0, @flags) of a heap and of a paged block: NULL,
 * errno untouched, and both blocks freed (nothing live is left).
 */
static void check_realloc_to_zero_frees(unsigned flags)
{
	struct tide__os_stats s0, s1;
	void *h, *m;

	tide__os_stats(&s0);
	h = tide_kvmalloc(10, 0);
	m = tide_kvmalloc(1 * MiB, 0);
	CHECK(h && m);
	CHECK(tide_kv_is_paged(m));
	errno = 0;
	CHECK(!tide_kvrealloc(h, 0, flags));
	CHECK(!tide_kvrealloc(m, 0, flags));
	CHECK_EQ(errno, 0);
	tide__os_stats(&s1);
	CHECK_EQ(s1.heap_live, s0.heap_live);
	CHECK_EQ(s1.maps_live, s0.maps_live);
	CHECK_EQ(s1.map_bytes, s0.map_bytes);
}

TEST(realloc_to_zero_frees_and_returns_null)
{
	check_realloc_to_zero_frees(0);
}

TEST(free_null_is_a_no_op)
{
	tide_kvfree(NULL);
	CHECK_UEQ(tide_kvsize(NULL), 0);
	CHECK_UEQ(tide_kvresident(NULL), 0);
	CHECK(!tide_kv_is_paged(NULL));
}

TEST(failed_realloc_leaves_block_unchanged)
{
	size_t sizes[] = { 100, 1 * MiB };

	for (size_t i = 0; i < 2; i++) {
		char *p = tide_kvmalloc(sizes[i], 0), *q;

		CHECK(p);
		fill(p, sizes[i], 11);
		tide__fault_set(1, true);
		errno = 0;
		q = tide_kvrealloc(p, 64 * MiB, TIDE_NORECLAIM);
		tide__fault_clear();
		CHECK(!q);
		CHECK_EQ(errno, ENOMEM);
		CHECK_KVSIZE(p, sizes[i]);
		CHECK(intact(p, sizes[i], 11));
		p[sizes[i] - 1] = 1; /* still writable */
		tide_kvfree(p);
	}
}

TEST(overflow_and_bad_input_are_rejected)
{
	/* volatile: keep the compiler from rejecting the sizes itself */
	volatile size_t max = SIZE_MAX, half = SIZE_MAX / 2;

	errno = 0;
	CHECK(!tide_kvcalloc(half, 3, 0));
	CHECK_EQ(errno, EOVERFLOW);
	errno = 0;
	CHECK(!tide_kvmalloc(max, 0));
	CHECK_EQ(errno, ENOMEM);
	errno = 0;
	CHECK(!tide_kvmalloc(max - 100, TIDE_ZERO));
	CHECK_EQ(errno, ENOMEM);
	errno = 0;
	CHECK(!tide_kvmalloc(10, 1u << 9));
	CHECK_EQ(errno, EINVAL);
	/* bits 16..31 belong to containers and are ignored */
	void *p = tide_kvmalloc(10, 1u << 20);
	CHECK(p);
	errno = 0;
	CHECK(!tide_kvrealloc(p, max, 0));
	CHECK_EQ(errno, ENOMEM);
	CHECK_KVSIZE(p, 10);
	tide_kvfree(p);
}

/*
 * tide_kvrealloc(p, 0, flags) frees p whatever the flags say (krealloc()
 * semantics, DESIGN.md): an unknown flag used to return NULL with EINVAL
 * and keep p, which a caller that treats a size-0 realloc as a free leaks.
 */
TEST(realloc_to_zero_frees_whatever_the_flags)
{
	check_realloc_to_zero_frees(1u << 9);
	/* with p NULL it allocates, so the flags are checked */
	errno = 0;
	CHECK(!tide_kvrealloc(NULL, 0, 1u << 9));
	CHECK_EQ(errno, EINVAL);
}

/* A cache that counts every callback: reclaim ran iff a count is > 0. */
static atomic_ulong big_counts, big_scans;

static unsigned long big_count(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	atomic_fetch_add(&big_counts, 1);
	return 1000000;
}

static unsigned long big_scan(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	atomic_fetch_add(&big_scans, 1);
	return sc->nr_to_scan;
}

static const struct tide_shrinker_ops big_ops = { big_count, big_scan };

/*
 * What a failing call must leave alone: the counting cache, registered,
 * and a filled heap block (@h, 100 bytes) and paged block (@m, 1 MiB).
 */
struct bystanders {
	struct tide_shrinker *s;
	char *h, *m;
};

static void bystanders_make(struct bystanders *b)
{
	b->s = tide_shrinker_alloc("big");
	CHECK(b->s);
	tide_shrinker_register(b->s, &big_ops, NULL);
	b->h = tide_kvmalloc(100, 0);
	b->m = tide_kvmalloc(1 * MiB, 0);
	CHECK(b->h && b->m && tide_kv_is_paged(b->m));
	fill(b->h, 100, 1);
	fill(b->m, 1 * MiB, 2);
}

/* The blocks still hold what they held; then all of it is freed. */
static void bystanders_check_and_free(struct bystanders *b)
{
	CHECK_KVSIZE(b->h, 100);
	CHECK(intact(b->h, 100, 1));
	CHECK_UEQ(tide_kvsize(b->m), 1 * MiB);
	CHECK(intact(b->m, 1 * MiB, 2));
	tide_kvfree(b->h);
	tide_kvfree(b->m);
	tide_shrinker_free(b->s);
}

/*
 * Sizes past the user address space (64-bit: 2^47 less 4 MiB for the
 * header and rounding; 32-bit: PTRDIFF_MAX less 4 MiB, TH_KV_MAX) fail
 * with ENOMEM at once, without a reclaim pass, on every path: heap or
 * paged by the threshold, kvmalloc, kvcalloc, kvrealloc of a heap and of
 * a paged block.  (With the threshold at SIZE_MAX the heap path used to
 * run all 13 passes first: every cache dropped for a request nothing
 * could satisfy.)  The control: a real ENOMEM (injected) runs the passes
 * and reaches this shrinker.
 */
TEST(impossible_sizes_fail_at_once_without_reclaim)
{
	static const size_t sizes[] = {
		TH_KV_MAX + 1,
		TH_ADDR_SPACE,
#if SIZE_MAX > 0xffffffffu
		(size_t)1 << 50,
		(size_t)1 << 62,
#else
		TH_ADDR_SPACE + TH_ADDR_SPACE / 2, /* 3 GiB */
#endif
		SIZE_MAX
	};
	struct bystanders b;

	bystanders_make(&b);
	for (int t = 0; t < 2; t++) {
		tide_kv_set_threshold(t ? SIZE_MAX : TIDE_KV_DEFAULT_THRESHOLD);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			volatile size_t n = sizes[i];

			errno = 0;
			CHECK(!tide_kvmalloc(n, 0));
			CHECK_EQ(errno, ENOMEM);
			errno = 0;
			CHECK(!tide_kvcalloc(1, n, 0));
			CHECK_EQ(errno, ENOMEM);
			errno = 0;
			CHECK(!tide_kvrealloc(b.h, n, 0));
			CHECK_EQ(errno, ENOMEM);
			errno = 0;
			CHECK(!tide_kvrealloc(b.m, n, 0));
			CHECK_EQ(errno, ENOMEM);
			CHECK_UEQ(atomic_load(&big_counts), 0);
			CHECK_UEQ(atomic_load(&big_scans), 0);
		}
	}
	/* the control */
	tide__fault_set(1, true);
	CHECK(!tide_kvmalloc(100, 0));
	tide__fault_clear();
	CHECK_UEQ(atomic_load(&big_counts), 13); /* one per pass, 12..0 */
	/*
	 * The pass rule (shrinker.md) over a count of 1000000, seeks 2,
	 * batch 128, the deferred work shifted by each priority: 31244 scan
	 * calls over the 13 passes.
	 */
	CHECK_UEQ(atomic_load(&big_scans), 31244);
	bystanders_check_and_free(&b);
}

/*
 * The kernel's side of requests past RAM plus swap, simulated so that the
 * tests do not depend on vm.overcommit_memory: sysinfo reports 16 UNITs of
 * RAM and 8 of swap (mem_unit 4096), and every mapping, remap or heap
 * request of REFUSE bytes or more fails with ENOMEM (counted in
 * refused_tries).  A UNIT is 1 GiB on 64-bit (16 GiB of RAM, 8 GiB of
 * swap) and 64 MiB on 32-bit, whose address space must hold RAM plus swap
 * and more (1 GiB of RAM, 512 MiB of swap).  BIG is a request past RAM
 * plus swap and well within the address space: 1 TiB; 1.75 GiB.
 */
#if SIZE_MAX > 0xffffffffu
#define UNIT (1024 * MiB)
#define BIG ((size_t)1 << 40)
#else
#define UNIT (64 * MiB)
#define BIG (28 * UNIT)
#endif
#define FAKE_TOTAL (24 * UNIT)
#define REFUSE (16 * UNIT)

static atomic_ulong sysinfo_calls, refused_tries;
static atomic_bool sysinfo_fails;
static atomic_ulong fake_swap = 8 * UNIT; /* a swapon changes it */

static int fake_sysinfo(struct sysinfo *si)
{
	atomic_fetch_add(&sysinfo_calls, 1);
	if (atomic_load(&sysinfo_fails)) {
		errno = EPERM;
		return -1;
	}
	memset(si, 0, sizeof(*si));
	si->totalram = 16 * UNIT / 4096;
	si->totalswap = atomic_load(&fake_swap) / 4096;
	si->mem_unit = 4096;
	return 0;
}

static bool refuse(size_t len)
{
	if (len < REFUSE)
		return false;
	atomic_fetch_add(&refused_tries, 1);
	errno = ENOMEM;
	return true;
}

static void *refusing_mmap(void *addr, size_t len, int prot, int flags, int fd,
			   off_t off)
{
	if (refuse(len))
		return MAP_FAILED;
	return tide__os_default_hooks.mmap(addr, len, prot, flags, fd, off);
}

static void *refusing_mremap(void *old, size_t old_len, size_t new_len,
			     int flags, void *new_addr)
{
	if (refuse(new_len))
		return MAP_FAILED;
	return tide__os_default_hooks.mremap(old, old_len, new_len, flags,
					     new_addr);
}

static void *refusing_malloc(size_t size)
{
	return refuse(size) ? NULL : tide__os_default_hooks.malloc(size);
}

static void *refusing_calloc(size_t n, size_t size)
{
	return refuse(n * size) ? NULL : tide__os_default_hooks.calloc(n, size);
}

static void *refusing_realloc(void *p, size_t size)
{
	return refuse(size) ? NULL : tide__os_default_hooks.realloc(p, size);
}

/* The simulated kernel, with @si as its sysinfo. */
static void install_machine(int (*si)(struct sysinfo *))
{
	static struct tide__os_hooks h;

	h = tide__os_default_hooks;
	h.sysinfo = si;
	h.mmap = refusing_mmap;
	h.mremap = refusing_mremap;
	h.malloc = refusing_malloc;
	h.calloc = refusing_calloc;
	h.realloc = refusing_realloc;
	tide__os_set_hooks(&h);
}

/*
 * Reclaim callbacks and refused attempts of one failing call @expr:
 * it fails with ENOMEM after @tries attempts and @passes reclaim passes
 * (big_count runs once a pass).
 */
#define CHECK_REFUSED(expr, tries, passes)                            \
	do {                                                          \
		unsigned long t0 = atomic_load(&refused_tries);       \
		unsigned long c0 = atomic_load(&big_counts);          \
		errno = 0;                                            \
		CHECK(!(expr));                                       \
		CHECK_EQ(errno, ENOMEM);                              \
		CHECK_UEQ(atomic_load(&refused_tries) - t0, (tries)); \
		CHECK_UEQ(atomic_load(&big_counts) - c0, (passes));   \
	} while (0)

/* tide_vec_reserve() as a pointer: NULL and errno set on failure. */
static void *vec_reserve(struct tide_vec *v, size_t n)
{
	int r = tide_vec_reserve(v, n);

	errno = -r;
	return r ? NULL : v;
}

/* Attempts of a paged block's growth: in place, then moved. */
#ifdef TIDE_PORTABLE_REMAP
#define GROW_TRIES 1
#else
#define GROW_TRIES 2
#endif

/*
 * A request below the address-space bound but past RAM plus swap is tried
 * once (vm.overcommit_memory 1 may grant it), then fails with ENOMEM
 * without a reclaim pass: no cache a shrinker frees can make the kernel
 * grant it.  Every path: heap or paged by the threshold, kvmalloc (also
 * TIDE_HUGE), kvcalloc, kvrealloc of a heap and of a paged block, vector
 * growth.  RAM plus swap is read once here.  (It used to run all 13 passes,
 * 14 attempts, each pass scanning every shrinker: 31244 scan calls for
 * this one.)
 */
TEST(sizes_past_ram_and_swap_fail_after_one_try_without_reclaim)
{
	static const size_t sizes[] = { FAKE_TOTAL + 1, BIG, TH_KV_MAX };
	struct bystanders b;
	struct tide_vec v;

	bystanders_make(&b);
	tide_vec_init(&v, 1, 0);
	CHECK_EQ(tide_vec_reserve(&v, 100), 0);
	install_machine(fake_sysinfo);
	for (int t = 0; t < 2; t++) {
		tide_kv_set_threshold(t ? SIZE_MAX : TIDE_KV_DEFAULT_THRESHOLD);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			volatile size_t n = sizes[i];

			CHECK_REFUSED(tide_kvmalloc(n, 0), 1, 0);
			CHECK_REFUSED(tide_kvmalloc(n, TIDE_HUGE), 1, 0);
			CHECK_REFUSED(tide_kvcalloc(1, n, 0), 1, 0);
			CHECK_REFUSED(tide_kvrealloc(b.h, n, 0), 1, 0);
			CHECK_REFUSED(tide_kvrealloc(b.m, n, 0), GROW_TRIES, 0);
			CHECK_REFUSED(vec_reserve(&v, n), 1, 0);
		}
	}
	tide__os_set_hooks(NULL);
	CHECK_UEQ(atomic_load(&big_scans), 0);
	CHECK_UEQ(atomic_load(&sysinfo_calls), 1);
	CHECK_UEQ(v.cap, 100);
	tide_vec_destroy(&v);
	bystanders_check_and_free(&b);
}

/*
 * The controls: a refused request of exactly RAM plus swap, and one past
 * it when sysinfo fails (the bound unknown), run all 13 passes (priorities
 * 12..0) with an attempt after each, as before.
 */
TEST(sizes_within_ram_and_swap_or_unknown_still_reclaim)
{
	struct bystanders b;

	bystanders_make(&b);
	install_machine(fake_sysinfo);
	CHECK_REFUSED(tide_kvmalloc(FAKE_TOTAL, 0), 14, 13);
	CHECK_REFUSED(tide_kvrealloc(b.m, FAKE_TOTAL, 0), 14 * GROW_TRIES, 13);
	/* two loops of the pass rule above, the second with the first's
	 * deferred work: 31244 + 31245 */
	CHECK_UEQ(atomic_load(&big_scans), 62489);
	CHECK_UEQ(atomic_load(&sysinfo_calls), 1);
	tide__os_set_hooks(NULL);
	bystanders_check_and_free(&b);
}

/*
 * A swapon is seen: a request past the bound read less than a second ago
 * fails at once without a new read; one a second later reads RAM plus
 * swap again, finds itself within it (8 more UNITs of swap) and runs the
 * 13 passes.  Requests within the bound never read it again.
 */
TEST(a_swapon_is_seen_by_the_next_refusal_a_second_later)
{
	struct bystanders b;

	bystanders_make(&b);
	install_machine(fake_sysinfo);
	CHECK_REFUSED(tide_kvmalloc(FAKE_TOTAL + UNIT, 0), 1, 0);
	CHECK_UEQ(atomic_load(&sysinfo_calls), 1);
	atomic_store(&fake_swap, 16 * UNIT);
	CHECK_REFUSED(tide_kvmalloc(FAKE_TOTAL + UNIT, 0), 1, 0);
	CHECK_UEQ(atomic_load(&sysinfo_calls), 1);
	usleep(1100 * 1000);
	CHECK_REFUSED(tide_kvmalloc(FAKE_TOTAL + UNIT, 0), 14, 13);
	CHECK_UEQ(atomic_load(&sysinfo_calls), 2);
	usleep(1100 * 1000);
	CHECK_REFUSED(tide_kvmalloc(FAKE_TOTAL + 2 * UNIT, 0), 14, 13);
	CHECK_UEQ(atomic_load(&sysinfo_calls), 2);
	tide__os_set_hooks(NULL);
	bystanders_check_and_free(&b);
}

TEST(unknown_ram_and_swap_leave_reclaim_on)
{
	struct bystanders b;

	bystanders_make(&b);
	atomic_store(&sysinfo_fails, true);
	install_machine(fake_sysinfo);
	CHECK_REFUSED(tide_kvmalloc(BIG, 0), 14, 13);
	CHECK_REFUSED(tide_kvrealloc(b.h, BIG, 0), 14, 13);
	tide__os_set_hooks(NULL);
	/* read once: a failed read is not retried */
	CHECK_UEQ(atomic_load(&sysinfo_calls), 1);
	bystanders_check_and_free(&b);
}

static int tiny_sysinfo(struct sysinfo *si)
{
	memset(si, 0, sizeof(*si));
	si->totalram = 8 * MiB;
	si->mem_unit = 1;
	return 0;
}

/*
 * vm.overcommit_memory 1 grants mappings past RAM plus swap: kv never
 * refuses one before the kernel did.  RAM plus swap is made 8 MiB here,
 * and known (a refused request read it); 64 MiB still comes, on every
 * path.
 */
TEST(sizes_past_ram_and_swap_are_still_tried)
{
	size_t n = 64 * MiB;
	struct tide_vec v;
	char *p, *h, *m;

	install_machine(tiny_sysinfo);
	CHECK(!tide_kvmalloc(BIG, 0)); /* reads the bound */
	tide_vec_init(&v, 1, 0);
	for (int t = 0; t < 2; t++) {
		tide_kv_set_threshold(t ? SIZE_MAX : TIDE_KV_DEFAULT_THRESHOLD);
		p = tide_kvmalloc(n, 0);
		CHECK(p);
		CHECK(tide_kv_is_paged(p) == !t);
		tide_kvfree(p);
		h = tide_kvmalloc(100, 0);
		m = tide_kvmalloc(1 * MiB, 0);
		CHECK(h && m);
		h = tide_kvrealloc(h, n, 0);
		m = tide_kvrealloc(m, n, 0);
		CHECK(h && m);
		CHECK_KVSIZE(m, n);
		tide_kvfree(h);
		tide_kvfree(m);
		CHECK_EQ(tide_vec_reserve(&v, n), 0);
		tide_vec_destroy(&v);
	}
	tide__os_set_hooks(NULL);
}

/* The bound kv reads: MemTotal plus SwapTotal, as /proc/meminfo has them. */
TEST(mem_total_is_ram_plus_swap)
{
	long ram = th_proc_value("/proc/meminfo", "MemTotal:");
	long swap = th_proc_value("/proc/meminfo", "SwapTotal:");
	uint64_t total = 0;

	CHECK(ram > 0 && swap >= 0);
	CHECK_EQ(tide__os_mem_total(&total), 0);
	CHECK_UEQ(total, ((uint64_t)ram + (uint64_t)swap) * 1024);
}

TEST(kvcalloc_zeroes)
{
	unsigned *a = tide_kvcalloc(1000, sizeof(*a), 0);
	unsigned *b = tide_kvcalloc(100000, sizeof(*b), 0);

	CHECK(a && b);
	CHECK(all_zero(a, 1000 * sizeof(*a)));
	CHECK(all_zero(b, 100000 * sizeof(*b)));
	CHECK(tide_kv_is_paged(b));
	tide_kvfree(a);
	tide_kvfree(b);
}

/* ---- zeroing ------------------------------------------------------- */

/* Resident pages of [p, p+len) by mincore(): the block's own pages only. */
static size_t resident_pages(const void *p, size_t len)
{
	uintptr_t start = TIDE__ALIGN_DOWN((uintptr_t)p, page());
	size_t n =
		(TIDE__ALIGN_UP((uintptr_t)p + len, page()) - start) / page();
	unsigned char *vec = malloc(n);
	size_t r = 0;

	CHECK(vec);
	CHECK(!mincore((void *)start, n * page(), vec));
	for (size_t i = 0; i < n; i++)
		r += vec[i] & 1;
	free(vec);
	return r;
}

TEST(zero_flag_does_not_touch_fresh_pages)
{
	char *p = tide_kvmalloc(64 * MiB, TIDE_ZERO);

	CHECK(p);
	/* a memset would have faulted in 16384 pages; kv writes none of
	 * them (its lengths live in the registry, not in the block) */
	CHECK_UEQ(resident_pages(p, 64 * MiB), 0);
#ifndef TIDE_PORTABLE_REMAP
	/* growth by mremap: the new pages are fresh, nothing writes them */
	p = tide_kvrealloc(p, 128 * MiB, TIDE_ZERO);
	CHECK(p);
	CHECK_UEQ(resident_pages(p, 128 * MiB), 0);
#endif
	CHECK(all_zero(p + tide_kvsize(p) - 4096, 4096));
	tide_kvfree(p);
}

TEST(zero_flag_shrink_inside_page_zeroes_the_slack)
{
	size_t big = 40 * page() + 100, small = 39 * page() + 50;
	char *p = tide_kvmalloc(big, TIDE_ZERO);

	CHECK(p);
	memset(p, 0xAA, big);
	CHECK_PTR_EQ(tide_kvrealloc(p, small, TIDE_ZERO), p);
	/* the page holding [small, ...) stays committed */
	CHECK_UEQ(tide_kvresident(p), committed(small));
	CHECK_PTR_EQ(tide_kvrealloc(p, committed(small), TIDE_ZERO), p);
	CHECK(all_zero(p + small, committed(small) - small));
	for (size_t i = 0; i < small; i++)
		CHECK_EQ((unsigned char)p[i], 0xAA);
	tide_kvfree(p);
}

/*
 * Regression (found by fuzz/fuzz_kv.c): a TIDE_ZERO shrink whose tail unmap
 * fails keeps the pages; their old bytes must still read as zero when the
 * block grows back over them in place.
 */
TEST(zero_flag_shrink_with_failed_unmap_regrows_zeroed)
{
	size_t sz = 4 * 4096;
	char *p, *q;

	tide_kv_set_threshold(0);
	p = tide_kvmalloc(sz, TIDE_ZERO);
	CHECK(p);
	memset(p, 0x42, sz);
	tide__fault_set(1, false); /* the shrink's tail unmap */
	q = tide_kvrealloc(p, 74, TIDE_ZERO);
	CHECK_UEQ(tide__fault_hits(), 1);
	tide__fault_clear();
	CHECK_PTR_EQ(q, p);
	CHECK_KVSIZE(p, 74);
	CHECK_CMP(tide_kvresident(p), >=, sz); /* the pages were kept */
	q = tide_kvrealloc(p, sz, TIDE_ZERO);
	CHECK_PTR_EQ(q, p); /* within the committed pages */
	CHECK(all_zero(q + 74, sz - 74));
	tide_kvfree(q);
}

TEST(zero_flag_heap_growth_reads_zero)
{
	char *p = tide_kvmalloc(100, TIDE_ZERO);

	CHECK(p && all_zero(p, 100));
	memset(p, 0x55, 100);
	p = tide_kvrealloc(p, 50, TIDE_ZERO);
	CHECK(p);
	p = tide_kvrealloc(p, 5000, TIDE_ZERO);
	CHECK(p && all_zero(p + 50, 4950));
	p = tide_kvrealloc(p, 1 * MiB, TIDE_ZERO); /* promotion */
	CHECK(p && all_zero(p + 50, 1 * MiB - 50));
	CHECK_EQ((unsigned char)p[49], 0x55);
	tide_kvfree(p);
}

/* ---- huge pages ---------------------------------------------------- */

static atomic_int huge_advice;

static int record_madvise(void *addr, size_t len, int advice)
{
	if (advice == MADV_HUGEPAGE)
		atomic_fetch_add(&huge_advice, 1);
	return tide__os_default_hooks.madvise(addr, len, advice);
}

TEST(huge_blocks_are_2m_aligned_and_advised)
{
	struct tide__os_hooks h = tide__os_default_hooks;
	size_t two = 2 * MiB;
	char *p;

	h.madvise = record_madvise;
	tide__os_set_hooks(&h);
	p = tide_kvmalloc(3 * two - PAGED_HDR, TIDE_HUGE);
	tide__os_set_hooks(NULL);
	CHECK(p);
	CHECK_UEQ(((uintptr_t)p - PAGED_HDR) % two, 0);
	CHECK_EQ(atomic_load(&huge_advice), 1);
	CHECK_UEQ(tide_kvresident(p), 3 * two - PAGED_HDR);
	/* shrink: only whole 2 MiB units past the new end go */
	CHECK_PTR_EQ(tide_kvrealloc(p, 2 * two, 0), p);
	CHECK_UEQ(tide_kvresident(p), 3 * two - PAGED_HDR);
	CHECK_PTR_EQ(tide_kvrealloc(p, two + 1, 0), p);
	CHECK_UEQ(tide_kvresident(p), 2 * two - PAGED_HDR);
	CHECK_PTR_EQ(tide_kvrealloc(p, 100, 0), p);
	CHECK_UEQ(tide_kvresident(p), two - PAGED_HDR);
	tide_kvfree(p);
}

TEST(huge_blocks_stay_aligned_when_moved)
{
	struct tide__os_hooks h = tide__os_default_hooks;
	size_t two = 2 * MiB;
	struct tide__os_stats s0, s1;
	char *p = tide_kvmalloc(two, TIDE_HUGE), *q;

	CHECK(p);
	fill(p, two, 8);
	h.mremap = refuse_inplace_mremap;
	tide__os_set_hooks(&h);
	tide__os_stats(&s0);
	q = tide_kvrealloc(p, 5 * two, 0);
	tide__os_stats(&s1);
	tide__os_set_hooks(NULL);
	CHECK(q);
	CHECK_UEQ(((uintptr_t)q - PAGED_HDR) % two, 0);
	CHECK(intact(q, two, 8));
	CHECK_UEQ(tide_kvresident(q), 6 * two - PAGED_HDR);
	CHECK_EQ(s1.maps_live, s0.maps_live);
	/* 2 MiB + header took 4 MiB; 10 MiB + header takes 12 MiB */
	CHECK_EQ(s1.map_bytes - s0.map_bytes, 4 * (long long)two);
	tide_kvfree(q);
}

#ifndef TIDE_PORTABLE_REMAP
/*
 * A huge block's move (MREMAP_FIXED into a reservation) that fails.  The
 * kernel may have unmapped the destination already (it does so before
 * move_vma() can fail), and another thread may have mapped into that hole:
 * tide must unmap its reservation without unmapping anybody else's pages.
 */
enum fixed_failure {
	FAIL_BEFORE_UNMAP, /* the destination is still the reservation */
	FAIL_AFTER_UNMAP, /* a hole, nobody took it */
	FAIL_AFTER_FOREIGN_MAP, /* a hole, and another mapping took a page */
	FAIL_AT_ADDRESS_SPACE_LIMIT, /* the real mremap() under RLIMIT_AS */
};
static enum fixed_failure fixed_mode;
static char *fixed_dst, *foreign;
static size_t fixed_len;

static void *failing_fixed_mremap(void *old, size_t old_len, size_t new_len,
				  int flags, void *new_addr)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	if (!(flags & MREMAP_MAYMOVE)) {
		errno = ENOMEM; /* no growth in place: the moving path */
		return MAP_FAILED;
	}
	if (!(flags & MREMAP_FIXED))
		return tide__os_default_hooks.mremap(old, old_len, new_len,
						     flags, new_addr);
	fixed_dst = new_addr;
	fixed_len = new_len;
	if (fixed_mode == FAIL_AT_ADDRESS_SPACE_LIMIT) {
		struct rlimit old_rl;
		void *r;
		int err;

		/* no room for the growth: the kernel's own ENOMEM */
		if (th_limit_address_space(0, &old_rl))
			abort();
		r = tide__os_default_hooks.mremap(old, old_len, new_len, flags,
						  new_addr);
		err = errno;
		setrlimit(RLIMIT_AS, &old_rl);
		errno = err;
		return r;
	}
	if (fixed_mode != FAIL_BEFORE_UNMAP)
		munmap(new_addr, new_len);
	if (fixed_mode == FAIL_AFTER_FOREIGN_MAP) {
		foreign =
			mmap(fixed_dst + 3 * pg, pg, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
			     -1, 0);
		if (foreign != fixed_dst + 3 * pg)
			abort();
		memcpy(foreign, "not tide's", 11);
	}
	errno = ENOMEM;
	return MAP_FAILED;
}

static bool range_mapped(const void *addr, size_t len)
{
	unsigned char vec[64];

	/* mincore() fails with ENOMEM where part of the range is unmapped */
	return len <= 64 * (size_t)sysconf(_SC_PAGESIZE) &&
	       !mincore((void *)addr, len, vec);
}

static void failed_huge_move(enum fixed_failure mode)
{
	struct tide__os_hooks h = tide__os_default_hooks;
	size_t two = 2 * MiB, pg = (size_t)sysconf(_SC_PAGESIZE);
	struct tide__os_stats s0, s1;
	char *p = tide_kvmalloc(two, TIDE_HUGE);

	CHECK(p);
	fill(p, two, 6);
	fixed_mode = mode;
	fixed_dst = foreign = NULL;
	h.mremap = failing_fixed_mremap;
	tide__os_set_hooks(&h);
	tide__os_stats(&s0);
	errno = 0;
	CHECK(!tide_kvrealloc(p, 5 * two, TIDE_NORECLAIM));
	CHECK_EQ(errno, ENOMEM);
	tide__os_stats(&s1);
	tide__os_set_hooks(NULL);
	CHECK(fixed_dst && fixed_len == 6 * two);
	/* the block is as it was, and nothing of the move is counted */
	CHECK(intact(p, two, 6));
	CHECK_KVSIZE(p, two);
	CHECK_EQ(s1.maps_live, s0.maps_live);
	CHECK_EQ(s1.map_bytes, s0.map_bytes);
	/* the reservation's upper margin (never empty) is gone */
	CHECK(!range_mapped(fixed_dst + fixed_len, pg));
	switch (mode) {
	case FAIL_BEFORE_UNMAP:
	case FAIL_AT_ADDRESS_SPACE_LIMIT:
		/* still one reservation (/proc/self/maps): unmapped whole */
	case FAIL_AFTER_UNMAP:
		/* claimed back, then unmapped with the reservation */
		CHECK(!range_mapped(fixed_dst, pg));
		CHECK(!range_mapped(fixed_dst + fixed_len - pg, pg));
		break;
	case FAIL_AFTER_FOREIGN_MAP:
		/* the other mapping lives on, its bytes untouched */
		CHECK(range_mapped(foreign, pg));
		CHECK(!memcmp(foreign, "not tide's", 11));
		CHECK(!range_mapped(fixed_dst, pg));
		munmap(foreign, pg);
		break;
	}
	tide_kvfree(p);
}

#endif

TEST(failed_huge_move_unmaps_only_its_own_reservation)
{
#ifdef TIDE_PORTABLE_REMAP
	SKIP("portable build: huge blocks move by map, copy and unmap");
#else
	failed_huge_move(FAIL_BEFORE_UNMAP);
	failed_huge_move(FAIL_AFTER_UNMAP);
	failed_huge_move(FAIL_AFTER_FOREIGN_MAP);
	/* valgrind runs mremap() itself, not under the kernel's limit */
	if (!th_under_valgrind())
		failed_huge_move(FAIL_AT_ADDRESS_SPACE_LIMIT);
#endif
}

/* ---- misuse -------------------------------------------------------- */

static void report_to_stdout(const char *what, const void *ptr, void *arg)
{
	printf("handler: %s %s\n", what, (const char *)arg);
	fflush(stdout);
}

/*
 * A kernel address: reported before anything is read.  32-bit has none kv
 * can tell (docs/errors.md): an address in page 0 is what it reports there.
 */
#if UINTPTR_MAX > 0xffffffffu
#define KERNEL_PTR ((void *)(uintptr_t)0xffff888000001040ULL)
#else
#define KERNEL_PTR ((void *)(uintptr_t)0x840)
#endif

static void free_foreign(void *arg)
{
	tide_set_error_handler(report_to_stdout, "arg-ok");
	if (arg)
		tide_kvfree(KERNEL_PTR);
	else
		(void)!tide_kvrealloc(KERNEL_PTR, 10, 0);
	printf("returned\n");
}

static void free_malloced(void *arg)
{
	char *p = malloc(256); /* a plain malloc block, not tide's */

	memset(p, 0, 256);
	tide_kvfree(p); /* heap blocks are malloc blocks: freed */
	printf("returned\n");
}

TEST(foreign_pointer_is_reported_then_aborts)
{
	char out[512];
	int st;

	st = th_fork(free_foreign, (void *)1, out, sizeof(out));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	CHECK(strstr(out, "handler: tide_kvfree: invalid pointer arg-ok"));
	CHECK(!strstr(out, "returned"));
	st = th_fork(free_foreign, NULL, out, sizeof(out));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	CHECK(strstr(out, "handler: tide_kvrealloc: invalid pointer arg-ok"));
	/* No tag on heap blocks (issue 15): a malloc block is just freed. */
	st = th_fork(free_malloced, NULL, out, sizeof(out));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(strstr(out, "returned"));
}

/* ---- sanitizer poisoning ------------------------------------------- */

#ifdef TIDE__ASAN
#include <sanitizer/asan_interface.h>

static void read_past_end(void *arg)
{
	volatile char *p = arg;
	size_t n = tide_kvsize(arg);

	printf("value %d\n", p[n]); /* one byte past the requested size */
}
#endif

TEST(asan_poisons_bytes_past_requested_size)
{
#ifdef TIDE__ASAN
	char out[4096];
	char *p = tide_kvmalloc(1 * MiB + 3, 0);
	int st;

	CHECK(p);
	CHECK(!__asan_address_is_poisoned(p + 1 * MiB + 2));
	CHECK(__asan_address_is_poisoned(p + 1 * MiB + 3));
	/* shrink to an odd size: the partial granule is poisoned right */
	CHECK_PTR_EQ(tide_kvrealloc(p, 5 * page() + 5, 0), p);
	CHECK(!__asan_address_is_poisoned(p + 5 * page() + 4));
	CHECK(__asan_address_is_poisoned(p + 5 * page() + 5));
	CHECK(__asan_address_is_poisoned(p + 5 * page() + 6));
	/* grow inside the committed page: unpoisoned up to the new end */
	CHECK_PTR_EQ(tide_kvrealloc(p, 5 * page() + 900, 0), p);
	CHECK(!__asan_address_is_poisoned(p + 5 * page() + 899));
	CHECK(__asan_address_is_poisoned(p + 5 * page() + 900));
	st = th_fork(read_past_end, p, out, sizeof(out));
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) != 0);
	CHECK(strstr(out, "use-after-poison"));
	CHECK(!strstr(out, "value"));
	tide_kvfree(p);
#else
	SKIP("not an AddressSanitizer build (make asan runs it)");
#endif
}

/* ---- direct reclaim call point ------------------------------------- */

TEST(enomem_retries_after_each_reclaim_pass)
{
	struct tide__os_stats s0, s1;

	/* With no shrinker registered every pass frees nothing: 1 try + 13
	 * retries (priorities 12..0) for a heap and for a paged block. */
	tide__os_stats(&s0);
	tide__fault_set(1, true);
	CHECK(!tide_kvmalloc(100, 0));
	tide__os_stats(&s1);
	CHECK_UEQ(s1.failable_calls - s0.failable_calls, 14);
	CHECK_UEQ(tide__fault_hits(), 14);
	s0 = s1;
	CHECK(!tide_kvmalloc(1 * MiB, 0));
	tide__os_stats(&s1);
	CHECK_UEQ(s1.failable_calls - s0.failable_calls, 14);
	s0 = s1;
	CHECK(!tide_kvmalloc(100, TIDE_NORECLAIM));
	tide__os_stats(&s1);
	tide__fault_clear();
	CHECK_UEQ(s1.failable_calls - s0.failable_calls, 1);
}

/* ---- the OOM loop -------------------------------------------------- */

struct seq {
	size_t from, to;
	unsigned alloc_flags, flags;
};

/* kvmalloc(from) then kvrealloc(to); on failure the block is unchanged. */
static int realloc_body(void *arg)
{
	struct seq *s = arg;
	char *p = tide_kvmalloc(s->from, s->alloc_flags), *q;

	if (!p)
		return -errno;
	fill(p, s->from, 6);
	q = tide_kvrealloc(p, s->to, s->flags);
	if (!q) {
		int err = errno;

		CHECK_EQ(err, ENOMEM);
		CHECK_KVSIZE(p, s->from);
		CHECK(intact(p, s->from, 6));
		tide_kvfree(p);
		return -err;
	}
	CHECK_KVSIZE(q, s->to);
	CHECK(intact(q, TIDE__MIN(s->from, s->to), 6));
	tide_kvfree(q);
	return 0;
}

static int calloc_body(void *arg)
{
	size_t *n = arg;
	char *p = tide_kvcalloc(*n, 1, 0);

	if (!p)
		return -errno;
	CHECK(all_zero(p, *n));
	tide_kvfree(p);
	return 0;
}

/* ---- paged totals (tide_kv_stats) ------------------------------------ */

/* Bytes mapped for a paged block of @size bytes in @unit units. */
static size_t mapped(size_t size, size_t unit)
{
	return TIDE__ALIGN_UP(PAGED_HDR + size, unit);
}

/* Check that the totals are @base plus exactly @nb, @nreq and @nmap. */
#define CHECK_TOTALS(base, nb, nreq, nmap)                             \
	do {                                                           \
		struct tide_kv_stats th_kv;                            \
		tide_kv_stats(&th_kv);                                 \
		CHECK_UEQ(th_kv.blocks, (base).blocks + (nb));         \
		CHECK_UEQ(th_kv.requested, (base).requested + (nreq)); \
		CHECK_UEQ(th_kv.committed, (base).committed + (nmap)); \
	} while (0)

TEST(paged_totals_follow_alloc_grow_shrink_free)
{
	struct tide_kv_stats base;
	size_t ps = page(), hm = mapped(3 * MiB, 2 * MiB);
	char *p, *q, *h, *g;

	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
	tide_kv_stats(&base);
	p = tide_kvmalloc(1 * MiB, 0);
	CHECK(p);
	CHECK_TOTALS(base, 1, 1 * MiB, mapped(1 * MiB, ps));
	/* Heap blocks are not counted, not even their frees. */
	h = tide_kvmalloc(1000, 0);
	CHECK(h && !tide_kv_is_paged(h));
	CHECK_TOTALS(base, 1, 1 * MiB, mapped(1 * MiB, ps));
	tide_kvfree(tide_kvmalloc(100, 0));
	CHECK_TOTALS(base, 1, 1 * MiB, mapped(1 * MiB, ps));
	/* Grow past the committed pages. */
	q = tide_kvrealloc(p, 4 * MiB, 0);
	CHECK(q);
	CHECK_TOTALS(base, 1, 4 * MiB, mapped(4 * MiB, ps));
	/* Grow within them: only the requested bytes move. */
	q = tide_kvrealloc(q, 4 * MiB + 10, 0);
	CHECK(q);
	CHECK_UEQ(mapped(4 * MiB + 10, ps), mapped(4 * MiB, ps));
	CHECK_TOTALS(base, 1, 4 * MiB + 10, mapped(4 * MiB, ps));
	/* Shrink: the tail pages go back and stop counting. */
	q = tide_kvrealloc(q, 16 * KiB, 0);
	CHECK(q);
	CHECK_TOTALS(base, 1, 16 * KiB, mapped(16 * KiB, ps));
	/* A heap block promoted to a paged one counts from then on. */
	h = tide_kvrealloc(h, 300 * KiB, 0);
	CHECK(h && tide_kv_is_paged(h));
	CHECK_TOTALS(base, 2, 316 * KiB,
		     mapped(16 * KiB, ps) + mapped(300 * KiB, ps));
	/* A huge block commits 2 MiB units. */
	g = tide_kvmalloc(3 * MiB, TIDE_HUGE);
	CHECK(g);
	CHECK_UEQ(hm, 4 * MiB);
	CHECK_TOTALS(base, 3, 316 * KiB + 3 * MiB,
		     mapped(16 * KiB, ps) + mapped(300 * KiB, ps) + hm);
	tide_kvfree(g);
	CHECK_TOTALS(base, 2, 316 * KiB,
		     mapped(16 * KiB, ps) + mapped(300 * KiB, ps));
	tide_kvfree(q);
	CHECK_TOTALS(base, 1, 300 * KiB, mapped(300 * KiB, ps));
	/* Resizing to 0 frees. */
	CHECK(!tide_kvrealloc(h, 0, 0));
	CHECK_TOTALS(base, 0, 0, 0);
	/* A fresh process (each test is a fork of the runner) has none. */
	CHECK_UEQ(base.blocks, 0);
	CHECK_UEQ(base.requested, 0);
	CHECK_UEQ(base.committed, 0);
}

TEST(paged_totals_unchanged_by_failed_calls)
{
	struct tide_kv_stats base;
	size_t ps = page();
	char *p, *q;

	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
	tide_kv_stats(&base);
	p = tide_kvmalloc(1 * MiB, 0);
	CHECK(p);
	/* A grow whose mremap (and every retry) fails. */
	tide__fault_set(1, true);
	q = tide_kvrealloc(p, 64 * MiB, TIDE_NORECLAIM);
	CHECK_CMP(tide__fault_hits(), >=, 1);
	tide__fault_clear();
	CHECK(!q);
	CHECK_TOTALS(base, 1, 1 * MiB, mapped(1 * MiB, ps));
	/* An allocation whose mmap fails. */
	tide__fault_set(1, true);
	CHECK(!tide_kvmalloc(2 * MiB, TIDE_NORECLAIM));
	tide__fault_clear();
	CHECK_TOTALS(base, 1, 1 * MiB, mapped(1 * MiB, ps));
	/* A shrink whose tail munmap fails keeps its pages, and counts them. */
	tide__fault_set(1, false);
	q = tide_kvrealloc(p, 74, 0);
	CHECK_UEQ(tide__fault_hits(), 1);
	tide__fault_clear();
	CHECK_PTR_EQ(q, p);
	CHECK_UEQ(tide_kvresident(p), mapped(1 * MiB, ps) - PAGED_HDR);
	CHECK_TOTALS(base, 1, 74, mapped(1 * MiB, ps));
	/* The next shrink that works gives them back. */
	q = tide_kvrealloc(p, 70, 0);
	CHECK_PTR_EQ(q, p);
	CHECK_TOTALS(base, 1, 70, ps);
	tide_kvfree(p);
	CHECK_TOTALS(base, 0, 0, 0);
}

struct fork_arg {
	struct tide_kv_stats st; /* the parent's totals at fork */
	void *p; /* a paged block of 1 MiB */
};

static void totals_in_child(void *arg)
{
	struct fork_arg *fa = arg;

	CHECK_TOTALS(fa->st, 0, 0, 0);
	tide_kvfree(fa->p);
	CHECK_TOTALS(fa->st, (size_t)-1, -(1 * MiB), -mapped(1 * MiB, page()));
	printf("child ok\n");
}

TEST(paged_totals_carry_into_a_forked_child)
{
	struct fork_arg arg;
	char out[4096];
	int status;

	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
	arg.p = tide_kvmalloc(1 * MiB, 0);
	CHECK(arg.p);
	tide_kv_stats(&arg.st);
	CHECK_CMP(arg.st.blocks, >=, 1);
	status = th_fork(totals_in_child, &arg, out, sizeof(out));
	th_note("%s", out);
	CHECK_EQ(status, 0);
	CHECK(strstr(out, "child ok"));
	/* The child's free was its own. */
	CHECK_TOTALS(arg.st, 0, 0, 0);
	tide_kvfree(arg.p);
}

#define TOT_THREADS 4
#define TOT_ROUNDS 300

static void *totals_thread(void *arg)
{
	void **keep = arg;
	char *p = NULL;

	for (int i = 0; i < TOT_ROUNDS; i++) {
		p = tide_kvmalloc(200 * KiB, 0);
		if (!p)
			return NULL;
		p = tide_kvrealloc(p, (size_t)(i % 7 + 1) * 300 * KiB, 0);
		if (!p)
			return NULL;
		p = tide_kvrealloc(p, 150 * KiB, 0);
		if (!p)
			return NULL;
		if (i + 1 < TOT_ROUNDS)
			tide_kvfree(p);
	}
	*keep = p;
	return NULL;
}

TEST(paged_totals_exact_across_threads)
{
	struct tide_kv_stats base;
	pthread_t t[TOT_THREADS];
	void *keep[TOT_THREADS] = { 0 };

	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
	tide_kv_stats(&base);
	for (int i = 0; i < TOT_THREADS; i++)
		CHECK(!pthread_create(&t[i], NULL, totals_thread, &keep[i]));
	for (int i = 0; i < TOT_THREADS; i++)
		CHECK(!pthread_join(t[i], NULL));
	for (int i = 0; i < TOT_THREADS; i++)
		CHECK(keep[i]);
	CHECK_TOTALS(base, TOT_THREADS, TOT_THREADS * 150 * KiB,
		     TOT_THREADS * mapped(150 * KiB, page()));
	for (int i = 0; i < TOT_THREADS; i++)
		tide_kvfree(keep[i]);
	CHECK_TOTALS(base, 0, 0, 0);
}

/*
 * kv keeps a paged block's lengths in its registry, outside the block:
 * nothing kv does to a paged block (without TIDE_ZERO) reads or writes its
 * pages.  With the whole mapping PROT_NONE, any touch would fault.
 */
TEST(kv_never_touches_a_paged_block)
{
	static const unsigned flags[] = { 0, TIDE_HUGE };

	for (size_t f = 0; f < 2; f++) {
		char *p = tide_kvmalloc(1 * MiB, flags[f]);
		size_t len;

		CHECK(p);
		len = tide_kvresident(p) + 64;
		CHECK(!mprotect(p - 64, len, PROT_NONE));
		CHECK(tide_kv_is_paged(p));
		CHECK_UEQ(tide_kvsize(p), 1 * MiB);
		CHECK_UEQ(tide_kvresident(p), len - 64);
		p = tide_kvrealloc(p, 256 * KiB, flags[f]); /* tail unmap */
		CHECK(p);
		CHECK_UEQ(tide_kvsize(p), 256 * KiB);
#ifndef TIDE_PORTABLE_REMAP
		/* grow, may move (the portable fallback copies the data) */
		p = tide_kvrealloc(p, 8 * MiB, flags[f]);
		CHECK(p);
		CHECK_UEQ(tide_kvsize(p), 8 * MiB);
		CHECK_UEQ(resident_pages(p, 8 * MiB), 0);
#endif
		tide_kvfree(p);
	}
}

/*
 * The registry's lookups take no lock: heap blocks of the paged shape are
 * looked up while other threads map, move and unmap paged blocks (the
 * TSan build checks the ordering).
 */
#define REG_THREADS 4
#define REG_ROUNDS 400

static void *registry_churn(void *arg)
{
	long bad = 0;

	for (int i = 0; i < REG_ROUNDS; i++) {
		char *p = tide_kvmalloc((size_t)(i % 5 + 1) * 100 * KiB, 0);
		void *h[8];

		if (!p)
			return (void *)1L;
		for (int j = 0; j < 8; j++) {
			h[j] = tide_kvmalloc((size_t)(j + 1) * 1000, 0);
			if (!h[j] || tide_kv_is_paged(h[j]))
				bad++;
		}
		p = tide_kvrealloc(p, (size_t)(i % 3 + 2) * MiB, 0);
		if (!p || !tide_kv_is_paged(p) ||
		    tide_kvsize(p) != (size_t)(i % 3 + 2) * MiB)
			bad++;
		for (int j = 0; j < 8; j++)
			tide_kvfree(h[j]);
		tide_kvfree(p);
	}
	return (void *)bad;
}

TEST(registry_lookups_race_with_paged_churn)
{
	struct tide_kv_stats base;
	pthread_t t[REG_THREADS];
	void *bad;

	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
	tide_kv_stats(&base);
	for (int i = 0; i < REG_THREADS; i++)
		CHECK(!pthread_create(&t[i], NULL, registry_churn, NULL));
	for (int i = 0; i < REG_THREADS; i++) {
		CHECK(!pthread_join(t[i], &bad));
		CHECK_EQ((long)bad, 0);
	}
	CHECK_TOTALS(base, 0, 0, 0);
}

/*
 * A heap block the C heap placed at the paged shape (64 mod 4096): one of
 * the first @max kv blocks of @n bytes that is, or NULL.  The others stay
 * in @keep (@*nkeep of them) so that the shaped one is not reused.
 */
static char *shaped_heap_block(size_t n, char **keep, int *nkeep, int max)
{
	for (int i = 0; i < max; i++) {
		char *p = tide_kvmalloc(n, 0);

		if (!p)
			return NULL;
		if (((uintptr_t)p & 4095) == 64 && !tide_kv_is_paged(p))
			return p;
		keep[(*nkeep)++] = p;
	}
	return NULL;
}

/*
 * tide_kvfree() and tide_kvrealloc() of such a block give it to the C heap
 * (heap_live counts the C heap's blocks kv holds), with no paged block
 * counted or freed; with a paged block mapped first or not (whether the
 * table then has a leaf for the block's range depends on the C heap's
 * layout: the test below places one there for sure).
 */
static void shaped_heap_blocks_go_to_the_heap(bool nodes)
{
	enum { MAX = 4096 };
	static const size_t sizes[] = { 16, 32, 48, 80 };
	struct tide__os_stats a, b;
	struct tide_kv_stats base, st;
	char *keep[2 * MAX], *h = NULL, *q, *paged = NULL;
	int nkeep = 0;

	if (nodes) {
		paged = tide_kvmalloc(1 * MiB, 0);
		CHECK(paged && tide_kv_is_paged(paged));
	}
	tide_kv_stats(&base);
	for (size_t i = 0; i < 4 && !h; i++)
		h = shaped_heap_block(sizes[i], keep, &nkeep, MAX / 4);
	CHECK(h); /* a 16-byte granular heap gives one in at most 256 */
	tide__os_stats(&a);
	tide_kvfree(h);
	tide__os_stats(&b);
	CHECK_EQ(b.heap_live, a.heap_live - 1);
	tide_kv_stats(&st);
	CHECK_UEQ(st.blocks, base.blocks);

	h = NULL;
	for (size_t i = 0; i < 4 && !h; i++)
		h = shaped_heap_block(sizes[i], keep, &nkeep, MAX / 4);
	CHECK(h);
	memset(h, 0x5a, 16);
	tide__os_stats(&a);
	q = tide_kvrealloc(h, 3000, 0);
	CHECK(q && !tide_kv_is_paged(q));
	CHECK_CMP(malloc_usable_size(q), >=, 3000);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(q[i], 0x5a);
	tide__os_stats(&b);
	CHECK_EQ(b.heap_live, a.heap_live); /* the same block, resized */
	tide_kv_stats(&st);
	CHECK_UEQ(st.blocks, base.blocks);
	tide_kvfree(q);
	while (nkeep)
		tide_kvfree(keep[--nkeep]);
	tide_kvfree(paged);
}

static void *shaped_in_thread(void *arg)
{
	shaped_heap_blocks_go_to_the_heap(*(bool *)arg);
	return NULL;
}

/*
 * A C heap that hands out one block, placed at the paged shape on a page
 * of its own inside the 16 MiB that one registry leaf covers, beside a
 * live paged block: tide_kvfree()'s lookup reaches an empty entry of a
 * present leaf, and the block goes to the heap's free().
 */
static char *leaf_block;
static int leaf_frees;

static void *leaf_malloc(size_t n)
{
	(void)n;
	return leaf_block;
}

static void leaf_free(void *p)
{
	if (p == leaf_block)
		leaf_frees++;
	else
		free(p);
}

TEST(heap_blocks_of_the_paged_shape_go_to_the_c_heap)
{
	struct tide__os_hooks h = tide__os_default_hooks;
	struct tide_kv_stats base, st;
	uintptr_t start, leaf;
	char *paged, *page = NULL, *p;
	pthread_t t;
	bool nodes = true;

	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
	shaped_heap_blocks_go_to_the_heap(false);
	shaped_heap_blocks_go_to_the_heap(true);
	/* a thread's heap (glibc: an arena mapped beside the paged blocks) */
	CHECK(!pthread_create(&t, NULL, shaped_in_thread, &nodes));
	CHECK(!pthread_join(t, NULL));

	/* the same with a leaf present, whatever the C heap's layout */
	paged = tide_kvmalloc(1 * MiB, 0);
	CHECK(paged && tide_kv_is_paged(paged));
	start = (uintptr_t)paged - 64;
	leaf = start & ~(((uintptr_t)16 << 20) - 1);
	for (uintptr_t a = leaf; a < leaf + (16u << 20) && !page; a += 4096) {
		void *m;

		if (a >= start && a < start + 2 * MiB)
			continue;
		m = mmap((void *)a, 4096, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
			 0);
		if (m == (void *)a)
			page = m;
		else if (m != MAP_FAILED)
			munmap(m, 4096); /* an old kernel ignored the flag */
	}
	CHECK(page); /* 4096 pages, at most 512 of them the paged block's */
	leaf_block = page + 64;
	h.malloc = leaf_malloc;
	h.free = leaf_free;
	tide_kv_stats(&base);
	tide__os_set_hooks(&h);
	p = tide_kvmalloc(16, 0);
	CHECK(p == leaf_block && !tide_kv_is_paged(p));
	tide_kvfree(p);
	CHECK_EQ(leaf_frees, 1);
	/* (not tide_kvrealloc(): its slow path, unchanged, asks
	 * malloc_usable_size() about the block, which this fake heap's is
	 * not) */
	tide__os_set_hooks(NULL);
	tide_kv_stats(&st);
	CHECK_UEQ(st.blocks, base.blocks);
	CHECK(tide_kv_is_paged(paged)); /* its neighbour untouched */
	munmap(page, 4096);
	tide_kvfree(paged);
}

/*
 * The registry's leaf pages that hold no live block go back with
 * tide_purge(): after a spike of paged blocks the table costs nothing.
 */
TEST(registry_pages_go_back_with_purge)
{
	enum { N = 64 };
	/*
	 * The address space one 4 KiB page of entries covers: an entry is
	 * two words (16 bytes on 64-bit: 1 MiB; 8 bytes on 32-bit: 2 MiB).
	 */
	const uintptr_t span = 4096 / (2 * sizeof(size_t)) * 4096;
	struct tide_kv_stats st;
	uintptr_t mib[N];
	size_t distinct = 0;
	char *b[N];

	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
	tide_kv_stats(&st);
	CHECK_UEQ(st.blocks, 0); /* nothing else lives in the registry */
	tide_purge();
	CHECK_UEQ(tide__kv_registry_resident(true), 0);
	for (int i = 0; i < N; i++) {
		b[i] = tide_kvmalloc(1 * MiB, 0);
		CHECK(b[i]);
		mib[i] = (uintptr_t)(b[i] - 64) / span;
	}
	/* One 4 KiB page of entries per span of address space with a block
	 * start (lookups may map more as read-only zero pages). */
	for (int i = 0; i < N; i++) {
		int j = 0;

		while (j < i && mib[j] != mib[i])
			j++;
		distinct += j == i;
	}
	CHECK_CMP(tide__kv_registry_resident(true), >=, distinct * 4096);
	for (int i = 0; i < N; i++)
		tide_kvfree(b[i]);
	tide_purge();
	CHECK_UEQ(tide__kv_registry_resident(true), 0);
}

TEST(oom_loop_over_the_kv_api)
{
	struct seq seqs[] = {
		{ 100, 200, 0, 0 }, /* heap grow */
		{ 200, 100, 0, 0 }, /* heap shrink */
		{ 1000, 1 * MiB, 0, TIDE_ZERO }, /* heap -> paged */
		{ 1 * MiB, 4 * MiB, 0, 0 }, /* paged grow */
		{ 1 * MiB, 16 * KiB, 0, 0 }, /* paged shrink */
		{ 2 * MiB, 9 * MiB, TIDE_HUGE, 0 }, /* huge grow */
		{ 9 * MiB, 2 * MiB, TIDE_HUGE, 0 }, /* huge shrink */
		{ 300 * KiB, 100, 0, TIDE_NORECLAIM },
	};
	size_t n = 300 * KiB;
	unsigned long points = 0;

	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++)
		points += th_oom_loop("kvmalloc+kvrealloc", realloc_body,
				      &seqs[i]);
	points += th_oom_loop("kvcalloc", calloc_body, &n);
	CHECK_CMP(points, >=, 20);
}

RUN_TESTS(T(small_blocks_come_from_the_heap),
	  T(realloc_to_zero_frees_whatever_the_flags),
	  T(impossible_sizes_fail_at_once_without_reclaim),
	  T(sizes_past_ram_and_swap_fail_after_one_try_without_reclaim),
	  T(sizes_within_ram_and_swap_or_unknown_still_reclaim),
	  T(a_swapon_is_seen_by_the_next_refusal_a_second_later),
	  T(unknown_ram_and_swap_leave_reclaim_on),
	  T(sizes_past_ram_and_swap_are_still_tried),
	  T(mem_total_is_ram_plus_swap),
	  T(zero_flag_shrink_with_failed_unmap_regrows_zeroed),
	  T(threshold_splits_heap_and_paged_at_128k),
	  T(set_threshold_changes_new_blocks_only),
	  T(threshold_from_environment),
	  T(threshold_environment_garbage_is_ignored),
	  T(threshold_environment_past_size_max_is_ignored),
	  T(zero_size_block_is_valid_and_unique),
	  T(shrink_256k_to_16k_returns_60_of_64_pages),
	  T(shrink_always_keeps_one_page),
	  T(vrealloc_sequence_keeps_data_and_pointers),
	  T(paged_growth_moves_page_tables_not_bytes),
	  T(paged_growth_in_place_when_room),
	  T(heap_to_paged_promotion_copies_once),
	  T(heap_block_resized_within_its_usable_size_stays_on_the_heap),
	  T(heap_block_shrunk_past_a_lowered_threshold_stays_on_the_heap),
	  T(realloc_to_kvsize_keeps_the_block_in_place),
	  T(growing_60_times_costs_no_copy), T(realloc_null_allocates),
	  T(realloc_to_zero_frees_and_returns_null), T(free_null_is_a_no_op),
	  T(failed_realloc_leaves_block_unchanged),
	  T(overflow_and_bad_input_are_rejected), T(kvcalloc_zeroes),
	  T(zero_flag_does_not_touch_fresh_pages),
	  T(zero_flag_shrink_inside_page_zeroes_the_slack),
	  T(zero_flag_heap_growth_reads_zero),
	  T(huge_blocks_are_2m_aligned_and_advised),
	  T(huge_blocks_stay_aligned_when_moved),
	  T(failed_huge_move_unmaps_only_its_own_reservation),
	  T(foreign_pointer_is_reported_then_aborts),
	  T(asan_poisons_bytes_past_requested_size),
	  T(enomem_retries_after_each_reclaim_pass),
	  T(paged_totals_follow_alloc_grow_shrink_free),
	  T(paged_totals_unchanged_by_failed_calls),
	  T(paged_totals_carry_into_a_forked_child),
	  T(paged_totals_exact_across_threads),
	  T(kv_never_touches_a_paged_block),
	  T(registry_lookups_race_with_paged_churn),
	  T(heap_blocks_of_the_paged_shape_go_to_the_c_heap),
	  T(registry_pages_go_back_with_purge), T(oom_loop_over_the_kv_api))

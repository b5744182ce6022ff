// SPDX-License-Identifier: MIT
/*
 * kv.c - hybrid heap/paged allocation with honest shrinking.
 *
 * Heap blocks (below the threshold) are plain malloc() blocks, untagged: a
 * kvmalloc/kvfree pair is malloc/free plus a compare, so small blocks cost
 * what the process allocator costs (issue 15), in time and in resident
 * bytes.  Paged blocks are told apart by address, the way the kernel's
 * is_vmalloc_addr() does it, then by the registry:
 *
 *   paged block: [gap 64][data ...][slack]   one mapping of its own
 *
 * A paged block's data starts 64 bytes into a page, so its address is 64
 * modulo 4096 (for any page size of 4 KiB or more).  Only a pointer of that
 * shape is looked up in the registry (kv_registry.c), a table outside the blocks
 * that holds each paged block's requested and committed length; everything
 * not in it is a heap block.  One heap block in 256 has the paged shape
 * too: the lookup does not find it, and it is freed as a heap block.  The
 * 64 bytes before the data are unused (poisoned in ASan builds): they keep
 * the shape, and paged blocks keep their layout of earlier releases.
 *
 * Why the registry and not a header in the block: kv never reads or writes
 * a paged block's own pages, so allocating one faults nothing in, and
 * freeing one does not touch it before the munmap.  That matters on
 * virtual machines: measured on this project's 2-CPU guest, a munmap of a
 * 256 KiB mapping costs 2.3x as much right after any of its pages was
 * read (15.6 ms against 6.8 ms for 256 mappings), which was the whole gap
 * between a cache shrinker's tide_kvfree() loop and a bare munmap loop
 * (bench/bench_pressure.c, issue 12).
 *
 * A paged block's committed length (map_len) is a multiple of its unit (the
 * page, or 2 MiB with TIDE_HUGE); the bytes between the requested end and
 * map_len are the slack: poisoned in ASan builds, zero when TIDE_ZERO is
 * used consistently.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <tide/kv.h>
#include <tide/shrinker.h>

#include "internal.h"
#include "kv_registry.h"

/* The unused bytes before a paged block's data. */
#define PAGED_HDR ((size_t)64)
/* Paged data pointers are PAGED_HDR modulo SHAPE_ALIGN. */
#define SHAPE_ALIGN ((uintptr_t)4096)

_Static_assert(PAGED_HDR % alignof(max_align_t) == 0, "alignment");

/*
 * User-space addresses end below ADDR_END: anything at or above it is a
 * kernel or non-canonical address, reported before anything is read.
 * x86-64 with 4-level paging: 2^47 (5-level kernels only map above it on
 * request, which malloc and tide never make); arm64: 2^48.
 */
#if defined(__x86_64__)
#define ADDR_END ((uintptr_t)1 << 47)
#elif defined(__aarch64__)
#define ADDR_END ((uintptr_t)1 << 48)
#else
#define ADDR_END UINTPTR_MAX
#endif
#define ADDR_LOW ((uintptr_t)4096)

/*
 * The largest block kv tries, heap or paged: x86-64's user address space,
 * less room for the header and rounding (issue 14 item 8: mremap reports
 * EINVAL past it; kv reports ENOMEM).  A larger request fails with ENOMEM
 * at once, on every path and without reclaim: no cache a shrinker frees
 * can make room for it (it used to run 13 reclaim passes on the heap path,
 * dropping every cache before failing).  A smaller one past RAM plus swap
 * is tried, then fails without reclaim too (reclaim_bound()).
 */
#if SIZE_MAX > 0xffffffffu
#define KV_MAX_SIZE (((size_t)1 << 47) - 2 * TIDE__HUGE_SIZE)
#else
/* 32-bit: no object is larger than PTRDIFF_MAX (a shift by 47 was UB) */
#define KV_MAX_SIZE ((size_t)PTRDIFF_MAX - 2 * TIDE__HUGE_SIZE)
#endif

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/*
 * Heap requests below alignof(max_align_t) ask for that much: allocators
 * with 8-byte classes (jemalloc, mimalloc, tcmalloc) would otherwise return
 * 8-aligned blocks, and kv promises max_align_t alignment.
 */
static inline size_t heap_req(size_t size)
{
	return size < alignof(max_align_t) ? alignof(max_align_t) : size;
}

/* ---- threshold ------------------------------------------------------ */

static atomic_size_t kv_threshold = TIDE_KV_DEFAULT_THRESHOLD;
static pthread_once_t threshold_once = PTHREAD_ONCE_INIT;
static atomic_bool env_read; /* threshold_from_env() has run */
static atomic_bool watching; /* tide__kv_watch() */
/*
 * What the fast paths compare sizes with: min(threshold, KV_MAX_SIZE + 1),
 * or 0 until the first slow call has read $TIDE_KV_THRESHOLD and while the
 * sensor watches heap blocks (tide__kv_watch()).  A plain relaxed load
 * (one mov on x86-64), no pthread_once per call: while it is 0 every call
 * takes the slow path, which reads the environment and charges the sensor.
 */
/* __atomic builtins only; the inline fast paths in kv.h read it. */
_Alignas(64) TIDE_API size_t tide__kv_fast_limit;

/*
 * Store the fast limit its inputs give, then look at the inputs again: a
 * writer whose inputs changed meanwhile stores again, so the last store is
 * always made from the inputs as they are (no lock: a fork child or a
 * signal never waits here).
 */
static void refresh_fast_limit(void)
{
	for (;;) {
		bool w = atomic_load(&watching), env = atomic_load(&env_read);
		size_t t = atomic_load(&kv_threshold);

		__atomic_store_n(&tide__kv_fast_limit,
				 w || !env ? 0 : TIDE__MIN(t, KV_MAX_SIZE + 1),
				 __ATOMIC_SEQ_CST);
		if (w == atomic_load(&watching) &&
		    env == atomic_load(&env_read) &&
		    t == atomic_load(&kv_threshold))
			return;
	}
}

bool tide__kv_watching(void)
{
	return atomic_load_explicit(&watching, memory_order_relaxed);
}

void tide__kv_watch(bool on)
{
	atomic_store(&watching, on);
	refresh_fast_limit();
}

/* A heap block's @bytes, to the sensor while it watches heap blocks. */
static void heap_charge(size_t bytes, unsigned flags)
{
	if (atomic_load_explicit(&watching, memory_order_relaxed))
		tide__sensor_charge(bytes, flags);
}

static bool parse_size(const char *s, size_t *ret)
{
	unsigned long long v;
	char *end;
	unsigned shift = 0;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return false;
	switch (*end) {
	case 'k':
	case 'K':
		shift = 10;
		end++;
		break;
	case 'm':
	case 'M':
		shift = 20;
		end++;
		break;
	case 'g':
	case 'G':
		shift = 30;
		end++;
		break;
	}
	/* past SIZE_MAX (a 32-bit size_t), with a suffix or without */
	if (*end || v > (SIZE_MAX >> shift))
		return false;
	*ret = (size_t)(v << shift);
	return true;
}

static void threshold_from_env(void)
{
	size_t v;

	/* not from the environment of a set-user-ID program (as psi.c) */
	if (parse_size(secure_getenv("TIDE_KV_THRESHOLD"), &v))
		atomic_store(&kv_threshold, v);
	atomic_store(&env_read, true);
	refresh_fast_limit();
}

size_t tide_kv_threshold(void)
{
	pthread_once(&threshold_once, threshold_from_env);
	return atomic_load_explicit(&kv_threshold, memory_order_relaxed);
}

void tide_kv_set_threshold(size_t bytes)
{
	pthread_once(&threshold_once, threshold_from_env);
	atomic_store(&kv_threshold, bytes);
	refresh_fast_limit();
}

/* ---- paged totals --------------------------------------------------- */

/*
 * Process-wide figures of the paged blocks (tide_kv_stats()).  Only the
 * paged paths touch them, each of which makes a syscall anyway; the heap
 * fast paths never do.  The line of their own keeps those writes off the
 * line the fast paths read (tide__kv_fast_limit).
 */
static struct {
	_Alignas(64) atomic_size_t blocks;
	atomic_size_t requested;
	atomic_size_t committed;
} kv_totals;

static inline void totals_add(atomic_size_t *c, size_t v)
{
	atomic_fetch_add_explicit(c, v, memory_order_relaxed);
}

static inline void totals_sub(atomic_size_t *c, size_t v)
{
	atomic_fetch_sub_explicit(c, v, memory_order_relaxed);
}

void tide_kv_stats(struct tide_kv_stats *st)
{
	if (!st)
		return;
	st->blocks =
		atomic_load_explicit(&kv_totals.blocks, memory_order_relaxed);
	st->requested = atomic_load_explicit(&kv_totals.requested,
					     memory_order_relaxed);
	st->committed = atomic_load_explicit(&kv_totals.committed,
					     memory_order_relaxed);
}

/* ---- telling blocks apart ------------------------------------------ */

static inline char *base_of(const void *p)
{
	return (char *)p - PAGED_HDR;
}

static inline bool addr_bad(uintptr_t a)
{
	return a - ADDR_LOW >= ADDR_END - ADDR_LOW;
}

static inline bool paged_shape(uintptr_t a)
{
	return (a & (SHAPE_ALIGN - 1)) == PAGED_HDR;
}

/*
 * The registry entry at @p's mapping start if @p has the paged shape and
 * the table has a leaf there (live, freed or never used), else NULL.
 */
static inline struct reg_ent *shape_ent(const void *p)
{
	return paged_shape((uintptr_t)p) ?
		       tide__reg_find((uintptr_t)base_of(p)) :
		       NULL;
}

/*
 * A heap block beyond doubt, decided without a call: a user address, and
 * not the paged shape or with no leaf in the table for its range (one or
 * two loads).  NULL is no user address.
 */
static inline bool heap_for_sure(const void *p)
{
	uintptr_t a = (uintptr_t)p;

	return !addr_bad(a) && (likely(!paged_shape(a)) || !shape_ent(p));
}

/* @e (shape_ent()'s) if it is a live paged block's, else NULL. */
static inline struct reg_ent *live_ent(struct reg_ent *e)
{
	return e && ent_word(e) ? e : NULL;
}

/* The registry entry of a live paged block @p, or NULL (a heap block). */
static inline struct reg_ent *paged_ent(const void *p)
{
	return live_ent(shape_ent(p));
}

/*
 * The entry of a non-NULL pointer if it is a paged block, else NULL;
 * kernel or non-canonical pointers are reported.
 */
static struct reg_ent *ent_of(const void *p, const char *what)
{
	if (addr_bad((uintptr_t)p))
		tide__misuse(what, p);
	return paged_ent(p);
}

/*
 * A pointer that is no live block, about to go to the C heap, with @e its
 * shape_ent(): if it is where a paged block was (freed, or moved by a
 * resize) and that mapping is gone, free() or realloc() would fault on
 * it: report it and abort instead.  A heap block that the C heap has
 * since placed there is mapped and goes on.  Only on the paged shape's
 * slow path: no cost to others.
 */
static void check_gone(const void *p, struct reg_ent *e, const char *what)
{
	if (e && ent_buried(e) && !tide__os_mapped(base_of(p)))
		tide__misuse(what, p);
}

/* ---- direct reclaim ------------------------------------------------- */

/*
 * The most memory reclaim could ever make room for: total RAM plus total
 * swap, read after the first failed attempt (0: not read yet; SIZE_MAX:
 * unknown, which stops no retry), and read again when a request past it
 * failed and the reading is more than a second old (a swapon since; the
 * read costs a system call on a path that has already failed).  A request
 * larger than that fails without reclaim: the kernel's heuristic
 * (vm.overcommit_memory 0) refuses any mapping larger than RAM plus swap,
 * and strict accounting (2) commits at most swap plus overcommit_ratio%
 * of RAM, whatever the caches hold; reclaim would only empty them.  The
 * request is still tried first: with vm.overcommit_memory 1 it may
 * succeed.
 */
#define BOUND_REREAD_NS 1000000000ull
static atomic_size_t reclaim_limit;
static _Atomic uint64_t reclaim_limit_ns;

static size_t reclaim_bound(size_t size)
{
	size_t b = atomic_load_explicit(&reclaim_limit, memory_order_relaxed);
	uint64_t total, now;

	if (likely(b) && size <= b)
		return b;
	now = tide__os_now_ns();
	if (b && now - atomic_load_explicit(&reclaim_limit_ns,
					    memory_order_relaxed) <
			 BOUND_REREAD_NS)
		return b;
	b = SIZE_MAX;
	if (!tide__os_mem_total(&total) && total && total < SIZE_MAX)
		b = (size_t)total;
	atomic_store_explicit(&reclaim_limit_ns, now, memory_order_relaxed);
	atomic_store_explicit(&reclaim_limit, b, memory_order_relaxed);
	return b;
}

/*
 * After an attempt for @size bytes failed: run one more reclaim pass
 * (priority 12 down to 0) and say whether to try again.  errno is the
 * attempt's on a final no.
 */
static bool reclaim_and_retry(int *prio, unsigned flags, size_t size)
{
	int err = errno;

	if (err != ENOMEM || (flags & TIDE_NORECLAIM) || *prio < 0 ||
	    tide__in_reclaim() || size > reclaim_bound(size)) {
		errno = err;
		return false;
	}
	tide__direct_reclaim((*prio)--, flags);
	errno = err;
	return true;
}

/* ---- paged backend -------------------------------------------------- */

static size_t unit_for(unsigned flags)
{
	return (flags & TIDE_HUGE) ? TIDE__HUGE_SIZE : tide__os_page_size();
}

static size_t committed_len(size_t size, size_t unit)
{
	return TIDE__ALIGN_UP(PAGED_HDR + size, unit);
}

/* ASan: the gap before the data and the slack after @size are off limits. */
static void poison_block(void *p, size_t size, size_t map_len)
{
	tide__os_poison(base_of(p), PAGED_HDR);
	tide__os_poison((char *)p + size, map_len - PAGED_HDR - size);
}

/* Map @len bytes aligned to 2 MiB: over-map, then trim both ends. */
static int map_huge(size_t len, void **ret)
{
	char *raw, *aligned;
	int r;

	r = tide__os_map(len + TIDE__HUGE_SIZE, (void **)&raw);
	if (r)
		return r;
	aligned = (char *)TIDE__ALIGN_UP((uintptr_t)raw, TIDE__HUGE_SIZE);
	tide__os_trim(raw, (size_t)(aligned - raw));
	tide__os_trim(aligned + len, (size_t)(raw + TIDE__HUGE_SIZE - aligned));
	*ret = aligned;
	return 0;
}

static void *paged_alloc_once(size_t size, unsigned flags)
{
	size_t unit = unit_for(flags), len = committed_len(size, unit);
	struct reg_ent *e;
	void *base, *p;
	int r;

	r = (flags & TIDE_HUGE) ? map_huge(len, &base) :
				  tide__os_map(len, &base);
	if (r) {
		errno = -r;
		return NULL;
	}
	e = tide__reg_slot((uintptr_t)base, NULL);
	if (!e) {
		tide__os_unmap(base, len);
		errno = ENOMEM;
		return NULL;
	}
	if (flags & TIDE_HUGE)
		tide__os_advise(base, len, MADV_HUGEPAGE); /* only advice */
	/* Fresh anonymous pages read as zero: TIDE_ZERO costs nothing here,
	 * and kv writes none of them. */
	tide__reg_publish(e, len, flags & TIDE_HUGE, size);
	p = (char *)base + PAGED_HDR;
	poison_block(p, size, len);
	return p;
}

static void *paged_alloc(size_t size, unsigned flags)
{
	int prio = TIDE_DEF_PRIORITY;
	size_t len;
	void *p;

	do
		p = paged_alloc_once(size, flags);
	while (!p && reclaim_and_retry(&prio, flags, size));
	if (p) {
		len = committed_len(size, unit_for(flags));
		totals_add(&kv_totals.blocks, 1);
		totals_add(&kv_totals.requested, size);
		totals_add(&kv_totals.committed, len);
		tide__sensor_charge(len, flags);
	}
	return p;
}

#ifndef TIDE_PORTABLE_REMAP
/* Move a huge block of @old_len bytes to a fresh 2 MiB aligned place of
 * @len bytes. */
static int move_huge(char *base, size_t old_len, size_t len, void **ret)
{
	char *raw, *aligned;
	bool ours;
	int r;

	r = tide__os_reserve(len + TIDE__HUGE_SIZE, (void **)&raw);
	if (r)
		return r;
	aligned = (char *)TIDE__ALIGN_UP((uintptr_t)raw, TIDE__HUGE_SIZE);
	r = tide__os_remap_fixed(base, old_len, len, aligned, &ours);
	if (r) {
		if (ours) {
			tide__os_unmap(raw, len + TIDE__HUGE_SIZE);
		} else {
			/* the middle may be another mapping now: margins only */
			tide__os_trim(raw, (size_t)(aligned - raw));
			tide__os_trim(
				aligned + len,
				(size_t)(raw + TIDE__HUGE_SIZE - aligned));
		}
		return r;
	}
	tide__os_trim(raw, (size_t)(aligned - raw));
	tide__os_trim(aligned + len, (size_t)(raw + TIDE__HUGE_SIZE - aligned));
	tide__os_advise(aligned, len, MADV_HUGEPAGE);
	*ret = aligned;
	return 0;
}
#endif

/*
 * Give the paged block @*pp (entry @*ep) @len committed bytes; it may move
 * (then *pp and *ep are its new place and entry).  0 or -errno; on failure
 * nothing changed.
 */
static int paged_extend(void **pp, struct reg_ent **ep, size_t len)
{
	struct reg_ent *e = *ep, *ne;
	uintptr_t word = ent_word(e);
	size_t map_len = word & ~ENT_HUGE, size = ent_size(e);
	char *base = base_of(*pp);
	struct reg_spare spare;
	void *nb;
	int r;

#ifndef TIDE_PORTABLE_REMAP
	if (!tide__os_grow_inplace(base, map_len, len)) {
		ent_set_len(e, len);
		return 0;
	}
#endif
	/* Nodes for the new address first: after the move nothing may fail. */
	r = tide__reg_spare_get(&spare);
	if (r)
		return r;
	/* Off the registry before the pages leave: whatever is mapped at
	 * this address next is not a paged block.  Buried now (a free of the
	 * old address after the move is reported): once the pages left,
	 * another thread may register a new block here, whose size a later
	 * store would overwrite.  A failed move registers it again. */
	ent_clear(e);
	ent_bury(e);
#ifndef TIDE_PORTABLE_REMAP
	if (word & ENT_HUGE)
		r = move_huge(base, map_len, len, &nb);
	else
		r = tide__os_remap(base, map_len, len, &nb);
#else
	/* Portable fallback: map, copy what is in use, unmap. */
	r = (word & ENT_HUGE) ? map_huge(len, &nb) : tide__os_map(len, &nb);
	if (!r) {
		tide__os_copy((char *)nb + PAGED_HDR, base + PAGED_HDR, size);
		tide__os_unmap(base, map_len);
	}
#endif
	if (r) {
		tide__reg_publish(e, map_len, word & ENT_HUGE, size);
		tide__reg_spare_put(&spare);
		return r;
	}
	ne = tide__reg_slot((uintptr_t)nb, &spare);
	if (!ne) /* past 48 bits: the kernel moved it where none can be */
		tide__misuse("tide_kvrealloc: block moved out of reach", nb);
	tide__reg_publish(ne, len, word & ENT_HUGE, size);
	tide__reg_spare_put(&spare);
	*pp = (char *)nb + PAGED_HDR;
	*ep = ne;
	return 0;
}

static void *paged_resize(void *p, struct reg_ent *e, size_t size,
			  unsigned flags)
{
	size_t old = ent_size(e), map_len = ent_len(e), len, keep;
	int prio = TIDE_DEF_PRIORITY;
	int r;

	len = committed_len(size, ent_unit(e));
	if (size <= old) {
		/* Shrinking is an optimization: keep the pages on failure. */
		if (len < map_len &&
		    !tide__os_unmap_tail(base_of(p), map_len, len)) {
			totals_sub(&kv_totals.committed, map_len - len);
			map_len = len;
			ent_set_len(e, len);
		}
		/*
		 * The shrink lesson: bytes that stay committed past the new
		 * end must read as zero if the block grows back in place,
		 * including whole pages a failed unmap kept.
		 */
		keep = map_len - PAGED_HDR;
		if ((flags & TIDE_ZERO) && keep > size)
			memset((char *)p + size, 0,
			       TIDE__MIN(old, keep) - size);
		ent_set_size(e, size);
		totals_sub(&kv_totals.requested, old - size);
		poison_block(p, size, map_len);
		return p;
	}
	if (len > map_len) {
		size_t added = len - map_len;

		do
			r = paged_extend(&p, &e, len);
		while (r &&
		       (errno = -r, reclaim_and_retry(&prio, flags, size)));
		if (r == -EINVAL)
			r = -ENOMEM; /* mremap's word for "too large" */
		if (r) {
			poison_block(p, old,
				     map_len); /* a failed move unpoisons */
			errno = -r;
			return NULL;
		}
		map_len = len;
		totals_add(&kv_totals.committed, added);
		tide__sensor_charge(added, flags);
	}
	/* The grow lesson: fresh pages and zeroed slack need no memset. */
	tide__os_unpoison(p, size);
	ent_set_size(e, size);
	totals_add(&kv_totals.requested, size - old);
	poison_block(p, size, map_len);
	return p;
}

/* Free a paged block without reading or writing any of its pages. */
static void paged_free(void *p, struct reg_ent *e)
{
	size_t map_len = ent_len(e), size = ent_size(e);

	ent_clear(e);
	ent_bury(e);
	totals_sub(&kv_totals.blocks, 1);
	totals_sub(&kv_totals.requested, size);
	totals_sub(&kv_totals.committed, map_len);
	tide__os_unmap(base_of(p), map_len);
}

/* ---- heap backend --------------------------------------------------- */

/*
 * With TIDE_ZERO, every byte of a heap block up to its usable size reads as
 * zero unless the caller wrote it (tide_kvsize() reports the usable size).
 */
static void zero_tail(char *p, size_t from)
{
	size_t usable = tide__os_usable_size(p);

	if (usable > from)
		memset(p + from, 0, usable - from);
}

/* The heap allocation, after a fast attempt failed (@tried) or not. */
static void *heap_alloc(size_t size, unsigned flags, bool tried)
{
	int prio = TIDE_DEF_PRIORITY;
	char *p;

	if (tried && !reclaim_and_retry(&prio, flags, size))
		return NULL;
	do
		p = (flags & TIDE_ZERO) ? tide__os_calloc(1, heap_req(size)) :
					  tide__os_malloc(heap_req(size));
	while (!p && reclaim_and_retry(&prio, flags, size));
	if (p && (flags & TIDE_ZERO))
		zero_tail(p, size);
	if (p)
		heap_charge(heap_req(size), flags);
	return p;
}

static void *heap_resize(void *p, size_t size, unsigned flags, bool tried)
{
	size_t old = tide__os_usable_size(p);
	int prio = TIDE_DEF_PRIORITY;
	char *q;

	/*
	 * Promotion to a paged block, the one copy kv ever makes: only when
	 * the block grows past its usable size (tide_kvsize()) to the
	 * threshold or more.  A resize within the usable size is no growth
	 * (kv does not know a heap block's requested size), so it stays a
	 * heap realloc(): a shrink after the threshold was lowered (existing
	 * blocks keep their backend), and tide_kvrealloc(p, tide_kvsize(p)),
	 * which must keep the block where it is.
	 */
	if (size > old && size >= tide_kv_threshold()) {
		q = paged_alloc(size, flags);
		if (!q)
			return NULL;
		tide__os_copy(q, p, TIDE__MIN(old, size));
		tide__os_free(p);
		return q;
	}
	/*
	 * Resized to its own usable size (tide_kvrealloc(p, tide_kvsize(p)),
	 * kv.h's way to let the compiler know that size): in place, with no
	 * call.  glibc's realloc() would remap a block it mmap()ed to one
	 * page more, and may move it; the fast paths leave sizes from
	 * TIDE__KV_REALLOC_INLINE_MAX (glibc's lowest default mmap threshold,
	 * kv.h) to this
	 * function.
	 */
	if (size == old)
		return p;
	if (tried && !reclaim_and_retry(&prio, flags, size))
		return NULL;
	do
		q = tide__os_realloc(p, heap_req(size));
	while (!q && reclaim_and_retry(&prio, flags, size));
	if (q && (flags & TIDE_ZERO))
		zero_tail(q, TIDE__MIN(old, size));
	if (q && size > old)
		heap_charge(size - old, flags);
	return q;
}

/* ---- public API ----------------------------------------------------- */

static bool flags_ok(unsigned flags)
{
	if (flags & ~(TIDE_FLAGS_KV | TIDE_FLAGS_PRIVATE)) {
		errno = EINVAL;
		return false;
	}
	return true;
}

static void *kvmalloc_slow(size_t size, unsigned flags, bool tried)
{
	pthread_once(&threshold_once, threshold_from_env);
	if (!flags_ok(flags))
		return NULL;
	if (size > KV_MAX_SIZE) {
		/* Past the address space: no reclaim can help; some kernels
		 * (and valgrind) say EINVAL for such a mapping. */
		errno = ENOMEM;
		return NULL;
	}
	if (size >= tide_kv_threshold())
		return paged_alloc(size, flags);
	return heap_alloc(size, flags, tried);
}

void *tide_kvmalloc(size_t size, unsigned flags)
{
	void *p;

	/*
	 * The fast path takes no kv flag (container bits 16..31 are ignored
	 * anyway), so that nothing but @size lives across the malloc call (one saved register: the whole overhead over
	 * a bare malloc is a call, two compares and a push/pop).
	 */
	if (likely(size < tide__kv_fast_limit_now() &&
		   !(flags & ~TIDE_FLAGS_PRIVATE))) {
		p = tide__os_malloc(heap_req(size));
		if (likely(p))
			return p;
		return kvmalloc_slow(size, 0, true);
	}
	return kvmalloc_slow(size, flags, false);
}

void *tide_kvcalloc(size_t n, size_t size, unsigned flags)
{
	size_t bytes;

	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = EOVERFLOW;
		return NULL;
	}
	return tide_kvmalloc(bytes, flags | TIDE_ZERO);
}

static void *kvrealloc_slow(void *p, size_t size, unsigned flags, bool tried)
{
	struct reg_ent *e, *live;

	if (!p)
		return tide_kvmalloc(size, flags);
	if (addr_bad((uintptr_t)p))
		tide__misuse("tide_kvrealloc: invalid pointer", p);
	e = shape_ent(p); /* one lookup: ent_of()'s and check_gone()'s */
	live = live_ent(e);
	/* krealloc(): size 0 frees, whatever the flags say. */
	if (!size) {
		tide_kvfree(p);
		return NULL;
	}
	if (!flags_ok(flags))
		return NULL;
	if (size > KV_MAX_SIZE) {
		/* Past the address space: mremap would say EINVAL. */
		errno = ENOMEM;
		return NULL;
	}
	if (live)
		return paged_resize(p, live, size, flags);
	check_gone(p, e,
		   "tide_kvrealloc: a paged block freed already (or "
		   "moved by tide_kvrealloc)");
	return heap_resize(p, size, flags, tried);
}

void *tide_kvrealloc(void *p, size_t size, unsigned flags)
{
	void *q;

	/* TIDE__KV_REALLOC_INLINE_MAX: see heap_resize(). */
	if (likely(size &&
		   size < TIDE__MIN(tide__kv_fast_limit_now(),
				    TIDE__KV_REALLOC_INLINE_MAX) &&
		   !(flags & ~TIDE_FLAGS_PRIVATE) && heap_for_sure(p))) {
		q = tide__os_realloc(p, heap_req(size));
		if (likely(q))
			return q;
		return kvrealloc_slow(p, size, 0, true);
	}
	return kvrealloc_slow(p, size, flags, false);
}

__attribute__((noinline)) static void kvfree_slow(void *p)
{
	struct reg_ent *e;

	if (!p)
		return;
	if (addr_bad((uintptr_t)p))
		tide__misuse("tide_kvfree: invalid pointer", p);
	/*
	 * One lookup decides: a live paged block, one freed already, or a
	 * heap block that the C heap placed at the paged shape (one in 64 of
	 * a slab allocator's 64-byte blocks) in a range that has a leaf,
	 * which goes to free().
	 */
	e = shape_ent(p);
	if (live_ent(e)) {
		paged_free(p, e);
		return;
	}
	check_gone(p, e,
		   "tide_kvfree: a paged block freed already (or "
		   "moved by tide_kvrealloc)");
	tide__os_free(p);
}

void tide_kvfree(void *p)
{
	/* NULL goes to kvfree_slow(), which returns; so do the others that
	 * need the entry */
	if (likely(heap_for_sure(p)))
		tide__os_free(p);
	else
		kvfree_slow(p);
}

size_t tide_kvsize(const void *p)
{
	struct reg_ent *e;

	if (!p)
		return 0;
	e = ent_of(p, "tide_kvsize: invalid pointer");
	if (e)
		return ent_size(e);
	return tide__os_usable_size((void *)p);
}

size_t tide_kvresident(const void *p)
{
	struct reg_ent *e;

	if (!p)
		return 0;
	e = ent_of(p, "tide_kvresident: invalid pointer");
	if (e)
		return ent_len(e) - PAGED_HDR;
	return tide__os_usable_size((void *)p);
}

bool tide_kv_is_paged(const void *p)
{
	if (!p)
		return false;
	return ent_of(p, "tide_kv_is_paged: invalid pointer") != NULL;
}

size_t tide__kv_committed_for(const void *p, size_t size)
{
	struct reg_ent *e = ent_of(p, "tide_kv: invalid pointer");

	if (!e)
		return size;
	return TIDE__MIN(committed_len(size, ent_unit(e)), ent_len(e));
}

size_t tide__kv_committed(const void *p)
{
	struct reg_ent *e = ent_of(p, "tide_kv: invalid pointer");

	if (!e)
		return tide__os_usable_size((void *)p);
	return ent_len(e);
}

size_t tide__kv_unit(const void *p)
{
	struct reg_ent *e;

	if (!p)
		return 0;
	e = ent_of(p, "tide_kv: invalid pointer");
	return e ? ent_unit(e) : 0;
}

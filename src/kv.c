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
 * shape is looked up in the registry (below), a table outside the blocks
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

/* Largest request we try: leaves room for headers and rounding. */
#define KV_MAX_SIZE ((size_t)PTRDIFF_MAX - 2 * TIDE__HUGE_SIZE)
/* The largest paged block: x86-64's user address space (issue 14 item 8:
 * mremap reports EINVAL past it; kv reports ENOMEM). */
#define KV_MAX_PAGED (((size_t)1 << 47) - 2 * TIDE__HUGE_SIZE)

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
/*
 * What the fast paths compare sizes with: min(threshold, KV_MAX_SIZE + 1),
 * or 0 until the first slow call has read $TIDE_KV_THRESHOLD.  A plain
 * relaxed load (one mov on x86-64), no pthread_once per call: before the
 * environment is read every call takes the slow path, which reads it.
 */
/* __atomic builtins only; the inline fast paths in kv.h read it. */
_Alignas(64) TIDE_API size_t tide__kv_fast_limit;

static size_t fast_limit(void)
{
	return __atomic_load_n(&tide__kv_fast_limit, __ATOMIC_RELAXED);
}

static void set_fast_limit(size_t threshold)
{
	__atomic_store_n(&tide__kv_fast_limit,
			 TIDE__MIN(threshold, KV_MAX_SIZE + 1),
			 __ATOMIC_RELAXED);
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
	if (*end || (shift && v > (SIZE_MAX >> shift)))
		return false;
	*ret = (size_t)(v << shift);
	return true;
}

static void threshold_from_env(void)
{
	size_t v;

	if (parse_size(getenv("TIDE_KV_THRESHOLD"), &v))
		atomic_store(&kv_threshold, v);
	set_fast_limit(atomic_load(&kv_threshold));
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
	set_fast_limit(bytes);
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

/* ---- the paged block registry ------------------------------------- */

/*
 * A radix table keyed by the page number of a paged block's mapping start
 * (48-bit addresses, 36-bit page numbers of 4 KiB): a static root of 4096
 * mid nodes, each of 4096 leaves, each of 4096 entries of 16 bytes.  Nodes
 * are mapped on first use and never freed (tide__os_map_table): only the
 * pages of a leaf that are written become resident, one 4 KiB page of
 * entries per MiB of address space that has held paged blocks.
 *
 * Lookups take no lock and write nothing (a heap block of the paged shape
 * costs up to three loads).  Nodes are installed with a compare-and-swap.
 * An entry is written only by the thread that owns its block: the one
 * that just mapped it, or the one freeing or resizing it; the word is
 * stored last with release order, and cleared before the block's pages
 * leave its address (so a mapping that later takes the address is never
 * seen as a paged block).  fork() copies the table with the mappings.
 *
 * Leaf pages whose entries are all empty are given back by
 * tide__kv_registry_trim() (every tide_purge(), so every monitor loop and
 * tide_drop_caches()): after a spike of paged blocks the table costs
 * nothing.  A lookup of a dropped page reads zeros, which is what it held.
 * reg_lock orders the trim against the writes that make an entry live
 * (a live entry's page is never dropped; a write into a page being
 * dropped would be lost); clearing an entry needs no lock.
 */
#define REG_SHIFT 12
#define REG_BITS 12
#define REG_FAN ((size_t)1 << REG_BITS)
#define REG_MASK ((uint64_t)REG_FAN - 1)
#define REG_PAGE_BITS (3 * REG_BITS)

/* Low bit of an entry's word (map_len is a multiple of the page). */
#define ENT_HUGE ((uintptr_t)1)

struct reg_ent {
	atomic_uintptr_t word; /* map_len | ENT_HUGE; 0: no block here */
	atomic_size_t size; /* requested bytes */
};

struct reg_leaf {
	struct reg_ent e[REG_FAN];
};

struct reg_mid {
	_Atomic(struct reg_leaf *) leaf[REG_FAN];
};

/* Page aligned: the walks below ask mincore() which of its pages exist. */
static _Alignas(4096) _Atomic(struct reg_mid *) reg_root[REG_FAN];
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t reg_fork_once = PTHREAD_ONCE_INIT;

/*
 * One node of each kind kept aside, so that registering a block at the
 * address a move gave it cannot fail (the move cannot be undone).
 */
static _Atomic(struct reg_mid *) spare_mid;
static _Atomic(struct reg_leaf *) spare_leaf;

struct reg_spare {
	struct reg_mid *mid;
	struct reg_leaf *leaf;
};

static inline uint64_t reg_page(uintptr_t base)
{
	return (uint64_t)base >> REG_SHIFT;
}

/* The entry for a mapping starting at @base, or NULL if it has no node. */
static struct reg_ent *reg_find(uintptr_t base)
{
	uint64_t pg = reg_page(base);
	struct reg_mid *m;
	struct reg_leaf *l;

	if (pg >> REG_PAGE_BITS)
		return NULL;
	m = atomic_load_explicit(&reg_root[pg >> (2 * REG_BITS)],
				 memory_order_acquire);
	if (!m)
		return NULL;
	l = atomic_load_explicit(&m->leaf[(pg >> REG_BITS) & REG_MASK],
				 memory_order_acquire);
	if (!l)
		return NULL;
	return &l->e[pg & REG_MASK];
}

/*
 * Nodes come from table chunks of 16 MiB (tide__os_map_table: between
 * untouched 2 MiB margins, away from the blocks), cut by a bump pointer and never given
 * back.  Only the pages written become resident; a node that loses a race
 * or a surplus spare stays unused in its chunk (virtual memory only).
 */
#define TABLE_CHUNK ((size_t)16 << 20)

struct table_chunk {
	atomic_size_t used; /* bytes cut, from the chunk's start */
};

static _Atomic(struct table_chunk *) chunk_cur;

static void *table_alloc(size_t size)
{
	size_t ps = tide__os_page_size(), off;
	struct table_chunk *c, *n;

	/* Whole pages, page aligned: the trim drops pages of leaves. */
	size = TIDE__ALIGN_UP(size, ps);
	for (;;) {
		c = atomic_load_explicit(&chunk_cur, memory_order_acquire);
		if (c) {
			off = atomic_fetch_add_explicit(&c->used, size,
							memory_order_relaxed);
			if (off + size <= TABLE_CHUNK)
				return (char *)c + off;
		}
		if (tide__os_map_table(TABLE_CHUNK, (void **)&n))
			return NULL;
		/* The header's page, then whole pages for the nodes. */
		atomic_init(&n->used, ps);
		if (!atomic_compare_exchange_strong(&chunk_cur, &c, n))
			tide__os_unmap_table(n, TABLE_CHUNK);
	}
}

/* Keep what is left of @s as the spares; the rest stays unused. */
static void spare_put_nodes(struct reg_spare *s)
{
	struct reg_mid *nm = NULL;
	struct reg_leaf *nl = NULL;

	if (s->mid)
		atomic_compare_exchange_strong(&spare_mid, &nm, s->mid);
	if (s->leaf)
		atomic_compare_exchange_strong(&spare_leaf, &nl, s->leaf);
	s->mid = NULL;
	s->leaf = NULL;
}

/* Take one node of each kind: the spares, else fresh ones.  0 or -errno. */
static int spare_get(struct reg_spare *s)
{
	s->mid = atomic_exchange(&spare_mid, NULL);
	s->leaf = atomic_exchange(&spare_leaf, NULL);
	if (!s->mid)
		s->mid = table_alloc(sizeof(struct reg_mid));
	if (!s->leaf)
		s->leaf = table_alloc(sizeof(struct reg_leaf));
	if (s->mid && s->leaf)
		return 0;
	spare_put_nodes(s);
	return -ENOMEM;
}

/* A node for a missing slot: from @s if given (cannot fail), else fresh. */
static void *node_new(struct reg_spare *s, bool mid)
{
	void *n;

	if (!s)
		return table_alloc(mid ? sizeof(struct reg_mid) :
					 sizeof(struct reg_leaf));
	if (mid) {
		n = s->mid;
		s->mid = NULL;
	} else {
		n = s->leaf;
		s->leaf = NULL;
	}
	return n;
}

/* A node that lost the race to install itself: back to @s, or unused. */
static void node_drop(struct reg_spare *s, void *n, bool mid)
{
	if (s && mid)
		s->mid = n;
	else if (s)
		s->leaf = n;
}

/*
 * The entry for a mapping starting at @base, installing the nodes it
 * needs (from @s if given: then it cannot fail for a user-space address).
 * NULL if a node could not be mapped or @base is past 48 bits.
 */
static struct reg_ent *reg_slot(uintptr_t base, struct reg_spare *s)
{
	uint64_t pg = reg_page(base);
	_Atomic(struct reg_mid *) *mp;
	_Atomic(struct reg_leaf *) *lp;
	struct reg_mid *m, *nm;
	struct reg_leaf *l, *nl;

	if (pg >> REG_PAGE_BITS)
		return NULL;
	mp = &reg_root[pg >> (2 * REG_BITS)];
	m = atomic_load_explicit(mp, memory_order_acquire);
	if (!m) {
		nm = node_new(s, true);
		if (!nm)
			return NULL;
		if (atomic_compare_exchange_strong_explicit(
			    mp, &m, nm, memory_order_acq_rel,
			    memory_order_acquire))
			m = nm;
		else
			node_drop(s, nm, true);
	}
	lp = &m->leaf[(pg >> REG_BITS) & REG_MASK];
	l = atomic_load_explicit(lp, memory_order_acquire);
	if (!l) {
		nl = node_new(s, false);
		if (!nl)
			return NULL;
		if (atomic_compare_exchange_strong_explicit(
			    lp, &l, nl, memory_order_acq_rel,
			    memory_order_acquire))
			l = nl;
		else
			node_drop(s, nl, false);
	}
	return &l->e[pg & REG_MASK];
}

static inline uintptr_t ent_word(const struct reg_ent *e)
{
	return atomic_load_explicit(&e->word, memory_order_acquire);
}

static inline size_t ent_len(const struct reg_ent *e)
{
	return ent_word(e) & ~ENT_HUGE;
}

static inline size_t ent_size(const struct reg_ent *e)
{
	return atomic_load_explicit(&e->size, memory_order_relaxed);
}

static inline bool ent_huge(const struct reg_ent *e)
{
	return ent_word(e) & ENT_HUGE;
}

static inline size_t ent_unit(const struct reg_ent *e)
{
	return ent_huge(e) ? TIDE__HUGE_SIZE : tide__os_page_size();
}

static inline void ent_set(struct reg_ent *e, size_t map_len, bool huge,
			   size_t size)
{
	atomic_store_explicit(&e->size, size, memory_order_relaxed);
	atomic_store_explicit(&e->word, map_len | (huge ? ENT_HUGE : 0),
			      memory_order_release);
}

static inline void ent_set_len(struct reg_ent *e, size_t map_len)
{
	ent_set(e, map_len, ent_huge(e), ent_size(e));
}

static inline void ent_set_size(struct reg_ent *e, size_t size)
{
	atomic_store_explicit(&e->size, size, memory_order_relaxed);
}

static inline void ent_clear(struct reg_ent *e)
{
	atomic_store_explicit(&e->word, 0, memory_order_release);
}

/*
 * A forked child starts reg_lock afresh and takes no lock in a prepare
 * handler: reg_lock is taken inside other modules' locks (ctl's thread
 * runs tide_drop_caches() -> tide_purge() -> the trim under its own lock),
 * and a prepare handler that took it would order it before theirs (a
 * lock-order inversion, found by TSan).  What a thread of the parent was
 * doing under it at the fork is harmless in the child: a trim only drops
 * pages whose entries are all empty, and a publish that had not stored its
 * word leaves an empty entry for a block that no thread of the child owns,
 * as any other thread's allocation in flight.
 */
static void reg_fork_child(void)
{
	pthread_mutex_init(&reg_lock, NULL);
}

static void reg_fork_init(void)
{
	pthread_atfork(NULL, NULL, reg_fork_child);
}

/* Make @e live: a block of @map_len committed bytes, @size requested. */
static void ent_publish(struct reg_ent *e, size_t map_len, bool huge,
			size_t size)
{
	pthread_once(&reg_fork_once, reg_fork_init);
	pthread_mutex_lock(&reg_lock);
	ent_set(e, map_len, huge, size);
	pthread_mutex_unlock(&reg_lock);
}

#define UNIT ((size_t)4096)
#define PTRS_PER_UNIT (UNIT / sizeof(void *))
#define MAX_UNITS (sizeof(struct reg_leaf) / UNIT)

_Static_assert(sizeof(struct reg_leaf) % UNIT == 0, "leaf in whole units");
_Static_assert(sizeof(reg_root) % UNIT == 0, "root in whole units");
_Static_assert(sizeof(struct reg_mid) % UNIT == 0, "mid in whole units");
_Static_assert(sizeof(reg_root) <= sizeof(struct reg_leaf), "MAX_UNITS");

/*
 * Which 4 KiB units of [@addr, @addr + @len) (unit aligned, at most a
 * leaf) are resident: one byte each in @vec, for any page size (mincore
 * over the pages that cover the range).  0 or -errno.
 */
static int units_resident(const void *addr, size_t len, unsigned char *vec)
{
	size_t ps = tide__os_page_size(), n = len / UNIT;
	uintptr_t a = (uintptr_t)addr, start = a & ~(uintptr_t)(ps - 1);
	unsigned char pv[MAX_UNITS + 2];
	int r;

	if (TIDE__ALIGN_UP(a + len, ps) - start > sizeof(pv) * ps)
		return -EINVAL;
	r = tide__os_resident((void *)start,
			      TIDE__ALIGN_UP(a + len, ps) - start, pv);
	if (r)
		return r;
	for (size_t i = 0; i < n; i++)
		vec[i] = pv[(a + i * UNIT - start) / ps];
	return 0;
}

/*
 * Call @fn on every mid node and every leaf; under reg_lock.  Only the
 * resident pages of the root and of the mid nodes are read: on kernels
 * that give no zero page to read faults (seen on this project's VM), a
 * read of an untouched page allocates it.
 */
static void each_node(void (*fn)(void *node, size_t len, void *arg), void *arg)
{
	unsigned char rv[sizeof(reg_root) / UNIT];
	unsigned char mv[sizeof(struct reg_mid) / UNIT];

	if (units_resident(reg_root, sizeof(reg_root), rv))
		return;
	for (size_t r = 0; r < REG_FAN; r++) {
		struct reg_mid *m;

		if (!(rv[r / PTRS_PER_UNIT] & 1))
			continue;
		m = atomic_load_explicit(&reg_root[r], memory_order_acquire);
		if (!m || units_resident(m, sizeof(*m), mv))
			continue;
		fn(m, sizeof(*m), arg);
		for (size_t i = 0; i < REG_FAN; i++) {
			struct reg_leaf *l;

			if (!(mv[i / PTRS_PER_UNIT] & 1))
				continue;
			l = atomic_load_explicit(&m->leaf[i],
						 memory_order_acquire);
			if (l)
				fn(l, sizeof(*l), arg);
		}
	}
}

static bool ents_empty(const struct reg_ent *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (atomic_load_explicit(&e[i].word, memory_order_relaxed))
			return false;
	return true;
}

/* Drop the leaf's resident pages that hold no live entry. */
static void leaf_trim(void *node, size_t len, void *arg)
{
	struct reg_leaf *l = node;
	size_t ps = tide__os_page_size(), per = ps / sizeof(struct reg_ent);
	unsigned char vec[MAX_UNITS];

	(void)arg;
	/* Leaves are page aligned (table_alloc); a page larger than a
	 * leaf is never dropped. */
	if (len != sizeof(*l) || ps > sizeof(*l) ||
	    units_resident(l, sizeof(*l), vec))
		return;
	for (size_t pg = 0; pg < sizeof(*l) / ps; pg++) {
		struct reg_ent *e = &l->e[pg * per];

		if ((vec[pg * (ps / UNIT)] & 1) && ents_empty(e, per))
			tide__os_advise(e, ps, MADV_DONTNEED);
	}
}

void tide__kv_registry_trim(void)
{
	pthread_once(&reg_fork_once, reg_fork_init);
	pthread_mutex_lock(&reg_lock);
	each_node(leaf_trim, NULL);
	pthread_mutex_unlock(&reg_lock);
}

struct reg_count {
	bool leaves_only;
	size_t bytes;
};

static void node_count(void *node, size_t len, void *arg)
{
	struct reg_count *c = arg;
	unsigned char vec[MAX_UNITS];

	if ((c->leaves_only && len != sizeof(struct reg_leaf)) ||
	    units_resident(node, len, vec))
		return;
	for (size_t i = 0; i < len / UNIT; i++)
		c->bytes += (vec[i] & 1) ? UNIT : 0;
}

size_t tide__kv_registry_resident(bool leaves_only)
{
	struct reg_count c = { leaves_only, 0 };
	unsigned char rv[sizeof(reg_root) / UNIT];

	pthread_once(&reg_fork_once, reg_fork_init);
	pthread_mutex_lock(&reg_lock);
	each_node(node_count, &c);
	if (!leaves_only && !units_resident(reg_root, sizeof(reg_root), rv))
		for (size_t i = 0; i < sizeof(rv); i++)
			c.bytes += (rv[i] & 1) ? UNIT : 0;
	pthread_mutex_unlock(&reg_lock);
	return c.bytes;
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

/* The registry entry of a live paged block @p, or NULL (a heap block). */
static inline struct reg_ent *paged_ent(const void *p)
{
	struct reg_ent *e;

	if (!paged_shape((uintptr_t)p))
		return NULL;
	e = reg_find((uintptr_t)base_of(p));
	return e && ent_word(e) ? e : NULL;
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

/* ---- direct reclaim ------------------------------------------------- */

/*
 * After an attempt failed: run one more reclaim pass (priority 12 down to
 * 0) and say whether to try again.  errno is the attempt's on a final no.
 */
static bool reclaim_and_retry(int *prio, unsigned flags)
{
	int err = errno;

	if (err != ENOMEM || (flags & TIDE_NORECLAIM) || *prio < 0 ||
	    tide__in_reclaim())
		return false;
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
	e = reg_slot((uintptr_t)base, NULL);
	if (!e) {
		tide__os_unmap(base, len);
		errno = ENOMEM;
		return NULL;
	}
	if (flags & TIDE_HUGE)
		tide__os_advise(base, len, MADV_HUGEPAGE); /* only advice */
	/* Fresh anonymous pages read as zero: TIDE_ZERO costs nothing here,
	 * and kv writes none of them. */
	ent_publish(e, len, flags & TIDE_HUGE, size);
	p = (char *)base + PAGED_HDR;
	poison_block(p, size, len);
	return p;
}

static void *paged_alloc(size_t size, unsigned flags)
{
	int prio = TIDE_DEF_PRIORITY;
	size_t len;
	void *p;

	if (size > KV_MAX_PAGED) {
		/* Past the address space: no reclaim can help; some kernels
		 * (and valgrind) say EINVAL for such a mapping. */
		errno = ENOMEM;
		return NULL;
	}

	do
		p = paged_alloc_once(size, flags);
	while (!p && reclaim_and_retry(&prio, flags));
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
	int r;

	r = tide__os_reserve(len + TIDE__HUGE_SIZE, (void **)&raw);
	if (r)
		return r;
	aligned = (char *)TIDE__ALIGN_UP((uintptr_t)raw, TIDE__HUGE_SIZE);
	r = tide__os_remap_fixed(base, old_len, len, aligned);
	if (r) {
		tide__os_unmap(raw, len + TIDE__HUGE_SIZE);
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
	r = spare_get(&spare);
	if (r)
		return r;
	/* Off the registry before the pages leave: whatever is mapped at
	 * this address next is not a paged block. */
	ent_clear(e);
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
		ent_publish(e, map_len, word & ENT_HUGE, size);
		spare_put_nodes(&spare);
		return r;
	}
	ne = reg_slot((uintptr_t)nb, &spare);
	if (!ne) /* past 48 bits: the kernel moved it where none can be */
		tide__misuse("tide_kvrealloc: block moved out of reach", nb);
	ent_publish(ne, len, word & ENT_HUGE, size);
	spare_put_nodes(&spare);
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

		if (size > KV_MAX_PAGED) {
			/* Past the address space: mremap would say EINVAL. */
			errno = ENOMEM;
			return NULL;
		}

		do
			r = paged_extend(&p, &e, len);
		while (r && (errno = -r, reclaim_and_retry(&prio, flags)));
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

	if (tried && !reclaim_and_retry(&prio, flags))
		return NULL;
	do
		p = (flags & TIDE_ZERO) ? tide__os_calloc(1, heap_req(size)) :
					  tide__os_malloc(heap_req(size));
	while (!p && reclaim_and_retry(&prio, flags));
	if (p && (flags & TIDE_ZERO))
		zero_tail(p, size);
	return p;
}

static void *heap_resize(void *p, size_t size, unsigned flags, bool tried)
{
	size_t old = tide__os_usable_size(p);
	int prio = TIDE_DEF_PRIORITY;
	char *q;

	if (size > old && size >= tide_kv_threshold()) {
		/* Promotion to a paged block: the one copy kv ever makes. */
		q = paged_alloc(size, flags);
		if (!q)
			return NULL;
		tide__os_copy(q, p, old);
		tide__os_free(p);
		return q;
	}
	if (tried && !reclaim_and_retry(&prio, flags))
		return NULL;
	do
		q = tide__os_realloc(p, heap_req(size));
	while (!q && reclaim_and_retry(&prio, flags));
	if (q && (flags & TIDE_ZERO))
		zero_tail(q, TIDE__MIN(old, size));
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
	if (likely(size < fast_limit() && !(flags & ~TIDE_FLAGS_PRIVATE))) {
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
	struct reg_ent *e;

	if (!p)
		return tide_kvmalloc(size, flags);
	e = ent_of(p, "tide_kvrealloc: invalid pointer");
	if (!flags_ok(flags))
		return NULL;
	if (!size) {
		tide_kvfree(p);
		return NULL;
	}
	if (size > KV_MAX_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	if (e)
		return paged_resize(p, e, size, flags);
	return heap_resize(p, size, flags, tried);
}

void *tide_kvrealloc(void *p, size_t size, unsigned flags)
{
	uintptr_t a = (uintptr_t)p;
	void *q;

	if (likely(!paged_shape(a) && !addr_bad(a) && size &&
		   size < fast_limit() && !(flags & ~TIDE_FLAGS_PRIVATE))) {
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
	e = ent_of(p, "tide_kvfree: invalid pointer");
	if (e)
		paged_free(p, e);
	else
		tide__os_free(p);
}

void tide_kvfree(void *p)
{
	uintptr_t a = (uintptr_t)p;

	/* NULL fails addr_bad() too: one compare for both. */
	if (likely(!paged_shape(a) && !addr_bad(a)))
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

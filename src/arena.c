// SPDX-License-Identifier: MIT
/*
 * arena.c - binder-style buffers inside one mapping, after the kernel's
 * drivers/android/binder_alloc.c.
 *
 * The arena is one anonymous mapping.  Buffers tile it: every byte belongs to
 * exactly one buffer, live or free, and the buffers are kept in address order
 * on a doubly linked list so that a free can merge with its neighbours.  Free
 * buffers also sit in trees ordered by (size, start), one per size class
 * (arena_free.c), which give best fit with the lowest address on ties;
 * live buffers sit in a hash table keyed by start (open addressing, at
 * most half full), which is how a pointer handed to tide_arena_free() is
 * checked.  All of this lives on the C heap, so the first buffer starts at
 * the mapping's first byte.
 *
 * Every page has a count of the live buffers that overlap it and one of
 * three states: used (count > 0), lru (count 0, but touched since it was last
 * reclaimed) and unmapped.  The LRU is a list of page indices threaded
 * through the page array, oldest at the head.  The shrinker takes pages from
 * the head and hands them back with MADV_DONTNEED, one call per run of
 * contiguous pages, after a mincore of the run: only its resident pages
 * (written since they were last reclaimed) count as freed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <tide/arena.h>
#include <tide/shrinker.h>

#include "arena_internal.h"
#include "internal.h"

#define ARENA_ALIGN 8
/* LRU links hold a page index + 1, so that 0 (calloc's) means none. */
#define NIL 0
/* Pages per madvise batch of a scan: sorted so runs can be merged. */
#define SCAN_CHUNK 256
/* Nodes kept for reuse so that the steady state does not touch the heap. */
#define SPARE_MAX 16

enum page_state { PAGE_UNMAPPED, PAGE_LRU, PAGE_USED };

struct page {
	uint32_t ref; /* live buffers overlapping this page */
	uint32_t prev, next; /* LRU links (index + 1) while on the LRU */
	uint8_t state;
};

static atomic_ullong arena_ids; /* each arena's id: its caches' key */

/* ---- the live buffers ------------------------------------------------- */

/* The live buffer that starts at @off, or NULL. */
static struct buf *live_find(const struct tide_arena *a, size_t off)
{
	long i = a->live_bits ? tide__bt_find(a->live, a->live_bits, off) : -1;

	return i < 0 ? NULL : a->live[i];
}

/* Room: the table holds @b without going past half full. */
static void live_add(struct tide_arena *a, struct buf *b)
{
	tide__bt_add(a->live, a->live_bits, b);
	a->nlive++;
}

/*
 * Room for one more live buffer: the table doubles (from 64 slots) before
 * it would be more than half full.  -ENOMEM changes nothing.
 */
static int live_reserve(struct tide_arena *a)
{
	unsigned bits = a->live_bits ? a->live_bits + 1 : 6;
	size_t old = a->live_bits ? (size_t)1 << a->live_bits : 0;
	struct buf **t, **prev = a->live;

	if ((a->nlive + 1) * 2 <= old)
		return 0;
	t = tide__os_calloc((size_t)1 << bits, sizeof(*t));
	if (!t)
		return -ENOMEM;
	a->live = t;
	a->live_bits = bits;
	a->nlive = 0;
	for (size_t i = 0; i < old; i++)
		if (prev[i])
			live_add(a, prev[i]);
	tide__os_free(prev);
	return 0;
}

static void live_del(struct tide_arena *a, const struct buf *b)
{
	tide__bt_del(a->live, a->live_bits,
		     (size_t)tide__bt_find(a->live, a->live_bits, b->start));
	a->nlive--;
}

/*
 * Why @off is not a live buffer's start, for the report: the buffer that
 * holds it (the address-ordered list, walked: misuse only) is free, or
 * live and starts before it.
 */
static const char *not_live(const struct tide_arena *a, size_t off)
{
	const struct buf *b;

	for (b = a->first; b && off >= b->start + b->size; b = b->next)
		;
	if (b && !b->free)
		return "tide_arena_free: pointer inside a buffer";
	return "tide_arena_free: not a live buffer (double free?)";
}

/* ---- nodes ------------------------------------------------------------ */

static struct buf *node_get(struct tide_arena *a)
{
	struct buf *b = a->spare;

	if (b) {
		a->spare = b->next;
		a->nr_spare--;
	} else {
		b = tide__os_malloc(sizeof(*b));
		if (!b)
			return NULL;
	}
	memset(b, 0, sizeof(*b));
	return b;
}

static void node_put(struct tide_arena *a, struct buf *b)
{
	if (a->nr_spare >= SPARE_MAX) {
		tide__os_free(b);
		return;
	}
	b->next = a->spare;
	a->spare = b;
	a->nr_spare++;
}

/* ---- pages ------------------------------------------------------------ */

/* After the LRU changed: the count the shrinker reads without the lock. */
static void lru_publish(struct tide_arena *a)
{
	atomic_store_explicit(&a->lru_count, a->pages_lru,
			      memory_order_relaxed);
}

static void lru_unlink(struct tide_arena *a, uint32_t i)
{
	struct page *p = &a->pages[i];

	if (p->prev != NIL)
		a->pages[p->prev - 1].next = p->next;
	else
		a->lru_head = p->next;
	if (p->next != NIL)
		a->pages[p->next - 1].prev = p->prev;
	else
		a->lru_tail = p->prev;
	p->prev = p->next = NIL;
	a->pages_lru--;
}

/*
 * A buffer went live: its pages become used, coming off the LRU if idle.
 * Returns how many were unmapped (they fault in: new memory).  Pages are
 * found by a shift, not a division (four 64-bit divisions were about 40
 * ns of a 1-thread cycle), and the counters are written once.
 */
static size_t pages_get(struct tide_arena *a, const struct buf *b)
{
	uint32_t i, first, last;
	size_t fresh = 0, reused = 0;

	tide__arena_page_span(a, b, &first, &last);
	for (i = first; i <= last; i++) {
		struct page *p = &a->pages[i];

		if (p->ref++)
			continue;
		if (p->state == PAGE_LRU) {
			lru_unlink(a, i);
			reused++;
		} else {
			fresh++;
		}
		p->state = PAGE_USED;
	}
	lru_publish(a);
	a->faults_avoided += reused;
	a->pages_used += reused + fresh;
	if (last + 1 > a->pages_high_water)
		a->pages_high_water = last + 1;
	return fresh;
}

/*
 * A buffer died: pages no live buffer touches any more join the LRU tail,
 * in index order (the tail kept in a local: the pages' links could alias
 * the arena's).
 */
static void pages_put(struct tide_arena *a, const struct buf *b)
{
	uint32_t i, first, last, tail = a->lru_tail;
	size_t idle = 0;

	tide__arena_page_span(a, b, &first, &last);
	for (i = first; i <= last; i++) {
		struct page *p = &a->pages[i];

		if (--p->ref)
			continue;
		p->state = PAGE_LRU;
		p->prev = tail;
		p->next = NIL;
		if (tail != NIL)
			a->pages[tail - 1].next = i + 1;
		else
			a->lru_head = i + 1;
		tail = i + 1;
		idle++;
	}
	a->lru_tail = tail;
	a->pages_lru += idle;
	a->pages_used -= idle;
	lru_publish(a);
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;

	return (a > b) - (a < b);
}

/* How many of the @n pages mincore() said are resident. */
static unsigned long count_resident(const unsigned char *vec, unsigned n)
{
	unsigned long r = 0;

	for (unsigned i = 0; i < n; i++)
		r += vec[i] & 1;
	return r;
}

/*
 * Hand back up to @nr of the oldest LRU pages.  The oldest pages are taken a
 * chunk at a time and sorted so that each run of contiguous pages costs one
 * madvise.  Before it, mincore says which pages of the run are resident: a
 * page on the LRU was overlapped by a buffer, but only a written one holds
 * memory, so only those count as freed.  *@taken is set to the pages taken
 * off the LRU (the work), the return value is the resident ones among them.
 *
 * A failed madvise, or a mincore that failed for want of memory
 * (tide__os_exhausted(): the fault injector's -ENOMEM too), leaves its run
 * and every page not reached yet on the LRU where they were.  A mincore
 * that fails otherwise (EAGAIN, or a sandbox that forbids it) does not keep
 * the run: it is released and counted as freed whole, an upper bound.
 */
static unsigned long reclaim_locked(struct tide_arena *a, unsigned long nr,
				    unsigned long *taken)
{
	uint32_t batch[SCAN_CHUNK];
	unsigned char vec[SCAN_CHUNK];
	unsigned long freed = 0;

	*taken = 0;
	while (nr && a->lru_head != NIL) {
		unsigned k = 0, i, j;
		uint32_t link = a->lru_head;

		while (k < SCAN_CHUNK && k < nr && link != NIL) {
			batch[k++] = link - 1;
			link = a->pages[link - 1].next;
		}
		qsort(batch, k, sizeof(batch[0]), cmp_u32);
		nr -= k;
		for (i = 0; i < k; i = j) {
			char *addr = a->base + (size_t)batch[i] * a->page_size;
			size_t len;
			int err;

			for (j = i + 1; j < k && batch[j] == batch[j - 1] + 1;)
				j++;
			len = (size_t)(j - i) * a->page_size;
			err = tide__os_resident(addr, len, vec);
			if (err && tide__os_exhausted(err))
				return freed;
			if (tide__os_advise(addr, len, MADV_DONTNEED))
				return freed;
			for (unsigned m = i; m < j; m++) {
				lru_unlink(a, batch[m]);
				a->pages[batch[m]].state = PAGE_UNMAPPED;
			}
			lru_publish(a);
			freed += err ? j - i : count_resident(vec, j - i);
			*taken += j - i;
		}
	}
	return freed;
}

/* ---- freeing ---------------------------------------------------------- */

/* @b absorbs @n, the buffer right after it; neither is in a tree. */
static void absorb_next(struct tide_arena *a, struct buf *b, struct buf *n)
{
	b->size += n->size;
	b->next = n->next;
	if (n->next)
		n->next->prev = b;
	node_put(a, n);
}

/* The live buffer @b (untracked) dies: merged, its pages to the LRU. */
void tide__arena_release_locked(struct tide_arena *a, struct buf *b)
{
	live_del(a, b);
	/* ASan: a use after free is a use-after-poison report. */
	tide__os_poison(a->base + b->start, b->size);
	pages_put(a, b);
	a->used_bytes -= b->size;
	b->free = true;
	if (b->prev && b->prev->free) {
		struct buf *prev = b->prev;

		tide__arena_free_remove(a, prev);
		absorb_next(a, prev, b);
		b = prev;
	}
	if (b->next && b->next->free) {
		struct buf *next = b->next;

		tide__arena_free_remove(a, next);
		absorb_next(a, b, next);
	}
	tide__arena_free_insert(a, b);
}

/* ---- the shrinker ----------------------------------------------------- */

/*
 * The LRU pages: an upper bound of what a scan frees (only the written ones
 * are resident, and asking the kernel would be a system call per count).
 */
static unsigned long arena_count(void *priv, struct tide_shrink_control *sc)
{
	struct tide_arena *a = priv;
	unsigned long n =
		atomic_load_explicit(&a->lru_count, memory_order_relaxed);

	(void)sc;
	/* The threads' caches hold pages too, which a scan flushes first. */
	return n + (unsigned long)tide__tc_pages(a);
}

/* Batches of never-written pages one scan goes through to find some that
 * hold memory (1024 of 128 pages: 512 MiB of address space). */
#define STRETCH_BATCHES 1024

static unsigned long arena_scan(void *priv, struct tide_shrink_control *sc)
{
	struct tide_arena *a = priv;
	unsigned long freed, taken;

	/* An allocating thread holds the lock: never wait for it. */
	if (pthread_mutex_trylock(&a->lock))
		return TIDE_SHRINK_STOP;
	tide__tc_flush_all(a);
	freed = reclaim_locked(a, sc->nr_to_scan, &taken);
	/*
	 * Nothing resident in the batch (buffers never written): go on down
	 * the LRU, up to STRETCH_BATCHES batches, so that a return of 0 means
	 * the LRU holds nothing more to free.  A scan that frees nothing ends
	 * the shrinker's pass, and a pass that frees nothing a drop: a stretch
	 * of never-written pages would hide the written ones behind it.
	 */
	for (unsigned i = 1; !freed && i < STRETCH_BATCHES && taken; i++) {
		unsigned long more;

		if (a->lru_head == NIL)
			break;
		freed = reclaim_locked(a, sc->nr_to_scan, &more);
		if (!more) /* a failed madvise: the pages stay */
			break;
		taken += more;
	}
	pthread_mutex_unlock(&a->lock);
	/* The work is the pages taken off the LRU, resident or not (the
	 * core reads at most nr_to_scan of it). */
	sc->nr_scanned = taken;
	return freed;
}

static const struct tide_shrinker_ops arena_shrinker_ops = {
	.count_objects = arena_count,
	.scan_objects = arena_scan,
};

/* ---- the public calls ------------------------------------------------- */

/*
 * The arena lock spins a little before it sleeps (glibc's adaptive mutex):
 * the sections it guards are a few hundred nanoseconds, far shorter than a
 * futex sleep and wake-up, so two threads on one arena take turns instead
 * of putting each other to sleep (issue 15: 1.5 s of system time in futex
 * with a plain mutex).
 */
static int init_lock(pthread_mutex_t *m)
{
	pthread_mutexattr_t at;
	int err;

	err = pthread_mutexattr_init(&at);
	if (err)
		return -err;
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
	pthread_mutexattr_settype(&at, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
	err = pthread_mutex_init(m, &at);
	pthread_mutexattr_destroy(&at);
	return -err;
}

static void free_all_nodes(struct tide_arena *a)
{
	struct buf *b, *next;

	for (b = a->first; b; b = next) {
		next = b->next;
		tide__os_free(b);
	}
	for (b = a->spare; b; b = next) {
		next = b->next;
		tide__os_free(b);
	}
	a->spare = NULL;
	a->nr_spare = 0;
}

struct tide_arena *tide_arena_create(const char *name, size_t size)
{
	size_t ps = tide__os_page_size(), len, npages;
	struct tide_arena *a;
	struct buf *b;
	int err;

	if (!name || !size || size > TIDE_ARENA_MAX) {
		errno = EINVAL;
		return NULL;
	}
	len = TIDE__ALIGN_UP(size, ps);
	npages = len / ps;
	if (npages >= UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	a = tide__os_calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	tide__arena_fork_register(); /* after an allocation: see there */
	tide__tc_init();
	a->id = atomic_fetch_add(&arena_ids, 1) + 1;
	a->size = len;
	a->page_size = ps;
	a->page_shift = (unsigned)__builtin_ctzl(ps); /* a power of two */
	a->npages = (uint32_t)npages;
	a->rng = 0x9e3779b9u;
	err = -ENOMEM;
	/* All zero is a valid start, so large records stay untouched. */
	a->pages = tide__os_calloc(npages, sizeof(*a->pages));
	if (!a->pages)
		goto out_free_arena;
	b = node_get(a);
	if (!b)
		goto out_free_pages;
	b->size = len;
	b->free = true;
	a->first = b;
	tide__arena_free_insert(a, b);
	err = tide__os_map(len, (void **)&a->base);
	if (err)
		goto out_free_node;
	err = init_lock(&a->lock);
	if (err)
		goto out_unmap;
	err = -pthread_mutex_init(&a->tc_lock, NULL);
	if (err)
		goto out_destroy_lock;
	a->shrinker = tide_shrinker_alloc(name);
	if (!a->shrinker) {
		err = -errno;
		goto out_destroy_tc_lock;
	}
	tide_shrinker_register(a->shrinker, &arena_shrinker_ops, a);
	tide__arena_link(a);
	return a;

out_destroy_tc_lock:
	pthread_mutex_destroy(&a->tc_lock);
out_destroy_lock:
	pthread_mutex_destroy(&a->lock);
out_unmap:
	tide__os_unmap(a->base, len);
out_free_node:
	tide__os_free(b);
out_free_pages:
	tide__os_free(a->pages);
out_free_arena:
	tide__os_free(a);
	errno = -err;
	return NULL;
}

void tide_arena_destroy(struct tide_arena *a)
{
	if (!a)
		return;
	/* First out of the list: tide_arena_totals() may be reading it. */
	tide__arena_unlink(a);
	/* Waits for a running scan of this arena, then none can start. */
	tide_shrinker_free(a->shrinker);
	tide__os_unmap(a->base, a->size);
	free_all_nodes(a);
	tide__os_free(a->live);
	tide__os_free(a->pages);
	pthread_mutex_destroy(&a->tc_lock);
	pthread_mutex_destroy(&a->lock);
	tide__os_free(a);
}

void *tide_arena_alloc(struct tide_arena *a, size_t size)
{
	struct buf **link, *b, *rest = NULL;
	size_t req = size, fresh;
	const void *self = NULL;
	bool shared, share = false;

	if (!a || !size) {
		errno = EINVAL;
		return NULL;
	}
	/* Checked before rounding, which would overflow near SIZE_MAX. */
	if (size > a->size) {
		errno = ENOSPC;
		return NULL;
	}
	size = TIDE__ALIGN_UP(size, ARENA_ALIGN);
	shared = atomic_load_explicit(&a->shared, memory_order_relaxed);
	if (shared && size <= TC_MAX) {
		void *p = tide__tc_alloc(a, size, req);

		if (p)
			return p;
	}
	pthread_mutex_lock(&a->lock);
	/*
	 * The first allocation by a second thread shares the arena: decided
	 * here, stored once it succeeded (a failed call changes nothing).
	 */
	if (!shared) {
		self = tide__tc_self();
		share = a->solo && a->solo != self;
	}
	link = tide__arena_best_fit(a, size);
	if (!link && a->tcaches) {
		/*
		 * The flush cannot be undone: what can fail is tried first,
		 * the table's room and a node for the rest of a split block
		 * (put back if the block found fits exactly or none does).
		 * Only tried: when memory is short the flush goes ahead, as it
		 * may give a block that needs neither (an exact fit; the
		 * cached buffers leave the table), and a call that would have
		 * succeeded or been ENOSPC stays so; then an ENOMEM below
		 * comes after the flush.
		 */
		if (!live_reserve(a))
			rest = node_get(a);
		tide__tc_flush_all(a);
		link = tide__arena_best_fit(a, size);
	}
	if (!link) {
		if (rest)
			node_put(a, rest);
		pthread_mutex_unlock(&a->lock);
		errno = ENOSPC;
		return NULL;
	}
	b = *link;
	/* Both can fail: before anything changes (a larger table is none). */
	if (live_reserve(a) ||
	    (b->size > size && !rest && !(rest = node_get(a))))
		goto out_nomem;
	if (rest && b->size == size) {
		node_put(a, rest);
		rest = NULL;
	}
	if (share)
		atomic_store_explicit(&a->shared, shared = true,
				      memory_order_relaxed);
	else if (!shared)
		a->solo = self;
	tide__arena_free_unlink(a, link, b);
	if (rest) {
		rest->start = b->start + size;
		rest->size = b->size - size;
		rest->free = true;
		rest->prev = b;
		rest->next = b->next;
		if (b->next)
			b->next->prev = rest;
		b->next = rest;
		b->size = size;
		tide__arena_free_insert(a, rest);
	}
	b->free = false;
	live_add(a, b);
	fresh = pages_get(a, b);
	a->used_bytes += size;
	/* ASan: the rounding slack stays poisoned, as kv's slack does. */
	tide__os_unpoison(a->base + b->start, req);
	tide__os_poison(a->base + b->start + req, size - req);
	if (shared)
		tide__tc_track(a, b);
	pthread_mutex_unlock(&a->lock);
	/*
	 * The pages count, but the arena never runs reclaim (arena.h): the
	 * caller may hold a lock a shrinker takes.  The next charge that may
	 * reclaim (kv's) measures.
	 */
	if (fresh)
		tide__sensor_charge(fresh * a->page_size, TIDE_NORECLAIM);
	return a->base + b->start;

out_nomem:
	if (rest)
		node_put(a, rest);
	pthread_mutex_unlock(&a->lock);
	errno = ENOMEM;
	return NULL;
}

void tide_arena_free(struct tide_arena *a, void *p)
{
	const char *what = NULL;
	struct buf *b;
	size_t off;

	if (!p)
		return;
	if (!a) {
		tide__report("tide_arena_free: no arena", p);
		return;
	}
	if ((char *)p < a->base || (char *)p >= a->base + a->size) {
		tide__report("tide_arena_free: pointer not in this arena", p);
		return;
	}
	off = (size_t)((char *)p - a->base);
	if (atomic_load_explicit(&a->shared, memory_order_relaxed) &&
	    tide__tc_free(a, off))
		return;
	pthread_mutex_lock(&a->lock);
	b = live_find(a, off);
	if (!b) {
		what = not_live(a, off);
		goto out_unlock;
	}
	if (b->tc && tide__tc_untrack(b)) {
		what = "tide_arena_free: not a live buffer (double free?)";
		goto out_unlock;
	}
	tide__arena_release_locked(a, b);
out_unlock:
	pthread_mutex_unlock(&a->lock);
	/* Reported outside the lock: the handler may take its own locks. */
	if (what)
		tide__report(what, p);
}

void tide_arena_stats(struct tide_arena *a, struct tide_arena_stats *st)
{
	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	tide__tc_flush_all(a);
	st->size = a->size;
	st->used_bytes = a->used_bytes;
	st->free_bytes = a->size - a->used_bytes;
	st->pages_total = a->npages;
	st->pages_used = a->pages_used;
	st->pages_lru = a->pages_lru;
	st->pages_unmapped = a->npages - a->pages_used - a->pages_lru;
	st->pages_high_water = a->pages_high_water;
	st->page_faults_avoided = a->faults_avoided;
	pthread_mutex_unlock(&a->lock);
}

/* ---- for the tests ---------------------------------------------------- */

size_t tide__arena_page_states(struct tide_arena *a, unsigned char *out,
			       size_t n);
unsigned long tide__arena_reclaim(struct tide_arena *a, unsigned long nr,
				  unsigned long *taken);

/*
 * Copy the state of the first @n pages (0 unmapped, 1 lru, 2 used) to @out;
 * returns how many were copied.
 */
size_t tide__arena_page_states(struct tide_arena *a, unsigned char *out,
			       size_t n)
{
	pthread_mutex_lock(&a->lock);
	tide__tc_flush_all(a);
	n = TIDE__MIN(n, (size_t)a->npages);
	for (size_t i = 0; i < n; i++)
		out[i] = a->pages[i].state;
	pthread_mutex_unlock(&a->lock);
	return n;
}

/*
 * What a scan does, but waiting for the lock: returns the resident pages
 * released, *@taken the pages taken off the LRU.
 */
unsigned long tide__arena_reclaim(struct tide_arena *a, unsigned long nr,
				  unsigned long *taken)
{
	unsigned long freed;

	pthread_mutex_lock(&a->lock);
	tide__tc_flush_all(a);
	freed = reclaim_locked(a, nr, taken);
	pthread_mutex_unlock(&a->lock);
	return freed;
}

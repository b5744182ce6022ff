// SPDX-License-Identifier: MIT
/*
 * kv_registry.c - kv's registry of paged blocks: a lock-free radix table
 * keyed by a paged block's mapping start (see kv_registry.h), its nodes,
 * and the trim that gives its empty pages back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

#include "kv_registry.h"

/* Page aligned: the walks below ask mincore() which of its pages exist. */
_Alignas(4096) _Atomic(struct reg_mid *) tide__reg_root[REG_FAN];
#define reg_root tide__reg_root
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t reg_fork_once = PTHREAD_ONCE_INIT;

/*
 * One node of each kind kept aside, so that registering a block at the
 * address a move gave it cannot fail (the move cannot be undone).
 */
static _Atomic(struct reg_mid *) spare_mid;
static _Atomic(struct reg_leaf *) spare_leaf;

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

void tide__reg_spare_put(struct reg_spare *s)
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

int tide__reg_spare_get(struct reg_spare *s)
{
	s->mid = atomic_exchange(&spare_mid, NULL);
	s->leaf = atomic_exchange(&spare_leaf, NULL);
	if (!s->mid)
		s->mid = table_alloc(sizeof(struct reg_mid));
	if (!s->leaf)
		s->leaf = table_alloc(sizeof(struct reg_leaf));
	if (s->mid && s->leaf)
		return 0;
	tide__reg_spare_put(s);
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

struct reg_ent *tide__reg_slot(uintptr_t base, struct reg_spare *s)
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

void tide__kv_reg_fork_register(void)
{
	pthread_once(&reg_fork_once, reg_fork_init);
}

void tide__reg_publish(struct reg_ent *e, size_t map_len, bool huge,
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

// SPDX-License-Identifier: MIT
/*
 * arena_free.c - the arena's free blocks, by size class: where best fit
 * looks (arena.c keeps the layout, the live buffers and the pages).
 *
 * The free blocks sit in FREE_NCLASS treaps by size class, so that a
 * search, an insertion or a removal walks a tree of the few blocks of
 * about the same size rather than one of every free block: two-level
 * classes (as TLSF has) over the size in 8-byte units u, one per size
 * below 2 * FREE_SUB, then FREE_SUB classes per power of two.  Each treap
 * is ordered by (size, start).  A class of larger sizes never holds a
 * smaller block, so best fit is the class's own best fit or else the
 * smallest block of the next class that has any (the bitmap says which
 * have): the block one tree of all of them would give.
 *
 * All of it runs under the arena's lock.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tide/arena.h>

#include "arena_internal.h"

_Static_assert(TIDE_ARENA_MAX >> 3 == (size_t)1 << 27 &&
		       FREE_NCLASS ==
			       ((27 - FREE_SUB_BITS + 1) << FREE_SUB_BITS) + 1,
	       "the last class is TIDE_ARENA_MAX's");

/* A treap priority: xorshift32 over the arena's state. */
static uint32_t next_prio(struct tide_arena *a)
{
	uint32_t x = a->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	a->rng = x;
	return x;
}

static bool free_less(const struct buf *x, const struct buf *y)
{
	return x->size < y->size || (x->size == y->size && x->start < y->start);
}

static void tree_insert(struct buf **t, struct buf *n)
{
	struct buf *r = *t;

	if (!r) {
		n->left = n->right = NULL;
		*t = n;
		return;
	}
	if (free_less(n, r)) {
		tree_insert(&r->left, n);
		if (r->left->prio > r->prio) {
			struct buf *l = r->left;

			r->left = l->right;
			l->right = r;
			*t = l;
		}
	} else {
		tree_insert(&r->right, n);
		if (r->right->prio > r->prio) {
			struct buf *g = r->right;

			r->right = g->left;
			g->left = r;
			*t = g;
		}
	}
}

static struct buf *tree_join(struct buf *l, struct buf *r)
{
	if (!l)
		return r;
	if (!r)
		return l;
	if (l->prio > r->prio) {
		l->right = tree_join(l->right, r);
		return l;
	}
	r->left = tree_join(l, r->left);
	return r;
}

static unsigned free_class(size_t size)
{
	size_t u = size >> 3;
	unsigned fl;

	if (u < FREE_SUB)
		return (unsigned)u;
	fl = 63u - (unsigned)__builtin_clzll((unsigned long long)u);
	return ((fl - FREE_SUB_BITS + 1) << FREE_SUB_BITS) +
	       (unsigned)((u >> (fl - FREE_SUB_BITS)) & (FREE_SUB - 1));
}

void tide__arena_free_insert(struct tide_arena *a, struct buf *b)
{
	unsigned c = free_class(b->size);

	b->prio = next_prio(a);
	tree_insert(&a->free_root[c], b);
	a->free_map[c / 64] |= 1ull << (c % 64);
}

void tide__arena_free_unlink(struct tide_arena *a, struct buf **link,
			     struct buf *b)
{
	unsigned c = free_class(b->size);

	*link = tree_join(b->left, b->right);
	b->left = b->right = NULL;
	if (!a->free_root[c])
		a->free_map[c / 64] &= ~(1ull << (c % 64));
}

void tide__arena_free_remove(struct tide_arena *a, struct buf *b)
{
	struct buf **t = &a->free_root[free_class(b->size)];

	/* Keys are unique, so the descent finds it. */
	while (*t != b)
		t = free_less(b, *t) ? &(*t)->left : &(*t)->right;
	tide__arena_free_unlink(a, t, b);
}

struct buf **tide__arena_best_fit(struct tide_arena *a, size_t size)
{
	unsigned c = free_class(size), w;
	struct buf **t = &a->free_root[c], **best = NULL;
	unsigned long long m;

	while (*t) {
		if ((*t)->size >= size) {
			best = t;
			t = &(*t)->left;
		} else {
			t = &(*t)->right;
		}
	}
	if (best)
		return best;
	/* Every block of a later class is larger: the smallest one wins. */
	c++;
	w = c / 64;
	m = c % 64 ? a->free_map[w] & (~0ull << (c % 64)) : a->free_map[w];
	while (!m) {
		if (++w == FREE_MAPW)
			return NULL;
		m = a->free_map[w];
	}
	t = &a->free_root[w * 64 + (unsigned)__builtin_ctzll(m)];
	while ((*t)->left)
		t = &(*t)->left;
	return t;
}

/* SPDX-License-Identifier: MIT */
/*
 * kv_registry.h - kv's registry of paged blocks (internal): what kv knows
 * of a paged block, kept outside the block.
 *
 * A radix table keyed by the page number of a paged block's mapping start
 * (48-bit addresses, 36-bit page numbers of 4 KiB): a static root of 4096
 * mid nodes, each of 4096 leaves, each of 4096 entries of two words (16
 * bytes; 8 on 32-bit, whose addresses all fall under the root's first mid
 * node).  Nodes are mapped on first use and never freed
 * (tide__os_map_table): only the pages of a leaf that are written become
 * resident, one 4 KiB page of entries per MiB of address space that has
 * held paged blocks (per 2 MiB on 32-bit).
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
#ifndef TIDE_KV_REGISTRY_H
#define TIDE_KV_REGISTRY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "internal.h"

/* Low bit of an entry's word (map_len is a multiple of the page). */
#define ENT_HUGE ((uintptr_t)1)

struct reg_ent {
	atomic_uintptr_t word; /* map_len | ENT_HUGE; 0: no block here */
	atomic_size_t size; /* requested bytes */
};

#define REG_SHIFT 12
#define REG_BITS 12
#define REG_FAN ((size_t)1 << REG_BITS)
#define REG_MASK ((uint64_t)REG_FAN - 1)
#define REG_PAGE_BITS (3 * REG_BITS)

struct reg_leaf {
	struct reg_ent e[REG_FAN];
};

struct reg_mid {
	_Atomic(struct reg_leaf *) leaf[REG_FAN];
};

/* The root, kv_registry.c's; in the header for the inline lookup below. */
extern _Atomic(struct reg_mid *) tide__reg_root[REG_FAN];

static inline uint64_t reg_page(uintptr_t base)
{
	return (uint64_t)base >> REG_SHIFT;
}

struct reg_spare {
	struct reg_mid *mid;
	struct reg_leaf *leaf;
};

/*
 * The entry for a mapping starting at @base, or NULL if it has no node.
 * Inline: a heap block of the paged shape that tide_kvfree() or
 * tide_kvrealloc() must tell from a paged block costs this and no call.
 */
static inline struct reg_ent *tide__reg_find(uintptr_t base)
{
	uint64_t pg = reg_page(base);
	struct reg_mid *m;
	struct reg_leaf *l;

	if (pg >> REG_PAGE_BITS)
		return NULL;
	m = atomic_load_explicit(&tide__reg_root[pg >> (2 * REG_BITS)],
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
 * The entry for a mapping starting at @base, installing the nodes it
 * needs (from @s if given: then it cannot fail for a user-space address).
 * NULL if a node could not be mapped or @base is past 48 bits.
 */
struct reg_ent *tide__reg_slot(uintptr_t base, struct reg_spare *s);
/* Take one node of each kind: the spares, else fresh ones.  0 or -errno. */
int tide__reg_spare_get(struct reg_spare *s);
/* Keep what is left of @s as the spares; the rest stays unused. */
void tide__reg_spare_put(struct reg_spare *s);
/* Make @e live: a block of @map_len committed bytes, @size requested. */
void tide__reg_publish(struct reg_ent *e, size_t map_len, bool huge,
		       size_t size);

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
 * A block that was here went (freed, or moved by a resize): its entry
 * keeps that in @size, which no live block has, until a block is
 * registered here again (ent_set()) or the registry trims the node.  A
 * hint for reporting a second free, nothing more.
 */
#define ENT_GONE SIZE_MAX

static inline void ent_bury(struct reg_ent *e)
{
	atomic_store_explicit(&e->size, ENT_GONE, memory_order_relaxed);
}

static inline bool ent_buried(const struct reg_ent *e)
{
	return !atomic_load_explicit(&e->word, memory_order_acquire) &&
	       atomic_load_explicit(&e->size, memory_order_relaxed) == ENT_GONE;
}

#endif /* TIDE_KV_REGISTRY_H */

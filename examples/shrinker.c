// SPDX-License-Identifier: MIT
/*
 * shrinker.c - a cache that reclaim can ask for memory.
 *
 * count_objects says how much could go, scan_objects frees up to
 * nr_to_scan of it.  Count in small units (here pages): reclaim asks for
 * count >> priority objects per pass.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <tide.h>

#define ENTRIES 256
#define ENTRY_PAGES 4 /* 16 KiB entries */

struct cache {
	pthread_mutex_t lock;
	void *entry[ENTRIES];
	unsigned nr;
};

static unsigned long count(void *priv, struct tide_shrink_control *sc)
{
	struct cache *c = priv;

	(void)sc;
	return c->nr ? c->nr * ENTRY_PAGES : TIDE_SHRINK_EMPTY;
}

static unsigned long scan(void *priv, struct tide_shrink_control *sc)
{
	struct cache *c = priv;
	unsigned long freed = 0;

	/* Never make reclaim wait behind a user of the cache. */
	if (pthread_mutex_trylock(&c->lock))
		return TIDE_SHRINK_STOP;
	while (freed < sc->nr_to_scan && c->nr) {
		tide_kvfree(c->entry[--c->nr]);
		freed += ENTRY_PAGES;
	}
	pthread_mutex_unlock(&c->lock);
	return freed;
}

int main(void)
{
	static const struct tide_shrinker_ops ops = { count, scan };
	static struct cache c = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct tide_shrinker *s = tide_shrinker_alloc("example-cache");
	unsigned long freed;

	if (!s)
		return 1;
	for (c.nr = 0; c.nr < ENTRIES; c.nr++)
		if (!(c.entry[c.nr] = tide_kvmalloc(16 * 1024, 0)))
			return 1;
	/* Scan in batches of 16 pages (the default, 128, suits big caches). */
	tide_shrinker_set_batch(s, 16);
	tide_shrinker_register(s, &ops, &c);

	/* Priority 6 asks for (1024 >> 6) * 4 / seeks 2 = 32 pages, two
	 * batches: 8 entries. */
	freed = tide_shrink(6, 0);
	printf("priority 6: %lu pages freed, %u entries left\n", freed, c.nr);
	if (freed != 32 || c.nr != ENTRIES - 8)
		return 1;

	freed = tide_drop_caches();
	printf("drop_caches: %lu pages freed, %u entries left\n", freed, c.nr);
	if (c.nr)
		return 1;

	tide_shrinker_free(s); /* no callback runs after this */
	return 0;
}

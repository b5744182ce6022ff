/* SPDX-License-Identifier: MIT */
/*
 * tide/shrinker.h - the shrinker registry and reclaim, mm/shrinker.c for
 * user space.  Caches register count/scan callbacks; reclaim asks each for
 * objects in proportion to its size, the pass priority and its seeks.
 */
#ifndef TIDE_SHRINKER_H
#define TIDE_SHRINKER_H

#include <tide/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TIDE_SHRINK_STOP (~0UL) /* scan: stop, e.g. lock not available */
#define TIDE_SHRINK_EMPTY (~0UL - 1) /* count: nothing to free */
#define TIDE_COUNT_MAX (~0UL / 2) /* counts are clamped to this */
#define TIDE_DEFAULT_SEEKS 2
#define TIDE_SHRINK_BATCH 128
#define TIDE_DEF_PRIORITY 12

struct tide_shrink_control {
	unsigned long nr_to_scan; /* set by reclaim */
	unsigned long nr_scanned; /* preset to nr_to_scan; scan lowers it */
	int priority; /* 12 gentle .. 0 everything */
	unsigned flags; /* TIDE_NOIO etc. of the reclaim context */
};

struct tide_shrinker_ops {
	unsigned long (*count_objects)(void *priv,
				       struct tide_shrink_control *sc);
	unsigned long (*scan_objects)(void *priv,
				      struct tide_shrink_control *sc);
};

struct tide_shrinker;

struct tide_shrinker_info {
	const char *name;
	unsigned seeks;
	unsigned long batch;
	unsigned long count; /* count_objects now, EMPTY shown as 0 */
	unsigned long nr_deferred;
	unsigned long long calls, scanned, freed;
};

/* The shrinker module fills in the kernel-doc comments and any additions. */
TIDE_API struct tide_shrinker *tide_shrinker_alloc(const char *name);
TIDE_API void tide_shrinker_set_seeks(struct tide_shrinker *s, unsigned seeks);
TIDE_API void tide_shrinker_set_batch(struct tide_shrinker *s,
				      unsigned long batch);
TIDE_API void tide_shrinker_register(struct tide_shrinker *s,
				     const struct tide_shrinker_ops *ops,
				     void *priv);
TIDE_API void tide_shrinker_free(struct tide_shrinker *s);
TIDE_API bool tide_shrink_may_io(const struct tide_shrink_control *sc);
TIDE_API unsigned long tide_shrink(int priority, unsigned flags);
TIDE_API unsigned long tide_drop_caches(void);
TIDE_API unsigned long tide_shrinker_scan(const char *name,
					  unsigned long nr_to_scan);
TIDE_API int tide_shrinker_foreach(int (*fn)(const struct tide_shrinker_info *,
					     void *),
				   void *arg);

#ifdef __cplusplus
}
#endif

#endif /* TIDE_SHRINKER_H */

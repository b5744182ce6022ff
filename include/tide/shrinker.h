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

/*
 * What tide_shrinker_foreach() reports: batch is the effective one (0 shows
 * as 128); calls, scanned and freed add up every scan_objects() call
 * (passes and tide_shrinker_scan()); nr_deferred is the work owed to the
 * next pass.
 */
struct tide_shrinker_info {
	const char *name;
	unsigned seeks;
	unsigned long batch;
	unsigned long count; /* count_objects now, EMPTY shown as 0 */
	unsigned long nr_deferred;
	unsigned long long calls, scanned, freed;
};

/**
 * tide_shrinker_alloc() - allocate a shrinker (not yet registered).
 * @name: its name, shown by tide_shrinker_foreach() and looked up by
 *        tide_shrinker_scan(); copied, so the caller's string may go away.
 *        Names need not be unique.
 *
 * The shrinker starts with seeks %TIDE_DEFAULT_SEEKS and batch 0 (128).
 * Set them, then tide_shrinker_register() it.  Release it with
 * tide_shrinker_free() whether or not it was ever registered.
 *
 * Context: any thread; does not run reclaim.
 * Return: the shrinker, or NULL with errno EINVAL (@name NULL) or ENOMEM.
 */
TIDE_API struct tide_shrinker *tide_shrinker_alloc(const char *name);

/**
 * tide_shrinker_set_seeks() - how costly the cache's objects are to rebuild.
 * @s: the shrinker.
 * @seeks: the kernel's "seeks": a pass asks for (count >> priority) * 4 /
 *         @seeks objects, so a higher value means gentler reclaim.  0 asks
 *         for half the cache at every priority (objects that cost nothing
 *         to recreate).
 *
 * Context: any thread, any time (a running pass uses either value).
 * Return: nothing.
 */
TIDE_API void tide_shrinker_set_seeks(struct tide_shrinker *s, unsigned seeks);

/**
 * tide_shrinker_set_batch() - objects per scan call.
 * @s: the shrinker.
 * @batch: the largest nr_to_scan handed to scan_objects; 0 means
 *         %TIDE_SHRINK_BATCH (128).
 *
 * Context: any thread, any time.
 * Return: nothing.
 */
TIDE_API void tide_shrinker_set_batch(struct tide_shrinker *s,
				      unsigned long batch);

/**
 * tide_shrinker_register() - make a shrinker visible to reclaim.
 * @s: a shrinker from tide_shrinker_alloc(), not yet registered.
 * @ops: its callbacks (both required); the table is copied.
 * @priv: passed to every callback.
 *
 * The shrinker joins the end of the registry: passes walk shrinkers in
 * registration order.  A pass already running may or may not reach it.
 * A NULL @s, @ops or callback, or registering twice, is misuse: it is
 * reported through the error handler (tide_set_error_handler()) and the
 * call does nothing.
 *
 * count_objects() returns how many objects could be freed now (0 or
 * %TIDE_SHRINK_EMPTY: none), scan_objects() frees up to sc->nr_to_scan of
 * them, lowers sc->nr_scanned if it looked at fewer, and returns how many it
 * freed, or %TIDE_SHRINK_STOP to end this pass for the shrinker (e.g. its
 * lock is busy).  A scan may free more than sc->nr_to_scan (whole objects
 * of several units, or a cache whose only primitive drops everything): it
 * returns what it freed, which counts as that much of the pass's work.  A
 * scan that freed at least its count is not called again in that pass;
 * one that released less than that is called once more, and freeing
 * nothing then ends its pass.  Callbacks run on whichever thread runs
 * reclaim, possibly on several threads at once; they may allocate only with %TIDE_NORECLAIM
 * (reclaim never recurses) and must not free their own shrinker.  They
 * must return: a C++ exception or a longjmp() out of one (an
 * interpreter's error raised through it) leaves the pass's records on a
 * stack frame that no longer exists, listed where every later
 * tide_shrinker_free() and pass reads them: the process's shrinker calls
 * are undefined from then on (a trial's tide_shrinker_free() crashed, or
 * aborted naming a callback that was not running).
 *
 * Context: any thread; takes the registry lock briefly; never waits for a
 * running reclaim pass.
 * Return: nothing.
 */
TIDE_API void tide_shrinker_register(struct tide_shrinker *s,
				     const struct tide_shrinker_ops *ops,
				     void *priv);

/**
 * tide_shrinker_free() - unregister and free a shrinker.
 * @s: the shrinker (registered or only allocated), or NULL.
 *
 * After the call returns no callback of @s runs, nor will one run again, so
 * the caller may free what @priv points to.  A pointer that is not a live
 * shrinker (a double free, also of a handle whose memory malloc has since
 * given to a new shrinker) is reported through the error handler and
 * ignored.  Freeing a shrinker from its own callback would wait forever;
 * it is reported and the process aborts.
 *
 * Context: any thread; blocks while a callback of @s runs on another
 * thread (at most the one call in flight: a pass stops calling @s once it
 * is being freed), never for other shrinkers' callbacks or for a whole
 * pass.
 * Return: nothing.
 */
TIDE_API void tide_shrinker_free(struct tide_shrinker *s);

/**
 * tide_shrink_may_io() - may this scan do I/O?
 * @sc: the control handed to a callback.
 *
 * Context: inside a shrinker callback.
 * Return: false when the reclaim was started for a %TIDE_NOIO caller.
 */
TIDE_API bool tide_shrink_may_io(const struct tide_shrink_control *sc);

/**
 * tide_shrink() - run one reclaim pass over every registered shrinker.
 * @priority: %TIDE_DEF_PRIORITY (12, gentle: about count/4096 objects per
 *            shrinker) down to 0 (up to twice the cache); clamped to 0..12.
 * @flags: the reclaim context, copied to sc->flags (%TIDE_NOIO).
 *
 * Each shrinker gets the kernel's do_shrink_slab(): the work it was asked
 * for but not given in earlier passes (nr_deferred) carries over.  A pass
 * is bounded per shrinker: at most total / batch + 1 scan calls (total <=
 * 2 * count, a scan that frees more than it was asked counting what it
 * freed); a scan that looks at its whole batch and frees nothing, one
 * that frees at least the whole count (a whole-cache scan: counted as
 * freed), one that looks at nothing, or
 * %TIDE_SHRINK_STOP ends that
 * shrinker's share of the pass, as does tide_shrinker_free() of it.
 *
 * Context: any thread, several at once; runs callbacks.  From inside a
 * shrinker callback it does nothing (reclaim does not recurse).
 * Return: the objects freed, as reported by the scan callbacks.
 */
TIDE_API unsigned long tide_shrink(int priority, unsigned flags);

/**
 * tide_drop_caches() - free everything the caches will give.
 *
 * Runs priority 0 passes until one frees nothing, at most 16 passes (the
 * analogue of "echo 2 > /proc/sys/vm/drop_caches"; a cache that reports
 * frees it did not make cannot keep it looping), then tide_purge() once,
 * so that what the caches freed into the allocator goes back to the
 * kernel.
 *
 * Context: as tide_shrink().
 * Return: the objects freed by all passes (the purge's pages not
 * included).
 */
TIDE_API unsigned long tide_drop_caches(void);

/**
 * tide_shrinker_scan() - one direct scan of one shrinker.
 * @name: the shrinker's name (the first registered one of that name).
 * @nr_to_scan: objects to ask for in a single scan_objects() call.
 *
 * Like the kernel's shrinker debugfs "scan" file: no count, no priority
 * arithmetic, no deferral; the call counts in the shrinker's statistics.
 *
 * Context: as tide_shrink().
 * Return: the objects freed (0 on %TIDE_SHRINK_STOP); 0 with errno ENOENT
 * when no registered shrinker has that name, EINVAL when @name is NULL.
 * Otherwise errno is left as the caller had it, whatever the callback set.
 */
TIDE_API unsigned long tide_shrinker_scan(const char *name,
					  unsigned long nr_to_scan);

/**
 * tide_shrinker_foreach() - report every registered shrinker.
 * @fn: called once per shrinker in registration order with its current
 *      figures (count is a fresh count_objects() call); a non-zero return
 *      stops the walk.  @info and its name are valid during the call only.
 *      @fn may free any shrinker, the one it is shown included.
 * @arg: passed to @fn.
 *
 * Context: any thread; runs count callbacks.
 * Return: 0, -EINVAL if @fn is NULL, or the first non-zero value of @fn.
 */
TIDE_API int tide_shrinker_foreach(int (*fn)(const struct tide_shrinker_info *,
					     void *),
				   void *arg);

#ifdef __cplusplus
}
#endif

#endif /* TIDE_SHRINKER_H */

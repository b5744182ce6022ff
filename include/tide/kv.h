/* SPDX-License-Identifier: MIT */
/*
 * tide/kv.h - one allocator for small (heap) and large (page-mapped) blocks,
 * the user-space kvmalloc()/kvrealloc()/vrealloc().
 *
 * Blocks below the paged threshold (default 128 KiB) come from the C heap;
 * larger ones get an anonymous mapping of their own.  Shrinking a paged block
 * gives its tail pages back to the kernel at once and keeps the pointer;
 * growing it moves page tables with mremap() instead of copying bytes.
 */
#ifndef TIDE_KV_H
#define TIDE_KV_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <tide/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Default paged threshold in bytes; see tide_kv_set_threshold(). */
#define TIDE_KV_DEFAULT_THRESHOLD (TIDE__CAST(size_t, 128) * 1024)

/**
 * tide_kvmalloc() - allocate a block from the heap or from its own mapping.
 * @size: bytes requested; 0 gives a valid, unique block of size 0.
 * @flags: %TIDE_ZERO, %TIDE_NORECLAIM, %TIDE_NOIO, %TIDE_HUGE.
 *
 * Blocks of at least the paged threshold are paged.  %TIDE_HUGE asks for a
 * 2 MiB aligned mapping advised MADV_HUGEPAGE (paged blocks only).  When the
 * system says ENOMEM, registered shrinkers are run (direct reclaim, priority
 * 12 down to 0, retrying after each pass) unless %TIDE_NORECLAIM is set,
 * the caller is itself a shrinker callback, or @size exceeds the machine's
 * RAM plus swap (no reclaim can make room for it; it is still tried once,
 * as overcommit may grant it).  A successful allocation may run them too:
 * while a pressure monitor that no loop of the program polls (started, or
 * neither started nor polled) watches a memory limit, an allocation whose
 * charge finds the working set over the high watermark runs the monitor's
 * reclaim loop before it returns (the allocation sensor, see
 * tide_monitor_new()); %TIDE_NORECLAIM keeps it out.  So a caller that
 * holds a lock a shrinker's scan waits for (a blocking lock, not a
 * trylock) must pass %TIDE_NORECLAIM, or its own allocation deadlocks on
 * it.
 *
 * Context: any thread.  May run shrinker callbacks (see above).  Not
 * async-signal-safe, with or without %TIDE_NORECLAIM: heap blocks come from
 * malloc(), which may hold a lock the interrupted code holds.
 * Return: a pointer aligned to at least alignof(max_align_t), or NULL with
 * errno set: ENOMEM (no memory, or @size too large: past the user address
 * space it fails at once, without reclaim), EINVAL (unknown flag).
 */
TIDE_API void *tide_kvmalloc(size_t size, unsigned flags) TIDE_MALLOC
	TIDE_ALLOC_SIZE(1) TIDE_WARN_UNUSED;

/**
 * tide_kvcalloc() - allocate a zeroed array of @n elements of @size bytes.
 * @n: element count.
 * @size: element size.
 * @flags: as tide_kvmalloc(); %TIDE_ZERO is implied.
 *
 * Context: any thread.  May run shrinker callbacks.
 * Return: the block, or NULL with errno EOVERFLOW (@n * @size overflows),
 * ENOMEM or EINVAL.
 */
TIDE_API void *tide_kvcalloc(size_t n, size_t size, unsigned flags) TIDE_MALLOC
	TIDE_ALLOC_SIZE2(1, 2) TIDE_WARN_UNUSED;

/**
 * tide_kvrealloc() - resize a block, krealloc()/vrealloc() style.
 * @p: a block from tide_kvmalloc() and friends, or NULL.
 * @size: the new requested size.
 * @flags: as tide_kvmalloc().  With %TIDE_ZERO, bytes past the old size
 *         read as zero (pass it on every call for the block).
 *
 * @p NULL allocates; @size 0 frees @p and returns NULL whatever @flags holds
 * (krealloc(): the flags are not checked then).  A paged block that
 * shrinks keeps its address and returns every whole page past the new end to
 * the kernel at once (at least one page stays).  A paged block that grows
 * within its committed pages only records the new size; beyond them it is
 * extended in place or moved with mremap(), never copied.  A heap block that
 * grows past its usable size (tide_kvsize()) to the threshold or more is
 * copied once into a paged block; resized within its usable size (a
 * shrink, also after the threshold was lowered below it) it stays a heap
 * block.  A paged block stays paged when shrunk below the threshold.  A
 * block resized to its own tide_kvsize() stays where it is (see
 * tide_kvsize()).
 *
 * A kernel or non-canonical address is reported through the error handler
 * (tide_set_error_handler()) and the process aborts.  Heap blocks carry no
 * tag, so other pointers tide did not hand out are not detected: they are
 * passed to the C heap (docs/errors.md lists exactly what is detected).
 *
 * Context: any thread, but not concurrently with another call on @p.  May run
 * shrinker callbacks.  Not async-signal-safe.
 * Return: the (possibly moved) block, or NULL with errno set (ENOMEM,
 * also at once and without reclaim for a size past the user address space,
 * and after one attempt without reclaim for a size past RAM plus swap;
 * EINVAL), in which case @p is still valid and unchanged.  NULL after a
 * free for @size 0.
 */
TIDE_API void *tide_kvrealloc(void *p, size_t size, unsigned flags)
	TIDE_ALLOC_SIZE(2) TIDE_WARN_UNUSED;

/**
 * tide_kvfree() - free a block from tide_kvmalloc() and friends.
 * @p: the block, or NULL (nothing happens).
 *
 * A heap block is handed to free() directly.  A kernel or non-canonical
 * address is reported through the error handler and the process aborts;
 * other foreign pointers go to free() (see docs/errors.md).
 *
 * Context: any thread.  Never blocks on reclaim.  Not async-signal-safe.
 * Return: nothing.
 */
TIDE_API void tide_kvfree(void *p);

/**
 * tide_kvsize() - usable size of a live block.
 * @p: a live block, or NULL.
 *
 * For a paged block, the size last requested.  For a heap block (a plain
 * malloc() block: heap blocks carry no tag, so their requested size is not
 * recorded), the allocator's malloc_usable_size(), which is at least the
 * size last requested.
 *
 * The bytes past the request are the caller's only once the compiler
 * knows the size: kv's allocating functions carry alloc_size, so
 * _FORTIFY_SOURCE=3 and -fsanitize=object-size bound a block by the size
 * it was last asked for, and stop a write past it ("buffer overflow
 * detected").  Resize the block to this size first:
 * p = tide_kvrealloc(p, tide_kvsize(p), flags).  That returns the block
 * with this size as far as the compiler knows, and keeps it where it is
 * (same pointer, nothing copied, mapped or remapped), except a heap block
 * below 128 KiB that realloc() moves anyway: under AddressSanitizer,
 * ThreadSanitizer and valgrind, which move every block, or with glibc's
 * M_MMAP_THRESHOLD set below 128 KiB (glibc remaps a block it mapped on
 * its own to one page more).
 *
 * Context: any thread.
 * Return: the size (0 for NULL).
 */
TIDE_API size_t tide_kvsize(const void *p);

/**
 * tide_kvresident() - bytes of @p backed by committed memory.
 * @p: a live block, or NULL.
 *
 * For a paged block, the bytes from @p to the end of its committed pages
 * (at least tide_kvsize(@p)); for a heap block, the allocator's usable size
 * for it (malloc_usable_size()).
 *
 * Context: any thread.
 * Return: the byte count (0 for NULL).
 */
TIDE_API size_t tide_kvresident(const void *p);

/**
 * tide_kv_is_paged() - is @p backed by a mapping of its own?
 * @p: a live block, or NULL.
 *
 * The user-space is_vmalloc_addr().
 *
 * Context: any thread.
 * Return: true for paged blocks, false for heap blocks and NULL.
 */
TIDE_API bool tide_kv_is_paged(const void *p);

/**
 * tide_kv_set_threshold() - set the size from which blocks are paged.
 * @bytes: new threshold; 0 makes every new block paged, SIZE_MAX none.
 *
 * The initial value is %TIDE_KV_DEFAULT_THRESHOLD, or the environment
 * variable TIDE_KV_THRESHOLD when it holds a number (with an optional K, M or
 * G suffix, powers of 1024) of at most SIZE_MAX.  Existing blocks keep
 * their backend: a heap block becomes paged only when it grows past its
 * usable size.
 *
 * Context: any thread; takes effect for allocations that start afterwards.
 * Return: nothing.
 */
TIDE_API void tide_kv_set_threshold(size_t bytes);

/**
 * tide_kv_threshold() - the current paged threshold in bytes.
 *
 * Context: any thread.
 * Return: the threshold.
 */
TIDE_API size_t tide_kv_threshold(void);

/**
 * struct tide_kv_stats - the process's paged blocks, from tide_kv_stats().
 * @blocks: live paged blocks.
 * @requested: bytes requested for them (the sum of their tide_kvsize()).
 * @committed: bytes mapped for them, the 64 bytes before each block's data
 *	and the slack included: the sum of their mapping lengths,
 *	tide_kvresident() + 64 bytes each (a multiple of the page size, or of
 *	2 MiB for %TIDE_HUGE blocks).
 */
struct tide_kv_stats {
	size_t blocks;
	size_t requested;
	size_t committed;
};

/**
 * tide_kv_stats() - process-wide totals of the paged blocks.
 * @st: where to write; NULL does nothing.
 *
 * Counted only on the paged paths (allocation, growth, shrinking, free of a
 * paged block, each of which makes a system call anyway), with relaxed
 * atomic counters.  Heap blocks (below the paged threshold) are not counted:
 * they stay a plain malloc()/free() with no shared write on that path; the
 * C heap's own statistics (mallinfo2(), malloc_stats()) describe them.  A
 * call that fails changes nothing: a failed mremap() leaves the figures as
 * they were, a shrink whose munmap() fails keeps its pages committed and
 * counted.  A heap block promoted by tide_kvrealloc() counts from then on.
 *
 * The three figures are read one after the other, not under a lock: while
 * other threads allocate or free paged blocks they may be from slightly
 * different moments; with no such call running they are exact.  A forked
 * child starts with its parent's figures: its copies of the parent's paged
 * blocks are its memory too, and freeing them there counts down.
 *
 * Context: any thread; never blocks.  Async-signal-safe (lock-free atomic
 * loads).
 * Return: nothing; @st is filled in.
 */
TIDE_API void tide_kv_stats(struct tide_kv_stats *st);

/*
 * Private: heap resizes to this size or more take the slow path, kv.h's
 * inline tide_kvrealloc() and the exported function's fast path alike
 * (kv.c, heap_resize(), keeps a block resized to its own usable size where
 * it is: glibc's realloc() remaps a block it mmap()ed, 128 KiB or more
 * unless M_MMAP_THRESHOLD was lowered, to one more page, moving it).
 */
#define TIDE__KV_REALLOC_INLINE_MAX (TIDE__CAST(size_t, 128) * 1024)

/**
 * DOC: Inline fast paths
 *
 * A heap-sized kv block is a plain malloc() block, so tide_kvmalloc(),
 * tide_kvrealloc() and tide_kvfree() of one are malloc(), realloc() and
 * free() behind a compare or two.  kv.h compiles those compares into the
 * caller (the three names are function-like macros over static inline
 * functions), so heap-sized blocks cost what the process allocator costs:
 * one call fewer than the exported functions, which they fall back to for
 * everything else (paged sizes, kv flags, heap resizes to 128 KiB or more,
 * failures, NULL and foreign pointers).  Taking a function's address
 * (&tide_kvfree, or the name not followed by a parenthesis) gives the
 * exported function.  Define TIDE_NO_INLINE before including tide.h to
 * call the exported functions only; the library's own code and its tests
 * do.
 *
 * ABI: this bakes into programs the paged shape (data 64 bytes into a
 * page), the highest user address (2^47 on x86-64, 2^48 on arm64), the
 * small-request rounding to alignof(max_align_t), and the exported
 * tide__kv_fast_limit (the paged threshold; 0 until the first slow call
 * read $TIDE_KV_THRESHOLD, and while a pressure monitor's allocation
 * sensor watches heap blocks); changing any of them changes the SONAME
 * (docs/abi.md).
 */
#if !defined(TIDE_NO_INLINE) && !defined(TIDE_BUILDING) &&   \
	!defined(TIDE_TEST_HOOKS) && defined(__GNUC__) &&    \
	((defined(__cplusplus) && __cplusplus >= 201103L) || \
	 (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L))

TIDE_API extern size_t tide__kv_fast_limit; /* private, see above */
#define TIDE__KV_INLINE 1 /* vec.h builds its inline growth on these */

#if defined(__x86_64__)
#define TIDE__KV_ADDR_END (TIDE__CAST(uintptr_t, 1) << 47)
#elif defined(__aarch64__)
#define TIDE__KV_ADDR_END (TIDE__CAST(uintptr_t, 1) << 48)
#else
#define TIDE__KV_ADDR_END UINTPTR_MAX
#endif

static inline int tide__kv_fast_size(size_t size, unsigned flags)
{
	return size < __atomic_load_n(&tide__kv_fast_limit, __ATOMIC_RELAXED) &&
	       !(flags & ~TIDE_FLAGS_PRIVATE);
}

static inline int tide__kv_fast_ptr(const void *p) /* a heap block's */
{
	uintptr_t a = TIDE__PTR_BITS(p);

	return ((a - 64) & 4095) != 0 && a - 4096 < TIDE__KV_ADDR_END - 4096;
}

#ifdef __cplusplus
#define TIDE__KV_MAX_ALIGN alignof(max_align_t)
#else
#define TIDE__KV_MAX_ALIGN _Alignof(max_align_t)
#endif

static inline size_t tide__kv_heap_req(size_t size)
{
	return size < TIDE__KV_MAX_ALIGN ? TIDE__KV_MAX_ALIGN : size;
}

/* The exported functions, cold, for the fallbacks (see common.h). */
TIDE_API extern void *tide__kvmalloc_slow(size_t size, unsigned flags)
	TIDE__COLD_ALIAS(tide_kvmalloc);
TIDE_API extern void *tide__kvrealloc_slow(void *p, size_t size, unsigned flags)
	TIDE__COLD_ALIAS(tide_kvrealloc);
TIDE_API extern void tide__kvfree_slow(void *p) TIDE__COLD_ALIAS(tide_kvfree);

/* The exported functions' attributes: an ignored result still warns. */
static inline void *tide__kvmalloc_inline(size_t size,
					  unsigned flags) TIDE_MALLOC
	TIDE_ALLOC_SIZE(1) TIDE_WARN_UNUSED;
static inline void *tide__kvrealloc_inline(void *p, size_t size, unsigned flags)
	TIDE_ALLOC_SIZE(2) TIDE_WARN_UNUSED;

static inline void *tide__kvmalloc_inline(size_t size, unsigned flags)
{
	if (TIDE__LIKELY(tide__kv_fast_size(size, flags))) {
		/* a branch, not a select: the size reaches malloc() at once */
		void *p = TIDE__LIKELY(size >= TIDE__KV_MAX_ALIGN) ?
				  malloc(size) :
				  malloc(TIDE__KV_MAX_ALIGN);

		if (TIDE__LIKELY(p != NULL))
			return p;
	}
	return tide__kvmalloc_slow(size, flags);
}

static inline void *tide__kvrealloc_inline(void *p, size_t size, unsigned flags)
{
	if (TIDE__LIKELY(tide__kv_fast_ptr(p) && size &&
			 size < TIDE__KV_REALLOC_INLINE_MAX &&
			 tide__kv_fast_size(size, flags))) {
		void *q = realloc(p, tide__kv_heap_req(size));

		if (TIDE__LIKELY(q != NULL))
			return q;
	}
	return tide__kvrealloc_slow(p, size, flags);
}

static inline void tide__kvfree_inline(void *p)
{
	if (TIDE__LIKELY(tide__kv_fast_ptr(p)))
		free(p);
	else
		tide__kvfree_slow(p);
}

#define tide_kvmalloc(size, flags) tide__kvmalloc_inline(size, flags)
#define tide_kvrealloc(p, size, flags) tide__kvrealloc_inline(p, size, flags)
#define tide_kvfree(p) tide__kvfree_inline(p)

#endif /* inline fast paths */

#ifdef __cplusplus
}
#endif

#endif /* TIDE_KV_H */

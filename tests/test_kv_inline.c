// SPDX-License-Identifier: MIT
/*
 * test_kv_inline.c - kv.h's inline fast paths, as programs get them.
 *
 * Built against the release library without TIDE_TEST_HOOKS (which turns
 * the inline paths off), so tide_kvmalloc(), tide_kvrealloc() and
 * tide_kvfree() below are the static inline functions of kv.h.  Each test
 * runs in a fresh child that has made no kv call yet, with
 * TIDE_KV_THRESHOLD=4K set before main(): the very first call must still
 * read it.
 */
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tide.h>

#include "harness.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

/* Before main: every test's child inherits it, none has read it yet. */
__attribute__((constructor)) static void threshold_4k(void)
{
	setenv("TIDE_KV_THRESHOLD", "4K", 1);
}

#ifndef tide_kvmalloc
#error "kv.h's inline fast paths are off in this build"
#endif

#ifdef TIDE_TEST_IGNORED_RESULTS
/*
 * Compiled only by the ctest kv_inline_ignored_results_warn, which expects
 * exactly four -Wunused-result diagnostics: the inline wrappers carry the
 * exported functions' warn_unused_result (a lost tide_kvrealloc() result
 * is a leak or a dangling pointer).
 */
void ignores_results(void *p, size_t n);
void ignores_results(void *p, size_t n)
{
	tide_kvmalloc(n, 0); /* the inline wrappers */
	tide_kvrealloc(p, n, 0);
	(tide_kvmalloc)(n, 0); /* the exported functions */
	(tide_kvrealloc)(p, n, 0);
}
#endif

TEST(first_call_reads_the_threshold_from_the_environment)
{
	/* Before any slow call the fast limit is 0: everything goes slow. */
	char *p = tide_kvmalloc(5000, 0);

	CHECK(p);
	CHECK_UEQ(tide_kv_threshold(), 4 * KiB);
	CHECK(tide_kv_is_paged(p)); /* 5000 >= 4K: paged, not malloc'd */
	CHECK_UEQ(__atomic_load_n(&tide__kv_fast_limit, __ATOMIC_RELAXED),
		  4 * KiB);
	tide_kvfree(p);
}

TEST(heap_sizes_are_malloc_blocks_and_paged_sizes_are_not)
{
	struct tide_kv_stats s0, s1;
	char *h, *q;

	tide_kv_stats(&s0);
	h = tide_kvmalloc(16, 0);
	CHECK(h);
	CHECK(!tide_kv_is_paged(h));
	CHECK_CMP(malloc_usable_size(h), >=, 16);
	CHECK_UEQ((uintptr_t)h % _Alignof(max_align_t), 0);
	free(h); /* a heap block is a malloc block */

	h = tide_kvmalloc(1, 0); /* asks for alignof(max_align_t) */
	CHECK(h);
	CHECK_CMP(malloc_usable_size(h), >=, _Alignof(max_align_t));
	tide_kvfree(h);

	q = tide_kvmalloc(1 * MiB, 0);
	CHECK(q && tide_kv_is_paged(q));
	tide_kv_stats(&s1);
	CHECK_UEQ(s1.blocks, s0.blocks + 1);
	tide_kvfree(q); /* paged shape: the inline path calls the library */
	tide_kv_stats(&s1);
	CHECK_UEQ(s1.blocks, s0.blocks);
	tide_kvfree(NULL);
}

TEST(kv_flags_take_the_library_path)
{
	unsigned char *z = tide_kvmalloc(3000, TIDE_ZERO);
	size_t usable;

	CHECK(z);
	usable = tide_kvsize(z);
	CHECK_CMP(usable, >=, 3000);
	for (size_t i = 0; i < usable; i++)
		CHECK_UEQ(z[i], 0);
	/* TIDE_ZERO growth: the bytes past the old usable size read zero */
	memset(z, 0xab, usable);
	z = tide_kvrealloc(z, 3500, TIDE_ZERO);
	CHECK(z);
	for (size_t i = usable; i < tide_kvsize(z); i++)
		CHECK_UEQ(z[i], 0);
	tide_kvfree(z);
	errno = 0;
	CHECK(!tide_kvmalloc(16, 1u << 15)); /* unknown kv flag */
	CHECK_EQ(errno, EINVAL);
}

TEST(realloc_promotes_and_keeps_the_data)
{
	char *p = tide_kvmalloc(100, 0);

	CHECK(p);
	memset(p, 'x', 100);
	p = tide_kvrealloc(p, 2000, 0); /* heap to heap: realloc() */
	CHECK(p && !tide_kv_is_paged(p));
	CHECK(p[99] == 'x');
	p = tide_kvrealloc(p, 64 * KiB, 0); /* past 4K: one copy, paged */
	CHECK(p && tide_kv_is_paged(p));
	CHECK(p[0] == 'x' && p[99] == 'x');
	p = tide_kvrealloc(p, 8 * KiB, 0); /* stays paged, same pointer */
	CHECK(p && tide_kv_is_paged(p));
	CHECK(!tide_kvrealloc(p, 0, 0)); /* 0 frees */
}

TEST(function_addresses_are_the_exported_functions)
{
	void *(*alloc)(size_t, unsigned) = tide_kvmalloc;
	void (*release)(void *) = &tide_kvfree;
	char *p = alloc(24, 0), *q = (tide_kvmalloc)(1 * MiB, 0);

	CHECK(p && q);
	CHECK(tide_kv_is_paged(q));
	release(p);
	release(q);
}

/*
 * A kernel address; on 32-bit, which has none kv can tell, an address in
 * page 0, which it reports there (docs/errors.md).
 */
static void free_kernel_pointer(void *arg)
{
	(void)arg;
#if UINTPTR_MAX > 0xffffffffu
	tide_kvfree((void *)(uintptr_t)0xffff888000001000ULL);
#else
	tide_kvfree((void *)(uintptr_t)0x800);
#endif
}

TEST(foreign_kernel_pointer_still_aborts)
{
	char out[256];
	int status = th_fork(free_kernel_pointer, NULL, out, sizeof(out));

	/* the inline path sends it to the library, which reports it */
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

RUN_TESTS(T(first_call_reads_the_threshold_from_the_environment),
	  T(heap_sizes_are_malloc_blocks_and_paged_sizes_are_not),
	  T(kv_flags_take_the_library_path),
	  T(realloc_promotes_and_keeps_the_data),
	  T(function_addresses_are_the_exported_functions),
	  T(foreign_kernel_pointer_still_aborts))

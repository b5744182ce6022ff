// SPDX-License-Identifier: MIT
/*
 * test_errors.c - the rows of docs/errors.md that no module test already
 * covers: NULL handles and huge sizes on the calls around the main ones.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include <tide.h>

#include "harness.h"

struct reports {
	int n;
	const void *last;
};

static void on_report(const char *what, const void *ptr, void *arg)
{
	struct reports *r = arg;

	(void)what;
	r->n++;
	r->last = ptr;
}

TEST(shrinker_setters_report_a_null_shrinker)
{
	struct reports r = { 0 };

	tide_set_error_handler(on_report, &r);
	tide_shrinker_set_seeks(NULL, 1);
	tide_shrinker_set_batch(NULL, 1);
	CHECK_EQ(r.n, 2);
	CHECK_PTR_EQ(r.last, NULL);
	tide_set_error_handler(NULL, NULL);
}

TEST(shrinker_scan_of_null_name_is_einval_and_zero_is_a_no_op)
{
	errno = 0;
	CHECK_UEQ(tide_shrinker_scan(NULL, 10), 0);
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK_UEQ(tide_shrinker_scan("none", 10), 0);
	CHECK_EQ(errno, ENOENT);
	errno = 0;
	CHECK_UEQ(tide_shrinker_scan("none", 0), 0);
	CHECK_EQ(errno, 0);
	CHECK(!tide_shrink_may_io(NULL));
}

TEST(shrink_with_no_shrinkers_frees_nothing_at_any_priority)
{
	CHECK_UEQ(tide_shrink(-100, 0), 0);
	CHECK_UEQ(tide_shrink(100, ~0u), 0);
	CHECK_UEQ(tide_drop_caches(), 0);
}

TEST(arena_alloc_of_null_arena_is_einval_and_huge_size_enospc)
{
	struct tide_arena *a = tide_arena_create("e", 4096);

	CHECK(a);
	errno = 0;
	CHECK(!tide_arena_alloc(NULL, 8));
	CHECK_EQ(errno, EINVAL);
	errno = 0;
	CHECK(!tide_arena_alloc(a, SIZE_MAX));
	CHECK_EQ(errno, ENOSPC);
	errno = 0;
	CHECK(!tide_arena_alloc(a, SIZE_MAX - 6));
	CHECK_EQ(errno, ENOSPC);
	tide_arena_stats(a, NULL);
	tide_arena_destroy(a);
}

TEST(arena_free_with_null_arena_is_reported)
{
	struct reports r = { 0 };
	int x;

	tide_set_error_handler(on_report, &r);
	tide_arena_free(NULL, NULL);
	CHECK_EQ(r.n, 0);
	tide_arena_free(NULL, &x);
	CHECK_EQ(r.n, 1);
	CHECK_PTR_EQ(r.last, &x);
	tide_set_error_handler(NULL, NULL);
}

TEST(monitor_calls_on_null_are_rejected)
{
	struct tide_monitor_stats st;

	CHECK_EQ(tide_monitor_start(NULL), -EINVAL);
	CHECK_EQ(tide_monitor_fd(NULL), -EINVAL);
	CHECK_EQ(tide_monitor_dispatch(NULL), -EINVAL);
	CHECK_UEQ(tide_monitor_source(NULL), 0);
	memset(&st, 0x5a, sizeof(st));
	tide_monitor_stats(NULL, &st);
	CHECK_UEQ(st.events, 0x5a5a5a5a5a5a5a5aULL);
	tide_monitor_free(NULL);
	CHECK_STR(tide_monitor_source_name(0), "unknown");
}

TEST(strerror_handles_zero_positive_and_unknown)
{
	CHECK_STR(tide_strerror(0), "Success");
	CHECK_STR(tide_strerror(-ENOMEM), tide_strerror(ENOMEM));
	CHECK_STR(tide_strerror(-100000), "Unknown error");
	CHECK_STR(tide_strerror(-2147483647 - 1), "Unknown error");
}

/* ---- kv: foreign pointers (issue 14 item 9) ------------------------- */

static void print_report(const char *what, const void *ptr, void *arg)
{
	printf("handler: %s %p\n", what, ptr);
	fflush(stdout);
}

struct kv_call {
	int fn; /* 0 free, 1 realloc, 2 size, 3 resident, 4 is_paged */
	uintptr_t addr;
};

static void call_kv(void *arg)
{
	const struct kv_call *c = arg;
	void *p = (void *)c->addr;

	tide_set_error_handler(print_report, NULL);
	switch (c->fn) {
	case 0:
		tide_kvfree(p);
		break;
	case 1:
		(void)!tide_kvrealloc(p, 10, 0);
		break;
	case 2:
		(void)tide_kvsize(p);
		break;
	case 3:
		(void)tide_kvresident(p);
		break;
	default:
		(void)tide_kv_is_paged(p);
	}
	printf("returned\n");
}

TEST(kv_reports_kernel_noncanonical_and_low_pointers_then_aborts)
{
	static const char *const names[] = { "tide_kvfree", "tide_kvrealloc",
					     "tide_kvsize", "tide_kvresident",
					     "tide_kv_is_paged" };
#if UINTPTR_MAX > 0xffffffffu
	/* kernel, non-canonical (both halves), the vsyscall page, page 0 */
	static const uintptr_t addrs[] = {
		0xffff888000001040ULL,
		0x0000800000000000ULL,
		0x8000000000000040ULL,
		0xffffffffff600000ULL,
		0x40,
	};
#else
	/*
	 * 32-bit: no address is non-canonical, and a kernel address cannot
	 * be told from a user one (a 64-bit kernel gives 32-bit programs
	 * nearly 4 GiB); page 0 and MAP_FAILED, the all-ones address, are
	 * what kv reports there (docs/errors.md).
	 */
	static const uintptr_t addrs[] = { UINTPTR_MAX, 0x40 };
#endif
	char out[512], want[128];

	for (int fn = 0; fn < 5; fn++) {
		for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
			struct kv_call c = { fn, addrs[i] };
			int st = th_fork(call_kv, &c, out, sizeof(out));

			snprintf(want, sizeof(want),
				 "handler: %s: invalid pointer %p\n", names[fn],
				 (void *)addrs[i]);
			CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
			CHECK(strstr(out, want));
			CHECK(!strstr(out, "returned"));
		}
	}
}

/*
 * A paged block freed twice, or freed at its old address after
 * tide_kvrealloc() moved it: its mapping is gone, and free() faulted on it
 * without a word (a trial's SIGSEGV).  Reported, then abort.
 */
static void free_paged_twice(void *arg)
{
	int how = *(int *)arg;
	char *p, *q;

	tide_set_error_handler(print_report, NULL);
	p = tide_kvmalloc(1 << 20, 0);
	CHECK(p && tide_kv_is_paged(p));
	if (how == 2) {
		/* a guard page at the first free page past it: the growth
		 * to 64 MiB must move */
		uintptr_t a = ((uintptr_t)p + tide_kvresident(p) + 4095) &
			      ~(uintptr_t)4095;
		void *g = MAP_FAILED;

		for (int i = 0; i < 16384 && g == MAP_FAILED; i++, a += 4096)
			g = mmap((void *)a, 4096, PROT_NONE,
				 MAP_PRIVATE | MAP_ANONYMOUS |
					 MAP_FIXED_NOREPLACE,
				 -1, 0);
		CHECK(g != MAP_FAILED);
		q = tide_kvrealloc(p, 64 << 20, 0);
		CHECK(q && q != p);
	} else {
		tide_kvfree(p);
	}
	printf("first done\n");
	fflush(stdout);
	if (how == 1)
		(void)!tide_kvrealloc(p, 10, 0);
	else
		tide_kvfree(p);
	printf("returned\n");
}

TEST(kv_reports_a_paged_block_freed_twice_then_aborts)
{
	static const char *const want[] = {
		"handler: tide_kvfree: a paged block freed already",
		"handler: tide_kvrealloc: a paged block freed already",
		"handler: tide_kvfree: a paged block freed already",
	};
	char out[512];

	for (int how = 0; how < 3; how++) {
		int st = th_fork(free_paged_twice, &how, out, sizeof(out));

		CHECK(strstr(out, "first done"));
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
		CHECK(strstr(out, want[how]));
		CHECK(!strstr(out, "returned"));
	}
}

static void free_malloc_blocks(void *arg)
{
	enum { N = 8192 };
	static void *blk[N];
	int shaped = 0;

	(void)arg;
	tide_set_error_handler(print_report, NULL);
	/*
	 * Plain malloc blocks of mixed sizes, some at page offset 64 (a paged
	 * block's shape): kv's registry holds no live block there; each is
	 * freed as a heap block, without a sanitizer or memcheck report.
	 */
	for (int i = 0; i < N; i++) {
		size_t n = 16 + (size_t)(i * 7919 % 23) * 8;

		blk[i] = malloc(n);
		memset(blk[i], 0x5a, n);
		shaped += ((uintptr_t)blk[i] & 4095) == 64;
	}
	for (int i = 0; i < N; i++) {
		if (tide_kv_is_paged(blk[i]))
			printf("paged?\n");
		tide_kvfree(blk[i]);
	}
	printf("returned %d\n", shaped > 0);
}

TEST(kvfree_of_malloc_blocks_frees_them_even_paged_shaped)
{
	char out[512];
	int st = th_fork(free_malloc_blocks, NULL, out, sizeof(out));

	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(!strstr(out, "handler"));
	CHECK(!strstr(out, "paged?"));
	/* 8192 blocks of mixed sizes over ~200 pages: some at offset 64 */
	CHECK(strstr(out, "returned 1"));
}

TEST(paged_shaped_pointer_not_in_the_registry_is_not_paged)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *blk, *base, *again;

	CHECK(m != MAP_FAILED);
	CHECK(!tide_kv_is_paged(m + 64)); /* a mapping of someone else's */
	munmap(m, pg);

	/* Inside a live paged block, at the paged shape: not a block. */
	blk = tide_kvmalloc(1 << 20, 0);
	CHECK(blk && tide_kv_is_paged(blk));
	CHECK(!tide_kv_is_paged(blk + 4096));
	CHECK(!tide_kv_is_paged(blk + 64 * 4096));

	/* A freed block's address mapped again by someone else: not paged
	 * (the entry goes before the pages do). */
	base = blk - 64;
	tide_kvfree(blk);
	again = mmap(base, pg, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (again == base)
		CHECK(!tide_kv_is_paged(again + 64));
	if (again != MAP_FAILED)
		munmap(again, pg);
}

/* ---- kv and vec: sizes past the address space (issue 14 item 8) ----- */

TEST(paged_growth_past_the_address_space_is_enomem)
{
	/* past the address space (TH_ADDR_SPACE): 2^47 or 2^31 and on */
	static const size_t sizes[] = {
		TH_ADDR_SPACE,
		TH_ADDR_SPACE + 1,
#if SIZE_MAX > 0xffffffffu
		(size_t)1 << 52,
		(size_t)1 << 62,
#else
		TH_ADDR_SPACE + TH_ADDR_SPACE / 2, /* 3 GiB */
		SIZE_MAX - 4095,
#endif
	};
	char *p = tide_kvmalloc(1 << 20, TIDE_NORECLAIM);

	CHECK(p && tide_kv_is_paged(p));
	memset(p, 0x33, 1 << 20);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		errno = 0;
		CHECK_PTR_EQ(tide_kvrealloc(p, sizes[i], 0), NULL);
		CHECK_EQ(errno, ENOMEM);
		CHECK_UEQ(tide_kvsize(p), 1 << 20);
		CHECK_EQ(p[(1 << 20) - 1], 0x33);
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		errno = 0;
		CHECK_PTR_EQ(tide_kvmalloc(sizes[i], 0), NULL);
		CHECK_EQ(errno, ENOMEM);
	}
	tide_kvfree(p);
}

TEST(vec_reserve_past_the_address_space_is_enomem)
{
	struct tide_vec v;

	for (int paged = 0; paged < 2; paged++) {
		tide_vec_init(&v, 8, 0);
		CHECK_EQ(tide_vec_reserve(&v, paged ? (1 << 20) : 16), 0);
		CHECK_EQ(tide_kv_is_paged(v.data), paged);
		CHECK_EQ(tide_vec_reserve(&v, TH_ADDR_SPACE / 8), -ENOMEM);
#if SIZE_MAX > 0xffffffffu
		CHECK_EQ(tide_vec_reserve(&v, ((size_t)1 << 50) / 8), -ENOMEM);
#else
		/* the most bytes that do not overflow */
		CHECK_EQ(tide_vec_reserve(&v, SIZE_MAX / 8), -ENOMEM);
#endif
		CHECK_EQ(tide_kv_is_paged(v.data), paged);
		tide_vec_destroy(&v);
	}
}

RUN_TESTS(T(shrinker_setters_report_a_null_shrinker),
	  T(shrinker_scan_of_null_name_is_einval_and_zero_is_a_no_op),
	  T(shrink_with_no_shrinkers_frees_nothing_at_any_priority),
	  T(arena_alloc_of_null_arena_is_einval_and_huge_size_enospc),
	  T(arena_free_with_null_arena_is_reported),
	  T(monitor_calls_on_null_are_rejected),
	  T(strerror_handles_zero_positive_and_unknown),
	  T(kv_reports_kernel_noncanonical_and_low_pointers_then_aborts),
	  T(kv_reports_a_paged_block_freed_twice_then_aborts),
	  T(kvfree_of_malloc_blocks_frees_them_even_paged_shaped),
	  T(paged_shaped_pointer_not_in_the_registry_is_not_paged),
	  T(paged_growth_past_the_address_space_is_enomem),
	  T(vec_reserve_past_the_address_space_is_enomem))

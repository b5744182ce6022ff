// SPDX-License-Identifier: MIT
/*
 * test_errors.c - the rows of docs/errors.md that no module test already
 * covers: NULL handles and huge sizes on the calls around the main ones.
 */
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

static void query_foreign(void *arg)
{
	static char buf[64] __attribute__((aligned(16)));

	(void)arg;
	(void)tide_kvsize(buf + 32);
}

TEST(kvsize_of_a_foreign_pointer_aborts)
{
	char out[256];
	int st;

	st = th_fork(query_foreign, NULL, out, sizeof(out));
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

RUN_TESTS(T(shrinker_setters_report_a_null_shrinker),
	  T(shrinker_scan_of_null_name_is_einval_and_zero_is_a_no_op),
	  T(shrink_with_no_shrinkers_frees_nothing_at_any_priority),
	  T(arena_alloc_of_null_arena_is_einval_and_huge_size_enospc),
	  T(arena_free_with_null_arena_is_reported),
	  T(monitor_calls_on_null_are_rejected),
	  T(strerror_handles_zero_positive_and_unknown),
	  T(kvsize_of_a_foreign_pointer_aborts))

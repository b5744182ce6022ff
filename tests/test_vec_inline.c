// SPDX-License-Identifier: MIT
/*
 * test_vec_inline.c - vec.h's inline growth and destruction, as programs get
 * them.
 *
 * Built against the release library without TIDE_TEST_HOOKS (which turns
 * the inline paths off), so tide_vec_push_val() grows a full heap buffer
 * with the C heap's realloc() in this file and tide_vec_destroy() is the
 * static inline function of vec.h.  Every test checks the result against
 * the exported functions, called by address, on a twin vector.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tide.h>

#include "harness.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

#ifndef tide_vec_destroy
#error "vec.h's inline paths are off in this build"
#endif

/*
 * ASan and TSan bring their own heap (glibc's mallinfo2() does not see it)
 * and reserve the address space for their shadow (RLIMIT_AS cannot make one
 * realloc() fail); valgrind replaces the heap too.  Their leak checkers
 * cover what the heap figures check here.
 */
static bool own_heap(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
	return false;
#endif
#endif
	/* a preloaded allocator leaves glibc's arena empty */
	return !th_under_valgrind() && mallinfo2().arena > 0;
}

/*
 * Every call into the library's tide_vec_push() and tide_vec_destroy(),
 * the helpers' fallbacks included, goes through these (the test links with
 * -Wl,--wrap for both): the inline paths must not call them.
 */
int __real_tide_vec_push(struct tide_vec *v, const void *elem);
void __real_tide_vec_destroy(struct tide_vec *v);
int __wrap_tide_vec_push(struct tide_vec *v, const void *elem);
void __wrap_tide_vec_destroy(struct tide_vec *v);
static unsigned long push_calls, destroy_calls;

int __wrap_tide_vec_push(struct tide_vec *v, const void *elem)
{
	push_calls++;
	return __real_tide_vec_push(v, elem);
}

void __wrap_tide_vec_destroy(struct tide_vec *v)
{
	destroy_calls++;
	__real_tide_vec_destroy(v);
}

/* The exported functions, whatever the macros do. */
static int (*const push_fn)(struct tide_vec *, const void *) = tide_vec_push;
static void (*const destroy_fn)(struct tide_vec *) = tide_vec_destroy;

/*
 * A heap block whose address has a paged block's shape (64 mod 4096; some
 * allocators, ASan's for one, hand those out) goes to the library, which
 * looks it up in kv's registry: the one case where a heap buffer leaves
 * the inline paths.
 */
static bool paged_shaped(const void *p)
{
	return p && ((uintptr_t)p & 4095) == 64;
}

/* tide_vec_push_val() that must stay inline: no call into the library */
#define PUSH_INLINE(v, type, val)                             \
	do {                                                  \
		unsigned long calls_ = push_calls;            \
		bool shaped_ = paged_shaped((v)->data);       \
                                                              \
		CHECK_EQ(tide_vec_push_val(v, type, val), 0); \
		if (!shaped_)                                 \
			CHECK_UEQ(push_calls, calls_);        \
	} while (0)

static void check_same_state(const struct tide_vec *a, const struct tide_vec *b)
{
	CHECK_UEQ(a->len, b->len);
	CHECK_UEQ(a->cap, b->cap);
	CHECK_UEQ(a->push_end, b->push_end);
	CHECK_UEQ(a->pop_floor, b->pop_floor);
	CHECK_UEQ(a->span, b->span);
	CHECK_UEQ(a->elem_size, b->elem_size);
	CHECK(!memcmp(a->data, b->data, a->len * a->elem_size));
}

static void grow_like_the_library(unsigned flags)
{
	struct tide_vec a = TIDE_VEC_INIT(uint64_t, flags);
	struct tide_vec b = TIDE_VEC_INIT(uint64_t, flags);
	size_t caps = 0;

	tide_kv_set_threshold(SIZE_MAX);
	for (uint64_t i = 0; i < 5000; i++) {
		size_t cap = a.cap;

		PUSH_INLINE(&a, uint64_t, i * 3);
		CHECK_EQ(push_fn(&b, &(uint64_t){ i * 3 }), 0);
		check_same_state(&a, &b);
		CHECK(!tide_kv_is_paged(a.data));
		if (a.cap != cap) {
			/* 4 first, then doubling: 4, 8, ..., 8192 */
			CHECK_UEQ(a.cap, cap ? 2 * cap : 4);
			CHECK_CMP(malloc_usable_size(a.data), >=, a.cap * 8);
			caps++;
		}
	}
	CHECK_UEQ(caps, 12);
	CHECK_UEQ(a.cap, 8192);
	/* the same vectors empty out alike (AUTOTRIM: trim on pop) */
	while (a.len) {
		uint64_t x, y;

		CHECK_EQ(tide_vec_pop_val(&a, uint64_t, &x), 0);
		CHECK_EQ(tide_vec_pop(&b, &y), 0);
		CHECK_UEQ(x, y);
		check_same_state(&a, &b);
	}
	{
		unsigned long calls = destroy_calls;
		bool shaped = paged_shaped(a.data);

		tide_vec_destroy(&a); /* a heap buffer: inline */
		CHECK_UEQ(destroy_calls, calls + shaped);
		destroy_fn(&b);
		CHECK_UEQ(destroy_calls, calls + shaped + 1);
	}
	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
}

TEST(inline_growth_leaves_the_state_the_library_leaves)
{
	grow_like_the_library(0);
}

TEST(inline_growth_keeps_autotrim_floors)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM);

	tide_kv_set_threshold(SIZE_MAX);
	for (uint64_t i = 0; i < 33; i++)
		PUSH_INLINE(&v, uint64_t, i);
	CHECK_UEQ(v.cap, 64);
	CHECK_UEQ(v.push_end, 64);
	CHECK_UEQ(v.pop_floor, 16); /* cap / 4 under AUTOTRIM */
	CHECK_UEQ(v.span, 0);
	tide_vec_destroy(&v);
	grow_like_the_library(TIDE_VEC_AUTOTRIM);
}

TEST(capacity_one_grows_to_four_like_the_library)
{
	struct tide_vec a = TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM);
	struct tide_vec b = TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM);

	tide_kv_set_threshold(SIZE_MAX);
	PUSH_INLINE(&a, uint64_t, 1);
	CHECK_EQ(push_fn(&b, &(uint64_t){ 1 }), 0);
	CHECK_EQ(tide_vec_shrink_to_fit(&a), 0);
	CHECK_EQ(tide_vec_shrink_to_fit(&b), 0);
	CHECK_UEQ(a.cap, 1);
	PUSH_INLINE(&a, uint64_t, 2); /* max(2 * 1, 1 + 1, 4) = 4 */
	CHECK_EQ(push_fn(&b, &(uint64_t){ 2 }), 0);
	CHECK_UEQ(a.cap, 4);
	check_same_state(&a, &b);
	CHECK_UEQ(a.pop_floor, 1);
	tide_vec_destroy(&a);
	tide_vec_destroy(&b);
	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
}

TEST(unknown_flags_and_empty_elements_take_the_library_path)
{
	struct tide_vec u = TIDE_VEC_INIT(uint64_t, 1u << 8);
	struct tide_vec z;
	unsigned long calls = push_calls;

	tide_kv_set_threshold(SIZE_MAX);
	CHECK_EQ(tide_vec_push_val(&u, uint64_t, 7), -EINVAL);
	CHECK_UEQ(push_calls, calls + 1);
	CHECK(!u.data && !u.cap && !u.len);
	tide_vec_init(&z, 0, 0); /* elem_size 0 */
	CHECK_EQ(tide_vec_push_val(&z, uint64_t, 1), -EINVAL);
	CHECK_UEQ(push_calls, calls + 2);
	CHECK(!z.data && !z.cap);
	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
}

TEST(growth_to_the_paged_threshold_takes_the_library_path)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	struct tide_kv_stats s0, s1;
	unsigned long calls;

	tide_kv_set_threshold(4 * KiB);
	tide_kv_stats(&s0);
	for (uint64_t i = 0; i < 256; i++)
		PUSH_INLINE(&v, uint64_t, i);
	CHECK_UEQ(v.cap, 256); /* 2 KiB: a heap block */
	CHECK(!tide_kv_is_paged(v.data));
	calls = push_calls;
	CHECK_EQ(tide_vec_push_val(&v, uint64_t, 256), 0);
	CHECK_UEQ(push_calls, calls + 1);
	/* doubling to 4 KiB reaches the threshold: the library made it */
	CHECK(tide_kv_is_paged(v.data));
	CHECK_UEQ(v.cap, 512);
	for (uint64_t i = 0; i <= 256; i++)
		CHECK_UEQ(tide_vec_at(&v, uint64_t, i), i);
	tide_kv_stats(&s1);
	CHECK_UEQ(s1.blocks, s0.blocks + 1);
	calls = destroy_calls;
	tide_vec_destroy(&v); /* paged: the inline destroy calls the library */
	CHECK_UEQ(destroy_calls, calls + 1);
	tide_kv_stats(&s1);
	CHECK_UEQ(s1.blocks, s0.blocks);
	CHECK(!v.data && !v.len && !v.cap && !v.push_end && !v.pop_floor &&
	      !v.span);
	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
}

TEST(kv_flags_and_bad_vectors_take_the_library_path)
{
	struct tide_vec z = TIDE_VEC_INIT(uint32_t, TIDE_ZERO);
	struct tide_vec bad;
	void *dirty[64], *guard;
	size_t growths = 0;

	tide_kv_set_threshold(SIZE_MAX);
	/* 256 KiB of heap full of 0xff, free again: realloc() reuses it */
	for (int i = 0; i < 64; i++) {
		dirty[i] = malloc(4 * KiB);
		CHECK(dirty[i]);
		memset(dirty[i], 0xff, 4 * KiB);
	}
	guard = malloc(64); /* keeps them from merging into the top chunk */
	for (int i = 0; i < 64; i++)
		free(dirty[i]);
	for (uint32_t i = 0; i < 16384; i++) {
		size_t cap = z.cap;
		const unsigned char *bytes;

		CHECK_EQ(tide_vec_push_val(&z, uint32_t, 0xffffffffu), 0);
		if (z.cap == cap)
			continue;
		growths++;
		/* TIDE_ZERO: the library zeroed every slot past len */
		bytes = z.data;
		for (size_t b = z.len * 4; b < z.cap * 4; b++)
			CHECK_UEQ(bytes[b], 0);
	}
	CHECK_UEQ(growths, 13); /* 4 .. 16384 */
	tide_vec_destroy(&z);
	free(guard);

	tide_vec_init(&bad, 0, 0); /* elem_size 0: every push is -EINVAL */
	CHECK_EQ(tide_vec_push_val(&bad, uint64_t, 1), -EINVAL);
	CHECK(!bad.data && !bad.cap);
	tide_vec_destroy(&bad);
	tide_vec_destroy(NULL); /* NULL: the library, which ignores it */
	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
}

TEST(destroy_frees_the_heap_buffer)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	size_t before, during;

	tide_kv_set_threshold(SIZE_MAX);
	before = mallinfo2().uordblks;
	for (uint64_t i = 0; i < 3000; i++)
		PUSH_INLINE(&v, uint64_t, i);
	CHECK_UEQ(v.cap, 4096);
	during = mallinfo2().uordblks;
	tide_vec_destroy(&v);
	/* the 32 KiB buffer went back (smaller freed chunks may stay
	 * counted in glibc's thread cache) */
	if (own_heap()) {
		CHECK_CMP(during, >=, before + 4096 * 8);
		CHECK_CMP(during - mallinfo2().uordblks, >=, 4096 * 8);
	}
	CHECK(!v.data && !v.len && !v.cap && !v.push_end && !v.pop_floor &&
	      !v.span);
	CHECK_UEQ(v.elem_size, 8); /* kept: the vector may be used again */
	CHECK_EQ(tide_vec_push_val(&v, uint64_t, 7), 0);
	CHECK_UEQ(v.cap, 4);
	tide_vec_destroy(&v);
	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
}

/*
 * A realloc() that fails inline leaves the buffer; the library then tries
 * (and runs reclaim) and reports ENOMEM with the vector unchanged.
 */
static void grow_under_an_address_space_limit(void *arg)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	struct rlimit rl;
	void *data;
	size_t cap;
	int r;

	(void)arg;
	tide_kv_set_threshold(SIZE_MAX);
	for (uint64_t i = 0; i < (1u << 20); i++)
		if (tide_vec_push_val(&v, uint64_t, i))
			_exit(10);
	if (v.cap != (1u << 20) || v.len != v.cap)
		_exit(11);
	/* room for nothing like another 16 MiB */
	if (th_limit_address_space(4 * MiB, &rl))
		_exit(13);
	data = v.data;
	cap = v.cap;
	r = tide_vec_push_val(&v, uint64_t, 42);
	if (r != -ENOMEM)
		_exit(14);
	if (v.data != data || v.cap != cap || v.len != cap || v.push_end != cap)
		_exit(15);
	for (uint64_t i = 0; i < cap; i++)
		if (tide_vec_at(&v, uint64_t, i) != i)
			_exit(16);
	tide_vec_destroy(&v);
	_exit(0);
}

TEST(failed_inline_growth_falls_back_and_keeps_the_vector)
{
	char out[256];
	int status;

	if (!own_heap())
		SKIP("RLIMIT_AS cannot fail one realloc() under a sanitizer "
		     "or valgrind");
	status = th_fork(grow_under_an_address_space_limit, NULL, out,
			 sizeof(out));
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/*
 * @val is evaluated once, before @v->len changes, on every path: the
 * inline store, the inline growth and the library's (paged) growth.
 * tide_vec_push_val(&v, uint64_t, v.len) stores each index (0 1 2 ...;
 * with the length bumped in the same expression, GCC stored 0 2 3 ... and
 * warned -Wsequence-point from vec.h).  Pops give them back in order.
 * The file is compiled with -Wall, and the ctest vec_inline_sequence_points
 * compiles it with -Werror=sequence-point (clang: -Werror=unsequenced).
 */
TEST(push_val_evaluates_its_value_before_the_length_changes)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	/* 40000 * 8 bytes: past the paged threshold, through the library */
	const size_t n = 40000;
	uint64_t x;

	for (size_t i = 0; i < n; i++)
		CHECK_EQ(tide_vec_push_val(&v, uint64_t, v.len), 0);
	CHECK(tide_kv_is_paged(v.data));
	for (size_t i = 0; i < n; i++)
		CHECK_UEQ(tide_vec_at(&v, uint64_t, i), i);
	/* the last element + 100, read before the push */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(tide_vec_push_val(
				 &v, uint64_t,
				 tide_vec_at(&v, uint64_t, v.len - 1) + 100),
			 0);
	CHECK_UEQ(v.len, n + 3);
	CHECK_UEQ(tide_vec_at(&v, uint64_t, n), n - 1 + 100);
	CHECK_UEQ(tide_vec_at(&v, uint64_t, n + 2), n - 1 + 300);
	tide_vec_truncate(&v, n);
	while (v.len) {
		size_t len = v.len;

		CHECK_EQ(tide_vec_pop_val(&v, uint64_t, &x), 0);
		CHECK_UEQ(v.len, len - 1);
		CHECK_UEQ(x, len - 1);
	}
	CHECK_EQ(tide_vec_pop_val(&v, uint64_t, &x), -ENOENT);
	tide_vec_destroy(&v);
}

TEST(function_addresses_are_the_exported_functions)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	void (*destroy)(struct tide_vec *) = &tide_vec_destroy;

	CHECK_EQ(push_fn(&v, &(uint64_t){ 5 }), 0);
	CHECK_UEQ(v.cap, 4);
	destroy(&v);
	CHECK(!v.data && !v.cap);
	CHECK(destroy == destroy_fn);
}

RUN_TESTS(T(inline_growth_leaves_the_state_the_library_leaves),
	  T(inline_growth_keeps_autotrim_floors),
	  T(capacity_one_grows_to_four_like_the_library),
	  T(unknown_flags_and_empty_elements_take_the_library_path),
	  T(growth_to_the_paged_threshold_takes_the_library_path),
	  T(kv_flags_and_bad_vectors_take_the_library_path),
	  T(destroy_frees_the_heap_buffer),
	  T(failed_inline_growth_falls_back_and_keeps_the_vector),
	  T(push_val_evaluates_its_value_before_the_length_changes),
	  T(function_addresses_are_the_exported_functions))

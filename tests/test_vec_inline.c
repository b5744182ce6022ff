// SPDX-License-Identifier: MIT
/*
 * test_vec_inline.c - vec.h's inline paths, as programs get them: growth
 * and destruction, and tide_vec_push()/tide_vec_pop() as macros.
 *
 * Built against the release library without TIDE_TEST_HOOKS (which turns
 * the inline paths off), so tide_vec_push_val() and tide_vec_push() grow a
 * full heap buffer with the C heap's realloc() in this file, and
 * tide_vec_push(), tide_vec_pop() and tide_vec_destroy() are the static
 * inline functions of vec.h.  Every test checks the result against the
 * exported functions, called by address, on a twin vector.
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
#include "vec_typed.h"

#define KiB ((size_t)1024)
#define MiB (1024 * KiB)

#if !defined(tide_vec_destroy) || !defined(tide_vec_push) || \
	!defined(tide_vec_pop)
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
 * Every call into the library's tide_vec_push(), tide_vec_pop() and
 * tide_vec_destroy(), the helpers' and macros' fallbacks included, goes
 * through these (the test links with -Wl,--wrap for the three): the inline
 * paths must not call them.
 */
int __real_tide_vec_push(struct tide_vec *v, const void *elem);
int __real_tide_vec_pop(struct tide_vec *v, void *out);
void __real_tide_vec_destroy(struct tide_vec *v);
int __wrap_tide_vec_push(struct tide_vec *v, const void *elem);
int __wrap_tide_vec_pop(struct tide_vec *v, void *out);
void __wrap_tide_vec_destroy(struct tide_vec *v);
static unsigned long push_calls, pop_calls, destroy_calls;

int __wrap_tide_vec_push(struct tide_vec *v, const void *elem)
{
	push_calls++;
	return __real_tide_vec_push(v, elem);
}

/* the value at pop_watch when the function is called (NULL: not read) */
static const uint64_t *pop_watch;
static uint64_t pop_watch_seen;

int __wrap_tide_vec_pop(struct tide_vec *v, void *out)
{
	pop_calls++;
	if (pop_watch)
		pop_watch_seen = *pop_watch;
	return __real_tide_vec_pop(v, out);
}

void __wrap_tide_vec_destroy(struct tide_vec *v)
{
	destroy_calls++;
	__real_tide_vec_destroy(v);
}

/* The exported functions, whatever the macros do. */
static int (*const push_fn)(struct tide_vec *, const void *) = tide_vec_push;
static int (*const pop_fn)(struct tide_vec *, void *) = tide_vec_pop;
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
	size_t n = a->len < a->cap ? a->len : a->cap; /* a bad len: no more */

	CHECK_UEQ(a->len, b->len);
	CHECK_UEQ(a->cap, b->cap);
	CHECK_UEQ(a->push_end, b->push_end);
	CHECK_UEQ(a->pop_floor, b->pop_floor);
	CHECK_UEQ(a->span, b->span);
	CHECK_UEQ(a->elem_size, b->elem_size);
	CHECK(!a->data == !b->data);
	/* memcmp() of NULL is undefined even for 0 bytes (UBSan) */
	if (n && a->elem_size)
		CHECK(!memcmp(a->data, b->data, n * a->elem_size));
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
	/* elem_size 0: not the type's size, refused before the library */
	tide_vec_init(&z, 0, 0);
	CHECK_EQ(tide_vec_push_val(&z, uint64_t, 1), -EINVAL);
	CHECK_UEQ(push_calls, calls + 1);
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

/* ---- tide_vec_push() and tide_vec_pop(): macros over inline paths ---- */

/* the element sizes the macros copy inline */
static bool inline_size(size_t esz)
{
	return esz == 1 || esz == 2 || esz == 4 || esz == 8 || esz == 16;
}

/* element @i of @esz bytes: different in every element and every byte */
static void make_elem(unsigned char *e, size_t esz, size_t i)
{
	for (size_t k = 0; k < esz; k++)
		e[k] = (unsigned char)(i * 31 + k * 7 + 1);
}

/*
 * tide_vec_push() (the macro) on @a and the function, by address, on its
 * twin @b: the same result and the same state after.  @want_inline: the
 * macro made no call into the library (unless the buffer has a paged
 * block's shape, see paged_shaped()); otherwise exactly one.
 */
static int push_both(struct tide_vec *a, const void *ea, struct tide_vec *b,
		     const void *eb, bool want_inline)
{
	unsigned long calls = push_calls, mine;
	bool shaped = paged_shaped(a->data);
	int ra, rb;

	ra = tide_vec_push(a, ea);
	mine = push_calls - calls;
	rb = push_fn(b, eb);
	CHECK_EQ(ra, rb);
	check_same_state(a, b);
	CHECK_UEQ(a->flags, b->flags);
	if (!want_inline)
		CHECK_UEQ(mine, 1);
	else if (!shaped)
		CHECK_UEQ(mine, 0);
	return ra;
}

/*
 * tide_vec_pop() (the macro) on @a into @oa and the function on @b into
 * @ob: the same result, state and output bytes (@n bytes of each output
 * buffer compared, so that a copy of the wrong size shows).
 */
static int pop_both(struct tide_vec *a, void *oa, struct tide_vec *b, void *ob,
		    size_t n, bool want_inline)
{
	unsigned long calls = pop_calls, mine;
	int ra, rb;

	ra = tide_vec_pop(a, oa);
	mine = pop_calls - calls;
	rb = pop_fn(b, ob);
	CHECK_EQ(ra, rb);
	check_same_state(a, b);
	if (oa)
		CHECK(!memcmp(oa, ob, n));
	CHECK_UEQ(mine, want_inline ? 0 : 1);
	return ra;
}

/*
 * When the push macro stays inline: room (the functions' fast test), or a
 * full heap buffer that doubles below kv's @threshold with no kv flag.
 */
static bool push_is_inline(const struct tide_vec *v, size_t threshold)
{
	size_t ncap = v->cap < 2 ? 4 : 2 * v->cap;

	if (!inline_size(v->elem_size))
		return false;
	if (v->len < v->push_end)
		return true;
	return v->len == v->cap && !(v->flags & ~TIDE_FLAGS_PRIVATE) &&
	       (!v->data || !tide_kv_is_paged(v->data)) &&
	       ncap * v->elem_size < threshold;
}

/* The functions' fast test, which the pop macro compiles in. */
static bool pop_is_inline(const struct tide_vec *v, const void *out)
{
	return v->len > v->pop_floor && v->len <= v->cap &&
	       (!(v->flags & TIDE_VEC_AUTOTRIM) || v->len > v->cap / 4) &&
	       (!out || inline_size(v->elem_size));
}

/*
 * 3000 pushes (every fifth a copy of one of the vector's own elements,
 * which growth moves), then pops to empty (every third into NULL, a push
 * after every tenth), then a pop of the empty vector, on the macros and on
 * the functions; kv's threshold at @threshold (SIZE_MAX: heap buffers
 * only).
 */
static void like_the_functions(size_t esz, unsigned flags, size_t threshold)
{
	struct tide_vec a, b;
	unsigned char ea[32], eb[32], oa[40], ob[40];
	bool heap = threshold == SIZE_MAX;
	size_t i, top;

	tide_kv_set_threshold(threshold);
	tide_vec_init(&a, esz, flags);
	tide_vec_init(&b, esz, flags);
	for (i = 0; i < 3000; i++) {
		const void *pa = ea, *pb = eb;
		bool fast = push_is_inline(&a, threshold);

		make_elem(ea, esz, i);
		memcpy(eb, ea, esz);
		if (i % 5 == 4) {
			size_t k = i * 7 % a.len;

			pa = (const char *)a.data + k * esz;
			pb = (const char *)b.data + k * esz;
		}
		CHECK_EQ(push_both(&a, pa, &b, pb, fast), 0);
	}
	if (!heap)
		CHECK(tide_kv_is_paged(a.data));
	top = a.cap;
	for (i = 0; a.len; i++) {
		void *out_a = i % 3 == 2 ? NULL : oa;
		void *out_b = out_a ? ob : NULL;

		memset(oa, 0xa5, sizeof(oa));
		memset(ob, 0xa5, sizeof(ob));
		CHECK_EQ(pop_both(&a, out_a, &b, out_b, sizeof(oa),
				  pop_is_inline(&a, out_a)),
			 0);
		if (i % 10 == 9) {
			make_elem(ea, esz, i);
			CHECK_EQ(push_both(&a, ea, &b, ea,
					   push_is_inline(&a, threshold)),
				 0);
		}
	}
	memset(oa, 0xa5, sizeof(oa));
	memset(ob, 0xa5, sizeof(ob));
	CHECK_EQ(pop_both(&a, oa, &b, ob, sizeof(oa), false), -ENOENT);
	CHECK_EQ(oa[0], 0xa5); /* untouched */
	/* trimmed on the way down (a paged buffer keeps a page) */
	if ((flags & TIDE_VEC_AUTOTRIM) && heap)
		CHECK_CMP(a.cap, <=, 4);
	else if (flags & TIDE_VEC_AUTOTRIM)
		CHECK_CMP(a.cap, <, top);
	else
		CHECK_UEQ(a.cap, top);
	tide_vec_destroy(&a);
	destroy_fn(&b);
	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
}

static const size_t sizes[] = { 1, 2, 4, 8, 16, 3, 24 };

TEST(push_and_pop_macros_match_the_functions_for_every_size)
{
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		like_the_functions(sizes[k], 0, SIZE_MAX);
		like_the_functions(sizes[k], TIDE_VEC_AUTOTRIM, SIZE_MAX);
	}
}

TEST(push_and_pop_macros_match_the_functions_on_paged_buffers)
{
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		like_the_functions(sizes[k], 0, 512);
		like_the_functions(sizes[k], TIDE_VEC_AUTOTRIM, 512);
	}
}

TEST(push_and_pop_macros_reject_what_the_functions_reject)
{
	struct tide_vec *volatile nullv = NULL;
	const void *volatile nullp = NULL;
	struct tide_vec a = TIDE_VEC_INIT(uint64_t, 0);
	struct tide_vec b = TIDE_VEC_INIT(uint64_t, 0);
	uint64_t x = 1, y = 2, oa, ob;

	/* NULL vector: -EINVAL, as the functions promise */
	CHECK_EQ(tide_vec_push(nullv, &x), -EINVAL);
	CHECK_EQ(tide_vec_push(NULL, &x), -EINVAL);
	CHECK_EQ(tide_vec_pop(nullv, &y), -EINVAL);
	CHECK_EQ(tide_vec_pop(NULL, NULL), -EINVAL);
	CHECK_UEQ(y, 2);

	/* NULL element: -EINVAL empty, with room and full; nothing changes */
	tide_kv_set_threshold(SIZE_MAX);
	CHECK_EQ(push_both(&a, nullp, &b, nullp, false), -EINVAL);
	CHECK(!a.data);
	for (x = 0; x < 3; x++)
		CHECK_EQ(push_both(&a, &x, &b, &x, true), 0);
	CHECK_EQ(push_both(&a, nullp, &b, nullp, false), -EINVAL);
	CHECK_EQ(push_both(&a, &x, &b, &x, true), 0);
	CHECK_UEQ(a.len, a.cap); /* full */
	CHECK_EQ(push_both(&a, nullp, &b, nullp, false), -EINVAL);
	CHECK_UEQ(a.len, 4);

	/* NULL out: the element is dropped */
	CHECK_EQ(pop_both(&a, NULL, &b, NULL, 0, true), 0);
	CHECK_UEQ(a.len, 3);

	/* a length past the capacity (invalid): -EINVAL, unchanged */
	a.len = b.len = a.cap + 1;
	oa = ob = 77;
	CHECK_EQ(pop_both(&a, &oa, &b, &ob, sizeof(oa), false), -EINVAL);
	CHECK_UEQ(a.len, a.cap + 1);
	CHECK_UEQ(oa, 77);
	a.len = b.len = 3;

	/* empty: -ENOENT, out untouched */
	while (a.len)
		CHECK_EQ(pop_both(&a, &oa, &b, &ob, sizeof(oa), true), 0);
	oa = ob = 77;
	CHECK_EQ(pop_both(&a, &oa, &b, &ob, sizeof(oa), false), -ENOENT);
	CHECK_UEQ(oa, 77);
	CHECK_EQ(pop_both(&a, NULL, &b, NULL, 0, false), -ENOENT);

	/*
	 * A kv bit set in flags after the buffer exists: the functions'
	 * fast test reads no flags, so pushes with room store; the growth
	 * fails with -EINVAL (kv rejects the bit), the vector unchanged.
	 */
	a.flags |= 1u << 8;
	b.flags |= 1u << 8;
	for (x = 0; x < 4; x++)
		CHECK_EQ(push_both(&a, &x, &b, &x, true), 0);
	CHECK_EQ(push_both(&a, &x, &b, &x, false), -EINVAL);
	CHECK_UEQ(a.len, 4);
	CHECK_UEQ(a.cap, 4);
	a.flags &= ~(1u << 8);
	b.flags &= ~(1u << 8);
	tide_vec_destroy(&a);
	destroy_fn(&b);

	/* unknown kv bit from the start: nothing to allocate with */
	tide_vec_init(&a, 8, 1u << 9);
	tide_vec_init(&b, 8, 1u << 9);
	CHECK_EQ(push_both(&a, &x, &b, &x, false), -EINVAL);
	CHECK(!a.data);

	/* elem_size 0: -EINVAL for both */
	tide_vec_init(&a, 0, 0);
	tide_vec_init(&b, 0, 0);
	CHECK_EQ(push_both(&a, &x, &b, &x, false), -EINVAL);
	CHECK_EQ(pop_both(&a, &oa, &b, &ob, sizeof(oa), false), -EINVAL);
	CHECK(!a.data && !a.len);
	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
}

/*
 * Elements of size_t, so that the vector's own fields (size_t len and cap)
 * can be pushed and popped as elements on every word size.
 */
TEST(push_and_pop_macros_read_and_write_where_the_functions_do)
{
	struct tide_vec a = TIDE_VEC_INIT(size_t, 0);
	struct tide_vec b = TIDE_VEC_INIT(size_t, 0);
	size_t x;

	tide_kv_set_threshold(SIZE_MAX);
	for (x = 10; x < 18; x++)
		CHECK_EQ(push_both(&a, &x, &b, &x, true), 0);
	CHECK_UEQ(a.len, 8);
	CHECK_UEQ(a.cap, 8); /* full */
	/* the first and the last element, pushed while the buffer moves */
	CHECK_EQ(push_both(&a, &tide_vec_at(&a, size_t, 0), &b,
			   &tide_vec_at(&b, size_t, 0), true),
		 0);
	CHECK_UEQ(a.cap, 16);
	CHECK_UEQ(tide_vec_at(&a, size_t, 8), 10);
	while (a.len < a.cap)
		CHECK_EQ(push_both(&a, &tide_vec_at(&a, size_t, a.len - 1), &b,
				   &tide_vec_at(&b, size_t, b.len - 1), true),
			 0);
	CHECK_EQ(push_both(&a, &tide_vec_at(&a, size_t, a.len - 1), &b,
			   &tide_vec_at(&b, size_t, b.len - 1), true),
		 0);
	CHECK_UEQ(a.cap, 32);
	CHECK_UEQ(tide_vec_at(&a, size_t, 16), 10);
	/* the vector's own fields: read after the growth, as the function */
	while (a.len < a.cap)
		CHECK_EQ(push_both(&a, &a.len, &b, &b.len, true), 0);
	CHECK_UEQ(tide_vec_at(&a, size_t, 31), 31); /* the old length */
	CHECK_EQ(push_both(&a, &a.cap, &b, &b.cap, true), 0);
	CHECK_UEQ(tide_vec_at(&a, size_t, 32), 64); /* the new capacity */
	/* pop into the length: it goes down first, then takes the element */
	tide_vec_at(&a, size_t, 32) = tide_vec_at(&b, size_t, 32) = 5;
	CHECK_EQ(pop_both(&a, &a.len, &b, &b.len, 0, true), 0);
	CHECK_UEQ(a.len, 5);
	tide_vec_destroy(&a);
	destroy_fn(&b);
	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
}

TEST(pop_macro_follows_autotrim_set_and_cleared_at_any_time)
{
	struct tide_vec a = TIDE_VEC_INIT(uint64_t, 0);
	struct tide_vec b = TIDE_VEC_INIT(uint64_t, 0);
	unsigned long calls;
	uint64_t x, oa, ob;

	tide_kv_set_threshold(SIZE_MAX);
	for (x = 0; x < 100; x++)
		CHECK_EQ(push_both(&a, &x, &b, &x, true), 0);
	CHECK_UEQ(a.cap, 128);
	CHECK_UEQ(a.pop_floor, 0);
	/* set behind the library's back: the next pop below cap/4 trims */
	a.flags |= TIDE_VEC_AUTOTRIM;
	b.flags |= TIDE_VEC_AUTOTRIM;
	while (a.len > 32)
		CHECK_EQ(pop_both(&a, &oa, &b, &ob, sizeof(oa), true), 0);
	CHECK_UEQ(a.cap, 128);
	CHECK_EQ(pop_both(&a, &oa, &b, &ob, sizeof(oa), false), 0);
	CHECK_UEQ(oa, 31);
	CHECK_UEQ(a.cap, 62); /* 31 < 128 / 4: trimmed to 2 * 31 */
	CHECK_UEQ(a.pop_floor, 15);
	/* cleared: one call at the floor, which drops it; no more trims */
	a.flags &= ~TIDE_VEC_AUTOTRIM;
	b.flags &= ~TIDE_VEC_AUTOTRIM;
	calls = pop_calls;
	while (a.len)
		CHECK_EQ(pop_both(&a, &oa, &b, &ob, sizeof(oa),
				  pop_is_inline(&a, &oa)),
			 0);
	CHECK_UEQ(pop_calls - calls, 31 + 1); /* b's 31, a's 1 */
	CHECK_UEQ(a.cap, 62);
	CHECK_UEQ(a.pop_floor, 0);
	tide_vec_destroy(&a);
	destroy_fn(&b);
	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
}

/* tide_vec_push() of the vector's own first element under an address-space
 * limit: the inline realloc() fails, the library's too: -ENOMEM, unchanged */
static void push_under_an_address_space_limit(void *arg)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	struct rlimit rl;
	void *data;
	size_t cap;
	unsigned long calls;

	(void)arg;
	tide_kv_set_threshold(SIZE_MAX);
	for (uint64_t i = 0; i < (1u << 20); i++)
		if (tide_vec_push(&v, &i))
			_exit(10);
	if (v.cap != (1u << 20) || v.len != v.cap)
		_exit(11);
	if (th_limit_address_space(4 * MiB, &rl))
		_exit(13);
	data = v.data;
	cap = v.cap;
	calls = push_calls;
	if (tide_vec_push(&v, &tide_vec_at(&v, uint64_t, 0)) != -ENOMEM)
		_exit(14);
	if (push_calls != calls + 1) /* the fallback ran */
		_exit(15);
	if (v.data != data || v.cap != cap || v.len != cap || v.push_end != cap)
		_exit(16);
	for (uint64_t i = 0; i < cap; i++)
		if (tide_vec_at(&v, uint64_t, i) != i)
			_exit(17);
	tide_vec_destroy(&v);
	_exit(0);
}

TEST(failed_inline_growth_of_push_falls_back_and_keeps_the_vector)
{
	char out[256];
	int status;

	if (!own_heap())
		SKIP("RLIMIT_AS cannot fail one realloc() under a sanitizer "
		     "or valgrind");
	status = th_fork(push_under_an_address_space_limit, NULL, out,
			 sizeof(out));
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

TEST(parenthesized_names_and_pointers_call_the_functions)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	int (*push)(struct tide_vec *, const void *) = tide_vec_push;
	int (*pop)(struct tide_vec *, void *) = &tide_vec_pop;
	unsigned long pc = push_calls, oc = pop_calls;
	uint64_t x = 9, y = 0;

	CHECK_EQ((tide_vec_push)(&v, &x), 0);
	CHECK_UEQ(push_calls, pc + 1);
	CHECK_EQ(push(&v, &x), 0);
	CHECK_UEQ(push_calls, pc + 2);
	CHECK_EQ(tide_vec_push(&v, &x), 0); /* room: inline */
	CHECK_UEQ(push_calls, pc + 2);
	CHECK_EQ((tide_vec_pop)(&v, &y), 0);
	CHECK_UEQ(pop_calls, oc + 1);
	CHECK_EQ(pop(&v, &y), 0);
	CHECK_UEQ(pop_calls, oc + 2);
	CHECK_EQ(tide_vec_pop(&v, &y), 0); /* inline */
	CHECK_UEQ(pop_calls, oc + 2);
	CHECK_UEQ(y, 9);
	CHECK_UEQ(v.len, 0);
	CHECK(push == push_fn);
	CHECK(pop == pop_fn);
	tide_vec_destroy(&v);
}

/*
 * A comma that no parenthesis protects (a compound literal) reaches the
 * macros' last argument as it reached the function (a reviewer's case:
 * "macro passed 3 arguments").
 */
struct pt {
	int x, y;
};

TEST(a_compound_literal_argument_compiles_as_it_did_for_the_function)
{
	struct tide_vec v = TIDE_VEC_INIT(struct pt, 0);
	struct pt out = { 0, 0 };

	CHECK_EQ(tide_vec_push(&v, &(struct pt){ 1, 2 }), 0);
	CHECK_EQ(tide_vec_push(&v, &(struct pt){ 3, 4 }), 0);
	CHECK_UEQ(v.len, 2);
	CHECK_EQ(tide_vec_pop(&v, &(struct pt){ 0, 0 }), 0);
	CHECK_EQ(tide_vec_pop(&v, &out), 0);
	CHECK(out.x == 1 && out.y == 2);
	tide_vec_destroy(&(struct tide_vec){ 0, 0, 0, 8, 0, 0, 0, 0 });
	tide_vec_destroy(&v);
}

/*
 * tide_vec_pop_val()'s fallback copies the element to @out itself, before
 * the call, and has the function pop with a NULL @out (so that the
 * caller's variable is never address-taken).  It must copy exactly the
 * element, and only when the pop succeeds: every pop lands in a box whose
 * bytes past the value are a canary, some of them through the function
 * (with %TIDE_VEC_AUTOTRIM, at a quarter of the capacity), and a pop of an
 * empty vector leaves the whole box as it was.  Sizes the inline pop
 * copies and others (3, 12 and 24 bytes).
 */
struct el3 {
	unsigned char c[3];
};
struct el12 {
	uint32_t a[3];
};
struct el16 {
	uint64_t a, b;
};
struct el24 {
	uint64_t a, b, c;
};

#define POP_VAL_FALLBACK(type)                                               \
	do {                                                                 \
		struct tide_vec v_ = TIDE_VEC_INIT(type, TIDE_VEC_AUTOTRIM); \
		struct {                                                     \
			type val;                                            \
			unsigned char canary[32];                            \
		} box_, before_;                                             \
		unsigned long calls_ = pop_calls;                            \
		type e_;                                                     \
                                                                             \
		for (size_t i_ = 0; i_ < 8; i_++) {                          \
			memset(&e_, (int)(0x40 + i_), sizeof(e_));           \
			CHECK_EQ(tide_vec_push(&v_, &e_), 0);                \
		}                                                            \
		CHECK_UEQ(v_.cap, 8);                                        \
		for (size_t i_ = 8; i_ > 0; i_--) {                          \
			memset(&box_, 0xa5, sizeof(box_));                   \
			CHECK_EQ(tide_vec_pop_val(&v_, type, &box_.val), 0); \
			memset(&e_, (int)(0x40 + i_ - 1), sizeof(e_));       \
			CHECK(!memcmp(&box_.val, &e_, sizeof(e_)));          \
			for (size_t k_ = 0; k_ < sizeof(box_.canary); k_++)  \
				CHECK_EQ(box_.canary[k_], 0xa5);             \
		}                                                            \
		/* from len 2 (a quarter of 8) on: the function, twice */    \
		CHECK_UEQ(pop_calls, calls_ + 2);                            \
		memset(&box_, 0xa5, sizeof(box_));                           \
		before_ = box_;                                              \
		CHECK_EQ(tide_vec_pop_val(&v_, type, &box_.val), -ENOENT);   \
		CHECK(!memcmp(&box_, &before_, sizeof(box_)));               \
		tide_vec_destroy(&v_);                                       \
	} while (0)

TEST(pop_val_fallback_copies_the_element_and_only_on_success)
{
	POP_VAL_FALLBACK(uint8_t);
	POP_VAL_FALLBACK(uint16_t);
	POP_VAL_FALLBACK(struct el3);
	POP_VAL_FALLBACK(uint32_t);
	POP_VAL_FALLBACK(uint64_t);
	POP_VAL_FALLBACK(struct el12);
	POP_VAL_FALLBACK(struct el16);
	POP_VAL_FALLBACK(struct el24);
}

/*
 * tide_vec_push_val() of a struct type, in C: the value initializes the
 * temporary whole.  Up to 0.2.27 the temporary was &(type){ (val) }, whose
 * braces made the value the first member's initializer, and this file did
 * not compile.  struct pt (8 bytes) is pushed inline and grows inline;
 * struct el24 goes to the function.  Each growth pushes an element of the
 * full vector itself, which the growth moves: the value was taken first.
 */
#define PUSH_VAL_STRUCT(type, set, same)                                       \
	do {                                                                   \
		struct tide_vec v_ = TIDE_VEC_INIT(type, 0);                   \
		type e_, out_;                                                 \
                                                                               \
		for (int i_ = 0; i_ < 100; i_++) {                             \
			if (v_.len && v_.len == v_.cap)                        \
				e_ = tide_vec_at(&v_, type, 0);                \
			else                                                   \
				set(e_, i_);                                   \
			CHECK_EQ(tide_vec_push_val(&v_, type, e_), 0);         \
		}                                                              \
		CHECK_UEQ(v_.len, 100);                                        \
		CHECK_UEQ(v_.cap, 128);                                        \
		for (int i_ = 99; i_ >= 0; i_--) {                             \
			/* pushed at len 4, 8, 16, 32, 64 (full): element 0 */ \
			int w_ = (i_ & (i_ - 1)) || i_ < 4 ? i_ : 0;           \
                                                                               \
			set(e_, w_);                                           \
			CHECK_EQ(tide_vec_pop_val(&v_, type, &out_), 0);       \
			CHECK(same(out_, e_));                                 \
		}                                                              \
		tide_vec_destroy(&v_);                                         \
	} while (0)
#define SET_PT(e, i) ((e).x = (i), (e).y = -(i))
#define SAME_PT(a, b) ((a).x == (b).x && (a).y == (b).y)
#define SET_EL24(e, i) ((e).a = (uint64_t)(i), (e).b = ~(e).a, (e).c = 7)
#define SAME_EL24(p, q) ((p).a == (q).a && (p).b == (q).b && (p).c == (q).c)

TEST(push_val_takes_a_struct_value)
{
	PUSH_VAL_STRUCT(struct pt, SET_PT, SAME_PT);
	PUSH_VAL_STRUCT(struct el24, SET_EL24, SAME_EL24);
}

/*
 * The function copies the element to @out before it trims, so @out may be
 * an element of the vector itself (a swap-remove by hand): the trim moves
 * the buffer, with the copy in it.  A fallback that copied after the call
 * would write into the freed buffer and lose the value (0.2.22's first
 * version did; ASan reports it, jemalloc and mimalloc lose the value;
 * glibc shrinks in place, so the wrapper checks too that the value is in
 * place when the function, which may move the buffer, is called).
 */
TEST(pop_val_fallback_into_an_element_of_the_vector)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM);
	unsigned long calls;
	uint64_t x;

	for (uint64_t i = 0; i < 64; i++)
		CHECK_EQ(tide_vec_push_val(&v, uint64_t, 100 + i), 0);
	CHECK_UEQ(v.cap, 64);
	while (v.len > 16) {
		CHECK_EQ(tide_vec_pop_val(&v, uint64_t, &x), 0);
		CHECK_UEQ(x, 100 + v.len);
	}
	/* 16 -> 15, below a quarter of 64: the function pops and trims */
	calls = pop_calls;
	pop_watch = &tide_vec_at(&v, uint64_t, 0);
	CHECK_EQ(tide_vec_pop_val(&v, uint64_t, &tide_vec_at(&v, uint64_t, 0)),
		 0);
	pop_watch = NULL;
	CHECK_UEQ(pop_calls, calls + 1);
	CHECK_UEQ(pop_watch_seen, 115);
	CHECK_UEQ(v.len, 15);
	CHECK(v.cap < 64);
	CHECK_UEQ(tide_vec_at(&v, uint64_t, 0), 115);
	for (size_t i = 1; i < 15; i++)
		CHECK_UEQ(tide_vec_at(&v, uint64_t, i), 100 + i);
	tide_vec_destroy(&v);
}

/*
 * &a[i] with i a variable: the inline paths and the function write and
 * read the element alone.  Built with -Werror under CI, this is also the
 * test that GCC gives no bounds warning for the inline copies of the other
 * sizes (8 and 16 bytes into a[i] of 4 or 1 bytes), which never run for
 * them (0.2.22 and earlier: -Warray-bounds; with it off,
 * -Wmaybe-uninitialized).
 */
TEST(push_and_pop_macros_on_a_variable_array_index)
{
	struct tide_vec a = TIDE_VEC_INIT(uint32_t, TIDE_VEC_AUTOTRIM);
	volatile unsigned pick = 1;
	unsigned char bytes[3];
	uint32_t arr[2], u;
	unsigned long calls;

	for (u = 0; u < 64; u++)
		CHECK_EQ(tide_vec_push(&a, &u), 0);
	while (a.len > 16)
		CHECK_EQ(tide_vec_pop(&a, &u), 0);
	arr[0] = arr[1] = 77;
	calls = pop_calls;
	CHECK_EQ(tide_vec_pop(&a, &arr[pick]), 0);
	CHECK_UEQ(pop_calls, calls + 1);
	CHECK_UEQ(arr[0], 77);
	CHECK_UEQ(arr[1], 15);
	tide_vec_destroy(&a);

	/* 1-byte elements from and into a 3-byte array, inline */
	tide_vec_init(&a, 1, 0);
	bytes[0] = 5;
	bytes[1] = 6;
	bytes[2] = 7;
	calls = push_calls;
	CHECK_EQ(tide_vec_push(&a, &bytes[0]), 0); /* the first: a growth */
	CHECK_EQ(tide_vec_push(&a, &bytes[pick]), 0);
	CHECK_UEQ(push_calls, calls);
	calls = pop_calls;
	CHECK_EQ(tide_vec_pop(&a, &bytes[pick + 1]), 0);
	CHECK_UEQ(pop_calls, calls);
	CHECK(bytes[0] == 5 && bytes[1] == 6 && bytes[2] == 6);
	CHECK_UEQ(a.len, 1);
	tide_vec_destroy(&a);
}

/* A type of another size than the elements' (vec_typed.h). */
TEST(typed_helpers_refuse_a_type_of_another_size_off_the_inline_path)
{
	typed_helpers_refuse_a_type_of_another_size();
}

RUN_TESTS(T(inline_growth_leaves_the_state_the_library_leaves),
	  T(typed_helpers_refuse_a_type_of_another_size_off_the_inline_path),
	  T(inline_growth_keeps_autotrim_floors),
	  T(capacity_one_grows_to_four_like_the_library),
	  T(unknown_flags_and_empty_elements_take_the_library_path),
	  T(growth_to_the_paged_threshold_takes_the_library_path),
	  T(kv_flags_and_bad_vectors_take_the_library_path),
	  T(destroy_frees_the_heap_buffer),
	  T(failed_inline_growth_falls_back_and_keeps_the_vector),
	  T(push_val_evaluates_its_value_before_the_length_changes),
	  T(function_addresses_are_the_exported_functions),
	  T(push_and_pop_macros_match_the_functions_for_every_size),
	  T(push_and_pop_macros_match_the_functions_on_paged_buffers),
	  T(push_and_pop_macros_reject_what_the_functions_reject),
	  T(push_and_pop_macros_read_and_write_where_the_functions_do),
	  T(pop_macro_follows_autotrim_set_and_cleared_at_any_time),
	  T(failed_inline_growth_of_push_falls_back_and_keeps_the_vector),
	  T(parenthesized_names_and_pointers_call_the_functions),
	  T(a_compound_literal_argument_compiles_as_it_did_for_the_function),
	  T(pop_val_fallback_copies_the_element_and_only_on_success),
	  T(push_val_takes_a_struct_value),
	  T(pop_val_fallback_into_an_element_of_the_vector),
	  T(push_and_pop_macros_on_a_variable_array_index))

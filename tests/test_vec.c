// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdint.h>
#include <linux/perf_event.h>
#include <sys/mman.h>

#include <malloc.h>

#include <tide.h>

#include "harness.h"
#include "vec_typed.h"

static unsigned long long alloc_calls(void)
{
	struct tide__os_stats st;

	tide__os_stats(&st);
	return st.failable_calls;
}

/* Fill @v (u64 elements) to @len elements after reserving @cap. */
static int fill(struct tide_vec *v, size_t cap, size_t len)
{
	int r = tide_vec_reserve(v, cap);

	if (r) {
		CHECK(!v->data && !v->cap && !v->len);
		return r;
	}
	for (size_t i = 0; i < len; i++) {
		uint64_t x = i * 3 + 1;

		CHECK_EQ(tide_vec_push(v, &x), 0);
	}
	return 0;
}

static void check_u64_seq(const struct tide_vec *v, size_t len)
{
	CHECK_UEQ(v->len, len);
	for (size_t i = 0; i < len; i++)
		CHECK_UEQ(tide_vec_at(v, uint64_t, i), i * 3 + 1);
}

/* A snapshot to prove that a failed call changed nothing. */
struct snap {
	void *data;
	size_t len, cap, elem_size;
	unsigned flags;
	unsigned char *bytes;
};

static void snap_take(struct snap *s, const struct tide_vec *v)
{
	size_t n = v->len * v->elem_size;

	s->data = v->data;
	s->len = v->len;
	s->cap = v->cap;
	s->elem_size = v->elem_size;
	s->flags = v->flags;
	s->bytes = malloc(n ? n : 1);
	CHECK(s->bytes);
	if (n)
		memcpy(s->bytes, v->data, n);
}

static void snap_check(struct snap *s, const struct tide_vec *v)
{
	CHECK_PTR_EQ(v->data, s->data);
	CHECK_UEQ(v->len, s->len);
	CHECK_UEQ(v->cap, s->cap);
	CHECK_UEQ(v->elem_size, s->elem_size);
	CHECK_UEQ(v->flags, s->flags);
	if (s->len)
		CHECK(!memcmp(v->data, s->bytes, s->len * s->elem_size));
	free(s->bytes);
	s->bytes = NULL;
}

/* ---- basics ---------------------------------------------------------- */

TEST(init_macro_matches_init_function)
{
	struct tide_vec a = TIDE_VEC_INIT(uint32_t, TIDE_ZERO);
	struct tide_vec b;

	memset(&b, 0xa5, sizeof(b));
	tide_vec_init(&b, sizeof(uint32_t), TIDE_ZERO);
	CHECK_PTR_EQ(b.data, NULL);
	CHECK_UEQ(b.len, 0);
	CHECK_UEQ(b.cap, 0);
	CHECK_UEQ(b.elem_size, 4);
	CHECK_UEQ(b.flags, TIDE_ZERO);
	CHECK_PTR_EQ(a.data, b.data);
	CHECK_UEQ(a.len, b.len);
	CHECK_UEQ(a.cap, b.cap);
	CHECK_UEQ(a.elem_size, b.elem_size);
	CHECK_UEQ(a.flags, b.flags);
	tide_vec_destroy(&a);
	tide_vec_init(NULL, 4, 0);
}

TEST(growth_doubles_from_four)
{
	static const size_t expect[] = { 4, 8, 16, 32, 64, 128 };
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	size_t seen = 0, cap = 0;

	for (uint64_t i = 0; i < 100; i++) {
		CHECK_EQ(tide_vec_push(&v, &(uint64_t){ i * 3 + 1 }), 0);
		if (v.cap != cap) {
			CHECK(seen < 6);
			CHECK_UEQ(v.cap, expect[seen]);
			seen++;
			cap = v.cap;
		}
	}
	CHECK_UEQ(seen, 6);
	check_u64_seq(&v, 100);
	tide_vec_destroy(&v);
	CHECK_PTR_EQ(v.data, NULL);
	CHECK_UEQ(v.cap, 0);
	CHECK_UEQ(v.len, 0);
	CHECK_UEQ(v.elem_size, 8);
}

TEST(reserve_takes_max_of_double_need_and_four)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);

	CHECK_EQ(tide_vec_reserve(&v, 1), 0);
	CHECK_UEQ(v.cap, 4); /* max(0, 1, 4) */
	tide_vec_destroy(&v);
	CHECK_EQ(tide_vec_reserve(&v, 10), 0);
	CHECK_UEQ(v.cap, 10); /* max(0, 10, 4) */
	CHECK_EQ(fill(&v, 0, 10), 0);
	CHECK_EQ(tide_vec_reserve(&v, 1), 0);
	CHECK_UEQ(v.cap, 20); /* max(20, 11, 4) */
	CHECK_EQ(tide_vec_reserve(&v, 25), 0);
	CHECK_UEQ(v.cap, 40); /* max(40, 35, 4) */
	CHECK_EQ(tide_vec_reserve(&v, 100), 0);
	CHECK_UEQ(v.cap, 110); /* max(80, 110, 4) */
	check_u64_seq(&v, 10);
	tide_vec_destroy(&v);
}

TEST(reserve_with_room_is_noop)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	unsigned long long calls;
	struct snap s;

	CHECK_EQ(fill(&v, 16, 5), 0);
	snap_take(&s, &v);
	calls = alloc_calls();
	CHECK_EQ(tide_vec_reserve(&v, 11), 0);
	CHECK_EQ(tide_vec_reserve(&v, 0), 0);
	CHECK_UEQ(alloc_calls(), calls);
	snap_check(&s, &v);
	tide_vec_destroy(&v);
}

TEST(size_overflow_is_eoverflow_and_changes_nothing)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	struct snap s;

	CHECK_EQ(fill(&v, 4, 3), 0);
	snap_take(&s, &v);
	/* len + additional overflows */
	CHECK_EQ(tide_vec_reserve(&v, SIZE_MAX), -EOVERFLOW);
	CHECK_EQ(tide_vec_reserve(&v, SIZE_MAX - 2), -EOVERFLOW);
	/* (len + additional) * elem_size overflows */
	CHECK_EQ(tide_vec_reserve(&v, SIZE_MAX / 8), -EOVERFLOW);
	/* representable but too large for kv */
	CHECK_EQ(tide_vec_reserve(&v, SIZE_MAX / 16), -ENOMEM);
	snap_check(&s, &v);
	tide_vec_destroy(&v);
}

TEST(growth_falls_back_to_need_when_doubling_overflows)
{
	/*
	 * Elements past what kv tries (TH_KV_MAX), of which FIT fit in a
	 * size_t's byte count and FIT + 1 do not: 64-bit, 3 of SIZE_MAX / 3
	 * bytes; 32-bit, where 3 such elements cannot fit, 1 of 2^31 bytes.
	 */
#if SIZE_MAX > 0xffffffffu
	const size_t size = SIZE_MAX / 3, fit = 3;
#else
	const size_t size = TH_ADDR_SPACE, fit = 1;
#endif
	struct tide_vec v;

	tide_vec_init(&v, size, 0);
	/* max(4, 1) * size overflows, 1 * size does not: kv is asked. */
	CHECK_EQ(tide_vec_reserve(&v, 1), -ENOMEM);
	CHECK_EQ(tide_vec_reserve(&v, fit), -ENOMEM);
	/* (fit + 1) * size overflows: nothing to ask. */
	CHECK_EQ(tide_vec_reserve(&v, fit + 1), -EOVERFLOW);
	CHECK(!v.data && !v.cap && !v.len);
	tide_vec_destroy(&v);
}

TEST(elem_size_zero_is_einval)
{
	struct tide_vec v;
	struct snap s;
	char c = 1;

	tide_vec_init(&v, 0, 0);
	snap_take(&s, &v);
	CHECK_EQ(tide_vec_reserve(&v, 1), -EINVAL);
	CHECK_EQ(tide_vec_push(&v, &c), -EINVAL);
	CHECK_EQ(tide_vec_insert(&v, 0, &c), -EINVAL);
	errno = 0;
	CHECK_PTR_EQ(tide_vec_push_slot(&v), NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(tide_vec_pop(&v, NULL), -EINVAL);
	CHECK_EQ(tide_vec_shrink_to(&v, 0), -EINVAL);
	CHECK_EQ(tide_vec_trim(&v), -EINVAL);
	snap_check(&s, &v);
}

static bool keep_all(const void *e, void *arg)
{
	(void)e;
	(void)arg;
	return true;
}

TEST(null_vector_is_einval)
{
	uint64_t x = 1;

	CHECK_EQ(tide_vec_reserve(NULL, 1), -EINVAL);
	CHECK_EQ(tide_vec_push(NULL, &x), -EINVAL);
	errno = 0;
	CHECK_PTR_EQ(tide_vec_push_slot(NULL), NULL);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(tide_vec_pop(NULL, &x), -EINVAL);
	CHECK_EQ(tide_vec_insert(NULL, 0, &x), -EINVAL);
	CHECK_EQ(tide_vec_remove(NULL, 0, &x), -EINVAL);
	CHECK_EQ(tide_vec_swap_remove(NULL, 0, &x), -EINVAL);
	CHECK_UEQ(tide_vec_retain(NULL, keep_all, NULL), 0);
	CHECK_EQ(tide_vec_shrink_to(NULL, 0), -EINVAL);
	CHECK_EQ(tide_vec_shrink_to_fit(NULL), -EINVAL);
	CHECK_EQ(tide_vec_trim(NULL), -EINVAL);
	CHECK_UEQ(x, 1);
	tide_vec_truncate(NULL, 0);
	tide_vec_destroy(NULL);
}

TEST(null_element_is_einval)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	struct snap s;

	CHECK_EQ(fill(&v, 4, 2), 0);
	snap_take(&s, &v);
	CHECK_EQ(tide_vec_push(&v, NULL), -EINVAL);
	CHECK_EQ(tide_vec_insert(&v, 0, NULL), -EINVAL);
	CHECK_UEQ(tide_vec_retain(&v, NULL, NULL), 0);
	snap_check(&s, &v);
	tide_vec_destroy(&v);
}

TEST(unknown_flag_is_einval)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 1u << 8);
	uint64_t x = 7;

	CHECK_EQ(tide_vec_push(&v, &x), -EINVAL);
	CHECK_EQ(tide_vec_reserve(&v, 3), -EINVAL);
	CHECK_PTR_EQ(v.data, NULL);
	CHECK_UEQ(v.cap, 0);
	CHECK_UEQ(v.len, 0);
}

TEST(pop_on_empty_is_enoent)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	uint64_t out = 99;

	CHECK_EQ(tide_vec_pop(&v, &out), -ENOENT);
	CHECK_UEQ(out, 99);
	CHECK_EQ(fill(&v, 8, 1), 0);
	CHECK_EQ(tide_vec_pop(&v, &out), 0);
	CHECK_UEQ(out, 1);
	out = 99;
	CHECK_EQ(tide_vec_pop(&v, &out), -ENOENT);
	CHECK_UEQ(out, 99);
	CHECK_UEQ(v.cap, 8);
	tide_vec_destroy(&v);
}

TEST(pop_returns_last_and_accepts_null_out)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	uint64_t out = 0;

	CHECK_EQ(fill(&v, 0, 5), 0);
	CHECK_EQ(tide_vec_pop(&v, &out), 0);
	CHECK_UEQ(out, 13);
	CHECK_EQ(tide_vec_pop(&v, NULL), 0);
	check_u64_seq(&v, 3);
	CHECK_UEQ(v.cap, 8);
	tide_vec_destroy(&v);
}

TEST(index_out_of_range_is_einval)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	uint64_t x = 5, out = 99;
	struct snap s;

	CHECK_EQ(fill(&v, 8, 3), 0);
	snap_take(&s, &v);
	CHECK_EQ(tide_vec_insert(&v, 4, &x), -EINVAL);
	CHECK_EQ(tide_vec_insert(&v, SIZE_MAX, &x), -EINVAL);
	CHECK_EQ(tide_vec_remove(&v, 3, &out), -EINVAL);
	CHECK_EQ(tide_vec_swap_remove(&v, 3, &out), -EINVAL);
	CHECK_EQ(tide_vec_remove(&v, SIZE_MAX, &out), -EINVAL);
	CHECK_UEQ(out, 99);
	snap_check(&s, &v);
	tide_vec_destroy(&v);
	CHECK_EQ(tide_vec_remove(&v, 0, NULL), -EINVAL);
	CHECK_EQ(tide_vec_swap_remove(&v, 0, NULL), -EINVAL);
}

/* ---- element operations --------------------------------------------- */

TEST(insert_shifts_the_tail_up)
{
	struct tide_vec v = TIDE_VEC_INIT(uint32_t, 0);
	static const uint32_t expect[] = { 10, 0, 1, 20, 2, 30 };

	for (uint32_t i = 0; i < 3; i++)
		CHECK_EQ(tide_vec_push(&v, &i), 0);
	CHECK_EQ(tide_vec_insert(&v, 0, &(uint32_t){ 10 }), 0);
	CHECK_EQ(tide_vec_insert(&v, 3, &(uint32_t){ 20 }), 0);
	CHECK_EQ(tide_vec_insert(&v, 5, &(uint32_t){ 30 }), 0);
	CHECK_UEQ(v.len, 6);
	CHECK_UEQ(v.cap, 8);
	for (size_t i = 0; i < 6; i++)
		CHECK_UEQ(tide_vec_at(&v, uint32_t, i), expect[i]);
	tide_vec_destroy(&v);
}

TEST(remove_keeps_order)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	uint64_t out = 0;

	CHECK_EQ(fill(&v, 8, 6), 0); /* 1 4 7 10 13 16 */
	CHECK_EQ(tide_vec_remove(&v, 1, &out), 0);
	CHECK_UEQ(out, 4);
	CHECK_EQ(tide_vec_remove(&v, 4, &out), 0);
	CHECK_UEQ(out, 16);
	CHECK_EQ(tide_vec_remove(&v, 0, NULL), 0);
	CHECK_UEQ(v.len, 3);
	CHECK_UEQ(tide_vec_at(&v, uint64_t, 0), 7);
	CHECK_UEQ(tide_vec_at(&v, uint64_t, 1), 10);
	CHECK_UEQ(tide_vec_at(&v, uint64_t, 2), 13);
	CHECK_UEQ(v.cap, 8);
	tide_vec_destroy(&v);
}

TEST(swap_remove_moves_the_last_element_in)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	uint64_t out = 0;

	CHECK_EQ(fill(&v, 8, 5), 0); /* 1 4 7 10 13 */
	CHECK_EQ(tide_vec_swap_remove(&v, 1, &out), 0);
	CHECK_UEQ(out, 4);
	CHECK_UEQ(v.len, 4);
	CHECK_UEQ(tide_vec_at(&v, uint64_t, 0), 1);
	CHECK_UEQ(tide_vec_at(&v, uint64_t, 1), 13);
	CHECK_UEQ(tide_vec_at(&v, uint64_t, 2), 7);
	CHECK_UEQ(tide_vec_at(&v, uint64_t, 3), 10);
	CHECK_EQ(tide_vec_swap_remove(&v, 3, &out), 0); /* the last itself */
	CHECK_UEQ(out, 10);
	CHECK_UEQ(v.len, 3);
	tide_vec_destroy(&v);
}

TEST(push_of_own_element_survives_reallocation)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);

	CHECK_EQ(fill(&v, 0, 4), 0);
	CHECK_UEQ(v.cap, 4);
	/* Full: this push reallocates while reading element 2. */
	CHECK_EQ(tide_vec_push(&v, &tide_vec_at(&v, uint64_t, 2)), 0);
	CHECK_UEQ(v.cap, 8);
	CHECK_UEQ(tide_vec_at(&v, uint64_t, 4), 7);
	/* Insert of an element that the insert shifts. */
	CHECK_EQ(fill(&v, 0, 0), 0);
	CHECK_EQ(tide_vec_insert(&v, 1, &tide_vec_at(&v, uint64_t, 3)), 0);
	CHECK_UEQ(tide_vec_at(&v, uint64_t, 1), 10);
	CHECK_UEQ(tide_vec_at(&v, uint64_t, 4), 10);
	CHECK_UEQ(v.len, 6);
	/* Full again: insert that reallocates and shifts. */
	CHECK_EQ(tide_vec_push(&v, &(uint64_t){ 5 }), 0);
	CHECK_EQ(tide_vec_push(&v, &(uint64_t){ 6 }), 0);
	CHECK_UEQ(v.len, 8);
	CHECK_UEQ(v.cap, 8);
	CHECK_EQ(tide_vec_insert(&v, 0, &tide_vec_at(&v, uint64_t, 7)), 0);
	CHECK_UEQ(v.cap, 16);
	CHECK_UEQ(tide_vec_at(&v, uint64_t, 0), 6);
	CHECK_UEQ(tide_vec_at(&v, uint64_t, 8), 6);
	tide_vec_destroy(&v);
}

/* 10000 bytes in one call: one growth to exactly what is needed. */
TEST(append_copies_a_run_with_one_growth)
{
	struct tide_vec v = TIDE_VEC_INIT(char, 0);
	char buf[10000];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7);
	CHECK_EQ(tide_vec_append(&v, buf, sizeof(buf)), 0);
	CHECK_UEQ(v.len, 10000);
	CHECK_UEQ(v.cap, 10000); /* max(2 * 0, 0 + 10000, 4) */
	CHECK(!memcmp(v.data, buf, sizeof(buf)));
	/* then max(2 * 10000, 10000 + 3, 4) */
	CHECK_EQ(tide_vec_append(&v, "abc", 3), 0);
	CHECK_UEQ(v.len, 10003);
	CHECK_UEQ(v.cap, 20000);
	CHECK(!memcmp((char *)v.data + 10000, "abc", 3));
	tide_vec_destroy(&v);
}

TEST(append_arguments)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0), z;
	uint64_t x = 7;

	CHECK_EQ(tide_vec_append(NULL, &x, 1), -EINVAL);
	CHECK_EQ(tide_vec_append(&v, NULL, 1), -EINVAL);
	CHECK_EQ(tide_vec_append(&v, NULL, 0), 0);
	CHECK(!v.data && !v.len && !v.cap);
	CHECK_EQ(tide_vec_append(&v, &x, 1), 0);
	CHECK_EQ(tide_vec_append(&v, &x, SIZE_MAX), -EOVERFLOW);
	CHECK_EQ(tide_vec_append(&v, &x, SIZE_MAX / 8), -EOVERFLOW);
	CHECK_UEQ(v.len, 1);
	CHECK_UEQ(v.cap, 4);
	tide_vec_init(&z, 0, 0);
	CHECK_EQ(tide_vec_append(&z, &x, 1), -EINVAL);
	tide_vec_destroy(&v);
}

/* The vector's own elements, appended as the buffer moves: read from the
 * new buffer, heap and paged. */
TEST(append_of_own_elements_survives_reallocation)
{
	for (int paged = 0; paged < 2; paged++) {
		struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);

		tide_kv_set_threshold(paged ? 0 : SIZE_MAX);
		for (uint64_t i = 0; i < 1000; i++)
			CHECK_EQ(tide_vec_push(&v, &i), 0);
		CHECK_EQ(tide_vec_shrink_to_fit(&v), 0);
		CHECK_UEQ(v.cap, 1000);
		CHECK_EQ(tide_vec_append(&v, v.data, 1000), 0);
		CHECK_UEQ(v.len, 2000);
		for (size_t i = 0; i < 2000; i++)
			CHECK_UEQ(tide_vec_at(&v, uint64_t, i), i % 1000);
		tide_vec_destroy(&v);
	}
	tide_kv_set_threshold(TIDE_KV_DEFAULT_THRESHOLD);
}

TEST(push_slot_appends_and_zeroes_with_tide_zero)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, TIDE_ZERO);
	uint64_t *s;

	for (int i = 0; i < 5; i++)
		CHECK_EQ(tide_vec_push(&v, &(uint64_t){ UINT64_MAX }), 0);
	CHECK_EQ(tide_vec_pop(&v, NULL), 0);
	CHECK_EQ(tide_vec_pop(&v, NULL), 0);
	s = tide_vec_push_slot(&v);
	CHECK(s);
	CHECK_PTR_EQ(s, &tide_vec_at(&v, uint64_t, 3));
	CHECK_UEQ(*s, 0);
	CHECK_UEQ(v.len, 4);
	*s = 42;
	CHECK_UEQ(tide_vec_at(&v, uint64_t, 3), 42);
	tide_vec_destroy(&v);
}

TEST(typed_push_helper_pushes_the_value)
{
	struct tide_vec v = TIDE_VEC_INIT(double, 0);
	unsigned long long calls;
	int i = 0;

	CHECK_EQ(tide_vec_push_val(&v, double, 2.5), 0); /* grows: cap 4 */
	CHECK_UEQ(v.cap, 4);
	calls = alloc_calls();
	CHECK_EQ(tide_vec_push_val(&v, double, -1.0), 0); /* inline */
	CHECK_UEQ(alloc_calls(), calls);
	CHECK_EQ(tide_vec_push_val(&v, double, i++), 0);
	CHECK_EQ(tide_vec_push_val(&v, double, i++), 0);
	CHECK_EQ(tide_vec_push_val(&v, double, i++), 0); /* grows: cap 8 */
	CHECK_EQ(i, 3); /* the value is evaluated once on both paths */
	CHECK_UEQ(v.len, 5);
	CHECK_UEQ(v.cap, 8);
	CHECK(tide_vec_at(&v, double, 0) == 2.5);
	CHECK(tide_vec_at(&v, double, 1) == -1.0);
	CHECK(tide_vec_at(&v, double, 4) == 2.0);
	tide_vec_destroy(&v);
	v.flags = 1u << 8; /* an unknown flag: the slow path's error */
	CHECK_EQ(tide_vec_push_val(&v, double, 1.0), -EINVAL);
}

TEST(typed_pop_helper_trims_like_pop)
{
	struct tide_vec a = TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM);
	struct tide_vec b = TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM);
	uint64_t x, y;

	CHECK_EQ(fill(&a, 0, 1000), 0);
	CHECK_EQ(fill(&b, 0, 1000), 0);
	while (a.len) {
		CHECK_EQ(tide_vec_pop_val(&a, uint64_t, &x), 0);
		CHECK_EQ(tide_vec_pop(&b, &y), 0);
		CHECK_UEQ(x, y);
		CHECK_UEQ(a.len, b.len);
		CHECK_UEQ(a.cap, b.cap);
	}
	CHECK_UEQ(a.cap, 4);
	x = 7;
	CHECK_EQ(tide_vec_pop_val(&a, uint64_t, &x), -ENOENT);
	CHECK_UEQ(x, 7);
	tide_vec_destroy(&a);
	tide_vec_destroy(&b);
}

struct pattern {
	unsigned mask;
	uint32_t next; /* the element @keep expects to see next */
};

static bool keep_by_mask(const void *e, void *arg)
{
	struct pattern *p = arg;
	uint32_t x = *(const uint32_t *)e;

	/* Each element is visited once, first to last. */
	CHECK_UEQ(x, p->next * 10);
	p->next++;
	return x / 10 < 32 && (p->mask >> x / 10 & 1);
}

TEST(retain_keeps_chosen_elements_for_every_pattern_up_to_9)
{
	unsigned patterns = 0;

	for (uint32_t n = 0; n <= 9; n++) {
		for (unsigned mask = 0; mask < 1u << n; mask++) {
			struct tide_vec v = TIDE_VEC_INIT(uint32_t, 0);
			struct pattern p = { mask, 0 };
			size_t cap, k = 0;

			for (uint32_t i = 0; i < n; i++)
				CHECK_EQ(tide_vec_push(&v,
						       &(uint32_t){ i * 10 }),
					 0);
			cap = v.cap;
			CHECK_UEQ(tide_vec_retain(&v, keep_by_mask, &p),
				  n - (size_t)__builtin_popcount(mask));
			CHECK_UEQ(p.next, n);
			CHECK_UEQ(v.len, (size_t)__builtin_popcount(mask));
			for (uint32_t i = 0; i < n; i++)
				if (mask >> i & 1)
					CHECK_UEQ(
						tide_vec_at(&v, uint32_t, k++),
						i * 10);
			CHECK_UEQ(v.cap, cap);
			tide_vec_destroy(&v);
			patterns++;
		}
	}
	CHECK_UEQ(patterns, 1023);
}

TEST(truncate_drops_the_tail_only)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);

	CHECK_EQ(fill(&v, 16, 10), 0);
	tide_vec_truncate(&v, 11);
	tide_vec_truncate(&v, 10);
	check_u64_seq(&v, 10);
	tide_vec_truncate(&v, 4);
	check_u64_seq(&v, 4);
	CHECK_UEQ(v.cap, 16);
	tide_vec_truncate(&v, 0);
	CHECK_UEQ(v.len, 0);
	CHECK_UEQ(v.cap, 16);
	tide_vec_destroy(&v);
}

/* ---- shrink_to: the KVVec KUnit cases, heap and paged ----------------- */

static size_t page(void)
{
	return tide__os_page_size();
}

/* A u8 vector with 4 pages of capacity holding 3 bytes. */
static void four_pages_three_bytes(struct tide_vec *v, bool paged)
{
	tide_kv_set_threshold(paged ? 0 : SIZE_MAX);
	tide_vec_init(v, 1, 0);
	CHECK_EQ(tide_vec_reserve(v, 4 * page()), 0);
	CHECK_UEQ(v->cap, 4 * page());
	CHECK_EQ(tide_kv_is_paged(v->data), paged);
	for (uint8_t i = 1; i <= 3; i++)
		CHECK_EQ(tide_vec_push(v, &i), 0);
}

static void check_three_bytes(const struct tide_vec *v)
{
	CHECK_UEQ(v->len, 3);
	for (uint8_t i = 1; i <= 3; i++)
		CHECK_UEQ(tide_vec_at(v, uint8_t, i - 1), i);
}

static void shrink_to_one_page(bool paged)
{
	struct tide_vec v;

	four_pages_three_bytes(&v, paged);
	CHECK_EQ(tide_vec_shrink_to(&v, page()), 0);
	CHECK_CMP(v.cap, <, 4 * page());
	CHECK_CMP(v.cap, >=, page());
	CHECK_UEQ(v.cap, page());
	CHECK_KVSIZE(v.data, page());
	check_three_bytes(&v);
	tide_vec_destroy(&v);
}

TEST(shrink_to_one_page_heap)
{
	shrink_to_one_page(false);
}

TEST(shrink_to_one_page_paged)
{
	shrink_to_one_page(true);
}

static void shrink_to_zero_keeps_len(bool paged)
{
	struct tide_vec v;

	four_pages_three_bytes(&v, paged);
	CHECK_EQ(tide_vec_shrink_to(&v, 0), 0);
	CHECK_CMP(v.cap, >=, v.len);
	CHECK_UEQ(v.cap, 3);
	check_three_bytes(&v);
	tide_vec_destroy(&v);
}

TEST(shrink_to_zero_keeps_len_heap)
{
	shrink_to_zero_keeps_len(false);
}

TEST(shrink_to_zero_keeps_len_paged)
{
	shrink_to_zero_keeps_len(true);
}

static void shrink_empty_to_zero(bool paged)
{
	struct tide_vec v;
	struct tide__os_stats a, b;

	four_pages_three_bytes(&v, paged);
	tide_vec_truncate(&v, 0);
	tide__os_stats(&a);
	CHECK_EQ(tide_vec_shrink_to(&v, 0), 0);
	tide__os_stats(&b);
	CHECK_UEQ(v.cap, 0);
	CHECK_PTR_EQ(v.data, NULL);
	CHECK_EQ(b.heap_live + b.maps_live, a.heap_live + a.maps_live - 1);
	/* Still usable. */
	CHECK_EQ(tide_vec_push(&v, &(uint8_t){ 9 }), 0);
	CHECK_UEQ(v.cap, 4);
	tide_vec_destroy(&v);
}

TEST(shrink_empty_to_zero_frees_buffer_heap)
{
	shrink_empty_to_zero(false);
}

TEST(shrink_empty_to_zero_frees_buffer_paged)
{
	shrink_empty_to_zero(true);
}

TEST(shrink_to_fit_on_empty_frees_buffer)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);

	CHECK_EQ(fill(&v, 100, 0), 0);
	CHECK_EQ(tide_vec_shrink_to_fit(&v), 0);
	CHECK_UEQ(v.cap, 0);
	CHECK_PTR_EQ(v.data, NULL);
	CHECK_EQ(tide_vec_shrink_to_fit(&v), 0);
	CHECK_PTR_EQ(v.data, NULL);
}

static void shrink_above_capacity(bool paged)
{
	struct tide_vec v;
	unsigned long long calls;
	struct snap s;

	four_pages_three_bytes(&v, paged);
	snap_take(&s, &v);
	calls = alloc_calls();
	CHECK_EQ(tide_vec_shrink_to(&v, 8 * page()), 0);
	CHECK_EQ(tide_vec_shrink_to(&v, 4 * page()), 0);
	CHECK_UEQ(alloc_calls(), calls);
	snap_check(&s, &v);
	tide_vec_destroy(&v);
}

TEST(shrink_to_above_capacity_changes_nothing_heap)
{
	shrink_above_capacity(false);
}

TEST(shrink_to_above_capacity_changes_nothing_paged)
{
	shrink_above_capacity(true);
}

static void shrink_respects_min(bool paged)
{
	struct tide_vec v;
	size_t min = 2 * page() + 1;

	four_pages_three_bytes(&v, paged);
	CHECK_EQ(tide_vec_shrink_to(&v, min), 0);
	CHECK_CMP(v.cap, >=, min);
	CHECK_UEQ(v.cap, min);
	check_three_bytes(&v);
	tide_vec_destroy(&v);
}

TEST(shrink_to_respects_min_capacity_heap)
{
	shrink_respects_min(false);
}

TEST(shrink_to_respects_min_capacity_paged)
{
	shrink_respects_min(true);
}

TEST(shrink_to_preserves_elements)
{
	for (int paged = 0; paged < 2; paged++) {
		struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);

		tide_kv_set_threshold(paged ? 0 : SIZE_MAX);
		CHECK_EQ(fill(&v, 100000, 5000), 0);
		CHECK_EQ(tide_kv_is_paged(v.data), paged);
		CHECK_EQ(tide_vec_shrink_to(&v, 6000), 0);
		CHECK_UEQ(v.cap, 6000);
		check_u64_seq(&v, 5000);
		CHECK_EQ(tide_vec_shrink_to_fit(&v), 0);
		CHECK_UEQ(v.cap, 5000);
		check_u64_seq(&v, 5000);
		tide_vec_destroy(&v);
	}
}

/*
 * A heap buffer stays a heap buffer when shrink_to() runs after the kv
 * threshold was lowered below its size: realloc(), no mapping, no copy.
 * Up to 0.2.23 kv copied it into a fresh mapping on every such shrink.
 */
TEST(shrink_to_keeps_a_heap_buffer_on_the_heap)
{
	struct tide_vec v;
	struct tide__os_stats a, b;

	tide_vec_init(&v, 1, 0);
	CHECK_EQ(tide_vec_reserve(&v, 100 << 10), 0);
	CHECK(!tide_kv_is_paged(v.data));
	for (uint8_t i = 1; i <= 3; i++)
		CHECK_EQ(tide_vec_push(&v, &i), 0);
	tide_kv_set_threshold(64 << 10);
	tide__os_stats(&a);
	CHECK_EQ(tide_vec_shrink_to(&v, 80 << 10), 0);
	tide__os_stats(&b);
	CHECK_UEQ(v.cap, 80 << 10);
	CHECK(!tide_kv_is_paged(v.data));
	CHECK_KVSIZE(v.data, 80 << 10);
	CHECK_UEQ(v.span, 0);
	CHECK_UEQ(b.maps, a.maps);
	CHECK_UEQ(b.copies, a.copies);
	check_three_bytes(&v);
	tide_vec_destroy(&v);
}

/* ---- paged buffers: whole pages, in place, RSS ------------------------ */

TEST(paged_shrink_needs_a_whole_page)
{
	struct tide_vec v;
	struct tide__os_stats a, b;
	size_t hdr, cap;
	void *data;

	tide_kv_set_threshold(0);
	tide_vec_init(&v, 1, 0);
	CHECK_EQ(tide_vec_reserve(&v, page()), 0);
	CHECK(tide_kv_is_paged(v.data));
	/* kv's header comes out of the first page. */
	hdr = tide__kv_committed(v.data) - tide_kvresident(v.data);
	tide_vec_destroy(&v);
	cap = 4 * page() - hdr; /* exactly four committed pages */
	CHECK_EQ(tide_vec_reserve(&v, cap), 0);
	CHECK_UEQ(tide__kv_committed(v.data), 4 * page());
	for (uint8_t i = 1; i <= 3; i++)
		CHECK_EQ(tide_vec_push(&v, &i), 0);
	data = v.data;

	/* One byte short of freeing the fourth page: nothing happens. */
	tide__os_stats(&a);
	CHECK_EQ(tide_vec_shrink_to(&v, cap - page() + 1), 0);
	tide__os_stats(&b);
	CHECK_UEQ(v.cap, cap);
	CHECK_UEQ(b.failable_calls, a.failable_calls);

	/* Exactly one page less: shrinks in place, no copy. */
	tide__os_stats(&a);
	CHECK_EQ(tide_vec_shrink_to(&v, cap - page()), 0);
	tide__os_stats(&b);
	CHECK_UEQ(v.cap, cap - page());
	CHECK_PTR_EQ(v.data, data);
	CHECK_UEQ(tide__kv_committed(v.data), 3 * page());
	CHECK_UEQ(b.tail_unmaps, a.tail_unmaps + 1);
	CHECK_UEQ(b.copies, a.copies);
	CHECK_UEQ(b.moves, a.moves);
	check_three_bytes(&v);
	tide_vec_destroy(&v);
}

TEST(paged_trim_frees_pages_in_place)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	struct tide__os_stats a, b;
	void *data;

	tide_kv_set_threshold(0);
	CHECK_EQ(fill(&v, 64 * 1024, 1000), 0);
	data = v.data;
	tide__os_stats(&a);
	CHECK_EQ(tide_vec_trim(&v), 1);
	tide__os_stats(&b);
	CHECK_UEQ(v.cap, 2000);
	CHECK_PTR_EQ(v.data, data);
	CHECK_UEQ(b.copies, a.copies);
	CHECK_UEQ(tide__kv_committed(v.data),
		  TIDE__ALIGN_UP(tide__kv_committed(v.data) -
					 tide_kvresident(v.data) + 2000 * 8,
				 page()));
	check_u64_seq(&v, 1000);
	tide_vec_destroy(&v);
}

TEST(paged_shrink_really_lowers_rss)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	const size_t n = 8u << 20; /* 64 MiB of u64 */
	long before, after, expect_kb;
	size_t c0, c1;

	tide_kv_set_threshold(0);
	CHECK_EQ(tide_vec_reserve(&v, n), 0);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(tide_vec_push(&v, &(uint64_t){ i * 3 + 1 }), 0);
	tide_vec_truncate(&v, n / 100);
	c0 = tide__kv_committed(v.data);
	(void)th_anon_kb(); /* warm stdio up before measuring */
	before = th_anon_kb();
	CHECK_EQ(tide_vec_trim(&v), 1);
	after = th_anon_kb();
	c1 = tide__kv_committed(v.data);
	CHECK_UEQ(v.cap, 2 * (n / 100));
	expect_kb = (long)((c0 - c1) / 1024);
	th_note("anon %ld kB -> %ld kB, expected drop %ld kB", before, after,
		expect_kb);
	CHECK_CMP(before - after, >=, expect_kb - 64);
#ifndef __SANITIZE_THREAD__
	/* (TSan also releases its shadow of the range: 4x more.) */
	CHECK_CMP(before - after, <=, expect_kb + 64);
#endif
	check_u64_seq(&v, n / 100);
	tide_vec_destroy(&v);
}

/* ---- trim: the binder rule ------------------------------------------- */

TEST(trim_cap_32_len_7_gives_14)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	unsigned long long calls;
	void *data;

	CHECK_EQ(fill(&v, 32, 7), 0);
	CHECK_UEQ(v.cap, 32);
	CHECK_EQ(tide_vec_trim(&v), 1);
	CHECK_UEQ(v.cap, 14);
	check_u64_seq(&v, 7);
	/* The next 7 pushes need no reallocation... */
	data = v.data;
	calls = alloc_calls();
	for (size_t i = 7; i < 14; i++)
		CHECK_EQ(tide_vec_push(&v, &(uint64_t){ i * 3 + 1 }), 0);
	CHECK_UEQ(alloc_calls(), calls);
	CHECK_PTR_EQ(v.data, data);
	CHECK_UEQ(v.cap, 14);
	/* ...the 8th does. */
	CHECK_EQ(tide_vec_push(&v, &(uint64_t){ 43 }), 0);
	CHECK_UEQ(v.cap, 28);
	check_u64_seq(&v, 15);
	tide_vec_destroy(&v);
}

TEST(trim_leaves_a_quarter_full_vector)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	unsigned long long calls;

	CHECK_EQ(fill(&v, 32, 8), 0);
	calls = alloc_calls();
	CHECK_EQ(tide_vec_trim(&v), 0); /* 8 < 32/4 is false */
	CHECK_UEQ(v.cap, 32);
	CHECK_UEQ(alloc_calls(), calls);
	tide_vec_destroy(&v);
}

TEST(trim_never_shrinks_below_four)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);

	/* cap 3 (only shrink_to makes it), len 0: cap/4 is 0. */
	CHECK_EQ(fill(&v, 8, 3), 0);
	CHECK_EQ(tide_vec_shrink_to_fit(&v), 0);
	CHECK_UEQ(v.cap, 3);
	tide_vec_truncate(&v, 0);
	CHECK_EQ(tide_vec_trim(&v), 0);
	CHECK_UEQ(v.cap, 3);
	tide_vec_destroy(&v);
	/* cap 8, len 1: 1 < 2, target max(2, 4) = 4. */
	CHECK_EQ(fill(&v, 8, 1), 0);
	CHECK_EQ(tide_vec_trim(&v), 1);
	CHECK_UEQ(v.cap, 4);
	/* cap 4, len 0: 0 < 1, but the target 4 is the capacity. */
	tide_vec_truncate(&v, 0);
	CHECK_EQ(tide_vec_trim(&v), 0);
	CHECK_UEQ(v.cap, 4);
	CHECK(v.data);
	tide_vec_destroy(&v);
}

/* Push/pop alternation around @len after history @fall; allocator calls. */
static unsigned long long alternate(size_t len, bool fall, unsigned flags)
{
	struct tide_vec v = TIDE_VEC_INIT(uint32_t, flags);
	unsigned long long calls = 0;
	size_t top = fall ? 4 * len + 9 : len;
	size_t cap = 0;

	for (uint32_t i = 0; i < top; i++)
		CHECK_EQ(tide_vec_push(&v, &i), 0);
	while (v.len > len) {
		CHECK_EQ(tide_vec_pop(&v, NULL), 0);
		if (!(flags & TIDE_VEC_AUTOTRIM))
			CHECK(tide_vec_trim(&v) >= 0);
	}
	for (int k = 0; k < 51; k++) {
		/*
		 * The first round may grow once (a full or empty vector);
		 * after it no call may reach the allocator.
		 */
		if (k == 1) {
			cap = v.cap;
			calls = alloc_calls();
		}
		CHECK_EQ(tide_vec_push(&v, &(uint32_t){ 1 }), 0);
		CHECK_EQ(tide_vec_pop(&v, NULL), 0);
		if (!(flags & TIDE_VEC_AUTOTRIM))
			CHECK(tide_vec_trim(&v) >= 0);
		if (!len)
			continue;
		CHECK_EQ(tide_vec_pop(&v, NULL), 0);
		if (!(flags & TIDE_VEC_AUTOTRIM))
			CHECK(tide_vec_trim(&v) >= 0);
		CHECK_EQ(tide_vec_push(&v, &(uint32_t){ 1 }), 0);
	}
	calls = alloc_calls() - calls;
	CHECK_UEQ(v.cap, cap);
	CHECK_UEQ(v.len, len);
	tide_vec_destroy(&v);
	return calls;
}

/* Alternation around @len makes no allocator call, with every history. */
static void alternate_all(size_t len)
{
	CHECK_UEQ(alternate(len, false, TIDE_VEC_AUTOTRIM), 0);
	CHECK_UEQ(alternate(len, true, TIDE_VEC_AUTOTRIM), 0);
	CHECK_UEQ(alternate(len, false, 0), 0);
	CHECK_UEQ(alternate(len, true, 0), 0);
}

TEST(push_pop_alternation_never_oscillates)
{
	for (size_t len = 0; len <= 600; len++)
		alternate_all(len);
}

TEST(paged_push_pop_alternation_never_oscillates)
{
	/*
	 * Page populate and release are allocator calls too: none either.
	 * 1008 + 1024 * k u32 end a page exactly (after kv's 64-byte header):
	 * the next push needs a new page.
	 */
	static const size_t lens[] = { 0,    1,	   7,	 1007, 1008,  2047,
				       2048, 4096, 5104, 9200, 65536, 99312 };

	tide_kv_set_threshold(0);
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		for (size_t d = 0; d < 3; d++)
			alternate_all(lens[k] + d - !!lens[k]);
	}
}

TEST(alternation_right_after_a_page_release_never_oscillates)
{
	struct tide_vec v = TIDE_VEC_INIT(uint32_t, TIDE_VEC_AUTOTRIM);
	size_t releases = 0;

	tide_kv_set_threshold(0);
	for (uint32_t i = 0; i < 200000; i++)
		CHECK_EQ(tide_vec_push(&v, &i), 0);
	while (v.len) {
		size_t span = v.span, len;
		unsigned long long calls;

		CHECK_EQ(tide_vec_pop(&v, NULL), 0);
		if (v.span >= span)
			continue;
		/*
		 * A release just ran at this length: wobble around it.  The
		 * first round may meet binder's trim one pop further down;
		 * after it no call may reach the allocator.
		 */
		releases++;
		len = v.len;
		calls = 0;
		for (int k = 0; k < 21; k++) {
			if (k == 1)
				calls = alloc_calls();
			CHECK_EQ(tide_vec_push(&v, &(uint32_t){ 1 }), 0);
			CHECK_EQ(tide_vec_pop(&v, NULL), 0);
			if (!len)
				continue;
			CHECK_EQ(tide_vec_pop(&v, NULL), 0);
			CHECK_EQ(tide_vec_push(&v, &(uint32_t){ 1 }), 0);
		}
		CHECK_UEQ(alloc_calls(), calls);
		CHECK_UEQ(v.len, len);
	}
	th_note("%zu releases, each followed by push/pop alternation",
		releases);
	CHECK_CMP(releases, >=, 10);
	tide_vec_destroy(&v);
}

TEST(autotrim_emptied_vector_ends_with_capacity_4)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM);
	size_t shrinks = 0, cap;

	tide_kv_set_threshold(SIZE_MAX); /* heap: every trim reallocs */
	CHECK_EQ(fill(&v, 0, 100000), 0);
	cap = v.cap;
	CHECK_UEQ(cap, 131072);
	while (v.len) {
		uint64_t out;

		CHECK_EQ(tide_vec_pop(&v, &out), 0);
		CHECK_UEQ(out, v.len * 3 + 1);
		if (v.cap != cap) {
			/* each step is binder's: from len < cap/4 to len*2 */
			CHECK_CMP(v.len, <, cap / 4);
			CHECK_UEQ(v.cap, TIDE__MAX(v.len * 2, 4));
			cap = v.cap;
			shrinks++;
		}
		CHECK(v.len >= v.cap / 4 || v.cap == 4);
	}
	CHECK_UEQ(v.cap, 4);
	/* 131072 -> 65534, 32764, 16380, 8188, 4092, 2044, 1020, 508, 252,
	 * 124, 60, 28, 12, 4 */
	CHECK_UEQ(shrinks, 14);
	tide_vec_destroy(&v);
}

TEST(autotrim_emptied_paged_vector_ends_with_one_page)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM);

	tide_kv_set_threshold(0);
	CHECK_EQ(fill(&v, 0, 100000), 0);
	CHECK_UEQ(v.cap, 131072);
	while (v.len)
		CHECK_EQ(tide_vec_pop(&v, NULL), 0);
	/* A paged buffer stops shrinking once no page would be freed. */
	CHECK_UEQ(tide__kv_committed(v.data), page());
	CHECK_CMP(v.cap * 8, <, page());
	tide_vec_destroy(&v);
}

TEST(autotrim_applies_after_every_removal)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM);
	struct pattern p = { 0x1f, 0 };

	/* remove */
	CHECK_EQ(fill(&v, 64, 17), 0);
	CHECK_EQ(tide_vec_remove(&v, 16, NULL), 0);
	CHECK_UEQ(v.cap, 64); /* 16 < 64/4 is false... */
	CHECK_EQ(tide_vec_remove(&v, 15, NULL), 0);
	CHECK_UEQ(v.cap, 30); /* ...15 < 16: cap 30 */
	check_u64_seq(&v, 15);
	tide_vec_destroy(&v);
	/* swap_remove */
	CHECK_EQ(fill(&v, 64, 16), 0);
	CHECK_EQ(tide_vec_swap_remove(&v, 15, NULL), 0);
	CHECK_UEQ(v.cap, 30);
	tide_vec_destroy(&v);
	/* truncate */
	CHECK_EQ(fill(&v, 64, 16), 0);
	tide_vec_truncate(&v, 3);
	CHECK_UEQ(v.cap, 6);
	check_u64_seq(&v, 3);
	tide_vec_destroy(&v);
	/* retain: elements 0, 10, ... keep the first five */
	tide_vec_init(&v, sizeof(uint32_t), TIDE_VEC_AUTOTRIM);
	CHECK_EQ(tide_vec_reserve(&v, 64), 0);
	for (uint32_t i = 0; i < 64; i++)
		CHECK_EQ(tide_vec_push(&v, &(uint32_t){ i * 10 }), 0);
	CHECK_UEQ(tide_vec_retain(&v, keep_by_mask, &p), 59);
	CHECK_UEQ(v.len, 5);
	CHECK_UEQ(v.cap, 10);
	for (uint32_t i = 0; i < 5; i++)
		CHECK_UEQ(tide_vec_at(&v, uint32_t, i), i * 10);
	tide_vec_destroy(&v);
	/* pop */
	CHECK_EQ(fill(&v, 64, 16), 0);
	CHECK_EQ(tide_vec_pop(&v, NULL), 0);
	CHECK_UEQ(v.cap, 30);
	tide_vec_destroy(&v);
}

TEST(failed_shrink_is_ignored_and_vector_stays_valid)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM);
	uint64_t out = 0;
	struct snap s;

	CHECK_EQ(fill(&v, 1024, 11), 0);
	CHECK(!tide_kv_is_paged(v.data));
	tide__fault_set(1, true);
	/* The removals succeed; their trims fail and are ignored. */
	CHECK_EQ(tide_vec_pop(&v, &out), 0);
	CHECK_UEQ(out, 31);
	CHECK_EQ(tide_vec_remove(&v, 9, NULL), 0);
	CHECK_EQ(tide_vec_swap_remove(&v, 8, NULL), 0);
	tide_vec_truncate(&v, 7);
	CHECK_UEQ(tide_vec_retain(&v, keep_all, NULL), 0);
	CHECK_UEQ(tide__fault_hits(), 5); /* one trim tried per call */
	CHECK_UEQ(v.cap, 1024);
	check_u64_seq(&v, 7);
	/* Called directly, the failure is reported and changes nothing. */
	snap_take(&s, &v);
	CHECK_EQ(tide_vec_trim(&v), -ENOMEM);
	CHECK_EQ(tide_vec_shrink_to_fit(&v), -ENOMEM);
	CHECK_EQ(tide_vec_shrink_to(&v, 100), -ENOMEM);
	snap_check(&s, &v);
	/* A transient failure is not retried (shrinking runs no reclaim). */
	tide__fault_set(1, false);
	CHECK_EQ(tide_vec_trim(&v), -ENOMEM);
	CHECK_UEQ(v.cap, 1024);
	tide__fault_clear();
	/* Still a working vector. */
	CHECK_EQ(tide_vec_push(&v, &(uint64_t){ 22 }), 0);
	check_u64_seq(&v, 8);
	CHECK_EQ(tide_vec_trim(&v), 1);
	CHECK_UEQ(v.cap, 16);
	check_u64_seq(&v, 8);
	tide_vec_destroy(&v);
}

TEST(failed_page_unmap_still_shrinks_capacity)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	size_t committed;

	tide_kv_set_threshold(0);
	CHECK_EQ(fill(&v, 4096, 10), 0);
	committed = tide__kv_committed(v.data);
	tide__fault_set(1, true);
	/* kv keeps the pages when the unmap fails; the vector is valid. */
	CHECK_EQ(tide_vec_shrink_to_fit(&v), 0);
	CHECK_UEQ(tide__fault_hits(), 1);
	tide__fault_clear();
	CHECK_UEQ(v.cap, 10);
	CHECK_UEQ(tide__kv_committed(v.data), committed);
	check_u64_seq(&v, 10);
	CHECK_EQ(tide_vec_push(&v, &(uint64_t){ 31 }), 0);
	check_u64_seq(&v, 11);
	tide_vec_destroy(&v);
}

/* ---- pages: populate ahead, AUTOTRIM's page bound -------------------- */

/* Bytes of @v's paged buffer resident now (mincore), from its first page. */
static size_t resident_bytes(const struct tide_vec *v)
{
	size_t pg = page(), n = tide__kv_committed(v->data) / pg, res = 0;
	char *base = (char *)((uintptr_t)v->data & ~(uintptr_t)(pg - 1));
	unsigned char *in = malloc(n);

	CHECK(in);
	CHECK_EQ(mincore(base, n * pg, in), 0);
	for (size_t i = 0; i < n; i++)
		res += (in[i] & 1) * pg;
	free(in);
	return res;
}

/* No page at or past the bookkeeping's span is resident. */
static void check_span_covers_residency(const struct tide_vec *v)
{
	CHECK_CMP(resident_bytes(v), <=, v->span);
}

static unsigned long long advises(void)
{
	struct tide__os_stats st;

	tide__os_stats(&st);
	return st.advises;
}

static bool populate_supported(void)
{
	void *p = mmap(NULL, page(), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool ok;

	CHECK(p != MAP_FAILED);
	ok = !madvise(p, page(), MADV_POPULATE_WRITE);
	munmap(p, page());
	return ok;
}

TEST(paged_pushes_populate_ahead_in_windows)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	const size_t n = 4u << 20; /* 32 MiB of u64 */
	size_t worst = 0, ahead_seen = 0;
	unsigned long long a0, populates;

	if (!populate_supported())
		SKIP("madvise(MADV_POPULATE_WRITE) refused: Linux < 5.14");
	tide_kv_set_threshold(0);
	CHECK_EQ(tide_vec_reserve(&v, n), 0);
	CHECK_UEQ(v.span, page()); /* the header's page, nothing else */
	CHECK_UEQ(v.push_end, (page() - 64) / 8);
	a0 = advises();
	for (uint64_t i = 0; i < n; i++) {
		CHECK_EQ(tide_vec_push_val(&v, uint64_t, i * 3 + 1), 0);
		if (i % 4093)
			continue;
		/* The span is resident before the pushes reach it... */
		size_t data_span = TIDE__ALIGN_UP(64 + v.len * 8, page());

		CHECK_UEQ(resident_bytes(&v), v.span);
		if (v.span > data_span)
			ahead_seen++;
		/* ...and never more than one window past the data. */
		worst = TIDE__MAX(worst, v.span - data_span);
		CHECK_CMP(v.span - data_span, <=,
			  TIDE__MAX(v.span / 8, (size_t)64 << 10) + page());
		CHECK_UEQ(v.push_end, TIDE__MIN(n, (v.span - 64) / 8));
	}
	populates = advises() - a0;
	CHECK_UEQ(v.span, tide__kv_committed(v.data));
	check_u64_seq(&v, n);
	th_note("%llu populate calls, at most %zu kB ahead, ahead at %zu of "
		"%zu checks",
		populates, worst / 1024, ahead_seen, n / 4093 + 1);
	CHECK_CMP(ahead_seen, >=, n / 4093 / 2);
	/*
	 * 4 KiB pages: 8 windows of 64 KiB take the span past 512 KiB, then
	 * an eighth of it each time (at most 8 MiB) up to the 32 MiB + 1
	 * page capacity: 43 calls.
	 */
	if (page() == 4096)
		CHECK_UEQ(populates, 43);
	tide_vec_destroy(&v);
}

/* Faults the CPU took (perf's software counter; GUP population is not). */
static int fault_counter(void)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_PAGE_FAULTS,
		.exclude_hv = 1,
	};

	return (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0);
}

static long long read_counter(int fd)
{
	long long n = 0;

	CHECK_EQ(read(fd, &n, sizeof(n)), (ssize_t)sizeof(n));
	return n;
}

TEST(paged_pushes_take_no_page_fault_per_page)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	const size_t n = 4u << 20;
	long long pages = (long long)(n * 8 / page()), f0, tide_f, plain_f;
	uint64_t *plain;
	int fd;

	if (!populate_supported())
		SKIP("madvise(MADV_POPULATE_WRITE) refused: Linux < 5.14");
	fd = fault_counter();
	if (fd < 0)
		SKIP("perf_event_open: %s", strerror(errno));
	tide_kv_set_threshold(0);
	/* Reserved first: kv's portable growth copies, and copies fault. */
	CHECK_EQ(tide_vec_reserve(&v, n), 0);
	f0 = read_counter(fd);
	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ(tide_vec_push_val(&v, uint64_t, i * 3 + 1), 0);
	tide_f = read_counter(fd) - f0;
	check_u64_seq(&v, n);
	tide_vec_destroy(&v);
	/* The same writes to a plain mapping fault once per page. */
	plain = mmap(NULL, n * 8, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(plain != MAP_FAILED);
	f0 = read_counter(fd);
	for (size_t i = 0; i < n; i++)
		((volatile uint64_t *)plain)[i] = i;
	plain_f = read_counter(fd) - f0;
	munmap(plain, n * 8);
	close(fd);
	th_note("%lld pages: %lld faults pushing through tide_vec, %lld "
		"writing a plain mapping",
		pages, tide_f, plain_f);
	CHECK_CMP(plain_f, >=, pages);
	/*
	 * Without population every page would fault, as in the plain
	 * mapping; with it, at least half of those faults are gone (plain
	 * builds: single digits remain; the sanitizers add faults on their
	 * shadow pages to both counts).
	 */
	CHECK_CMP(tide_f, <=, plain_f - pages / 2);
}

TEST(autotrim_resident_pages_stay_within_twice_the_data)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM);
	const size_t n = 300000;
	unsigned long long a0, releases;
	size_t checks = 0;

	tide_kv_set_threshold(0);
	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ(tide_vec_push_val(&v, uint64_t, i * 3 + 1), 0);
	check_span_covers_residency(&v);
	a0 = advises();
	while (v.len) {
		uint64_t x;

		CHECK_EQ(tide_vec_pop_val(&v, uint64_t, &x), 0);
		CHECK_UEQ(x, v.len * 3 + 1);
		if (v.len % 61 && v.len > 2000)
			continue;
		/* After every removal: 2 * live bytes + one page at most. */
		CHECK_CMP(resident_bytes(&v), <=, 2 * v.len * 8 + page());
		CHECK_CMP(v.span, <=, 2 * v.len * 8 + page());
		check_span_covers_residency(&v);
		checks++;
	}
	releases = advises() - a0;
	th_note("%zu checks; %llu page releases over the fall from %zu", checks,
		releases, n);
	/*
	 * Each release leaves 1.5 * len and the next comes when 2 * len +
	 * a page drops below that: about log(2.3 MiB / 4 KiB) / log(4/3)
	 * releases, not one per page.
	 */
	if (page() == 4096)
		CHECK_UEQ(releases, 20);
	CHECK_CMP(releases, <=, 25);
	/* Emptied: one page left, as autotrim_emptied_paged_vector_... */
	CHECK_UEQ(tide__kv_committed(v.data), page());
	tide_vec_destroy(&v);
}

/*
 * A heap buffer that kv promotes to a paged one is copied whole, up to its
 * usable size: the page past the capacity's bytes that the copy touches
 * is in the span, so AUTOTRIM's page bound holds.  Up to 0.2.23 the span
 * covered only the capacity's bytes: a byte vector of capacity 131001
 * (glibc: 131016 usable) kept 33 pages resident for a length of 65500,
 * over the bound of 2 * 65500 + 4096 bytes, and released none.
 */
TEST(promoted_buffer_counts_the_copied_usable_bytes_resident)
{
	struct tide_vec v = TIDE_VEC_INIT(uint8_t, TIDE_VEC_AUTOTRIM);
	const size_t n = 131001;
	size_t usable, copied, live;
	uint8_t *src = malloc(n);

	CHECK(src);
	memset(src, 7, n);
	CHECK_EQ(tide_vec_reserve(&v, n), 0);
	CHECK(!tide_kv_is_paged(v.data));
	usable = tide_kvsize(v.data);
	CHECK_EQ(tide_vec_append(&v, src, n), 0);
	free(src);
	CHECK_EQ(tide_vec_reserve(&v, 1), 0); /* promotion: one copy */
	CHECK(tide_kv_is_paged(v.data));
	CHECK_UEQ(v.cap, 2 * n);
	/* kv writes none of a fresh block's pages but the copy's. */
	copied = TIDE__ALIGN_UP(64 + usable, page());
	CHECK_UEQ(resident_bytes(&v), copied);
	CHECK_UEQ(v.span, copied);
	tide_vec_truncate(&v, 65500);
	live = v.len;
	/* The bound: 2 * live bytes plus one page, exactly measured. */
	CHECK_CMP(resident_bytes(&v), <=, 2 * live + page());
	CHECK_UEQ(resident_bytes(&v), v.span);
	if (copied > 2 * live + page())
		/* released back to 1.5 * len: 102400 bytes with 4 KiB pages */
		CHECK_UEQ(resident_bytes(&v),
			  TIDE__ALIGN_UP(64 + live + live / 2, page()));
	th_note("usable %zu: %zu bytes resident after the copy, %zu at "
		"length %zu",
		usable, copied, resident_bytes(&v), live);
	CHECK(v.cap == 2 * n && v.len == 65500);
	for (size_t i = 0; i < live; i += 4099)
		CHECK_UEQ(tide_vec_at(&v, uint8_t, i), 7);
	tide_vec_destroy(&v);
}

TEST(autotrim_rss_after_a_fall_is_twice_the_live_data)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM);
	const size_t n = 2000000, low = n / 100;
	long base, after, bound_kb;

#if defined(TIDE__ASAN) || defined(__SANITIZE_THREAD__)
	SKIP("the sanitizer's shadow of the buffer counts in Anonymous and "
	     "stays; autotrim_resident_pages_stay_within_twice_the_data checks "
	     "the pages themselves");
#endif
	if (th_under_valgrind())
		SKIP("memcheck's shadow of the buffer counts in Anonymous and "
		     "stays; autotrim_resident_pages_stay_within_twice_the_data "
		     "checks the pages themselves");
	tide_kv_set_threshold(0);
	(void)th_anon_kb(); /* warm stdio up before measuring */
	base = th_anon_kb();
	for (int cycle = 0; cycle < 3; cycle++) {
		for (uint64_t i = v.len; i < n; i++)
			CHECK_EQ(tide_vec_push_val(&v, uint64_t, i * 3 + 1), 0);
		while (v.len > low) {
			uint64_t x;

			CHECK_EQ(tide_vec_pop_val(&v, uint64_t, &x), 0);
		}
		after = th_anon_kb();
		bound_kb = (long)((2 * low * 8 + page()) / 1024);
		th_note("cycle %d: %ld kB over the start for %zu kB live "
			"(bound %ld kB; cap %zu)",
			cycle, after - base, low * 8 / 1024, bound_kb, v.cap);
		/*
		 * smaps_rollup is exact; allow 16 kB for the reader itself,
		 * and kv's registry of paged blocks (a 4 KiB page of entries
		 * per MiB of address space that held a block: bookkeeping,
		 * given back by tide_purge(), test_kv.c
		 * registry_pages_go_back_with_purge).
		 */
		CHECK_CMP(after - base, <=,
			  bound_kb + 16 +
				  (long)(tide__kv_registry_resident(false) /
					 1024));
		CHECK_CMP(after - base, >=, (long)(low * 8 / 1024));
		check_u64_seq(&v, low);
	}
	tide_vec_destroy(&v);
}

TEST(huge_autotrim_works_in_whole_2mib_units)
{
	struct tide_vec v =
		TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM | TIDE_HUGE);
	const size_t n = 4u << 20, huge = (size_t)2 << 20; /* 32 MiB */
	size_t releases = 0;

	tide_kv_set_threshold(0);
	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ(tide_vec_push_val(&v, uint64_t, i * 3 + 1), 0);
	CHECK_UEQ((uintptr_t)v.data % huge, 64); /* kv's header, aligned */
	CHECK_UEQ(v.span % huge, 0);
	check_span_covers_residency(&v);
	while (v.len > n / 64) {
		size_t span = v.span;

		CHECK_EQ(tide_vec_pop_val(&v, uint64_t, &(uint64_t){ 0 }), 0);
		if (v.span == span && v.len % 4093)
			continue;
		releases += v.span < span;
		/* Whole huge pages only; the bound's "one page" is one unit. */
		CHECK_UEQ(v.span % huge, 0);
		CHECK_CMP(v.span, <=, 2 * v.len * 8 + huge);
		CHECK_CMP(resident_bytes(&v), <=, 2 * v.len * 8 + huge);
		check_span_covers_residency(&v);
	}
	th_note("%zu releases of whole 2 MiB units", releases);
	CHECK_CMP(releases, >=, 5);
	check_u64_seq(&v, n / 64);
	tide_vec_destroy(&v);
}

/* THP mode from sysfs: 'a'lways, 'm'advise, 'n'ever, or 0 if unknown. */
static char thp_mode(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
	char line[128] = "";
	char mode = 0;

	if (!f)
		return 0;
	if (fgets(line, sizeof(line), f)) {
		if (strstr(line, "[always]"))
			mode = 'a';
		else if (strstr(line, "[madvise]"))
			mode = 'm';
		else if (strstr(line, "[never]"))
			mode = 'n';
	}
	fclose(f);
	return mode;
}

/*
 * The mapping holding @p in /proc/self/smaps: its THPeligible (what the
 * advice asked for) and AnonHugePages in kB (what the kernel gave).
 */
static void thp_of(const void *p, int *eligible, long *huge_kb)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	bool in = false;

	*eligible = -1;
	*huge_kb = -1;
	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		int n = 0;

		if (sscanf(line, "%lx-%lx %n", &lo, &hi, &n) == 2 && n > 0 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
			continue;
		}
		if (!in)
			continue;
		if (!strncmp(line, "THPeligible:", 12))
			*eligible = atoi(line + 12);
		else if (!strncmp(line, "AnonHugePages:", 14))
			*huge_kb = atol(line + 14);
	}
	fclose(f);
}

/* Bytes from the buffer's mapping start to a 2 MiB boundary in memory. */
static bool ends_on_huge_page(const struct tide_vec *v, size_t span)
{
	uintptr_t base = (uintptr_t)v->data - 64;

	return (base + span) % ((size_t)2 << 20) == 0;
}

TEST(autotrim_large_buffer_works_in_huge_pages)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM);
	struct tide_vec plain = TIDE_VEC_INIT(uint64_t, 0);
	const size_t n = 4u << 20; /* 32 MiB */
	size_t huge_releases = 0, small_releases = 0;
	char mode = thp_mode();
	int eligible;
	long huge_kb;

	if (mode != 'm' && mode != 'a')
		SKIP("transparent huge pages are off (or unknown)");
	if (page() != 4096)
		SKIP("the 8 MiB threshold is checked with 4 KiB pages");
	tide_kv_set_threshold(0);
	for (uint64_t i = 0; i < n; i++) {
		CHECK_EQ(tide_vec_push_val(&v, uint64_t, i * 3 + 1), 0);
		/* Below 8 MiB of capacity: small-page windows, no advice. */
		if (i == (1u << 19) - 1) {
			CHECK_UEQ(v.cap, (size_t)1 << 19); /* 4 MiB */
			thp_of(v.data, &eligible, &huge_kb);
			if (mode == 'm')
				CHECK_EQ(eligible, 0);
		}
	}
	/* The advice covers the whole mapping; windows end on huge pages. */
	thp_of(v.data, &eligible, &huge_kb);
	CHECK_EQ(eligible, 1);
	CHECK(v.span == tide__kv_committed(v.data) ||
	      ends_on_huge_page(&v, v.span));
	th_note("%ld kB of 32 MiB in huge pages after the spike", huge_kb);
	check_span_covers_residency(&v);
	while (v.len > n / 100) {
		size_t span = v.span;

		CHECK_EQ(tide_vec_pop_val(&v, uint64_t, &(uint64_t){ 0 }), 0);
		if (v.span == span)
			continue;
		/*
		 * A release keeps whole huge pages while that stays within
		 * 1.75 * len (the data is at least 8 MiB then); below, the
		 * small-page target splits one and the mapping is advised
		 * back to small pages.  The bound holds either way.
		 */
		if (ends_on_huge_page(&v, v.span) &&
		    v.span - 64 <= v.len * 8 + v.len * 8 * 3 / 4) {
			/* (after a split, a small-page target may still
			 * fall on a huge page boundary by chance: the rule
			 * holds, so it counts here) */
			huge_releases++;
		} else {
			small_releases++;
			CHECK_CMP(v.len * 8, <, (size_t)8 << 20);
			thp_of(v.data, &eligible, &huge_kb);
			CHECK_EQ(eligible, mode == 'a' ? 1 : 0);
		}
		CHECK_CMP(v.span, <=, 2 * v.len * 8 + page());
		CHECK_CMP(resident_bytes(&v), <=, 2 * v.len * 8 + page());
		check_span_covers_residency(&v);
	}
	th_note("%zu releases kept whole huge pages, %zu small-page ones",
		huge_releases, small_releases);
	CHECK_CMP(huge_releases, >=, 2);
	CHECK_CMP(small_releases, >=, 1);
	check_u64_seq(&v, n / 100);
	/* Growing past 8 MiB again asks for huge pages again. */
	for (uint64_t i = v.len; i < n; i++)
		CHECK_EQ(tide_vec_push_val(&v, uint64_t, i * 3 + 1), 0);
	thp_of(v.data, &eligible, &huge_kb);
	CHECK_EQ(eligible, 1);
	check_u64_seq(&v, n);
	tide_vec_destroy(&v);

	/* Without AUTOTRIM nothing is released: no advice. */
	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ(tide_vec_push_val(&plain, uint64_t, i * 3 + 1), 0);
	thp_of(plain.data, &eligible, &huge_kb);
	if (mode == 'm')
		CHECK_EQ(eligible, 0);
	tide_vec_destroy(&plain);
}

TEST(failed_page_release_is_ignored_and_retried_further_down)
{
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, TIDE_VEC_AUTOTRIM);
	const size_t n = 100000;
	size_t span, len_at_failure, target;

	tide_kv_set_threshold(0);
	for (uint64_t i = 0; i < n; i++)
		CHECK_EQ(tide_vec_push_val(&v, uint64_t, i * 3 + 1), 0);
	span = v.span;
	/* Pop to just above the first release, then fail every call. */
	while (2 * (v.len - 1) * 8 + page() >= span)
		CHECK_EQ(tide_vec_pop(&v, NULL), 0);
	tide__fault_set(1, true);
	CHECK_EQ(tide_vec_pop(&v, NULL), 0);
	CHECK_UEQ(tide__fault_hits(), 1);
	CHECK_UEQ(v.span, span); /* nothing went back */
	len_at_failure = v.len;
	/* No retry on each removal: the next pops stay inline. */
	for (int i = 0; i < 100; i++)
		CHECK_EQ(tide_vec_pop_val(&v, uint64_t, &(uint64_t){ 0 }), 0);
	CHECK_UEQ(tide__fault_hits(), 1);
	tide__fault_clear();
	/* A quarter further down the release runs and the bound holds. */
	while (v.span == span)
		CHECK_EQ(tide_vec_pop_val(&v, uint64_t, &(uint64_t){ 0 }), 0);
	/*
	 * The retry comes where a release at @len_at_failure would have put
	 * the next one: 2 * len * 8 + a page below 1.5 * len_at_failure * 8
	 * (page-rounded, after kv's 64-byte header).
	 */
	target = TIDE__ALIGN_UP(64 + len_at_failure * 12, page());
	CHECK_CMP(2 * v.len * 8 + page(), <, target);
	CHECK_CMP(2 * (v.len + 1) * 8 + page(), >=, target);
	CHECK_CMP(resident_bytes(&v), <=, 2 * v.len * 8 + page());
	check_span_covers_residency(&v);
	check_u64_seq(&v, v.len);
	tide_vec_destroy(&v);
}

/* ---- the OOM loop over every operation ------------------------------- */

enum op {
	OP_RESERVE,
	OP_PUSH,
	OP_PUSH_SLOT,
	OP_INSERT,
	OP_SHRINK_TO,
	OP_SHRINK_TO_FIT,
	OP_TRIM,
	OP_POP,
	OP_REMOVE,
	OP_SWAP_REMOVE,
	OP_RETAIN,
	OP_TRUNCATE,
	OP_APPEND,
	OP_NR
};

struct oom_case {
	const char *name;
	size_t cap, len; /* the vector before the operation */
	size_t want_len, want_cap; /* after success */
	bool growing;
};

static const struct oom_case oom_cases[OP_NR] = {
	/* 512 u64 fill a paged buffer's pages: growing must extend it. */
	[OP_RESERVE] = { "reserve", 512, 512, 512, 1024, true },
	[OP_PUSH] = { "push", 512, 512, 513, 1024, true },
	[OP_PUSH_SLOT] = { "push_slot", 512, 512, 513, 1024, true },
	[OP_INSERT] = { "insert", 512, 512, 513, 1024, true },
	[OP_SHRINK_TO] = { "shrink_to", 4096, 5, 5, 10, false },
	[OP_SHRINK_TO_FIT] = { "shrink_to_fit", 4096, 100, 100, 100, false },
	[OP_TRIM] = { "trim", 4096, 100, 100, 200, false },
	[OP_POP] = { "pop+autotrim", 4096, 101, 100, 200, false },
	[OP_REMOVE] = { "remove+autotrim", 4096, 101, 100, 200, false },
	[OP_SWAP_REMOVE] = { "swap_remove+autotrim", 4096, 101, 100, 200,
			     false },
	[OP_RETAIN] = { "retain+autotrim", 4096, 101, 100, 200, false },
	[OP_TRUNCATE] = { "truncate+autotrim", 4096, 150, 100, 200, false },
	[OP_APPEND] = { "append", 512, 512, 612, 1024, true },
};

static bool keep_below_100(const void *e, void *arg)
{
	(void)arg;
	return *(const uint64_t *)e < 100 * 3 + 1;
}

static int run_op(enum op op, struct tide_vec *v)
{
	uint64_t x = 999;
	void *s;
	int r;

	switch (op) {
	case OP_RESERVE:
		return tide_vec_reserve(v, 100);
	case OP_PUSH:
		return tide_vec_push(v, &(uint64_t){ 512 * 3 + 1 });
	case OP_PUSH_SLOT:
		s = tide_vec_push_slot(v);
		if (!s)
			return -errno;
		*(uint64_t *)s = 512 * 3 + 1;
		return 0;
	case OP_INSERT:
		return tide_vec_insert(v, 0, &x);
	case OP_SHRINK_TO:
		return tide_vec_shrink_to(v, 10);
	case OP_SHRINK_TO_FIT:
		return tide_vec_shrink_to_fit(v);
	case OP_TRIM:
		r = tide_vec_trim(v);
		return r < 0 ? r : 0;
	case OP_POP:
		return tide_vec_pop(v, &x);
	case OP_REMOVE:
		return tide_vec_remove(v, 100, &x);
	case OP_SWAP_REMOVE:
		return tide_vec_swap_remove(v, 100, &x);
	case OP_RETAIN:
		return tide_vec_retain(v, keep_below_100, NULL) == 1 ? 0 : -EIO;
	case OP_TRUNCATE:
		tide_vec_truncate(v, 100);
		return 0;
	case OP_APPEND: {
		uint64_t more[100];

		for (size_t i = 0; i < 100; i++)
			more[i] = (512 + i) * 3 + 1;
		return tide_vec_append(v, more, 100);
	}
	case OP_NR:
		break;
	}
	return -EIO;
}

static enum op oom_current;

static int oom_body(void *arg)
{
	const struct oom_case *c = &oom_cases[oom_current];
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	unsigned long hits;
	struct snap s;
	int r;

	(void)arg;
	r = fill(&v, c->cap, c->len);
	if (r)
		return r;
	CHECK_UEQ(v.cap, c->cap);
	if (!c->growing)
		v.flags |= TIDE_VEC_AUTOTRIM;
	snap_take(&s, &v);
	hits = tide__fault_hits();
	r = run_op(oom_current, &v);
	if (r) {
		CHECK(r == -ENOMEM);
		snap_check(&s, &v);
	} else {
		free(s.bytes);
		CHECK_UEQ(v.len, c->want_len);
		if (oom_current == OP_INSERT) {
			CHECK_UEQ(tide_vec_at(&v, uint64_t, 0), 999);
			CHECK_EQ(tide_vec_remove(&v, 0, NULL), 0);
			check_u64_seq(&v, c->len);
		} else {
			check_u64_seq(&v, c->want_len);
		}
		/* A shrink whose allocation failed is ignored (autotrim). */
		if (v.cap != c->want_cap) {
			CHECK(!c->growing && tide__fault_hits() > hits);
			CHECK_UEQ(v.cap, c->cap);
		}
	}
	tide_vec_destroy(&v);
	return r;
}

static void oom_all(bool paged)
{
	unsigned long points = 0;

	tide_kv_set_threshold(paged ? 0 : SIZE_MAX);
	for (oom_current = 0; oom_current < OP_NR; oom_current++)
		points += th_oom_loop(oom_cases[oom_current].name, oom_body,
				      NULL);
	th_note("%s: %lu fault points over %d operations",
		paged ? "paged" : "heap", points, (int)OP_NR);
	CHECK_CMP(points, >=, 2 * OP_NR);
}

TEST(every_operation_survives_the_oom_loop_heap)
{
	oom_all(false);
}

TEST(every_operation_survives_the_oom_loop_paged)
{
	oom_all(true);
}

/* A type of another size than the elements' (vec_typed.h). */
TEST(typed_helpers_refuse_a_type_of_another_size_off_the_inline_path)
{
	typed_helpers_refuse_a_type_of_another_size();
}

RUN_TESTS(T(init_macro_matches_init_function), T(growth_doubles_from_four),
	  T(typed_helpers_refuse_a_type_of_another_size_off_the_inline_path),
	  T(reserve_takes_max_of_double_need_and_four),
	  T(reserve_with_room_is_noop),
	  T(size_overflow_is_eoverflow_and_changes_nothing),
	  T(growth_falls_back_to_need_when_doubling_overflows),
	  T(elem_size_zero_is_einval), T(null_vector_is_einval),
	  T(null_element_is_einval), T(unknown_flag_is_einval),
	  T(pop_on_empty_is_enoent), T(pop_returns_last_and_accepts_null_out),
	  T(append_copies_a_run_with_one_growth), T(append_arguments),
	  T(append_of_own_elements_survives_reallocation),
	  T(index_out_of_range_is_einval), T(insert_shifts_the_tail_up),
	  T(remove_keeps_order), T(swap_remove_moves_the_last_element_in),
	  T(push_of_own_element_survives_reallocation),
	  T(push_slot_appends_and_zeroes_with_tide_zero),
	  T(typed_push_helper_pushes_the_value),
	  T(typed_pop_helper_trims_like_pop),
	  T(retain_keeps_chosen_elements_for_every_pattern_up_to_9),
	  T(truncate_drops_the_tail_only), T(shrink_to_one_page_heap),
	  T(shrink_to_one_page_paged), T(shrink_to_zero_keeps_len_heap),
	  T(shrink_to_zero_keeps_len_paged),
	  T(shrink_empty_to_zero_frees_buffer_heap),
	  T(shrink_empty_to_zero_frees_buffer_paged),
	  T(shrink_to_fit_on_empty_frees_buffer),
	  T(shrink_to_above_capacity_changes_nothing_heap),
	  T(shrink_to_above_capacity_changes_nothing_paged),
	  T(shrink_to_respects_min_capacity_heap),
	  T(shrink_to_respects_min_capacity_paged),
	  T(shrink_to_preserves_elements),
	  T(shrink_to_keeps_a_heap_buffer_on_the_heap),
	  T(paged_shrink_needs_a_whole_page),
	  T(paged_trim_frees_pages_in_place), T(paged_shrink_really_lowers_rss),
	  T(trim_cap_32_len_7_gives_14), T(trim_leaves_a_quarter_full_vector),
	  T(trim_never_shrinks_below_four),
	  T(push_pop_alternation_never_oscillates),
	  T(paged_push_pop_alternation_never_oscillates),
	  T(alternation_right_after_a_page_release_never_oscillates),
	  T(autotrim_emptied_vector_ends_with_capacity_4),
	  T(autotrim_emptied_paged_vector_ends_with_one_page),
	  T(autotrim_applies_after_every_removal),
	  T(failed_shrink_is_ignored_and_vector_stays_valid),
	  T(failed_page_unmap_still_shrinks_capacity),
	  T(paged_pushes_populate_ahead_in_windows),
	  T(paged_pushes_take_no_page_fault_per_page),
	  T(autotrim_resident_pages_stay_within_twice_the_data),
	  T(promoted_buffer_counts_the_copied_usable_bytes_resident),
	  T(autotrim_rss_after_a_fall_is_twice_the_live_data),
	  T(huge_autotrim_works_in_whole_2mib_units),
	  T(autotrim_large_buffer_works_in_huge_pages),
	  T(failed_page_release_is_ignored_and_retried_further_down),
	  T(every_operation_survives_the_oom_loop_heap),
	  T(every_operation_survives_the_oom_loop_paged))

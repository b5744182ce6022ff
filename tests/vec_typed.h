/* SPDX-License-Identifier: MIT */
/*
 * vec_typed.h - one test body for test_vec.c (the functions: test hooks
 * turn the inline paths off) and test_vec_inline.c (the inline paths, as
 * programs get them).  Include after harness.h and tide.h.
 */
#ifndef TIDE_TESTS_VEC_TYPED_H
#define TIDE_TESTS_VEC_TYPED_H

/*
 * A @type of another size than the vector's elements (a trial pushed
 * uint32_t into a vector of 64-byte records: every call returned 0, and the
 * functions copied 64 bytes from a 4-byte value): refused with -EINVAL,
 * nothing stored or copied, whenever the helper leaves its inline path.
 */
static void typed_helpers_refuse_a_type_of_another_size(void)
{
	struct rec {
		char b[64];
	};
	struct tide_vec v = TIDE_VEC_INIT(uint64_t, 0);
	struct tide_vec r = TIDE_VEC_INIT(struct rec, 0);
	uint32_t small = 7;
	uint64_t x = 0;

	/* the first push into an empty vector */
	CHECK_EQ(tide_vec_push_val(&v, uint32_t, 5), -EINVAL);
	CHECK_UEQ(v.len, 0);
	CHECK(!v.data);
	CHECK_EQ(tide_vec_push_val(&r, uint32_t, 5), -EINVAL);
	CHECK_UEQ(r.len, 0);
	/* a full vector */
	for (uint64_t i = 0; i < 4; i++)
		CHECK_EQ(tide_vec_push_val(&v, uint64_t, i), 0);
	CHECK_UEQ(v.cap, 4);
	CHECK_EQ(tide_vec_push_val(&v, uint16_t, 9), -EINVAL);
	CHECK_UEQ(v.len, 4);
	CHECK_UEQ(v.cap, 4);
	/* an empty vector's pop, and one a trim is due for */
	while (v.len)
		CHECK_EQ(tide_vec_pop_val(&v, uint64_t, &x), 0);
	CHECK_EQ(tide_vec_pop_val(&v, uint32_t, &small), -EINVAL);
	CHECK_UEQ(small, 7);
	CHECK_EQ(tide_vec_pop_val(&v, uint64_t, &x), -ENOENT);
	v.flags |= TIDE_VEC_AUTOTRIM;
	for (uint64_t i = 0; i < 64; i++)
		CHECK_EQ(tide_vec_push_val(&v, uint64_t, i), 0);
	while (v.len > v.cap / 4)
		CHECK_EQ(tide_vec_pop_val(&v, uint64_t, &x), 0);
	CHECK_UEQ(v.len, 16);
	CHECK_EQ(tide_vec_pop_val(&v, uint32_t, &small), -EINVAL);
	CHECK_UEQ(small, 7);
	CHECK_UEQ(v.len, 16);
	CHECK_UEQ(v.cap, 64);
	CHECK_EQ(tide_vec_pop_val(&v, uint64_t, &x), 0);
	CHECK_UEQ(x, 15);
	CHECK_UEQ(v.cap, 30); /* the trim that was due */
	tide_vec_destroy(&v);
	tide_vec_destroy(&r);
}

#endif /* TIDE_TESTS_VEC_TYPED_H */

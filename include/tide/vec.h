/* SPDX-License-Identifier: MIT */
/*
 * tide/vec.h - a growable array that gives capacity back: Rust's KVVec with
 * shrink_to() and the binder hysteresis rule (shrink when len < cap/4, to
 * len*2).  Memory comes from kv.
 */
#ifndef TIDE_VEC_H
#define TIDE_VEC_H

#include <tide/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* In tide_vec.flags: apply tide_vec_trim() after every removal.  kv ignores it. */
#define TIDE_VEC_AUTOTRIM (1u << 16)

/**
 * struct tide_vec - a vector of fixed-size elements.
 * @data: the buffer (a kv block), NULL when @cap is 0.
 * @len: elements in use.
 * @cap: elements the buffer holds.
 * @elem_size: bytes per element (not 0).
 * @flags: kv flags for every allocation, plus %TIDE_VEC_AUTOTRIM.
 *
 * Caller-allocated; initialize with TIDE_VEC_INIT() or tide_vec_init().
 * Read the fields freely; change them only through the functions.
 */
struct tide_vec {
	void *data;
	size_t len;
	size_t cap;
	size_t elem_size;
	unsigned flags;
};

#define TIDE_VEC_INIT(type, flags)                \
	{                                         \
		NULL, 0, 0, sizeof(type), (flags) \
	}
#define tide_vec_at(v, type, i) (((type *)(v)->data)[i])

TIDE_API void tide_vec_init(struct tide_vec *v, size_t elem_size,
			    unsigned flags);
TIDE_API void tide_vec_destroy(struct tide_vec *v);
TIDE_API int tide_vec_reserve(struct tide_vec *v, size_t additional);
TIDE_API int tide_vec_push(struct tide_vec *v, const void *elem);
TIDE_API void *tide_vec_push_slot(struct tide_vec *v);
TIDE_API int tide_vec_pop(struct tide_vec *v, void *out);
TIDE_API int tide_vec_insert(struct tide_vec *v, size_t i, const void *elem);
TIDE_API int tide_vec_remove(struct tide_vec *v, size_t i, void *out);
TIDE_API int tide_vec_swap_remove(struct tide_vec *v, size_t i, void *out);
TIDE_API size_t tide_vec_retain(struct tide_vec *v,
				bool (*keep)(const void *elem, void *arg),
				void *arg);
TIDE_API void tide_vec_truncate(struct tide_vec *v, size_t len);
TIDE_API int tide_vec_shrink_to(struct tide_vec *v, size_t min_capacity);
TIDE_API int tide_vec_shrink_to_fit(struct tide_vec *v);
TIDE_API int tide_vec_trim(struct tide_vec *v);

#ifdef __cplusplus
}
#endif

#endif /* TIDE_VEC_H */

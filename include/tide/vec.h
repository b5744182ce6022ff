/* SPDX-License-Identifier: MIT */
/*
 * tide/vec.h - a growable array that gives capacity back: Rust's KVVec with
 * shrink_to() and the binder hysteresis rule (shrink when len < cap/4, to
 * len*2).  Memory comes from kv.
 */
#ifndef TIDE_VEC_H
#define TIDE_VEC_H

#include <errno.h>
#include <string.h>

#include <tide/common.h>
#include <tide/kv.h>

#if defined(__cplusplus) && __cplusplus >= 201103L
/* C++ linkage, also where tide.h is included inside extern "C" { } */
extern "C++" {
#include <new>
#include <type_traits>

/*
 * Private: tide_vec_push_val()'s value in a temporary (a copy: the
 * value may be an element of the vector itself, which growth moves), in
 * C++.  A vector moves its elements
 * with realloc() and mremap() and copies them with memcpy(): only types
 * whose copy is a byte copy and whose destruction does nothing may be
 * stored (a std::string would be left dangling; a std::pair<int, int> is
 * fine), which this checks at compile time.
 */
template <class T> static inline const T *tide__vec_tmp(const T &x)
{
	static_assert(std::is_trivially_copy_constructible<T>::value &&
			      std::is_trivially_destructible<T>::value,
		      "tide_vec elements must be trivially copy-constructible "
		      "and destructible: the buffer moves with realloc() and "
		      "mremap()");
	return &x;
}

/*
 * Private: tide_vec_push_val()'s store in C++: a copy constructed in the
 * slot (the buffer holds no object there yet), typed as @T.
 */
template <class T> static inline void tide__vec_set(T *dst, const T *src)
{
	::new (static_cast<void *>(dst)) T(*src);
}
} /* extern "C++" */
#define TIDE__VEC_SET(type, dst, src) (tide__vec_set<type>((dst), (src)))
#else
/* C (and C++98): an assignment, typed as @type. */
#define TIDE__VEC_SET(type, dst, src) ((void)(*(dst) = *(src)))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * In tide_vec.flags: tide_vec_trim() after every removal, and a paged buffer
 * keeps no more than 2 * len * elem_size bytes plus one page resident (the
 * pages past that go back, the capacity stays).  From 8 MiB of capacity the
 * buffer asks for transparent huge pages and keeps whole ones where the
 * bound allows.  kv ignores the bit.
 */
#define TIDE_VEC_AUTOTRIM (1u << 16)

/**
 * struct tide_vec - a vector of fixed-size elements.
 * @data: the buffer (a kv block), NULL when @cap is 0.
 * @len: elements in use.
 * @cap: elements the buffer holds.
 * @elem_size: bytes per element (not 0).
 * @flags: kv flags for every allocation, plus %TIDE_VEC_AUTOTRIM.
 * @push_end: private: tide_vec_push_val() stays inline while @len is below
 *            it (at most @cap; lower while the pages ahead are not yet
 *            populated).
 * @pop_floor: private: tide_vec_pop_val() stays inline while @len is above
 *             it (0, or with %TIDE_VEC_AUTOTRIM the length below which a
 *             trim or a page release is due).
 * @span: private: bytes, from the start of the buffer's first page, that
 *        may be resident in a paged buffer; the pages past it are not.
 *
 * Caller-allocated; initialize with TIDE_VEC_INIT() or tide_vec_init().
 * Read the public fields freely; change them only through the functions.
 * The private fields are bookkeeping that the functions keep in step with
 * @len and @cap; a zeroed value is always valid (it only routes the next
 * inline call through the function).
 */
struct tide_vec {
	void *data;
	size_t len;
	size_t cap;
	size_t elem_size;
	unsigned flags;
	/* private: */
	size_t push_end;
	size_t pop_floor;
	size_t span;
};

/**
 * TIDE_VEC_INIT() - static initializer for an empty vector.
 * @type: the element type (its size becomes @elem_size).
 * @flags: as for tide_vec_init().
 */
#define TIDE_VEC_INIT(type, flags)                         \
	{                                                  \
		NULL, 0, 0, sizeof(type), (flags), 0, 0, 0 \
	}

/**
 * tide_vec_at() - element @i of @v as an lvalue of @type (no bounds check).
 * @v: the vector.
 * @type: the element type.
 * @i: the index, below @v->len.
 */
#define tide_vec_at(v, type, i) (TIDE__CAST(type *, (v)->data)[i])

#if defined(__cplusplus) && __cplusplus >= 201103L
/* see tide__vec_tmp() below */
#define TIDE__VEC_TMP(type, val) (tide__vec_tmp<type>(static_cast<type>(val)))
#elif defined(__cplusplus)
#define TIDE__VEC_TMP(type, val) \
	(&static_cast<const type &>(static_cast<type>(val)))
#else
/*
 * An array of one: a struct value initializes the element whole (as in
 * "struct pt a[1] = { q };").  Up to 0.2.27 this was &(type){ (val) }, whose
 * braces made @val the first member's initializer: a struct @type did not
 * compile.
 */
#define TIDE__VEC_TMP(type, val) ((type[1]){ (val) })
#endif

/**
 * tide_vec_push_val() - typed push with an inline fast path.
 * @v: the vector (evaluated more than once); not NULL.
 * @type: the element type; sizeof(@type) must equal @v->elem_size.  In C
 *        it must be assignable, as for tide_vec_pop_val().
 * @val: the value (evaluated once, before any growth and before @v->len
 *       changes: tide_vec_push_val(&v, size_t, v.len) stores the index).
 *       It may read *@v but must not change it.
 *
 * When there is room (and the page it lands in is already populated) the
 * value is stored inline.  When the vector is full and its buffer is a heap
 * block that stays below the paged threshold after doubling (and @v->flags
 * holds no kv flag), the growth is inline too: the C heap's realloc() to
 * twice the capacity (4 elements first), the same growth tide_vec_push()
 * makes.  Everything else (paged buffers, kv flags, failures) goes to
 * tide_vec_push().  The functions stay the real API: this only saves the
 * calls in hot loops.
 *
 * Unlike tide_vec_push(), which returns -EINVAL for a NULL vector, the
 * inline path reads @v first: a NULL @v is undefined (it crashes).  A
 * @type whose size is not @v->elem_size is refused with -EINVAL, nothing
 * stored, whenever the call leaves the inline store: always in a vector
 * without room (the first push into an empty one included), but not
 * while a reserved or grown buffer has room.
 *
 * Context: as tide_vec_push().
 * Return: as tide_vec_push() for a non-NULL @v; -EINVAL for a @type of
 * another size, as above.
 */
#define tide_vec_push_val(v, type, val)                                   \
	(TIDE__LIKELY((v)->len < (v)->push_end) ?                         \
		 (TIDE__VEC_SET(type,                                     \
				TIDE__CAST(type *, (v)->data) + (v)->len, \
				TIDE__VEC_TMP(type, val)),                \
		  ++(v)->len, 0) :                                        \
		 TIDE__VEC_PUSH_GROW((v), TIDE__VEC_TMP(type, val),       \
				     sizeof(type)))

/**
 * tide_vec_pop_val() - typed pop with an inline fast path.
 * @v: the vector (evaluated more than once); not NULL.
 * @type: the element type; sizeof(@type) must equal @v->elem_size.
 * @out: a @type pointer that receives the element; not NULL.  Evaluated
 *       once; it must not depend on @v->len (the inline path evaluates it
 *       after the length went down, tide_vec_pop() before).
 *
 * Inline when the vector is not empty and nothing is due (no
 * %TIDE_VEC_AUTOTRIM, or the new length keeps both the trim rule and the
 * page bound); otherwise tide_vec_pop() does the work, so the result is
 * always that of tide_vec_pop().  %TIDE_VEC_AUTOTRIM may be set or cleared
 * in @v->flags at any time; the page bound follows from the next call into
 * the library.
 *
 * Unlike tide_vec_pop(), which returns -EINVAL for a NULL vector, the
 * inline path reads @v first: a NULL @v is undefined (it crashes).  A
 * @type whose size is not @v->elem_size is refused with -EINVAL, nothing
 * copied, whenever the call leaves the inline path (an empty vector, a
 * trim due), not on the inline path.
 *
 * Context: as tide_vec_pop().
 * Return: as tide_vec_pop() for a non-NULL @v; -EINVAL for a @type of
 * another size, as above.
 */
#define tide_vec_pop_val(v, type, out)                                   \
	(TIDE__LIKELY((v)->len > (v)->pop_floor &&                       \
		      (!((v)->flags & TIDE_VEC_AUTOTRIM) ||              \
		       (v)->len > (v)->cap / 4)) ?                       \
		 (--(v)->len,                                            \
		  *(out) = TIDE__CAST(type *, (v)->data)[(v)->len], 0) : \
		 tide__vec_pop_typed((v), (out), sizeof(type)))

/**
 * tide_vec_init() - make @v an empty vector.
 * @v: the vector (caller-allocated), or NULL (nothing happens).
 * @elem_size: bytes per element.  0 is accepted here but makes every later
 *             call fail with -EINVAL (there is nothing to store).
 * @flags: kv flags (%TIDE_ZERO, %TIDE_NORECLAIM, %TIDE_NOIO, %TIDE_HUGE)
 *         used for every allocation, plus %TIDE_VEC_AUTOTRIM.  An unknown kv
 *         bit makes every allocating call fail with -EINVAL.
 *
 * No memory is allocated until the first element arrives.
 *
 * Context: any thread; vectors are not thread-safe, the owner locks.
 * Return: nothing.
 */
TIDE_API void tide_vec_init(struct tide_vec *v, size_t elem_size,
			    unsigned flags);

/**
 * tide_vec_destroy() - free the buffer and leave @v empty.
 * @v: the vector, or NULL.
 *
 * @v keeps its @elem_size and @flags and may be used again.
 *
 * Context: any thread, the owner's lock held.  Never runs reclaim.
 * Return: nothing.
 */
TIDE_API void tide_vec_destroy(struct tide_vec *v);

/**
 * tide_vec_reserve() - make room for @additional more elements.
 * @v: the vector.
 * @additional: elements to make room for beyond @v->len.
 *
 * With @v->cap >= @v->len + @additional nothing happens.  Otherwise the
 * capacity becomes max(2 * cap, len + additional, 4).  A paged buffer grows
 * with mremap() (kv), never by copying.
 *
 * Context: the owner's lock held.  May run reclaim (shrinkers) unless
 * @v->flags has %TIDE_NORECLAIM.
 * Return: 0; -EINVAL (@v NULL or @elem_size 0, unknown flag), -EOVERFLOW
 * (the element count or byte count overflows), -ENOMEM.  On failure @v is
 * unchanged.
 */
TIDE_API int tide_vec_reserve(struct tide_vec *v, size_t additional);

/**
 * tide_vec_push() - append a copy of *@elem.
 * @v: the vector.
 * @elem: @v->elem_size bytes to copy; may point into @v itself.
 *
 * Grows as tide_vec_reserve(@v, 1).  Built with GCC or clang as C11 or
 * C++11 and without %TIDE_NO_INLINE, the call compiles inline in the
 * caller where there is room (or a full heap buffer to double) and the
 * element is 1, 2, 4, 8 or 16 bytes, and calls the function otherwise,
 * with the same results (see "Inline growth, push, pop and destruction"
 * below).
 *
 * Context: as tide_vec_reserve().
 * Return: 0, or as tide_vec_reserve() (-EINVAL also for @elem NULL); on
 * failure @v is unchanged.
 */
TIDE_API int tide_vec_push(struct tide_vec *v, const void *elem);

/**
 * tide_vec_append() - append copies of @n elements.
 * @v: the vector.
 * @elems: @n * @v->elem_size bytes to copy; may point into @v itself
 *         (within its @v->len elements).  May be NULL when @n is 0.
 * @n: how many elements.
 *
 * Grows as tide_vec_reserve(@v, @n), once, then copies: the way to put a
 * buffer of bytes (elem_size 1) or a run of elements into a vector without
 * a call per element.  @n 0 changes nothing.
 *
 * Context: as tide_vec_reserve().
 * Return: 0, or as tide_vec_reserve() (-EINVAL also for @elems NULL with
 * @n not 0); on failure @v is unchanged.
 */
TIDE_API int tide_vec_append(struct tide_vec *v, const void *elems, size_t n);

/**
 * tide_vec_push_slot() - append an element and return it for filling in.
 * @v: the vector.
 *
 * The new slot holds unspecified bytes, zeros with %TIDE_ZERO.  The pointer
 * is valid until the next call that changes the capacity.
 *
 * Context: as tide_vec_reserve().
 * Return: the slot, or NULL with errno EINVAL, EOVERFLOW or ENOMEM (@v
 * unchanged).
 */
TIDE_API void *tide_vec_push_slot(struct tide_vec *v);

/**
 * tide_vec_pop() - remove the last element.
 * @v: the vector.
 * @out: receives the element (@v->elem_size bytes), or NULL.
 *
 * With %TIDE_VEC_AUTOTRIM, tide_vec_trim() and the page release follow;
 * their failure is ignored.  Built with GCC or clang as C11 or C++11 and
 * without %TIDE_NO_INLINE, the call compiles inline in the caller when
 * nothing is due and the element is 1, 2, 4, 8 or 16 bytes (or @out is
 * NULL), and calls the function otherwise, with the same results.
 *
 * Context: the owner's lock held.  Never runs reclaim.
 * Return: 0; -ENOENT when @v is empty, -EINVAL for a NULL or invalid @v
 * (@v and @out unchanged).
 */
TIDE_API int tide_vec_pop(struct tide_vec *v, void *out);

/* The inline paths' fallbacks: the same functions, declared cold (common.h). */
#if defined(__GNUC__) && !defined(TIDE_BUILDING)
TIDE_API int tide__vec_push_slow(struct tide_vec *v, const void *elem)
	TIDE__COLD_ALIAS(tide_vec_push);
TIDE_API int tide__vec_pop_slow(struct tide_vec *v, void *out)
	TIDE__COLD_ALIAS(tide_vec_pop);
#define TIDE__VEC_PUSH_SLOW tide__vec_push_slow
#define TIDE__VEC_POP_SLOW tide__vec_pop_slow
#else
#define TIDE__VEC_PUSH_SLOW tide_vec_push
#define TIDE__VEC_POP_SLOW tide_vec_pop
#endif

/*
 * Private: the typed helpers' way into the functions, which copy
 * @v->elem_size bytes: a @type of another size (@esz) is refused there,
 * nothing copied, rather than read or written past the caller's value.
 */
static inline int tide__vec_push_typed(struct tide_vec *v, const void *elem,
				       size_t esz)
{
	return v->elem_size != esz ? -EINVAL : TIDE__VEC_PUSH_SLOW(v, elem);
}

/*
 * Private: tide_vec_pop_val()'s way into tide_vec_pop().  The caller's
 * variable never has its address passed on, so that the compiler may keep
 * it in a register (an address passed to a call makes it live in memory,
 * and the inline pop would store every element there too).  When the pop
 * will succeed (0 < @len <= @cap: the function's only failures are an
 * empty and an invalid vector), the element is copied to @out first, as
 * the function copies it before any trim (@out may be an element of @v),
 * and the function pops with a NULL @out; otherwise the function fails,
 * copies nothing, and its error is returned (a non-negative result there
 * would break its contract, and is -EINVAL: so the compiler sees that
 * every result of 0 wrote @out).
 */
static inline int tide__vec_pop_typed(struct tide_vec *v, void *out, size_t esz)
{
	size_t len = v->len;
	int r;

	if (v->elem_size != esz)
		return -EINVAL;
	if (len - 1 < v->cap) {
		memmove(out,
			TIDE__CAST(const char *, v->data) + (len - 1) * esz,
			esz);
		return TIDE__VEC_POP_SLOW(v, TIDE__NULL);
	}
	r = TIDE__VEC_POP_SLOW(v, TIDE__NULL);
	return r < 0 ? r : -EINVAL;
}

/* Private: @v empty with no buffer, @elem_size and @flags kept. */
static inline void tide__vec_reset(struct tide_vec *v)
{
	v->data = TIDE__NULL;
	v->len = 0;
	v->cap = 0;
	v->push_end = 0;
	v->pop_floor = 0;
	v->span = 0;
}

/**
 * DOC: Inline growth, push, pop and destruction
 *
 * Where kv.h compiles its fast paths into the caller (TIDE__KV_INLINE; see
 * kv.h), a full vector whose buffer is a heap block grows inline when
 * tide_vec_push_val() finds it full, and tide_vec_destroy() frees a heap
 * buffer inline: the C heap's realloc() and free() behind the same compares
 * as kv's.  The growth is the library's (twice the capacity, 4 elements
 * first) and leaves the private fields as the library leaves them after a
 * heap growth (push_end = cap, pop_floor = cap / 4 with
 * %TIDE_VEC_AUTOTRIM and 0 without, span = 0).  Anything else (paged
 * buffers or sizes, kv flags or unknown bits in @v->flags, an element size
 * other than the helper's type or 0, a failed realloc(), which leaves the
 * buffer as it was)
 * falls back to the exported function, which also runs reclaim.
 *
 * There, tide_vec_push() and tide_vec_pop() are function-like macros too
 * (as tide_vec_destroy()): the functions' own fast tests (a push with
 * @len below @push_end; a pop above @pop_floor, within @cap, and with
 * %TIDE_VEC_AUTOTRIM above a quarter of @cap) and a copy of an element of
 * 1, 2, 4, 8 or 16 bytes compile into the caller, and a full heap buffer
 * grows as above; a NULL @v or @elem, other element sizes, an empty
 * vector, a due trim and everything else call the function, which decides
 * the result.  The results and the vector's state are exactly the
 * functions' in every case (an @elem inside the vector is read after the
 * growth, at its new address).  They are static inline functions, so the
 * compiler's inliner has the last word: with many calls in one file GCC may
 * keep one local copy and call it, which still saves the library call
 * (at -Os it keeps the element copy local too).  (tide_vec_push)(v, e), or
 * the name not followed by a parenthesis, gives the exported function.
 * ABI: this bakes the private fields' meaning for heap buffers and the
 * functions' fast tests into programs (docs/abi.md).
 */
#if defined(TIDE__KV_INLINE) && !defined(TIDE_BUILDING)
TIDE_API void tide__vec_destroy_slow(struct tide_vec *v)
	TIDE__COLD_ALIAS(tide_vec_destroy);

/* A full heap buffer doubled with realloc(); 0, or -1 to fall back. */
static inline int tide__vec_grow_heap(struct tide_vec *v, size_t esz)
{
	/* the library's max(2 * cap, len + 1, 4), with len == cap */
	size_t cap = v->cap, ncap = cap < 2 ? 4 : 2 * cap, bytes;
	void *p;

	if (v->len != cap || v->elem_size != esz || !esz ||
	    cap > SIZE_MAX / 4 || __builtin_mul_overflow(ncap, esz, &bytes) ||
	    !tide__kv_fast_size(bytes, v->flags) ||
	    (v->data && !tide__kv_fast_ptr(v->data)))
		return -1;
	p = v->data ? realloc(v->data, tide__kv_heap_req(bytes)) :
		      malloc(tide__kv_heap_req(bytes));
	if (!p)
		return -1;
	v->data = p;
	v->cap = ncap;
	v->push_end = ncap;
	v->pop_floor = (v->flags & TIDE_VEC_AUTOTRIM) ? ncap / 4 : 0;
	v->span = 0;
	return 0;
}

static inline int tide__vec_push_grow(struct tide_vec *v, const void *elem,
				      size_t esz)
{
	if (TIDE__LIKELY(!tide__vec_grow_heap(v, esz))) {
		__builtin_memcpy(TIDE__CAST(char *, v->data) + v->len * esz,
				 elem, esz);
		v->len++;
		return 0;
	}
	return tide__vec_push_typed(v, elem, esz);
}

/* Private: @p points to at least @n bytes, as far as the compiler knows. */
#define TIDE__VEC_FITS(p, n) (__builtin_object_size(p, 1) >= (n))

/*
 * Private: around the inline copies.  Each copy runs only for elements of
 * its size, which is known when the program runs.  A caller's &a[i], with
 * i a variable, is an address whose object size the compiler's bound does
 * not know (TIDE__VEC_FITS() passes it), but GCC's bounds warnings see the
 * array: they would report the copies of the other sizes, which never run
 * for it (a[i] of 4 bytes: the 8- and 16-byte copies), as out of bounds
 * or as reading bytes never set.
 */
/* clang-format off */
#if defined(__GNUC__) && !defined(__clang__)
#define TIDE__VEC_COPIES_BEGIN                                      \
	_Pragma("GCC diagnostic push")                              \
	_Pragma("GCC diagnostic ignored \"-Wpragmas\"")             \
	_Pragma("GCC diagnostic ignored \"-Warray-bounds\"")        \
	_Pragma("GCC diagnostic ignored \"-Wstringop-overflow\"")   \
	_Pragma("GCC diagnostic ignored \"-Wstringop-overread\"")   \
	_Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define TIDE__VEC_COPIES_END _Pragma("GCC diagnostic pop")
#else
#define TIDE__VEC_COPIES_BEGIN
#define TIDE__VEC_COPIES_END
#endif
/* clang-format on */

/*
 * Private: store *@src as element @i of @data, of a size tide_vec_push()
 * and tide_vec_pop() copy inline (8 bytes first, then 4, 16, 2, 1); 0, or
 * -1 (nothing copied) for another size.  A size larger than what GCC knows
 * @src points to takes the -1 path too (the function then copies it): the
 * copy of that size is compiled out for it.  Where GCC knows no size (&a[i]
 * with i a variable), TIDE__VEC_COPIES_BEGIN keeps its bounds warnings off
 * the copies of the other sizes, which never run for it.
 */
static inline int tide__vec_store(void *data, size_t i, const void *src,
				  size_t esz)
{
	char *d = TIDE__CAST(char *, data);

	TIDE__VEC_COPIES_BEGIN
	/* 8 bytes (pointers, u64, double) with one compare */
	if (TIDE__LIKELY(esz == 8) && TIDE__VEC_FITS(src, 8)) {
		memcpy(d + i * 8, src, 8);
		return 0;
	}
	switch (esz) {
	case 4:
		if (!TIDE__VEC_FITS(src, 4))
			return -1;
		memcpy(d + i * 4, src, 4);
		return 0;
	case 16:
		if (!TIDE__VEC_FITS(src, 16))
			return -1;
		memcpy(d + i * 16, src, 16);
		return 0;
	case 2:
		if (!TIDE__VEC_FITS(src, 2))
			return -1;
		memcpy(d + i * 2, src, 2);
		return 0;
	case 1:
		if (!TIDE__VEC_FITS(src, 1))
			return -1;
		memcpy(d + i, src, 1);
		return 0;
	default:
		return -1;
	}
	TIDE__VEC_COPIES_END
}

/*
 * tide_vec_push() with no room: a full heap buffer doubles inline, as in
 * tide__vec_push_grow(), then *@elem is read.  @elem may be an element of
 * @v, which the growth moves: it is re-derived from its offset, as the
 * function does.
 */
static inline int tide__vec_push_full(struct tide_vec *v, const void *elem)
{
	uintptr_t e = TIDE__PTR_BITS(elem), b;
	size_t esz, len;

	if (!v || !elem)
		return tide__vec_push_slow(v, elem);
	esz = v->elem_size;
	len = v->len;
	b = TIDE__PTR_BITS(v->data);
	/*
	 * Only the sizes copied inline, and (see tide__vec_store()) only
	 * when the store cannot decline after the growth; others are the
	 * function's.
	 */
	if (esz - 1 >= 16 || (esz & (esz - 1)) || !TIDE__VEC_FITS(elem, esz) ||
	    tide__vec_grow_heap(v, esz))
		return tide__vec_push_slow(v, elem);
	/* len is the old capacity: len * esz bytes existed */
	if (b && e >= b && e - b < len * esz)
		elem = TIDE__CAST(const char *, v->data) + (e - b);
	if (TIDE__LIKELY(!tide__vec_store(v->data, len, elem, esz))) {
		v->len = len + 1;
		return 0;
	}
	/* not reached (checked above); the function, with room now, copies */
	return tide__vec_push_slow(v, elem);
}

/*
 * tide_vec_push() compiled into the caller: the function's own fast test
 * (room, in pages already populated), then a copy of a common size.
 * Everything else is the function's, which decides the result.
 */
static inline int tide__vec_push_inline(struct tide_vec *v, const void *elem)
{
	if (TIDE__LIKELY(v && elem)) {
		size_t len = v->len;

		if (TIDE__LIKELY(len < v->push_end &&
				 !tide__vec_store(v->data, len, elem,
						  v->elem_size))) {
			v->len = len + 1;
			return 0;
		}
	}
	return tide__vec_push_full(v, elem);
}

/*
 * tide_vec_pop() compiled into the caller: the function's fast test (not
 * empty, nothing due, a valid length), then, in the function's order, the
 * length goes down and the element is copied out.
 */
static inline int tide__vec_pop_inline(struct tide_vec *v, void *out)
{
	if (TIDE__LIKELY(v != TIDE__NULL)) {
		size_t len = v->len, esz = v->elem_size;
		const char *d = TIDE__CAST(const char *, v->data);

		if (TIDE__LIKELY(len > v->pop_floor && len <= v->cap &&
				 (!(v->flags & TIDE_VEC_AUTOTRIM) ||
				  len > v->cap / 4))) {
			size_t i = len - 1;

			if (!out) {
				v->len = i;
				return 0;
			}
			TIDE__VEC_COPIES_BEGIN
			if (TIDE__LIKELY(esz == 8) && TIDE__VEC_FITS(out, 8)) {
				v->len = i;
				memcpy(out, d + i * 8, 8);
				return 0;
			}
			switch (esz) {
			case 4:
				if (!TIDE__VEC_FITS(out, 4))
					break;
				v->len = i;
				memcpy(out, d + i * 4, 4);
				return 0;
			case 16:
				if (!TIDE__VEC_FITS(out, 16))
					break;
				v->len = i;
				memcpy(out, d + i * 16, 16);
				return 0;
			case 2:
				if (!TIDE__VEC_FITS(out, 2))
					break;
				v->len = i;
				memcpy(out, d + i * 2, 2);
				return 0;
			case 1:
				if (!TIDE__VEC_FITS(out, 1))
					break;
				v->len = i;
				memcpy(out, d + i, 1);
				return 0;
			default:
				break;
			}
			TIDE__VEC_COPIES_END
		}
	}
	return tide__vec_pop_slow(v, out);
}

static inline void tide__vec_destroy_inline(struct tide_vec *v)
{
	if (TIDE__LIKELY(v && (!v->data || tide__kv_fast_ptr(v->data)))) {
		if (v->data)
			free(v->data);
		tide__vec_reset(v);
	} else {
		tide__vec_destroy_slow(v);
	}
}

#define TIDE__VEC_PUSH_GROW(v, elem, esz) tide__vec_push_grow(v, elem, esz)
/*
 * Variadic, so that a comma no parenthesis protects in an argument (a C
 * compound literal, C++ template arguments) is passed on as it was to the
 * function: tide_vec_push(&v, &(struct pt){ 1, 2 }).
 */
#define tide_vec_destroy(...) tide__vec_destroy_inline(__VA_ARGS__)
#define tide_vec_push(v, ...) tide__vec_push_inline(v, __VA_ARGS__)
#define tide_vec_pop(v, ...) tide__vec_pop_inline(v, __VA_ARGS__)
#else
#define TIDE__VEC_PUSH_GROW(v, elem, esz) tide__vec_push_typed(v, elem, esz)
#endif

/**
 * tide_vec_insert() - insert a copy of *@elem at index @i.
 * @v: the vector.
 * @i: the index, 0..@v->len (@v->len appends).
 * @elem: the element; may point into @v itself.
 *
 * Elements from @i on move up by one.
 *
 * Context: as tide_vec_reserve().
 * Return: 0; -EINVAL (@i > len, @elem NULL, invalid @v), -EOVERFLOW,
 * -ENOMEM; on failure @v is unchanged.
 */
TIDE_API int tide_vec_insert(struct tide_vec *v, size_t i, const void *elem);

/**
 * tide_vec_remove() - remove element @i, keeping the order of the rest.
 * @v: the vector.
 * @i: the index, below @v->len.
 * @out: receives the element, or NULL.
 *
 * With %TIDE_VEC_AUTOTRIM, tide_vec_trim() and the page release follow;
 * their failure is ignored.
 *
 * Context: the owner's lock held.  Never runs reclaim.
 * Return: 0, or -EINVAL (@i >= len, invalid @v) with @v unchanged.
 */
TIDE_API int tide_vec_remove(struct tide_vec *v, size_t i, void *out);

/**
 * tide_vec_swap_remove() - remove element @i in O(1): the last one takes
 * its place.
 * @v: the vector.
 * @i: the index, below @v->len.
 * @out: receives the element, or NULL.
 *
 * With %TIDE_VEC_AUTOTRIM, tide_vec_trim() and the page release follow;
 * their failure is ignored.
 *
 * Context: the owner's lock held.  Never runs reclaim.
 * Return: 0, or -EINVAL (@i >= len, invalid @v) with @v unchanged.
 */
TIDE_API int tide_vec_swap_remove(struct tide_vec *v, size_t i, void *out);

/**
 * tide_vec_retain() - keep only the elements @keep accepts, in order.
 * @v: the vector.
 * @keep: called once per element, first to last; must not touch @v.
 * @arg: passed to @keep.
 *
 * With %TIDE_VEC_AUTOTRIM, tide_vec_trim() and the page release follow;
 * their failure is ignored.
 *
 * Context: the owner's lock held.  Never runs reclaim.
 * Return: the number of elements removed (0 for a NULL or invalid @v or a
 * NULL @keep, which change nothing).
 */
TIDE_API size_t tide_vec_retain(struct tide_vec *v,
				bool (*keep)(const void *elem, void *arg),
				void *arg);

/**
 * tide_vec_truncate() - drop every element from index @len on.
 * @v: the vector (NULL or invalid: nothing happens).
 * @len: the new length; nothing happens when it is not below @v->len.
 *
 * With %TIDE_VEC_AUTOTRIM, tide_vec_trim() and the page release follow;
 * their failure is ignored.
 *
 * Context: the owner's lock held.  Never runs reclaim.
 * Return: nothing.
 */
TIDE_API void tide_vec_truncate(struct tide_vec *v, size_t len);

/**
 * tide_vec_shrink_to() - lower the capacity to max(len, @min_capacity).
 * @v: the vector.
 * @min_capacity: the capacity not to go below.
 *
 * Nothing happens when the capacity is already at most the target.  A
 * target of 0 frees the buffer (@data NULL, @cap 0).  A heap buffer is
 * realloc()ed to the target (malloc decides what that gives back).  A paged
 * buffer shrinks only when at least one page is freed: in place, its tail
 * pages unmapped at once; otherwise it stays as it is.  Shrinking is an
 * optimization: it never runs reclaim, and on failure @v is unchanged and
 * valid.
 *
 * Context: the owner's lock held.  Never runs reclaim; may be called from a
 * shrinker callback.
 * Return: 0 (shrunk or nothing to do); -EINVAL (invalid @v), -ENOMEM (the
 * heap could not realloc; @v unchanged).
 */
TIDE_API int tide_vec_shrink_to(struct tide_vec *v, size_t min_capacity);

/**
 * tide_vec_shrink_to_fit() - tide_vec_shrink_to(@v, 0): capacity to length.
 * @v: the vector.
 *
 * Context: as tide_vec_shrink_to().
 * Return: as tide_vec_shrink_to().
 */
TIDE_API int tide_vec_shrink_to_fit(struct tide_vec *v);

/**
 * tide_vec_trim() - binder's hysteresis rule.
 * @v: the vector.
 *
 * When len < cap / 4, shrink to len * 2 (but not below 4, the smallest
 * capacity growth makes, so that push/pop around an empty vector does not
 * free and reallocate the buffer each time).  A vector of capacity 32 with 7
 * elements ends with capacity 14 and takes 7 more pushes before it grows.
 * Capacities below 4 never trim.  %TIDE_VEC_AUTOTRIM runs this after every
 * removal.
 *
 * Context: as tide_vec_shrink_to().
 * Return: 1 when the capacity went down, 0 when there was nothing to do (a
 * paged buffer that would free no page counts as nothing), or a negative
 * errno from tide_vec_shrink_to() with @v unchanged.
 */
TIDE_API int tide_vec_trim(struct tide_vec *v);

#ifdef __cplusplus
}
#endif

#endif /* TIDE_VEC_H */

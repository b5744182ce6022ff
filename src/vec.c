// SPDX-License-Identifier: MIT
/*
 * vec.c - a growable array that gives capacity back.
 *
 * The buffer is one kv block of cap * elem_size bytes.  Growth doubles;
 * shrinking is shrink_to() (the mechanism, Rust's KVVec::shrink_to) and
 * trim() (the policy, binder's hysteresis rule).  A heap buffer shrinks by
 * realloc and lets malloc decide; a paged buffer shrinks only when a whole
 * page goes back, which kv does in place by unmapping the tail.
 *
 * A paged buffer also keeps page bookkeeping (@span: how far its pages may
 * be resident).  Growth by pushes populates the pages ahead in windows, one
 * madvise(MADV_POPULATE_WRITE) instead of a fault per page; with AUTOTRIM,
 * a removal that leaves more than 2 * len bytes plus one page resident hands
 * the pages past 1.5 * len back (MADV_DONTNEED) and keeps the capacity, as
 * binder frees the pages of buffer space it no longer needs but keeps the
 * address range.  The private fields push_end and pop_floor tell the inline
 * helpers when to call in.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <tide/kv.h>
#include <tide/vec.h>

#include "internal.h"

/* Smallest capacity growth makes; trim does not go below it either. */
#define VEC_MIN_CAP 4

/* Populate-ahead window: an eighth of the span, within these bounds. */
#define VEC_POPULATE_MIN ((size_t)64 << 10)
#define VEC_POPULATE_MAX ((size_t)8 << 20)

/*
 * An AUTOTRIM paged buffer (of small pages) with at least this capacity in
 * bytes asks for transparent huge pages: its pages are populated and
 * released in whole 2 MiB pages where the page bound allows.
 */
#define VEC_THP_MIN ((size_t)8 << 20)

static bool vec_ok(const struct tide_vec *v)
{
	return v && v->elem_size && v->len <= v->cap;
}

static inline char *slot(const struct tide_vec *v, size_t i)
{
	return (char *)v->data + i * v->elem_size;
}

/* Element copies of the common sizes compile to plain moves, no call. */
static inline void copy_elem(void *dst, const void *src, size_t size)
{
	switch (size) {
	case 4:
		memcpy(dst, src, 4);
		break;
	case 8:
		memcpy(dst, src, 8);
		break;
	case 16:
		memcpy(dst, src, 16);
		break;
	default:
		memcpy(dst, src, size);
	}
}

/* ---- page bookkeeping ------------------------------------------------ */

/* Offset of the data in its first page unit. */
static inline size_t head_of(const struct tide_vec *v, size_t unit)
{
	return (uintptr_t)v->data & (unit - 1);
}

/* Start of the buffer's first page unit. */
static inline char *base_of(const struct tide_vec *v, size_t unit)
{
	return (char *)v->data - head_of(v, unit);
}

/* Span of @n elements: the page units they touch, from the base. */
static inline size_t span_for(const struct tide_vec *v, size_t unit, size_t n)
{
	return TIDE__ALIGN_UP(head_of(v, unit) + n * v->elem_size, unit);
}

/* Smallest length whose 2 * len * elem_size + @unit covers @span. */
static size_t bound_floor(const struct tide_vec *v, size_t unit, size_t span)
{
	size_t q, e = v->elem_size;

	if (span <= unit)
		return 0;
	q = span - unit;
	if (e > SIZE_MAX / 2)
		return 1;
	return q / (2 * e) + (q % (2 * e) != 0);
}

/*
 * Bring push_end and pop_floor in step with len, cap and span.  @unit is
 * the buffer's page unit (0: a heap buffer, nothing to track).
 */
static void refresh(struct tide_vec *v, size_t unit)
{
	size_t floor = 0;

	if (!unit) {
		v->span = 0;
		v->push_end = v->cap;
	} else {
		/* Live data is resident; nothing past the capacity is. */
		v->span = TIDE__MAX(v->span, span_for(v, unit, v->len));
		v->span = TIDE__MIN(v->span, span_for(v, unit, v->cap));
		v->push_end = TIDE__MIN(v->cap, (v->span - head_of(v, unit)) /
							v->elem_size);
		if (v->flags & TIDE_VEC_AUTOTRIM)
			floor = bound_floor(v, unit, v->span);
	}
	if (v->flags & TIDE_VEC_AUTOTRIM)
		floor = TIDE__MAX(floor, v->cap / 4);
	v->pop_floor = floor;
}

static inline size_t unit_of(const struct tide_vec *v)
{
	return tide__kv_unit(v->data);
}

/*
 * The buffer works in huge pages (see VEC_THP_MIN): AUTOTRIM refills and
 * releases it again and again, and a huge page is one fault (and one
 * zeroing pass) where 512 small pages are 512.  Without AUTOTRIM nothing
 * is released, and the buffer keeps the small-page windows.
 */
static inline bool thp_on(const struct tide_vec *v, size_t unit)
{
	/* cap * elem_size bytes exist: no overflow. */
	return (v->flags & TIDE_VEC_AUTOTRIM) && unit &&
	       unit < TIDE__HUGE_SIZE && v->cap * v->elem_size >= VEC_THP_MIN;
}

/* @off rounded up so that it ends on a 2 MiB boundary in memory. */
static inline size_t huge_up(const struct tide_vec *v, size_t unit, size_t off)
{
	uintptr_t b = (uintptr_t)base_of(v, unit);

	return TIDE__ALIGN_UP(b + off, TIDE__HUGE_SIZE) - b;
}

/*
 * MADV_HUGEPAGE or MADV_NOHUGEPAGE over the whole mapping (all of it: a
 * part would split the mapping, and kv's mremap() needs it whole; the
 * advice moves with it).  Only advice: a refusal changes nothing but the
 * speed.
 */
static void advise_thp(struct tide_vec *v, size_t unit, int advice)
{
	(void)tide__os_advise(base_of(v, unit), tide__kv_committed(v->data),
			      advice);
}

/* After growth: a buffer that reached VEC_THP_MIN asks for huge pages. */
static void grown_thp(struct tide_vec *v, size_t unit)
{
	if (thp_on(v, unit))
		advise_thp(v, unit, MADV_HUGEPAGE);
}

/*
 * Elements up to @need are about to be written: extend the span over them
 * and a window ahead, populating it in one call.  Population is only a
 * speed-up; when it fails the pushes fault the same pages in one by one, so
 * the bookkeeping is the same either way.
 */
static void populate_ahead(struct tide_vec *v, size_t need)
{
	size_t unit = unit_of(v), end, win, limit;

	if (!unit) {
		refresh(v, 0);
		return;
	}
	limit = span_for(v, unit, v->cap);
	win = TIDE__MIN(TIDE__MAX(v->span / 8, VEC_POPULATE_MIN),
			VEC_POPULATE_MAX);
	end = TIDE__MAX(v->span + TIDE__ALIGN_UP(win, unit),
			span_for(v, unit, need));
	/* Whole huge pages: a partly populated one stays small pages. */
	if (thp_on(v, unit))
		end = huge_up(v, unit, end);
	end = TIDE__MIN(end, limit);
	if (end > v->span)
		(void)tide__os_advise(base_of(v, unit) + v->span, end - v->span,
				      MADV_POPULATE_WRITE);
	v->span = TIDE__MAX(v->span, end);
	refresh(v, unit);
}

/*
 * AUTOTRIM's page bound: more than 2 * len bytes plus one unit resident
 * hands back the units past 1.5 * len, so that the next release is a
 * quarter of the length away (no release/refault cycle around one length).
 * A failed release is ignored; pop_floor still moves on, so that it is
 * retried a quarter further down, not on every removal.
 */
static void release_slack(struct tide_vec *v, size_t unit)
{
	size_t live = v->len * v->elem_size, target;
	bool split = false;

	refresh(v, unit);
	if (!unit || live > SIZE_MAX / 4 || v->span <= 2 * live + unit)
		return;
	target = TIDE__ALIGN_UP(head_of(v, unit) + live + live / 2, unit);
	/*
	 * With huge pages, keep whole ones (no split, and the next spike
	 * finds them whole) while that stays within 1.75 * len, leaving the
	 * next release at least an eighth of the length away; below that,
	 * release to the small-page target (one huge page is split).
	 */
	if (thp_on(v, unit)) {
		size_t h = huge_up(v, unit, target);

		if (h - head_of(v, unit) <= live + live / 2 + live / 4)
			target = h;
		else
			split = true;
	}
	if (target >= v->span)
		return;
	if (!tide__os_advise(base_of(v, unit) + target, v->span - target,
			     MADV_DONTNEED)) {
		v->span = target;
		refresh(v, unit);
		/*
		 * A split huge page must stay split: khugepaged would
		 * collapse it whole again, pages past the span included,
		 * and break the bound.  The next growth asks again.
		 */
		if (split)
			advise_thp(v, unit, MADV_NOHUGEPAGE);
		return;
	}
	v->pop_floor = TIDE__MAX(bound_floor(v, unit, target), v->cap / 4);
}

/* Span of the first @bytes bytes of the buffer. */
static inline size_t span_bytes(const struct tide_vec *v, size_t unit,
				size_t bytes)
{
	return TIDE__ALIGN_UP(head_of(v, unit) + bytes, unit);
}

/*
 * A heap buffer became paged although set_capacity() did not expect it (a
 * tide_kv_set_threshold() lowered the threshold meanwhile): page
 * bookkeeping from here on.  kv copied the old block's usable bytes, which
 * are unknown now: count every page of the capacity resident, which only
 * makes the next AUTOTRIM release come sooner.
 */
__attribute__((noinline)) static void adopt_paged(struct tide_vec *v,
						  size_t old_cap)
{
	size_t unit = unit_of(v);

	if (unit && v->cap > old_cap)
		v->span = TIDE__MAX(v->span,
				    span_for(v, unit, old_cap ? v->cap : 0));
	refresh(v, unit);
	grown_thp(v, unit);
}

/* set_capacity() for a buffer that may be paged. */
__attribute__((noinline)) static int
set_capacity_paged(struct tide_vec *v, size_t cap, size_t bytes, unsigned flags)
{
	size_t old_cap = v->cap, unit, kept = 0, usable = 0;
	void *p;

	/*
	 * Pages a failed unmap kept past the capacity may be resident.  A
	 * heap buffer that kv promotes to a paged one is copied whole, its
	 * usable size (tide_kvsize()) and not only the capacity's bytes.
	 */
	if (tide_kv_is_paged(v->data))
		kept = tide__kv_committed(v->data);
	else if (v->data)
		usable = tide_kvsize(v->data);
	p = tide_kvrealloc(v->data, bytes, flags);
	if (!p)
		return -(errno ? errno : ENOMEM);
	v->data = p;
	v->cap = cap;
	unit = unit_of(v);
	/*
	 * Growth may have copied the old contents (from a heap buffer, or
	 * kv's portable path), or reused pages a failed unmap kept: count
	 * them resident (refresh() clips to the capacity).  Paged-to-paged
	 * moves keep the pages and their offsets.
	 */
	if (unit && cap > old_cap)
		v->span = TIDE__MAX(
			v->span, TIDE__MAX(kept, span_for(v, unit, old_cap)));
	if (unit && usable)
		v->span = TIDE__MAX(
			v->span, span_bytes(v, unit, TIDE__MIN(usable, bytes)));
	/* A TIDE_ZERO shrink zeroes the tail of the last page it keeps. */
	if (unit && cap < old_cap && (flags & TIDE_ZERO))
		v->span = TIDE__MAX(v->span, span_for(v, unit, cap));
	refresh(v, unit);
	if (cap > old_cap)
		grown_thp(v, unit);
	else if (unit && (v->flags & TIDE_VEC_AUTOTRIM) && !thp_on(v, unit) &&
		 old_cap * v->elem_size >= VEC_THP_MIN)
		/* Back below the threshold: see release_slack(). */
		advise_thp(v, unit, MADV_NOHUGEPAGE);
	return 0;
}

/*
 * Give the buffer exactly @cap elements (cap > 0); 0 or -errno.  Inline:
 * a heap buffer in and out (small vectors) costs the kv call and a few
 * stores, no page bookkeeping and no kv query; what refresh(v, 0) would
 * compute.
 */
static inline int set_capacity(struct tide_vec *v, size_t cap, unsigned flags)
{
	size_t bytes, old_cap = v->cap;
	void *p;

	if (__builtin_mul_overflow(cap, v->elem_size, &bytes))
		return -EOVERFLOW;
	/* Paged, or a size kv may make paged: page bookkeeping. */
	if (__builtin_expect(tide__kv_maybe_paged(v->data) ||
				     tide__kv_may_page(bytes),
			     0))
		return set_capacity_paged(v, cap, bytes, flags);
	p = v->data ? tide_kvrealloc(v->data, bytes, flags) :
		      tide_kvmalloc(bytes, flags);
	if (__builtin_expect(!p, 0))
		return -(errno ? errno : ENOMEM);
	v->data = p;
	v->cap = cap;
	if (__builtin_expect(tide__kv_maybe_paged(p), 0)) {
		adopt_paged(v, old_cap);
		return 0;
	}
	v->span = 0;
	v->push_end = cap;
	v->pop_floor = (v->flags & TIDE_VEC_AUTOTRIM) ? cap / 4 : 0;
	return 0;
}

static int grow(struct tide_vec *v, size_t additional)
{
	size_t need, new_cap, bytes;

	if (__builtin_add_overflow(v->len, additional, &need))
		return -EOVERFLOW;
	/* cap * elem_size bytes exist: @need within the capacity fits. */
	if (need <= v->cap)
		return 0;
	new_cap = v->cap > SIZE_MAX / 2 ? SIZE_MAX : v->cap * 2;
	new_cap = TIDE__MAX(new_cap, need);
	new_cap = TIDE__MAX(new_cap, (size_t)VEC_MIN_CAP);
	/*
	 * Doubling may overflow where @need does not: fall back to @need
	 * (multiplications, not a division: this is every small vector's
	 * growth path).
	 */
	if (__builtin_mul_overflow(new_cap, v->elem_size, &bytes)) {
		if (__builtin_mul_overflow(need, v->elem_size, &bytes))
			return -EOVERFLOW;
		new_cap = need;
	}
	return set_capacity(v, new_cap, v->flags);
}

/* AUTOTRIM: shrinking is an optimization, its failure is not the caller's. */
static void autotrim_slow(struct tide_vec *v)
{
	if (v->len < v->cap / 4)
		(void)tide_vec_trim(v);
	release_slack(v, unit_of(v));
}

static inline void autotrim(struct tide_vec *v)
{
	/*
	 * The trigger is tested here so that removals stay a few loads.  The
	 * flag may have changed since the last refresh: cleared, the inline
	 * pops need no floor; set, the cap / 4 test does not wait for one.
	 */
	if (!(v->flags & TIDE_VEC_AUTOTRIM))
		v->pop_floor = 0;
	else if (v->len < v->pop_floor || v->len < v->cap / 4)
		autotrim_slow(v);
}

/* Room for @n more elements, their pages populated; 0 or -errno. */
static inline int make_room(struct tide_vec *v, size_t n)
{
	int r = grow(v, n);

	if (r)
		return r;
	if (v->len + n > v->push_end)
		populate_ahead(v, v->len + n);
	return 0;
}

void tide_vec_init(struct tide_vec *v, size_t elem_size, unsigned flags)
{
	if (!v)
		return;
	tide__vec_reset(v);
	v->elem_size = elem_size;
	v->flags = flags;
}

void tide_vec_destroy(struct tide_vec *v)
{
	if (!v)
		return;
	tide_kvfree(v->data);
	tide__vec_reset(v);
}

int tide_vec_reserve(struct tide_vec *v, size_t additional)
{
	if (!vec_ok(v))
		return -EINVAL;
	return grow(v, additional);
}

/*
 * @elem may point into the vector itself (pushing a copy of an element):
 * growing can move the buffer, so re-derive it afterwards.
 */
static const void *source_after_grow(const struct tide_vec *v, const void *old,
				     const void *elem)
{
	uintptr_t e = (uintptr_t)elem, b = (uintptr_t)old;

	if (old && e >= b && e < b + v->len * v->elem_size)
		return (const char *)v->data + (e - b);
	return elem;
}

/* Out of line, so that the fast path of tide_vec_push() saves nothing. */
__attribute__((noinline)) static int push_slow(struct tide_vec *v,
					       const void *elem)
{
	const void *old;
	int r;

	if (!vec_ok(v) || !elem)
		return -EINVAL;
	old = v->data;
	r = make_room(v, 1);
	if (r)
		return r;
	elem = source_after_grow(v, old, elem);
	copy_elem(slot(v, v->len), elem, v->elem_size);
	v->len++;
	return 0;
}

int tide_vec_push(struct tide_vec *v, const void *elem)
{
	size_t len;

	/*
	 * push_end <= cap, and is 0 while elem_size is 0: vec_ok() holds.
	 * The common sizes are copied here with no call, so that nothing
	 * needs saving across one; other sizes go the slow way (which finds
	 * room and copies).
	 */
	if (__builtin_expect(v && elem && (len = v->len) < v->push_end, 1)) {
		char *dst = (char *)v->data + len * v->elem_size;

		switch (v->elem_size) {
		case 8:
			memcpy(dst, elem, 8);
			break;
		case 4:
			memcpy(dst, elem, 4);
			break;
		case 16:
			memcpy(dst, elem, 16);
			break;
		default:
			return push_slow(v, elem);
		}
		v->len = len + 1;
		return 0;
	}
	return push_slow(v, elem);
}

int tide_vec_append(struct tide_vec *v, const void *elems, size_t n)
{
	const void *old;
	int r;

	if (!vec_ok(v) || (!elems && n))
		return -EINVAL;
	if (!n)
		return 0;
	old = v->data;
	r = make_room(v, n);
	if (r)
		return r;
	elems = source_after_grow(v, old, elems);
	/* a source inside the vector may run on into the new slots */
	memmove(slot(v, v->len), elems, n * v->elem_size);
	v->len += n;
	return 0;
}

void *tide_vec_push_slot(struct tide_vec *v)
{
	void *s;
	int r;

	if (!vec_ok(v)) {
		errno = EINVAL;
		return NULL;
	}
	r = make_room(v, 1);
	if (r) {
		errno = -r;
		return NULL;
	}
	s = slot(v, v->len);
	/* A slot left by an earlier pop holds stale bytes. */
	if (v->flags & TIDE_ZERO)
		memset(s, 0, v->elem_size);
	v->len++;
	return s;
}

__attribute__((noinline)) static int pop_slow(struct tide_vec *v, void *out)
{
	if (!vec_ok(v))
		return -EINVAL;
	if (!v->len)
		return -ENOENT;
	v->len--;
	if (out)
		copy_elem(out, slot(v, v->len), v->elem_size);
	autotrim(v);
	return 0;
}

int tide_vec_pop(struct tide_vec *v, void *out)
{
	/* The inline helper's test: above the floor, no trim due. */
	if (__builtin_expect(v && v->len > v->pop_floor && v->len <= v->cap &&
				     (!(v->flags & TIDE_VEC_AUTOTRIM) ||
				      v->len > v->cap / 4),
			     1)) {
		v->len--;
		if (out)
			copy_elem(out, slot(v, v->len), v->elem_size);
		return 0;
	}
	return pop_slow(v, out);
}

int tide_vec_insert(struct tide_vec *v, size_t i, const void *elem)
{
	const void *old;
	uintptr_t e, b;
	int r;

	if (!vec_ok(v) || !elem || i > v->len)
		return -EINVAL;
	old = v->data;
	r = make_room(v, 1);
	if (r)
		return r;
	elem = source_after_grow(v, old, elem);
	/* An element at or past @i moves up one slot before it is read. */
	e = (uintptr_t)elem;
	b = (uintptr_t)slot(v, i);
	if (e >= b && e < (uintptr_t)slot(v, v->len))
		elem = (const char *)elem + v->elem_size;
	memmove(slot(v, i + 1), slot(v, i), (v->len - i) * v->elem_size);
	memmove(slot(v, i), elem, v->elem_size);
	v->len++;
	return 0;
}

int tide_vec_remove(struct tide_vec *v, size_t i, void *out)
{
	if (!vec_ok(v) || i >= v->len)
		return -EINVAL;
	if (out)
		memcpy(out, slot(v, i), v->elem_size);
	memmove(slot(v, i), slot(v, i + 1), (v->len - i - 1) * v->elem_size);
	v->len--;
	autotrim(v);
	return 0;
}

int tide_vec_swap_remove(struct tide_vec *v, size_t i, void *out)
{
	if (!vec_ok(v) || i >= v->len)
		return -EINVAL;
	if (out)
		memcpy(out, slot(v, i), v->elem_size);
	v->len--;
	if (i != v->len)
		memcpy(slot(v, i), slot(v, v->len), v->elem_size);
	autotrim(v);
	return 0;
}

size_t tide_vec_retain(struct tide_vec *v,
		       bool (*keep)(const void *elem, void *arg), void *arg)
{
	size_t r, w = 0, removed;

	if (!vec_ok(v) || !keep)
		return 0;
	for (r = 0; r < v->len; r++) {
		if (!keep(slot(v, r), arg))
			continue;
		if (w != r)
			memcpy(slot(v, w), slot(v, r), v->elem_size);
		w++;
	}
	removed = v->len - w;
	v->len = w;
	autotrim(v);
	return removed;
}

void tide_vec_truncate(struct tide_vec *v, size_t len)
{
	if (!vec_ok(v) || len >= v->len)
		return;
	v->len = len;
	autotrim(v);
}

int tide_vec_shrink_to(struct tide_vec *v, size_t min_capacity)
{
	size_t target, bytes;

	if (!vec_ok(v))
		return -EINVAL;
	target = TIDE__MAX(v->len, min_capacity);
	if (v->cap <= target)
		return 0;
	if (!target) {
		tide_kvfree(v->data);
		v->data = NULL;
		v->cap = 0;
		refresh(v, 0);
		return 0;
	}
	bytes = target * v->elem_size; /* < cap * elem_size: no overflow */
	if (tide_kv_is_paged(v->data) &&
	    tide__kv_committed_for(v->data, bytes) >=
		    tide__kv_committed(v->data))
		return 0;
	/* Running reclaim so that a shrink succeeds would be backwards. */
	return set_capacity(v, target, v->flags | TIDE_NORECLAIM);
}

int tide_vec_shrink_to_fit(struct tide_vec *v)
{
	return tide_vec_shrink_to(v, 0);
}

int tide_vec_trim(struct tide_vec *v)
{
	size_t cap;
	int r;

	if (!vec_ok(v))
		return -EINVAL;
	if (v->len >= v->cap / 4)
		return 0;
	cap = v->cap;
	/*
	 * len*2 cannot overflow: len < cap/4.  The floor of VEC_MIN_CAP keeps
	 * push/pop around length 0 from freeing and regrowing the buffer.
	 */
	r = tide_vec_shrink_to(v, TIDE__MAX(v->len * 2, (size_t)VEC_MIN_CAP));
	if (r)
		return r;
	return v->cap != cap;
}

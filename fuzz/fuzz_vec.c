// SPDX-License-Identifier: MIT
/*
 * fuzz_vec.c - vec operation sequences against a plain array model.
 *
 * Input: one header byte (element size, AUTOTRIM, TIDE_ZERO, kv threshold),
 * then operations of four bytes (op, fault, 16-bit argument).  After every
 * operation the vector must hold exactly the model's elements; growth must
 * follow max(2*cap, len+additional, 4); a heap trim must land on
 * max(2*len, 4); an operation that fails (injected fault) must leave the
 * vector exactly as it was.
 */
#include <errno.h>
#include <sys/mman.h>
#include <tide.h>

#include "fuzz.h"

static const size_t elem_sizes[8] = { 1, 2, 4, 8, 12, 16, 24, 100 };
static const size_t thresholds[4] = { TIDE_KV_DEFAULT_THRESHOLD, 0, 4096, 256 };

struct model {
	unsigned char *b;
	size_t len, es;
};

static void model_insert(struct model *m, size_t i, const void *e)
{
	unsigned char *b = realloc(m->b, (m->len + 1) * m->es);

	FZ_CHECK(b);
	m->b = b;
	memmove(b + (i + 1) * m->es, b + i * m->es, (m->len - i) * m->es);
	memcpy(b + i * m->es, e, m->es);
	m->len++;
}

static void model_remove(struct model *m, size_t i)
{
	memmove(m->b + i * m->es, m->b + (i + 1) * m->es,
		(m->len - i - 1) * m->es);
	m->len--;
}

static bool keep_bit(const void *e, void *arg)
{
	return (*(const unsigned char *)e >> (*(unsigned *)arg & 7)) & 1;
}

/*
 * The page bookkeeping of a paged buffer: no page of the capacity at or
 * past @span is resident (mincore), and after a removal with AUTOTRIM the
 * span is within 2 * len bytes plus one page.
 */
static void check_pages(const struct tide_vec *v, bool removal)
{
	size_t unit = tide__kv_unit(v->data), head, end;
	unsigned char *vec;
	char *base;

	FZ_CHECK(v->push_end <= v->cap);
	if (v->flags & TIDE_VEC_AUTOTRIM)
		FZ_CHECK(v->pop_floor >= v->cap / 4);
	else
		FZ_CHECK(!v->pop_floor);
	if (!unit)
		return;
	head = (uintptr_t)v->data & (unit - 1);
	base = (char *)v->data - head;
	end = TIDE__ALIGN_UP(head + v->cap * v->elem_size, unit);
	FZ_CHECK(v->span >= TIDE__ALIGN_UP(head + v->len * v->elem_size, unit));
	FZ_CHECK(v->span <= end);
	vec = malloc(end / unit + 1);
	FZ_CHECK(vec);
	FZ_CHECK(!mincore(base, end, vec));
	for (size_t pg = v->span / unit; pg < end / unit; pg++)
		FZ_CHECK(!(vec[pg] & 1));
	free(vec);
	if (removal && (v->flags & TIDE_VEC_AUTOTRIM))
		FZ_CHECK(v->span <= 2 * v->len * v->elem_size + unit);
}

static void check_same(const struct tide_vec *v, const struct model *m)
{
	FZ_CHECK(v->len == m->len);
	FZ_CHECK(v->cap >= v->len);
	FZ_CHECK(v->cap || !v->data);
	if (m->len)
		FZ_CHECK(!memcmp(v->data, m->b, m->len * m->es));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	uint8_t hdr = fz_u8(&f);
	struct model m = { NULL, 0, elem_sizes[hdr & 7] };
	unsigned flags =
		(hdr & 8 ? TIDE_VEC_AUTOTRIM : 0) | (hdr & 16 ? TIDE_ZERO : 0);
	unsigned char elem[100], out[100], run[4 * 100], *snap = NULL;
	unsigned counter = 0;
	bool faulted = false;
	struct tide_vec v;

	tide_kv_set_threshold(thresholds[(hdr >> 5) & 3]);
	tide_vec_init(&v, m.es, flags);
	while (f.n) {
		uint8_t op = fz_u8(&f) % 16, fault = fz_u8(&f);
		size_t arg = fz_u16(&f) % 2048;
		struct tide_vec before = v;
		size_t i = m.len ? arg % m.len : 0;
		unsigned bit = (unsigned)arg;
		size_t added = op == 13 ? arg : 1; /* what growth is for */
		bool was_paged;
		void *slot;
		int r = 0;

		for (size_t j = 0; j < m.es; j++)
			elem[j] = (unsigned char)(counter + j * 7);
		counter++;
		free(snap);
		snap = malloc(m.len * m.es + 1);
		FZ_CHECK(snap);
		if (m.len)
			memcpy(snap, v.data, m.len * m.es);
		was_paged = tide_kv_is_paged(v.data);
		fz_arm(fault);
		switch (op) {
		case 0:
			if (arg & 1) {
				/* append 0..4: copies of elem, or the
				 * vector's own last ones */
				const void *src = run;

				added = (arg >> 1) % 5;
				for (size_t j = 0; j < added * m.es; j++)
					run[j] =
						(unsigned char)(elem[j % m.es] +
								j / m.es);
				if ((arg & 64) && m.len >= added && added) {
					src = (char *)v.data +
					      (m.len - added) * m.es;
					memcpy(run, src, added * m.es);
				}
				r = tide_vec_append(&v, src, added);
				for (size_t j = 0; !r && j < added; j++)
					model_insert(&m, m.len, run + j * m.es);
				break;
			}
			/* fall through */
		case 1:
			/* op 1: the typed inline helper, where the size allows. */
			if (op == 1 && m.es == sizeof(uint64_t)) {
				uint64_t x;

				memcpy(&x, elem, sizeof(x));
				r = tide_vec_push_val(&v, uint64_t, x);
			} else {
				r = tide_vec_push(&v, elem);
			}
			if (!r)
				model_insert(&m, m.len, elem);
			break;
		case 2:
			slot = tide_vec_push_slot(&v);
			r = slot ? 0 : -errno;
			if (slot) {
				if (flags & TIDE_ZERO)
					for (size_t j = 0; j < m.es; j++)
						FZ_CHECK(!((unsigned char *)
								   slot)[j]);
				memcpy(slot, elem, m.es);
				model_insert(&m, m.len, elem);
			}
			break;
		case 3:
			r = tide_vec_insert(&v, m.len ? arg % (m.len + 1) : 0,
					    elem);
			if (!r)
				model_insert(&m, m.len ? arg % (m.len + 1) : 0,
					     elem);
			break;
		case 4:
		case 5:
			/* op 5: the typed inline helper, where the size allows. */
			if (op == 5 && m.es == sizeof(uint64_t)) {
				uint64_t x;

				r = tide_vec_pop_val(&v, uint64_t, &x);
				memcpy(out, &x, sizeof(x));
			} else {
				r = tide_vec_pop(&v, out);
			}
			if (!m.len) {
				FZ_CHECK(r == -ENOENT);
				r = 0;
				break;
			}
			FZ_CHECK(!r);
			FZ_CHECK(!memcmp(out, m.b + (m.len - 1) * m.es, m.es));
			m.len--;
			break;
		case 6:
			r = tide_vec_remove(&v, m.len ? i : 0, out);
			if (!m.len) {
				FZ_CHECK(r == -EINVAL);
				r = 0;
				break;
			}
			FZ_CHECK(!r);
			FZ_CHECK(!memcmp(out, m.b + i * m.es, m.es));
			model_remove(&m, i);
			break;
		case 7:
			r = tide_vec_swap_remove(&v, m.len ? i : 0, out);
			if (!m.len) {
				FZ_CHECK(r == -EINVAL);
				r = 0;
				break;
			}
			FZ_CHECK(!r);
			FZ_CHECK(!memcmp(out, m.b + i * m.es, m.es));
			memcpy(m.b + i * m.es, m.b + (m.len - 1) * m.es, m.es);
			m.len--;
			break;
		case 8: {
			size_t w = 0,
			       removed = tide_vec_retain(&v, keep_bit, &bit);

			for (size_t k = 0; k < m.len; k++)
				if (keep_bit(m.b + k * m.es, &bit))
					memmove(m.b + w++ * m.es,
						m.b + k * m.es, m.es);
			FZ_CHECK(removed == m.len - w);
			m.len = w;
			break;
		}
		case 9:
			tide_vec_truncate(&v, arg % 64);
			m.len = TIDE__MIN(m.len, arg % 64);
			break;
		case 10:
			r = tide_vec_shrink_to(&v, arg % 256);
			if (!r && !was_paged)
				FZ_CHECK(
					v.cap ==
					TIDE__MIN(before.cap,
						  TIDE__MAX(m.len, arg % 256)));
			break;
		case 11:
			r = tide_vec_shrink_to_fit(&v);
			break;
		case 12:
			r = tide_vec_trim(&v);
			if (r > 0) {
				FZ_CHECK(v.cap < before.cap);
				r = 0;
			} else if (!r) {
				FZ_CHECK(v.cap == before.cap);
				/* A heap buffer that qualifies always trims. */
				FZ_CHECK(tide_kv_is_paged(v.data) ||
					 m.len >= before.cap / 4 ||
					 TIDE__MAX(m.len * 2, 4) >= before.cap);
			}
			if (r >= 0 && v.cap < before.cap &&
			    !tide_kv_is_paged(v.data))
				FZ_CHECK(v.cap == TIDE__MAX(m.len * 2, 4));
			break;
		case 13:
			r = tide_vec_reserve(&v, arg);
			break;
		case 14:
			tide_vec_destroy(&v);
			FZ_CHECK(!v.data && !v.cap && !v.len);
			m.len = 0;
			break;
		case 15: {
			/* Impossible requests fail and change nothing. */
			size_t need, bytes;
			bool ovf = __builtin_add_overflow(m.len, SIZE_MAX - arg,
							  &need) ||
				   __builtin_mul_overflow(need, m.es, &bytes);

			tide__fault_clear();
			FZ_CHECK(tide_vec_reserve(&v, SIZE_MAX - arg) ==
				 (ovf ? -EOVERFLOW : -ENOMEM));
			break;
		}
		}
		/*
		 * A failed release is retried only a quarter further down:
		 * the bound holds again once the vector starts afresh.
		 */
		if ((fault & 0x0f) && tide__fault_hits())
			faulted = true;
		if (op == 14)
			faulted = false;
		check_pages(&v, m.len < before.len && !faulted);
		tide__fault_clear();
		if (r) {
			FZ_CHECK(r == -ENOMEM);
			FZ_CHECK(v.data == before.data && v.len == before.len &&
				 v.cap == before.cap);
			FZ_CHECK(!before.len ||
				 !memcmp(v.data, snap, before.len * m.es));
		} else if (v.cap > before.cap && before.cap >= before.len &&
			   op != 14) {
			/* Growth: max(2 * cap, len + additional, 4). */
			size_t need = before.len + added;

			FZ_CHECK(v.cap ==
				 TIDE__MAX(TIDE__MAX(2 * before.cap, need), 4));
		}
		check_same(&v, &m);
	}
	tide_vec_destroy(&v);
	free(m.b);
	free(snap);
	return 0;
}

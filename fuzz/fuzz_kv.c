// SPDX-License-Identifier: MIT
/*
 * fuzz_kv.c - kv alloc/realloc/free sequences over eight slots.
 *
 * Input: one header byte (paged threshold), then operations of six bytes
 * (op and slot, fault, flags, 24-bit size scaled up to 6 MiB).  Every
 * block carries a pattern seeded per slot; after every resize the bytes up
 * to the smaller size must survive, bytes added with TIDE_ZERO must read
 * zero, tide_kvsize() must be the size asked for (paged) or the usable
 * size (heap) and tide_kvresident() at least that.  A failed call
 * (injected fault) must leave the block exactly as it was.
 */
#include <errno.h>
#include <malloc.h>

#include <tide.h>

#include "fuzz.h"

#define SLOTS 8

static const size_t thresholds[4] = { TIDE_KV_DEFAULT_THRESHOLD, 0, 4096,
				      1 << 20 };

struct slot {
	unsigned char *p;
	size_t size;
	unsigned flags; /* the block's TIDE_ZERO and TIDE_HUGE, every call */
	unsigned char seed;
};

static void fill(unsigned char *p, size_t from, size_t to, unsigned char seed)
{
	for (size_t i = from; i < to; i++)
		p[i] = (unsigned char)(i * 131 + seed);
}

/* Checking every byte of big blocks is slow: check the edges and a stride. */
static void check_pattern(const unsigned char *p, size_t n, unsigned char seed)
{
	for (size_t i = 0; i < n;) {
		FZ_CHECK(p[i] == (unsigned char)(i * 131 + seed));
		i += i < 8192 || n - i < 8192 ? 1 : 4093;
	}
}

static void check_zero(const unsigned char *p, size_t from, size_t to)
{
	for (size_t i = from; i < to;) {
		if (p[i] && getenv("FUZZ_TRACE"))
			fprintf(stderr, "byte %zu of [%zu, %zu) is %#x\n", i,
				from, to, p[i]);
		FZ_CHECK(!p[i]);
		i += i - from < 8192 || to - i < 8192 ? 1 : 4093;
	}
}

static void check_slot(const struct slot *s)
{
	if (!s->p)
		return;
	/* paged: the size asked for; heap: malloc_usable_size() */
	FZ_CHECK(tide_kvsize(s->p) ==
		 (tide_kv_is_paged(s->p) ? s->size : malloc_usable_size(s->p)));
	FZ_CHECK(tide_kvsize(s->p) >= s->size);
	FZ_CHECK(tide_kvresident(s->p) >= s->size);
	FZ_CHECK((uintptr_t)s->p % _Alignof(max_align_t) == 0);
	check_pattern(s->p, s->size, s->seed);
}

/* Sizes spread over heap, page and huge ranges: 0 .. 6 MiB. */
static size_t size_of(uint32_t x)
{
	switch (x & 3) {
	case 0:
		return (x >> 2) % 512;
	case 1:
		return (x >> 2) % (256 << 10);
	case 2:
		return (x >> 2) % (6 << 20);
	default:
		return (size_t)((x >> 2) % 16) << 12; /* whole pages */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct slot s[SLOTS] = { 0 };
	unsigned char seed = 1;

	tide_kv_set_threshold(thresholds[fz_u8(&f) & 3]);
	while (f.n) {
		uint8_t op = fz_u8(&f), fault = fz_u8(&f);
		unsigned flags = fz_u8(&f) & (TIDE_ZERO | TIDE_HUGE);
		uint32_t x = fz_u8(&f) | fz_u16(&f) << 8;
		struct slot *t = &s[op % SLOTS];
		size_t n = size_of(x);
		unsigned char *q;

		/* TIDE_ZERO goes with every call for a block, or none. */
		if (t->p)
			flags = t->flags;
		if (getenv("FUZZ_TRACE"))
			fprintf(stderr,
				"slot %d op %d fault %#x flags %#x size %zu "
				"(has %p size %zu)\n",
				op % SLOTS, (op >> 3) % 4, fault, flags, n,
				(void *)t->p, t->size);
		fz_arm(fault);
		switch ((op >> 3) % 4) {
		case 0: /* malloc or calloc into an empty slot */
			if (t->p)
				break;
			errno = 0;
			q = (op & 0x20) ? tide_kvcalloc(n, 1, flags) :
					  tide_kvmalloc(n, flags);
			if (!q) {
				FZ_CHECK(errno == ENOMEM);
				break;
			}
			if ((op & 0x20) || (flags & TIDE_ZERO))
				check_zero(q, 0, n);
			t->p = q;
			t->size = n;
			t->flags = flags | ((op & 0x20) ? TIDE_ZERO : 0);
			t->seed = seed++;
			fill(q, 0, n, t->seed);
			break;
		case 1:
		case 2: /* realloc, possibly from NULL or to 0 */
			errno = 0;
			q = tide_kvrealloc(t->p, n, flags);
			/* (NULL, 0) allocates a size-0 block, (p, 0) frees. */
			if (!n && t->p) {
				FZ_CHECK(!q);
				t->p = NULL;
				t->size = 0;
				break;
			}
			if (!q) {
				FZ_CHECK(errno == ENOMEM);
				break;
			}
			if (!t->p)
				t->seed = seed++;
			else
				check_pattern(q, TIDE__MIN(t->size, n),
					      t->seed);
			if ((flags & TIDE_ZERO) && n > t->size)
				check_zero(q, t->p ? t->size : 0, n);
			fill(q, t->p ? TIDE__MIN(t->size, n) : 0, n, t->seed);
			t->p = q;
			t->flags = flags;
			t->size = n;
			break;
		case 3: /* free */
			tide_kvfree(t->p);
			t->p = NULL;
			t->size = 0;
			break;
		}
		tide__fault_clear();
		check_slot(t);
	}
	for (int i = 0; i < SLOTS; i++) {
		check_slot(&s[i]);
		tide_kvfree(s[i].p);
	}
	return 0;
}

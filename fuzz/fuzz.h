/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - shared by the libFuzzer targets: a reader that turns the input
 * into small numbers (zeros once it runs out) and a check that aborts, so
 * libFuzzer records the input as a crash.
 */
#ifndef TIDE_FUZZ_H
#define TIDE_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fz_u8(struct fz *f)
{
	if (!f->n)
		return 0;
	f->n--;
	return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
	uint16_t lo = fz_u8(f);

	return (uint16_t)(lo | fz_u8(f) << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
	uint32_t lo = fz_u16(f);

	return lo | (uint32_t)fz_u16(f) << 16;
}

#define FZ_CHECK(cond)                                                         \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/*
 * Arm fault injection for the next call when the input says so: 0 = none,
 * else the call to fail (1..8) and whether every later one fails too.
 */
static inline void fz_arm(uint8_t b)
{
	if (b & 0x0f)
		tide__fault_set((b & 7) + 1, b & 0x10);
}

#endif /* TIDE_FUZZ_H */

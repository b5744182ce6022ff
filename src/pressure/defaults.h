/* SPDX-License-Identifier: MIT */
/*
 * defaults.h - the monitor's "no limit" and default watermarks, shared with
 * the preload shim's settings (preload/settings.c), which checks what a user
 * sets against what the monitor would take.
 */
#ifndef TIDE_PRESSURE_DEFAULTS_H
#define TIDE_PRESSURE_DEFAULTS_H

#include <stdint.h>

/* A limit at or above this is "no limit" (v1 shows PAGE_COUNTER_MAX). */
#define TIDE__NO_LIMIT (UINT64_C(1) << 60)

/*
 * A limit or watermark under this cannot be meant: no program is resident
 * in less (a dash under the preload shim: 1.8 MiB), so usage would always
 * be above it and reclaim would run without end (TIDE_LIMIT=1 made the
 * shim's monitor spin at 4% of a CPU).  The shim ignores such a setting
 * with a warning; ctl's "watermarks" refuses it.
 */
#define TIDE__WATERMARK_FLOOR (UINT64_C(1) << 20)

/* The default high watermark of @limit: 3/4 of it. */
static inline uint64_t tide__default_high(uint64_t limit)
{
	return limit - limit / 4;
}

/* The default low watermark of @limit: 5/8 of it. */
static inline uint64_t tide__default_low(uint64_t limit)
{
	return limit - limit / 8 * 3;
}

/* The low watermark of a high watermark given alone: 7/8 of @high. */
static inline uint64_t tide__low_of_high(uint64_t high)
{
	return high - high / 8;
}

#endif /* TIDE_PRESSURE_DEFAULTS_H */

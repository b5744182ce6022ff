// SPDX-License-Identifier: MIT
/*
 * shrinker.c - the shrinker registry and reclaim.  (Being written: only the
 * direct-reclaim entry points kv needs exist yet.)
 */
#include "internal.h"

static _Thread_local bool in_reclaim;

bool tide__in_reclaim(void)
{
	return in_reclaim;
}

unsigned long tide__direct_reclaim(int priority, unsigned flags)
{
	(void)priority;
	(void)flags;
	return 0;
}

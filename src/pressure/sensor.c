// SPDX-License-Identifier: MIT
/*
 * sensor.c - the allocation as a pressure sensor (see internal.h).
 *
 * Interface stub: no limit watcher arms it yet, so charging does nothing.
 */
#include "internal.h"

void tide__sensor_charge(size_t bytes, unsigned flags)
{
	(void)bytes;
	(void)flags;
}

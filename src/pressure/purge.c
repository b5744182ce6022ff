// SPDX-License-Identifier: MIT
/*
 * purge.c - give the process allocator's free memory back to the kernel.
 *
 * Interface stub: glibc's malloc_trim(0) only, nothing measured yet.
 */
#include <pthread.h>

#include <tide/pressure.h>

#include "internal.h"

static pthread_mutex_t purge_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tide_purge_stats purge_st = { .allocator = "glibc" };

unsigned long tide_purge(void)
{
	tide__os_heap_trim();
	pthread_mutex_lock(&purge_lock);
	purge_st.calls++;
	pthread_mutex_unlock(&purge_lock);
	return 0;
}

const char *tide_purge_allocator(void)
{
	return "glibc";
}

void tide_purge_stats(struct tide_purge_stats *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&purge_lock);
	*st = purge_st;
	pthread_mutex_unlock(&purge_lock);
}

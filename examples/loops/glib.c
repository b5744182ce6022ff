// SPDX-License-Identifier: MIT
/*
 * glib.c - a cache server on GLib's main loop giving memory back.
 *
 * The monitor's descriptor is one more source of the loop
 * (g_unix_fd_add()); when it is readable, tide_monitor_dispatch() runs the
 * reclaim on the loop's thread, so the cache's shrinker needs no lock.
 */
#define _GNU_SOURCE /* mkdtemp, setenv (cache.h) */
#include <glib-unix.h>
#include <glib.h>

#include "cache.h"

static GMainLoop *loop;

static gboolean on_pressure(gint fd, GIOCondition cond, gpointer m)
{
	(void)fd;
	(void)cond;
	tide_monitor_dispatch(m); /* reclaim happens here, on this thread */
	if (cache_answered(m))
		g_main_loop_quit(loop);
	return G_SOURCE_CONTINUE;
}

static gboolean on_request(gpointer unused)
{
	int r = cache_serve();

	(void)unused;
	if (r < 0)
		g_main_loop_quit(loop);
	return r ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

static gboolean on_timeout(gpointer unused)
{
	(void)unused;
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

int main(void)
{
	struct tide_monitor *m;

	if (cache_setup(&m))
		return 1;
	loop = g_main_loop_new(NULL, FALSE);
	g_unix_fd_add(tide_monitor_fd(m), G_IO_IN, on_pressure, m);
	g_timeout_add(1, on_request, NULL);
	g_timeout_add_seconds(10, on_timeout, NULL);
	g_main_loop_run(loop);
	g_main_loop_unref(loop);
	return cache_check(m);
}

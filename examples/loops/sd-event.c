// SPDX-License-Identifier: MIT
/*
 * sd-event.c - a cache server on systemd's sd-event giving memory back.
 *
 * The monitor's descriptor is an I/O source of the event loop; when it is
 * readable, tide_monitor_dispatch() runs the reclaim on the loop's thread,
 * so the cache's shrinker needs no lock.  (sd-event has its own
 * sd_event_add_memory_pressure(); this is the same loop with tide's
 * monitor, its levels, limit watcher and shrinkers.)
 */
#define _GNU_SOURCE /* mkdtemp, setenv (cache.h) */
#include <systemd/sd-event.h>

#include "cache.h"

static int on_pressure(sd_event_source *s, int fd, uint32_t events, void *m)
{
	(void)fd;
	(void)events;
	tide_monitor_dispatch(m); /* reclaim happens here, on this thread */
	if (cache_answered(m))
		sd_event_exit(sd_event_source_get_event(s), 0);
	return 0;
}

static int on_request(sd_event_source *s, uint64_t usec, void *unused)
{
	int r = cache_serve();

	(void)usec;
	(void)unused;
	if (r < 0)
		return sd_event_exit(sd_event_source_get_event(s), 1);
	if (r)
		return sd_event_source_set_enabled(s, SD_EVENT_OFF);
	return sd_event_source_set_time_relative(s, 1000);
}

int main(void)
{
	sd_event_source *io = NULL, *req = NULL, *timeout = NULL;
	struct tide_monitor *m;
	sd_event *e = NULL;

	if (cache_setup(&m) || sd_event_default(&e) < 0)
		return 1;
	if (sd_event_add_io(e, &io, tide_monitor_fd(m), EPOLLIN, on_pressure,
			    m) < 0 ||
	    sd_event_add_time_relative(e, &req, CLOCK_MONOTONIC, 1000, 1,
				       on_request, NULL) < 0 ||
	    sd_event_source_set_enabled(req, SD_EVENT_ON) < 0 ||
	    sd_event_add_time_relative(e, &timeout, CLOCK_MONOTONIC,
				       10 * 1000000, 0, NULL, NULL) < 0)
		return 1;
	sd_event_loop(e);
	sd_event_source_unref(io);
	sd_event_source_unref(req);
	sd_event_source_unref(timeout);
	sd_event_unref(e);
	return cache_check(m);
}

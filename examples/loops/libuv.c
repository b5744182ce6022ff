// SPDX-License-Identifier: MIT
/*
 * libuv.c - a cache server on libuv giving memory back.
 *
 * The monitor's descriptor is watched with a uv_poll_t; when it is
 * readable, tide_monitor_dispatch() runs the reclaim on the loop's thread,
 * so the cache's shrinker needs no lock.
 */
#define _GNU_SOURCE /* mkdtemp, setenv (cache.h) */
#include <uv.h>

#include "cache.h"

static uv_poll_t pressure;
static uv_timer_t request, timeout;

static void stop(void)
{
	uv_poll_stop(&pressure);
	uv_timer_stop(&request);
	uv_timer_stop(&timeout);
}

static void on_pressure(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	tide_monitor_dispatch(h->data); /* reclaim happens here */
	if (cache_answered(h->data))
		stop();
}

static void on_request(uv_timer_t *h)
{
	int r = cache_serve();

	if (r)
		uv_timer_stop(h);
	if (r < 0)
		stop();
}

static void on_timeout(uv_timer_t *h)
{
	(void)h;
	stop();
}

int main(void)
{
	uv_loop_t *loop = uv_default_loop();
	struct tide_monitor *m;

	if (cache_setup(&m))
		return 1;
	uv_poll_init(loop, &pressure, tide_monitor_fd(m));
	pressure.data = m;
	uv_poll_start(&pressure, UV_READABLE, on_pressure);
	uv_timer_init(loop, &request);
	uv_timer_start(&request, on_request, 1, 1);
	uv_timer_init(loop, &timeout);
	uv_timer_start(&timeout, on_timeout, 10000, 0);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&pressure, NULL);
	uv_close((uv_handle_t *)&request, NULL);
	uv_close((uv_handle_t *)&timeout, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	return cache_check(m);
}

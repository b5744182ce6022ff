// SPDX-License-Identifier: MIT
/*
 * budget.c - the budget source: process RSS (minus LazyFree) or the own
 * cgroup's usage, polled, against watermarks the program sets (and may
 * change at run time with tide_monitor_set_watermarks()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "pressure/cgroup.h"
#include "pressure/source.h"

#define DEFAULT_RSS_PATH "/proc/self/smaps_rollup"
#define DEFAULT_POLL_MS 100

/*
 * fd slots: FD_USAGE for TIDE_BUDGET_CGROUP, FD_RSS for TIDE_BUDGET_RSS.
 * The RSS file stays open: a read from offset 0 generates smaps_rollup
 * afresh (seq_file), so a poll needs no descriptor of its own (but a
 * stat(), to follow a file replaced by another, see rss_follow()).
 */
enum { FD_USAGE, FD_RSS };

/*
 * A file put in the RSS path's place (rename(), or removed and written
 * anew: how tools replace files) is opened in place of the old one; if
 * that cannot be done now, the old one is read and it is tried again at
 * the next poll.  /proc/self/smaps_rollup stays one file.  The core calls
 * this under the monitor's lock, which the fork handler takes: a child
 * never sees the new descriptor open and the old not yet closed.
 */
static void rss_follow(struct tide__src *s)
{
	struct stat now, held;
	int fd;

	if (s->fd[FD_RSS] < 0 || tide__os_stat(s->dir, &now) ||
	    tide__os_fstat(s->fd[FD_RSS], &held) ||
	    (now.st_ino == held.st_ino && now.st_dev == held.st_dev))
		return;
	fd = tide__file_open(s->dir, false, false);
	if (fd < 0)
		return;
	tide__os_close(s->fd[FD_RSS]);
	s->fd[FD_RSS] = fd;
}

static int budget_read(struct tide__src *s, uint64_t *ret)
{
	char buf[4096];
	uint64_t rss, lazy;
	int r;

	if (s->fd[FD_USAGE] >= 0) {
		r = tide__file_read(s->fd[FD_USAGE], NULL, buf, 64);
		return r ? r : tide__parse_u64(buf, ret);
	}
	r = tide__file_read(s->fd[FD_RSS], NULL, buf, sizeof(buf));
	if (r)
		return r;
	/* "Rss: N kB" (required) and "LazyFree: N kB" (kernels before 5.4
	 * lack it): digits then " kB", or the file is not what it should be
	 * (-EINVAL); a count past 64 bits of bytes saturates. */
	r = tide__kb_value(buf, "Rss", &rss);
	if (r)
		return -EINVAL;
	r = tide__kb_value(buf, "LazyFree", &lazy);
	if (r == -ENOENT)
		lazy = 0;
	else if (r)
		return r;
	*ret = rss == UINT64_MAX ? rss : rss > lazy ? rss - lazy : 0;
	return 0;
}

static int open_usage(const char *dir, const char *file)
{
	char *path = tide__path_join(dir, file);
	int fd;

	if (!path)
		return -ENOMEM;
	fd = tide__file_open(path, false, false);
	tide__os_free(path);
	return fd;
}

static int budget_open(struct tide__src *s, const struct tide__src_env *env)
{
	const struct tide_monitor_config *cfg = env->cfg;
	const struct tide__cg_limit *cg = env->cg;
	uint64_t v;
	int r;

	if (!cfg->high_watermark)
		return -ENODEV;
	r = tide__src_watermarks(s, cfg, cfg->limit);
	if (r)
		return r;
	/* the configured limit is the effective one (percentages and the
	 * defaults of tide_monitor_set_watermarks' callers take it) */
	s->limit = cfg->limit;
	s->file = cfg->limit ? "config" : NULL;
	s->poll_ms =
		cfg->poll_interval_ms ? cfg->poll_interval_ms : DEFAULT_POLL_MS;
	if (cfg->budget == TIDE_BUDGET_RSS) {
		s->dir = tide__strdup(cfg->rss_path ? cfg->rss_path :
						      DEFAULT_RSS_PATH);
		if (!s->dir)
			return -ENOMEM;
		s->fd[FD_RSS] = tide__file_open(s->dir, false, false);
		if (s->fd[FD_RSS] < 0) {
			r = s->fd[FD_RSS];
			s->fd[FD_RSS] = -1;
			return r;
		}
		/* Fail now, not at the first poll, if it cannot be read. */
		return budget_read(s, &v);
	}
	if (cfg->budget != TIDE_BUDGET_CGROUP)
		return -EINVAL;
	/* The own groups as the monitor's discovery found them (through the
	 * configuration's paths): nothing to find where it found none. */
	s->fd[FD_USAGE] = -ENODEV;
	if (cfg->cgroup2_dir || cg->own_v2)
		s->fd[FD_USAGE] = open_usage(
			cfg->cgroup2_dir ? cfg->cgroup2_dir : cg->own_v2,
			"memory.current");
	if (s->fd[FD_USAGE] >= 0 || tide__os_exhausted(s->fd[FD_USAGE]))
		goto out;
	if (cfg->cgroup1_dir || cg->own_v1)
		s->fd[FD_USAGE] = open_usage(
			cfg->cgroup1_dir ? cfg->cgroup1_dir : cg->own_v1,
			"memory.usage_in_bytes");
	else
		s->fd[FD_USAGE] = -ENODEV;
out:
	r = s->fd[FD_USAGE] < 0 ? s->fd[FD_USAGE] : 0;
	if (r)
		s->fd[FD_USAGE] = -1;
	return r;
}

static bool budget_handle(struct tide__src *s, int i, uint32_t events,
			  enum tide_pressure_level *level, bool *check)
{
	(void)s;
	(void)i;
	(void)events;
	(void)level;
	*check = true;
	return false;
}

static unsigned budget_next_poll(const struct tide__src *s, uint64_t value)
{
	(void)value;
	return s->poll_ms;
}

static void budget_close(struct tide__src *s)
{
	tide__os_free(s->dir);
	s->dir = NULL;
}

const struct tide__src_ops tide__src_budget_ops = {
	.open = budget_open,
	.follow = rss_follow,
	.handle = budget_handle,
	.read = budget_read,
	.next_poll = budget_next_poll,
	.close = budget_close,
};

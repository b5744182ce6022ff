// SPDX-License-Identifier: MIT
/*
 * cgroup.c - effective limit discovery and working set (see cgroup.h).
 *
 * Interface stub: discovery finds no limit; the parsers refuse everything.
 */
#include <errno.h>
#include <string.h>

#include "pressure/cgroup.h"

int tide__cg_parse_self(const char *text, char **ret_v1, char **ret_v2)
{
	(void)text;
	(void)ret_v1;
	(void)ret_v2;
	return -ENODEV;
}

int tide__mount_parse(char *line, struct tide__mount *ret)
{
	(void)line;
	(void)ret;
	return -EINVAL;
}

int tide__cg_stat_value(const char *text, const char *key, uint64_t *ret)
{
	(void)text;
	(void)key;
	(void)ret;
	return -ENOENT;
}

int tide__cg_discover(const struct tide__cg_paths *paths,
		      struct tide__cg_limit *ret)
{
	(void)paths;
	memset(ret, 0, sizeof(*ret));
	ret->limit = UINT64_MAX;
	return 0;
}

void tide__cg_release(struct tide__cg_limit *l)
{
	(void)l;
}

int tide__cg_ws_open(const char *dir, int version, struct tide__cg_ws *ret)
{
	(void)dir;
	(void)version;
	(void)ret;
	return -ENODEV;
}

int tide__cg_ws_read(const struct tide__cg_ws *ws, uint64_t *ret_ws,
		     uint64_t *ret_usage)
{
	(void)ws;
	(void)ret_ws;
	(void)ret_usage;
	return -ENODEV;
}

void tide__cg_ws_close(struct tide__cg_ws *ws)
{
	(void)ws;
}

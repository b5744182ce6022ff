/* SPDX-License-Identifier: MIT */
/*
 * proc.h - the one reader of /proc and cgroup files shared by the tests
 * (tests/harness.h), the benchmarks (bench/bench.h) and the tools
 * (tools/demo/).  Header-only and not part of the library: nothing here is
 * exported from libtide.
 *
 * Values are read afresh on every call; -1 means the file or the key is
 * missing.  Sizes are in the file's own unit (kB for /proc, bytes for
 * cgroup files).
 */
#ifndef TIDE_TOOLS_PROC_H
#define TIDE_TOOLS_PROC_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * The number after @key on the first line of @path that starts with it.
 * @key is either "Name:" (/proc style) or "name" (cgroup "key value" style,
 * where the key must be followed by a blank, so "cache" does not match
 * "cache_x").  An empty @key reads the first number of the file.
 */
static inline long long tproc_value(const char *path, const char *key)
{
	char line[512];
	size_t n = strlen(key);
	long long v = -1;
	FILE *f = fopen(path, "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, n))
			continue;
		if (n && key[n - 1] != ':' && line[n] != ' ' && line[n] != '\t')
			continue;
		if (sscanf(line + n, "%lld", &v) == 1)
			break;
		v = -1;
	}
	fclose(f);
	return v;
}

/* tproc_value() of the file @file in the directory @dir (a cgroup). */
static inline long long tproc_dir_value(const char *dir, const char *file,
					const char *key)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return tproc_value(path, key);
}

/* Write @val to @dir/@file (a cgroup control file): 0 or -errno. */
static inline int tproc_dir_write(const char *dir, const char *file,
				  const char *val)
{
	char path[PATH_MAX + 64];
	size_t len = strlen(val);
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, len) != (ssize_t)len)
		r = errno ? -errno : -EIO;
	close(fd);
	return r;
}

/* Entries of the directory @path but "." and "..", or -1: in
 * /proc/self/task the threads; in /proc/self/fd one more than the
 * descriptors open before the call (the listing's own). */
static inline int tproc_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Resident anonymous memory of this process in KiB, exact: the Anonymous:
 * line of /proc/self/smaps_rollup. */
static inline long tproc_anon_kb(void)
{
	return (long)tproc_value("/proc/self/smaps_rollup", "Anonymous:");
}

/* Resident memory of this process in KiB (Rss: of smaps_rollup). */
static inline long tproc_rss_kb(void)
{
	return (long)tproc_value("/proc/self/smaps_rollup", "Rss:");
}

/* A line of /proc/self/status, e.g. "Threads:" or "VmHWM:". */
static inline long tproc_status(const char *key)
{
	return (long)tproc_value("/proc/self/status", key);
}

/*
 * The own cgroup v1 memory directory (e.g. /sys/fs/cgroup/memory/a/b), from
 * /proc/self/cgroup and /proc/self/mountinfo: 0, or -1 when there is no v1
 * memory controller (or the paths do not fit @size).
 */
static inline int tproc_memcg_v1_dir(char *buf, size_t size)
{
	char line[4096], path[PATH_MAX] = "", mnt[PATH_MAX], root[PATH_MAX];
	const char *rel;
	FILE *f = fopen("/proc/self/cgroup", "re");
	int found = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *p, *tok, *save;

		p = ctl ? strchr(ctl + 1, ':') : NULL;
		if (!p)
			continue;
		*p++ = 0;
		p[strcspn(p, "\n")] = 0;
		for (tok = strtok_r(ctl + 1, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save))
			if (!strcmp(tok, "memory") &&
			    (size_t)snprintf(path, sizeof(path), "%s", p) <
				    sizeof(path))
				found = 0;
	}
	fclose(f);
	if (found)
		return -1;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -1;
	found = -1;
	while (found && fgets(line, sizeof(line), f)) {
		char *dash = strstr(line, " - "), fs[64], opts[1024], *tok,
		     *save;

		if (!dash ||
		    sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
		    sscanf(dash + 3, "%63s %*s %1023s", fs, opts) != 2 ||
		    strcmp(fs, "cgroup"))
			continue;
		for (tok = strtok_r(opts, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			if (strcmp(tok, "memory"))
				continue;
			/* The group's path below the mount's root. */
			rel = path;
			if (strcmp(root, "/") &&
			    !strncmp(path, root, strlen(root)))
				rel = path + strlen(root);
			if ((size_t)snprintf(buf, size, "%s%s", mnt,
					     strcmp(rel, "/") ? rel : "") <
			    size)
				found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

#endif /* TIDE_TOOLS_PROC_H */

/* SPDX-License-Identifier: MIT */
/*
 * pressure/cgroup.h - finding the effective memory limit and reading the
 * working set (pressure/cgroup.c), plus the small file helpers every
 * pressure source uses (pressure/file.c).
 *
 * The effective limit is found as the JDK's container support finds it: from
 * the process's cgroup (/proc/self/cgroup) and the mounted hierarchies
 * (/proc/self/mountinfo), walk from the own group up to the root of the
 * mounted hierarchy, v1 memory controller and v2 alike, and take the smallest
 * of v1 memory.limit_in_bytes, v2 memory.max and v2 memory.high on the way.
 * A limit at or above MemTotal (/proc/meminfo) is no limit.  A cgroup path
 * missing under the mount (a cgroup namespace, or a mount of a subtree) means
 * the mount root.
 *
 * Every path here can be replaced (tests point them at fake trees), and every
 * file is opened so that a FIFO or other special file named by a hostile
 * configuration never blocks and is refused: see tide__file_open().
 *
 * Strings returned are allocated with tide__os_malloc() and released with
 * tide__os_free() (through tide__cg_release()).  Every function returns 0 or
 * a negative errno and writes its out-parameters only on success.
 */
#ifndef TIDE_PRESSURE_CGROUP_H
#define TIDE_PRESSURE_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- file helpers (pressure/file.c) ------------------------------------- */

/*
 * Open @path read-only (or read-write with @write) with O_NONBLOCK |
 * O_CLOEXEC | O_NOCTTY, then refuse (-ENOTTY, the fd closed) anything but a
 * regular file, unless @allow_special (a FIFO or socket a caller wants, as
 * systemd's protocol does).  A FIFO opened read-only with O_NONBLOCK never
 * blocks, so checking after the open is safe.  Returns the fd or -errno.
 */
int tide__file_open(const char *path, bool write, bool allow_special);

/*
 * Read a small text file at offset 0 into @buf (NUL terminated, at most
 * @size - 1 bytes): through @fd when >= 0 (pread, so it can be re-read), else
 * by opening @path with tide__file_open().  -EFBIG when the file has more
 * than fits.
 */
int tide__file_read(int fd, const char *path, char *buf, size_t size);

/*
 * Read @path through to its end in small pieces (any length, no heap) and
 * return a 64-bit FNV-1a hash of its bytes and their number: to tell a
 * changed file from the same text read again.
 */
int tide__file_digest(const char *path, uint64_t *ret_hash, uint64_t *ret_len);

/*
 * Strict base64 (RFC 4648, padding required, whitespace ignored), for
 * $MEMORY_PRESSURE_WRITE.  *@out gets a tide__os_malloc() buffer of *@len
 * bytes; NULL and 0 for an empty input.  -EINVAL for bad input, -ENOMEM.
 */
int tide__b64_decode(const char *s, unsigned char **out, size_t *len);

/*
 * A cgroup file's number: decimal bytes, or "max" (UINT64_MAX), after
 * blanks and before blanks and one newline; anything else after it (a
 * second word, a second line) or a value past 64 bits is -EINVAL.
 */
int tide__parse_u64(const char *s, uint64_t *ret);

/* ---- parsers (pure; fuzzed by fuzz/fuzz_parsers.c) ---------------------- */

/*
 * From the text of /proc/self/cgroup: the path of the v1 hierarchy that has
 * the memory controller (*ret_v1, NULL if none) and of the v2 hierarchy
 * ("0::PATH", *ret_v2, NULL if none).  Either may be NULL on return; -ENODEV
 * when both are.
 */
int tide__cg_parse_self(const char *text, char **ret_v1, char **ret_v2);

/* One /proc/self/mountinfo entry, the fields discovery needs, unescaped. */
struct tide__mount {
	char *root; /* field 4: root of the mount within its filesystem */
	char *point; /* field 5: mount point */
	char *fstype; /* after " - ": "cgroup" or "cgroup2" etc. */
	char *super_opts; /* super options: "rw,memory" for a v1 memory mount */
};

/*
 * Parse one line of mountinfo (any length; octal escapes such as \040
 * decoded) into @ret, whose strings point into @line, which is modified.
 * -EINVAL for a malformed line: fewer than six fields before the lone "-",
 * non-numeric IDs or major:minor, an empty root, mount point, fstype or
 * super options, or fields after the super options.
 */
int tide__mount_parse(char *line, struct tide__mount *ret);

/*
 * The value of "@key VALUE" in a memory.stat-format text (one key per line,
 * the key matched whole, the first such line counts).  -ENOENT when absent,
 * -EINVAL when its value is not decimal digits that fit 64 bits, or @key is
 * empty or holds a space or newline.
 */
int tide__cg_stat_value(const char *text, const char *key, uint64_t *ret);

/*
 * The bytes of "@key: N kB" in a meminfo-format text (/proc/meminfo,
 * smaps_rollup): the key at the start of a line, blanks, decimal digits,
 * " kB", the line's end.  The first line with the key counts.  Saturated
 * at UINT64_MAX (N * 1024 past 64 bits).  -ENOENT when absent, -EINVAL
 * when malformed (no digits, no " kB", more after it, N past 64 bits).
 * No heap: the budget reads on allocating threads.
 */
int tide__kb_value(const char *text, const char *key, uint64_t *ret);

/* ---- discovery ---------------------------------------------------------- */

/* Where discovery reads; a NULL field means the real file. */
struct tide__cg_paths {
	const char *proc_cgroup; /* /proc/self/cgroup */
	const char *mountinfo; /* /proc/self/mountinfo */
	const char *meminfo; /* /proc/meminfo (MemTotal) */
};

struct tide__cg_limit {
	/* The effective limit: UINT64_MAX when none applies. */
	uint64_t limit;
	/* Hierarchy of the limiting group (1 or 2), 0 when none. */
	int version;
	/* Directory of the limiting group; NULL when none. */
	char *dir;
	/* Its limit file: "memory.limit_in_bytes", "memory.max" or
	 * "memory.high"; NULL when none (a static string). */
	const char *file;
	/* The own group's directory in the v1 memory hierarchy and in the v2
	 * hierarchy (NULL where not mounted or not a member). */
	char *own_v1;
	char *own_v2;
	/* The own v2 group has the memory controller (memory.current). */
	bool v2_memory;
	/* MemTotal in bytes. */
	uint64_t mem_total;
};

/*
 * Find the effective limit and the own groups.  A process in no cgroup
 * hierarchy with a memory controller gets limit UINT64_MAX and 0; errors are
 * only for unreadable /proc files (-errno), a meminfo without MemTotal
 * (-EINVAL) and -ENOMEM.  Of several mounts of one hierarchy the one whose
 * root holds the own path is used (the longest such root); an own path with
 * a "." or ".." component counts as missing (the mount root).  In v1, an
 * ancestor whose memory.use_hierarchy reads 0 limits nothing and ends the
 * walk (kernels before 5.11).  A level whose file is missing, special or
 * malformed offers no limit; the walk goes on.  Running out of memory or
 * descriptors (tide__os_exhausted()) at any step fails the whole
 * discovery with that error: it never reports a group without its limit.
 */
int tide__cg_discover(const struct tide__cg_paths *paths,
		      struct tide__cg_limit *ret);

/*
 * v1: a limit above the mount root is found in memory.stat under this key
 * (struct tide__cg_limit.file is then "memory.stat"); the limit watcher
 * reads it again there.
 */
#define TIDE__CG_HIER_KEY "hierarchical_memory_limit"

/* Release what tide__cg_discover() allocated; accepts a zeroed struct. */
void tide__cg_release(struct tide__cg_limit *l);

/*
 * MemTotal and MemAvailable in bytes from @path (NULL: /proc/meminfo),
 * read afresh.  -EINVAL when either is missing or malformed, else the
 * error of reading the file.
 */
int tide__meminfo_read(const char *path, uint64_t *ret_total,
		       uint64_t *ret_available);

/* ---- working set ---------------------------------------------------------- */

/* Open descriptors of a group's usage and memory.stat, re-read by pread. */
struct tide__cg_ws {
	int version; /* 1 or 2 */
	int usage_fd; /* memory.usage_in_bytes (v1) or memory.current (v2) */
	int stat_fd; /* memory.stat */
};

/*
 * Open @dir's files for @version; both fds are regular files.  -EINVAL for
 * a NULL or empty @dir or a version other than 1 and 2.
 */
int tide__cg_ws_open(const char *dir, int version, struct tide__cg_ws *ret);

/*
 * Read usage and the working set: usage minus inactive file cache (v1
 * total_inactive_file, v2 inactive_file; a missing key counts as 0; never
 * below 0).  Either out pointer may be NULL.  -ENODEV when the group went away
 * (cgroupfs: ENODEV or ENOENT from the read; elsewhere: the file unlinked).
 * No heap: safe on an allocating thread.
 */
int tide__cg_ws_read(const struct tide__cg_ws *ws, uint64_t *ret_ws,
		     uint64_t *ret_usage);

/*
 * The value of @key in the memory.stat open as @fd (pread from offset 0,
 * 4 KiB of stack, no heap: the sensor calls it on allocating threads).
 * -ENOENT when the key is not there, -EINVAL for a line over 4 KiB.
 */
int tide__cg_stat_scan(int fd, const char *key, uint64_t *ret);

/*
 * The same for up to 8 keys in one pass (the file is generated by the
 * kernel at every read: one read for several keys).  Return: the mask of
 * the keys found (bit i for @keys[i], its value in @vals[i]; a key with a
 * bad value is not found), -EINVAL for no key or more than 8, a line over
 * 4 KiB, or when no key was found and one had a bad value (a bad key
 * included), or the read's -errno.
 */
int tide__cg_stat_scan_keys(int fd, const char *const *keys, uint64_t *vals,
			    unsigned n);

/* Close; accepts a struct whose fds are -1. */
void tide__cg_ws_close(struct tide__cg_ws *ws);

#endif /* TIDE_PRESSURE_CGROUP_H */

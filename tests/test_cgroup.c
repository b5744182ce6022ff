// SPDX-License-Identifier: MIT
/*
 * test_cgroup.c - effective limit discovery, the working set and the parsers
 * behind them (src/pressure/cgroup.c).
 *
 * Most layouts are fake trees: a temporary directory holding a fake
 * /proc/self/cgroup, /proc/self/mountinfo and /proc/meminfo plus the cgroup
 * directories they name, passed through struct tide__cg_paths.  That is how
 * v2, hybrid, namespaced and container layouts are tested on a host whose
 * v2 hierarchy has no memory controller.  The real cgroup v1 hierarchy of
 * this machine is used where it can be: a limit on a parent group found from
 * a process in its grandchild, a cgroup namespace with its own mount of the
 * hierarchy, and the working set of a group that is then removed.
 */
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "harness.h"
#include "pressure/cgroup.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
/* Every fake tree's MemTotal: 16 GiB. */
#define FAKE_TOTAL_KB UINT64_C(16777216)
#define FAKE_TOTAL (FAKE_TOTAL_KB * 1024)

/* ---- fake trees ----------------------------------------------------------- */

struct fake {
	char dir[64];
	char cg[PATH_MAX], mi[PATH_MAX], mem[PATH_MAX];
	struct tide__cg_paths paths;
};

static void mkdirs(const char *path)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) && errno != EEXIST)
			FAIL("mkdir %s: %s", tmp, strerror(errno));
		*p = '/';
	}
	if (mkdir(tmp, 0755) && errno != EEXIST)
		FAIL("mkdir %s: %s", tmp, strerror(errno));
}

/* @text with every '@' replaced by the fake tree's directory. */
static char *expand(const struct fake *f, const char *text)
{
	size_t n = 1, dl = strlen(f->dir);
	char *out, *w;

	for (const char *p = text; *p; p++)
		n += *p == '@' ? dl : 1;
	out = malloc(n);
	CHECK(out);
	w = out;
	for (const char *p = text; *p; p++) {
		if (*p == '@') {
			memcpy(w, f->dir, dl);
			w += dl;
		} else {
			*w++ = *p;
		}
	}
	*w = 0;
	return out;
}

/* The absolute path of @rel in the fake tree (one of a few static slots). */
static const char *at(const struct fake *f, const char *rel)
{
	static char slot[4][PATH_MAX];
	static int next;
	char *p = slot[next++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", f->dir, rel);
	return p;
}

/* Write @text (with '@' expanded) to @rel, creating its directories. */
static void put(const struct fake *f, const char *rel, const char *text)
{
	char path[PATH_MAX], *slash, *data = expand(f, text);
	size_t len = strlen(data);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
	slash = strrchr(path, '/');
	*slash = 0;
	mkdirs(path);
	*slash = '/';
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		FAIL("open %s: %s", path, strerror(errno));
	CHECK_EQ(write(fd, data, len), (ssize_t)len);
	close(fd);
	free(data);
}

static void dir_at(const struct fake *f, const char *rel)
{
	mkdirs(at(f, rel));
}

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/tide-cg-XXXXXX");
	if (!mkdtemp(f->dir))
		FAIL("mkdtemp: %s", strerror(errno));
	snprintf(f->cg, sizeof(f->cg), "%s/proc/cgroup", f->dir);
	snprintf(f->mi, sizeof(f->mi), "%s/proc/mountinfo", f->dir);
	snprintf(f->mem, sizeof(f->mem), "%s/proc/meminfo", f->dir);
	f->paths.proc_cgroup = f->cg;
	f->paths.mountinfo = f->mi;
	f->paths.meminfo = f->mem;
	put(f, "proc/meminfo",
	    "MemTotal:       16777216 kB\n"
	    "MemFree:         8000000 kB\n"
	    "MemAvailable:   12000000 kB\n");
}

static int rm_one(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	remove(path);
	return 0;
}

static void fake_done(struct fake *f)
{
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The usual mounts of a hybrid host under the fake tree. */
#define MI_V1_MEMORY \
	"34 30 0:31 / @/memory rw,nosuid shared:15 - cgroup cgroup rw,memory\n"
#define MI_V2 "40 30 0:37 / @/unified rw,nosuid shared:9 - cgroup2 cgroup2 rw\n"
#define MI_OTHER                                                                    \
	"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n" \
	"31 30 0:28 / @/cpu rw,relatime shared:10 - cgroup cgroup rw,cpu\n"

static void discover(const struct fake *f, struct tide__cg_limit *l)
{
	int r = tide__cg_discover(&f->paths, l);

	if (r)
		FAIL("tide__cg_discover: %d", r);
	CHECK_UEQ(l->mem_total, FAKE_TOTAL);
}

static void check_none(const struct tide__cg_limit *l)
{
	CHECK_UEQ(l->limit, UINT64_MAX);
	CHECK_EQ(l->version, 0);
	CHECK(!l->dir);
	CHECK(!l->file);
}

/* ---- parsers ---------------------------------------------------------------- */

TEST(parse_self_finds_v1_memory_and_v2)
{
	char *v1 = NULL, *v2 = NULL;

	CHECK_EQ(tide__cg_parse_self("12:pids:/x\n"
				     "4:cpu,memory,blkio:/a/b:c\n"
				     "1:name=systemd:/s\n"
				     "0::/user.slice/app.scope\n",
				     &v1, &v2),
		 0);
	CHECK_STR(v1, "/a/b:c");
	CHECK_STR(v2, "/user.slice/app.scope");
	tide__os_free(v1);
	tide__os_free(v2);

	/* No final newline; only v2. */
	CHECK_EQ(tide__cg_parse_self("0::/", &v1, &v2), 0);
	CHECK(!v1);
	CHECK_STR(v2, "/");
	tide__os_free(v2);

	/* Only v1; "memoryx" and "0:memory:" are not it. */
	CHECK_EQ(tide__cg_parse_self("3:memoryx:/no\n0:memory:/no\n"
				     "5:memory:/yes\n",
				     &v1, &v2),
		 0);
	CHECK_STR(v1, "/yes");
	CHECK(!v2);
	tide__os_free(v1);
}

TEST(parse_self_refuses_what_is_not_a_cgroup_line)
{
	char *v1 = (char *)1, *v2 = (char *)2;

	CHECK_EQ(tide__cg_parse_self("", &v1, &v2), -ENODEV);
	CHECK_EQ(tide__cg_parse_self("garbage\n4:memory\n4:memory:\n"
				     "4:memory:relative\n0::\n1:cpu:/x\n",
				     &v1, &v2),
		 -ENODEV);
	/* Out-parameters untouched on failure. */
	CHECK_PTR_EQ(v1, (char *)1);
	CHECK_PTR_EQ(v2, (char *)2);
}

TEST(mount_parse_fields_and_escapes)
{
	char line[] = "36 25 0:31 /a\\040b /sys/fs/cg\\011x\\012y\\134z "
		      "rw,nosuid shared:15 master:3 - cgroup cgroup "
		      "rw,memory\n";
	/* Not escapes: \\000 (no NUL in a path), short or non-octal ones. */
	char nul[] = "36 25 0:31 /\\000x \\00\\9\\400\\ rw - tmpfs t rw";
	char plain[] = "40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 "
		       "cgroup2 rw,nsdelegate";
	struct tide__mount m;

	CHECK_EQ(tide__mount_parse(line, &m), 0);
	CHECK_STR(m.root, "/a b");
	CHECK_STR(m.point, "/sys/fs/cg\tx\ny\\z");
	CHECK_STR(m.fstype, "cgroup");
	CHECK_STR(m.super_opts, "rw,memory");

	CHECK_EQ(tide__mount_parse(nul, &m), 0);
	CHECK_STR(m.root, "/\\000x");
	CHECK_STR(m.point, "\\00\\9\\400\\");

	CHECK_EQ(tide__mount_parse(plain, &m), 0);
	CHECK_STR(m.root, "/");
	CHECK_STR(m.point, "/sys/fs/cgroup/unified");
	CHECK_STR(m.fstype, "cgroup2");
	CHECK_STR(m.super_opts, "rw,nsdelegate");
}

TEST(mount_parse_long_line)
{
	/* 5000 bytes of optional fields and 6000 of super options. */
	size_t n = 20000, o = 0;
	char *line = malloc(n);
	struct tide__mount m;

	CHECK(line);
	o += (size_t)sprintf(line + o, "34 30 0:31 / /mnt/memory rw");
	while (o < 5000)
		o += (size_t)sprintf(line + o, " shared:%zu", o);
	o += (size_t)sprintf(line + o, " - cgroup cgroup rw");
	while (o < 11000)
		o += (size_t)sprintf(line + o, ",opt%zu", o);
	o += (size_t)sprintf(line + o, ",memory\n");
	CHECK_CMP(strlen(line), >, 11000);
	CHECK_EQ(tide__mount_parse(line, &m), 0);
	CHECK_STR(m.root, "/");
	CHECK_STR(m.point, "/mnt/memory");
	CHECK_STR(m.fstype, "cgroup");
	CHECK_CMP(strlen(m.super_opts), >, 5990);
	CHECK(!strncmp(m.super_opts, "rw,opt", 6));
	CHECK(!strcmp(m.super_opts + strlen(m.super_opts) - 7, ",memory"));
	free(line);
}

TEST(mount_parse_refuses_malformed_lines)
{
	static const char *const bad[] = {
		"",
		"36 25 0:31 / /mnt rw",
		"36 25 0:31 / /mnt rw - cgroup",
		"36 25 0:31 / /mnt rw - cgroup cgroup",
		"36 25 0:31 / /mnt rw shared:1 cgroup cgroup rw",
		"x 25 0:31 / /mnt rw - cgroup cgroup rw",
		"36 25 031 / /mnt rw - cgroup cgroup rw",
		"36 25 0:31  /mnt rw - cgroup cgroup rw",
		"36 25 0:31 / /mnt rw - cgroup cgroup rw extra",
		"36 25 0:31 / /mnt rw - cgroup cgroup ",
		"36 25 0:31 / /mnt rw -  cgroup rw",
	};
	char buf[128];
	struct tide__mount m = { .root = (char *)1 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf), "%s", bad[i]);
		if (tide__mount_parse(buf, &m) != -EINVAL)
			FAIL("accepted \"%s\"", bad[i]);
	}
	CHECK_PTR_EQ(m.root, (char *)1);
}

TEST(stat_value_matches_whole_keys)
{
	const char *v1 = "cache 4096\n"
			 "inactive_file 8192\n"
			 "total_inactive_file 12288\n"
			 "total_active_file 1\n";
	uint64_t v = 7;

	CHECK_EQ(tide__cg_stat_value(v1, "inactive_file", &v), 0);
	CHECK_UEQ(v, 8192);
	CHECK_EQ(tide__cg_stat_value(v1, "total_inactive_file", &v), 0);
	CHECK_UEQ(v, 12288);
	CHECK_EQ(tide__cg_stat_value(v1, "active_file", &v), -ENOENT);
	CHECK_EQ(tide__cg_stat_value(v1, "total_active", &v), -ENOENT);
	CHECK_EQ(tide__cg_stat_value(v1, "", &v), -EINVAL);
	CHECK_EQ(tide__cg_stat_value(v1, "a b", &v), -EINVAL);
	CHECK_EQ(tide__cg_stat_value("file 18446744073709551615", "file", &v),
		 0);
	CHECK_UEQ(v, UINT64_MAX);
	v = 7;
	CHECK_EQ(tide__cg_stat_value("file 18446744073709551616\n", "file", &v),
		 -EINVAL);
	CHECK_EQ(tide__cg_stat_value("file -1\n", "file", &v), -EINVAL);
	CHECK_EQ(tide__cg_stat_value("file \n", "file", &v), -EINVAL);
	CHECK_EQ(tide__cg_stat_value("file 12k\n", "file", &v), -EINVAL);
	CHECK_UEQ(v, 7);
}

/* ---- discovery: fake trees ---------------------------------------------- */

/*
 * A cgroup file's value is the whole file: a number or "max", blanks
 * around it and one newline at most.  A second word or line, a sign, or a
 * value past 64 bits is refused, and *ret is left alone (up to 0.2.24
 * "123 junk" and "max junk" passed as 123 and "max").
 */
TEST(parse_u64_takes_the_whole_file_or_nothing)
{
	static const struct {
		const char *text;
		uint64_t want;
	} good[] = {
		{ "0", 0 },
		{ "4096\n", 4096 },
		{ " \t536870912 \n", 536870912 },
		{ "007\n", 7 },
		{ "max\n", UINT64_MAX },
		{ "max", UINT64_MAX },
		{ "  max \t\n", UINT64_MAX },
		{ "18446744073709551615\n", UINT64_MAX },
		{ "18446744073709551614", UINT64_MAX - 1 },
	};
	static const char *const bad[] = {
		"",
		"\n",
		" ",
		"123 junk\n",
		"123 456\n",
		"123\n456\n",
		"123\n\n",
		"max junk\n",
		"max 100000\n",
		"maximum\n",
		"max5",
		"12a\n",
		"-1\n",
		"+1\n",
		"0x10\n",
		"18446744073709551616\n",
		"99999999999999999999999\n",
		"\n123",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		uint64_t v = 1;

		if (tide__parse_u64(good[i].text, &v) || v != good[i].want)
			FAIL("good[%zu]: %" PRIu64, i, v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t v = 1;

		if (tide__parse_u64(bad[i], &v) != -EINVAL || v != 1)
			FAIL("bad[%zu] taken: %" PRIu64, i, v);
	}
}

/*
 * "Key: N kB" lines of /proc/meminfo and smaps_rollup: the first line with
 * the key counts, whole; the value in bytes, saturated.  Up to 0.2.24 a
 * line with more after " kB" passed.
 */
TEST(kb_value_takes_the_first_whole_line)
{
	uint64_t v = 1;

	CHECK_EQ(tide__kb_value("MemTotal:       24608616 kB\n"
				"MemFree:  12 kB\n",
				"MemFree", &v),
		 0);
	CHECK_UEQ(v, 12 * 1024);
	CHECK_EQ(tide__kb_value("Rss:\t0 kB", "Rss", &v), 0);
	CHECK_UEQ(v, 0);
	CHECK_EQ(tide__kb_value("Rss: 18014398509481983 kB\n", "Rss", &v), 0);
	CHECK_UEQ(v, UINT64_MAX - 1023);
	CHECK_EQ(tide__kb_value("Rss: 18014398509481984 kB\n", "Rss", &v), 0);
	CHECK_UEQ(v, UINT64_MAX); /* saturated */
	v = 1;
	CHECK_EQ(tide__kb_value("Rss: 5 kB\nRss: 6 kB\n", "Rss", &v), 0);
	CHECK_UEQ(v, 5 * 1024);
	CHECK_EQ(tide__kb_value("Rss: x kB\nRss: 6 kB\n", "Rss", &v), -EINVAL);
	CHECK_EQ(tide__kb_value("Rss: 5 kB junk\n", "Rss", &v), -EINVAL);
	CHECK_EQ(tide__kb_value("Rss: 5 kBytes\n", "Rss", &v), -EINVAL);
	CHECK_EQ(tide__kb_value("Rss: 5\n", "Rss", &v), -EINVAL);
	CHECK_EQ(tide__kb_value("Rss: 5 MB\n", "Rss", &v), -EINVAL);
	CHECK_EQ(tide__kb_value("Rss: 99999999999999999999 kB\n", "Rss", &v),
		 -EINVAL);
	CHECK_EQ(tide__kb_value("Rss: -5 kB\n", "Rss", &v), -EINVAL);
	CHECK_EQ(tide__kb_value("SwapRss: 5 kB\n Rss: 5 kB\n", "Rss", &v),
		 -ENOENT);
	CHECK_EQ(tide__kb_value("", "Rss", &v), -ENOENT);
	CHECK_UEQ(v, 5 * 1024); /* untouched by every failure */
}

TEST(v2_nested_max_takes_the_smallest)
{
	struct tide__cg_limit l;
	struct fake f;

	fake_init(&f);
	put(&f, "proc/cgroup", "0::/a/b/c\n");
	put(&f, "proc/mountinfo", MI_OTHER MI_V2);
	put(&f, "unified/a/memory.max", "1073741824\n");
	put(&f, "unified/a/memory.high", "max\n");
	put(&f, "unified/a/b/memory.max", "536870912\n");
	put(&f, "unified/a/b/memory.high", "max\n");
	put(&f, "unified/a/b/c/memory.max", "max\n");
	put(&f, "unified/a/b/c/memory.high", "max\n");
	put(&f, "unified/a/b/c/memory.current", "1234\n");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 512 * MiB);
	CHECK_EQ(l.version, 2);
	CHECK_STR(l.dir, at(&f, "unified/a/b"));
	CHECK_STR(l.file, "memory.max");
	CHECK_STR(l.own_v2, at(&f, "unified/a/b/c"));
	CHECK(!l.own_v1);
	CHECK(l.v2_memory);
	tide__cg_release(&l);
	CHECK(!l.dir && !l.own_v1 && !l.own_v2);
	fake_done(&f);
}

TEST(v2_high_on_an_ancestor)
{
	struct tide__cg_limit l;
	struct fake f;

	fake_init(&f);
	put(&f, "proc/cgroup", "0::/app.slice/svc.service\n");
	put(&f, "proc/mountinfo", MI_V2);
	put(&f, "unified/app.slice/memory.max", "419430400\n");
	put(&f, "unified/app.slice/memory.high", "314572800\n");
	put(&f, "unified/app.slice/svc.service/memory.max", "max\n");
	put(&f, "unified/app.slice/svc.service/memory.high", "367001600\n");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 300 * MiB);
	CHECK_EQ(l.version, 2);
	CHECK_STR(l.dir, at(&f, "unified/app.slice"));
	CHECK_STR(l.file, "memory.high");
	CHECK_STR(l.own_v2, at(&f, "unified/app.slice/svc.service"));
	/* No memory.current: the own group has no memory controller. */
	CHECK(!l.v2_memory);
	tide__cg_release(&l);
	fake_done(&f);
}

TEST(namespace_root_when_own_path_is_missing)
{
	struct tide__cg_limit l;
	struct fake f;

	fake_init(&f);
	/* Inside a cgroup namespace the mount shows the namespace root only;
	 * the path named does not exist under it. */
	put(&f, "proc/cgroup", "0::/kubepods/pod1/ctr\n");
	put(&f, "proc/mountinfo", MI_V2);
	put(&f, "unified/memory.max", "268435456\n");
	put(&f, "unified/memory.high", "max\n");
	put(&f, "unified/memory.current", "4096\n");
	dir_at(&f, "unified/kubepods");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 256 * MiB);
	CHECK_EQ(l.version, 2);
	CHECK_STR(l.dir, at(&f, "unified"));
	CHECK_STR(l.file, "memory.max");
	CHECK_STR(l.own_v2, at(&f, "unified"));
	CHECK(l.v2_memory);
	tide__cg_release(&l);

	/* A path that climbs out of the namespace ("/../x") is the root
	 * too, never a directory above the mount. */
	put(&f, "proc/cgroup", "0::/../unified/..\n");
	put(&f, "memory.max", "4096\n");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 256 * MiB);
	CHECK_STR(l.own_v2, at(&f, "unified"));
	tide__cg_release(&l);
	fake_done(&f);
}

TEST(hybrid_host_smallest_of_both_wins)
{
	struct tide__cg_limit l;
	struct fake f;

	fake_init(&f);
	put(&f, "proc/cgroup",
	    "5:cpu:/\n4:memory:/system.slice/db.service\n"
	    "0::/system.slice/db.service\n");
	put(&f, "proc/mountinfo", MI_OTHER MI_V1_MEMORY MI_V2);
	put(&f, "memory/memory.limit_in_bytes", "9223372036854771712\n");
	put(&f, "memory/system.slice/memory.limit_in_bytes", "734003200\n");
	put(&f, "memory/system.slice/db.service/memory.limit_in_bytes",
	    "9223372036854771712\n");
	put(&f, "unified/system.slice/memory.max", "max\n");
	put(&f, "unified/system.slice/db.service/memory.max", "629145600\n");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 600 * MiB);
	CHECK_EQ(l.version, 2);
	CHECK_STR(l.dir, at(&f, "unified/system.slice/db.service"));
	CHECK_STR(l.file, "memory.max");
	CHECK_STR(l.own_v1, at(&f, "memory/system.slice/db.service"));
	CHECK_STR(l.own_v2, at(&f, "unified/system.slice/db.service"));
	tide__cg_release(&l);

	/* Now the v1 slice is the smaller. */
	put(&f, "memory/system.slice/memory.limit_in_bytes", "524288000\n");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 500 * MiB);
	CHECK_EQ(l.version, 1);
	CHECK_STR(l.dir, at(&f, "memory/system.slice"));
	CHECK_STR(l.file, "memory.limit_in_bytes");
	tide__cg_release(&l);
	fake_done(&f);
}

/*
 * A limit file that reads 0 (memory.max or memory.high written 0, or a
 * v1 group's) leaves no room to keep anything under: it is no limit to
 * watch, and the levels around it still apply.  Up to 0.2.27 it was taken
 * as the smallest limit: it hid the parent's 1 GiB, and the monitor had
 * limit 0 and no limit watcher.
 */
TEST(a_limit_of_0_is_no_limit_and_hides_none)
{
	struct tide__cg_limit l;
	struct fake f;

	fake_init(&f);
	put(&f, "proc/cgroup", "4:memory:/a/b\n0::/a/b\n");
	put(&f, "proc/mountinfo", MI_V1_MEMORY MI_V2);
	put(&f, "unified/a/memory.max", "1073741824\n");
	put(&f, "unified/a/memory.high", "max\n");
	put(&f, "unified/a/b/memory.max", "max\n");
	put(&f, "unified/a/b/memory.high", "0\n");
	put(&f, "memory/a/b/memory.limit_in_bytes", "0\n");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 1024 * MiB);
	CHECK_EQ(l.version, 2);
	CHECK_STR(l.dir, at(&f, "unified/a"));
	CHECK_STR(l.file, "memory.max");
	tide__cg_release(&l);
	/* 0 everywhere: none */
	put(&f, "unified/a/memory.max", "0\n");
	put(&f, "unified/a/b/memory.max", "0\n");
	discover(&f, &l);
	check_none(&l);
	tide__cg_release(&l);
	fake_done(&f);
}

TEST(limit_at_or_above_memtotal_is_none)
{
	struct tide__cg_limit l;
	struct fake f;
	char val[64];

	fake_init(&f);
	put(&f, "proc/cgroup", "4:memory:/a\n0::/a\n");
	put(&f, "proc/mountinfo", MI_V1_MEMORY MI_V2);
	put(&f, "memory/a/memory.limit_in_bytes", "9223372036854771712\n");
	snprintf(val, sizeof(val), "%" PRIu64 "\n", FAKE_TOTAL);
	put(&f, "unified/a/memory.max", val);
	put(&f, "unified/a/memory.high", "34359738368\n");
	discover(&f, &l);
	check_none(&l);
	CHECK_STR(l.own_v1, at(&f, "memory/a"));
	CHECK_STR(l.own_v2, at(&f, "unified/a"));
	tide__cg_release(&l);

	/* One page under MemTotal is a limit. */
	snprintf(val, sizeof(val), "%" PRIu64 "\n", FAKE_TOTAL - 4096);
	put(&f, "unified/a/memory.high", val);
	discover(&f, &l);
	CHECK_UEQ(l.limit, FAKE_TOTAL - 4096);
	CHECK_STR(l.file, "memory.high");
	tide__cg_release(&l);
	fake_done(&f);
}

TEST(max_everywhere_is_none)
{
	struct tide__cg_limit l;
	struct fake f;

	fake_init(&f);
	put(&f, "proc/cgroup", "0::/a/b\n");
	put(&f, "proc/mountinfo", MI_V2);
	put(&f, "unified/a/memory.max", "max\n");
	put(&f, "unified/a/memory.high", "max\n");
	put(&f, "unified/a/b/memory.max", "max\n");
	put(&f, "unified/a/b/memory.high", "max\n");
	discover(&f, &l);
	check_none(&l);
	CHECK_STR(l.own_v2, at(&f, "unified/a/b"));
	tide__cg_release(&l);
	fake_done(&f);
}

TEST(no_memory_hierarchy_is_no_limit)
{
	struct tide__cg_limit l;
	struct fake f;

	fake_init(&f);
	/* A v1-only host without the memory controller. */
	put(&f, "proc/cgroup", "5:cpu:/a\n3:pids:/a\n");
	put(&f, "proc/mountinfo", MI_OTHER);
	discover(&f, &l);
	check_none(&l);
	CHECK(!l.own_v1 && !l.own_v2 && !l.v2_memory);
	tide__cg_release(&l);

	/* In a hierarchy that is not mounted. */
	put(&f, "proc/cgroup", "4:memory:/a\n0::/a\n");
	discover(&f, &l);
	check_none(&l);
	CHECK(!l.own_v1 && !l.own_v2);
	tide__cg_release(&l);
	fake_done(&f);
}

TEST(hierarchy_mounted_at_the_filesystem_root)
{
	struct tide__cg_limit l;
	struct fake f;

	/* A cgroup2 mount at "/" itself (a container's private mount
	 * namespace can do that): the own directory is "/tmp", its parent
	 * "/" and never "" or "//". */
	fake_init(&f);
	put(&f, "proc/cgroup", "0::/tmp/\n");
	put(&f, "proc/mountinfo", "40 1 0:37 / / rw - cgroup2 cgroup2 rw\n");
	discover(&f, &l);
	CHECK_STR(l.own_v2, "/tmp");
	if (access("/tmp/memory.max", F_OK) && access("/memory.max", F_OK) &&
	    access("/tmp/memory.high", F_OK) && access("/memory.high", F_OK))
		check_none(&l);
	tide__cg_release(&l);
	put(&f, "proc/cgroup", "0::/\n");
	discover(&f, &l);
	CHECK_STR(l.own_v2, "/");
	tide__cg_release(&l);
	fake_done(&f);
}

TEST(long_and_escaped_mountinfo_lines)
{
	struct tide__cg_limit l;
	struct fake f;
	char *mi, *o;
	size_t n = 64 * 1024;

	fake_init(&f);
	/* The memory hierarchy mounted on a path with a space, a tab and a
	 * backslash, after an overlay line of 9000 bytes, with 5000 bytes of
	 * optional fields on its own line. */
	mi = malloc(n);
	CHECK(mi);
	o = mi;
	o += sprintf(o, "50 1 0:40 / / rw - overlay overlay rw,lowerdir=");
	while (o - mi < 9000)
		o += sprintf(o, "/var/lib/layers/%ld:", (long)(o - mi));
	o += sprintf(o, "/l,upperdir=/u,workdir=/w\n");
	o += sprintf(o, "34 30 0:31 / @/sys\\040fs/c\\011g\\134m rw");
	for (int i = 0; i < 500; i++)
		o += sprintf(o, " shared:%d", i);
	o += sprintf(o, " - cgroup cgroup rw,memory\n");
	CHECK_CMP(o - mi, <, (long)n);
	put(&f, "proc/mountinfo", mi);
	free(mi);
	put(&f, "proc/cgroup", "4:memory:/job\n");
	put(&f, "sys fs/c\tg\\m/job/memory.limit_in_bytes", "104857600\n");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 100 * MiB);
	CHECK_EQ(l.version, 1);
	CHECK_STR(l.dir, at(&f, "sys fs/c\tg\\m/job"));
	CHECK_STR(l.own_v1, at(&f, "sys fs/c\tg\\m/job"));
	CHECK_STR(l.file, "memory.limit_in_bytes");
	tide__cg_release(&l);
	fake_done(&f);
}

TEST(subtree_mount_root_maps_paths_relative_to_it)
{
	struct tide__cg_limit l;
	struct fake f;

	fake_init(&f);
	/* A container without a cgroup namespace: the mount shows the subtree
	 * /docker/abc at @/memory, and /proc/self/cgroup names the full
	 * path.  The host's view (@/host, root "/") is also mounted: the
	 * more specific mount is used. */
	put(&f, "proc/cgroup", "4:memory:/docker/abc/sub\n");
	put(&f, "proc/mountinfo",
	    "33 30 0:31 / @/host rw - cgroup cgroup rw,memory\n"
	    "34 30 0:31 /docker/abc @/memory rw - cgroup cgroup rw,memory\n");
	put(&f, "memory/memory.limit_in_bytes", "209715200\n");
	put(&f, "memory/sub/memory.limit_in_bytes", "9223372036854771712\n");
	/* Above the mount point: never read. */
	put(&f, "memory.limit_in_bytes", "4096\n");
	put(&f, "host/memory.limit_in_bytes", "8192\n");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 200 * MiB);
	CHECK_EQ(l.version, 1);
	CHECK_STR(l.dir, at(&f, "memory"));
	CHECK_STR(l.own_v1, at(&f, "memory/sub"));
	tide__cg_release(&l);

	/* The own path outside the subtree: the mount root. */
	put(&f, "proc/cgroup", "4:memory:/docker/other\n");
	put(&f, "proc/mountinfo",
	    "34 30 0:31 /docker/abc @/memory rw - cgroup cgroup rw,memory\n");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 200 * MiB);
	CHECK_STR(l.dir, at(&f, "memory"));
	CHECK_STR(l.own_v1, at(&f, "memory"));
	tide__cg_release(&l);

	/* The own path equal to the mount root. */
	put(&f, "proc/cgroup", "4:memory:/docker/abc\n");
	discover(&f, &l);
	CHECK_STR(l.own_v1, at(&f, "memory"));
	CHECK_UEQ(l.limit, 200 * MiB);
	tide__cg_release(&l);
	fake_done(&f);
}

TEST(v1_ancestor_without_use_hierarchy_does_not_limit)
{
	struct tide__cg_limit l;
	struct fake f;

	fake_init(&f);
	put(&f, "proc/cgroup", "4:memory:/a/b\n");
	put(&f, "proc/mountinfo", MI_V1_MEMORY);
	put(&f, "memory/memory.limit_in_bytes", "1048576\n");
	put(&f, "memory/a/memory.use_hierarchy", "0\n");
	put(&f, "memory/a/memory.limit_in_bytes", "2097152\n");
	put(&f, "memory/a/b/memory.use_hierarchy", "0\n");
	put(&f, "memory/a/b/memory.limit_in_bytes", "9223372036854771712\n");
	discover(&f, &l);
	check_none(&l);
	tide__cg_release(&l);

	put(&f, "memory/a/memory.use_hierarchy", "1\n");
	put(&f, "memory/memory.use_hierarchy", "1\n");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 1 * MiB);
	CHECK_STR(l.dir, at(&f, "memory"));
	tide__cg_release(&l);
	fake_done(&f);
}

/*
 * v1 inside a cgroup namespace whose limit is on a group above it (the
 * container runtime's): every visible group is unlimited, and the own
 * group's memory.stat tells the limit (hierarchical_memory_limit).  The
 * mount root stands for the limiting group.  Not when a visible group's
 * limit is as low, nor when the key says no more than MemTotal.
 */
TEST(v1_limit_above_the_mount_root_is_read_from_memory_stat)
{
	static const char unlimited[] = "9223372036854771712\n";
	struct tide__cg_limit l;
	struct fake f;

	fake_init(&f);
	/* the hierarchy mounted again in the namespace: root "/" */
	put(&f, "proc/cgroup", "4:memory:/\n");
	put(&f, "proc/mountinfo",
	    "34 30 0:31 / @/memory rw - cgroup cgroup rw,memory\n");
	put(&f, "memory/memory.limit_in_bytes", unlimited);
	put(&f, "memory/memory.stat",
	    "cache 0\nrss 4096\nhierarchical_memory_limit 314572800\n"
	    "hierarchical_memsw_limit 9223372036854771712\n"
	    "total_inactive_file 0\n");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 300 * MiB);
	CHECK_EQ(l.version, 1);
	CHECK_STR(l.dir, at(&f, "memory"));
	CHECK_STR(l.file, "memory.stat");
	CHECK_STR(l.own_v1, at(&f, "memory"));
	tide__cg_release(&l);

	/* a mount of a subtree, the own group below its root: the own
	 * group's memory.stat is read */
	put(&f, "proc/mountinfo",
	    "34 30 0:31 /kube/pod1 @/memory rw - cgroup cgroup rw,memory\n");
	put(&f, "proc/cgroup", "4:memory:/kube/pod1/a\n");
	put(&f, "memory/a/memory.limit_in_bytes", unlimited);
	put(&f, "memory/a/memory.stat",
	    "hierarchical_memory_limit 209715200\n");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 200 * MiB);
	CHECK_STR(l.dir, at(&f, "memory"));
	CHECK_STR(l.file, "memory.stat");
	CHECK_STR(l.own_v1, at(&f, "memory/a"));
	tide__cg_release(&l);

	/* the own group outside that subtree: the mount root is no
	 * ancestor, its memory.stat says nothing of the process */
	put(&f, "proc/cgroup", "4:memory:/system.slice/x\n");
	put(&f, "memory/memory.stat", "hierarchical_memory_limit 104857600\n");
	discover(&f, &l);
	check_none(&l);
	tide__cg_release(&l);
	/* the host's mount seen from a namespace ("/.." roots): above it */
	put(&f, "proc/mountinfo",
	    "34 30 0:31 /.. @/memory rw - cgroup cgroup rw,memory\n");
	put(&f, "proc/cgroup", "4:memory:/\n");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 100 * MiB);
	CHECK_STR(l.dir, at(&f, "memory"));
	CHECK_STR(l.file, "memory.stat");
	tide__cg_release(&l);
	put(&f, "proc/mountinfo",
	    "34 30 0:31 /kube/pod1 @/memory rw - cgroup cgroup rw,memory\n");
	put(&f, "proc/cgroup", "4:memory:/kube/pod1/a\n");

	/* a visible group's limit as low: that group, its own file */
	put(&f, "memory/a/memory.limit_in_bytes", "209715200\n");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 200 * MiB);
	CHECK_STR(l.dir, at(&f, "memory/a"));
	CHECK_STR(l.file, "memory.limit_in_bytes");
	tide__cg_release(&l);

	/* no limit anywhere: the key reads the "unlimited" value */
	put(&f, "memory/a/memory.limit_in_bytes", unlimited);
	put(&f, "memory/a/memory.stat",
	    "hierarchical_memory_limit 9223372036854771712\n");
	discover(&f, &l);
	check_none(&l);
	tide__cg_release(&l);
	fake_done(&f);
}

TEST(unreadable_or_missing_files_skip_a_level)
{
	struct tide__cg_limit l;
	struct fake f;

	fake_init(&f);
	put(&f, "proc/cgroup", "0::/a/b/c/d/e\n");
	put(&f, "proc/mountinfo", MI_V2);
	put(&f, "unified/a/memory.max", "734003200\n");
	/* b: malformed values; c: a directory; d: empty; e: missing. */
	put(&f, "unified/a/b/memory.max", "12abc\n");
	put(&f, "unified/a/b/memory.high", "-5\n");
	dir_at(&f, "unified/a/b/c/memory.max");
	put(&f, "unified/a/b/c/d/memory.max", "");
	dir_at(&f, "unified/a/b/c/d/e");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 700 * MiB);
	CHECK_STR(l.dir, at(&f, "unified/a"));
	CHECK_STR(l.own_v2, at(&f, "unified/a/b/c/d/e"));
	tide__cg_release(&l);

	/* Garbage lines in /proc/self/cgroup and mountinfo are skipped. */
	put(&f, "proc/cgroup", "garbage\n\n::\n0::/a\n");
	put(&f, "proc/mountinfo", "nonsense\n\n" MI_V2 "1 2 3\n");
	discover(&f, &l);
	CHECK_UEQ(l.limit, 700 * MiB);
	tide__cg_release(&l);

	/* The /proc files themselves: clean errors, nothing written. */
	memset(&l, 0x5a, sizeof(l));
	f.paths.proc_cgroup = at(&f, "proc/none");
	CHECK_EQ(tide__cg_discover(&f.paths, &l), -ENOENT);
	f.paths.proc_cgroup = f.cg;
	f.paths.mountinfo = at(&f, "proc/none");
	CHECK_EQ(tide__cg_discover(&f.paths, &l), -ENOENT);
	f.paths.mountinfo = f.mi;
	f.paths.meminfo = at(&f, "proc/none");
	CHECK_EQ(tide__cg_discover(&f.paths, &l), -ENOENT);
	f.paths.meminfo = at(&f, "proc");
	CHECK_EQ(tide__cg_discover(&f.paths, &l), -EISDIR);
	put(&f, "proc/badmem", "MemFree: 1 kB\n");
	f.paths.meminfo = at(&f, "proc/badmem");
	CHECK_EQ(tide__cg_discover(&f.paths, &l), -EINVAL);
	for (size_t i = 0; i < sizeof(l); i++)
		CHECK_EQ(((unsigned char *)&l)[i], 0x5a);
	fake_done(&f);
}

TEST(unreadable_files_as_an_unprivileged_user)
{
	struct tide__cg_limit l, l2;
	struct tide__cg_ws ws = { .usage_fd = -1, .stat_fd = -1 };
	struct fake f;
	int r_ws, r_proc;

	fake_init(&f);
	put(&f, "proc/cgroup", "0::/a/b\n");
	put(&f, "proc/mountinfo", MI_V2);
	put(&f, "unified/a/memory.max", "734003200\n");
	put(&f, "unified/a/b/memory.max", "104857600\n");
	put(&f, "unified/a/b/memory.current", "4096\n");
	put(&f, "unified/a/b/memory.stat", "inactive_file 0\n");
	CHECK_EQ(chmod(f.dir, 0755), 0);
	CHECK_EQ(chmod(at(&f, "unified/a/b/memory.max"), 0), 0);
	CHECK_EQ(chmod(at(&f, "unified/a/b/memory.stat"), 0), 0);
	CHECK_EQ(chmod(f.mi, 0), 0);
	if (seteuid(65534))
		SKIP("cannot drop privileges: %s", strerror(errno));
	/* An unreadable /proc file is a clean error, nothing written. */
	memset(&l2, 0x5a, sizeof(l2));
	r_proc = tide__cg_discover(&f.paths, &l2);
	CHECK_EQ(seteuid(0), 0);
	CHECK_EQ(chmod(f.mi, 0644), 0);
	CHECK_EQ(seteuid(65534), 0);
	/* The unreadable level offers nothing; the parent's limit holds. */
	discover(&f, &l);
	r_ws = tide__cg_ws_open(at(&f, "unified/a/b"), 2, &ws);
	CHECK_EQ(seteuid(0), 0);
	CHECK_EQ(r_proc, -EACCES);
	for (size_t i = 0; i < sizeof(l2); i++)
		CHECK_EQ(((unsigned char *)&l2)[i], 0x5a);
	CHECK_UEQ(l.limit, 700 * MiB);
	CHECK_STR(l.dir, at(&f, "unified/a"));
	CHECK_STR(l.own_v2, at(&f, "unified/a/b"));
	CHECK_EQ(r_ws, -EACCES);
	CHECK_EQ(ws.usage_fd, -1);
	tide__cg_release(&l);
	fake_done(&f);
}

static void on_alarm(int sig)
{
	static const char msg[] = "# blocked on a FIFO\n";

	(void)sig;
	(void)!write(1, msg, sizeof(msg) - 1);
	_exit(1);
}

TEST(fifo_in_place_of_a_file_is_refused)
{
	struct tide__cg_limit l;
	struct tide__cg_ws ws = { .usage_fd = -1, .stat_fd = -1 };
	struct fake f;

	signal(SIGALRM, on_alarm);
	alarm(10);
	fake_init(&f);
	put(&f, "proc/cgroup", "4:memory:/a/b\n0::/a/b\n");
	put(&f, "proc/mountinfo", MI_V1_MEMORY MI_V2);
	put(&f, "memory/a/memory.limit_in_bytes", "314572800\n");
	dir_at(&f, "memory/a/b");
	CHECK_EQ(mkfifo(at(&f, "memory/a/b/memory.limit_in_bytes"), 0644), 0);
	CHECK_EQ(mkfifo(at(&f, "memory/a/b/memory.use_hierarchy"), 0644), 0);
	dir_at(&f, "unified/a/b");
	CHECK_EQ(mkfifo(at(&f, "unified/a/b/memory.max"), 0644), 0);
	CHECK_EQ(mkfifo(at(&f, "unified/a/b/memory.high"), 0644), 0);
	CHECK_EQ(mkfifo(at(&f, "unified/a/b/memory.current"), 0644), 0);
	discover(&f, &l);
	CHECK_UEQ(l.limit, 300 * MiB);
	CHECK_STR(l.dir, at(&f, "memory/a"));
	CHECK(!l.v2_memory);
	tide__cg_release(&l);

	/* As a /proc file and as working set files. */
	CHECK_EQ(mkfifo(at(&f, "proc/fifo"), 0644), 0);
	f.paths.mountinfo = at(&f, "proc/fifo");
	CHECK_EQ(tide__cg_discover(&f.paths, &l), -ENOTTY);
	put(&f, "unified/a/b/memory.stat", "inactive_file 0\n");
	CHECK_EQ(tide__cg_ws_open(at(&f, "unified/a/b"), 2, &ws), -ENOTTY);
	CHECK_EQ(ws.usage_fd, -1);
	put(&f, "memory/a/memory.usage_in_bytes", "4096\n");
	CHECK_EQ(mkfifo(at(&f, "memory/a/memory.stat"), 0644), 0);
	CHECK_EQ(tide__cg_ws_open(at(&f, "memory/a"), 1, &ws), -ENOTTY);
	alarm(0);
	fake_done(&f);
}

/* Discovery from several threads at once gives the same answer. */
struct thread_arg {
	const struct fake *f;
	char dir[PATH_MAX], own_v2[PATH_MAX];
	int bad;
};

static void *discover_thread(void *p)
{
	struct thread_arg *a = p;

	for (int i = 0; i < 50; i++) {
		struct tide__cg_limit l;

		if (tide__cg_discover(&a->f->paths, &l)) {
			a->bad++;
			continue;
		}
		if (l.limit != 500 * MiB || l.version != 1 ||
		    strcmp(l.dir, a->dir) || strcmp(l.own_v2, a->own_v2))
			a->bad++;
		tide__cg_release(&l);
	}
	return NULL;
}

TEST(discover_from_threads_and_a_forked_child)
{
	struct thread_arg a[4];
	pthread_t t[4];
	struct fake f;
	pid_t pid;
	int status;

	fake_init(&f);
	put(&f, "proc/cgroup", "4:memory:/s/t\n0::/s/t\n");
	put(&f, "proc/mountinfo", MI_V1_MEMORY MI_V2);
	put(&f, "memory/s/memory.limit_in_bytes", "524288000\n");
	dir_at(&f, "memory/s/t");
	put(&f, "unified/s/t/memory.max", "629145600\n");
	for (int i = 0; i < 4; i++) {
		a[i].f = &f;
		a[i].bad = 0;
		snprintf(a[i].dir, PATH_MAX, "%s", at(&f, "memory/s"));
		snprintf(a[i].own_v2, PATH_MAX, "%s", at(&f, "unified/s/t"));
		CHECK_EQ(pthread_create(&t[i], NULL, discover_thread, &a[i]),
			 0);
	}
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(pthread_join(t[i], NULL), 0);
		CHECK_EQ(a[i].bad, 0);
	}
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		discover_thread(&a[0]);
		_exit(a[0].bad ? 1 : 0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fake_done(&f);
}

/* ---- the working set ----------------------------------------------------- */

static void ws_expect(const struct tide__cg_ws *ws, uint64_t want_ws,
		      uint64_t want_usage)
{
	uint64_t w = 1, u = 1;

	CHECK_EQ(tide__cg_ws_read(ws, &w, &u), 0);
	CHECK_UEQ(w, want_ws);
	CHECK_UEQ(u, want_usage);
	w = 1;
	CHECK_EQ(tide__cg_ws_read(ws, &w, NULL), 0);
	CHECK_UEQ(w, want_ws);
	CHECK_EQ(tide__cg_ws_read(ws, NULL, NULL), 0);
}

TEST(working_set_with_and_without_inactive_file)
{
	struct tide__cg_ws v1, v2;
	struct fake f;

	fake_init(&f);
	put(&f, "memory/g/memory.usage_in_bytes", "1000000\n");
	put(&f, "memory/g/memory.stat",
	    "cache 300000\ninactive_file 123\nactive_file 5\n"
	    "total_cache 500000\ntotal_inactive_file 400000\n");
	put(&f, "unified/g/memory.current", "1000000\n");
	put(&f, "unified/g/memory.stat",
	    "anon 500000\nfile 400000\nactive_file 100000\n"
	    "inactive_file 250000\n");
	CHECK_EQ(tide__cg_ws_open(at(&f, "memory/g"), 1, &v1), 0);
	CHECK_EQ(tide__cg_ws_open(at(&f, "unified/g"), 2, &v2), 0);
	CHECK_EQ(v1.version, 1);
	CHECK_EQ(v2.version, 2);
	ws_expect(&v1, 600000, 1000000);
	ws_expect(&v2, 750000, 1000000);

	/* Re-read through the same descriptors after the files change (the
	 * same inode, rewritten in place as cgroupfs files are). */
	put(&f, "memory/g/memory.usage_in_bytes", "2000000\n");
	put(&f, "memory/g/memory.stat", "cache 0\n");
	put(&f, "unified/g/memory.current", "300000\n");
	put(&f, "unified/g/memory.stat", "anon 1\ninactive_file 400000\n");
	/* No inactive file at all: the usage; more than usage: 0. */
	ws_expect(&v1, 2000000, 2000000);
	ws_expect(&v2, 0, 300000);

	/* A memory.stat larger than one read, the key last. */
	{
		char *big = malloc(32768), *o = big;

		CHECK(big);
		for (int i = 0; o - big < 20000; i++)
			o += sprintf(o, "key_number_%d %d\n", i, i);
		sprintf(o, "inactive_file 100000");
		put(&f, "unified/g/memory.stat", big);
		free(big);
	}
	ws_expect(&v2, 200000, 300000);
	/* A malformed value is an error, not a guess. */
	put(&f, "unified/g/memory.stat", "inactive_file 12x\n");
	CHECK_EQ(tide__cg_ws_read(&v2, NULL, NULL), -EINVAL);
	tide__cg_ws_close(&v1);
	tide__cg_ws_close(&v2);
	CHECK_EQ(v1.usage_fd, -1);
	CHECK_EQ(v1.stat_fd, -1);
	tide__cg_ws_close(&v1); /* again: accepted */

	CHECK_EQ(tide__cg_ws_open(at(&f, "memory/none"), 1, &v1), -ENOENT);
	CHECK_EQ(tide__cg_ws_open(at(&f, "memory/g"), 3, &v1), -EINVAL);
	fake_done(&f);
}

/* Several keys in one pass over memory.stat (the working set and the v1
 * hierarchical limit at every reading of a limit above the mount root). */
TEST(stat_scan_finds_several_keys_in_one_pass)
{
	const char *keys[3] = { "total_inactive_file",
				"hierarchical_memory_limit", "total_rss" };
	uint64_t vals[3];
	struct fake f;
	char *big = malloc(32768), *o = big;
	int fd;

	CHECK(big);
	fake_init(&f);
	put(&f, "memory/g/memory.stat",
	    "cache 1\nhierarchical_memory_limit 314572800\n"
	    "total_inactive_file 4096\ntotal_rss 77\n");
	fd = open(at(&f, "memory/g/memory.stat"), O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	memset(vals, 0, sizeof(vals));
	CHECK_EQ(tide__cg_stat_scan_keys(fd, keys, vals, 3), 7);
	CHECK_UEQ(vals[0], 4096);
	CHECK_UEQ(vals[1], 314572800);
	CHECK_UEQ(vals[2], 77);
	/* Only the keys that are there; the others' bits stay clear. */
	memset(vals, 0, sizeof(vals));
	CHECK_EQ(tide__cg_stat_scan_keys(fd, keys + 1, vals, 1), 1);
	CHECK_UEQ(vals[0], 314572800);
	put(&f, "memory/g/memory.stat", "total_rss 5\ncache 1\n");
	CHECK_EQ(tide__cg_stat_scan_keys(fd, keys, vals, 3), 4);
	CHECK_UEQ(vals[2], 5);
	CHECK_EQ(tide__cg_stat_scan_keys(fd, keys, vals, 2), 0);
	/* A bad value is that key's alone, unless no key was found. */
	put(&f, "memory/g/memory.stat",
	    "hierarchical_memory_limit unlimited\ntotal_inactive_file 9\n");
	CHECK_EQ(tide__cg_stat_scan_keys(fd, keys, vals, 2), 1);
	CHECK_UEQ(vals[0], 9);
	CHECK_EQ(tide__cg_stat_scan_keys(fd, keys + 1, vals, 1), -EINVAL);
	CHECK_EQ(tide__cg_stat_scan(fd, keys[1], vals), -EINVAL);
	CHECK_EQ(tide__cg_stat_scan(fd, keys[2], vals), -ENOENT);
	/* The keys split over reads, the last at the very end. */
	for (int i = 0; o - big < 20000; i++)
		o += sprintf(o, "key_number_%d %d\n", i, i);
	o += sprintf(o, "total_inactive_file 123\n");
	for (int i = 0; o - big < 28000; i++)
		o += sprintf(o, "more_%d %d\n", i, i);
	sprintf(o, "hierarchical_memory_limit 456");
	put(&f, "memory/g/memory.stat", big);
	free(big);
	memset(vals, 0, sizeof(vals));
	CHECK_EQ(tide__cg_stat_scan_keys(fd, keys, vals, 2), 3);
	CHECK_UEQ(vals[0], 123);
	CHECK_UEQ(vals[1], 456);
	/* No key, more than 8. */
	CHECK_EQ(tide__cg_stat_scan_keys(fd, keys, vals, 0), -EINVAL);
	CHECK_EQ(tide__cg_stat_scan_keys(fd, keys, vals, 9), -EINVAL);
	/* past the width of the key mask: refused before any shift (a shift
	 * by 32 or more was computed first up to 0.2.24; UBSan saw it) */
	CHECK_EQ(tide__cg_stat_scan_keys(fd, keys, vals, 32), -EINVAL);
	CHECK_EQ(tide__cg_stat_scan_keys(fd, keys, vals, UINT_MAX), -EINVAL);
	close(fd);
	fake_done(&f);
}

TEST(working_set_of_a_removed_fake_group)
{
	struct tide__cg_ws ws;
	struct fake f;
	uint64_t w = 5;

	fake_init(&f);
	put(&f, "unified/g/memory.current", "8192\n");
	put(&f, "unified/g/memory.stat", "inactive_file 4096\n");
	CHECK_EQ(tide__cg_ws_open(at(&f, "unified/g"), 2, &ws), 0);
	ws_expect(&ws, 4096, 8192);
	CHECK_EQ(unlink(at(&f, "unified/g/memory.current")), 0);
	CHECK_EQ(unlink(at(&f, "unified/g/memory.stat")), 0);
	CHECK_EQ(rmdir(at(&f, "unified/g")), 0);
	CHECK_EQ(tide__cg_ws_read(&ws, &w, NULL), -ENODEV);
	CHECK_UEQ(w, 5);
	tide__cg_ws_close(&ws);
	fake_done(&f);
}

/* ---- the real cgroup v1 hierarchy ------------------------------------------ */

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		r = -errno;
	close(fd);
	return r;
}

static uint64_t read_u64(const char *dir, const char *file, const char *key)
{
	char path[PATH_MAX], text[8192];
	uint64_t v = UINT64_MAX;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	CHECK_EQ(tide__file_read(-1, path, text, sizeof(text)), 0);
	if (key) {
		if (tide__cg_stat_value(text, key, &v))
			FAIL("%s: no %s", path, key);
	} else {
		CHECK_EQ(tide__parse_u64(text, &v), 0);
	}
	return v;
}

struct real_groups {
	char own[PATH_MAX], parent[PATH_MAX], child[PATH_MAX];
};

/* Remove groups a failed earlier run left (its process is gone). */
static void remove_stale_groups(const char *own)
{
	char path[PATH_MAX + 300];
	struct dirent *e;
	DIR *d = opendir(own);
	int pid;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (sscanf(e->d_name, "tide-test-cg-%d", &pid) == 1 &&
		    kill(pid, 0) && errno == ESRCH) {
			snprintf(path, sizeof(path), "%s/%s/grandchild", own,
				 e->d_name);
			rmdir(path);
			snprintf(path, sizeof(path), "%s/%s", own, e->d_name);
			rmdir(path);
		}
	closedir(d);
}

/* Our v1 memory group with a child "parent" (limit) and grandchild. */
static void real_groups(struct real_groups *g, uint64_t limit)
{
	struct tide__cg_limit l;
	char val[32];

	if (tide__cg_discover(NULL, &l) || !l.own_v1)
		SKIP("this process is in no cgroup v1 memory hierarchy");
	snprintf(g->own, sizeof(g->own), "%s", l.own_v1);
	tide__cg_release(&l);
	if (snprintf(g->parent, sizeof(g->parent), "%s/tide-test-cg-%d", g->own,
		     (int)getpid()) >= (int)sizeof(g->parent) ||
	    snprintf(g->child, sizeof(g->child), "%s/grandchild", g->parent) >=
		    (int)sizeof(g->child))
		SKIP("the own v1 memory group's path is too long");
	remove_stale_groups(g->own);
	if (mkdir(g->parent, 0755))
		SKIP("cannot create a v1 memory group under %s: %s", g->own,
		     strerror(errno));
	CHECK_EQ(mkdir(g->child, 0755), 0);
	snprintf(val, sizeof(val), "%" PRIu64, limit);
	{
		char path[PATH_MAX + 32];

		snprintf(path, sizeof(path), "%s/memory.limit_in_bytes",
			 g->parent);
		CHECK_EQ(write_file(path, val), 0);
	}
}

static void real_groups_remove(struct real_groups *g)
{
	rmdir(g->child);
	rmdir(g->parent);
}

TEST(real_v1_parent_limit_found_from_grandchild)
{
	struct real_groups g;
	int ready[2], go[2], status;
	struct tide__cg_ws ws;
	uint64_t w, u, w2 = 0, u2 = 0;
	char c = 0;
	pid_t pid;

	real_groups(&g, 256 * MiB);
	CHECK_EQ(pipe(ready), 0);
	CHECK_EQ(pipe(go), 0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		char path[PATH_MAX + 32];
		struct tide__cg_limit l;
		char *mem;

		close(ready[0]);
		close(go[1]);
		snprintf(path, sizeof(path), "%s/cgroup.procs", g.child);
		CHECK_EQ(write_file(path, "0"), 0);
		/* 8 MiB of anonymous memory charged to the grandchild. */
		mem = malloc(8 * MiB);
		CHECK(mem);
		for (size_t i = 0; i < 8 * MiB; i += 4096)
			((volatile char *)mem)[i] = 1;
		CHECK_EQ(tide__cg_discover(NULL, &l), 0);
		CHECK_UEQ(l.limit, 256 * MiB);
		CHECK_EQ(l.version, 1);
		CHECK_STR(l.dir, g.parent);
		CHECK_STR(l.file, "memory.limit_in_bytes");
		CHECK_STR(l.own_v1, g.child);
		tide__cg_release(&l);
		CHECK_EQ(write(ready[1], "r", 1), 1);
		CHECK_EQ(read(go[0], &c, 1), 0);
		free(mem);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	if (read(ready[0], &c, 1) != 1) {
		waitpid(pid, &status, 0);
		real_groups_remove(&g);
		FAIL("the child failed in the grandchild group");
	}
	/* The child sits idle in the grandchild: its usage holds still
	 * (retry when a background flush of charges moved it). */
	CHECK_EQ(tide__cg_ws_open(g.child, 1, &ws), 0);
	for (int i = 0; i < 20; i++) {
		u = read_u64(g.child, "memory.usage_in_bytes", NULL);
		w = u - TIDE__MIN(u, read_u64(g.child, "memory.stat",
					      "total_inactive_file"));
		CHECK_EQ(tide__cg_ws_read(&ws, &w2, &u2), 0);
		if (u == u2 && w == w2 &&
		    u == read_u64(g.child, "memory.usage_in_bytes", NULL))
			break;
		usleep(10000);
	}
	close(go[1]);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK_UEQ(u2, u);
	CHECK_UEQ(w2, w);
	CHECK_CMP(w2, >=, 8 * MiB);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* Removed while its descriptors are open: -ENODEV. */
	CHECK_EQ(rmdir(g.child), 0);
	w = 3;
	CHECK_EQ(tide__cg_ws_read(&ws, &w, NULL), -ENODEV);
	CHECK_UEQ(w, 3);
	tide__cg_ws_close(&ws);
	real_groups_remove(&g);
}

struct ns_arg {
	const char *child; /* the group that becomes the namespace root */
	const char *point; /* where the child mounts the hierarchy again */
	uint64_t limit; /* what discovery finds there, and in which file */
	const char *file;
};

/* In a forked child: a cgroup namespace rooted at @a->child, the memory
 * hierarchy mounted again inside it, discovery from there. */
static void in_cgroup_namespace(void *p)
{
	const struct ns_arg *a = p;
	char path[PATH_MAX + 32];
	struct tide__cg_limit l;

	snprintf(path, sizeof(path), "%s/cgroup.procs", a->child);
	CHECK_EQ(write_file(path, "0"), 0);
	if (unshare(CLONE_NEWCGROUP | CLONE_NEWNS) ||
	    mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) ||
	    mount("cgroup", a->point, "cgroup", 0, "memory")) {
		printf("cannot make a cgroup namespace: %s\n", strerror(errno));
		_exit(TH_SKIP_CODE);
	}
	/* /proc/self/cgroup now says "/"; the host's mount shows a root
	 * of "/../../.." and the new one "/". */
	CHECK_EQ(tide__cg_discover(NULL, &l), 0);
	CHECK_UEQ(l.limit, a->limit);
	CHECK_EQ(l.version, 1);
	CHECK_STR(l.dir, a->point);
	CHECK_STR(l.own_v1, a->point);
	CHECK_STR(l.file, a->file);
	tide__cg_release(&l);
}

/* The process in a cgroup namespace rooted at @g's child: @a says what
 * discovery must find there. */
static void run_in_namespace(struct real_groups *g, struct ns_arg *a)
{
	char point[] = "/tmp/tide-cgns-XXXXXX", out[4096];
	int status;

	CHECK(mkdtemp(point));
	a->child = g->child;
	a->point = point;
	status = th_fork(in_cgroup_namespace, a, out, sizeof(out));
	rmdir(point);
	real_groups_remove(g);
	if (WIFEXITED(status) && WEXITSTATUS(status) == TH_SKIP_CODE)
		SKIP("%s", out);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		FAIL("in the namespace: %s", out);
}

TEST(real_v1_cgroup_namespace_with_its_own_mount)
{
	struct ns_arg a = { .limit = 128 * MiB,
			    .file = "memory.limit_in_bytes" };
	char path[PATH_MAX + 32];
	struct real_groups g;

	real_groups(&g, 256 * MiB);
	snprintf(path, sizeof(path), "%s/memory.limit_in_bytes", g.child);
	CHECK_EQ(write_file(path, "134217728"), 0);
	run_in_namespace(&g, &a);
}

/*
 * The limit on the group above the namespace root (a container runtime's
 * parent group), the namespace root unlimited: the kernel's
 * hierarchical_memory_limit in memory.stat gives it.  Up to 0.2.10 no
 * limit was found (a trial's ETL process: OOM-killed 2 of 2).
 */
TEST(real_v1_limit_above_the_namespace_root)
{
	struct ns_arg a = { .limit = 256 * MiB, .file = "memory.stat" };
	struct real_groups g;

	real_groups(&g, 256 * MiB);
	run_in_namespace(&g, &a);
}

/* ---- the OOM loop ----------------------------------------------------------- */

static int oom_discover(void *arg)
{
	const struct fake *f = arg;
	struct tide__cg_limit l;
	int r;

	memset(&l, 0x5a, sizeof(l));
	r = tide__cg_discover(&f->paths, &l);
	if (r) {
		CHECK_EQ(r, -ENOMEM);
		for (size_t i = 0; i < sizeof(l); i++)
			CHECK_EQ(((unsigned char *)&l)[i], 0x5a);
		return r;
	}
	CHECK_UEQ(l.limit, 500 * MiB);
	CHECK_EQ(l.version, 1);
	CHECK_STR(l.dir, at(f, "memory/s"));
	CHECK_STR(l.own_v1, at(f, "memory/s/t"));
	CHECK_STR(l.own_v2, at(f, "unified/s/t"));
	tide__cg_release(&l);
	return 0;
}

static int oom_real_discover(void *arg)
{
	struct tide__cg_limit l;
	int r;

	memset(&l, 0x5a, sizeof(l));
	r = tide__cg_discover(NULL, &l);
	if (r) {
		CHECK_EQ(r, -ENOMEM);
		CHECK_EQ(((unsigned char *)&l)[0], 0x5a);
		return r;
	}
	tide__cg_release(&l);
	return 0;
}

static int oom_b64(void *arg)
{
	unsigned char *out = (unsigned char *)1;
	size_t len = 77;
	int r;

	r = tide__b64_decode("aGVs bG8g\nd29y bGQ=", &out, &len);
	if (r) {
		CHECK_EQ(r, -ENOMEM);
		CHECK_PTR_EQ(out, (unsigned char *)1);
		CHECK_EQ(len, 77);
		return r;
	}
	CHECK_EQ(len, 11);
	CHECK(!memcmp(out, "hello world", 11));
	tide__os_free(out);
	return 0;
}

static int oom_parse_self(void *arg)
{
	char *v1 = (char *)1, *v2 = (char *)2;
	int r = tide__cg_parse_self("4:memory:/a\n0::/b\n", &v1, &v2);

	if (r) {
		CHECK_EQ(r, -ENOMEM);
		CHECK_PTR_EQ(v1, (char *)1);
		CHECK_PTR_EQ(v2, (char *)2);
		return r;
	}
	CHECK_STR(v1, "/a");
	CHECK_STR(v2, "/b");
	tide__os_free(v1);
	tide__os_free(v2);
	return 0;
}

TEST(oom_loop_discover_and_decode)
{
	struct fake f;
	char *mi, *o;

	fake_init(&f);
	put(&f, "proc/cgroup", "4:memory:/s/t\n0::/s/t\n");
	/* Mountinfo longer than the first buffer: the growth path too. */
	mi = malloc(16384);
	CHECK(mi);
	o = mi;
	for (int i = 0; o - mi < 9000; i++)
		o += sprintf(o, "%d 1 0:%d / /mnt/m%d rw - tmpfs tmpfs rw\n",
			     100 + i, 100 + i, i);
	sprintf(o, "%s", MI_V1_MEMORY MI_V2);
	put(&f, "proc/mountinfo", mi);
	free(mi);
	put(&f, "memory/s/memory.limit_in_bytes", "524288000\n");
	dir_at(&f, "memory/s/t");
	put(&f, "unified/s/t/memory.max", "629145600\n");
	/*
	 * 28 failable calls, each failed once, then from it on.  12
	 * allocations: meminfo, /proc/self/cgroup, its two paths, mountinfo
	 * and its two doublings, two walk buffers, the two own directories
	 * and the limiting one.  16 opens: meminfo, /proc/self/cgroup,
	 * mountinfo, the own v2 memory.current, the walk's 11 files (v1:
	 * the limit of s/t, the use_hierarchy and limit of s and of the
	 * root; v2: memory.max and memory.high of s/t, s and the root), and
	 * the own v1 memory.stat (a limit above the mount root).  A failed
	 * open fails the discovery; it is never a level without a limit.
	 */
	CHECK_EQ(th_oom_loop("tide__cg_discover", oom_discover, &f), 2 * 28);
	CHECK_CMP(th_oom_loop("tide__cg_discover (this host)",
			      oom_real_discover, NULL),
		  >=, 4);
	CHECK_EQ(th_oom_loop("tide__b64_decode", oom_b64, NULL), 2);
	CHECK_EQ(th_oom_loop("tide__cg_parse_self", oom_parse_self, NULL), 4);
	fake_done(&f);
}

RUN_TESTS(T(parse_self_finds_v1_memory_and_v2),
	  T(parse_self_refuses_what_is_not_a_cgroup_line),
	  T(mount_parse_fields_and_escapes), T(mount_parse_long_line),
	  T(mount_parse_refuses_malformed_lines),
	  T(stat_value_matches_whole_keys),
	  T(parse_u64_takes_the_whole_file_or_nothing),
	  T(kb_value_takes_the_first_whole_line),
	  T(v2_nested_max_takes_the_smallest), T(v2_high_on_an_ancestor),
	  T(namespace_root_when_own_path_is_missing),
	  T(hybrid_host_smallest_of_both_wins),
	  T(a_limit_of_0_is_no_limit_and_hides_none),
	  T(limit_at_or_above_memtotal_is_none), T(max_everywhere_is_none),
	  T(no_memory_hierarchy_is_no_limit),
	  T(hierarchy_mounted_at_the_filesystem_root),
	  T(long_and_escaped_mountinfo_lines),
	  T(subtree_mount_root_maps_paths_relative_to_it),
	  T(v1_ancestor_without_use_hierarchy_does_not_limit),
	  T(v1_limit_above_the_mount_root_is_read_from_memory_stat),
	  T(unreadable_or_missing_files_skip_a_level),
	  T(unreadable_files_as_an_unprivileged_user),
	  T(fifo_in_place_of_a_file_is_refused),
	  T(discover_from_threads_and_a_forked_child),
	  T(working_set_with_and_without_inactive_file),
	  T(stat_scan_finds_several_keys_in_one_pass),
	  T(working_set_of_a_removed_fake_group),
	  T(real_v1_parent_limit_found_from_grandchild),
	  T(real_v1_cgroup_namespace_with_its_own_mount),
	  T(real_v1_limit_above_the_namespace_root),
	  T(oom_loop_discover_and_decode))

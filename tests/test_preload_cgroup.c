// SPDX-License-Identifier: MIT
/*
 * test_preload_cgroup.c - tide-run against a real cgroup v1 memory limit.
 *
 * A child group of our own v1 memory group gets a 128 MiB limit.  The host
 * (preload/host.c "grow", linked to nothing of tide) runs five rounds of a
 * 64 MiB fragmented heap (4 KiB blocks, 1 in 50 kept, the rest freed) then
 * an 80 MiB buffer filled at 100 MiB/s.  Under glibc the heap's holes stay
 * resident, so without tide the first buffer meets the limit and the OOM
 * killer; under tide-run the defaults find the group's limit, the limit
 * watcher sees the working set pass 3/4 of it and the purge trims the
 * holes, so the host finishes.  Needs root and a writable cgroup v1 memory
 * hierarchy; skips (77) otherwise.
 */
#include <limits.h>
#include <sys/stat.h>

#include "harness.h"

#ifndef TP_SHIM
#error "built by preload/CMakeLists.txt with TP_SHIM, TP_RUN, TP_HOST"
#endif

#define LIMIT (128ull << 20)

static char cg_dir[PATH_MAX];

/* Our own v1 memory group directory, or "" if there is none. */
static void own_memory_group(char *out, size_t size)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[PATH_MAX];
	struct stat st;

	out[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, ":memory:");

		if (!p)
			continue;
		p += strlen(":memory:");
		p[strcspn(p, "\n")] = '\0';
		snprintf(out, size, "/sys/fs/cgroup/memory%.3000s",
			 strcmp(p, "/") ? p : "");
		break;
	}
	fclose(f);
	if (out[0] && (stat(out, &st) || !S_ISDIR(st.st_mode)))
		out[0] = '\0';
}

static int write_file(const char *dir, const char *name, const char *val)
{
	char path[PATH_MAX + 64];
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		r = -errno;
	close(fd);
	return r;
}

static long long oom_kills(void)
{
	char path[PATH_MAX + 64];
	long v;

	snprintf(path, sizeof(path), "%s/memory.oom_control", cg_dir);
	v = th_proc_value(path, "oom_kill");
	return v;
}

/*
 * Start @argv, its stdout and stderr into a pipe whose read end is *@out:
 * inside the group with @in_group, with the shim's control socket in
 * @xdg/tide when @xdg is not NULL.  Returns its pid.
 */
static pid_t spawn(char *const argv[], bool in_group, const char *xdg, int *out)
{
	int pfd[2];
	pid_t pid;

	CHECK(!pipe2(pfd, O_CLOEXEC));
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		char me[32];

		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		snprintf(me, sizeof(me), "%d\n", (int)getpid());
		if (in_group && write_file(cg_dir, "cgroup.procs", me))
			_exit(125);
		unsetenv("LD_PRELOAD");
		if (xdg) {
			setenv("TIDE_CONTROL", "1", 1);
			setenv("XDG_RUNTIME_DIR", xdg, 1);
		}
		/* Sanitizer builds: see test_preload.c's sanitizer_env(). */
		if (!strcmp(TP_SANITIZE, "address"))
			setenv("ASAN_OPTIONS", "verify_asan_link_order=0", 1);
		execv(argv[0], argv);
		_exit(126);
	}
	close(pfd[1]);
	*out = pfd[0];
	return pid;
}

/* Read @fd to its end into @out (closing it), then wait for @pid. */
static int collect(pid_t pid, int fd, char *out, size_t size)
{
	size_t n = 0;
	ssize_t r;
	int st;

	while (n + 1 < size && (r = read(fd, out + n, size - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(fd);
	CHECK(waitpid(pid, &st, 0) == pid);
	return st;
}

/* Run @argv inside the group; its output in @out; the wait status. */
static int run_in_group(char *const argv[], char *out, size_t size)
{
	int fd;
	pid_t pid = spawn(argv, true, NULL, &fd);

	return collect(pid, fd, out, size);
}

/* A child group of our own v1 memory group limited to @limit bytes. */
static void make_group(unsigned long long limit)
{
	char own[PATH_MAX], val[32];

	own_memory_group(own, sizeof(own));
	if (!own[0])
		SKIP("no cgroup v1 memory controller mounted");
	snprintf(cg_dir, sizeof(cg_dir), "%.3000s/tide-preload-test-%d", own,
		 (int)getpid());
	if (mkdir(cg_dir, 0755))
		SKIP("cannot create a memory cgroup under %s: %s", own,
		     strerror(errno));
	snprintf(val, sizeof(val), "%llu", limit);
	if (write_file(cg_dir, "memory.limit_in_bytes", val)) {
		rmdir(cg_dir);
		SKIP("cannot set memory.limit_in_bytes");
	}
}

/*
 * Percentages: TIDE_LIMIT of the group's limit, TIDE_HIGH and TIDE_LOW of
 * TIDE_LIMIT; the shim and tide-run --show resolve them alike.  The
 * group's limit watcher watches them: no budget source besides (it read
 * smaps_rollup every 100 ms, 27% of a CPU for a trial's idle 2 GiB
 * process).
 */
TEST(percent_settings_resolve_against_the_group_limit)
{
	char *show[] = { TP_RUN,  "--limit", "50%",    "--high", "60%",
			 "--low", "50%",     "--show", NULL };
	char *shim[] = { TP_RUN, "--verbose", "--limit", "50%", "--high", "75%",
			 "--",	 TP_HOST,     "exit",	 "0",	NULL };
	char out_show[4096], out_shim[4096];
	int st_show, st_shim, rm;

	make_group(256ull << 20);
	st_show = run_in_group(show, out_show, sizeof(out_show));
	st_shim = run_in_group(shim, out_shim, sizeof(out_shim));
	rm = rmdir(cg_dir) ? -errno : 0;
	th_note("%s%s", out_show, out_shim);
	CHECK_EQ(rm, 0);
	CHECK(WIFEXITED(st_show) && WEXITSTATUS(st_show) == 0);
	CHECK(strstr(out_show, "limit        134217728 (128.0 MiB)\n"));
	CHECK(strstr(out_show, "limit from   --limit / TIDE_LIMIT\n"));
	/* 60% and 50% of 128 MiB, rounded down. */
	CHECK(strstr(out_show, "high         80530636 (76.8 MiB)\n"));
	CHECK(strstr(out_show, "low          67108864 (64.0 MiB)\n"));
	CHECK(WIFEXITED(st_shim) && WEXITSTATUS(st_shim) == 0);
	/* 75% of 128 MiB; low is the monitor's 7/8 of high. */
	CHECK(strstr(out_shim, ", limit 134217728 (TIDE_LIMIT), high "
			       "100663296, low 88080384, allocator "));
	CHECK(strstr(out_show, "cgroup1"));
	CHECK(!strstr(out_show, "budget"));
	CHECK(strstr(out_shim, "cgroup1"));
	CHECK(!strstr(out_shim, "budget"));
}

/*
 * The line "sources      LIST\n" of tide-run --show's @out, or the LIST
 * of the shim's "sources LIST, limit " verbose line: LIST into @list.
 */
static void sources_of(const char *out, bool show, char *list, size_t size)
{
	const char *p = strstr(out, show ? "sources      " : ": sources ");
	size_t n;

	CHECK(p);
	p += strlen(show ? "sources      " : ": sources ");
	n = show ? strcspn(p, "\n") : (size_t)(strstr(p, ", limit ") - p);
	CHECK(p[n] && n < size);
	memcpy(list, p, n);
	list[n] = '\0';
}

/*
 * The budget source and TIDE_HIGH (docs/preload.md): what leaves the
 * budget out is a limit the cgroups set, not TIDE_LIMIT.  TIDE_LIMIT as
 * a size (1G, kept: a --high under the group's 256 MiB keeps it) with a
 * TIDE_HIGH in a limited group: the group's limit watcher alone watches
 * the watermarks, and --show's allowed line has no budget either (a user
 * trial: the docs said a TIDE_LIMIT size opens the budget).  TIDE_SOURCES
 * naming every source keeps it: the same sources plus budget.  With the
 * group's limit lifted, and no limit above it, the same settings open the
 * budget beside the limit watcher of the own group.
 */
TEST(a_size_limit_in_a_limited_group_leaves_the_budget_out)
{
	char *show[] = { TP_RUN, "--limit", "1G", "--high",
			 "200M", "--show",  NULL };
	char *all[] = { TP_RUN,
			"--limit",
			"1G",
			"--high",
			"200M",
			"--sources",
			"watch,psi-cgroup,psi,cgroup2,cgroup1,budget,none",
			"--show",
			NULL };
	char *shim[] = { TP_RUN, "--verbose", "--limit", "1G", "--high", "200M",
			 "--",	 TP_HOST,     "exit",	 "0",  NULL };
	char *plain[] = { TP_RUN, "--show", NULL };
	char out_show[4096], out_all[4096], out_shim[4096], out_plain[4096],
		out_free[4096], out_fshim[4096];
	char src[128], src_all[160], src_shim[128], want[192];
	int st_show, st_all, st_shim, st_plain, st_free, st_fshim, lifted, rm;
	bool asan = !strcmp(TP_SANITIZE, "address");

	make_group(256ull << 20);
	st_show = run_in_group(show, out_show, sizeof(out_show));
	st_all = run_in_group(all, out_all, sizeof(out_all));
	st_shim = run_in_group(shim, out_shim, sizeof(out_shim));
	lifted = write_file(cg_dir, "memory.limit_in_bytes", "-1");
	st_plain = run_in_group(plain, out_plain, sizeof(out_plain));
	st_free = run_in_group(show, out_free, sizeof(out_free));
	st_fshim = run_in_group(shim, out_fshim, sizeof(out_fshim));
	rm = rmdir(cg_dir) ? -errno : 0;
	th_note("%s%s%s%s%s%s", out_show, out_all, out_shim, out_plain,
		out_free, out_fshim);
	CHECK_EQ(rm, 0);
	CHECK_EQ(lifted, 0);

	/* limited: no budget, and none allowed */
	CHECK(WIFEXITED(st_show) && WEXITSTATUS(st_show) == 0);
	CHECK(!strstr(out_show, "ignored"));
	CHECK(strstr(out_show, "allowed      "
			       "watch,psi-cgroup,psi,cgroup2,cgroup1,none\n"));
	CHECK(strstr(out_show, "limit        1073741824 (1024.0 MiB)\n"));
	CHECK(strstr(out_show, "limit from   --limit / TIDE_LIMIT\n"));
	CHECK(strstr(out_show, "high         209715200 (200.0 MiB)\n"));
	CHECK(strstr(out_show, "low          183500800 (175.0 MiB)\n"));
	sources_of(out_show, true, src, sizeof(src));
	CHECK(!strstr(src, "budget"));
	/* the group's limit watcher, last of the sources but the budget */
	CHECK(!strcmp(src, "cgroup1") ||
	      (strlen(src) > 8 && !strcmp(src + strlen(src) - 8, ",cgroup1")));
	/* every source named: the budget is back, the rest the same */
	CHECK(WIFEXITED(st_all) && WEXITSTATUS(st_all) == 0);
	CHECK(strstr(out_all, "allowed      "
			      "watch,psi-cgroup,psi,cgroup2,cgroup1,budget,"
			      "none\n"));
	sources_of(out_all, true, src_all, sizeof(src_all));
	snprintf(want, sizeof(want), "%s,budget", src);
	CHECK_STR(src_all, want);
	/*
	 * the shim in the program: what --show said (not under ASan, whose
	 * runtime in a host with a v1 limit watcher that exits at once dies
	 * now and then: test_preload.c's sanitized())
	 */
	if (!asan) {
		CHECK(WIFEXITED(st_shim) && WEXITSTATUS(st_shim) == 0);
		sources_of(out_shim, false, src_shim, sizeof(src_shim));
		CHECK_STR(src_shim, src);
		CHECK(strstr(out_shim, ", limit 1073741824 (TIDE_LIMIT), high "
				       "209715200, low 183500800, allocator "));
	}

	/* no limit from the cgroups: the same settings open the budget */
	CHECK(WIFEXITED(st_plain) && WEXITSTATUS(st_plain) == 0);
	if (!strstr(out_plain, "limit from   none\n")) {
		th_note("a limit above the test's group: the case of no "
			"limit is not checked");
		return;
	}
	CHECK(WIFEXITED(st_free) && WEXITSTATUS(st_free) == 0);
	CHECK(strstr(out_free, "allowed      "
			       "watch,psi-cgroup,psi,cgroup2,cgroup1,budget,"
			       "none\n"));
	CHECK(strstr(out_free, "limit        1073741824 (1024.0 MiB)\n"));
	CHECK(strstr(out_free, "high         209715200 (200.0 MiB)\n"));
	sources_of(out_free, true, src_all, sizeof(src_all));
	CHECK_STR(src_all, want);
	if (!asan) {
		CHECK(WIFEXITED(st_fshim) && WEXITSTATUS(st_fshim) == 0);
		sources_of(out_fshim, false, src_shim, sizeof(src_shim));
		CHECK_STR(src_shim, want);
	}
}

/*
 * --limit 64G on this machine (past its memory) in a 256 MiB group: the
 * limit is ignored with one line (naming the options as given) and the
 * group's is used, so --high 80%
 * is 80% of the group's; a --low above the group's default high is a bad
 * setting whose line still says why the limit was ignored (a review: the
 * error overwrote it, naming a 3/4 of a limit the user never gave).
 */
TEST(a_limit_past_memory_gives_way_to_the_group_limit)
{
	char *show[] = { TP_RUN, "--limit", "64T", "--high",
			 "80%",	 "--show",  NULL };
	char *bad[] = { TP_RUN, "--limit", "64T", "--low",
			"250M", "--show",  NULL };
	/*
	 * Above the group's own limit: the group's OOM killer comes first
	 * (a trial: --limit 1G in a 320 MiB group, high 768 MiB, OOM-killed
	 * 2 of 2, silently).  One whose default high is under the group's
	 * limit, or given with a --high under it, is taken.
	 */
	char *above[] = { TP_RUN, "--limit", "1G", "--show", NULL };
	char *kept[] = { TP_RUN, "--limit", "300M", "--show", NULL };
	char *with[] = { TP_RUN, "--limit", "1G", "--high",
			 "200M", "--show",  NULL };
	char out_show[4096], out_bad[4096], out_above[4096], out_kept[4096],
		out_with[4096];
	int st_show, st_bad, st_above, st_kept, st_with, rm;

	make_group(256ull << 20);
	st_show = run_in_group(show, out_show, sizeof(out_show));
	st_bad = run_in_group(bad, out_bad, sizeof(out_bad));
	st_above = run_in_group(above, out_above, sizeof(out_above));
	st_kept = run_in_group(kept, out_kept, sizeof(out_kept));
	st_with = run_in_group(with, out_with, sizeof(out_with));
	rm = rmdir(cg_dir) ? -errno : 0;
	th_note("%s%s%s%s%s", out_show, out_bad, out_above, out_kept, out_with);
	CHECK_EQ(rm, 0);
	CHECK(WIFEXITED(st_above) && WEXITSTATUS(st_above) == 0);
	CHECK(strstr(out_above,
		     "tide-run: warning: --limit 1G ignored: its default "
		     "high watermark (3/4 of it, 805306368 bytes) is at or "
		     "above the limit the cgroups set (268435456 bytes), usage "
		     "never reaches it (the limit found from the cgroups, if "
		     "any, is used)\n"));
	CHECK(strstr(out_above, "limit        268435456 (256.0 MiB)\n"));
	CHECK(strstr(out_above, "high         201326592 (192.0 MiB)\n"));
	CHECK(WIFEXITED(st_kept) && WEXITSTATUS(st_kept) == 0);
	CHECK(!strstr(out_kept, "ignored"));
	CHECK(strstr(out_kept, "limit        314572800 (300.0 MiB)\n"));
	CHECK(strstr(out_kept, "high         235929600 (225.0 MiB)\n"));
	CHECK(WIFEXITED(st_with) && WEXITSTATUS(st_with) == 0);
	CHECK(!strstr(out_with, "ignored"));
	CHECK(strstr(out_with, "limit        1073741824 (1024.0 MiB)\n"));
	CHECK(strstr(out_with, "high         209715200 (200.0 MiB)\n"));
	CHECK(WIFEXITED(st_show) && WEXITSTATUS(st_show) == 0);
	/* 80% of 64T is past the machine's memory, as is 3/4 of it */
	CHECK(strstr(out_show, "tide-run: warning: --limit 64T ignored: "
			       "its high watermark (--high, "
			       "56294995342131 bytes, and the default 3/4 "
			       "of the limit, 52776558133248 bytes) is at "
			       "or above this machine's memory ("));
	CHECK(strstr(out_show, "limit        268435456 (256.0 MiB)\n"));
	/* 80% of 256 MiB, rounded down */
	CHECK(strstr(out_show, "high         214748364 (204.8 MiB)\n"));
	CHECK(WIFEXITED(st_bad) && WEXITSTATUS(st_bad) != 0);
	CHECK(strstr(out_bad, "tide-run: --limit 64T ignored: its default high "
			      "watermark"));
	CHECK(strstr(out_bad, "; --low (262144000 bytes) is above the "
			      "default high watermark (201326592 bytes, 3/4 "
			      "of the limit)"));
}

/* The monitor's high watermark tidectl shows for @pid (0: no answer). */
static unsigned long long shown_high(const char *dir, const char *pid)
{
	char *argv[] = { (char *)TP_TIDECTL, "--dir", (char *)dir, (char *)pid,
			 NULL };
	char out[8192];
	const char *p;
	int fd, st;
	pid_t c = spawn(argv, false, NULL, &fd);

	st = collect(c, fd, out, sizeof(out));
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return 0;
	p = strstr(out, "\n  high ");
	return p ? strtoull(p + 8, NULL, 10) : 0;
}

/*
 * --high 80% with a --limit that is ignored (64T, past the machine's
 * memory) is 80% of the group's limit, and follows it when it changes, as
 * without --limit.  A review: the shim took the ignored limit as given in
 * bytes, so the percentage stopped following (the limit's default 3/4
 * came instead).
 */
TEST(percentages_follow_the_group_limit_after_an_ignored_limit)
{
	char *argv[] = { TP_RUN, "--limit", "64T",	 "--high", "80%",
			 "--",	 TP_HOST,   "pid-sleep", "20000",  NULL };
	char tmp[] = "/tmp/tide-pcg-XXXXXX", dir[64], pid[32] = "", line[512];
	unsigned long long high = 0;
	int fd, st, rm;
	FILE *f;
	pid_t c;

	if (!TP_TIDECTL[0])
		SKIP("tidectl is not built (TIDE_BUILD_TOOLS=OFF)");
	CHECK(mkdtemp(tmp));
	snprintf(dir, sizeof(dir), "%s/tide", tmp);
	make_group(256ull << 20);
	c = spawn(argv, true, tmp, &fd);
	f = fdopen(fd, "r");
	/* stderr too: the shim's line saying the limit is ignored first */
	CHECK(f);
	while (fgets(line, sizeof(line), f) &&
	       sscanf(line, "pid %31s", pid) != 1)
		;
	CHECK(pid[0]);
	for (int i = 0; i < 250 && !high; i++) {
		high = shown_high(dir, pid);
		if (!high)
			usleep(20 * 1000);
	}
	CHECK_UEQ(high, 214748364); /* 80% of 256 MiB */
	CHECK(!write_file(cg_dir, "memory.limit_in_bytes", "134217728"));
	/* the monitor reads the limit again every 2 s */
	for (int i = 0; i < 100 && high != 107374182; i++) {
		usleep(50 * 1000);
		high = shown_high(dir, pid);
	}
	kill(c, SIGKILL);
	CHECK(waitpid(c, &st, 0) == c);
	fclose(f);
	rm = rmdir(cg_dir) ? -errno : 0;
	CHECK_EQ(rm, 0);
	CHECK_UEQ(high, 107374182); /* 80% of 128 MiB */
	{
		char cmd[96];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
		CHECK_EQ(system(cmd), 0);
	}
}

TEST(cgroup1_limit_host_survives_with_tide_run_oom_killed_without)
{
	char *with[] = { TP_RUN, "--verbose", "--", TP_HOST, "grow", NULL };
	char *without[] = { TP_HOST, "grow", NULL };
	char out_with[8192], out_without[8192], want[64];
	long long k0, k1, k2;
	int st_with, st_without, rm;

	if (TP_SANITIZE[0])
		SKIP("%s build: the sanitizer's allocator replaces glibc's, "
		     "there is no glibc heap for the purge to trim",
		     TP_SANITIZE);
	make_group(LIMIT);
	k0 = oom_kills();
	st_with = run_in_group(with, out_with, sizeof(out_with));
	k1 = oom_kills();
	st_without = run_in_group(without, out_without, sizeof(out_without));
	k2 = oom_kills();
	rm = rmdir(cg_dir) ? -errno : 0;

	th_note("with tide-run: status %#x\n%s", st_with, out_with);
	th_note("without: status %#x\n%s", st_without, out_without);
	CHECK_EQ(rm, 0);
	/* The shim found the group's limit by itself. */
	snprintf(want, sizeof(want), ", limit %llu (", LIMIT);
	CHECK(strstr(out_with, want));
	CHECK(strstr(out_with, "/memory.limit_in_bytes)"));
	CHECK(WIFEXITED(st_with) && WEXITSTATUS(st_with) == 0);
	CHECK(strstr(out_with, "round 4 anon ") && strstr(out_with, "done\n"));
	CHECK_EQ(k1, k0);
	/* The limit is real: the same host alone is OOM-killed. */
	CHECK(WIFSIGNALED(st_without) && WTERMSIG(st_without) == SIGKILL);
	CHECK_EQ(k2, k1 + 1);
}

RUN_TESTS(T(percent_settings_resolve_against_the_group_limit),
	  T(a_size_limit_in_a_limited_group_leaves_the_budget_out),
	  T(a_limit_past_memory_gives_way_to_the_group_limit),
	  T(percentages_follow_the_group_limit_after_an_ignored_limit),
	  T(cgroup1_limit_host_survives_with_tide_run_oom_killed_without))

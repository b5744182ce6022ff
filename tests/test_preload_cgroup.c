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

/* Run @argv inside the group; its output in @out; the wait status. */
static int run_in_group(char *const argv[], char *out, size_t size)
{
	int pfd[2], st;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	CHECK(!pipe2(pfd, O_CLOEXEC));
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		char me[32];

		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		snprintf(me, sizeof(me), "%d\n", (int)getpid());
		if (write_file(cg_dir, "cgroup.procs", me))
			_exit(125);
		unsetenv("LD_PRELOAD");
		execv(argv[0], argv);
		_exit(126);
	}
	close(pfd[1]);
	while (n + 1 < size && (r = read(pfd[0], out + n, size - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(pfd[0]);
	CHECK(waitpid(pid, &st, 0) == pid);
	return st;
}

TEST(cgroup1_limit_host_survives_with_tide_run_oom_killed_without)
{
	char *with[] = { TP_RUN, "--verbose", "--", TP_HOST, "grow", NULL };
	char *without[] = { TP_HOST, "grow", NULL };
	char own[PATH_MAX], out_with[8192], out_without[8192], limit[32];
	char want[64];
	long long k0, k1, k2;
	int st_with, st_without, rm;

	if (th_under_valgrind())
		SKIP("under valgrind the host's heap is valgrind's");
	if (TP_SANITIZE[0])
		SKIP("%s build: the sanitizer's allocator replaces glibc's, "
		     "there is no glibc heap for the purge to trim",
		     TP_SANITIZE);
	own_memory_group(own, sizeof(own));
	if (!own[0])
		SKIP("no cgroup v1 memory controller mounted");
	snprintf(cg_dir, sizeof(cg_dir), "%s/tide-preload-test-%d", own,
		 (int)getpid());
	if (mkdir(cg_dir, 0755))
		SKIP("cannot create a memory cgroup under %s: %s", own,
		     strerror(errno));
	snprintf(limit, sizeof(limit), "%llu", LIMIT);
	if (write_file(cg_dir, "memory.limit_in_bytes", limit)) {
		rmdir(cg_dir);
		SKIP("cannot set memory.limit_in_bytes");
	}
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

RUN_TESTS(T(cgroup1_limit_host_survives_with_tide_run_oom_killed_without))

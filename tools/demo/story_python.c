// SPDX-License-Identifier: MIT
/*
 * story_python.c - tide-demo's story of an unmodified CPython: its heap
 * stays fragmented after the frees until tide-run's shim purges it on a
 * pressure event.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tide/pressure.h>

#include "demo.h"

#define PYTHON "/usr/bin/python3"
#define DEADLINE_MS 30000
/* the heap python3 builds: OBJECTS of 1 KiB, about OBJ_BYTES each */
#define OBJECTS 300000L
#define MIN_OBJECTS 40000L
#define OBJ_BYTES 1100

static const char script[] = "import sys\n"
			     "def anon():\n"
			     "    with open('/proc/self/smaps_rollup') as f:\n"
			     "        for l in f:\n"
			     "            if l.startswith('Anonymous:'):\n"
			     "                return int(l.split()[1])\n"
			     "objs = [bytes(1024) for _ in "
			     "range(int(sys.argv[1]))]\n"
			     "kept = objs[::50]\n"
			     "del objs\n"
			     "print('anon', anon(), flush=True)\n"
			     "for line in sys.stdin:\n"
			     "    print('anon', anon(), flush=True)\n";

struct py {
	pid_t pid;
	int in, out;
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int spawn(const char *tide_run, const char *fifo, long n, struct py *p)
{
	char count[24];
	int in[2], out[2];

	if (pipe2(in, O_CLOEXEC))
		return -1;
	if (pipe2(out, O_CLOEXEC)) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	p->pid = fork();
	if (p->pid < 0) {
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return -1;
	}
	snprintf(count, sizeof(count), "%ld", n);
	if (!p->pid) {
		char *with[] = { (char *)tide_run, "--",  PYTHON, "-c",
				 (char *)script,   count, NULL };
		char *without[] = { PYTHON, "-c", (char *)script, count, NULL };

		dup2(in[0], 0);
		dup2(out[1], 1);
		setenv("MEMORY_PRESSURE_WATCH", fifo, 1);
		unsetenv("LD_PRELOAD");
		if (tide_run)
			execv(tide_run, with);
		else
			execv(PYTHON, without);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p->in = in[1];
	p->out = out[0];
	return 0;
}

/* The next "anon KB" line within @ms; -1 on EOF, timeout or garbage. */
static long read_anon(struct py *p, int ms)
{
	char line[128];
	size_t n = 0;
	long end = now_ms() + ms, v;

	while (n + 1 < sizeof(line)) {
		struct pollfd pfd = { .fd = p->out, .events = POLLIN };
		long left = end - now_ms();
		char c;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0 ||
		    read(p->out, &c, 1) != 1)
			return -1;
		if (c == '\n')
			break;
		line[n++] = c;
	}
	line[n] = '\0';
	return sscanf(line, "anon %ld", &v) == 1 ? v : -1;
}

static long ask(struct py *p)
{
	if (write(p->in, "\n", 1) != 1)
		return -1;
	return read_anon(p, DEADLINE_MS);
}

static void event(const char *fifo)
{
	int fd = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, "x", 1) != 1) {
			/* A full FIFO holds an event already. */
		}
		close(fd);
	}
}

/*
 * Why a run gave no figures, in @why: how python3 ended when it did not
 * exit 0 (the OOM killer, a kill from outside), else what was missing.
 */
static void say_why(char *why, size_t size, int st, long before, long after)
{
	if (WIFSIGNALED(st))
		snprintf(why, size, "python3 killed by signal %d, %s",
			 WTERMSIG(st), strsignal(WTERMSIG(st)));
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		snprintf(why, size, "python3 exited with status %d",
			 WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	else if (before <= 0)
		snprintf(why, size, "no figure after the frees within %d s",
			 4 * DEADLINE_MS / 1000);
	else if (after <= 0)
		snprintf(why, size, "no figure after the event within %d s",
			 DEADLINE_MS / 1000);
}

/*
 * One run: figures after the frees and after the event, in kB; -1 with
 * the reason in @why.  python3 may die at any moment (the OOM killer in
 * a small container): the write to its closed stdin then fails with
 * EPIPE (tide-demo catches SIGPIPE), and its status tells why.
 */
static int run(const char *tide_run, const char *fifo, long n, long *before,
	       long *after, char *why, size_t wsize)
{
	struct py p;
	long start, prev = -2, a = -1;
	int st;

	if (spawn(tide_run, fifo, n, &p)) {
		snprintf(why, wsize, "could not start python3: %s",
			 strerror(errno));
		return -1;
	}
	*before = read_anon(&p, 4 * DEADLINE_MS);
	if (*before > 0) {
		event(fifo);
		start = now_ms();
		/* At least a second, then until two readings agree. */
		do {
			usleep(300 * 1000);
			prev = a;
			a = ask(&p);
		} while (a > 0 &&
			 (now_ms() - start < 1000 || (a != prev && prev > 0)) &&
			 now_ms() - start < DEADLINE_MS);
	}
	*after = a;
	close(p.in);
	close(p.out);
	while (waitpid(p.pid, &st, 0) != p.pid) {
		if (errno != EINTR) {
			snprintf(why, wsize, "waitpid: %s", strerror(errno));
			return -1;
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) || *before <= 0 || *after <= 0) {
		say_why(why, wsize, st, *before, *after);
		return -1;
	}
	return 0;
}

/*
 * How many objects python3 makes: OBJECTS (about 320 MB resident), or a
 * quarter of the cgroups' limit where that is less (at least MIN_OBJECTS,
 * about 55 MB with the interpreter), so that the story fits a small
 * container: in a 256 MiB group python3 was OOM-killed at 300k.  The
 * limit in *@limit (0: none found).
 */
static long objects(uint64_t *limit)
{
	struct tide_monitor_config cfg = {
		.size = sizeof(cfg),
		/* the limit only: no PSI trigger to close */
		.sources = TIDE_SOURCE_CGROUP1 | TIDE_SOURCE_CGROUP2 |
			   TIDE_SOURCE_NONE,
	};
	struct tide_monitor_limit lim = { 0 };
	struct tide_monitor *m;
	long n = OBJECTS;

	*limit = 0;
	if (!tide_monitor_new(&m, &cfg)) {
		if (!tide_monitor_limit(m, &lim))
			*limit = lim.limit;
		tide_monitor_free(m);
	}
	if (*limit && *limit / 4 / OBJ_BYTES < (uint64_t)n)
		n = (long)(*limit / 4 / OBJ_BYTES);
	return n < MIN_OBJECTS ? MIN_OBJECTS : n;
}

/* @dir/@name into @path when it is an executable file. */
static bool try_path(char *path, size_t size, const char *dir, size_t dirlen,
		     const char *name)
{
	struct stat st;

	if (!dirlen) /* an empty PATH entry is the current directory */
		dir = ".", dirlen = 1;
	if ((size_t)snprintf(path, size, "%.*s/%s", (int)dirlen, dir, name) >=
	    size)
		return false;
	return !stat(path, &st) && S_ISREG(st.st_mode) && !access(path, X_OK);
}

/*
 * tide-run: next to this program (installed, both are in the same bin/),
 * then in @build_dir/preload (the build tree), then in $PATH.  Its path in
 * @path, or false.
 */
static bool find_tide_run(const char *build_dir, char *path, size_t size)
{
	char exe[PATH_MAX];
	const char *p, *e;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		p = dirname(exe);
		if (try_path(path, size, p, strlen(p), "tide-run"))
			return true;
	}
	if (build_dir && try_path(path, size, build_dir, strlen(build_dir),
				  "preload/tide-run"))
		return true;
	for (p = getenv("PATH"); p && *p; p = *e ? e + 1 : e) {
		e = strchrnul(p, ':');
		if (try_path(path, size, p, (size_t)(e - p), "tide-run"))
			return true;
	}
	return false;
}

int story_python(const char *build_dir, FILE *out)
{
	char tide_run[PATH_MAX], fifo[64], why0[128] = "", why1[128] = "";
	long b0 = 0, a0 = 0, b1 = 0, a1 = 0, n;
	uint64_t limit;
	int r0, r1;

	if (SANITIZED) {
		fprintf(out, "Unmodified CPython under tide-run: skipped, this "
			     "build has a sanitizer,\nwhose run time cannot be "
			     "preloaded into python3.\n");
		return STORY_SKIPPED;
	}
	if (access(PYTHON, X_OK)) {
		fprintf(out,
			"Unmodified CPython under tide-run: skipped, %s "
			"is not installed\n(Debian: apt-get install python3).\n",
			PYTHON);
		return STORY_SKIPPED;
	}
	if (!find_tide_run(build_dir, tide_run, sizeof(tide_run))) {
		fprintf(out,
			"Unmodified CPython under tide-run: tide-run not "
			"found (not next to\ntide-demo, not in %s/preload, "
			"not in $PATH).\n",
			build_dir ? build_dir : ".");
		return 2;
	}
	snprintf(fifo, sizeof(fifo), "/tmp/tide-demo-python.%d", (int)getpid());
	unlink(fifo);
	if (mkfifo(fifo, 0600)) {
		fprintf(out, "python story: mkfifo %s: %s\n", fifo,
			strerror(errno));
		return 2;
	}
	n = objects(&limit);
	r0 = run(NULL, fifo, n, &b0, &a0, why0, sizeof(why0));
	r1 = run(tide_run, fifo, n, &b1, &a1, why1, sizeof(why1));
	unlink(fifo);

	fprintf(out,
		"Unmodified CPython (%s): %ldk objects of 1 KiB, 1 in 50 "
		"kept, the rest freed;\n   then one memory-pressure event "
		"($MEMORY_PRESSURE_WATCH FIFO).\n",
		PYTHON, n / 1000);
	if (n < OBJECTS)
		fprintf(out,
			"(%ldk, not %ldk: a quarter of the cgroups' limit, "
			"%.0f MiB)\n",
			n / 1000, OBJECTS / 1000,
			(double)limit / (1024.0 * 1024.0));
	fprintf(out, "tide-run: %s\n\n", tide_run);
	fprintf(out, "%-20s %16s %16s %6s\n", "", "after the frees",
		"after the event", "kept");
	if (r0)
		fprintf(out, "%-20s (did not finish: %s)\n", "python3", why0);
	else
		fprintf(out, "%-20s %13ld kB %13ld kB %5.0f%%\n", "python3", b0,
			a0, 100.0 * (double)a0 / (double)b0);
	if (r1)
		fprintf(out, "%-20s (did not finish: %s)\n", "tide-run python3",
			why1);
	else
		fprintf(out, "%-20s %13ld kB %13ld kB %5.0f%%\n",
			"tide-run python3", b1, a1,
			100.0 * (double)a1 / (double)b1);
	if (r0 || r1)
		return 2;
	return a1 * 10 <= b1 * 4 && a0 * 10 >= b0 * 8 ? 0 : 1;
}

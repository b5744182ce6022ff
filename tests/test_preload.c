// SPDX-License-Identifier: MIT
/*
 * test_preload.c - libtide-preload.so and tide-run with real programs:
 * Debian's python3 and a C host linked to nothing of tide (preload/host.c),
 * told about pressure the way systemd does it ($MEMORY_PRESSURE_WATCH
 * pointing at a FIFO the test writes).
 *
 * A host prints "anon KB" (the Anonymous: line of its smaps_rollup) after
 * fragmenting its heap and again for every line it reads; the test writes
 * the FIFO once the frees are done and asks again until the figure falls
 * (or a deadline passes).
 */
#include <dlfcn.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <time.h>

#include "harness.h"

#ifndef TP_SHIM
#error "built by preload/CMakeLists.txt with TP_SHIM, TP_RUN, TP_HOST, ..."
#endif

#define PYTHON "/usr/bin/python3"
#define LIBDIR "/usr/lib/x86_64-linux-gnu" /* Debian's, for the allocators */
#define DEADLINE_MS 30000 /* a trim of 300 MB may take seconds when busy */

/* CPython fragments its heap: 300k objects of 1 KiB, 1 in 50 kept. */
static const char py_script[] =
	"import sys\n"
	"def anon():\n"
	"    with open('/proc/self/smaps_rollup') as f:\n"
	"        for l in f:\n"
	"            if l.startswith('Anonymous:'):\n"
	"                return int(l.split()[1])\n"
	"objs = [bytes(1024) for _ in range(300000)]\n"
	"kept = objs[::50]\n"
	"del objs\n"
	"print('anon', anon(), flush=True)\n"
	"for line in sys.stdin:\n"
	"    print('anon', anon(), flush=True)\n";

struct proc {
	pid_t pid;
	int in, out, err; /* its stdin (ours to write), stdout, stderr */
	char fifo[64];
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool sanitized(void)
{
	return TP_SANITIZE[0] != '\0';
}

/*
 * In an ASan build the host links the ASan runtime, but the preloaded shim
 * comes before it in the initial library list, which ASan refuses by
 * default.  The shim defines only close(), close_range(), closefrom(),
 * dup2() and dup3(), which call the next definition (the runtime's
 * interceptor where it has one), so the runtime's interceptors still come
 * before libc's: the order check can be turned off.
 */
static void sanitizer_env(void)
{
	bool asan = !strcmp(TP_SANITIZE, "address");
	const char *var = asan ? "ASAN_OPTIONS" : "TSAN_OPTIONS";
	const char *old = getenv(var);
	char buf[1024];

	if (!sanitized())
		return;
	/*
	 * TSan refuses to start a thread in the child of a multi-threaded
	 * fork (its own bookkeeping, not a glibc rule); the shim's child
	 * starts its monitor there, as designed.
	 */
	snprintf(buf, sizeof(buf), "%s%s%s", old ? old : "",
		 old && *old ? ":" : "",
		 asan ? "verify_asan_link_order=0" : "die_after_fork=0");
	setenv(var, buf, 1);
}

/*
 * Threads the running shim adds: its monitor's, and under TSan the
 * runtime's background thread, which it starts with the second thread.
 */
static int shim_threads(void)
{
	return strcmp(TP_SANITIZE, "thread") ? 1 : 2;
}

/*
 * Start @argv with the environment changed by @env ("NAME=VALUE" sets,
 * "+NAME=VALUE" adds one more entry of that name,
 * "NAME" unsets; NULL terminated).  LD_PRELOAD is always cleared first.
 */
static void start(struct proc *p, char *const argv[], const char *const env[])
{
	int in[2], out[2], err[2];

	CHECK(!pipe2(in, O_CLOEXEC) && !pipe2(out, O_CLOEXEC) &&
	      !pipe2(err, O_CLOEXEC));
	p->pid = fork();
	CHECK(p->pid >= 0);
	if (!p->pid) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		unsetenv("LD_PRELOAD");
		sanitizer_env();
		for (const char *const *e = env; e && *e; e++) {
			const char *eq = strchr(*e, '=');

			if (**e == '+') {
				/* "+NAME=VALUE": one more entry, after any
				 * other of that name (a duplicate) */
				size_t n = 0;
				char **ne;

				while (environ[n])
					n++;
				ne = malloc((n + 2) * sizeof(*ne));
				if (!ne)
					_exit(125);
				memcpy(ne, environ, n * sizeof(*ne));
				ne[n] = strdup(*e + 1);
				ne[n + 1] = NULL;
				environ = ne;
			} else if (eq) {
				char name[64];

				snprintf(name, sizeof(name), "%.*s",
					 (int)(eq - *e), *e);
				setenv(name, eq + 1, 1);
			} else {
				unsetenv(*e);
			}
		}
		execvp(argv[0], argv);
		_exit(126);
	}
	close(in[0]);
	close(out[1]);
	close(err[1]);
	p->in = in[1];
	p->out = out[0];
	p->err = err[0];
}

/* Read one line of @fd into @buf within @ms; false on EOF or timeout. */
static bool read_line(int fd, char *buf, size_t size, int ms)
{
	size_t n = 0;
	long end = now_ms() + ms;

	while (n + 1 < size) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left = end - now_ms();
		char c;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return false;
		if (read(fd, &c, 1) != 1)
			return false;
		if (c == '\n')
			break;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return true;
}

/* Everything left on @fd until EOF. */
static size_t read_all(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	return n;
}

static long ask_anon(struct proc *p)
{
	char line[128];
	long v;

	CHECK(write(p->in, "\n", 1) == 1);
	CHECK(read_line(p->out, line, sizeof(line), DEADLINE_MS));
	CHECK(sscanf(line, "anon %ld", &v) == 1);
	return v;
}

static long first_anon(struct proc *p)
{
	char line[128];
	long v;

	if (!read_line(p->out, line, sizeof(line), 4 * DEADLINE_MS))
		FAIL("no first line from the host");
	if (sscanf(line, "anon %ld", &v) != 1)
		FAIL("unexpected first line: %s", line);
	return v;
}

static int finish(struct proc *p)
{
	int st;

	char rest[4096];

	/* Drain both pipes: a host writing at exit must not get SIGPIPE. */
	close(p->in);
	read_all(p->out, rest, sizeof(rest));
	close(p->out);
	read_all(p->err, rest, sizeof(rest));
	close(p->err);
	if (p->fifo[0])
		unlink(p->fifo);
	CHECK(waitpid(p->pid, &st, 0) == p->pid);
	if (rest[0])
		th_note("stderr: %.300s", rest);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void make_fifo(struct proc *p)
{
	snprintf(p->fifo, sizeof(p->fifo), "/tmp/tide-preload-test.%d",
		 (int)getpid());
	unlink(p->fifo);
	CHECK(!mkfifo(p->fifo, 0600));
}

/* One pressure event: a write to the FIFO, as systemd's watcher would. */
static void pressure(const struct proc *p)
{
	int fd = open(p->fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	CHECK(fd >= 0);
	CHECK(write(fd, "x", 1) == 1);
	close(fd);
}

/*
 * Write the FIFO (again every second: in a fork test the parent's monitor
 * may take an event too) until anonymous memory is at most 40% of @before;
 * returns the last figure.
 */
static long pressure_until_40pct(struct proc *p, long before)
{
	long end = now_ms() + DEADLINE_MS, last_event = 0, a;

	for (;;) {
		if (now_ms() - last_event >= 1000) {
			pressure(p);
			last_event = now_ms();
		}
		usleep(100 * 1000);
		a = ask_anon(p);
		if (a * 10 <= before * 4 || now_ms() > end)
			break;
	}
	/* The trim may still be under way: report where it settles. */
	for (long prev = -1; a != prev && now_ms() <= end;) {
		usleep(300 * 1000);
		prev = a;
		a = ask_anon(p);
	}
	return a;
}

static unsigned long long found_limit(void);

/*
 * What each heap test holds resident at its peak (every block allocated,
 * none freed yet), with headroom, in MiB: in a memory cgroup limited below
 * it the host is OOM-killed before its first line.  Measured with
 * memory.max_usage_in_bytes of a group of its own (cgroup v1, glibc 2.36,
 * Debian's python3 3.11 and jemalloc 5.3).
 *
 * python3 (py_script): 300k bytes(1024), 1057-byte objects, over
 * pymalloc's 512 bytes: glibc's 1072-byte chunks, 307 MiB, with the list
 * and the interpreter 313 MiB measured; jemalloc's 1280-byte size class,
 * 366 MiB, 382 MiB measured.
 */
#define PYTHON_HEAP_MIB 352ull
#define PYTHON_JEMALLOC_HEAP_MIB 424ull
/*
 * The C host's frag (host.c: BLOCKS of BLOCK bytes, all held before the
 * frees): 300k glibc chunks of 1040 bytes, 298 MiB, with the pointer array
 * 301 MiB measured; in closeall-frag, daemon-frag and fork-frag alike
 * (fork-frag's parent, which waits, holds no heap).  threads64 holds the
 * same 300k blocks in 64 arenas, with 64 stacks: 303 MiB measured.
 *
 * In a sanitizer build the host's blocks are the sanitizer's (python3
 * tests skip there): ASan adds redzones and shadow, 427-429 MiB measured,
 * threads64 434 MiB; TSan's shadow of the memset blocks, 1644 MiB,
 * threads64 1734 MiB (GCC 12).
 */
#define FRAG_HOST_MIB 336ull
#define FRAG_HOST_ASAN_MIB 480ull
#define FRAG_HOST_TSAN_MIB 1856ull
#define THREADS64_HOST_MIB 344ull
#define THREADS64_HOST_ASAN_MIB 488ull
#define THREADS64_HOST_TSAN_MIB 1952ull

/*
 * Skip where the cgroups' memory limit is below @mib MiB: the machine
 * lacks the memory the test needs.  No limit (0): never.
 */
static void need_resident_mib(unsigned long long mib)
{
	unsigned long long lim = found_limit();

	if (lim && lim < mib << 20)
		SKIP("needs %llu MiB resident, the cgroups' limit is %llu MiB",
		     mib, lim >> 20);
}

/* need_resident_mib() of the C host in this build: @plain, @asan, @tsan. */
static void host_needs_mib(unsigned long long plain, unsigned long long asan,
			   unsigned long long tsan)
{
	if (!strcmp(TP_SANITIZE, "address"))
		need_resident_mib(asan);
	else if (!strcmp(TP_SANITIZE, "thread"))
		need_resident_mib(tsan);
	else
		need_resident_mib(plain);
}

static void need_python(void)
{
	if (access(PYTHON, X_OK))
		SKIP("Debian's python3 is not installed (scripts/deps.sh)");
	/* An instrumented shim needs its sanitizer runtime loaded first,
	 * which an uninstrumented python3 does not do. */
	if (sanitized())
		SKIP("%s build: python3 cannot load the instrumented shim",
		     TP_SANITIZE);
}

/* ---- python3 ------------------------------------------------------------ */

TEST(python_heap_given_back_after_pressure_event)
{
	char *argv[] = { PYTHON, "-c", (char *)py_script, NULL };
	struct proc p = { 0 };
	char watch[96];
	const char *env[] = { "LD_PRELOAD=" TP_SHIM, watch, NULL };
	long before, after;

	need_python();
	need_resident_mib(PYTHON_HEAP_MIB);
	make_fifo(&p);
	snprintf(watch, sizeof(watch), "MEMORY_PRESSURE_WATCH=%s", p.fifo);
	start(&p, argv, env);
	before = first_anon(&p);
	after = pressure_until_40pct(&p, before);
	th_note("python3 + shim: %ld kB after the frees, %ld kB after the "
		"event",
		before, after);
	CHECK_CMP(before, >, 250 * 1024);
	CHECK_CMP(after * 10, <=, before * 4);
	CHECK_EQ(finish(&p), 0);
}

/* python3 under LD_PRELOAD of @alloc and the shim; @need_mib: its heap's. */
static void python_under(const char *alloc, unsigned long long need_mib)
{
	char *argv[] = { PYTHON, "-c", (char *)py_script, NULL };
	struct proc p = { 0 };
	char watch[96], preload[512];
	const char *env[] = { preload, watch, NULL };
	long before, after;

	need_python();
	if (access(alloc, R_OK))
		SKIP("%s is not installed (scripts/deps.sh test)", alloc);
	need_resident_mib(need_mib);
	make_fifo(&p);
	snprintf(watch, sizeof(watch), "MEMORY_PRESSURE_WATCH=%s", p.fifo);
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s %s", alloc, TP_SHIM);
	start(&p, argv, env);
	before = first_anon(&p);
	after = pressure_until_40pct(&p, before);
	th_note("python3 + %s + shim: %ld kB after the frees, %ld kB after "
		"the event",
		strrchr(alloc, '/') + 1, before, after);
	CHECK_CMP(before, >, 250 * 1024);
	CHECK_CMP(after * 10, <=, before * 4);
	CHECK_EQ(finish(&p), 0);
}

TEST(python_jemalloc_heap_given_back_after_pressure_event)
{
	python_under(LIBDIR "/libjemalloc.so.2", PYTHON_JEMALLOC_HEAP_MIB);
}

/*
 * No mimalloc case: Debian's mimalloc 2.0.9 keeps 100% of this heap even
 * with mi_collect(true) on the allocating thread and MIMALLOC_PAGE_RESET=1,
 * since every 64 KiB mimalloc page of 1 KiB blocks holds a kept object:
 * no purge can give it back (docs/preload.md, "Measured").
 */

TEST(python_without_shim_keeps_its_heap)
{
	char *argv[] = { PYTHON, "-c", (char *)py_script, NULL };
	struct proc p = { 0 };
	char watch[96];
	const char *env[] = { watch, NULL };
	long before, after;

	need_python();
	need_resident_mib(PYTHON_HEAP_MIB);
	make_fifo(&p);
	snprintf(watch, sizeof(watch), "MEMORY_PRESSURE_WATCH=%s", p.fifo);
	start(&p, argv, env);
	before = first_anon(&p);
	pressure(&p);
	sleep(3);
	after = ask_anon(&p);
	th_note("python3 alone: %ld kB after the frees, %ld kB 3 s after the "
		"event",
		before, after);
	CHECK_CMP(before, >, 250 * 1024);
	CHECK_CMP(after * 10, >=, before * 8);
	CHECK_EQ(finish(&p), 0);
}

/* ---- the C host: fork, daemon(), exec, threads --------------------------- */

static int count_threads(const char *line)
{
	int n = -1;

	CHECK(sscanf(line, "threads %d", &n) == 1);
	return n;
}

/* Threads of the host without the shim (sanitizers may add their own). */
static int base_threads(void)
{
	char *argv[] = { TP_HOST, "exit", "0", NULL };
	struct proc p = { 0 };
	char line[256];

	start(&p, argv, NULL);
	CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
	CHECK_EQ(finish(&p), 0);
	return count_threads(line);
}

static void host_gives_back(const char *mode, bool daemonizes)
{
	char *argv[] = { TP_HOST, (char *)mode, NULL };
	struct proc p = { 0 };
	char watch[96], line[256];
	const char *env[] = { "LD_PRELOAD=" TP_SHIM, watch, NULL };
	int base = base_threads();
	long before, after;

	make_fifo(&p);
	snprintf(watch, sizeof(watch), "MEMORY_PRESSURE_WATCH=%s", p.fifo);
	start(&p, argv, env);
	if (daemonizes) {
		int st;

		/* daemon()'s parent exits 0 at once; the daemon goes on. */
		CHECK(waitpid(p.pid, &st, 0) == p.pid);
		CHECK(WIFEXITED(st));
		CHECK_EQ(WEXITSTATUS(st), 0);
		p.pid = -1;
	}
	if (strcmp(mode, "threads64")) {
		CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
		/* Its own monitor thread; the parent's is not in a child
		 * (nor TSan's background thread, which it does not restart). */
		CHECK_EQ(count_threads(line), base + 1);
	}
	before = first_anon(&p);
	if (sanitized()) {
		/* The sanitizer's allocator replaces glibc's: the events
		 * still run the monitor's loop in the host, but there is no
		 * glibc heap to measure. */
		pressure(&p);
		usleep(500 * 1000);
		pressure(&p);
		after = ask_anon(&p);
		th_note("%s build: %s ran the events; no measurement", mode,
			TP_SANITIZE);
		before = 0;
	} else {
		after = pressure_until_40pct(&p, before);
		th_note("%s: %ld kB after the frees, %ld kB after the event",
			mode, before, after);
	}
	/* threads64's threads hold all their blocks before any frees
	 * (host.c, frag_thread()), so its heap holds as much as frag's. */
	if (before) {
		CHECK_CMP(before, >, 250 * 1024);
		CHECK_CMP(after * 10, <=, before * 4);
	}
	if (daemonizes) {
		close(p.in);
		/* EOF on its stdout: the daemon has exited. */
		read_all(p.out, line, sizeof(line));
		close(p.out);
		close(p.err);
		unlink(p.fifo);
	} else {
		CHECK_EQ(finish(&p), 0);
	}
}

TEST(forked_child_gets_its_own_monitor)
{
	if (!strcmp(TP_SANITIZE, "thread"))
		SKIP("ThreadSanitizer does not support threads started in the "
		     "child of a multi-threaded fork (die_after_fork), and the "
		     "child's own monitor is one (TSan then reports a "
		     "dup thread id)");
	host_needs_mib(FRAG_HOST_MIB, FRAG_HOST_ASAN_MIB, FRAG_HOST_TSAN_MIB);
	host_gives_back("fork-frag", false);
}

/*
 * Three generations of fork() (with TIDE_CONTROL=1, a control socket in
 * each): none hangs, and each holds exactly as many descriptors as the
 * first, so a child keeps nothing of its parent's monitor or listener,
 * only its own.  A child's monitor and socket come a moment after its
 * fork, never at once (see fork_exec_leaves_no_socket): right after the
 * fork it holds exactly the descriptors the host holds without the shim
 * (neither its parent's monitor nor its own yet).
 */
static void fork_generations(bool control)
{
	char *argv[] = { TP_HOST, "fork-fds", NULL };
	char dir[] = "/tmp/tide-preload-XXXXXX", xdg[64], line[128];
	const char *env[] = { "LD_PRELOAD=" TP_SHIM,
			      control ? "TIDE_CONTROL=1" : "TIDE_CONTROL", xdg,
			      NULL };
	struct proc p = { 0 };
	int n[3], base = -1;

	/* the host's own descriptors, without the shim */
	start(&p, argv, NULL);
	CHECK(read_line(p.out, line, sizeof(line), 4 * DEADLINE_MS));
	CHECK(sscanf(line, "gen 0 fds %d", &base) == 1);
	CHECK_EQ(finish(&p), 0);
	CHECK(mkdtemp(dir));
	snprintf(xdg, sizeof(xdg), "XDG_RUNTIME_DIR=%s", dir);
	start(&p, argv, env);
	for (int gen = 0; gen < 3; gen++) {
		int g, at_fork = -1, early = -1;

		if (!read_line(p.out, line, sizeof(line), 4 * DEADLINE_MS)) {
			kill(p.pid, SIGKILL);
			FAIL("generation %d never printed (control %d)", gen,
			     control);
		}
		CHECK(sscanf(line, "gen %d fds %d at_fork %d early %d", &g,
			     &n[gen], &at_fork, &early) == (control ? 4 : 3));
		CHECK_EQ(g, gen);
		/* the first listens in its constructor; a child later */
		if (control)
			CHECK_EQ(early, gen == 0);
		/* and so with its monitor: a child starts with the
		 * descriptors of neither its parent's nor its own, exactly
		 * those of the host without the shim */
		CHECK_EQ(at_fork, gen ? base : n[0]);
	}
	CHECK_EQ(finish(&p), 0);
	th_note("control %d: %d, %d and %d descriptors (%d without the shim)",
		control, n[0], n[1], n[2], base);
	CHECK_EQ(n[1], n[0]);
	CHECK_EQ(n[2], n[0]);
	/* each generation's socket went with it */
	snprintf(line, sizeof(line), "%s/tide", dir);
	CHECK(!control || rmdir(line) == 0);
	CHECK_EQ(rmdir(dir), 0);
}

/*
 * A host that closes every descriptor it did not open (closerange(), as
 * daemons and supervisors do) and reuses the numbers, then exits.  The
 * shim's destructor used to stop and join its monitor and listener
 * threads through descriptors that were now the host's pipes: a trial's
 * python host hung at exit forever.  Now it exits at once, status 0, and
 * the control socket is gone.
 */
static void closefds_exits(bool control)
{
	char *argv[] = { TP_HOST, "closefds", NULL };
	char dir[] = "/tmp/tide-preload-XXXXXX", xdg[64], line[128];
	const char *env[] = { "LD_PRELOAD=" TP_SHIM,
			      control ? "TIDE_CONTROL=1" : "TIDE_CONTROL", xdg,
			      NULL };
	struct proc p = { 0 };
	int st = 0, waited = 0;
	pid_t r;

	CHECK(mkdtemp(dir));
	snprintf(xdg, sizeof(xdg), "XDG_RUNTIME_DIR=%s", dir);
	start(&p, argv, env);
	CHECK(read_line(p.out, line, sizeof(line), 4 * DEADLINE_MS));
	CHECK_STR(line, "done");
	while ((r = waitpid(p.pid, &st, WNOHANG)) == 0 && waited < 10000) {
		usleep(10000);
		waited += 10;
	}
	if (r == 0) {
		kill(p.pid, SIGKILL);
		waitpid(p.pid, &st, 0);
		FAIL("the host hung at exit (control %d)", control);
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(p.in);
	close(p.out);
	close(p.err);
	th_note("control %d: exited after %d ms", control, waited);
	/* the socket went with the process: its directory is empty */
	snprintf(line, sizeof(line), "%s/tide", dir);
	CHECK(!control || rmdir(line) == 0);
	CHECK_EQ(rmdir(dir), 0);
}

TEST(a_host_that_closes_our_descriptors_still_exits)
{
	if (!strcmp(TP_SANITIZE, "thread"))
		SKIP("ThreadSanitizer reports the host's close() of the "
		     "shim's epoll descriptor while the monitor's thread "
		     "waits on it (a race on fd 3): the very misuse this "
		     "test makes");
	closefds_exits(false);
	closefds_exits(true);
}

/* Lines of @text that contain @what. */
static int count_lines(const char *text, const char *what)
{
	int n = 0;

	for (const char *l = text; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);

		n += memmem(l, len, what, strlen(what)) != NULL;
		l = nl ? nl + 1 : NULL;
	}
	return n;
}

/*
 * A host takes every descriptor it did not open (docs/preload.md: as
 * daemons and supervisors do) with @how: close_range(), closefrom(), a
 * close() loop over /proc/self/fd, or dup2() onto the shim's epoll; then
 * it opens a file and 8 pipes on the numbers, sends records through them
 * for 600 ms and forks a child that checks them.  The shim used to keep
 * polling its old numbers (its control thread read the host's pipes: a
 * trial lost records in 4 runs of 11) and its fork handler closed them in
 * the child: the child lost its files every time.  Now the shim's
 * threads stop at the first error on a number that is no longer theirs,
 * or sleep on the closed epoll that nothing wakes, and its fork handler
 * closes only numbers that are still the library's kind of descriptor:
 * nothing of the host's is touched.  A host that lives 2 s on gets a new
 * monitor (a_host_that_closes_everything_at_start_up_gets_a_new_monitor),
 * on numbers above its own: its one line is the only one after the
 * report.
 */
static void take_fds(const char *how, bool control)
{
	bool tsan = !strcmp(TP_SANITIZE, "thread");
	char *argv[] = { TP_HOST, "take", (char *)how, tsan ? "nofork" : NULL,
			 NULL };
	char dir[] = "/tmp/tide-preload-XXXXXX", xdg[64], line[256];
	char err[4096];
	const char *env[] = { "LD_PRELOAD=" TP_SHIM,
			      control ? "TIDE_CONTROL=1" : "TIDE_CONTROL",
			      "TIDE_VERBOSE=1", xdg, NULL };
	struct proc p = { 0 };
	long records = 0, bad = -1;
	int lo = -1, hi = -1, offset = -1, child = -1, sock = -1, st;

	CHECK(mkdtemp(dir));
	snprintf(xdg, sizeof(xdg), "XDG_RUNTIME_DIR=%s", dir);
	start(&p, argv, env);
	CHECK(read_line(p.out, line, sizeof(line), 4 * DEADLINE_MS));
	CHECK(sscanf(line, "fds %d..%d", &lo, &hi) == 2);
	CHECK(read_line(p.out, line, sizeof(line), 4 * DEADLINE_MS));
	CHECK(sscanf(line, "records %ld bad %ld offset %d child %d socket %d",
		     &records, &bad, &offset, &child, &sock) == 5);
	close(p.in);
	read_all(p.out, line, sizeof(line));
	close(p.out);
	read_all(p.err, err, sizeof(err));
	close(p.err);
	CHECK(waitpid(p.pid, &st, 0) == p.pid);
	th_note("%s, control %d: fds %d..%d, %ld records; stderr: %.400s", how,
		control, lo, hi, records, err);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* the file on 3, the pipes on 4..19: the numbers the host freed */
	if (strcmp(how, "dup2")) {
		CHECK_EQ(lo, 3);
		CHECK_EQ(hi, 3 + 2 * 8);
	}
	CHECK(records > 0);
	CHECK_EQ(bad, 0);
	CHECK_EQ(offset, 1);
	CHECK_EQ(child, 0);
	/* the socket's file (@sock) is stale once the host has taken the
	 * listener's descriptor: the child's own listener removes it when it
	 * is 1 s old (docs/tidectl.md), which a slow run reaches */
	(void)sock;
	CHECK_EQ(count_lines(err, ": sources "), 1);
	/* a host that lives 2 s on gets a new monitor and listener */
	CHECK_EQ(count_lines(err, "tide-preload:"),
		 1 + count_lines(err, "descriptors; a new monitor runs") +
			 count_lines(err, "descriptors; listening again"));
	CHECK_CMP(count_lines(err, "descriptors; a new monitor runs"), <=, 1);
	CHECK_CMP(count_lines(err, "descriptors; listening again"), <=, 1);
	snprintf(line, sizeof(line), "%s/tide", dir);
	CHECK(!control || rmdir(line) == 0);
	CHECK_EQ(rmdir(dir), 0);
}

/* @req asked on @path: the answer, until "end" or EOF. */
/*
 * One request @req to the socket @path, its answer (up to "end") in @out;
 * each read waits at most @wait_s seconds (0: as long as it takes).
 * Return: 1 with the whole answer, 0 with it cut short, -1 when a read
 * timed out, -2 when the connect or the write failed (errno says why).
 */
static int sock_request(const char *path, const char *req, char *out,
			size_t size, int wait_s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = wait_s };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t n = 0;
	ssize_t r = 0;

	CHECK(fd >= 0);
	CHECK_CMP(strlen(path), <, sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	CHECK(!setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	out[0] = 0;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		int err = errno;

		close(fd);
		errno = err;
		return -2;
	}
	while (n + 1 < size && (r = read(fd, out + n, size - 1 - n)) > 0) {
		n += (size_t)r;
		out[n] = 0;
		if (strstr(out, "end\n"))
			break;
	}
	out[n] = 0;
	close(fd);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -1;
	return strstr(out, "end\n") != NULL;
}

static void ask_sock(const char *path, const char *req, char *out, size_t size)
{
	if (sock_request(path, req, out, size, 0) == -2)
		FAIL("connect or write %s: %s", path, strerror(errno));
}

/*
 * A host that closes every descriptor it did not open at start-up (as
 * daemons do, before any spike; after @ms, 0: while the shim's threads
 * are still starting, 300: once they sleep in their waits) took the
 * shim's monitor and listener with them: up to 0.2.9 the process had no
 * monitor and no control socket from then on (the threads ended on
 * EBADF, or slept on the closed epolls for good).  The threads now wake
 * every 2 s, find their epoll numbers no longer their own (or get EBADF),
 * and the shim starts a new monitor on new descriptors, which an event on
 * the FIFO reaches (the heap goes back as in host_gives_back()), and
 * with @control listens again (the socket answers "info").  One
 * TIDE_VERBOSE line says so for each.
 */
static void closes_everything_after(const char *ms, bool control)
{
	char *argv[] = { TP_HOST, "closeall-frag", (char *)ms, NULL };
	struct proc p = { 0 };
	char dir[] = "/tmp/tide-preload-XXXXXX", xdg[64], watch[96];
	char line[256], err[2048], out[1024], want[64];
	const char *env[] = { "LD_PRELOAD=" TP_SHIM,
			      watch,
			      "TIDE_VERBOSE=1",
			      control ? "TIDE_CONTROL=1" : "TIDE_CONTROL",
			      xdg,
			      NULL };
	int st, monitors = 0, listeners = 0;
	long before, after;

	CHECK(mkdtemp(dir));
	snprintf(xdg, sizeof(xdg), "XDG_RUNTIME_DIR=%s", dir);
	make_fifo(&p);
	snprintf(watch, sizeof(watch), "MEMORY_PRESSURE_WATCH=%s", p.fifo);
	start(&p, argv, env);
	CHECK(read_line(p.out, line, sizeof(line), 4 * DEADLINE_MS));
	CHECK_STR(line, "closed");
	before = first_anon(&p);
	/* the report, then the new monitor and listener (2 s on, at most 4
	 * when busy), in either order */
	CHECK(read_line(p.err, line, sizeof(line), DEADLINE_MS));
	CHECK(strstr(line, ": sources "));
	while (monitors + listeners < 1 + control) {
		CHECK(read_line(p.err, line, sizeof(line), DEADLINE_MS));
		monitors += !!strstr(line, "the program closed the monitor's "
					   "descriptors; a new monitor runs");
		listeners += !!strstr(line, "the program closed the control "
					    "socket's descriptors; listening "
					    "again");
	}
	CHECK_EQ(monitors, 1);
	CHECK_EQ(listeners, control);
	if (control) {
		snprintf(line, sizeof(line), "%s/tide/%d.sock", dir,
			 (int)p.pid);
		ask_sock(line, "info\n", out, sizeof(out));
		snprintf(want, sizeof(want), "ok\npid=%d\n", (int)p.pid);
		if (strncmp(out, want, strlen(want)))
			FAIL("the new socket answered \"%s\"", out);
	}
	if (sanitized()) {
		/* no glibc heap to measure (host_gives_back()) */
		th_note("%s build: the new monitor runs; no measurement",
			TP_SANITIZE);
	} else {
		after = pressure_until_40pct(&p, before);
		th_note("after %s ms, control %d: %ld kB after the frees, %ld "
			"kB after the event",
			ms, control, before, after);
		CHECK_CMP(before, >, 250 * 1024);
		CHECK_CMP(after * 10, <=, before * 4);
	}
	if (control && !sanitized()) {
		/* the listener reports the new monitor, which ran the
		 * loops, not the lost one */
		unsigned long long loops = 0;
		const char *l;

		snprintf(line, sizeof(line), "%s/tide/%d.sock", dir,
			 (int)p.pid);
		ask_sock(line, "monitor\n", out, sizeof(out));
		l = strstr(out, "\nloops=");
		CHECK(l && sscanf(l, "\nloops=%llu", &loops) == 1);
		CHECK_UEQ(loops >= 1, 1);
	}
	close(p.in);
	read_all(p.out, line, sizeof(line));
	close(p.out);
	read_all(p.err, err, sizeof(err));
	close(p.err);
	unlink(p.fifo);
	CHECK(waitpid(p.pid, &st, 0) == p.pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* nothing more was said: neither was lost again */
	if (err[0])
		FAIL("more on stderr: %.300s", err);
	/* the socket went with the process */
	snprintf(line, sizeof(line), "%s/tide", dir);
	CHECK(!control || rmdir(line) == 0);
	CHECK_EQ(rmdir(dir), 0);
}

TEST(a_host_that_closes_everything_at_start_up_gets_a_new_monitor)
{
	if (!strcmp(TP_SANITIZE, "thread"))
		SKIP("ThreadSanitizer reports the host's close() of the "
		     "shim's descriptors while its thread waits on them: the "
		     "very misuse this test makes");
	host_needs_mib(FRAG_HOST_MIB, FRAG_HOST_ASAN_MIB, FRAG_HOST_TSAN_MIB);
	closes_everything_after("0", true);
	closes_everything_after("300", true);
}

TEST(a_host_that_takes_our_descriptors_keeps_them)
{
	static const char *const hows[] = { "range", "from", "loop", "dup2" };

	if (!strcmp(TP_SANITIZE, "thread"))
		SKIP("ThreadSanitizer reports the host's close() of the "
		     "shim's descriptors while its threads wait on them: the "
		     "very misuse this test makes");

	for (size_t i = 0; i < sizeof(hows) / sizeof(hows[0]); i++) {
		take_fds(hows[i], false);
		take_fds(hows[i], true);
	}
}

/*
 * A vfork() child shares the host's memory (the shim's state) but not its
 * descriptors: its close_range() closes its own copies.  The parent keeps
 * the very same descriptors and its monitor; no line is said.
 */
TEST(a_vfork_child_that_closes_everything_leaves_us_alone)
{
	char *argv[] = { TP_HOST, "vfork", NULL };
	const char *env[] = { "LD_PRELOAD=" TP_SHIM, "TIDE_CONTROL",
			      "TIDE_VERBOSE=1", NULL };
	struct proc p = { 0 };
	char line[128], err[2048];
	int st;

	start(&p, argv, env);
	CHECK(read_line(p.out, line, sizeof(line), 4 * DEADLINE_MS));
	CHECK_STR(line, "same 1");
	close(p.in);
	close(p.out);
	read_all(p.err, err, sizeof(err));
	close(p.err);
	CHECK(waitpid(p.pid, &st, 0) == p.pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK_EQ(count_lines(err, "tide-preload:"), 1);
	CHECK_EQ(count_lines(err, ": sources "), 1);
}

TEST(forked_children_keep_nothing_of_their_parents_monitor)
{
	if (!strcmp(TP_SANITIZE, "thread"))
		SKIP("ThreadSanitizer does not support threads started in the "
		     "child of a multi-threaded fork (die_after_fork)");
	fork_generations(false);
	fork_generations(true);
}

/*
 * With TIDE_CONTROL=1 and TIDE_INHERIT=0, a child that execs at once (as
 * a shell's do) runs a program without the shim under the same pid.  The
 * shim's fork handler used to listen on CHILDPID.sock before the exec:
 * the file stayed, served by nobody, and tidectl listed the program (a
 * trial's sleep, awk, python3).  The child's listen now waits 200 ms,
 * which the exec ends: no file for the exec'd program's pid, 700 ms on,
 * while it lives; the parent's own socket is there.
 */
TEST(fork_exec_leaves_no_socket)
{
	char *argv[] = { TP_HOST, "fork-exec", "1500", NULL };
	char dir[] = "/tmp/tide-preload-XXXXXX", xdg[64], line[128];
	char path[128];
	const char *env[] = { "LD_PRELOAD=" TP_SHIM,
			      "TIDE_CONTROL=1",
			      "TIDE_INHERIT=0",
			      "TIDE_SOURCES=none",
			      xdg,
			      NULL };
	struct proc p = { 0 };
	int child = 0;

	CHECK(mkdtemp(dir));
	snprintf(xdg, sizeof(xdg), "XDG_RUNTIME_DIR=%s", dir);
	start(&p, argv, env);
	CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
	CHECK(sscanf(line, "pid %d", &child) == 1);
	CHECK(child != p.pid);
	usleep(700 * 1000);
	CHECK_EQ(kill(child, 0), 0);
	snprintf(path, sizeof(path), "%s/tide/%d.sock", dir, (int)p.pid);
	CHECK_EQ(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/tide/%d.sock", dir, child);
	if (!access(path, F_OK))
		FAIL("%s exists: the exec'd child left a socket nobody serves",
		     path);
	CHECK_EQ(finish(&p), 0);
	snprintf(line, sizeof(line), "%s/tide", dir);
	CHECK_EQ(rmdir(line), 0);
	CHECK_EQ(rmdir(dir), 0);
}

/*
 * A program with an allocator of its own (preload/host_lockfork.c) whose
 * lock a fork handler it registers in main(), after the shim's, holds
 * across fork(): child handlers run in the order they were registered, so
 * the shim's (and with TIDE_CONTROL=1 the control listener's, registered
 * before it) ran with the program's lock held, freed the child's copy of
 * the parent's monitor (and listener) there and waited for the lock
 * forever, in every child (0.2.18 and before).  Now the shim's fork(),
 * forkpty() and daemon() free them after the last handler.  Each child
 * starts with exactly the descriptors of the program without the shim
 * (none of its parent's monitor or listener), forks grandchildren back to
 * back around the moment its own monitor is made (200 ms on; a fork
 * then waits for the making before the program's prepare handler takes
 * its lock), none of which hangs, and 700 ms on holds exactly the
 * descriptors and threads of its parent: a monitor (and listener) of its
 * own.  A daemon() child likewise.  The host leads its process group: a
 * failure kills the group, hung children too.
 */
static void remove_dir(const char *dir);

static void lockfork_parent(struct proc *p, int *fds, int *threads)
{
	char line[128];

	if (!read_line(p->out, line, sizeof(line), 4 * DEADLINE_MS)) {
		kill(-p->pid, SIGKILL);
		FAIL("no first line from the host");
	}
	CHECK(sscanf(line, "parent fds %d threads %d", fds, threads) == 2);
}

static void lockfork(const char *how, bool control, int base_fds)
{
	char *argv[] = { TP_LOCKFORK, (char *)how, "3", NULL };
	char dir[] = "/tmp/tide-preload-XXXXXX", xdg[64], line[160];
	const char *env[] = { "LD_PRELOAD=" TP_SHIM,
			      control ? "TIDE_CONTROL=1" : "TIDE_CONTROL", xdg,
			      NULL };
	bool daemonizes = !strcmp(how, "daemon");
	struct proc p = { 0 };
	int fds, threads;

	CHECK(mkdtemp(dir));
	snprintf(xdg, sizeof(xdg), "XDG_RUNTIME_DIR=%s", dir);
	start(&p, argv, env);
	lockfork_parent(&p, &fds, &threads);
	/* the shim's monitor (and listener): descriptors and a thread each
	 * (the host is built without a sanitizer: ASan's runtime adds
	 * none) */
	CHECK(fds > base_fds);
	CHECK_EQ(threads, 2 + control);
	for (int i = 0; i < (daemonizes ? 1 : 3); i++) {
		int a, b, t, kids = 0, hung = 0, n;

		if (!read_line(p.out, line, sizeof(line), 4 * DEADLINE_MS)) {
			kill(-p.pid, SIGKILL);
			FAIL("%s control %d: child %d never printed (hung in "
			     "the fork?)",
			     how, control, i);
		}
		n = daemonizes ? sscanf(line, "daemon fds %d %d threads %d", &a,
					&b, &t) :
				 sscanf(line,
					"child fds %d %d threads %d "
					"grandchildren %d hung %d",
					&a, &b, &t, &kids, &hung);
		if (n != (daemonizes ? 3 : 5))
			FAIL("%s control %d: unexpected line: %s", how, control,
			     line);
		/* a fork()ed child also holds the host's copy of its output */
		CHECK_EQ(a, base_fds + !daemonizes);
		CHECK_EQ(b, fds + !daemonizes);
		CHECK_EQ(t, threads);
		CHECK_EQ(hung, 0);
		/* 250 ms of forks back to back, at most 1 ms each here */
		CHECK(daemonizes || kids >= 20);
	}
	if (!daemonizes) {
		CHECK(read_line(p.out, line, sizeof(line), 4 * DEADLINE_MS));
		CHECK_STR(line, "hung 0 of 3");
	}
	CHECK_EQ(finish(&p), 0);
	remove_dir(dir);
}

/*
 * `info` requests to @path, one connection each, for @ms: the answers
 * that came whole, or -1 once one did not come within 5 s.
 */
static int info_for(const char *path, int ms)
{
	long end = now_ms() + ms;
	int answers = 0;

	while (now_ms() < end) {
		char out[4096];
		int r = sock_request(path, "info\n", out, sizeof(out), 5);

		if (r == -1)
			return -1;
		/* -2 (refused, or the host gone: no SIGPIPE), tried again
		 * until the time is up */
		answers += r > 0;
	}
	return answers;
}

/*
 * The same host forking in a loop for 2 s under TIDE_CONTROL=1 while
 * this test sends `info` requests: the listener used to allocate and free
 * under ctl's lock, which ctl's prepare handler takes after the host's
 * handler took its allocator's lock (a review: 4 runs of 4 hung).  Every
 * request is answered and the host ends with status 0.
 */
static void lockfork_served(void)
{
	char *argv[] = { TP_LOCKFORK, "loop", "2000", NULL };
	char dir[] = "/tmp/tide-preload-XXXXXX", xdg[64], line[160];
	char path[128];
	const char *env[] = { "LD_PRELOAD=" TP_SHIM, "TIDE_CONTROL=1", xdg,
			      NULL };
	struct proc p = { 0 };
	int fds, threads, answers, forks = 0;

	CHECK(mkdtemp(dir));
	snprintf(xdg, sizeof(xdg), "XDG_RUNTIME_DIR=%s", dir);
	start(&p, argv, env);
	lockfork_parent(&p, &fds, &threads);
	CHECK_EQ(threads, 3); /* the monitor's and the listener's */
	snprintf(path, sizeof(path), "%s/tide/%d.sock", dir, (int)p.pid);
	answers = info_for(path, 1500);
	if (answers < 0 ||
	    !read_line(p.out, line, sizeof(line), 4 * DEADLINE_MS)) {
		kill(-p.pid, SIGKILL);
		FAIL("the host or its listener hung (%d answers)", answers);
	}
	CHECK(sscanf(line, "forks %d", &forks) == 1);
	th_note("%d requests answered during %d forks", answers, forks);
	CHECK(answers >= 10);
	CHECK(forks >= 10);
	CHECK_EQ(finish(&p), 0);
	remove_dir(dir);
}

TEST(a_locked_allocator_across_fork_hangs_no_child)
{
	char *argv[] = { TP_LOCKFORK, "fork", "1", NULL };
	struct proc p = { 0 };
	int base_fds, base_threads;

	if (!strcmp(TP_SANITIZE, "thread"))
		SKIP("ThreadSanitizer's runtime, which the shim brings in, "
		     "starts a thread in its own fork child handler, and "
		     "glibc's pthread_create() calls the host's free() with "
		     "the host's lock still held: the runtime hangs there");
	start(&p, argv, NULL);
	lockfork_parent(&p, &base_fds, &base_threads);
	CHECK_EQ(finish(&p), 0);
	CHECK_EQ(base_threads, 1);
	lockfork("fork", false, base_fds);
	lockfork("fork", true, base_fds);
	lockfork("forkpty", true, base_fds);
	lockfork("daemon", true, base_fds);
	lockfork_served();
}

TEST(daemon_keeps_a_monitor)
{
	host_needs_mib(FRAG_HOST_MIB, FRAG_HOST_ASAN_MIB, FRAG_HOST_TSAN_MIB);
	host_gives_back("daemon-frag", true);
}

TEST(sixty_four_threads_allocating_then_given_back)
{
	host_needs_mib(THREADS64_HOST_MIB, THREADS64_HOST_ASAN_MIB,
		       THREADS64_HOST_TSAN_MIB);
	host_gives_back("threads64", false);
}

static void exec_check(const char *inherit, bool kept)
{
	char *argv[] = { TP_HOST, "exec", NULL };
	const char *env[] = { "LD_PRELOAD=" TP_SHIM, inherit, NULL };
	struct proc p = { 0 };
	char line[512], want[512];
	int base = base_threads();

	start(&p, argv, env);
	CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
	CHECK_EQ(finish(&p), 0);
	snprintf(want, sizeof(want), "threads %d preload=%s",
		 base + (kept ? shim_threads() : 0), kept ? TP_SHIM : "-");
	CHECK_STR(line, want);
}

/*
 * A program that loads the shim with dlopen() (python's ctypes) and
 * unloads it: the shim stays mapped (-z nodelete), since its monitor
 * thread runs its code until the process ends.  Up to 0.2.11 dlclose()
 * unmapped it and the thread's next wake-up crashed the program (a
 * review: SIGSEGV 5 of 5).  The child wakes the monitor at once through
 * the FIFO it watches ($MEMORY_PRESSURE_WATCH): the thread returns into
 * the shim's code and runs a reclaim loop.
 */
TEST(dlclose_leaves_the_shim_loaded_and_running)
{
	char dir[] = "/tmp/tide-dlclose-XXXXXX", fifo[64];
	int status;
	pid_t pid;

	CHECK(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	CHECK(!mkfifo(fifo, 0600));
	fflush(NULL);
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		void *h;
		int fd;

		setenv("MEMORY_PRESSURE_WATCH", fifo, 1);
		setenv("TIDE_SOURCES", "watch", 1);
		h = dlopen(TP_SHIM, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			_exit(10);
		if (dlclose(h))
			_exit(11);
		if (!dlopen(TP_SHIM, RTLD_NOW | RTLD_NOLOAD))
			_exit(12);
		fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 || write(fd, "x", 1) != 1)
			_exit(13); /* no reader: the monitor did not start */
		usleep(500 * 1000);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
	CHECK(!unlink(fifo) && !rmdir(dir));
}

/*
 * setns() into a mount namespace and unshare(CLONE_NEWUSER) need a
 * process with one thread: under the shim (its monitor's thread) the
 * kernel refused both with EINVAL, and `unshare -U` or `nsenter -m` failed
 * (a review).  The shim steps aside for them: it stops its threads, the
 * call runs, and its monitor runs again afterwards; a failing call keeps
 * its errno; unshare(CLONE_FS), which works with threads, leaves the
 * shim's threads alone; a forked child's waiting listener thread
 * (TIDE_CONTROL=1) is reaped first (fork-then-unshare, as container tools
 * start, failed in the 200 ms after the fork: a second review).
 */
static void ns_line(const char *const *env, char *line, size_t size, char *fs,
		    size_t fs_size)
{
	char *argv[] = { TP_HOST, "ns", NULL };
	struct proc p = { 0 };

	start(&p, argv, env);
	CHECK(read_line(p.out, line, size, DEADLINE_MS));
	CHECK(read_line(p.out, fs, fs_size, DEADLINE_MS));
	CHECK_EQ(finish(&p), 0);
}

TEST(unshare_and_setns_work_under_the_shim)
{
	const char *shim[] = { "LD_PRELOAD=" TP_SHIM, NULL };
	const char *shim_ctl[] = { "LD_PRELOAD=" TP_SHIM, "TIDE_CONTROL=1",
				   NULL };
	char line[256], fs[64], want[256], setns_part[32];
	int base = base_threads();

	/* its runtime starts a background thread with the first other one
	 * (the shim's) and keeps it: the host never has one thread again */
	if (!strcmp(TP_SANITIZE, "thread"))
		SKIP("ThreadSanitizer keeps a thread of its own once the "
		     "shim's started");
	ns_line(NULL, line, sizeof(line), fs, sizeof(fs));
	th_note("without the shim: %s", line);
	/* setns() into a mount namespace needs CAP_SYS_ADMIN: as it came */
	snprintf(setns_part, sizeof(setns_part), "%.*s",
		 (int)(strstr(line, " unshare") ?
			       strstr(line, " unshare") - line :
			       0),
		 line);
	snprintf(want, sizeof(want), "%s unshare 0 0 bad -1 %d threads %d",
		 setns_part, EBADF, base);
	if (strcmp(line, want))
		SKIP("unshare(CLONE_NEWUSER) fails here without the shim "
		     "too: %s",
		     line);
	CHECK_STR(fs, "fs 1");
	ns_line(shim, line, sizeof(line), fs, sizeof(fs));
	snprintf(want, sizeof(want), "%s unshare 0 0 bad -1 %d threads %d",
		 setns_part, EBADF, base + shim_threads());
	CHECK_STR(line, want);
	CHECK_STR(fs, "fs 1");
	/* a program run from under the shim, within its first 200 ms: the
	 * wait is called off, the monitor made after the calls */
	{
		char marker[32];
		const char *late[] = { "LD_PRELOAD=" TP_SHIM, marker, NULL };

		snprintf(marker, sizeof(marker), "TIDE_NESTED=%d",
			 (int)getpid());
		ns_line(late, line, sizeof(line), fs, sizeof(fs));
		CHECK_STR(line, want);
		CHECK_STR(fs, "fs 1");
	}
	/* with a control socket: the calls work all the same */
	ns_line(shim_ctl, line, sizeof(line), fs, sizeof(fs));
	th_note("with TIDE_CONTROL=1: %s", line);
	snprintf(want, sizeof(want), "%s unshare 0 0 bad -1 %d threads ",
		 setns_part, EBADF);
	CHECK(!strncmp(line, want, strlen(want)));
	CHECK_STR(fs, "fs 1");
	/* fork, then unshare at once, within the child's listener delay */
	{
		char *argv[] = { TP_HOST, "fork-ns", NULL };
		struct proc p = { 0 };

		start(&p, argv, shim_ctl);
		CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
		CHECK_EQ(finish(&p), 0);
		CHECK_STR(line, "child unshare 0 0");
	}
	/*
	 * The same 60 times beside two busy loops: the thread the shim
	 * joined may still be in the kernel's thread group when the call
	 * runs (EINVAL in 4 of 60 with 0.2.17); the shim tries again.
	 */
	{
		char *argv[] = { TP_HOST, "fork-ns", "60", NULL };
		struct proc p = { 0 };
		pid_t spin[2];

		for (int i = 0; i < 2; i++) {
			spin[i] = fork();
			CHECK(spin[i] >= 0);
			if (!spin[i])
				for (;;)
					;
		}
		start(&p, argv, shim_ctl);
		CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
		CHECK_EQ(finish(&p), 0);
		for (int i = 0; i < 2; i++) {
			kill(spin[i], SIGKILL);
			waitpid(spin[i], NULL, 0);
		}
		CHECK_STR(line, "60 of 60 children unshared");
	}
}

/*
 * A forked child's monitor comes 200 ms after its fork, unless the child
 * first makes a call that takes away what a monitor needs: then the
 * monitor is made before the call.  chroot() takes /proc and /sys (and
 * here the watched FIFO, in /tmp); the set*id() calls and setgroups() the
 * right to open root's files (here the FIFO, 0600, root's).  sshd's
 * privilege separation and nginx's, Apache's and php-fpm's workers make
 * such calls right after their fork.  Right after the fork the child
 * holds fewer descriptors than its parent (no monitor yet); right after
 * the call (well within the 200 ms), as many: its own monitor, made
 * before the call; and 400 ms later still (chroot and setuid).
 */
static void drop_keeps_a_monitor(const char *how, const char *arg, bool wait)
{
	char watch[96], line[256];
	char *argv[] = { TP_HOST,     "fork-drop",	   (char *)how,
			 (char *)arg, wait ? NULL : "now", NULL };
	const char *env[] = { "LD_PRELOAD=" TP_SHIM, "TIDE_SOURCES=watch",
			      watch, NULL };
	struct proc p = { 0 };
	int parent = -1, at_fork = -1, r = -2, e = -1, right = -1, later = -1;
	long ms = -1;

	make_fifo(&p);
	snprintf(watch, sizeof(watch), "MEMORY_PRESSURE_WATCH=%s", p.fifo);
	start(&p, argv, env);
	CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
	CHECK(sscanf(line, "parent fds %d", &parent) == 1);
	CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
	CHECK(sscanf(line,
		     "child at_fork %d call %d %d after %ld ms right %d "
		     "later %d",
		     &at_fork, &r, &e, &ms, &right, &later) == 6);
	CHECK_EQ(finish(&p), 0);
	th_note("%s: parent %d descriptors; child %d at its fork, %d right "
		"after the call (%ld ms after the fork), %d %s",
		how, parent, at_fork, right, ms, later,
		wait ? "400 ms later" : "(no wait)");
	CHECK_EQ(r, 0);
	CHECK_EQ(e, 0);
	/* well inside the 200 ms, or the waiting thread may have made the
	 * monitor before the call and the test proves nothing */
	CHECK_CMP(ms, <, 150);
	CHECK_CMP(at_fork, <, parent);
	CHECK_EQ(right, parent);
	CHECK_EQ(later, parent);
}

TEST(a_child_that_chroots_or_drops_privileges_at_once_keeps_a_monitor)
{
	static const char *const calls[] = { "setuid",	  "setgid",
					     "seteuid",	  "setresuid",
					     "setgroups", "initgroups" };
	char root[] = "/tmp/tide-chroot-XXXXXX";

	if (geteuid() != 0)
		SKIP("not root: chroot() and setuid() need it");
	if (!strcmp(TP_SANITIZE, "thread"))
		SKIP("ThreadSanitizer does not support threads started in the "
		     "child of a multi-threaded fork (die_after_fork)");
	CHECK(mkdtemp(root));
	drop_keeps_a_monitor("chroot", root, true);
	CHECK_EQ(rmdir(root), 0);
	/* kept past the delay: once is enough (the same code after it) */
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		drop_keeps_a_monitor(calls[i], "65534", i == 0);
}

/*
 * A child forked while its parent makes its monitor (200 ms after the
 * parent's own fork) inherits none of it: a fork waits for a monitor
 * being made, which the child's fork handler then frees like any
 * inherited one.  Before, a grandchild forked in that window kept the
 * half-made monitor's descriptors and armed PSI triggers for good (a
 * review: 12 of 20 rounds, 8 descriptors; a race, so 6 rounds).  Every
 * grandchild holds exactly what its parent held right after its own
 * fork.
 */
TEST(a_grandchild_forked_while_a_monitor_is_made_inherits_none_of_it)
{
	char *argv[] = { TP_HOST, "fork-storm", "6", NULL };
	const char *env[] = { "LD_PRELOAD=" TP_SHIM, NULL };
	struct proc p = { 0 };
	char line[128];
	int kids = 0;

	if (!strcmp(TP_SANITIZE, "thread"))
		SKIP("ThreadSanitizer does not support threads started in the "
		     "child of a multi-threaded fork (die_after_fork)");
	start(&p, argv, env);
	for (int i = 0; i < 6; i++) {
		int base = -1, most = -1, k = -1;

		CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
		CHECK(sscanf(line, "base %d most %d kids %d", &base, &most,
			     &k) == 3);
		th_note("round %d: %d grandchildren, each with %d descriptors "
			"at most (their parent %d)",
			i, k, most, base);
		CHECK_CMP(k, >, 0);
		CHECK_EQ(most, base);
		kids += k;
	}
	CHECK_EQ(finish(&p), 0);
	th_note("%d grandchildren", kids);
}

/* "host late MS" under @env (or @argv, which runs it): the counts of its
 * two lines into @v (early fds, threads, late fds, threads), its stderr
 * into @err. */
static void late_run(char *const *argv, const char *const *env, int v[4],
		     char *err, size_t size)
{
	struct proc p = { 0 };
	char line[128];

	start(&p, argv, env);
	CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
	CHECK(sscanf(line, "early fds %d threads %d", &v[0], &v[1]) == 2);
	CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
	CHECK(sscanf(line, "late fds %d threads %d", &v[2], &v[3]) == 2);
	read_all(p.err, err, size);
	CHECK_EQ(finish(&p), 0);
}

/* How many times @needle is in @hay. */
static int occurrences(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *s = hay; (s = strstr(s, needle)); s++)
		n++;
	return n;
}

/*
 * A program that a process under the shim runs finds TIDE_NESTED=PID (the
 * first process under the shim put its pid there) and, the pid not its
 * own, makes its monitor 200 ms after its start (or before a set*id call
 * or chroot() within them), on a waiting thread, as a forked child does;
 * with TIDE_CONTROL=1 its socket then; its TIDE_VERBOSE line 200 ms after
 * its start, or its child's, if it forked meanwhile (a daemon).  One that
 * ends sooner never makes one: the three PSI triggers of a monitor cost
 * an RCU grace period each when the process exits (about 40 ms for
 * /bin/true, against 2).  The program started without TIDE_NESTED makes
 * it at once, as before, and so does one exec'd in its place, and
 * tide-run's PROGRAM, marker or not.  Through a real shell: the shim in
 * sh puts the marker in what sh passes on.
 */
TEST(a_program_run_from_under_the_shim_makes_its_monitor_200_ms_late)
{
	char *late400[] = { TP_HOST, "late", "400", NULL };
	char *late0[] = { TP_HOST, "late", "0", NULL };
	char *exec_late[] = { TP_HOST, "exec-late", "400", NULL };
	char *fork_late[] = { TP_HOST, "fork-late", "400", NULL };
	char *sh[] = { "/bin/sh", "-c", TP_HOST " late 400; true", NULL };
	char marker[32];
	const char *plain[] = { "TIDE_NESTED", NULL };
	const char *direct[] = { "LD_PRELOAD=" TP_SHIM, "TIDE_NESTED",
				 "TIDE_VERBOSE=1", NULL };
	/* another process's pid: the test's own */
	const char *nested[] = { "LD_PRELOAD=" TP_SHIM, marker,
				 "TIDE_VERBOSE=1", NULL };
	const char *direct_ctl[] = { "LD_PRELOAD=" TP_SHIM, "TIDE_NESTED",
				     "TIDE_CONTROL=1", NULL };
	const char *nested_ctl[] = { "LD_PRELOAD=" TP_SHIM, marker,
				     "TIDE_CONTROL=1", NULL };
	int base[4], d[4], dc[4], v[4], sh_base[4];
	char err[4096];

	snprintf(marker, sizeof(marker), "TIDE_NESTED=%d", (int)getpid());
	late_run(late400, plain, base, err, sizeof(err));
	CHECK_EQ(base[2], base[0]);
	CHECK_EQ(base[3], base[1]);
	/* started by tide-run (no TIDE_NESTED): the monitor at once */
	late_run(late400, direct, d, err, sizeof(err));
	th_note("descriptors: %d without the shim, %d with a monitor", base[0],
		d[0]);
	CHECK_CMP(d[0], >, base[0]);
	CHECK_EQ(d[1], base[1] + shim_threads());
	CHECK_EQ(d[2], d[0]);
	CHECK_EQ(occurrences(err, ": sources "), 1);
	/* a value that is not a pid is no marker: at once (up to 0.2.24
	 * any value but the own pid made the monitor 200 ms late) */
	{
		static const char *const junk[] = {
			"TIDE_NESTED=",		  "TIDE_NESTED=0",
			"TIDE_NESTED=abc",	  "TIDE_NESTED=12x",
			"TIDE_NESTED=-5",	  "TIDE_NESTED=0042",
			"TIDE_NESTED=99999999999"
		};

		for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
			const char *env[] = { "LD_PRELOAD=" TP_SHIM, junk[i],
					      "TIDE_VERBOSE=1", NULL };

			late_run(late400, env, v, err, sizeof(err));
			if (v[0] != d[0] || v[2] != d[0])
				FAIL("%s: %d then %d descriptors, want %d",
				     junk[i], v[0], v[2], d[0]);
		}
	}
	/* ...and the program passes its own pid on in its place (sh under
	 * the shim: the marker its children see is sh's pid; an
	 * uninstrumented sh cannot load an instrumented shim) */
	if (!sanitized()) {
		char *echo[] = { "/bin/sh", "-c", "echo $TIDE_NESTED $$",
				 NULL };
		const char *env[] = { "LD_PRELOAD=" TP_SHIM, "TIDE_NESTED=abc",
				      NULL };
		struct proc p = { 0 };
		char line[128];
		long a = -1, b = -2;

		start(&p, echo, env);
		CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
		CHECK_EQ(finish(&p), 0);
		CHECK_EQ(sscanf(line, "%ld %ld", &a, &b), 2);
		CHECK_EQ(a, b);
	}
	/* run from under the shim: at first only the waiting thread (one
	 * thread, as the monitor's; under ThreadSanitizer its own too) */
	late_run(late400, nested, v, err, sizeof(err));
	CHECK_EQ(v[0], base[0]);
	CHECK_EQ(v[1], base[1] + shim_threads());
	CHECK_EQ(v[2], d[0]);
	CHECK_EQ(v[3], d[1]);
	CHECK_EQ(occurrences(err, ": sources "), 1);
	/* exec'd in place of the first process (its pid in the marker): at
	 * once; in place of a late one: late */
	late_run(exec_late, direct, v, err, sizeof(err));
	CHECK_EQ(v[0], d[0]);
	CHECK_EQ(v[2], d[0]);
	late_run(exec_late, nested, v, err, sizeof(err));
	CHECK_EQ(v[0], base[0]);
	CHECK_EQ(v[2], d[0]);
	/* with TIDE_CONTROL=1 the socket comes with the monitor */
	late_run(late400, direct_ctl, dc, err, sizeof(err));
	CHECK_CMP(dc[0], >, d[0]);
	late_run(late400, nested_ctl, v, err, sizeof(err));
	CHECK_EQ(v[0], base[0]);
	CHECK_EQ(v[2], dc[0]);
	CHECK_EQ(v[3], dc[1]);
	/* forked (daemonized) before its start: the child is watched from
	 * 200 ms after the fork and says its line; the parent, waiting for
	 * it, says its own */
	late_run(fork_late, nested, v, err, sizeof(err));
	CHECK_EQ(v[0], base[0]);
	CHECK_EQ(v[2], d[0]);
	CHECK_EQ(occurrences(err, ": sources "), 2);
	/* ending within the 200 ms: no monitor ever, no line (ThreadSanitizer
	 * sleeps a second at exit unless told not to) */
	{
		const char *old = getenv("TSAN_OPTIONS");
		char tsan[512];
		const char *quick[] = {
			"LD_PRELOAD=" TP_SHIM, marker, "TIDE_VERBOSE=1",
			strcmp(TP_SANITIZE, "thread") ? NULL : tsan, NULL
		};

		snprintf(tsan, sizeof(tsan),
			 "TSAN_OPTIONS=%s%sdie_after_fork=0:atexit_sleep_ms=0",
			 old ? old : "", old && *old ? ":" : "");
		late_run(late0, quick, v, err, sizeof(err));
	}
	CHECK_EQ(v[0], base[0]);
	CHECK_EQ(v[2], base[0]);
	CHECK_EQ(occurrences(err, ": sources "), 0);
	/* a set*id call within the 200 ms makes the monitor first (here
	 * setuid() to the same user: the call itself changes nothing) */
	{
		char uid[16], line[128];
		char *drop[] = { TP_HOST, "drop", "setuid", uid, NULL };
		struct proc p = { 0 };
		int a = -1, r = -1, e = -1, right = -1;

		snprintf(uid, sizeof(uid), "%u", (unsigned)getuid());
		start(&p, drop, nested);
		CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
		CHECK_EQ(finish(&p), 0);
		CHECK(sscanf(line, "start fds %d call %d %d right %d", &a, &r,
			     &e, &right) == 4);
		CHECK_EQ(a, base[0]);
		CHECK_EQ(r, 0);
		CHECK_EQ(right, d[0]);
	}
	/* sh under the shim (its monitor at once, its line) runs the host,
	 * which finds the marker: late (sh's descriptors close on exec); as
	 * for bash, an uninstrumented sh cannot load an instrumented shim */
	if (!sanitized()) {
		late_run(sh, plain, sh_base, err, sizeof(err));
		late_run(sh, direct, v, err, sizeof(err));
		CHECK_EQ(v[0], sh_base[0]);
		CHECK_EQ(v[1], sh_base[1] + shim_threads());
		CHECK_EQ(v[2], sh_base[0] + d[0] - base[0]);
		CHECK_EQ(v[3], d[1]);
		CHECK_EQ(occurrences(err, ": sources "), 2);
	} else {
		th_note("%s build: sh cannot load the instrumented shim; its "
			"part is left out",
			TP_SANITIZE);
	}
	/* tide-run, itself under the shim and late: its PROGRAM at once */
	{
		char *run[] = { TP_RUN, "--verbose", "--", TP_HOST,
				"late", "400",	     NULL };
		const char *marked[] = { "LD_PRELOAD=" TP_SHIM, marker, NULL };

		late_run(run, marked, v, err, sizeof(err));
		CHECK_EQ(v[0], d[0]);
		CHECK_EQ(v[2], d[0]);
		CHECK_EQ(occurrences(err, ": sources "), 1);
	}
}

/* Lines of @log (spy_open.c's) that name program @name. */
static int spy_count(const char *log, const char *name)
{
	char buf[16384], want[128];
	int fd = open(log, O_RDONLY | O_CLOEXEC), n = 0;

	CHECK(fd >= 0);
	CHECK(read_all(fd, buf, sizeof(buf)) < sizeof(buf) - 1);
	close(fd);
	snprintf(want, sizeof(want), "%s ", name);
	for (char *l = buf; *l;) {
		char *end = strchr(l, '\n');

		if (!strncmp(l, want, strlen(want)))
			n++;
		if (!end)
			break;
		l = end + 1;
	}
	return n;
}

/*
 * TIDE_LIMIT, TIDE_HIGH or TIDE_LOW make the shim find the cgroups' limit
 * with a monitor made and freed at start-up, in every process under it,
 * and tide-run asks whether the shim would get a monitor.  Up to 0.2.20
 * both opened the level sources too: three PSI triggers, whose closes
 * wait for an RCU grace period each, so every command a shell ran under
 * `tide-run --limit` took about 40 ms more (2.5 ms without), though it
 * ended long before its own monitor was due, and tide-run itself 32-48 ms.
 * Now only the monitor that runs opens PSI files, once.
 * Counted with a preloaded spy (spy_open.c) that logs every open of a
 * PSI file.
 */
TEST(settings_probes_open_no_psi_file)
{
	char log[] = "/tmp/tide-spy-XXXXXX";
	char env_log[64], marker[32], err[4096], tsan[512];
	char *late0[] = { TP_HOST, "late", "0", NULL };
	char *run[] = { TP_RUN,	 "--limit", "128M", "--",
			TP_HOST, "late",    "0",    NULL };
	/* ThreadSanitizer sleeps a second at exit unless told not to: the
	 * late monitor would come meanwhile */
	const char *last = strcmp(TP_SANITIZE, "thread") ? NULL : tsan;
	const char *plain[] = { "LD_PRELOAD=" TP_SPY_OPEN " " TP_SHIM,
				"TIDE_NESTED",
				"TIDE_LIMIT",
				"TIDE_HIGH",
				"TIDE_LOW",
				"MEMORY_PRESSURE_WATCH",
				env_log,
				last,
				NULL };
	const char *first[] = { "LD_PRELOAD=" TP_SPY_OPEN " " TP_SHIM,
				"TIDE_NESTED",
				"TIDE_LIMIT=128M",
				"MEMORY_PRESSURE_WATCH",
				env_log,
				last,
				NULL };
	const char *nested[] = { "LD_PRELOAD=" TP_SPY_OPEN " " TP_SHIM,
				 marker,
				 "TIDE_LIMIT=128M",
				 "MEMORY_PRESSURE_WATCH",
				 env_log,
				 last,
				 NULL };
	const char *nested_high[] = { "LD_PRELOAD=" TP_SPY_OPEN " " TP_SHIM,
				      marker,
				      "TIDE_HIGH=100M",
				      "MEMORY_PRESSURE_WATCH",
				      env_log,
				      last,
				      NULL };
	const char *by_run[] = { "LD_PRELOAD=" TP_SPY_OPEN,
				 "TIDE_NESTED",
				 "MEMORY_PRESSURE_WATCH",
				 env_log,
				 last,
				 NULL };
	const char *host = strrchr(TP_HOST, '/') + 1;
	const char *runner = strrchr(TP_RUN, '/') + 1;
	int v[4], fd, own, psi_err;

	psi_err = th_psi_trigger_err();
	if (psi_err)
		SKIP("no PSI triggers here: /proc/pressure/memory: %s",
		     strerror(psi_err));
	fd = mkstemp(log);
	CHECK(fd >= 0);
	close(fd);
	snprintf(env_log, sizeof(env_log), "SPY_OPEN_LOG=%s", log);
	snprintf(marker, sizeof(marker), "TIDE_NESTED=%d", (int)getpid());
	{
		const char *old = getenv("TSAN_OPTIONS");

		snprintf(tsan, sizeof(tsan),
			 "TSAN_OPTIONS=%s%sdie_after_fork=0:atexit_sleep_ms=0",
			 old ? old : "", old && *old ? ":" : "");
	}
	/*
	 * The first process without settings: its monitor's PSI files, three
	 * (one per trigger), or four where the own cgroup's memory.pressure
	 * opens but refuses the trigger (the root of a cgroup namespace) and
	 * /proc/pressure/memory takes them.  With TIDE_LIMIT: as many, no
	 * probe's (0.2.20: three more).
	 */
	late_run(late0, plain, v, err, sizeof(err));
	own = spy_count(log, host);
	CHECK_CMP(own, >=, 3);
	CHECK(!truncate(log, 0));
	late_run(late0, first, v, err, sizeof(err));
	CHECK_EQ(spy_count(log, host), own);
	CHECK(!truncate(log, 0));
	/* run from under the shim, ending at once: none at all */
	late_run(late0, nested, v, err, sizeof(err));
	CHECK_EQ(spy_count(log, host), 0);
	late_run(late0, nested_high, v, err, sizeof(err));
	CHECK_EQ(spy_count(log, host), 0);
	/* tide-run --limit: none in tide-run, the monitor's three in its
	 * PROGRAM */
	late_run(run, by_run, v, err, sizeof(err));
	CHECK_EQ(spy_count(log, runner), 0);
	CHECK_EQ(spy_count(log, host), own);
	unlink(log);
}

TEST(exec_inherits_the_shim)
{
	exec_check("TIDE_INHERIT=1", true);
}

TEST(exec_without_the_shim_when_TIDE_INHERIT_0)
{
	exec_check("TIDE_INHERIT=0", false);
}

/*
 * TIDE_INHERIT=0 takes the shim out of every LD_PRELOAD entry (a launcher
 * that appends to environ may leave two) and the shim's own settings out
 * of the environment: what PROGRAM runs starts as if tide-run had never
 * been there.  Up to 0.2.11 the second entry kept the shim, and
 * TIDE_INHERIT=0 and the sizes reached every descendant: an inner
 * tide-run given no options used the outer one's sizes, and its PROGRAM's
 * children ran without the shim (a review).  Other variables stay.
 */
TEST(TIDE_INHERIT_0_leaves_children_no_shim_and_no_settings)
{
	static const char *const set[] = {
		"LD_PRELOAD=" TP_SHIM, "+LD_PRELOAD=libm.so.6 " TP_SHIM,
		"TIDE_LIMIT=300M",     "TIDE_HIGH=200M",
		"TIDE_INHERIT=0",      "TIDE_KV_THRESHOLD=1M",
		"TIDE_SOURCES=budget", "TIDE_CONTROL=0",
		"TIDE_VERBOSE=0",      "TIDE_LOW=100M"
	};
	const size_t nset = sizeof(set) / sizeof(set[0]);
	char *argv[] = { TP_HOST, "exec-env", NULL };
	const char *env[64];
	char names[32][64], line[1024], want[1024];
	struct proc p = { 0 };
	size_t n = 0, inherit;

	/* TIDE_* variables of the test's own (a valgrind run sets some):
	 * unset, so the child's are exactly these */
	for (char **e = environ; *e && n < 32; e++)
		if (!strncmp(*e, "TIDE_", 5)) {
			snprintf(names[n], sizeof(names[n]), "%.*s",
				 (int)strcspn(*e, "="), *e);
			env[n] = names[n];
			n++;
		}
	for (size_t i = 0; i < nset; i++)
		env[n + i] = set[i];
	inherit = n + 4;
	env[n + nset] = NULL;
	CHECK_STR(env[inherit], "TIDE_INHERIT=0");
	start(&p, argv, env);
	CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
	CHECK_EQ(finish(&p), 0);
	CHECK_STR(line, "env LD_PRELOAD=libm.so.6 TIDE_KV_THRESHOLD=1M");
	/* TIDE_INHERIT=1: everything stays, as it was, and the shim adds
	 * TIDE_NESTED with the host's pid (it exec'd in place: the same) */
	env[inherit] = "TIDE_INHERIT=1";
	start(&p, argv, env);
	CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
	CHECK_EQ(finish(&p), 0);
	snprintf(want, sizeof(want), "env");
	for (size_t i = n; env[i]; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want),
			 " %s", env[i] + (env[i][0] == '+'));
	snprintf(want + strlen(want), sizeof(want) - strlen(want),
		 " TIDE_NESTED=%d", (int)p.pid);
	CHECK_STR(line, want);
}

/*
 * The same with bash, which defines its own getenv()/setenv(): the shim's
 * setenv() from its constructor went to bash's, before bash had read its
 * environment, and every program bash ran still had the shim (a trial's
 * container entrypoint).  Also with another library preloaded before the
 * shim, which stays.
 */
TEST(bash_execs_without_the_shim_when_TIDE_INHERIT_0)
{
	static const char *const pre[] = { "", "libm.so.6 " };
	char *argv[] = { "/bin/bash", "-c",
			 "echo \"[$LD_PRELOAD]\"; exec " TP_HOST " threads",
			 NULL };

	if (access("/bin/bash", X_OK))
		SKIP("no /bin/bash");
	/* as for python3: an uninstrumented bash cannot load it */
	if (sanitized())
		SKIP("%s build: bash cannot load the instrumented shim",
		     TP_SANITIZE);
	for (int i = 0; i < 2; i++) {
		char lp[512], line[512], want[512];
		const char *env[] = { lp, "TIDE_INHERIT=0", NULL };
		struct proc p = { 0 };

		snprintf(lp, sizeof(lp), "LD_PRELOAD=%s%s", pre[i], TP_SHIM);
		start(&p, argv, env);
		CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
		snprintf(want, sizeof(want), "[%.*s]",
			 (int)(strlen(pre[i]) ? strlen(pre[i]) - 1 : 0),
			 pre[i]);
		CHECK_STR(line, want);
		CHECK(read_line(p.out, line, sizeof(line), DEADLINE_MS));
		CHECK(strstr(line, "libtide-preload") == NULL);
		finish(&p);
	}
}

/* ---- bad settings -------------------------------------------------------- */

static void bad_setting(const char *setting, const char *name, int base)
{
	char *argv[] = { TP_HOST, "exit", "3", NULL };
	const char *env[] = { "LD_PRELOAD=" TP_SHIM, "TIDE_VERBOSE=1", setting,
			      NULL };
	struct proc p = { 0 };
	char out[512], err[1024];
	char *nl;

	if (!strncmp(setting, "TIDE_VERBOSE", 12))
		env[1] = "TIDE_SOURCES=none";
	start(&p, argv, env);
	read_all(p.out, out, sizeof(out));
	read_all(p.err, err, sizeof(err));
	/* The program ran normally, with its own exit status. */
	CHECK_EQ(finish(&p), 3);
	/* The shim turned itself off: no monitor thread. */
	CHECK_EQ(count_threads(out), base);
	/* Exactly one line on stderr, naming the setting. */
	nl = strchr(err, '\n');
	if (!nl || nl[1] || strncmp(err, "tide-preload: ", 14) ||
	    !strstr(err, name))
		FAIL("%s: stderr was \"%s\"", setting, err);
}

TEST(bad_settings_one_line_program_runs)
{
	static const char *const bad[][2] = {
		{ "TIDE_LIMIT=12Q", "TIDE_LIMIT" },
		{ "TIDE_LIMIT=0", "TIDE_LIMIT" },
		{ "TIDE_HIGH=abc", "TIDE_HIGH" },
		{ "TIDE_HIGH=150%", "TIDE_HIGH" },
		{ "TIDE_LOW=-5M", "TIDE_LOW" },
		{ "TIDE_LOW=99999999999999999999", "TIDE_LOW" },
		{ "TIDE_SOURCES=psi,bogus", "TIDE_SOURCES" },
		{ "TIDE_SOURCES=", "TIDE_SOURCES" },
		{ "TIDE_CONTROL=yes", "TIDE_CONTROL" },
		{ "TIDE_VERBOSE=2", "TIDE_VERBOSE" },
		{ "TIDE_INHERIT=maybe", "TIDE_INHERIT" },
	};
	int base = base_threads();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		bad_setting(bad[i][0], bad[i][1], base);
}

/* The host under the shim with two settings: it exits 3; its stderr. */
static void host_with(const char *a, const char *b, char *err, size_t size)
{
	char *argv[] = { TP_HOST, "exit", "3", NULL };
	const char *env[] = { "LD_PRELOAD=" TP_SHIM, a, b, NULL };
	struct proc p = { 0 };
	char out[512];

	start(&p, argv, env);
	read_all(p.out, out, sizeof(out));
	read_all(p.err, err, size);
	CHECK_EQ(finish(&p), 3);
}

TEST(low_above_high_is_a_bad_setting)
{
	char err[1024];

	host_with("TIDE_HIGH=64M", "TIDE_LOW=65M", err, sizeof(err));
	CHECK(strstr(err, "TIDE_LOW") && strchr(err, '\n') &&
	      !strchr(err, '\n')[1]);
}

/* Without TIDE_HIGH the high watermark is 3/4 of the limit: 75 MiB. */
TEST(low_above_the_default_high_is_a_bad_setting)
{
	char err[1024];

	host_with("TIDE_LIMIT=100M", "TIDE_LOW=90M", err, sizeof(err));
	CHECK_STR(err, "tide-preload: TIDE_LOW (94371840 bytes) is above the "
		       "default high watermark (78643200 bytes, 3/4 of the "
		       "limit); off\n");
}

/*
 * The host under the shim with @env (NULL terminated, LD_PRELOAD added):
 * it exits 3 with its thread count on stdout; its stderr in @err.
 * Return: the host's threads.
 */
static int host_env(const char *const env[], char *err, size_t size)
{
	char *argv[] = { TP_HOST, "exit", "3", NULL };
	const char *all[8] = { "LD_PRELOAD=" TP_SHIM };
	struct proc p = { 0 };
	char out[512];
	size_t n = 1;

	for (; env[n - 1] && n < 7; n++)
		all[n] = env[n - 1];
	all[n] = NULL;
	start(&p, argv, all);
	read_all(p.out, out, sizeof(out));
	read_all(p.err, err, size);
	CHECK_EQ(finish(&p), 3);
	return count_threads(out);
}

/*
 * host_env() with @env, checking that it ran @threads threads: its stderr
 * in @err, cut after the first line.  Return: where that line ended (the
 * rest of the output is at the return value + 1).
 */
static char *first_line(const char *const env[], char *err, size_t size,
			int threads)
{
	char *nl;

	CHECK_EQ(host_env(env, err, size), threads);
	th_note("%s", err);
	nl = strchr(err, '\n');
	CHECK(nl);
	*nl = '\0';
	return nl;
}

#define HIGH_160M_IGNORED(v) HIGH_160M_IGNORED_AS("TIDE_HIGH=" v)
/* @what: the setting as the line names it (tide-run: "--high 200M") */
#define HIGH_160M_IGNORED_AS(what)                                            \
	what " ignored: not below the limit (167772160 bytes), usage never "  \
	     "reaches it (the default, 3/4 of the limit, is used: 125829120 " \
	     "bytes)"

/*
 * Watermarks that can never fire, in a 160 MiB limit: TIDE_HIGH at or
 * over it (200M, 1g, 100%) was taken as it was, with the budget source
 * added for it, and not a word.  Now one line says it is ignored and
 * why, verbose or not, and the monitor runs with the defaults (3/4 and
 * 5/8 of the limit), without the budget source.  A TIDE_LOW above that
 * default goes too; one below it stays.
 */
TEST(a_high_watermark_not_below_the_limit_is_ignored_with_one_line)
{
	/*
	 * Under ASan a host whose monitor runs a cgroup v1 limit watcher
	 * and exits at once dies in the runtime now and then (a CHECK on
	 * its soft RSS limit callback, 10 runs in 20 with TIDE_LIMIT=160M
	 * alone, before these changes too): there, no limit watcher.  The
	 * budget source stays allowed, so its absence is still checked;
	 * the numbers used are checked by tide-run --show.
	 */
	const char *src = sanitized() ?
				  "TIDE_SOURCES=psi-cgroup,psi,budget,none" :
				  "TIDE_SOURCES";
	bool nums = !sanitized();
	char err[2048], *nl;
	int base = base_threads();

	{
		const char *env[] = { "TIDE_LIMIT=160M", "TIDE_HIGH=200M",
				      "TIDE_VERBOSE=1", src, NULL };

		nl = first_line(env, err, sizeof(err), base + shim_threads());
		CHECK_STR(err, "tide-preload: " HIGH_160M_IGNORED("200M"));
		CHECK(!nums ||
		      strstr(nl + 1, ", limit 167772160 (TIDE_LIMIT), high "
				     "125829120, low 104857600, "));
		CHECK(!strstr(nl + 1, "budget"));
		CHECK(strchr(nl + 1, '\n') && !strchr(nl + 1, '\n')[1]);
	}
	{
		const char *env[] = { "TIDE_LIMIT=160M", "TIDE_HIGH=100%",
				      "TIDE_LOW=150M", src, NULL };

		CHECK_EQ(host_env(env, err, sizeof(err)),
			 base + shim_threads());
		CHECK_STR(err, "tide-preload: " HIGH_160M_IGNORED(
				       "100%") "; TIDE_LOW=150M ignored too: "
					       "above that default (the "
					       "default, 5/8 of the limit, is "
					       "used: 104857600 bytes)\n");
	}
	{
		const char *env[] = { "TIDE_LIMIT=160M",
				      "TIDE_HIGH=1g",
				      "TIDE_LOW=90M",
				      "TIDE_VERBOSE=1",
				      src,
				      NULL };

		nl = first_line(env, err, sizeof(err), base + shim_threads());
		CHECK_STR(err, "tide-preload: " HIGH_160M_IGNORED("1g"));
		CHECK(!nums ||
		      strstr(nl + 1, ", limit 167772160 (TIDE_LIMIT), high "
				     "125829120, low 94371840, "));
	}
	/*
	 * below the limit: taken, quietly, and the budget source with it
	 * where the cgroups set no limit; where they do (a host in a limited
	 * group), their limit watcher alone watches it, TIDE_LIMIT a size or
	 * not (docs/preload.md; test_preload_cgroup
	 * a_size_limit_in_a_limited_group_leaves_the_budget_out).  This
	 * failed in a limited group.
	 */
	{
		const char *env[] = { "TIDE_LIMIT=160M", "TIDE_HIGH=100M",
				      "TIDE_VERBOSE=1", src, NULL };
		bool budget = !nums || !found_limit();

		CHECK_EQ(host_env(env, err, sizeof(err)),
			 base + shim_threads());
		th_note("%s", err);
		CHECK(strstr(err, "high 104857600, low 91750400, "));
		CHECK(!nums || strstr(err, ", limit 167772160 (TIDE_LIMIT), "));
		CHECK(budget ? strstr(err, "budget, limit ") != NULL :
			       strstr(err, "budget") == NULL);
		CHECK(strchr(err, '\n') && !strchr(err, '\n')[1]);
	}
}

/*
 * The limit the shim finds here without TIDE_LIMIT (0: none); @field (if
 * not NULL) gets the verbose line's field for it as the shim prints it,
 * "limit 0" or "limit 536870912 (/sys/fs/cgroup/.../memory.limit_in_bytes)".
 */
static unsigned long long found_limit_as(char *field, size_t size)
{
	const char *env[] = { "TIDE_VERBOSE=1", "TIDE_SOURCES=none", NULL };
	unsigned long long v = ~0ull;
	char err[1024];
	const char *p, *e;

	host_env(env, err, sizeof(err));
	p = strstr(err, ", limit ");
	CHECK(p && sscanf(p, ", limit %llu", &v) == 1);
	e = strstr(p, ", high ");
	CHECK(e);
	if (field)
		snprintf(field, size, "%.*s", (int)(e - p - 2), p + 2);
	return v;
}

static unsigned long long found_limit(void)
{
	return found_limit_as(NULL, 0);
}

/* N% of @limit, as the shim resolves it (tide__pct_of()) */
static unsigned long long pct_of(unsigned long long limit, unsigned pct)
{
	return limit / 100 * pct + limit % 100 * pct / 100;
}

/*
 * The line that says a limit (@what: "TIDE_LIMIT=1G", "--limit 1G") is
 * ignored for a high watermark at or above @ceiling (@past: "this
 * machine's memory" or "the limit the cgroups set"): the one given with
 * it (@high_name and @given; 0: none) and its default 3/4.
 */
static void limit_past_line(char *buf, size_t size, const char *what,
			    unsigned long long limit, const char *high_name,
			    unsigned long long given, const char *past,
			    unsigned long long ceiling)
{
	if (given)
		snprintf(buf, size,
			 "%s ignored: its high watermark (%s, %llu bytes, and "
			 "the default 3/4 of the limit, %llu bytes) is at or "
			 "above %s (%llu bytes), usage never reaches it (the "
			 "limit found from the cgroups, if any, is used)",
			 what, high_name, given, limit - limit / 4, past,
			 ceiling);
	else
		snprintf(buf, size,
			 "%s ignored: its default high watermark (3/4 of it, "
			 "%llu bytes) is at or above %s (%llu bytes), usage "
			 "never reaches it (the limit found from the cgroups, "
			 "if any, is used)",
			 what, limit - limit / 4, past, ceiling);
}

/* The line that says a high watermark (@what) at or above @limit is
 * ignored for the default, 3/4 of @limit. */
static void high_past_line(char *buf, size_t size, const char *what,
			   unsigned long long limit)
{
	snprintf(buf, size,
		 "%s ignored: not below the limit (%llu bytes), usage never "
		 "reaches it (the default, 3/4 of the limit, is used: %llu "
		 "bytes)",
		 what, limit, limit - limit / 4);
}

/*
 * TIDE_LIMIT=18446744073709551615 was taken, and the monitor, for which
 * 1 EiB or more is no limit, then watched none (the verbose line said
 * "limit 0"); TIDE_LOW alone where no limit is found was taken and used
 * by nothing ("low 0").  Each is now ignored with one line.
 */
TEST(a_limit_of_1_EiB_or_more_and_a_lone_low_without_limit_are_ignored)
{
	/* no limit watcher under a sanitizer: see the test above */
	const char *src = sanitized() ?
				  "TIDE_SOURCES=psi-cgroup,psi,budget,none" :
				  "TIDE_SOURCES";
	char err[2048], want[1024];
	unsigned long long lim = found_limit();
	int base = base_threads();

	{
		const char *env[] = { "TIDE_LIMIT=18446744073709551615",
				      "TIDE_VERBOSE=1", src, NULL };

		CHECK_EQ(host_env(env, err, sizeof(err)),
			 base + shim_threads());
		th_note("%s", err);
		snprintf(want, sizeof(want),
			 "tide-preload: TIDE_LIMIT=18446744073709551615 "
			 "ignored: 1 EiB or more means no limit (the limit "
			 "found from the cgroups, if any, is used)\n");
		CHECK(!strncmp(err, want, strlen(want)));
		snprintf(want, sizeof(want), ", limit %llu", lim);
		CHECK(strstr(err, want));
	}
	{
		/* under 1 EiB, but past the machine's memory: see below */
		const char *env[] = { "TIDE_LIMIT=1152921504606846975",
				      "TIDE_VERBOSE=1", src, NULL };

		host_env(env, err, sizeof(err));
		CHECK(strstr(err, "TIDE_LIMIT=1152921504606846975 ignored: "
				  "its default high watermark (3/4 of it, "
				  "864691128455135232 bytes) is at or above "
				  "this machine's memory ("));
	}
	if (lim) {
		th_note("a limit is found here (%llu): TIDE_LOW=1G alone "
			"not tried",
			lim);
		return;
	}
	{
		/*
		 * A high watermark no usage reaches (at or above the
		 * machine's memory): ignored, and no budget source polls
		 * for it (up to 0.2.11 one read smaps_rollup every 100 ms).
		 */
		const char *env[] = { "TIDE_HIGH=16777215T", "TIDE_VERBOSE=1",
				      src, NULL };
		static const char head[] =
			"tide-preload: TIDE_HIGH=16777215T ignored: at or "
			"above this machine's memory (";

		CHECK_EQ(host_env(env, err, sizeof(err)),
			 base + shim_threads());
		th_note("%s", err);
		CHECK(!strncmp(err, head, sizeof(head) - 1));
		CHECK(strstr(err, " bytes), usage never reaches it (no limit "
				  "found: no high watermark is used)\n"));
		CHECK(strstr(err, ", limit 0, high -, low - (no watermark "
				  "source), "));
	}
	{
		const char *env[] = { "TIDE_LOW=1G", "TIDE_VERBOSE=1", src,
				      NULL };

		CHECK_EQ(host_env(env, err, sizeof(err)),
			 base + shim_threads());
		th_note("%s", err);
		snprintf(want, sizeof(want),
			 "tide-preload: TIDE_LOW=1G ignored: no limit found "
			 "and no TIDE_HIGH, so no source uses a low "
			 "watermark\n");
		CHECK(!strncmp(err, want, strlen(want)));
		CHECK(strstr(err, ", limit 0, high -, low - (no watermark "
				  "source), "));
	}
}

/* This machine's MemTotal in bytes, as the shim reads it. */
static unsigned long long mem_total(void)
{
	unsigned long long kb = 0;
	char line[256];
	FILE *f = fopen("/proc/meminfo", "r");

	CHECK(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	fclose(f);
	CHECK(kb > 0);
	return kb * 1024;
}

/*
 * A TIDE_LIMIT above the machine's memory (tide-run --limit 64G on a
 * 24 GiB host) was taken without a word: its watermarks (3/4 and 5/8 of
 * it) were never reached, the machine ran out first.  Now a TIDE_LIMIT
 * whose default high watermark is at or above MemTotal is ignored with
 * one line, as a cgroup limit there is no limit; one a byte lower is
 * taken, and so is one given with a TIDE_HIGH below MemTotal.  A
 * TIDE_HIGH at or above MemTotal under a limit that is taken gives way to
 * the limit's default; one a byte lower is taken.
 */
TEST(a_limit_or_high_watermark_past_the_machines_memory_is_ignored)
{
	/* no limit watcher under a sanitizer: see the tests above */
	const char *src = sanitized() ?
				  "TIDE_SOURCES=psi-cgroup,psi,budget,none" :
				  "TIDE_SOURCES";
	static const char cgroups[] = "the limit the cgroups set";
	static const char machine[] = "this machine's memory";
	char e_limit[64], e_high[64], err[2048], want[2048], line[768];
	char field[512], used[640];
	unsigned long long total = mem_total(), lim;
	unsigned long long past = total / 3 * 4 - 4, kept, dh, given;
	int base = base_threads();
	/*
	 * Where the cgroups set a limit (a host in a limited group: 512 MiB),
	 * a limit whose high watermark is at or above it is ignored too, and
	 * the high watermark is then checked against the cgroups' limit
	 * (docs/preload.md): each case below says what it gives there, from
	 * the limit as the shim finds it.  These failed in a limited group.
	 */
	lim = found_limit_as(field, sizeof(field));
	snprintf(used, sizeof(used), ", %s, ", field);

	/* the first limit whose default high (limit - limit / 4) >= total */
	while (past - past / 4 < total)
		past++;
	kept = past - 1;
	dh = kept - kept / 4;
	CHECK(dh < total);
	th_note("MemTotal %llu: TIDE_LIMIT %llu ignored, %llu taken; the "
		"cgroups' %s",
		total, past, kept, field);
	{
		const char *env[] = { e_limit, "TIDE_VERBOSE=1", src, NULL };

		snprintf(e_limit, sizeof(e_limit), "TIDE_LIMIT=%llu", past);
		CHECK_EQ(host_env(env, err, sizeof(err)),
			 base + shim_threads());
		th_note("%s", err);
		limit_past_line(line, sizeof(line), e_limit, past, NULL, 0,
				machine, total);
		snprintf(want, sizeof(want), "tide-preload: %s\n", line);
		CHECK(!strncmp(err, want, strlen(want)));
		CHECK(strstr(err, used));
	}
	{
		/*
		 * A byte lower: past the MemTotal rule.  In a limited group
		 * its default high is past the cgroups' limit, which says so
		 * (naming that limit, not this machine's memory), and theirs
		 * is used.
		 */
		const char *env[] = { e_limit, "TIDE_VERBOSE=1", src, NULL };

		snprintf(e_limit, sizeof(e_limit), "TIDE_LIMIT=%llu", kept);
		host_env(env, err, sizeof(err));
		th_note("%s", err);
		if (!lim || dh < lim) {
			CHECK(!strstr(err, "ignored"));
			snprintf(want, sizeof(want),
				 ", limit %llu (TIDE_LIMIT)", kept);
			CHECK(sanitized() || strstr(err, want));
		} else {
			limit_past_line(line, sizeof(line), e_limit, kept, NULL,
					0, cgroups, lim);
			snprintf(want, sizeof(want), "tide-preload: %s\n",
				 line);
			CHECK(!strncmp(err, want, strlen(want)));
			CHECK(strstr(err, used));
		}
	}
	{
		/*
		 * With a TIDE_HIGH that fires, in bytes or as its
		 * percentage, the limit is taken (the percentage is made
		 * of it; the low is 7/8 of the high).  A review:
		 * the first version ignored it, and TIDE_HIGH=50% of it then
		 * turned the shim off where no other limit is found.  In a
		 * group whose limit that TIDE_HIGH is not below, the limit
		 * is ignored against the cgroups' (the line names the
		 * TIDE_HIGH), and the TIDE_HIGH in bytes with it, the
		 * percentage then made of the cgroups' limit.
		 */
		const char *env[] = { e_limit, e_high, "TIDE_VERBOSE=1", src,
				      NULL };

		snprintf(e_limit, sizeof(e_limit), "TIDE_LIMIT=%llu", past);
		snprintf(e_high, sizeof(e_high), "TIDE_HIGH=1G");
		host_env(env, err, sizeof(err));
		th_note("%s", err);
		if (!lim || 1073741824 < lim) {
			CHECK(!strstr(err, "ignored"));
			snprintf(want, sizeof(want),
				 ", limit %llu (TIDE_LIMIT), high 1073741824, ",
				 past);
			CHECK(sanitized() || strstr(err, want));
		} else {
			limit_past_line(line, sizeof(line), e_limit, past,
					"TIDE_HIGH", 1073741824, cgroups, lim);
			snprintf(want, sizeof(want), "tide-preload: %s; ",
				 line);
			high_past_line(line, sizeof(line), e_high, lim);
			snprintf(want + strlen(want),
				 sizeof(want) - strlen(want), "%s\n", line);
			CHECK(!strncmp(err, want, strlen(want)));
			snprintf(want, sizeof(want), "%shigh %llu, low %llu, ",
				 used, lim - lim / 4, lim - lim / 8 * 3);
			CHECK(sanitized() || strstr(err, want));
		}
		snprintf(e_high, sizeof(e_high), "TIDE_HIGH=50%%");
		host_env(env, err, sizeof(err));
		th_note("%s", err);
		given = pct_of(past, 50);
		if (!lim || given < lim) {
			CHECK(!strstr(err, "ignored"));
			snprintf(want, sizeof(want),
				 ", limit %llu (TIDE_LIMIT), high %llu, ", past,
				 given);
			CHECK(sanitized() || strstr(err, want));
		} else {
			limit_past_line(line, sizeof(line), e_limit, past,
					"TIDE_HIGH", given, cgroups, lim);
			snprintf(want, sizeof(want), "tide-preload: %s\n",
				 line);
			CHECK(!strncmp(err, want, strlen(want)));
			snprintf(want, sizeof(want), "%shigh %llu, ", used,
				 pct_of(lim, 50));
			CHECK(sanitized() || strstr(err, want));
		}
	}
	{
		/*
		 * TIDE_HIGH at MemTotal under a limit that is taken.  Only
		 * where the cgroups set no limit (or one above that limit's
		 * default high): in a limited group that limit is ignored,
		 * its TIDE_HIGH being past the cgroups' limit too, and the
		 * TIDE_HIGH is then not below the cgroups' limit.  That is
		 * checked there instead.
		 */
		const char *env[] = { e_limit, e_high, "TIDE_VERBOSE=1", src,
				      NULL };
		bool taken = !lim || dh < lim;

		snprintf(e_limit, sizeof(e_limit), "TIDE_LIMIT=%llu", kept);
		for (int i = 0; i < 2; i++) {
			/* MemTotal, ignored; a byte lower, taken */
			given = total - (unsigned long long)i;
			snprintf(e_high, sizeof(e_high), "TIDE_HIGH=%llu",
				 given);
			host_env(env, err, sizeof(err));
			th_note("%s", err);
			if (taken && !i) {
				snprintf(
					want, sizeof(want),
					"tide-preload: TIDE_HIGH=%llu ignored: "
					"at or above this machine's memory "
					"(%llu bytes), usage never reaches it "
					"(the default, 3/4 of the limit, is "
					"used: %llu bytes)\n",
					total, total, dh);
				CHECK(!strncmp(err, want, strlen(want)));
				snprintf(want, sizeof(want), ", high %llu, ",
					 dh);
				CHECK(sanitized() || strstr(err, want));
			} else if (taken) {
				CHECK(!strstr(err, "ignored"));
				snprintf(want, sizeof(want), ", high %llu, ",
					 given);
				CHECK(sanitized() || strstr(err, want));
			} else {
				limit_past_line(line, sizeof(line), e_limit,
						kept, "TIDE_HIGH", given,
						cgroups, lim);
				snprintf(want, sizeof(want),
					 "tide-preload: %s; ", line);
				high_past_line(line, sizeof(line), e_high, lim);
				snprintf(want + strlen(want),
					 sizeof(want) - strlen(want), "%s\n",
					 line);
				CHECK(!strncmp(err, want, strlen(want)));
				snprintf(want, sizeof(want), "%shigh %llu, ",
					 used, lim - lim / 4);
				CHECK(sanitized() || strstr(err, want));
			}
		}
	}
	{
		/*
		 * A TIDE_HIGH under 1 MiB is dropped: it keeps no limit
		 * (review 13: the limit stayed, with a default high past
		 * MemTotal).  And a percentage of a limit ignored by the
		 * other rules (1 EiB or more) goes with it where no other
		 * is found, as here (it turned the shim off).
		 */
		const char *env[] = { e_limit, e_high, "TIDE_VERBOSE=1", src,
				      NULL };

		snprintf(e_limit, sizeof(e_limit), "TIDE_LIMIT=%llu", past);
		snprintf(e_high, sizeof(e_high), "TIDE_HIGH=512K");
		host_env(env, err, sizeof(err));
		th_note("%s", err);
		CHECK(strstr(err, "ignored: its default high watermark"));
		CHECK(strstr(err, used));
		if (!lim) {
			snprintf(e_limit, sizeof(e_limit),
				 "TIDE_LIMIT=1152921504606846976");
			snprintf(e_high, sizeof(e_high), "TIDE_HIGH=50%%");
			CHECK_EQ(host_env(env, err, sizeof(err)),
				 base + shim_threads());
			th_note("%s", err);
			CHECK(strstr(err, "; TIDE_HIGH=50% ignored too: a "
					  "percentage of that limit, and no "
					  "other is found\n"));
		}
	}
	{
		/*
		 * A TIDE_HIGH percentage of a limit that is ignored (its 90%
		 * is past MemTotal too): of the limit the cgroups set, as
		 * without TIDE_LIMIT; where none is found, ignored with it
		 * (not a bad setting that turns the shim off).
		 */
		const char *env[] = { e_limit, "TIDE_HIGH=90%",
				      "TIDE_VERBOSE=1", src, NULL };

		snprintf(e_limit, sizeof(e_limit), "TIDE_LIMIT=%llu", past);
		CHECK_EQ(host_env(env, err, sizeof(err)),
			 base + shim_threads());
		th_note("%s", err);
		limit_past_line(line, sizeof(line), e_limit, past, "TIDE_HIGH",
				pct_of(past, 90), machine, total);
		if (lim) {
			snprintf(want, sizeof(want), "tide-preload: %s\n",
				 line);
			CHECK(!strncmp(err, want, strlen(want)));
			snprintf(want, sizeof(want), "%shigh %llu, ", used,
				 pct_of(lim, 90));
			CHECK(sanitized() || strstr(err, want));
		} else {
			snprintf(want, sizeof(want),
				 "tide-preload: %s; TIDE_HIGH=90%% ignored "
				 "too: a percentage of that limit, and no "
				 "other is found\n",
				 line);
			CHECK(!strncmp(err, want, strlen(want)));
			CHECK(strstr(err, ", limit 0, high -, low - (no "
					  "watermark source), "));
		}
	}
}

#define UNDER_1M(v, what) \
	v " ignored: under 1 MiB, usage is always above it (" what ")"

/*
 * TIDE_LIMIT=1 or TIDE_HIGH=1K were taken: usage is always above them,
 * so the monitor reclaimed without end (4% of a CPU).  A limit or a
 * watermark under 1 MiB, resolved, is now ignored with one line.
 */
TEST(settings_under_1_MiB_are_ignored_with_one_line)
{
	/* no limit watcher under a sanitizer: see the tests above */
	const char *src = sanitized() ?
				  "TIDE_SOURCES=psi-cgroup,psi,budget,none" :
				  "TIDE_SOURCES";
	bool nums = !sanitized();
	char err[2048], want[1024], *nl;
	unsigned long long lim = found_limit();
	int base = base_threads();

	{
		const char *env[] = { "TIDE_LIMIT=1", "TIDE_VERBOSE=1", src,
				      NULL };

		nl = first_line(env, err, sizeof(err), base + shim_threads());
		CHECK_STR(err, "tide-preload: " UNDER_1M(
				       "TIDE_LIMIT=1",
				       "the limit found from the cgroups, if "
				       "any, is used"));
		snprintf(want, sizeof(want), ", limit %llu", lim);
		CHECK(strstr(nl + 1, want));
		CHECK(strchr(nl + 1, '\n') && !strchr(nl + 1, '\n')[1]);
	}
	{
		const char *env[] = { "TIDE_LIMIT=160M", "TIDE_HIGH=1K",
				      "TIDE_VERBOSE=1", src, NULL };

		nl = first_line(env, err, sizeof(err), base + shim_threads());
		CHECK_STR(err, "tide-preload: " UNDER_1M(
				       "TIDE_HIGH=1K",
				       "the default, 3/4 of the limit, is "
				       "used: 125829120 bytes"));
		CHECK(!nums ||
		      strstr(nl + 1, ", limit 167772160 (TIDE_LIMIT), high "
				     "125829120, low 104857600, "));
		CHECK(!strstr(nl + 1, "budget"));
	}
	{
		/* a percentage is checked once resolved: 1% of 80M */
		const char *env[] = { "TIDE_LIMIT=80M",
				      "TIDE_HIGH=60M",
				      "TIDE_LOW=1%",
				      "TIDE_VERBOSE=1",
				      src,
				      NULL };

		nl = first_line(env, err, sizeof(err), base + shim_threads());
		CHECK_STR(err, "tide-preload: " UNDER_1M("TIDE_LOW=1%",
							 "the default is "
							 "used"));
		CHECK(strstr(nl + 1, ", high 62914560, low 55050240, "));
	}
	{
		/*
		 * A limit whose watermarks are under 1 MiB: TIDE_LIMIT=1M
		 * gave high 786432, low 655360, and the monitor reclaimed
		 * without end (a trial of 0.2.19).  Ignored, as a limit
		 * under 1 MiB is; so is 1600K, whose default low (5/8 of
		 * it) is under 1 MiB though its high is not.
		 */
		static const char *const lims[][2] = {
			{ "1M", "its watermarks are under 1 MiB (high 786432, "
				"low 655360 bytes), usage is always above "
				"them" },
			{ "1600K", "its low watermark is under 1 MiB (high "
				   "1228800, low 1024000 bytes), usage is "
				   "always above it" },
		};
		char e_limit[32];
		const char *env[] = { e_limit, "TIDE_VERBOSE=1", src, NULL };

		for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
			snprintf(e_limit, sizeof(e_limit), "TIDE_LIMIT=%s",
				 lims[i][0]);
			nl = first_line(env, err, sizeof(err),
					base + shim_threads());
			snprintf(want, sizeof(want),
				 "tide-preload: TIDE_LIMIT=%s ignored: %s (the "
				 "limit found from the cgroups, if any, is "
				 "used)",
				 lims[i][0], lims[i][1]);
			CHECK_STR(err, want);
			snprintf(want, sizeof(want), ", limit %llu", lim);
			CHECK(strstr(nl + 1, want));
			CHECK(strchr(nl + 1, '\n') && !strchr(nl + 1, '\n')[1]);
		}
	}
	{
		/*
		 * A TIDE_HIGH given alone whose low (7/8 of it) is under
		 * 1 MiB: ignored, as ctl's "watermarks 1M" is refused.
		 */
		const char *env[] = { "TIDE_LIMIT=160M", "TIDE_HIGH=1M",
				      "TIDE_VERBOSE=1", src, NULL };

		nl = first_line(env, err, sizeof(err), base + shim_threads());
		CHECK_STR(err, "tide-preload: TIDE_HIGH=1M ignored: its low "
			       "watermark (7/8 of it, 917504 bytes) is under 1 "
			       "MiB, usage is always above it (the default, "
			       "3/4 of the limit, is used: 125829120 bytes)");
		CHECK(!nums ||
		      strstr(nl + 1, ", limit 167772160 (TIDE_LIMIT), high "
				     "125829120, low 104857600, "));
	}
	{
		/* 2M: high 1.5 MiB, low 1.25 MiB, taken quietly; and a
		 * small limit whose watermarks are given above 1 MiB */
		static const char *const ok[][4] = {
			{ "TIDE_LIMIT=2M", "TIDE_HIGH", "TIDE_LOW",
			  ", limit 2097152 (TIDE_LIMIT), high 1572864, low "
			  "1310720, " },
			{ "TIDE_LIMIT=1500K", "TIDE_HIGH=1200K",
			  "TIDE_LOW=1100K",
			  ", limit 1536000 (TIDE_LIMIT), high 1228800, low "
			  "1126400, " },
		};

		for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
			const char *env[] = { ok[i][0], ok[i][1],
					      ok[i][2], "TIDE_VERBOSE=1",
					      src,	NULL };

			CHECK_EQ(host_env(env, err, sizeof(err)),
				 base + shim_threads());
			th_note("%s", err);
			CHECK(!strncmp(err, "tide-preload: pid ", 18));
			CHECK(!nums || strstr(err, ok[i][3]));
			CHECK(strchr(err, '\n') && !strchr(err, '\n')[1]);
		}
	}
	{
		/* 1 MiB itself is taken, quietly */
		const char *env[] = { "TIDE_LIMIT=160M",
				      "TIDE_HIGH=2M",
				      "TIDE_LOW=1M",
				      "TIDE_VERBOSE=1",
				      src,
				      NULL };

		host_env(env, err, sizeof(err));
		th_note("%s", err);
		CHECK(!strncmp(err, "tide-preload: pid ", 18));
		CHECK(strstr(err, ", high 2097152, low 1048576, "));
		CHECK(strchr(err, '\n') && !strchr(err, '\n')[1]);
	}
}

TEST(good_settings_start_a_monitor_quietly)
{
	char *argv[] = { TP_HOST, "exit", "5", NULL };
	const char *env[] = { "LD_PRELOAD=" TP_SHIM, "TIDE_HIGH=64M",
			      "TIDE_LOW=48M",	     "TIDE_SOURCES=budget",
			      "TIDE_INHERIT=1",	     NULL };
	struct proc p = { 0 };
	char out[512], err[1024];
	int base = base_threads();

	start(&p, argv, env);
	read_all(p.out, out, sizeof(out));
	read_all(p.err, err, sizeof(err));
	CHECK_EQ(finish(&p), 5);
	CHECK_EQ(count_threads(out), base + shim_threads());
	CHECK_STR(err, "");
}

TEST(verbose_says_what_it_found)
{
	char *argv[] = { TP_HOST, "exit", "0", NULL };
	const char *env[] = { "LD_PRELOAD=" TP_SHIM, "TIDE_VERBOSE=1",
			      "TIDE_SOURCES=none", NULL };
	struct proc p = { 0 };
	char out[512], err[1024];

	start(&p, argv, env);
	read_all(p.out, out, sizeof(out));
	read_all(p.err, err, sizeof(err));
	CHECK_EQ(finish(&p), 0);
	CHECK(strstr(err, "tide-preload: pid "));
	CHECK(strstr(err, ": sources none, limit "));
	CHECK(strchr(err, '\n') && !strchr(err, '\n')[1]);
	/*
	 * No source of "none" uses watermarks: the line says so, as
	 * tide-run --show does (it said "high 0, low 0").
	 */
	th_note("%s", err);
	CHECK(strstr(err, ", high -, low - (no watermark source), allocator "));
}

/*
 * TIDE_VERBOSE=1 with TIDE_CONTROL=1: one line, saying how the control
 * socket turned out.  It used to say "control socket on" before trying,
 * then "no control socket" when the directory could not be made.
 */
TEST(verbose_says_in_one_line_whether_the_control_socket_is_on)
{
	char *argv[] = { TP_HOST, "exit", "0", NULL };
	const char *env[] = { "LD_PRELOAD=" TP_SHIM, "TIDE_VERBOSE=1",
			      "TIDE_CONTROL=1", "TIDE_SOURCES=none",
			      /* its tide/ cannot be made: no parent */
			      "XDG_RUNTIME_DIR=/nonexistent-tide-test/run",
			      NULL };
	char out[512], err[1024], tmp[] = "/tmp/tide-pre-XXXXXX", xdg[64];
	char cmd[96];
	struct proc p = { 0 };

	start(&p, argv, env);
	read_all(p.out, out, sizeof(out));
	read_all(p.err, err, sizeof(err));
	CHECK_EQ(finish(&p), 0);
	th_note("%s", err);
	CHECK(strstr(err, ": sources none, limit "));
	CHECK(strstr(err, ", no control socket (No such file or directory)\n"));
	CHECK(!strstr(err, "control socket on"));
	CHECK(strchr(err, '\n') && !strchr(err, '\n')[1]);

	/* a directory it can make: on, in the same one line */
	CHECK(mkdtemp(tmp));
	snprintf(xdg, sizeof(xdg), "XDG_RUNTIME_DIR=%s", tmp);
	env[4] = xdg;
	memset(&p, 0, sizeof(p));
	start(&p, argv, env);
	read_all(p.out, out, sizeof(out));
	read_all(p.err, err, sizeof(err));
	CHECK_EQ(finish(&p), 0);
	th_note("%s", err);
	CHECK(strstr(err, ": sources none, limit "));
	CHECK(strstr(err, ", control socket on\n"));
	CHECK(!strstr(err, "no control socket"));
	CHECK(strchr(err, '\n') && !strchr(err, '\n')[1]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	CHECK_EQ(system(cmd), 0);
}

/* ---- tide-run ------------------------------------------------------------ */

/* Run @argv with the environment changed by @env (see start()). */
static int run_tool_env(char *const argv[], const char *const env[], char *out,
			size_t osz, char *err, size_t esz)
{
	struct proc p = { 0 };

	start(&p, argv, env);
	read_all(p.out, out, osz);
	read_all(p.err, err, esz);
	return finish(&p);
}

static int run_tool(char *const argv[], char *out, size_t osz, char *err,
		    size_t esz)
{
	return run_tool_env(argv, NULL, out, osz, err, esz);
}

TEST(tide_run_option_errors_exit_2)
{
	static const char *const bad[][3] = {
		{ "--limit", "12Q", "bad size '12Q'" },
		{ "--high", "0", "bad size '0'" },
		{ "--low", "101%", "bad size '101%'" },
		{ "--sources", "psi,nope", "bad source list 'psi,nope'" },
		{ "--bogus", "--", "unknown option '--bogus'" },
		/* up to 0.2.11 "-xy" named the word before it */
		{ "-xy", "--", "unknown option '-x'" },
		{ "--show=1", "--", "--show takes no value" },
	};
	char out[4096], err[4096];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[] = { TP_RUN,
				 (char *)bad[i][0],
				 (char *)bad[i][1],
				 "--",
				 TP_HOST,
				 "exit",
				 "0",
				 NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 2);
		if (!strstr(err, bad[i][2]))
			FAIL("%s %s: stderr \"%s\"", bad[i][0], bad[i][1], err);
		CHECK_STR(out, "");
	}
	{
		char *argv[] = { TP_RUN, "--high", "1M",   "--low", "2M",
				 "--",	 TP_HOST,  "exit", "0",	    NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 2);
	}
	{
		/* refused by the shim's rules, so refused before the exec */
		char *argv[] = { TP_RUN, "--limit", "100M", "--low", "90M",
				 "--",	 TP_HOST,   "exit", "0",     NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 2);
		CHECK(strstr(err, "above the default high watermark"));
		CHECK_STR(out, "");
	}
	{
		char *argv[] = { TP_RUN,  "--limit", "1G",  "--high",
				 "50%",	  "--low",   "60%", "--",
				 TP_HOST, "exit",    "0",   NULL };

		/*
		 * named as the user gave them (trial 19).  In a group whose
		 * limit --high (512 MiB) is not below, --limit 1G is ignored
		 * against it (and said first, in the same words), and the
		 * percentages are of the group's limit: still the same error.
		 * This failed in a limited group.
		 */
		unsigned long long lim = found_limit(), of = 1073741824;
		char head[768] = "", want[1024];

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 2);
		if (lim && pct_of(of, 50) >= lim) {
			limit_past_line(head, sizeof(head) - 2, "--limit 1G",
					of, "--high", pct_of(of, 50),
					"the limit the cgroups set", lim);
			strcat(head, "; ");
			of = lim;
		}
		snprintf(want, sizeof(want),
			 "tide-run: %s--low (%llu bytes) is above --high (%llu "
			 "bytes)\nTry 'tide-run --help'.\n",
			 head, pct_of(of, 60), pct_of(of, 50));
		CHECK_STR(err, want);
		CHECK_STR(out, "");
	}
	{
		char *argv[] = { TP_RUN, "--limit", NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 2);
		CHECK(strstr(err, "needs a value"));
	}
	{
		char *argv[] = { TP_RUN, NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 2);
		CHECK(strstr(err, "no program to run"));
	}
}

TEST(tide_run_passes_exit_status_and_sets_the_shim)
{
	char out[4096], err[4096];
	int base = base_threads();

	{
		char *argv[] = { TP_RUN, "--sources", "budget,none", "--high",
				 "1G",	 "--",	      TP_HOST,	     "exit",
				 "7",	 NULL };
		/*
		 * Quiet, unless the cgroups set a limit 1G is not below (a
		 * host in a 512 MiB group): then tide-run says --high is
		 * ignored, once (not the shim in the program), and runs the
		 * program all the same.  This failed in a limited group.
		 */
		unsigned long long lim = found_limit();
		char want[1024] = "";

		if (lim && 1073741824 >= lim) {
			strcpy(want, "tide-run: warning: ");
			high_past_line(want + strlen(want),
				       sizeof(want) - strlen(want) - 1,
				       "--high 1G", lim);
			strcat(want, "\n");
		}
		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 7);
		CHECK_EQ(count_threads(out), base + shim_threads());
		CHECK_STR(err, want);
	}
	{
		char *argv[] = { TP_RUN, "--", TP_HOST, "threads", NULL };
		char want[512];

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 0);
		snprintf(want, sizeof(want), "threads %d preload=%s\n",
			 base + shim_threads(), TP_SHIM);
		CHECK_STR(out, want);
	}
	{
		char *argv[] = { TP_RUN,  "--no-inherit", "--",
				 TP_HOST, "exec",	  NULL };
		char want[512];

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 0);
		snprintf(want, sizeof(want), "threads %d preload=-\n", base);
		CHECK_STR(out, want);
	}
	{
		char *argv[] = { TP_RUN, "--", "/nonexistent/program", NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)),
			 127);
		CHECK(strstr(err, "cannot run /nonexistent/program"));
	}
}

TEST(tide_run_help_and_show)
{
	char out[4096], err[4096];

	{
		char *argv[] = { TP_RUN, "--help", NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 0);
		CHECK(strstr(out, "usage: tide-run"));
	}
	{
		char *argv[] = { TP_RUN, "--sources", "none", "--show", NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 0);
		CHECK(strstr(out, "sources      none\n"));
		CHECK(strstr(out, "allowed      none\n"));
		CHECK(strstr(out, "\nlimit "));
	}
	{
		/* a budget needs no limit: no probe for one */
		char *argv[] = { TP_RUN, "--sources", "budget", "--high",
				 "100M", "--show",    NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 0);
		CHECK(strstr(out, "sources      budget\n"));
		CHECK(strstr(out, "\nhigh         104857600 (100.0 MiB)\n"));
		CHECK(strstr(out, "\nlow          91750400 (87.5 MiB)\n"));
	}
}

/*
 * Settings that leave the shim without a monitor (here: only the watch
 * source, and no $MEMORY_PRESSURE_WATCH): --show exits 1, and a run warns
 * in one line that points at --show, then runs the program all the same.
 * It used to run it unprotected without a word.
 */
TEST(tide_run_warns_when_no_source_is_usable_and_still_runs)
{
	const char *env[] = { "MEMORY_PRESSURE_WATCH", NULL };
	char out[4096], err[4096];
	struct proc p = { 0 };

	{
		char *argv[] = { TP_RUN,  "--sources", "watch", "--",
				 TP_HOST, "exit",      "7",	NULL };

		start(&p, argv, env);
		read_all(p.out, out, sizeof(out));
		read_all(p.err, err, sizeof(err));
		CHECK_EQ(finish(&p), 7);
		th_note("%s", err);
		CHECK(!strncmp(err, "tide-run: warning: no pressure source (",
			       39));
		CHECK(strstr(err, TP_HOST " runs without tide"));
		CHECK(strstr(err, "'tide-run --show'"));
		CHECK(strchr(err, '\n') && !strchr(err, '\n')[1]);
		/* it ran, and the shim started no monitor thread */
		CHECK_EQ(count_threads(out), base_threads());
	}
	{
		char *argv[] = { TP_RUN, "--sources", "watch", "--show", NULL };

		memset(&p, 0, sizeof(p));
		start(&p, argv, env);
		read_all(p.out, out, sizeof(out));
		read_all(p.err, err, sizeof(err));
		CHECK_EQ(finish(&p), 1);
		CHECK(strstr(err, "tide-run: no pressure source: "));
	}
	{
		/* a usable source: not a word */
		char *argv[] = { TP_RUN,  "--sources", "none", "--",
				 TP_HOST, "exit",      "0",    NULL };

		memset(&p, 0, sizeof(p));
		start(&p, argv, env);
		read_all(p.out, out, sizeof(out));
		read_all(p.err, err, sizeof(err));
		CHECK_EQ(finish(&p), 0);
		CHECK_STR(err, "");
	}
}

/*
 * "--high -- prog" took "--" as the value ("bad size '--'"); each option
 * that needs a value now says it lacks one, however it is missing.
 */
TEST(tide_run_says_an_option_needs_a_value)
{
	static const char *const opts[] = { "--limit", "--high", "--low",
					    "--sources" };
	char out[4096], err[4096], want[256];

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char *before_dd[] = { TP_RUN,  (char *)opts[i], "--",
				      TP_HOST, "exit",		"0",
				      NULL };
		char *before_opt[] = { TP_RUN,	    (char *)opts[i],
				       "--verbose", "--",
				       TP_HOST,	    "exit",
				       "0",	    NULL };
		char *at_end[] = { TP_RUN, (char *)opts[i], NULL };

		snprintf(want, sizeof(want),
			 "tide-run: %s needs a value\n"
			 "Try 'tide-run --help'.\n",
			 opts[i]);
		CHECK_EQ(
			run_tool(before_dd, out, sizeof(out), err, sizeof(err)),
			2);
		CHECK_STR(err, want);
		CHECK_STR(out, "");
		CHECK_EQ(run_tool(before_opt, out, sizeof(out), err,
				  sizeof(err)),
			 2);
		CHECK_STR(err, want);
		CHECK_EQ(run_tool(at_end, out, sizeof(out), err, sizeof(err)),
			 2);
		CHECK_STR(err, want);
	}
}

TEST(tide_run_version)
{
	char *argv[] = { TP_RUN, "--version", NULL };
	char out[4096], err[4096];

	CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 0);
	CHECK_STR(out, "tide-run (tide) " TIDE_VERSION_STRING "\n");
	CHECK_STR(err, "");
}

/*
 * Output that cannot be written (stdout on /dev/full) fails --show, --help
 * and --version with one line and exit status 1, as tidectl's does.  Up to
 * 0.2.27 they exited 0.
 */
TEST(tide_run_show_help_version_fail_on_a_write_error)
{
	static const char *const opts[] = { "--show", "--help", "--version" };
	char out[4096], err[4096];

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char *argv[] = { "/bin/sh",
				 "-c",
				 "exec \"$0\" \"$@\" >/dev/full",
				 TP_RUN,
				 "--sources",
				 "none",
				 (char *)opts[i],
				 NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 1);
		if (strcmp(err, "tide-run: write error: No space left on "
				"device\n"))
			FAIL("tide-run %s >/dev/full: \"%s\"", opts[i], err);
	}
}

/*
 * --show looks the shim up as a run does, and without it fails as a run
 * does: exit 127, naming every directory searched (this binary's, the
 * library directory relative to it, the configured one).  Up to 0.2.27
 * --show printed its table and exited 0, and the message left out the
 * relative directory.  A copy of tide-run alone in a directory of its
 * own.
 */
TEST(tide_run_show_without_the_shim_fails_as_a_run_does)
{
	char tmp[64], bin[96], run[128], cmd[512], out[4096], err[4096];
	char show_err[4096], want[512];
	char *show[] = { run, "--sources", "none", "--show", NULL };
	char *exec[] = { run,	  "--sources", "none", "--",
			 TP_HOST, "exit",      "0",    NULL };

	snprintf(tmp, sizeof(tmp), "/tmp/tide-norun-XXXXXX");
	CHECK(mkdtemp(tmp));
	snprintf(bin, sizeof(bin), "%s/bin", tmp);
	CHECK(!mkdir(bin, 0755));
	snprintf(run, sizeof(run), "%s/tide-run", bin);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", TP_RUN, run);
	CHECK_EQ(system(cmd), 0);
	if (!run_tool(exec, out, sizeof(out), err, sizeof(err))) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
		CHECK_EQ(system(cmd), 0);
		SKIP("a shim is installed in tide-run's configured directory");
	}
	CHECK_EQ(run_tool(exec, out, sizeof(out), err, sizeof(err)), 127);
	CHECK_EQ(run_tool(show, out, sizeof(out), show_err, sizeof(show_err)),
		 127);
	th_note("%s", show_err);
	CHECK_STR(out, "");
	CHECK_STR(show_err, err);
	snprintf(want, sizeof(want),
		 "tide-run: libtide-preload.so not found in %s (next to "
		 "tide-run), %s/../",
		 bin, bin);
	CHECK(!strncmp(err, want, strlen(want)));
	CHECK(strstr(err, " nor /"));
	CHECK(strchr(err, '\n') && !strchr(err, '\n')[1]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	CHECK_EQ(system(cmd), 0);
}

/*
 * --show, --help and --version run no program: "tide-run --show --
 * /bin/true" and "tide-run --version extra" ignored the word without a
 * word of their own (trial of 0.2.19).  Now a usage error naming it.
 */
TEST(tide_run_show_help_version_refuse_an_extra_argument)
{
	static const struct {
		const char *opt, *extra;
		char *argv[6];
	} cases[] = {
		{ "show",
		  "/bin/true",
		  { TP_RUN, "--show", "--", "/bin/true" } },
		{ "version", "extra", { TP_RUN, "--version", "extra" } },
		{ "help", "x", { TP_RUN, "--help", "--", "x" } },
		/* the first of --help and --version is the one named */
		{ "version", "y", { TP_RUN, "--version", "--help", "y" } },
	};
	char out[4096], err[4096], want[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(want, sizeof(want),
			 "tide-run: extra argument '%s': --%s runs no "
			 "program\nTry 'tide-run --help'.\n",
			 cases[i].extra, cases[i].opt);
		CHECK_EQ(run_tool(cases[i].argv, out, sizeof(out), err,
				  sizeof(err)),
			 2);
		CHECK_STR(err, want);
		CHECK_STR(out, "");
	}
	{
		/* the other options are checked first */
		char *argv[] = { TP_RUN, "--version", "--limit", "1X", NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 2);
		CHECK_STR(err, "tide-run: bad size '1X': N, NK, NM, NG, NT or "
			       "N% (N > 0, N% at most 100%)\n"
			       "Try 'tide-run --help'.\n");
		CHECK_STR(out, "");
	}
	{
		/* "--" with nothing after it is no extra argument */
		char *argv[] = { TP_RUN, "--version", "--", NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 0);
		CHECK_STR(out, "tide-run (tide) " TIDE_VERSION_STRING "\n");
		CHECK_STR(err, "");
	}
}

/* Write @text to @dir/@name, mode @mode; the path in @path. */
static void write_file(const char *dir, const char *name, const char *text,
		       mode_t mode, char *path, size_t size)
{
	int fd;

	snprintf(path, size, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	CHECK(!close(fd));
	CHECK(!chmod(path, mode));
}

/* Copy the file @from to @to, mode 0755. */
static void copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ssize_t n;

	CHECK(in >= 0 && fd >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		CHECK_EQ(write(fd, buf, (size_t)n), n);
	CHECK(!n && !close(in) && !close(fd));
}

static void remove_dir(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK_EQ(system(cmd), 0);
}

/*
 * A file the kernel cannot execute (ENOEXEC: here junk behind an ELF
 * magic; a 32-bit program where the kernel has no ia32) went from
 * execvp() to /bin/sh, with the shim loaded, and tide-run exited with
 * sh's 2, its own usage error ('Syntax error: "(" unexpected').  Now:
 * one line and 126, as shells do for a file found but not executable.
 * PATH is searched with execvp()'s rules: past a file we may not
 * execute (EACCES, kept: 126 if nothing else is found), and a script
 * with a "#!" line still runs.
 */
/*
 * The loader splits LD_PRELOAD at spaces and colons: a tide installed
 * under such a path preloaded nothing, and tide-run said nothing and ran
 * the program unprotected (a review).  It refuses now, before the exec.
 */
TEST(tide_run_refuses_a_shim_path_ld_preload_cannot_carry)
{
	static const char *const names[] = { "a b", "a:b" };
	char out[4096], err[4096];

	for (size_t i = 0; i < 2; i++) {
		char dir[] = "/tmp/tide-run-XXXXXX", sub[96], run[160],
		     shim[160], cmd[512], want[512];

		CHECK(mkdtemp(dir));
		snprintf(sub, sizeof(sub), "%s/%s", dir, names[i]);
		CHECK(!mkdir(sub, 0755));
		snprintf(run, sizeof(run), "%s/tide-run", sub);
		snprintf(shim, sizeof(shim), "%s/libtide-preload.so", sub);
		snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && cp '%s' '%s'",
			 TP_RUN, run, TP_SHIM, shim);
		CHECK_EQ(system(cmd), 0);
		{
			char *argv[] = {
				run, "--", TP_HOST, "exit", "0", NULL
			};

			CHECK_EQ(run_tool(argv, out, sizeof(out), err,
					  sizeof(err)),
				 127);
		}
		snprintf(want, sizeof(want),
			 "tide-run: the shim's path '%s' holds a space or a "
			 "colon, which LD_PRELOAD cannot carry; install tide "
			 "under a path without them\n",
			 shim);
		CHECK_STR(err, want);
		CHECK_STR(out, "");
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		CHECK_EQ(system(cmd), 0);
	}
}

TEST(tide_run_never_hands_a_program_to_sh)
{
	char dir[] = "/tmp/tide-run-XXXXXX", a[64], b[64], junk[128];
	char path[160], out[4096], err[4096], want[256];

	CHECK(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	CHECK(!mkdir(a, 0755) && !mkdir(b, 0755));
	write_file(a, "junk", "\177ELF\002\001\001garbage(x)\n", 0755, junk,
		   sizeof(junk));
	{
		char *argv[] = { TP_RUN, junk, NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)),
			 126);
		snprintf(want, sizeof(want),
			 "tide-run: %s: cannot execute: Exec format error\n",
			 junk);
		CHECK_STR(err, want);
		CHECK_STR(out, "");
	}
	snprintf(path, sizeof(path), "PATH=%s", a);
	{
		char *argv[] = { TP_RUN, "--control", "--", "junk", NULL };
		const char *env[] = { path, NULL };

		CHECK_EQ(run_tool_env(argv, env, out, sizeof(out), err,
				      sizeof(err)),
			 126);
		CHECK_STR(err, "tide-run: junk: cannot execute: Exec format "
			       "error\n");
	}
	/* "prog" in a/ is not executable: b/'s runs; alone, 126 */
	write_file(a, "prog", "#!/bin/sh\nexit 5\n", 0644, junk, sizeof(junk));
	snprintf(junk, sizeof(junk), "%s/prog", b);
	CHECK(!symlink(TP_HOST, junk));
	snprintf(path, sizeof(path), "PATH=%s::%s", a, b);
	{
		char *argv[] = { TP_RUN, "--", "prog", "exit", "7", NULL };
		const char *env[] = { path, NULL };

		CHECK_EQ(run_tool_env(argv, env, out, sizeof(out), err,
				      sizeof(err)),
			 7);
		CHECK_STR(err, "");
	}
	snprintf(path, sizeof(path), "PATH=%s", a);
	{
		char *argv[] = { TP_RUN, "--", "prog", NULL };
		const char *env[] = { path, NULL };

		CHECK_EQ(run_tool_env(argv, env, out, sizeof(out), err,
				      sizeof(err)),
			 126);
		CHECK_STR(err, "tide-run: prog: cannot execute: Permission "
			       "denied\n");
	}
	{
		/* not found anywhere: 127, as before */
		char *argv[] = { TP_RUN, "--", "tide-no-such-program", NULL };
		const char *env[] = { path, NULL };

		CHECK_EQ(run_tool_env(argv, env, out, sizeof(out), err,
				      sizeof(err)),
			 127);
		CHECK_STR(err, "tide-run: cannot run tide-no-such-program: No "
			       "such file or directory\n");
	}
	/* a script with a "#!" line: the kernel runs it */
	write_file(a, "script", "#!/bin/sh\nexit 9\n", 0755, junk,
		   sizeof(junk));
	if (!strcmp(TP_SANITIZE, "thread")) {
		/*
		 * The TSan shim loads libtsan into dash, which is not built
		 * for it: on Linux 6.18 any uninstrumented PIE program
		 * (dash, bash, python3) with LD_PRELOAD=libtsan.so.2 alone
		 * dies of SIGSEGV in most runs.  The plain, ASan and
		 * valgrind runs check this.
		 */
		th_note("the #! script is not run under TSan (libtsan "
			"preloaded into dash crashes)");
	} else {
		char *argv[] = { TP_RUN, "--", "script", NULL };
		const char *env[] = { path, NULL };

		CHECK_EQ(run_tool_env(argv, env, out, sizeof(out), err,
				      sizeof(err)),
			 9);
		CHECK_STR(err, "");
	}
	remove_dir(dir);
}

/*
 * A statically linked program has no loader to read LD_PRELOAD: it ran
 * unprotected without a word, even with --verbose.  Now one line says so,
 * and it runs all the same, its exit status passed on.
 */
TEST(tide_run_says_a_static_program_runs_without_tide)
{
	char *argv[] = { TP_RUN,	 "--verbose", "--control", "--",
			 TP_HOST_STATIC, "exit",      "7",	   NULL };
	char out[4096], err[4096];

	if (!TP_HOST_STATIC[0])
		SKIP("no static libc here (libc.a): no static host built");
	CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 7);
	CHECK_STR(err, "tide-run: warning: " TP_HOST_STATIC
		       " is statically linked: the shim cannot load; it runs "
		       "without tide\n");
	CHECK_STR(out, "threads 1\n");
}

/*
 * Set-user-ID or set-group-ID to another user or group: the loader runs
 * in secure-execution mode and ignores a preload path with a slash (and
 * the shim's TIDE_* settings).  A copy of the host, owned by nobody,
 * run as root.  Set-user-ID to ourselves changes nothing: the shim loads.
 */
TEST(tide_run_says_a_setuid_program_runs_without_tide)
{
	char dir[] = "/tmp/tide-run-XXXXXX", host[64], sane[64], want[256];
	char out[4096], err[4096];
	struct passwd *pw = getpwnam("nobody");
	struct group *gr = getgrnam("nogroup");
	struct statvfs vfs;
	int base = base_threads();

	if (geteuid())
		SKIP("not root: cannot make a set-user-ID file of another "
		     "user");
	if (!pw || !gr || !pw->pw_uid || !gr->gr_gid)
		SKIP("no user nobody or group nogroup here");
	CHECK(mkdtemp(dir));
	CHECK(!chmod(dir, 0755));
	CHECK(!statvfs(dir, &vfs));
	if (vfs.f_flag & ST_NOSUID) {
		remove_dir(dir);
		SKIP("/tmp is mounted nosuid");
	}
	snprintf(host, sizeof(host), "%s/host", dir);
	copy_file(TP_HOST_PLAIN, host);
	snprintf(sane, sizeof(sane), "%s/sane", dir);
	copy_file(TP_HOST, sane);

	{
		char *argv[] = { TP_RUN, "--verbose", "--", host,
				 "exit", "7",	      NULL };
		char *argv_sane[] = { TP_RUN, "--verbose", "--", sane,
				      "exit", "7",	   NULL };
		static const struct {
			bool uid;
			mode_t mode;
			const char *what;
		} cases[] = {
			{ true, 04755, "set-user-ID" },
			{ false, 02755, "set-group-ID" },
		};

		for (size_t i = 0; i < 2; i++) {
			CHECK(!chown(host, cases[i].uid ? pw->pw_uid : 0,
				     cases[i].uid ? 0 : gr->gr_gid));
			CHECK(!chmod(host, cases[i].mode));
			CHECK_EQ(run_tool(argv, out, sizeof(out), err,
					  sizeof(err)),
				 7);
			snprintf(want, sizeof(want),
				 "tide-run: warning: %s is %s: the loader "
				 "ignores LD_PRELOAD; it runs without tide\n",
				 host, cases[i].what);
			CHECK_STR(err, want);
			CHECK_STR(out, "threads 1\n");
		}
		/* set-user-ID root, run by root: no change, the shim loads */
		CHECK(!chmod(sane, 04755));
		CHECK_EQ(
			run_tool(argv_sane, out, sizeof(out), err, sizeof(err)),
			7);
		th_note("%s", err);
		CHECK(!strncmp(err, "tide-preload: pid ", 18));
		CHECK(strchr(err, '\n') && !strchr(err, '\n')[1]);
		CHECK_EQ(count_threads(out), base + shim_threads());
	}
	remove_dir(dir);
}

/* tide-run's --limit, --high and --low set the variables: the same rule */
TEST(tide_run_under_1_MiB_is_ignored_with_one_line)
{
	char out[4096], err[4096];

	{
		char *argv[] = { TP_RUN, "--limit", "160M", "--high",
				 "1K",	 "--show",  NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 0);
		th_note("%s", out);
		CHECK_STR(err, "tide-run: warning: " UNDER_1M(
				       "--high 1K",
				       "the default, 3/4 of the limit, is "
				       "used: 125829120 bytes") "\n");
		CHECK(strstr(out, "\nhigh         125829120 (120.0 MiB)\n"));
	}
	{
		/*
		 * --limit 1M showed high 786432, low 655360 without a word
		 * (a trial of 0.2.19): now ignored, with the cgroups' limit
		 * shown instead, and no watermark made from it.
		 */
		char *argv[] = { TP_RUN, "--limit", "1M", "--show", NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 0);
		th_note("%s", out);
		CHECK_STR(err, "tide-run: warning: --limit 1M ignored: its "
			       "watermarks are under 1 MiB (high 786432, low "
			       "655360 bytes), usage is always above them (the "
			       "limit found from the cgroups, if any, is "
			       "used)\n");
		CHECK(!strstr(out, "--limit / TIDE_LIMIT"));
		CHECK(!strstr(out, "786432") && !strstr(out, "655360"));
		CHECK(found_limit() ||
		      strstr(out, "\nlimit        0\nlimit from   none\n"));
	}
	{
		char *argv[] = { TP_RUN, "--limit", "2M", "--show", NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 0);
		th_note("%s", out);
		CHECK_STR(err, "");
		CHECK(strstr(out, "\nlimit        2097152 (2.0 MiB)\nlimit "
				  "from   --limit / TIDE_LIMIT\n"));
		CHECK(strstr(out, "\nhigh         1572864 (1.5 MiB)\nlow    "
				  "      1310720 (1.2 MiB)\n"));
	}
	{
		/* 50% of 2M is 1M, whose low (7/8) is under 1 MiB */
		char *argv[] = { TP_RUN, "--limit", "2M", "--high",
				 "50%",	 "--show",  NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 0);
		th_note("%s", out);
		CHECK_STR(err, "tide-run: warning: --high 50% ignored: its low "
			       "watermark (7/8 of it, 917504 bytes) is under 1 "
			       "MiB, usage is always above it (the default, "
			       "3/4 of the limit, is used: 1572864 bytes)\n");
		CHECK(strstr(out, "\nhigh         1572864 (1.5 MiB)\nlow    "
				  "      1310720 (1.2 MiB)\n"));
	}
	{
		char *argv[] = { TP_RUN, "--limit", "1",    "--sources", "none",
				 "--",	 TP_HOST,   "exit", "7",	 NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 7);
		/* tide-run says it, as the user gave it; the shim does not */
		CHECK_STR(err, "tide-run: warning: " UNDER_1M(
				       "--limit 1",
				       "the limit found from the cgroups, if "
				       "any, is used") "\n");
	}
}

#define EIB_IGNORED(what)                                                    \
	what " ignored: 1 EiB or more means no limit (the limit found from " \
	     "the cgroups, if any, is used)\n"

/* The value of " TIDE_SAID=" in a "host env" line, or "". */
static void said_of(const char *env_line, char *val, size_t size)
{
	const char *v = strstr(env_line, " TIDE_SAID=");

	snprintf(val, size, "%.*s", v ? (int)strcspn(v + 11, " \n") : 0,
		 v ? v + 11 : "");
}

/*
 * A settings line was said by every process that loaded the shim: a
 * script under tide-run --limit 64G repeated it for each command it ran
 * (4 lines for `sh -c 'true; true; ls'`).  Now the process that says it
 * records TIDE_SAID (a hash of the line) in its environment, and the
 * programs it runs, resolving the same line, stay quiet; one whose
 * settings, and so whose line, differ says its own.
 */
TEST(a_settings_line_is_said_once_per_process_tree)
{
	char *exec_env[] = { TP_HOST, "exec-env", NULL };
	char *exit3[] = { TP_HOST, "exit", "3", NULL };
	char out[2048], err[2048], said[64], env_said[96];
	struct proc p = { 0 };

	{
		/* the host says it, then execs "host env": quiet */
		const char *env[] = { "LD_PRELOAD=" TP_SHIM,
				      "TIDE_LIMIT=1048576T", "TIDE_SAID",
				      "TIDE_SOURCES=none", NULL };

		start(&p, exec_env, env);
		read_all(p.out, out, sizeof(out));
		read_all(p.err, err, sizeof(err));
		CHECK_EQ(finish(&p), 0);
		th_note("%s", out);
		CHECK_STR(err,
			  "tide-preload: " EIB_IGNORED("TIDE_LIMIT=1048576T"));
		said_of(out, said, sizeof(said));
		CHECK_EQ(strlen(said), 16);
		CHECK_EQ(strspn(said, "0123456789abcdef"), 16);
	}
	snprintf(env_said, sizeof(env_said), "TIDE_SAID=%s", said);
	{
		/* a program given that value stays quiet about that line */
		const char *env[] = { "LD_PRELOAD=" TP_SHIM,
				      "TIDE_LIMIT=1048576T", env_said,
				      "TIDE_SOURCES=none", NULL };

		start(&p, exit3, env);
		read_all(p.out, out, sizeof(out));
		read_all(p.err, err, sizeof(err));
		CHECK_EQ(finish(&p), 3);
		CHECK_STR(err, "");
	}
	{
		/* another line (another value) is said, and recorded */
		const char *env[] = { "LD_PRELOAD=" TP_SHIM,
				      "TIDE_LIMIT=2097152T", env_said,
				      "TIDE_SOURCES=none", NULL };
		char said2[64];

		start(&p, exec_env, env);
		read_all(p.out, out, sizeof(out));
		read_all(p.err, err, sizeof(err));
		CHECK_EQ(finish(&p), 0);
		CHECK_STR(err,
			  "tide-preload: " EIB_IGNORED("TIDE_LIMIT=2097152T"));
		said_of(out, said2, sizeof(said2));
		CHECK_EQ(strlen(said2), 16);
		CHECK(strcmp(said2, said));
		/* one TIDE_SAID entry: the inherited one's slot was reused */
		CHECK(!strstr(strstr(out, " TIDE_SAID=") + 1, " TIDE_SAID="));
	}
	{
		/* bad settings: "; off" once, too */
		const char *env[] = { "LD_PRELOAD=" TP_SHIM, "TIDE_HIGH=lots",
				      "TIDE_SAID", NULL };

		start(&p, exec_env, env);
		read_all(p.out, out, sizeof(out));
		read_all(p.err, err, sizeof(err));
		CHECK_EQ(finish(&p), 0);
		CHECK_STR(err, "tide-preload: TIDE_HIGH=lots: not a size (N, "
			       "NK, NM, NG, NT or N% with N > 0); off\n");
		said_of(out, said, sizeof(said));
		CHECK_EQ(strlen(said), 16);
	}
	{
		/* TIDE_INHERIT=0: the line is said, nothing is recorded */
		const char *env[] = {
			"LD_PRELOAD=" TP_SHIM, "TIDE_LIMIT=1048576T",
			"TIDE_INHERIT=0",      "TIDE_SAID",
			"TIDE_SOURCES=none",   NULL
		};

		start(&p, exec_env, env);
		read_all(p.out, out, sizeof(out));
		read_all(p.err, err, sizeof(err));
		CHECK_EQ(finish(&p), 0);
		CHECK_STR(err,
			  "tide-preload: " EIB_IGNORED("TIDE_LIMIT=1048576T"));
		CHECK(!strstr(out, "TIDE_SAID"));
	}
	/* a real shell running three commands: one line */
	if (!sanitized()) {
		char *sh[] = { "/bin/sh", "-c",
			       "/bin/true; /bin/true; " TP_HOST " exit 0",
			       NULL };
		const char *env[] = { "LD_PRELOAD=" TP_SHIM,
				      "TIDE_LIMIT=1048576T", "TIDE_SAID",
				      "TIDE_SOURCES=none", NULL };

		start(&p, sh, env);
		read_all(p.out, out, sizeof(out));
		read_all(p.err, err, sizeof(err));
		CHECK_EQ(finish(&p), 0);
		CHECK_STR(err,
			  "tide-preload: " EIB_IGNORED("TIDE_LIMIT=1048576T"));
	}
}

/*
 * tide-run says what the shim ignores itself, naming the options the user
 * typed (trial 19: "TIDE_LOW" for --low), and the shim in PROGRAM and the
 * programs it runs stay quiet; a size from the environment keeps its
 * variable's name.
 */
TEST(tide_run_says_ignored_settings_once_in_the_users_words)
{
	char out[2048], err[2048];

	{
		char *argv[] = { TP_RUN,      "--limit",  "1048576T",
				 "--sources", "none",	  "--",
				 TP_HOST,     "exec-env", NULL };
		const char *env[] = { "TIDE_SAID", NULL };

		CHECK_EQ(run_tool_env(argv, env, out, sizeof(out), err,
				      sizeof(err)),
			 0);
		CHECK_STR(err, "tide-run: warning: " EIB_IGNORED(
				       "--limit 1048576T"));
		CHECK(strstr(out, " TIDE_SAID="));
	}
	{
		char *argv[] = { TP_RUN,  "--sources", "none", "--",
				 TP_HOST, "exec-env",  NULL };
		const char *env[] = { "TIDE_LIMIT=1048576T", "TIDE_SAID",
				      NULL };

		CHECK_EQ(run_tool_env(argv, env, out, sizeof(out), err,
				      sizeof(err)),
			 0);
		CHECK_STR(err, "tide-run: warning: " EIB_IGNORED(
				       "TIDE_LIMIT=1048576T"));
	}
	{
		/* the high and low, named as options in one line */
		char *argv[] = { TP_RUN, "--limit", "1G",    "--high",
				 "2G",	 "--low",   "1500M", "--sources",
				 "none", "--",	    TP_HOST, "exit",
				 "0",	 NULL };

		/*
		 * In a group whose limit 1G's default high (768 MiB) and
		 * --high 2G are not below (a host in a 512 MiB group), the
		 * limit is ignored against the group's, named as an option
		 * too, and --high and --low go against the group's limit.
		 * This failed in a limited group.
		 */
		unsigned long long lim = found_limit(), of = 1073741824;
		char want[2048], line[768];

		strcpy(want, "tide-run: warning: ");
		if (lim && of - of / 4 >= lim) {
			limit_past_line(line, sizeof(line), "--limit 1G", of,
					"--high", 2147483648ull,
					"the limit the cgroups set", lim);
			snprintf(want + strlen(want),
				 sizeof(want) - strlen(want), "%s; ", line);
			of = lim;
		}
		high_past_line(line, sizeof(line), "--high 2G", of);
		snprintf(want + strlen(want), sizeof(want) - strlen(want),
			 "%s; --low 1500M ignored too: above that default (the "
			 "default, 5/8 of the limit, is used: %llu bytes)\n",
			 line, of - of / 8 * 3);
		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 0);
		CHECK_STR(err, want);
	}
}

/*
 * --show prints a working set only where a limit watcher reads one, and
 * watermarks only where a source uses them: for the others a "0" was
 * false (it said "working set 0" under a budget or psi alone).
 */
/* --show says what the shim would ignore, in the shim's words. */
TEST(tide_run_show_says_which_settings_are_ignored)
{
	char *argv[] = { TP_RUN, "--limit", "160M", "--high",
			 "200M", "--show",  NULL };
	char out[4096], err[4096];

	CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 0);
	th_note("%s", out);
	CHECK_STR(err, "tide-run: warning: " HIGH_160M_IGNORED_AS(
			       "--high 200M") "\n");
	CHECK(strstr(out, "\nhigh         125829120 (120.0 MiB)\n"));
	CHECK(strstr(out, "\nlow          104857600 (100.0 MiB)\n"));
	CHECK(!strstr(out, "budget\nallowed"));
}

TEST(tide_run_show_says_when_no_limit_is_watched)
{
	char out[4096], err[4096];

	{
		char *argv[] = { TP_RUN, "--sources", "none", "--show", NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 0);
		th_note("%s", out);
		CHECK(strstr(out, "\nworking set  - (no limit watched)\n"));
		CHECK(strstr(out, "\nhigh         - (no watermark source)\n"));
		CHECK(strstr(out, "\nlow          - (no watermark source)\n"));
		CHECK(!strstr(out, "working set  0"));
	}
	{
		char *argv[] = { TP_RUN, "--sources", "budget", "--high",
				 "100M", "--show",    NULL };

		CHECK_EQ(run_tool(argv, out, sizeof(out), err, sizeof(err)), 0);
		th_note("%s", out);
		CHECK(strstr(out, "\nworking set  - (no limit watched)\n"));
		CHECK(strstr(out, "\nhigh         104857600 (100.0 MiB)\n"));
	}
}

RUN_TESTS(T(python_heap_given_back_after_pressure_event),
	  T(python_jemalloc_heap_given_back_after_pressure_event),
	  T(python_without_shim_keeps_its_heap),
	  T(forked_child_gets_its_own_monitor),
	  T(forked_children_keep_nothing_of_their_parents_monitor),
	  T(a_host_that_closes_our_descriptors_still_exits),
	  T(a_host_that_closes_everything_at_start_up_gets_a_new_monitor),
	  T(a_host_that_takes_our_descriptors_keeps_them),
	  T(a_vfork_child_that_closes_everything_leaves_us_alone),
	  T(fork_exec_leaves_no_socket), T(daemon_keeps_a_monitor),
	  T(a_locked_allocator_across_fork_hangs_no_child),
	  T(a_program_run_from_under_the_shim_makes_its_monitor_200_ms_late),
	  T(settings_probes_open_no_psi_file),
	  T(sixty_four_threads_allocating_then_given_back),
	  T(dlclose_leaves_the_shim_loaded_and_running),
	  T(unshare_and_setns_work_under_the_shim),
	  T(a_child_that_chroots_or_drops_privileges_at_once_keeps_a_monitor),
	  T(a_grandchild_forked_while_a_monitor_is_made_inherits_none_of_it),
	  T(exec_inherits_the_shim),
	  T(exec_without_the_shim_when_TIDE_INHERIT_0),
	  T(TIDE_INHERIT_0_leaves_children_no_shim_and_no_settings),
	  T(bash_execs_without_the_shim_when_TIDE_INHERIT_0),
	  T(bad_settings_one_line_program_runs),
	  T(low_above_high_is_a_bad_setting),
	  T(low_above_the_default_high_is_a_bad_setting),
	  T(a_high_watermark_not_below_the_limit_is_ignored_with_one_line),
	  T(a_limit_of_1_EiB_or_more_and_a_lone_low_without_limit_are_ignored),
	  T(a_limit_or_high_watermark_past_the_machines_memory_is_ignored),
	  T(settings_under_1_MiB_are_ignored_with_one_line),
	  T(good_settings_start_a_monitor_quietly),
	  T(verbose_says_what_it_found),
	  T(verbose_says_in_one_line_whether_the_control_socket_is_on),
	  T(tide_run_option_errors_exit_2),
	  T(tide_run_passes_exit_status_and_sets_the_shim),
	  T(tide_run_help_and_show),
	  T(tide_run_warns_when_no_source_is_usable_and_still_runs),
	  T(tide_run_show_says_which_settings_are_ignored),
	  T(tide_run_show_says_when_no_limit_is_watched),
	  T(tide_run_says_an_option_needs_a_value), T(tide_run_version),
	  T(tide_run_show_help_version_refuse_an_extra_argument),
	  T(tide_run_show_help_version_fail_on_a_write_error),
	  T(tide_run_show_without_the_shim_fails_as_a_run_does),
	  T(tide_run_refuses_a_shim_path_ld_preload_cannot_carry),
	  T(tide_run_never_hands_a_program_to_sh),
	  T(tide_run_says_a_static_program_runs_without_tide),
	  T(tide_run_says_a_setuid_program_runs_without_tide),
	  T(tide_run_under_1_MiB_is_ignored_with_one_line),
	  T(a_settings_line_is_said_once_per_process_tree),
	  T(tide_run_says_ignored_settings_once_in_the_users_words))

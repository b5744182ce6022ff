// SPDX-License-Identifier: MIT
/*
 * test_ctl_preload.c - tidectl against an unmodified program: Debian's
 * python3 under libtide-preload.so with TIDE_CONTROL=1.  The shim's monitor
 * is reported, --json parses, and "tidectl PID purge" gives back the
 * fragmented CPython heap.  And a program of tide's own that listens
 * under the shim takes the socket over from it.
 */
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include <tide.h>

#include "harness.h"

#define PYTHON "/usr/bin/python3"

#if defined(TIDE__ASAN) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

/* CPython fragments its heap: 150k objects of 1 KiB, 1 in 50 kept. */
static const char py_script[] =
	"import sys\n"
	"def anon():\n"
	"    with open('/proc/self/smaps_rollup') as f:\n"
	"        for l in f:\n"
	"            if l.startswith('Anonymous:'):\n"
	"                return int(l.split()[1])\n"
	"objs = [bytes(1024) for _ in range(150000)]\n"
	"kept = objs[::50]\n"
	"del objs\n"
	"print('anon', anon(), flush=True)\n"
	"for line in sys.stdin:\n"
	"    print('anon', anon(), flush=True)\n";

static char tmp[64], dir[256], bindir[4096], tidectl[4200], shim[4200];

static void setup(void)
{
	ssize_t n = readlink("/proc/self/exe", bindir, sizeof(bindir) - 1);

	CHECK(n > 0);
	bindir[n] = 0;
	*strrchr(bindir, '/') = 0;
	snprintf(tidectl, sizeof(tidectl), "%s/tools/tidectl", bindir);
	snprintf(shim, sizeof(shim), "%s/preload/libtide-preload.so", bindir);
	if (access(PYTHON, X_OK))
		SKIP("Debian's python3 is not installed (scripts/deps.sh)");
	if (access(tidectl, X_OK) || access(shim, R_OK))
		SKIP("tidectl or libtide-preload.so not built");
	if (SANITIZED)
		SKIP("sanitizer build: python3 cannot load the instrumented "
		     "shim");
	if (th_under_valgrind())
		SKIP("under valgrind: python3 runs natively");
	snprintf(tmp, sizeof(tmp), "/tmp/tide-ctlpre-XXXXXX");
	CHECK(mkdtemp(tmp));
	snprintf(dir, sizeof(dir), "%s/tide", tmp);
}

static void cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	if (system(cmd))
		th_note("could not remove %s", tmp);
}

struct proc {
	pid_t pid;
	int in, out;
};

/* KiB of filler variables spawn_python() puts before XDG_RUNTIME_DIR */
static size_t big_env;

/*
 * python3 -c @script [@a1 @a2] under the shim, its $XDG_RUNTIME_DIR @xdg
 * (its socket there); @control: TIDE_CONTROL=1.
 */
static void spawn_python(struct proc *p, const char *xdg, bool control,
			 const char *script, const char *a1, const char *a2)
{
	int in[2], out[2];

	CHECK(!pipe(in) && !pipe(out));
	fflush(stdout);
	p->pid = fork();
	CHECK(p->pid >= 0);
	if (!p->pid) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		setenv("LD_PRELOAD", shim, 1);
		if (control)
			setenv("TIDE_CONTROL", "1", 1);
		else
			unsetenv("TIDE_CONTROL");
		/* big_env KiB of variables before XDG_RUNTIME_DIR, which
		 * setenv() then appends at the end */
		unsetenv("XDG_RUNTIME_DIR");
		for (size_t i = 0; i < big_env / 64; i++) {
			static char val[64 * 1024];
			char name[40];

			memset(val, 'x', sizeof(val) - 1);
			snprintf(name, sizeof(name), "TIDE_TEST_BIG%zu", i);
			setenv(name, val, 1);
		}
		setenv("XDG_RUNTIME_DIR", xdg, 1);
		unsetenv("MEMORY_PRESSURE_WATCH");
		execl(PYTHON, PYTHON, "-c", script, a1, a2, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	p->in = in[1];
	p->out = out[0];
}

/* python3 under the shim, its $XDG_RUNTIME_DIR @xdg (its socket there) */
static void start_python_in(struct proc *p, const char *xdg)
{
	spawn_python(p, xdg, true, py_script, NULL, NULL);
}

static void start_python(struct proc *p)
{
	start_python_in(p, tmp);
}

/* One line of @p's output into @line. */
static void read_line(struct proc *p, char *line, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		struct pollfd pfd = { .fd = p->out, .events = POLLIN };
		char c;

		if (poll(&pfd, 1, 60000) <= 0 || read(p->out, &c, 1) != 1)
			FAIL("python3 did not answer");
		if (c == '\n')
			break;
		line[n++] = c;
	}
	line[n] = 0;
}

/* Lines of @p's output until one that holds @what, into @line. */
static void read_until(struct proc *p, const char *what, char *line,
		       size_t size)
{
	do
		read_line(p, line, size);
	while (!strstr(line, what));
}

static long read_anon(struct proc *p)
{
	char line[128];
	long v;

	read_line(p, line, sizeof(line));
	if (sscanf(line, "anon %ld", &v) != 1)
		FAIL("unexpected line from python3: %s", line);
	return v;
}

static long ask_anon(struct proc *p)
{
	CHECK(write(p->in, "\n", 1) == 1);
	return read_anon(p);
}

/*
 * tidectl @args, its stdout and stderr into @out; after each read, with
 * @out so far, @seen(@out, @arg) if given.  Its exit status (128: killed).
 */
static int run_seeing(char *out, size_t size, const char *const *args,
		      void (*seen)(const char *out, void *arg), void *arg)
{
	const char *argv[16];
	int pfd[2], status, n = 0;
	size_t len = 0;
	pid_t pid;

	argv[n++] = tidectl;
	for (; *args && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	CHECK(!pipe(pfd));
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	close(pfd[1]);
	for (ssize_t r; len + 1 < size &&
			(r = read(pfd[0], out + len, size - 1 - len)) > 0;) {
		len += (size_t)r;
		out[len] = 0;
		if (seen)
			seen(out, arg);
	}
	out[len] = 0;
	close(pfd[0]);
	CHECK(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int run(char *out, size_t size, const char *const *args)
{
	return run_seeing(out, size, args, NULL, NULL);
}

static void finish(struct proc *p, const char *pid)
{
	char path[320];
	int st;

	close(p->in);
	close(p->out);
	CHECK(waitpid(p->pid, &st, 0) == p->pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* The shim closed its socket when python3 exited. */
	snprintf(path, sizeof(path), "%s/%s.sock", dir, pid);
	CHECK(access(path, F_OK) && errno == ENOENT);
}

/*
 * Without --dir and without a directory of tidectl's own, tidectl PID
 * finds python3 @pid's socket (in the directory its environment names).
 */
static void tidectl_finds_alone(const char *pid)
{
	const char *args[] = { pid, NULL };
	char out[16384], want[64];

	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("TIDE_CTL_DIR");
	CHECK_EQ(run(out, sizeof(out), args), 0);
	snprintf(want, sizeof(want), "process %s (python3", pid);
	CHECK(strstr(out, want));
}

#define NDECOYS 70

TEST(tidectl_shows_python_under_the_shim_and_json_parses)
{
	pid_t decoy[NDECOYS];
	struct proc p;
	char out[16384], pid[16], want[64], check[512];
	FILE *f;

	setup();
	/*
	 * The list of all processes looks in python3's directory too
	 * (0.2.12; up to 0.2.11 only in tidectl's own directories), however
	 * many processes name a runtime directory before it (in /proc's
	 * order, lower pids): 70 decoys started first, each with a tide
	 * directory of its own (a review: an early version stopped at 64
	 * directories, silently).
	 */
	for (int i = 0; i < NDECOYS; i++) {
		char d[160];

		snprintf(d, sizeof(d), "%s/d%d", tmp, i);
		CHECK(!mkdir(d, 0700));
		snprintf(d, sizeof(d), "%s/d%d/tide", tmp, i);
		CHECK(!mkdir(d, 0700));
		snprintf(d, sizeof(d), "%s/d%d", tmp, i);
		decoy[i] = fork();
		CHECK(decoy[i] >= 0);
		if (!decoy[i]) {
			setenv("XDG_RUNTIME_DIR", d, 1);
			execl("/bin/sleep", "sleep", "60", (char *)NULL);
			_exit(127);
		}
	}
	usleep(200 * 1000); /* the decoys' exec */
	start_python(&p);
	read_anon(&p);
	snprintf(pid, sizeof(pid), "%d", (int)p.pid);
	{
		const char *args[] = { "--dir", dir, pid, NULL };

		CHECK_EQ(run(out, sizeof(out), args), 0);
	}
	th_note("%s", out);
	snprintf(want, sizeof(want), "process %s (python3", pid);
	CHECK(strstr(out, want));
	CHECK(strstr(out, "monitor:\n  sources"));
	CHECK(strstr(out, "allocator:\n  allocator"));
	{
		const char *args[] = { "--json", "--dir", dir, pid, NULL };

		CHECK_EQ(run(out, sizeof(out), args), 0);
	}
	snprintf(check, sizeof(check),
		 "python3 -c \"import json,sys; d=json.load(sys.stdin); "
		 "assert d['pid']==%s and d['info']['comm']=='python3' and "
		 "d['monitor']['monitor']==1 and d['monitor']['sources'] and "
		 "isinstance(d['shrinkers'], list), d\"",
		 pid);
	f = popen(check, "w");
	CHECK(f);
	fputs(out, f);
	CHECK_EQ(pclose(f), 0);
	/*
	 * Without --dir, and without an XDG_RUNTIME_DIR of tidectl's own:
	 * the directory python3's environment names ($XDG_RUNTIME_DIR/tide,
	 * where the shim listens) is found in /proc/PID/environ.  Up to
	 * 0.2.10 only tidectl's own $XDG_RUNTIME_DIR, /run/tide and
	 * /run/user/(*)/tide were searched: "no control socket" for a
	 * service with systemd's RuntimeDirectory= (a user trial).
	 */
	tidectl_finds_alone(pid);
	/* The list of all processes looks there too (above). */
	{
		const char *args[] = { "--json", NULL };

		CHECK_EQ(run(out, sizeof(out), args), 0);
	}
	th_note("%s", out);
	snprintf(check, sizeof(check),
		 "python3 -c \"import json,sys; d=json.load(sys.stdin); "
		 "r=[p for p in d if p['pid']==%s]; "
		 "assert len(r)==1 and r[0]['command']=='python3' and "
		 "r[0]['socket']=='%s/%s.sock', d\"",
		 pid, dir, pid);
	f = popen(check, "w");
	CHECK(f);
	fputs(out, f);
	CHECK_EQ(pclose(f), 0);
	for (int i = 0; i < NDECOYS; i++) {
		kill(decoy[i], SIGKILL);
		CHECK_EQ(waitpid(decoy[i], NULL, 0), decoy[i]);
	}
	finish(&p, pid);
	cleanup();
}

/*
 * The directory a process's environment names is found however far into
 * the environment it is: here after 256 KiB of other variables.  Up to
 * 0.2.24 tidectl read the first 128 KiB of /proc/PID/environ only: "no
 * control socket".
 */
TEST(tidectl_finds_the_runtime_dir_past_a_large_environment)
{
	struct proc p;
	char pid[16];

	setup();
	big_env = 256;
	start_python(&p);
	big_env = 0;
	read_anon(&p);
	snprintf(pid, sizeof(pid), "%d", (int)p.pid);
	tidectl_finds_alone(pid);
	finish(&p, pid);
	cleanup();
}

/*
 * A runtime directory whose name holds control bytes (another user's
 * environment): the list of all processes never prints them.  Up to the
 * review the path went to the terminal raw (escape sequences that set the
 * title, cleared the screen).  Such a directory is left out of the list;
 * asked for by name (--dir) its processes are listed with the bytes
 * escaped.
 */
TEST(tidectl_never_prints_control_bytes_of_a_runtime_dir)
{
	struct proc p;
	char out[16384], pid[16], xdg[128], sub[160], want[192];

	setup();
	snprintf(xdg, sizeof(xdg), "%s/e\x1b[31mvil", tmp);
	CHECK(!mkdir(xdg, 0700));
	start_python_in(&p, xdg);
	read_anon(&p);
	snprintf(pid, sizeof(pid), "%d", (int)p.pid);
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("TIDE_CTL_DIR");
	{
		const char *args[] = { NULL };

		CHECK_EQ(run(out, sizeof(out), args), 0);
	}
	th_note("%s", out);
	CHECK(!strchr(out, '\x1b'));
	CHECK(!strstr(out, "mvil"));
	snprintf(sub, sizeof(sub), "%s/tide", xdg);
	{
		const char *args[] = { "--dir", sub, NULL };

		CHECK_EQ(run(out, sizeof(out), args), 0);
	}
	th_note("%s", out);
	CHECK(!strchr(out, '\x1b'));
	snprintf(want, sizeof(want), "%s/e\\x1b[31mvil/tide/%s.sock", tmp, pid);
	CHECK(strstr(out, want));
	{
		/* by PID the same directory is not looked in either */
		const char *args[] = { pid, NULL };

		CHECK_EQ(run(out, sizeof(out), args), 1);
	}
	th_note("%s", out);
	CHECK(!strchr(out, '\x1b'));
	CHECK(strstr(out, "has no control socket"));
	close(p.in);
	close(p.out);
	CHECK(waitpid(p.pid, NULL, 0) == p.pid);
	cleanup();
}

/*
 * A child that chroots or drops its privileges at once (as daemons do),
 * then waits for its stdin to close.  Its parent prints the child's pid.
 */
static const char py_dropper[] = "import os, sys, time\n"
				 "mode = sys.argv[1]\n"
				 "if mode == 'self':\n"
				 "    os.chroot(sys.argv[2])\n"
				 "    os.chdir('/')\n"
				 "    print('child', os.getpid(), flush=True)\n"
				 "    sys.stdin.read()\n"
				 "    sys.exit(0)\n"
				 "pid = os.fork()\n"
				 "if pid == 0:\n"
				 "    if mode == 'chroot':\n"
				 "        os.chroot(sys.argv[2])\n"
				 "        os.chdir('/')\n"
				 "    elif mode == 'drop':\n"
				 "        os.setgid(65534)\n"
				 "        time.sleep(0.05)\n"
				 "        os.setuid(65534)\n"
				 "    sys.stdin.read()\n"
				 "    os._exit(0)\n"
				 "print('child', pid, flush=True)\n"
				 "os.waitpid(pid, 0)\n";

/* python3 -c py_dropper MODE ARG under the shim; @control: TIDE_CONTROL=1 */
static void start_dropper(struct proc *p, const char *mode, const char *arg,
			  bool control)
{
	spawn_python(p, tmp, control, py_dropper, mode, arg);
}

/*
 * tidectl CHILD for a dropper's child, past the shim's 200 ms delay: exit
 * 1 with the reason in @out.  No socket file of the child's is anywhere
 * the test's directories hold.
 */
static void no_socket_says(const char *mode, const char *arg, bool control,
			   const char *want)
{
	struct proc p;
	char out[4096], line[64], child[16], path[320], head[512];
	const char *args[] = { child, NULL };
	const char *in_dir[] = { "--dir", dir, child, NULL };
	int st;

	start_dropper(&p, mode, arg, control);
	read_line(&p, line, sizeof(line));
	CHECK(sscanf(line, "child %15s", child) == 1);
	usleep(600 * 1000);
	CHECK_EQ(run(out, sizeof(out), args), 1);
	th_note("%s: %s", mode, out);
	if (!strstr(out, want))
		FAIL("tidectl %s (%s): \"%s\", not \"%s\"", child, mode, out,
		     want);
	/* with --dir: the directory searched first, then the same reason */
	CHECK_EQ(run(out, sizeof(out), in_dir), 1);
	th_note("%s, --dir: %s", mode, out);
	snprintf(head, sizeof(head),
		 "tidectl: process %s has no control socket in %s (given by "
		 "--dir, the only directory searched; ",
		 child, dir);
	CHECK(!strncmp(out, head, strlen(head)));
	CHECK(strstr(out, "directory); also: its preload shim is loaded, "));
	if (!strstr(out, want))
		FAIL("tidectl --dir %s (%s): \"%s\", not \"%s\"", child, mode,
		     out, want);
	snprintf(path, sizeof(path), "%s/%s.sock", dir, child);
	CHECK(access(path, F_OK) && errno == ENOENT);
	close(p.in);
	close(p.out);
	CHECK(waitpid(p.pid, &st, 0) == p.pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/*
 * tidectl says why a process under the shim has no socket, where /proc
 * tells: chrooted, running as a user who cannot make it in /run/tide, or
 * made none.  A user trial: memcached -u memcache and a chrooted daemon
 * under tide-run --control were said to run "without TIDE_CONTROL=1".
 * The child that drops its privileges makes no socket as root before
 * setuid(): glibc's setgid() signals every thread, and the shim's 200 ms
 * delay ended at that signal (the trial's nginx workers' sockets were
 * root's, their info said uid 0).
 */
TEST(tidectl_says_why_a_process_under_the_shim_has_no_socket)
{
	char root[96], want[192];

	setup();
	if (geteuid())
		SKIP("not root: chroot() and setuid() need it");
	snprintf(root, sizeof(root), "%s/empty", tmp);
	CHECK(!mkdir(root, 0755));
	snprintf(want, sizeof(want),
		 "its preload shim is loaded, but it is chrooted to %s:", root);
	no_socket_says("chroot", root, true, want);
	/* a directory name with an escape byte reaches no terminal raw
	 * (up to 0.2.27 this message printed it as it was) */
	snprintf(root, sizeof(root), "%s/e\x1b[2J", tmp);
	CHECK(!mkdir(root, 0755));
	snprintf(want, sizeof(want),
		 "its preload shim is loaded, but it is chrooted to "
		 "%s/e\\x1b[2J:",
		 tmp);
	no_socket_says("chroot", root, true, want);
	no_socket_says("drop", "-", true,
		       "its preload shim is loaded, but it runs as uid 65534, "
		       "which cannot make its socket in /run/tide");
	no_socket_says("none", "-", false,
		       "its preload shim is loaded, but it runs without "
		       "TIDE_CONTROL=1\n");
	{
		/*
		 * Chrooted after its socket was made: served, and named
		 * with /proc/PID/comm as tidectl reads it (its own
		 * /proc/self/comm is out of reach: info says comm=).
		 */
		struct proc p;
		char out[8192], line[64], pid[16], comm[64], path[64];
		const char *args[] = { "--dir", dir, pid, NULL };
		FILE *f;

		start_dropper(&p, "self", root, true);
		read_line(&p, line, sizeof(line));
		CHECK(sscanf(line, "child %15s", pid) == 1);
		snprintf(path, sizeof(path), "/proc/%s/comm", pid);
		f = fopen(path, "re");
		CHECK(f && fgets(comm, sizeof(comm), f));
		fclose(f);
		comm[strcspn(comm, "\n")] = 0;
		CHECK_EQ(run(out, sizeof(out), args), 0);
		th_note("%s", out);
		snprintf(want, sizeof(want), "process %s (%s), uid 0,", pid,
			 comm);
		CHECK(!strncmp(out, want, strlen(want)));
		close(p.in);
		close(p.out);
		CHECK(waitpid(p.pid, NULL, 0) == p.pid);
	}
	cleanup();
}

/*
 * A process whose environment asks for a socket (TIDE_CONTROL=1) is not
 * said to maybe run without it.  With --dir (or $TIDE_CTL_DIR) naming
 * another directory than the one its shim makes the socket in, tidectl
 * names that one, and does not suggest --dir as if it was not given (a
 * review of 0.2.27: "-d /tmp PID" for a process serving
 * /run/tide/PID.sock said "it runs without TIDE_CONTROL=1, or could not
 * make one; a socket in another directory: tidectl --dir DIR").  One
 * whose socket directory is not there made none.
 */
TEST(tidectl_says_where_a_process_with_TIDE_CONTROL_1_makes_its_socket)
{
	struct proc p;
	char out[16384], pid[16], other[96], nodir[96], path[320], want[1024];
	const char *in_other[] = { "--dir", other, pid, NULL };
	const char *alone[] = { pid, NULL };

	setup();
	snprintf(other, sizeof(other), "%s/other", tmp);
	CHECK(!mkdir(other, 0700));
	start_python(&p);
	read_anon(&p);
	snprintf(pid, sizeof(pid), "%d", (int)p.pid);
	snprintf(path, sizeof(path), "%s/%s.sock", dir, pid);
	CHECK(!access(path, F_OK));
	snprintf(want, sizeof(want),
		 "; also: its preload shim is loaded and was asked for a "
		 "socket (TIDE_CONTROL=1 in its environment), which it makes "
		 "in %s (tidectl --dir %s)\n",
		 dir, dir);
	CHECK_EQ(run(out, sizeof(out), in_other), 1);
	th_note("%s", out);
	CHECK(strstr(out, "(given by --dir, the only directory searched;"));
	if (!strstr(out, want))
		FAIL("\"%s\", not \"...%s\"", out, want);
	CHECK(!strstr(out, "without TIDE_CONTROL=1,"));
	CHECK(!strstr(out, "a socket in another directory"));
	setenv("TIDE_CTL_DIR", other, 1);
	CHECK_EQ(run(out, sizeof(out), alone), 1);
	unsetenv("TIDE_CTL_DIR");
	CHECK(strstr(out, "(given by $TIDE_CTL_DIR, the only directory "));
	if (!strstr(out, want))
		FAIL("\"%s\", not \"...%s\"", out, want);
	finish(&p, pid);
	/* its $XDG_RUNTIME_DIR is not there: no socket anywhere */
	snprintf(nodir, sizeof(nodir), "%s/gone", tmp);
	start_python_in(&p, nodir);
	read_anon(&p);
	snprintf(pid, sizeof(pid), "%d", (int)p.pid);
	usleep(300 * 1000);
	unsetenv("XDG_RUNTIME_DIR");
	CHECK_EQ(run(out, sizeof(out), alone), 1);
	th_note("%s", out);
	snprintf(want, sizeof(want),
		 "tidectl: process %s has no control socket: its preload shim "
		 "is loaded and was asked for a socket (TIDE_CONTROL=1 in its "
		 "environment), but made none in %s/tide: it could not "
		 "(TIDE_VERBOSE=1 says why)\n",
		 pid, nodir);
	CHECK_STR(out, want);
	close(p.in);
	close(p.out);
	CHECK(waitpid(p.pid, NULL, 0) == p.pid);
	cleanup();
}

/*
 * watch waits out the shim's way back after python3 closes every
 * descriptor above 2, its listener's among them (docs/preload.md: the
 * listener sees it within 2 s, listens again 2 s later): one
 * "reconnected" line, then the watch goes on until python3 exits.  Up to
 * 0.2.27 watch gave up after 2 s ("its control socket went away and is
 * not back after 2000 ms"), before the shim was back.  python3 closes its
 * descriptors once the watch has printed its first line, and exits once
 * it has printed the reconnection (told through its stdin each time),
 * however long either took.
 */
struct watch_pacer {
	int in; /* python3's stdin */
	bool told, back;
};

/* python3 closes its descriptors after watch's first line, and exits once
 * watch has printed the reconnection. */
static void pace_python(const char *out, void *arg)
{
	struct watch_pacer *w = arg;

	if (!w->told && strchr(out, '\n')) {
		CHECK_EQ(write(w->in, "\n", 1), 1);
		w->told = true;
	}
	/* back: python3 may exit, which ends the watch */
	if (w->told && !w->back && strstr(out, ": reconnected (")) {
		CHECK_EQ(write(w->in, "\n", 1), 1);
		w->back = true;
	}
}

TEST(tidectl_watch_waits_for_the_shim_to_listen_again)
{
	static const char script[] = "import os, sys\n"
				     "sys.stdin.readline()\n"
				     "os.closerange(3, 65536)\n"
				     "sys.stdin.readline()\n";
	struct proc p;
	struct watch_pacer w = { 0 };
	char out[16384], pid[16], path[320];
	const char *args[] = { "-i", "100", "--dir", dir, pid, "watch", NULL };

	setup();
	spawn_python(&p, tmp, true, script, NULL, NULL);
	snprintf(pid, sizeof(pid), "%d", (int)p.pid);
	snprintf(path, sizeof(path), "%s/%s.sock", dir, pid);
	for (int i = 0; access(path, F_OK); i++) {
		if (i == 250)
			FAIL("python3 made no socket within 5 s");
		usleep(20 * 1000);
	}
	w.in = p.in;
	CHECK_EQ(run_seeing(out, sizeof(out), args, pace_python, &w), 1);
	th_note("%s", out);
	CHECK(w.told);
	if (!strstr(out, ": reconnected (its control socket was away for "))
		FAIL("watch did not reconnect: \"%s\"", out);
	CHECK(!strstr(out, "is not back after"));
	CHECK(strstr(out, ": the process has exited"));
	close(p.in);
	close(p.out);
	CHECK(waitpid(p.pid, NULL, 0) == p.pid);
	cleanup();
}

/*
 * Needs src/pressure/purge.c to recognise glibc in a non-PIE executable
 * (Debian's python3: dlsym(RTLD_DEFAULT, "malloc") is its PLT entry).
 */
TEST(tidectl_purge_gives_back_pythons_fragmented_heap)
{
	struct proc p;
	char out[16384], pid[16];
	long before, after;

	setup();
	start_python(&p);
	before = read_anon(&p);
	snprintf(pid, sizeof(pid), "%d", (int)p.pid);
	{
		/* malloc_trim(0) of a fragmented heap takes seconds on a
		 * loaded machine: more than tidectl's default 5 s timeout */
		const char *args[] = { "--dir", dir,	 "-t", "120000",
				       pid,	"purge", NULL };
		int r = run(out, sizeof(out), args);

		th_note("%s", out);
		CHECK_EQ(r, 0);
	}
	after = ask_anon(&p);
	th_note("python3 anon: %ld KiB fragmented, %ld KiB after tidectl purge",
		before, after);
	CHECK(strstr(out, "allocator          glibc"));
	CHECK_CMP(before, >, 120 * 1024);
	CHECK_CMP(after * 10, <=, before * 4);
	finish(&p, pid);
	cleanup();
}

/* ---- a program that listens itself, under TIDE_CONTROL=1 -------------- */

/*
 * Listening sockets bound at @path, as /proc/net/unix lists them.  One
 * longer than a socket address holds was bound through an O_PATH
 * descriptor of its directory, and is listed by that address,
 * /proc/self/fd/N/NAME: matched by its final name.
 */
static int listeners_at(const char *path)
{
	const char *name = strrchr(path, '/');
	bool deep = strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path);
	FILE *f = fopen("/proc/net/unix", "re");
	char line[4352];
	int n = 0;

	CHECK(f);
	while (fgets(line, sizeof(line), f)) {
		char flags[16], p[4200] = "";

		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "%*s %*s %*s %15s %*s %*s %*s %4199s", flags,
			   p) == 2 &&
		    !strcmp(flags, "00010000") &&
		    (deep ? !strncmp(p, "/proc/self/fd/", 14) &&
				     strlen(p) > strlen(name) &&
				     !strcmp(p + strlen(p) - strlen(name),
					     name) :
			    !strcmp(p, path)))
			n++;
	}
	fclose(f);
	return n;
}

/* One request to this process's socket at @path; the answer in @out. */
static void ask(const char *path, const char *req, char *out, size_t size)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int pfd = -1;
	size_t len = 0;

	CHECK(fd >= 0);
	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path) >=
	    (int)sizeof(sa.sun_path)) {
		/* past sun_path: through a descriptor of the socket */
		pfd = open(path, O_PATH | O_CLOEXEC);
		CHECK(pfd >= 0);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d",
			 pfd);
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		FAIL("connect %s: %s", path, strerror(errno));
	if (pfd >= 0)
		close(pfd);
	CHECK_EQ(send(fd, req, strlen(req), MSG_NOSIGNAL),
		 (ssize_t)strlen(req));
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&p, 1, 5000) <= 0)
			FAIL("no answer to %s", req);
		r = read(fd, out + len, size - 1 - len);
		if (r <= 0 || (len += (size_t)r) + 1 == size)
			break;
	}
	out[len] = 0;
	close(fd);
}

static unsigned long five(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	return 5;
}

static unsigned long none(void *priv, struct tide_shrink_control *sc)
{
	(void)priv;
	(void)sc;
	return 0;
}

/*
 * Child mode: this program run again under the shim with TIDE_CONTROL=1
 * and TIDE_CTLPRE_PROGRAM=<socket dir>.  The shim's constructor ran first
 * and listens; the shim's copy of tide knows nothing of this program's
 * shrinkers.  The program's tide_ctl_listen() takes the socket over:
 * one listener on the path, the program's, with its shrinker and monitor;
 * its close leaves none.  Exits 0, or 1 after printing what failed.
 */
__attribute__((constructor)) static void program_under_shim(void)
{
	static const struct tide_shrinker_ops ops = { five, none };
	const char *d = getenv("TIDE_CTLPRE_PROGRAM");
	struct tide_monitor_config mc = { .size = sizeof(mc),
					  .sources = TIDE_SOURCE_NONE };
	struct tide_monitor *m;
	struct tide_shrinker *s;
	char path[200], out[8192];

	if (!d)
		return;
	th_in_child = true;
	alarm(60);
	snprintf(path, sizeof(path), "%s/%d.sock", d, (int)getpid());
	s = tide_shrinker_alloc("program-cache");
	CHECK(s);
	tide_shrinker_register(s, &ops, NULL);
	CHECK_EQ(listeners_at(path), 1);
	ask(path, "shrinkers\n", out, sizeof(out));
	CHECK(!strncmp(out, "ok\n", 3) && !strstr(out, "program-cache"));
	CHECK_EQ(tide_monitor_new(&m, &mc), 0);
	CHECK_EQ(tide_ctl_listen(&(struct tide_ctl_config){
			 .size = sizeof(struct tide_ctl_config),
			 .dir = d,
			 .monitor = m }),
		 0);
	CHECK_EQ(listeners_at(path), 1);
	ask(path, "shrinkers\n", out, sizeof(out));
	th_note("%s", out);
	CHECK(strstr(out, "\nprogram-cache\t5\t0\t"));
	ask(path, "monitor\n", out, sizeof(out));
	CHECK(!strncmp(out, "ok\nmonitor=1\nsources=none\n", 26));
	/* A second listen is -EBUSY, as it always was. */
	CHECK_EQ(tide_ctl_listen(&(struct tide_ctl_config){
			 .size = sizeof(struct tide_ctl_config), .dir = d }),
		 -EBUSY);
	tide_ctl_close();
	CHECK_EQ(listeners_at(path), 0);
	CHECK(access(path, F_OK) && errno == ENOENT);
	tide_monitor_free(m);
	tide_shrinker_free(s);
	fflush(stdout);
	_exit(0);
}

static long ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The first time the shim gave way: before its check (1 s after the
 * yield), another socket is bound at @path without listening (another
 * copy of tide between bind() and listen()).  The shim's checks leave it
 * alone (it used to be removed); once it is gone, the next check (at
 * most 1 s later) listens again.
 */
static void foreign_file_is_left_alone(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct stat st0, st;
	long end;

	CHECK(fd >= 0 && strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(stat(path, &st0), 0);
	usleep(2500000); /* past the shim's first and second checks */
	CHECK_EQ(listeners_at(path), 0);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_UEQ(st.st_ino, st0.st_ino);
	close(fd);
	unlink(path);
	for (end = ms_now() + 1500; !listeners_at(path) && ms_now() < end;)
		usleep(10000);
	CHECK_EQ(listeners_at(path), 1);
}

/*
 * Child mode: TIDE_CTLPRE_FAILING=<socket dir>.  The program's
 * tide_ctl_listen() under the shim, its Nth OS call failed for N = 1, 2,
 * ... (SQLite's OOM loop on the program's copy of tide only: the shim's
 * is another).  Each failure leaves the process a socket: the shim's,
 * kept when the failure came before the shim gave way, made again (one
 * take-over budget, 1 s, later) when it came after.  It used to leave
 * none: the shim's listener had closed and idled until exit.  Then the
 * listen that meets no failure takes the socket over for good.
 */
__attribute__((constructor)) static void program_failing_under_shim(void)
{
	static const struct tide_shrinker_ops ops = { five, none };
	const char *d = getenv("TIDE_CTLPRE_FAILING");
	struct tide_shrinker *s;
	char path[200], out[8192];
	int gave_way = 0;

	if (!d)
		return;
	th_in_child = true;
	alarm(300);
	snprintf(path, sizeof(path), "%s/%d.sock", d, (int)getpid());
	s = tide_shrinker_alloc("program-cache");
	CHECK(s);
	tide_shrinker_register(s, &ops, NULL);
	CHECK_EQ(listeners_at(path), 1);
	for (unsigned long nth = 1;; nth++) {
		unsigned long hits;
		long end;
		int r;

		tide__fault_set(nth, true);
		r = tide_ctl_listen(&(struct tide_ctl_config){
			.size = sizeof(struct tide_ctl_config), .dir = d });
		hits = tide__fault_hits();
		tide__fault_clear();
		if (!hits) {
			CHECK_EQ(r, 0);
			break;
		}
		CHECK(r < 0);
		/* a "yield" sent before the failure lands meanwhile */
		usleep(200000);
		if (!listeners_at(path) && !gave_way++)
			foreign_file_is_left_alone(path);
		for (end = ms_now() + 5000;
		     !listeners_at(path) && ms_now() < end;)
			usleep(10000);
		if (listeners_at(path) != 1)
			FAIL("call %lu failed (%d): %d listeners at %s", nth, r,
			     listeners_at(path), path);
		ask(path, "shrinkers\n", out, sizeof(out));
		if (strncmp(out, "ok\n", 3) || strstr(out, "program-cache"))
			FAIL("call %lu failed: not the shim's answer: %s", nth,
			     out);
	}
	th_note("%d failures came after the shim gave way", gave_way);
	CHECK(gave_way > 0);
	/* the program's, and still only its once the shim's check is past */
	CHECK_EQ(listeners_at(path), 1);
	ask(path, "shrinkers\n", out, sizeof(out));
	CHECK(strstr(out, "\nprogram-cache\t5\t0\t"));
	usleep(1500000);
	CHECK_EQ(listeners_at(path), 1);
	ask(path, "shrinkers\n", out, sizeof(out));
	CHECK(strstr(out, "\nprogram-cache\t5\t0\t"));
	tide_ctl_close();
	CHECK_EQ(listeners_at(path), 0);
	tide_shrinker_free(s);
	fflush(stdout);
	_exit(0);
}

/*
 * Run this program again under the shim, in child mode @mode; with @deep,
 * in a runtime directory whose PID.sock passes sun_path.
 */
static void rerun_under_shim(const char *mode, bool deep)
{
	char exe[4096], ld[4300], xdg[320], prog[400], san[1100], run[256];
	char *envp[8];
	int n = 0;
	const char *old;
	ssize_t len = readlink("/proc/self/exe", bindir, sizeof(bindir) - 1);

	CHECK(len > 0);
	bindir[len] = 0;
	snprintf(exe, sizeof(exe), "%s", bindir);
	*strrchr(bindir, '/') = 0;
	snprintf(shim, sizeof(shim), "%s/preload/libtide-preload.so", bindir);
	if (access(shim, R_OK))
		SKIP("libtide-preload.so not built");
	snprintf(tmp, sizeof(tmp), "/tmp/tide-ctlpre-XXXXXX");
	CHECK(mkdtemp(tmp));
	snprintf(run, sizeof(run), "%s", tmp);
	if (deep) {
		snprintf(run, sizeof(run), "%s/%0120d", tmp, 0);
		CHECK(!mkdir(run, 0700));
	}
	CHECK((size_t)snprintf(dir, sizeof(dir), "%s/tide", run) < sizeof(dir));
	snprintf(ld, sizeof(ld), "LD_PRELOAD=%s", shim);
	snprintf(xdg, sizeof(xdg), "XDG_RUNTIME_DIR=%s", run);
	snprintf(prog, sizeof(prog), "%s=%s", mode, dir);
	envp[n++] = ld;
	envp[n++] = "TIDE_CONTROL=1";
	envp[n++] = xdg;
	envp[n++] = prog;
	/* As tests/test_preload.c: the shim comes before the runtime. */
#if defined(TIDE__ASAN)
	old = getenv("ASAN_OPTIONS");
	snprintf(san, sizeof(san), "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
		 old ? old : "", old && *old ? ":" : "");
	envp[n++] = san;
#elif defined(__SANITIZE_THREAD__)
	old = getenv("TSAN_OPTIONS");
	snprintf(san, sizeof(san), "TSAN_OPTIONS=%s%sdie_after_fork=0",
		 old ? old : "", old && *old ? ":" : "");
	envp[n++] = san;
#else
	(void)old;
	(void)san;
#endif
	envp[n] = NULL;
	th_rerun_self(envp);
	cleanup();
}

/*
 * Forks on each line it reads; the child sleeps (its monitor, its socket).
 * "c": closes every descriptor above 2 instead.  "s": the child joins its
 * own mount namespace (setns()) at once and says "forked PID setns R E".
 */
static const char py_forker[] =
	"import ctypes, os, sys, time\n"
	"libc = ctypes.CDLL(None, use_errno=True)\n"
	"print('ready', flush=True)\n"
	"for line in sys.stdin:\n"
	"    if line == 'c\\n':\n"
	"        os.closerange(3, 65536)\n"
	"        print('closed', flush=True)\n"
	"        continue\n"
	"    if line == 's\\n':\n"
	"        pid = os.fork()\n"
	"        if pid == 0:\n"
	"            fd = os.open('/proc/self/ns/mnt', os.O_RDONLY)\n"
	"            r = libc.setns(fd, 0x20000)\n"
	"            e = ctypes.get_errno() if r else 0\n"
	"            print('forked', os.getpid(), 'setns', r, e, flush=True)\n"
	"            time.sleep(60)\n"
	"            os._exit(0)\n"
	"        continue\n"
	"    pid = os.fork()\n"
	"    if pid == 0:\n"
	"        time.sleep(60)\n"
	"        os._exit(0)\n"
	"    print('forked', pid, flush=True)\n";

/* @pid's monitor block as tidectl shows it, once its socket answers. */
static void monitor_of(const char *pid, char *out, size_t size)
{
	const char *args[] = { "--dir", dir, pid, NULL };
	int rc = -1;

	for (int i = 0; i < 250 && rc; i++) {
		rc = run(out, size, args);
		if (rc)
			usleep(20 * 1000);
	}
	CHECK_EQ(rc, 0);
}

/* The number on @out's line that starts with "  @key " (0: none). */
static unsigned long long field(const char *out, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\n  %s ", key);
	p = strstr(out, pat);
	return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

/*
 * The limit the shim finds here without TIDE_LIMIT (0: none), from its
 * verbose line in a python3 that runs nothing: "..., limit N (path), ...".
 */
static unsigned long long found_limit(void)
{
	unsigned long long v = ~0ull;
	char err[2048];
	const char *p;
	size_t len = 0;
	ssize_t n;
	int e[2], st;
	pid_t pid;

	CHECK(!pipe(e));
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0);
	if (!pid) {
		dup2(e[1], 2);
		close(e[0]);
		close(e[1]);
		setenv("LD_PRELOAD", shim, 1);
		setenv("TIDE_VERBOSE", "1", 1);
		setenv("TIDE_SOURCES", "none", 1);
		unsetenv("TIDE_LIMIT");
		unsetenv("TIDE_HIGH");
		unsetenv("TIDE_LOW");
		unsetenv("TIDE_CONTROL");
		unsetenv("MEMORY_PRESSURE_WATCH");
		execl(PYTHON, PYTHON, "-c", "pass", (char *)NULL);
		_exit(127);
	}
	close(e[1]);
	while (len < sizeof(err) - 1 &&
	       (n = read(e[0], err + len, sizeof(err) - 1 - len)) > 0)
		len += (size_t)n;
	err[len] = 0;
	close(e[0]);
	CHECK_EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	p = strstr(err, ", limit ");
	CHECK(p && sscanf(p, ", limit %llu", &v) == 1);
	return v;
}

/*
 * An operator retunes a prefork server under the shim (tidectl PID
 * watermarks): the workers it forks next get the new pair.  Up to 0.2.14
 * a forked child's monitor was made from TIDE_HIGH/TIDE_LOW again, so
 * each new worker went back to the old pair.  A child forked before the
 * retune keeps the settings' pair.  So does a child whose setns() at once
 * called the waiting thread off (the monitor made after the call).  And
 * the monitor that replaces one the program closed the descriptors of
 * keeps the retune too.
 */
TEST(a_child_forked_after_a_retune_keeps_the_operators_watermarks)
{
	char out[16384], line[128], pid[16], c1[16], c2[16], c3[16];
	char e_high[64], r_high[32], r_low[32];
	/*
	 * The pairs: TIDE_HIGH=1G (its low 7/8 of it), then 300M/200M, where
	 * the cgroups set no limit.  Under a limit (a container's: 512 MiB,
	 * 256 MiB) 1G would be ignored against it (the default 3/4 of it
	 * taken) and 300M refused (-EFBIG) in a group of 256 MiB: there the
	 * pairs are half of it, then a quarter and an eighth, each in MiB,
	 * none of them the default.  These failed in a limited group.
	 */
	const unsigned long long mib = 1 << 20;
	unsigned long long lim, high, low, rhigh, rlow;
	int in[2], o[2];
	struct proc p;

	setup();
	lim = found_limit();
	if (lim) {
		high = lim / 2 / mib * mib;
		rhigh = lim / 4 / mib * mib;
		rlow = lim / 8 / mib * mib;
	} else {
		high = 1073741824;
		rhigh = 314572800;
		rlow = 209715200;
	}
	low = high - high / 8;
	th_note("limit %llu: TIDE_HIGH %llu (low %llu), then %llu %llu", lim,
		high, low, rhigh, rlow);
	snprintf(e_high, sizeof(e_high), "%llu", high);
	snprintf(r_high, sizeof(r_high), "%llu", rhigh);
	snprintf(r_low, sizeof(r_low), "%llu", rlow);
	CHECK(!pipe(in) && !pipe(o));
	fflush(stdout);
	p.pid = fork();
	CHECK(p.pid >= 0);
	if (!p.pid) {
		dup2(in[0], 0);
		dup2(o[1], 1);
		dup2(o[1], 2); /* the shim's verbose lines too */
		close(in[1]);
		close(o[0]);
		setenv("LD_PRELOAD", shim, 1);
		setenv("TIDE_CONTROL", "1", 1);
		/* a watermark source (budget) where no limit is found */
		setenv("TIDE_HIGH", e_high, 1);
		setenv("TIDE_VERBOSE", "1", 1);
		setenv("XDG_RUNTIME_DIR", tmp, 1);
		unsetenv("MEMORY_PRESSURE_WATCH");
		execl(PYTHON, PYTHON, "-c", py_forker, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(o[1]);
	p.in = in[1];
	p.out = o[0];
	read_until(&p, "ready", line, sizeof(line));
	snprintf(pid, sizeof(pid), "%d", (int)p.pid);
	monitor_of(pid, out, sizeof(out));
	CHECK_UEQ(field(out, "high"), high);
	CHECK_UEQ(field(out, "low"), low);

	/* before the retune: the settings' pair */
	CHECK(write(p.in, "\n", 1) == 1);
	read_until(&p, "forked ", line, sizeof(line));
	CHECK(sscanf(line, "forked %15s", c1) == 1);
	monitor_of(c1, out, sizeof(out));
	th_note("%s", out);
	CHECK_UEQ(field(out, "high"), high);
	CHECK_UEQ(field(out, "low"), low);

	{
		const char *args[] = { "--dir", dir,   pid, "watermarks",
				       r_high,	r_low, NULL };

		CHECK_EQ(run(out, sizeof(out), args), 0);
	}
	monitor_of(pid, out, sizeof(out));
	CHECK_UEQ(field(out, "high"), rhigh);

	/* after it: the operator's pair, in the child's own monitor */
	CHECK(write(p.in, "\n", 1) == 1);
	read_until(&p, "forked ", line, sizeof(line));
	CHECK(sscanf(line, "forked %15s", c2) == 1);
	monitor_of(c2, out, sizeof(out));
	th_note("%s", out);
	CHECK_UEQ(field(out, "high"), rhigh);
	CHECK_UEQ(field(out, "low"), rlow);
	/* and the first child's stays as it was */
	monitor_of(c1, out, sizeof(out));
	CHECK_UEQ(field(out, "high"), high);

	/*
	 * A child that joins a mount namespace at once (setns(), which needs
	 * one thread: `nsenter -m`; here its own namespace, as root): the
	 * shim calls its waiting thread off and makes the monitor after the
	 * call, from the pair carried over the fork.
	 */
	if (geteuid() == 0) {
		int r = -1, e = -1;

		CHECK(write(p.in, "s\n", 2) == 2);
		read_until(&p, "forked ", line, sizeof(line));
		CHECK(sscanf(line, "forked %15s setns %d %d", c3, &r, &e) == 3);
		CHECK_EQ(r, 0);
		CHECK_EQ(e, 0);
		monitor_of(c3, out, sizeof(out));
		th_note("%s", out);
		CHECK_UEQ(field(out, "high"), rhigh);
		CHECK_UEQ(field(out, "low"), rlow);
		kill(atoi(c3), SIGKILL);
	} else {
		th_note("not root: the setns() child is left out");
	}

	/*
	 * The parent closes every descriptor (as daemons do): the shim
	 * replaces the monitor it lost, and the new one keeps the
	 * operator's pair (review 13: it went back to TIDE_HIGH).
	 */
	CHECK(write(p.in, "c\n", 2) == 2);
	read_until(&p, "closed", line, sizeof(line));
	/* the shim says so once the new monitor runs (GUARD_MS later) */
	read_until(&p, "a new monitor runs", line, sizeof(line));
	monitor_of(pid, out, sizeof(out));
	th_note("%s", out);
	CHECK_UEQ(field(out, "high"), rhigh);
	CHECK_UEQ(field(out, "low"), rlow);

	kill(atoi(c1), SIGKILL);
	kill(atoi(c2), SIGKILL);
	finish(&p, pid);
	cleanup();
}

TEST(a_program_listening_under_the_shim_takes_its_socket_over)
{
	rerun_under_shim("TIDE_CTLPRE_PROGRAM", false);
}

/* The same in a runtime directory whose PID.sock passes sun_path: the
 * "yield" reaches the shim's listener through /proc/self/fd. */
TEST(a_program_under_the_shim_takes_over_a_socket_past_sun_path)
{
	rerun_under_shim("TIDE_CTLPRE_PROGRAM", true);
}

TEST(a_program_whose_listen_fails_after_the_shim_gave_way_leaves_a_socket)
{
	rerun_under_shim("TIDE_CTLPRE_FAILING", false);
}

RUN_TESTS(
	T(tidectl_shows_python_under_the_shim_and_json_parses),
	T(tidectl_never_prints_control_bytes_of_a_runtime_dir),
	T(tidectl_finds_the_runtime_dir_past_a_large_environment),
	T(tidectl_purge_gives_back_pythons_fragmented_heap),
	T(tidectl_says_why_a_process_under_the_shim_has_no_socket),
	T(tidectl_watch_waits_for_the_shim_to_listen_again),
	T(tidectl_says_where_a_process_with_TIDE_CONTROL_1_makes_its_socket),
	T(a_child_forked_after_a_retune_keeps_the_operators_watermarks),
	T(a_program_listening_under_the_shim_takes_its_socket_over),
	T(a_program_under_the_shim_takes_over_a_socket_past_sun_path),
	T(a_program_whose_listen_fails_after_the_shim_gave_way_leaves_a_socket))

// SPDX-License-Identifier: MIT
/*
 * host.c - a program linked to nothing of tide, for tests/test_preload.c:
 * it runs under libtide-preload.so and does what real hosts do (fragment
 * its heap, fork, exec, daemon(), start threads).
 *
 *   host exit N        print "threads T" and exit with status N
 *   host threads       print "threads T preload=$LD_PRELOAD"
 *   host exec          exec "host threads"
 *   host env           print "env" and every LD_PRELOAD= and TIDE_* entry
 *                      of environ, in order, each after a space
 *   host exec-env      exec "host env"
 *   host ns            setns() into its own mount namespace, then
 *                      unshare(CLONE_NEWUSER) (both need a process with a
 *                      single thread), then setns(-1, CLONE_NEWNS) (fails);
 *                      print "setns R E unshare R E bad R E threads T" (R
 *                      the result, E the errno or 0); then "fs S", S 1 when
 *                      unshare(CLONE_FS) (fine with threads) succeeded and
 *                      left the same threads running
 *   host fork-storm N  N times: fork a child that forks grandchildren
 *                      back to back from 150 to 260 ms after its fork
 *                      (each exits with its descriptor count); each child
 *                      prints "base B most M kids K" (its count after its
 *                      fork, the most a grandchild held, how many)
 *   host fork-drop HOW ARG [now]
 *                      print "parent fds N" (counted without /proc), fork;
 *                      the child counts its descriptors (A), makes the
 *                      call HOW at once (chroot ARG, then chdir /;
 *                      setuid, setgid, seteuid, setresuid ARG; setgroups
 *                      [ARG]; initgroups "nobody" ARG), counts them again
 *                      (N), waits 400 ms and prints "child at_fork A
 *                      call R E after T ms right N later M" (R, E: the
 *                      call's result and errno; T: the time from the
 *                      fork to the call; M: the last count; with "now"
 *                      no wait, M is N); exits with the child's status
 *   host fork-ns [N]   fork N times (1), one child after the other;
 *                      each child calls unshare(CLONE_NEWUSER) at once
 *                      and prints "child unshare R E" (with N > 1 only
 *                      when it failed); with N > 1 the parent then
 *                      prints "K of N children unshared"
 *   host frag          fragment the heap, print "anon KB", then print it
 *                      again for every line read on stdin, until EOF
 *   host fork-frag     fork; the child prints "threads T" and runs frag;
 *                      the parent exits with the child's status
 *   host daemon-frag   daemon(1, 1), then "threads T" and frag
 *   host threads64     64 threads fragment the heap at once, then frag's
 *                      loop
 *   host fork-fds      print "gen 0 fds N" (its open descriptors), fork;
 *                      the child prints "gen 1 fds N" and forks again;
 *                      the grandchild prints "gen 2 fds N"; each parent
 *                      exits with its child's status; a child first waits
 *                      (at most 10 s) until it has as many descriptors
 *                      as generation 0, its monitor's come a moment
 *                      after the fork, then 50 ms more; each line also
 *                      says "at_fork A", the descriptors it had at once
 *                      (with TIDE_CONTROL=1 each child first waits for
 *                      its control socket: "gen G fds N at_fork A early
 *                      E", E 1
 *                      when the socket was there right after the fork)
 *   host fork-exec MS  fork; the child execs "host pid-sleep MS" at once;
 *                      exits with the child's status
 *   host pid-sleep MS  print "pid P", sleep MS milliseconds, exit 0
 *   host exec-late MS  exec "host late MS" in its place
 *   host fork-late MS  sleep 50 ms, fork; the child runs "late MS"; exits
 *                      with the child's status
 *   host drop HOW ARG  as fork-drop's child, in this process, at once:
 *                      print "start fds A call R E right N"
 *   host late MS       print "early fds F threads T" at once (its open
 *                      descriptors and threads), sleep MS milliseconds,
 *                      print "late fds F threads T" (the fewest of 5
 *                      descriptor counts 20 ms apart; MS 0: one count,
 *                      at once), exit 0
 *   host closeall-frag MS
 *                      sleep MS milliseconds, close_range(3, ~0U, 0) (as
 *                      daemons do at start-up), print "closed", then run
 *                      frag
 *   host closefds      close every descriptor above 2 (as daemons do with
 *                      closerange()), open 20 pipes, print "done", exit 0
 *   host take HOW [nofork]
 *                      take every descriptor above 2 (HOW: range =
 *                      close_range(3, ~0U, 0), from = closefrom(3), loop =
 *                      close() over /proc/self/fd, dup2 = dup2() of a pipe
 *                      onto each of the shim's descriptors), open a file
 *                      and 8 pipes on the numbers (dup2: the pipes' read
 *                      ends go onto the shim's numbers), print "fds F..L";
 *                      then for 600 ms write 8-byte records through every
 *                      pipe and the file and read them back; fork a child
 *                      that checks the same files are on the same numbers,
 *                      still working (exit 1 if not); wait 300 ms more and
 *                      print "records R bad B offset O child C socket S"
 *                      (O 1: the file's offset is what the host made it;
 *                      C: the child's status; S: its control socket is
 *                      there, TIDE_CONTROL=1); nofork: no child, C 0
 *   host vfork         list the shim's descriptors (its anon_inode ones),
 *                      vfork a child that calls close_range(3, ~0U, 0) and
 *                      exits; print "same S" (S 1: the same list after)
 *   host grow          5 rounds of: fragment 64 MiB of 4 KiB blocks (keep
 *                      1 in 50), then map, fill at 100 MiB/s and unmap an
 *                      80 MiB buffer; prints "round N anon KB", then "done"
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../tools/proc.h"

#define BLOCKS 300000
#define BLOCK 1024
#define KEEP 50 /* one block in KEEP survives */

static void **kept_sets[65]; /* reachable, so leak checkers stay quiet */

static int threads(void)
{
	return tproc_entries("/proc/self/task");
}

/* The ids of this process's threads, in the directory's order. */
static void task_ids(char *out, size_t size)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	size_t n = 0;

	out[0] = 0;
	if (!d)
		return;
	while ((e = readdir(d)) && n + 16 < size)
		if (e->d_name[0] != '.')
			n += (size_t)snprintf(out + n, size - n, "%s ",
					      e->d_name);
	closedir(d);
}

/* Open descriptors, the one reading the directory not counted. */
static int fds_now(void)
{
	return tproc_entries("/proc/self/fd") - 1;
}

/* Open descriptors under @n, counted at once: fast, so that many forks
 * fit in fork_storm()'s window (the shim's are low numbers here). */
static int fds_below(int n)
{
	int k = 0;

	for (int fd = 0; fd < n; fd++)
		k += fcntl(fd, F_GETFD) != -1;
	return k;
}

/* Open descriptors, counted without /proc (in a chroot): the fewest of
 * @times counts 5 ms apart (a monitor's thread opens a file for a
 * moment now and then). */
static int fds_probe(int times)
{
	int n = -1;

	for (int i = 0; i < times; i++) {
		int k;

		if (i)
			usleep(5 * 1000);
		k = fds_below(4096);
		if (n < 0 || k < n)
			n = k;
	}
	return n;
}

/* The fewest of 5 counts 20 ms apart: a monitor's thread opens a file
 * for a moment now and then. */
static int fds(void)
{
	int n = fds_now();

	for (int i = 0; i < 4; i++) {
		int k;

		usleep(20 * 1000);
		k = fds_now();
		if (k < n)
			n = k;
	}
	return n;
}

static void before_fork(void);

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * fork-storm: @rounds times, fork a child that forks grandchildren back
 * to back from 150 to 260 ms after its own fork, while the shim makes its
 * monitor (200 ms after the fork); each grandchild exits with the number
 * of descriptors under 64 it holds at once.  Each child prints "base B most M kids
 * K": its own count right after its fork, the most any grandchild held,
 * and how many grandchildren there were.
 */
static int fork_storm(int rounds)
{
	usleep(300 * 1000); /* as fork-ns */
	for (int i = 0; i < rounds; i++) {
		int st;
		pid_t c = fork();

		if (c < 0)
			return 1;
		if (!c) {
			long t0 = now_ms();
			int base = fds_below(64), most = -1, kids = 0;

			while (now_ms() - t0 < 150)
				usleep(1000);
			while (now_ms() - t0 < 260) {
				pid_t g = fork();

				if (g < 0)
					_exit(1);
				if (!g)
					_exit(fds_below(64));
				if (waitpid(g, &st, 0) != g || !WIFEXITED(st))
					_exit(1);
				if (WEXITSTATUS(st) > most)
					most = WEXITSTATUS(st);
				kids++;
			}
			printf("base %d most %d kids %d\n", base, most, kids);
			fflush(stdout);
			_exit(0);
		}
		if (waitpid(c, &st, 0) != c || !WIFEXITED(st) ||
		    WEXITSTATUS(st))
			return 1;
	}
	return 0;
}

/* fork-drop: the call @how names, with @arg (a directory for chroot, an
 * id for the others; "nobody" for initgroups). */
static int drop(const char *how, const char *arg)
{
	unsigned id = (unsigned)strtoul(arg, NULL, 10);
	gid_t g = (gid_t)id;

	if (!strcmp(how, "chroot")) {
		int r = chroot(arg);

		return r ? r : chdir("/");
	}
	if (!strcmp(how, "setuid"))
		return setuid((uid_t)id);
	if (!strcmp(how, "setgid"))
		return setgid(g);
	if (!strcmp(how, "seteuid"))
		return seteuid((uid_t)id);
	if (!strcmp(how, "setresuid"))
		return setresuid((uid_t)id, (uid_t)id, (uid_t)id);
	if (!strcmp(how, "setgroups"))
		return setgroups(1, &g);
#ifndef TP_HOST_IS_STATIC
	if (!strcmp(how, "initgroups"))
		return initgroups("nobody", g);
#endif
	errno = EINVAL;
	return -1;
}

/* Does this process's control socket exist (TIDE_CONTROL=1)? */
static bool have_socket(void)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char path[4096];

	snprintf(path, sizeof(path), "%s/tide/%d.sock", xdg ? xdg : "",
		 (int)getpid());
	return !access(path, F_OK);
}

static int fork_fds(void)
{
	const char *ctl = getenv("TIDE_CONTROL");
	bool control = ctl && !strcmp(ctl, "1");

	int first = 0; /* generation 0's descriptors */

	for (int gen = 0;; gen++) {
		int at_fork = fds();
		bool early = control && have_socket();
		pid_t pid;
		int st;

		/* a child's socket comes a moment after its fork */
		for (int i = 0; control && i < 1000 && !have_socket(); i++)
			usleep(10 * 1000);
		/* so does its monitor: until it has as many descriptors as
		 * the first generation (or 10 s), then a moment more for any
		 * that would come after them */
		for (int i = 0; gen && i < 1000 && fds() < first; i++)
			usleep(10 * 1000);
		if (gen) {
			usleep(50 * 1000);
		} else {
			first = fds();
		}
		if (control)
			printf("gen %d fds %d at_fork %d early %d\n", gen,
			       fds(), at_fork, early);
		else
			printf("gen %d fds %d at_fork %d\n", gen, fds(),
			       at_fork);
		if (gen == 2)
			return 0;
		before_fork();
		pid = fork();
		if (pid < 0)
			return 4;
		if (pid) {
			if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
				return 5;
			return WEXITSTATUS(st);
		}
	}
}

static long anon_kb(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "re");
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Anonymous: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/*
 * Allocate @n blocks, keep one in KEEP; returns the kept ones.  With @bar,
 * every block is allocated before any is freed in any of the threads that
 * wait on it (see frag_thread()).
 */
static void **fragment_at(size_t n, pthread_barrier_t *bar)
{
	void **all = malloc(n * sizeof(*all));
	void **kept = malloc((n / KEEP + 1) * sizeof(*kept));
	size_t k = 0;

	if (!all || !kept)
		exit(3);
	for (size_t i = 0; i < n; i++) {
		all[i] = malloc(BLOCK);
		if (!all[i])
			exit(3);
		memset(all[i], (int)i, BLOCK);
	}
	if (bar)
		pthread_barrier_wait(bar);
	for (size_t i = 0; i < n; i++) {
		if (i % KEEP == 0)
			kept[k++] = all[i];
		else
			free(all[i]);
	}
	free(all);
	return kept;
}

static void **fragment(size_t n)
{
	return fragment_at(n, NULL);
}

static int frag_loop(void)
{
	char line[64];

	printf("anon %ld\n", anon_kb());
	while (fgets(line, sizeof(line), stdin))
		printf("anon %ld\n", anon_kb());
	return 0;
}

/*
 * GCC 12's ASan and TSan allocators have no fork handlers: a fork while
 * another thread is inside them (the shim's monitor thread is still
 * starting when main() begins) leaves their lock held in the child.  glibc's
 * malloc has no such problem; under a sanitizer, let the thread settle.
 */
static void before_fork(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	usleep(300 * 1000);
#endif
}

/*
 * threads64: the 64 threads hold all their blocks at once before any
 * frees.  Without that, a thread that ran after others had freed reused
 * their holes: on a loaded machine the threads ran nearly one by one and
 * the heap held 15-35 MiB after the frees instead of 95-150 MiB.
 */
static pthread_barrier_t frag_bar;

static void *frag_thread(void *arg)
{
	kept_sets[(size_t)arg + 1] = fragment_at(BLOCKS / 64, &frag_bar);
	return NULL;
}

/*
 * A heap that grows and frees in a loop: its holes stay resident under
 * glibc until something trims them, so the buffer phase that follows needs
 * room the holes occupy.
 */
static int grow(void)
{
	static void **kept[5];
	const size_t mib = 1 << 20;

	for (int round = 0; round < 5; round++) {
		size_t n = 64 * mib / 4096;
		void **all = malloc(n * sizeof(*all));
		char *buf;

		if (!all)
			return 3;
		kept[round] = malloc((n / KEEP + 1) * sizeof(void *));
		if (!kept[round])
			return 3;
		for (size_t i = 0; i < n; i++) {
			all[i] = malloc(4096);
			if (!all[i])
				return 3;
			memset(all[i], (int)i, 4096);
		}
		for (size_t i = 0; i < n; i++) {
			if (i % KEEP == 0)
				kept[round][i / KEEP] = all[i];
			else
				free(all[i]);
		}
		free(all);
		buf = mmap(NULL, 80 * mib, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (buf == MAP_FAILED)
			return 3;
		for (size_t off = 0; off < 80 * mib; off += mib) {
			memset(buf + off, round + 1, mib);
			usleep(10 * 1000);
		}
		printf("round %d anon %ld\n", round, anon_kb());
		munmap(buf, 80 * mib);
	}
	printf("done\n");
	return 0;
}

#define TAKE_PIPES 8
#define REC 8

/* The shim's descriptors: "N:link" of each anon_inode one, in @buf. */
static void shim_fds(char *buf, size_t size)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t n = 0;

	buf[0] = '\0';
	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[64], link[64];
		ssize_t k;

		snprintf(path, sizeof(path), "/proc/self/fd/%d",
			 atoi(e->d_name));
		k = readlink(path, link, sizeof(link) - 1);
		if (k <= 0 || e->d_name[0] == '.')
			continue;
		link[k] = '\0';
		if (strncmp(link, "anon_inode:", 11) || n + 80 > size)
			continue;
		n += (size_t)snprintf(buf + n, size - n, "%d:%s ",
				      atoi(e->d_name), link);
	}
	closedir(d);
}

/* The lowest descriptor above 2 that is the shim's epoll, or -1. */
static int shim_epoll(void)
{
	for (int fd = 3; fd < 1024; fd++) {
		char path[64], link[64];
		ssize_t k;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		k = readlink(path, link, sizeof(link) - 1);
		if (k <= 0)
			continue;
		link[k] = '\0';
		if (!strcmp(link, "anon_inode:[eventpoll]"))
			return fd;
	}
	return -1;
}

static int take(const char *how, bool nofork)
{
	int file, p[TAKE_PIPES][2];
	struct stat st[TAKE_PIPES + 1];
	long records = 0, bad = 0, end;
	off_t expect = 0;
	pid_t pid;
	int cst = -1, lo = 1 << 30, hi = -1;

	if (!strcmp(how, "range")) {
		if (close_range(3, ~0U, 0))
			return 3;
	} else if (!strcmp(how, "from")) {
		closefrom(3);
	} else if (!strcmp(how, "loop")) {
		DIR *d = opendir("/proc/self/fd");
		struct dirent *e;
		int list[1024], n = 0;

		if (!d)
			return 3;
		while ((e = readdir(d)) && n < 1024)
			if (e->d_name[0] != '.' && atoi(e->d_name) > 2 &&
			    atoi(e->d_name) != dirfd(d))
				list[n++] = atoi(e->d_name);
		closedir(d);
		for (int i = 0; i < n; i++)
			close(list[i]);
	} else if (strcmp(how, "dup2")) {
		return 2;
	}
	file = open("/tmp", O_TMPFILE | O_RDWR, 0600);
	if (file < 0)
		return 3;
	for (int i = 0; i < TAKE_PIPES; i++) {
		int ep = -1;

		if (pipe(p[i]))
			return 3;
		/* dup2: the read end onto one of the shim's numbers */
		if (!strcmp(how, "dup2") && (ep = shim_epoll()) >= 0) {
			if (dup2(p[i][0], ep) != ep)
				return 3;
			close(p[i][0]);
			p[i][0] = ep;
		}
	}
	for (int i = 0; i < TAKE_PIPES; i++) {
		lo = p[i][0] < lo ? p[i][0] : lo;
		lo = p[i][1] < lo ? p[i][1] : lo;
		hi = p[i][0] > hi ? p[i][0] : hi;
		hi = p[i][1] > hi ? p[i][1] : hi;
	}
	lo = file < lo ? file : lo;
	hi = file > hi ? file : hi;
	printf("fds %d..%d\n", lo, hi);
	if (fstat(file, &st[TAKE_PIPES]))
		return 3;
	for (int i = 0; i < TAKE_PIPES; i++)
		if (fstat(p[i][0], &st[i]))
			return 3;
	{
		struct timespec t0, t;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			for (int i = 0; i < TAKE_PIPES; i++) {
				char r[REC], b[REC];

				snprintf(r, sizeof(r), "%07lu",
					 (unsigned long)(records++ % 10000000));
				if (write(p[i][1], r, REC) != REC ||
				    read(p[i][0], b, REC) != REC ||
				    memcmp(r, b, REC))
					bad++;
				if (write(file, r, REC) != REC)
					bad++;
				expect += REC;
			}
			clock_gettime(CLOCK_MONOTONIC, &t);
			end = (t.tv_sec - t0.tv_sec) * 1000 +
			      (t.tv_nsec - t0.tv_nsec) / 1000000;
		} while (end < 600);
	}
	before_fork();
	pid = nofork ? 0 : fork();
	if (pid < 0)
		return 4;
	if (nofork) {
		cst = 0;
	} else if (!pid) {
		struct stat now;
		int lost = 0;

		usleep(300 * 1000); /* the child's own monitor is up */
		for (int i = 0; i < TAKE_PIPES; i++) {
			char b[REC];

			if (fstat(p[i][0], &now) ||
			    now.st_ino != st[i].st_ino ||
			    now.st_dev != st[i].st_dev ||
			    write(p[i][1], "child-0", REC) != REC ||
			    read(p[i][0], b, REC) != REC ||
			    memcmp(b, "child-0", REC))
				lost++;
		}
		if (fstat(file, &now) || now.st_ino != st[TAKE_PIPES].st_ino ||
		    lseek(file, 0, SEEK_CUR) != expect)
			lost++;
		exit(lost ? 1 : 0); /* the shim removes its socket */
	}
	if (!nofork && waitpid(pid, &cst, 0) != pid)
		return 4;
	usleep(300 * 1000); /* the shim is back */
	printf("records %ld bad %ld offset %d child %d socket %d\n", records,
	       bad, lseek(file, 0, SEEK_CUR) == expect,
	       WIFEXITED(cst) ? WEXITSTATUS(cst) : 128 + WTERMSIG(cst),
	       have_socket());
	return 0;
}

static int vfork_close(void)
{
	char before[4096], after_[4096];
	pid_t pid;
	int st;

	shim_fds(before, sizeof(before));
	pid = vfork();
	if (pid < 0)
		return 4;
	if (!pid) {
		close_range(3, ~0U, 0);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return 5;
	usleep(300 * 1000);
	shim_fds(after_, sizeof(after_));
	printf("same %d\n", before[0] && !strcmp(before, after_));
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(mode, "exit") && argc > 2) {
		printf("threads %d\n", threads());
		return atoi(argv[2]);
	}
	if (!strcmp(mode, "threads")) {
		const char *lp = getenv("LD_PRELOAD");

		printf("threads %d preload=%s\n", threads(), lp ? lp : "-");
		return 0;
	}
	if (!strcmp(mode, "ns")) {
		int fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
		int r1 = setns(fd, CLONE_NEWNS), e1 = r1 ? errno : 0;
		int r2 = unshare(CLONE_NEWUSER), e2 = r2 ? errno : 0;
		int r3 = setns(-1, CLONE_NEWNS), e3 = r3 ? errno : 0;
		char before[512], after[512];
		int r4;

		printf("setns %d %d unshare %d %d bad %d %d threads %d\n", r1,
		       e1, r2, e2, r3, e3, threads());
		task_ids(before, sizeof(before));
		r4 = unshare(CLONE_FS);
		task_ids(after, sizeof(after));
		printf("fs %d\n", !r4 && !strcmp(before, after));
		return 0;
	}
	if (!strcmp(mode, "fork-storm") && argc > 2)
		return fork_storm(atoi(argv[2]));
	if (!strcmp(mode, "fork-drop") && argc > 3) {
		int status;
		long t0;
		pid_t pid;

		usleep(300 * 1000); /* as fork-ns */
		printf("parent fds %d\n", fds_probe(5));
		fflush(stdout);
		t0 = now_ms();
		pid = fork();
		if (!pid) {
			int at_fork = fds_probe(1), r, e, right;
			long ms = now_ms() - t0;

			r = drop(argv[2], argv[3]);
			e = r ? errno : 0;
			right = fds_probe(3);
			if (argc < 5) /* "now": no wait */
				usleep(400 * 1000); /* past the 200 ms */
			printf("child at_fork %d call %d %d after %ld ms right %d "
			       "later %d\n",
			       at_fork, r, e, ms, right, fds_probe(5));
			fflush(stdout);
			_exit(0);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid)
			return 1;
		return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
	if (!strcmp(mode, "drop") && argc > 3) {
		int at_start = fds_probe(1), r = drop(argv[2], argv[3]);
		int e = r ? errno : 0;

		printf("start fds %d call %d %d right %d\n", at_start, r, e,
		       fds_probe(3));
		return 0;
	}
	if (!strcmp(mode, "fork-ns")) {
		/* fork-ns [N]: N children (1), one after the other, each
		 * unsharing at once; the lines of those that failed */
		int n = argc > 2 ? atoi(argv[2]) : 1, ok = 0;

		/* the shim's monitor thread at rest first: ASan's allocator
		 * (GCC 12) has no fork handlers, and a fork while that
		 * thread allocates leaves the child's threads waiting on
		 * its lock */
		usleep(300 * 1000);
		for (int i = 0; i < n; i++) {
			int status;
			pid_t pid = fork();

			if (!pid) {
				int r = unshare(CLONE_NEWUSER),
				    e = r ? errno : 0;

				if (r || n == 1)
					printf("child unshare %d %d\n", r, e);
				_exit(r ? 2 : 0);
			}
			if (pid < 0 || waitpid(pid, &status, 0) != pid)
				return 1;
			ok += WIFEXITED(status) && !WEXITSTATUS(status);
		}
		if (n > 1)
			printf("%d of %d children unshared\n", ok, n);
		return 0;
	}
	if (!strcmp(mode, "env")) {
		printf("env");
		for (char **e = environ; *e; e++)
			if (!strncmp(*e, "LD_PRELOAD=", 11) ||
			    !strncmp(*e, "TIDE_", 5))
				printf(" %s", *e);
		printf("\n");
		return 0;
	}
	if (!strcmp(mode, "exec") || !strcmp(mode, "exec-env")) {
		char *args[] = { argv[0], mode[4] ? "env" : "threads", NULL };

		execv("/proc/self/exe", args);
		return 126;
	}
	if (!strcmp(mode, "fork-exec") && argc > 2) {
		char *args[] = { argv[0], "pid-sleep", argv[2], NULL };
		pid_t pid;
		int st;

		before_fork();
		pid = fork();
		if (pid < 0)
			return 4;
		if (!pid) {
			execv("/proc/self/exe", args);
			_exit(126);
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
			return 5;
		return WEXITSTATUS(st);
	}
	if (!strcmp(mode, "pid-sleep") && argc > 2) {
		printf("pid %d\n", (int)getpid());
		usleep((useconds_t)atoi(argv[2]) * 1000);
		return 0;
	}
	if (!strcmp(mode, "exec-late") && argc > 2) {
		char *args[] = { argv[0], "late", argv[2], NULL };

		execv("/proc/self/exe", args);
		return 126;
	}
	if (!strcmp(mode, "fork-late") && argc > 2) {
		int st;
		pid_t pid;

		/*
		 * Well before the start (200 ms), but not while the shim's
		 * waiting thread is being started: GCC 12's ASan runtime
		 * does not hold its allocator's lock across fork(), and a
		 * fork while that thread's start allocated left the lock
		 * held in the child, whose own waiting thread then hung in
		 * its first allocation (gdb; 14 of 80 runs beside two
		 * busy loops).  glibc's malloc is held across fork().
		 */
		usleep(50000);
		pid = fork();
		if (pid < 0)
			return 4;
		if (!pid) {
			char *args[] = { argv[0], "late", argv[2], NULL };

			_exit(main(3, args));
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
			return 5;
		return WEXITSTATUS(st);
	}
	if (!strcmp(mode, "late") && argc > 2) {
		printf("early fds %d threads %d\n", fds_now(), threads());
		fflush(stdout);
		usleep((useconds_t)atoi(argv[2]) * 1000);
		/* MS 0: counted once, at once, to end soon */
		printf("late fds %d threads %d\n",
		       atoi(argv[2]) ? fds() : fds_now(), threads());
		fflush(stdout); /* fork-late's child leaves with _exit() */
		return 0;
	}
	if (!strcmp(mode, "fork-fds"))
		return fork_fds();
	if (!strcmp(mode, "take") && argc > 2)
		return take(argv[2], argc > 3 && !strcmp(argv[3], "nofork"));
	if (!strcmp(mode, "vfork"))
		return vfork_close();
	if (!strcmp(mode, "closefds")) {
		int fds[20][2];

		for (int fd = 3; fd < 4096; fd++)
			close(fd);
		for (int i = 0; i < 20; i++)
			if (pipe(fds[i]))
				return 1;
		printf("done\n");
		return 0;
	}
	if (!strcmp(mode, "frag")) {
		kept_sets[0] = fragment(BLOCKS);
		return frag_loop();
	}
	if (!strcmp(mode, "closeall-frag") && argc > 2) {
		usleep((useconds_t)atoi(argv[2]) * 1000);
		if (close_range(3, ~0U, 0))
			return 3;
		printf("closed\n");
		kept_sets[0] = fragment(BLOCKS);
		return frag_loop();
	}
	if (!strcmp(mode, "fork-frag")) {
		pid_t pid;
		int st;

		before_fork();
		pid = fork();
		if (pid < 0)
			return 4;
		if (!pid) {
			printf("threads %d\n", threads());
			kept_sets[0] = fragment(BLOCKS);
			return frag_loop();
		}
		if (waitpid(pid, &st, 0) != pid)
			return 4;
		return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	if (!strcmp(mode, "daemon-frag")) {
		before_fork();
		if (daemon(1, 1))
			return 4;
		printf("threads %d\n", threads());
		kept_sets[0] = fragment(BLOCKS);
		return frag_loop();
	}
	if (!strcmp(mode, "threads64")) {
		pthread_t t[64];

		if (pthread_barrier_init(&frag_bar, NULL, 64))
			return 4;
		for (int i = 0; i < 64; i++)
			if (pthread_create(&t[i], NULL, frag_thread,
					   (void *)(size_t)i))
				return 4;
		for (int i = 0; i < 64; i++)
			pthread_join(t[i], NULL);
		return frag_loop();
	}
	if (!strcmp(mode, "grow"))
		return grow();
	fprintf(stderr, "host: unknown mode '%s'\n", mode);
	return 2;
}

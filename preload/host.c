// SPDX-License-Identifier: MIT
/*
 * host.c - a program linked to nothing of tide, for tests/test_preload.c:
 * it runs under libtide-preload.so and does what real hosts do (fragment
 * its heap, fork, exec, daemon(), start threads).
 *
 *   host exit N        print "threads T" and exit with status N
 *   host threads       print "threads T preload=$LD_PRELOAD"
 *   host exec          exec "host threads"
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
 *                      exits with its child's status
 *                      (with TIDE_CONTROL=1 each child first waits for
 *                      its control socket: "gen G fds N early E", E 1
 *                      when the socket was there right after the fork)
 *   host fork-exec MS  fork; the child execs "host pid-sleep MS" at once;
 *                      exits with the child's status
 *   host pid-sleep MS  print "pid P", sleep MS milliseconds, exit 0
 *   host closefds      close every descriptor above 2 (as daemons do with
 *                      closerange()), open 20 pipes, print "done", exit 0
 *   host grow          5 rounds of: fragment 64 MiB of 4 KiB blocks (keep
 *                      1 in 50), then map, fill at 100 MiB/s and unmap an
 *                      80 MiB buffer; prints "round N anon KB", then "done"
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define BLOCKS 300000
#define BLOCK 1024
#define KEEP 50 /* one block in KEEP survives */

static void **kept_sets[65]; /* reachable, so leak checkers stay quiet */

/* Entries of the directory @path but "." and "..", or -1. */
static int entries(const char *path)
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

static int threads(void)
{
	return entries("/proc/self/task");
}

/* Open descriptors, the one reading the directory not counted. */
static int fds_now(void)
{
	return entries("/proc/self/fd") - 1;
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

	for (int gen = 0;; gen++) {
		bool early = control && have_socket();
		pid_t pid;
		int st;

		/* a child's socket comes a moment after its fork */
		for (int i = 0; control && i < 1000 && !have_socket(); i++)
			usleep(10 * 1000);
		if (control)
			printf("gen %d fds %d early %d\n", gen, fds(), early);
		else
			printf("gen %d fds %d\n", gen, fds());
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

/* Allocate @n blocks, keep one in KEEP; returns the kept ones. */
static void **fragment(size_t n)
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
	for (size_t i = 0; i < n; i++) {
		if (i % KEEP == 0)
			kept[k++] = all[i];
		else
			free(all[i]);
	}
	free(all);
	return kept;
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

static void *frag_thread(void *arg)
{
	kept_sets[(size_t)arg + 1] = fragment(BLOCKS / 64);
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
	if (!strcmp(mode, "exec")) {
		char *args[] = { argv[0], "threads", NULL };

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
	if (!strcmp(mode, "fork-fds"))
		return fork_fds();
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

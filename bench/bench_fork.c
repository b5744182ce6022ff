// SPDX-License-Identifier: MIT
/*
 * bench_fork.c - what a fork costs a program, for bench/bench_fork.sh,
 * which runs it with and without the preload shim (libtide-preload.so).
 * It calls nothing of tide's: the shim is the thing measured.
 *
 *   bench_fork exit N   N times: fork, the child exit(0)s at once, wait
 *   bench_fork exec N   N times: fork, the child execs /bin/true, wait
 *   bench_fork run N PROGRAM [ARG...]
 *                       N times: fork, the child execs PROGRAM (searched
 *                       in $PATH) with its arguments, wait (for tide-run)
 *
 * Prints one line: "MODE us_per_fork child_cpu_us child_faults", the wall
 * time per fork (fork to the child reaped), and the children's CPU time
 * (user + system) and minor page faults per fork (getrusage()).
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double tv_us(struct timeval tv)
{
	return (double)tv.tv_sec * 1e6 + (double)tv.tv_usec;
}

int main(int argc, char **argv)
{
	struct rusage ru;
	bool exec, run;
	double t0, t1;
	int n;

	run = argc > 3 && !strcmp(argv[1], "run");
	if ((argc != 3 && !run) ||
	    (strcmp(argv[1], "exit") && strcmp(argv[1], "exec") && !run) ||
	    (n = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: bench_fork exit|exec N\n"
				"       bench_fork run N PROGRAM [ARG...]\n");
		return 2;
	}
	exec = !strcmp(argv[1], "exec");
	t0 = now_us();
	for (int i = 0; i < n; i++) {
		int st;
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (!pid) {
			if (exec) {
				execl("/bin/true", "true", (char *)NULL);
				_exit(127);
			}
			if (run) {
				execvp(argv[3], argv + 3);
				_exit(127);
			}
			exit(0);
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
		    WEXITSTATUS(st)) {
			fprintf(stderr, "bench_fork: child failed\n");
			return 1;
		}
	}
	t1 = now_us();
	getrusage(RUSAGE_CHILDREN, &ru);
	printf("%s %.1f %.1f %.1f\n", argv[1], (t1 - t0) / n,
	       (tv_us(ru.ru_utime) + tv_us(ru.ru_stime)) / n,
	       (double)ru.ru_minflt / n);
	return 0;
}

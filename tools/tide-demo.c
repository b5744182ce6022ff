// SPDX-License-Identifier: MIT
/*
 * tide-demo - what tide does, in about a minute, without reading code.
 *
 * Each story (tools/demo/story_*.c) runs every variant in a child process
 * of its own, so each resident figure (the Anonymous: line of
 * /proc/<pid>/smaps_rollup) is that variant's alone.  The children stream
 * their samples through a pipe; the parent shows progress, writes the data
 * files, the gnuplot script and the PNG (tools/demo/plot.c), and prints the
 * summary table, one section per story.
 *
 *  1. story_shrink.c: 64 blocks of 256 KiB shrunk to 16 KiB, against glibc.
 *  2. story_broker.c: a binder-like broker through two load spikes.
 *  3. story_cache.c: a cache under a memory limit, with the monitor's
 *     defaults against without a monitor.
 *  4. story_python.c: an unmodified CPython's fragmented heap, with and
 *     without tide-run, after one pressure event.
 *
 * Exit status 0 when every story ran and showed its point (a story skipped
 * for want of python3 included), 1 when one failed, 2 for bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tide.h>

#include "demo/demo.h"

struct demo_opt opt = {
	.out = "tide-demo-out",
	.steps = 400,
	.tick_ms = 40,
	.limit_mib = 128,
	.written_mib = 384,
	.pace_us = 10000,
};

/*
 * ==== THE STORIES ====================================================
 * One line each, in the order they run.  Either @run runs the story (its
 * progress on stderr) and @report prints its section of the summary on
 * stdout, or @run_out(build_dir, out) runs it and writes its section to
 * @out, which the summary prints in its turn (%STORY_SKIPPED: it could not
 * run on this machine; another non-zero return is a failure).  A story
 * that fails calls story_fail().  A new story is a file
 * tools/demo/story_NAME.c (CMake picks it up), its prototype in
 * tools/demo/demo.h and one line here.
 */
static const struct story {
	void (*run)(void);
	void (*report)(void);
	int (*run_out)(const char *build_dir, FILE *out);
} stories[] = {
	{ story_shrink, story_shrink_report, NULL },
	{ story_broker, story_broker_report, NULL },
	{ story_cache, story_cache_report, NULL },
	{ NULL, NULL, story_python },
};

#define NSTORIES (sizeof(stories) / sizeof(stories[0]))

/* The build tree: --build-dir, or the parent of this program's directory
 * (build/tools/tide-demo -> build). */
static const char *default_build_dir(void)
{
	static char dir[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);

	if (n <= 0)
		return ".";
	dir[n] = 0;
	return dirname(dirname(dir));
}

/* What the @run_out stories wrote, and what they returned. */
static char *story_text[NSTORIES];
static int story_rc[NSTORIES];

static void run_story(size_t i)
{
	size_t len = 0;
	FILE *f;

	if (stories[i].run) {
		stories[i].run();
		return;
	}
	story_begin("story %zu (its table is in the summary)", i + 1);
	f = open_memstream(&story_text[i], &len);
	if (!f) {
		story_rc[i] = -errno;
		story_fail();
		return;
	}
	story_rc[i] = stories[i].run_out(opt.build_dir, f);
	fclose(f);
	if (story_rc[i] && story_rc[i] != STORY_SKIPPED)
		story_fail();
}

static void report_story(size_t i)
{
	if (stories[i].report) {
		stories[i].report();
		return;
	}
	printf("\n%u. %s", story_number(), story_text[i] ? story_text[i] : "");
	if (story_rc[i] && story_rc[i] != STORY_SKIPPED)
		printf("   (story %zu FAILED: %d)\n", i + 1, story_rc[i]);
	free(story_text[i]);
	story_text[i] = NULL;
}

static void summary(bool png, bool gnuplot)
{
	printf("\ntide-demo summary%s\n", opt.quick ? " (--quick)" : "");
	for (size_t i = 0; i < NSTORIES; i++) {
		if (!story_on(i + 1))
			continue;
		story_set(i + 1);
		report_story(i);
	}

	if (png)
		printf("\nPicture: %s/tide-demo.png\n", opt.out);
	else if (!opt.no_plot && gnuplot)
		printf("\nNo picture: gnuplot failed on %s/tide-demo.gp\n",
		       opt.out);
	else if (!opt.no_plot && (!story_on(2) || !story_on(3)))
		printf("\nNo picture: it needs stories 2 and 3\n");
	else if (!opt.no_plot)
		printf("\nNo picture: gnuplot is not installed (Debian: "
		       "apt-get install gnuplot-nox;\n`make demo` does it as "
		       "root). Data files are in %s/\n",
		       opt.out);
	if (story_on(2) || story_on(3))
		printf("Data: %s/%s-*.dat\n", opt.out,
		       !story_on(3) ? "broker" :
		       !story_on(2) ? "cache" :
				      "{broker,cache}");
	fflush(stdout);
}

/* The synopsis, and with @full the stories, options and exit status. */
static void usage(FILE *f, bool full)
{
	fprintf(f, "usage: tide-demo [-q|--quick] [-b|--budget] [-n|--no-plot] "
		   "[-o|--out DIR]\n"
		   "                 [-B|--build-dir DIR] [-s|--story N]... "
		   "[-h|--help]\n");
	if (!full) {
		fprintf(f, "(tide-demo --help: the stories and options)\n");
		return;
	}
	fprintf(f,
		"Four stories, each run with tide and without, in processes "
		"of their own:\n"
		"  1. 64 blocks of 256 KiB shrunk to 16 KiB: tide_kvrealloc() "
		"against glibc\n"
		"  2. a broker through two load spikes: a tide vector and "
		"arena against malloc\n"
		"  3. a cache under a memory limit (a cgroup as root, else an "
		"RSS budget),\n"
		"     with the monitor and without\n"
		"  4. an unmodified python3's fragmented heap, with and "
		"without tide-run,\n"
		"     after one memory-pressure event (skipped without "
		"/usr/bin/python3)\n"
		"Options:\n"
		"  -q, --quick          a few seconds instead of about a "
		"minute\n"
		"  -b, --budget         story 3 under an RSS budget even when "
		"a memory cgroup\n"
		"                       could be made\n"
		"  -n, --no-plot        do not run gnuplot\n"
		"  -o, --out DIR        where the data files and tide-demo.png "
		"go\n"
		"                       (default tide-demo-out)\n"
		"  -B, --build-dir DIR  the build tree: story 4 runs "
		"DIR/preload/tide-run when\n"
		"                       there is no tide-run next to "
		"tide-demo (then $PATH's)\n"
		"                       (default: the parent of tide-demo's "
		"directory)\n"
		"  -s, --story N        run story N (1..4) only; repeat for "
		"more\n"
		"  -h, --help           this text\n"
		"Exit status: 0 every story ran (or was skipped for want of "
		"python3),\n"
		"1 a story failed or DIR cannot be made, 2 usage.\n");
}

static void on_sigpipe(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "budget", no_argument, NULL, 'b' },
		{ "no-plot", no_argument, NULL, 'n' },
		{ "out", required_argument, NULL, 'o' },
		{ "build-dir", required_argument, NULL, 'B' },
		{ "story", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool png = false, gnuplot = false;
	double t0 = now();
	unsigned failed;
	char *slash;
	int c;

	/* getopt's messages name the program, not the path it ran by. */
	slash = strrchr(argv[0], '/');
	if (slash && slash[1])
		argv[0] = slash + 1;
	while ((c = getopt_long(argc, argv, "qbno:B:s:h", lo, NULL)) != -1) {
		switch (c) {
		case 'q':
			opt.quick = true;
			break;
		case 'b':
			opt.force_budget = true;
			break;
		case 'n':
			opt.no_plot = true;
			break;
		case 'o':
			opt.out = optarg;
			break;
		case 'B':
			opt.build_dir = optarg;
			break;
		case 's': {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (end == optarg || *end || n < 1 ||
			    n > (long)NSTORIES) {
				fprintf(stderr,
					"tide-demo: --story %s: not a story "
					"(1..%zu)\n",
					optarg, NSTORIES);
				return 2;
			}
			opt.only |= 1u << n;
			break;
		}
		case 'h':
			usage(stdout, true);
			return 0;
		default:
			usage(stderr, false);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tide-demo: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr, false);
		return 2;
	}
	if (opt.quick) {
		opt.steps = 80;
		opt.tick_ms = 10;
		opt.limit_mib = 96;
		opt.written_mib = 192;
		opt.pace_us = 1000;
	}
	/*
	 * A story's child that dies (the OOM killer in a small container, a
	 * kill from outside) leaves its pipe without a reader: the write to
	 * it then fails with EPIPE and the story says how the child ended,
	 * instead of SIGPIPE ending tide-demo without its summary (exit 141
	 * in a 512 MiB container).  A handler, not SIG_IGN: the programs the
	 * stories run get the default back when they are executed, and the
	 * children a story forks restore it (run_child()).
	 */
	{
		struct sigaction sa = { .sa_handler = on_sigpipe };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGPIPE, &sa, NULL);
	}
	tty = isatty(2);
	if (mkdir(opt.out, 0755) && errno != EEXIST) {
		fprintf(stderr, "tide-demo: %s: %s\n", opt.out,
			strerror(errno));
		return 1;
	}
	if (!opt.build_dir)
		opt.build_dir = default_build_dir();
	story_count = 0;
	for (size_t i = 0; i < NSTORIES; i++)
		story_count += story_on(i + 1);
	fprintf(stderr,
		"tide %s demo: %u %s with tide and without, in separate "
		"processes\n",
		tide_version(), story_count,
		story_count == 1 ? "story, run" : "stories, each run");
	for (size_t i = 0; i < NSTORIES; i++) {
		if (!story_on(i + 1))
			continue;
		story_set(i + 1);
		run_story(i);
	}
	png = plot_all(&gnuplot);
	summary(png, gnuplot);
	fprintf(stderr, "done in %.0f s\n", now() - t0);
	failed = story_failed_mask();
	if (failed) {
		fprintf(stderr, "tide-demo: failed:");
		for (unsigned i = 1; i < 32; i++)
			if (failed & 1u << i)
				fprintf(stderr, " story %u", i);
		fprintf(stderr, " (see the summary)\n");
		return 1;
	}
	return 0;
}

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
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
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
 * @out, which the summary prints in its turn (a non-zero return is
 * reported).  A new story is a file tools/demo/story_NAME.c (CMake picks it
 * up), its prototype in tools/demo/demo.h and one line here.
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
		return;
	}
	story_rc[i] = stories[i].run_out(opt.build_dir, f);
	fclose(f);
}

static void report_story(size_t i)
{
	if (stories[i].report) {
		stories[i].report();
		return;
	}
	printf("\n%u. %s", report_next(), story_text[i] ? story_text[i] : "");
	if (story_rc[i])
		printf("   (story %zu failed: %d)\n", i + 1, story_rc[i]);
	free(story_text[i]);
	story_text[i] = NULL;
}

static void summary(bool png, bool gnuplot)
{
	printf("\ntide-demo summary%s\n", opt.quick ? " (--quick)" : "");
	for (size_t i = 0; i < NSTORIES; i++)
		report_story(i);

	if (png)
		printf("\nPicture: %s/tide-demo.png\n", opt.out);
	else if (!opt.no_plot && gnuplot)
		printf("\nNo picture: gnuplot failed on %s/tide-demo.gp\n",
		       opt.out);
	else if (!opt.no_plot)
		printf("\nNo picture: gnuplot is not installed (Debian: "
		       "apt-get install gnuplot-nox;\n`make demo` does it as "
		       "root). Data files are in %s/\n",
		       opt.out);
	printf("Data: %s/{broker,cache}-*.dat\n", opt.out);
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tide-demo [--quick] [--budget] [--no-plot] [--out DIR] "
		"[--build-dir DIR]\n"
		"  --quick    a few seconds instead of about a minute\n"
		"  --budget   part 3 under an RSS budget even when a memory "
		"cgroup could be made\n"
		"  --no-plot  do not run gnuplot\n"
		"  --out DIR  where the data files and tide-demo.png go "
		"(default tide-demo-out)\n"
		"  --build-dir DIR  the build tree, for stories that run its "
		"programs\n"
		"             (default: the parent of tide-demo's directory)\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "budget", no_argument, NULL, 'b' },
		{ "no-plot", no_argument, NULL, 'n' },
		{ "out", required_argument, NULL, 'o' },
		{ "build-dir", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool png = false, gnuplot = false;
	double t0 = now();
	int c;

	while ((c = getopt_long(argc, argv, "qbno:B:h", lo, NULL)) != -1) {
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
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (opt.quick) {
		opt.steps = 80;
		opt.tick_ms = 10;
		opt.limit_mib = 96;
		opt.written_mib = 192;
		opt.pace_us = 1000;
	}
	tty = isatty(2);
	if (mkdir(opt.out, 0755) && errno != EEXIST) {
		fprintf(stderr, "tide-demo: %s: %s\n", opt.out,
			strerror(errno));
		return 1;
	}
	if (!opt.build_dir)
		opt.build_dir = default_build_dir();
	story_count = NSTORIES;
	fprintf(stderr,
		"tide %s demo: %u stories, each run with tide and without, in "
		"separate processes\n",
		tide_version(), story_count);
	for (size_t i = 0; i < NSTORIES; i++)
		run_story(i);
	png = plot_all(&gnuplot);
	summary(png, gnuplot);
	fprintf(stderr, "done in %.0f s\n", now() - t0);
	return 0;
}

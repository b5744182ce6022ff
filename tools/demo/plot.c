// SPDX-License-Identifier: MIT
/*
 * plot.c - tide-demo's data files and its picture: one gnuplot script,
 * three panels (the broker's RSS, its registry, the cache under a limit).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "demo.h"

char *out_path(const char *name)
{
	static char path[4][PATH_MAX];
	static int i;
	char *p = path[i++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", opt.out, name);
	return p;
}

static void write_series(const char *name, const struct series *s, int ncols)
{
	FILE *f = fopen(out_path(name), "we");

	if (!f) {
		fprintf(stderr, "tide-demo: %s: %s\n", out_path(name),
			strerror(errno));
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		for (int c = 0; c < ncols; c++)
			fprintf(f, c ? " %g" : "%g", s->v[i][c]);
		fputc('\n', f);
	}
	fclose(f);
}

static bool have_gnuplot(void)
{
	return !system("command -v gnuplot >/dev/null 2>&1");
}

/* Returns true when the PNG was written. */
static bool plot(void)
{
	double total = opt.steps * opt.tick_ms / 1000.0;
	const char *limit_label = cg_dir[0] ? "cgroup limit" : "RSS budget";
	char cmd[PATH_MAX + 64];
	FILE *f = fopen(out_path("tide-demo.gp"), "we");

	if (!f)
		return false;
	fprintf(f, "# gnuplot script written by tide-demo; run: gnuplot "
		   "tide-demo.gp\n"
		   "set terminal pngcairo size 1000,1250 font ',10'\n"
		   "set output 'tide-demo.png'\n"
		   "set multiplot layout 3,1 title 'tide-demo: resident "
		   "anonymous memory, tide against the baseline'\n"
		   "set grid\nset lmargin 12\nset rmargin 4\n"
		   "set key at graph 0.99, graph 0.65 right opaque\n");
	for (size_t i = 0; i < sizeof(spikes) / sizeof(spikes[0]); i++)
		fprintf(f,
			"set object %zu rect from %g, graph 0 to %g, graph 1 "
			"behind fc rgb '#fde9c9' fs solid 1.0 noborder\n"
			"set label %zu 'spike %zu' at %g, graph 0.95 center\n",
			i + 1, spikes[i].start * total, spikes[i].end * total,
			i + 1, i + 1,
			(spikes[i].start + spikes[i].end) / 2 * total);
	fprintf(f,
		"set title 'Broker: RSS through load spikes (shaded)'\n"
		"set xlabel 'time (s)'\nset ylabel 'MiB'\n"
		"set xrange [0:%g]\n"
		"plot 'broker-tide.dat' u 1:3 w l lw 2 lc rgb '#1f77b4' "
		"t 'tide: vec + arena + monitor', "
		"'broker-malloc.dat' u 1:3 w l lw 2 lc rgb '#d62728' "
		"t 'malloc/realloc'\n"
		"set title 'Broker: process registry capacity'\n"
		"set ylabel 'slots'\nset logscale y\n"
		"plot 'broker-tide.dat' u 1:2 w steps lw 2 lc rgb '#1f77b4' "
		"t 'tide\\_vec (AUTOTRIM)', "
		"'broker-malloc.dat' u 1:2 w steps lw 2 lc rgb '#d62728' "
		"t 'realloc doubling', "
		"'broker-tide.dat' u 1:4 w l lc rgb '#888888' dt 2 "
		"t 'processes registered'\n"
		"unset logscale y\nunset object 1\nunset object 2\n"
		"unset label 1\nunset label 2\nset xrange [*:*]\n",
		total);
	if (WIFSIGNALED(cache_status[1]) && cache_res[1].n)
		fprintf(f,
			"set label 3 'OOM-killed' at %g, %g right "
			"offset -1, -1 tc rgb '#d62728'\n",
			cache_res[1].v[cache_res[1].n - 1][0],
			cache_res[1].v[cache_res[1].n - 1][1]);
	fprintf(f,
		"set title 'Cache of 1 MiB kv blocks: %s %u MiB'\n"
		"set xlabel 'MiB written to the cache'\nset ylabel 'MiB'\n"
		"set yrange [0:*]\nunset key\nset key inside right bottom opaque\n"
		"plot 'cache-tide.dat' u 1:2 w l lw 2 lc rgb '#1f77b4' "
		"t 'with the pressure monitor + shrinker', "
		"'cache-baseline.dat' u 1:2 w l lw 2 lc rgb '#d62728' "
		"t 'without (%s)', "
		"%u w l dt 2 lc rgb 'black' t '%s'\n"
		"unset multiplot\n",
		limit_label, opt.limit_mib,
		WIFSIGNALED(cache_status[1]) ? "killed" : "no monitor",
		opt.limit_mib, limit_label);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "cd '%s' && gnuplot tide-demo.gp", opt.out);
	return !system(cmd);
}

bool plot_all(bool *gnuplot)
{
	if (story_on(2)) {
		write_series("broker-tide.dat", &broker_res[0], 5);
		write_series("broker-malloc.dat", &broker_res[1], 5);
	}
	if (story_on(3)) {
		write_series("cache-tide.dat", &cache_res[0], 3);
		write_series("cache-baseline.dat", &cache_res[1], 3);
	}
	/* The picture is stories 2 and 3. */
	*gnuplot = !opt.no_plot && story_on(2) && story_on(3) && have_gnuplot();
	return *gnuplot && plot();
}

/* SPDX-License-Identifier: MIT */
/*
 * story_python.h - tide-demo's story of an unmodified CPython (issue 16).
 */
#ifndef TIDE_DEMO_STORY_PYTHON_H
#define TIDE_DEMO_STORY_PYTHON_H

#include <stdio.h>

/* A @run_out story's return: it did not run, for want of something the
 * machine lacks (its text says what); not a failure. */
#define STORY_SKIPPED 3

/**
 * story_python() - CPython's fragmented heap, with and without tide-run.
 * @build_dir: the build tree, one of the places tide-run is looked for: the
 *	directory of this program first (installed, tide-run is beside it),
 *	then @build_dir/preload/tide-run, then $PATH.
 * @out: where the story's table goes.
 *
 * Runs Debian's /usr/bin/python3 twice, as is and under tide-run: it builds
 * 300k objects of 1 KiB, keeps 1 in 50 and frees the rest; then the story
 * sends one pressure event through the FIFO named by $MEMORY_PRESSURE_WATCH
 * (systemd's protocol) and prints both runs' anonymous memory after the
 * frees and once it has settled after the event.
 *
 * Context: forks and waits for two python3 processes; takes a few seconds.
 * Return: 0 when both ran and the run under tide-run fell to at most 40% of
 * its figure after the frees while the other kept at least 80%; 1 when they
 * ran but did not show that; 2 when tide-run was not found or a run failed;
 * %STORY_SKIPPED when python3 is not installed or this is a sanitizer build
 * (whose shim cannot be preloaded into python3).  A line on @out says which.
 */
int story_python(const char *build_dir, FILE *out);

#endif /* TIDE_DEMO_STORY_PYTHON_H */

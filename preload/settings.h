/* SPDX-License-Identifier: MIT */
/*
 * settings.h - the environment settings of libtide-preload, shared with
 * tide-run so that both accept exactly the same values.
 *
 * Sizes are a decimal number of bytes with an optional K, M, G or T suffix
 * (powers of 1024, either case), or N% (1 to 100) of a limit resolved later
 * (see docs/preload.md for the order).  Booleans are "0" or "1".  A source
 * list is a comma list of the names tide_monitor_source_name() gives.
 */
#ifndef TIDE_PRELOAD_SETTINGS_H
#define TIDE_PRELOAD_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pressure/defaults.h"

/*
 * A size setting: @bytes, or @pct percent of a limit; both 0 when unset.
 * @text: the value as given (the environment's string), for messages;
 * NULL when unset.
 */
struct tide__preload_size {
	uint64_t bytes;
	unsigned pct;
	const char *text;
};

struct tide__preload_settings {
	struct tide__preload_size limit, high, low;
	unsigned sources; /* TIDE_SOURCE_* mask, 0 when unset (all) */
	bool control, verbose, inherit;
};

/* Parse a size setting.  Return: 0, or -EINVAL (*ret untouched). */
int tide__preload_parse_size(const char *s, struct tide__preload_size *ret);

/* Parse a source list.  Return: 0, or -EINVAL (*ret untouched). */
int tide__preload_parse_sources(const char *s, unsigned *ret);

/* Parse "0" or "1".  Return: 0, or -EINVAL (*ret untouched). */
int tide__preload_parse_bool(const char *s, bool *ret);

/* The names of the TIDE_SOURCE_* bits of @mask, comma separated, in @buf. */
void tide__preload_source_names(unsigned mask, char *buf, size_t size);

/*
 * Read every TIDE_* setting from the environment into @ret (defaults:
 * nothing set, inherit on).  On a bad value, writes "NAME=VALUE: why" to
 * @msg (cut to @size) and returns -EINVAL; @ret is then incomplete.
 * The low <= high check is left to the caller when either is a percentage.
 */
int tide__preload_settings_read(struct tide__preload_settings *ret, char *msg,
				size_t size);

/*
 * Resolve a size setting against @limit (for percentages).  Return: 0 with
 * *ret set (0 when unset), or -ENOENT for a percentage without a limit.
 */
int tide__preload_size_resolve(const struct tide__preload_size *s,
			       uint64_t limit, uint64_t *ret);

/* A setting under this is ignored with a warning (defaults.h). */
#define TIDE__PRELOAD_FLOOR TIDE__WATERMARK_FLOOR

struct tide_monitor_config;

/*
 * Turn @s into the monitor configuration @cfg, in the order of
 * docs/preload.md: percentages and watermarks given without TIDE_LIMIT
 * need the effective limit, which a first monitor (created with the
 * sources, never started) finds.  Checks what the monitor would refuse:
 * a low watermark above the high one, given or the default (3/4 of the
 * limit).  Settings that would do nothing are ignored, with a warning in
 * @msg (one line, "; " between two): TIDE_LIMIT of 1 EiB or more (the
 * monitor's "no limit"), TIDE_LIMIT whose high watermark (TIDE_HIGH's if
 * that is below the machine's memory, else the default 3/4) is at or
 * above the machine's memory (then also a TIDE_HIGH or TIDE_LOW given as
 * a percentage of it, where no other limit is found), TIDE_HIGH not below
 * the limit or at or above the machine's memory (then also a TIDE_LOW
 * above the default high watermark), TIDE_LOW without TIDE_HIGH where no
 * limit is found, a limit or watermark (resolved) under
 * TIDE__PRELOAD_FLOOR, a limit whose watermarks (given, else its
 * defaults) are not both at or above it, and a TIDE_HIGH without
 * TIDE_LOW whose low (7/8 of it) is under it.  Return: 0, @msg empty or
 * the warnings; -EINVAL with the reason in @msg, after the warnings so
 * far (cut to @size); or the first monitor's creation error, @msg empty.
 */
int tide__preload_resolve(const struct tide__preload_settings *s,
			  struct tide_monitor_config *cfg, char *msg,
			  size_t size);

/*
 * A settings line (one @msg of tide__preload_settings_read() or
 * tide__preload_resolve()) is said once per process tree: the process that
 * says it records TIDE_SAID=VALUE, and the programs it runs, which inherit
 * the variable, stay quiet about the same line.  VALUE is a 64-bit hash of
 * the line, 16 hex digits.
 */
#define TIDE__PRELOAD_SAID_SIZE 17

/* The TIDE_SAID value of @line into @out (@size: TIDE__PRELOAD_SAID_SIZE). */
void tide__preload_said_value(const char *line, char *out, size_t size);

/* Does @said (TIDE_SAID's value, or NULL) say that @line was said? */
bool tide__preload_was_said(const char *said, const char *line);

#endif /* TIDE_PRELOAD_SETTINGS_H */

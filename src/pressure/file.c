// SPDX-License-Identifier: MIT
/*
 * file.c - the small file helpers every pressure source uses: opens that
 * never block on a FIFO and refuse special files, and re-readable reads of
 * small text files (see cgroup.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "pressure/cgroup.h"

int tide__file_open(const char *path, bool write, bool allow_special)
{
	struct stat st;
	int fd, r;

	if (!path || !*path)
		return -EINVAL;
	fd = tide__os_open(path,
			   (write ? O_RDWR : O_RDONLY) | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return fd;
	r = tide__os_fstat(fd, &st);
	if (r) {
		tide__os_close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode) &&
	    !(allow_special &&
	      (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))) {
		tide__os_close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -ENOTTY;
	}
	return fd;
}

int tide__file_digest(const char *path, uint64_t *ret_hash, uint64_t *ret_len)
{
	unsigned char buf[512];
	uint64_t hash = UINT64_C(14695981039346656037), len = 0;
	int fd = tide__file_open(path, false, false), r = 0;

	if (fd < 0)
		return fd;
	for (;;) {
		ssize_t n = tide__os_read(fd, buf, sizeof(buf));

		if (n == -EINTR)
			continue;
		if (n <= 0) {
			r = (int)n;
			break;
		}
		for (ssize_t i = 0; i < n; i++) {
			hash ^= buf[i];
			hash *= UINT64_C(1099511628211);
		}
		len += (uint64_t)n;
	}
	tide__os_close(fd);
	if (r)
		return r;
	*ret_hash = hash;
	*ret_len = len;
	return 0;
}

int tide__file_read(int fd, const char *path, char *buf, size_t size)
{
	bool own = fd < 0;
	size_t got = 0;
	int r = 0;

	if (!buf || size < 2)
		return -EINVAL;
	if (own) {
		fd = tide__file_open(path, false, false);
		if (fd < 0)
			return fd;
	}
	for (;;) {
		ssize_t n = tide__os_pread(fd, buf + got, size - 1 - got,
					   (off_t)got);

		if (n == -EINTR)
			continue;
		if (n < 0) {
			r = (int)n;
			break;
		}
		got += (size_t)n;
		if (!n)
			break;
		if (got == size - 1) {
			char c;

			/* Full: is there more? */
			n = tide__os_pread(fd, &c, 1, (off_t)got);
			r = n > 0 ? -EFBIG : 0;
			break;
		}
	}
	if (own)
		tide__os_close(fd);
	if (r)
		return r;
	buf[got] = 0;
	return 0;
}

int tide__parse_u64(const char *s, uint64_t *ret)
{
	unsigned long long v;
	const char *rest;
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!strncmp(s, "max", 3)) {
		v = UINT64_MAX;
		rest = s + 3;
	} else {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno || end == s)
			return -EINVAL;
		rest = end;
	}
	/* then blanks and one newline at most: the whole file is the value */
	rest += strspn(rest, " \t");
	if (*rest == '\n')
		rest++;
	if (*rest)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int b64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * Strict base64 (RFC 4648, padding required, whitespace ignored).  @out
 * gets the bytes; NULL with *len 0 for an empty input.  Nothing is written
 * on failure.
 */
int tide__b64_decode(const char *s, unsigned char **out, size_t *len)
{
	size_t n = strlen(s), o = 0, q = 0;
	unsigned char *buf;
	unsigned acc = 0;
	int pad = 0;

	buf = tide__os_malloc(n / 4 * 3 + 3);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)s[i], v;

		if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
			continue;
		if (c == '=') {
			pad++;
			v = 0;
		} else {
			if (pad)
				goto bad;
			v = b64_value(c);
			if (v < 0)
				goto bad;
		}
		acc = acc << 6 | (unsigned)v;
		if (++q == 4) {
			if (pad > 2)
				goto bad;
			buf[o++] = (unsigned char)(acc >> 16);
			if (pad < 2)
				buf[o++] = (unsigned char)(acc >> 8);
			if (pad < 1)
				buf[o++] = (unsigned char)acc;
			q = 0;
			acc = 0;
		}
	}
	if (q)
		goto bad;
	if (!o) {
		tide__os_free(buf);
		buf = NULL;
	}
	*out = buf;
	*len = o;
	return 0;
bad:
	tide__os_free(buf);
	return -EINVAL;
}

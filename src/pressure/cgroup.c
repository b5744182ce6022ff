// SPDX-License-Identifier: MIT
/*
 * cgroup.c - effective limit discovery and the working set (see cgroup.h).
 *
 * Discovery reads three texts (/proc/self/cgroup, /proc/self/mountinfo,
 * /proc/meminfo, each replaceable), picks for each hierarchy (v1 with the
 * memory controller, v2) the mount that shows the own group, and walks from
 * the own group's directory up to that mount's root, reading the limit files
 * of every level.  The smallest limit below MemTotal wins, whichever
 * hierarchy it is in.
 *
 * The parsers are pure functions of their text (fuzzed by
 * fuzz/fuzz_parsers.c); everything that touches files goes through
 * tide__file_open(), everything that allocates through tide__os_malloc().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"
#include "pressure/cgroup.h"

/* A /proc text larger than this is refused (-EFBIG), not read forever. */
#define TEXT_MAX ((size_t)64 << 20)

static const char v1_limit_file[] = "memory.limit_in_bytes";
static const char v2_max_file[] = "memory.max";
static const char v2_high_file[] = "memory.high";
/* v1: the limit of an ancestor above the mount root (hidden_limit()) */
static const char v1_stat_file[] = "memory.stat";
/* The longest name appended to a group's directory, with its '/'. */
#define NAME_ROOM (sizeof("/memory.use_hierarchy") + 1)

static char *dup_n(const char *s, size_t n)
{
	char *p = tide__os_malloc(n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

/*
 * Read all of @path into a NUL-terminated heap buffer that grows by
 * doubling (mountinfo has no line length limit).  0 or -errno.
 */
static int read_text(const char *path, char **ret)
{
	size_t cap = 4096, len = 0;
	char *buf;
	int fd, r = 0;

	fd = tide__file_open(path, false, false);
	if (fd < 0)
		return fd;
	buf = tide__os_malloc(cap);
	if (!buf) {
		tide__os_close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n;

		if (len + 1 == cap) {
			char *p;

			if (cap >= TEXT_MAX) {
				r = -EFBIG;
				break;
			}
			p = tide__os_realloc(buf, cap * 2);
			if (!p) {
				r = -ENOMEM;
				break;
			}
			buf = p;
			cap *= 2;
		}
		n = tide__os_read(fd, buf + len, cap - 1 - len);
		if (n == -EINTR)
			continue;
		if (n < 0) {
			r = (int)n;
			break;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	tide__os_close(fd);
	if (r) {
		tide__os_free(buf);
		return r;
	}
	buf[len] = 0;
	*ret = buf;
	return 0;
}

/* Decimal digits in [s, end) only, no overflow. */
static int parse_dec(const char *s, const char *end, uint64_t *ret)
{
	uint64_t v = 0;

	if (s >= end)
		return -EINVAL;
	for (; s < end; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

/* @tok is one of the comma-separated items of [list, list + len). */
static bool has_token(const char *list, size_t len, const char *tok)
{
	size_t tl = strlen(tok);
	const char *end = list + len;

	while (list <= end) {
		const char *comma = memchr(list, ',', (size_t)(end - list));
		size_t n =
			comma ? (size_t)(comma - list) : (size_t)(end - list);

		if (n == tl && !memcmp(list, tok, tl))
			return true;
		if (!comma)
			break;
		list = comma + 1;
	}
	return false;
}

int tide__cg_parse_self(const char *text, char **ret_v1, char **ret_v2)
{
	const char *v1 = NULL, *v2 = NULL, *l = text;
	size_t v1n = 0, v2n = 0;
	char *p1 = NULL, *p2 = NULL;

	while (*l) {
		const char *eol = strchrnul(l, '\n');
		const char *c1 = memchr(l, ':', (size_t)(eol - l)), *c2 = NULL;

		if (c1)
			c2 = memchr(c1 + 1, ':', (size_t)(eol - c1 - 1));
		/* "ID:CONTROLLERS:PATH"; the path may itself hold ':'. */
		if (c2 && c2 + 1 < eol && c2[1] == '/') {
			bool id0 = c1 - l == 1 && *l == '0';

			if (!v2 && id0 && c2 == c1 + 1) {
				v2 = c2 + 1;
				v2n = (size_t)(eol - v2);
			} else if (!v1 && !id0 && c1 > l &&
				   has_token(c1 + 1, (size_t)(c2 - c1 - 1),
					     "memory")) {
				v1 = c2 + 1;
				v1n = (size_t)(eol - v1);
			}
		}
		l = *eol ? eol + 1 : eol;
	}
	if (!v1 && !v2)
		return -ENODEV;
	if (v1 && !(p1 = dup_n(v1, v1n)))
		return -ENOMEM;
	if (v2 && !(p2 = dup_n(v2, v2n))) {
		tide__os_free(p1);
		return -ENOMEM;
	}
	*ret_v1 = p1;
	*ret_v2 = p2;
	return 0;
}

static bool is_oct(char c)
{
	return c >= '0' && c <= '7';
}

/*
 * Decode the kernel's mangling of mount fields (\040 \011 \012 \134).
 * "\000" is left as it is: a path holds no NUL, and decoding one would cut
 * the field short.
 */
static void unescape(char *s)
{
	char *w = s;

	for (const char *r = s; *r;) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' &&
		    is_oct(r[2]) && is_oct(r[3]) &&
		    (r[1] != '0' || r[2] != '0' || r[3] != '0')) {
			*w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 |
				      (r[3] - '0'));
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = 0;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Next space-separated field of *@cur (empty fields kept); NULL at end. */
static char *next_field(char **cur)
{
	char *f = *cur, *sp;

	if (!f)
		return NULL;
	sp = strchr(f, ' ');
	if (sp) {
		*sp = 0;
		*cur = sp + 1;
	} else {
		*cur = NULL;
	}
	return f;
}

int tide__mount_parse(char *line, struct tide__mount *ret)
{
	char *f[6], *fstype, *source, *opts, *cur = line, *colon, *t;

	line[strcspn(line, "\n")] = 0;
	for (int i = 0; i < 6; i++)
		if (!(f[i] = next_field(&cur)))
			return -EINVAL;
	/* Optional fields up to the lone "-". */
	while ((t = next_field(&cur)) && strcmp(t, "-"))
		;
	if (!t)
		return -EINVAL;
	fstype = next_field(&cur);
	source = next_field(&cur);
	opts = source ? next_field(&cur) : NULL;
	if (!opts || cur)
		return -EINVAL;
	colon = strchr(f[2], ':');
	if (!all_digits(f[0]) || !all_digits(f[1]) || !colon)
		return -EINVAL;
	*colon = 0;
	if (!all_digits(f[2]) || !all_digits(colon + 1))
		return -EINVAL;
	*colon = ':';
	/* The source may be empty (mount -t tmpfs "" /x); nothing else. */
	if (!*f[3] || !*f[4] || !*fstype || !*opts)
		return -EINVAL;
	unescape(f[3]);
	unescape(f[4]);
	unescape(fstype);
	unescape(opts);
	ret->root = f[3];
	ret->point = f[4];
	ret->fstype = fstype;
	ret->super_opts = opts;
	return 0;
}

int tide__cg_stat_value(const char *text, const char *key, uint64_t *ret)
{
	size_t kl = strlen(key);

	if (!kl || strpbrk(key, " \n"))
		return -EINVAL;
	for (const char *l = text; *l;) {
		const char *eol = strchrnul(l, '\n');

		if ((size_t)(eol - l) > kl && !memcmp(l, key, kl) &&
		    l[kl] == ' ')
			return parse_dec(l + kl + 1, eol, ret);
		l = *eol ? eol + 1 : eol;
	}
	return -ENOENT;
}

/* ---- discovery ---------------------------------------------------------- */

/* One hierarchy's mount and the own group's place in it. */
struct hier {
	const char *point; /* mount point (into the mountinfo text) */
	const char *rel; /* own path relative to the mount root, or NULL */
	size_t root_len; /* for picking the most specific mount */
	char *buf; /* directory being walked, with NAME_ROOM to spare */
	size_t base; /* length of the mount point part of @buf */
	size_t len; /* length of the own directory in @buf */
	int err; /* out of memory or descriptors while walking (or 0) */
	/* @buf is the own group; or the mount root is above it (a cgroup
	 * namespace's "/.." roots): its ancestors are the own group's */
	bool own, root_above;
};

/* The rest of @path under mount root @root ("" or "/..."), or NULL. */
static const char *under_root(const char *path, const char *root)
{
	size_t rl = strlen(root);

	while (rl && root[rl - 1] == '/')
		rl--;
	if (strncmp(path, root, rl) || (path[rl] && path[rl] != '/'))
		return NULL;
	return path + rl;
}

/* A ".." or "." component would leave the mount: such a path is not used. */
static bool has_dot_component(const char *p)
{
	while (*p) {
		size_t n;

		p += strspn(p, "/");
		n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return true;
		p += n;
	}
	return false;
}

/* Keep the mount of this type that shows @own, the most specific one. */
static void consider_mount(struct hier *h, const struct tide__mount *m,
			   const char *own)
{
	const char *rel = under_root(own, m->root);
	size_t rl = strlen(m->root);

	if (h->point && (!rel || (h->rel && rl <= h->root_len)))
		return;
	h->point = m->point;
	h->rel = rel;
	h->root_len = rl;
	h->root_above = !strncmp(m->root, "/..", 3) &&
			(m->root[3] == '/' || !m->root[3]);
}

/* 1 if @path is a directory, 0 if not (or absent), or an exhausted error. */
static int dir_state(const char *path)
{
	struct stat st;
	int r = tide__os_stat(path, &st);

	if (r)
		return tide__os_exhausted(r) ? r : 0;
	return S_ISDIR(st.st_mode);
}

/*
 * Build @h->buf: the own group's directory, or the mount root when the own
 * path is not under the mount, leaves it, or does not exist there.  A mount
 * at "/" is kept as an empty prefix: a level of length 0 is "/" itself.
 */
static int hier_dir(struct hier *h)
{
	size_t pl = strlen(h->point), rl;
	const char *rel = h->rel;

	while (pl && h->point[pl - 1] == '/')
		pl--;
	h->own = rel && !has_dot_component(rel);
	if (!h->own)
		rel = "";
	rl = strlen(rel);
	while (rl && rel[rl - 1] == '/')
		rl--;
	h->buf = tide__os_malloc(pl + rl + NAME_ROOM + 1);
	if (!h->buf)
		return -ENOMEM;
	memcpy(h->buf, h->point, pl);
	memcpy(h->buf + pl, rel, rl);
	h->base = pl;
	h->len = pl + rl;
	h->buf[h->len] = 0;
	if (h->len > pl) {
		int d = dir_state(h->buf);

		if (d < 0)
			return d;
		if (!d) {
			h->len = pl;
			h->buf[pl] = 0;
			h->own = false;
		}
	}
	return 0;
}

/* A copy of the directory [s, s + len): "/" for the empty prefix. */
static char *dir_dup(const char *s, size_t len)
{
	return len ? dup_n(s, len) : dup_n("/", 1);
}

/*
 * Put the path of @name in the directory buf[0, len) into @h->buf (which
 * overwrites what follows @len: levels are walked upwards only).
 */
static const char *level_path(struct hier *h, size_t len, const char *name)
{
	h->buf[len] = '/';
	strcpy(h->buf + len + 1, name);
	return h->buf;
}

/*
 * Read @name in the directory buf[0, len) as a cgroup number.  Running out
 * of memory or descriptors is also kept in @h->err: discovery then fails
 * rather than take the level for one without a limit.
 */
static int read_level(struct hier *h, size_t len, const char *name,
		      uint64_t *ret)
{
	char val[64];
	int r;

	r = tide__file_read(-1, level_path(h, len, name), val, sizeof(val));
	h->buf[len] = 0;
	if (tide__os_exhausted(r) && !h->err)
		h->err = r;
	if (!r)
		r = tide__parse_u64(val, ret);
	return r;
}

struct best {
	uint64_t limit;
	int version;
	const char *file;
	size_t len; /* the limiting group is a prefix of the own directory */
};

static void offer(struct best *b, struct hier *h, size_t len, int version,
		  const char *file, uint64_t mem_total)
{
	uint64_t v;

	/* 0 (memory.max or memory.high written 0) leaves no room to keep
	 * anything under: not a limit to watch, the others still apply */
	if (read_level(h, len, file, &v) || !v || v >= mem_total ||
	    v >= b->limit)
		return;
	b->limit = v;
	b->version = version;
	b->file = file;
	b->len = len;
}

/*
 * Walk from the own directory up to the mount root, offering each level's
 * limits; a level whose file is missing, unreadable, special or malformed
 * offers nothing.  Clobbers @h->buf past each level it reads.
 */
static void walk(struct hier *h, int version, struct best *b,
		 uint64_t mem_total)
{
	size_t len = h->len;

	for (;;) {
		uint64_t uh = 1;

		/* v1: an ancestor's limit covers its children only with
		 * use_hierarchy (always on since Linux 5.11). */
		if (version == 1 && len < h->len &&
		    !read_level(h, len, "memory.use_hierarchy", &uh) && !uh)
			break;
		if (version == 1) {
			offer(b, h, len, 1, v1_limit_file, mem_total);
		} else {
			offer(b, h, len, 2, v2_max_file, mem_total);
			offer(b, h, len, 2, v2_high_file, mem_total);
		}
		if (len == h->base)
			break;
		/* The path under the mount starts with '/': found. */
		len = (size_t)((const char *)memrchr(h->buf + h->base, '/',
						     len - h->base) -
			       h->buf);
	}
}

/*
 * v1: the own group's hierarchical_memory_limit (memory.stat), the
 * smallest limit of the group and its ancestors as the kernel charges
 * them, those above the mount root included; UINT64_MAX when it cannot be
 * read.  Read before walk(), which clobbers the own directory's path.
 */
static uint64_t hier_limit(struct hier *h)
{
	uint64_t v = UINT64_MAX;
	char *text;
	int r;

	r = read_text(level_path(h, h->len, v1_stat_file), &text);
	h->buf[h->len] = 0;
	if (r) {
		if (tide__os_exhausted(r) && !h->err)
			h->err = r;
		return UINT64_MAX;
	}
	if (tide__cg_stat_value(text, TIDE__CG_HIER_KEY, &v))
		v = UINT64_MAX;
	tide__os_free(text);
	return v;
}

/*
 * A cgroup namespace, or a mount of a subtree, hides the groups above the
 * mount root from walk(): a container whose limit is set on its parent
 * group (the runtime's) sees only unlimited groups (a trial's process was
 * OOM-killed with no limit found).  The own group's @hier limit
 * (hier_limit()) lower than anything the walk found means the limiting
 * group is above the mount root (when the walk started at the own group,
 * or at a mount root above it: a mount of an unrelated subtree says
 * nothing of the process): the mount root, the highest group the
 * process can read, stands for it (its usage is the closest to the
 * limiting group's: all of it when the container is the parent's only
 * group), with the limit in its memory.stat.  The JDK reads the same key.
 */
static void hidden_limit(struct hier *h, struct best *b, uint64_t hier,
			 uint64_t mem_total)
{
	/* a mount root that is neither the own group nor above it: its
	 * ancestors need not be the process's */
	if ((!h->own && !h->root_above) || hier >= mem_total ||
	    hier >= b->limit)
		return;
	b->limit = hier;
	b->version = 1;
	b->file = v1_stat_file;
	b->len = h->base;
}

int tide__kb_value(const char *text, const char *key, uint64_t *ret)
{
	size_t kl = strlen(key);
	const char *l;
	uint64_t kb;

	for (l = text; *l;) {
		const char *eol = strchrnul(l, '\n'), *s, *e;

		if (!strncmp(l, key, kl) && l[kl] == ':') {
			s = l + kl + 1;
			while (*s == ' ' || *s == '\t')
				s++;
			e = s + strspn(s, "0123456789");
			if (strncmp(e, " kB", 3) || (e[3] && e[3] != '\n') ||
			    parse_dec(s, e, &kb))
				return -EINVAL;
			*ret = kb > UINT64_MAX / 1024 ? UINT64_MAX : kb * 1024;
			return 0;
		}
		l = *eol ? eol + 1 : eol;
	}
	return -ENOENT;
}

static int mem_total(const char *path, uint64_t *ret)
{
	char *text;
	int r;

	r = read_text(path, &text);
	if (r)
		return r;
	r = tide__kb_value(text, "MemTotal", ret);
	tide__os_free(text);
	return r ? -EINVAL : 0;
}

int tide__meminfo_read(const char *path, uint64_t *ret_total,
		       uint64_t *ret_available)
{
	uint64_t total, avail;
	char *text;
	int r;

	r = read_text(path ? path : "/proc/meminfo", &text);
	if (r)
		return r;
	r = tide__kb_value(text, "MemTotal", &total);
	if (!r)
		r = tide__kb_value(text, "MemAvailable", &avail);
	tide__os_free(text);
	if (r)
		return -EINVAL;
	*ret_total = total;
	*ret_available = avail;
	return 0;
}

static int find_mounts(const char *path, const char *own1, const char *own2,
		       struct hier *h1, struct hier *h2, char **ret_text)
{
	char *text, *l;
	int r;

	r = read_text(path, &text);
	if (r)
		return r;
	for (l = text; *l;) {
		char *eol = strchrnul(l, '\n'), *next = *eol ? eol + 1 : eol;
		struct tide__mount m;

		*eol = 0;
		if (!tide__mount_parse(l, &m)) {
			if (own1 && !strcmp(m.fstype, "cgroup") &&
			    has_token(m.super_opts, strlen(m.super_opts),
				      "memory"))
				consider_mount(h1, &m, own1);
			else if (own2 && !strcmp(m.fstype, "cgroup2"))
				consider_mount(h2, &m, own2);
		}
		l = next;
	}
	*ret_text = text;
	return 0;
}

/* memory.current in the own v2 directory is a regular file: 1, 0, or an
 * exhausted error. */
static int has_memory_current(struct hier *h)
{
	int fd = tide__file_open(level_path(h, h->len, "memory.current"), false,
				 false);

	h->buf[h->len] = 0;
	if (fd < 0)
		return tide__os_exhausted(fd) ? fd : 0;
	tide__os_close(fd);
	return 1;
}

int tide__cg_discover(const struct tide__cg_paths *paths,
		      struct tide__cg_limit *ret)
{
	const struct tide__cg_paths none = { 0 };
	struct hier h1 = { 0 }, h2 = { 0 };
	struct best b = { .limit = UINT64_MAX };
	struct tide__cg_limit l = { .limit = UINT64_MAX };
	char *own1 = NULL, *own2 = NULL, *text = NULL;
	const char *limiting;
	int r;

	if (!paths)
		paths = &none;
	r = mem_total(paths->meminfo ? paths->meminfo : "/proc/meminfo",
		      &l.mem_total);
	if (r)
		return r;
	r = read_text(paths->proc_cgroup ? paths->proc_cgroup :
					   "/proc/self/cgroup",
		      &text);
	if (r)
		return r;
	r = tide__cg_parse_self(text, &own1, &own2);
	tide__os_free(text);
	text = NULL;
	if (r == -ENODEV)
		goto done; /* in no hierarchy with a memory controller */
	if (r)
		return r;
	r = find_mounts(paths->mountinfo ? paths->mountinfo :
					   "/proc/self/mountinfo",
			own1, own2, &h1, &h2, &text);
	if (r)
		goto out;
	if ((h1.point && (r = hier_dir(&h1))) ||
	    (h2.point && (r = hier_dir(&h2))))
		goto out;
	r = -ENOMEM;
	if (h1.buf && !(l.own_v1 = dir_dup(h1.buf, h1.len)))
		goto out;
	if (h2.buf && !(l.own_v2 = dir_dup(h2.buf, h2.len)))
		goto out;
	if (h2.buf) {
		r = has_memory_current(&h2);
		if (r < 0)
			goto out;
		l.v2_memory = r;
	}
	if (h1.buf) {
		uint64_t hier = hier_limit(&h1);

		walk(&h1, 1, &b, l.mem_total);
		hidden_limit(&h1, &b, hier, l.mem_total);
	}
	if (h2.buf)
		walk(&h2, 2, &b, l.mem_total);
	r = h1.err ? h1.err : h2.err;
	if (r)
		goto out;
	r = -ENOMEM;
	/* The limiting group is a prefix of the own directory it was in. */
	limiting = b.version == 1 ? l.own_v1 : b.version == 2 ? l.own_v2 : NULL;
	if (limiting && !(l.dir = dir_dup(limiting, b.len)))
		goto out;
	l.limit = b.limit;
	l.version = b.version;
	l.file = b.file;
done:
	*ret = l;
	r = 0;
	l = (struct tide__cg_limit){ 0 };
out:
	tide__cg_release(&l);
	tide__os_free(h1.buf);
	tide__os_free(h2.buf);
	tide__os_free(text);
	tide__os_free(own1);
	tide__os_free(own2);
	return r;
}

void tide__cg_release(struct tide__cg_limit *l)
{
	if (!l)
		return;
	tide__os_free(l->dir);
	tide__os_free(l->own_v1);
	tide__os_free(l->own_v2);
	l->dir = l->own_v1 = l->own_v2 = NULL;
}

/* ---- working set ---------------------------------------------------------- */

int tide__cg_ws_open(const char *dir, int version, struct tide__cg_ws *ret)
{
	char path[PATH_MAX];
	const char *usage =
		version == 1 ? "memory.usage_in_bytes" : "memory.current";
	int ufd, sfd, n;

	if (!dir || !*dir || (version != 1 && version != 2))
		return -EINVAL;
	n = snprintf(path, sizeof(path), "%s/%s", dir, usage);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	ufd = tide__file_open(path, false, false);
	if (ufd < 0)
		return ufd;
	snprintf(path, sizeof(path), "%s/memory.stat", dir);
	sfd = tide__file_open(path, false, false);
	if (sfd < 0) {
		tide__os_close(ufd);
		return sfd;
	}
	ret->version = version;
	ret->usage_fd = ufd;
	ret->stat_fd = sfd;
	return 0;
}

/* Read in chunks, so that a stat file of any size is scanned with a fixed
 * stack buffer; stop once every key is found. */
int tide__cg_stat_scan_keys(int fd, const char *const *keys, uint64_t *vals,
			    unsigned n)
{
	char buf[4096];
	size_t have = 0;
	off_t off = 0;
	unsigned found = 0, bad = 0, all;

	if (!n || n > 8)
		return -EINVAL;
	all = (1u << n) - 1;
	for (;;) {
		ssize_t n_read = tide__os_pread(fd, buf + have,
						sizeof(buf) - 1 - have, off);
		size_t end;
		char keep;

		if (n_read == -EINTR)
			continue;
		if (n_read < 0)
			return (int)n_read;
		off += n_read;
		have += (size_t)n_read;
		if (n_read) {
			const char *nl = memrchr(buf, '\n', have);

			end = nl ? (size_t)(nl - buf) + 1 : 0;
			if (!end) {
				if (have == sizeof(buf) - 1)
					return -EINVAL; /* a line too long */
				continue;
			}
		} else {
			end = have;
		}
		keep = buf[end];
		buf[end] = 0;
		for (unsigned i = 0; i < n; i++) {
			int r;

			if ((found | bad) & (1u << i))
				continue;
			r = tide__cg_stat_value(buf, keys[i], &vals[i]);
			if (!r)
				found |= 1u << i;
			else if (r != -ENOENT)
				bad |= 1u << i;
		}
		buf[end] = keep;
		if ((found | bad) == all || !n_read)
			return !found && bad ? -EINVAL : (int)found;
		memmove(buf, buf + end, have - end);
		have -= end;
	}
}

int tide__cg_stat_scan(int fd, const char *key, uint64_t *ret)
{
	int r = tide__cg_stat_scan_keys(fd, &key, ret, 1);

	return r < 0 ? r : r ? 0 : -ENOENT;
}

static int gone(int r)
{
	return r == -ENOENT || r == -ENODEV ? -ENODEV : r;
}

int tide__cg_ws_read(const struct tide__cg_ws *ws, uint64_t *ret_ws,
		     uint64_t *ret_usage)
{
	uint64_t usage, inactive = 0;
	struct stat st;
	char val[64];
	int r;

	r = tide__file_read(ws->usage_fd, NULL, val, sizeof(val));
	if (r)
		return gone(r);
	r = tide__parse_u64(val, &usage);
	if (r)
		return r;
	r = tide__cg_stat_scan(ws->stat_fd,
			       ws->version == 1 ? "total_inactive_file" :
						  "inactive_file",
			       &inactive);
	if (r && r != -ENOENT)
		return gone(r);
	/* A removed group's files read on where they are not cgroupfs. */
	r = tide__os_fstat(ws->usage_fd, &st);
	if (r)
		return gone(r);
	if (!st.st_nlink)
		return -ENODEV;
	if (ret_ws)
		*ret_ws = usage > inactive ? usage - inactive : 0;
	if (ret_usage)
		*ret_usage = usage;
	return 0;
}

void tide__cg_ws_close(struct tide__cg_ws *ws)
{
	if (!ws)
		return;
	if (ws->usage_fd >= 0)
		tide__os_close(ws->usage_fd);
	if (ws->stat_fd >= 0)
		tide__os_close(ws->stat_fd);
	ws->usage_fd = ws->stat_fd = -1;
}

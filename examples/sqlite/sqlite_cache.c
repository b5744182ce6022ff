// SPDX-License-Identifier: MIT
/*
 * sqlite_cache.c - SQLite's page cache as a tide shrinker (docs/shrinker.md,
 * "Whole-cache scans").  SQLite's only primitive for giving memory back,
 * sqlite3_db_release_memory(), frees every unused page of a connection at
 * once, so scan ignores nr_to_scan and returns what it freed: tide counts
 * it and moves on to the next shrinker.  The count comes from
 * sqlite3_status64(SQLITE_STATUS_MEMORY_USED), which does not take the
 * connection's mutex.  Built and run as a ctest test when libsqlite3-dev is
 * installed; exits 0 when tide_drop_caches() made SQLite give memory back.
 */
#define _GNU_SOURCE /* mkstemp */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>
#include <tide.h>

#define PAGE 4096

/* Pages of heap SQLite holds now (a hint; no connection mutex taken). */
static unsigned long sqlite_count(void *priv, struct tide_shrink_control *sc)
{
	sqlite3_int64 cur = 0, hi = 0;

	(void)priv;
	(void)sc;
	if (sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cur, &hi, 0))
		return 0;
	return (unsigned long)(cur / PAGE);
}

/* Drops every unused cached page of the connection: a whole-cache scan. */
static unsigned long sqlite_scan(void *priv, struct tide_shrink_control *sc)
{
	sqlite3 *db = priv;
	sqlite3_int64 before = 0, after = 0, hi;

	(void)sc;
	sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &before, &hi, 0);
	/* Takes the connection mutex: run reclaim from the db's own thread,
	 * or keep queries short. */
	if (sqlite3_db_release_memory(db) != SQLITE_OK)
		return TIDE_SHRINK_STOP;
	sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &after, &hi, 0);
	/* May be far more than sc->nr_to_scan: tide counts it and moves on. */
	return before > after ? (unsigned long)((before - after) / PAGE) : 0;
}

static const struct tide_shrinker_ops sqlite_ops = {
	.count_objects = sqlite_count,
	.scan_objects = sqlite_scan,
};

static int exec(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "sqlite: %s: %s\n", sql, err ? err : "?");
		sqlite3_free(err);
		return -1;
	}
	return 0;
}

int main(void)
{
	char path[] = "/tmp/tide-sqlite-XXXXXX";
	struct tide_shrinker *s;
	sqlite3_int64 cur, hi, filled;
	sqlite3 *db;
	unsigned long freed;
	int fd;

	fd = mkstemp(path);
	if (fd < 0)
		return 1;
	close(fd);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return 1;
	if (exec(db, "PRAGMA cache_size = -65536;"
		     "CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB);"
		     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
		     "SELECT i + 1 FROM n WHERE i < 40000) "
		     "INSERT INTO t SELECT i, randomblob(500) FROM n;"
		     "SELECT count(*), sum(length(v)) FROM t;"))
		return 1;

	s = tide_shrinker_alloc("sqlite-page-cache");
	if (!s)
		return 1;
	tide_shrinker_set_seeks(s, 4); /* pages come back from disk */
	tide_shrinker_register(s, &sqlite_ops, db);

	sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &filled, &hi, 0);
	freed = tide_drop_caches();
	sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cur, &hi, 0);
	printf("sqlite heap %lld KiB -> %lld KiB (%lu pages reported freed)\n",
	       (long long)filled >> 10, (long long)cur >> 10, freed);

	tide_shrinker_free(s);
	sqlite3_close(db);
	unlink(path);
	/* The ~20 MiB of cached pages went back. */
	return freed > 0 && cur < filled / 2 ? 0 : 1;
}

/* unit: what the cmocka unit tests share: the data directory, scratch
 * directories, and a fresh store on each driver (SQLite and PostgreSQL). */
#ifndef UNIT_H
#define UNIT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libpq-fe.h>

#include "base/json.h"
#include "store/store.h"

#define UNIT_FN static __attribute__((unused))

/* Every test binary gets share/ of this source tree: the executable is
 * build/t/test_x or build/san/t/test_x; __FILE__ is the fallback. */
UNIT_FN void unit_datadir(void)
{
	static const char *const rel[] = { "/../../share", "/../../../share" };
	char exe[PATH_MAX], dir[PATH_MAX + 32], probe[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	if (n > 0) {
		exe[n] = 0;
		*strrchr(exe, '/') = 0;
		for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
			snprintf(dir, sizeof dir, "%s%s", exe, rel[i]);
			snprintf(probe, sizeof probe, "%s/pricing.json", dir);
			if (access(probe, R_OK) == 0) {
				char *real = realpath(dir, NULL);

				setenv("AGENT_DATADIR", real ? real : dir, 1);
				free(real);
				return;
			}
		}
	}
	if (__FILE__[0] == '/') {
		snprintf(dir, sizeof dir, "%s", __FILE__);
		*strrchr(dir, '/') = 0;  /* t/unit */
		snprintf(probe, sizeof probe, "%s/../../share", dir);
		setenv("AGENT_DATADIR", probe, 1);
		return;
	}
	fprintf(stderr, "unit: cannot find the source tree's share/ directory\n");
	exit(1);
}

/* A fresh directory under $TMPDIR (malloc'd); NULL on failure. */
UNIT_FN char *unit_tmpdir(void)
{
	const char *t = getenv("TMPDIR");
	char buf[PATH_MAX];

	snprintf(buf, sizeof buf, "%s/agent-unit.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(buf))
		return NULL;
	return strdup(buf);
}

static int unit_rm1(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

UNIT_FN void unit_rmtree(const char *dir)
{
	if (dir)
		nftw(dir, unit_rm1, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes a whole file; returns 0 or -1. */
UNIT_FN int unit_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (!f)
		return -1;
	if (fputs(text, f) == EOF)
		rc = -1;
	if (fclose(f) == EOF)
		rc = -1;
	return rc;
}

/* Unsets every variable that changes what the library decides, so a test
 * starts from the documented defaults whatever the caller's environment. */
UNIT_FN void unit_clean_env(void)
{
	static const char *const vars[] = {
		"AGENT_NOW", "AGENT_DB", "AGENT_NAME", "AGENT_DAILY_BUDGET_USD",
		"AGENT_BUDGET_BUFFER_USD", "AGENT_DAILY_TOKEN_BUDGET",
		"AGENT_CYCLE_ESTIMATE_USD", "AGENT_COST_PER_MTOK_INPUT",
		"AGENT_COST_PER_MTOK_OUTPUT", "AGENT_PRICING_FILE", "AGENT_MAX_DOC_BYTES",
		"AGENT_DB_BUSY_TIMEOUT_MS", "TRAINING_GATE_MIN_ACCURACY",
		"TRAINING_GATE_MAX_LOSS", "TRAINING_GATE_MIN_LOSS_DECREASE",
		"BACKTEST_GATE_MIN_WIN_RATE", "BACKTEST_GATE_MAX_DRAWDOWN",
		"BACKTEST_GATE_MIN_SHARPE", NULL
	};

	for (const char *const *v = vars; *v; v++)
		unsetenv(*v);
}

/* ---------------------------------------------------------------- stores */

/*
 * Each test binary that touches the store runs its cases twice: once in a
 * group on SQLite (a fresh file in a fresh directory for every case), once
 * in a group on PostgreSQL (a database created for the group on the server
 * named by AGENT_TEST_PG, emptied before every case, dropped at the end).
 * Without AGENT_TEST_PG the PostgreSQL cases fail, unless
 * AGENT_TEST_NO_PG=1 says to skip them.
 */

struct unit_pg {
	char admin[4096];   /* AGENT_TEST_PG */
	char dbname[64];
	char uri[4352];     /* AGENT_TEST_PG with dbname in place of its database */
	char why[600];      /* why there is no database, when there is none */
	int ready;
};

static struct unit_pg unit_pg;
static enum store_driver unit_driver;

/* The URI with its database (the path after the authority) replaced. */
UNIT_FN int unit_pg_uri(const char *uri, const char *db, char *out, size_t n)
{
	const char *auth = strstr(uri, "://"), *path, *rest;

	if (!auth) {
		/* a key=value string: a later dbname overrides an earlier one */
		return snprintf(out, n, "%s dbname=%s", uri, db) >= (int)n ? -1 : 0;
	}
	path = strchr(auth + 3, '/');
	rest = strchr(auth + 3, '?');
	if (!path || (rest && path > rest)) {
		size_t alen = rest ? (size_t)(rest - uri) : strlen(uri);

		return snprintf(out, n, "%.*s/%s%s", (int)alen, uri, db, rest ? rest : "")
		       >= (int)n ? -1 : 0;
	}
	return snprintf(out, n, "%.*s/%s%s", (int)(path - uri), uri, db, rest ? rest : "")
	       >= (int)n ? -1 : 0;
}

/* Runs one statement on a libpq connection; returns 0 or -1 with why. */
UNIT_FN int unit_pq(PGconn *c, const char *sql, char *why, size_t n)
{
	PGresult *r = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(r);
	int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;

	if (rc && why)
		snprintf(why, n, "%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return rc;
}

static void unit_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;  /* "drop cascades to ..." is no news */
}

/* Runs sql on the database of uri (a fresh connection). */
UNIT_FN int unit_pq_on(const char *uri, const char *sql, char *why, size_t n)
{
	PGconn *c = PQconnectdb(uri);
	int rc;

	if (PQstatus(c) != CONNECTION_OK) {
		if (why)
			snprintf(why, n, "cannot connect to '%s': %s", uri, PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	PQsetNoticeProcessor(c, unit_quiet, NULL);
	rc = unit_pq(c, sql, why, n);
	PQfinish(c);
	return rc;
}

UNIT_FN int unit_group_sqlite(void **state)
{
	(void)state;
	unit_driver = STORE_SQLITE;
	return 0;
}

/* Creates unit_<pid>_<n> on the test server.  Never fails the group: a
 * missing server fails (or skips) each case, with the reason. */
UNIT_FN int unit_group_pg(void **state)
{
	static int seq;
	const char *url = getenv("AGENT_TEST_PG");
	char sql[128];

	(void)state;
	unit_driver = STORE_POSTGRES;
	memset(&unit_pg, 0, sizeof unit_pg);
	if (!url || !*url) {
		snprintf(unit_pg.why, sizeof unit_pg.why,
			 "AGENT_TEST_PG is not set: the PostgreSQL cases need a live server "
			 "(export AGENT_TEST_PG=$(sh t/pg start DIR), or AGENT_TEST_NO_PG=1 to skip them)");
		return 0;
	}
	snprintf(unit_pg.admin, sizeof unit_pg.admin, "%s", url);
	snprintf(unit_pg.dbname, sizeof unit_pg.dbname, "unit_%ld_%d", (long)getpid(), ++seq);
	if (unit_pg_uri(url, unit_pg.dbname, unit_pg.uri, sizeof unit_pg.uri) < 0) {
		snprintf(unit_pg.why, sizeof unit_pg.why, "AGENT_TEST_PG is too long");
		return 0;
	}
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", unit_pg.dbname);
	if (unit_pq_on(unit_pg.admin, sql, unit_pg.why, sizeof unit_pg.why) == 0)
		unit_pg.ready = 1;
	return 0;
}

UNIT_FN int unit_group_pg_end(void **state)
{
	char sql[128];

	(void)state;
	if (unit_pg.ready) {
		snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", unit_pg.dbname);
		if (unit_pq_on(unit_pg.admin, sql, unit_pg.why, sizeof unit_pg.why) < 0)
			fprintf(stderr, "unit: %s\n", unit_pg.why);
	}
	unit_pg.ready = 0;
	return 0;
}

/* One case's store. */
struct unit_db {
	enum store_driver driver;
	char *dir;          /* SQLite: the case's directory */
	char uri[4352];     /* what store_open gets */
	struct store *s;    /* open and migrated */
};

/* Fails (or, with AGENT_TEST_NO_PG=1, skips) a PostgreSQL case that has no
 * server.  Called first in every case body, where skip() is allowed. */
UNIT_FN void unit_need(const struct unit_db *db)
{
	const char *no = getenv("AGENT_TEST_NO_PG");

	if (db->driver != STORE_POSTGRES || unit_pg.ready)
		return;
	if (no && strcmp(no, "1") == 0 && !getenv("AGENT_TEST_PG")) {
		print_message("postgresql case skipped (AGENT_TEST_NO_PG=1)\n");
		skip();
	}
	fail_msg("postgresql: %s", unit_pg.why[0] ? unit_pg.why : "no test database");
}

/* Empties the group's database: the next store_open creates and migrates
 * the schema as on a new server. */
UNIT_FN int unit_pg_reset(void)
{
	return unit_pq_on(unit_pg.uri,
			  "DROP SCHEMA public CASCADE; CREATE SCHEMA public;",
			  unit_pg.why, sizeof unit_pg.why);
}

/* Per-case setup: a fresh, migrated store on the group's driver.  With
 * open = 0 the case opens it itself. */
UNIT_FN int unit_db_setup(void **state, int open)
{
	struct unit_db *db = calloc(1, sizeof *db);
	struct err e = ERR_INIT;

	if (!db)
		return -1;
	unit_clean_env();
	db->driver = unit_driver;
	*state = db;
	if (db->driver == STORE_SQLITE) {
		db->dir = unit_tmpdir();
		if (!db->dir)
			return -1;
		snprintf(db->uri, sizeof db->uri, "%s/agent.db", db->dir);
	} else {
		if (!unit_pg.ready)
			return 0;   /* unit_need fails or skips the case */
		snprintf(db->uri, sizeof db->uri, "%s", unit_pg.uri);
		if (unit_pg_reset() < 0) {
			unit_pg.ready = 0;
			return 0;
		}
	}
	if (open && store_open(&db->s, db->uri, &e)) {
		fprintf(stderr, "unit: store_open '%s': %s\n", db->uri, e.msg);
		return -1;
	}
	return 0;
}

UNIT_FN int unit_db_open(void **state)
{
	return unit_db_setup(state, 1);
}

UNIT_FN int unit_db_fresh(void **state)
{
	return unit_db_setup(state, 0);
}

UNIT_FN int unit_db_close(void **state)
{
	struct unit_db *db = *state;

	if (!db)
		return 0;
	store_close(db->s);
	unit_rmtree(db->dir);
	free(db->dir);
	free(db);
	*state = NULL;
	return 0;
}

/* The case's store, after unit_need. */
UNIT_FN struct unit_db *unit_db(void **state)
{
	struct unit_db *db = *state;

	unit_need(db);
	return db;
}

/* Both groups of one table of cases; the exit status of a test binary. */
#define UNIT_RUN_BOTH(tests_sqlite, tests_pg) \
	((cmocka_run_group_tests_name("sqlite", tests_sqlite, unit_group_sqlite, NULL) != 0) | \
	 (cmocka_run_group_tests_name("postgres", tests_pg, unit_group_pg, unit_group_pg_end) != 0))

/* ---------------------------------------------------------------- jv */

/* Parses JSON text for a test; fails the test when it does not parse. */
UNIT_FN jv unit_json(const char *text)
{
	jv v = jv_parse(text);

	if (!jv_is_valid(v)) {
		jv_free(v);
		fail_msg("unit: bad JSON in a test: %s", text);
	}
	return v;
}

/* Asserts that a (borrowed) jv equals the JSON text. */
#define assert_jv_equal(v, text) \
	do { \
		jv want_ = unit_json(text); \
		if (!jv_equal(jv_copy(want_), jv_copy(v))) { \
			jv got_ = jv_dump_string(jv_copy(v), 0); \
			jv exp_ = jv_dump_string(want_, 0); \
			fail_msg("got %s, want %s", jv_string_value(got_), jv_string_value(exp_)); \
		} \
		jv_free(want_); \
	} while (0)

/* A number at path of a (borrowed) object, or fails. */
UNIT_FN double unit_num(jv v, const char *path)
{
	double d;

	if (!json_number(v, path, &d)) {
		jv t = jv_dump_string(jv_copy(v), 0);

		fail_msg("unit: '%s' is not a number in %s", path, jv_string_value(t));
	}
	return d;
}

/* The kind of obj[key] (obj borrowed). */
UNIT_FN jv_kind unit_kind(jv obj, const char *key)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	jv_kind k = jv_get_kind(v);

	jv_free(v);
	return k;
}

/* A string at path of a (borrowed) object ("" when absent), static. */
UNIT_FN const char *unit_str(jv v, const char *path)
{
	static char buf[4][512];
	static int k;
	char *s = json_string(v, path);
	char *out = buf[k++ % 4];

	snprintf(out, sizeof buf[0], "%s", s ? s : "");
	free(s);
	return out;
}

#endif

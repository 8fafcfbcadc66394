/* store_sqlite: the embedded driver; WAL, bounded busy timeout. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sqlite3.h>

#include "base/json.h"
#include "store/store_int.h"

#define CACHE_SIZE 64

struct stmt_cache {
	const char *name[CACHE_SIZE];   /* the statement's SQL, in the static SQL table */
	sqlite3_stmt *stmt[CACHE_SIZE];
	int n;
	int wal_frames;                 /* the WAL's length after our last commit */
};

/* Past this many frames in the WAL (~256 KiB) the writer that closes
 * checkpoints it and truncates it to zero bytes.  Below it the WAL stays:
 * each process of a tick that is the first to open rebuilds the WAL index
 * by reading every frame, which costs far less at this length than the
 * three syncs of a checkpoint on every close. */
#define WAL_TRUNCATE_FRAMES 64
/* SQLite's own automatic checkpoint, which a WAL hook replaces. */
#define WAL_AUTOCHECKPOINT 1000

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct stmt_cache *c = arg;

	c->wal_frames = frames;
	if (frames >= WAL_AUTOCHECKPOINT)
		sqlite3_wal_checkpoint(db, name);
	return SQLITE_OK;
}

static int map_error(sqlite3 *db, int rc, const char *what, struct err *e)
{
	int code;
	const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return err_set(e, EX_TEMP, "sqlite: database is busy (%s)", what);
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_TOOBIG:
	case SQLITE_RANGE:
		code = EX_DATA;
		break;
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_NOMEM:
	case SQLITE_INTERRUPT:
	case SQLITE_PROTOCOL:
		code = EX_TEMP;
		break;
	default:
		code = EX_PERM;
	}
	return err_set(e, code, "sqlite: %s: %s", what, msg);
}

static int bind_one(sqlite3_stmt *st, int idx, jv v)
{
	int rc;

	switch (jv_get_kind(v)) {
	case JV_KIND_NULL:
		rc = sqlite3_bind_null(st, idx);
		break;
	case JV_KIND_TRUE:
		rc = sqlite3_bind_int(st, idx, 1);
		break;
	case JV_KIND_FALSE:
		rc = sqlite3_bind_int(st, idx, 0);
		break;
	case JV_KIND_NUMBER: {
		double d = jv_number_value(v);

		if (isfinite(d) && d == floor(d) && fabs(d) < 9.0e18)
			rc = sqlite3_bind_int64(st, idx, (sqlite3_int64)d);
		else
			rc = sqlite3_bind_double(st, idx, d);
		break;
	}
	case JV_KIND_STRING:
		rc = sqlite3_bind_text(st, idx, jv_string_value(v),
				       jv_string_length_bytes(jv_copy(v)), SQLITE_TRANSIENT);
		break;
	default: {
		char *s = json_dump(jv_copy(v));

		rc = s ? sqlite3_bind_text(st, idx, s, -1, free) : SQLITE_NOMEM;
	}
	}
	jv_free(v);
	return rc;
}

static jv column_value(sqlite3_stmt *st, int i)
{
	const char *decl = sqlite3_column_decltype(st, i);

	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		return jv_null();
	case SQLITE_INTEGER:
		if (decl && strcasecmp(decl, "BOOLEAN") == 0)
			return sqlite3_column_int(st, i) ? jv_true() : jv_false();
		return jv_number((double)sqlite3_column_int64(st, i));
	case SQLITE_FLOAT:
		return jv_number(sqlite3_column_double(st, i));
	default: {
		const char *t = (const char *)sqlite3_column_text(st, i);
		int n = sqlite3_column_bytes(st, i);

		if (decl && (strcasecmp(decl, "JSON") == 0 || strcasecmp(decl, "JSONB") == 0)) {
			struct err ignore = ERR_INIT;
			jv v;

			if (json_parse(t, (size_t)n, &v, &ignore) == 0)
				return v;
		}
		return jv_string_sized(t ? t : "", n);
	}
	}
}

static sqlite3_stmt *prepare(struct store *s, const char *name, const char *sql,
			     int *rc)
{
	struct stmt_cache *c = s->cache;
	sqlite3_stmt *st;

	/* keyed by the SQL text's address: the table's, stable for the process
	 * (a caller's name may live in a buffer it reuses) */
	for (int i = 0; i < c->n; i++)
		if (c->name[i] == sql)
			return c->stmt[i];
	*rc = sqlite3_prepare_v2(s->handle, sql, -1, &st, NULL);
	if (*rc != SQLITE_OK)
		return NULL;
	if (c->n < CACHE_SIZE) {
		c->name[c->n] = sql;
		c->stmt[c->n] = st;
		c->n++;
	}
	return st;
}

static int cached(struct store *s, sqlite3_stmt *st)
{
	struct stmt_cache *c = s->cache;

	for (int i = 0; i < c->n; i++)
		if (c->stmt[i] == st)
			return 1;
	return 0;
}

static int sq_exec(struct store *s, const char *name, const char *sql, jv params,
		   jv *rows, struct err *e)
{
	sqlite3 *db = s->handle;
	sqlite3_stmt *st;
	jv out = jv_array();
	int rc = SQLITE_OK, n, ret = 0;
	char pname[16];

	st = prepare(s, name, sql, &rc);
	if (!st) {
		jv_free(params);
		jv_free(out);
		return map_error(db, rc, name, e);
	}
	n = jv_array_length(jv_copy(params));
	for (int i = 0; i < n; i++) {
		int idx;

		snprintf(pname, sizeof pname, "$%d", i + 1);
		idx = sqlite3_bind_parameter_index(st, pname);
		if (idx == 0)
			continue;  /* the statement does not use this parameter */
		rc = bind_one(st, idx, jv_array_get(jv_copy(params), i));
		if (rc != SQLITE_OK) {
			ret = map_error(db, rc, name, e);
			goto out;
		}
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (rows) {
			jv row = jv_object();
			int cols = sqlite3_column_count(st);

			for (int i = 0; i < cols; i++)
				row = jv_object_set(row, jv_string(sqlite3_column_name(st, i)),
						    column_value(st, i));
			out = jv_array_append(out, row);
		}
	}
	if (rc != SQLITE_DONE) {
		ret = map_error(db, rc, name, e);
		goto out;
	}
	s->changes = sqlite3_changes(db);
out:
	jv_free(params);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (!cached(s, st))
		sqlite3_finalize(st);
	if (ret == 0 && rows)
		*rows = out;
	else
		jv_free(out);
	return ret;
}

static int sq_script(struct store *s, const char *sql, struct err *e)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->handle, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK) {
		int p = rc & 0xff;
		int code = p == SQLITE_BUSY || p == SQLITE_LOCKED || p == SQLITE_IOERR ||
				   p == SQLITE_PROTOCOL ? EX_TEMP : EX_PERM;

		err_set(e, code, "sqlite: %s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return code;
	}
	return 0;
}

static void sq_close(struct store *s)
{
	struct stmt_cache *c = s->cache;

	if (c)
		for (int i = 0; i < c->n; i++)
			sqlite3_finalize(c->stmt[i]);
	if (c && c->wal_frames >= WAL_TRUNCATE_FRAMES) {
		/* never waits: a busy WAL is left to the next writer */
		sqlite3_busy_timeout(s->handle, 0);
		sqlite3_wal_checkpoint_v2(s->handle, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
	}
	free(c);
	sqlite3_close(s->handle);
}

static const struct store_ops sqlite_ops = { sq_exec, sq_script, sq_close };

static int busy_timeout_ms(void)
{
	const char *t = getenv("AGENT_DB_BUSY_TIMEOUT_MS");
	long v = t && *t ? strtol(t, NULL, 10) : 5000;

	return v > 0 && v <= 600000 ? (int)v : 5000;
}

/* Before SQLite's first use: no global statistics of its memory (a mutex
 * around every allocation: ~10% of a short process's instructions) and no
 * mutexes on a connection (each is used by one thread). */
static pthread_once_t configured = PTHREAD_ONCE_INIT;

static void configure(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
}

int store_sqlite_open(struct store *s, const char *path, struct err *e)
{
	sqlite3 *db = NULL;
	int rc;

	pthread_once(&configured, configure);
	rc = sqlite3_open_v2(path, &db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_NOMUTEX,
			     NULL);
	if (rc != SQLITE_OK) {
		err_set(e, EX_PERM, "sqlite: cannot open '%s': %s", path,
			db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return EX_PERM;
	}
	sqlite3_busy_timeout(db, busy_timeout_ms());
	sqlite3_extended_result_codes(db, 0);
	s->handle = db;
	s->driver = STORE_SQLITE;
	s->ops = &sqlite_ops;
	s->cache = calloc(1, sizeof(struct stmt_cache));
	if (!s->cache) {
		sqlite3_close(db);
		return err_set(e, EX_TEMP, "out of memory");
	}
	/* WAL lets readers (operator views) run beside the tick's writer.
	 * synchronous=NORMAL survives any crash of a process; store_durable()
	 * asks for FULL where money is written.  A tick is five short-lived
	 * processes: none checkpoints on close (three syncs each); the WAL
	 * file stays, and the writer that finds it past WAL_TRUNCATE_FRAMES
	 * checkpoints and truncates it when it closes. */
	{
		int one = 1;

		sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
		sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
		sqlite3_wal_hook(db, wal_hook, s->cache);
	}
	/* Two processes creating the file at once can see each other's WAL
	 * half set up (busy, or an I/O error on a WAL not yet written): a few
	 * short, bounded retries. */
	for (int tries = 0;; tries++) {
		rc = sq_script(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
				  " PRAGMA journal_size_limit=0; PRAGMA foreign_keys=ON;", e);
		if (rc != EX_TEMP || tries >= 5)
			break;
		sqlite3_sleep(20 * (tries + 1));
	}
	if (rc) {
		sq_close(s);
		err_wrap(e, "cannot open '%s'", path);
		return rc;
	}
	return 0;
}

int store_sqlite_durable(struct store *s, struct err *e)
{
	return sq_script(s, "PRAGMA synchronous=FULL;", e);
}

/* store: driver selection, named statements, transactions, migrations. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/json.h"
#include "store/sqlfiles.h"
#include "store/store_int.h"

struct sqlent {
	const char *name;
	const char *sql;
};

struct sqltab {
	int loaded;
	struct sqlent *ents;
	size_t n;
};

static struct sqltab tabs[3];

/* Splits "-- name: x" sections of one file into the table. */
static void load_file(struct sqltab *t, const char *text)
{
	char *copy = strdup(text), *p = copy;

	if (!copy)
		return;
	if (strncmp(p, "-- name: ", 9) != 0)
		p = strstr(p, "\n-- name: ");
	while (p) {
		char *name, *eol, *next;
		struct sqlent *ne;

		if (*p == '\n')
			p++;
		name = p + 9;
		eol = strchr(name, '\n');
		if (!eol)
			break;
		*eol = 0;
		next = strstr(eol + 1, "\n-- name: ");
		if (next)
			*next = 0;  /* ends this statement; the marker follows */
		ne = realloc(t->ents, (t->n + 1) * sizeof *ne);
		if (!ne)
			break;
		t->ents = ne;
		t->ents[t->n].name = name;
		t->ents[t->n].sql = eol + 1;
		t->n++;
		if (!next)
			break;
		p = next + 1;
	}
	/* copy stays alive for the process: the table points into it */
}

const char *store_sql(enum store_driver d, const char *name)
{
	struct sqltab *t = &tabs[d];
	const char *dir = d == STORE_SQLITE ? "sqlite/" : "postgres/";

	if (!t->loaded) {
		/* driver-specific statements first: they override queries.sql */
		for (const struct sqlfile *f = sqlfiles; f->name; f++)
			if (strncmp(f->name, dir, strlen(dir)) == 0 &&
			    strstr(f->name, "queries"))
				load_file(t, f->text);
		for (const struct sqlfile *f = sqlfiles; f->name; f++)
			if (strcmp(f->name, "queries.sql") == 0)
				load_file(t, f->text);
		t->loaded = 1;
	}
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->ents[i].name, name) == 0)
			return t->ents[i].sql;
	return NULL;
}

const char *store_default_path(void)
{
	static char buf[4096];
	const char *db = getenv("AGENT_DB");
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");

	if (db && *db)
		return db;
	if (state && *state)
		snprintf(buf, sizeof buf, "%s/agent/agent.db", state);
	else
		snprintf(buf, sizeof buf, "%s/.local/state/agent/agent.db",
			 home && *home ? home : ".");
	return buf;
}

static int mkdir_p(const char *dir)
{
	char tmp[4096];

	snprintf(tmp, sizeof tmp, "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

static int is_postgres(const char *uri)
{
	return strncmp(uri, "postgresql://", 13) == 0 ||
	       strncmp(uri, "postgres://", 11) == 0 || strchr(uri, '=') != NULL;
}

int store_exists(const char *uri)
{
	struct stat st;

	if (!uri || !*uri)
		uri = getenv("AGENT_DB");
	if (!uri || !*uri)
		uri = store_default_path();
	return is_postgres(uri) || stat(uri, &st) == 0;
}

int store_open_raw(struct store **out, const char *uri, struct err *e)
{
	struct store *s = calloc(1, sizeof *s);
	int rc;

	*out = NULL;
	if (!s)
		return err_set(e, EX_TEMP, "out of memory");
	if (!uri || !*uri) {
		const char *env = getenv("AGENT_DB");

		uri = env && *env ? env : NULL;
	}
	if (!uri) {
		/* the default location is ours to create */
		char dir[4096], *slash;

		uri = store_default_path();
		snprintf(dir, sizeof dir, "%s", uri);
		slash = strrchr(dir, '/');
		if (slash) {
			*slash = 0;
			if (mkdir_p(dir) < 0) {
				free(s);
				return err_set(e, EX_PERM, "cannot create '%s': %s", dir,
					       strerror(errno));
			}
		}
	}
	if (is_postgres(uri))
		rc = store_pg_open(s, uri, e);
	else
		rc = store_sqlite_open(s, uri, e);
	if (rc) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int store_open(struct store **out, const char *uri, struct err *e)
{
	int rc = store_open_raw(out, uri, e), cur, latest;

	if (rc)
		return rc;
	rc = store_schema_version(*out, &cur, &latest, e);
	if (rc == 0 && cur > latest)
		rc = err_set(e, EX_PERM, "the store's schema (%d) is newer than this build's (%d): "
			     "upgrade the toolkit", cur, latest);
	if (rc == 0 && cur < latest)
		rc = store_migrate(*out, NULL, e);
	if (rc) {
		store_close(*out);
		*out = NULL;
	}
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->in_tx)
		store_rollback(s);
	s->ops->close(s);
	free(s);
}

enum store_driver store_driver(const struct store *s)
{
	return s->driver;
}

const char *store_driver_name(const struct store *s)
{
	return s->driver == STORE_SQLITE ? "sqlite" : "postgres";
}

int store_durable(struct store *s, struct err *e)
{
	/* SQLite cannot change it inside a transaction: callers set it first */
	if (s->driver != STORE_SQLITE || s->in_tx || s->durable)
		return 0;
	s->durable = 1;
	return store_sqlite_durable(s, e);
}

int store_query(struct store *s, const char *name, jv params, jv *rows, struct err *e)
{
	const char *sql = store_sql(s->driver, name);

	if (!sql) {
		jv_free(params);
		return err_set(e, EX_PERM, "no statement named '%s' for %s", name,
			       store_driver_name(s));
	}
	if (jv_get_kind(params) != JV_KIND_ARRAY) {
		jv_free(params);
		params = jv_array();
	}
	return s->ops->exec(s, name, sql, params, rows, e);
}

int store_query1(struct store *s, const char *name, jv params, jv *row, struct err *e)
{
	jv rows;
	int rc = store_query(s, name, params, &rows, e);

	if (rc)
		return rc;
	*row = jv_array_length(jv_copy(rows)) > 0 ? jv_array_get(jv_copy(rows), 0) : jv_null();
	jv_free(rows);
	return 0;
}

int64_t store_changes(struct store *s)
{
	return s->changes;
}

int store_begin(struct store *s, struct err *e)
{
	int rc;

	if (s->in_tx)
		return err_set(e, EX_PERM, "transaction already open");
	rc = store_query(s, "begin", jv_array(), NULL, e);
	if (rc == 0)
		s->in_tx = 1;
	return rc;
}

int store_commit(struct store *s, struct err *e)
{
	int rc = store_query(s, "commit", jv_array(), NULL, e);

	if (rc)
		store_rollback(s);
	s->in_tx = 0;
	return rc;
}

void store_rollback(struct store *s)
{
	struct err ignore = ERR_INIT;

	store_query(s, "rollback", jv_array(), NULL, &ignore);
	s->in_tx = 0;
}

int store_in_tx(const struct store *s)
{
	return s->in_tx;
}

/* Migrations are share/sql/<driver>/NNNN-name.sql, sorted by name. */
static int migration_version(const char *name, const char *dir)
{
	const char *base = name + strlen(dir);

	if (strncmp(name, dir, strlen(dir)) != 0 || base[0] < '0' || base[0] > '9')
		return -1;
	return atoi(base);
}

int store_schema_version(struct store *s, int *current, int *latest, struct err *e)
{
	const char *dir = s->driver == STORE_SQLITE ? "sqlite/" : "postgres/";
	jv row;
	int rc;

	*latest = 0;
	for (const struct sqlfile *f = sqlfiles; f->name; f++) {
		int v = migration_version(f->name, dir);

		if (v > *latest)
			*latest = v;
	}
	*current = 0;
	rc = store_query1(s, "schema_exists", jv_array(), &row, e);
	if (rc)
		return rc;
	if (jv_get_kind(row) == JV_KIND_NULL)
		return 0;
	jv_free(row);
	rc = store_query1(s, "schema_version", jv_array(), &row, e);
	if (rc)
		return rc;
	if (jv_get_kind(row) == JV_KIND_OBJECT) {
		int64_t max = 0, applied = 0;

		json_int(row, "version", &max);
		json_int(row, "applied", &applied);
		/* versions are 1..N: fewer rows than the highest means a gap (a
		 * migration that landed after a later one was applied), which
		 * counts as not migrated, so store_migrate fills it */
		*current = (int)(applied < max ? applied : max);
	}
	jv_free(row);
	return 0;
}

int store_migrate(struct store *s, jv *applied, struct err *e)
{
	const char *dir = s->driver == STORE_SQLITE ? "sqlite/" : "postgres/";
	jv done = jv_array(), have = jv_null();
	int rc;

	rc = store_begin(s, e);
	if (rc)
		goto out;
	rc = store_query(s, "schema_lock", jv_array(), NULL, e);
	if (rc == 0)
		rc = store_query(s, "schema_no_timeout", jv_array(), NULL, e);
	if (rc == 0)
		rc = store_query(s, "schema_create", jv_array(), NULL, e);
	/* another process may have migrated while we waited for the lock:
	 * apply exactly the versions not recorded yet */
	if (rc == 0)
		rc = store_query(s, "schema_list", jv_array(), &have, e);
	for (const struct sqlfile *f = sqlfiles; rc == 0 && f->name; f++) {
		int v = migration_version(f->name, dir), seen = 0, n;

		if (v <= 0)
			continue;
		n = jv_array_length(jv_copy(have));
		for (int i = 0; i < n && !seen; i++) {
			jv row = jv_array_get(jv_copy(have), i);
			int64_t hv = 0;

			seen = json_int(row, "version", &hv) && hv == v;
			jv_free(row);
		}
		if (seen)
			continue;
		rc = s->ops->script(s, f->text, e);
		if (rc) {
			err_wrap(e, "migration %s", f->name);
			break;
		}
		rc = store_query(s, "schema_record",
				 jv_array_append(jv_array_append(jv_array(), jv_number(v)),
						 jv_string(f->name + strlen(dir))),
				 NULL, e);
		done = jv_array_append(done, jv_number(v));
	}
	if (rc) {
		store_rollback(s);
		goto out;
	}
	rc = store_commit(s, e);
out:
	jv_free(have);
	if (applied && rc == 0)
		*applied = done;
	else
		jv_free(done);
	return rc;
}

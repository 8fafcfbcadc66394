/* store: one interface over SQLite and PostgreSQL; rows as jv objects. */
#ifndef STORE_H
#define STORE_H

#include <stdint.h>
#include <jv.h>

#include "base/err.h"

/*
 * A store is selected by a URI: "postgresql://", "postgres://" or a libpq
 * "key=value" string uses PostgreSQL; anything else is a SQLite path.  With
 * no URI, AGENT_DB, then $XDG_STATE_HOME/agent/agent.db (or
 * ~/.local/state/agent/agent.db).
 *
 * Statements are named: the SQL lives in share/sql (queries.sql, with
 * per-driver overrides), compiled in, with $1..$n parameters.  Nothing here
 * builds SQL from strings.
 *
 * Parameters are a jv array (consumed): numbers, strings, booleans, null;
 * objects and arrays are bound as JSON text.  Rows come back as objects keyed
 * by column name: integers and reals as numbers, JSON columns parsed,
 * booleans as booleans, NULL as null.
 *
 * Errors: EX_TEMP when the database is busy, locked past the bounded
 * timeout, or unreachable; EX_DATA for a constraint the input broke; EX_PERM
 * for configuration (cannot open, auth, schema).
 */

struct store;

enum store_driver { STORE_SQLITE = 1, STORE_POSTGRES = 2 };

/* Opens and applies pending migrations. */
int store_open(struct store **out, const char *uri, struct err *e);
/* Opens without migrating (agent-db status). */
int store_open_raw(struct store **out, const char *uri, struct err *e);
void store_close(struct store *s);

enum store_driver store_driver(const struct store *s);
const char *store_driver_name(const struct store *s);

/* Every commit from here on survives a power cut, not only a crash of the
 * process (SQLite: synchronous=FULL; PostgreSQL commits are durable
 * already).  For the processes that write money: holds, settlements.  Call
 * it outside a transaction (inside one it does nothing). */
int store_durable(struct store *s, struct err *e);

/* Runs statement `name`; *rows (when rows is not NULL) gets an array. */
int store_query(struct store *s, const char *name, jv params, jv *rows, struct err *e);
/* Runs statement `name`; *row gets the first row or null. */
int store_query1(struct store *s, const char *name, jv params, jv *row, struct err *e);
/* Rows changed by the last statement. */
int64_t store_changes(struct store *s);

/* A write transaction (SQLite: BEGIN IMMEDIATE). */
int store_begin(struct store *s, struct err *e);
int store_commit(struct store *s, struct err *e);
void store_rollback(struct store *s);
int store_in_tx(const struct store *s);

/* Applies pending migrations in one transaction; *applied (optional) lists
 * the versions applied now. */
int store_migrate(struct store *s, jv *applied, struct err *e);
/* Current schema version and the latest one this build knows. */
int store_schema_version(struct store *s, int *current, int *latest, struct err *e);

/* Whether opening uri (NULL: AGENT_DB, else the default path) would find a
 * store rather than create one: a PostgreSQL URI, or a SQLite file that
 * exists. */
int store_exists(const char *uri);

/* The default SQLite path (static buffer). */
const char *store_default_path(void);

#endif

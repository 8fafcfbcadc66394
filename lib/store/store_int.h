/* store_int: what the store drivers share; not for callers of store.h. */
#ifndef STORE_INT_H
#define STORE_INT_H

#include "store/store.h"

struct store_ops {
	/* One statement with $n parameters (consumed); rows optional. */
	int (*exec)(struct store *s, const char *name, const char *sql, jv params,
		    jv *rows, struct err *e);
	/* Several statements, no parameters (migrations). */
	int (*script)(struct store *s, const char *sql, struct err *e);
	void (*close)(struct store *s);
};

struct store {
	const struct store_ops *ops;
	enum store_driver driver;
	int in_tx;
	int durable;   /* store_durable was applied */
	int64_t changes;
	void *handle;
	void *cache;   /* driver's prepared statements */
};

int store_sqlite_open(struct store *s, const char *path, struct err *e);
int store_pg_open(struct store *s, const char *conninfo, struct err *e);
int store_sqlite_durable(struct store *s, struct err *e);

/* The named statement's SQL for a driver, or NULL. */
const char *store_sql(enum store_driver d, const char *name);

#endif

/* sqlfiles: the SQL of share/sql, compiled in by build-aux/embed-sql. */
#ifndef SQLFILES_H
#define SQLFILES_H

struct sqlfile {
	const char *name;  /* "sqlite/0001-init.sql" */
	const char *text;
};

/* Sorted by name; ends with { 0, 0 }. */
extern const struct sqlfile sqlfiles[];

#endif

/* store_pg: the PostgreSQL driver (libpq); bounded connect and lock waits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libpq-fe.h>

#define DL_REDIRECT_PQ
#include "base/dl.h"
#include "base/dl_int.h"

#include "base/json.h"
#include "store/store_int.h"

/* Type OIDs from pg_type.h (stable across releases). */
enum { OID_BOOL = 16, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23, OID_OID = 26,
       OID_JSON = 114, OID_FLOAT4 = 700, OID_FLOAT8 = 701, OID_NUMERIC = 1700,
       OID_JSONB = 3802 };

static void first_line(const char *in, char *out, size_t n)
{
	const char *p = in ? in : "unknown error";

	if (strncmp(p, "ERROR:  ", 8) == 0)
		p += 8;
	snprintf(out, n, "%s", p);
	out[strcspn(out, "\n")] = 0;
}

static int map_result(PGconn *c, PGresult *r, const char *what, struct err *e)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	char msg[300];
	int code = EX_PERM;

	first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(c), msg, sizeof msg);
	if (PQstatus(c) != CONNECTION_OK || !state)
		code = EX_TEMP;
	else if (strcmp(state, "08P01") == 0)
		code = EX_PERM;  /* a protocol violation is a bug here, not a network failure */
	else if (strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 ||
		 strncmp(state, "53", 2) == 0 || strncmp(state, "57", 2) == 0 ||
		 strcmp(state, "55P03") == 0)
		code = EX_TEMP;  /* connection, serialization, resources, timeouts */
	else if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
		code = EX_DATA;
	return err_set(e, code, "postgresql: %s: %s", what, msg);
}

/* PostgreSQL's json and jsonb refuse the escape \u0000 (a NUL has no place
 * in its text): it becomes U+FFFD, as a string with a NUL cannot be stored.
 * Only a real escape is changed: one preceded by an even number of
 * backslashes. */
static void no_nul_escapes(char *s)
{
	for (char *p = s; (p = strstr(p, "\\u0000")); p += 6) {
		size_t slashes = 0;

		for (char *q = p; q > s && q[-1] == '\\'; q--)
			slashes++;
		if (slashes % 2 == 0)
			memcpy(p + 2, "fffd", 4);
	}
}

/* Parameters travel as text; the server infers their types. */
static char *param_text(jv v)
{
	char buf[64];
	char *s = NULL;

	switch (jv_get_kind(v)) {
	case JV_KIND_NULL:
		break;
	case JV_KIND_TRUE:
		s = strdup("true");
		break;
	case JV_KIND_FALSE:
		s = strdup("false");
		break;
	case JV_KIND_NUMBER: {
		double d = jv_number_value(v);

		if (isfinite(d) && d == floor(d) && fabs(d) < 9.0e18)
			snprintf(buf, sizeof buf, "%lld", (long long)d);
		else
			snprintf(buf, sizeof buf, "%.17g", d);
		s = strdup(buf);
		break;
	}
	case JV_KIND_STRING:
		s = strdup(jv_string_value(v));
		break;
	default:
		s = json_dump(jv_copy(v));
		if (s)
			no_nul_escapes(s);
	}
	jv_free(v);
	return s;
}

static jv field_value(PGresult *r, int row, int col)
{
	const char *t;

	if (PQgetisnull(r, row, col))
		return jv_null();
	t = PQgetvalue(r, row, col);
	switch (PQftype(r, col)) {
	case OID_BOOL:
		return t[0] == 't' ? jv_true() : jv_false();
	case OID_INT2: case OID_INT4: case OID_INT8: case OID_OID:
	case OID_FLOAT4: case OID_FLOAT8: case OID_NUMERIC:
		return jv_number(strtod(t, NULL));
	case OID_JSON: case OID_JSONB: {
		struct err ignore = ERR_INIT;
		jv v;

		if (json_parse(t, strlen(t), &v, &ignore) == 0)
			return v;
		return jv_string(t);
	}
	default:
		return jv_string(t);
	}
}

static int pg_exec(struct store *s, const char *name, const char *sql, jv params,
		   jv *rows, struct err *e)
{
	PGconn *c = s->handle;
	int n = jv_array_length(jv_copy(params)), ret = 0;
	char **vals = calloc((size_t)(n ? n : 1), sizeof *vals);
	PGresult *r;
	ExecStatusType st;

	if (!vals) {
		jv_free(params);
		return err_set(e, EX_TEMP, "out of memory");
	}
	for (int i = 0; i < n; i++)
		vals[i] = param_text(jv_array_get(jv_copy(params), i));
	jv_free(params);
	r = PQexecParams(c, sql, n, NULL, (const char *const *)vals, NULL, NULL, 0);
	st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		ret = map_result(c, r, name, e);
	} else {
		const char *ct = PQcmdTuples(r);

		s->changes = ct && *ct ? strtoll(ct, NULL, 10) : 0;
		if (rows) {
			jv out = jv_array();
			int nr = PQntuples(r), nf = PQnfields(r);

			for (int i = 0; i < nr; i++) {
				jv row = jv_object();

				for (int j = 0; j < nf; j++)
					row = jv_object_set(row, jv_string(PQfname(r, j)),
							    field_value(r, i, j));
				out = jv_array_append(out, row);
			}
			*rows = out;
		}
	}
	PQclear(r);
	for (int i = 0; i < n; i++)
		free(vals[i]);
	free(vals);
	return ret;
}

static int pg_script(struct store *s, const char *sql, struct err *e)
{
	PGresult *r = PQexec(s->handle, sql);
	int ret = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		ret = map_result(s->handle, r, "script", e);
	PQclear(r);
	return ret;
}

static void pg_close(struct store *s)
{
	PQfinish(s->handle);
}

static const struct store_ops pg_ops = { pg_exec, pg_script, pg_close };

static void quiet_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;  /* NOTICEs (e.g. "relation already exists") are not ours to print */
}

int store_pg_open(struct store *s, const char *conninfo, struct err *e)
{
	/* Ours come first so the operator's connection string overrides them. */
	const char *keys[] = { "connect_timeout", "application_name", "options",
			       "dbname", NULL };
	const char *vals[] = { "5", "agent",
			       "-c lock_timeout=10s -c statement_timeout=60s"
			       " -c idle_in_transaction_session_timeout=60s",
			       conninfo, NULL };
	PQconninfoOption *opts;
	PGconn *c;
	char msg[300], *perr = NULL;
	size_t n;

	if (dl_libpq(e))
		return e->code;

	/* libpq quotes the text it cannot parse, and that text may hold a
	 * password: say what is wrong, not what was written */
	opts = PQconninfoParse(conninfo, &perr);
	if (!opts) {
		first_line(perr ? perr : "malformed", msg, sizeof msg);
		PQfreemem(perr);
		n = strcspn(msg, "\"");
		while (n > 0 && (msg[n - 1] == ' ' || msg[n - 1] == ':'))
			n--;
		msg[n] = 0;
		return err_set(e, EX_PERM, "postgresql: invalid connection string: %s", msg);
	}
	PQconninfoFree(opts);
	c = PQconnectdbParams(keys, vals, 1);
	if (!c)
		return err_set(e, EX_TEMP, "postgresql: out of memory");
	if (PQstatus(c) != CONNECTION_OK) {
		const char *m = PQerrorMessage(c);
		int code = (strstr(m, "authentication failed") || strstr(m, "password") ||
			    strstr(m, "does not exist") || strstr(m, "invalid"))
				   ? EX_PERM : EX_TEMP;

		first_line(m, msg, sizeof msg);
		PQfinish(c);
		return err_set(e, code, "postgresql: cannot connect: %s", msg);
	}
	PQsetNoticeProcessor(c, quiet_notice, NULL);
	s->handle = c;
	s->driver = STORE_POSTGRES;
	s->ops = &pg_ops;
	return 0;
}

/* test_store: the store on SQLite and on PostgreSQL: migrations, parameters
 * and rows, transactions, constraints, and what a busy, missing or broken
 * database does. */
#include <sys/stat.h>
#include <sys/wait.h>
#include <sqlite3.h>

#include "unit.h"
#include "base/clock.h"
#include "store/store_int.h"

/* session_create's trace id and its start: none, as a session made by hand */
#define NOTRACE(p) jv_array_append(jv_array_append((p), jv_null()), jv_null())

#define NOW 1795490400LL  /* 2026-11-24T03:20:00Z */

/* Literal fixture SQL run beside the store, on the driver's own API: rows
 * no named statement writes, and checks the store cannot make itself. */
static void native(const struct unit_db *db, const char *sql)
{
	if (db->driver == STORE_SQLITE) {
		sqlite3 *h = NULL;
		char *msg = NULL;

		assert_int_equal(sqlite3_open_v2(db->uri, &h, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
		sqlite3_busy_timeout(h, 2000);
		if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
			char copy[300];

			snprintf(copy, sizeof copy, "%s", msg ? msg : "?");
			sqlite3_free(msg);
			sqlite3_close(h);
			fail_msg("sqlite fixture '%s': %s", sql, copy);
		}
		sqlite3_close(h);
	} else {
		char why[600];

		if (unit_pq_on(db->uri, sql, why, sizeof why) < 0)
			fail_msg("postgresql fixture: %s", why);
	}
}

/* One text value from a native query (the first column of the first row). */
static void native_value(const struct unit_db *db, const char *sql, char *out, size_t n)
{
	out[0] = 0;
	if (db->driver == STORE_SQLITE) {
		sqlite3 *h = NULL;
		sqlite3_stmt *st = NULL;

		assert_int_equal(sqlite3_open_v2(db->uri, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
			snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
		sqlite3_close(h);
	} else {
		PGconn *c = PQconnectdb(db->uri);
		PGresult *r;

		assert_int_equal(PQstatus(c), CONNECTION_OK);
		r = PQexec(c, sql);
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
			snprintf(out, n, "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
		PQfinish(c);
	}
}

static jv P0(void)
{
	return jv_array();
}

static jv P2(jv a, jv b)
{
	return jv_array_append(jv_array_append(jv_array(), a), b);
}

static jv P4(jv a, jv b, jv c, jv d)
{
	return jv_array_append(jv_array_append(P2(a, b), c), d);
}

/* The 16 parameters of session_move, every optional one null. */
static jv move_params(int64_t id, const char *from, const char *to, int64_t now)
{
	jv p = jv_array();

	p = jv_array_append(p, jv_number((double)id));
	p = jv_array_append(p, jv_string(from));
	p = jv_array_append(p, jv_string(to));
	p = jv_array_append(p, jv_null());
	p = jv_array_append(p, jv_null());
	p = jv_array_append(p, jv_number((double)now));
	for (int i = 7; i <= 16; i++)
		p = jv_array_append(p, jv_null());
	return p;
}

static int64_t new_session(struct store *s, const char *agent, int64_t now)
{
	struct err e = ERR_INIT;
	jv row;
	int64_t id = 0;

	if (store_query1(s, "session_create", NOTRACE(P2(jv_string(agent), jv_number((double)now))),
			 &row, &e))
		fail_msg("session_create: %s", e.msg);
	assert_true(json_int(row, "id", &id));
	assert_true(id > 0);
	jv_free(row);
	return id;
}

static jv get_session(struct store *s, int64_t id)
{
	struct err e = ERR_INIT;
	jv row;

	if (store_query1(s, "session_get", jv_array_append(jv_array(), jv_number((double)id)),
			 &row, &e))
		fail_msg("session_get: %s", e.msg);
	return row;
}

/* ---------------------------------------------------------------- both */

static void open_creates_and_migrates(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	int cur = -1, latest = -1;
	jv rows, first;

	if (db->driver == STORE_SQLITE) {
		struct stat st;

		assert_int_equal(stat(db->uri, &st), -1);  /* no file before */
	}
	if (store_open(&db->s, db->uri, &e))
		fail_msg("store_open: %s", e.msg);
	assert_int_equal(store_driver(db->s), db->driver);
	assert_string_equal(store_driver_name(db->s),
			    db->driver == STORE_SQLITE ? "sqlite" : "postgres");
	assert_int_equal(store_schema_version(db->s, &cur, &latest, &e), 0);
	assert_true(latest >= 1);
	assert_int_equal(cur, latest);
	assert_int_equal(store_query(db->s, "schema_list", P0(), &rows, &e), 0);
	assert_int_equal(jv_array_length(jv_copy(rows)), latest);
	first = jv_array_get(rows, 0);
	assert_int_equal(unit_num(first, "version"), 1);
	assert_string_equal(unit_str(first, "name"), "0001-init.sql");
	assert_true(unit_num(first, "applied_at") > 1.7e9);
	jv_free(first);
	/* every table the schema promises answers a query */
	assert_int_equal(store_query1(db->s, "budget_day", P2(jv_string("a"), jv_string("d")),
				      &rows, &e), 0);
	assert_int_equal(jv_get_kind(rows), JV_KIND_NULL);
	assert_int_equal(store_query1(db->s, "state_get", jv_array_append(jv_array(), jv_string("a")),
				      &rows, &e), 0);
	assert_int_equal(jv_get_kind(rows), JV_KIND_NULL);
	assert_false(store_in_tx(db->s));
}

static void migrate_twice_is_noop(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	int cur = -1, latest = -1;
	jv applied, rows;

	if (store_open_raw(&db->s, db->uri, &e))
		fail_msg("store_open_raw: %s", e.msg);
	assert_int_equal(store_schema_version(db->s, &cur, &latest, &e), 0);
	assert_int_equal(cur, 0);
	assert_int_equal(store_migrate(db->s, &applied, &e), 0);
	assert_int_equal(jv_array_length(jv_copy(applied)), latest);
	assert_true(jv_number_value(jv_array_get(jv_copy(applied), 0)) == 1);
	jv_free(applied);
	new_session(db->s, "keep", NOW);

	assert_int_equal(store_migrate(db->s, &applied, &e), 0);
	assert_jv_equal(applied, "[]");
	jv_free(applied);
	assert_int_equal(store_migrate(db->s, NULL, &e), 0);
	assert_int_equal(store_schema_version(db->s, &cur, &latest, &e), 0);
	assert_int_equal(cur, latest);

	/* opening a migrated store again changes nothing either */
	store_close(db->s);
	db->s = NULL;
	if (store_open(&db->s, db->uri, &e))
		fail_msg("store_open again: %s", e.msg);
	assert_int_equal(store_query(db->s, "schema_list", P0(), &rows, &e), 0);
	assert_int_equal(jv_array_length(rows), latest);
	rows = get_session(db->s, 1);
	assert_string_equal(unit_str(rows, "agent"), "keep");
	jv_free(rows);
}

/* Every kind of parameter through the columns of agent_sessions: the 16
 * parameters of session_move, read back by session_get. */
static void params_round_trip(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	int64_t id = new_session(db->s, "unit \"agent\" é", NOW);
	jv p = jv_array(), row;

	p = jv_array_append(p, jv_number((double)id));                 /* $1 int */
	p = jv_array_append(p, jv_string("designing"));                /* $2 */
	p = jv_array_append(p, jv_string("training"));                 /* $3 */
	p = jv_array_append(p, jv_null());                             /* $4 outcome */
	p = jv_array_append(p, jv_string("it's \"quoted\"; DROP TABLE x; -- ✓"));
	p = jv_array_append(p, jv_number(NOW + 60));                   /* $6 now */
	p = jv_array_append(p, jv_string("rsi_v1"));                   /* $7 */
	p = jv_array_append(p, unit_json("{\"a\":1.5,\"b\":[true,false,null],"
					 "\"c\":\"x\\\"y\",\"d\":{\"e\":-3}}"));
	p = jv_array_append(p, jv_null());                             /* $9 keeps NULL */
	p = jv_array_append(p, jv_string("op_123"));
	p = jv_array_append(p, unit_json("[1,2.25,{\"k\":\"v\"},[]]"));
	p = jv_array_append(p, jv_null());
	p = jv_array_append(p, jv_number(0.125));                      /* $13 a double */
	p = jv_array_append(p, jv_number(7));                          /* $14 an int */
	p = jv_array_append(p, unit_json("{\"passed\":true,\"checks\":[]}"));
	p = jv_array_append(p, unit_json("[]"));
	if (store_query(db->s, "session_move", p, NULL, &e))
		fail_msg("session_move: %s", e.msg);
	assert_int_equal(store_changes(db->s), 1);

	row = get_session(db->s, id);
	assert_int_equal(unit_num(row, "id"), id);
	assert_string_equal(unit_str(row, "agent"), "unit \"agent\" é");
	assert_string_equal(unit_str(row, "phase"), "training");
	assert_string_equal(unit_str(row, "failure_reason"), "it's \"quoted\"; DROP TABLE x; -- ✓");
	assert_string_equal(unit_str(row, "strategy_name"), "rsi_v1");
	assert_string_equal(unit_str(row, "training_operation_id"), "op_123");
	{
		jv x = jv_object_get(jv_copy(row), jv_string("strategy_config"));

		/* JSON columns come back parsed, not as text */
		assert_int_equal(jv_get_kind(x), JV_KIND_OBJECT);
		assert_jv_equal(x, "{\"a\":1.5,\"b\":[true,false,null],\"c\":\"x\\\"y\",\"d\":{\"e\":-3}}");
		jv_free(x);
		x = jv_object_get(jv_copy(row), jv_string("training_results"));
		assert_jv_equal(x, "[1,2.25,{\"k\":\"v\"},[]]");
		jv_free(x);
		x = jv_object_get(jv_copy(row), jv_string("backtest_results"));
		assert_jv_equal(x, "0.125");
		jv_free(x);
		x = jv_object_get(jv_copy(row), jv_string("assessment"));
		assert_jv_equal(x, "7");
		jv_free(x);
		x = jv_object_get(jv_copy(row), jv_string("training_gate"));
		assert_jv_equal(x, "{\"passed\":true,\"checks\":[]}");
		jv_free(x);
		x = jv_object_get(jv_copy(row), jv_string("backtest_gate"));
		assert_jv_equal(x, "[]");
		jv_free(x);
		/* NULL columns come back as null, integers as numbers */
		x = jv_object_get(jv_copy(row), jv_string("outcome"));
		assert_int_equal(jv_get_kind(x), JV_KIND_NULL);
		jv_free(x);
		x = jv_object_get(jv_copy(row), jv_string("strategy_path"));
		assert_int_equal(jv_get_kind(x), JV_KIND_NULL);
		jv_free(x);
		x = jv_object_get(jv_copy(row), jv_string("progress"));
		assert_int_equal(jv_get_kind(x), JV_KIND_NULL);
		jv_free(x);
	}
	assert_int_equal(unit_num(row, "created_at"), NOW);
	assert_int_equal(unit_num(row, "designing_at"), NOW);
	assert_int_equal(unit_num(row, "training_at"), NOW + 60);
	assert_int_equal(unit_num(row, "updated_at"), NOW + 60);
	assert_int_equal(unit_num(row, "retry_count"), 0);
	jv_free(row);
}

/* Large integers survive both drivers exactly (money is integer
 * micro-dollars), and an integral double binds as an integer. */
static void params_integers(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	jv row;

	assert_int_equal(store_query(db->s, "budget_ensure_day",
				     P4(jv_string("big"), jv_string("2026-11-24"),
					jv_number(9007199254740991.0), jv_number(NOW)),
				     NULL, &e), 0);
	assert_int_equal(store_query1(db->s, "budget_day", P2(jv_string("big"), jv_string("2026-11-24")),
				      &row, &e), 0);
	assert_true(unit_num(row, "limit_micros") == 9007199254740991.0);
	assert_int_equal(unit_num(row, "spent_micros"), 0);
	jv_free(row);
}

/* BOOLEAN columns come back as true/false on both drivers, and boolean
 * parameters bind as the column's booleans. */
static void booleans(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	jv row, p;

	assert_int_equal(store_query1(db->s, "lease_take",
				      P4(jv_string("a1"), jv_string("tick-1"), jv_number(NOW),
					 jv_number(NOW + 600)), &row, &e), 0);
	assert_int_equal(unit_kind(row, "paused"), JV_KIND_FALSE);
	jv_free(row);
	p = P4(jv_string("a1"), jv_true(), jv_string("ops"), jv_number(NOW));
	p = jv_array_append(jv_array_append(p, jv_number(NOW)), jv_string("operator"));
	assert_int_equal(store_query(db->s, "control_set_paused", p, NULL, &e), 0);
	assert_int_equal(store_query1(db->s, "state_get", jv_array_append(jv_array(), jv_string("a1")),
				      &row, &e), 0);
	assert_int_equal(unit_kind(row, "paused"), JV_KIND_TRUE);
	assert_string_equal(unit_str(row, "lease_holder"), "tick-1");
	jv_free(row);
	p = P4(jv_string("a1"), jv_false(), jv_null(), jv_null());
	p = jv_array_append(jv_array_append(p, jv_number(NOW + 1)), jv_null());
	assert_int_equal(store_query(db->s, "control_set_paused", p, NULL, &e), 0);
	assert_int_equal(store_query1(db->s, "control_state", jv_array_append(jv_array(), jv_string("a1")),
				      &row, &e), 0);
	assert_int_equal(unit_kind(row, "paused"), JV_KIND_FALSE);
	assert_int_equal(unit_kind(row, "pause_reason"), JV_KIND_NULL);
	jv_free(row);

	/* the trigger row's invoked flag, false from the insert, then set */
	p = P4(jv_string("a1"), jv_string("t1"), jv_number(NOW), jv_string("idle"));
	p = jv_array_concat(p, P4(jv_null(), jv_null(), jv_null(), jv_null()));
	p = jv_array_append(jv_array_append(p, jv_number(0)), jv_number(4900000));
	p = jv_array_append(p, jv_null());  /* detail */
	assert_int_equal(store_query(db->s, "trigger_insert", p, NULL, &e), 0);
	assert_int_equal(store_query1(db->s, "trigger_get", jv_array_append(jv_array(), jv_string("t1")),
				      &row, &e), 0);
	assert_int_equal(unit_kind(row, "invoked"), JV_KIND_FALSE);
	assert_int_equal(unit_num(row, "budget_remaining_micros"), 4900000);
	jv_free(row);
	p = P4(jv_string("t1"), jv_string("invoke"), jv_null(), jv_null());
	p = jv_array_append(jv_array_append(jv_array_append(p, jv_true()), jv_number(12)), jv_null());
	assert_int_equal(store_query(db->s, "trigger_update_decision", p, NULL, &e), 0);
	assert_int_equal(store_changes(db->s), 1);
	assert_int_equal(store_query1(db->s, "trigger_get", jv_array_append(jv_array(), jv_string("t1")),
				      &row, &e), 0);
	assert_int_equal(unit_kind(row, "invoked"), JV_KIND_TRUE);
	assert_string_equal(unit_str(row, "action"), "invoke");
	assert_int_equal(unit_num(row, "budget_spent_micros"), 12);
	assert_int_equal(unit_num(row, "budget_remaining_micros"), 4900000);
	jv_free(row);
	p = P4(jv_string("t1"), jv_null(), jv_null(), jv_null());
	p = jv_array_append(jv_array_append(jv_array_append(p, jv_false()), jv_null()), jv_null());
	assert_int_equal(store_query(db->s, "trigger_update_decision", p, NULL, &e), 0);
	assert_int_equal(store_query1(db->s, "trigger_get", jv_array_append(jv_array(), jv_string("t1")),
				      &row, &e), 0);
	assert_int_equal(unit_kind(row, "invoked"), JV_KIND_FALSE);
	assert_string_equal(unit_str(row, "action"), "invoke");
	jv_free(row);
}

/* A JSON column read back beside the store, parsed. */
static jv native_json(const struct unit_db *db, const char *sql)
{
	char text[1024];

	native_value(db, sql, text, sizeof text);
	return unit_json(text);
}

/* Every kind of parameter into agent_actions (no statement reads it back:
 * the driver's own API does). */
static void actions_round_trip(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	int64_t sid = new_session(db->s, "unit", NOW);
	char got[256];
	jv p = jv_array(), v;

	p = jv_array_append(p, jv_string("unit"));
	p = jv_array_append(p, jv_number((double)sid));
	p = jv_array_append(p, jv_null());                           /* invocation_id */
	p = jv_array_append(p, jv_string("tick-9"));
	p = jv_array_append(p, jv_string("toolu_01"));
	p = jv_array_append(p, jv_string("save_strategy_config"));
	p = jv_array_append(p, unit_json("{\"name\":\"rsi \\\"v1\\\"\",\"params\":{\"period\":14,"
					 "\"weight\":0.35,\"on\":true,\"tags\":[\"a\",null]}}"));
	p = jv_array_append(p, unit_json("[{\"ok\":false},2.5,\"é\"]"));
	p = jv_array_append(p, jv_false());                          /* success */
	p = jv_array_append(p, jv_null());                           /* error */
	p = jv_array_append(p, jv_number(1234));
	p = jv_array_append(p, jv_number(NOW));
	if (store_query(db->s, "action_insert", p, NULL, &e))
		fail_msg("action_insert: %s", e.msg);
	assert_int_equal(store_changes(db->s), 1);

	v = native_json(db, "SELECT arguments FROM agent_actions");
	assert_jv_equal(v, "{\"name\":\"rsi \\\"v1\\\"\",\"params\":{\"period\":14,\"weight\":0.35,"
			"\"on\":true,\"tags\":[\"a\",null]}}");
	jv_free(v);
	v = native_json(db, "SELECT result FROM agent_actions");
	assert_jv_equal(v, "[{\"ok\":false},2.5,\"é\"]");
	jv_free(v);
	native_value(db, "SELECT CASE WHEN success THEN 'yes' ELSE 'no' END || ' '"
			 " || COALESCE(error, 'NULL') || ' ' || COALESCE(invocation_id, -1)"
			 " || ' ' || session_id || ' ' || duration_ms || ' ' || tool_name"
			 " FROM agent_actions", got, sizeof got);
	{
		char want[256];

		snprintf(want, sizeof want, "no NULL -1 %lld 1234 save_strategy_config", (long long)sid);
		assert_string_equal(got, want);
	}
}

/* Ticks that open a new store at the same moment: one migrates, the
 * others wait and find the schema there. */
static void concurrent_first_open(void **state)
{
	enum { KIDS = 4 };
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	pid_t pids[KIDS];
	int cur, latest;
	jv rows;

	fflush(NULL);
	for (int k = 0; k < KIDS; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			struct store *s = NULL;
			struct err ce = ERR_INIT;
			int rc = store_open(&s, db->uri, &ce);

			if (rc == 0)
				rc = store_query(s, "session_create",
						 NOTRACE(P2(jv_string("kid"), jv_number(NOW))), NULL, &ce);
			if (rc)
				fprintf(stderr, "unit: child %d: %s\n", k, ce.msg);
			store_close(s);
			_exit(rc);
		}
	}
	for (int k = 0; k < KIDS; k++) {
		int st;

		assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
		assert_true(WIFEXITED(st));
		if (WEXITSTATUS(st) != 0)
			fail_msg("opener %d failed with %d", k, WEXITSTATUS(st));
	}
	assert_int_equal(store_open(&db->s, db->uri, &e), 0);
	assert_int_equal(store_schema_version(db->s, &cur, &latest, &e), 0);
	assert_int_equal(cur, latest);
	assert_int_equal(store_query(db->s, "schema_list", P0(), &rows, &e), 0);
	assert_int_equal(jv_array_length(rows), latest);
	rows = get_session(db->s, KIDS);
	assert_string_equal(unit_str(rows, "agent"), "kid");
	jv_free(rows);
}

static void unknown_statement(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	jv rows = jv_number(42);

	assert_int_equal(store_query(db->s, "no_such_statement",
				     jv_array_append(jv_array(), jv_string("x")), &rows, &e), EX_PERM);
	assert_int_equal(e.code, EX_PERM);
	assert_non_null(strstr(e.msg, "no_such_statement"));
	assert_non_null(strstr(e.msg, store_driver_name(db->s)));
	assert_int_equal(jv_get_kind(rows), JV_KIND_NUMBER);  /* untouched */
	assert_int_equal(store_query1(db->s, "", P0(), &rows, &e), EX_PERM);
	/* a name is a name, not SQL */
	assert_int_equal(store_query(db->s, "SELECT 1", P0(), NULL, &e), EX_PERM);
}

static void query1_no_rows_and_bad_params(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	jv row = jv_number(1);

	assert_int_equal(store_query1(db->s, "session_get",
				      jv_array_append(jv_array(), jv_number(999)), &row, &e), 0);
	assert_int_equal(jv_get_kind(row), JV_KIND_NULL);
	/* parameters that are not an array count as none */
	assert_int_equal(store_query(db->s, "schema_version", jv_object(), &row, &e), 0);
	assert_int_equal(jv_array_length(row), 1);
}

static void transactions(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	int64_t gone, kept;
	jv row;

	assert_int_equal(store_begin(db->s, &e), 0);
	assert_true(store_in_tx(db->s));
	assert_int_equal(store_begin(db->s, &e), EX_PERM);   /* no nesting */
	assert_non_null(strstr(e.msg, "already open"));
	assert_true(store_in_tx(db->s));
	gone = new_session(db->s, "rolled-back", NOW);
	row = get_session(db->s, gone);   /* visible inside */
	assert_int_equal(jv_get_kind(row), JV_KIND_OBJECT);
	jv_free(row);
	store_rollback(db->s);
	assert_false(store_in_tx(db->s));
	row = get_session(db->s, gone);
	assert_int_equal(jv_get_kind(row), JV_KIND_NULL);

	assert_int_equal(store_begin(db->s, &e), 0);
	kept = new_session(db->s, "committed", NOW);
	assert_int_equal(store_commit(db->s, &e), 0);
	assert_false(store_in_tx(db->s));
	row = get_session(db->s, kept);
	assert_string_equal(unit_str(row, "agent"), "committed");
	jv_free(row);

	/* closing with a transaction open discards it */
	assert_int_equal(store_begin(db->s, &e), 0);
	gone = new_session(db->s, "closed-open", NOW);
	store_close(db->s);
	db->s = NULL;
	assert_int_equal(store_open(&db->s, db->uri, &e), 0);
	row = get_session(db->s, gone);
	assert_int_equal(jv_get_kind(row), JV_KIND_NULL);
	row = get_session(db->s, kept);
	assert_int_equal(jv_get_kind(row), JV_KIND_OBJECT);
	jv_free(row);
}

static void constraint_violation(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	int64_t id = new_session(db->s, "c", NOW);
	jv row;

	/* a negative budget limit breaks CHECK (limit_micros >= 0) */
	assert_int_equal(store_query(db->s, "budget_ensure_day",
				     P4(jv_string("c"), jv_string("2026-11-24"), jv_number(-1),
					jv_number(NOW)), NULL, &e), EX_DATA);
	assert_int_equal(e.code, EX_DATA);
	assert_non_null(strstr(e.msg, "budget_ensure_day"));
	assert_int_equal(store_query1(db->s, "budget_day", P2(jv_string("c"), jv_string("2026-11-24")),
				      &row, &e), 0);
	assert_int_equal(jv_get_kind(row), JV_KIND_NULL);

	/* a phase outside the schema's list, past lib/session.c's table */
	assert_int_equal(store_query(db->s, "session_move", move_params(id, "designing", "bogus", NOW),
				     NULL, &e), EX_DATA);
	row = get_session(db->s, id);
	assert_string_equal(unit_str(row, "phase"), "designing");
	jv_free(row);

	/* inside a transaction: the error, then a rollback, then a working store */
	assert_int_equal(store_begin(db->s, &e), 0);
	new_session(db->s, "in-tx", NOW);
	assert_int_equal(store_query(db->s, "budget_ensure_day",
				     P4(jv_string("c"), jv_string("2026-11-24"), jv_number(-5),
					jv_number(NOW)), NULL, &e), EX_DATA);
	store_rollback(db->s);
	row = get_session(db->s, id + 1);
	assert_int_equal(jv_get_kind(row), JV_KIND_NULL);
	new_session(db->s, "after", NOW);
}

static void changes(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	jv p = P4(jv_string("ch"), jv_string("2026-11-24"), jv_number(5000000), jv_number(NOW));

	assert_int_equal(store_query(db->s, "budget_ensure_day", jv_copy(p), NULL, &e), 0);
	assert_int_equal(store_changes(db->s), 1);
	/* the same limit again: the conflict changes nothing */
	assert_int_equal(store_query(db->s, "budget_ensure_day", p, NULL, &e), 0);
	assert_int_equal(store_changes(db->s), 0);
	assert_int_equal(store_query(db->s, "budget_ensure_day",
				     P4(jv_string("ch"), jv_string("2026-11-24"), jv_number(7000000),
					jv_number(NOW)), NULL, &e), 0);
	assert_int_equal(store_changes(db->s), 1);
}

/* ---------------------------------------------------------------- SQLite */

static double since(int64_t t0)
{
	return (double)(clock_mono_us() - t0) / 1e6;
}

/* Another connection holds the write lock: the store waits its bounded
 * timeout and says "busy" (a retry may help), readers still read. */
static void sqlite_busy(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	sqlite3 *other = NULL;
	int64_t t0;
	double took;
	jv row;

	setenv("AGENT_DB_BUSY_TIMEOUT_MS", "100", 1);
	assert_int_equal(store_open(&db->s, db->uri, &e), 0);
	new_session(db->s, "before", NOW);
	assert_int_equal(sqlite3_open_v2(db->uri, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE; INSERT INTO agent_state"
				      " (agent, updated_at) VALUES ('x', 1)", NULL, NULL, NULL), SQLITE_OK);

	t0 = clock_mono_us();
	assert_int_equal(store_begin(db->s, &e), EX_TEMP);
	took = since(t0);
	assert_false(store_in_tx(db->s));
	assert_non_null(strstr(e.msg, "busy"));
	if (took >= 2.0 || took < 0.05)
		fail_msg("store_begin gave up after %.3f s; the timeout is 0.1 s", took);

	/* a write outside a transaction is refused the same way */
	t0 = clock_mono_us();
	assert_int_equal(store_query(db->s, "session_create",
				     NOTRACE(P2(jv_string("during"), jv_number(NOW))), NULL, &e), EX_TEMP);
	assert_true(since(t0) < 2.0);
	/* WAL: a reader is not blocked by the writer, nor is opening a store */
	row = get_session(db->s, 1);
	assert_string_equal(unit_str(row, "agent"), "before");
	jv_free(row);
	{
		struct store *reader = NULL;

		t0 = clock_mono_us();
		if (store_open(&reader, db->uri, &e))
			fail_msg("store_open beside a writer: %s", e.msg);
		assert_true(since(t0) < 2.0);
		row = get_session(reader, 1);
		assert_string_equal(unit_str(row, "agent"), "before");
		jv_free(row);
		store_close(reader);
	}

	assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(store_begin(db->s, &e), 0);
	new_session(db->s, "after", NOW);
	assert_int_equal(store_commit(db->s, &e), 0);
}

/* The store's file cannot grow (a full disk): the write fails, temporary,
 * and leaves the row as it was. */
static void sqlite_disk_full(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	int64_t id = new_session(db->s, "full", NOW);
	char *big = malloc(256u << 10);
	jv p, row;

	assert_non_null(big);
	memset(big, 'x', (256u << 10) - 1);
	big[(256u << 10) - 1] = 0;
	assert_int_equal(sqlite3_exec(db->s->handle, "PRAGMA max_page_count = 1",
				      NULL, NULL, NULL), SQLITE_OK);
	p = jv_array_set(move_params(id, "designing", "training", NOW + 1), 6, jv_string(big));
	free(big);
	assert_int_equal(store_query(db->s, "session_move", p, NULL, &e), EX_TEMP);
	assert_non_null(strstr(e.msg, "full"));
	row = get_session(db->s, id);
	assert_string_equal(unit_str(row, "phase"), "designing");
	assert_int_equal(unit_num(row, "updated_at"), NOW);
	jv_free(row);
}

static void sqlite_missing_dir(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	struct store *s = (struct store *)1;
	char path[4400];

	snprintf(path, sizeof path, "%s/no/such/dir/agent.db", db->dir);
	assert_int_equal(store_open(&s, path, &e), EX_PERM);
	assert_null(s);
	assert_non_null(strstr(e.msg, path));
	assert_non_null(strstr(e.msg, "cannot open"));
}

static void sqlite_not_a_database(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	struct store *s = NULL;
	char text[8192];

	for (size_t i = 0; i < sizeof text - 1; i++)
		text[i] = (char)('a' + i % 26);
	text[sizeof text - 1] = 0;
	assert_int_equal(unit_write_file(db->uri, text), 0);
	assert_int_equal(store_open(&s, db->uri, &e), EX_PERM);
	assert_null(s);
	assert_non_null(strstr(e.msg, "not a database"));
	assert_null(strchr(e.msg, '\n'));
}

/* No URI: AGENT_DB, else $XDG_STATE_HOME/agent/agent.db, created. */
static void sqlite_default_path(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	char want[4400], dir[4400];
	struct stat st;

	snprintf(dir, sizeof dir, "%s/state", db->dir);
	setenv("XDG_STATE_HOME", dir, 1);
	snprintf(want, sizeof want, "%s/agent/agent.db", dir);
	assert_string_equal(store_default_path(), want);
	assert_int_equal(store_open(&db->s, NULL, &e), 0);
	assert_int_equal(stat(want, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	store_close(db->s);
	db->s = NULL;

	setenv("AGENT_DB", db->uri, 1);
	assert_string_equal(store_default_path(), db->uri);
	assert_int_equal(store_open(&db->s, "", &e), 0);
	assert_int_equal(stat(db->uri, &st), 0);
	unsetenv("AGENT_DB");
	unsetenv("XDG_STATE_HOME");
}

/* ---------------------------------------------------------------- PostgreSQL */

/* host, user and port of AGENT_TEST_PG, as key=value pairs. */
static void pg_target(char *out, size_t n)
{
	PQconninfoOption *opts = PQconninfoParse(unit_pg.admin, NULL), *o;
	size_t len = 0;

	assert_non_null(opts);
	out[0] = 0;
	for (o = opts; o->keyword; o++)
		if (o->val && (strcmp(o->keyword, "host") == 0 || strcmp(o->keyword, "user") == 0 ||
			       strcmp(o->keyword, "port") == 0))
			len += (size_t)snprintf(out + len, n - len, "%s='%s' ", o->keyword, o->val);
	PQconninfoFree(opts);
}

static void pg_unreachable(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	struct store *s = (struct store *)1;
	char uri[4500];
	int64_t t0;

	(void)db;
	snprintf(uri, sizeof uri, "postgresql:///agent?host=/nonexistent/no/such/dir&user=postgres");
	t0 = clock_mono_us();
	assert_int_equal(store_open(&s, uri, &e), EX_TEMP);
	assert_true(since(t0) < 2.0);
	assert_null(s);
	assert_non_null(strstr(e.msg, "cannot connect"));
	assert_null(strchr(e.msg, '\n'));
}

static void pg_bad_database(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	struct store *s = (struct store *)1;
	char target[4200], conninfo[4400], uri[4600];
	const char *host;
	int rc;

	(void)db;
	pg_target(target, sizeof target);
	snprintf(conninfo, sizeof conninfo, "%s dbname=unit_no_such_db password=s3cret", target);
	rc = store_open(&s, conninfo, &e);
	if (rc != EX_PERM && rc != EX_TEMP)
		fail_msg("store_open on a missing database returned %d: %s", rc, e.msg);
	assert_null(s);
	assert_non_null(strstr(e.msg, "unit_no_such_db"));
	if (strstr(e.msg, "s3cret"))
		fail_msg("the message shows the password: %s", e.msg);

	/* the same with the password in a URI */
	host = strstr(unit_pg.admin, "host=");
	assert_non_null(host);
	if (strstr(unit_pg.admin, "://"))
		snprintf(uri, sizeof uri, "postgresql://postgres:s3cret@/unit_no_such_db?%s", host);
	else
		snprintf(uri, sizeof uri, "postgresql://postgres:s3cret@/unit_no_such_db?host=%.*s",
			 (int)strcspn(host + 5, " "), host + 5);
	rc = store_open(&s, uri, &e);
	assert_true(rc == EX_PERM || rc == EX_TEMP);
	assert_null(strstr(e.msg, "s3cret"));
	assert_non_null(strstr(e.msg, "unit_no_such_db"));
}

/* A connection string libpq cannot parse is a configuration error, and its
 * message does not repeat the text, which may hold a password. */
static void pg_malformed_conninfo(void **state)
{
	struct unit_db *db = unit_db(state);
	static const char *const bad[] = {
		"postgresql://postgres:s3cr%zzet@/agent_test?host=/tmp",
		"postgresql://postgres:s3cret@[::1/agent_test",
		"postgresql://postgres:s3cret@/agent_test?host=/tmp&no_such_option=1",
		"host=/tmp password='s3cret dbname=agent_test",
		"host=/tmp password=s3cret no_such_option=1",
	};

	(void)db;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct err e = ERR_INIT;
		struct store *s = (struct store *)1;
		int rc = store_open(&s, bad[i], &e);

		if (rc != EX_PERM)
			fail_msg("'%s': %d, %s", bad[i], rc, e.msg);
		assert_null(s);
		if (strstr(e.msg, "s3cr"))
			fail_msg("the message shows the password: %s", e.msg);
		assert_non_null(strstr(e.msg, "invalid connection string"));
	}
}

/* The server ends the connection under the store: temporary. */
static void pg_connection_lost(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	char sql[256];
	jv row;

	new_session(db->s, "lost", NOW);
	snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
		 " WHERE datname = '%s' AND application_name = 'agent'", unit_pg.dbname);
	native(db, sql);
	assert_int_equal(store_query1(db->s, "session_get",
				      jv_array_append(jv_array(), jv_number(1)), &row, &e), EX_TEMP);
	assert_null(strchr(e.msg, '\n'));
}

#define BOTH(f) cmocka_unit_test_setup_teardown(f, unit_db_open, unit_db_close)
#define FRESH(f) cmocka_unit_test_setup_teardown(f, unit_db_fresh, unit_db_close)
#define COMMON \
	FRESH(open_creates_and_migrates), \
	FRESH(migrate_twice_is_noop), \
	FRESH(concurrent_first_open), \
	BOTH(params_round_trip), \
	BOTH(params_integers), \
	BOTH(booleans), \
	BOTH(actions_round_trip), \
	BOTH(unknown_statement), \
	BOTH(query1_no_rows_and_bad_params), \
	BOTH(transactions), \
	BOTH(constraint_violation), \
	BOTH(changes)

int main(void)
{
	const struct CMUnitTest sqlite[] = {
		COMMON,
		FRESH(sqlite_busy),
		BOTH(sqlite_disk_full),
		FRESH(sqlite_missing_dir),
		FRESH(sqlite_not_a_database),
		FRESH(sqlite_default_path),
	};
	const struct CMUnitTest pg[] = {
		COMMON,
		FRESH(pg_unreachable),
		FRESH(pg_bad_database),
		FRESH(pg_malformed_conninfo),
		BOTH(pg_connection_lost),
	};

	unit_datadir();
	return UNIT_RUN_BOTH(sqlite, pg);
}

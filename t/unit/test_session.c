/* test_session: the state table of DESIGN §3, and session_move on SQLite
 * and on PostgreSQL. */
#include "unit.h"
#include "session.h"

#define NOW 1795490400LL

static const char *const phases[] = {
	"idle", "designing", "training", "backtesting", "assessing", NULL
};
static const char *const outcomes[] = {
	"success", "failed_design", "failed_training", "failed_training_gate",
	"failed_backtest", "failed_backtest_gate", "failed_assessment", "cancelled",
	"failed_interrupted", "failed_orphan", NULL
};

/* DESIGN §3, written out move by move (outcome "" for a forward move). */
static const struct { const char *from, *to, *outcome; } legal[] = {
	{ "idle", "designing", "" },
	{ "designing", "training", "" },
	{ "training", "backtesting", "" },
	{ "backtesting", "assessing", "" },
	{ "designing", "idle", "failed_design" },
	{ "training", "idle", "failed_training" },
	{ "training", "idle", "failed_training_gate" },
	{ "training", "idle", "failed_orphan" },
	{ "backtesting", "idle", "failed_backtest" },
	{ "backtesting", "idle", "failed_backtest_gate" },
	{ "backtesting", "idle", "failed_orphan" },
	{ "assessing", "idle", "success" },
	{ "assessing", "idle", "failed_assessment" },
	/* the operator and a crash can end any active phase */
	{ "designing", "idle", "cancelled" },
	{ "training", "idle", "cancelled" },
	{ "backtesting", "idle", "cancelled" },
	{ "assessing", "idle", "cancelled" },
	{ "designing", "idle", "failed_interrupted" },
	{ "training", "idle", "failed_interrupted" },
	{ "backtesting", "idle", "failed_interrupted" },
	{ "assessing", "idle", "failed_interrupted" },
};

static int is_legal(const char *from, const char *to, const char *outcome)
{
	for (size_t i = 0; i < sizeof legal / sizeof *legal; i++)
		if (strcmp(legal[i].from, from) == 0 && strcmp(legal[i].to, to) == 0 &&
		    strcmp(legal[i].outcome, outcome ? outcome : "") == 0)
			return 1;
	return 0;
}

static void every_legal_move(void **state)
{
	for (size_t i = 0; i < sizeof legal / sizeof *legal; i++) {
		const char *o = legal[i].outcome[0] ? legal[i].outcome : NULL;

		if (session_transition_ok(legal[i].from, legal[i].to, o) != 1)
			fail_msg("%s -> %s (%s) refused", legal[i].from, legal[i].to, legal[i].outcome);
	}
}

/* Every (from, to, outcome) over the phases, the outcomes, none and a
 * bogus one: exactly the table's moves are legal. */
static void the_whole_table(void **state)
{
	static const char *const extra[] = { NULL, "bogus", "" };
	int n = 0;

	for (const char *const *f = phases; *f; f++)
		for (const char *const *t = phases; *t; t++) {
			for (const char *const *o = outcomes; *o; o++, n++)
				if (session_transition_ok(*f, *t, *o) != is_legal(*f, *t, *o))
					fail_msg("%s -> %s with %s: wrong answer", *f, *t, *o);
			for (size_t k = 0; k < 3; k++, n++)
				if (session_transition_ok(*f, *t, extra[k]) !=
				    (k == 0 && is_legal(*f, *t, NULL)))
					fail_msg("%s -> %s with %s: wrong answer", *f, *t,
						 extra[k] ? extra[k] : "no outcome");
		}
	assert_int_equal(n, 5 * 5 * 13);
}

static void sample_illegal(void **state)
{
	assert_int_equal(session_transition_ok("idle", "training", NULL), 0);
	assert_int_equal(session_transition_ok("training", "designing", NULL), 0);
	assert_int_equal(session_transition_ok("idle", "idle", NULL), 0);
	assert_int_equal(session_transition_ok("idle", "idle", "cancelled"), 0);
	assert_int_equal(session_transition_ok("designing", "idle", NULL), 0);
	assert_int_equal(session_transition_ok("training", "idle", "success"), 0);
	assert_int_equal(session_transition_ok("designing", "idle", "failed_training"), 0);
	assert_int_equal(session_transition_ok("idle", "designing", "success"), 0);
	assert_int_equal(session_transition_ok("training", "training", NULL), 0);
	assert_int_equal(session_transition_ok("assessing", "backtesting", NULL), 0);
	assert_int_equal(session_transition_ok("designing", "bogus", NULL), 0);
	assert_int_equal(session_transition_ok("bogus", "idle", "cancelled"), 0);
	assert_int_equal(session_transition_ok(NULL, "designing", NULL), 0);
	assert_int_equal(session_transition_ok("idle", NULL, NULL), 0);
	assert_int_equal(session_transition_ok("IDLE", "designing", NULL), 0);
}

static void names(void **state)
{
	for (const char *const *p = phases; *p; p++)
		assert_true(session_is_phase(*p));
	for (const char *const *o = outcomes; *o; o++) {
		assert_true(session_is_outcome(*o));
		assert_false(session_is_phase(*o));
	}
	assert_false(session_is_phase("bogus"));
	assert_false(session_is_phase(""));
	assert_false(session_is_phase(NULL));
	assert_false(session_is_outcome("idle"));
	assert_false(session_is_outcome(NULL));
}

/* ---------------------------------------------------------------- store */

static int64_t create(struct store *s, const char *agent, int64_t now)
{
	struct err e = ERR_INIT;
	jv row;
	int64_t id = 0;

	if (store_query1(s, "session_create",
			 jv_array_append(jv_array_append(jv_array_append(jv_array_append(jv_array(),
					 jv_string(agent)), jv_number((double)now)), jv_null()), jv_null()),
			 &row, &e))
		fail_msg("session_create: %s", e.msg);
	assert_true(json_int(row, "id", &id));
	jv_free(row);
	return id;
}

static jv get(struct store *s, int64_t id)
{
	struct err e = ERR_INIT;
	jv row;

	if (session_get(s, id, &row, &e))
		fail_msg("session_get: %s", e.msg);
	assert_int_equal(jv_get_kind(row), JV_KIND_OBJECT);
	return row;
}

static void move(struct store *s, int64_t id, const char *from, const char *to,
		 jv fields, int64_t now)
{
	struct err e = ERR_INIT;

	if (session_move(s, id, from, to, fields, now, &e))
		fail_msg("%s -> %s: %s", from, to, e.msg);
}

static int is_null(jv row, const char *key)
{
	jv v = jv_object_get(jv_copy(row), jv_string(key));
	int r = jv_get_kind(v) == JV_KIND_NULL;

	jv_free(v);
	return r;
}

static void legal_move_updates(void **state)
{
	struct unit_db *db = unit_db(state);
	int64_t id = create(db->s, "unit", NOW);
	jv row;

	row = get(db->s, id);
	assert_string_equal(unit_str(row, "phase"), "designing");
	assert_int_equal(unit_num(row, "designing_at"), NOW);
	assert_true(is_null(row, "training_at"));
	jv_free(row);

	move(db->s, id, "designing", "training",
	     unit_json("{\"strategy_name\":\"rsi_v2\",\"strategy_config\":{\"rsi\":{\"period\":14}},"
		       "\"strategy_path\":\"strategies/rsi_v2.yaml\",\"training_operation_id\":\"op_t1\","
		       "\"not_a_column\":1}"), NOW + 100);
	row = get(db->s, id);
	assert_string_equal(unit_str(row, "phase"), "training");
	assert_int_equal(unit_num(row, "training_at"), NOW + 100);
	assert_int_equal(unit_num(row, "updated_at"), NOW + 100);
	assert_int_equal(unit_num(row, "created_at"), NOW);
	assert_int_equal(unit_num(row, "designing_at"), NOW);
	assert_string_equal(unit_str(row, "strategy_name"), "rsi_v2");
	assert_int_equal(unit_num(row, "strategy_config.rsi.period"), 14);
	assert_string_equal(unit_str(row, "training_operation_id"), "op_t1");
	assert_true(is_null(row, "outcome"));
	assert_true(is_null(row, "completed_at"));
	jv_free(row);
	{
		struct err e = ERR_INIT;

		assert_int_equal(session_active(db->s, "unit", &row, &e), 0);
		assert_int_equal(unit_num(row, "id"), id);
		jv_free(row);
		assert_int_equal(session_active(db->s, "someone-else", &row, &e), 0);
		assert_int_equal(jv_get_kind(row), JV_KIND_NULL);
	}

	/* fields not given keep their values */
	move(db->s, id, "training", "backtesting",
	     unit_json("{\"training_results\":{\"accuracy\":0.6},\"backtest_operation_id\":\"op_b1\"}"),
	     NOW + 200);
	move(db->s, id, "backtesting", "assessing",
	     unit_json("{\"backtest_results\":{\"sharpe\":1.2}}"), NOW + 300);
	move(db->s, id, "assessing", "idle",
	     unit_json("{\"outcome\":\"success\",\"assessment\":{\"verdict\":\"promising\"}}"), NOW + 400);
	row = get(db->s, id);
	assert_string_equal(unit_str(row, "phase"), "idle");
	assert_string_equal(unit_str(row, "outcome"), "success");
	assert_string_equal(unit_str(row, "strategy_name"), "rsi_v2");
	assert_true(unit_num(row, "training_results.accuracy") == 0.6);
	assert_true(unit_num(row, "backtest_results.sharpe") == 1.2);
	assert_string_equal(unit_str(row, "assessment.verdict"), "promising");
	assert_int_equal(unit_num(row, "backtesting_at"), NOW + 200);
	assert_int_equal(unit_num(row, "assessing_at"), NOW + 300);
	assert_int_equal(unit_num(row, "completed_at"), NOW + 400);
	assert_int_equal(unit_num(row, "training_at"), NOW + 100);
	jv_free(row);
	{
		struct err e = ERR_INIT;

		assert_int_equal(session_active(db->s, "unit", &row, &e), 0);
		assert_int_equal(jv_get_kind(row), JV_KIND_NULL);
	}
}

static void failing_end(void **state)
{
	struct unit_db *db = unit_db(state);
	int64_t id = create(db->s, "unit", NOW);
	jv row;

	move(db->s, id, "designing", "training", jv_object(), NOW + 10);
	move(db->s, id, "training", "idle",
	     unit_json("{\"outcome\":\"failed_training_gate\",\"failure_reason\":\"accuracy_below_threshold\","
		       "\"training_gate\":{\"passed\":false}}"), NOW + 20);
	row = get(db->s, id);
	assert_string_equal(unit_str(row, "outcome"), "failed_training_gate");
	assert_string_equal(unit_str(row, "failure_reason"), "accuracy_below_threshold");
	assert_int_equal(unit_kind(row, "training_gate"), JV_KIND_OBJECT);
	assert_int_equal(unit_num(row, "completed_at"), NOW + 20);
	assert_true(is_null(row, "backtesting_at"));
	jv_free(row);

	/* fields that are not an object count as none */
	id = create(db->s, "unit", NOW);
	move(db->s, id, "designing", "idle", unit_json("{\"outcome\":\"cancelled\"}"), NOW + 5);
	id = create(db->s, "unit", NOW);
	move(db->s, id, "designing", "training", jv_null(), NOW + 5);
}

static void stale_from(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	int64_t id = create(db->s, "unit", NOW);
	jv row;

	move(db->s, id, "designing", "training", jv_object(), NOW + 10);
	/* a second writer that still thinks the session is designing */
	assert_int_equal(session_move(db->s, id, "designing", "training",
				      unit_json("{\"strategy_name\":\"late\"}"), NOW + 20, &e), EX_TEMP);
	assert_non_null(strstr(e.msg, "designing"));
	assert_int_equal(session_move(db->s, id, "designing", "idle",
				      unit_json("{\"outcome\":\"failed_design\"}"), NOW + 20, &e), EX_TEMP);
	row = get(db->s, id);
	assert_string_equal(unit_str(row, "phase"), "training");
	assert_int_equal(unit_num(row, "updated_at"), NOW + 10);
	assert_int_equal(unit_num(row, "training_at"), NOW + 10);
	assert_true(is_null(row, "strategy_name"));
	assert_true(is_null(row, "outcome"));
	jv_free(row);
	/* no such session: nothing to move */
	assert_int_equal(session_move(db->s, id + 100, "designing", "training", jv_object(),
				      NOW, &e), EX_TEMP);
}

static void illegal_move(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	int64_t id = create(db->s, "unit", NOW);
	jv row;

	move(db->s, id, "designing", "training", jv_object(), NOW + 10);
	assert_int_equal(session_move(db->s, id, "training", "designing", jv_object(), NOW + 20, &e),
			 EX_PERM);
	assert_non_null(strstr(e.msg, "illegal transition training -> designing"));
	assert_int_equal(session_move(db->s, id, "training", "idle",
				      unit_json("{\"outcome\":\"success\"}"), NOW + 20, &e), EX_PERM);
	assert_non_null(strstr(e.msg, "success"));
	assert_int_equal(session_move(db->s, id, "training", "idle", jv_object(), NOW + 20, &e),
			 EX_PERM);
	assert_int_equal(session_move(db->s, id, "training", "bogus", jv_object(), NOW + 20, &e),
			 EX_PERM);
	assert_int_equal(session_move(db->s, id, "training", "idle",
				      unit_json("{\"outcome\":\"bogus\"}"), NOW + 20, &e), EX_PERM);
	assert_int_equal(session_move(db->s, id, "training", "training", jv_object(), NOW + 20, &e),
			 EX_PERM);
	row = get(db->s, id);
	assert_string_equal(unit_str(row, "phase"), "training");
	assert_int_equal(unit_num(row, "updated_at"), NOW + 10);
	jv_free(row);
	{
		jv none;

		assert_int_equal(session_get(db->s, id + 1, &none, &e), 0);
		assert_int_equal(jv_get_kind(none), JV_KIND_NULL);
	}
}

/* Inside the caller's transaction the move is the caller's to undo. */
static void move_in_transaction(void **state)
{
	struct unit_db *db = unit_db(state);
	struct err e = ERR_INIT;
	int64_t id = create(db->s, "unit", NOW);
	jv row;

	assert_int_equal(store_begin(db->s, &e), 0);
	move(db->s, id, "designing", "training", jv_object(), NOW + 10);
	assert_true(store_in_tx(db->s));
	store_rollback(db->s);
	row = get(db->s, id);
	assert_string_equal(unit_str(row, "phase"), "designing");
	jv_free(row);
}

#define DB(f) cmocka_unit_test_setup_teardown(f, unit_db_open, unit_db_close)
#define COMMON DB(legal_move_updates), DB(failing_end), DB(stale_from), DB(illegal_move), \
	DB(move_in_transaction)

int main(void)
{
	const struct CMUnitTest table[] = {
		cmocka_unit_test(every_legal_move),
		cmocka_unit_test(the_whole_table),
		cmocka_unit_test(sample_illegal),
		cmocka_unit_test(names),
	};
	const struct CMUnitTest sqlite[] = { COMMON };
	const struct CMUnitTest pg[] = { COMMON };
	int failed;

	unit_datadir();
	failed = cmocka_run_group_tests_name("session_table", table, NULL, NULL) != 0;
	return UNIT_RUN_BOTH(sqlite, pg) | failed;
}

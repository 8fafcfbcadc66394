/* test_budget: the hard daily cap on SQLite and on PostgreSQL: holds,
 * settlements, expiry, the UTC day, limits, tokens, bad settings, and a
 * store that refuses the write. */
#include <sys/wait.h>
#include <sqlite3.h>

#include "unit.h"
#include "budget.h"
#include "base/clock.h"
#include "pricing.h"
#include "store/store_int.h"

#define NOW_TEXT "2026-11-24T03:20:00Z"
#define NOW 1795490400LL
#define USD(x) ((int64_t)((x) * 1000000 + 0.5))

static int setup(void **state)
{
	int rc = unit_db_open(state);

	setenv("AGENT_NOW", NOW_TEXT, 1);
	return rc;
}

static struct budget_cfg cfg_at(const char *now)
{
	struct budget_cfg c;
	struct err e = ERR_INIT;

	setenv("AGENT_NOW", now, 1);
	if (budget_config(&c, "unit", &e))
		fail_msg("budget_config: %s", e.msg);
	return c;
}

static jv status(struct store *s, const struct budget_cfg *c)
{
	struct err e = ERR_INIT;
	jv st;

	if (budget_status(s, c, &st, &e))
		fail_msg("budget_status: %s", e.msg);
	return st;
}

/* Asserts the day's dollar figures, in micro-dollars. */
static void expect(struct store *s, const struct budget_cfg *c, int64_t spent, int64_t held,
		   int64_t invocations)
{
	jv st = status(s, c);

	if (pricing_micros(unit_num(st, "spent_usd")) != spent ||
	    pricing_micros(unit_num(st, "held_usd")) != held ||
	    (int64_t)unit_num(st, "invocations") != invocations) {
		jv d = jv_dump_string(st, 0);

		fail_msg("want spent %lld held %lld invocations %lld, got %s", (long long)spent,
			 (long long)held, (long long)invocations, jv_string_value(d));
	}
	jv_free(st);
}

static int64_t hold(struct store *s, const struct budget_cfg *c, int64_t amount, int64_t tokens,
		    int64_t ttl)
{
	struct err e = ERR_INIT;
	int64_t id = 0;
	jv out;

	if (budget_hold(s, c, amount, tokens, ttl, "unit", &out, &e))
		fail_msg("budget_hold %lld: %s", (long long)amount, e.msg);
	assert_true(json_int(out, "id", &id));
	assert_true(id > 0);
	jv_free(out);
	return id;
}

static jv hold_row(struct store *s, int64_t id)
{
	struct err e = ERR_INIT;
	jv row;

	if (store_query1(s, "budget_hold_get", jv_array_append(jv_array(), jv_number((double)id)),
			 &row, &e))
		fail_msg("budget_hold_get: %s", e.msg);
	return row;
}

static void fresh_day(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at(NOW_TEXT);
	jv st;

	assert_string_equal(c.agent, "unit");
	assert_string_equal(c.day, "2026-11-24");
	assert_int_equal(c.now, NOW);
	assert_int_equal(c.limit, USD(5));
	assert_int_equal(c.buffer, USD(0.1));
	assert_int_equal(c.token_limit, 0);
	st = status(db->s, &c);
	assert_string_equal(unit_str(st, "agent"), "unit");
	assert_string_equal(unit_str(st, "day"), "2026-11-24");
	assert_true(unit_num(st, "limit_usd") == 5);
	assert_true(unit_num(st, "buffer_usd") == 0.1);
	assert_true(unit_num(st, "spent_usd") == 0);
	assert_true(unit_num(st, "held_usd") == 0);
	assert_true(unit_num(st, "remaining_usd") == 5);
	assert_true(unit_num(st, "available_usd") == 4.9);
	assert_int_equal(unit_num(st, "invocations"), 0);
	assert_int_equal(unit_num(st, "cycles_affordable"), 32);   /* 4.90 / 0.15 */
	assert_string_equal(unit_str(st, "resets_at"), "2026-11-25T00:00:00Z");
	assert_int_equal(unit_kind(st, "limit_set"), JV_KIND_FALSE);
	assert_int_equal(unit_kind(st, "token_limit"), JV_KIND_NULL);
	jv_free(st);

	/* another agent's day is its own */
	setenv("AGENT_NAME", "other", 1);
	{
		struct budget_cfg o;
		struct err e = ERR_INIT;

		assert_int_equal(budget_config(&o, NULL, &e), 0);
		assert_string_equal(o.agent, "other");
		hold(db->s, &o, USD(1), 0, 60);
		expect(db->s, &c, 0, 0, 0);
		expect(db->s, &o, 0, USD(1), 0);
	}
}

static void hold_within_cap(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at(NOW_TEXT);
	struct err e = ERR_INIT;
	jv out, row;

	assert_int_equal(budget_hold(db->s, &c, USD(1.25), 5000, 300, "design", &out, &e), 0);
	assert_true(unit_num(out, "amount_usd") == 1.25);
	assert_int_equal(unit_num(out, "tokens"), 5000);
	assert_string_equal(unit_str(out, "expires_at"), "2026-11-24T03:25:00Z");
	assert_string_equal(unit_str(out, "day"), "2026-11-24");
	row = hold_row(db->s, (int64_t)unit_num(out, "id"));
	assert_string_equal(unit_str(row, "status"), "open");
	assert_string_equal(unit_str(row, "note"), "design");
	assert_int_equal(unit_num(row, "amount_micros"), USD(1.25));
	assert_int_equal(unit_num(row, "expires_at"), NOW + 300);
	jv_free(row);
	jv_free(out);
	expect(db->s, &c, 0, USD(1.25), 0);
	/* up to the cap exactly: 1.25 + 3.65 = 5.00 - 0.10 */
	hold(db->s, &c, USD(3.65), 0, 300);
	expect(db->s, &c, 0, USD(4.9), 0);
	out = status(db->s, &c);
	assert_true(unit_num(out, "available_usd") == 0);
	assert_int_equal(unit_num(out, "cycles_affordable"), 0);
	jv_free(out);
	/* a zero hold still fits */
	hold(db->s, &c, 0, 0, 300);
}

static void hold_over_cap(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at(NOW_TEXT);
	struct err e = ERR_INIT;
	int64_t first = hold(db->s, &c, USD(4), 0, 300);
	jv out = jv_null(), row;

	assert_int_equal(budget_hold(db->s, &c, USD(0.900001), 0, 300, "x", &out, &e), EX_NO);
	assert_int_equal(e.code, EX_NO);
	assert_non_null(strstr(e.msg, "budget_exhausted"));
	assert_int_equal(unit_kind(out, "refused"), JV_KIND_TRUE);
	assert_true(unit_num(out, "budget.available_usd") == 0.9);
	assert_true(unit_num(out, "amount_usd") == 0.900001);
	jv_free(out);
	expect(db->s, &c, 0, USD(4), 0);
	/* no hold row was written for the refusal */
	row = hold_row(db->s, first + 1);
	assert_int_equal(jv_get_kind(row), JV_KIND_NULL);
	/* far over, on a fresh day of a small limit: the same */
	setenv("AGENT_DAILY_BUDGET_USD", "0.05", 1);
	c = cfg_at("2026-11-26T00:00:00Z");
	out = jv_null();
	assert_int_equal(budget_hold(db->s, &c, 1, 0, 300, NULL, &out, &e), EX_NO);  /* limit < buffer */
	jv_free(out);
	expect(db->s, &c, 0, 0, 0);
	/* what is left still fits */
	unsetenv("AGENT_DAILY_BUDGET_USD");
	c = cfg_at(NOW_TEXT);
	hold(db->s, &c, USD(0.9), 0, 300);
}

static void settle_releases(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at(NOW_TEXT);
	struct err e = ERR_INIT;
	int64_t id = hold(db->s, &c, USD(1), 1000, 300);
	jv out, row;

	c = cfg_at("2026-11-24T03:21:00Z");
	assert_int_equal(budget_settle(db->s, &c, id, USD(0.3), 400, &out, &e), 0);
	assert_int_equal(unit_num(out, "id"), id);
	assert_true(unit_num(out, "held_usd") == 1);
	assert_true(unit_num(out, "cost_usd") == 0.3);
	assert_true(unit_num(out, "released_usd") == 0.7);
	jv_free(out);
	expect(db->s, &c, USD(0.3), 0, 1);
	out = status(db->s, &c);
	assert_int_equal(unit_num(out, "tokens_used"), 400);
	assert_true(unit_num(out, "available_usd") == 4.6);
	jv_free(out);
	row = hold_row(db->s, id);
	assert_string_equal(unit_str(row, "status"), "settled");
	assert_int_equal(unit_num(row, "settled_micros"), USD(0.3));
	assert_int_equal(unit_num(row, "settled_tokens"), 400);
	assert_int_equal(unit_num(row, "settled_at"), NOW + 60);
	jv_free(row);

	/* a call that cost more than its hold is charged in full */
	id = hold(db->s, &c, USD(0.5), 0, 300);
	assert_int_equal(budget_settle(db->s, &c, id, USD(0.8), 0, &out, &e), 0);
	assert_true(unit_num(out, "released_usd") == 0);
	jv_free(out);
	expect(db->s, &c, USD(1.1), 0, 2);
}

static void settle_twice(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at(NOW_TEXT);
	struct err e = ERR_INIT;
	int64_t id = hold(db->s, &c, USD(2), 0, 300);
	jv out;

	assert_int_equal(budget_settle(db->s, &c, id, USD(1), 0, &out, &e), 0);
	jv_free(out);
	assert_int_equal(budget_settle(db->s, &c, id, USD(0.5), 0, &out, &e), EX_NO);
	assert_non_null(strstr(e.msg, "settled"));
	expect(db->s, &c, USD(1), 0, 1);
}

static void settle_unknown(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at(NOW_TEXT);
	struct err e = ERR_INIT;
	jv out;

	hold(db->s, &c, USD(1), 0, 300);
	assert_int_equal(budget_settle(db->s, &c, 424242, USD(1), 0, &out, &e), EX_DATA);
	assert_non_null(strstr(e.msg, "424242"));
	assert_int_equal(budget_settle(db->s, &c, -1, 0, 0, &out, &e), EX_DATA);
	expect(db->s, &c, 0, USD(1), 0);
}

/* A hold never settled (the process died) counts as spent at its full
 * amount once it expires, and cannot be settled any more. */
static void expired_hold(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at(NOW_TEXT);
	struct err e = ERR_INIT;
	int64_t a = hold(db->s, &c, USD(1), 700, 60);
	int64_t b = hold(db->s, &c, USD(0.5), 0, 60);
	jv out, row;

	/* at its expiry instant the hold is no longer open */
	c = cfg_at("2026-11-24T03:21:00Z");
	assert_int_equal(budget_settle(db->s, &c, a, USD(0.1), 10, &out, &e), EX_NO);
	assert_non_null(strstr(e.msg, "expired"));
	expect(db->s, &c, USD(1.5), 0, 0);
	out = status(db->s, &c);
	assert_int_equal(unit_num(out, "tokens_used"), 700);
	jv_free(out);
	row = hold_row(db->s, a);
	assert_string_equal(unit_str(row, "status"), "expired");
	assert_int_equal(unit_num(row, "settled_micros"), USD(1));
	jv_free(row);
	/* settling after the status noticed: still refused, nothing changes */
	assert_int_equal(budget_settle(db->s, &c, b, 0, 0, &out, &e), EX_NO);
	assert_non_null(strstr(e.msg, "expired"));
	expect(db->s, &c, USD(1.5), 0, 0);
	/* a hold still within its time settles normally */
	a = hold(db->s, &c, USD(1), 0, 60);
	c = cfg_at("2026-11-24T03:21:59Z");
	assert_int_equal(budget_settle(db->s, &c, a, USD(0.25), 0, &out, &e), 0);
	jv_free(out);
	expect(db->s, &c, USD(1.75), 0, 1);
}

/* An expired hold is charged to the day it was taken, not to today. */
static void expired_hold_across_midnight(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at("2026-11-24T23:59:30Z");
	struct budget_cfg next;

	hold(db->s, &c, USD(2), 0, 60);
	next = cfg_at("2026-11-25T00:01:00Z");
	expect(db->s, &next, 0, 0, 0);
	c = cfg_at("2026-11-24T23:59:59Z");
	expect(db->s, &c, USD(2), 0, 0);
}

static void day_resets(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at("2026-11-24T23:59:59Z");
	struct err e = ERR_INIT;
	int64_t id = hold(db->s, &c, USD(4.9), 0, 1);
	jv out;

	assert_int_equal(budget_settle(db->s, &c, id, USD(4.9), 0, &out, &e), 0);
	jv_free(out);
	expect(db->s, &c, USD(4.9), 0, 1);
	out = jv_null();
	assert_int_equal(budget_hold(db->s, &c, 1, 0, 60, NULL, &out, &e), EX_NO);
	jv_free(out);

	c = cfg_at("2026-11-25T00:00:00Z");
	assert_string_equal(c.day, "2026-11-25");
	out = status(db->s, &c);
	assert_string_equal(unit_str(out, "day"), "2026-11-25");
	assert_true(unit_num(out, "spent_usd") == 0);
	assert_true(unit_num(out, "available_usd") == 4.9);
	assert_int_equal(unit_num(out, "invocations"), 0);
	assert_string_equal(unit_str(out, "resets_at"), "2026-11-26T00:00:00Z");
	jv_free(out);
	hold(db->s, &c, USD(4.9), 0, 60);

	/* the history has both days, newest first */
	assert_int_equal(budget_history(db->s, &c, 7, &out, &e), 0);
	assert_int_equal(jv_array_length(jv_copy(out)), 2);
	{
		jv old = jv_array_get(jv_copy(out), 1), new = jv_array_get(jv_copy(out), 0);

		assert_string_equal(unit_str(new, "day"), "2026-11-25");
		jv_free(new);

		assert_string_equal(unit_str(old, "day"), "2026-11-24");
		assert_true(unit_num(old, "spent_usd") == 4.9);
		assert_int_equal(unit_num(old, "invocations"), 1);
		jv_free(old);
	}
	jv_free(out);
	assert_int_equal(budget_history(db->s, &c, 1, &out, &e), 0);
	assert_int_equal(jv_array_length(out), 1);
	assert_int_equal(budget_history(db->s, &c, 0, &out, &e), EX_USAGE);
}

static void set_limit_today_only(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at(NOW_TEXT);
	struct err e = ERR_INIT;
	jv out;

	assert_int_equal(budget_set_limit(db->s, &c, USD(2), &out, &e), 0);
	assert_true(unit_num(out, "limit_usd") == 2);
	assert_true(unit_num(out, "available_usd") == 1.9);
	assert_int_equal(unit_kind(out, "limit_set"), JV_KIND_TRUE);
	jv_free(out);
	hold(db->s, &c, USD(1.9), 0, 300);
	out = jv_null();
	assert_int_equal(budget_hold(db->s, &c, 1, 0, 300, NULL, &out, &e), EX_NO);
	jv_free(out);

	/* the environment changes: today's set limit wins */
	setenv("AGENT_DAILY_BUDGET_USD", "7", 1);
	c = cfg_at(NOW_TEXT);
	assert_int_equal(c.limit, USD(7));
	out = status(db->s, &c);
	assert_true(unit_num(out, "limit_usd") == 2);
	jv_free(out);
	/* tomorrow it does not */
	c = cfg_at("2026-11-25T12:00:00Z");
	out = status(db->s, &c);
	assert_true(unit_num(out, "limit_usd") == 7);
	assert_int_equal(unit_kind(out, "limit_set"), JV_KIND_FALSE);
	jv_free(out);
	/* without a set limit, a new environment limit applies to today */
	setenv("AGENT_DAILY_BUDGET_USD", "3", 1);
	c = cfg_at("2026-11-25T12:00:00Z");
	out = status(db->s, &c);
	assert_true(unit_num(out, "limit_usd") == 3);
	jv_free(out);

	assert_int_equal(budget_set_limit(db->s, &c, -1, &out, &e), EX_DATA);
	assert_int_equal(budget_set_limit(db->s, &c, 1000000LL * 1000000 + 1, &out, &e), EX_DATA);
	/* a limit under what is held: no hold fits, and nothing goes negative */
	hold(db->s, &c, USD(2), 0, 300);
	assert_int_equal(budget_set_limit(db->s, &c, USD(1), &out, &e), 0);
	assert_true(unit_num(out, "remaining_usd") == 0);
	assert_true(unit_num(out, "available_usd") == 0);
	jv_free(out);
}

/* The operator lowers the daily limit: the very next hold obeys it, with
 * no status call in between to refresh the day's row. */
static void lowered_limit_applies_to_next_hold(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at(NOW_TEXT);
	struct err e = ERR_INIT;
	jv out = jv_null();

	hold(db->s, &c, USD(1), 0, 300);
	setenv("AGENT_DAILY_BUDGET_USD", "2", 1);
	c = cfg_at(NOW_TEXT);
	/* 1 + 1.5 fits under the old 4.90, not under the new 1.90 */
	if (budget_hold(db->s, &c, USD(1.5), 0, 300, NULL, &out, &e) != EX_NO)
		fail_msg("a hold of $1.50 was granted under a $2 limit with $1 held");
	jv_free(out);
	hold(db->s, &c, USD(0.9), 0, 300);
	expect(db->s, &c, 0, USD(1.9), 0);
	out = status(db->s, &c);
	assert_true(unit_num(out, "limit_usd") == 2);
	jv_free(out);
}

static void token_budget(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c;
	struct err e = ERR_INIT;
	int64_t first;
	jv out;

	setenv("AGENT_DAILY_TOKEN_BUDGET", "1000", 1);
	c = cfg_at(NOW_TEXT);
	assert_int_equal(c.token_limit, 1000);
	first = hold(db->s, &c, USD(0.01), 600, 300);
	out = jv_null();
	assert_int_equal(budget_hold(db->s, &c, USD(0.01), 600, 300, NULL, &out, &e), EX_NO);
	jv_free(out);
	expect(db->s, &c, 0, USD(0.01), 0);
	hold(db->s, &c, USD(0.01), 400, 300);
	out = jv_null();
	assert_int_equal(budget_hold(db->s, &c, 0, 1, 300, NULL, &out, &e), EX_NO);
	jv_free(out);
	/* settling at fewer tokens frees the difference */
	assert_int_equal(budget_settle(db->s, &c, first, USD(0.01), 100, &out, &e), 0);
	jv_free(out);
	hold(db->s, &c, 0, 500, 300);
	out = status(db->s, &c);
	assert_int_equal(unit_num(out, "token_limit"), 1000);
	assert_int_equal(unit_num(out, "tokens_used"), 100);
	jv_free(out);
}

static void malformed_env(void **state)
{
	static const struct { const char *var, *value; } bad[] = {
		{ "AGENT_DAILY_BUDGET_USD", "abc" },
		{ "AGENT_DAILY_BUDGET_USD", "-1" },
		{ "AGENT_DAILY_BUDGET_USD", "5 USD" },
		{ "AGENT_DAILY_BUDGET_USD", "1e3" },
		{ "AGENT_BUDGET_BUFFER_USD", "0.1234567" },
		{ "AGENT_BUDGET_BUFFER_USD", "ten cents" },
		{ "AGENT_DAILY_TOKEN_BUDGET", "12x" },
		{ "AGENT_DAILY_TOKEN_BUDGET", "-5" },
		{ "AGENT_DAILY_TOKEN_BUDGET", "1.5" },
	};
	struct unit_db *db = unit_db(state);
	struct budget_cfg c;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct err e = ERR_INIT;

		unit_clean_env();
		setenv(bad[i].var, bad[i].value, 1);
		if (budget_config(&c, "unit", &e) != EX_PERM)
			fail_msg("%s=%s accepted", bad[i].var, bad[i].value);
		assert_int_equal(e.code, EX_PERM);
		assert_non_null(strstr(e.msg, bad[i].var));
		assert_non_null(strstr(e.msg, bad[i].value));
	}
	unit_clean_env();
	setenv("AGENT_NOW", "yesterday", 1);
	{
		struct err e = ERR_INIT;

		assert_int_not_equal(budget_config(&c, "unit", &e), 0);
		assert_non_null(strstr(e.msg, "AGENT_NOW"));
	}
	/* empty is unset; zero is a limit */
	unit_clean_env();
	setenv("AGENT_DAILY_BUDGET_USD", "", 1);
	setenv("AGENT_BUDGET_BUFFER_USD", "0", 1);
	c = cfg_at(NOW_TEXT);
	assert_int_equal(c.limit, USD(5));
	assert_int_equal(c.buffer, 0);
	hold(db->s, &c, USD(5), 0, 60);
}

static void negative_amounts(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at(NOW_TEXT);
	struct err e = ERR_INIT;
	int64_t id = hold(db->s, &c, USD(1), 0, 300);
	jv out = jv_null();

	assert_int_equal(budget_hold(db->s, &c, -1, 0, 300, NULL, &out, &e), EX_DATA);
	assert_int_equal(budget_hold(db->s, &c, 1, -1, 300, NULL, &out, &e), EX_DATA);
	assert_int_equal(budget_hold(db->s, &c, 1, 0, 0, NULL, &out, &e), EX_DATA);
	assert_int_equal(budget_hold(db->s, &c, 1, 0, -60, NULL, &out, &e), EX_DATA);
	assert_int_equal(budget_hold(db->s, &c, 1, 0, 8 * 86400, NULL, &out, &e), EX_DATA);
	assert_int_equal(budget_settle(db->s, &c, id, -1, 0, &out, &e), EX_DATA);
	assert_int_equal(budget_settle(db->s, &c, id, 0, -1, &out, &e), EX_DATA);
	assert_int_equal(jv_get_kind(out), JV_KIND_NULL);
	expect(db->s, &c, 0, USD(1), 0);
	/* absurd amounts: refused one way or another, never wrapped around */
	assert_int_not_equal(budget_hold(db->s, &c, INT64_MAX, 0, 300, NULL, &out, &e), 0);
	jv_free(out);
	out = jv_null();
	assert_int_not_equal(budget_hold(db->s, &c, INT64_MAX - USD(4), 0, 300, NULL, &out, &e), 0);
	jv_free(out);
	out = jv_null();
	expect(db->s, &c, 0, USD(1), 0);
	/* the hold is still open and settles */
	assert_int_equal(budget_settle(db->s, &c, id, 0, 0, &out, &e), 0);
	jv_free(out);
}

/* Inside the caller's transaction, a hold is the caller's to keep. */
static void joins_caller_transaction(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at(NOW_TEXT);
	struct err e = ERR_INIT;

	assert_int_equal(store_begin(db->s, &e), 0);
	hold(db->s, &c, USD(2), 0, 300);
	assert_true(store_in_tx(db->s));
	assert_int_equal(budget_count_cycle(db->s, &c, 0, &e), 0);
	store_rollback(db->s);
	expect(db->s, &c, 0, 0, 0);

	assert_int_equal(store_begin(db->s, &e), 0);
	hold(db->s, &c, USD(2), 0, 300);
	assert_int_equal(budget_count_cycle(db->s, &c, 0, &e), 0);
	assert_int_equal(store_commit(db->s, &e), 0);
	assert_int_equal(budget_count_cycle(db->s, &c, 1, &e), 0);
	{
		jv st = status(db->s, &c);

		assert_int_equal(unit_num(st, "cycles_started"), 1);
		assert_int_equal(unit_num(st, "cycles_completed"), 1);
		assert_true(unit_num(st, "held_usd") == 2);
		jv_free(st);
	}
}

/* A second store on the same database that may not write: SQLite's
 * query_only (root ignores file modes), PostgreSQL's read-only sessions.
 * The hold fails with an error code and the day is as it was. */
static void failing_write(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at(NOW_TEXT);
	struct err e = ERR_INIT;
	struct store *ro = NULL;
	char uri[4600];
	jv out = jv_null();
	int rc;

	hold(db->s, &c, USD(1), 0, 300);
	if (db->driver == STORE_SQLITE) {
		assert_int_equal(store_open(&ro, db->uri, &e), 0);
		assert_int_equal(sqlite3_exec(ro->handle, "PRAGMA query_only = ON", NULL, NULL, NULL),
				 SQLITE_OK);
	} else {
		if (strstr(db->uri, "://"))
			snprintf(uri, sizeof uri, "%s%coptions=-c%%20default_transaction_read_only%%3Don",
				 db->uri, strchr(db->uri, '?') ? '&' : '?');
		else
			snprintf(uri, sizeof uri, "%s options='-c default_transaction_read_only=on'",
				 db->uri);
		if (store_open(&ro, uri, &e))
			fail_msg("read-only store: %s", e.msg);
	}
	rc = budget_hold(ro, &c, USD(0.5), 0, 300, NULL, &out, &e);
	assert_int_not_equal(rc, 0);
	assert_int_not_equal(rc, EX_NO);
	assert_int_equal(rc, e.code);
	if (!strstr(e.msg, "readonly") && !strstr(e.msg, "read-only"))
		fail_msg("not the read-only refusal: %s", e.msg);
	assert_false(store_in_tx(ro));
	jv_free(out);
	/* every writing call fails alike */
	assert_int_not_equal(budget_settle(ro, &c, 1, 0, 0, &out, &e), 0);
	assert_int_not_equal(budget_count_cycle(ro, &c, 0, &e), 0);
	store_close(ro);
	expect(db->s, &c, 0, USD(1), 0);
	{
		jv st = status(db->s, &c);

		assert_int_equal(unit_num(st, "cycles_started"), 0);
		jv_free(st);
	}
}

/* The database cannot grow in the middle of a hold (the reservation is
 * made, the hold row does not fit): all of it is undone. */
static void sqlite_full_mid_hold(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at(NOW_TEXT);
	struct err e = ERR_INIT;
	char *note = malloc(64u << 10);
	jv out = jv_null();

	assert_non_null(note);
	memset(note, 'n', (64u << 10) - 1);
	note[(64u << 10) - 1] = 0;
	hold(db->s, &c, USD(1), 0, 300);
	assert_int_equal(sqlite3_exec(db->s->handle, "PRAGMA max_page_count = 1", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(budget_hold(db->s, &c, USD(0.5), 0, 300, note, &out, &e), EX_TEMP);
	free(note);
	jv_free(out);
	assert_false(store_in_tx(db->s));
	expect(db->s, &c, 0, USD(1), 0);
	/* small writes still fit in the pages there are */
	hold(db->s, &c, USD(0.5), 0, 300);
	expect(db->s, &c, 0, USD(1.5), 0);
}

/* Another connection holds SQLite's write lock: the hold waits its bounded
 * time, fails as temporary, and changes nothing. */
static void sqlite_busy_hold(void **state)
{
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at(NOW_TEXT);
	struct err e = ERR_INIT;
	struct store *s = NULL;
	sqlite3 *other = NULL;
	int64_t t0;
	jv out = jv_null();

	hold(db->s, &c, USD(1), 0, 300);
	setenv("AGENT_DB_BUSY_TIMEOUT_MS", "100", 1);
	assert_int_equal(store_open(&s, db->uri, &e), 0);
	assert_int_equal(sqlite3_open_v2(db->uri, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	t0 = clock_mono_us();
	assert_int_equal(budget_hold(s, &c, USD(0.5), 0, 300, NULL, &out, &e), EX_TEMP);
	assert_true(clock_mono_us() - t0 < 2000000);
	assert_non_null(strstr(e.msg, "busy"));
	assert_int_equal(budget_status(s, &c, &out, &e), EX_TEMP);
	assert_false(store_in_tx(s));
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	store_close(s);
	expect(db->s, &c, 0, USD(1), 0);
}

/* Processes holding at once never hold more than the cap together. */
static void concurrent_holds(void **state)
{
	enum { KIDS = 4, TRIES = 12 };
	struct unit_db *db = unit_db(state);
	struct budget_cfg c = cfg_at(NOW_TEXT);
	pid_t pids[KIDS];
	int total = 0;

	jv_free(status(db->s, &c));   /* the day's row exists before the race */
	fflush(NULL);
	for (int k = 0; k < KIDS; k++) {
		pids[k] = fork();
		assert_true(pids[k] >= 0);
		if (pids[k] == 0) {
			struct store *s = NULL;
			struct err e = ERR_INIT;
			int ok = 0;

			if (store_open(&s, db->uri, &e))
				_exit(100);
			for (int i = 0; i < TRIES; i++) {
				jv out = jv_null();
				int rc = budget_hold(s, &c, USD(0.3), 0, 300, NULL, &out, &e);

				jv_free(out);
				if (rc == 0)
					ok++;
				else if (rc != EX_NO)
					_exit(101);
			}
			store_close(s);
			_exit(ok);
		}
	}
	for (int k = 0; k < KIDS; k++) {
		int st;

		assert_int_equal(waitpid(pids[k], &st, 0), pids[k]);
		assert_true(WIFEXITED(st));
		if (WEXITSTATUS(st) > TRIES)
			fail_msg("holder %d failed with %d", k, WEXITSTATUS(st));
		total += WEXITSTATUS(st);
	}
	/* 4.90 / 0.30: 16 holds fit, and only 16 */
	assert_int_equal(total, 16);
	expect(db->s, &c, 0, USD(4.8), 0);
}

#define DB(f) cmocka_unit_test_setup_teardown(f, setup, unit_db_close)
#define COMMON \
	DB(fresh_day), DB(hold_within_cap), DB(hold_over_cap), DB(settle_releases), \
	DB(settle_twice), DB(settle_unknown), DB(expired_hold), \
	DB(expired_hold_across_midnight), DB(day_resets), DB(set_limit_today_only), \
	DB(lowered_limit_applies_to_next_hold), DB(token_budget), DB(malformed_env), DB(negative_amounts), \
	DB(joins_caller_transaction), DB(failing_write), DB(concurrent_holds)

int main(void)
{
	const struct CMUnitTest sqlite[] = {
		COMMON, DB(sqlite_full_mid_hold), DB(sqlite_busy_hold),
	};
	const struct CMUnitTest pg[] = { COMMON };

	unit_datadir();
	return UNIT_RUN_BOTH(sqlite, pg);
}

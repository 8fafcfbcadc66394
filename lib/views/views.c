/* views: the documents behind agent status, history, session and logs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/json.h"
#include "budget.h"
#include "pricing.h"
#include "session.h"
#include "views/views.h"

static jv params(int n, const jv *v)
{
	jv a = jv_array();

	for (int i = 0; i < n; i++)
		a = jv_array_append(a, v[i]);
	return a;
}

#define P(...) params((int)(sizeof((jv[]){__VA_ARGS__}) / sizeof(jv)), (jv[]){__VA_ARGS__})

static jv num(int64_t v)
{
	return jv_number((double)v);
}

static int64_t iget(jv row, const char *k)
{
	int64_t v = 0;

	json_int(row, k, &v);
	return v;
}

/* row[k] (borrowed row), or null when absent. */
static jv field(jv row, const char *k)
{
	jv v = json_get(jv_copy(row), k);

	return jv_is_valid(v) ? v : (jv_free(v), jv_null());
}

/* A number at one of the paths (borrowed), or null. */
static jv first_number(jv v, const char *a, const char *b)
{
	double d;

	if (jv_get_kind(v) != JV_KIND_OBJECT)
		return jv_null();
	if (a && json_number(v, a, &d))
		return jv_number(d);
	if (b && json_number(v, b, &d))
		return jv_number(d);
	return jv_null();
}

/* The value of check `name` of a gate verdict (borrowed), or null. */
static jv gate_value(jv gate, const char *name)
{
	jv checks = json_get(jv_copy(gate), "checks"), out = jv_null();

	if (jv_get_kind(checks) == JV_KIND_ARRAY) {
		jv_array_foreach(checks, i, c) {
			char *n = json_string(c, "name");

			if (n && !strcmp(n, name) && jv_get_kind(out) == JV_KIND_NULL) {
				jv v = json_get(jv_copy(c), "value");

				if (jv_get_kind(v) == JV_KIND_NUMBER)
					out = v;
				else
					jv_free(v);
			}
			free(n);
			jv_free(c);
		}
	}
	jv_free(checks);
	return out;
}

/* The first failed check of a gate verdict (borrowed): {gate, check,
 * value, op, threshold}, or null when it passed or is absent. */
static jv gate_failure(jv gate)
{
	jv checks, out = jv_null();
	int passed = 1;

	if (jv_get_kind(gate) != JV_KIND_OBJECT || !json_bool(gate, "passed", &passed) || passed)
		return jv_null();
	checks = json_get(jv_copy(gate), "checks");
	if (jv_get_kind(checks) == JV_KIND_ARRAY) {
		jv_array_foreach(checks, i, c) {
			int ok = 1;

			if (jv_get_kind(out) == JV_KIND_NULL && json_bool(c, "passed", &ok) && !ok) {
				out = json_set(jv_object(), "gate", field(gate, "gate"));
				out = json_set(out, "check", field(c, "name"));
				out = json_set(out, "value", field(c, "value"));
				out = json_set(out, "op", field(c, "op"));
				out = json_set(out, "threshold", field(c, "threshold"));
			}
			jv_free(c);
		}
	}
	jv_free(checks);
	if (jv_get_kind(out) == JV_KIND_NULL)
		out = json_set(jv_object(), "gate", field(gate, "gate"));
	return out;
}

static jv failed_gate(jv row)
{
	jv t = field(row, "training_gate"), b = field(row, "backtest_gate");
	jv f = gate_failure(b);

	if (jv_get_kind(f) == JV_KIND_NULL)
		f = gate_failure(t);
	jv_free(t);
	jv_free(b);
	return f;
}

static jv age_of(int64_t now, jv at)
{
	jv r = jv_null();

	if (jv_get_kind(at) == JV_KIND_NUMBER) {
		int64_t t = (int64_t)jv_number_value(at);

		r = num(now > t ? now - t : 0);
	}
	jv_free(at);
	return r;
}

static const char *const phase_cols[] = { "designing_at", "training_at", "backtesting_at",
					  "assessing_at" };
static const char *const phase_names[] = { "designing", "training", "backtesting",
					   "assessing" };

int views_phase_percent(const char *phase)
{
	static const int pct[] = { 5, 20, 65, 90 };

	if (phase && !strcmp(phase, "idle"))
		return 100;
	for (int i = 0; phase && i < 4; i++)
		if (!strcmp(phase, phase_names[i]))
			return pct[i];
	return -1;
}

const char *views_phase_step(const char *phase)
{
	static const char *const steps[] = { "Designing strategy...", "Training model...",
					     "Running backtest...", "Assessing results..." };

	if (phase && !strcmp(phase, "idle"))
		return "Complete";
	for (int i = 0; phase && i < 4; i++)
		if (!strcmp(phase, phase_names[i]))
			return steps[i];
	return NULL;
}

static jv current_json(jv row, int64_t now)
{
	char *phase = json_string(row, "phase");
	const char *step = views_phase_step(phase);
	jv o = jv_object(), since = jv_null(), op = jv_null();

	for (int i = 0; phase && i < 4; i++)
		if (!strcmp(phase, phase_names[i]))
			since = field(row, phase_cols[i]);
	if (phase && !strcmp(phase, "training"))
		op = field(row, "training_operation_id");
	else if (phase && !strcmp(phase, "backtesting"))
		op = field(row, "backtest_operation_id");
	o = json_set(o, "id", field(row, "id"));
	o = json_set(o, "phase", field(row, "phase"));
	o = json_set(o, "strategy", field(row, "strategy_name"));
	o = json_set(o, "created_at", json_time(field(row, "created_at")));
	o = json_set(o, "age_seconds", age_of(now, field(row, "created_at")));
	o = json_set(o, "phase_since", json_time(jv_copy(since)));
	o = json_set(o, "phase_seconds", age_of(now, since));
	o = json_set(o, "percent", views_phase_percent(phase) >= 0
				   ? jv_number(views_phase_percent(phase)) : jv_null());
	o = json_set(o, "step", step ? jv_string(step) : jv_null());
	o = json_set(o, "operation_id", op);
	o = json_set(o, "progress", json_time_at(field(row, "progress"), "updated_at"));
	o = json_set(o, "retry_count", field(row, "retry_count"));
	o = json_set(o, "conn_failures", field(row, "conn_failures"));
	free(phase);
	jv_free(row);
	return o;
}

static jv recent_json(jv row, int64_t now)
{
	jv o = jv_object(), sharpe = field(row, "backtest_sharpe");

	if (jv_get_kind(sharpe) != JV_KIND_NUMBER) {
		jv g = field(row, "backtest_gate");

		jv_free(sharpe);
		sharpe = gate_value(g, "sharpe_ratio");
		jv_free(g);
	}
	o = json_set(o, "id", field(row, "id"));
	o = json_set(o, "outcome", field(row, "outcome"));
	o = json_set(o, "strategy", field(row, "strategy_name"));
	o = json_set(o, "completed_at", json_time(field(row, "completed_at")));
	o = json_set(o, "age_seconds", age_of(now, field(row, "completed_at")));
	o = json_set(o, "sharpe", sharpe);
	o = json_set(o, "failed_gate", failed_gate(row));
	o = json_set(o, "failure_reason", field(row, "failure_reason"));
	jv_free(row);
	return o;
}

/* AGENT_TICK_INTERVAL_SECONDS: how often the timer ticks (300). */
static int64_t tick_interval(void)
{
	const char *v = getenv("AGENT_TICK_INTERVAL_SECONDS");
	char *end;
	long long n;

	if (!v || !*v)
		return 300;
	n = strtoll(v, &end, 10);
	return *end || n < 1 || n > 86400 ? 300 : n;
}

static void utc_text(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm);
}

static void local_text(int64_t t, char out[48])
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	strftime(out, 48, "%Y-%m-%d %H:%M %Z", &tm);
}

static int is(jv row, const char *k, const char *v)
{
	char *x = json_string(row, k);
	int yes = x && !strcmp(x, v);

	free(x);
	return yes;
}

/*
 * What the agent is doing now, and why, in one object: {"name", "text",
 * ...}: paused, stale, tick_failed, waiting_backend, waiting_budget,
 * running, idle, never_ran.  The first that holds, in that order.
 */
static jv state_json(jv state, jv last, jv cur, jv budget, const struct budget_cfg *b)
{
	const int64_t now = b->now;
	char text[900], a[32], n[32], t1[32], t2[48], age[16];
	int64_t last_at = iget(state, "last_tick_at"), iv = tick_interval();
	jv o = jv_object();
	int paused = 0;

	json_bool(state, "paused", &paused);
	if (paused) {
		char *by = json_string(state, "paused_by"), *why = json_string(state, "pause_reason");

		o = json_set(o, "name", jv_string("paused"));
		o = json_set(o, "by", jv_string(by ? by : "operator"));
		o = json_set(o, "reason", field(state, "pause_reason"));
		o = json_set(o, "since", json_time(field(state, "paused_at")));
		snprintf(text, sizeof text, "paused by the %s%s%.600s", by && !strcmp(by, "breaker") ?
			 "circuit breaker" : "operator", why ? ": " : "", why ? why : "");
		free(by);
		free(why);
	} else if (last_at > 0 && now - last_at > 2 * iv) {
		o = json_set(o, "name", jv_string("stale"));
		o = json_set(o, "last_tick_at", json_time(num(last_at)));
		o = json_set(o, "seconds", num(now - last_at));
		snprintf(text, sizeof text, "stale: no tick for %s (more than two %llds intervals): is the timer running?",
			 views_age(now - last_at, age), (long long)iv);
	} else if (jv_get_kind(last) == JV_KIND_OBJECT && iget(last, "exit_status") != 0) {
		char *stage = json_string(last, "failed_stage"), *err = json_string(last, "detail");

		o = json_set(o, "name", jv_string("tick_failed"));
		o = json_set(o, "stage", field(last, "failed_stage"));
		o = json_set(o, "exit_status", field(last, "exit_status"));
		o = json_set(o, "error", field(last, "detail"));
		o = json_set(o, "at", json_time(field(last, "at")));
		snprintf(text, sizeof text, "the last tick failed %s ago in %s (exit %lld): %.600s",
			 views_age(now - iget(last, "at"), age), stage ? stage : "?",
			 (long long)iget(last, "exit_status"), err ? err : "no message");
		free(stage);
		free(err);
	} else if (jv_get_kind(last) == JV_KIND_OBJECT && is(last, "reason", "backend_unreachable")) {
		int64_t since = iget(state, "backend_down_since");
		char *err = json_string(state, "backend_error");

		if (!err)
			err = json_string(last, "detail");
		o = json_set(o, "name", jv_string("waiting_backend"));
		o = json_set(o, "since", json_time(since ? num(since) : field(last, "at")));
		o = json_set(o, "ticks", field(state, "backend_down_ticks"));
		o = json_set(o, "error", err ? jv_string(err) : jv_null());
		snprintf(text, sizeof text, "waiting for the research backend: down for %s (%lld ticks): %.600s",
			 views_age(now - (since ? since : iget(last, "at")), age),
			 (long long)iget(state, "backend_down_ticks"), err ? err : "no answer");
		free(err);
	} else if (jv_get_kind(last) == JV_KIND_OBJECT && is(last, "reason", "budget_exhausted")) {
		double v = 0;
		int64_t reset = budget_resets_at(b), need = budget_cycle_estimate();

		json_number(budget, "available_usd", &v);
		pricing_format_usd(pricing_micros(v), a, sizeof a);
		pricing_format_usd(need, n, sizeof n);
		utc_text(reset, t1);
		local_text(reset, t2);
		o = json_set(o, "name", jv_string("waiting_budget"));
		o = json_set(o, "available_usd", jv_number(v));
		o = json_set(o, "cycle_estimate_usd", pricing_usd(need));
		o = json_set(o, "resets_at", json_time(num(reset)));
		o = json_set(o, "resets_in_seconds", num(reset - now));
		snprintf(text, sizeof text,
			 "waiting for budget: %s available, a cycle needs %s; the day resets at %s (%s), in %s",
			 a, n, t1, t2, views_age(reset - now, age));
	} else if (jv_get_kind(cur) == JV_KIND_OBJECT) {
		char *ph = json_string(cur, "phase");

		o = json_set(o, "name", jv_string("running"));
		o = json_set(o, "phase", field(cur, "phase"));
		o = json_set(o, "percent", field(cur, "percent"));
		o = json_set(o, "phase_seconds", field(cur, "phase_seconds"));
		snprintf(text, sizeof text, "running: session %lld %s for %s", (long long)iget(cur, "id"),
			 ph ? ph : "?", views_age(iget(cur, "phase_seconds"), age));
		free(ph);
	} else if (last_at > 0) {
		o = json_set(o, "name", jv_string("idle"));
		snprintf(text, sizeof text, "idle: no cycle in progress");
	} else {
		o = json_set(o, "name", jv_string("never_ran"));
		snprintf(text, sizeof text, "no tick yet: start the timer, or run `agent trigger`");
	}
	return json_set(o, "text", jv_string(text));
}

int views_status(struct store *s, const struct budget_cfg *b, int recent, jv *out,
		 struct err *e)
{
	jv state = jv_null(), cur = jv_null(), rows = jv_null(), cnt = jv_null();
	jv budget = jv_null(), list = jv_array(), last = jv_null(), o;
	int64_t now = b->now, active = 0;
	double limit = 0, spent = 0, held = 0;
	int rc, paused = 0;

	if (recent < 0 || recent > VIEWS_LIMIT_MAX) {
		jv_free(list);
		return err_set(e, EX_USAGE, "recent cycles must be from 0 to %d", VIEWS_LIMIT_MAX);
	}
	if ((rc = store_query1(s, "views_state", P(jv_string(b->agent)), &state, e)) ||
	    (rc = store_query1(s, "views_current", P(jv_string(b->agent)), &cur, e)) ||
	    (rc = store_query1(s, "views_active_count", P(jv_string(b->agent)), &cnt, e)) ||
	    (rc = store_query1(s, "views_last_trigger", P(jv_string(b->agent)), &last, e)) ||
	    (rc = store_query(s, "views_recent", P(jv_string(b->agent), num(recent)), &rows, e)) ||
	    (rc = budget_status(s, b, &budget, e)))
		goto out;
	jv_array_foreach(rows, i, r)
		list = jv_array_append(list, recent_json(r, now));
	active = iget(cnt, "n");
	json_number(budget, "limit_usd", &limit);
	json_number(budget, "spent_usd", &spent);
	json_number(budget, "held_usd", &held);
	budget = json_set(budget, "used_usd", pricing_usd(pricing_micros(spent + held)));
	budget = json_set(budget, "used_percent",
			  jv_number(limit > 0 ? (double)(int64_t)(1000 * (spent + held) / limit + 0.5) / 10
					      : 100));
	budget = json_set(budget, "cycles_active", num(active));
	if (jv_get_kind(state) == JV_KIND_OBJECT)
		json_bool(state, "paused", &paused);
	o = jv_object();
	o = json_set(o, "agent", jv_string(b->agent));
	o = json_set(o, "now", json_time(num(now)));
	o = json_set(o, "now_epoch", num(now));
	o = json_set(o, "paused", jv_bool(paused));
	o = json_set(o, "pause_reason", paused ? field(state, "pause_reason") : jv_null());
	o = json_set(o, "paused_at", paused ? json_time(field(state, "paused_at")) : jv_null());
	o = json_set(o, "last_tick_at", jv_get_kind(state) == JV_KIND_OBJECT
					 ? json_time(field(state, "last_tick_at")) : jv_null());
	o = json_set(o, "paused_by", paused ? field(state, "paused_by") : jv_null());
	if (jv_get_kind(cur) == JV_KIND_OBJECT) {
		jv c = current_json(jv_copy(cur), now);

		/* a session no model call has worked on yet, whose last tick
		 * failed, is waiting, not designing */
		if (iget(cur, "invoke_attempts") == 0 && is(cur, "phase", "designing") &&
		    jv_get_kind(last) == JV_KIND_OBJECT && iget(last, "exit_status") != 0) {
			c = json_set(c, "started", jv_false());
			c = json_set(c, "percent", jv_number(0));
			c = json_set(c, "step", jv_string("Not started: the last tick failed"));
		}
		o = json_set(o, "state", state_json(state, last, c, budget, b));
		o = json_set(o, "current", c);
	} else {
		o = json_set(o, "state", state_json(state, last, jv_null(), budget, b));
		o = json_set(o, "current", jv_null());
	}
	o = json_set(o, "last_tick", jv_get_kind(last) == JV_KIND_OBJECT
				      ? json_time_at(jv_copy(last), "at") : jv_null());
	o = json_set(o, "recent", list);
	o = json_set(o, "budget", budget);
	list = budget = jv_null();
	*out = o;
out:
	jv_free(state);
	jv_free(cur);
	jv_free(last);
	jv_free(rows);
	jv_free(cnt);
	jv_free(budget);
	jv_free(list);
	return rc;
}

/* training and backtest figures: the metrics row first, the gates' checks
 * for a session no tick has aggregated yet. */
static jv training_json(jv row)
{
	jv g = field(row, "training_gate"), acc = field(row, "training_accuracy");
	jv loss = field(row, "training_loss"), o;

	if (jv_get_kind(acc) != JV_KIND_NUMBER) {
		jv_free(acc);
		acc = gate_value(g, "accuracy");
	}
	if (jv_get_kind(loss) != JV_KIND_NUMBER) {
		jv_free(loss);
		loss = gate_value(g, "loss");
	}
	if (jv_get_kind(acc) == JV_KIND_NULL && jv_get_kind(loss) == JV_KIND_NULL &&
	    jv_get_kind(g) != JV_KIND_OBJECT) {
		jv_free(g);
		return jv_null();
	}
	o = json_set(jv_object(), "accuracy", acc);
	o = json_set(o, "loss", loss);
	o = json_set(o, "loss_decrease", gate_value(g, "loss_decrease"));
	o = json_set(o, "epochs", field(row, "training_epochs"));
	o = json_set(o, "gate_passed", json_is_set(g, "passed") ? field(g, "passed") : jv_null());
	jv_free(g);
	return o;
}

static jv backtest_json(jv row)
{
	static const char *const cols[] = { "backtest_sharpe", "backtest_win_rate",
					    "backtest_max_drawdown" };
	static const char *const checks[] = { "sharpe_ratio", "win_rate", "max_drawdown" };
	static const char *const keys[] = { "sharpe", "win_rate", "max_drawdown" };
	jv g = field(row, "backtest_gate"), o = jv_object();
	int any = jv_get_kind(g) == JV_KIND_OBJECT;

	for (int i = 0; i < 3; i++) {
		jv v = field(row, cols[i]);

		if (jv_get_kind(v) != JV_KIND_NUMBER) {
			jv_free(v);
			v = gate_value(g, checks[i]);
		}
		any |= jv_get_kind(v) == JV_KIND_NUMBER;
		o = json_set(o, keys[i], v);
	}
	o = json_set(o, "trades", field(row, "backtest_trades"));
	o = json_set(o, "profit_factor", field(row, "backtest_profit_factor"));
	o = json_set(o, "gate_passed", json_is_set(g, "passed") ? field(g, "passed") : jv_null());
	jv_free(g);
	if (!any) {
		jv_free(o);
		return jv_null();
	}
	return o;
}

static jv history_json(jv row)
{
	jv o = jv_object();
	int64_t created = iget(row, "created_at"), done = 0;

	o = json_set(o, "id", field(row, "id"));
	o = json_set(o, "phase", field(row, "phase"));
	o = json_set(o, "outcome", field(row, "outcome"));
	o = json_set(o, "strategy", field(row, "strategy_name"));
	o = json_set(o, "created_at", json_time(field(row, "created_at")));
	o = json_set(o, "completed_at", json_time(field(row, "completed_at")));
	o = json_set(o, "duration_seconds", json_int(row, "completed_at", &done)
					    ? num(done > created ? done - created : 0) : jv_null());
	o = json_set(o, "failed_gate", failed_gate(row));
	o = json_set(o, "failure_reason", field(row, "failure_reason"));
	o = json_set(o, "training", training_json(row));
	o = json_set(o, "backtest", backtest_json(row));
	o = json_set(o, "assessment", json_time_at(field(row, "assessment"), "assessed_at"));
	o = json_set(o, "invocations", field(row, "invocations"));
	o = json_set(o, "input_tokens", field(row, "input_tokens"));
	o = json_set(o, "output_tokens", field(row, "output_tokens"));
	o = json_set(o, "cost_usd", pricing_usd(iget(row, "cost_micros")));
	jv_free(row);
	return o;
}

int views_history(struct store *s, const char *agent, int limit, const char *outcome,
		  int64_t now, jv *out, struct err *e)
{
	jv rows, list = jv_array(), o;
	int rc;

	if (limit < 1 || limit > VIEWS_LIMIT_MAX) {
		jv_free(list);
		return err_set(e, EX_USAGE, "limit must be from 1 to %d", VIEWS_LIMIT_MAX);
	}
	if (outcome && !session_is_outcome(outcome)) {
		jv_free(list);
		return err_set(e, EX_USAGE, "unknown outcome '%.60s'", outcome);
	}
	if (outcome)
		rc = store_query(s, "views_history_outcome",
				 P(jv_string(agent), num(limit), jv_string(outcome)), &rows, e);
	else
		rc = store_query(s, "views_history", P(jv_string(agent), num(limit)), &rows, e);
	if (rc) {
		jv_free(list);
		return rc;
	}
	jv_array_foreach(rows, i, r)
		list = jv_array_append(list, history_json(r));
	jv_free(rows);
	o = json_set(jv_object(), "agent", jv_string(agent));
	o = json_set(o, "now", json_time(num(now)));
	o = json_set(o, "now_epoch", num(now));
	o = json_set(o, "limit", num(limit));
	o = json_set(o, "outcome", json_str_or_null(outcome));
	o = json_set(o, "sessions", list);
	*out = o;
	return 0;
}

/* ---------------------------------------------------------------- events */

static jv copy_keys(jv o, jv row, const char *const *keys)
{
	for (; *keys; keys++)
		o = json_set(o, *keys, field(row, *keys));
	return o;
}

static jv tick_event(jv row)
{
	static const char *const keys[] = { "id", "at", "agent", "tick_id", "session_id", "event",
					    "action", "reason", "invoked", "skip_reason",
					    "duration_ms", "exit_status", "failed_stage", NULL };
	jv o = copy_keys(json_set(jv_object(), "type", jv_string("tick")), row, keys);
	int invoked = 0;

	/* SQLite keeps booleans as integers */
	if (!json_bool(row, "invoked", &invoked)) {
		invoked = iget(row, "invoked") != 0;
		o = json_set(o, "invoked", jv_bool(invoked));
	}
	jv_free(row);
	return o;
}

static jv invocation_event(jv row)
{
	static const char *const keys[] = { "agent", "session_id", "tick_id", "kind", "model",
					    "status", "stop_reason", "error", "input_tokens",
					    "output_tokens", "cache_write_tokens",
					    "cache_read_tokens", NULL };
	jv o = json_set(jv_object(), "type", jv_string("invocation"));

	o = json_set(o, "id", field(row, "id"));
	o = json_set(o, "at", field(row, "created_at"));
	o = copy_keys(o, row, keys);
	o = json_set(o, "cost_usd", pricing_usd(iget(row, "cost_micros")));
	o = json_set(o, "attempts", field(row, "attempts"));
	o = json_set(o, "duration_ms", field(row, "duration_ms"));
	jv_free(row);
	return o;
}

static jv action_event(jv row)
{
	jv o = json_set(jv_object(), "type", jv_string("action"));
	int ok = 1;

	o = json_set(o, "id", field(row, "id"));
	o = json_set(o, "at", field(row, "created_at"));
	o = json_set(o, "agent", field(row, "agent"));
	o = json_set(o, "session_id", field(row, "session_id"));
	o = json_set(o, "tick_id", field(row, "tick_id"));
	o = json_set(o, "invocation_id", field(row, "invocation_id"));
	o = json_set(o, "tool", field(row, "tool_name"));
	if (!json_bool(row, "success", &ok))
		ok = iget(row, "success") != 0;
	o = json_set(o, "success", jv_bool(ok));
	o = json_set(o, "error", field(row, "error"));
	o = json_set(o, "duration_ms", field(row, "duration_ms"));
	jv_free(row);
	return o;
}

/*
 * Events sort by second, then by their tick (its trigger row id: a tick and
 * what it caused stay together when the seconds tie), ticks first, then
 * model calls with the tool calls each asked for right after it.
 */
static jv event_key(jv ev, jv ranks)
{
	char *type = json_string(ev, "type"), *tick = json_string(ev, "tick_id");
	int64_t rank = 0, id = iget(ev, "id"), inv = 0, grp = 1, sub = 0;
	jv k;

	if (tick && jv_get_kind(ranks) == JV_KIND_OBJECT) {
		jv r = jv_object_get(jv_copy(ranks), jv_string(tick));

		if (jv_get_kind(r) == JV_KIND_NUMBER)
			rank = (int64_t)jv_number_value(r);
		jv_free(r);
	}
	if (type && !strcmp(type, "tick")) {
		grp = 0;
		rank = id;
	} else if (type && !strcmp(type, "invocation")) {
		inv = id;
	} else if (type && !strcmp(type, "action")) {
		inv = iget(ev, "invocation_id");
		sub = 1;
	} else if (type && !strcmp(type, "phase")) {
		grp = iget(ev, "order");
		id = 0;
	}
	k = jv_array();
	k = jv_array_append(k, num(iget(ev, "at")));
	k = jv_array_append(k, num(rank));
	k = jv_array_append(k, num(grp));
	k = jv_array_append(k, num(inv));
	k = jv_array_append(k, num(sub));
	k = jv_array_append(k, num(id));
	free(type);
	free(tick);
	return k;
}

static jv sort_events(jv events, jv ranks)
{
	jv keys = jv_array();

	jv_array_foreach(events, i, ev) {
		keys = jv_array_append(keys, event_key(ev, ranks));
		jv_free(ev);
	}
	jv_free(ranks);
	return jv_sort(events, keys);
}

/* ranks: tick id -> trigger row id, for the ticks among events (borrowed) */
static jv tick_ranks(jv events, jv ranks)
{
	jv_array_foreach(events, i, ev) {
		char *type = json_string(ev, "type"), *tick = json_string(ev, "tick_id");

		if (type && tick && !strcmp(type, "tick"))
			ranks = jv_object_set(ranks, jv_string(tick), num(iget(ev, "id")));
		free(type);
		free(tick);
		jv_free(ev);
	}
	jv_free(events);
	return ranks;
}

/* The events as shown: their times as text (they sort by the numbers). */
static jv events_out(jv events)
{
	jv out = jv_array();

	jv_array_foreach(events, i, ev)
		out = jv_array_append(out, json_time_at(ev, "at"));
	jv_free(events);
	return out;
}

static jv phase_event(const char *phase, jv at, int order)
{
	jv o = json_set(jv_object(), "type", jv_string("phase"));

	o = json_set(o, "at", at);
	o = json_set(o, "phase", jv_string(phase));
	return json_set(o, "order", jv_number(order));
}

/* ---------------------------------------------------------------- session */

static jv strategy_json(jv row)
{
	jv cfg = field(row, "strategy_config"), o, inds = jv_array(), list;

	if (jv_get_kind(cfg) != JV_KIND_OBJECT && !json_is_set(row, "strategy_name")) {
		jv_free(cfg);
		jv_free(inds);
		return jv_null();
	}
	o = json_set(jv_object(), "name", field(row, "strategy_name"));
	o = json_set(o, "path", field(row, "strategy_path"));
	o = json_set(o, "description", field(cfg, "description"));
	o = json_set(o, "hypothesis", field(cfg, "hypothesis"));
	list = field(cfg, "indicators");
	if (jv_get_kind(list) == JV_KIND_ARRAY) {
		jv_array_foreach(list, i, ind) {
			jv n = field(ind, "name");

			if (jv_get_kind(n) == JV_KIND_STRING)
				inds = jv_array_append(inds, n);
			else
				jv_free(n);
			jv_free(ind);
		}
	}
	jv_free(list);
	o = json_set(o, "indicators", inds);
	list = field(cfg, "training_data");
	o = json_set(o, "symbols", json_is_set(list, "symbols.list") ? json_get(jv_copy(list), "symbols.list")
								       : field(cfg, "symbols"));
	o = json_set(o, "timeframes", json_is_set(list, "timeframes.list")
					      ? json_get(jv_copy(list), "timeframes.list")
					      : field(cfg, "timeframes"));
	jv_free(list);
	o = json_set(o, "model", field(cfg, "model.type"));
	o = json_set(o, "epochs", field(cfg, "model.training.epochs"));
	jv_free(cfg);
	return o;
}

static jv session_training(jv row, jv metrics)
{
	jv r = field(row, "training_results"), g = field(row, "training_gate"), o;

	if (!json_is_set(row, "training_operation_id") && jv_get_kind(r) != JV_KIND_OBJECT) {
		jv_free(r);
		jv_free(g);
		return jv_null();
	}
	o = json_set(jv_object(), "operation_id", field(row, "training_operation_id"));
	o = json_set(o, "accuracy", first_number(r, "test_metrics.test_accuracy", "accuracy"));
	o = json_set(o, "loss", first_number(r, "test_metrics.test_loss", "final_loss"));
	o = json_set(o, "loss_decrease", gate_value(g, "loss_decrease"));
	o = json_set(o, "epochs_trained", first_number(r, "training_metrics.epochs_trained", "epochs_trained"));
	o = json_set(o, "epochs_planned", jv_null());
	o = json_set(o, "early_stopped", field(r, "training_metrics.early_stopped"));
	o = json_set(o, "model_path", field(r, "model_path"));
	o = json_set(o, "gate", g);
	if (jv_get_kind(o) == JV_KIND_OBJECT && !json_is_set(o, "epochs_trained"))
		o = json_set(o, "epochs_trained", field(metrics, "training_epochs"));
	jv_free(r);
	return o;
}

static jv session_backtest(jv row, jv metrics)
{
	jv r = field(row, "backtest_results"), g = field(row, "backtest_gate"), o;

	if (!json_is_set(row, "backtest_operation_id") && jv_get_kind(r) != JV_KIND_OBJECT) {
		jv_free(r);
		jv_free(g);
		return jv_null();
	}
	o = json_set(jv_object(), "operation_id", field(row, "backtest_operation_id"));
	o = json_set(o, "sharpe", first_number(r, "metrics.sharpe_ratio", "sharpe_ratio"));
	o = json_set(o, "win_rate", first_number(r, "metrics.win_rate", "win_rate"));
	o = json_set(o, "max_drawdown", first_number(r, "metrics.max_drawdown_pct", "max_drawdown_pct"));
	o = json_set(o, "trades", first_number(r, "metrics.total_trades", "trade_count"));
	o = json_set(o, "profit_factor", first_number(r, "metrics.profit_factor", "profit_factor"));
	o = json_set(o, "total_return_pct", first_number(r, "metrics.total_return_pct", "total_return_pct"));
	o = json_set(o, "gate", g);
	if (!json_is_set(o, "trades"))
		o = json_set(o, "trades", field(metrics, "backtest_trades"));
	jv_free(r);
	return o;
}

int views_session(struct store *s, int64_t id, int64_t now, jv *out, struct err *e)
{
	jv row = jv_null(), usage = jv_null(), metrics = jv_null(), invs = jv_null();
	jv acts = jv_null(), tl = jv_array(), o, sess, cost, tr;
	int64_t created, done = 0;
	int rc, truncated;

	if ((rc = session_get(s, id, &row, e)))
		goto out;
	if (jv_get_kind(row) != JV_KIND_OBJECT) {
		rc = err_set(e, EX_NO, "no session %lld", (long long)id);
		goto out;
	}
	if ((rc = store_query1(s, "views_session_usage", P(num(id)), &usage, e)) ||
	    (rc = store_query1(s, "views_session_metrics", P(num(id)), &metrics, e)) ||
	    (rc = store_query(s, "views_session_invocations", P(num(id), num(VIEWS_LIMIT_MAX)),
			      &invs, e)) ||
	    (rc = store_query(s, "views_session_actions", P(num(id), num(VIEWS_LIMIT_MAX)),
			      &acts, e)))
		goto out;
	truncated = jv_array_length(jv_copy(invs)) >= VIEWS_LIMIT_MAX ||
		    jv_array_length(jv_copy(acts)) >= VIEWS_LIMIT_MAX;
	for (int i = 0; i < 4; i++)
		if (json_is_set(row, phase_cols[i]))
			tl = jv_array_append(tl, phase_event(phase_names[i], field(row, phase_cols[i]),
							     i == 1 ? 2 : 0));
	if (json_is_set(row, "completed_at"))
		tl = jv_array_append(tl, phase_event("idle", field(row, "completed_at"), 2));
	jv_array_foreach(invs, i, r)
		tl = jv_array_append(tl, invocation_event(r));
	jv_array_foreach(acts, i, r)
		tl = jv_array_append(tl, action_event(r));
	tl = events_out(sort_events(tl, jv_object()));
	created = iget(row, "created_at");
	sess = jv_object();
	{
		static const char *const keys[] = { "id", "agent", "phase", "outcome", "failure_reason",
						    "retry_count", "created_at", "updated_at",
						    "completed_at", "designing_at", "training_at",
						    "backtesting_at", "assessing_at", NULL };

		sess = copy_keys(sess, row, keys);
		for (int i = 6; keys[i]; i++)
			sess = json_time_at(sess, keys[i]);
	}
	if (!json_int(row, "completed_at", &done))
		done = now;
	sess = json_set(sess, "duration_seconds", num(done > created ? done - created : 0));
	sess = json_set(sess, "age_seconds", num(now > created ? now - created : 0));
	cost = jv_object();
	{
		static const char *const keys[] = { "invocations", "input_tokens", "output_tokens",
						    "cache_write_tokens", "cache_read_tokens", NULL };

		cost = copy_keys(cost, usage, keys);
	}
	cost = json_set(cost, "usd", pricing_usd(iget(usage, "cost_micros")));
	tr = session_training(row, metrics);
	if (jv_get_kind(tr) == JV_KIND_OBJECT && !json_is_set(tr, "epochs_planned")) {
		jv cfg = field(row, "strategy_config");

		tr = json_set(tr, "epochs_planned", field(cfg, "model.training.epochs"));
		jv_free(cfg);
	}
	o = json_set(jv_object(), "session", sess);
	o = json_set(o, "strategy", strategy_json(row));
	o = json_set(o, "training", tr);
	o = json_set(o, "backtest", session_backtest(row, metrics));
	o = json_set(o, "assessment", json_time_at(field(row, "assessment"), "assessed_at"));
	{
		char *phase = json_string(row, "phase");

		o = json_set(o, "progress", phase && strcmp(phase, "idle")
					    ? json_time_at(field(row, "progress"), "updated_at") : jv_null());
		free(phase);
	}
	o = json_set(o, "cost", cost);
	o = json_set(o, "timeline", tl);
	o = json_set(o, "timeline_truncated", jv_bool(truncated));
	tl = jv_null();
	*out = o;
out:
	jv_free(row);
	jv_free(usage);
	jv_free(metrics);
	jv_free(invs);
	jv_free(acts);
	jv_free(tl);
	return rc;
}

/* ---------------------------------------------------------------- logs */

void views_log_init(struct views_log *l, const char *agent, int64_t session)
{
	memset(l, 0, sizeof *l);
	snprintf(l->agent, sizeof l->agent, "%s", agent);
	l->session = session;
	l->pending = jv_array();
	l->seen = jv_object();
}

void views_log_release(struct views_log *l)
{
	jv_free(l->pending);
	jv_free(l->seen);
	l->pending = l->seen = jv_null();
}

static jv log_event(int table, jv row)
{
	return table == 0 ? tick_event(row) : table == 1 ? invocation_event(row) : action_event(row);
}

/* Reads one table (last: the newest n; else past its watermark) into
 * events, moving the watermark. */
static int log_read(struct views_log *l, struct store *s, int table, int last, int n,
		    jv *events, struct err *e)
{
	/* names as literals: a driver may keep the pointer (store_sqlite's
	 * statement cache does) */
	static const char *const names[3][2][2] = {
		{ { "views_log_ticks_after", "views_log_ticks_last" },
		  { "views_log_ticks_session_after", "views_log_ticks_session_last" } },
		{ { "views_log_invocations_after", "views_log_invocations_last" },
		  { "views_log_invocations_session_after", "views_log_invocations_session_last" } },
		{ { "views_log_actions_after", "views_log_actions_last" },
		  { "views_log_actions_session_after", "views_log_actions_session_last" } },
	};
	const char *name = names[table][l->session != 0][last != 0];
	jv rows, p;
	int rc;

	p = l->session ? P(num(l->session)) : P(jv_string(l->agent));
	if (!last)
		p = jv_array_append(p, num(l->after[table]));
	p = jv_array_append(p, num(n));
	if ((rc = store_query(s, name, p, &rows, e)))
		return rc;
	jv_array_foreach(rows, i, r) {
		int64_t id = iget(r, "id");

		if (id > l->after[table])
			l->after[table] = id;
		*events = jv_array_append(*events, log_event(table, r));
	}
	jv_free(rows);
	return 0;
}

static int tick_done(jv ev)
{
	return json_is_set(ev, "exit_status") || json_is_set(ev, "duration_ms");
}

/* Splits l->pending: what may be shown now goes to *ready (sorted); ticks
 * still running (for at most hold_s) and their calls stay.  hold_s < 0:
 * nothing is held. */
static void log_release(struct views_log *l, double mono_s, double hold_s, jv *ready)
{
	jv held = jv_object(), keep = jv_array(), out = jv_array(), ranks;

	if (hold_s >= 0 && jv_array_length(jv_copy(l->pending)) < 4 * VIEWS_LIMIT_MAX) {
		jv_array_foreach(l->pending, i, ev) {
			char *type = json_string(ev, "type"), *tick = json_string(ev, "tick_id");

			if (type && tick && !strcmp(type, "tick") && !tick_done(ev)) {
				jv first = jv_object_get(jv_copy(l->seen), jv_string(tick));
				double t0 = mono_s;

				if (jv_get_kind(first) == JV_KIND_NUMBER)
					t0 = jv_number_value(first);
				else
					l->seen = jv_object_set(l->seen, jv_string(tick), jv_number(mono_s));
				jv_free(first);
				if (mono_s - t0 < hold_s)
					held = jv_object_set(held, jv_string(tick), jv_true());
			}
			free(type);
			free(tick);
			jv_free(ev);
		}
	}
	ranks = tick_ranks(jv_copy(l->pending), jv_object());
	jv_array_foreach(l->pending, i, ev) {
		char *tick = json_string(ev, "tick_id");
		int hold = 0;

		if (tick) {
			jv h = jv_object_get(jv_copy(held), jv_string(tick));

			hold = jv_get_kind(h) == JV_KIND_TRUE;
			jv_free(h);
		}
		if (hold)
			keep = jv_array_append(keep, ev);
		else
			out = jv_array_append(out, ev);
		free(tick);
	}
	jv_free(held);
	jv_free(l->pending);
	l->pending = keep;
	/* forget ticks no longer held, so l->seen stays small */
	if (jv_array_length(jv_copy(keep)) == 0) {
		jv_free(l->seen);
		l->seen = jv_object();
	}
	*ready = sort_events(out, ranks);
}

/* Ticks held back are read again: they may have finished meanwhile. */
static int log_refresh(struct views_log *l, struct store *s, struct err *e)
{
	jv fresh = jv_array();
	int rc = 0;

	jv_array_foreach(l->pending, i, ev) {
		char *type = json_string(ev, "type");

		if (rc == 0 && type && !strcmp(type, "tick") && !tick_done(ev)) {
			jv rows;

			/* the row again: id - 1 as the watermark, one row */
			jv p = l->session ? P(num(l->session)) : P(jv_string(l->agent));

			p = jv_array_append(p, num(iget(ev, "id") - 1));
			p = jv_array_append(p, num(1));
			rc = store_query(s, l->session ? "views_log_ticks_session_after"
						       : "views_log_ticks_after", p, &rows, e);
			if (rc == 0 && jv_array_length(jv_copy(rows)) == 1) {
				jv_free(ev);
				ev = tick_event(jv_array_get(jv_copy(rows), 0));
			}
			if (rc == 0)
				jv_free(rows);
		}
		fresh = jv_array_append(fresh, ev);
		free(type);
	}
	jv_free(l->pending);
	l->pending = fresh;
	return rc;
}

int views_log_last(struct views_log *l, struct store *s, int limit, jv *events,
		   struct err *e)
{
	jv all = jv_array(), ranks;
	int rc = 0, n;

	if (limit < 0 || limit > VIEWS_LIMIT_MAX) {
		jv_free(all);
		return err_set(e, EX_USAGE, "limit must be from 0 to %d", VIEWS_LIMIT_MAX);
	}
	for (int t = 0; t < 3 && rc == 0; t++)
		rc = log_read(l, s, t, 1, limit > 0 ? limit : 1, &all, e);
	if (rc) {
		jv_free(all);
		return rc;
	}
	ranks = tick_ranks(jv_copy(all), jv_object());
	all = sort_events(all, ranks);
	n = jv_array_length(jv_copy(all));
	*events = events_out(jv_array_slice(all, n > limit ? n - limit : 0, n));
	return 0;
}

int views_log_next(struct views_log *l, struct store *s, double mono_s, double hold_s,
		   jv *events, struct err *e)
{
	int rc = log_refresh(l, s, e);

	for (int t = 0; t < 3 && rc == 0; t++)
		rc = log_read(l, s, t, 0, VIEWS_LIMIT_MAX / 2, &l->pending, e);
	if (rc)
		return rc;
	log_release(l, mono_s, hold_s, events);
	*events = events_out(*events);
	return 0;
}

/* metrics: per-session figures of ended cycles, written once by the last stage. */
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "base/clock.h"
#include "base/json.h"
#include "control.h"
#include "notice.h"
#include "store/lease.h"
#include "obs/metrics.h"
#include "pricing.h"
#include "session.h"
#include "tick.h"

void metrics_init(struct metrics_ctx *c, const char *db)
{
	memset(c, 0, sizeof *c);
	c->db = db;
	c->problems = jv_array();
}

jv metrics_problems(struct metrics_ctx *c)
{
	jv p = c->problems;

	c->problems = jv_array();
	return p;
}

void metrics_release(struct metrics_ctx *c)
{
	jv_free(c->problems);
	c->problems = jv_null();
	store_close(c->store);
	c->store = NULL;
}

static int need_store(struct metrics_ctx *c, struct err *e)
{
	return c->store ? 0 : store_open(&c->store, c->db, e);
}

void metrics_preopen(struct metrics_ctx *c)
{
	struct err ignored = ERR_INIT;

	if (!c->store && store_exists(c->db))
		(void)need_store(c, &ignored);
}

int metrics_store(struct metrics_ctx *c, struct store **s, struct err *e)
{
	int rc = need_store(c, e);

	*s = c->store;
	return rc;
}

/* The first number found at any of the paths (NULL-terminated), or null. */
static jv first_number(jv v, const char *const *paths, int integer)
{
	double d;
	int64_t i;

	for (; *paths; paths++) {
		if (integer && json_int(v, *paths, &i))
			return jv_number((double)i);
		if (!integer && json_number(v, *paths, &d))
			return jv_number(d);
	}
	return jv_null();
}

#define PATHS(...) ((const char *const[]){ __VA_ARGS__, NULL })

jv metrics_of_session(jv session, jv usage, int64_t now)
{
	static const char *const phase_at[] = { "designing_at", "training_at", "backtesting_at",
						"assessing_at", "completed_at" };
	static const char *const phase_col[] = { "designing_seconds", "training_seconds",
						 "backtesting_seconds", "assessing_seconds" };
	static const char *const usage_col[] = { "invocations", "input_tokens", "output_tokens",
						 "cache_write_tokens", "cache_read_tokens",
						 "cost_micros", NULL };
	int64_t at[5], created = 0, sid = 0;
	int has[5];
	char *outcome = json_string(session, "outcome"), *agent = json_string(session, "agent");
	jv m = jv_object(), tr = json_get(jv_copy(session), "training_results");
	jv bt = json_get(jv_copy(session), "backtest_results");

	for (int i = 0; i < 5; i++)
		has[i] = json_int(session, phase_at[i], &at[i]);
	if (!has[4]) {
		at[4] = now;
		has[4] = 1;
	}
	json_int(session, "created_at", &created);
	json_int(session, "id", &sid);
	m = json_set(m, "session_id", jv_number((double)sid));
	m = json_set(m, "agent", jv_string(agent ? agent : "default"));
	m = json_set(m, "outcome", jv_string(outcome ? outcome : "failed_interrupted"));
	m = json_set(m, "failed_gate",
		     outcome && !strcmp(outcome, "failed_training_gate") ? jv_string("training") :
		     outcome && !strcmp(outcome, "failed_backtest_gate") ? jv_string("backtest") :
		     jv_null());
	m = json_set(m, "strategy_name", json_get(jv_copy(session), "strategy_name"));
	m = json_set(m, "cycle_started_at", jv_number((double)created));
	m = json_set(m, "cycle_completed_at", jv_number((double)at[4]));
	m = json_set(m, "cycle_seconds", jv_number((double)(at[4] > created ? at[4] - created : 0)));
	for (int i = 0; i < 4; i++) {
		jv d = jv_null();

		for (int j = i + 1; has[i] && j < 5 && jv_get_kind(d) == JV_KIND_NULL; j++)
			if (has[j])
				d = jv_number((double)(at[j] > at[i] ? at[j] - at[i] : 0));
		m = json_set(m, phase_col[i], d);
	}
	if (!jv_is_valid(tr))
		tr = jv_null();
	if (!jv_is_valid(bt))
		bt = jv_null();
	m = json_set(m, "training_accuracy", first_number(tr, PATHS("test_metrics.test_accuracy", "accuracy"), 0));
	m = json_set(m, "training_loss", first_number(tr, PATHS("test_metrics.test_loss", "final_loss"), 0));
	m = json_set(m, "training_epochs",
		     first_number(tr, PATHS("training_metrics.epochs_trained", "epochs_trained"), 1));
	m = json_set(m, "backtest_sharpe", first_number(bt, PATHS("metrics.sharpe_ratio", "sharpe_ratio"), 0));
	m = json_set(m, "backtest_win_rate", first_number(bt, PATHS("metrics.win_rate", "win_rate"), 0));
	m = json_set(m, "backtest_max_drawdown",
		     first_number(bt, PATHS("metrics.max_drawdown_pct", "max_drawdown_pct", "max_drawdown"), 0));
	m = json_set(m, "backtest_trades",
		     first_number(bt, PATHS("metrics.total_trades", "trade_count", "total_trades"), 1));
	m = json_set(m, "backtest_profit_factor",
		     first_number(bt, PATHS("metrics.profit_factor", "profit_factor"), 0));
	for (const char *const *k = usage_col; *k; k++) {
		int64_t v = 0;

		json_int(usage, *k, &v);
		m = json_set(m, *k, jv_number((double)v));
	}
	jv_free(tr);
	jv_free(bt);
	free(outcome);
	free(agent);
	return m;
}

/* metrics_insert's parameters, in its column order. */
static jv insert_params(jv m)
{
	static const char *const cols[] = {
		"session_id", "agent", "outcome", "failed_gate", "strategy_name",
		"cycle_started_at", "cycle_completed_at", "cycle_seconds", "designing_seconds",
		"training_seconds", "backtesting_seconds", "assessing_seconds", "training_accuracy",
		"training_loss", "training_epochs", "backtest_sharpe", "backtest_win_rate",
		"backtest_max_drawdown", "backtest_trades", "backtest_profit_factor", "invocations",
		"input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens",
		"cost_micros", NULL
	};
	jv p = jv_array();

	for (const char *const *c = cols; *c; c++) {
		jv v = jv_object_get(jv_copy(m), jv_string(*c));

		p = jv_array_append(p, jv_is_valid(v) ? v : jv_null());
	}
	return p;
}

static jv finish_params(const char *id, int64_t duration_ms, int status, const char *stage,
			const char *detail)
{
	jv p = jv_array_append(jv_array(), jv_string(id));

	p = jv_array_append(p, jv_number((double)(duration_ms > 0 ? duration_ms : 0)));
	p = jv_array_append(p, jv_number(status));
	p = jv_array_append(p, json_str_or_null(stage));
	return jv_array_append(p, json_str_or_null(detail));
}

/* The ended session's row, once; *added says whether this call wrote it. */
static int record_session(struct store *s, int64_t sid, int64_t now, jv *summary, struct err *e)
{
	jv row = jv_null(), usage = jv_null(), m;
	struct budget_cfg bc;
	char *agent = NULL, *phase = NULL;
	int rc, added;
	double cost = 0;

	*summary = jv_null();
	if ((rc = session_get(s, sid, &row, e)))
		return rc;
	phase = json_string(row, "phase");
	if (!phase || strcmp(phase, "idle") != 0) {
		rc = err_set(e, EX_DATA, "tick: session %lld has not ended (phase %s)", (long long)sid,
			     phase ? phase : "unknown");
		goto out;
	}
	rc = store_query1(s, "metrics_session_usage",
			  jv_array_append(jv_array(), jv_number((double)sid)), &usage, e);
	if (rc)
		goto out;
	m = metrics_of_session(row, usage, now);
	if ((rc = store_query(s, "metrics_insert", insert_params(m), NULL, e))) {
		jv_free(m);
		goto out;
	}
	added = store_changes(s) == 1;
	agent = json_string(m, "agent");
	if (added && (rc = budget_config(&bc, agent, e)) == 0)
		rc = budget_count_cycle(s, &bc, 1, e);
	if (rc) {
		jv_free(m);
		goto out;
	}
	json_number(m, "cost_micros", &cost);
	*summary = jv_object();
	*summary = json_set(*summary, "recorded", jv_bool(added));
	*summary = json_set(*summary, "outcome", json_get(jv_copy(m), "outcome"));
	*summary = json_set(*summary, "failed_gate", json_get(jv_copy(m), "failed_gate"));
	*summary = json_set(*summary, "cycle_seconds", json_get(jv_copy(m), "cycle_seconds"));
	*summary = json_set(*summary, "invocations", json_get(jv_copy(m), "invocations"));
	/* tokens as the GenAI conventions count them for Anthropic: input
	 * includes the cache reads and writes (the research cycle's span) */
	{
		int64_t in = 0, cw = 0, cr = 0, out = 0;

		json_int(m, "input_tokens", &in);
		json_int(m, "cache_write_tokens", &cw);
		json_int(m, "cache_read_tokens", &cr);
		json_int(m, "output_tokens", &out);
		*summary = json_set(*summary, "input_tokens", jv_number((double)(in + cw + cr)));
		*summary = json_set(*summary, "output_tokens", jv_number((double)out));
	}
	*summary = json_set(*summary, "cost_usd", pricing_usd((int64_t)cost));
	jv_free(m);
out:
	free(agent);
	free(phase);
	jv_free(row);
	jv_free(usage);
	return rc;
}

static int recorded(jv summary)
{
	int yes = 0;

	return json_bool(summary, "recorded", &yes) && yes;
}

/* What the operator must hear of, in the tick's transaction: the breaker
 * first (a pause is a notice), then the notices.  A malformed setting is a
 * problem said, not a failed tick (agent-trigger refuses it first). */
static int notices(struct metrics_ctx *c, const char *agent, int64_t now, jv ended, int budget,
		   struct notice_cfg *nc, jv *fresh, struct err *e)
{
	struct err ce = ERR_INIT;
	char why[600];
	int limit, rc;

	*fresh = jv_null();
	if (control_breaker_limit(&limit, &ce) || notice_config(nc, agent, &ce)) {
		c->problems = jv_array_append(c->problems, jv_string(ce.msg));
		jv_free(ended);
		return 0;
	}
	nc->now = now;
	nc->budget = budget;
	/* the breaker moves only when a session ends */
	if (jv_array_length(jv_copy(ended)) > 0 &&
	    (rc = control_breaker(c->store, agent, limit, now, why, sizeof why, e))) {
		jv_free(ended);
		return rc;
	}
	return notice_scan(c->store, nc, ended, fresh, e);
}

/* After the commit: each new notice out, within its bound. */
static void deliver_notices(struct metrics_ctx *c, const struct notice_cfg *nc, jv fresh)
{
	struct err e = ERR_INIT;
	jv problems = jv_null();

	if (jv_get_kind(fresh) != JV_KIND_ARRAY || jv_array_length(jv_copy(fresh)) == 0) {
		jv_free(fresh);
		return;
	}
	if (notice_deliver(c->store, nc, fresh, &problems, &e))
		c->problems = jv_array_append(c->problems, jv_string(e.msg));
	jv_array_foreach(problems, i, m)
		c->problems = jv_array_append(c->problems, m);
	jv_free(problems);
}

/* Sessions that ended where no last stage saw them. */
static int record_missed(struct store *s, const char *agent, int64_t now, jv *ended,
			 struct err *e)
{
	jv rows, summary;
	int n, rc = store_query(s, "metrics_unrecorded",
				jv_array_append(jv_array(), jv_string(agent)), &rows, e);

	if (rc)
		return rc;
	n = jv_array_length(jv_copy(rows));
	for (int i = 0; i < n && rc == 0; i++) {
		int64_t sid = 0;
		jv r = jv_array_get(jv_copy(rows), i);

		json_int(r, "id", &sid);
		jv_free(r);
		rc = record_session(s, sid, now, &summary, e);
		if (rc == 0 && recorded(summary))
			*ended = jv_array_append(*ended, jv_number((double)sid));
		if (rc == 0)
			jv_free(summary);
	}
	jv_free(rows);
	return rc;
}

static int ended(jv doc)
{
	char *phase = tick_session_phase(doc), *outcome = json_string(doc, "session.outcome");
	int yes = tick_action_is(doc, "end") && phase && !strcmp(phase, "idle") && outcome;

	free(phase);
	free(outcome);
	return yes;
}

int metrics_tick(struct metrics_ctx *c, jv doc, jv *out, struct err *e)
{
	char *id = NULL, *agent = NULL, *at = NULL;
	int64_t now_us, at_us = 0, sid;
	jv summary = jv_null(), ids = jv_null(), fresh = jv_null();
	struct notice_cfg nc;
	int rc, dry = 0, end = 0;

	if ((rc = tick_check(doc, e)))
		goto fail;
	if (json_bool(doc, "tick.dry_run", &dry) && dry) {
		*out = doc;
		return 0;
	}
	id = tick_id(doc);
	agent = tick_agent(doc);
	at = json_string(doc, "tick.at");
	if ((rc = clock_now(&now_us, e))) {
		rc = e->code = EX_PERM;
		goto fail;
	}
	if (!at || clock_parse(at, &at_us) < 0)
		at_us = now_us;
	if ((rc = need_store(c, e)) || (rc = store_begin(c->store, e)))
		goto fail;
	sid = tick_session_id(doc);
	end = ended(doc) && sid;
	ids = jv_array();
	if (end && (rc = record_session(c->store, sid, now_us / 1000000, &summary, e)) == 0 &&
	    recorded(summary))
		ids = jv_array_append(ids, jv_number((double)sid));
	if (rc == 0)
		rc = record_missed(c->store, agent, now_us / 1000000, &ids, e);
	if (rc == 0) {
		/* the budget moves when the tick spent (or skipped for it) */
		int spend = json_is_set(doc, "invocation") || json_is_set(doc, "budget") ||
			    tick_action_is(doc, "invoke") || jv_array_length(jv_copy(ids)) > 0;
		char *reason = json_string(doc, "reason");

		spend |= reason && !strcmp(reason, "budget_exhausted");
		free(reason);
		rc = notices(c, agent, now_us / 1000000, ids, spend, &nc, &fresh, e);
		ids = jv_null();
	}
	if (rc == 0)
		rc = lease_release(c->store, agent, id, now_us / 1000000, e);
	if (rc == 0)
		rc = store_query(c->store, "trigger_finish",
				 finish_params(id, (now_us - at_us) / 1000, 0, NULL, NULL), NULL, e);
	if (rc) {
		store_rollback(c->store);
		goto fail;
	}
	if ((rc = store_commit(c->store, e)))
		goto fail;
	deliver_notices(c, &nc, fresh);
	fresh = jv_null();
	if (end) {
		/* a few times a day, the rollups need not wait for a scrape; a
		 * fold that fails is the next rendering's to do, not the tick's */
		struct err later = ERR_INIT;

		(void)metrics_fold(c->store, &later);
	}
	if (jv_get_kind(summary) == JV_KIND_OBJECT)
		doc = json_set(doc, "metrics", summary);
	else
		jv_free(summary);
	*out = doc;
	free(id);
	free(agent);
	free(at);
	return 0;
fail:
	jv_free(summary);
	jv_free(ids);
	jv_free(fresh);
	jv_free(doc);
	free(id);
	free(agent);
	free(at);
	return rc;
}

int metrics_release_tick(struct metrics_ctx *c, const char *agent, const char *id, int status,
			 const char *stage, const char *detail, jv *out, int *closed, struct err *e)
{
	char *row_agent = NULL;
	const char *who = agent;
	int64_t now_us, at = 0;
	jv row = jv_null(), fresh = jv_null();
	struct notice_cfg nc;
	int rc, recorded = 0, released = 0;

	if ((rc = clock_now(&now_us, e)))
		return e->code = EX_PERM;
	if ((rc = need_store(c, e)) || (rc = store_begin(c->store, e)))
		return rc;
	rc = store_query1(c->store, "trigger_get", jv_array_append(jv_array(), jv_string(id)), &row, e);
	if (rc == 0 && jv_get_kind(row) == JV_KIND_OBJECT) {
		int64_t st;

		row_agent = json_string(row, "agent");
		json_int(row, "at", &at);
		recorded = 1;
		if (closed)
			*closed = json_int(row, "exit_status", &st);
	}
	if (!who)
		who = row_agent;
	if (!who)
		who = getenv("AGENT_NAME") && *getenv("AGENT_NAME") ? getenv("AGENT_NAME") : "default";
	if (rc == 0 && (rc = lease_release(c->store, who, id, now_us / 1000000, e)) == 0)
		released = store_changes(c->store) == 1;
	if (rc == 0 && recorded) {
		rc = store_query(c->store, "trigger_finish",
				 finish_params(id, now_us / 1000 - at * 1000, status, stage, detail), NULL, e);
	} else if (rc == 0) {
		/* failed before agent-trigger wrote its row: the row says so */
		jv p = jv_array_append(jv_array_append(jv_array(), jv_string(who)), jv_string(id));

		p = jv_array_append(p, jv_number((double)(now_us / 1000000)));
		p = jv_array_append(p, jv_number(status));
		p = jv_array_append(p, json_str_or_null(stage));
		p = jv_array_append(p, json_str_or_null(detail));
		rc = store_query(c->store, "trigger_insert_failed", p, NULL, e);
	}
	if (rc == 0)
		rc = notices(c, who, now_us / 1000000, jv_array(), 1, &nc, &fresh, e);
	if (rc)
		store_rollback(c->store);
	else
		rc = store_commit(c->store, e);
	if (rc == 0)
		deliver_notices(c, &nc, fresh);
	else
		jv_free(fresh);
	if (rc == 0) {
		jv o = jv_object();

		o = json_set(o, "tick", jv_string(id));
		o = json_set(o, "agent", jv_string(who));
		o = json_set(o, "released", jv_bool(released));
		o = json_set(o, "recorded", jv_bool(recorded));
		o = json_set(o, "exit_status", jv_number(status));
		o = json_set(o, "failed_stage", json_str_or_null(stage));
		o = json_set(o, "error", json_str_or_null(detail));
		*out = o;
	}
	free(row_agent);
	jv_free(row);
	return rc;
}

void metrics_tick_trace(struct metrics_ctx *c, const char *id, const char *span_hex,
			struct metrics_tick_trace *t)
{
	struct err e = ERR_INIT;
	jv row = jv_null(), session = jv_null();
	int64_t sid = 0;
	char *trace = NULL, *phase = NULL;

	t->tp[0] = t->phase[0] = 0;
	if (!span_hex || strlen(span_hex) != 16 || !c->store ||
	    store_query1(c->store, "trigger_get", jv_array_append(jv_array(), jv_string(id)), &row, &e) ||
	    !json_int(row, "session_id", &sid) || !sid || session_get(c->store, sid, &session, &e))
		goto out;
	trace = json_string(session, "trace_id");
	phase = json_string(session, "phase");
	if (trace && strlen(trace) == 32) {
		snprintf(t->tp, sizeof t->tp, "00-%s-%s-01", trace, span_hex);
		snprintf(t->phase, sizeof t->phase, "%s", phase ? phase : "");
	}
out:
	jv_free(row);
	jv_free(session);
	free(trace);
	free(phase);
}


/* stage: the gate and budget stages of the five-minute pipeline. */
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "invoke.h"
#include "base/clock.h"
#include "base/json.h"
#include "pricing.h"
#include "session.h"
#include "stage.h"
#include "net/trace.h"
#include "tick.h"

void stage_init(struct stage_ctx *c, const char *db)
{
	memset(c, 0, sizeof *c);
	c->db = db;
	c->gate_sets = jv_array();
}

void stage_release(struct stage_ctx *c)
{
	for (int i = 0; i < 2; i++)
		if (c->gates_ready[i])
			gate_release(&c->gates[i]);
	jv_free(c->gate_sets);
	store_close(c->store);
	c->store = NULL;
}

static int need_store(struct stage_ctx *c, struct err *e)
{
	return c->store ? 0 : store_open(&c->store, c->db, e);
}

static int need_gate(struct stage_ctx *c, int which, struct err *e)
{
	struct gate *g = &c->gates[which];
	int n, rc;

	if (c->gates_ready[which])
		return 0;
	rc = gate_init(g, which == 0 ? "training" : "backtest", e);
	if (rc)
		return rc;
	n = jv_array_length(jv_copy(c->gate_sets));
	for (int i = 0; i < n && rc == 0; i++) {
		jv a = jv_array_get(jv_copy(c->gate_sets), i);

		rc = gate_set(g, jv_string_value(a), e);
		jv_free(a);
	}
	if (rc == 0)
		rc = gate_compile(g, e);
	if (rc) {
		gate_release(g);
		return rc;
	}
	c->gates_ready[which] = 1;
	return 0;
}

int stage_gate(struct stage_ctx *c, jv doc, jv *out, struct err *e)
{
	char *phase = NULL;
	int64_t sid, now;
	int which, rc, passed;
	jv result, verdict = jv_null(), fields, row = jv_null();
	const char *to;

	if ((rc = tick_check(doc, e)))
		goto fail;
	if (!tick_action_is(doc, "gate")) {
		*out = doc;
		return 0;
	}
	sid = tick_session_id(doc);
	phase = tick_session_phase(doc);
	if (!sid || !phase || (strcmp(phase, "training") && strcmp(phase, "backtesting"))) {
		rc = err_set(e, EX_DATA, "tick: action gate needs a session in training or backtesting");
		goto fail;
	}
	which = strcmp(phase, "training") == 0 ? 0 : 1;
	result = json_get(jv_copy(doc), "result");
	if (jv_get_kind(result) != JV_KIND_OBJECT) {
		jv_free(result);
		rc = err_set(e, EX_DATA, "tick: action gate needs a result object");
		goto fail;
	}
	if ((rc = need_gate(c, which, e))) {
		jv_free(result);
		goto fail;
	}
	rc = gate_eval(&c->gates[which], jv_copy(result), &verdict, e);
	if (rc) {
		jv_free(result);
		goto fail;
	}
	passed = gate_passed(verdict);
	fields = jv_object();
	fields = json_set(fields, which ? "backtest_results" : "training_results", result);
	fields = json_set(fields, which ? "backtest_gate" : "training_gate", jv_copy(verdict));
	if (passed) {
		to = which ? "assessing" : "backtesting";
		doc = json_set(doc, "action", jv_string("invoke"));
		doc = json_set(doc, "reason", jv_string(which ? "backtest_gate_passed"
							      : "training_gate_passed"));
	} else {
		to = "idle";
		fields = json_set(fields, "outcome", jv_string(which ? "failed_backtest_gate"
								     : "failed_training_gate"));
		fields = json_set(fields, "failure_reason", json_get(jv_copy(verdict), "detail"));
		doc = json_set(doc, "action", jv_string("end"));
		doc = json_set(doc, "reason", json_get(jv_copy(verdict), "reason"));
	}
	if ((rc = need_store(c, e)) || (rc = clock_now_s(&now, e))) {
		jv_free(fields);
		goto fail;
	}
	rc = store_begin(c->store, e);
	if (rc == 0)
		rc = session_move(c->store, sid, phase, to, fields, now, e);
	else
		jv_free(fields);
	if (rc == 0)
		rc = tick_record(c->store, doc, passed ? NULL : "gate_failed", -1, -1, -1, e);
	if (rc == 0)
		rc = session_get(c->store, sid, &row, e);
	if (rc) {
		store_rollback(c->store);
		goto fail;
	}
	if ((rc = store_commit(c->store, e)))
		goto fail;
	{
		/* the domain event, in the event schema's guardrail words */
		char *agent = tick_agent(doc), *reason = json_string(verdict, "reason");
		jv m = jv_object();

		m = json_set(m, "agent", jv_string(agent ? agent : "default"));
		m = json_set(m, "gate", jv_string(which ? "backtest" : "training"));
		m = json_set(m, "decision", jv_string(passed ? "pass" : "fail"));
		m = json_set(m, "reason", jv_string(reason && *reason ? reason : "none"));
		m = json_set(m, "to", jv_string(to));
		trace_event("guardrail.decision", sid, m);
		free(agent);
		free(reason);
	}
	doc = json_set(doc, "gate", verdict);
	doc = json_set(doc, "session", row);
	*out = doc;
	free(phase);
	return 0;
fail:
	free(phase);
	jv_free(verdict);
	jv_free(doc);
	return rc;
}

/* One call's estimate: AGENT_INVOKE_ESTIMATE_USD, else the worst case of a
 * modest first call (8000 input tokens, max_tokens output) at the prices of
 * the model that invocation kind runs on (lib/invoke.h invoke_model): enough
 * to refuse a tick that could not afford a single call. */
static int call_estimate(const char *kind, int64_t *est, struct err *e)
{
	const char *s = getenv("AGENT_INVOKE_ESTIMATE_USD");
	char mbuf[128];
	const char *model = invoke_model(kind, mbuf, sizeof mbuf);
	const char *mt = getenv("AGENT_MAX_TOKENS");
	struct pricing_model m;
	long max_tokens = mt && *mt ? strtol(mt, NULL, 10) : 4096;
	jv table;
	int rc;

	if (s && *s) {
		if (pricing_parse_usd(s, est) < 0)
			return err_set(e, EX_PERM, "AGENT_INVOKE_ESTIMATE_USD: not a dollar amount: '%.40s'", s);
		return 0;
	}
	if (max_tokens <= 0 || max_tokens > 1000000)
		max_tokens = 4096;
	if ((rc = pricing_load(&table, e)))
		return rc;
	rc = pricing_find(table, model, &m, e);
	jv_free(table);
	if (rc)
		return rc;
	*est = pricing_worst_case(&m, 8000, max_tokens, 0);
	return 0;
}

int stage_budget(struct stage_ctx *c, jv doc, jv *out, struct err *e)
{
	struct budget_cfg cfg;
	char *agent = NULL;
	const char *kind;
	int64_t est = 0, avail = 0, spent = 0, remaining = 0;
	jv status = jv_null();
	int rc, admit;
	double d;

	if ((rc = tick_check(doc, e)))
		goto fail;
	if (!tick_action_is(doc, "invoke")) {
		*out = doc;
		return 0;
	}
	agent = tick_agent(doc);
	{
		/* the kind the session's phase asks for (design when none yet) */
		char *phase = json_string(doc, "session.phase");

		kind = phase && !strcmp(phase, "assessing") ? "assessment"
		       : phase && !strcmp(phase, "backtesting") ? "post_training" : "design";
		free(phase);
	}
	if ((rc = budget_config(&cfg, agent, e)) || (rc = call_estimate(kind, &est, e)) ||
	    (rc = need_store(c, e)))
		goto fail;
	rc = store_begin(c->store, e);
	if (rc == 0)
		rc = budget_status(c->store, &cfg, &status, e);
	if (rc == 0) {
		if (json_number(status, "available_usd", &d))
			avail = pricing_micros(d);
		if (json_number(status, "spent_usd", &d))
			spent = pricing_micros(d);
		if (json_number(status, "remaining_usd", &d))
			remaining = pricing_micros(d);
		admit = avail >= est;
		status = json_set(status, "estimate_usd", pricing_usd(est));
		status = json_set(status, "admitted", jv_bool(admit));
		if (!admit) {
			doc = json_set(doc, "action", jv_string("skip"));
			doc = json_set(doc, "reason", jv_string("budget_exhausted"));
		}
		rc = tick_record(c->store, doc, admit ? NULL : "budget_exhausted", admit ? -1 : 0,
				 spent, remaining, e);
	}
	if (rc) {
		store_rollback(c->store);
		goto fail;
	}
	if ((rc = store_commit(c->store, e)))
		goto fail;
	{
		jv m = jv_object();

		m = json_set(m, "agent", jv_string(agent));
		m = json_set(m, "kind", jv_string(kind));
		m = json_set(m, "estimate_usd", pricing_usd(est));
		m = json_set(m, "available_usd", pricing_usd(avail));
		m = json_set(m, "admitted", jv_bool(admit));
		trace_event(admit ? "budget.admitted" : "budget.refused", tick_session_id(doc), m);
	}
	*out = json_set(doc, "budget", status);
	free(agent);
	return 0;
fail:
	free(agent);
	jv_free(status);
	jv_free(doc);
	return rc;
}

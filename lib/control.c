/* control: pause and resume the agent's ticks; cancel its research session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/env.h"
#include "net/backend.h"
#include "control.h"
#include "net/trace.h"
#include "base/json.h"
#include "session.h"

static int truthy(jv row, const char *k)
{
	jv v = json_get(jv_copy(row), k);
	int t = jv_get_kind(v) == JV_KIND_TRUE ||
		(jv_get_kind(v) == JV_KIND_NUMBER && jv_number_value(v) != 0);

	jv_free(v);
	return t;
}

int control_pause(struct store *s, const char *agent, int pause, const char *reason,
		  int64_t now, jv *out, struct err *e)
{
	jv row = jv_null(), p, o;
	int rc, was;

	if ((rc = store_begin(s, e)))
		return rc;
	rc = store_query1(s, "control_state", jv_array_append(jv_array(), jv_string(agent)), &row, e);
	if (rc)
		goto fail;
	was = truthy(row, "paused");
	{
		/* a pause of a paused agent keeps when (and, without a new
		 * reason, why and by whom) it was paused */
		jv why = pause && was && !(reason && *reason) ? json_get(jv_copy(row), "pause_reason")
							       : json_str_or_null(reason && *reason ? reason : NULL);
		jv by = pause && was && !(reason && *reason) ? json_get(jv_copy(row), "paused_by")
							      : jv_string("operator");
		int64_t since = now;

		if (pause && was)
			json_int(row, "paused_at", &since);
		if (jv_get_kind(by) != JV_KIND_STRING) {
			jv_free(by);
			by = jv_string("operator");
		}
		p = jv_array_append(jv_array(), jv_string(agent));
		p = jv_array_append(p, jv_bool(pause));
		p = jv_array_append(p, pause ? jv_copy(why) : jv_null());
		p = jv_array_append(p, pause ? jv_number((double)since) : jv_null());
		p = jv_array_append(p, jv_number((double)now));
		p = jv_array_append(p, pause ? by : (jv_free(by), jv_null()));
		jv_free(row);
		row = jv_null();
		if ((rc = store_query(s, "control_set_paused", p, NULL, e))) {
			jv_free(why);
			goto fail;
		}
		if ((rc = store_commit(s, e))) {
			jv_free(why);
			return rc;
		}
		o = jv_object();
		o = json_set(o, "agent", jv_string(agent));
		o = json_set(o, "command", jv_string(pause ? "pause" : "resume"));
		o = json_set(o, "paused", jv_bool(pause));
		o = json_set(o, "changed", jv_bool(was != pause));
		o = json_set(o, "reason", pause ? why : (jv_free(why), jv_null()));
		o = json_set(o, "paused_at", pause ? json_time(jv_number((double)since)) : jv_null());
	}
	*out = o;
	return 0;
fail:
	store_rollback(s);
	jv_free(row);
	return rc;
}

int control_breaker_limit(int *n, struct err *e)
{
	return env_int("AGENT_MAX_CONSECUTIVE_FAILURES", 3, 0, 100, n, e);
}

/* The failures that trip the breaker: the system failing, not the gates
 * working (failed_*_gate), nor an operator's cancel, nor an interrupted or
 * lost run (recovery's business). */
static const char *breaker_word(const char *outcome)
{
	static const char *const o[][2] = {
		{ "failed_design", "design" }, { "failed_training", "training" },
		{ "failed_backtest", "backtest" }, { "failed_assessment", "assessment" },
	};

	for (size_t i = 0; outcome && i < sizeof o / sizeof o[0]; i++)
		if (!strcmp(outcome, o[i][0]))
			return o[i][1];
	return NULL;
}

int control_breaker(struct store *s, const char *agent, int limit, int64_t now, char *why,
		    size_t size, struct err *e)
{
	jv st = jv_null(), rows = jv_null(), p;
	char *first = NULL, *last = NULL;
	const char *word;
	int64_t floor = 0;
	int rc, n, same = 1;

	if (why && size)
		why[0] = 0;
	if (limit <= 0)
		return 0;
	if ((rc = store_query1(s, "breaker_state", jv_array_append(jv_array(), jv_string(agent)), &st, e)))
		return rc;
	if (jv_get_kind(st) != JV_KIND_OBJECT || truthy(st, "paused")) {
		jv_free(st);
		return 0;
	}
	json_int(st, "breaker_floor", &floor);
	jv_free(st);
	p = jv_array_append(jv_array_append(jv_array_append(jv_array(), jv_string(agent)),
					    jv_number((double)floor)), jv_number(limit));
	if ((rc = store_query(s, "breaker_recent", p, &rows, e)))
		return rc;
	n = jv_array_length(jv_copy(rows));
	jv_array_foreach(rows, i, r) {
		char *o = json_string(r, "outcome");

		if (i == 0) {
			first = o;
			last = json_string(r, "failure_reason");
		} else {
			same &= o && first && !strcmp(o, first);
			free(o);
		}
		jv_free(r);
	}
	word = breaker_word(first);
	if (n == limit && same && word) {
		char reason[600];

		snprintf(reason, sizeof reason, "paused: %d %s failures in a row; last: %.400s", limit,
			 word, last && *last ? last : "no reason recorded");
		p = jv_array_append(jv_array_append(jv_array_append(jv_array(), jv_string(agent)),
						    jv_string(reason)), jv_number((double)now));
		if ((rc = store_query(s, "breaker_trip", p, NULL, e)) == 0 && store_changes(s) == 1 &&
		    why && size)
			snprintf(why, size, "%s", reason);
	}
	jv_free(rows);
	free(first);
	free(last);
	return rc;
}

/* DELETE /operations/{id}: what happened, as an object. */
static jv cancel_operation(const char *id, const char *reason, struct err *warn)
{
	struct backend b;
	struct err be = ERR_INIT;
	char path[200];
	long status = 0;
	jv resp = jv_null(), o = json_set(jv_object(), "id", jv_string(id));
	int rc;

	if ((rc = backend_init(&b, &be)) == 0) {
		snprintf(path, sizeof path, "/operations/%s", id);
		rc = backend_call(&b, "DELETE", path,
				  json_set(jv_object(), "reason", jv_string(reason)), &status, &resp, &be);
	}
	if (rc == 0 && status >= 200 && status <= 299) {
		jv_free(resp);
		return json_set(o, "cancelled", jv_true());
	}
	if (rc == 0)
		err_set(&be, EX_NO, "backend: DELETE %s: HTTP %ld%s", path, status,
			status == 404 ? " (unknown operation)" :
			status == 400 ? " (already finished)" : "");
	jv_free(resp);
	err_set(warn, be.code, "cannot cancel operation %s: %s", id, be.msg);
	o = json_set(o, "cancelled", jv_false());
	return json_set(o, "error", jv_string(be.msg));
}

static int cancel(struct store *s, const char *agent, int64_t only, const char *reason,
		  int64_t now, jv *out, struct err *warn, struct err *e)
{
	const char *why = reason && *reason ? reason : "cancelled by the operator";
	char *phase = NULL, *op = NULL, *done = NULL;
	jv session = jv_null(), operation = jv_null(), fields, o;
	int64_t sid = 0;
	int rc = 0;

	err_clear(warn);
	/* a tick may move the session meanwhile: then look again (bounded) */
	for (int attempt = 0; attempt < 3; attempt++) {
		free(phase);
		free(op);
		phase = op = NULL;
		jv_free(session);
		if ((rc = session_active(s, agent, &session, e)))
			goto out;
		if (jv_get_kind(session) == JV_KIND_OBJECT && only) {
			int64_t id = 0;

			json_int(session, "id", &id);
			if (id != only) {
				jv_free(session);
				session = jv_null();
			}
		}
		if (jv_get_kind(session) != JV_KIND_OBJECT) {
			o = json_set(jv_object(), "agent", jv_string(agent));
			o = json_set(o, "command", jv_string("cancel"));
			o = json_set(o, "cancelled", jv_false());
			o = json_set(o, "reason", jv_string("no_active_session"));
			*out = o;
			if (only)
				rc = err_set(e, EX_NO, "nothing to cancel: session %lld is not active",
					     (long long)only);
			else
				rc = err_set(e, EX_NO, "nothing to cancel: agent '%s' has no active session",
					     agent);
			goto out;
		}
		json_int(session, "id", &sid);
		phase = json_string(session, "phase");
		if (phase && !strcmp(phase, "training"))
			op = json_string(session, "training_operation_id");
		else if (phase && !strcmp(phase, "backtesting"))
			op = json_string(session, "backtest_operation_id");
		if (op && *op && (!done || strcmp(done, op))) {
			jv_free(operation);
			operation = cancel_operation(op, why, warn);
			free(done);
			done = strdup(op);
		}
		if ((rc = store_begin(s, e)))
			goto out;
		fields = json_set(jv_object(), "outcome", jv_string("cancelled"));
		fields = json_set(fields, "failure_reason", jv_string(why));
		rc = session_move(s, sid, phase ? phase : "", "idle", fields, now, e);
		if (rc == 0) {
			jv_free(session);
			session = jv_null();
			rc = session_get(s, sid, &session, e);
		}
		if (rc) {
			store_rollback(s);
			if (rc == EX_TEMP && attempt < 2)
				continue;
			goto out;
		}
		if ((rc = store_commit(s, e)))
			goto out;
		break;
	}
	trace_cycle_ended(jv_copy(session), phase);  /* the cycle's trace ends here */
	o = json_set(jv_object(), "agent", jv_string(agent));
	o = json_set(o, "command", jv_string("cancel"));
	o = json_set(o, "cancelled", jv_true());
	o = json_set(o, "session", session);
	o = json_set(o, "operation", operation);
	session = operation = jv_null();
	*out = o;
out:
	jv_free(session);
	jv_free(operation);
	free(phase);
	free(op);
	free(done);
	return rc;
}

int control_cancel(struct store *s, const char *agent, const char *reason, int64_t now,
		   jv *out, struct err *warn, struct err *e)
{
	return cancel(s, agent, 0, reason, now, out, warn, e);
}

int control_cancel_session(struct store *s, const char *agent, int64_t id, const char *reason,
			   int64_t now, jv *out, struct err *warn, struct err *e)
{
	return cancel(s, agent, id, reason, now, out, warn, e);
}

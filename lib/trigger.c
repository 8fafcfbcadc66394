/* trigger: one tick's decision from the store and the backend, recorded once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "control.h"
#include "notice.h"
#include "net/http.h"
#include "base/clock.h"
#include "base/env.h"
#include "base/json.h"
#include "store/lease.h"
#include "pricing.h"
#include "session.h"
#include "net/trace.h"
#include "trigger.h"

int trigger_config(struct trigger_cfg *c, const char *agent, const char *tick_id,
		   struct err *e)
{
	const char *tp = getenv("TRACEPARENT");
	char trace[33], span[17];
	int rc;

	memset(c, 0, sizeof *c);
	if (agent) {
		if (!trigger_name_ok(agent, 100))
			return err_set(e, EX_USAGE, "--agent: not 1 to 100 characters of [A-Za-z0-9_.-]: '%.60s'",
				       agent);
	} else {
		agent = getenv("AGENT_NAME");
		if (!agent || !*agent)
			agent = "default";
		if (!trigger_name_ok(agent, 100))
			return err_set(e, EX_PERM, "AGENT_NAME: not 1 to 100 characters of [A-Za-z0-9_.-]: '%.60s'",
				       agent);
	}
	snprintf(c->agent, sizeof c->agent, "%s", agent);
	if (tick_id) {
		if (!trigger_name_ok(tick_id, 64))
			return err_set(e, EX_USAGE, "--tick: not 1 to 64 characters of [A-Za-z0-9_.-]: '%.60s'",
				       tick_id);
		snprintf(c->tick_id, sizeof c->tick_id, "%s", tick_id);
	} else if ((rc = trigger_random_hex(c->tick_id, 16, e))) {
		return rc;
	}
	if (tp && trigger_traceparent_ok(tp)) {
		snprintf(c->traceparent, sizeof c->traceparent, "%.55s", tp);
	} else {
		if ((rc = trigger_random_hex(trace, 16, e)) || (rc = trigger_random_hex(span, 8, e)))
			return rc;
		snprintf(c->traceparent, sizeof c->traceparent, "00-%s-%s-01", trace, span);
	}
	if (env_flag("AGENT_AUTO_START", 1, &c->auto_start, e) ||
	    env_int("AGENT_MAX_RESUMES", 2, 0, 100, &c->max_resumes, e) ||
	    env_int("AGENT_MAX_CONN_FAILURES", 5, 1, 1000, &c->max_conn_failures, e) ||
	    env_flag("AGENT_COEXIST_CHECK", 1, &c->coexist, e) ||
	    env_flag("AGENT_HEALTH_CHECK", 1, &c->health, e) ||
	    env_int("AGENT_BUSY_BACKOFF_SECONDS", 300, 0, 86400, &c->busy_backoff, e) ||
	    control_breaker_limit(&c->max_failures, e))
		return EX_PERM;
	if (clock_now(&c->now_us, e))
		return e->code = EX_PERM;
	{
		/* the budget's and the notices' settings are checked now, not
		 * only when they are needed */
		struct budget_cfg b;
		struct notice_cfg n;

		if (budget_config(&b, c->agent, e) || notice_config(&n, c->agent, e))
			return e->code = EX_PERM;
	}
	c->lease_seconds = lease_seconds();
	if ((rc = backend_init(&c->backend, e)))
		return rc;
	return 0;
}

/* ---------------------------------------------------------------- decisions */

enum update { UPD_NONE, UPD_PROGRESS, UPD_UNREACHABLE, UPD_RESUMED };

struct decision {
	const char *event, *action, *reason;
	const char *outcome;       /* action "end": the session's outcome */
	char failure[512];         /* ... and its failure_reason */
	jv result;                 /* action "gate": the operation's result_summary */
	int create;                /* start a session (start_new_cycle) */
	enum update upd;
	jv progress;               /* UPD_PROGRESS */
	char new_op[129];          /* UPD_RESUMED: the operation id after the resume */
	struct budget_cfg budget;  /* read when create or budget_exhausted */
	int64_t spent, remaining;  /* -1 when the budget was not read */
	char detail[512];          /* the trigger row's one line ("": none) */
	int backend;               /* what the tick saw: 1 up, -1 down, 0 not asked */
	char backend_err[300];     /* ... down: why */
};

static void decide(struct decision *d, const char *event, const char *action, const char *reason)
{
	d->event = event;
	d->action = action;
	d->reason = reason;
}

static void end(struct decision *d, const char *event, const char *reason, const char *outcome,
		const char *failure)
{
	decide(d, event, "end", reason);
	d->outcome = outcome;
	snprintf(d->failure, sizeof d->failure, "%s", failure);
}

static int truthy(jv v, const char *path)
{
	jv x = json_get(jv_copy(v), path);
	jv_kind k = jv_get_kind(x);
	int t = k == JV_KIND_TRUE ||
		(k == JV_KIND_NUMBER && jv_number_value(x) != 0) ||
		(k == JV_KIND_OBJECT && jv_object_length(jv_copy(x)) > 0) ||
		(k == JV_KIND_STRING && jv_string_length_bytes(jv_copy(x)) > 0);

	jv_free(x);
	return t;
}

static int64_t int_field(jv row, const char *k)
{
	int64_t v = 0;

	json_int(row, k, &v);
	return v;
}

/* A string cut to at most max bytes without splitting a UTF-8 sequence. */
static jv bounded_string(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return jv_string(s);
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return jv_string_sized(s, (int)n);
}

/* What the session's progress column keeps of an operation. */
static jv progress_of(jv op, const char *id, int64_t now)
{
	jv p = jv_object();
	char *status = json_string(op, "status"), *step = json_string(op, "progress.current_step");
	double d;

	p = json_set(p, "operation_id", jv_string(id));
	if (status)
		p = json_set(p, "status", bounded_string(status, 32));
	if (json_number(op, "progress.percentage", &d) || json_number(op, "progress_percentage", &d))
		p = json_set(p, "percentage", jv_number(d));
	if (!step)
		step = json_string(op, "current_step");
	if (step)
		p = json_set(p, "current_step", bounded_string(step, 200));
	if (json_number(op, "progress.steps_completed", &d))
		p = json_set(p, "steps_completed", jv_number(d));
	if (json_number(op, "progress.steps_total", &d))
		p = json_set(p, "steps_total", jv_number(d));
	p = json_set(p, "updated_at", jv_number((double)now));
	free(status);
	free(step);
	return p;
}

/* GET /checkpoints/{id} (ktrdr/api/endpoints/checkpoints.py): 1 when the
 * backend kept one for the operation, 0 when it says there is none (404),
 * -1 when it could not say (then *pe says why). */
static int checkpoint_exists(const struct trigger_cfg *c, const char *id, struct err *pe)
{
	struct backend b = c->backend;
	char path[200];
	long status = 0;
	jv resp = jv_null();
	int rc;

	snprintf(path, sizeof path, "/checkpoints/%s", id);
	if (backend_call(&b, "GET", path, jv_null(), &status, &resp, pe))
		return -1;
	rc = status == 200 && json_kind_at(resp, "data") == JV_KIND_OBJECT ? 1 : status == 404 ? 0 : -1;
	if (rc < 0)
		err_set(pe, EX_TEMP, "backend: GET %s: HTTP %ld", path, status);
	jv_free(resp);
	return rc;
}

static void unreachable(const struct trigger_cfg *c, jv session, const char *kind,
			const char *msg, struct decision *d, struct err *warn)
{
	int64_t n = int_field(session, "conn_failures") + 1;
	char failure[64];

	d->backend = -1;
	snprintf(d->backend_err, sizeof d->backend_err, "%s", msg);
	snprintf(d->detail, sizeof d->detail, "%s (failure %lld of %d)", msg, (long long)n,
		 c->max_conn_failures);
	err_set(warn, EX_TEMP, "%s (failure %lld of %d)", msg, (long long)n, c->max_conn_failures);
	if (n >= c->max_conn_failures) {
		snprintf(failure, sizeof failure, "%s_service_unavailable", kind);
		end(d, strcmp(kind, "training") ? "backtest_failed" : "training_failed",
		    "backend_unreachable", strcmp(kind, "training") ? "failed_backtest" : "failed_training",
		    failure);
		return;
	}
	decide(d, strcmp(kind, "training") ? "backtest_running" : "training_running", "wait",
	       "backend_unreachable");
	d->upd = UPD_UNREACHABLE;
}

/* POST /operations/{id}/resume (ktrdr/api/endpoints/operations.py
 * resume_operation); the decision follows the backend's answer: 200 (the
 * operation is "resuming"), 409 already running or resuming (not a
 * failure: the next tick polls it), 404 (no operation or checkpoint after
 * all), 503 / 502 (no worker: counted like an unreachable backend). */
static void resume(const struct trigger_cfg *c, jv session, const char *kind, const char *id,
		   const char *failure, struct decision *d, struct err *warn)
{
	struct backend b = c->backend;
	struct err pe = ERR_INIT;
	char path[200], *next = NULL, *detail;
	const int training = strcmp(kind, "training") == 0;
	long status = 0;
	jv resp = jv_null();

	if (c->dry_run) {
		decide(d, "recovered", "wait", "operation_resumed");
		return;
	}
	snprintf(path, sizeof path, "/operations/%s/resume", id);
	if (backend_call(&b, "POST", path, jv_null(), &status, &resp, &pe)) {
		unreachable(c, session, kind, pe.msg, d, warn);
		return;
	}
	detail = json_string(resp, "detail");
	if (status == 409 && detail && (strstr(detail, "already running") || strstr(detail, "already resuming") ||
					strstr(detail, "already completed"))) {
		decide(d, training ? "training_running" : "backtest_running", "wait", "operation_resuming");
		free(detail);
		jv_free(resp);
		return;
	}
	if (status == 503 || status == 502) {
		err_set(&pe, EX_TEMP, "backend: POST %s: HTTP %ld: %.200s", path, status,
			detail ? detail : "no worker to resume on");
		unreachable(c, session, kind, pe.msg, d, warn);
		free(detail);
		jv_free(resp);
		return;
	}
	if (status < 200 || status > 299) {
		char f[512];

		err_set(warn, EX_PERM, "backend: POST %s: HTTP %ld: cannot resume", path, status);
		snprintf(f, sizeof f, "%s; resume refused (HTTP %ld: %.200s)", failure, status,
			 detail ? detail : "");
		end(d, training ? "training_failed" : "backtest_failed", "operation_failed",
		    training ? "failed_training" : "failed_backtest", f);
		free(detail);
		jv_free(resp);
		return;
	}
	free(detail);
	next = json_string(resp, "data.operation_id");
	if (next && backend_id_ok(next) && strcmp(next, id) != 0)
		snprintf(d->new_op, sizeof d->new_op, "%s", next);
	free(next);
	jv_free(resp);
	decide(d, "recovered", "wait", "operation_resumed");
	d->upd = UPD_RESUMED;
}

/* A session in training or backtesting with an operation: ask the backend. */
static void poll_operation(const struct trigger_cfg *c, jv session, const char *phase,
			   const char *id, struct decision *d, struct err *warn)
{
	const int training = strcmp(phase, "training") == 0;
	const char *kind = training ? "training" : "backtest";
	const char *ev_running = training ? "training_running" : "backtest_running";
	const char *ev_done = training ? "training_completed" : "backtest_completed";
	const char *ev_failed = training ? "training_failed" : "backtest_failed";
	const char *failed = training ? "failed_training" : "failed_backtest";
	struct backend b = c->backend;
	struct err pe = ERR_INIT;
	char *status = NULL, *msg = NULL, f[512];
	int64_t now = c->now_us / 1000000;
	jv op = jv_null();
	int rc = backend_operation(&b, id, &op, &pe);

	if (rc == 0 || rc == EX_NO || rc == EX_DATA)
		d->backend = 1;  /* it answered */
	switch (rc) {
	case 0:
		break;
	case EX_NO:
		snprintf(f, sizeof f, "the backend lost %s operation %s", kind, id);
		end(d, ev_failed, "operation_lost", "failed_orphan", f);
		goto out;
	case EX_DATA:
		snprintf(f, sizeof f, "%s operation id is not valid", kind);
		end(d, ev_failed, "operation_id_invalid", "failed_orphan", f);
		goto out;
	default:
		unreachable(c, session, kind, pe.msg, d, warn);
		goto out;
	}
	status = json_string(op, "status");
	msg = json_string(op, "error_message");
	if (!status) {
		err_set(&pe, EX_TEMP, "backend: GET /operations/%s: no status", id);
		unreachable(c, session, kind, pe.msg, d, warn);
	} else if (!strcmp(status, "pending") || !strcmp(status, "running") ||
		   !strcmp(status, "resuming")) {
		decide(d, ev_running, "wait", "operation_still_running");
		d->upd = UPD_PROGRESS;
		d->progress = progress_of(op, id, now);
	} else if (!strcmp(status, "completed")) {
		jv r = json_get(jv_copy(op), "result_summary");

		if (jv_get_kind(r) == JV_KIND_OBJECT) {
			decide(d, ev_done, "gate", "operation_completed");
			d->result = r;
		} else {
			jv_free(r);
			snprintf(f, sizeof f, "%s operation %s completed without a result_summary", kind, id);
			end(d, ev_done, "result_missing", failed, f);
		}
	} else if (!strcmp(status, "failed") || !strcmp(status, "cancelled")) {
		/* a failed or cancelled operation resumes from the checkpoint the
		 * backend kept (GET /checkpoints/{id}), up to AGENT_MAX_RESUMES */
		const int cancelled = !strcmp(status, "cancelled");
		int cp = 0;

		if (cancelled)
			snprintf(f, sizeof f, "%s operation %s was cancelled on the backend", kind, id);
		else
			snprintf(f, sizeof f, "%s", msg && *msg ? msg : "operation failed");
		if (int_field(session, "retry_count") < c->max_resumes &&
		    (cp = checkpoint_exists(c, id, &pe)) < 0) {
			unreachable(c, session, kind, pe.msg, d, warn);
		} else if (cp > 0) {
			resume(c, session, kind, id, f, d, warn);
		} else {
			end(d, ev_failed, cancelled ? "operation_cancelled" : "operation_failed",
			    cancelled ? "cancelled" : failed, f);
		}
	} else {
		err_set(warn, EX_DATA, "backend: GET /operations/%s: unknown status '%.40s'", id, status);
		decide(d, ev_running, "wait", "operation_status_unknown");
	}
out:
	free(status);
	free(msg);
	jv_free(op);
}

/* No active session: start one when automatic starts (or --force) and the
 * budget allow. */
/* What the backend says before the tick spends anything: its health route
 * (KTRDR ktrdr/api/endpoints/__init__.py health_check: 200 {"status":
 * "ok", ...}) and whether the platform's own agent runs a cycle.  Probed
 * outside the tick's transaction (no lock is held across HTTP), and only
 * when the tick would start a cycle or call the model: a session waiting
 * on an operation polls the backend anyway. */
struct probe {
	int done;            /* probed */
	int healthy;
	int agent_active;
	char msg[300];       /* why not healthy */
};

/* The platform's own research agent (GET /agent/status,
 * ktrdr/api/services/agent_service.py get_status): 1 when it runs a cycle
 * now, so this one does not start a second.  A backend without the route
 * (404) has none; one that cannot answer is said in *warn, not counted. */
static int backend_agent_active(const struct trigger_cfg *c, struct err *warn)
{
	struct backend b = c->backend;
	struct err pe = ERR_INIT;
	long status = 0;
	jv resp = jv_null();
	char *st;
	int active = 0;

	if (backend_call(&b, "GET", "/agent/status", jv_null(), &status, &resp, &pe)) {
		err_set(warn, EX_TEMP, "%s", pe.msg);
		return 0;
	}
	st = status == 200 ? json_string(resp, "status") : NULL;
	active = (st && !strcmp(st, "active")) ||
		 (status == 200 && json_kind_at(resp, "active_researches") == JV_KIND_ARRAY &&
		  jv_array_length(json_get(jv_copy(resp), "active_researches")) > 0);
	free(st);
	jv_free(resp);
	return active;
}

static int decide_start(struct store *s, const struct trigger_cfg *c, const struct probe *pr,
			struct decision *d, struct err *warn, struct err *e)
{
	jv st;
	double v;
	int64_t avail = 0;
	int rc;
	char why[600];

	if (!c->auto_start && !c->force) {
		decide(d, "idle", "skip", "auto_start_disabled");
		return 0;
	}
	/* the breaker before the money: a pause the last stage did not see */
	if (!c->dry_run && (rc = control_breaker(s, c->agent, c->max_failures, c->now_us / 1000000,
						 why, sizeof why, e)))
		return rc;
	if (!c->dry_run && why[0]) {
		snprintf(d->detail, sizeof d->detail, "%.500s", why);
		decide(d, "paused", "skip", "breaker_open");
		return 0;
	}
	if ((rc = budget_config(&d->budget, c->agent, e)) ||
	    (rc = budget_status(s, &d->budget, &st, e)))
		return rc;
	if (json_number(st, "available_usd", &v))
		avail = pricing_micros(v);
	if (json_number(st, "spent_usd", &v))
		d->spent = pricing_micros(v);
	if (json_number(st, "remaining_usd", &v))
		d->remaining = pricing_micros(v);
	jv_free(st);
	if (avail < budget_cycle_estimate()) {
		char a[32], n[32], at[32];

		/* what it lacks and when it comes back: the next UTC midnight */
		pricing_format_usd(avail, a, sizeof a);
		pricing_format_usd(budget_cycle_estimate(), n, sizeof n);
		clock_format(budget_resets_at(&d->budget), at);
		snprintf(d->detail, sizeof d->detail, "available %s, a cycle needs %s; the day resets at %s",
			 a, n, at);
		decide(d, "budget_exhausted", "skip", "budget_exhausted");
		return 0;
	}
	if (pr->done && !pr->healthy) {
		/* health before money: no cycle starts while the backend is down */
		err_set(warn, EX_TEMP, "%s", pr->msg);
		snprintf(d->detail, sizeof d->detail, "%s", pr->msg);
		decide(d, "backend_down", "skip", "backend_unreachable");
		return 0;
	}
	if (pr->done && pr->agent_active) {
		decide(d, "idle", "skip", "backend_agent_active");
		return 0;
	}
	decide(d, "start_new_cycle", "invoke", "no_active_session");
	d->create = 1;
	return 0;
}

/* A session waiting on an invocation that no live tick is running: the
 * tick that left it there died, or its invocation was refused.  One whose
 * start met a busy backend (conn_failures, lib/invoke.c busy_record) waits
 * AGENT_BUSY_BACKOFF_SECONDS (300) times 2^(n-1), at most an hour, then
 * retries without the model; after AGENT_MAX_CONN_FAILURES it ends. */
static void decide_invocation(const struct trigger_cfg *c, jv session, const char *phase,
			      struct decision *d)
{
	int64_t attempts = int_field(session, "invoke_attempts");
	int64_t busy = int_field(session, "conn_failures");
	char f[512];

	if (busy > 0 && (!strcmp(phase, "designing") || !strcmp(phase, "backtesting"))) {
		int64_t wait = (int64_t)c->busy_backoff << (busy - 1 < 12 ? busy - 1 : 12);
		char *why = json_string(session, "progress.current_step");
		const int design = !strcmp(phase, "designing");

		if (wait > 3600)
			wait = 3600;
		if (busy >= c->max_conn_failures) {
			snprintf(f, sizeof f, "backend busy or unavailable %lld times: %.400s",
				 (long long)busy, why ? why : "no reason given");
			/* a designing session can only end failed_design (DESIGN §3):
			 * the training never started */
			end(d, design ? "training_failed" : "backtest_failed", "backend_busy",
			    design ? "failed_design" : "failed_backtest", f);
		} else if (c->now_us / 1000000 - int_field(session, "updated_at") < wait) {
			decide(d, design ? "recovered" : "training_completed", "wait", "backend_busy");
		} else {
			decide(d, design ? "recovered" : "training_completed", "invoke", "backend_retry");
		}
		free(why);
		return;
	}
	if (!strcmp(phase, "assessing") && json_kind_at(session, "assess_batch_id") == JV_KIND_STRING) {
		/* a submitted assessment batch: each tick's invocation polls it */
		decide(d, "recovered", "invoke", "assessment_batch_pending");
		return;
	}
	if (attempts >= 2) {
		snprintf(f, sizeof f, "the %s invocation was interrupted %lld times", phase,
			 (long long)attempts);
		end(d, "recovered", "invocation_interrupted", "failed_interrupted", f);
	} else if (attempts == 1) {
		decide(d, "recovered", "invoke", "invocation_interrupted");
	} else if (!strcmp(phase, "backtesting")) {
		decide(d, "training_completed", "invoke", "awaiting_backtest");
	} else {
		decide(d, "recovered", "invoke",
		       !strcmp(phase, "designing") ? "awaiting_design" : "awaiting_assessment");
	}
}

/* ---------------------------------------------------------------- recording */

static jv P4(jv a, jv b, jv c, jv d)
{
	return jv_array_append(jv_array_append(jv_array_append(jv_array_append(jv_array(), a), b), c), d);
}

static int session_update(struct store *s, const char *name, jv params, int64_t sid,
			  const char *phase, struct err *e)
{
	int rc = store_query(s, name, params, NULL, e);

	if (rc == 0 && store_changes(s) != 1)
		rc = err_set(e, EX_TEMP, "session %lld: no longer in phase %s", (long long)sid, phase);
	return rc;
}

static int trigger_row(struct store *s, const struct trigger_cfg *c, int64_t now, int64_t sid,
		       const struct decision *d, struct err *e)
{
	int not_invoked = !strcmp(d->action, "skip") || !strcmp(d->action, "wait") ||
			  !strcmp(d->action, "end");
	jv p = jv_array();

	p = jv_array_append(p, jv_string(c->agent));
	p = jv_array_append(p, jv_string(c->tick_id));
	p = jv_array_append(p, jv_number((double)now));
	p = jv_array_append(p, jv_string(d->event));
	p = jv_array_append(p, jv_string(d->action));
	p = jv_array_append(p, jv_string(d->reason));
	p = jv_array_append(p, sid ? jv_number((double)sid) : jv_null());
	p = jv_array_append(p, not_invoked ? jv_string(d->reason) : jv_null());
	p = jv_array_append(p, d->spent >= 0 ? jv_number((double)d->spent) : jv_null());
	p = jv_array_append(p, d->remaining >= 0 ? jv_number((double)d->remaining) : jv_null());
	p = jv_array_append(p, d->detail[0] ? bounded_string(d->detail, 500) : jv_null());
	if (d->backend) {
		jv b = jv_array_append(jv_array_append(jv_array(), jv_string(c->agent)),
				       jv_bool(d->backend > 0));
		int rc;

		b = jv_array_append(b, jv_number((double)now));
		b = jv_array_append(b, d->backend < 0 ? bounded_string(d->backend_err, 290) : jv_null());
		if ((rc = store_query(s, "trigger_backend", b, NULL, e))) {
			jv_free(p);
			return rc;
		}
	}
	return store_query(s, "trigger_insert", p, NULL, e);
}

/* Writes the decision: session changes and the trigger row, in the open
 * transaction; *session becomes the row as it now stands. */
static int apply(struct store *s, const struct trigger_cfg *c, struct decision *d, jv *session,
		 struct err *e)
{
	int64_t now = c->now_us / 1000000, sid = 0;
	char *phase = NULL;
	jv row, fields;
	int rc = 0, changed = 0;

	if (d->create) {
		char trace[33];

		/* the creating tick's trace becomes the research cycle's */
		snprintf(trace, sizeof trace, "%.32s", c->traceparent + 3);
		rc = store_query1(s, "session_create",
				  jv_array_append(jv_array_append(jv_array_append(jv_array_append(
						jv_array(), jv_string(c->agent)), jv_number((double)now)),
						jv_string(trace)),
						jv_number((double)trace_tick_began_us(c->now_us))),
				  &row, e);
		if (rc)
			return rc;
		json_int(row, "id", &sid);
		jv_free(row);
		if (!sid)
			return err_set(e, EX_PERM, "session_create returned no id");
		if ((rc = budget_count_cycle(s, &d->budget, 0, e)))
			return rc;
		changed = 1;
	} else if (jv_get_kind(*session) == JV_KIND_OBJECT) {
		json_int(*session, "id", &sid);
		phase = json_string(*session, "phase");
	}
	switch (d->upd) {
	case UPD_PROGRESS:
		rc = session_update(s, "trigger_session_progress",
				    P4(jv_number((double)sid), jv_string(phase), jv_copy(d->progress),
				       jv_number((double)now)),
				    sid, phase, e);
		break;
	case UPD_UNREACHABLE:
		rc = session_update(s, "trigger_session_unreachable",
				    jv_array_append(jv_array_append(jv_array_append(jv_array(),
						jv_number((double)sid)), jv_string(phase)),
						jv_number((double)now)),
				    sid, phase, e);
		break;
	case UPD_RESUMED: {
		int training = !strcmp(phase, "training");
		jv op = d->new_op[0] ? jv_string(d->new_op) : jv_null();
		jv p = P4(jv_number((double)sid), jv_string(phase),
			  training ? jv_copy(op) : jv_null(), training ? jv_null() : jv_copy(op));

		jv_free(op);
		rc = session_update(s, "trigger_session_resumed",
				    jv_array_append(p, jv_number((double)now)), sid, phase, e);
		break;
	}
	case UPD_NONE:
		break;
	}
	changed |= d->upd != UPD_NONE;
	if (rc == 0 && d->outcome) {
		fields = json_set(jv_object(), "outcome", jv_string(d->outcome));
		fields = json_set(fields, "failure_reason", jv_string(d->failure));
		rc = session_move(s, sid, phase, "idle", fields, now, e);
		changed = 1;
	}
	if (rc == 0)
		rc = trigger_row(s, c, now, sid, d, e);
	if (rc == 0 && changed && d->upd == UPD_PROGRESS && !d->outcome &&
	    jv_get_kind(*session) == JV_KIND_OBJECT && !d->create) {
		/* the wait of every idle tick: the row is what it was read as,
		 * but for the three columns just set, so no second read */
		*session = json_set(*session, "progress", jv_copy(d->progress));
		*session = json_set(*session, "conn_failures", jv_number(0));
		*session = json_set(*session, "updated_at", jv_number((double)now));
	} else if (rc == 0 && changed) {
		jv_free(*session);
		*session = jv_null();
		rc = session_get(s, sid, session, e);
	}
	free(phase);
	return rc;
}

/*
 * found: the phase of the active session the tick found, NULL for none.
 * A tick that serves a session is part of the session's trace: its
 * traceparent keeps the tick's span (agent-cycle's) and flags but takes the
 * session's trace id, and session_phase says which phase span it goes
 * under (trace_cycle_*, agent(7) TRACES).
 */
static jv tick_doc(const struct trigger_cfg *c, struct decision *d, jv session, const char *found)
{
	char at[32], tp[64];
	jv t = jv_object(), doc = jv_object();
	char *trace = jv_get_kind(session) == JV_KIND_OBJECT ? json_string(session, "trace_id") : NULL;

	clock_format_ms(c->now_us, at);
	t = json_set(t, "id", jv_string(c->tick_id));
	t = json_set(t, "at", jv_string(at));
	t = json_set(t, "agent", jv_string(c->agent));
	snprintf(tp, sizeof tp, "00-%.32s-%.16s-%.2s", trace ? trace : "", c->traceparent + 36,
		 c->traceparent + 53);
	if (trace && strlen(trace) == 32 && trigger_traceparent_ok(tp)) {
		t = json_set(t, "traceparent", jv_string(tp));
		t = json_set(t, "session_phase", jv_string(found && *found ? found : "designing"));
	} else {
		t = json_set(t, "traceparent", jv_string(c->traceparent));
	}
	free(trace);
	if (c->dry_run)
		t = json_set(t, "dry_run", jv_true());
	doc = json_set(doc, "tick", t);
	doc = json_set(doc, "event", jv_string(d->event));
	doc = json_set(doc, "action", jv_string(d->action));
	doc = json_set(doc, "reason", jv_string(d->reason));
	if (d->detail[0])
		doc = json_set(doc, "detail", bounded_string(d->detail, 500));
	doc = json_set(doc, "session", session);
	if (jv_is_valid(d->result)) {
		doc = json_set(doc, "result", d->result);
		d->result = jv_invalid();
	}
	return doc;
}

/* The lease (or, dry, a look at it): *busy when another live tick has it. */
static int take_lease(struct store *s, const struct trigger_cfg *c, int *busy, int *paused,
		      struct err *e)
{
	int64_t now = c->now_us / 1000000, exp = 0;
	char *holder;
	jv st;
	int rc;

	*busy = *paused = 0;
	if (!c->dry_run) {
		rc = lease_take(s, c->agent, c->tick_id, now, c->lease_seconds, &st, e);
		if (rc == EX_NO) {
			err_clear(e);
			*busy = 1;
			return 0;
		}
		if (rc)
			return rc;
	} else {
		if ((rc = store_query1(s, "state_get", jv_array_append(jv_array(), jv_string(c->agent)),
				       &st, e)))
			return rc;
		holder = json_string(st, "lease_holder");
		json_int(st, "lease_expires_at", &exp);
		*busy = holder && exp > now;
		free(holder);
	}
	*paused = truthy(st, "paused");
	jv_free(st);
	return 0;
}

static void probe_backend(const struct trigger_cfg *c, struct probe *p)
{
	struct backend b = c->backend;
	struct err pe = ERR_INIT;
	long status = 0;
	jv resp = jv_null();

	memset(p, 0, sizeof *p);
	p->done = 1;
	p->healthy = 1;
	if (b.timeout_ms > 5000)
		b.timeout_ms = 5000;  /* a probe is quick or the backend is not well */
	if (c->health) {
		if (backend_call(&b, "GET", "/health", jv_null(), &status, &resp, &pe)) {
			p->healthy = 0;
			snprintf(p->msg, sizeof p->msg, "%s", pe.msg);
		} else if (status != 200 && status != 404) {
			/* 404: a platform without the route; its other answers say */
			p->healthy = 0;
			snprintf(p->msg, sizeof p->msg, "backend: GET %.200s/health: HTTP %ld",
				 http_path(b.base), status);
		}
		jv_free(resp);
		resp = jv_null();
	}
	if (p->healthy && c->coexist) {
		struct err w = ERR_INIT;

		p->agent_active = backend_agent_active(c, &w);
	}
}

/* The backend may take its time: hold no transaction meanwhile (the lease
 * stays held; a dry run, which holds none, only reads). */
static int outside_tx(struct store *s, const struct trigger_cfg *c, int *lease_held, struct err *e)
{
	if (c->dry_run) {
		store_rollback(s);
		return 0;
	}
	if (store_commit(s, e))
		return e->code;
	*lease_held = 1;
	return 0;
}

int trigger_tick(struct store *s, const struct trigger_cfg *c, jv *doc, struct err *warn,
		 struct err *e)
{
	struct probe pr = { 0 };
	struct decision d;
	struct err ignore = ERR_INIT;
	jv session = jv_null();
	char *phase = NULL, *op = NULL;
	int rc, busy, paused, lease_held = 0;

	memset(&d, 0, sizeof d);
	d.result = jv_invalid();
	d.progress = jv_null();
	d.spent = d.remaining = -1;
	err_clear(warn);
	if ((rc = store_begin(s, e)) || (rc = take_lease(s, c, &busy, &paused, e)))
		goto fail;
	if (busy) {
		decide(&d, "busy", "skip", "lease_held");
		goto record;
	}
	if (paused) {
		decide(&d, "paused", "skip", "paused");
		goto record;
	}
	if ((rc = session_active(s, c->agent, &session, e)))
		goto fail;
	if (jv_get_kind(session) != JV_KIND_OBJECT) {
		if ((c->health || c->coexist) && (c->auto_start || c->force)) {
			if ((rc = outside_tx(s, c, &lease_held, e)))
				goto fail;
			probe_backend(c, &pr);
			if ((rc = store_begin(s, e)))
				goto fail;
		}
		if (pr.done && c->health) {
			d.backend = pr.healthy ? 1 : -1;
			snprintf(d.backend_err, sizeof d.backend_err, "%s", pr.msg);
		}
		if ((rc = decide_start(s, c, &pr, &d, warn, e)))
			goto fail;
		goto record;
	}
	phase = json_string(session, "phase");
	if (!phase)
		phase = strdup("");
	if (!strcmp(phase, "training"))
		op = json_string(session, "training_operation_id");
	else if (!strcmp(phase, "backtesting"))
		op = json_string(session, "backtest_operation_id");
	if (op && *op) {
		if ((rc = outside_tx(s, c, &lease_held, e)))
			goto fail;
		poll_operation(c, session, phase, op, &d, warn);
		if ((rc = store_begin(s, e)))
			goto fail;
	} else if (!strcmp(phase, "training")) {
		end(&d, "recovered", "operation_missing", "failed_interrupted",
		    "training without a training operation id");
	} else {
		decide_invocation(c, session, phase, &d);
		if (c->health && !strcmp(d.action, "invoke")) {
			/* health before money: no model call while the backend is down */
			if ((rc = outside_tx(s, c, &lease_held, e)))
				goto fail;
			probe_backend(c, &pr);
			if ((rc = store_begin(s, e)))
				goto fail;
			d.backend = pr.healthy ? 1 : -1;
			snprintf(d.backend_err, sizeof d.backend_err, "%s", pr.msg);
			if (!pr.healthy) {
				err_set(warn, EX_TEMP, "%s", pr.msg);
				snprintf(d.detail, sizeof d.detail, "%s", pr.msg);
				decide(&d, d.event, "wait", "backend_unreachable");
			}
		}
	}
record:
	if (!c->dry_run && (rc = apply(s, c, &d, &session, e)))
		goto fail;
	if (c->dry_run)
		store_rollback(s);
	else if ((rc = store_commit(s, e)))
		goto fail;
	*doc = tick_doc(c, &d, session, phase);
	free(phase);
	free(op);
	jv_free(d.progress);
	return 0;
fail:
	if (store_in_tx(s))
		store_rollback(s);
	if (lease_held)
		lease_release(s, c->agent, c->tick_id, c->now_us / 1000000, &ignore);
	jv_free(session);
	jv_free(d.result);
	jv_free(d.progress);
	free(phase);
	free(op);
	return rc;
}

/* invoke: hold, call, settle and record each attempt; run the tools the model asks for. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/anthropic.h"
#include "net/backend.h"
#include "budget.h"
#include "base/clock.h"
#include "invoke.h"
#include "base/json.h"
#include "base/models.h"
#include "store/lease.h"
#include "pricing.h"
#include "prompt.h"
#include "session.h"
#include "strategy.h"
#include "tick.h"
#include "tools.h"
#include "net/trace.h"

struct cfg {
	char model[128];
	long max_tokens, max_iterations, max_attempts;
	int64_t max_input_tokens;
	long count_tokens;      /* AGENT_COUNT_TOKENS: holds sized by count_tokens (1) */
};

static long env_long(const char *name, long def, long min, long max, struct err *e, int *bad)
{
	const char *s = getenv(name);
	char *end;
	long v;

	if (!s || !*s)
		return def;
	v = strtol(s, &end, 10);
	if (*end || v < min || v > max) {
		err_set(e, EX_PERM, "%s: not a whole number from %ld to %ld: '%.20s'", name, min, max, s);
		*bad = 1;
		return def;
	}
	return v;
}

static int read_cfg(struct cfg *c, struct err *e)
{
	const char *m = getenv("AGENT_MODEL");
	int bad = 0;

	snprintf(c->model, sizeof c->model, "%s", m && *m ? m : "claude-opus-4-5-20251101");
	models_short_name(c->model, sizeof c->model);
	c->max_tokens = env_long("AGENT_MAX_TOKENS", 4096, 1, 128000, e, &bad);
	c->max_iterations = env_long("AGENT_MAX_ITERATIONS", 10, 1, 100, e, &bad);
	c->max_input_tokens = env_long("AGENT_MAX_INPUT_TOKENS", 50000, 1, 100000000, e, &bad);
	c->max_attempts = env_long("AGENT_MAX_ATTEMPTS", 3, 1, 10, e, &bad);
	c->count_tokens = env_long("AGENT_COUNT_TOKENS", 1, 0, 1, e, &bad);
	return bad ? EX_PERM : 0;
}

static const char *kind_for_phase(const char *phase)
{
	if (!phase)
		return NULL;
	if (!strcmp(phase, "designing"))
		return "design";
	if (!strcmp(phase, "backtesting"))
		return "post_training";
	if (!strcmp(phase, "assessing"))
		return "assessment";
	return NULL;
}

/* Context for the prompts: what the trigger saw and what the backend has. */
static jv context(struct store *s, struct backend *b, const char *agent, const char *kind,
		  jv session, const char *reason)
{
	jv ctx = jv_object(), lists[2] = { jv_array(), jv_array() }, rows;
	static const char *const paths[2] = { "/indicators/", "/symbols" };
	struct err e = ERR_INIT;

	if (!strcmp(kind, "design")) {
		for (int i = 0; i < 2; i++) {
			long status = 0;
			jv resp = jv_null(), data;

			if (backend_call(b, "GET", paths[i], jv_null(), &status, &resp, &e) == 0 &&
			    status == 200) {
				data = json_get(jv_copy(resp), "data");
				if (jv_get_kind(data) == JV_KIND_ARRAY) {
					jv_free(lists[i]);
					lists[i] = data;
				} else {
					jv_free(data);
				}
			}
			jv_free(resp);
		}
	}
	ctx = json_set(ctx, "indicators", lists[0]);
	ctx = json_set(ctx, "symbols", lists[1]);
	if (store_query(s, "recent_strategies",
			jv_array_append(jv_array_append(jv_array(), jv_string(agent)), jv_number(5)),
			&rows, &e) == 0) {
		int n = jv_array_length(jv_copy(rows));
		jv recent = jv_array();

		for (int i = 0; i < n; i++) {
			jv r = jv_array_get(jv_copy(rows), i);
			double sh;

			recent = jv_array_append(recent, json_set(json_set(json_set(jv_object(),
				"name", json_get(jv_copy(r), "strategy_name")),
				"outcome", json_get(jv_copy(r), "outcome")),
				"sharpe_ratio", json_number(r, "backtest_results.metrics.sharpe_ratio", &sh)
						? jv_number(sh) : jv_null()));
			jv_free(r);
		}
		jv_free(rows);
		ctx = json_set(ctx, "recent", recent);
	} else {
		ctx = json_set(ctx, "recent", jv_array());
	}
	ctx = json_set(ctx, "kind", jv_string(kind));
	ctx = json_set(ctx, "session", session);
	ctx = json_set(ctx, "trigger", json_set(jv_object(), "reason", json_str_or_null(reason)));
	return ctx;
}

static jv cache_control(void)
{
	return json_set(jv_object(), "type", jv_string("ephemeral"));
}

/* messages (consumed) with a breakpoint on the last block of the last
 * turn, for this request only: the next request moves it forward. */
static jv last_block_cached(jv messages)
{
	int n = jv_array_length(jv_copy(messages));
	jv msg, content;
	int k;

	if (n == 0)
		return messages;
	msg = jv_array_get(jv_copy(messages), n - 1);
	content = json_get(jv_copy(msg), "content");
	if (jv_get_kind(content) == JV_KIND_STRING)
		content = jv_array_append(jv_array(), json_set(json_set(jv_object(), "type", jv_string("text")),
							       "text", content));
	k = jv_get_kind(content) == JV_KIND_ARRAY ? jv_array_length(jv_copy(content)) : 0;
	if (k > 0) {
		jv last = jv_array_get(jv_copy(content), k - 1);

		content = jv_array_set(content, k - 1, json_set(last, "cache_control", cache_control()));
		messages = jv_array_set(messages, n - 1, json_set(msg, "content", content));
	} else {
		jv_free(content);
		jv_free(msg);
	}
	return messages;
}

/* 1 when a cache_control object sits on v (an object, borrowed); a 1-hour
 * TTL sets *ttl_1h. */
static int marked(jv v, int *ttl_1h)
{
	jv cc;
	int k;

	if (jv_get_kind(v) != JV_KIND_OBJECT)
		return 0;
	cc = jv_object_get(jv_copy(v), jv_string("cache_control"));
	k = jv_get_kind(cc) == JV_KIND_OBJECT;
	if (k) {
		char *ttl = json_string(cc, "ttl");

		if (ttl && !strcmp(ttl, "1h"))
			*ttl_1h = 1;
		free(ttl);
	}
	jv_free(cc);
	return k;
}

static int marked_any(jv list, int *ttl_1h)
{
	int n = jv_get_kind(list) == JV_KIND_ARRAY ? jv_array_length(jv_copy(list)) : 0, k = 0;

	for (int i = 0; i < n; i++) {
		jv x = jv_array_get(jv_copy(list), i);

		k |= marked(x, ttl_1h);
		jv_free(x);
	}
	return k;
}

/* 1 when the request (borrowed) marks a cache breakpoint anywhere (tools,
 * system, a message's blocks, or top-level automatic caching).  The hold
 * then takes the whole counted prompt at the cache-write rate: splitting
 * it at a breakpoint short of the end would take a second count, and this
 * module's requests put their last breakpoint on the prompt's last block
 * (last_block_cached), where the prefix is the whole prompt. */
static int cache_marked(jv body, int *ttl_1h)
{
	jv msgs = json_get(jv_copy(body), "messages");
	int k;

	*ttl_1h = 0;
	k = marked(body, ttl_1h);
	{
		jv t = json_get(jv_copy(body), "tools"), sy = json_get(jv_copy(body), "system");

		k |= marked_any(t, ttl_1h);
		k |= marked_any(sy, ttl_1h);
		jv_free(t);
		jv_free(sy);
	}
	for (int i = 0; jv_get_kind(msgs) == JV_KIND_ARRAY && i < jv_array_length(jv_copy(msgs)); i++) {
		jv c = json_get(jv_array_get(jv_copy(msgs), i), "content");

		k |= marked_any(c, ttl_1h);
		jv_free(c);
	}
	jv_free(msgs);
	return k;
}

/* Totals over the invocation */
struct totals {
	int64_t input, output, cache_write, cache_read, cost, calls, tool_calls, tool_errors;
	/* the holds: sized by count_tokens or by today's estimate, their input
	 * tokens, and the time count_tokens took */
	int64_t holds_counted, holds_estimated, held_input, count_us;
};

static void sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0)
		;
}

struct run {
	struct store *s;
	const struct invoke_opts *o;
	struct cfg cfg;
	struct anthropic api;
	struct pricing_model price;
	char agent[128];
	const char *kind;
	int64_t session_id;
	int attempts_counted;
	struct totals t;
	unsigned seed;
	int halt;               /* TOOLS_HALT_*: a tool stopped the invocation */
	int clear_batch;        /* record_call clears the session's batch, in its transaction */
	int span;               /* the invocation's span */
	char fallback[128];     /* the kind's fallback model, "" for none */
	struct pricing_model fallback_price;
	char requested[128];    /* the model asked for, once fallen back */
	const char *fallback_reason;  /* "model_cap" or "overloaded", once fallen back; NULL before */
	char halt_msg[400];
};

/* The metadata every domain event of an invocation carries. */
static jv event_meta(const struct run *r)
{
	jv m = jv_object();

	m = json_set(m, "agent", jv_string(r->agent));
	m = json_set(m, "kind", jv_string(r->kind));
	m = json_set(m, "model", jv_string(r->cfg.model));
	return m;
}

/* The model turn's id for the events: "<tick>/<n>", n counting the
 * invocation's calls from 1 (turn_of with the tick's id alone: "<n>"). */
static const char *turn_of(const struct run *r, char *buf, size_t n)
{
	snprintf(buf, n, "%s%s%lld", r->o->tick_id ? r->o->tick_id : "", r->o->tick_id ? "/" : "",
		 (long long)r->t.calls + 1);
	return buf;
}

/* Records one attempt and settles its hold, in one transaction. */
static int record_call(struct run *r, int64_t hold_id, int64_t held, struct anthropic_call *call,
		       int rc, const char *errmsg, int64_t ms, int64_t *cost_out, int64_t *inv_id,
		       struct err *e)
{
	struct budget_cfg bc;
	struct usage u = { 0 };
	struct cost cost = { 0 };
	int batch = 0, urc = 0;
	char *stop = NULL;
	const char *status;
	jv p, row = jv_null(), settled = jv_null(), usage = jv_null();

	if (rc == 0) {
		usage = json_get(jv_copy(call->message), "usage");
		urc = pricing_usage(usage, &u, &batch, e);
		if (urc) {
			/* the API's own usage is malformed: charge the worst case */
			memset(&u, 0, sizeof u);
			cost.micros = held;
		} else {
			pricing_cost(&r->price, &u, batch, &cost);
		}
		stop = json_string(call->message, "stop_reason");
		status = "ok";
	} else if (call->maybe_charged) {
		cost.micros = held;  /* it may have been billed: the ledger overstates, never understates */
		status = "unknown_charge";
	} else {
		cost.micros = 0;
		status = "error";
	}
	jv_free(usage);
	if (budget_config(&bc, r->agent, e))
		return e->code;
	if (store_begin(r->s, e))
		return e->code;
	if (budget_settle(r->s, &bc, hold_id, cost.micros,
			  u.input + u.output + u.cache_5m + u.cache_1h + u.cache_read, &settled, e)) {
		/* an expired hold already counts in full; the call is still recorded */
		if (e->code != EX_NO) {
			store_rollback(r->s);
			free(stop);
			return e->code;
		}
		cost.micros = held;
		err_clear(e);
	}
	jv_free(settled);
	p = jv_array();
	p = jv_array_append(p, jv_string(r->agent));
	p = jv_array_append(p, r->session_id ? jv_number((double)r->session_id) : jv_null());
	p = jv_array_append(p, json_str_or_null(r->o->tick_id));
	p = jv_array_append(p, jv_string(r->kind));
	p = jv_array_append(p, jv_string(r->cfg.model));
	p = jv_array_append(p, call->request_id[0] ? jv_string(call->request_id) : jv_null());
	p = jv_array_append(p, json_str_or_null(stop));
	p = jv_array_append(p, jv_number((double)u.input));
	p = jv_array_append(p, jv_number((double)u.output));
	p = jv_array_append(p, jv_number((double)(u.cache_5m + u.cache_1h)));
	p = jv_array_append(p, jv_number((double)u.cache_read));
	p = jv_array_append(p, jv_number((double)cost.micros));
	p = jv_array_append(p, jv_number((double)hold_id));
	p = jv_array_append(p, jv_number(1));
	p = jv_array_append(p, jv_number((double)ms));
	p = jv_array_append(p, jv_string(status));
	p = jv_array_append(p, json_str_or_null(errmsg));
	p = jv_array_append(p, jv_number((double)bc.now));
	p = jv_array_append(p, r->fallback_reason ? jv_string(r->requested) : jv_null());
	p = jv_array_append(p, json_str_or_null(r->fallback_reason));
	if (store_query1(r->s, "invocation_insert", p, &row, e) ||
	    (r->clear_batch && store_query(r->s, "session_batch_set",
			jv_array_append(jv_array_append(jv_array_append(jv_array_append(jv_array(),
				jv_number((double)r->session_id)), jv_null()), jv_null()),
				jv_number((double)bc.now)), NULL, e)) ||
	    store_commit(r->s, e)) {
		store_rollback(r->s);
		free(stop);
		jv_free(row);
		return e->code;
	}
	json_int(row, "id", inv_id);
	jv_free(row);
	{
		char turn[128];
		jv m = event_meta(r);

		turn_of(r, turn, sizeof turn);
		m = json_set(m, "hold_id", jv_number((double)hold_id));
		m = json_set(m, "held_usd", pricing_usd(held));
		m = json_set(m, "cost_usd", pricing_usd(cost.micros));
		trace_event_turn("budget.settle", r->session_id, turn, m);
		m = event_meta(r);
		m = json_set(m, "status", jv_string(status));
		m = json_set(m, "stop_reason", json_str_or_null(stop));
		m = json_set(m, "input_tokens", jv_number((double)u.input));
		m = json_set(m, "output_tokens", jv_number((double)u.output));
		m = json_set(m, "cache_write_tokens", jv_number((double)(u.cache_5m + u.cache_1h)));
		m = json_set(m, "cache_read_tokens", jv_number((double)u.cache_read));
		m = json_set(m, "cost_usd", pricing_usd(cost.micros));
		m = json_set(m, "latency_ms", jv_number((double)ms));
		if (call->status)
			m = json_set(m, "http_status", jv_number((double)call->status));
		trace_event_turn("model.call", r->session_id, turn, m);
		/* the model turn, for agent_turn_latency_seconds of --events */
		m = event_meta(r);
		m = json_set(m, "status", jv_string(status));
		m = json_set(m, "latency_ms", jv_number((double)ms));
		trace_event_turn("turn.end", r->session_id, turn, m);
	}
	free(stop);
	r->t.input += u.input;
	r->t.output += u.output;
	r->t.cache_write += u.cache_5m + u.cache_1h;
	r->t.cache_read += u.cache_read;
	r->t.cost += cost.micros;
	r->t.calls++;
	*cost_out = cost.micros;
	return 0;
}

/*
 * The hold of a request (borrowed), the same for each of its attempts:
 * from count_tokens (one bounded try; any failure leaves today's estimate,
 * and the call goes on), else the bytes of the request, each at the
 * dearest input-side rate.  *input is the input tokens it is sized by
 * (counted, or the bytes); *counted says which; a failed count's reason
 * goes to why (empty otherwise).
 */
static int64_t hold_size(struct run *r, jv body, int64_t *input, int *counted, char *why, size_t n)
{
	char *text = json_dump(jv_copy(body));
	int64_t upper = text ? (int64_t)strlen(text) : 0;  /* a token is at least a byte */
	int64_t tokens = 0;
	int ttl_1h = 0;

	free(text);
	why[0] = 0;
	*counted = 0;
	if (r->cfg.count_tokens) {
		struct err ce = ERR_INIT;
		int64_t c0 = clock_mono_us();

		if (anthropic_count_tokens(&r->api, body, ANTHROPIC_COUNT_TIMEOUT_MS, &tokens, &ce) == 0)
			*counted = 1;
		else
			snprintf(why, n, "%s", ce.msg);
		r->t.count_us += clock_mono_us() - c0;
	}
	if (*counted) {
		struct model_limits lim;
		int cached = cache_marked(body, &ttl_1h);

		/* a prompt shorter than the model's minimum cacheable prefix
		 * writes nothing and is billed at the input rate (reference (h));
		 * a model share/models.json does not list may cache any prefix */
		models_limits(r->cfg.model, &lim);
		if (lim.known && tokens < lim.min_cache_tokens)
			cached = 0;
		*input = tokens;
		return pricing_hold_counted(&r->price, tokens, cached ? tokens : 0, r->cfg.max_tokens, ttl_1h);
	}
	*input = upper;
	return pricing_worst_case(&r->price, upper, r->cfg.max_tokens, 0);
}

/* Counts a hold of `input` tokens sized by count_tokens or not. */
static void hold_tally(struct run *r, int counted, int64_t input)
{
	if (counted)
		r->t.holds_counted++;
	else
		r->t.holds_estimated++;
	r->t.held_input += input;
}

/* The invocation goes on with its fallback model (once): 1 when it has
 * one, 0 to fail as without. */
static int fall_back(struct run *r, const char *reason)
{
	if (!r->fallback[0] || r->fallback_reason || !strcmp(r->fallback, r->cfg.model))
		return 0;
	snprintf(r->requested, sizeof r->requested, "%s", r->cfg.model);
	snprintf(r->cfg.model, sizeof r->cfg.model, "%s", r->fallback);
	r->price = r->fallback_price;
	r->fallback_reason = reason;
	trace_str(r->span, "agent.model.requested", r->requested);
	trace_str(r->span, "agent.model.fallback", r->cfg.model);
	trace_str(r->span, "agent.model.fallback_reason", reason);
	return 1;
}

/* The attempts of one API call with the invocation's model; *fb = 1 (and
 * 0 returned) when the invocation has fallen back and the call is to be
 * made again with the fallback model. */
static int call_attempts(struct run *r, jv body, int64_t worst, int64_t upper, int counted,
			 const char *count_err, jv *message, int64_t *inv_id, int *fb, struct err *e)
{
	int rc = EX_TEMP;

	*fb = 0;
	for (long attempt = 1; attempt <= r->cfg.max_attempts; attempt++) {
		struct budget_cfg bc;
		struct anthropic_call call;
		int64_t hold_id = 0, t0, cost = 0, now;
		char errmsg[512] = "";
		jv hold;
		double delay;
		int retry, chat;

		if (budget_config(&bc, r->agent, e))
			return e->code;
		if (r->o->tick_id && (clock_now_s(&now, e) ||
				      lease_renew(r->s, r->agent, r->o->tick_id, now, lease_seconds(), e))) {
			if (e->code == EX_NO) {
				/* another tick took over: stop before spending anything more */
				err_wrap(e, "stopping");
				e->code = EX_TEMP;
			}
			return e->code;
		}
		snprintf(bc.model, sizeof bc.model, "%s", r->cfg.model);
		rc = budget_hold(r->s, &bc, worst, upper + r->cfg.max_tokens,
				 (int64_t)(r->api.timeout_ms / 1000) + 120, r->kind, &hold, e);
		{
			char turn[128];
			jv m = event_meta(r);

			turn_of(r, turn, sizeof turn);
			if (attempt == 1 && count_err[0]) {
				jv f = event_meta(r);

				trace_event_turn("count_tokens.failed", r->session_id, turn,
						 json_set(f, "error", jv_string(count_err)));
			}
			m = json_set(m, "amount_usd", pricing_usd(worst));
			m = json_set(m, "basis", jv_string(counted ? "count_tokens" : "estimate"));
			m = json_set(m, "input_tokens", jv_number((double)upper));
			if (rc == 0) {
				int64_t id = 0;

				json_int(hold, "id", &id);
				m = json_set(m, "hold_id", jv_number((double)id));
				m = json_set(m, "attempt", jv_number((double)attempt));
				trace_event_turn("budget.hold", r->session_id, turn, m);
				trace_event_turn("turn.start", r->session_id, turn, event_meta(r));
			} else if (rc == EX_NO) {
				m = json_set(m, "reason", jv_string("budget_exhausted"));
				m = json_set(m, "error", jv_string(e->msg));
				trace_event_turn("budget.refused", r->session_id, turn, m);
			} else {
				jv_free(m);
			}
		}
		if (rc == EX_NO) {
			char *sc = json_string(hold, "scope");
			int mine = sc && !strncmp(sc, "model:", 6);

			free(sc);
			jv_free(hold);
			if (mine && fall_back(r, "model_cap")) {
				err_clear(e);
				*fb = 1;
				return 0;
			}
		}
		if (rc)
			return rc;
		json_int(hold, "id", &hold_id);
		jv_free(hold);
		hold_tally(r, counted, upper);
		if (r->session_id && !r->attempts_counted) {
			/* from here a crash leaves a trace the next tick's recovery can count */
			if (store_query(r->s, "session_invoke_started",
					jv_array_append(jv_array_append(jv_array(),
						jv_number((double)r->session_id)), jv_number((double)bc.now)),
					NULL, e))
				return e->code;
			r->attempts_counted = 1;
		}
		t0 = clock_mono_us();
		chat = trace_chat_start(r->cfg.model, r->cfg.max_tokens, r->api.base, r->session_id);
		rc = anthropic_send(&r->api, body, (int)r->cfg.max_tokens, &call, e);
		trace_chat_end(chat, call.message, call.error, call.status, rc, rc ? e->msg : NULL);
		if (rc)
			snprintf(errmsg, sizeof errmsg, "%s", e->msg);
		{
			struct err re = ERR_INIT;
			int wrc = record_call(r, hold_id, worst, &call, rc, rc ? errmsg : NULL,
					      (clock_mono_us() - t0) / 1000, &cost, inv_id, &re);

			if (wrc) {
				anthropic_call_release(&call);
				*e = re;
				return wrc;
			}
		}
		if (rc == 0) {
			*message = jv_copy(call.message);
			anthropic_call_release(&call);
			return 0;
		}
		retry = call.should_retry == 1 || (call.should_retry != 0 && call.retryable);
		if (!retry || attempt == r->cfg.max_attempts) {
			int overloaded = retry && call.status == 529;

			anthropic_call_release(&call);
			if (overloaded && fall_back(r, "overloaded")) {
				err_clear(e);
				*fb = 1;
				return 0;
			}
			if (retry)
				err_wrap(e, "gave up after %ld attempts", attempt);
			return rc;
		}
		if (call.retry_after > 0)
			delay = call.retry_after > 60 ? 60 : call.retry_after;
		else
			delay = fmin(0.5 * pow(2, (double)(attempt - 1)), 8.0) *
				(1.0 - 0.25 * ((double)rand_r(&r->seed) / RAND_MAX));
		anthropic_call_release(&call);
		sleep_s(delay);
	}
	return rc;
}

/* One API call with its retries; each attempt held and settled on its own.
 * body0 is borrowed; the request's model is the invocation's, which a
 * fallback changes (then the call starts again, held as that model). */
static int call_api(struct run *r, jv body0, jv *message, int64_t *inv_id, struct err *e)
{
	for (;;) {
		char count_err[300];
		int64_t upper = 0, worst;
		int counted = 0, fb = 0, rc;
		jv body = json_set(jv_copy(body0), "model", jv_string(r->cfg.model));

		worst = hold_size(r, body, &upper, &counted, count_err, sizeof count_err);
		rc = call_attempts(r, body, worst, upper, counted, count_err, message, inv_id, &fb, e);
		jv_free(body);
		if (!fb)
			return rc;
	}
}

/* Runs the tool_use blocks of one assistant turn; returns the user turn. */
static int run_tools(struct run *r, jv content, int64_t inv_id, struct backend *b, jv *turn,
		     struct err *e)
{
	int n = jv_array_length(jv_copy(content)), rc = 0;
	jv results = jv_array();
	struct tools_ctx tc = { r->s, b, r->agent, r->o->tick_id, r->session_id, inv_id, 0 };

	for (int i = 0; i < n && rc == 0 && !tc.halt; i++) {
		jv block = jv_array_get(jv_copy(content), i);
		char *type = json_string(block, "type"), *id = NULL, *name = NULL;
		int is_error = 0;
		jv result;

		if (type && !strcmp(type, "tool_use")) {
			id = json_string(block, "id");
			name = json_string(block, "name");
			if (clock_now_s(&tc.now, e)) {
				rc = e->code;
			} else {
				rc = tools_run(&tc, id, name ? name : "", json_get(jv_copy(block), "input"),
					       &result, &is_error, e);
			}
			if (rc == 0) {
				char *text = json_dump(result);
				jv tr = jv_object();

				tr = json_set(tr, "type", jv_string("tool_result"));
				tr = json_set(tr, "tool_use_id", jv_string(id ? id : ""));
				tr = json_set(tr, "content", jv_string(text ? text : "{}"));
				if (is_error)
					tr = json_set(tr, "is_error", jv_true());
				results = jv_array_append(results, tr);
				free(text);
				r->t.tool_calls++;
				r->t.tool_errors += is_error;
			}
		}
		free(type);
		free(id);
		free(name);
		jv_free(block);
	}
	if (rc) {
		jv_free(results);
		return rc;
	}
	if (tc.halt) {
		r->halt = tc.halt;
		snprintf(r->halt_msg, sizeof r->halt_msg, "%s", tc.halt_msg);
	}
	/* every tool_result first, in one user turn (the API's rule) */
	*turn = json_set(json_set(jv_object(), "role", jv_string("user")), "content", results);
	return 0;
}

/* The backend was busy or unavailable for a start: the session keeps its
 * phase, counts it (conn_failures) and says why (progress); the trigger
 * backs off and retries (lib/trigger.c). */
static int busy_record(struct run *r, const char *phase, struct err *e)
{
	int64_t now;
	jv p = jv_object();
	int rc;

	if ((rc = clock_now_s(&now, e)))
		return rc;
	p = json_set(p, "status", jv_string("backend_busy"));
	p = json_set(p, "current_step", jv_string(r->halt_msg));
	p = json_set(p, "updated_at", jv_number((double)now));
	return store_query(r->s, "session_backend_busy",
			   jv_array_append(jv_array_append(jv_array_append(jv_array_append(jv_array(),
				jv_number((double)r->session_id)), jv_string(phase)), p),
				jv_number((double)now)), NULL, e);
}

/* 1 when the design session has saved its strategy and still designs. */
/* 1 when the design session (a row, borrowed) has saved its strategy and
 * still designs. */
static int strategy_saved(jv sess)
{
	char *phase = json_string(sess, "phase"), *name = json_string(sess, "strategy_name");
	int saved = phase && name && !strcmp(phase, "designing");

	free(phase);
	free(name);
	return saved;
}

/* 1 when the session (a row, borrowed) is past what this invocation is for. */
static int purpose_done(const struct run *r, jv sess)
{
	char *phase = json_string(sess, "phase"), *bop = json_string(sess, "backtest_operation_id");
	int done = phase && (!strcmp(r->kind, "design") ? strcmp(phase, "designing") != 0
			     : !strcmp(r->kind, "post_training") ? (bop != NULL || strcmp(phase, "backtesting"))
			     : strcmp(phase, "assessing") != 0);

	free(phase);
	free(bop);
	return done;
}

static const char *halt_status(int halt)
{
	return halt == TOOLS_HALT_BUSY ? "backend_busy" : "strategy_dir_not_shared";
}

static const char *end_outcome(const char *kind)
{
	return !strcmp(kind, "design") ? "failed_design"
	       : !strcmp(kind, "post_training") ? "failed_backtest" : "failed_assessment";
}

/* After the loop: did the invocation do what its kind is for?  If not, the
 * session ends with the kind's failure outcome. */
static int conclude(struct run *r, const char *status, jv *reason, struct err *e)
{
	jv sess;
	char *phase, *bop;
	const char *why = NULL, *from = NULL;
	int64_t now;
	int rc;

	if (!r->session_id) {
		*reason = jv_string(status);
		return 0;
	}
	if ((rc = session_get(r->s, r->session_id, &sess, e)))
		return rc;
	phase = json_string(sess, "phase");
	bop = json_string(sess, "backtest_operation_id");
	if (r->halt == TOOLS_HALT_BUSY && phase &&
	    (!strcmp(phase, "designing") || (!strcmp(phase, "backtesting") && !bop))) {
		/* the session waits; a later tick starts the step without the model */
		rc = busy_record(r, phase, e);
		*reason = jv_string("backend_busy");
		free(phase);
		free(bop);
		jv_free(sess);
		return rc;
	}
	if (r->halt == TOOLS_HALT_END && phase && !strcmp(phase, "designing")) {
		rc = clock_now_s(&now, e);
		if (rc == 0)
			rc = session_move(r->s, r->session_id, "designing", "idle",
					  json_set(json_set(jv_object(), "outcome", jv_string("failed_design")),
						   "failure_reason", jv_string(r->halt_msg)),
					  now, e);
		*reason = jv_string("strategy_dir_not_shared");
		free(phase);
		free(bop);
		jv_free(sess);
		return rc;
	}
	if (!strcmp(r->kind, "design")) {
		if (phase && !strcmp(phase, "training"))
			*reason = jv_string("training_started");
		else
			why = "no strategy was saved and trained", from = "designing";
	} else if (!strcmp(r->kind, "post_training")) {
		if (bop)
			*reason = jv_string("backtest_started");
		else
			why = "no backtest was started", from = "backtesting";
	} else {
		if (phase && !strcmp(phase, "idle"))
			*reason = jv_string("assessment_saved");
		else
			why = "no assessment was saved", from = "assessing";
	}
	if (why && phase && !strcmp(phase, from)) {
		char detail[300];

		snprintf(detail, sizeof detail, "%s (%s)", why, status);
		rc = clock_now_s(&now, e);
		if (rc == 0)
			rc = session_move(r->s, r->session_id, from, "idle",
					  json_set(json_set(jv_object(), "outcome", jv_string(end_outcome(r->kind))),
						   "failure_reason", jv_string(detail)),
					  now, e);
		*reason = jv_string(end_outcome(r->kind));
	} else if (why) {
		*reason = jv_string("session_moved");
	}
	free(phase);
	free(bop);
	jv_free(sess);
	return rc;
}

/* s[path] when it is a string, else the first string of the list at
 * path ".list" (KTRDR's training_data.symbols.list), malloc'd */
static char *first_of(jv cfg, const char *section)
{
	char path[96];
	jv l;
	char *x = NULL;

	snprintf(path, sizeof path, "training_data.%s.list", section);
	l = json_get(jv_copy(cfg), path);
	if (jv_get_kind(l) == JV_KIND_ARRAY && jv_array_length(jv_copy(l)) > 0) {
		jv v = jv_array_get(jv_copy(l), 0);

		if (jv_get_kind(v) == JV_KIND_STRING)
			x = strdup(jv_string_value(v));
		jv_free(v);
	}
	jv_free(l);
	return x;
}

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);

	return v && *v ? v : dflt;
}

/*
 * The steps that need no model, as KTRDR's own research worker takes them
 * (ktrdr/agents/workers/research_worker.py _start_backtest, _start_training):
 * - post_training: the backtest, on the strategy's first symbol and
 *   timeframe (training_data.*.list), over backtest.date_range, else
 *   AGENT_BACKTEST_START_DATE / AGENT_BACKTEST_END_DATE, else the platform's
 *   default 2024-01-01 to 2024-06-30, with the trained model's model_path.
 *   Unless AGENT_AUTO_BACKTEST=0 (then the model is asked, as before),
 *   except on a retry after a busy backend.
 * - design, when the strategy is saved and a start met a busy backend: the
 *   training, on the strategy's lists and training_data.date_range.
 * Returns 1 when it took the step (rc in *rc), 0 to invoke the model.
 */
static int deterministic_step(struct run *r, struct backend *b, jv sess, int after_save, jv *reason,
			      int *rc, struct err *e)
{
	int64_t busy = 0;
	jv cfg, in = jv_null(), result;
	char *name = json_string(sess, "strategy_name");
	struct tools_ctx tc = { r->s, b, r->agent, r->o->tick_id, r->session_id, 0, 0, 0, "" };
	const char *tool;
	int is_error = 0, took = 0;

	json_int(sess, "conn_failures", &busy);
	cfg = json_get(jv_copy(sess), "strategy_config");
	if (!name || jv_get_kind(cfg) != JV_KIND_OBJECT)
		goto out;
	if (!strcmp(r->kind, "post_training")) {
		char *from = json_string(cfg, "backtest.date_range.start");
		char *to = json_string(cfg, "backtest.date_range.end");
		char *sym = first_of(cfg, "symbols"), *tf = first_of(cfg, "timeframes");
		char *model = json_string(sess, "training_results.model_path");

		if (!strcmp(env_or("AGENT_AUTO_BACKTEST", "1"), "0") && busy == 0) {
			free(from), free(to), free(sym), free(tf), free(model);
			goto out;
		}
		tool = "start_backtest";
		in = jv_object();
		in = json_set(in, "strategy_name", jv_string(name));
		if (sym)
			in = json_set(in, "symbol", jv_string(sym));
		if (tf)
			in = json_set(in, "timeframe", jv_string(tf));
		in = json_set(in, "start_date", jv_string(from ? from
			: env_or("AGENT_BACKTEST_START_DATE", "2024-01-01")));
		in = json_set(in, "end_date", jv_string(to ? to : env_or("AGENT_BACKTEST_END_DATE", "2024-06-30")));
		if (model)
			in = json_set(in, "model_path", jv_string(model));
		free(from), free(to), free(sym), free(tf), free(model);
	} else if (!strcmp(r->kind, "design") && (busy > 0 || after_save)) {
		jv syms = json_get(jv_copy(cfg), "training_data.symbols.list");
		jv tfs = json_get(jv_copy(cfg), "training_data.timeframes.list");
		char *from = json_string(cfg, "training_data.date_range.start");
		char *to = json_string(cfg, "training_data.date_range.end");

		tool = "start_training";
		in = jv_object();
		in = json_set(in, "strategy_name", jv_string(name));
		in = json_set(in, "symbols", syms);
		in = json_set(in, "timeframes", tfs);
		if (from)
			in = json_set(in, "start_date", jv_string(from));
		if (to)
			in = json_set(in, "end_date", jv_string(to));
		free(from);
		free(to);
	} else {
		goto out;
	}
	took = 1;
	*rc = clock_now_s(&tc.now, e);
	if (*rc == 0)
		*rc = tools_run(&tc, NULL, tool, in, &result, &is_error, e);
	else
		jv_free(in);
	if (*rc == 0) {
		r->t.tool_calls++;
		r->t.tool_errors += is_error;
		if (tc.halt) {
			r->halt = tc.halt;
			snprintf(r->halt_msg, sizeof r->halt_msg, "%s", tc.halt_msg);
			jv_free(result);
			if (!after_save)  /* else the loop concludes */
				*rc = conclude(r, "backend_busy", reason, e);
		} else if (!is_error) {
			*reason = jv_string(!strcmp(tool, "start_backtest") ? "backtest_started"
								       : "training_started");
			jv_free(result);
		} else if (busy > 0 || !strcmp(tool, "start_training")) {
			/* refused on a retry: no model turn is left to fix it */
			char *why = json_string(result, "error");
			int64_t now = tc.now;
			const char *from = !strcmp(tool, "start_training") ? "designing" : "backtesting";
			/* designing ends failed_design (DESIGN §3): no training ran */
			const char *outcome = !strcmp(tool, "start_training") ? "failed_design"
									    : "failed_backtest";

			*rc = session_move(r->s, r->session_id, from, "idle",
					   json_set(json_set(jv_object(), "outcome", jv_string(outcome)),
						    "failure_reason", jv_string(why ? why : "start refused")),
					   now, e);
			*reason = jv_string(outcome);
			free(why);
			jv_free(result);
		} else {
			/* a refused first start falls back to the model, which can correct it */
			took = 0;
			jv_free(result);
		}
	}
out:
	free(name);
	jv_free(cfg);
	return took || *rc;
}

/*
 * AGENT_ASSESS_BATCH=1: the assessment as a one-request Message Batch, at
 * the batch price (pricing.json batch_discount).  The first invocation
 * submits it under a hold that lasts the batch's 24 hours and records both
 * on the session; later ones (the trigger invokes again) poll it, for no
 * tokens; when it has ended, its result is recorded and settled, and the
 * clearing of the batch from the session, in one transaction (a crash
 * before it fetches again, after it nothing is charged twice), then its
 * tool calls (save_assessment) run.  errored, expired or canceled: the
 * hold is settled at 0 (nothing was billed) and the session ends
 * failed_assessment.  Returns 1 when it took the invocation (rc in *rc,
 * *status and *reason set), 0 to call the model as usual.
 */
static int assess_batch(struct run *r, struct backend *b, jv body, jv sess, const char **status,
			jv *reason, int64_t *inv_id, int *rc, struct err *e)
{
	const char *env = getenv("AGENT_ASSESS_BATCH");
	char *bid = json_string(sess, "assess_batch_id"), *text = NULL, path[200];
	int64_t hold_id = 0, now;
	struct budget_cfg bc;
	long st = 0;
	jv resp = jv_null();

	if (!r->session_id || strcmp(r->kind, "assessment") || (!bid && (!env || strcmp(env, "1")))) {
		free(bid);
		return 0;
	}
	*rc = 0;
	json_int(sess, "assess_batch_hold", &hold_id);
	if ((*rc = budget_config(&bc, r->agent, e)))
		goto out;
	if (!bid) {
		char cid[64], why[300];
		int64_t upper = 0, worst;
		int counted = 0;
		jv hold, req, bb;

		for (;;) {
			/* held as the request's model (its cap; over it, the
			 * kind's fallback, once), at the full price: the
			 * batch's half is settled, not held */
			bb = json_set(jv_copy(body), "model", jv_string(r->cfg.model));
			snprintf(bc.model, sizeof bc.model, "%s", r->cfg.model);
			worst = hold_size(r, bb, &upper, &counted, why, sizeof why);
			*rc = budget_hold(r->s, &bc, worst, upper + r->cfg.max_tokens, 25 * 3600,
					  "assessment_batch", &hold, e);
			if (*rc == EX_NO) {
				char *sc = json_string(hold, "scope");
				int mine = sc && !strncmp(sc, "model:", 6);

				free(sc);
				if (mine && fall_back(r, "model_cap")) {
					err_clear(e);
					jv_free(hold);
					jv_free(bb);
					continue;
				}
			}
			break;
		}
		if (*rc) {
			jv_free(hold);
			jv_free(bb);
			goto out;
		}
		json_int(hold, "id", &hold_id);
		jv_free(hold);
		hold_tally(r, counted, upper);
		snprintf(cid, sizeof cid, "session-%lld", (long long)r->session_id);
		req = json_set(json_set(jv_object(), "custom_id", jv_string(cid)), "params", bb);
		req = json_set(jv_object(), "requests", jv_array_append(jv_array(), req));
		*rc = anthropic_exchange(&r->api, "POST", "/v1/messages/batches", req, &st, &text, e);
		jv_free(req);  /* borrowed by the exchange */
		jv_free(resp);
		resp = *rc == 0 && text ? jv_parse(text) : jv_null();
		bid = *rc == 0 && st == 200 ? json_string(resp, "id") : NULL;
		if (!bid || !backend_id_ok(bid)) {
			/* not submitted: nothing was billed */
			struct err se = ERR_INIT;
			jv settled;

			free(bid);
			bid = NULL;
			if (budget_settle(r->s, &bc, hold_id, 0, 0, &settled, &se) == 0)
				jv_free(settled);
			if (*rc == 0)
				*rc = err_set(e, st >= 500 || st == 429 ? EX_TEMP : EX_PERM,
					      "POST /v1/messages/batches: HTTP %ld: %.200s", st, text ? text : "");
			anthropic_redact(&r->api, e->msg);
			goto out;
		}
		if ((*rc = clock_now_s(&now, e)) ||
		    (*rc = store_query(r->s, "session_batch_set",
				       jv_array_append(jv_array_append(jv_array_append(jv_array_append(jv_array(),
					jv_number((double)r->session_id)), jv_string(bid)), jv_number((double)hold_id)),
					jv_number((double)now)), NULL, e)))
			goto out;
		*status = "batch_submitted";
		*reason = jv_string("assessment_batch_submitted");
		goto out;
	}
	{
		/* a batch submitted as the fallback model is priced and
		 * recorded as that model (its hold says which) */
		jv h = jv_null();
		char *hm = NULL;

		if (hold_id && store_query1(r->s, "budget_hold_get",
					    jv_array_append(jv_array(), jv_number((double)hold_id)), &h, e) == 0)
			hm = json_string(h, "model");
		err_clear(e);
		jv_free(h);
		if (hm && r->fallback[0] && !strcmp(hm, r->fallback))
			fall_back(r, "model_cap");
		free(hm);
	}
	snprintf(path, sizeof path, "/v1/messages/batches/%s", bid);
	if ((*rc = anthropic_exchange(&r->api, "GET", path, jv_null(), &st, &text, e)))
		goto out;
	resp = jv_parse(text ? text : "");
	{
		char *ps = st == 200 ? json_string(resp, "processing_status") : NULL;
		int ended = ps && !strcmp(ps, "ended");

		free(ps);
		if (st != 200) {
			*rc = err_set(e, EX_TEMP, "GET %s: HTTP %ld", path, st);
			goto out;
		}
		if (!ended) {
			*status = "batch_pending";
			*reason = jv_string("assessment_batch_pending");
			goto out;
		}
	}
	free(text);
	text = NULL;
	snprintf(path, sizeof path, "/v1/messages/batches/%s/results", bid);
	if ((*rc = anthropic_exchange(&r->api, "GET", path, jv_null(), &st, &text, e)))
		goto out;
	if (st != 200) {
		*rc = err_set(e, EX_TEMP, "GET %s: HTTP %ld", path, st);
		goto out;
	}
	{
		char want[64], *line = text, *nl;
		jv result = jv_invalid();

		snprintf(want, sizeof want, "session-%lld", (long long)r->session_id);
		for (; line && *line; line = nl ? nl + 1 : NULL) {
			jv one;
			char *cid;

			nl = strchr(line, '\n');
			if (nl)
				*nl = 0;
			one = jv_parse(line);
			cid = jv_get_kind(one) == JV_KIND_OBJECT ? json_string(one, "custom_id") : NULL;
			if (cid && !strcmp(cid, want)) {
				jv_free(result);
				result = json_get(jv_copy(one), "result");
			}
			free(cid);
			jv_free(one);
		}
		{
			char *type = jv_is_valid(result) ? json_string(result, "type") : NULL;

			if (type && !strcmp(type, "succeeded")) {
				struct anthropic_call call;
				jv msg = json_get(jv_copy(result), "message"), content, turn;
				int64_t cost = 0;

				memset(&call, 0, sizeof call);
				call.status = 200;
				/* a batch request is billed at the batch price, whatever
				 * tier its usage names */
				if (json_kind_at(msg, "usage") == JV_KIND_OBJECT)
					msg = json_set(msg, "usage", json_set(json_get(jv_copy(msg), "usage"),
									      "service_tier", jv_string("batch")));
				call.message = msg;
				call.error = jv_null();
				r->clear_batch = 1;
				*rc = record_call(r, hold_id, pricing_worst_case(&r->price, 200000, r->cfg.max_tokens, 0),
						  &call, 0, NULL, 0, &cost, inv_id, e);
				r->clear_batch = 0;
				content = json_get(jv_copy(call.message), "content");
				jv_free(call.message);
				if (*rc == 0 && jv_get_kind(content) == JV_KIND_ARRAY) {
					*rc = run_tools(r, content, *inv_id, b, &turn, e);
					if (*rc == 0)
						jv_free(turn);
				}
				jv_free(content);  /* run_tools borrows it */
				*status = "ok";
			} else {
				/* errored, expired, canceled, or no line for it: nothing billed */
				char why[300];
				struct err se = ERR_INIT;
				jv settled;
				char *msg = jv_is_valid(result) ? json_string(result, "error.error.message") : NULL;

				snprintf(why, sizeof why, "assessment batch %s: %s%s%.200s", bid,
					 type ? type : "no result", msg ? ": " : "", msg ? msg : "");
				anthropic_redact(&r->api, why);
				if (budget_settle(r->s, &bc, hold_id, 0, 0, &settled, &se) == 0)
					jv_free(settled);
				if ((*rc = clock_now_s(&now, e)) == 0)
					*rc = session_move(r->s, r->session_id, "assessing", "idle",
						json_set(json_set(jv_object(), "outcome", jv_string("failed_assessment")),
							 "failure_reason", jv_string(why)), now, e);
				*status = type && !strcmp(type, "expired") ? "batch_expired" : "batch_failed";
				*reason = jv_string("failed_assessment");
				free(msg);
			}
			free(type);
		}
		jv_free(result);
	}
out:
	free(bid);
	free(text);
	jv_free(resp);
	return 1;
}

int invoke_run(struct store *s, const struct invoke_opts *o, jv *summary, struct err *e)
{
	struct run r = { 0 };
	struct backend b;
	jv table, sess = jv_null(), tools = jv_null(), messages, body, msg = jv_null(), reason = jv_null();
	char *sys = NULL, *user = NULL, *stop = NULL;
	const char *status = "ok";
	int64_t t0 = clock_mono_us(), inv_id = 0;
	int rc, cache, cache_prefix = 0, span = 0;
	/* AGENT_AUTO_TRAINING (1): the saved design's training starts without
	 * the model, and start_training is not offered to it */
	const int auto_training = !getenv("AGENT_AUTO_TRAINING") || strcmp(getenv("AGENT_AUTO_TRAINING"), "0");

	r.s = s;
	r.o = o;
	r.session_id = o->session_id;
	r.seed = (unsigned)(time(NULL) ^ getpid());
	snprintf(r.agent, sizeof r.agent, "%s",
		 o->agent && *o->agent ? o->agent : getenv("AGENT_NAME") && *getenv("AGENT_NAME")
				 ? getenv("AGENT_NAME") : "default");
	if ((rc = read_cfg(&r.cfg, e)) || (rc = store_durable(s, e)) || (rc = pricing_load(&table, e)))
		return rc;
	rc = pricing_find(table, r.cfg.model, &r.price, e);
	jv_free(table);
	if (rc || (rc = backend_init(&b, e)) || (rc = anthropic_init(&r.api, e)))
		return rc;
	r.kind = o->kind;
	span = trace_agent_start(r.agent, r.session_id, r.cfg.model);
	r.span = span;
	if (r.session_id) {
		char *phase;
		const char *want;

		if ((rc = session_get(s, r.session_id, &sess, e)))
			goto out;
		if (jv_get_kind(sess) != JV_KIND_OBJECT) {
			rc = err_set(e, EX_DATA, "no session %lld", (long long)r.session_id);
			goto out;
		}
		phase = json_string(sess, "phase");
		want = kind_for_phase(phase);
		if (!r.kind)
			r.kind = want;
		if (!want || strcmp(want, r.kind)) {
			rc = err_set(e, EX_DATA, "session %lld is %s: no %s invocation now",
				     (long long)r.session_id, phase ? phase : "?", r.kind ? r.kind : "");
			free(phase);
			goto out;
		}
		free(phase);
		if (!strcmp(r.kind, "post_training")) {
			char *bop = json_string(sess, "backtest_operation_id");

			if (bop) {
				free(bop);
				rc = err_set(e, EX_DATA, "session %lld: the backtest is already started",
					     (long long)r.session_id);
				goto out;
			}
		}
	}
	if (!r.kind || (strcmp(r.kind, "design") && strcmp(r.kind, "post_training") &&
			strcmp(r.kind, "assessment"))) {
		rc = err_set(e, EX_USAGE, "kind must be design, post_training or assessment");
		goto out;
	}
	/* the model of this kind of invocation, priced (and held) as such */
	if (strcmp(invoke_model(r.kind, r.cfg.model, sizeof r.cfg.model), "") == 0 ||
	    (rc = pricing_load(&table, e)))
		goto out;
	rc = pricing_find(table, r.cfg.model, &r.price, e);
	/* a fallback model without a price is refused before anything is spent */
	if (rc == 0 && invoke_fallback_model(r.kind, r.fallback, sizeof r.fallback)[0])
		rc = pricing_find(table, r.fallback, &r.fallback_price, e);
	jv_free(table);
	if (rc)
		goto out;
	if (r.session_id && deterministic_step(&r, &b, sess, 0, &reason, &rc, e)) {
		status = r.halt ? halt_status(r.halt)
			 : !strcmp(r.kind, "post_training") ? "auto_backtest" : "auto_training";
		goto out;
	}
	if ((rc = tools_load(r.kind, &tools, e)))
		goto out;
	if (auto_training && r.session_id && !strcmp(r.kind, "design")) {
		jv kept = jv_array();

		for (int i = 0; i < jv_array_length(jv_copy(tools)); i++) {
			jv t = jv_array_get(jv_copy(tools), i);
			char *n = json_string(t, "name");

			if (n && strcmp(n, "start_training"))
				kept = jv_array_append(kept, t);
			else
				jv_free(t);
			free(n);
		}
		jv_free(tools);
		tools = kept;
	}
	if ((rc = prompt_render("system", jv_object(), &sys, e)) ||
	    (rc = prompt_render(r.kind, context(s, &b, r.agent, r.kind, jv_copy(sess), o->reason),
				&user, e)))
		goto out;
	/* Prompt caching where the API keeps a cache (share/models.json): the
	 * system prompt and the tools get breakpoints only when together they
	 * reach the model's minimum (on Opus 4.5, 4096 tokens; below it a
	 * breakpoint caches nothing); each request of a tool loop puts one on
	 * its last block, so turn N reads turns 1..N-1 once the conversation
	 * is long enough (incremental caching).  AGENT_PROMPT_CACHE=0 turns
	 * caching off, for comparison. */
	cache = !getenv("AGENT_PROMPT_CACHE") || strcmp(getenv("AGENT_PROMPT_CACHE"), "0");
	{
		struct model_limits lim;
		char *t = json_dump(jv_copy(tools));
		/* an estimate on the generous side: 3 bytes a token */
		long prefix = (long)((t ? strlen(t) : 0) + strlen(sys)) / 3;
		int n = jv_array_length(jv_copy(tools));

		free(t);
		models_limits(r.cfg.model, &lim);
		cache_prefix = cache && prefix >= lim.min_cache_tokens;
		if (n > 0 && cache_prefix) {
			jv last = jv_array_get(jv_copy(tools), n - 1);

			tools = jv_array_set(tools, n - 1, json_set(last, "cache_control", cache_control()));
		}
	}
	messages = jv_array_append(jv_array(), json_set(json_set(jv_object(), "role", jv_string("user")),
		"content", jv_array_append(jv_array(), json_set(json_set(jv_object(),
			"type", jv_string("text")), "text", jv_string(user)))));
	body = jv_object();
	body = json_set(body, "model", jv_string(r.cfg.model));
	body = json_set(body, "max_tokens", jv_number((double)r.cfg.max_tokens));
	{
		jv block = json_set(json_set(jv_object(), "type", jv_string("text")), "text", jv_string(sys));

		if (cache_prefix)
			block = json_set(block, "cache_control", cache_control());
		body = json_set(body, "system", jv_array_append(jv_array(), block));
	}
	body = json_set(body, "tools", jv_copy(tools));
	{
		jv first = json_set(jv_copy(body), "messages", jv_copy(messages));
		int taken = assess_batch(&r, &b, first, sess, &status, &reason, &inv_id, &rc, e);

		jv_free(first);
		if (taken) {
			jv_free(messages);
			jv_free(body);
			if (rc == 0 && !strcmp(status, "ok"))
				rc = conclude(&r, status, &reason, e);
			goto out;
		}
	}

	for (long iter = 1;; iter++) {
		jv content;

		if (r.t.input + r.t.cache_write + r.t.cache_read >= r.cfg.max_input_tokens) {
			status = "input_token_limit";
			break;
		}
		if (iter > r.cfg.max_iterations) {
			status = "iteration_limit";
			break;
		}
		{
			jv req = json_set(jv_copy(body), "messages",
					  cache ? last_block_cached(jv_copy(messages)) : jv_copy(messages));

			rc = call_api(&r, req, &msg, &inv_id, e);
			jv_free(req);
		}
		if (rc)
			break;
		free(stop);
		stop = json_string(msg, "stop_reason");
		content = json_get(jv_copy(msg), "content");
		if (jv_get_kind(content) != JV_KIND_ARRAY) {
			jv_free(content);
			content = jv_array();
		}
		/* the assistant turn goes back unchanged */
		messages = jv_array_append(messages, json_set(json_set(jv_object(),
			"role", jv_string("assistant")), "content", jv_copy(content)));
		jv_free(msg);
		msg = jv_null();
		if (stop && !strcmp(stop, "tool_use")) {
			jv turn;

			rc = run_tools(&r, content, inv_id, &b, &turn, e);
			jv_free(content);
			if (rc)
				break;
			if (r.halt) {
				/* no further turn: what the tool met is not the model's to fix */
				jv_free(turn);
				status = halt_status(r.halt);
				break;
			}
			{
				jv cur = jv_null();
				int done = 0;

				if (r.session_id)
					rc = session_get(s, r.session_id, &cur, e);
				if (rc == 0 && auto_training && !strcmp(r.kind, "design") && strategy_saved(cur)) {
					/* the design is saved: its training starts as the
					 * platform's research worker starts it, without a turn */
					jv why = jv_null();

					deterministic_step(&r, &b, cur, 1, &why, &rc, e);
					jv_free(why);
					jv_free(cur);
					cur = jv_null();
					if (rc == 0 && !r.halt)
						rc = session_get(s, r.session_id, &cur, e);
				}
				if (rc == 0 && !r.halt)
					done = purpose_done(&r, cur);
				jv_free(cur);
				if (rc || r.halt) {
					jv_free(turn);
					if (r.halt)
						status = halt_status(r.halt);
					break;
				}
				if (done && !(getenv("AGENT_CLOSING_TURN") && !strcmp(getenv("AGENT_CLOSING_TURN"), "1"))) {
					/* the invocation did its job (training started, backtest
					 * started, assessment saved): the model's closing status
					 * turn would be paid for and only logged, so it is not
					 * asked for (AGENT_CLOSING_TURN=1 asks for it) */
					jv_free(turn);
					status = "ok";
					break;
				}
			}
			messages = jv_array_append(messages, turn);
			continue;
		}
		jv_free(content);
		if (stop && !strcmp(stop, "pause_turn"))
			continue;  /* resend: the model continues its turn */
		if (!stop || !strcmp(stop, "end_turn") || !strcmp(stop, "stop_sequence"))
			status = "ok";
		else if (!strcmp(stop, "max_tokens") || !strcmp(stop, "model_context_window_exceeded") ||
			 !strcmp(stop, "refusal"))
			status = stop;
		else
			status = "unknown_stop_reason";
		break;
	}
	jv_free(messages);
	jv_free(body);
	if (rc == EX_NO && r.t.calls == 0)
		goto out;  /* refused before any call: nothing spent, the session waits */
	if (rc && rc != EX_NO)
		goto out;  /* the session stays: the next tick's recovery tries once more */
	if (rc == EX_NO) {
		status = "budget_exhausted";
		rc = 0;
	}
	rc = conclude(&r, status, &reason, e);
out:
	if (rc == 0 || (rc == EX_NO && r.t.calls == 0)) {
		jv sum = jv_object(), usage = jv_object();

		usage = json_set(usage, "input_tokens", jv_number((double)r.t.input));
		usage = json_set(usage, "output_tokens", jv_number((double)r.t.output));
		usage = json_set(usage, "cache_creation_input_tokens", jv_number((double)r.t.cache_write));
		usage = json_set(usage, "cache_read_input_tokens", jv_number((double)r.t.cache_read));
		sum = json_set(sum, "kind", jv_string(r.kind ? r.kind : ""));
		sum = json_set(sum, "model", jv_string(r.cfg.model));
		if (r.fallback_reason) {
			sum = json_set(sum, "requested_model", jv_string(r.requested));
			sum = json_set(sum, "fallback_reason", jv_string(r.fallback_reason));
		}
		sum = json_set(sum, "session_id", r.session_id ? jv_number((double)r.session_id) : jv_null());
		sum = json_set(sum, "calls", jv_number((double)r.t.calls));
		sum = json_set(sum, "tool_calls", jv_number((double)r.t.tool_calls));
		sum = json_set(sum, "tool_errors", jv_number((double)r.t.tool_errors));
		sum = json_set(sum, "usage", usage);
		{
			jv h = jv_object();

			h = json_set(h, "count_tokens", jv_number((double)r.t.holds_counted));
			h = json_set(h, "estimate", jv_number((double)r.t.holds_estimated));
			h = json_set(h, "input_tokens", jv_number((double)r.t.held_input));
			h = json_set(h, "count_ms", jv_number((double)r.t.count_us / 1000.0));
			sum = json_set(sum, "holds", h);
		}
		sum = json_set(sum, "cost_usd", pricing_usd(r.t.cost));
		sum = json_set(sum, "stop_reason", json_str_or_null(stop));
		sum = json_set(sum, "status", jv_string(rc == EX_NO ? "budget_exhausted" : status));
		sum = json_set(sum, "reason", jv_is_valid(reason) && jv_get_kind(reason) == JV_KIND_STRING
						       ? jv_copy(reason) : jv_string(rc == EX_NO ? "budget_exhausted" : status));
		sum = json_set(sum, "duration_ms", jv_number((double)((clock_mono_us() - t0) / 1000)));
		*summary = sum;
	}
	trace_agent_end(span, r.kind, r.t.input + r.t.cache_write + r.t.cache_read, r.t.output, status,
			rc, e->msg);
	jv_free(reason);
	jv_free(msg);
	jv_free(sess);
	jv_free(tools);
	free(sys);
	free(user);
	free(stop);
	anthropic_release(&r.api);
	strategy_release();
	return rc;
}

int invoke_stage(struct store *s, jv doc, jv *out, struct err *e)
{
	struct invoke_opts o = { 0 };
	char *agent = NULL, *tick = NULL, *reason = NULL;
	jv sum = jv_null(), row = jv_null();
	int rc;

	if ((rc = tick_check(doc, e)))
		goto fail;
	if (!tick_action_is(doc, "invoke")) {
		*out = doc;
		return 0;
	}
	agent = tick_agent(doc);
	tick = tick_id(doc);
	reason = json_string(doc, "reason");
	o.agent = agent;
	o.tick_id = tick;
	o.session_id = tick_session_id(doc);
	o.reason = reason;
	if (!o.session_id) {
		rc = err_set(e, EX_DATA, "tick: action invoke needs a session");
		goto fail;
	}
	rc = invoke_run(s, &o, &sum, e);
	if (rc == EX_NO) {
		doc = json_set(doc, "action", jv_string("skip"));
		doc = json_set(doc, "reason", jv_string("budget_exhausted"));
		doc = json_set(doc, "invocation", sum);
		rc = tick_record(s, doc, "budget_exhausted", 0, -1, -1, e);
		if (rc)
			goto fail;
		*out = doc;
		goto done;
	}
	if (rc)
		goto fail;
	if ((rc = session_get(s, o.session_id, &row, e))) {
		jv_free(sum);
		goto fail;
	}
	{
		char *phase = json_string(row, "phase");

		doc = json_set(doc, "action", jv_string(phase && !strcmp(phase, "idle") ? "end" : "wait"));
		free(phase);
	}
	doc = json_set(doc, "reason", json_get(jv_copy(sum), "reason"));
	doc = json_set(doc, "invocation", sum);
	doc = json_set(doc, "session", row);
	if ((rc = tick_record(s, doc, NULL, 1, -1, -1, e)))
		goto fail;
	*out = doc;
done:
	free(agent);
	free(tick);
	free(reason);
	return 0;
fail:
	free(agent);
	free(tick);
	free(reason);
	jv_free(doc);
	return rc;
}

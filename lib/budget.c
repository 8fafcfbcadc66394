/* budget: spend, hold and settle against a per-agent, per-UTC-day cap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "base/clock.h"
#include "base/json.h"
#include "pricing.h"

static int env_usd(const char *name, int64_t def, int64_t *out, struct err *e)
{
	const char *s = getenv(name);

	*out = def;
	if (!s || !*s)
		return 0;
	if (pricing_parse_usd(s, out) < 0)
		return err_set(e, EX_PERM, "%s: not a dollar amount: '%.40s'", name, s);
	return 0;
}

int budget_config(struct budget_cfg *c, const char *agent, struct err *e)
{
	const char *tok = getenv("AGENT_DAILY_TOKEN_BUDGET");

	memset(c, 0, sizeof *c);
	if (!agent || !*agent)
		agent = getenv("AGENT_NAME");
	snprintf(c->agent, sizeof c->agent, "%s", agent && *agent ? agent : "default");
	if (env_usd("AGENT_DAILY_BUDGET_USD", 5000000, &c->limit, e) ||
	    env_usd("AGENT_BUDGET_BUFFER_USD", 100000, &c->buffer, e))
		return EX_PERM;
	if (tok && *tok) {
		char *end;
		long long v = strtoll(tok, &end, 10);

		if (*end || v < 0)
			return err_set(e, EX_PERM, "AGENT_DAILY_TOKEN_BUDGET: not a token count: '%.40s'", tok);
		c->token_limit = v;
	}
	if (clock_now_s(&c->now, e))
		return e->code;
	clock_day(c->now, c->day);
	return 0;
}

int64_t budget_resets_at(const struct budget_cfg *c)
{
	return (c->now / 86400 + 1) * 86400;
}

int64_t budget_cycle_estimate(void)
{
	const char *s = getenv("AGENT_CYCLE_ESTIMATE_USD");
	int64_t v;

	if (s && *s && pricing_parse_usd(s, &v) == 0 && v > 0)
		return v;
	return 150000;
}

static jv num(int64_t v)
{
	return jv_number((double)v);
}

static jv params(int n, const jv *v)
{
	jv a = jv_array();

	for (int i = 0; i < n; i++)
		a = jv_array_append(a, v[i]);
	return a;
}
#define P(...) params((int)(sizeof((jv[]){__VA_ARGS__}) / sizeof(jv)), (jv[]){__VA_ARGS__})

/* Joins the caller's transaction or opens one. */
static int tx_begin(struct store *s, int *own, struct err *e)
{
	*own = !store_in_tx(s);
	return *own ? store_begin(s, e) : 0;
}

static int tx_end(struct store *s, int own, int rc, struct err *e)
{
	if (!own)
		return rc;
	if (rc) {
		store_rollback(s);
		return rc;
	}
	return store_commit(s, e);
}

static int ensure_day(struct store *s, const struct budget_cfg *c, struct err *e)
{
	return store_query(s, "budget_ensure_day",
			   P(jv_string(c->agent), jv_string(c->day), num(c->limit), num(c->now)),
			   NULL, e);
}

/* Expired open holds become spent at their full amount. */
static int expire_holds(struct store *s, const struct budget_cfg *c, struct err *e)
{
	jv rows;
	int rc = store_query(s, "budget_expire_holds",
			     P(jv_string(c->agent), num(c->now)), &rows, e);
	int n;

	if (rc)
		return rc;
	n = jv_array_length(jv_copy(rows));
	for (int i = 0; i < n && rc == 0; i++) {
		jv h = jv_array_get(jv_copy(rows), i);
		int64_t amount = 0, tokens = 0;
		char *day = json_string(h, "day");

		json_int(h, "amount_micros", &amount);
		json_int(h, "tokens", &tokens);
		rc = store_query(s, "budget_expire_day",
				 P(jv_string(c->agent), jv_string(day ? day : c->day), num(amount),
				   num(tokens), num(c->now)),
				 NULL, e);
		free(day);
		jv_free(h);
	}
	jv_free(rows);
	return rc;
}

static int64_t field(jv row, const char *k)
{
	int64_t v = 0;

	json_int(row, k, &v);
	return v;
}

static jv status_json(const struct budget_cfg *c, jv row)
{
	int64_t limit = field(row, "limit_micros"), spent = field(row, "spent_micros");
	int64_t held = field(row, "held_micros");
	int64_t remaining = limit - spent - held, available, est = budget_cycle_estimate();
	char resets[32];

	if (remaining < 0)
		remaining = 0;
	available = remaining - c->buffer > 0 ? remaining - c->buffer : 0;
	clock_format(budget_resets_at(c), resets);
	jv out = jv_object();
	out = json_set(out, "agent", jv_string(c->agent));
	out = json_set(out, "day", jv_string(c->day));
	out = json_set(out, "limit_usd", pricing_usd(limit));
	out = json_set(out, "buffer_usd", pricing_usd(c->buffer));
	out = json_set(out, "spent_usd", pricing_usd(spent));
	out = json_set(out, "held_usd", pricing_usd(held));
	out = json_set(out, "remaining_usd", pricing_usd(remaining));
	out = json_set(out, "available_usd", pricing_usd(available));
	{
		int set = 0;

		json_bool(row, "limit_set", &set);
		out = json_set(out, "limit_set", jv_bool(set));
	}
	out = json_set(out, "invocations", num(field(row, "invocations")));
	out = json_set(out, "cycles_started", num(field(row, "cycles_started")));
	out = json_set(out, "cycles_completed", num(field(row, "cycles_completed")));
	out = json_set(out, "cycle_estimate_usd", pricing_usd(est));
	out = json_set(out, "cycles_affordable", num(available / est));
	out = json_set(out, "tokens_used", num(field(row, "tokens_used")));
	out = json_set(out, "token_limit", c->token_limit ? num(c->token_limit) : jv_null());
	out = json_set(out, "resets_at", jv_string(resets));
	jv_free(row);
	return out;
}

static int read_day(struct store *s, const struct budget_cfg *c, jv *row, struct err *e)
{
	return store_query1(s, "budget_day", P(jv_string(c->agent), jv_string(c->day)), row, e);
}

int budget_status(struct store *s, const struct budget_cfg *c, jv *out, struct err *e)
{
	int own, rc = tx_begin(s, &own, e);
	jv row = jv_null();

	if (rc == 0)
		rc = ensure_day(s, c, e);
	if (rc == 0)
		rc = expire_holds(s, c, e);
	if (rc == 0)
		rc = read_day(s, c, &row, e);
	rc = tx_end(s, own, rc, e);
	if (rc) {
		jv_free(row);
		return rc;
	}
	*out = status_json(c, row);
	return 0;
}

/* PostgreSQL outside a caller's transaction: one statement does it all. */
static int fast_path(struct store *s)
{
	return store_driver(s) == STORE_POSTGRES && !store_in_tx(s);
}

static int reserve(struct store *s, const struct budget_cfg *c, int64_t amount, int64_t tokens,
		   int64_t ttl, const char *note, jv *hold, struct err *e)
{
	jv res = jv_null();
	int rc;

	if (fast_path(s))
		return store_query1(s, "budget_hold_atomic",
				    P(jv_string(c->agent), jv_string(c->day), num(amount), num(c->buffer),
				      num(c->token_limit), num(tokens), num(c->now), num(c->now + ttl),
				      json_str_or_null(note), num(c->limit)),
				    hold, e);
	rc = store_query1(s, "budget_reserve",
			  P(jv_string(c->agent), jv_string(c->day), num(amount), num(c->buffer),
			    num(c->token_limit), num(tokens), num(c->now), num(c->limit)),
			  &res, e);
	if (rc == 0 && jv_get_kind(res) == JV_KIND_OBJECT)
		rc = store_query1(s, "budget_hold_insert",
				  P(jv_string(c->agent), jv_string(c->day), num(amount), num(tokens),
				    json_str_or_null(note), num(c->now), num(c->now + ttl)),
				  hold, e);
	else if (rc == 0)
		*hold = jv_null();
	jv_free(res);
	return rc;
}

int budget_hold(struct store *s, const struct budget_cfg *c, int64_t amount,
		int64_t tokens, int64_t ttl, const char *note, jv *out, struct err *e)
{
	int own = 0, rc = 0;
	jv hold = jv_null();

	if (amount < 0 || tokens < 0)
		return err_set(e, EX_DATA, "a hold must not be negative");
	if (ttl <= 0 || ttl > 7 * 86400)
		return err_set(e, EX_DATA, "hold ttl must be from 1 s to 7 days");
	rc = store_durable(s, e);
	if (rc == 0 && !fast_path(s))
		rc = tx_begin(s, &own, e);
	/* The common case needs no other statement; a refusal is checked again
	 * after the day's row is made and its limit refreshed. */
	if (rc == 0)
		rc = reserve(s, c, amount, tokens, ttl, note, &hold, e);
	if (rc == 0 && jv_get_kind(hold) != JV_KIND_OBJECT) {
		jv_free(hold);
		rc = ensure_day(s, c, e);
		if (rc == 0)
			rc = reserve(s, c, amount, tokens, ttl, note, &hold, e);
	}
	if (own)
		rc = tx_end(s, own, rc, e);
	if (rc) {
		jv_free(hold);
		return rc;
	}
	if (jv_get_kind(hold) != JV_KIND_OBJECT) {
		jv st = jv_null();

		jv_free(hold);
		/* report what is left, from a fresh read */
		if (budget_status(s, c, &st, e))
			return e->code;
		*out = json_set(json_set(json_set(jv_object(),
			"refused", jv_true()),
			"amount_usd", pricing_usd(amount)),
			"budget", st);
		return err_set(e, EX_NO, "budget_exhausted: a hold of $%lld.%06lld would break the cap",
			       (long long)(amount / 1000000), (long long)(amount % 1000000));
	}
	{
		char exp[32];

		*out = json_set(json_set(json_set(json_set(json_set(json_set(jv_object(),
			"id", json_get(jv_copy(hold), "id")),
			"agent", jv_string(c->agent)),
			"day", jv_string(c->day)),
			"amount_usd", pricing_usd(amount)),
			"tokens", num(tokens)),
			"expires_at", jv_string(clock_format(field(hold, "expires_at"), exp)));
	}
	jv_free(hold);
	return 0;
}

int budget_settle(struct store *s, const struct budget_cfg *c, int64_t id, int64_t cost,
		  int64_t tokens, jv *out, struct err *e)
{
	int own, rc;
	jv h = jv_null();

	if (cost < 0 || tokens < 0)
		return err_set(e, EX_DATA, "a settlement must not be negative");
	if ((rc = store_durable(s, e)))
		return rc;
	if (fast_path(s)) {
		own = 0;
		rc = store_query1(s, "budget_settle_atomic",
				  P(num(id), num(cost), num(tokens), num(c->now)), &h, e);
	} else {
		rc = tx_begin(s, &own, e);
		if (rc == 0)
			rc = store_query1(s, "budget_hold_close",
					  P(num(id), num(cost), num(tokens), num(c->now)), &h, e);
	}
	if (rc == 0 && jv_get_kind(h) == JV_KIND_OBJECT && !fast_path(s)) {
		char *agent = json_string(h, "agent"), *day = json_string(h, "day");

		rc = store_query(s, "budget_settle_day",
				 P(jv_string(agent ? agent : ""), jv_string(day ? day : ""),
				   num(field(h, "amount_micros")), num(cost),
				   num(field(h, "tokens")), num(tokens), num(c->now)),
				 NULL, e);
		free(agent);
		free(day);
	}
	if (rc == 0 && jv_get_kind(h) != JV_KIND_OBJECT) {
		/* not settled: say why, and settle nothing */
		jv old = jv_null();

		rc = store_query1(s, "budget_hold_get", P(num(id)), &old, e);
		if (rc == 0 && jv_get_kind(old) != JV_KIND_OBJECT) {
			rc = err_set(e, EX_DATA, "no hold %lld", (long long)id);
		} else if (rc == 0) {
			char *st = json_string(old, "status");

			rc = err_set(e, EX_NO, "hold %lld is %s, not open", (long long)id,
				     st && strcmp(st, "open") == 0 ? "expired" : st ? st : "closed");
			free(st);
		}
		jv_free(old);
	}
	rc = tx_end(s, own, rc, e);
	if (rc) {
		jv_free(h);
		return rc;
	}
	*out = json_set(json_set(json_set(json_set(jv_object(),
		"id", num(id)),
		"held_usd", pricing_usd(field(h, "amount_micros"))),
		"cost_usd", pricing_usd(cost)),
		"released_usd", pricing_usd(field(h, "amount_micros") - cost > 0
					    ? field(h, "amount_micros") - cost : 0));
	jv_free(h);
	return 0;
}

int budget_set_limit(struct store *s, const struct budget_cfg *c, int64_t limit,
		     jv *out, struct err *e)
{
	int own, rc;

	if (limit < 0 || limit > 1000000LL * 1000000)
		return err_set(e, EX_DATA, "limit must be from $0 to $1000000");
	rc = tx_begin(s, &own, e);
	if (rc == 0)
		rc = ensure_day(s, c, e);
	if (rc == 0)
		rc = store_query(s, "budget_set_limit",
				 P(jv_string(c->agent), jv_string(c->day), num(limit), num(c->now)),
				 NULL, e);
	rc = tx_end(s, own, rc, e);
	if (rc)
		return rc;
	return budget_status(s, c, out, e);
}

int budget_history(struct store *s, const struct budget_cfg *c, int days, jv *out,
		   struct err *e)
{
	char from[11];
	jv rows, res;
	int rc, n;

	if (days < 1 || days > 3660)
		return err_set(e, EX_USAGE, "days must be from 1 to 3660");
	clock_day(c->now - (int64_t)(days - 1) * 86400, from);
	rc = store_query(s, "budget_history", P(jv_string(c->agent), jv_string(from),
						jv_string(c->day)), &rows, e);
	if (rc)
		return rc;
	res = jv_array();
	n = jv_array_length(jv_copy(rows));
	for (int i = 0; i < n; i++) {
		jv r = jv_array_get(jv_copy(rows), i);
		jv o = jv_object();

		o = json_set(o, "day", json_get(jv_copy(r), "day"));
		o = json_set(o, "limit_usd", pricing_usd(field(r, "limit_micros")));
		o = json_set(o, "spent_usd", pricing_usd(field(r, "spent_micros")));
		o = json_set(o, "held_usd", pricing_usd(field(r, "held_micros")));
		o = json_set(o, "invocations", num(field(r, "invocations")));
		o = json_set(o, "cycles_started", num(field(r, "cycles_started")));
		o = json_set(o, "cycles_completed", num(field(r, "cycles_completed")));
		o = json_set(o, "tokens_used", num(field(r, "tokens_used")));
		res = jv_array_append(res, o);
		jv_free(r);
	}
	jv_free(rows);
	*out = res;
	return 0;
}

int budget_count_cycle(struct store *s, const struct budget_cfg *c, int completed,
		       struct err *e)
{
	int own, rc = tx_begin(s, &own, e);

	if (rc == 0)
		rc = ensure_day(s, c, e);
	if (rc == 0)
		rc = store_query(s, completed ? "budget_count_cycle_completed"
					      : "budget_count_cycle_started",
				 P(jv_string(c->agent), jv_string(c->day), num(c->now)), NULL, e);
	return tx_end(s, own, rc, e);
}

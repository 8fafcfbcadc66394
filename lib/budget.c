/* budget: spend, hold and settle against a per-agent, per-UTC-day cap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	c->week_limit = c->month_limit = -1;
	if ((getenv("AGENT_WEEKLY_BUDGET_USD") && *getenv("AGENT_WEEKLY_BUDGET_USD") &&
	     env_usd("AGENT_WEEKLY_BUDGET_USD", -1, &c->week_limit, e)) ||
	    (getenv("AGENT_MONTHLY_BUDGET_USD") && *getenv("AGENT_MONTHLY_BUDGET_USD") &&
	     env_usd("AGENT_MONTHLY_BUDGET_USD", -1, &c->month_limit, e)))
		return EX_PERM;
	if (clock_now_s(&c->now, e))
		return e->code;
	clock_day(c->now, c->day);
	{
		/* 1970-01-01 was a Thursday: Monday is (days + 3) % 7 == 0 */
		int64_t d = c->now / 86400 - (c->now % 86400 < 0), wd = ((d + 3) % 7 + 7) % 7;
		time_t t = (time_t)c->now;
		struct tm tm;

		clock_day((d - wd) * 86400, c->week_from);
		clock_day((d - wd + 6) * 86400, c->week_to);
		gmtime_r(&t, &tm);
		snprintf(c->month_from, sizeof c->month_from, "%04d-%02d-01", tm.tm_year + 1900,
			 tm.tm_mon + 1);
		tm.tm_mday = 1;
		tm.tm_mon += 1;
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		clock_day((int64_t)timegm(&tm) - 86400, c->month_to);
	}
	return 0;
}

/* The first and last day of period, and when it ends (Unix seconds). */
static int64_t period_range(const struct budget_cfg *c, const char *period, const char **from,
			    const char **to)
{
	int64_t end;

	if (!strcmp(period, "week")) {
		*from = c->week_from;
		*to = c->week_to;
	} else if (!strcmp(period, "month")) {
		*from = c->month_from;
		*to = c->month_to;
	} else {
		*from = *to = c->day;
	}
	if (clock_parse_day(*to, &end))
		end = c->now;
	return end + 86400;
}

int budget_period_ok(const char *period, struct err *e)
{
	if (period && (!strcmp(period, "day") || !strcmp(period, "week") || !strcmp(period, "month")))
		return 0;
	return err_set(e, EX_USAGE, "unknown period '%.40s' (day, week or month)", period ? period : "");
}

static int name_ok(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 100 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					       "0123456789_.-") == n;
}

int budget_scope_parse(const char *text, const struct budget_cfg *c, char *scope, size_t size,
		       struct err *e)
{
	const char *name = NULL;

	if (!text)
		text = "";
	if (!strcmp(text, "global") || !strcmp(text, "agent")) {
		snprintf(scope, size, "%s%s", !strcmp(text, "agent") ? "agent:" : "global",
			 !strcmp(text, "agent") ? c->agent : "");
		return 0;
	}
	if (!strncmp(text, "agent:", 6))
		name = text + 6;
	else if (!strncmp(text, "team:", 5))
		name = text + 5;
	if (!name)
		return err_set(e, EX_USAGE, "unknown scope '%.60s' (agent, agent:NAME, team:NAME or global)",
			       text);
	if (!name_ok(name))
		return err_set(e, EX_USAGE, "scope '%.60s': a name is 1 to 100 of [A-Za-z0-9_.-]", text);
	snprintf(scope, size, "%s", text);
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

static int scope_used(struct store *s, const struct budget_cfg *c, const char *scope,
		      const char *period, int64_t *spent, int64_t *held, struct err *e);
static int agent_caps(struct store *s, const struct budget_cfg *c, jv *caps, struct err *e);

/* A cap (consumed) with its period's figures. */
static int cap_json(struct store *s, const struct budget_cfg *c, jv k, jv *out, struct err *e)
{
	char *sc = json_string(k, "scope"), *pe = json_string(k, "period"), resets[32];
	const char *from, *to;
	int64_t spent = 0, held = 0, limit = field(k, "limit_micros"), left;
	int rc = sc && pe ? scope_used(s, c, sc, pe, &spent, &held, e) : 0;
	jv o = jv_object();

	left = limit - spent - held > 0 ? limit - spent - held : 0;
	o = json_set(o, "scope", sc ? jv_string(sc) : jv_null());
	o = json_set(o, "period", pe ? jv_string(pe) : jv_null());
	clock_format(period_range(c, pe ? pe : "day", &from, &to), resets);
	o = json_set(o, "from", jv_string(from));
	o = json_set(o, "to", jv_string(to));
	o = json_set(o, "limit_usd", pricing_usd(limit));
	o = json_set(o, "spent_usd", pricing_usd(spent));
	o = json_set(o, "held_usd", pricing_usd(held));
	o = json_set(o, "available_usd", pricing_usd(left));
	o = json_set(o, "resets_at", jv_string(resets));
	free(sc);
	free(pe);
	jv_free(k);
	if (rc) {
		jv_free(o);
		return rc;
	}
	*out = o;
	return 0;
}

/* What model has spent and holds today. */
static int model_used(struct store *s, const struct budget_cfg *c, const char *model,
		      int64_t *spent, int64_t *held, struct err *e)
{
	jv row = jv_null();
	int rc = store_query1(s, "budget_model_used", P(jv_string(c->agent), jv_string(c->day),
						       jv_string(model)), &row, e);

	*spent = field(row, "spent_micros");
	*held = field(row, "held_micros");
	jv_free(row);
	return rc;
}

/* The agent's model caps, each as a cap of scope "model:MODEL" over the
 * day, appended to *list. */
static int model_caps_json(struct store *s, const struct budget_cfg *c, jv *list, struct err *e)
{
	jv rows = jv_null();
	int rc = store_query(s, "budget_model_caps", P(jv_string(c->agent)), &rows, e), n;
	char resets[32];

	n = rc ? 0 : jv_array_length(jv_copy(rows));
	clock_format(budget_resets_at(c), resets);
	for (int i = 0; i < n && rc == 0; i++) {
		jv k = jv_array_get(jv_copy(rows), i), o = jv_object();
		char *m = json_string(k, "model");
		int64_t spent = 0, held = 0, limit = field(k, "limit_micros"), left;

		rc = model_used(s, c, m ? m : "", &spent, &held, e);
		left = limit - spent - held > 0 ? limit - spent - held : 0;
		o = json_set(o, "scope", jv_string_fmt("model:%s", m ? m : ""));
		o = json_set(o, "period", jv_string("day"));
		o = json_set(o, "from", jv_string(c->day));
		o = json_set(o, "to", jv_string(c->day));
		o = json_set(o, "limit_usd", pricing_usd(limit));
		o = json_set(o, "spent_usd", pricing_usd(spent));
		o = json_set(o, "held_usd", pricing_usd(held));
		o = json_set(o, "available_usd", pricing_usd(left));
		o = json_set(o, "resets_at", jv_string(resets));
		*list = jv_array_append(*list, o);
		free(m);
		jv_free(k);
	}
	jv_free(rows);
	return rc;
}

/* Within the caller's write transaction: "model:MODEL/day" in refused
 * when `amount` would break the cap of c->model. */
static int check_model_cap(struct store *s, const struct budget_cfg *c, int64_t amount,
			   char *refused, size_t size, struct err *e)
{
	jv cap = jv_null();
	int64_t spent = 0, held = 0;
	int rc;

	if (!c->model[0] || refused[0])
		return 0;
	rc = store_query1(s, "budget_model_cap", P(jv_string(c->agent), jv_string(c->model)), &cap, e);
	if (rc == 0 && jv_get_kind(cap) == JV_KIND_OBJECT &&
	    (rc = model_used(s, c, c->model, &spent, &held, e)) == 0 &&
	    spent + held + amount > field(cap, "limit_micros"))
		snprintf(refused, size, "model:%s/day", c->model);
	jv_free(cap);
	return rc;
}

int budget_set_model_cap(struct store *s, const struct budget_cfg *c, const char *model,
			 int64_t limit, jv *out, struct err *e)
{
	jv gone = jv_null();
	int own, rc;

	if (!model || !*model || strlen(model) > 100)
		return err_set(e, EX_USAGE, "a model name is 1 to 100 characters");
	if (limit < -1 || limit > 1000000LL * 1000000)
		return err_set(e, EX_DATA, "limit must be from $0 to $1000000");
	rc = tx_begin(s, &own, e);
	if (rc == 0 && limit >= 0)
		rc = store_query(s, "budget_model_cap_set", P(jv_string(c->agent), jv_string(model),
							       num(limit), num(c->now)), NULL, e);
	else if (rc == 0)
		rc = store_query(s, "budget_model_cap_clear", P(jv_string(c->agent), jv_string(model)),
				 &gone, e);
	jv_free(gone);
	rc = tx_end(s, own, rc, e);
	return rc ? rc : budget_status(s, c, out, e);
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
	{
		jv caps = jv_null(), team = jv_null(), list = jv_array();
		int n;

		if ((rc = agent_caps(s, c, &caps, e)) ||
		    (rc = store_query1(s, "budget_team_of", P(jv_string(c->agent)), &team, e))) {
			jv_free(caps);
			jv_free(team);
			jv_free(list);
			jv_free(*out);
			*out = jv_null();
			return rc;
		}
		n = jv_array_length(jv_copy(caps));
		for (int i = 0; i < n && rc == 0; i++) {
			jv k = jv_array_get(jv_copy(caps), i), o;

			if ((rc = cap_json(s, c, k, &o, e)) == 0)
				list = jv_array_append(list, o);
		}
		jv_free(caps);
		*out = json_set(*out, "team", json_get(team, "team"));
		{
			/* what can be spent is the least any cap leaves */
			double avail = 0, a;
			int m = jv_array_length(jv_copy(list));
			jv by = jv_null();

			json_number(*out, "available_usd", &avail);
			for (int i = 0; i < m; i++) {
				jv k = jv_array_get(jv_copy(list), i);

				if (json_number(k, "available_usd", &a) && a < avail) {
					char *sc = json_string(k, "scope"), *pe = json_string(k, "period");

					avail = a;
					jv_free(by);
					by = jv_string_fmt("%s/%s", sc ? sc : "?", pe ? pe : "?");
					free(sc);
					free(pe);
				}
				jv_free(k);
			}
			if (jv_get_kind(by) == JV_KIND_STRING) {
				int64_t est = budget_cycle_estimate(), av = pricing_micros(avail);

				*out = json_set(*out, "available_usd", pricing_usd(av));
				*out = json_set(*out, "cycles_affordable", num(av / est));
			}
			*out = json_set(*out, "limited_by", by);
		}
		/* a model's cap bounds that model only, not what is available */
		if (rc == 0)
			rc = model_caps_json(s, c, &list, e);
		*out = json_set(*out, "caps", list);
		if (rc) {
			jv_free(*out);
			*out = jv_null();
		}
	}
	return rc;
}

int budget_set_cap(struct store *s, const struct budget_cfg *c, const char *scope,
		   const char *period, int64_t limit, jv *out, struct err *e)
{
	char self[BUDGET_SCOPE_MAX];
	jv gone = jv_null();
	int own, rc;

	if ((rc = budget_period_ok(period, e)))
		return rc;
	if (limit < -1 || limit > 1000000LL * 1000000)
		return err_set(e, EX_DATA, "limit must be from $0 to $1000000");
	snprintf(self, sizeof self, "agent:%s", c->agent);
	if (!strcmp(period, "day") && !strncmp(scope, "agent:", 6)) {
		struct budget_cfg other = *c;

		if (limit < 0)
			return err_set(e, EX_USAGE, "an agent's day always has a cap (set it instead)");
		snprintf(other.agent, sizeof other.agent, "%s", scope + 6);
		if ((rc = budget_set_limit(s, &other, limit, &gone, e)))
			return rc;
		jv_free(gone);
		return budget_scope_status(s, c, scope, out, e);
	}
	rc = tx_begin(s, &own, e);
	if (rc == 0 && limit >= 0)
		rc = store_query(s, "budget_cap_set", P(jv_string(scope), jv_string(period), num(limit),
							 num(c->now)), NULL, e);
	else if (rc == 0)
		rc = store_query(s, "budget_cap_clear", P(jv_string(scope), jv_string(period)), &gone, e);
	jv_free(gone);
	rc = tx_end(s, own, rc, e);
	return rc ? rc : budget_scope_status(s, c, scope, out, e);
}

int budget_set_team(struct store *s, const struct budget_cfg *c, const char *team, jv *out,
		    struct err *e)
{
	jv old = jv_null();
	int own, rc;

	if (team && !name_ok(team))
		return err_set(e, EX_USAGE, "team '%.60s': a name is 1 to 100 of [A-Za-z0-9_.-]", team);
	rc = tx_begin(s, &own, e);
	if (rc == 0)
		rc = store_query1(s, "budget_team_of", P(jv_string(c->agent)), &old, e);
	if (rc == 0 && team)
		rc = store_query(s, "budget_team_set", P(jv_string(c->agent), jv_string(team),
							  num(c->now)), NULL, e);
	else if (rc == 0)
		rc = store_query(s, "budget_team_clear", P(jv_string(c->agent)), NULL, e);
	rc = tx_end(s, own, rc, e);
	if (rc) {
		jv_free(old);
		return rc;
	}
	*out = json_set(json_set(json_set(jv_object(), "agent", jv_string(c->agent)),
				 "team", team ? jv_string(team) : jv_null()),
			"previous", json_get(old, "team"));
	return 0;
}

int budget_scope_status(struct store *s, const struct budget_cfg *c, const char *scope,
			jv *out, struct err *e)
{
	jv caps = jv_null(), list = jv_array(), members = jv_null();
	int rc, n;

	if (!strncmp(scope, "agent:", 6)) {
		struct budget_cfg other = *c;
		jv st = jv_null();

		snprintf(other.agent, sizeof other.agent, "%s", scope + 6);
		if ((rc = budget_status(s, &other, &st, e))) {
			jv_free(list);
			return rc;
		}
		/* the day first, as the other periods */
		{
			jv day = jv_object();
			double d = 0;

			day = json_set(day, "scope", jv_string(scope));
			day = json_set(day, "period", jv_string("day"));
			day = json_set(day, "from", jv_string(c->day));
			day = json_set(day, "to", jv_string(c->day));
			json_number(st, "limit_usd", &d);
			day = json_set(day, "limit_usd", jv_number(d));
			json_number(st, "spent_usd", &d);
			day = json_set(day, "spent_usd", jv_number(d));
			json_number(st, "held_usd", &d);
			day = json_set(day, "held_usd", jv_number(d));
			json_number(st, "available_usd", &d);
			day = json_set(day, "available_usd", jv_number(d));
			day = json_set(day, "resets_at", json_get(jv_copy(st), "resets_at"));
			list = jv_array_append(list, day);
		}
		caps = json_get(jv_copy(st), "caps");
		n = jv_get_kind(caps) == JV_KIND_ARRAY ? jv_array_length(jv_copy(caps)) : 0;
		for (int i = 0; i < n; i++) {
			jv k = jv_array_get(jv_copy(caps), i);
			char *sc = json_string(k, "scope");

			if (sc && !strcmp(sc, scope))
				list = jv_array_append(list, k);
			else
				jv_free(k);
			free(sc);
		}
		jv_free(caps);
		*out = json_set(json_set(json_set(jv_object(), "scope", jv_string(scope)),
					 "team", json_get(st, "team")), "caps", list);
		return 0;
	}
	rc = store_query(s, "budget_scope_caps_of", P(jv_string(scope)), &caps, e);
	if (rc == 0 && !strncmp(scope, "team:", 5))
		rc = store_query(s, "budget_team_members", P(jv_string(scope + 5)), &members, e);
	n = rc ? 0 : jv_array_length(jv_copy(caps));
	for (int i = 0; i < n && rc == 0; i++) {
		jv k = jv_array_get(jv_copy(caps), i), o;

		if ((rc = cap_json(s, c, k, &o, e)) == 0)
			list = jv_array_append(list, o);
	}
	jv_free(caps);
	if (rc) {
		jv_free(list);
		jv_free(members);
		return rc;
	}
	*out = json_set(jv_object(), "scope", jv_string(scope));
	if (jv_get_kind(members) == JV_KIND_ARRAY) {
		jv names = jv_array();
		int m = jv_array_length(jv_copy(members));

		for (int i = 0; i < m; i++)
			names = jv_array_append(names, json_get(jv_array_get(jv_copy(members), i), "agent"));
		*out = json_set(*out, "members", names);
	}
	jv_free(members);
	*out = json_set(*out, "caps", list);
	return 0;
}

/* PostgreSQL outside a caller's transaction: one statement does it all. */
static int fast_path(struct store *s)
{
	return store_driver(s) == STORE_POSTGRES && !store_in_tx(s);
}

/* The caps of the agent beyond its day, the wider first: the store's, and
 * the environment's week and month where the store has none.  Each
 * {"scope", "period", "limit_micros"}. */
static int agent_caps(struct store *s, const struct budget_cfg *c, jv *caps, struct err *e)
{
	char self[BUDGET_SCOPE_MAX];
	int have_week = 0, have_month = 0, n, rc;

	snprintf(self, sizeof self, "agent:%s", c->agent);
	if ((rc = store_query(s, "budget_scope_caps", P(jv_string(c->agent)), caps, e)))
		return rc;
	n = jv_array_length(jv_copy(*caps));
	for (int i = 0; i < n; i++) {
		jv k = jv_array_get(jv_copy(*caps), i);
		char *sc = json_string(k, "scope"), *pe = json_string(k, "period");

		if (sc && pe && !strcmp(sc, self)) {
			have_week |= !strcmp(pe, "week");
			have_month |= !strcmp(pe, "month");
		}
		free(sc);
		free(pe);
		jv_free(k);
	}
	for (int w = 0; w < 2; w++) {
		int64_t lim = w ? c->month_limit : c->week_limit;

		if (lim >= 0 && !(w ? have_month : have_week))
			*caps = jv_array_append(*caps, json_set(json_set(json_set(jv_object(),
				"scope", jv_string(self)), "period", jv_string(w ? "month" : "week")),
				"limit_micros", num(lim)));
	}
	return 0;
}

static int scope_used(struct store *s, const struct budget_cfg *c, const char *scope,
		      const char *period, int64_t *spent, int64_t *held, struct err *e)
{
	const char *from, *to;
	jv row = jv_null();
	int rc;

	period_range(c, period, &from, &to);
	rc = store_query1(s, "budget_scope_used", P(jv_string(scope), jv_string(c->agent),
						      jv_string(from), jv_string(to)), &row, e);
	*spent = field(row, "spent_micros");
	*held = field(row, "held_micros");
	jv_free(row);
	return rc;
}

/* Within the caller's write transaction (SQLite: BEGIN IMMEDIATE holds
 * every writer off): the first cap `amount` would break, as "SCOPE/PERIOD"
 * in refused, or "" when every one has room. */
static int check_caps(struct store *s, const struct budget_cfg *c, int64_t amount,
		      char *refused, size_t size, struct err *e)
{
	jv caps = jv_null();
	int rc = agent_caps(s, c, &caps, e), n;

	refused[0] = '\0';
	n = rc ? 0 : jv_array_length(jv_copy(caps));
	for (int i = 0; i < n && rc == 0 && !refused[0]; i++) {
		jv k = jv_array_get(jv_copy(caps), i);
		char *sc = json_string(k, "scope"), *pe = json_string(k, "period");
		int64_t spent = 0, held = 0;

		if (sc && pe && (rc = scope_used(s, c, sc, pe, &spent, &held, e)) == 0 &&
		    spent + held + amount > field(k, "limit_micros"))
			snprintf(refused, size, "%s/%s", sc, pe);
		free(sc);
		free(pe);
		jv_free(k);
	}
	jv_free(caps);
	return rc;
}

/* PostgreSQL: one statement, budget_hold_atomic, holds an agent with no cap
 * beyond its day and takes the scoped function for one with caps: one round
 * trip.  No row back (the day's first hold, a full day): the scoped function
 * makes the day row or says which cap refused. */
static int hold_pg(struct store *s, const struct budget_cfg *c, int64_t amount, int64_t tokens,
		   int64_t ttl, const char *note, jv *hold, char *refused, size_t size,
		   struct err *e)
{
	jv args = P(jv_string(c->agent), jv_string(c->day), num(amount), num(c->buffer),
		    num(c->token_limit), num(tokens), num(c->now), num(c->now + ttl),
		    json_str_or_null(note), num(c->limit), jv_string(c->week_from),
		    jv_string(c->week_to), jv_string(c->month_from), jv_string(c->month_to),
		    num(c->week_limit), num(c->month_limit),
		    json_str_or_null(c->model[0] ? c->model : NULL));
	static const char *const query[] = {"budget_hold_atomic", "budget_hold_scoped"};
	jv row = jv_null();
	int rc = 0;

	*hold = jv_null();
	refused[0] = '\0';
	for (size_t i = 0; i < sizeof query / sizeof *query; i++) {
		jv_free(row);
		row = jv_null();
		rc = store_query1(s, query[i], jv_copy(args), &row, e);
		if (rc || jv_get_kind(row) == JV_KIND_OBJECT)
			break;
	}
	jv_free(args);
	if (rc == 0 && json_is_set(row, "id")) {
		*hold = row;
		return 0;
	}
	if (rc == 0 && jv_get_kind(row) == JV_KIND_OBJECT) {
		char *why = json_string(row, "refused");

		snprintf(refused, size, "%s", why ? why : "");
		free(why);
	}
	jv_free(row);
	return rc;
}

static int reserve(struct store *s, const struct budget_cfg *c, int64_t amount, int64_t tokens,
		   int64_t ttl, const char *note, jv *hold, struct err *e)
{
	jv res = jv_null();
	int rc;

	rc = store_query1(s, "budget_reserve",
			  P(jv_string(c->agent), jv_string(c->day), num(amount), num(c->buffer),
			    num(c->token_limit), num(tokens), num(c->now), num(c->limit)),
			  &res, e);
	if (rc == 0 && jv_get_kind(res) == JV_KIND_OBJECT)
		rc = store_query1(s, "budget_hold_insert",
				  P(jv_string(c->agent), jv_string(c->day), num(amount), num(tokens),
				    json_str_or_null(note), num(c->now), num(c->now + ttl),
				    json_str_or_null(c->model[0] ? c->model : NULL)),
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
	char refused[BUDGET_SCOPE_MAX + 8] = "";

	if (amount < 0 || tokens < 0)
		return err_set(e, EX_DATA, "a hold must not be negative");
	if (ttl <= 0 || ttl > 7 * 86400)
		return err_set(e, EX_DATA, "hold ttl must be from 1 s to 7 days");
	rc = store_durable(s, e);
	if (rc == 0 && store_driver(s) == STORE_POSTGRES) {
		rc = hold_pg(s, c, amount, tokens, ttl, note, &hold, refused, sizeof refused, e);
	} else if (rc == 0) {
		rc = tx_begin(s, &own, e);
		if (rc == 0)
			rc = check_caps(s, c, amount, refused, sizeof refused, e);
		if (rc == 0)
			rc = check_model_cap(s, c, amount, refused, sizeof refused, e);
		/* The common case needs no other statement; a refusal is checked
		 * again after the day's row is made and its limit refreshed. */
		if (rc == 0 && !refused[0])
			rc = reserve(s, c, amount, tokens, ttl, note, &hold, e);
		if (rc == 0 && !refused[0] && jv_get_kind(hold) != JV_KIND_OBJECT) {
			jv_free(hold);
			rc = ensure_day(s, c, e);
			if (rc == 0)
				rc = reserve(s, c, amount, tokens, ttl, note, &hold, e);
		}
		if (own)
			rc = tx_end(s, own, rc, e);
	}
	if (rc) {
		jv_free(hold);
		return rc;
	}
	if (jv_get_kind(hold) != JV_KIND_OBJECT) {
		jv st = jv_null();
		char self[BUDGET_SCOPE_MAX + 8], *slash;

		jv_free(hold);
		snprintf(self, sizeof self, "agent:%s/day", c->agent);
		if (!refused[0])
			snprintf(refused, sizeof refused, "%s", self);
		/* report what is left, from a fresh read */
		if (budget_status(s, c, &st, e))
			return e->code;
		slash = strrchr(refused, '/');
		*out = json_set(json_set(json_set(json_set(json_set(jv_object(),
			"refused", jv_true()),
			"amount_usd", pricing_usd(amount)),
			"scope", slash ? jv_string_sized(refused, (int)(slash - refused)) : jv_string(refused)),
			"period", jv_string(slash ? slash + 1 : "day")),
			"budget", st);
		if (!strcmp(refused, self))
			return err_set(e, EX_NO, "budget_exhausted: a hold of $%lld.%06lld would break the cap",
				       (long long)(amount / 1000000), (long long)(amount % 1000000));
		return err_set(e, EX_NO, "budget_exhausted: a hold of $%lld.%06lld would break the %s cap of %.*s",
			       (long long)(amount / 1000000), (long long)(amount % 1000000),
			       slash ? slash + 1 : "day", slash ? (int)(slash - refused) : (int)strlen(refused),
			       refused);
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

/* cost: spend by day, week, month, model, kind or session, from the ledger's holds. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cost.h"
#include "base/clock.h"
#include "base/json.h"
#include "pricing.h"

static const char *const by_names[] = { "day", "week", "month", "model", "kind", "session" };

int cost_by_parse(const char *s, enum cost_by *by)
{
	for (size_t i = 0; i < sizeof by_names / sizeof *by_names; i++)
		if (s && strcmp(s, by_names[i]) == 0) {
			*by = (enum cost_by)i;
			return 0;
		}
	return -1;
}

const char *cost_by_name(enum cost_by by)
{
	return (unsigned)by < sizeof by_names / sizeof *by_names ? by_names[by] : "?";
}

int cost_when_parse(const char *s, int64_t now, int until, int64_t *out)
{
	size_t n = s ? strlen(s) : 0;
	int64_t v;

	if (n == 0)
		return -1;
	if (strcmp(s, "now") == 0) {
		*out = now;
		return 0;
	}
	if (n >= 2 && n <= 7 && strchr("hdw", s[n - 1])) {
		int64_t k = 0, unit = s[n - 1] == 'h' ? 3600 : s[n - 1] == 'd' ? 86400 : 7 * 86400;

		for (size_t i = 0; i + 1 < n; i++) {
			if (!isdigit((unsigned char)s[i]))
				return -1;
			k = k * 10 + (s[i] - '0');
		}
		*out = now - k * unit;
		return 0;
	}
	if (n == 10) {
		if (clock_parse_day(s, &v) < 0)
			return -1;
		*out = until ? v + 86400 : v;
		return 0;
	}
	if (clock_parse(s, &v) < 0)
		return -1;
	/* holds are stamped in whole seconds: t >= x.5 is t >= ceil(x.5), and
	 * t < x.5 is t < ceil(x.5) */
	*out = v / 1000000 + (v % 1000000 > 0);  /* C's division rounds negatives up */
	return 0;
}

int cost_range(const char *since, const char *until, int64_t now, int64_t *from,
	       int64_t *to, struct err *e)
{
	static const char what[] = "not a day (YYYY-MM-DD), an RFC 3339 time, 'now' or an age "
				   "like 24h, 7d, 4w";
	int64_t today = now - (now % 86400 + 86400) % 86400;
	char a[32], b[32];

	*to = today + 86400;
	if (until && cost_when_parse(until, now, 1, to) < 0)
		return err_set(e, EX_USAGE, "--until: %s: '%.60s'", what, until);
	*from = until ? *to - 7 * 86400 : today - 6 * 86400;
	if (since && cost_when_parse(since, now, 0, from) < 0)
		return err_set(e, EX_USAGE, "--since: %s: '%.60s'", what, since);
	if (*from >= *to)
		return err_set(e, EX_USAGE, "an empty range: --since %s is not before --until %s",
			       clock_format(*from, a), clock_format(*to, b));
	return 0;
}

char *cost_iso_week(const char *day, char *buf)
{
	int64_t s, d, t;
	int wday, year;
	struct tm tm;
	time_t tt;

	if (!day || clock_parse_day(day, &s) < 0)
		return NULL;
	d = s / 86400 - (s % 86400 < 0);
	wday = (int)(((d + 3) % 7 + 7) % 7);  /* 0 Monday: 1970-01-01 was a Thursday */
	t = d - wday + 3;                       /* the Thursday of that week names its year */
	tt = (time_t)(t * 86400);
	if (!gmtime_r(&tt, &tm))
		return NULL;
	year = tm.tm_year + 1900;
	snprintf(buf, 16, "%04d-W%02d", year, tm.tm_yday / 7 + 1);
	return buf;
}

static jv params(int n, const jv *v)
{
	jv a = jv_array();

	for (int i = 0; i < n; i++)
		a = jv_array_append(a, v[i]);
	return a;
}
#define P(...) params((int)(sizeof((jv[]){__VA_ARGS__}) / sizeof(jv)), (jv[]){__VA_ARGS__})

static int64_t field(jv row, const char *k)
{
	int64_t v = 0;

	json_int(row, k, &v);
	return v;
}

/* one group of the report */
struct group {
	char key[160];
	jv ident;             /* the row's key fields */
	int unattributed;     /* a row of holds without a call (model, kind, session) */
	int64_t session;      /* for the order of session rows; INT64_MAX for none */
	int64_t cost, unattr, calls, holds, in, out, cread, cwrite;
};

struct groups {
	struct group *g;
	size_t n, cap;
	jv index;             /* key -> its place in g */
};

static struct group *group_find(struct groups *gs, const char *key)
{
	jv at = jv_object_get(jv_copy(gs->index), jv_string(key));

	if (jv_get_kind(at) == JV_KIND_NUMBER) {
		size_t i = (size_t)jv_number_value(at);

		jv_free(at);
		return &gs->g[i];
	}
	jv_free(at);
	if (gs->n == gs->cap) {
		size_t cap = gs->cap ? 2 * gs->cap : 16;
		struct group *g = realloc(gs->g, cap * sizeof *g);

		if (!g)
			return NULL;
		gs->g = g;
		gs->cap = cap;
	}
	memset(&gs->g[gs->n], 0, sizeof *gs->g);
	snprintf(gs->g[gs->n].key, sizeof gs->g[gs->n].key, "%s", key);
	gs->g[gs->n].ident = jv_null();
	gs->g[gs->n].session = INT64_MAX;
	gs->index = jv_object_set(gs->index, jv_string(key), jv_number((double)gs->n));
	return &gs->g[gs->n++];
}

/* The key of row r for q->by, and its key fields. */
static void row_key(const struct cost_query *q, jv r, char *key, size_t n, jv *ident,
		    int *unattr, int64_t *session)
{
	char *day = json_string(r, "day"), week[16];
	int u = field(r, "unattributed") != 0;
	jv o = jv_object();

	*unattr = 0;
	switch (q->by) {
	case COST_DAY:
		snprintf(key, n, "%s", day ? day : "");
		o = json_set(o, "day", json_str_or_null(day));
		break;
	case COST_WEEK:
		snprintf(key, n, "%s", cost_iso_week(day, week) ? week : "");
		o = json_set(o, "week", jv_string(key));
		break;
	case COST_MONTH:
		snprintf(key, n, "%.7s", day ? day : "");
		o = json_set(o, "month", jv_string(key));
		break;
	case COST_MODEL:
	case COST_KIND: {
		const char *col = q->by == COST_MODEL ? "model" : "kind";
		char *v = u ? NULL : json_string(r, col);

		snprintf(key, n, "%c%s", u ? 'u' : 'a', v ? v : "");
		o = json_set(o, col, json_str_or_null(v));
		*unattr = u;
		free(v);
		break;
	}
	case COST_SESSION: {
		int64_t id = 0;
		int has = !u && json_kind_at(r, "session_id") == JV_KIND_NUMBER;
		char *strategy = has ? json_string(r, "strategy") : NULL;

		if (has)
			json_int(r, "session_id", &id);
		snprintf(key, n, "%c%lld", u ? 'u' : has ? 's' : 'n', (long long)id);
		o = json_set(o, "session_id", has ? jv_number((double)id) : jv_null());
		o = json_set(o, "strategy", json_str_or_null(strategy));
		*session = has ? id : INT64_MAX;
		*unattr = u;
		free(strategy);
		break;
	}
	}
	free(day);
	*ident = o;
}

static int by_cost(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->unattributed != y->unattributed)
		return x->unattributed - y->unattributed;
	if (x->cost != y->cost)
		return x->cost > y->cost ? -1 : 1;
	return strcmp(x->key, y->key);
}

static int by_session(const void *a, const void *b)
{
	const struct group *x = a, *y = b;

	if (x->unattributed != y->unattributed)
		return x->unattributed - y->unattributed;
	return x->session < y->session ? -1 : x->session > y->session;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct group *)a)->key, ((const struct group *)b)->key);
}

static jv group_json(struct group *g)
{
	jv o = g->ident;

	g->ident = jv_null();
	o = json_set(o, "cost_usd", pricing_usd(g->cost));
	o = json_set(o, "calls", jv_number((double)g->calls));
	o = json_set(o, "holds", jv_number((double)g->holds));
	o = json_set(o, "input_tokens", jv_number((double)g->in));
	o = json_set(o, "output_tokens", jv_number((double)g->out));
	o = json_set(o, "cache_read_tokens", jv_number((double)g->cread));
	o = json_set(o, "cache_write_tokens", jv_number((double)g->cwrite));
	o = json_set(o, "unattributed_usd", pricing_usd(g->unattr));
	return o;
}

/* whole UTC days: the ledger's figure for them, to hold the report against */
static int ledger(struct store *s, const struct cost_query *q, jv *usd, jv *days,
		  struct err *e)
{
	char a[11], b[11];
	jv row = jv_null();
	int rc;

	*usd = jv_null();
	*days = jv_number(0);
	if (q->since % 86400 || q->until % 86400)
		return 0;
	rc = store_query1(s, "cost_ledger",
			  P(jv_string(q->agent), jv_string(clock_day(q->since, a)),
			    jv_string(clock_day(q->until, b))), &row, e);
	if (rc == 0) {
		*usd = pricing_usd(field(row, "spent_micros"));
		*days = jv_number((double)field(row, "days"));
	}
	jv_free(row);
	return rc;
}

int cost_report(struct store *s, const struct cost_query *q, jv *out, struct err *e)
{
	static const char *const query[] = { "cost_by_day", "cost_by_day", "cost_by_day",
					     "cost_by_model", "cost_by_kind", "cost_by_session" };
	struct groups gs = { .index = jv_object() };
	struct group total = { .ident = jv_null() };
	jv rows = jv_null(), held = jv_null(), res, list, lusd = jv_null(), ldays = jv_null();
	char a[32], b[32];
	int rc, n;

	rc = store_query(s, query[q->by],
			 P(jv_string(q->agent), jv_number((double)q->since), jv_number((double)q->until)),
			 &rows, e);
	if (rc == 0)
		rc = store_query1(s, "cost_held",
				  P(jv_string(q->agent), jv_number((double)q->since),
				    jv_number((double)q->until)), &held, e);
	if (rc == 0)
		rc = ledger(s, q, &lusd, &ldays, e);
	if (rc)
		goto out;
	n = jv_array_length(jv_copy(rows));
	for (int i = 0; i < n; i++) {
		jv r = jv_array_get(jv_copy(rows), i), ident;
		char key[160];
		int unattr;
		int64_t session = INT64_MAX, cost = field(r, "cost_micros");
		struct group *g;

		row_key(q, r, key, sizeof key, &ident, &unattr, &session);
		if (!(g = group_find(&gs, key))) {
			jv_free(ident);
			jv_free(r);
			rc = err_set(e, EX_TEMP, "out of memory");
			goto out;
		}
		if (jv_get_kind(g->ident) == JV_KIND_NULL)
			g->ident = ident;
		else
			jv_free(ident);
		g->unattributed = unattr;
		g->session = session;
		for (struct group *t = g;; t = &total) {
			t->cost += cost;
			t->calls += field(r, "calls");
			t->holds += field(r, "holds");
			t->in += field(r, "input_tokens");
			t->out += field(r, "output_tokens");
			t->cread += field(r, "cache_read_tokens");
			t->cwrite += field(r, "cache_write_tokens");
			t->unattr += q->by <= COST_MONTH ? field(r, "unattributed_micros")
				     : field(r, "unattributed") ? cost : 0;
			if (t == &total)
				break;
		}
		jv_free(r);
	}
	if (gs.n)
		qsort(gs.g, gs.n, sizeof *gs.g,
		      q->by == COST_MODEL || q->by == COST_KIND ? by_cost
		      : q->by == COST_SESSION ? by_session : by_key);
	list = jv_array();
	for (size_t i = 0; i < gs.n; i++)
		list = jv_array_append(list, group_json(&gs.g[i]));
	res = jv_object();
	res = json_set(res, "agent", q->agent[0] ? jv_string(q->agent) : jv_null());
	res = json_set(res, "all_agents", jv_bool(!q->agent[0]));
	res = json_set(res, "by", jv_string(cost_by_name(q->by)));
	res = json_set(res, "since", jv_string(clock_format(q->since, a)));
	res = json_set(res, "until", jv_string(clock_format(q->until, b)));
	res = json_set(res, "rows", list);
	res = json_set(res, "total_usd", pricing_usd(total.cost));
	res = json_set(res, "calls", jv_number((double)total.calls));
	res = json_set(res, "holds", jv_number((double)total.holds));
	res = json_set(res, "input_tokens", jv_number((double)total.in));
	res = json_set(res, "output_tokens", jv_number((double)total.out));
	res = json_set(res, "cache_read_tokens", jv_number((double)total.cread));
	res = json_set(res, "cache_write_tokens", jv_number((double)total.cwrite));
	res = json_set(res, "unattributed_usd", pricing_usd(total.unattr));
	res = json_set(res, "held_usd", pricing_usd(field(held, "held_micros")));
	res = json_set(res, "open_holds", jv_number((double)field(held, "holds")));
	res = json_set(res, "ledger_usd", lusd);
	res = json_set(res, "ledger_days", ldays);
	lusd = ldays = jv_null();
	*out = res;
out:
	for (size_t i = 0; i < gs.n; i++)
		jv_free(gs.g[i].ident);
	free(gs.g);
	jv_free(gs.index);
	jv_free(rows);
	jv_free(held);
	jv_free(lusd);
	jv_free(ldays);
	return rc;
}

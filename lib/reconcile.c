/* reconcile: the ledger's day per model against the Admin API's cost and usage reports. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"
#include "base/clock.h"
#include "base/json.h"
#include "cost.h"
#include "net/anthropic.h"
#include "pricing.h"

/*
 * The API's facts, and where they come from (all read 2026-12):
 *  - GET /v1/organizations/cost_report and /v1/organizations/usage_report/
 *    messages take starting_at (RFC 3339, required; buckets snap to 00:00
 *    UTC), ending_at (buckets that end before it), bucket_width (1d; the
 *    cost report has no other), group_by[] (cost: description, workspace_id;
 *    usage: model, api_key_id, workspace_id, service_tier, ...), limit (1d
 *    buckets: default 7, at most 31) and page (the previous answer's
 *    next_page).  Answer: {data: [{starting_at, ending_at, results: [...]}],
 *    has_more, next_page}; go on while has_more.
 *    Sources: platform.claude.com/docs/en/api/admin/cost_report.md,
 *    .../api/admin/usage_report/retrieve_messages.md, and the usage-cost-api
 *    guide (docs.anthropic.com/en/api/usage-cost-api: limits, pagination).
 *  - Headers: x-api-key with an Admin API key (sk-ant-admin...), and
 *    anthropic-version (the curl example of retrieve_messages).
 *  - Cost results: amount is a decimal string in the currency's lowest unit,
 *    cents ("123.45" is $1.23), currency "USD"; with group_by[]=description
 *    each result names its model and token_type; results that are not
 *    tokens (cost_type web_search, code_execution) have no model.  Sources:
 *    the cost_report page as quoted by the ai-usagebar crate's
 *    anthropic_api/types.rs (docs.rs), the claude-api crate's
 *    admin/cost_report.rs (CostType, TokenType).  The cost report leaves out
 *    the Priority Tier (the usage-cost-api guide): such spend shows as a
 *    difference here.
 *  - Usage results: uncached_input_tokens, cache_read_input_tokens,
 *    cache_creation {ephemeral_5m_input_tokens, ephemeral_1h_input_tokens},
 *    output_tokens, and model when grouped by it (the Ruby SDK's
 *    BetaAnalyticsUsageMetrics and CacheCreation models, rubydoc.info).
 */

#define MAX_PAGES 100

enum { T_IN, T_OUT, T_READ, T_WRITE, T_N };

struct row {
	char model[160];
	int has_model;
	int64_t l_micros, a_pico, calls;
	int64_t l_tok[T_N], a_tok[T_N];
};

struct rows {
	struct row *r;
	size_t n, cap;
};

static struct row *row_of(struct rows *rs, const char *model)
{
	for (size_t i = 0; i < rs->n; i++)
		if (rs->r[i].has_model == (model != NULL) &&
		    (!model || strcmp(rs->r[i].model, model) == 0))
			return &rs->r[i];
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 8;
		struct row *r = realloc(rs->r, cap * sizeof *r);

		if (!r)
			return NULL;
		rs->r = r;
		rs->cap = cap;
	}
	memset(&rs->r[rs->n], 0, sizeof *rs->r);
	rs->r[rs->n].has_model = model != NULL;
	snprintf(rs->r[rs->n].model, sizeof rs->r[0].model, "%s", model ? model : "");
	return &rs->r[rs->n++];
}

int reconcile_cents(const char *s, int64_t *pico)
{
	int64_t whole = 0, frac = 0;
	int digits = 0, nd = 0, neg = 0;

	if (!s || !*s)
		return -1;
	if (*s == '-') {
		neg = 1;
		s++;
	}
	for (; isdigit((unsigned char)*s); s++, nd++) {
		if (whole > 900000000LL)  /* $9 million a day is past any budget here */
			return -1;
		whole = whole * 10 + (*s - '0');
	}
	if (*s == '.') {
		for (s++; isdigit((unsigned char)*s); s++)
			if (digits < 10) {  /* a cent is 1e10 pico-dollars */
				frac = frac * 10 + (*s - '0');
				digits++;
			}
	}
	if (*s || nd == 0)
		return -1;
	while (digits++ < 10)
		frac *= 10;
	*pico = (whole * 10000000000LL + frac) * (neg ? -1 : 1);
	return 0;
}

static void urlenc(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; *in && o + 4 < size; in++) {
		unsigned char c = (unsigned char)*in;

		if (isalnum(c) || strchr("-._~", c))
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, size - o, "%%%02X", c);
	}
	out[o] = 0;
}

/* Every bucket's results of one report, appended to *results. */
static int fetch(struct anthropic *a, const char *what, const char *query, jv *results,
		 struct err *e)
{
	char path[1400], page[600] = "";
	int rc = 0;

	for (int n = 0; n < MAX_PAGES; n++) {
		long status = 0;
		char *text = NULL, *next = NULL;
		struct err pe = ERR_INIT;
		jv v, data;
		int more = 0;

		snprintf(path, sizeof path, "%s%s%s", query, page[0] ? "&page=" : "", page);
		if ((rc = anthropic_exchange(a, "GET", path, jv_null(), &status, &text, e)))
			return err_wrap(e, "admin API");
		if (status < 200 || status > 299) {
			char *et = NULL, *em = NULL;

			if (json_parse(text, strlen(text), &v, &pe) == 0) {
				et = json_string(v, "error.type");
				em = json_string(v, "error.message");
				jv_free(v);
			}
			/* the message of a refusal is left out: nothing of a key in a line */
			if (status == 401 || status == 403)
				rc = err_set(e, EX_PERM, "admin API: %s: authentication refused (HTTP %ld %s)",
					     what, status, et ? et : "");
			else
				rc = err_set(e, status == 429 || status >= 500 || status == 408 ? EX_TEMP
					     : EX_PERM, "admin API: %s: HTTP %ld %s%s%.200s", what, status,
					     et ? et : "error", em ? ": " : "", em ? em : "");
			anthropic_redact(a, e->msg);
			free(et);
			free(em);
			free(text);
			return rc;
		}
		if (json_parse(text, strlen(text), &v, &pe)) {
			free(text);
			return err_set(e, EX_TEMP, "admin API: %s: malformed answer: %s", what, pe.msg);
		}
		free(text);
		data = json_get(jv_copy(v), "data");
		if (jv_get_kind(data) != JV_KIND_ARRAY || !json_bool(v, "has_more", &more)) {
			jv_free(data);
			jv_free(v);
			return err_set(e, EX_TEMP, "admin API: %s: malformed answer: no data or has_more", what);
		}
		jv_array_foreach(data, i, bucket) {
			jv r = json_get(bucket, "results");

			if (jv_get_kind(r) != JV_KIND_ARRAY) {
				jv_free(r);
				jv_free(data);
				jv_free(v);
				return err_set(e, EX_TEMP, "admin API: %s: malformed answer: a bucket "
					       "without results", what);
			}
			jv_array_foreach(r, k, x)
				*results = jv_array_append(*results, x);
			jv_free(r);
			(void)i;
		}
		jv_free(data);
		next = more ? json_string(v, "next_page") : NULL;
		jv_free(v);
		if (!more)
			return 0;
		if (!next || !*next) {
			free(next);
			return err_set(e, EX_TEMP, "admin API: %s: malformed answer: has_more without "
				       "next_page", what);
		}
		urlenc(next, page, sizeof page);
		free(next);
	}
	return err_set(e, EX_TEMP, "admin API: %s: more than %d pages", what, MAX_PAGES);
}

static int64_t num(jv v, const char *path)
{
	double d = 0;

	json_number(v, path, &d);
	return d > 0 && d < 9e15 ? (int64_t)d : 0;
}

static int api_side(struct rows *rs, const char *day, struct err *e)
{
	struct anthropic a;
	char q[800], from[32], to[32];
	int64_t d0;
	jv cost = jv_array(), usage = jv_array();
	int rc;

	clock_parse_day(day, &d0);
	clock_format(d0, from);
	clock_format(d0 + 86400, to);
	if ((rc = anthropic_admin_init(&a, e)))
		goto out;
	snprintf(q, sizeof q, "/v1/organizations/cost_report?starting_at=%s&ending_at=%s"
		 "&bucket_width=1d&group_by%%5B%%5D=description&limit=31", from, to);
	if ((rc = fetch(&a, "cost_report", q, &cost, e)))
		goto out;
	snprintf(q, sizeof q, "/v1/organizations/usage_report/messages?starting_at=%s&ending_at=%s"
		 "&bucket_width=1d&group_by%%5B%%5D=model&limit=31", from, to);
	if ((rc = fetch(&a, "usage_report", q, &usage, e)))
		goto out;
	jv_array_foreach(cost, i, x) {
		char *model = json_string(x, "model"), *amount = json_string(x, "amount");
		char *type = json_string(x, "cost_type");
		int tokens = !type || !strcmp(type, "tokens");
		int64_t p;
		struct row *r;

		if (!amount || reconcile_cents(amount, &p) < 0)
			rc = err_set(e, EX_TEMP, "admin API: cost_report: malformed answer: an amount "
				     "that is not a decimal string: '%.40s'", amount ? amount : "(none)");
		else if (!(r = row_of(rs, tokens ? model : NULL)))
			rc = err_set(e, EX_TEMP, "out of memory");
		else
			r->a_pico += p;
		free(model);
		free(amount);
		free(type);
		jv_free(x);
		(void)i;
		if (rc)
			goto out;
	}
	jv_array_foreach(usage, i, x) {
		char *model = json_string(x, "model");
		struct row *r = row_of(rs, model);

		free(model);
		if (!r) {
			jv_free(x);
			rc = err_set(e, EX_TEMP, "out of memory");
			goto out;
		}
		r->a_tok[T_IN] += num(x, "uncached_input_tokens");
		r->a_tok[T_OUT] += num(x, "output_tokens");
		r->a_tok[T_READ] += num(x, "cache_read_input_tokens");
		r->a_tok[T_WRITE] += num(x, "cache_creation.ephemeral_5m_input_tokens") +
				     num(x, "cache_creation.ephemeral_1h_input_tokens");
		jv_free(x);
		(void)i;
	}
out:
	anthropic_release(&a);
	jv_free(cost);
	jv_free(usage);
	return rc;
}

static int ledger_side(struct store *s, struct rows *rs, const char *day, struct err *e)
{
	struct cost_query q = { .agent = "", .by = COST_MODEL };
	jv rep;
	int rc;

	clock_parse_day(day, &q.since);
	q.until = q.since + 86400;
	if ((rc = cost_report(s, &q, &rep, e)))
		return rc;
	{
		jv list = json_get(jv_copy(rep), "rows");

		jv_array_foreach(list, i, x) {
			char *model = json_string(x, "model");
			struct row *r = row_of(rs, model);
			double usd = 0;

			free(model);
			if (!r) {
				jv_free(x);
				rc = err_set(e, EX_TEMP, "out of memory");
				break;
			}
			json_number(x, "cost_usd", &usd);
			r->l_micros += pricing_micros(usd);
			r->calls += num(x, "calls");
			r->l_tok[T_IN] += num(x, "input_tokens");
			r->l_tok[T_OUT] += num(x, "output_tokens");
			r->l_tok[T_READ] += num(x, "cache_read_tokens");
			r->l_tok[T_WRITE] += num(x, "cache_write_tokens");
			jv_free(x);
			(void)i;
		}
		jv_free(list);
	}
	jv_free(rep);
	return rc;
}

static jv tokens(const int64_t *t)
{
	jv o = jv_object();

	o = json_set(o, "input_tokens", jv_number((double)t[T_IN]));
	o = json_set(o, "output_tokens", jv_number((double)t[T_OUT]));
	o = json_set(o, "cache_read_tokens", jv_number((double)t[T_READ]));
	o = json_set(o, "cache_write_tokens", jv_number((double)t[T_WRITE]));
	return o;
}

/* The row as JSON; *over when past the tolerance. */
static jv row_json(const struct row *r, double tol, int total, int *over)
{
	double diff = (double)r->a_pico - (double)r->l_micros * 1e6;  /* pico-dollars */
	double ratio = r->l_micros ? diff / ((double)r->l_micros * 1e6) : r->a_pico ? 1 : 0;
	int64_t api_micros = (r->a_pico + (r->a_pico >= 0 ? 500000 : -500000)) / 1000000;
	jv o = jv_object(), l = tokens(r->l_tok);

	/* the ledger rounds each call up to the micro-dollar: a difference
	 * within that is no difference, however cheap the calls */
	*over = fabs(ratio) > tol && fabs(diff) > (double)(r->calls ? r->calls : 1) * 1e6;
	if (!total)
		o = json_set(o, "model", r->has_model ? jv_string(r->model) : jv_null());
	o = json_set(o, "ledger_usd", pricing_usd(r->l_micros));
	o = json_set(o, "api_usd", pricing_usd(api_micros));
	o = json_set(o, "difference_usd", jv_number(round(diff / 1e6) / 1e6));
	o = json_set(o, "difference_pct", jv_number(round(ratio * 1e6) / 1e4));
	o = json_set(o, "difference_ratio", jv_number(round(ratio * 1e8) / 1e8));
	o = json_set(o, "within_tolerance", jv_bool(!*over));
	l = json_set(l, "calls", jv_number((double)r->calls));
	o = json_set(o, "ledger", l);
	o = json_set(o, "api", tokens(r->a_tok));
	return o;
}

static int by_model(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->has_model != y->has_model)
		return y->has_model - x->has_model;  /* the row without a model last */
	return strcmp(x->model, y->model);
}

int reconcile_run(struct store *s, const struct reconcile_query *q, jv *out, struct err *e)
{
	struct rows rs = { 0 };
	struct row total = { .has_model = 0 };
	int64_t d0;
	int rc, any = 0;
	char a[32], b[32], c[32];
	jv list = jv_array(), over = jv_array(), res;

	if (clock_parse_day(q->day, &d0) < 0) {
		jv_free(list);
		jv_free(over);
		return err_set(e, EX_USAGE, "not a day (YYYY-MM-DD): '%.40s'", q->day);
	}
	/* the store first: a broken store fails before the API is asked */
	if ((rc = ledger_side(s, &rs, q->day, e)) || (rc = api_side(&rs, q->day, e)))
		goto out;
	if (rs.n)
		qsort(rs.r, rs.n, sizeof *rs.r, by_model);
	for (size_t i = 0; i < rs.n; i++) {
		const struct row *r = &rs.r[i];
		int o;

		list = jv_array_append(list, row_json(r, q->tolerance, 0, &o));
		if (o) {
			over = jv_array_append(over, r->has_model ? jv_string(r->model) : jv_null());
			any = 1;
		}
		total.l_micros += r->l_micros;
		total.a_pico += r->a_pico;
		total.calls += r->calls;
		for (int k = 0; k < T_N; k++) {
			total.l_tok[k] += r->l_tok[k];
			total.a_tok[k] += r->a_tok[k];
		}
	}
	res = jv_object();
	res = json_set(res, "day", jv_string(q->day));
	res = json_set(res, "since", jv_string(clock_format(d0, a)));
	res = json_set(res, "until", jv_string(clock_format(d0 + 86400, b)));
	res = json_set(res, "checked_at", jv_string(clock_format(q->now, c)));
	res = json_set(res, "tolerance_pct", jv_number(q->tolerance * 100));
	res = json_set(res, "models", list);
	{
		int o;

		res = json_set(res, "total", row_json(&total, q->tolerance, 1, &o));
		any |= o;
	}
	res = json_set(res, "exceeded", over);
	res = json_set(res, "within_tolerance", jv_bool(!any));
	list = over = jv_null();
	*out = res;
out:
	free(rs.r);
	jv_free(list);
	jv_free(over);
	return rc;
}

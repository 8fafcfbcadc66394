/* sim_admin: the Usage & Cost Admin API, from what /v1/messages billed. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>

#include "base/clock.h"
#include "base/data.h"
#include "base/json.h"
#include "sim_int.h"

/*
 * Sources (the real API; the sim follows it):
 *  - GET /v1/organizations/usage_report/messages and
 *    GET /v1/organizations/cost_report: platform.claude.com/docs/en/api/admin/
 *    usage_report/retrieve_messages(.md) and .../admin/cost_report.md (query
 *    parameters starting_at (required), ending_at, bucket_width, group_by[],
 *    limit, page; the answer {data: [{starting_at, ending_at, results: []}],
 *    has_more, next_page}); the cost report takes bucket_width 1d only and
 *    group_by[] description or workspace_id, limit 1 to 31 (default 7); the
 *    usage report's 1d buckets take the same limits (docs.anthropic.com
 *    usage-cost-api, its granularity table).
 *  - Usage results: uncached_input_tokens, cache_creation
 *    {ephemeral_1h_input_tokens, ephemeral_5m_input_tokens},
 *    cache_read_input_tokens, output_tokens, server_tool_use, and the
 *    grouping fields (model, api_key_id, workspace_id, service_tier,
 *    context_window, ...), null when not grouped by.
 *  - Cost results: amount, a decimal string in the lowest currency unit
 *    (cents: "123.45" is $1.23), currency "USD", cost_type ("tokens",
 *    "web_search", "code_execution"), and with group_by[]=description the
 *    description, model and token_type ("uncached_input_tokens",
 *    "output_tokens", "cache_read_input_tokens",
 *    "cache_creation.ephemeral_5m_input_tokens",
 *    "cache_creation.ephemeral_1h_input_tokens"); service_tier,
 *    context_window.  (Cents: the cost_report page, as quoted by the
 *    ai-usagebar crate's wire types on docs.rs; the token_type names: the
 *    claude-api crate's admin/cost_report.rs.)
 *  - The page token: the docs' example "page_MjAyNS0wNS0xNFQwMDowMDowMFo="
 *    is "page_" and the base64 of the next bucket's start; so here.
 *  - Auth: an Admin API key (it starts "sk-ant-admin") in x-api-key, with
 *    anthropic-version.  What the real API answers an ordinary key with was
 *    not found in the docs; here it is 401 authentication_error, as for a
 *    bad key on the Messages API.
 * Each 1d bucket holds what the sim billed on that UTC day of its clock
 * (AGENT_NOW at start, then real time), priced from share/pricing.json at
 * the time of the call (the prompt-size bands apply per request).
 */

#define ADMIN_PREFIX "sk-ant-admin"
#define PAGE_PREFIX "page_"

static const char *const token_types[SIM_TOK_N] = {
	"uncached_input_tokens", "output_tokens", "cache_read_input_tokens",
	"cache_creation.ephemeral_5m_input_tokens", "cache_creation.ephemeral_1h_input_tokens",
};
static const char *const descr[SIM_TOK_N] = {
	"Input Tokens", "Output Tokens", "Cache Read Tokens", "Cache Write (5m) Tokens",
	"Cache Write (1h) Tokens",
};
/* pricing.json's names of the same classes */
static const char *const price_keys[SIM_TOK_N] = {
	"input", "output", "cache_read", "cache_write_5m", "cache_write_1h",
};

/* ---- prices --------------------------------------------------------------- */

static jv price_table(struct sim *s)
{
	if (jv_get_kind(s->prices) == JV_KIND_NULL) {
		const char *f = getenv("AGENT_PRICING_FILE");
		char path[4096];
		struct err e = ERR_INIT;
		jv t;

		if (json_read_file(f && *f ? f : data_path("pricing.json", path, sizeof path), 4 << 20,
				   &t, &e) == 0) {
			jv_free(s->prices);
			s->prices = json_get(t, "models");
		}
		if (jv_get_kind(s->prices) != JV_KIND_ARRAY) {
			jv_free(s->prices);
			s->prices = jv_array();
		}
	}
	return jv_copy(s->prices);
}

static int name_is(const char *model, const char *id)
{
	size_t n = strlen(id);

	if (strcmp(model, id) == 0)
		return 1;
	/* an alias with a date suffix: id-YYYYMMDD */
	if (strncmp(model, id, n) || model[n] != '-' || strlen(model + n + 1) != 8)
		return 0;
	for (const char *p = model + n + 1; *p; p++)
		if (!isdigit((unsigned char)*p))
			return 0;
	return 1;
}

/* The entry for model (an id or an alias), or invalid. */
static jv price_of(struct sim *s, const char *model)
{
	jv t = price_table(s);
	int n = jv_array_length(jv_copy(t));

	for (int i = 0; i < n; i++) {
		jv m = jv_array_get(jv_copy(t), i), al;
		char *id = json_string(m, "id");
		int hit = id && name_is(model, id);

		free(id);
		al = json_get(jv_copy(m), "aliases");
		for (int k = 0; !hit && jv_get_kind(al) == JV_KIND_ARRAY && k < jv_array_length(jv_copy(al)); k++) {
			jv a = jv_array_get(jv_copy(al), k);

			hit = jv_get_kind(a) == JV_KIND_STRING && name_is(model, jv_string_value(a));
			jv_free(a);
		}
		jv_free(al);
		if (hit) {
			jv_free(t);
			return m;
		}
		jv_free(m);
	}
	jv_free(t);
	return jv_invalid();
}

/* pico-dollars of n tokens at rate $/MTok: n * rate * 1e6 */
static int64_t pico(int64_t n, double rate)
{
	return (int64_t)llround((double)n * rate * 1e6);
}

void sim_admin_bill(struct sim *s, const char *model, const int64_t tok[SIM_TOK_N], double factor)
{
	char day[11];
	int64_t now_s = (s->wall0_us + (sim_mono_us() - s->mono0_us)) / 1000000;
	struct sim_bill *b = NULL;
	int64_t t[SIM_TOK_N], prompt;
	jv p, rates;

	if (!model || !*model)
		return;
	clock_day(now_s, day);
	for (int i = 0; i < s->nbills && !b; i++)
		if (!strcmp(s->bills[i].day, day) && !strcmp(s->bills[i].model, model))
			b = &s->bills[i];
	if (!b) {
		if (s->nbills == SIM_MAX_BILLS)
			return;
		b = &s->bills[s->nbills++];
		memset(b, 0, sizeof *b);
		snprintf(b->day, sizeof b->day, "%s", day);
		snprintf(b->model, sizeof b->model, "%s", model);
	}
	for (int k = 0; k < SIM_TOK_N; k++)
		t[k] = factor == 1 ? tok[k] : (int64_t)llround((double)tok[k] * factor);
	prompt = t[0] + t[2] + t[3] + t[4];
	p = price_of(s, model);
	rates = jv_copy(p);
	{
		/* a prompt over a band's size takes the band's rates, output included */
		jv bands = json_get(jv_copy(p), "bands");

		for (int i = 0; jv_get_kind(bands) == JV_KIND_ARRAY && i < jv_array_length(jv_copy(bands)); i++) {
			jv bd = jv_array_get(jv_copy(bands), i);
			double above = 0;

			if (json_number(bd, "above_prompt_tokens", &above) && prompt > (int64_t)above) {
				jv_free(rates);
				rates = jv_copy(bd);
			}
			jv_free(bd);
		}
		jv_free(bands);
	}
	for (int k = 0; k < SIM_TOK_N; k++) {
		double r = 0;

		b->tok[k] += t[k];
		if (jv_get_kind(rates) == JV_KIND_OBJECT && json_number(rates, price_keys[k], &r))
			b->pico[k] += pico(t[k], r);
	}
	b->priced |= jv_get_kind(p) == JV_KIND_OBJECT;
	b->calls++;
	jv_free(rates);
	jv_free(p);
}

/* ---- the routes ----------------------------------------------------------- */

static int admin_error(struct sim *s, struct sim_reply *rp, int status, const char *type,
		       const char *msg)
{
	sim_model_error(s, rp, status, type, NULL, "%s", msg);
	return 0;
}

int sim_admin_auth(struct sim *s, const struct sim_req *rq, struct sim_reply *rp)
{
	const char *k = sim_req_header(rq, "x-api-key");

	if (!k || !*k)
		return admin_error(s, rp, 401, "authentication_error", "x-api-key header is required");
	if (strncmp(k, ADMIN_PREFIX, strlen(ADMIN_PREFIX)))
		return admin_error(s, rp, 401, "authentication_error", "invalid x-api-key");
	return 1;
}

struct groups {
	int model, description, n;
	char bad[64];
	const char *const *allowed;
};

static enum MHD_Result group_arg(void *arg, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	struct groups *g = arg;
	int ok = 0;

	(void)kind;
	if (strcmp(key, "group_by[]") && strcmp(key, "group_by"))
		return MHD_YES;
	for (const char *const *a = g->allowed; *a && value; a++)
		ok |= strcmp(*a, value) == 0;
	if (!ok && !g->bad[0])
		snprintf(g->bad, sizeof g->bad, "%.60s", value ? value : "");
	g->model |= value && !strcmp(value, "model");
	g->description |= value && !strcmp(value, "description");
	g->n++;
	return MHD_YES;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(const char *in, char *out)
{
	size_t n = strlen(in), o = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned char)in[i] << 16;

		v |= i + 1 < n ? (unsigned char)in[i + 1] << 8 : 0;
		v |= i + 2 < n ? (unsigned char)in[i + 2] : 0;
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = 0;
}

static int b64_decode(const char *in, char *out, size_t size)
{
	size_t o = 0;
	unsigned v = 0;
	int bits = 0;

	for (; *in && *in != '='; in++) {
		const char *p = strchr(b64, *in);

		if (!p || !*in)
			return -1;
		v = v << 6 | (unsigned)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o + 1 >= size)
				return -1;
			out[o++] = (char)(v >> bits & 0xff);
		}
	}
	out[o] = 0;
	return 0;
}

/* A day's start from an RFC 3339 argument: snapped to 00:00 UTC. */
static int day_arg(const char *v, int64_t *out)
{
	int64_t us;

	if (!v || clock_parse(v, &us) < 0)
		return -1;
	*out = us / 1000000 - ((us / 1000000) % 86400 + 86400) % 86400;
	return 0;
}

static jv usage_result(const struct sim_bill *b, int by_model, const int64_t *tok)
{
	jv r = jv_object(), cc = jv_object(), stu = jv_object();

	cc = json_set(cc, "ephemeral_1h_input_tokens", jv_number((double)tok[4]));
	cc = json_set(cc, "ephemeral_5m_input_tokens", jv_number((double)tok[3]));
	stu = json_set(stu, "web_search_requests", jv_number(0));
	r = json_set(r, "uncached_input_tokens", jv_number((double)tok[0]));
	r = json_set(r, "cache_creation", cc);
	r = json_set(r, "cache_read_input_tokens", jv_number((double)tok[2]));
	r = json_set(r, "output_tokens", jv_number((double)tok[1]));
	r = json_set(r, "server_tool_use", stu);
	r = json_set(r, "api_key_id", jv_null());
	r = json_set(r, "workspace_id", jv_null());
	r = json_set(r, "model", by_model && b ? jv_string(b->model) : jv_null());
	r = json_set(r, "service_tier", jv_null());
	r = json_set(r, "context_window", jv_null());
	r = json_set(r, "inference_geo", jv_null());
	return r;
}

/* pico-dollars as cents in a decimal string, exactly: 1 cent is 1e10 pico */
static jv cents(int64_t p)
{
	char buf[48];
	int64_t whole = p / 10000000000LL, frac = p % 10000000000LL;
	size_t n;

	snprintf(buf, sizeof buf, "%lld.%010lld", (long long)whole, (long long)frac);
	n = strlen(buf);
	while (buf[n - 1] == '0' && buf[n - 2] != '.')
		buf[--n] = 0;
	return jv_string(buf);
}

static jv cost_result(const char *model, const char *token_type, const char *description,
		      int64_t p)
{
	jv r = jv_object();

	r = json_set(r, "currency", jv_string("USD"));
	r = json_set(r, "amount", cents(p));
	r = json_set(r, "workspace_id", jv_null());
	r = json_set(r, "description", description ? jv_string(description) : jv_null());
	r = json_set(r, "cost_type", jv_string("tokens"));
	r = json_set(r, "context_window", model ? jv_string("0-200k") : jv_null());
	r = json_set(r, "model", json_str_or_null(model));
	r = json_set(r, "service_tier", model ? jv_string("standard") : jv_null());
	r = json_set(r, "token_type", json_str_or_null(token_type));
	r = json_set(r, "inference_geo", jv_null());
	return r;
}

/* The results of one day's bucket. */
static jv bucket_results(struct sim *s, const char *day, int cost, struct groups *g)
{
	jv res = jv_array();
	int64_t sum[SIM_TOK_N] = { 0 }, total = 0;
	int any = 0;

	for (int i = 0; i < s->nbills; i++) {
		const struct sim_bill *b = &s->bills[i];

		if (strcmp(b->day, day))
			continue;
		any = 1;
		for (int k = 0; k < SIM_TOK_N; k++) {
			sum[k] += b->tok[k];
			total += b->pico[k];
		}
		if (!cost && g->model) {
			res = jv_array_append(res, usage_result(b, 1, b->tok));
		} else if (cost && g->description && b->priced) {
			for (int k = 0; k < SIM_TOK_N; k++) {
				char d[200];

				if (!b->tok[k])
					continue;
				snprintf(d, sizeof d, "%s Usage - %s", b->model, descr[k]);
				res = jv_array_append(res, cost_result(b->model, token_types[k], d, b->pico[k]));
			}
		}
	}
	if (any && !cost && !g->model)
		res = jv_array_append(res, usage_result(NULL, 0, sum));
	if (any && cost && !g->description)
		res = jv_array_append(res, cost_result(NULL, NULL, NULL, total));
	return res;
}

static void report(struct sim *s, const struct sim_req *rq, struct sim_reply *rp, int cost)
{
	static const char *const cost_groups[] = { "description", "workspace_id", NULL };
	static const char *const usage_groups[] = { "api_key_id", "workspace_id", "model", "service_tier",
						    "context_window", "inference_geo", "speed",
						    "account_id", "service_account_id", NULL };
	const char *sa = sim_req_arg(rq, "starting_at"), *ea = sim_req_arg(rq, "ending_at");
	const char *bw = sim_req_arg(rq, "bucket_width"), *lim = sim_req_arg(rq, "limit");
	const char *page = sim_req_arg(rq, "page");
	struct groups g = { .allowed = cost ? cost_groups : usage_groups };
	int64_t from, to = 0, limit = 7;
	jv data = jv_array();
	int n = 0;
	char t[32];

	if (!sa)
		return (void)admin_error(s, rp, 400, "invalid_request_error", "starting_at: Field required");
	if (day_arg(sa, &from) < 0)
		return (void)admin_error(s, rp, 400, "invalid_request_error",
					 "starting_at: Input should be a valid datetime");
	if (ea) {
		int64_t us;

		if (clock_parse(ea, &us) < 0)
			return (void)admin_error(s, rp, 400, "invalid_request_error",
						 "ending_at: Input should be a valid datetime");
		to = us / 1000000;
		if (to <= from)
			return (void)admin_error(s, rp, 400, "invalid_request_error",
						 "ending_at must be after starting_at");
	}
	if (bw && strcmp(bw, "1d"))
		return (void)admin_error(s, rp, 400, "invalid_request_error",
					 cost ? "bucket_width: Input should be '1d'"
					      : "bucket_width: only '1d' is simulated");
	if (lim) {
		char *end;

		limit = strtoll(lim, &end, 10);
		if (*end || limit < 1 || limit > 31)
			return (void)admin_error(s, rp, 400, "invalid_request_error",
						 "limit: Input should be between 1 and 31");
	}
	MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, group_arg, &g);
	if (g.bad[0]) {
		char m[160];

		snprintf(m, sizeof m, "group_by: '%s' is not a valid grouping", g.bad);
		return (void)admin_error(s, rp, 400, "invalid_request_error", m);
	}
	if (page) {
		char dec[64];
		int64_t at;

		if (strncmp(page, PAGE_PREFIX, strlen(PAGE_PREFIX)) ||
		    b64_decode(page + strlen(PAGE_PREFIX), dec, sizeof dec) < 0 || day_arg(dec, &at) < 0 ||
		    at < from)
			return (void)admin_error(s, rp, 400, "invalid_request_error", "page: invalid page token");
		from = at;
	}
	if (!ea)
		to = from + limit * 86400;
	for (int64_t d = from; d < to && n < limit; d += 86400, n++) {
		char day[11], a[32], b[32];
		jv bucket = jv_object();

		clock_day(d, day);
		bucket = json_set(bucket, "starting_at", jv_string(clock_format(d, a)));
		bucket = json_set(bucket, "ending_at", jv_string(clock_format(d + 86400, b)));
		bucket = json_set(bucket, "results", bucket_results(s, day, cost, &g));
		data = jv_array_append(data, bucket);
	}
	{
		int64_t next = from + (int64_t)n * 86400;
		int more = next < to;
		jv v = json_set(jv_object(), "data", data);
		char tok[80];

		v = json_set(v, "has_more", jv_bool(more));
		if (more) {
			char enc[64];

			b64_encode(clock_format(next, t), enc);
			snprintf(tok, sizeof tok, PAGE_PREFIX "%s", enc);
		}
		v = json_set(v, "next_page", more ? jv_string(tok) : jv_null());
		sim_reply_json(rp, 200, v);
	}
}

void sim_admin_handle(struct sim *s, const struct sim_req *rq, struct sim_reply *rp)
{
	int cost = !strcmp(rq->path, "/v1/organizations/cost_report");
	int usage = !strcmp(rq->path, "/v1/organizations/usage_report/messages");

	if (!cost && !usage) {
		sim_model_error(s, rp, 404, "not_found_error", NULL, "Not found");
		return;
	}
	if (strcmp(rq->method, "GET")) {
		sim_model_error(s, rp, 405, "invalid_request_error", NULL, "Method Not Allowed");
		return;
	}
	report(s, rq, rp, cost);
}

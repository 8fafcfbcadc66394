/* pricing: the price table of share/pricing.json, in integer arithmetic. */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/data.h"
#include "base/json.h"
#include "base/models.h"
#include "pricing.h"

#define MAX_TOKENS_PER_CLASS 1000000000000LL  /* 1e12: past this, input is absurd */

static int json_is_array_at(jv v, const char *path)
{
	jv x = json_get(jv_copy(v), path);
	int ok = jv_get_kind(x) == JV_KIND_ARRAY;

	jv_free(x);
	return ok;
}

int pricing_load(jv *table, struct err *e)
{
	const char *file = getenv("AGENT_PRICING_FILE");
	char path[4200];
	int rc;

	if (!file || !*file)
		file = data_path("pricing.json", path, sizeof path);
	rc = json_read_file(file, 4u << 20, table, e);
	if (rc) {
		/* err_wrap, not err_set: e->msg cannot be both source and target */
		err_wrap(e, "price table");
		e->code = EX_PERM;
		return EX_PERM;
	}
	if (!json_is_array_at(*table, "models")) {
		jv_free(*table);
		return err_set(e, EX_PERM, "price table '%s' has no models array", file);
	}
	return 0;
}

/* A rate in $/MTok as micro-dollars per MTok, exact for up to 6 decimals. */
static int rate(jv obj, const char *key, int64_t *out)
{
	double d;

	if (!json_number(obj, key, &d) || !isfinite(d) || d < 0 || d > 1e6)
		return -1;
	*out = llround(d * 1e6);
	return 0;
}

static int read_price(jv obj, struct price *p)
{
	return rate(obj, "input", &p->input) || rate(obj, "output", &p->output) ||
	       rate(obj, "cache_write_5m", &p->cache_5m) ||
	       rate(obj, "cache_write_1h", &p->cache_1h) ||
	       rate(obj, "cache_read", &p->cache_read) ? -1 : 0;
}

/* model equals name, or is name followed by a -YYYYMMDD date */
#define name_matches models_name_matches

static int entry_matches(jv ent, const char *model)
{
	char *id = json_string(ent, "id");
	int hit = id && name_matches(model, id);
	jv aliases = json_get(jv_copy(ent), "aliases");

	free(id);
	if (!hit && jv_get_kind(aliases) == JV_KIND_ARRAY) {
		int n = jv_array_length(jv_copy(aliases));

		for (int i = 0; i < n && !hit; i++) {
			jv a = jv_array_get(jv_copy(aliases), i);

			hit = jv_get_kind(a) == JV_KIND_STRING && name_matches(model, jv_string_value(a));
			jv_free(a);
		}
	}
	jv_free(aliases);
	return hit;
}

static int env_rate(const char *name, int64_t *out, struct err *e)
{
	const char *s = getenv(name);
	char *end;
	double d;

	if (!s || !*s)
		return 0;
	d = strtod(s, &end);
	if (*end || !isfinite(d) || d < 0 || d > 1e6)
		return err_set(e, EX_PERM, "%s: not a price in USD per million tokens: '%.40s'",
			       name, s), -1;
	*out = llround(d * 1e6);
	return 1;
}

int pricing_find(jv table, const char *model, struct pricing_model *m, struct err *e)
{
	jv models = json_get(jv_copy(table), "models");
	int n = jv_array_length(jv_copy(models)), found = 0;
	int64_t in_ov = 0, out_ov = 0;
	int has_in, has_out;
	double disc = 0;

	memset(m, 0, sizeof *m);
	snprintf(m->id, sizeof m->id, "%s", model);
	for (int i = 0; i < n && !found; i++) {
		jv ent = jv_array_get(jv_copy(models), i);

		if (jv_get_kind(ent) == JV_KIND_OBJECT && entry_matches(ent, model)) {
			jv bands = json_get(jv_copy(ent), "bands");

			found = 1;
			if (read_price(ent, &m->base) < 0) {
				jv_free(bands);
				jv_free(ent);
				jv_free(models);
				return err_set(e, EX_PERM, "price table: bad rates for '%s'", model);
			}
			if (jv_get_kind(bands) == JV_KIND_ARRAY && jv_array_length(jv_copy(bands)) > 0) {
				jv b = jv_array_get(jv_copy(bands), 0);
				double above;

				if (json_number(b, "above_prompt_tokens", &above) && above >= 0 &&
				    read_price(b, &m->band) == 0) {
					m->has_band = 1;
					m->band_above = (int64_t)above;
				}
				jv_free(b);
			}
			jv_free(bands);
		}
		jv_free(ent);
	}
	jv_free(models);
	if (json_number(table, "batch_discount", &disc) && disc >= 0 && disc < 1)
		m->batch_ppm = llround(disc * 1e6);
	has_in = env_rate("AGENT_COST_PER_MTOK_INPUT", &in_ov, e);
	has_out = env_rate("AGENT_COST_PER_MTOK_OUTPUT", &out_ov, e);
	if (has_in < 0 || has_out < 0)
		return EX_PERM;
	if (!found && !(has_in && has_out))
		return err_set(e, EX_PERM, "no price for model '%s' (add it to pricing.json or set "
			       "AGENT_COST_PER_MTOK_INPUT and AGENT_COST_PER_MTOK_OUTPUT)", model);
	if (has_in) {
		/* the API's standard multipliers on the overriding input rate */
		m->base.input = in_ov;
		m->base.cache_5m = in_ov * 5 / 4;
		m->base.cache_1h = in_ov * 2;
		m->base.cache_read = in_ov / 10;
		m->overridden = 1;
		m->has_band = 0;
	}
	if (has_out) {
		m->base.output = out_ov;
		m->overridden = 1;
		m->has_band = 0;
	}
	return 0;
}

static int count(jv u, const char *key, int64_t *out, struct err *e)
{
	jv v = json_get(jv_copy(u), key);
	jv_kind k = jv_get_kind(v);
	double d;

	*out = 0;
	if (k == JV_KIND_INVALID || k == JV_KIND_NULL) {
		jv_free(v);
		return 0;
	}
	if (k != JV_KIND_NUMBER) {
		jv_free(v);
		return err_set(e, EX_DATA, "usage: %s is not a number", key);
	}
	d = jv_number_value(v);
	jv_free(v);
	if (!isfinite(d) || d < 0 || d != floor(d) || d > (double)MAX_TOKENS_PER_CLASS)
		return err_set(e, EX_DATA, "usage: %s must be a whole number from 0 to 1e12", key);
	*out = (int64_t)d;
	return 0;
}

int pricing_usage(jv u, struct usage *out, int *batch, struct err *e)
{
	int64_t total_write = 0, w5 = 0, w1 = 0;
	char *tier;

	memset(out, 0, sizeof *out);
	if (jv_get_kind(u) != JV_KIND_OBJECT)
		return err_set(e, EX_DATA, "usage: not a JSON object");
	{
		jv_kind k = json_kind_at(u, "cache_creation");

		if (k != JV_KIND_INVALID && k != JV_KIND_NULL && k != JV_KIND_OBJECT)
			return err_set(e, EX_DATA, "usage: cache_creation is not an object");
	}
	if (count(u, "input_tokens", &out->input, e) ||
	    count(u, "output_tokens", &out->output, e) ||
	    count(u, "cache_read_input_tokens", &out->cache_read, e) ||
	    count(u, "cache_creation_input_tokens", &total_write, e) ||
	    count(u, "cache_creation.ephemeral_5m_input_tokens", &w5, e) ||
	    count(u, "cache_creation.ephemeral_1h_input_tokens", &w1, e))
		return e->code;
	/* Without a split every cache write is priced at the 5-minute rate; with
	 * one, whatever the split leaves unexplained is too. */
	out->cache_1h = w1;
	out->cache_5m = total_write - w1 > w5 ? total_write - w1 : w5;
	tier = json_string(u, "service_tier");
	if (batch)
		*batch = tier && strcmp(tier, "batch") == 0;
	free(tier);
	return 0;
}

void pricing_cost(const struct pricing_model *m, const struct usage *u, int batch,
		  struct cost *c)
{
	int64_t prompt = u->input + u->cache_5m + u->cache_1h + u->cache_read;
	const struct price *p = &m->base;
	__int128 sum = 0, part[5];

	memset(c, 0, sizeof *c);
	if (m->has_band && prompt > m->band_above) {
		p = &m->band;
		c->band = 1;
	}
	/* 1e12 tokens at $75/MTok is past int64 pico-dollars: 128 bits until
	 * the total, which fits in micro-dollars */
	part[0] = (__int128)u->input * p->input;
	part[1] = (__int128)u->output * p->output;
	part[2] = (__int128)u->cache_5m * p->cache_5m;
	part[3] = (__int128)u->cache_1h * p->cache_1h;
	part[4] = (__int128)u->cache_read * p->cache_read;
	if (batch && m->batch_ppm) {
		c->batch = 1;
		for (int i = 0; i < 5; i++)
			part[i] = (part[i] * (1000000 - m->batch_ppm) + 999999) / 1000000;
	}
	for (int i = 0; i < 5; i++) {
		sum += part[i];
		c->pico[i] = part[i] > INT64_MAX ? INT64_MAX : (int64_t)part[i];
	}
	/* rounded up: the ledger may overstate spend, never understate it */
	c->micros = (int64_t)((sum + 999999) / 1000000);
}

static jv pico_usd(int64_t pico)
{
	return jv_number((double)pico / 1e12);
}

void pricing_format_usd(int64_t micros, char *buf, size_t size)
{
	long long a = llabs(micros);

	if (a > 0 && a < 5000)
		snprintf(buf, size, "%s<$0.01", micros < 0 ? "-" : "");
	else
		snprintf(buf, size, "%s$%lld.%02lld", micros < 0 ? "-" : "", (a + 5000) / 1000000,
			 (a + 5000) / 10000 % 100);
}

jv pricing_usd(int64_t micros)
{
	char buf[40];

	/* print with 6 decimals and read back, so 0.1375 is 0.1375, not 0.13750000000000001 */
	snprintf(buf, sizeof buf, "%s%lld.%06lld", micros < 0 ? "-" : "",
		 (long long)(llabs(micros) / 1000000), (long long)(llabs(micros) % 1000000));
	return jv_number(strtod(buf, NULL));
}

jv pricing_cost_json(const struct pricing_model *m, const struct usage *u,
		     const struct cost *c)
{
	static const char *const names[] = { "input", "output", "cache_write_5m",
					     "cache_write_1h", "cache_read" };
	const int64_t toks[] = { u->input, u->output, u->cache_5m, u->cache_1h, u->cache_read };
	const struct price *p = c->band ? &m->band : &m->base;
	const int64_t rates[] = { p->input, p->output, p->cache_5m, p->cache_1h, p->cache_read };
	jv tokens = jv_object(), cost = jv_object(), rt = jv_object();

	for (int i = 0; i < 5; i++) {
		tokens = json_set(tokens, names[i], jv_number((double)toks[i]));
		rt = json_set(rt, names[i], jv_number((double)rates[i] / 1e6));
		cost = json_set(cost, names[i], pico_usd(c->pico[i]));
	}
	return json_set(json_set(json_set(json_set(json_set(json_set(json_set(jv_object(),
		"model", jv_string(m->id)),
		"tokens", tokens),
		"rates_per_mtok", rt),
		"cost_usd", cost),
		"band", jv_bool(c->band)),
		"batch", jv_bool(c->batch)),
		"total_usd", pricing_usd(c->micros));
}

int64_t pricing_worst_case(const struct pricing_model *m, int64_t input_upper,
			   int64_t max_output, int cache_1h)
{
	const struct price *p = m->has_band && input_upper > m->band_above ? &m->band : &m->base;
	int64_t in = p->input;
	__int128 pico;

	if (p->cache_5m > in)
		in = p->cache_5m;
	if (cache_1h && p->cache_1h > in)
		in = p->cache_1h;
	pico = (__int128)input_upper * in + (__int128)max_output * p->output;
	return (int64_t)((pico + 999999) / 1000000);
}

int64_t pricing_hold_counted(const struct pricing_model *m, int64_t counted, int64_t cached,
			     int64_t max_output, int cache_1h)
{
	const struct price *p;
	int64_t w;
	__int128 pico;

	if (counted < 0)
		counted = 0;
	if (cached < 0)
		cached = 0;
	if (cached > counted)
		cached = counted;
	if (max_output < 0)
		max_output = 0;
	p = m->has_band && counted > m->band_above ? &m->band : &m->base;
	/* a write never costs less than plain input, whatever the table says */
	w = cache_1h ? p->cache_1h : p->cache_5m;
	if (w < p->input)
		w = p->input;
	pico = (__int128)cached * w + (__int128)(counted - cached) * p->input +
	       (__int128)max_output * p->output;
	return (int64_t)((pico + 999999) / 1000000);
}

int pricing_parse_usd(const char *s, int64_t *micros)
{
	int64_t whole = 0, frac = 0;
	int nd = 0, nw = 0;
	const char *p = s;

	if (!s || !*s)
		return -1;
	for (; isdigit((unsigned char)*p); p++, nw++) {
		if (nw >= 9)
			return -1;
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, nd++) {
			if (nd >= 6)
				return -1;
			frac = frac * 10 + (*p - '0');
		}
		if (nd == 0 && nw == 0)
			return -1;
	}
	if (*p || (nw == 0 && nd == 0))
		return -1;
	for (int i = nd; i < 6; i++)
		frac *= 10;
	*micros = whole * 1000000 + frac;
	return 0;
}

int64_t pricing_micros(double usd)
{
	return llround(usd * 1e6);
}

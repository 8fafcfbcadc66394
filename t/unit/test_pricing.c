/* test_pricing: share/pricing.json in integer micro-dollars: the issue's
 * vector, cache classes, bands, batch, aliases, overrides, bad usage. */
#include <math.h>

#include "unit.h"
#include "pricing.h"

static jv table;

static int load(void **state)
{
	struct err e = ERR_INIT;

	unit_clean_env();
	if (pricing_load(&table, &e)) {
		fprintf(stderr, "pricing_load: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int unload(void **state)
{
	jv_free(table);
	unit_clean_env();
	return 0;
}

static int clean(void **state)
{
	unit_clean_env();
	return 0;
}

static void find(const char *model, struct pricing_model *m)
{
	struct err e = ERR_INIT;

	if (pricing_find(table, model, m, &e))
		fail_msg("pricing_find '%s': %s", model, e.msg);
}

static struct usage usage_of(const char *json, int *batch)
{
	struct err e = ERR_INIT;
	struct usage u;
	jv v = unit_json(json);

	if (pricing_usage(v, &u, batch, &e))
		fail_msg("pricing_usage %s: %s", json, e.msg);
	jv_free(v);
	return u;
}

static int64_t cost_of(const char *model, const char *usage_json)
{
	struct pricing_model m;
	struct usage u;
	struct cost c;
	int batch = 0;

	find(model, &m);
	u = usage_of(usage_json, &batch);
	pricing_cost(&m, &u, batch, &c);
	return c.micros;
}

#define OPUS_VECTOR "{\"input_tokens\":3000,\"output_tokens\":2000," \
	"\"cache_creation_input_tokens\":10000,\"cache_read_input_tokens\":20000}"

/* The issue's vector: 3000 in, 2000 out, 10000 written for 5 minutes,
 * 20000 read on Opus 4.5: $0.015 + $0.05 + $0.0625 + $0.01. */
static void issue_vector(void **state)
{
	struct pricing_model m;
	struct usage u;
	struct cost c;
	int batch = -1;
	jv j;

	find("claude-opus-4-5-20251101", &m);
	u = usage_of(OPUS_VECTOR, &batch);
	assert_int_equal(batch, 0);
	assert_int_equal(u.input, 3000);
	assert_int_equal(u.output, 2000);
	assert_int_equal(u.cache_5m, 10000);
	assert_int_equal(u.cache_1h, 0);
	assert_int_equal(u.cache_read, 20000);
	pricing_cost(&m, &u, batch, &c);
	assert_int_equal(c.micros, 137500);
	assert_int_equal(c.pico[0], 15000000000LL);
	assert_int_equal(c.pico[1], 50000000000LL);
	assert_int_equal(c.pico[2], 62500000000LL);
	assert_int_equal(c.pico[3], 0);
	assert_int_equal(c.pico[4], 10000000000LL);
	assert_int_equal(c.band, 0);
	assert_int_equal(c.batch, 0);

	j = pricing_cost_json(&m, &u, &c);
	assert_string_equal(unit_str(j, "model"), "claude-opus-4-5-20251101");
	assert_true(unit_num(j, "total_usd") == 0.1375);
	assert_true(unit_num(j, "cost_usd.cache_write_5m") == 0.0625);
	assert_true(unit_num(j, "rates_per_mtok.cache_write_5m") == 6.25);
	assert_int_equal(unit_num(j, "tokens.cache_read"), 20000);
	jv_free(j);
}

static void cache_split(void **state)
{
	struct pricing_model m;
	struct usage u;
	struct cost c;

	find("claude-opus-4-5", &m);
	u = usage_of("{\"input_tokens\":3000,\"output_tokens\":2000,"
		     "\"cache_creation_input_tokens\":10000,\"cache_read_input_tokens\":20000,"
		     "\"cache_creation\":{\"ephemeral_5m_input_tokens\":4000,"
		     "\"ephemeral_1h_input_tokens\":6000}}", NULL);
	assert_int_equal(u.cache_5m, 4000);
	assert_int_equal(u.cache_1h, 6000);
	pricing_cost(&m, &u, 0, &c);
	assert_int_equal(c.pico[2], 4000LL * 6250000);   /* $6.25/MTok */
	assert_int_equal(c.pico[3], 6000LL * 10000000);  /* $10/MTok */
	/* 15000 + 50000 + 25000 + 60000 + 10000 */
	assert_int_equal(c.micros, 160000);

	/* the split alone, without the total */
	u = usage_of("{\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,"
		     "\"ephemeral_1h_input_tokens\":1000000}}", NULL);
	assert_int_equal(u.cache_5m, 0);
	assert_int_equal(u.cache_1h, 1000000);
	pricing_cost(&m, &u, 0, &c);
	assert_int_equal(c.micros, 10000000);

	/* what the split leaves unexplained is priced at 5 minutes */
	u = usage_of("{\"cache_creation_input_tokens\":10000,"
		     "\"cache_creation\":{\"ephemeral_1h_input_tokens\":3000}}", NULL);
	assert_int_equal(u.cache_5m, 7000);
	assert_int_equal(u.cache_1h, 3000);
}

static void no_split_is_5m(void **state)
{
	struct usage u = usage_of("{\"cache_creation_input_tokens\":1000000}", NULL);

	assert_int_equal(u.cache_5m, 1000000);
	assert_int_equal(u.cache_1h, 0);
	assert_int_equal(cost_of("claude-opus-4-5", "{\"cache_creation_input_tokens\":1000000}"),
			 6250000);
	assert_int_equal(cost_of("claude-haiku-4-5", "{\"cache_creation_input_tokens\":1000000}"),
			 1250000);
}

/* Haiku 5.5: a prompt over 100k tokens moves every token of the request,
 * output included, to the band's rates; exactly 100k stays in the base. */
static void haiku_band(void **state)
{
	struct pricing_model m;
	struct usage u;
	struct cost c;

	find("claude-haiku-5-5", &m);
	assert_true(m.has_band);
	assert_int_equal(m.band_above, 100000);

	u = usage_of("{\"input_tokens\":100000,\"output_tokens\":1000}", NULL);
	pricing_cost(&m, &u, 0, &c);
	assert_int_equal(c.band, 0);
	assert_int_equal(c.micros, 10000 + 500);        /* $0.10 and $0.50 per MTok */

	u = usage_of("{\"input_tokens\":100001,\"output_tokens\":1000}", NULL);
	pricing_cost(&m, &u, 0, &c);
	assert_int_equal(c.band, 1);
	assert_int_equal(c.pico[0], 100001LL * 500000);
	assert_int_equal(c.pico[1], 1000LL * 2500000);  /* output at the band's $2.50 */
	assert_int_equal(c.micros, 52501);              /* 50000.5 + 2500, rounded up */

	/* cache tokens count towards the prompt and take the band too */
	u = usage_of("{\"input_tokens\":40000,\"cache_read_input_tokens\":50000,"
		     "\"cache_creation_input_tokens\":10000,\"output_tokens\":10}", NULL);
	pricing_cost(&m, &u, 0, &c);
	assert_int_equal(c.band, 0);
	u.cache_read++;
	pricing_cost(&m, &u, 0, &c);
	assert_int_equal(c.band, 1);
	assert_int_equal(c.pico[4], 50001LL * 50000);   /* $0.05 cache read */
	assert_int_equal(c.pico[2], 10000LL * 625000);  /* $0.625 cache write */
	assert_int_equal(c.micros, (40000LL * 500000 + 50001LL * 50000 + 10000LL * 625000 +
				    10LL * 2500000 + 999999) / 1000000);
}

static void sonnet_long_context(void **state)
{
	assert_int_equal(cost_of("claude-sonnet-4-5", "{\"input_tokens\":200000,\"output_tokens\":1000}"),
			 600000 + 15000);
	assert_int_equal(cost_of("claude-sonnet-4-5-20250929",
				 "{\"input_tokens\":200001,\"output_tokens\":1000}"),
			 1200006 + 22500);
	assert_int_equal(cost_of("claude-sonnet-4-5",
				 "{\"input_tokens\":1000,\"cache_read_input_tokens\":250000,"
				 "\"output_tokens\":2000}"),
			 6000 + 150000 + 45000);
	/* Sonnet 4.6 has no band: a long prompt stays at the base rates */
	assert_int_equal(cost_of("claude-sonnet-4-6", "{\"input_tokens\":300000}"), 900000);
}

static void batch_halves(void **state)
{
	struct pricing_model m;
	struct usage u;
	struct cost c;
	int batch = 0;

	find("claude-opus-4-5-20251101", &m);
	assert_int_equal(m.batch_ppm, 500000);
	u = usage_of("{\"input_tokens\":3000,\"output_tokens\":2000,"
		     "\"cache_creation_input_tokens\":10000,\"cache_read_input_tokens\":20000,"
		     "\"service_tier\":\"batch\"}", &batch);
	assert_int_equal(batch, 1);
	pricing_cost(&m, &u, batch, &c);
	assert_int_equal(c.batch, 1);
	assert_int_equal(c.micros, 68750);
	assert_int_equal(c.pico[1], 25000000000LL);
	/* another tier is not a batch */
	u = usage_of("{\"input_tokens\":1,\"service_tier\":\"standard\"}", &batch);
	assert_int_equal(batch, 0);
	/* a batched band: both apply */
	find("claude-haiku-5-5", &m);
	u = usage_of("{\"input_tokens\":200000,\"output_tokens\":1000}", NULL);
	pricing_cost(&m, &u, 1, &c);
	assert_int_equal(c.band, 1);
	assert_int_equal(c.micros, (100000 + 2500) / 2);
}

static void aliases_and_dates(void **state)
{
	struct pricing_model m;
	struct err e = ERR_INIT;
	static const char *const unknown[] = {
		"claude-opus-4-5-2025110",        /* seven digits */
		"claude-opus-4-5-202511011",
		"claude-opus-4-5-2025110x",
		"claude-opus-4-5-latest",
		"claude-opus-4-5x",
		"claude-opus",
		"opus-4-5",
		"claude-haiku-4-5-",
		"",
		"gpt-5",
	};

	assert_int_equal(cost_of("claude-opus-4-5", OPUS_VECTOR), 137500);
	assert_int_equal(cost_of("claude-opus-4-5-20991231", OPUS_VECTOR), 137500);
	find("claude-haiku-4-5-20251001", &m);
	assert_string_equal(m.id, "claude-haiku-4-5-20251001");
	assert_int_equal(m.base.input, 1000000);
	assert_int_equal(m.base.output, 5000000);
	assert_int_equal(m.base.cache_5m, 1250000);
	assert_int_equal(m.base.cache_1h, 2000000);
	assert_int_equal(m.base.cache_read, 100000);
	find("claude-haiku-4-5", &m);
	assert_int_equal(m.base.output, 5000000);
	find("claude-mythos-5-1", &m);
	assert_int_equal(m.base.cache_read, 250000);
	/* claude-opus-5-5 is not claude-opus-5 with a suffix */
	find("claude-opus-5-5", &m);
	assert_int_equal(m.base.input, 4000000);
	find("claude-opus-5", &m);
	assert_int_equal(m.base.input, 5000000);
	find("claude-opus-4-1-20250805", &m);
	assert_int_equal(m.base.input, 15000000);

	for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
		memset(&m, 0x55, sizeof m);
		if (pricing_find(table, unknown[i], &m, &e) != EX_PERM)
			fail_msg("'%s' was priced", unknown[i]);
		assert_int_equal(e.code, EX_PERM);
		assert_non_null(strstr(e.msg, "no price"));
	}
	assert_int_equal(pricing_find(table, "gpt-5", &m, &e), EX_PERM);
	assert_non_null(strstr(e.msg, "'gpt-5'"));
}

static void overrides(void **state)
{
	struct pricing_model m;
	struct err e = ERR_INIT;

	/* a known model: input (and the cache rates derived from it) and output */
	setenv("AGENT_COST_PER_MTOK_INPUT", "2", 1);
	setenv("AGENT_COST_PER_MTOK_OUTPUT", "8.5", 1);
	find("claude-sonnet-4-5", &m);
	assert_true(m.overridden);
	assert_false(m.has_band);
	assert_int_equal(m.base.input, 2000000);
	assert_int_equal(m.base.output, 8500000);
	assert_int_equal(m.base.cache_5m, 2500000);
	assert_int_equal(m.base.cache_1h, 4000000);
	assert_int_equal(m.base.cache_read, 200000);
	assert_int_equal(cost_of("claude-sonnet-4-5", "{\"input_tokens\":300000,\"output_tokens\":1000}"),
			 600000 + 8500);

	/* an unknown model with both is priced */
	find("my-local-model", &m);
	assert_int_equal(cost_of("my-local-model", "{\"input_tokens\":1000000,\"output_tokens\":1000000}"),
			 10500000);

	/* one alone: a known model keeps its other rate, an unknown one is refused */
	unsetenv("AGENT_COST_PER_MTOK_INPUT");
	find("claude-opus-4-5", &m);
	assert_int_equal(m.base.input, 5000000);
	assert_int_equal(m.base.output, 8500000);
	assert_int_equal(pricing_find(table, "my-local-model", &m, &e), EX_PERM);
	unsetenv("AGENT_COST_PER_MTOK_OUTPUT");
	setenv("AGENT_COST_PER_MTOK_INPUT", "0.25", 1);
	find("claude-opus-4-5", &m);
	assert_int_equal(m.base.input, 250000);
	assert_int_equal(m.base.output, 25000000);
	assert_int_equal(pricing_find(table, "my-local-model", &m, &e), EX_PERM);

	/* empty means unset */
	setenv("AGENT_COST_PER_MTOK_INPUT", "", 1);
	find("claude-opus-4-5", &m);
	assert_false(m.overridden);
	assert_int_equal(m.base.input, 5000000);
}

static void override_malformed(void **state)
{
	static const char *const bad[] = { "abc", "-1", "1e7", "5$", "nan", "inf", " ", "1,5" };
	struct pricing_model m;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		for (int which = 0; which < 2; which++) {
			const char *var = which ? "AGENT_COST_PER_MTOK_OUTPUT" : "AGENT_COST_PER_MTOK_INPUT";
			struct err e = ERR_INIT;

			unit_clean_env();
			setenv(var, bad[i], 1);
			if (pricing_find(table, "claude-opus-4-5", &m, &e) != EX_PERM)
				fail_msg("%s=%s accepted", var, bad[i]);
			assert_non_null(strstr(e.msg, var));
		}
	}
}

static void usage_validation(void **state)
{
	static const char *const bad[] = {
		"{\"input_tokens\":-1}",
		"{\"output_tokens\":1.5}",
		"{\"input_tokens\":\"100\"}",
		"{\"cache_read_input_tokens\":true}",
		"{\"cache_creation_input_tokens\":[1]}",
		"{\"input_tokens\":1000000000001}",
		"{\"output_tokens\":1e300}",
		"{\"cache_creation\":{\"ephemeral_1h_input_tokens\":-5}}",
		"{\"cache_creation\":{\"ephemeral_5m_input_tokens\":\"x\"}}",
		"[1,2]",
		"\"usage\"",
		"null",
	};
	struct usage u;
	struct err e = ERR_INIT;
	jv v;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		v = unit_json(bad[i]);
		if (pricing_usage(v, &u, NULL, &e) != EX_DATA)
			fail_msg("usage %s accepted", bad[i]);
		assert_int_equal(e.code, EX_DATA);
		jv_free(v);
	}
	v = jv_object_set(jv_object(), jv_string("input_tokens"), jv_number(NAN));
	assert_int_equal(pricing_usage(v, &u, NULL, &e), EX_DATA);
	assert_non_null(strstr(e.msg, "input_tokens"));
	jv_free(v);
	v = jv_object_set(jv_object(), jv_string("output_tokens"), jv_number(INFINITY));
	assert_int_equal(pricing_usage(v, &u, NULL, &e), EX_DATA);
	jv_free(v);

	/* the largest accepted count, and absent or null counts as zero */
	u = usage_of("{\"input_tokens\":1000000000000,\"output_tokens\":null}", NULL);
	assert_int_equal(u.input, 1000000000000LL);
	assert_int_equal(u.output, 0);
	u = usage_of("{}", NULL);
	assert_int_equal(u.input + u.output + u.cache_5m + u.cache_1h + u.cache_read, 0);
}

/* The ledger may overstate spend, never understate it. */
static void rounds_up(void **state)
{
	assert_int_equal(cost_of("claude-haiku-5-5", "{\"cache_read_input_tokens\":1}"), 1);
	assert_int_equal(cost_of("claude-haiku-5-5", "{\"input_tokens\":1}"), 1);
	assert_int_equal(cost_of("claude-haiku-5-5", "{\"input_tokens\":10}"), 1);
	assert_int_equal(cost_of("claude-haiku-5-5", "{\"input_tokens\":11}"), 2);
	assert_int_equal(cost_of("claude-haiku-5-5", "{}"), 0);
	/* rounding happens once, on the total, not per class */
	assert_int_equal(cost_of("claude-haiku-5-5",
				 "{\"input_tokens\":5,\"cache_read_input_tokens\":50}"), 1);
	/* the batch discount rounds up too */
	{
		struct pricing_model m;
		struct usage u = { 0, 0, 0, 0, 1 };
		struct cost c;

		find("claude-haiku-5-5", &m);
		pricing_cost(&m, &u, 1, &c);
		assert_int_equal(c.micros, 1);
		assert_true(c.pico[4] >= 5000);
	}
}

/* The largest counts usage validation accepts are priced exactly, not
 * wrapped into a small (or negative) cost. */
static void huge_usage(void **state)
{
	struct pricing_model m;
	struct usage u = { 0, 1000000000000LL, 0, 0, 0 };
	struct cost c;

	find("claude-opus-4-1", &m);   /* $75/MTok output */
	pricing_cost(&m, &u, 0, &c);
	assert_int_equal(c.micros, 75000000LL * 1000000);
	assert_int_equal(c.pico[1], INT64_MAX);  /* the breakdown saturates */
	u.input = u.cache_5m = u.cache_1h = u.cache_read = 1000000000000LL;
	pricing_cost(&m, &u, 0, &c);
	/* 15 + 75 + 18.75 + 30 + 1.5 dollars per token-million, a million million */
	assert_int_equal(c.micros, 140250000LL * 1000000);
	pricing_cost(&m, &u, 1, &c);
	assert_int_equal(c.micros, 70125000LL * 1000000);
	u = usage_of("{\"output_tokens\":1000000000000}", NULL);
	pricing_cost(&m, &u, 0, &c);
	assert_true(c.micros > 0);
}

static void worst_case(void **state)
{
	struct pricing_model m;

	find("claude-opus-4-5", &m);
	/* 50000 input at the dearest input-side rate ($6.25 cache write), 4096 out */
	assert_int_equal(pricing_worst_case(&m, 50000, 4096, 0), 312500 + 102400);
	assert_int_equal(pricing_worst_case(&m, 50000, 4096, 1), 500000 + 102400);
	assert_int_equal(pricing_worst_case(&m, 0, 0, 0), 0);
	find("claude-haiku-5-5", &m);
	assert_int_equal(pricing_worst_case(&m, 100000, 4096, 0), 12500 + 2048);
	assert_int_equal(pricing_worst_case(&m, 150000, 4096, 0), 93750 + 10240);

	/* never below the cost of a call within the bounds */
	srand(7);
	for (int i = 0; i < 2000; i++) {
		static const char *const models[] = { "claude-haiku-5-5", "claude-sonnet-4-5",
						      "claude-opus-4-5", "claude-haiku-4-5" };
		int64_t upper = 1 + rand() % 300000, out_max = 1 + rand() % 8192;
		int64_t parts[4], left = upper;
		struct usage u;
		struct cost c;

		find(models[i % 4], &m);
		for (int k = 0; k < 4; k++) {
			parts[k] = left ? rand() % (left + 1) : 0;
			left -= parts[k];
		}
		u.input = parts[0];
		u.cache_5m = parts[1];
		u.cache_1h = parts[2];
		u.cache_read = parts[3];
		u.output = rand() % (out_max + 1);
		pricing_cost(&m, &u, i % 3 == 0, &c);
		if (c.micros > pricing_worst_case(&m, upper, out_max, 1))
			fail_msg("%s: cost %lld over the worst case %lld", models[i % 4],
				 (long long)c.micros, (long long)pricing_worst_case(&m, upper, out_max, 1));
	}
}

static void hold_counted(void **state)
{
	struct pricing_model m;

	find("claude-opus-4-5", &m);
	/* 10000 counted, all before the breakpoint: $6.25 write; 4096 out at $25 */
	assert_int_equal(pricing_hold_counted(&m, 10000, 10000, 4096, 0), 62500 + 102400);
	/* no breakpoint: the plain input rate, $5 */
	assert_int_equal(pricing_hold_counted(&m, 10000, 0, 4096, 0), 50000 + 102400);
	/* a split: 6000 written, 4000 plain; a 1-hour write at $10 */
	assert_int_equal(pricing_hold_counted(&m, 10000, 6000, 0, 0), 37500 + 20000);
	assert_int_equal(pricing_hold_counted(&m, 10000, 6000, 0, 1), 60000 + 20000);
	/* cached is clamped to the count, negatives to 0; rounds up */
	assert_int_equal(pricing_hold_counted(&m, 100, 500, 0, 0), 625);
	assert_int_equal(pricing_hold_counted(&m, -5, -5, -5, 0), 0);
	assert_int_equal(pricing_hold_counted(&m, 1, 0, 0, 0), 5);
	/* never above today's estimate for the same tokens */
	assert_true(pricing_hold_counted(&m, 10000, 10000, 4096, 0) <= pricing_worst_case(&m, 10000, 4096, 0));
	/* Haiku 5.5: the band by the counted prompt, output included */
	find("claude-haiku-5-5", &m);
	assert_int_equal(pricing_hold_counted(&m, 100000, 0, 4096, 0), 10000 + 2048);
	assert_int_equal(pricing_hold_counted(&m, 100001, 0, 4096, 0), 50001 + 10240);

	/* never below the cost of a call whose billed prompt is the count and
	 * whose writes stay within the cached part */
	srand(11);
	for (int i = 0; i < 2000; i++) {
		static const char *const models[] = { "claude-haiku-5-5", "claude-sonnet-4-5",
						      "claude-opus-4-5", "claude-haiku-4-5" };
		int64_t counted = 1 + rand() % 300000, cached = rand() % (counted + 1);
		int64_t out_max = 1 + rand() % 8192, w, rd;
		int ttl1h = i % 2;
		struct usage u = { 0 };
		struct cost c;

		find(models[i % 4], &m);
		w = rand() % (cached + 1);
		rd = rand() % (cached - w + 1);
		u.cache_1h = ttl1h ? w : 0;
		u.cache_5m = ttl1h ? 0 : w;
		u.cache_read = rd;
		u.input = counted - w - rd;
		u.output = rand() % (out_max + 1);
		pricing_cost(&m, &u, 0, &c);
		if (c.micros > pricing_hold_counted(&m, counted, cached, out_max, ttl1h))
			fail_msg("%s: cost %lld over the counted hold %lld", models[i % 4],
				 (long long)c.micros,
				 (long long)pricing_hold_counted(&m, counted, cached, out_max, ttl1h));
	}
}

static void parse_usd(void **state)
{
	static const struct { const char *s; int64_t micros; } good[] = {
		{ "5", 5000000 }, { "0.1", 100000 }, { "0.137500", 137500 }, { "0", 0 },
		{ "5.00", 5000000 }, { "0.000001", 1 }, { "999999999.999999", 999999999999999LL },
		{ "12.5", 12500000 },
	};
	static const char *const bad[] = {
		"-1", "1e3", "0.1234567", "", "abc", ".", "+5", " 5", "5 ", "1,5", "0x10",
		"1000000000", "5..0", "$5", "nan",
	};
	int64_t v;

	for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
		v = -1;
		if (pricing_parse_usd(good[i].s, &v) != 0)
			fail_msg("'%s' refused", good[i].s);
		assert_int_equal(v, good[i].micros);
	}
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		v = 4242;
		if (pricing_parse_usd(bad[i], &v) == 0)
			fail_msg("'%s' accepted as %lld", bad[i], (long long)v);
		assert_int_equal(v, 4242);
	}
	assert_int_equal(pricing_parse_usd(NULL, &v), -1);
}

static void usd_numbers(void **state)
{
	jv x = pricing_usd(137500);

	assert_true(jv_number_value(x) == 0.1375);
	jv_free(x);
	x = pricing_usd(4900000);
	assert_true(jv_number_value(x) == 4.9);
	jv_free(x);
	x = pricing_usd(-100000);
	assert_true(jv_number_value(x) == -0.1);
	jv_free(x);
	assert_int_equal(pricing_micros(0.1375), 137500);
	assert_int_equal(pricing_micros(4.9), 4900000);
}

static int dir_setup(void **state)
{
	unit_clean_env();
	*state = unit_tmpdir();
	return *state ? 0 : -1;
}

static int dir_teardown(void **state)
{
	unit_rmtree(*state);
	free(*state);
	unit_clean_env();
	return 0;
}

static void load_errors(void **state)
{
	const char *dir = *state;
	char path[4200];
	struct err e = ERR_INIT;
	jv t;

	assert_non_null(dir);
	snprintf(path, sizeof path, "%s/missing.json", dir);
	setenv("AGENT_PRICING_FILE", path, 1);
	assert_int_equal(pricing_load(&t, &e), EX_PERM);
	assert_int_equal(e.code, EX_PERM);
	if (strncmp(e.msg, "price table: cannot read '", 26) != 0 ||
	    !strstr(e.msg, "missing.json': No such file") || strstr(e.msg + 1, "price table"))
		fail_msg("garbled message: %s", e.msg);

	snprintf(path, sizeof path, "%s/p.json", dir);
	assert_int_equal(unit_write_file(path, "{\"models\": {}}"), 0);
	setenv("AGENT_PRICING_FILE", path, 1);
	assert_int_equal(pricing_load(&t, &e), EX_PERM);
	assert_non_null(strstr(e.msg, "models"));

	assert_int_equal(unit_write_file(path, "{\"models\": [ {\"id\":"), 0);
	assert_int_equal(pricing_load(&t, &e), EX_PERM);
	assert_int_equal(e.code, EX_PERM);   /* bad data in a configuration file */
	assert_non_null(strstr(e.msg, "price table: "));
	assert_non_null(strstr(e.msg, "truncated"));

	/* a table of its own, with a broken row: refused, not priced at zero */
	assert_int_equal(unit_write_file(path, "{\"models\": [{\"id\":\"m\",\"input\":1,\"output\":2,"
					 "\"cache_write_5m\":1.25,\"cache_write_1h\":2,\"cache_read\":0.1},"
					 "{\"id\":\"broken\",\"input\":\"free\"}]}"), 0);
	assert_int_equal(pricing_load(&t, &e), 0);
	{
		struct pricing_model m;

		assert_int_equal(pricing_find(t, "m", &m, &e), 0);
		assert_int_equal(m.base.output, 2000000);
		assert_int_equal(m.batch_ppm, 0);
		assert_int_equal(pricing_find(t, "broken", &m, &e), EX_PERM);
		assert_non_null(strstr(e.msg, "broken"));
	}
	jv_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(issue_vector, clean),
		cmocka_unit_test_setup(cache_split, clean),
		cmocka_unit_test_setup(no_split_is_5m, clean),
		cmocka_unit_test_setup(haiku_band, clean),
		cmocka_unit_test_setup(sonnet_long_context, clean),
		cmocka_unit_test_setup(batch_halves, clean),
		cmocka_unit_test_setup(aliases_and_dates, clean),
		cmocka_unit_test_setup_teardown(overrides, clean, clean),
		cmocka_unit_test_setup_teardown(override_malformed, clean, clean),
		cmocka_unit_test_setup(usage_validation, clean),
		cmocka_unit_test_setup(rounds_up, clean),
		cmocka_unit_test_setup(huge_usage, clean),
		cmocka_unit_test_setup(worst_case, clean),
		cmocka_unit_test_setup(hold_counted, clean),
		cmocka_unit_test(parse_usd),
		cmocka_unit_test(usd_numbers),
		cmocka_unit_test_setup_teardown(load_errors, dir_setup, dir_teardown),
	};

	unit_datadir();
	return cmocka_run_group_tests_name("pricing", tests, load, unload) != 0;
}

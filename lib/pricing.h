/* pricing: exact model cost from token usage, cache tokens included. */
#ifndef PRICING_H
#define PRICING_H

#include <stddef.h>
#include <stdint.h>
#include <jv.h>

#include "base/err.h"

/* Rates in micro-dollars per million tokens, so 6.25 $/MTok is 6250000 and a
 * token count times a rate is an exact amount in pico-dollars. */
struct price {
	int64_t input, output, cache_5m, cache_1h, cache_read;
};

struct pricing_model {
	char id[128];
	struct price base;
	int has_band;
	int64_t band_above;  /* prompt tokens (input + cache) above which... */
	struct price band;   /* ...every token of the request takes these rates */
	int64_t batch_ppm;   /* batch discount, parts per million */
	int overridden;      /* AGENT_COST_PER_MTOK_* applied */
};

struct usage {
	int64_t input, output, cache_5m, cache_1h, cache_read;
};

struct cost {
	int64_t micros;        /* total, rounded up to the micro-dollar */
	int64_t pico[5];       /* input, output, cache_5m, cache_1h, cache_read
				* (each saturates at INT64_MAX; micros does not) */
	int band, batch;
};

/* Loads AGENT_PRICING_FILE or <datadir>/pricing.json into *table. */
int pricing_load(jv *table, struct err *e);

/* Finds `model` (an id, an alias, or either with a -YYYYMMDD suffix) in
 * table (borrowed) and applies AGENT_COST_PER_MTOK_INPUT/OUTPUT.  An unknown
 * model without both overrides is EX_PERM: never priced at zero. */
int pricing_find(jv table, const char *model, struct pricing_model *m, struct err *e);

/* Reads an API usage object (borrowed): input_tokens, output_tokens,
 * cache_creation_input_tokens, cache_read_input_tokens, cache_creation split.
 * Counts must be non-negative integers (EX_DATA otherwise).  Sets *batch
 * when service_tier is "batch" (batch may be NULL). */
int pricing_usage(jv u, struct usage *out, int *batch, struct err *e);

void pricing_cost(const struct pricing_model *m, const struct usage *u, int batch,
		  struct cost *c);

/* The breakdown as JSON: model, tokens, rates, cost per class, total. */
jv pricing_cost_json(const struct pricing_model *m, const struct usage *u,
		     const struct cost *c);

/* Upper bound of one call's cost: `input_upper` input tokens all at the
 * dearest input-side rate in play (cache writes at 1 h when cache_1h), plus
 * `max_output` output tokens, at the band rates when the prompt may reach
 * the band. */
int64_t pricing_worst_case(const struct pricing_model *m, int64_t input_upper,
			   int64_t max_output, int cache_1h);

/* The hold of one call whose prompt was counted (count_tokens): of the
 * `counted` input tokens, the first `cached` (the prompt up to the
 * request's last cache_control breakpoint, which the first call writes) at
 * the cache-write rate (1 h when cache_1h, else 5 min) and the rest at the
 * input rate, plus `max_output` output tokens; all at the band rates when
 * `counted` is in the band.  cached is clamped to 0..counted.  Never below
 * what the call can be billed when the count is right: reads cost less
 * than input, and nothing past the breakpoint is written. */
int64_t pricing_hold_counted(const struct pricing_model *m, int64_t counted, int64_t cached,
			     int64_t max_output, int cache_1h);

/* Micro-dollars to a JSON number of dollars (exact to 6 places). */
jv pricing_usd(int64_t micros);

/* Micro-dollars for people, as every view prints money: "$0.25", "$0.04"
 * (to the cent, half up), "<$0.01" for less than half a cent but not zero.
 * Ledgers (budget history, cost reports, a call's line) print six places. */
void pricing_format_usd(int64_t micros, char *buf, size_t size);

/* A dollar figure read back from JSON, to micro-dollars (rounded). */
int64_t pricing_micros(double usd);

/* Parses a dollar amount ("5", "0.137500"): at most 6 decimals, >= 0,
 * < 1e9.  Returns 0 or -1. */
int pricing_parse_usd(const char *s, int64_t *micros);

#endif

/* fuzz pricing: pricing.json as pricing_load reads it (a file in a scratch
 * directory), every model of it found and priced for a usage the table may
 * carry (under "fuzz_usage") and for the largest counts there are; a price
 * must never be negative, and a call's hold never below its cost. */
#include <fcntl.h>

#include "base/json.h"
#include "pricing.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char file[PATH_MAX + 16];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	snprintf(file, sizeof file, "%s/pricing.json", fuzz_scratch());
	setenv("AGENT_PRICING_FILE", file, 1);
	unsetenv("AGENT_COST_PER_MTOK_INPUT");
	unsetenv("AGENT_COST_PER_MTOK_OUTPUT");
	return 0;
}

static void price(jv table, const char *model, jv usage)
{
	static const struct usage most = { 1000000000000LL, 1000000000000LL, 1000000000000LL,
					   1000000000000LL, 1000000000000LL };
	struct pricing_model m;
	struct usage u;
	struct cost c;
	struct err e = ERR_INIT;
	int batch = 0;

	if (pricing_find(table, model, &m, &e))
		return;
	for (int i = 0; i < 2; i++) {
		if (i == 0) {
			if (pricing_usage(usage, &u, &batch, &e))
				continue;
		} else {
			u = most;
			batch = 1;
		}
		pricing_cost(&m, &u, batch, &c);
		FUZZ_CHECK(c.micros >= 0, "%s: a negative cost", model);
		jv_free(pricing_cost_json(&m, &u, &c));
		/* reads at most the input rate, as every real table has it */
		if (!batch && u.cache_1h == 0 && m.base.cache_read <= m.base.input &&
		    m.band.cache_read <= m.band.input)
			FUZZ_CHECK(pricing_worst_case(&m, u.input + u.cache_5m + u.cache_read, u.output, 0) >= c.micros,
				   "%s: the worst case is below the cost", model);
	}
	FUZZ_CHECK(pricing_worst_case(&m, most.input, most.output, 1) >= 0, "%s: a negative worst case", model);
	FUZZ_CHECK(pricing_hold_counted(&m, most.input, most.input / 2, most.output, 0) >= 0,
		   "%s: a negative hold", model);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = ERR_INIT;
	jv table, models, usage;
	int fd, n;

	if (size > (256u << 10))
		return 0;
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0 && write(fd, data, size) == (ssize_t)size && close(fd) == 0, "cannot write %s", file);
	if (pricing_load(&table, &e))
		return 0;
	usage = json_get(jv_copy(table), "fuzz_usage");
	models = json_get(jv_copy(table), "models");
	n = jv_array_length(jv_copy(models));
	for (int i = 0; i < n && i < 8; i++) {
		jv ent = jv_array_get(jv_copy(models), i);
		char *id = json_string(ent, "id");

		jv_free(ent);
		if (id) {
			price(table, id, usage);
			free(id);
		}
	}
	price(table, "claude-sonnet-4-5-20250929", usage);
	jv_free(models);
	jv_free(usage);
	jv_free(table);
	return 0;
}

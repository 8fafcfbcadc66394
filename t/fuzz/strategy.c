/* fuzz strategy: strategy YAML as the platform simulator reads it
 * (sim/sim_strategy.c, as yaml.safe_load types it) and checks it; and every
 * value it reads written back by lib/strategy.c (what save_strategy_config
 * writes) must read back the same. */
#include "base/json.h"
#include "strategy.h"
#include "sim/sim_int.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[512], *yaml;
	jv cfg, back, errs;

	if (size > (64u << 10))
		return 0;
	cfg = sim_strategy_yaml((const char *)data, size);
	if (!jv_is_valid(cfg)) {
		jv_free(cfg);
		return 0;
	}
	/* the platform checks a mapping (sim_strategy_load refuses the rest),
	 * and builds the engines of one the checks accept */
	if (jv_get_kind(cfg) == JV_KIND_OBJECT) {
		(void)sim_strategy_is_v3(cfg);
		errs = sim_strategy_check(cfg);
		FUZZ_CHECK(jv_get_kind(errs) == JV_KIND_ARRAY, "sim_strategy_check gave no array");
		if (jv_array_length(jv_copy(errs)) == 0)
			(void)sim_strategy_runtime(cfg, msg, sizeof msg);
		jv_free(errs);
	}
	yaml = strategy_yaml(cfg);
	if (yaml) {
		back = sim_strategy_yaml(yaml, strlen(yaml));
		FUZZ_CHECK(jv_is_valid(back), "strategy_yaml wrote what does not read back:\n%s", yaml);
		FUZZ_CHECK(fuzz_same(cfg, back), "strategy_yaml wrote what reads back otherwise:\n%s", yaml);
		jv_free(back);
		free(yaml);
	}
	jv_free(cfg);
	return 0;
}

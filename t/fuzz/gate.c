/* fuzz gate: gate input and rules.  The first line of an input is a --set
 * assignment (gate_set); the rest a result, judged by the training and
 * backtest gates of share/gates and by a rule that hands the judge
 * whatever checks the input carries (t/fuzz/gate_echo.jq). */
#include "base/json.h"
#include "gate.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct gate gates[3];

static void done(void)
{
	for (int i = 0; i < 3; i++)
		gate_release(&gates[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char echo[PATH_MAX + 32];
	const char *specs[3] = { "training", "backtest", echo };
	struct err e = ERR_INIT;

	fuzz_datadir();
	fuzz_tree("t/fuzz/gate_echo.jq", echo, sizeof echo);
	for (int i = 0; i < 3; i++)
		FUZZ_CHECK(gate_init(&gates[i], specs[i], &e) == 0 && gate_compile(&gates[i], &e) == 0,
			   "gate %s: %s", specs[i], e.msg);
	atexit(done);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *nl = memchr(s, '\n', size);
	struct err e = ERR_INIT;
	struct gate g;
	jv result, verdict;
	char *set;

	if (size > (256u << 10) || !nl)
		return 0;
	set = strndup(s, (size_t)(nl - s));
	FUZZ_CHECK(set, "out of memory");
	FUZZ_CHECK(gate_init(&g, "fuzz.jq", &e) == 0, "gate_init: %s", e.msg);
	if (gate_set(&g, set, &e) == 0) {
		FUZZ_CHECK(strchr(set, '='), "gate_set took '%s'", set);
		FUZZ_CHECK(jv_object_length(jv_copy(g.set)) == 1, "gate_set set nothing");
	}
	gate_release(&g);
	free(set);
	if (json_parse(nl + 1, size - (size_t)(nl + 1 - s), &result, &e))
		return 0;
	for (int i = 0; i < 3; i++) {
		int rc = gate_eval(&gates[i], jv_copy(result), &verdict, &e);

		FUZZ_CHECK(rc == 0 || rc == EX_DATA || rc == EX_PERM, "gate_eval returned %d", rc);
		if (rc == 0) {
			FUZZ_CHECK(json_kind_at(verdict, "passed") == JV_KIND_TRUE ||
				   json_kind_at(verdict, "passed") == JV_KIND_FALSE, "a verdict without passed");
			FUZZ_CHECK(json_kind_at(verdict, "reason") == JV_KIND_STRING, "a verdict without a reason");
			jv_free(verdict);
		}
	}
	jv_free(result);
	return 0;
}

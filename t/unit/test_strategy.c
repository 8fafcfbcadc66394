/* test_strategy: the YAML strategy_yaml writes for a save. */
#include "unit.h"
#include "strategy.h"

/* fuzz (t/fuzz/strategy.c): a string with a NUL was cut there, key or value */
static void yaml_keeps_nul(void **state)
{
	jv v;
	char *y;
	struct err e = ERR_INIT;

	{
		const char *t = "{\"a\\u0000b\":\"x\\u0000y\",\"plain\":\"ok\"}";

		assert_int_equal(json_parse(t, strlen(t), &v, &e), 0);
	}
	y = strategy_yaml(v);
	jv_free(v);
	assert_non_null(y);
	assert_non_null(strstr(y, "\"a\\0b\": \"x\\0y\""));
	assert_non_null(strstr(y, "plain: ok"));
	free(y);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(yaml_keeps_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

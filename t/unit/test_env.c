/* test_env: settings from the environment; the environment of a child that
 * calls no API. */
#include "unit.h"
#include "base/env.h"

static int clean(void **state)
{
	unit_clean_env();
	return 0;
}

static int has(char **env, const char *var)
{
	for (; *env; env++)
		if (strcmp(*env, var) == 0)
			return 1;
	return 0;
}

static int named(char **env, const char *name)
{
	size_t n = strlen(name);

	for (; *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return 1;
	return 0;
}

static void without_secrets(void **state)
{
	char **env;

	setenv("ANTHROPIC_API_KEY", "sk-ant-api03-x", 1);
	setenv("ANTHROPIC_API_KEY_FILE", "/etc/agent/anthropic_api_key", 1);
	setenv("ANTHROPIC_AUTH_TOKEN", "tok", 1);
	setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-x", 1);
	setenv("ANTHROPIC_ADMIN_KEY_FILE", "/etc/agent/anthropic_admin_key", 1);
	setenv("ANTHROPIC_API_KEY_X", "kept", 1);      /* a longer name is another variable */
	setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1", 1);
	setenv("TRACEPARENT", "00-old", 1);
	env = env_without_secrets("TRACEPARENT=00-new");
	assert_non_null(env);
	assert_false(named(env, "ANTHROPIC_API_KEY"));
	assert_false(named(env, "ANTHROPIC_API_KEY_FILE"));
	assert_false(named(env, "ANTHROPIC_AUTH_TOKEN"));
	assert_false(named(env, "ANTHROPIC_ADMIN_KEY"));
	assert_false(named(env, "ANTHROPIC_ADMIN_KEY_FILE"));
	assert_true(has(env, "ANTHROPIC_API_KEY_X=kept"));
	assert_true(has(env, "ANTHROPIC_BASE_URL=http://127.0.0.1:1"));
	/* extra replaces its name, once */
	assert_true(has(env, "TRACEPARENT=00-new"));
	assert_false(has(env, "TRACEPARENT=00-old"));
	free(env);
	/* the process's own environment is untouched */
	assert_string_equal(getenv("ANTHROPIC_API_KEY"), "sk-ant-api03-x");
	env = env_without_secrets(NULL);
	assert_non_null(env);
	assert_true(has(env, "TRACEPARENT=00-old"));
	assert_false(named(env, "ANTHROPIC_ADMIN_KEY"));
	free(env);
	unsetenv("ANTHROPIC_API_KEY");
	unsetenv("ANTHROPIC_API_KEY_FILE");
	unsetenv("ANTHROPIC_AUTH_TOKEN");
	unsetenv("ANTHROPIC_ADMIN_KEY");
	unsetenv("ANTHROPIC_ADMIN_KEY_FILE");
	unsetenv("ANTHROPIC_API_KEY_X");
	unsetenv("ANTHROPIC_BASE_URL");
	unsetenv("TRACEPARENT");
}

static void int_and_flag(void **state)
{
	struct err e = ERR_INIT;
	int v = -1;

	setenv("AGENT_TEST_N", "12", 1);
	assert_int_equal(env_int("AGENT_TEST_N", 3, 0, 100, &v, &e), 0);
	assert_int_equal(v, 12);
	setenv("AGENT_TEST_N", "x", 1);
	assert_int_equal(env_int("AGENT_TEST_N", 3, 0, 100, &v, &e), EX_PERM);
	assert_string_equal(e.msg, "AGENT_TEST_N: not a whole number from 0 to 100: 'x'");
	setenv("AGENT_TEST_N", "on", 1);
	assert_int_equal(env_flag("AGENT_TEST_N", 0, &v, &e), 0);
	assert_int_equal(v, 1);
	unsetenv("AGENT_TEST_N");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(without_secrets, clean),
		cmocka_unit_test_setup(int_and_flag, clean),
	};

	return cmocka_run_group_tests_name("env", tests, NULL, NULL) != 0;
}

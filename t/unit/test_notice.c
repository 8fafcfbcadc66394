/* test_notice: the notify settings and the soft budget thresholds: defaults,
 * every accepted form, and each malformed one refused with its one line. */
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "notice.h"

static const char *const vars[] = {
	"AGENT_NOTIFY_COMMAND", "AGENT_NOTIFY_URL", "AGENT_NOTIFY_TIMEOUT_MS", "AGENT_NOTIFY_ON",
	"AGENT_NOTIFY_OUTCOMES", "AGENT_NOTIFY_BACKEND_TICKS", "AGENT_BUDGET_WARN_PERCENT", NULL
};

static int clean(void **state)
{
	unit_clean_env();
	for (const char *const *v = vars; *v; v++)
		unsetenv(*v);
	return 0;
}

static void defaults(void **state)
{
	struct notice_cfg c;
	struct err e = ERR_INIT;

	assert_int_equal(notice_config(&c, "a1", &e), 0);
	assert_string_equal(c.agent, "a1");
	assert_null(c.command);
	assert_null(c.url);
	assert_int_equal(c.timeout_ms, 2000);
	assert_int_equal(c.backend_ticks, 2);
	assert_true(c.kinds == ~0u);
	assert_string_equal(c.outcomes, "");
	assert_int_equal(c.nwarn, 3);
	assert_int_equal(c.warn[0], 50);
	assert_int_equal(c.warn[1], 80);
	assert_int_equal(c.warn[2], 90);
}

static void accepted(void **state)
{
	struct notice_cfg c;
	struct err e = ERR_INIT;

	setenv("AGENT_NOTIFY_COMMAND", "logger -t agent", 1);
	setenv("AGENT_NOTIFY_URL", "https://hooks.example/services/T/B/X", 1);
	setenv("AGENT_NOTIFY_TIMEOUT_MS", "1", 1);
	setenv("AGENT_NOTIFY_ON", "breaker_open,budget_exhausted", 1);
	setenv("AGENT_NOTIFY_OUTCOMES", "success,failed_design", 1);
	setenv("AGENT_BUDGET_WARN_PERCENT", "75", 1);
	assert_int_equal(notice_config(&c, "a1", &e), 0);
	assert_string_equal(c.command, "logger -t agent");
	assert_int_equal(c.timeout_ms, 1);
	assert_int_equal(c.kinds, (1u << 2) | (1u << 4));
	assert_string_equal(c.outcomes, ",success,failed_design,");
	assert_int_equal(c.nwarn, 1);
	assert_int_equal(c.warn[0], 75);
	setenv("AGENT_NOTIFY_ON", "none", 1);
	setenv("AGENT_NOTIFY_URL", "", 1);  /* empty: none */
	assert_int_equal(notice_config(&c, "a1", &e), 0);
	assert_int_equal(c.kinds, 0);
	assert_null(c.url);
}

static void refused(void **state)
{
	static const struct { const char *var, *value, *msg; } bad[] = {
		{ "AGENT_NOTIFY_URL", "ftp://x", "AGENT_NOTIFY_URL: not an http:// or https:// URL: 'ftp://x'" },
		{ "AGENT_NOTIFY_TIMEOUT_MS", "0", "AGENT_NOTIFY_TIMEOUT_MS: not a whole number from 1 to 60000: '0'" },
		{ "AGENT_NOTIFY_TIMEOUT_MS", "2s", "AGENT_NOTIFY_TIMEOUT_MS: not a whole number from 1 to 60000: '2s'" },
		{ "AGENT_NOTIFY_BACKEND_TICKS", "-1", "AGENT_NOTIFY_BACKEND_TICKS: not a whole number from 1 to 1000: '-1'" },
		{ "AGENT_NOTIFY_ON", "budget_warning,everything", NULL },
		{ "AGENT_NOTIFY_OUTCOMES", "success;rm -rf /", NULL },
		{ "AGENT_BUDGET_WARN_PERCENT", "80,50", NULL },
		{ "AGENT_BUDGET_WARN_PERCENT", "0", NULL },
		{ "AGENT_BUDGET_WARN_PERCENT", "101", NULL },
		{ "AGENT_BUDGET_WARN_PERCENT", "50,", NULL },
		{ "AGENT_BUDGET_WARN_PERCENT", "10,20,30,40,50,60,70,80,90", NULL },
		{ "AGENT_BUDGET_WARN_PERCENT", "half", NULL },
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct notice_cfg c;
		struct err e = ERR_INIT;

		clean(state);
		setenv(bad[i].var, bad[i].value, 1);
		if (notice_config(&c, "a1", &e) != EX_PERM)
			fail_msg("%s=%s: accepted", bad[i].var, bad[i].value);
		assert_int_equal(e.code, EX_PERM);
		assert_null(strchr(e.msg, '\n'));
		assert_true(strncmp(e.msg, bad[i].var, strlen(bad[i].var)) == 0);
		if (bad[i].msg)
			assert_string_equal(e.msg, bad[i].msg);
	}
}

static void warn_levels(void **state)
{
	int w[NOTICE_WARN_MAX];
	struct err e = ERR_INIT;

	setenv("AGENT_BUDGET_WARN_PERCENT", "1,2,3,4,5,6,7,100", 1);
	assert_int_equal(notice_warn_levels(w, &e), 8);
	assert_int_equal(w[7], 100);
	setenv("AGENT_BUDGET_WARN_PERCENT", "", 1);
	assert_int_equal(notice_warn_levels(w, &e), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(defaults, clean),
		cmocka_unit_test_setup(accepted, clean),
		cmocka_unit_test_setup_teardown(refused, clean, clean),
		cmocka_unit_test_setup_teardown(warn_levels, clean, clean),
	};

	return cmocka_run_group_tests_name("notice", tests, NULL, NULL) != 0;
}

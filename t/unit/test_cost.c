/* test_cost: the ends of a report's range, the ISO week, the groupings' names. */
#include <string.h>

#include "unit.h"
#include "cost.h"

#define NOW 1795521600LL  /* 2026-11-24T12:00:00Z */
#define DAY 86400LL
#define TODAY (NOW - 12 * 3600)

static int64_t when(const char *s, int until)
{
	int64_t v = -42;

	if (cost_when_parse(s, NOW, until, &v) != 0)
		fail_msg("'%s' refused", s);
	return v;
}

static void ages_and_now(void **state)
{
	assert_int_equal(when("now", 0), NOW);
	assert_int_equal(when("24h", 0), NOW - DAY);
	assert_int_equal(when("7d", 0), NOW - 7 * DAY);
	assert_int_equal(when("4w", 1), NOW - 28 * DAY);
	assert_int_equal(when("0d", 0), NOW);
	assert_int_equal(when("999999h", 0), NOW - 999999LL * 3600);
}

static void days_and_times(void **state)
{
	assert_int_equal(when("2026-11-24", 0), TODAY);
	/* a day as the end of a range is included whole */
	assert_int_equal(when("2026-11-24", 1), TODAY + DAY);
	assert_int_equal(when("2026-11-24T12:00:00Z", 0), NOW);
	assert_int_equal(when("2026-11-24T13:00:00+01:00", 1), NOW);
	/* a fraction: the next second is the first one in (or out) */
	assert_int_equal(when("2026-11-24T12:00:00.000001Z", 0), NOW + 1);
	assert_int_equal(when("2026-11-24T12:00:00.000Z", 1), NOW);
	assert_int_equal(when("1969-12-31T23:59:59.5Z", 0), 0);
}

static void malformed(void **state)
{
	static const char *const bad[] = { "", "garbage", "7", "d", "7y", "-7d", "7.5d", "+7d",
					   "12345678d", "2026-13-01", "2026-02-30", "2026-11-24T12:00:00",
					   "2026-11-24T25:00:00Z", "Now", " 7d", "7d ", NULL };
	int64_t v = -42;

	for (const char *const *b = bad; *b; b++) {
		if (cost_when_parse(*b, NOW, 0, &v) != -1)
			fail_msg("'%s' taken as %lld", *b, (long long)v);
		assert_int_equal(v, -42);
	}
	assert_int_equal(cost_when_parse(NULL, NOW, 0, &v), -1);
}

static void ranges(void **state)
{
	struct err e = ERR_INIT;
	int64_t a = 0, b = 0;

	/* the default: today and the six days before, as agent-budget history */
	assert_int_equal(cost_range(NULL, NULL, NOW, &a, &b, &e), 0);
	assert_int_equal(a, TODAY - 6 * DAY);
	assert_int_equal(b, TODAY + DAY);
	/* only --until: the seven days before it */
	assert_int_equal(cost_range(NULL, "2026-11-10", NOW, &a, &b, &e), 0);
	assert_int_equal(b - a, 7 * DAY);
	assert_int_equal(cost_range("7d", "now", NOW, &a, &b, &e), 0);
	assert_int_equal(a, NOW - 7 * DAY);
	assert_int_equal(b, NOW);
	assert_int_equal(cost_range("garbage", NULL, NOW, &a, &b, &e), EX_USAGE);
	assert_non_null(strstr(e.msg, "--since"));
	assert_non_null(strstr(e.msg, "'garbage'"));
	err_clear(&e);
	assert_int_equal(cost_range(NULL, "x", NOW, &a, &b, &e), EX_USAGE);
	assert_non_null(strstr(e.msg, "--until"));
	err_clear(&e);
	/* empty or backwards: refused, with the instants it compared */
	assert_int_equal(cost_range("now", "now", NOW, &a, &b, &e), EX_USAGE);
	err_clear(&e);
	assert_int_equal(cost_range("2026-11-25", "2026-11-24", NOW, &a, &b, &e), EX_USAGE);
	assert_string_equal(e.msg, "an empty range: --since 2026-11-25T00:00:00Z is not before "
				   "--until 2026-11-25T00:00:00Z");
}

static void iso_weeks(void **state)
{
	static const char *const cases[][2] = {
		{ "2026-11-23", "2026-W48" },  /* a Monday */
		{ "2026-11-22", "2026-W47" },  /* the Sunday before */
		{ "2026-01-01", "2026-W01" },  /* a Thursday: week 1 of its own year */
		{ "2027-01-01", "2026-W53" },  /* a Friday: the last week of the year before */
		{ "2024-12-30", "2025-W01" },  /* a Monday whose Thursday is in 2025 */
		{ "2020-12-31", "2020-W53" },
		{ "1970-01-01", "1970-W01" },
	};
	char buf[16];

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		assert_non_null(cost_iso_week(cases[i][0], buf));
		assert_string_equal(buf, cases[i][1]);
	}
	assert_null(cost_iso_week("2026-11", buf));
	assert_null(cost_iso_week(NULL, buf));
}

static void groupings(void **state)
{
	static const char *const names[] = { "day", "week", "month", "model", "kind", "session" };
	enum cost_by by = COST_DAY;

	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(cost_by_parse(names[i], &by), 0);
		assert_string_equal(cost_by_name(by), names[i]);
	}
	by = COST_KIND;
	assert_int_equal(cost_by_parse("year", &by), -1);
	assert_int_equal(cost_by_parse("Day", &by), -1);
	assert_int_equal(cost_by_parse(NULL, &by), -1);
	assert_int_equal(by, COST_KIND);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ages_and_now),
		cmocka_unit_test(days_and_times),
		cmocka_unit_test(malformed),
		cmocka_unit_test(ranges),
		cmocka_unit_test(iso_weeks),
		cmocka_unit_test(groupings),
	};

	return cmocka_run_group_tests_name("cost", tests, NULL, NULL) != 0;
}

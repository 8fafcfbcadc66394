/* test_clock: AGENT_NOW, RFC 3339 parsing and formatting, UTC days. */
#include <time.h>

#include "unit.h"
#include "base/clock.h"

#define T0 1795490400LL  /* 2026-11-24T03:20:00Z */
#define US 1000000LL

static int clean(void **state)
{
	unit_clean_env();
	return 0;
}

static int64_t now_with(const char *agent_now)
{
	struct err e = ERR_INIT;
	int64_t us = -1;

	setenv("AGENT_NOW", agent_now, 1);
	if (clock_now(&us, &e) != 0)
		fail_msg("AGENT_NOW=%s refused: %s", agent_now, e.msg);
	return us;
}

static void now_utc_z(void **state)
{
	struct err e = ERR_INIT;
	int64_t s = 0;

	assert_int_equal(now_with("2026-11-24T03:20:00Z"), T0 * US);
	assert_int_equal(now_with("2026-11-24t03:20:00z"), T0 * US);
	assert_int_equal(now_with("2026-11-24 03:20:00Z"), T0 * US);
	assert_int_equal(now_with("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(clock_now_s(&s, &e), 0);
	assert_int_equal(s, 0);
	setenv("AGENT_NOW", "2026-11-24T03:20:00.999999Z", 1);
	assert_int_equal(clock_now_s(&s, &e), 0);
	assert_int_equal(s, T0);
}

static void now_offsets(void **state)
{
	assert_int_equal(now_with("2026-11-24T05:20:00+02:00"), T0 * US);
	assert_int_equal(now_with("2026-11-23T21:50:00-05:30"), T0 * US);
	assert_int_equal(now_with("2026-11-24T03:20:00+00:00"), T0 * US);
	assert_int_equal(now_with("2026-11-24T03:20:00-00:00"), T0 * US);
	/* an offset that crosses midnight into the previous UTC day */
	assert_int_equal(now_with("2026-11-24T01:00:00+03:00"), (T0 - 19200) * US);
}

static void now_fractions(void **state)
{
	assert_int_equal(now_with("2026-11-24T03:20:00.5Z"), T0 * US + 500000);
	assert_int_equal(now_with("2026-11-24T03:20:00.123Z"), T0 * US + 123000);
	assert_int_equal(now_with("2026-11-24T03:20:00.000001Z"), T0 * US + 1);
	/* past microseconds the digits are dropped, not rounded */
	assert_int_equal(now_with("2026-11-24T03:20:00.123456789Z"), T0 * US + 123456);
	assert_int_equal(now_with("2026-11-24T05:20:00.25+02:00"), T0 * US + 250000);
}

static void now_malformed(void **state)
{
	static const char *const bad[] = {
		"2026-11-24",                  /* a day is not an instant */
		"2026-11-24T03:20:00",         /* no zone */
		"2026-11-24T03:20Z",
		"2026-13-01T00:00:00Z",
		"2026-00-10T00:00:00Z",
		"2026-11-32T00:00:00Z",
		"2026-11-24T24:00:00Z",
		"2026-11-24T03:60:00Z",
		"2026-11-24T03:20:61Z",
		"2026-11-24T03:20:00.Z",
		"2026-11-24T03:20:00+0200",
		"2026-11-24T03:20:00+02",
		"2026-11-24T03:20:00Zjunk",
		"2026/11/24T03:20:00Z",
		"tomorrow",
		"now",
		" 2026-11-24T03:20:00Z",
		"2026-11-24X03:20:00Z",
		"2026-02-30T00:00:00Z",        /* no such day */
		"2026-02-29T00:00:00Z",        /* not a leap year */
		"2026-04-31T00:00:00Z",
		"2026-11-24T03:20:00+24:00",   /* no such offset */
		"2026-11-24T03:20:00+02:60",
	};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct err e = ERR_INIT;
		int64_t us = 12345;
		int rc;

		setenv("AGENT_NOW", bad[i], 1);
		rc = clock_now(&us, &e);
		if (rc == 0)
			fail_msg("AGENT_NOW=%s accepted as %lld", bad[i], (long long)us);
		assert_int_equal(rc, e.code);
		assert_int_equal(rc, EX_PERM);
		assert_non_null(strstr(e.msg, "AGENT_NOW"));
		assert_int_equal(clock_now_s(&us, &e), EX_PERM);
		assert_int_equal(clock_parse(bad[i], &us), -1);
	}
}

static void now_leap_day(void **state)
{
	int64_t us;

	assert_int_equal(clock_parse("2024-02-29T12:00:00Z", &us), 0);
	assert_int_equal(us, 1709208000LL * US);
	assert_int_equal(clock_parse("2000-02-29T00:00:00Z", &us), 0);
	assert_int_equal(clock_parse("1900-02-29T00:00:00Z", &us), -1);
	assert_int_equal(clock_parse("2026-12-31T23:59:59Z", &us), 0);
}

static void now_real_clock(void **state)
{
	struct err e = ERR_INIT;
	int64_t us = 0, s = 0;
	time_t before = time(NULL), after;

	unsetenv("AGENT_NOW");
	assert_int_equal(clock_now(&us, &e), 0);
	assert_int_equal(clock_now_s(&s, &e), 0);
	after = time(NULL);
	assert_in_range(us / US, before, after);
	assert_in_range(s, before, after);
	/* empty is unset */
	setenv("AGENT_NOW", "", 1);
	assert_int_equal(clock_now_s(&s, &e), 0);
	assert_in_range(s, before, time(NULL));
}

static void mono(void **state)
{
	int64_t a = clock_mono_us(), b;
	struct timespec ts = { 0, 2000000 };

	nanosleep(&ts, NULL);
	b = clock_mono_us();
	assert_true(b - a >= 2000);
	assert_true(b - a < 10 * US);
	/* AGENT_NOW never moves the stopwatch */
	setenv("AGENT_NOW", "1970-01-01T00:00:00Z", 1);
	assert_true(clock_mono_us() >= b);
}

static void format_round_trip(void **state)
{
	static const int64_t times[] = { 0, T0, T0 + 86399, 951782400 /* 2000-02-29 */,
					 4102444799LL /* 2099-12-31T23:59:59Z */ };
	char buf[32], day[11];
	int64_t us, s;

	assert_string_equal(clock_format(T0, buf), "2026-11-24T03:20:00Z");
	assert_string_equal(clock_format_ms(T0 * US + 123456, buf), "2026-11-24T03:20:00.123Z");
	assert_string_equal(clock_format_ms(T0 * US, buf), "2026-11-24T03:20:00.000Z");
	assert_string_equal(clock_day(T0, day), "2026-11-24");
	assert_string_equal(clock_day(T0 + 86400 - 3 * 3600 - 1201, day), "2026-11-24");
	assert_string_equal(clock_day(T0 + 86400 - 3 * 3600 - 1200, day), "2026-11-25");
	for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
		assert_int_equal(clock_parse(clock_format(times[i], buf), &us), 0);
		assert_int_equal(us, times[i] * US);
		assert_int_equal(clock_parse(clock_format_ms(times[i] * US + 7000, buf), &us), 0);
		assert_int_equal(us, times[i] * US + 7000);
		assert_int_equal(clock_parse_day(clock_day(times[i], day), &s), 0);
		assert_int_equal(s, times[i] - times[i] % 86400);
	}
}

static void parse_day(void **state)
{
	static const char *const bad[] = {
		"", "2026-11-2", "2026-11-240", "2026-1-24", "2026-11-24T", "2026/11/24",
		"2026-13-01", "2026-11-00", "2026-02-30", "yyyy-mm-dd", "2026-11-24 ",
	};
	int64_t s = -1;

	assert_int_equal(clock_parse_day("2026-11-24", &s), 0);
	assert_int_equal(s, 1795478400LL);
	assert_int_equal(clock_parse_day("1970-01-01", &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(clock_parse_day("2024-02-29", &s), 0);
	assert_int_equal(s, 1709164800LL);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		s = 777;
		if (clock_parse_day(bad[i], &s) == 0)
			fail_msg("clock_parse_day accepted '%s' as %lld", bad[i], (long long)s);
		assert_int_equal(s, 777);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(now_utc_z, clean),
		cmocka_unit_test_setup(now_offsets, clean),
		cmocka_unit_test_setup(now_fractions, clean),
		cmocka_unit_test_setup(now_malformed, clean),
		cmocka_unit_test_setup(now_leap_day, clean),
		cmocka_unit_test_setup(now_real_clock, clean),
		cmocka_unit_test_setup(mono, clean),
		cmocka_unit_test_setup(format_round_trip, clean),
		cmocka_unit_test_setup(parse_day, clean),
	};

	unit_datadir();
	return cmocka_run_group_tests_name("clock", tests, NULL, clean) != 0;
}

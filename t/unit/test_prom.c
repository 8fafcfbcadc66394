/* test_prom: the text exposition writer: names, escaping, numbers, samples,
 * histograms, and out of memory. */
#include <math.h>

#include "unit.h"
#include "obs/prom.h"

static void names(void **state)
{
	(void)state;
	assert_true(prom_name_ok("agent_cycles_total", 0));
	assert_true(prom_name_ok("a:b_c9", 0));
	assert_true(prom_name_ok("_x", 0));
	assert_false(prom_name_ok("9x", 0));
	assert_false(prom_name_ok("a-b", 0));
	assert_false(prom_name_ok("", 0));
	assert_false(prom_name_ok(NULL, 0));
	/* labels: no colon, not reserved */
	assert_true(prom_name_ok("gen_ai_token_type", 1));
	assert_false(prom_name_ok("a:b", 1));
	assert_false(prom_name_ok("__name__", 1));
}

static const char *number(double v)
{
	static char buf[64];
	struct prom p = PROM_INIT;

	prom_number(&p, v);
	snprintf(buf, sizeof buf, "%s", prom_text(&p));
	prom_release(&p);
	return buf;
}

static void numbers(void **state)
{
	(void)state;
	assert_string_equal(number(0), "0");
	assert_string_equal(number(-0.0), "0");
	assert_string_equal(number(42), "42");
	assert_string_equal(number(-7), "-7");
	assert_string_equal(number(0.1), "0.1");
	assert_string_equal(number(0.01235), "0.01235");
	assert_string_equal(number(3.108), "3.108");
	assert_string_equal(number(1e20), "1e+20");
	assert_string_equal(number(1.0 / 3), "0.3333333333333333");
	assert_string_equal(number(67108864), "67108864");
	assert_string_equal(number(INFINITY), "+Inf");
	assert_string_equal(number(-INFINITY), "-Inf");
	assert_string_equal(number(NAN), "NaN");
	/* what is written reads back exactly */
	assert_true(strtod(number(0.1 + 0.2), NULL) == 0.1 + 0.2);
}

static void family_and_samples(void **state)
{
	struct prom p = PROM_INIT;
	const char *pairs[] = { "agent", "a\"b\\c\nd", "tool", "x", NULL };

	(void)state;
	prom_family(&p, "m_total", "counter", "Help with \\ and\nnewline \"quoted\".");
	prom_sample(&p, "m_total", NULL, pairs, "k=\"v\"", NULL, 3);
	prom_sample(&p, "m_total", NULL, NULL, NULL, NULL, 4);
	prom_sample(&p, "m_total", NULL, NULL, "", NULL, 5);
	prom_sample(&p, "h", "_bucket", NULL, NULL, "0.5", 1);
	assert_false(prom_failed(&p));
	/* HELP escapes backslash and newline, not quotes; label values all three */
	assert_string_equal(prom_text(&p),
			    "# HELP m_total Help with \\\\ and\\nnewline \"quoted\".\n"
			    "# TYPE m_total counter\n"
			    "m_total{agent=\"a\\\"b\\\\c\\nd\",tool=\"x\",k=\"v\"} 3\n"
			    "m_total 4\n"
			    "m_total 5\n"
			    "h_bucket{le=\"0.5\"} 1\n");
	prom_release(&p);
	assert_string_equal(prom_text(&p), "");
}

static void histogram(void **state)
{
	struct prom p = PROM_INIT;
	const double bounds[] = { 0.01, 0.1, 1 };
	const uint64_t counts[] = { 2, 0, 3, 1 };   /* the last: above every bound */
	const char *pairs[] = { "agent", "a", NULL };

	(void)state;
	prom_histogram(&p, "d_seconds", pairs, "tool=\"t\"", bounds, counts, 3, 4.25);
	assert_string_equal(prom_text(&p),
			    "d_seconds_bucket{agent=\"a\",tool=\"t\",le=\"0.01\"} 2\n"
			    "d_seconds_bucket{agent=\"a\",tool=\"t\",le=\"0.1\"} 2\n"
			    "d_seconds_bucket{agent=\"a\",tool=\"t\",le=\"1\"} 5\n"
			    "d_seconds_bucket{agent=\"a\",tool=\"t\",le=\"+Inf\"} 6\n"
			    "d_seconds_sum{agent=\"a\",tool=\"t\"} 4.25\n"
			    "d_seconds_count{agent=\"a\",tool=\"t\"} 6\n");
	prom_release(&p);
}

static void growth(void **state)
{
	struct prom p = PROM_INIT;

	(void)state;
	for (int i = 0; i < 10000; i++)
		prom_puts(&p, "0123456789");
	assert_false(prom_failed(&p));
	assert_int_equal(p.len, 100000);
	assert_int_equal(strlen(prom_text(&p)), 100000);
	prom_release(&p);
}

static void out_of_memory_is_sticky(void **state)
{
	struct prom p = PROM_INIT;

	(void)state;
	p.oom = 1;  /* as after a failed realloc */
	prom_puts(&p, "x");
	prom_family(&p, "m", "gauge", "h");
	assert_true(prom_failed(&p));
	assert_int_equal(p.len, 0);
	prom_release(&p);
	assert_false(prom_failed(&p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names),
		cmocka_unit_test(numbers),
		cmocka_unit_test(family_and_samples),
		cmocka_unit_test(histogram),
		cmocka_unit_test(growth),
		cmocka_unit_test(out_of_memory_is_sticky),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

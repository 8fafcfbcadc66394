/* test_events: the trace event scanner (JSON grammar corners, escapes,
 * UTF-8), label values, turn matching, the reader, and the cap. */
#include <sys/mman.h>

#include "unit.h"
#include "obs/events.h"
#include "obs/prom.h"

static struct events *new_events(size_t max_series)
{
	struct events *ev;
	struct err e = ERR_INIT;

	assert_int_equal(events_new(&ev, max_series, &e), 0);
	return ev;
}

/* The exposition of ev (malloc'd). */
static char *render(struct events *ev)
{
	struct prom p = PROM_INIT;
	struct err e = ERR_INIT;
	char *s;

	assert_int_equal(events_render(ev, "t", &p, &e), 0);
	s = strdup(prom_text(&p));
	prom_release(&p);
	return s;
}

static int line(struct events *ev, const char *s)
{
	return events_line(ev, s, strlen(s), NULL);
}

/* 1 when text has the line want. */
static int has(const char *text, const char *want)
{
	size_t n = strlen(want);

	for (const char *p = text; (p = strstr(p, want)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

static void well_formed_corners(void **state)
{
	struct events *ev = new_events(100);
	char *out;

	(void)state;
	assert_int_equal(line(ev, "{\"event\":\"route\",\"n\":[-0,1e5,1.5E-3,-2.25e+2,true,false,null,{},[]],"
				  "\"metadata\":{\"x\":{\"y\":[1,{\"z\":\"\\/\\b\\f\\r\\t\"}]},"
				  "\"selected_agent\":\"\\u0041\\ud83d\\ude00\"}}"), 0);
	assert_int_equal(line(ev, " \t{ \"event\" : \"route\" , \"metadata\" : { \"selected_agent\" : 7 } } \r"), 0);
	assert_int_equal(line(ev, "{\"event\":\"route\",\"metadata\":{\"selected_agent\":\"\\ud800x\\u0000\"}}"), 0);
	assert_int_equal(line(ev, "{\"event\":\"route\",\"metadata\":{\"selected_agent\":\"caf\xc3\xa9 \xff\"}}"), 0);
	assert_int_equal(line(ev, "   "), 0);  /* blank: no event */
	out = render(ev);
	assert_true(has(out, "t_agent_route_total{selected_agent=\"A\xf0\x9f\x98\x80\"} 1"));
	assert_true(has(out, "t_agent_route_total{selected_agent=\"7\"} 1"));
	/* a lone surrogate and a NUL become U+FFFD; so does a bad byte */
	assert_true(has(out, "t_agent_route_total{selected_agent=\"\xef\xbf\xbdx\xef\xbf\xbd\"} 1"));
	assert_true(has(out, "t_agent_route_total{selected_agent=\"caf\xc3\xa9 \xef\xbf\xbd\"} 1"));
	assert_true(has(out, "t_agent_events_total{event=\"route\"} 4"));
	assert_true(has(out, "t_agent_events_malformed_total 0"));
	free(out);
	events_free(ev);
}

static void malformed_corners(void **state)
{
	static const char *const bad[] = {
		"{\"event\":01}", "{\"event\":\"x\",\"n\":1.}", "{\"event\":\"x\",\"n\":.5}",
		"{\"event\":\"x\",\"n\":-}", "{\"event\":\"x\",\"n\":tru}", "{\"event\":\"x\",}",
		"{\"event\" \"x\"}", "{\"event\":\"x", "{\"event\":\"a\tb\"}", "{\"event\":\"\\x\"}",
		"{\"event\":\"\\u12\"}", "{\"event\":\"x\"}}", "{\"event\":\"x\"} 1", "\"x\"",
		"{\"event\":\"\"}", "{\"event\":null}", "{\"metadata\":{}}", "{\"event\":\"x\",\"metadata\":[]}",
		"{\"event\":\"x\",\"metadata\":1}", "{\"event\":\"x\",\"n\":[1,]}", "{,}", "{\"event\":\"x\",\"n\":[1 2]}",
		NULL
	};
	struct events *ev = new_events(100);
	struct events_stats st;
	char deep[1000], *out;
	int n = 0;
	const char *why = NULL;

	(void)state;
	for (const char *const *b = bad; *b; b++, n++)
		if (line(ev, *b) != 1)
			fail_msg("accepted: %s", *b);
	/* nesting deeper than the scanner goes: refused, not a crash */
	memset(deep, '[', sizeof deep);
	memcpy(deep, "{\"event\":\"x\",\"n\":", 17);
	assert_int_equal(events_line(ev, deep, sizeof deep, &why), 1);
	assert_non_null(why);
	events_stats(ev, &st);
	assert_int_equal(st.malformed, n + 1);
	assert_int_equal(st.events, 0);
	assert_int_equal(st.first_bad_line, 1);
	assert_string_equal(st.first_bad, "expected ',' or '}'");  /* 01: a 0, then junk */
	out = render(ev);
	assert_true(has(out, "t_agent_events_malformed_total 23"));
	free(out);
	events_free(ev);
}

static void long_values_are_cut(void **state)
{
	struct events *ev = new_events(100);
	char buf[1200], want[400], *out;

	(void)state;
	snprintf(buf, sizeof buf, "{\"event\":\"route\",\"metadata\":{\"selected_agent\":\"%0300d\"}}", 0);
	assert_int_equal(line(ev, buf), 0);
	snprintf(want, sizeof want, "t_agent_route_total{selected_agent=\"%0256d\"} 1", 0);
	out = render(ev);
	assert_true(has(out, want));
	free(out);
	events_free(ev);
}

static void turns_start_and_end(void **state)
{
	struct events *ev = new_events(100);
	char buf[300], *out;

	(void)state;
	/* 3000 turns open at once, ended in another order: the table's probe
	 * chains survive the deletions */
	for (int i = 0; i < 3000; i++) {
		snprintf(buf, sizeof buf, "{\"ts\":%d,\"event\":\"turn_start\",\"session_id\":\"s\",\"turn_id\":%d}",
			 1000 + i, i);
		assert_int_equal(line(ev, buf), 0);
	}
	for (int k = 0; k < 3000; k++) {
		int i = (k * 7) % 3000;

		snprintf(buf, sizeof buf,
			 "{\"ts\":%d,\"event\":\"Turn.End\",\"session_id\":\"s\",\"turn_id\":%d,\"metadata\":{\"agent\":\"a\"}}",
			 1002 + i, i);
		assert_int_equal(line(ev, buf), 0);
	}
	/* ended twice: the second has no start any more; no turn id: none */
	assert_int_equal(line(ev, "{\"ts\":5000,\"event\":\"turn_end\",\"session_id\":\"s\",\"turn_id\":0}"), 0);
	assert_int_equal(line(ev, "{\"ts\":5000,\"event\":\"turn_start\"}"), 0);
	assert_int_equal(line(ev, "{\"ts\":5001,\"event\":\"turn_end\"}"), 0);
	out = render(ev);
	assert_true(has(out, "t_agent_turn_latency_seconds_count 3000"));
	assert_true(has(out, "t_agent_turn_latency_seconds_sum 6000"));
	assert_true(has(out, "t_agent_turn_latency_seconds_bucket{le=\"1\"} 0"));
	assert_true(has(out, "t_agent_turn_latency_seconds_bucket{le=\"2.5\"} 3000"));
	free(out);
	events_free(ev);
}

static void cap_folds(void **state)
{
	struct events *ev = new_events(3);
	char buf[200], *out;

	(void)state;
	for (int i = 0; i < 10; i++) {
		snprintf(buf, sizeof buf,
			 "{\"event\":\"tool_call\",\"metadata\":{\"agent\":\"a\",\"tool\":\"t%d\",\"success\":%s}}",
			 i, i % 2 ? "true" : "false");
		assert_int_equal(line(ev, buf), 0);
	}
	out = render(ev);
	assert_true(has(out, "t_agent_tool_calls_total{agent=\"a\",tool=\"t0\",status=\"error\"} 1"));
	assert_true(has(out, "t_agent_tool_calls_total{agent=\"a\",tool=\"t1\",status=\"ok\"} 1"));
	assert_true(has(out, "t_agent_tool_calls_total{agent=\"a\",tool=\"t2\",status=\"error\"} 1"));
	assert_true(has(out, "t_agent_tool_calls_total{agent=\"_other\",tool=\"_other\",status=\"_other\"} 7"));
	assert_true(has(out, "t_agent_events_folded_total{metric=\"t_agent_tool_calls_total\"} 7"));
	free(out);
	events_free(ev);
}

static int memfd_with(const char *text, size_t len)
{
	int fd = memfd_create("unit-events", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void reader(void **state)
{
	static const char text[] = "{\"event\":\"a\"}\n\n{\"event\":\"b\",\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n"
				   "not json\n{\"event\":\"c\"}";
	struct events *ev = new_events(100);
	struct events_stats st;
	struct err e = ERR_INIT;
	int fd = memfd_with(text, sizeof text - 1);
	char *out;

	(void)state;
	/* a 40-byte limit: the padded line is too long */
	assert_int_equal(events_read(ev, fd, "input", 40, 0, &e), 0);
	events_stats(ev, &st);
	assert_int_equal(st.lines, 5);
	assert_int_equal(st.events, 2);
	assert_int_equal(st.malformed, 2);
	assert_int_equal(st.first_bad_line, 3);
	assert_string_equal(st.first_bad, "line too long");
	out = render(ev);
	assert_true(has(out, "t_agent_events_total{event=\"c\"} 1"));  /* the last line, without its newline */
	free(out);
	events_free(ev);
	close(fd);

	/* strict: the first malformed line stops it */
	ev = new_events(100);
	fd = memfd_with(text, sizeof text - 1);
	assert_int_equal(events_read(ev, fd, "input", 0, 1, &e), EX_DATA);
	assert_string_equal(e.msg, "input: line 4: not a JSON object");
	events_free(ev);
	close(fd);

	/* a read error */
	ev = new_events(100);
	assert_int_equal(events_read(ev, -1, "input", 0, 0, &e), EX_TEMP);
	events_free(ev);
}

static void max_series_from_the_environment(void **state)
{
	struct events *ev;
	struct err e = ERR_INIT;

	(void)state;
	setenv("AGENT_EVENTS_MAX_SERIES", "12x", 1);
	assert_int_equal(events_new(&ev, 0, &e), EX_PERM);
	assert_string_equal(e.msg, "AGENT_EVENTS_MAX_SERIES: not a whole number from 1 to 10000000: '12x'");
	setenv("AGENT_EVENTS_MAX_SERIES", "2", 1);
	assert_int_equal(events_new(&ev, 0, &e), 0);
	assert_int_equal(line(ev, "{\"event\":\"a\"}"), 0);
	assert_int_equal(line(ev, "{\"event\":\"b\"}"), 0);
	assert_int_equal(line(ev, "{\"event\":\"c\"}"), 0);
	{
		char *out = render(ev);

		assert_true(has(out, "t_agent_events_total{event=\"_other\"} 1"));
		free(out);
	}
	events_free(ev);
	unsetenv("AGENT_EVENTS_MAX_SERIES");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(well_formed_corners),
		cmocka_unit_test(malformed_corners),
		cmocka_unit_test(long_values_are_cut),
		cmocka_unit_test(turns_start_and_end),
		cmocka_unit_test(cap_folds),
		cmocka_unit_test(reader),
		cmocka_unit_test(max_series_from_the_environment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

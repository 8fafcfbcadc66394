/* test_trace: the process tracer: off by default, spans and their parents
 * as JSONL lines, TRACEPARENT validation, attributes, and exports that fail
 * within their bound without a word of the headers.  The tracer is one per
 * process, so each case runs its scenario in a child process. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "unit.h"
#include "net/trace.h"

#define TP "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static char *dir;
static char jsonl[PATH_MAX], errfile[PATH_MAX];

static int setup(void **state)
{
	static const char *const vars[] = {
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
		"OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_PROTOCOL", "AGENT_TRACE_JSONL_PATH",
		"AGENT_OTLP_TIMEOUT_MS", "TRACEPARENT", NULL
	};

	for (const char *const *v = vars; *v; v++)
		unsetenv(*v);
	dir = unit_tmpdir();
	assert_non_null(dir);
	snprintf(jsonl, sizeof jsonl, "%s/t.jsonl", dir);
	snprintf(errfile, sizeof errfile, "%s/err", dir);
	return 0;
}

static int teardown(void **state)
{
	unit_rmtree(dir);
	free(dir);
	return 0;
}

/* Runs fn in a child with a fresh tracer; what trace_finish said goes to
 * errfile.  Returns the child's exit status. */
static int in_child(void (*fn)(void))
{
	pid_t pid = fork();
	int st = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct err e = ERR_INIT;
		FILE *f;

		trace_init("test");
		fn();
		trace_finish(&e);
		f = fopen(errfile, "w");
		if (f) {
			fputs(e.msg, f);
			fclose(f);
		}
		_exit(0);
	}
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 1 << 20);
	size_t n;

	if (!f || !buf) {
		if (f)
			fclose(f);
		free(buf);
		return NULL;
	}
	n = fread(buf, 1, (1 << 20) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* The JSONL lines as an array of objects. */
static jv lines(void)
{
	char *text = slurp(jsonl), *save = NULL;
	jv out = jv_array();

	assert_non_null(text);
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		jv v = jv_parse(l);

		assert_true(jv_is_valid(v));
		out = jv_array_append(out, v);
	}
	free(text);
	return out;
}

static char *str(jv v, const char *path)
{
	char *s = json_string(v, path);

	return s ? s : strdup("(absent)");
}

/* the attribute `key` of a line (keys have dots: no json_get) */
static jv attr(jv line, const char *key)
{
	return jv_object_get(json_get(jv_copy(line), "attributes"), jv_string(key));
}

static int is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (; *s; s++)
		if (!strchr("0123456789abcdef", *s))
			return 0;
	return 1;
}

/* --- off */

static void off_scenario(void)
{
	int s = trace_start("x", TRACE_INTERNAL);

	if (trace_on() || s != 0)
		_exit(3);
	trace_str(s, "k", "v");
	trace_end(s);
	/* without tracing a subprocess gets what we got */
	if (!trace_child_traceparent() || strcmp(trace_child_traceparent(), TP))
		_exit(4);
}

static void off_without_settings(void **state)
{
	setenv("TRACEPARENT", TP, 1);
	assert_int_equal(in_child(off_scenario), 0);
	assert_int_equal(access(jsonl, F_OK), -1);
	/* OTEL_SDK_DISABLED wins over a JSONL path */
	setenv("AGENT_TRACE_JSONL_PATH", jsonl, 1);
	setenv("OTEL_SDK_DISABLED", "true", 1);
	assert_int_equal(in_child(off_scenario), 0);
	assert_int_equal(access(jsonl, F_OK), -1);
}

/* --- spans, parents, attributes */

static void nested_scenario(void)
{
	static const char *const reasons[] = { "end_turn", "tool_use" };
	int outer = trace_start("outer", TRACE_INTERNAL), inner;
	const char *tp;

	trace_str(outer, "s", "text");
	trace_int(outer, "i", 9007199254740993LL);
	trace_double(outer, "d", 0.25);
	trace_double(outer, "nan", 0.0 / 0.0);
	trace_bool(outer, "b", 1);
	trace_strs(outer, "a", reasons, 2);
	trace_json(outer, "j", jv_number(42));
	trace_str(outer, "s", "replaced");
	inner = trace_start("inner", TRACE_CLIENT);
	tp = trace_child_traceparent();
	trace_str(inner, "tp", tp);
	trace_error(inner, "timeout", "no answer");
	trace_end(inner);
	trace_end(outer);
	trace_end(outer);  /* twice: nothing */
}

static void nested_spans(void **state)
{
	jv l, in, out, v;
	char *s, *t;

	setenv("AGENT_TRACE_JSONL_PATH", jsonl, 1);
	setenv("TRACEPARENT", TP, 1);
	assert_int_equal(in_child(nested_scenario), 0);
	l = lines();
	assert_int_equal(jv_array_length(jv_copy(l)), 2);
	in = jv_array_get(jv_copy(l), 0);   /* ended first */
	out = jv_array_get(jv_copy(l), 1);
	assert_string_equal((s = str(in, "name")), "inner");
	free(s);
	assert_string_equal((s = str(in, "kind")), "client");
	free(s);
	assert_string_equal((s = str(out, "trace_id")), "0af7651916cd43dd8448eb211c80319c");
	free(s);
	assert_string_equal((s = str(in, "trace_id")), "0af7651916cd43dd8448eb211c80319c");
	free(s);
	assert_string_equal((s = str(out, "parent_span_id")), "b7ad6b7169203331");
	free(s);
	s = str(out, "span_id");
	t = str(in, "parent_span_id");
	assert_true(is_hex(s, 16));
	assert_string_equal(s, t);
	free(t);
	/* the subprocess's parent is the inner span */
	t = str(in, "span_id");
	v = attr(in, "tp");
	{
		char want[64];

		snprintf(want, sizeof want, "00-0af7651916cd43dd8448eb211c80319c-%s-01", t);
		assert_string_equal(jv_string_value(v), want);
	}
	jv_free(v);
	free(s);
	free(t);
	assert_string_equal((s = str(in, "status")), "error");
	free(s);
	assert_string_equal((s = str(in, "status_message")), "no answer");
	free(s);
	v = attr(in, "error.type");
	assert_string_equal(jv_string_value(v), "timeout");
	jv_free(v);
	assert_string_equal((s = str(out, "status")), "unset");
	free(s);
	v = attr(out, "s");
	assert_string_equal(jv_string_value(v), "replaced");
	jv_free(v);
	v = attr(out, "d");
	assert_true(jv_number_value(v) == 0.25);
	jv_free(v);
	v = attr(out, "b");
	assert_int_equal(jv_get_kind(v), JV_KIND_TRUE);
	jv_free(v);
	v = attr(out, "a");
	assert_int_equal(jv_array_length(jv_copy(v)), 2);
	jv_free(v);
	v = attr(out, "j");
	assert_true(jv_number_value(v) == 42);
	jv_free(v);
	v = attr(out, "nan");
	assert_false(jv_is_valid(v));  /* JSON has no NaN: not set */
	jv_free(v);
	{
		int64_t a = 0, b = 0;
		double d = 0;
		char *st = str(out, "start"), *en = str(out, "end");

		/* unix nanoseconds as decimal strings, end after start */
		a = strtoll(st, NULL, 10);
		b = strtoll(en, NULL, 10);
		assert_true(a > 1700000000LL * 1000000000LL);
		assert_true(b >= a);
		assert_true(json_number(out, "duration_ms", &d));
		assert_true(d >= 0);
		free(st);
		free(en);
	}
	jv_free(in);
	jv_free(out);
	jv_free(l);
}

/* --- a process that makes no span of its own */

static void failing_scenario(void)
{
	trace_fail(trace_current(), EX_TEMP, "database is locked");
	trace_fail(0, EX_NO, "a valid no is no error");
	trace_process_span();
	trace_process_span();  /* once */
}

static void process_span(void **state)
{
	jv l, x;
	char *s;

	setenv("AGENT_TRACE_JSONL_PATH", jsonl, 1);
	setenv("TRACEPARENT", TP, 1);
	assert_int_equal(in_child(failing_scenario), 0);
	l = lines();
	assert_int_equal(jv_array_length(jv_copy(l)), 1);
	x = jv_array_get(l, 0);
	assert_string_equal((s = str(x, "name")), "test");
	free(s);
	assert_string_equal((s = str(x, "parent_span_id")), "b7ad6b7169203331");
	free(s);
	assert_string_equal((s = str(x, "status")), "error");
	free(s);
	assert_string_equal((s = str(x, "status_message")), "database is locked");
	free(s);
	{
		jv t = attr(x, "error.type");

		assert_string_equal(jv_string_value(t), "temporary_failure");
		jv_free(t);
	}
	jv_free(x);
}

/* --- TRACEPARENT */

static void one_span(void)
{
	trace_end(trace_start("only", TRACE_INTERNAL));
}

static void traceparent_invalid(void **state)
{
	static const char *const bad[] = {
		"00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",   /* upper case */
		"00-00000000000000000000000000000000-b7ad6b7169203331-01",   /* zero trace */
		"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",   /* zero span */
		"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",   /* version ff */
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x", /* 00 is 55 long */
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",    /* short */
		"00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"", NULL
	};

	setenv("AGENT_TRACE_JSONL_PATH", jsonl, 1);
	for (const char *const *b = bad; *b; b++) {
		jv l, x;
		char *t;

		unlink(jsonl);
		setenv("TRACEPARENT", *b, 1);
		assert_int_equal(in_child(one_span), 0);
		l = lines();
		assert_int_equal(jv_array_length(jv_copy(l)), 1);
		x = jv_array_get(l, 0);
		t = str(x, "trace_id");
		assert_true(is_hex(t, 32));
		assert_string_not_equal(t, "0af7651916cd43dd8448eb211c80319c");
		assert_string_not_equal(t, "00000000000000000000000000000000");
		assert_int_equal(json_kind_at(x, "parent_span_id"), JV_KIND_NULL);
		free(t);
		jv_free(x);
	}
	/* a later version's extra fields are allowed */
	unlink(jsonl);
	setenv("TRACEPARENT", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-later", 1);
	assert_int_equal(in_child(one_span), 0);
	{
		jv x = jv_array_get(lines(), 0);
		char *p = str(x, "parent_span_id");

		assert_string_equal(p, "b7ad6b7169203331");
		free(p);
		jv_free(x);
	}
	/* not sampled: nothing is recorded */
	unlink(jsonl);
	setenv("TRACEPARENT", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", 1);
	assert_int_equal(in_child(one_span), 0);
	assert_int_equal(access(jsonl, F_OK), -1);
}

/* --- exports that fail */

static double elapsed(struct timespec a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
}

static void export_refused(void **state)
{
	struct timespec t0;
	char *msg;

	/* port 1 on loopback: nothing listens */
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1/", 1);
	setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20s3cret-HDR,x-tenant=t1", 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(in_child(one_span), 0);
	assert_true(elapsed(t0) < 2.5);
	msg = slurp(errfile);
	assert_non_null(msg);
	assert_non_null(strstr(msg, "trace export: POST /v1/traces"));
	assert_null(strstr(msg, "s3cret"));
	assert_null(strchr(msg, '\n'));
	free(msg);
	/* the same through libcurl (credentials in the URL), and over IPv6 */
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://u:pw-s3cret@127.0.0.1:1", 1);
	assert_int_equal(in_child(one_span), 0);
	msg = slurp(errfile);
	assert_non_null(strstr(msg, "trace export: POST /v1/traces: "));
	assert_null(strstr(msg, "s3cret"));
	free(msg);
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1]:1/", 1);
	assert_int_equal(in_child(one_span), 0);
	msg = slurp(errfile);
	assert_non_null(strstr(msg, "trace export: POST /v1/traces: "));
	free(msg);
}

static void export_bounded(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t n = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timespec t0;
	char url[64], *msg;

	/* a listener that never answers: the export gives up at its bound */
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &n), 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/traces", ntohs(a.sin_port));
	setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url, 1);
	setenv("AGENT_OTLP_TIMEOUT_MS", "300", 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(in_child(one_span), 0);
	assert_true(elapsed(t0) < 1.5);
	close(fd);
	msg = slurp(errfile);
	assert_non_null(strstr(msg, "trace export: POST /v1/traces: no answer within the 300 ms bound"));
	free(msg);
}

static void bad_settings(void **state)
{
	char *msg;

	setenv("AGENT_TRACE_JSONL_PATH", jsonl, 1);
	setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-key=s3cret%0d%0aInjected: yes", 1);
	assert_int_equal(in_child(one_span), 0);
	msg = slurp(errfile);
	assert_non_null(strstr(msg, "OTEL_EXPORTER_OTLP_HEADERS: malformed"));
	assert_null(strstr(msg, "s3cret"));
	free(msg);
	/* an unwritable JSONL path is reported, once */
	setenv("AGENT_TRACE_JSONL_PATH", "/nonexistent-dir/t.jsonl", 1);
	unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
	assert_int_equal(in_child(one_span), 0);
	msg = slurp(errfile);
	assert_non_null(strstr(msg, "cannot open AGENT_TRACE_JSONL_PATH"));
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(off_without_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(nested_spans, setup, teardown),
		cmocka_unit_test_setup_teardown(process_span, setup, teardown),
		cmocka_unit_test_setup_teardown(traceparent_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(export_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(export_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_settings, setup, teardown),
	};

	unit_datadir();
	return cmocka_run_group_tests_name("trace", tests, NULL, NULL) != 0;
}

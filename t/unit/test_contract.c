/* The platform's answers (t/data/ktrdr/api, written from KTRDR's models)
 * as the toolkit classes and words them: every error shape the platform
 * has, and the strategies the platform accepts or refuses
 * (t/data/ktrdr/strategies) as the toolkit's rules judge them. */
#include "unit.h"
#include "strategy.h"
#include "tools.h"

static char fixtures[PATH_MAX];

static jv fixture(const char *dir, const char *name)
{
	char path[PATH_MAX + 300];
	FILE *f;
	char *buf;
	long n;
	jv v;

	snprintf(path, sizeof path, "%s/%s/%s", fixtures, dir, name);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	v = jv_parse(buf);
	free(buf);
	if (!jv_is_valid(v))
		fail_msg("%s: not JSON", path);
	return v;
}

static void expect(const char *name, enum backend_class want, const char *words)
{
	jv fx = fixture("api", name), body = json_get(jv_copy(fx), "body");
	int64_t status = 0;
	char *w;

	assert_true(json_int(fx, "status", &status));
	if (tools_backend_class((long)status, body) != want)
		fail_msg("%s: class %d, want %d", name, tools_backend_class((long)status, body), want);
	w = tools_backend_words((long)status, body);
	assert_non_null(w);
	if (!strstr(w, words))
		fail_msg("%s: '%s' does not hold '%s'", name, w, words);
	free(w);
	jv_free(body);
	jv_free(fx);
}

/* every error shape of ktrdr/api/main.py and errors/exceptions.py */
static void error_classes(void **state)
{
	(void)state;
	/* {"detail": {message, error_code, context, details, suggestion}} */
	expect("error_400.response.json", BACKEND_REFUSED,
	       "has no symbols configured (Add training_data.symbols section to the strategy YAML)");
	/* {"detail": {"error": "No training workers available", ..., "hint"}} */
	expect("error_503.response.json", BACKEND_BUSY, "No training workers available (Workers auto-register");
	/* the global handler's {"success": false, "error": {code, message, details}} */
	expect("error_400_handler.response.json", BACKEND_REFUSED, "HTTP 400: Failed to list operations");
	expect("error_503_handler.response.json", BACKEND_BUSY, "HTTP 503: IB Gateway not reachable");
	/* 422: the VALIDATION_ERROR envelope, not FastAPI's detail list */
	expect("error_422.response.json", BACKEND_REFUSED, "Request validation failed");
	expect("error_500.response.json", BACKEND_FAILED, "HTTP 500: An unexpected error occurred");
	/* a missing strategy: 400 on training start, 404 on validate */
	expect("training_start_strategy_not_found.response.json", BACKEND_NO_STRATEGY,
	       "Strategy file not found: ");
	expect("strategies_validate_404.response.json", BACKEND_NO_STRATEGY, "Strategy file not found: ");
	/* a route the platform does not have is not a missing strategy */
	expect("error_404_route.response.json", BACKEND_REFUSED, "Not Found");
	expect("resume_409.response.json", BACKEND_BUSY, "is already running");
	expect("resume_503.response.json", BACKEND_BUSY, "HTTP 503: No training worker available");
	expect("resume_502.response.json", BACKEND_BUSY, "Worker failed to resume");
	expect("backtest_start_400.response.json", BACKEND_REFUSED, "HTTP 400: Symbol and timeframe must be provided");
	expect("training_start.response.json", BACKEND_OK, "HTTP 200");
}

/* The strategies: valid_* pass; every other one fails, and the errors hold
 * the message its first line quotes ("# expect: ..."). */
static void strategies(void **state)
{
	char dir[PATH_MAX + 32], path[PATH_MAX + 600], line[600];
	const char *names[] = {
		"valid_minimal", "valid_multi", "v2_list_indicators", "missing_nn_inputs",
		"unknown_indicator_type", "fuzzy_missing_indicator", "bad_mf_params",
		"nn_input_unknown_fuzzy_set", "nn_input_bad_timeframe", "nn_input_both_sources",
		"history_required_too_small", "multi_timeframe_one_tf", "dot_notation_single_output",
		"fuzzy_no_memberships", "bad_output_format", NULL,
	};

	(void)state;
	snprintf(dir, sizeof dir, "%s/strategies", fixtures);
	for (const char **n = names; *n; n++) {
		char json[300];
		jv cfg, report, errs;
		int valid = -1;
		char *text;
		FILE *f;

		snprintf(path, sizeof path, "%s/%s.yaml", dir, *n);
		f = fopen(path, "r");
		assert_non_null(f);
		if (!fgets(line, sizeof line, f))
			line[0] = 0;
		fclose(f);
		line[strcspn(line, "\n")] = 0;
		snprintf(json, sizeof json, "%s.json", *n);
		cfg = fixture("strategies", json);
		{
			jv none = jv_array();  /* borrowed by strategy_validate */

			assert_int_equal(strategy_validate(cfg, none, &report, &(struct err)ERR_INIT), 0);
			jv_free(none);
		}
		assert_true(json_bool(report, "valid", &valid));
		errs = json_get(jv_copy(report), "errors");
		text = json_dump(errs);
		if (strncmp(*n, "valid_", 6) == 0) {
			if (!valid)
				fail_msg("%s: refused: %s", *n, text);
		} else {
			const char *want = strncmp(line, "# expect: ", 10) == 0 ? line + 10 : NULL;

			assert_non_null(want);
			if (valid)
				fail_msg("%s: accepted; the platform says '%s'", *n, want);
			/* the fixture quotes the message with its variable parts; the
			 * first 30 characters are the platform's fixed words */
			if (!strstr(text, want) && !strstr(text, strndupa(want, 30)))
				fail_msg("%s: %s does not say '%s'", *n, text, want);
		}
		free(text);
		jv_free(report);
		jv_free(cfg);
	}
	strategy_release();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(error_classes),
		cmocka_unit_test(strategies),
	};

	unit_datadir();
	snprintf(fixtures, sizeof fixtures, "%s/../t/data/ktrdr", getenv("AGENT_DATADIR"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}

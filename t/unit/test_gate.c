/* test_gate: the training and backtest gates of share/gates, thresholds
 * from the environment and --set, and rule files of one's own. */
#include <math.h>
#include <sys/stat.h>

#include "unit.h"
#include "gate.h"

static int clean(void **state)
{
	unit_clean_env();
	return 0;
}

/* Compiles gate spec (with --set assignments, NULL-terminated). */
static void open_gate(struct gate *g, const char *spec, ...)
{
	struct err e = ERR_INIT;
	const char *a;
	va_list ap;

	if (gate_init(g, spec, &e))
		fail_msg("gate_init %s: %s", spec, e.msg);
	va_start(ap, spec);
	while ((a = va_arg(ap, const char *)))
		if (gate_set(g, a, &e))
			fail_msg("gate_set %s: %s", a, e.msg);
	va_end(ap);
	if (gate_compile(g, &e))
		fail_msg("gate_compile %s: %s", spec, e.msg);
}

static jv eval(struct gate *g, jv result)
{
	struct err e = ERR_INIT;
	jv v;

	if (gate_eval(g, result, &v, &e))
		fail_msg("gate_eval: %s", e.msg);
	return v;
}

/* The verdict of spec on result_json. */
static jv verdict_of(const char *spec, const char *result_json)
{
	struct gate g;
	jv v;

	open_gate(&g, spec, (const char *)NULL);
	v = eval(&g, unit_json(result_json));
	gate_release(&g);
	return v;
}

static jv check(jv verdict, int i)
{
	return jv_array_get(jv_object_get(jv_copy(verdict), jv_string("checks")), i);
}

/* Asserts passed/reason of a verdict and each check's passed flag. */
static void expect(jv v, int passed, const char *reason, const char *checks)
{
	jv cs = jv_object_get(jv_copy(v), jv_string("checks"));
	int n = jv_array_length(jv_copy(cs));

	if (gate_passed(v) != passed || strcmp(unit_str(v, "reason"), reason) != 0) {
		jv d = jv_dump_string(jv_copy(v), 0);

		fail_msg("want passed=%d reason=%s, got %s", passed, reason, jv_string_value(d));
	}
	assert_int_equal(n, (int)strlen(checks));
	for (int i = 0; i < n; i++) {
		jv c = jv_array_get(jv_copy(cs), i);
		int ok = -1;

		assert_true(json_bool(c, "passed", &ok));
		if (ok != (checks[i] == '+')) {
			jv d = jv_dump_string(c, 0);

			fail_msg("check %d: want %c, got %s", i, checks[i], jv_string_value(d));
		}
		jv_free(c);
	}
	jv_free(cs);
}

#define TRAIN(acc, loss, hist) \
	"{\"test_metrics\":{\"test_accuracy\":" acc ",\"test_loss\":" loss "}," \
	"\"training_metrics\":{\"history\":{\"train_loss\":" hist "}}}"
#define BACK(win, dd, sharpe) \
	"{\"metrics\":{\"win_rate\":" win ",\"max_drawdown_pct\":" dd ",\"sharpe_ratio\":" sharpe "}}"

static void training_pass(void **state)
{
	jv v = verdict_of("training", TRAIN("0.6", "0.5", "[1.0, 0.7, 0.5]"));
	jv c;

	expect(v, 1, "passed", "+++");
	assert_string_equal(unit_str(v, "gate"), "training");
	assert_string_equal(unit_str(v, "detail"), "all checks passed");
	c = check(v, 0);
	assert_string_equal(unit_str(c, "name"), "accuracy");
	assert_string_equal(unit_str(c, "field"), "test_metrics.test_accuracy");
	assert_string_equal(unit_str(c, "op"), ">=");
	assert_true(unit_num(c, "value") == 0.6);
	assert_true(unit_num(c, "threshold") == 0.45);
	jv_free(c);
	c = check(v, 2);
	assert_string_equal(unit_str(c, "name"), "loss_decrease");
	assert_true(fabs(unit_num(c, "value") - 0.5) < 1e-12);
	assert_true(unit_num(c, "threshold") == 0.2);
	jv_free(c);
	jv_free(v);
}

static void training_each_fails_alone(void **state)
{
	jv v = verdict_of("training", TRAIN("0.44", "0.5", "[1.0, 0.5]"));
	jv c;

	expect(v, 0, "accuracy_below_threshold", "-++");
	c = check(v, 0);
	assert_string_equal(unit_str(c, "reason"), "accuracy_below_threshold");
	jv_free(c);
	assert_non_null(strstr(unit_str(v, "detail"), "accuracy 0.44 < 0.45"));
	jv_free(v);

	v = verdict_of("training", TRAIN("0.6", "0.81", "[1.0, 0.5]"));
	expect(v, 0, "loss_too_high", "+-+");
	assert_non_null(strstr(unit_str(v, "detail"), "loss 0.81 > 0.8"));
	jv_free(v);

	v = verdict_of("training", TRAIN("0.6", "0.5", "[1.0, 0.85]"));
	expect(v, 0, "insufficient_loss_decrease", "++-");
	jv_free(v);

	/* several failing: the first one is the verdict's reason, all are listed */
	v = verdict_of("training", TRAIN("0.1", "2.0", "[1.0, 1.5]"));
	expect(v, 0, "accuracy_below_threshold", "---");
	jv_free(v);
}

/* A value exactly at its threshold passes, computed ones included:
 * (1.0 - 0.8) / 1.0 is 0.19999999999999996 in binary. */
static void training_at_threshold(void **state)
{
	jv v = verdict_of("training", TRAIN("0.45", "0.8", "[1.0, 0.8]"));

	expect(v, 1, "passed", "+++");
	jv_free(v);
	/* a hair past is not at */
	v = verdict_of("training", TRAIN("0.4499", "0.8001", "[1.0, 0.8001]"));
	expect(v, 0, "accuracy_below_threshold", "---");
	jv_free(v);
	/* final_train_loss wins over the history's last value */
	v = verdict_of("training", "{\"test_metrics\":{\"test_accuracy\":0.5,\"test_loss\":0.5},"
			"\"training_metrics\":{\"final_train_loss\":0.9,"
			"\"history\":{\"train_loss\":[1.0,0.5]}}}");
	expect(v, 0, "insufficient_loss_decrease", "++-");
	jv_free(v);
}

static void backtest_pass_and_thresholds(void **state)
{
	jv v = verdict_of("backtest", BACK("0.55", "0.2", "1.1"));

	expect(v, 1, "passed", "+++");
	assert_string_equal(unit_str(v, "gate"), "backtest");
	jv_free(v);
	v = verdict_of("backtest", BACK("0.45", "0.40", "-0.5"));
	expect(v, 1, "passed", "+++");
	jv_free(v);
	v = verdict_of("backtest", BACK("0.44", "0.2", "1.1"));
	expect(v, 0, "win_rate_too_low", "-++");
	jv_free(v);
	v = verdict_of("backtest", BACK("0.55", "0.41", "1.1"));
	expect(v, 0, "drawdown_too_high", "+-+");
	jv_free(v);
	v = verdict_of("backtest", BACK("0.55", "0.2", "-0.51"));
	expect(v, 0, "sharpe_too_low", "++-");
	jv_free(v);
}

/* A missing value fails its check with <name>_missing; nothing crashes. */
static void missing_fields(void **state)
{
	jv v = verdict_of("training", "{}");
	jv c;

	expect(v, 0, "accuracy_missing", "---");
	c = check(v, 0);
	assert_string_equal(unit_str(c, "reason"), "accuracy_missing");
	assert_int_equal(unit_kind(c, "value"), JV_KIND_NULL);
	jv_free(c);
	c = check(v, 1);
	assert_string_equal(unit_str(c, "reason"), "loss_missing");
	jv_free(c);
	c = check(v, 2);
	assert_string_equal(unit_str(c, "reason"), "loss_decrease_missing");
	jv_free(c);
	assert_non_null(strstr(unit_str(v, "detail"), "accuracy missing"));
	jv_free(v);

	/* only the loss history missing; a history of one epoch; a null value */
	v = verdict_of("training", "{\"test_metrics\":{\"test_accuracy\":0.6,\"test_loss\":0.5}}");
	expect(v, 0, "loss_decrease_missing", "++-");
	jv_free(v);
	v = verdict_of("training", TRAIN("0.6", "0.5", "[1.0]"));
	expect(v, 0, "loss_decrease_missing", "++-");
	jv_free(v);
	v = verdict_of("training", TRAIN("null", "0.5", "[1.0, 0.5]"));
	expect(v, 0, "accuracy_missing", "-++");
	jv_free(v);
	/* a first epoch at zero loss gives no decrease to judge */
	v = verdict_of("training", TRAIN("0.6", "0.5", "[0, 0]"));
	expect(v, 0, "loss_decrease_missing", "++-");
	jv_free(v);
	/* a wrong shape on the way is missing too */
	v = verdict_of("backtest", "{\"metrics\":[1,2,3]}");
	expect(v, 0, "win_rate_missing", "---");
	jv_free(v);
	v = verdict_of("backtest", "{\"metrics\":{\"win_rate\":0.5,\"sharpe_ratio\":0}}");
	expect(v, 0, "max_drawdown_missing", "+-+");
	jv_free(v);
}

static void bad_values(void **state)
{
	static const char *const bad[] = {
		TRAIN("\"0.6\"", "0.5", "[1.0, 0.5]"),
		TRAIN("0.6", "true", "[1.0, 0.5]"),
		TRAIN("0.6", "0.5", "[\"1.0\", 0.5]"),
		TRAIN("0.6", "0.5", "[1.0, {}]"),
		TRAIN("[0.6]", "0.5", "[1.0, 0.5]"),
	};
	struct gate g;
	struct err e = ERR_INIT;
	jv v = jv_null(), r;

	open_gate(&g, "training", (const char *)NULL);
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		if (gate_eval(&g, unit_json(bad[i]), &v, &e) != EX_DATA)
			fail_msg("gate accepted %s", bad[i]);
		assert_int_equal(e.code, EX_DATA);
		assert_non_null(strstr(e.msg, "training gate"));
	}
	assert_int_equal(gate_eval(&g, unit_json(bad[0]), &v, &e), EX_DATA);
	assert_non_null(strstr(e.msg, "test_metrics.test_accuracy"));
	assert_non_null(strstr(e.msg, "string"));

	/* NaN and infinity are not numbers to judge */
	r = unit_json(TRAIN("0.6", "0.5", "[1.0, 0.5]"));
	r = jv_setpath(r, unit_json("[\"test_metrics\",\"test_accuracy\"]"), jv_number(NAN));
	assert_int_equal(gate_eval(&g, r, &v, &e), EX_DATA);
	assert_non_null(strstr(e.msg, "finite"));
	r = unit_json(TRAIN("0.6", "0.5", "[1.0, 0.5]"));
	r = jv_setpath(r, unit_json("[\"test_metrics\",\"test_loss\"]"), jv_number(-INFINITY));
	assert_int_equal(gate_eval(&g, r, &v, &e), EX_DATA);

	/* a result that is not an object */
	assert_int_equal(gate_eval(&g, unit_json("[1,2]"), &v, &e), EX_DATA);
	assert_int_equal(gate_eval(&g, jv_null(), &v, &e), EX_DATA);
	assert_int_equal(jv_get_kind(v), JV_KIND_NULL);   /* no verdict on errors */

	/* and the gate still works afterwards */
	v = eval(&g, unit_json(TRAIN("0.6", "0.5", "[1.0, 0.5]")));
	expect(v, 1, "passed", "+++");
	jv_free(v);
	gate_release(&g);
}

static void env_thresholds(void **state)
{
	struct gate g;
	jv v, c;

	setenv("TRAINING_GATE_MIN_ACCURACY", "0.7", 1);
	open_gate(&g, "training", (const char *)NULL);
	v = eval(&g, unit_json(TRAIN("0.6", "0.5", "[1.0, 0.5]")));
	expect(v, 0, "accuracy_below_threshold", "-++");
	c = check(v, 0);
	assert_true(unit_num(c, "threshold") == 0.7);
	jv_free(c);
	jv_free(v);
	gate_release(&g);

	/* --set wins over the environment */
	open_gate(&g, "training", "min_accuracy=0.5", "max_loss=0.4", (const char *)NULL);
	v = eval(&g, unit_json(TRAIN("0.6", "0.5", "[1.0, 0.5]")));
	expect(v, 0, "loss_too_high", "+-+");
	c = check(v, 0);
	assert_true(unit_num(c, "threshold") == 0.5);
	jv_free(c);
	jv_free(v);
	gate_release(&g);

	/* another gate's variables are not this gate's */
	unsetenv("TRAINING_GATE_MIN_ACCURACY");
	setenv("BACKTEST_GATE_MIN_SHARPE", "1.5", 1);
	setenv("BACKTEST_GATE_MAX_DRAWDOWN", "0.1", 1);
	v = verdict_of("training", TRAIN("0.6", "0.5", "[1.0, 0.5]"));
	expect(v, 1, "passed", "+++");
	jv_free(v);
	v = verdict_of("backtest", BACK("0.55", "0.2", "1.1"));
	expect(v, 0, "drawdown_too_high", "+--");
	jv_free(v);
	open_gate(&g, "backtest", "min_sharpe=-1", "max_drawdown=0.25", (const char *)NULL);
	v = eval(&g, unit_json(BACK("0.55", "0.2", "1.1")));
	expect(v, 1, "passed", "+++");
	jv_free(v);
	gate_release(&g);
}

static void malformed_thresholds(void **state)
{
	static const char *const bad_env[] = { "abc", "", "0.5x", "nan", "inf", "1e400" };
	static const char *const bad_set[] = {
		"min_accuracy", "=0.5", "min_accuracy=", "min_accuracy=abc", "min_accuracy=nan",
		"min_accuracy=0.5.1",
		"a_very_long_threshold_name_that_goes_past_the_sixty_four_bytes_of_a_key=1",
	};
	struct gate g;

	for (size_t i = 0; i < sizeof bad_env / sizeof *bad_env; i++) {
		struct err e = ERR_INIT;

		setenv("TRAINING_GATE_MIN_ACCURACY", bad_env[i], 1);
		if (gate_init(&g, "training", &e) != EX_PERM)
			fail_msg("TRAINING_GATE_MIN_ACCURACY='%s' accepted", bad_env[i]);
		assert_non_null(strstr(e.msg, "TRAINING_GATE_MIN_ACCURACY"));
	}
	unsetenv("TRAINING_GATE_MIN_ACCURACY");

	for (size_t i = 0; i < sizeof bad_set / sizeof *bad_set; i++) {
		struct err e = ERR_INIT;

		assert_int_equal(gate_init(&g, "training", &e), 0);
		if (gate_set(&g, bad_set[i], &e) != EX_USAGE)
			fail_msg("--set '%s' accepted", bad_set[i]);
		assert_int_equal(e.code, EX_USAGE);
		gate_release(&g);
	}
	{
		struct err e = ERR_INIT;

		assert_int_equal(gate_init(&g, "", &e), EX_USAGE);
		gate_release(&g);
	}
}

/* An operation response carries result_summary in data; the bare
 * result_summary and flat fields work too. */
static void unwrapping_and_flat(void **state)
{
	jv v;

	v = verdict_of("training", "{\"success\":true,\"data\":{\"operation_id\":\"op_1\","
			"\"status\":\"completed\",\"result_summary\":" TRAIN("0.6", "0.5", "[1.0, 0.5]") "}}");
	expect(v, 1, "passed", "+++");
	jv_free(v);
	v = verdict_of("training", "{\"result_summary\":" TRAIN("0.3", "0.5", "[1.0, 0.5]") "}");
	expect(v, 0, "accuracy_below_threshold", "-++");
	jv_free(v);
	v = verdict_of("backtest", "{\"data\":{\"result_summary\":" BACK("0.5", "0.5", "0") "}}");
	expect(v, 0, "drawdown_too_high", "+-+");
	jv_free(v);

	v = verdict_of("training", "{\"accuracy\":0.6,\"final_loss\":0.5,\"initial_loss\":1.0}");
	expect(v, 1, "passed", "+++");
	jv_free(v);
	v = verdict_of("training", "{\"accuracy\":0.6,\"final_loss\":0.7,\"initial_loss\":0.8}");
	expect(v, 0, "insufficient_loss_decrease", "++-");
	jv_free(v);
	v = verdict_of("backtest", "{\"win_rate\":0.5,\"max_drawdown_pct\":0.3,\"sharpe_ratio\":0.1}");
	expect(v, 1, "passed", "+++");
	jv_free(v);
	v = verdict_of("backtest", "{\"win_rate\":0.5,\"max_drawdown\":0.5,\"sharpe_ratio\":0.1}");
	expect(v, 0, "drawdown_too_high", "+-+");
	jv_free(v);
	/* the nested field wins over a flat one */
	v = verdict_of("backtest", "{\"metrics\":{\"win_rate\":0.2},\"win_rate\":0.9,"
			"\"max_drawdown_pct\":0.1,\"sharpe_ratio\":0}");
	expect(v, 0, "win_rate_too_low", "-++");
	jv_free(v);
}

/* One compiled gate judges many results, each from a clean start. */
static void reuse(void **state)
{
	struct gate g;
	jv v;

	open_gate(&g, "backtest", (const char *)NULL);
	for (int i = 0; i < 50; i++) {
		v = eval(&g, unit_json(i % 2 ? BACK("0.5", "0.1", "0") : BACK("0.1", "0.1", "0")));
		assert_int_equal(gate_passed(v), i % 2);
		jv_free(v);
	}
	gate_release(&g);
}

/* ---------------------------------------------------------------- custom */

struct dir {
	char *path;
};

static int dir_setup(void **state)
{
	struct dir *d = calloc(1, sizeof *d);

	unit_clean_env();
	if (!d || !(d->path = unit_tmpdir()))
		return -1;
	*state = d;
	return 0;
}

static int dir_teardown(void **state)
{
	struct dir *d = *state;

	unit_rmtree(d->path);
	free(d->path);
	free(d);
	unit_clean_env();
	return 0;
}

static const char *rule(struct dir *d, const char *name, const char *text)
{
	static char path[4200];

	snprintf(path, sizeof path, "%s/%s", d->path, name);
	assert_int_equal(unit_write_file(path, text), 0);
	return path;
}

static void custom_rule(void **state)
{
	struct dir *d = *state;
	const char *path = rule(d, "profit-gate.jq",
		"# a gate of our own\n"
		"[{name: \"profit\", field: \"pnl.total\", value: .pnl.total, op: \">\",\n"
		"  threshold: ($set.min_profit // 0), reason: \"no_profit\"},\n"
		" {name: \"trades\", value: .trades, op: \">=\", threshold: 10}]\n");
	struct gate g;
	jv v, c;

	open_gate(&g, path, (const char *)NULL);
	assert_string_equal(g.name, "profit-gate");
	v = eval(&g, unit_json("{\"pnl\":{\"total\":12.5},\"trades\":10}"));
	expect(v, 1, "passed", "++");
	assert_string_equal(unit_str(v, "gate"), "profit-gate");
	jv_free(v);
	/* ">" is strict: at the threshold fails */
	v = eval(&g, unit_json("{\"pnl\":{\"total\":0},\"trades\":10}"));
	expect(v, 0, "no_profit", "-+");
	jv_free(v);
	/* a check without a reason fails with its name */
	v = eval(&g, unit_json("{\"pnl\":{\"total\":1},\"trades\":9}"));
	expect(v, 0, "trades", "+-");
	c = check(v, 1);
	assert_int_equal(unit_kind(c, "field"), JV_KIND_NULL);
	jv_free(c);
	jv_free(v);
	gate_release(&g);

	/* its thresholds from PROFIT_GATE_<KEY>, and --set */
	setenv("PROFIT_GATE_GATE_MIN_PROFIT", "100", 1);
	open_gate(&g, path, (const char *)NULL);
	v = eval(&g, unit_json("{\"pnl\":{\"total\":12.5},\"trades\":10}"));
	expect(v, 0, "no_profit", "-+");
	jv_free(v);
	gate_release(&g);
	open_gate(&g, path, "min_profit=5", (const char *)NULL);
	v = eval(&g, unit_json("{\"pnl\":{\"total\":12.5},\"trades\":10}"));
	expect(v, 1, "passed", "++");
	jv_free(v);
	gate_release(&g);
}

static void custom_rule_broken(void **state)
{
	struct dir *d = *state;
	struct gate g;
	struct err e = ERR_INIT;
	jv v = jv_null();
	const char *path;
	char missing[4300];

	/* does not compile */
	path = rule(d, "broken.jq", "[{name: \"x\", value: .a,\n");
	assert_int_equal(gate_init(&g, path, &e), 0);
	assert_int_equal(gate_compile(&g, &e), EX_PERM);
	assert_non_null(strstr(e.msg, "broken.jq"));
	assert_null(strchr(e.msg, '\n'));
	gate_release(&g);

	/* a missing file */
	snprintf(missing, sizeof missing, "%s/nope.jq", d->path);
	assert_int_equal(gate_init(&g, missing, &e), 0);
	assert_int_equal(gate_compile(&g, &e), EX_PERM);
	assert_non_null(strstr(e.msg, "nope.jq"));
	gate_release(&g);

	/* outputs an object, not an array */
	path = rule(d, "object.jq", "{name: \"x\", value: 1, op: \">=\", threshold: 0}\n");
	open_gate(&g, path, (const char *)NULL);
	assert_int_equal(gate_eval(&g, unit_json("{}"), &v, &e), EX_PERM);
	assert_non_null(strstr(e.msg, "array"));
	gate_release(&g);

	/* outputs nothing */
	path = rule(d, "empty.jq", "empty\n");
	open_gate(&g, path, (const char *)NULL);
	assert_int_equal(gate_eval(&g, unit_json("{}"), &v, &e), EX_PERM);
	assert_non_null(strstr(e.msg, "no checks"));
	gate_release(&g);

	/* fails at run time */
	path = rule(d, "boom.jq", "error(\"boom\")\n");
	open_gate(&g, path, (const char *)NULL);
	assert_int_equal(gate_eval(&g, unit_json("{}"), &v, &e), EX_PERM);
	assert_non_null(strstr(e.msg, "boom"));
	gate_release(&g);

	/* a check without a numeric threshold, an unknown comparison */
	path = rule(d, "nothreshold.jq", "[{name: \"x\", value: 1, op: \">=\", threshold: \"1\"}]\n");
	open_gate(&g, path, (const char *)NULL);
	assert_int_equal(gate_eval(&g, unit_json("{}"), &v, &e), EX_PERM);
	assert_non_null(strstr(e.msg, "threshold"));
	gate_release(&g);
	path = rule(d, "op.jq", "[{name: \"x\", value: 1, op: \"~\", threshold: 1}]\n");
	open_gate(&g, path, (const char *)NULL);
	assert_int_equal(gate_eval(&g, unit_json("{}"), &v, &e), EX_PERM);
	assert_non_null(strstr(e.msg, "'~'"));
	gate_release(&g);
	assert_int_equal(jv_get_kind(v), JV_KIND_NULL);
}

/* The gates of share/gates are found through AGENT_DATADIR. */
static void datadir(void **state)
{
	struct dir *d = *state;
	struct gate g;
	struct err e = ERR_INIT;
	char gates[4300];
	jv v;

	snprintf(gates, sizeof gates, "%s/gates", d->path);
	assert_int_equal(mkdir(gates, 0755), 0);
	rule(d, "gates/training.jq", "[{name: \"always\", value: 0, op: \">=\", threshold: 1}]\n");
	{
		char *old = strdup(getenv("AGENT_DATADIR"));

		setenv("AGENT_DATADIR", d->path, 1);
		assert_int_equal(gate_init(&g, "training", &e), 0);
		setenv("AGENT_DATADIR", old, 1);
		free(old);
	}
	assert_int_equal(gate_compile(&g, &e), 0);
	v = eval(&g, unit_json(TRAIN("0.9", "0.1", "[1.0, 0.1]")));
	expect(v, 0, "always", "-");
	jv_free(v);
	gate_release(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(training_pass, clean),
		cmocka_unit_test_setup(training_each_fails_alone, clean),
		cmocka_unit_test_setup(training_at_threshold, clean),
		cmocka_unit_test_setup(backtest_pass_and_thresholds, clean),
		cmocka_unit_test_setup(missing_fields, clean),
		cmocka_unit_test_setup(bad_values, clean),
		cmocka_unit_test_setup_teardown(env_thresholds, clean, clean),
		cmocka_unit_test_setup_teardown(malformed_thresholds, clean, clean),
		cmocka_unit_test_setup(unwrapping_and_flat, clean),
		cmocka_unit_test_setup(reuse, clean),
		cmocka_unit_test_setup_teardown(custom_rule, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(custom_rule_broken, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(datadir, dir_setup, dir_teardown),
	};

	unit_datadir();
	return cmocka_run_group_tests_name("gate", tests, NULL, NULL) != 0;
}

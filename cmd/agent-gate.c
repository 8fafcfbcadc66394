/* agent-gate: quality gates on training and backtest results. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gate.h"
#include "base/json.h"
#include "stage.h"
#include "tick.h"
#include "net/trace.h"

static const char summary[] =
	"Evaluate a quality gate on training or backtest results: results JSON in, "
	"verdict out; exit 0 pass, 1 fail."
	"\vAlone, each input document is a result (the backend's result_summary, an "
	"operation response, or flat fields) and gets one verdict line.  In the pipeline, "
	"a tick document with action \"gate\" is judged by the gate of its session's "
	"phase, the session is moved on, and the document passes on; other tick "
	"documents pass through unchanged.  Thresholds: TRAINING_GATE_MIN_ACCURACY, "
	"TRAINING_GATE_MAX_LOSS, TRAINING_GATE_MIN_LOSS_DECREASE, BACKTEST_GATE_MIN_WIN_RATE, "
	"BACKTEST_GATE_MAX_DRAWDOWN, BACKTEST_GATE_MIN_SHARPE, or --set.";

static struct argp_option options[] = {
	{ "gate", 'g', "GATE", 0, "training, backtest, or a FILE.jq of rules (alone: inferred from the result when omitted)", 0 },
	{ "set", 's', "NAME=VALUE", 0, "a threshold, e.g. min_accuracy=0.5 (repeatable)", 0 },
	{ 0 }
};

struct args {
	const char *gate;
	jv sets;
};

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;

	switch (key) {
	case 'g': a->gate = arg; break;
	case 's':
		{
			const char *eq = strchr(arg, '=');
			char *end;

			if (!eq || eq == arg)
				argp_error(st, "--set wants NAME=VALUE, not '%s'", arg);
			strtod(eq + 1, &end);
			if (!eq[1] || *end)
				argp_error(st, "--set %.*s: not a number: '%s'", (int)(eq - arg), arg, eq + 1);
		}
		a->sets = jv_array_append(a->sets, jv_string(arg));
		break;
	case ARGP_KEY_ARG: argp_error(st, "unexpected argument '%s'", arg); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct argp argp = { options, parse, NULL, summary, 0, 0, 0 };

struct run {
	struct args *a;
	struct stage_ctx stage;
	struct gate alone[3];   /* training, backtest, --gate FILE */
	int ready[3];
	int failed;             /* some verdict failed */
};

/* training or backtest, from the shape of a result, when --gate is absent */
static const char *infer(jv r)
{
	static const char *const train[] = { "test_metrics", "training_metrics", "accuracy",
					     "final_loss", "data.result_summary.training_metrics", NULL };
	static const char *const back[] = { "metrics", "win_rate", "sharpe_ratio",
					    "data.result_summary.metrics", NULL };

	for (const char *const *k = train; *k; k++) {
		jv v = json_get(jv_copy(r), *k);
		int hit = jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL;

		jv_free(v);
		if (hit)
			return "training";
	}
	for (const char *const *k = back; *k; k++) {
		jv v = json_get(jv_copy(r), *k);
		int hit = jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL;

		jv_free(v);
		if (hit)
			return "backtest";
	}
	return NULL;
}

static int alone_gate(struct run *r, const char *spec, struct gate **g, struct err *e)
{
	int i = strcmp(spec, "training") == 0 ? 0 : strcmp(spec, "backtest") == 0 ? 1 : 2;
	int n, rc;

	*g = &r->alone[i];
	if (r->ready[i])
		return 0;
	if ((rc = gate_init(*g, spec, e)))
		return rc;
	n = jv_array_length(jv_copy(r->a->sets));
	for (int k = 0; k < n && rc == 0; k++) {
		jv s = jv_array_get(jv_copy(r->a->sets), k);

		rc = gate_set(*g, jv_string_value(s), e);
		jv_free(s);
	}
	if (rc == 0)
		rc = gate_compile(*g, e);
	if (rc) {
		gate_release(*g);
		return rc;
	}
	r->ready[i] = 1;
	return 0;
}

static void print_human(jv v)
{
	int color = cli_color(), n;
	jv checks = json_get(jv_copy(v), "checks");
	char *gate = json_string(v, "gate"), *detail = json_string(v, "detail");
	int passed = gate_passed(v);

	printf("%s gate: %s%s%s  %s\n", gate ? gate : "?", color ? (passed ? "\033[32m" : "\033[31m") : "",
	       passed ? "PASS" : "FAIL", color ? "\033[0m" : "", detail ? detail : "");
	n = jv_get_kind(checks) == JV_KIND_ARRAY ? jv_array_length(jv_copy(checks)) : 0;
	for (int i = 0; i < n; i++) {
		jv c = jv_array_get(jv_copy(checks), i);
		char *name = json_string(c, "name"), *op = json_string(c, "op");
		double val = 0, t = 0;
		int has = json_number(c, "value", &val), ok = 0;

		json_number(c, "threshold", &t);
		json_bool(c, "passed", &ok);
		if (has)
			printf("  %-4s %-16s %10.4f %s %g\n", ok ? "ok" : "FAIL", name, val, op, t);
		else
			printf("  %-4s %-16s %10s %s %g\n", "FAIL", name, "missing", op, t);
		free(name);
		free(op);
		jv_free(c);
	}
	jv_free(checks);
	free(gate);
	free(detail);
}

static int one_doc(jv doc, void *arg)
{
	struct run *r = arg;
	struct err e = ERR_INIT;
	struct gate *g;
	const char *spec;
	jv out;
	int rc;

	if (tick_is(doc)) {
		if ((rc = stage_gate(&r->stage, doc, &out, &e)))
			return cli_fail(&e);
		trace_tick_result(trace_current(), "agent-gate", out);
		return cli_emit(out);
	}
	if (jv_get_kind(doc) != JV_KIND_OBJECT) {
		jv_free(doc);
		cli_warn("stdin: a result must be a JSON object");
		return EX_DATA;
	}
	spec = r->a->gate ? r->a->gate : infer(doc);
	if (!spec) {
		jv_free(doc);
		cli_warn("cannot tell a training result from a backtest result: use --gate");
		return EX_DATA;
	}
	if ((rc = alone_gate(r, spec, &g, &e))) {
		jv_free(doc);
		return cli_fail(&e);
	}
	if ((rc = gate_eval(g, doc, &out, &e)))
		return cli_fail(&e);
	trace_gate(trace_current(), out);
	if (!gate_passed(out))
		r->failed = 1;
	if (cli_quiet) {
		jv_free(out);
		return 0;
	}
	if (cli_tty() && !cli_opt.json) {
		print_human(out);
		jv_free(out);
		return 0;
	}
	return cli_emit(out);
}

/* one span per document: a tick's is a child of the tick's trace */
static int one(jv doc, void *arg)
{
	int span = tick_is(doc) ? trace_tick_start("agent-gate", doc)
				: trace_start("agent-gate", TRACE_INTERNAL);
	int rc = one_doc(doc, arg);

	trace_fail(span, rc, NULL);
	trace_end(span);
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct run r = { 0 };
	int rc;

	cli_init("agent-gate", argv);
	a.sets = jv_array();
	argp.children = cli_shared(CLI_DB | CLI_JSON | CLI_QUIET,
				   NULL, "print no verdict; the exit status says it");
	cli_parse(&argp, argc, argv, &a);
	r.a = &a;
	stage_init(&r.stage, cli_opt.db);
	jv_free(r.stage.gate_sets);
	r.stage.gate_sets = jv_copy(a.sets);
	cli_pass_through("gate");
	rc = cli_each_doc(one, &r);
	if (rc == 0 && r.failed)
		rc = EX_NO;
	for (int i = 0; i < 3; i++)
		if (r.ready[i])
			gate_release(&r.alone[i]);
	stage_release(&r.stage);
	jv_free(a.sets);
	return cli_finish(rc);
}

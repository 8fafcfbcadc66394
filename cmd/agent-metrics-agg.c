/* agent-metrics-agg: the last stage of the cycle; ended sessions into agent_metrics. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "metrics.h"
#include "trace.h"
#include "trigger.h"

static const char summary[] =
	"Aggregate ended research sessions into agent_metrics and close each tick of the "
	"cycle (the pipeline's last stage)."
	"\vWithout options it reads tick documents: a session that ended in the tick gets "
	"its agent_metrics row (durations per phase, training and backtest figures, tokens, "
	"cost, outcome) and its cycle counted completed; every tick's lease is released and "
	"its trigger row gets its duration; the documents are written on (\"metrics\" added "
	"for an ended session).  With --release TICK it only closes that tick after a failed "
	"stage: lease released, exit status and failed stage recorded.";

enum { OPT_RELEASE = 256, OPT_STATUS, OPT_STAGE };

static struct argp_option options[] = {
	{ "db", 'd', "URI", 0, "store to use (default: AGENT_DB)", 0 },
	{ "release", OPT_RELEASE, "TICK", 0, "close tick TICK after a failed stage", 0 },
	{ "status", OPT_STATUS, "N", 0, "with --release: the failed stage's exit status", 0 },
	{ "stage", OPT_STAGE, "NAME", 0, "with --release: the failed stage", 0 },
	{ "agent", 'a', "NAME", 0, "with --release: the agent (default: the tick's)", 0 },
	{ "quiet", 'q', 0, 0, "print nothing with --release", 0 },
	{ 0 }
};

struct args {
	const char *db, *release, *stage, *agent;
	int status, has_status;
};

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;

	switch (key) {
	case 'd': a->db = arg; break;
	case OPT_RELEASE:
		if (!trigger_name_ok(arg, 64))
			argp_error(st, "--release: not a tick id: '%s'", arg);
		a->release = arg;
		break;
	case OPT_STATUS:
		a->status = (int)cli_number(st, "--status", arg, 0, 255);
		a->has_status = 1;
		break;
	case OPT_STAGE:
		if (!trigger_name_ok(arg, 64))
			argp_error(st, "--stage: not a stage name: '%s'", arg);
		a->stage = arg;
		break;
	case 'a':
		if (!trigger_name_ok(arg, 100))
			argp_error(st, "--agent: not an agent name: '%s'", arg);
		a->agent = arg;
		break;
	case 'q': cli_quiet = 1; break;
	case ARGP_KEY_ARG: argp_error(st, "unexpected argument '%s'", arg); break;
	case ARGP_KEY_END:
		if (!a->release && (a->has_status || a->stage || a->agent))
			argp_error(st, "--status, --stage and --agent go with --release");
		break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct argp argp = { options, parse, NULL, summary, 0, 0, 0 };

static int one(jv doc, void *arg)
{
	struct metrics_ctx *c = arg;
	struct err e = ERR_INIT;
	jv out;
	/* one span per tick document, a child of the tick's trace */
	int span = trace_tick_start("agent-metrics-agg", doc), rc;

	if (metrics_tick(c, doc, &out, &e))
		return cli_fail(&e);  /* the span ends, in error, at exit */
	trace_tick_result(span, "agent-metrics-agg", out);
	rc = cli_emit(out);
	trace_end(span);
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct metrics_ctx c;
	struct err e = ERR_INIT;
	jv out;
	int rc;

	cli_init("agent-metrics-agg");
	argp_parse(&argp, argc, argv, 0, 0, &a);
	metrics_init(&c, a.db);
	if (a.release) {
		int span = trace_start("agent-metrics-agg", TRACE_INTERNAL);  /* ended at exit */

		trace_str(span, "agent.tick.id", a.release);
		trace_str(span, "agent.tick.failed_stage", a.stage);
		trace_int(span, "agent.tick.failed_status", a.status);
		rc = metrics_release_tick(&c, a.agent, a.release, a.status, a.stage, &out, &e);
		if (rc)
			rc = cli_fail(&e);
		else if (cli_quiet)
			jv_free(out);
		else
			rc = cli_emit(out);
	} else {
		rc = cli_each_doc(one, &c);
	}
	metrics_release(&c);
	return cli_finish(rc);
}

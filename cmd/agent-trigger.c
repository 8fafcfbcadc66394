/* agent-trigger: the first stage of the five-minute cycle; one deterministic tick. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "base/json.h"
#include "store/store.h"
#include "net/trace.h"
#include "trigger.h"

static const char summary[] =
	"Run one deterministic tick: take the agent's lease, read the store and the "
	"backend, decide, log the trigger row and print the tick document."
	"\vEvents: start_new_cycle, training_running, training_completed, training_failed, "
	"backtest_running, backtest_completed, backtest_failed, recovered, paused, busy, "
	"idle.  Actions: invoke, gate, wait, skip, end.  Every decided tick exits 0 (busy, "
	"paused and idle included); the lease stays held for the later stages of the "
	"pipeline (agent-metrics-agg releases it).  Environment: AGENT_DB, AGENT_NAME, "
	"AGENT_AUTO_START (1), AGENT_MAX_RESUMES (2), AGENT_MAX_CONN_FAILURES (5), "
	"AGENT_LEASE_SECONDS (600), AGENT_BACKEND_URL, AGENT_CYCLE_ESTIMATE_USD, "
	"TRACEPARENT, AGENT_NOW.";

enum { OPT_TICK = 256 };

static struct argp_option options[] = {
	{ "force", 'f', 0, 0, "start a new cycle even when automatic starts are off", 0 },
	{ "dry-run", 'n', 0, 0, "decide and print; write nothing (no lease, no rows, no backend writes)", 0 },
	{ "tick", OPT_TICK, "ID", 0, "tick id to use (default: 32 random hex digits)", 0 },
	{ 0 }
};

struct args {
	const char *tick;
	int force, dry_run;
};

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;

	switch (key) {
	case 'f': a->force = 1; break;
	case 'n': a->dry_run = 1; break;
	case OPT_TICK: a->tick = arg; break;
	case ARGP_KEY_ARG: argp_error(st, "unexpected argument '%s'", arg); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct argp argp = { options, parse, NULL, summary, 0, 0, 0 };

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct trigger_cfg cfg;
	struct err e = ERR_INIT, warn = ERR_INIT;
	struct store *s = NULL;
	jv doc;
	int rc, span;
	const char *tp;

	cli_init("agent-trigger", argv);
	argp.children = cli_shared(CLI_DB | CLI_AGENT | CLI_QUIET,
				   NULL, "print no warnings (errors still go to stderr)");
	cli_parse(&argp, argc, argv, &a);
	span = trace_start("agent-trigger", TRACE_INTERNAL);
	if ((rc = trigger_config(&cfg, cli_opt.agent, a.tick, &e)))
		return cli_fail(&e);
	/* no caller's trace: the tick's trace is the one this span started */
	if (span && !trigger_traceparent_ok(getenv("TRACEPARENT")) && (tp = trace_child_traceparent()))
		snprintf(cfg.traceparent, sizeof cfg.traceparent, "%s", tp);
	cfg.force = a.force;
	cfg.dry_run = a.dry_run;
	if ((rc = store_open(&s, cli_opt.db, &e)))
		return cli_fail(&e);
	rc = trigger_tick(s, &cfg, &doc, &warn, &e);
	if (rc) {
		store_close(s);
		return cli_fail(&e);
	}
	if (warn.code && !cli_quiet)
		cli_warn("%s", warn.msg);
	{
		/* a tick that serves a session joins the session's trace */
		char *doc_tp = json_string(doc, "tick.traceparent");

		trace_adopt(doc_tp);
		free(doc_tp);
	}
	if (trace_on()) {
		/* the decision, as a domain event (agent-formats(5) EVENTS) */
		static const char *const keys[] = { "event", "action", "reason", "detail",
						    "tick.session_phase" };
		char *id = json_string(doc, "tick.id");
		int64_t sid = 0;
		jv m = json_set(jv_object(), "agent", jv_string(cfg.agent));

		for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
			char *v = json_string(doc, keys[i]);

			if (v)
				m = json_set(m, i == 4 ? "phase" : keys[i], jv_string(v));
			free(v);
		}
		json_int(doc, "session.id", &sid);
		trace_set_turn(id);
		trace_event("trigger.decision", sid, m);
		free(id);
	}
	trace_tick_result(span, "agent-trigger", doc);
	/* the tick is committed: the next stage gets the document before the
	 * store is closed (a WAL checkpoint, now and then) */
	rc = cli_emit(doc);
	fflush(stdout);
	store_close(s);
	return cli_finish(rc);
}

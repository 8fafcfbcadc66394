/* agent-invoke: the model call and its tool loop, every call, tool and token recorded. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "invoke.h"
#include "base/json.h"
#include "store/store.h"
#include "tick.h"
#include "net/trace.h"

static const char summary_doc[] =
	"Run the agent (Anthropic Messages API) with its context and tools, recording every "
	"call, tool and token."
	"\vAlone: --kind design|post_training|assessment [--session ID] runs one invocation "
	"and prints its summary.  In the pipeline, a tick with action \"invoke\" runs the "
	"invocation its session calls for and gets \"invocation\"; other documents pass "
	"through.  Every API call holds its worst-case cost first and settles it after: "
	"a refused hold makes no call.  Key: ANTHROPIC_API_KEY, ANTHROPIC_API_KEY_FILE or "
	"$CREDENTIALS_DIRECTORY/anthropic_api_key.";

static struct argp_option options[] = {
	{ "kind", 'k', "KIND", 0, "design, post_training or assessment (alone; default: from the session's phase)", 0 },
	{ "session", 's', "ID", 0, "the research session the invocation works on", 0 },
	{ "reason", 'r', "TEXT", 0, "the trigger reason shown to the model", 0 },
	{ 0 }
};

struct args {
	const char *kind, *reason;
	long long session;
};

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;

	switch (key) {
	case 'k':
		if (strcmp(arg, "design") && strcmp(arg, "post_training") && strcmp(arg, "assessment"))
			argp_error(st, "--kind: design, post_training or assessment, not '%s'", arg);
		a->kind = arg;
		break;
	case 's': a->session = cli_number(st, "--session", arg, 1, 1LL << 53); break;
	case 'r': a->reason = arg; break;
	case ARGP_KEY_ARG: argp_error(st, "unexpected argument '%s'", arg); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct argp argp = { options, parse, NULL, summary_doc, 0, 0, 0 };

struct pipe_run {
	struct store *store;
	const char *db;
};

static int pipe_doc(jv doc, void *arg)
{
	struct pipe_run *p = arg;
	struct err e = ERR_INIT;
	jv out;

	if (!tick_is(doc)) {
		jv_free(doc);
		cli_warn("stdin: not a tick document (use --kind to run an invocation alone)");
		return EX_DATA;
	}
	if (!tick_action_is(doc, "invoke"))
		return cli_emit(doc);
	if (!p->store && store_open(&p->store, p->db, &e)) {
		jv_free(doc);
		return cli_fail(&e);
	}
	if (invoke_stage(p->store, doc, &out, &e))
		return cli_fail(&e);
	trace_tick_result(trace_current(), "agent-invoke", out);
	return cli_emit(out);
}

/* one span per tick document, a child of the tick's trace; invoke_agent
 * and its chat and execute_tool spans go under it */
static int pipe_one(jv doc, void *arg)
{
	int span = tick_is(doc) ? trace_tick_start("agent-invoke", doc) : 0;
	int rc = pipe_doc(doc, arg);

	trace_fail(span, rc, NULL);
	trace_end(span);
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct err e = ERR_INIT;
	struct store *s = NULL;
	jv out;
	int rc;

	cli_init("agent-invoke", argv);
	argp.children = cli_shared(CLI_DB | CLI_AGENT | CLI_JSON | CLI_QUIET,
				   NULL, "alone: print no summary, only errors");
	cli_parse(&argp, argc, argv, &a);
	if (!a.kind && !a.session) {
		struct pipe_run p = { NULL, cli_opt.db };

		cli_pass_through("invoke");
		rc = cli_each_doc(pipe_one, &p);
		store_close(p.store);
		return cli_finish(rc);
	}
	{
		struct invoke_opts o = { cli_opt.agent, a.kind, (int64_t)a.session, NULL, a.reason };

		trace_start("agent-invoke", TRACE_INTERNAL);  /* ended at exit */
		if ((rc = store_open(&s, cli_opt.db, &e)))
			return cli_fail(&e);
		rc = invoke_run(s, &o, &out, &e);
		store_close(s);
		if (rc && rc != EX_NO)
			return cli_fail(&e);
		if (rc == EX_NO)
			cli_warn("budget_exhausted: the first call's hold was refused; nothing was spent");
		if (cli_quiet)
			jv_free(out);
		else if (cli_emit(out))
			rc = EX_TEMP;
	}
	return cli_finish(rc);
}

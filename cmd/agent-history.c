/* agent-history: the agent's latest research sessions, one block each. */
#include <stdio.h>
#include <stdlib.h>

#include "base/clock.h"
#include "cli.h"
#include "session.h"
#include "store/store.h"
#include "trigger.h"
#include "views/views.h"

static const char summary[] =
	"Show the agent's latest research sessions, newest first."
	"\vEach session: outcome (or phase while it runs), strategy, when and how long, "
	"training accuracy and loss, backtest Sharpe, win rate, drawdown and trades, the "
	"assessment's verdict or why it failed, and what its model calls cost.  OUTCOME "
	"is one of success, failed_design, failed_training, failed_training_gate, "
	"failed_backtest, failed_backtest_gate, failed_assessment, cancelled, "
	"failed_interrupted, failed_orphan.  A human layout on a terminal; the JSON "
	"document it is built from otherwise, or with --json.  Exit status: 0, 2 for a "
	"bad option, 4 and 5 when the store cannot be read.";

static struct argp_option options[] = {
	{ "limit", 'n', "N", 0, "sessions to show, 1 to 1000 (default 10)", 0 },
	{ "outcome", 'o', "OUTCOME", 0, "only the sessions that ended with OUTCOME", 0 },
	{ 0 }
};

struct args {
	const char *outcome;
	long long limit;
};

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;

	switch (key) {
	case 'n': a->limit = cli_number(st, "--limit", arg, 1, VIEWS_LIMIT_MAX); break;
	case 'o':
		if (!session_is_outcome(arg))
			argp_error(st, "--outcome: unknown outcome '%.60s'", arg);
		a->outcome = arg;
		break;
	case ARGP_KEY_ARG: argp_error(st, "unexpected argument '%s'", arg); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct argp argp = { options, parse, NULL, summary, 0, 0, 0 };

int main(int argc, char **argv)
{
	struct args a = { .limit = 10 };
	struct err e = ERR_INIT;
	struct store *s = NULL;
	const char *agent;
	int64_t now;
	jv doc = jv_null();
	int rc;

	cli_init("agent-history", argv);
	argp.children = cli_shared(CLI_DB | CLI_AGENT | CLI_JSON | CLI_QUIET, NULL, NULL);
	cli_parse(&argp, argc, argv, &a);
	agent = cli_opt.agent ? cli_opt.agent : getenv("AGENT_NAME");
	if (!agent || !*agent)
		agent = "default";
	if (!trigger_name_ok(agent, 100)) {
		cli_warn("AGENT_NAME: not 1 to 100 characters of [A-Za-z0-9_.-]: '%.60s'", agent);
		return EX_PERM;
	}
	if (clock_now_s(&now, &e)) {
		e.code = EX_PERM;
		return cli_fail(&e);
	}
	if ((rc = store_open(&s, cli_opt.db, &e)))
		return cli_fail(&e);
	rc = views_history(s, agent, (int)a.limit, a.outcome, now, &doc, &e);
	store_close(s);
	if (rc)
		return cli_fail(&e);
	return cli_view(doc, cli_opt.json, views_render_history);
}

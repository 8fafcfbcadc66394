/* agent-cost: what the model cost, by day, week, month, model, kind or session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "cli.h"
#include "cost.h"
#include "store/store.h"
#include "trigger.h"
#include "views/views.h"

static const char summary[] =
	"Report the agent's model spend over a range of time, grouped by day, week, month, "
	"model, kind or session."
	"\vThe money is the budget ledger's: every hold closed in the range, at its settled "
	"cost (or in full when it expired), so the total is what agent-budget history says "
	"for those days, to the micro-dollar; the model, kind, session and tokens come from "
	"the model call that settled each hold, and holds without one are unattributed.  "
	"WHEN is a day YYYY-MM-DD (--until includes it), an RFC 3339 time, 'now', or an age "
	"like 24h, 7d or 4w; --until is excluded.  Default: today and the six days before "
	"(UTC), by day.  A table on a terminal; the JSON document it is built from "
	"otherwise, or with --json.  Also `agent budget report`.  Exit status: 0, 2 for "
	"bad usage, 4 and 5 when the store cannot be read.";

enum { OPT_ALL = 256 };

static struct argp_option options[] = {
	{ "by", 'b', "GROUP", 0, "day (default), week (ISO 8601, UTC), month, model, kind or session", 0 },
	{ "since", 's', "WHEN", 0, "the start of the range (included)", 0 },
	{ "until", 'u', "WHEN", 0, "the end of the range (excluded)", 0 },
	{ "all-agents", OPT_ALL, 0, 0, "every agent of the store, not one", 0 },
	{ 0 }
};

struct args {
	const char *by, *since, *until;
	int all;
};

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;

	switch (key) {
	case 'b': a->by = arg; break;
	case 's': a->since = arg; break;
	case 'u': a->until = arg; break;
	case OPT_ALL: a->all = 1; break;
	case ARGP_KEY_ARG: argp_error(st, "unexpected argument '%s'", arg); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct argp argp = { options, parse, NULL, summary, 0, 0, 0 };

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct err e = ERR_INIT;
	struct cost_query q = { .by = COST_DAY };
	struct store *s = NULL;
	const char *agent;
	int64_t now;
	jv doc = jv_null();
	int rc;

	cli_init("agent-cost", argv);
	argp.children = cli_shared(CLI_DB | CLI_AGENT | CLI_JSON | CLI_QUIET, NULL, NULL);
	cli_parse(&argp, argc, argv, &a);
	/* bad usage is one line and exit 2, before the store is opened */
	if (a.by && cost_by_parse(a.by, &q.by) < 0) {
		cli_warn("--by: not day, week, month, model, kind or session: '%.60s'", a.by);
		return EX_USAGE;
	}
	if (a.all && cli_opt.agent) {
		cli_warn("--agent and --all-agents exclude each other");
		return EX_USAGE;
	}
	agent = cli_opt.agent ? cli_opt.agent : getenv("AGENT_NAME");
	if (!agent || !*agent)
		agent = "default";
	if (!a.all && !trigger_name_ok(agent, 100)) {
		cli_warn("AGENT_NAME: not 1 to 100 characters of [A-Za-z0-9_.-]: '%.60s'", agent);
		return EX_PERM;
	}
	snprintf(q.agent, sizeof q.agent, "%s", a.all ? "" : agent);
	if (clock_now_s(&now, &e)) {
		e.code = EX_PERM;
		return cli_fail(&e);
	}
	if (cost_range(a.since, a.until, now, &q.since, &q.until, &e))
		return cli_fail(&e);
	if ((rc = store_open(&s, cli_opt.db, &e)))
		return cli_fail(&e);
	rc = cost_report(s, &q, &doc, &e);
	store_close(s);
	if (rc)
		return cli_fail(&e);
	return cli_view(doc, cli_opt.json, views_render_cost);
}

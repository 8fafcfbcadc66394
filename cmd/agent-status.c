/* agent-status: the current cycle, the recent ones, today's budget, the pause. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "cli.h"
#include "base/json.h"
#include "store/store.h"
#include "trigger.h"
#include "views/views.h"

static const char summary[] =
	"Show the agent's current research cycle, its recent cycles and today's budget."
	"\vCurrent cycle: session, phase, strategy, age and the backend operation's "
	"progress as the last tick saw it (no backend call).  Recent cycles: outcome, "
	"Sharpe or the gate and metric that failed, age.  Today's budget: used of the "
	"limit, invocations, cycles completed and active, cycles still affordable.  A "
	"paused agent gets a banner.  A human layout on a terminal; the JSON document "
	"it is built from otherwise, or with --json.  Exit status: 0, or 4 and 5 when "
	"the store cannot be read.";

static struct argp_option options[] = {
	{ "recent", 'n', "N", 0, "recent cycles to show, 0 to 1000 (default 5)", 0 },
	{ 0 }
};

struct args {
	long long recent;
};

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;

	switch (key) {
	case 'n': a->recent = cli_number(st, "--recent", arg, 0, VIEWS_LIMIT_MAX); break;
	case ARGP_KEY_ARG: argp_error(st, "unexpected argument '%s'", arg); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct argp argp = { options, parse, NULL, summary, 0, 0, 0 };

/* The systemd unit's store (share/systemd/agent-trigger.service). */
#define SERVICE_STORE "/var/lib/agent/agent.db"

/* A store with no tick yet: say which one was read (an operator's shell
 * without AGENT_DB reads another store than the service). */
static jv where(jv doc, struct store *s)
{
	char *name = json_string(doc, "state.name"), text[600];
	const char *path = cli_opt.db && *cli_opt.db ? cli_opt.db : store_default_path();

	if (name && !strcmp(name, "never_ran")) {
		int sqlite = store_driver(s) == STORE_SQLITE;

		jv st = json_get(jv_copy(doc), "state");

		st = json_set(st, "store", jv_string(sqlite ? path : "postgresql"));
		if (sqlite && strcmp(path, SERVICE_STORE))
			snprintf(text, sizeof text,
				 "no tick yet in %.300s; the service's store is " SERVICE_STORE
				 " (AGENT_DB=" SERVICE_STORE " agent status)", path);
		else
			snprintf(text, sizeof text,
				 "no tick yet in %.300s: start the timer, or run `agent trigger`",
				 sqlite ? path : "this PostgreSQL store");
		st = json_set(st, "text", jv_string(text));
		doc = json_set(doc, "state", st);
	}
	free(name);
	return doc;
}

int main(int argc, char **argv)
{
	struct args a = { .recent = 5 };
	struct err e = ERR_INIT;
	struct budget_cfg cfg;
	struct store *s = NULL;
	jv doc = jv_null();
	int rc;

	cli_init("agent-status", argv);
	argp.children = cli_shared(CLI_DB | CLI_AGENT | CLI_JSON | CLI_QUIET, NULL, NULL);
	cli_parse(&argp, argc, argv, &a);
	if ((rc = budget_config(&cfg, cli_opt.agent, &e)))
		return cli_fail(&e);
	if (!trigger_name_ok(cfg.agent, 100)) {
		cli_warn("AGENT_NAME: not 1 to 100 characters of [A-Za-z0-9_.-]: '%.60s'", cfg.agent);
		return EX_PERM;
	}
	if ((rc = store_open(&s, cli_opt.db, &e)))
		return cli_fail(&e);
	rc = views_status(s, &cfg, (int)a.recent, &doc, &e);
	if (rc == 0)
		doc = where(doc, s);
	store_close(s);
	if (rc)
		return cli_fail(&e);
	return cli_view(doc, cli_opt.json, views_render_status);
}

/* agent-session: everything about one research session, with its timeline. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/clock.h"
#include "cli.h"
#include "store/store.h"
#include "views/views.h"

static const char summary[] =
	"Show one research session: strategy, training, backtest, assessment, cost and timeline."
	"\vThe timeline lists the session's phases, its model calls (agent_invocations: "
	"kind, model, status, tokens, cost) and its tool calls (agent_actions: tool, "
	"success, duration) in order.  A human layout on a terminal; the JSON document "
	"it is built from otherwise, or with --json.  Exit status: 0; 1 when there is no "
	"such session; 2 for a bad option or id; 4 and 5 when the store cannot be read.";

static struct argp_option options[] = {
	{ 0 }
};

struct args {
	long long id;
};

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;

	switch (key) {
	case ARGP_KEY_ARG: {
		char *end;

		if (a->id)
			argp_error(st, "unexpected argument '%s'", arg);
		errno = 0;
		a->id = strtoll(arg, &end, 10);
		if (errno || *end || !*arg || a->id < 1 || arg[0] == '+')
			argp_error(st, "not a session id: '%.40s'", arg);
		break;
	}
	case ARGP_KEY_END:
		if (!a->id)
			argp_error(st, "a session id is needed");
		break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct argp argp = { options, parse, "ID", summary, 0, 0, 0 };

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct err e = ERR_INIT;
	struct store *s = NULL;
	int64_t now;
	jv doc = jv_null();
	int rc;

	cli_init("agent-session", argv);
	argp.children = cli_shared(CLI_DB | CLI_JSON | CLI_QUIET, NULL, NULL);
	cli_parse(&argp, argc, argv, &a);
	if (clock_now_s(&now, &e)) {
		e.code = EX_PERM;
		return cli_fail(&e);
	}
	if ((rc = store_open(&s, cli_opt.db, &e)))
		return cli_fail(&e);
	rc = views_session(s, a.id, now, &doc, &e);
	store_close(s);
	if (rc == EX_NO) {
		if (!cli_quiet)
			cli_fail(&e);
		return EX_NO;
	}
	if (rc)
		return cli_fail(&e);
	return cli_view(doc, cli_opt.json, views_render_session);
}

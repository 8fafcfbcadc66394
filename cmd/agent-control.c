/* agent-control: the operator's pause, resume and cancel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "cli.h"
#include "control.h"
#include "base/json.h"
#include "store/store.h"
#include "net/trace.h"
#include "session.h"
#include "trigger.h"

static const char summary[] =
	"Pause or resume the agent's ticks, or cancel its active research session."
	"\vpause: every tick is logged as skipped until resume (a running backend "
	"operation goes on; it is looked at again after resume).  cancel: the backend "
	"operation of the session is cancelled (DELETE /operations/{id}; a failure there is "
	"reported but does not stop the cancel) and the session ends with outcome "
	"\"cancelled\"; exit 1 when there is nothing to cancel.  The result is one JSON "
	"object on stdout (a line of text on a terminal, unless --json).";

static struct argp_option options[] = {
	{ "reason", 'r', "TEXT", 0, "why (kept with the pause, or as the session's failure reason)", 0 },
	{ 0 }
};

struct args {
	const char *reason, *verb;
};

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;

	switch (key) {
	case 'r':
		if (strlen(arg) > 500 || strpbrk(arg, "\n\r"))
			argp_error(st, "--reason: at most 500 characters on one line");
		a->reason = arg;
		break;
	case ARGP_KEY_ARG:
		if (a->verb)
			argp_error(st, "unexpected argument '%s'", arg);
		if (strcmp(arg, "pause") && strcmp(arg, "resume") && strcmp(arg, "cancel"))
			argp_error(st, "unknown command '%s' (pause, resume or cancel)", arg);
		a->verb = arg;
		break;
	case ARGP_KEY_END:
		if (!a->verb)
			argp_error(st, "a command is needed: pause, resume or cancel");
		break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct argp argp = { options, parse, "pause|resume|cancel", summary, 0, 0, 0 };

static void print_human(jv o)
{
	char *agent = json_string(o, "agent"), *cmd = json_string(o, "command");
	char *reason = json_string(o, "reason"), *op = json_string(o, "operation.id");
	int64_t sid = 0;
	int changed = 1, cancelled = 0, op_done = 0;

	json_bool(o, "changed", &changed);
	json_bool(o, "cancelled", &cancelled);
	json_bool(o, "operation.cancelled", &op_done);
	json_int(o, "session.id", &sid);
	if (!strcmp(cmd, "cancel") && !cancelled) {
		printf("agent %s: nothing to cancel: no active session\n", agent);
	} else if (!strcmp(cmd, "cancel")) {
		/* the phase it was in: the last one it entered */
		static const char *const at[] = { "assessing_at", "backtesting_at", "training_at",
						  "designing_at" };
		char *step = json_string(o, "session.progress.current_step");
		const char *phase = NULL;

		for (int i = 0; i < 4 && !phase; i++) {
			char key[40];

			snprintf(key, sizeof key, "session.%s", at[i]);
			if (json_is_set(o, key))
				phase = at[i];
		}
		char head[300] = "", tail[200] = "";
		int n = snprintf(head, sizeof head, "agent %s: cancelled session %lld", agent, (long long)sid);

		if (phase && n > 0 && (size_t)n < sizeof head)
			snprintf(head + n, sizeof head - (size_t)n, " (%.*s%s%.60s)",
				 (int)(strchr(phase, '_') - phase), phase, step && *step ? ", " : "",
				 step && *step ? step : "");
		if (op)
			snprintf(tail, sizeof tail, "backend operation %.60s %s", op,
				 op_done ? "cancelled" : "NOT cancelled (see the warning)");
		/* one line when it fits in 80 columns, the operation on a second
		 * one otherwise */
		if (!tail[0])
			printf("%s\n", head);
		else if (strlen(head) + 2 + strlen(tail) < 80)
			printf("%s; %s\n", head, tail);
		else
			printf("%s;\n  %s\n", head, tail);
		free(step);
	} else {
		printf("agent %s: %s%s%s%s\n", agent, !strcmp(cmd, "pause") ? "paused" : "resumed",
		       changed ? "" : " (already)", reason ? ": " : "", reason ? reason : "");
	}
	free(agent);
	free(cmd);
	free(reason);
	free(op);
}

static int show(struct args *a, jv o)
{
	if (json_kind_at(o, "session") == JV_KIND_OBJECT)
		o = json_set(o, "session", session_for_people(json_get(jv_copy(o), "session")));
	if (cli_quiet) {
		jv_free(o);
		return 0;
	}
	if (cli_tty() && !cli_opt.json) {
		print_human(o);
		jv_free(o);
		return 0;
	}
	return cli_emit(o);
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct err e = ERR_INIT, warn = ERR_INIT;
	struct store *s = NULL;
	const char *agent;
	int64_t now;
	jv out = jv_invalid();
	int rc;

	cli_init("agent-control", argv);
	argp.children = cli_shared(CLI_DB | CLI_AGENT | CLI_JSON | CLI_QUIET, NULL, NULL);
	cli_parse(&argp, argc, argv, &a);
	trace_startf(TRACE_INTERNAL, "agent-control %s", a.verb);  /* ended at exit */
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
	if (!strcmp(a.verb, "cancel"))
		rc = control_cancel(s, agent, a.reason, now, &out, &warn, &e);
	else
		rc = control_pause(s, agent, !strcmp(a.verb, "pause"), a.reason, now, &out, &e);
	store_close(s);
	if (warn.code)
		cli_warn("%s", warn.msg);
	if (rc && rc != EX_NO)
		return cli_fail(&e);
	/* the human line says it on a terminal: the error is said once */
	if (rc == EX_NO && !cli_quiet && !(cli_tty() && !cli_opt.json))
		cli_fail(&e);
	return cli_finish(show(&a, out) ? EX_TEMP : rc);
}

/* agent-logs: ticks, model calls and tool calls as they happen. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "cli.h"
#include "store/store.h"
#include "trigger.h"
#include "views/views.h"

static const char summary[] =
	"Show the agent's ticks, model calls and tool calls, and with --follow those to come."
	"\vOne event a line, oldest first: a tick (event, action, reason, duration, exit "
	"status), a model call (kind, model, status, tokens, cost) or a tool call (tool, "
	"success, duration).  --follow polls the store every --interval seconds for rows "
	"past the last ones shown, and shows a tick once it has finished (with the calls it "
	"made), until SIGINT or SIGTERM (exit 0) or --timeout.  A human line on a terminal; "
	"one JSON object a line otherwise, or with --json.  Exit status: 0; 2 for a bad "
	"option; 4 and 5 when the store cannot be read (when following: after "
	"--interval retries stop helping, see agent-logs(1)).";

static struct argp_option options[] = {
	{ "session", 's', "ID", 0, "only the events of session ID", 0 },
	{ "limit", 'n', "N", 0, "events shown from the past, 0 to 1000 (default 20)", 0 },
	{ "follow", 'f', 0, 0, "then show new events as they come", 0 },
	{ "interval", 'i', "SECONDS", 0, "with --follow: seconds between polls, 0.1 to 60 (default 1)", 0 },
	{ "timeout", 't', "SECONDS", 0, "with --follow: stop after SECONDS (default: never)", 0 },
	{ 0 }
};

struct args {
	long long session, limit;
	double interval, timeout;
	int follow;
};

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;

	switch (key) {
	case 's': a->session = cli_number(st, "--session", arg, 1, 9000000000000000000LL); break;
	case 'n': a->limit = cli_number(st, "--limit", arg, 0, VIEWS_LIMIT_MAX); break;
	case 'f': a->follow = 1; break;
	case 'i': a->interval = cli_seconds(st, "--interval", arg, 0.1, 60); break;
	case 't': a->timeout = cli_seconds(st, "--timeout", arg, 0.1, 31536000); break;
	case ARGP_KEY_ARG: argp_error(st, "unexpected argument '%s'", arg); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct argp argp = { options, parse, NULL, summary, 0, 0, 0 };

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int show(const struct args *a, jv events)
{
	int human = cli_tty() && !cli_opt.json, color = cli_color(), rc = 0;

	jv_array_foreach(events, i, ev) {
		if (cli_quiet || rc) {
			jv_free(ev);
		} else if (human) {
			char *line = views_render_event(ev, color);

			jv_free(ev);
			if (line && printf("%s\n", line) < 0)
				rc = EX_TEMP;
			free(line);
		} else {
			rc = cli_emit(ev);
		}
	}
	jv_free(events);
	if (fflush(stdout) != 0)
		rc = EX_TEMP;
	return rc;
}

static double mono(void)
{
	return (double)clock_mono_us() / 1e6;
}

int main(int argc, char **argv)
{
	struct args a = { .limit = 20, .interval = 1 };
	struct err e = ERR_INIT;
	struct store *s = NULL;
	struct views_log log;
	struct sigaction sa;
	const char *agent;
	double start, failing = 0;
	jv events;
	int rc;

	cli_init("agent-logs", argv);
	argp.children = cli_shared(CLI_DB | CLI_AGENT | CLI_JSON | CLI_QUIET, NULL, NULL);
	cli_parse(&argp, argc, argv, &a);
	agent = cli_opt.agent ? cli_opt.agent : getenv("AGENT_NAME");
	if (!agent || !*agent)
		agent = "default";
	if (!trigger_name_ok(agent, 100)) {
		cli_warn("AGENT_NAME: not 1 to 100 characters of [A-Za-z0-9_.-]: '%.60s'", agent);
		return EX_PERM;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if ((rc = store_open(&s, cli_opt.db, &e)))
		return cli_fail(&e);
	views_log_init(&log, agent, a.session);
	rc = views_log_last(&log, s, (int)a.limit, &events, &e);
	if (rc == 0)
		rc = show(&a, events);
	else
		cli_fail(&e);
	start = mono();
	while (rc == 0 && a.follow && !stop) {
		struct timespec ts = { (time_t)a.interval,
				       (long)((a.interval - (double)(time_t)a.interval) * 1e9) };

		nanosleep(&ts, NULL);  /* a signal cuts it short */
		if (stop || (a.timeout > 0 && mono() - start >= a.timeout))
			break;
		if (!s && store_open(&s, cli_opt.db, &e) != 0) {
			s = NULL;
			if (e.code != EX_TEMP)
				rc = cli_fail(&e);
			else if (failing == 0)
				failing = mono();
		} else if ((rc = views_log_next(&log, s, mono(), 120, &events, &e)) == 0) {
			failing = 0;
			rc = show(&a, events);
		} else if (rc == EX_TEMP) {
			/* the store went away: say so once, reconnect, go on */
			if (failing == 0 && !cli_quiet)
				cli_warn("%s; retrying", e.msg);
			if (failing == 0)
				failing = mono();
			store_close(s);
			s = NULL;
			rc = 0;
		} else {
			cli_fail(&e);
		}
		if (rc == 0 && failing > 0 && mono() - failing > 300) {
			cli_warn("the store has been unavailable for 5 minutes");
			rc = EX_TEMP;
		}
	}
	views_log_release(&log);
	store_close(s);
	return cli_finish(rc);
}

/* agent-monitor: follow a research cycle with nested progress bars; Ctrl+C cancels. */
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/backend.h"
#include "cli.h"
#include "base/json.h"
#include "views/monitor.h"
#include "store/store.h"
#include "trigger.h"

extern char **environ;

static const char summary_doc[] =
	"Follow a research cycle until it ends, with a progress bar for the cycle and one for its backend operation."
	"\vWithout SESSION it follows the agent's active session.  With --trigger it first "
	"runs one tick (agent-cycle, found next to agent-monitor or on PATH) and follows "
	"the cycle that tick starts or moves, running each later tick itself as soon as "
	"the backend's operation is over (under agent-cycle's lease, as the timer's "
	"ticks; a timer tick meanwhile just finds the lease taken); without it, it says "
	"when the timer's next tick is due.  The cycle's bar stands at 5 % designing, "
	"20 % training, 65 % backtesting, 90 % assessing; the operation's bar shows the "
	"backend's progress (GET /operations/{id}, every --interval seconds).  Ctrl+C "
	"(SIGINT) cancels the session as agent-control cancel does, unless --no-cancel; "
	"SIGTERM stops following.  Bars on a terminal; one JSON object a line per change "
	"otherwise (or with --json), the last one the summary.  Exit status: 0 when the "
	"session ended with success (or on SIGTERM); 1 when it ended otherwise, was "
	"cancelled, or there is none to follow; 4 at --timeout, when the backend lost the "
	"operation or a tick failed for a temporary reason; 2 and 5 as usual.";

enum { OPT_NO_CANCEL = 256, OPT_FORCE };

#define MODEL_MAX 100

static struct argp_option options[] = {
	{ "trigger", 't', 0, 0, "run one tick first (agent-cycle) and follow its cycle", 0 },
	{ "force", OPT_FORCE, 0, 0, "with --trigger: start a new cycle even when automatic starts are off", 0 },
	{ "model", 'm', "MODEL", 0, "with --trigger: the model of the ticks it runs (agent-cycle --model)", 0 },
	{ "dry-run", 'n', 0, 0, "with --trigger: say what the tick would do, do nothing (agent-cycle --dry-run)", 0 },
	{ "no-cancel", OPT_NO_CANCEL, 0, 0, "Ctrl+C stops following; the cycle goes on", 0 },
	{ "interval", 'i', "SECONDS", 0, "seconds between polls, 0.1 to 10 (default 0.5)", 0 },
	{ "timeout", 'T', "SECONDS", 0, "stop following after SECONDS (default 86400)", 0 },
	{ 0 }
};

struct args {
	long long session;
	double interval, timeout;
	int trigger, force, no_cancel, dry_run;
	const char *model;
};

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;

	switch (key) {
	case 't': a->trigger = 1; break;
	case OPT_FORCE: a->force = 1; break;
	case OPT_NO_CANCEL: a->no_cancel = 1; break;
	case 'n': a->dry_run = 1; break;
	case 'm':
		if (!*arg || strlen(arg) > MODEL_MAX || strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(arg))
			argp_error(st, "--model: not 1 to %d characters of [A-Za-z0-9._-]: '%.60s'",
				   MODEL_MAX, arg);
		a->model = arg;
		break;
	case 'i': a->interval = cli_seconds(st, "--interval", arg, 0.1, 10); break;
	case 'T': a->timeout = cli_seconds(st, "--timeout", arg, 0.1, 31536000); break;
	case ARGP_KEY_ARG:
		if (a->session)
			argp_error(st, "unexpected argument '%s'", arg);
		a->session = cli_number(st, "SESSION", arg, 1, 9000000000000000000LL);
		break;
	case ARGP_KEY_END:
		if (a->session && a->trigger)
			argp_error(st, "SESSION and --trigger do not go together");
		if (a->force && !a->trigger)
			argp_error(st, "--force goes with --trigger");
		if (a->model && !a->trigger)
			argp_error(st, "--model goes with --trigger");
		if (a->dry_run && !a->trigger)
			argp_error(st, "--dry-run goes with --trigger");
		break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct argp argp = { options, parse, "[SESSION]", summary_doc, 0, 0, 0 };

static volatile sig_atomic_t interrupted, stopped;
static int no_cancel;

static void on_signal(int sig)
{
	if (sig == SIGINT && !interrupted && !no_cancel)
		interrupted = 1;
	else
		stopped = 1;   /* SIGTERM, or a second Ctrl+C */
}

/* The terminal's columns now (it may have been resized), 80 when unknown. */
static int term_width(void)
{
	struct winsize ws;

	return ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20 ? ws.ws_col : 80;
}

/* AGENT_TICK_INTERVAL_SECONDS: the timer's period (300), for "next tick in". */
static double tick_interval(void)
{
	const char *v = getenv("AGENT_TICK_INTERVAL_SECONDS");
	char *end;
	long n = v && *v ? strtol(v, &end, 10) : 0;

	return n >= 1 && n <= 86400 && !*end ? (double)n : 300;
}

struct view {
	int human, color, utf8, drawn, rc;
	jv last;           /* the last frame printed, without its clock */
};

static int emit(void *arg, jv fr)
{
	struct view *v = arg;

	if (cli_quiet || v->rc) {
		jv_free(fr);
		return 0;
	}
	if (v->human) {
		char *text = monitor_render_frame(fr, term_width(), v->color, v->utf8);

		jv_free(fr);
		/* back to the first of the two lines, then each line anew */
		printf("%s\r\033[2K", v->drawn ? "\033[1A" : "");
		for (char *p = text; p && *p; p++)
			fputs(*p == '\n' ? "\n\033[2K" : (char[]){ *p, 0 }, stdout);
		free(text);
		v->drawn = 1;
	} else {
		jv key = jv_object_delete(jv_object_delete(jv_copy(fr), jv_string("at")),
					  jv_string("elapsed_seconds"));

		if (jv_equal(jv_copy(key), jv_copy(v->last))) {
			jv_free(key);
			jv_free(fr);
			return 0;
		}
		jv_free(v->last);
		v->last = key;
		v->rc = cli_emit(fr);
	}
	if (fflush(stdout) != 0)
		v->rc = EX_TEMP;
	return v->rc;
}

/* ---------------------------------------------------------------- the tick */

struct tick {
	pid_t pid;
	int status;          /* -1 while it runs */
	FILE *out, *err;     /* its stdout and stderr (unlinked temporary files) */
	const struct args *a;
	int runs;            /* ticks started */
};

static int tick_status(void *arg)
{
	struct tick *t = arg;
	int st;

	if (t->status < 0 && t->pid > 0 && waitpid(t->pid, &st, WNOHANG) == t->pid)
		t->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return t->status;
}

/* agent-cycle next to this program, else on PATH. */
static const char *cycle_path(char *buf, size_t n)
{
	ssize_t len = readlink("/proc/self/exe", buf, n - 16);
	char *slash;

	if (len > 0) {
		buf[len] = '\0';
		if ((slash = strrchr(buf, '/'))) {
			strcpy(slash + 1, "agent-cycle");
			if (access(buf, X_OK) == 0)
				return buf;
		}
	}
	return "agent-cycle";
}

/* Starts agent-cycle; the first tick with --force when asked, every one
 * with --model.  Each tick's output replaces the last one's. */
static int tick_start(struct tick *t)
{
	const struct args *a = t->a;
	char path[PATH_MAX];
	const char *argv[14];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int n = 0, rc;

	if (t->pid > 0 && tick_status(t) < 0)
		return EX_TEMP;   /* one at a time */
	if (!t->out)
		t->out = tmpfile();
	if (!t->err)
		t->err = tmpfile();
	if (!t->out || !t->err) {
		cli_warn("cannot create a temporary file: %s", strerror(errno));
		return EX_TEMP;
	}
	if (ftruncate(fileno(t->out), 0) || ftruncate(fileno(t->err), 0)) {
		cli_warn("cannot reuse a temporary file: %s", strerror(errno));
		return EX_TEMP;
	}
	rewind(t->out);
	rewind(t->err);
	t->status = -1;
	argv[n++] = "agent-cycle";
	argv[n++] = a->dry_run ? "--dry-run" : "-q";
	if (a->force && !t->runs)
		argv[n++] = "--force";
	if (a->model) {
		argv[n++] = "--model";
		argv[n++] = a->model;
	}
	if (cli_opt.agent) {
		argv[n++] = "--agent";
		argv[n++] = cli_opt.agent;
	}
	if (cli_opt.db) {
		argv[n++] = "--db";
		argv[n++] = cli_opt.db;
	}
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fileno(t->out), 1);
	posix_spawn_file_actions_adddup2(&fa, fileno(t->err), 2);
	posix_spawnattr_init(&at);
	/* its own process group: Ctrl+C is the monitor's to handle */
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
	rc = posix_spawnp(&t->pid, cycle_path(path, sizeof path), &fa, &at, (char *const *)argv,
			  environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc) {
		t->pid = 0;
		t->status = 0;
		cli_warn("cannot run agent-cycle: %s", strerror(rc));
		return EX_PERM;
	}
	t->runs++;
	return 0;
}

static int tick_drive(void *arg)
{
	return tick_start(arg);
}

/* What the tick said: its decision, or its last diagnostic. */
static jv tick_message(struct tick *t, jv sum)
{
	char line[600] = "", last[600] = "";
	jv doc;
	struct err e = ERR_INIT;

	rewind(t->err);
	while (fgets(line, sizeof line, t->err))
		if (line[0] != '\n')
			snprintf(last, sizeof last, "%s", line);
	last[strcspn(last, "\n")] = '\0';
	rewind(t->out);
	line[0] = '\0';
	if (fgets(line, sizeof line, t->out) && json_parse(line, strlen(line), &doc, &e) == 0) {
		char *ev = json_string(doc, "event"), *ac = json_string(doc, "action");
		char *re = json_string(doc, "reason");

		sum = json_set(sum, "message", jv_string_fmt("no cycle to follow: the tick's event %s, action %s (%s)",
							      ev ? ev : "?", ac ? ac : "?", re ? re : "?"));
		free(ev);
		free(ac);
		free(re);
		jv_free(doc);
	} else if (t->status > 0) {
		sum = json_set(sum, "message", jv_string_fmt("the tick failed (exit %d)%s%s", t->status,
							      last[0] ? ": " : "", last));
	}
	return sum;
}

int main(int argc, char **argv)
{
	struct args a = { .interval = 0.5, .timeout = 86400 };
	struct err e = ERR_INIT;
	struct store *s = NULL;
	struct backend b;
	struct tick t = { .pid = 0, .status = -1 };
	struct view v = { .last = jv_null() };
	struct monitor_cfg c = { 0 };
	struct sigaction sa;
	const char *agent;
	jv sum = jv_null();
	int rc;

	cli_init("agent-monitor", argv);
	argp.children = cli_shared(CLI_DB | CLI_AGENT | CLI_JSON | CLI_QUIET, NULL, NULL);
	cli_parse(&argp, argc, argv, &a);
	agent = cli_opt.agent ? cli_opt.agent : getenv("AGENT_NAME");
	if (!agent || !*agent)
		agent = "default";
	if (!trigger_name_ok(agent, 100)) {
		cli_warn("AGENT_NAME: not 1 to 100 characters of [A-Za-z0-9_.-]: '%.60s'", agent);
		return EX_PERM;
	}
	if (a.dry_run) {
		/* what the tick would do, as agent-cycle --dry-run says it */
		char path[PATH_MAX];
		const char *av[10];
		int n = 0;

		av[n++] = "agent-cycle";
		av[n++] = "--dry-run";
		if (a.force)
			av[n++] = "--force";
		if (cli_opt.agent) {
			av[n++] = "--agent";
			av[n++] = cli_opt.agent;
		}
		if (cli_opt.db) {
			av[n++] = "--db";
			av[n++] = cli_opt.db;
		}
		if (cli_opt.json)
			av[n++] = "--json";
		av[n] = NULL;
		execvp(cycle_path(path, sizeof path), (char *const *)av);
		cli_warn("cannot run agent-cycle: %s", strerror(errno));
		return EX_PERM;
	}
	if ((rc = backend_init(&b, &e)))
		return cli_fail(&e);
	if (b.timeout_ms > 5000)
		b.timeout_ms = 5000;   /* a poll waits no longer than the bars can stand still */
	if ((rc = store_open(&s, cli_opt.db, &e)))
		return cli_fail(&e);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	setlocale(LC_CTYPE, "");
	v.human = cli_tty() && !cli_opt.json;
	v.color = cli_color();
	v.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	t.a = &a;
	if (a.trigger && (rc = tick_start(&t))) {
		store_close(s);
		return rc;
	}
	c.agent = agent;
	c.session = a.session;
	c.poll_s = a.interval;
	c.timeout_s = a.timeout;
	c.start_wait_s = 600;
	c.tick_status = a.trigger ? tick_status : NULL;
	c.tick_start = a.trigger ? tick_drive : NULL;
	c.tick_arg = &t;
	c.tick_interval_s = tick_interval();
	c.emit = emit;
	c.emit_arg = &v;
	no_cancel = a.no_cancel;
	c.interrupt = &interrupted;
	c.stop = &stopped;
	if (v.human && !cli_quiet)
		fputs("\033[?25l", stdout);   /* no cursor blinking over the bars */
	rc = monitor_run(&c, s, &b, &sum, &e);
	if (v.human && !cli_quiet)
		fputs(v.drawn ? "\n\033[?25h" : "\033[?25h", stdout);
	store_close(s);
	if (t.pid > 0) {
		/* give the tick a moment to end; it is never killed half-way */
		for (int i = 0; i < 100 && tick_status(&t) < 0; i++)
			usleep(50000);
		char *end = json_string(sum, "end");

		if (end && (!strcmp(end, "none") || !strcmp(end, "tick_failed")))
			sum = tick_message(&t, sum);
		free(end);
	}
	jv_free(v.last);
	if (t.out)
		fclose(t.out);
	if (t.err)
		fclose(t.err);
	if (rc) {
		jv_free(sum);
		return cli_finish(cli_fail(&e));
	}
	rc = monitor_exit_status(sum);
	if (cli_quiet) {
		jv_free(sum);
	} else if (v.human) {
		char *text = monitor_render_summary(sum, term_width(), v.color, v.utf8);

		jv_free(sum);
		fputs(text ? text : "", stdout);
		free(text);
	} else if (cli_emit(sum)) {
		rc = EX_TEMP;
	}
	return cli_finish(rc);
}

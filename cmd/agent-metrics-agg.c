/* agent-metrics-agg: the cycle's last stage; Prometheus metrics of the store and of event streams. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "obs/events.h"
#include "base/json.h"
#include "obs/metrics.h"
#include "obs/prom.h"
#include "tick.h"
#include "net/trace.h"
#include "trigger.h"

static const char summary[] =
	"Aggregate ended research sessions into agent_metrics and close each tick of the "
	"cycle (the pipeline's last stage); render Prometheus metrics of the store or of "
	"JSONL trace events."
	"\vWithout options it reads tick documents: a session that ended in the tick gets "
	"its agent_metrics row (durations per phase, training and backtest figures, tokens, "
	"cost, outcome) and its cycle counted completed; every tick's lease is released and "
	"its trigger row gets its duration; the documents are written on (\"metrics\" added "
	"for an ended session); then the metrics go to AGENT_METRICS_TEXTFILE and to the "
	"Pushgateway at AGENT_PUSHGATEWAY_URL (or PROMETHEUS_PUSHGATEWAY_URL) when set.  "
	"With --release TICK it only closes that tick after a failed stage: lease released, "
	"exit status and failed stage recorded.  --render, --deliver and --serve show the "
	"store's metrics (names prefixed AGENT_METRICS_NAMESPACE, default \"agent\"); "
	"--events aggregates trace events (at most AGENT_EVENTS_MAX_SERIES label sets per "
	"metric, default 1000).";

enum { OPT_RELEASE = 256, OPT_STATUS, OPT_STAGE, OPT_ERROR, OPT_RENDER, OPT_SERVE, OPT_DELIVER, OPT_EVENTS,
       OPT_STRICT, OPT_NAMESPACE };

static struct argp_option options[] = {
	{ "release", OPT_RELEASE, "TICK", 0, "close tick TICK after a failed stage", 0 },
	{ "status", OPT_STATUS, "N", 0, "with --release: the failed stage's exit status", 0 },
	{ "stage", OPT_STAGE, "NAME", 0, "with --release: the failed stage", 0 },
	{ "error", OPT_ERROR, "LINE", 0, "with --release: the failed stage's error line", 0 },
	{ "render", OPT_RENDER, 0, 0, "write the store's metrics (Prometheus text format) to stdout",
	  0 },
	{ "print", 0, 0, OPTION_ALIAS, NULL, 0 },
	{ "deliver", OPT_DELIVER, 0, 0,
	  "render and deliver once to the textfile and the Pushgateway configured", 0 },
	{ "serve", OPT_SERVE, "ADDR", 0,
	  "serve GET /metrics on ADDR (HOST:PORT, or PORT for 127.0.0.1) until SIGINT or SIGTERM", 0 },
	{ "events", OPT_EVENTS, "FILE", 0,
	  "aggregate JSONL trace events from FILE (- for stdin) and write their metrics", 0 },
	{ "strict", OPT_STRICT, 0, 0, "with --events: a malformed line is an error (exit 3)", 0 },
	{ "namespace", OPT_NAMESPACE, "NS", 0,
	  "prefix of the metric names (AGENT_METRICS_NAMESPACE): NS_cycles_total, NS_agent_route_total", 0 },
	{ 0 }
};

struct args {
	const char *release, *stage, *serve, *events, *error;
	int status, has_status, render, deliver, strict;
};

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;

	switch (key) {
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
	case OPT_ERROR: a->error = arg; break;
	case OPT_RENDER: a->render = 1; break;
	case OPT_DELIVER: a->deliver = 1; break;
	case OPT_SERVE: a->serve = arg; break;
	case OPT_EVENTS: a->events = arg; break;
	case OPT_STRICT: a->strict = 1; break;
	case OPT_NAMESPACE:
		if (!prom_name_ok(arg, 1) || strlen(arg) > 64)
			argp_error(st, "--namespace: not a metric name prefix: '%s'", arg);
		setenv("AGENT_METRICS_NAMESPACE", arg, 1);
		break;
	case ARGP_KEY_ARG: argp_error(st, "unexpected argument '%s'", arg); break;
	case ARGP_KEY_END:
		if (!!a->release + a->render + a->deliver + !!a->serve + !!a->events > 1)
			argp_error(st, "--release, --render, --deliver, --serve and --events go alone");
		if (!a->release && (a->has_status || a->stage || a->error))
			argp_error(st, "--status, --stage and --error go with --release");
		if (cli_opt.agent && !a->release && !a->render && !a->deliver && !a->serve)
			argp_error(st, "--agent goes with --release, --render, --deliver or --serve");
		if (a->strict && !a->events)
			argp_error(st, "--strict goes with --events");
		break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct argp argp = { options, parse, NULL, summary, 0, 0, 0 };

/* 1 when the metrics go to a textfile or a Pushgateway. */
static int configured(void)
{
	const char *f = getenv("AGENT_METRICS_TEXTFILE");

	return (f && *f) || metrics_push_url();
}

/* Delivery trouble is said, one line each, and never fails the tick. */
static int deliver(struct metrics_ctx *c, const char *agent)
{
	jv problems;
	int n = metrics_deliver(c, agent, &problems);

	for (int i = 0; i < jv_array_length(jv_copy(problems)); i++) {
		jv m = jv_array_get(jv_copy(problems), i);

		if (!cli_quiet)
			cli_warn("%s", jv_string_value(m));
		jv_free(m);
	}
	jv_free(problems);
	return n;
}

/* What the last stage could not do for the tick (a notice not delivered):
 * said, never a failure. */
static void say_problems(struct metrics_ctx *c)
{
	jv p = metrics_problems(c);

	jv_array_foreach(p, i, m) {
		if (!cli_quiet)
			cli_warn("%s", jv_string_value(m));
		jv_free(m);
	}
	jv_free(p);
}

/* The error line as the store keeps it: one line, at most 500 bytes, the
 * program's own prefix kept (it names the stage). */
static const char *one_line(const char *s)
{
	static char buf[501];
	size_t n = strcspn(s, "\r\n");

	if (n > 500)
		n = 500;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80 && n < strlen(s))
		n--;
	memcpy(buf, s, n);
	buf[n] = 0;
	return buf;
}

static int one(jv doc, void *arg)
{
	struct metrics_ctx *c = arg;
	struct err e = ERR_INIT;
	char *agent;
	int dry = 0, rc;
	jv out;
	/* one span per tick document, a child of the tick's trace */
	int span = trace_tick_start("agent-metrics-agg", doc);

	if (metrics_tick(c, doc, &out, &e))
		return cli_fail(&e);  /* the span ends, in error, at exit */
	trace_tick_result(span, "agent-metrics-agg", out);
	json_bool(out, "tick.dry_run", &dry);
	agent = tick_agent(out);
	/* the tick is over: agent-cycle's span ends with it, and the phases
	 * and the research cycle that ended in it */
	trace_cycle_tick(out);
	say_problems(c);
	rc = cli_emit(out);
	if (rc == 0 && !dry && configured()) {
		fflush(stdout);  /* the document first: the next reader need not wait */
		deliver(c, agent);
	}
	free(agent);
	trace_end(span);
	return rc;
}

static int render(struct metrics_ctx *c, const char *agent)
{
	struct prom out = PROM_INIT;
	struct err e = ERR_INIT;
	struct store *s;
	int rc = metrics_store(c, &s, &e);

	if (rc == 0)
		rc = metrics_render(s, agent, &out, &e);
	if (rc == 0 && fwrite(prom_text(&out), 1, out.len, stdout) != out.len)
		rc = EX_TEMP;
	prom_release(&out);
	return rc && e.code ? cli_fail(&e) : rc;
}

static int serve(const char *db, const char *addr, const char *agent)
{
	struct metrics_server *srv;
	struct err e = ERR_INIT;
	char url[300];
	sigset_t set;
	int sig;

	/* the server's thread inherits the mask: only sigwait sees the signals */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (metrics_serve_start(&srv, addr, db, agent, url, sizeof url, &e))
		return cli_fail(&e);
	if (cli_emit(json_set(jv_object(), "url", jv_string(url))) || fflush(stdout)) {
		metrics_serve_stop(srv);
		return EX_TEMP;
	}
	while (sigwait(&set, &sig) != 0)
		;
	metrics_serve_stop(srv);
	return 0;
}

static int events(const char *path, int strict)
{
	struct events *ev = NULL;
	struct events_stats st;
	struct prom out = PROM_INIT;
	struct err e = ERR_INIT;
	const char *ns;
	int fd = STDIN_FILENO, rc;

	if (strcmp(path, "-") && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		cli_warn("cannot read '%s': %s", path, strerror(errno));
		return errno == ENOENT || errno == EACCES ? EX_PERM : EX_TEMP;
	}
	rc = metrics_namespace(&ns, &e);
	if (rc == 0)
		rc = events_new(&ev, 0, &e);
	if (rc == 0)
		rc = events_read(ev, fd, strcmp(path, "-") ? path : "stdin", json_limit_from_env(),
				 strict, &e);
	if (rc == 0)
		rc = events_render(ev, ns, &out, &e);
	if (rc == 0 && fwrite(prom_text(&out), 1, out.len, stdout) != out.len)
		rc = e.code = EX_TEMP;
	if (rc == 0) {
		events_stats(ev, &st);
		if (st.malformed && !cli_quiet)
			cli_warn("%s: %llu malformed lines skipped (the first, line %llu: %s)",
				 strcmp(path, "-") ? path : "stdin", (unsigned long long)st.malformed,
				 (unsigned long long)st.first_bad_line, st.first_bad);
		if (st.folded && !cli_quiet)
			cli_warn("%s: %llu events counted under \"_other\" label values: a metric reached %zu label sets (AGENT_EVENTS_MAX_SERIES)",
				 strcmp(path, "-") ? path : "stdin", (unsigned long long)st.folded,
				 st.max_series);
	}
	if (fd != STDIN_FILENO)
		close(fd);
	events_free(ev);
	prom_release(&out);
	return rc && e.msg[0] ? cli_fail(&e) : rc;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct metrics_ctx c;
	struct err e = ERR_INIT;
	jv out;
	int rc;

	cli_init("agent-metrics-agg", argv);
	argp.children = cli_shared(CLI_DB | CLI_AGENT | CLI_QUIET,
				   "with --release: the agent (default: the tick's); with --render, "
				   "--deliver, --serve: only this agent's metrics",
				   "print nothing with --release; no warnings");
	cli_parse(&argp, argc, argv, &a);
	if (a.serve)
		return serve(cli_opt.db, a.serve, cli_opt.agent);
	if (a.events)
		return cli_finish(events(a.events, a.strict));
	metrics_init(&c, cli_opt.db);
	if (a.release) {
		int span = trace_start("agent-metrics-agg", TRACE_INTERNAL);  /* ended at exit */
		int closed = 0;

		trace_str(span, "agent.tick.id", a.release);
		trace_str(span, "agent.tick.failed_stage", a.stage);
		trace_int(span, "agent.tick.failed_status", a.status);
		rc = metrics_release_tick(&c, cli_opt.agent, a.release, a.status, a.stage,
					  a.error ? one_line(a.error) : NULL, &out, &closed, &e);
		say_problems(&c);
		/* agent-cycle's span, unless the last stage ended it with the tick,
		 * in the session's trace when the tick served one */
		if (!closed && trace_on()) {
			struct metrics_tick_trace tt;
			const char *in = getenv("TRACEPARENT");
			char tick_span[17] = "";

			if (in && strlen(in) >= 52)
				snprintf(tick_span, sizeof tick_span, "%.16s", in + 36);
			metrics_tick_trace(&c, a.release, tick_span, &tt);
			trace_release_span(a.release, tt.tp, tt.phase, a.status, a.stage);
		}
		if (rc) {
			rc = cli_fail(&e);
		} else {
			char *who = json_string(out, "agent");

			if (cli_quiet)
				jv_free(out);
			else
				rc = cli_emit(out);
			/* a failed tick refreshes the metrics too: they show the failure */
			if (rc == 0 && configured()) {
				fflush(stdout);
				deliver(&c, who ? who : "default");
			}
			free(who);
		}
	} else if (a.render) {
		rc = render(&c, cli_opt.agent);
	} else if (a.deliver) {
		const char *who = cli_opt.agent ? cli_opt.agent : getenv("AGENT_NAME");

		if (!configured()) {
			cli_warn("--deliver: neither AGENT_METRICS_TEXTFILE nor a Pushgateway URL is set");
			rc = EX_PERM;
		} else {
			rc = deliver(&c, who && *who ? who : "default") ? EX_TEMP : 0;
		}
	} else {
		metrics_preopen(&c);
		rc = cli_each_doc(one, &c);
	}
	metrics_release(&c);
	return cli_finish(rc);
}

/* monitor: follow one research cycle until it ends, cancel it on request. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "control.h"
#include "base/json.h"
#include "views/monitor.h"
#include "session.h"
#include "views/views.h"

struct mon {
	const struct monitor_cfg *c;
	struct store *s;
	struct backend *b;
	int64_t sid;
	char agent[128];
	jv row;          /* the session as last read (null before) */
	jv child;        /* the operation's progress as last read (null: none) */
	double backoff;  /* seconds before the next poll after a failure; 0: fine */
	char message[300];
};

static double mono(void)
{
	return (double)clock_mono_us() / 1e6;
}

static int64_t wall(void)
{
	struct err e = ERR_INIT;
	int64_t now = 0;

	if (clock_now_s(&now, &e))
		now = (int64_t)time(NULL);
	return now;
}

static jv field(jv row, const char *k)
{
	jv v = json_get(jv_copy(row), k);

	return jv_is_valid(v) ? v : (jv_free(v), jv_null());
}

static int flag(volatile sig_atomic_t *f)
{
	return f && *f;
}

/* Sleeps up to `s` seconds, cut short by the caller's flags. */
static void nap(const struct monitor_cfg *c, double s)
{
	double end = mono() + s;

	while (!flag(c->interrupt) && !flag(c->stop)) {
		double left = end - mono();
		struct timespec ts;

		if (left <= 0)
			break;
		if (left > 0.05)
			left = 0.05;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(left * 1e9);
		nanosleep(&ts, NULL);
	}
}

static void fail_backoff(struct mon *m)
{
	m->backoff = m->backoff <= 0 ? 1 : fmin(m->backoff * 2, 5);
}

static char *str(jv row, const char *k)
{
	return json_string(row, k);
}

static const char *op_of(jv row, char *buf, size_t n)
{
	char *phase = str(row, "phase"), *op = NULL;

	buf[0] = '\0';
	if (phase && !strcmp(phase, "training"))
		op = str(row, "training_operation_id");
	else if (phase && !strcmp(phase, "backtesting"))
		op = str(row, "backtest_operation_id");
	if (op)
		snprintf(buf, n, "%s", op);
	free(phase);
	free(op);
	return buf[0] ? buf : NULL;
}

static jv frame(struct mon *m)
{
	char *phase = str(m->row, "phase");
	int pct = views_phase_percent(phase);
	const char *step = views_phase_step(phase);
	int64_t created = 0;
	jv f = jv_object();

	json_int(m->row, "created_at", &created);
	f = json_set(f, "at", jv_number((double)wall()));
	f = json_set(f, "session", m->sid ? jv_number((double)m->sid) : jv_null());
	f = json_set(f, "agent", jv_string(m->agent));
	f = json_set(f, "phase", phase ? jv_string(phase) : jv_null());
	f = json_set(f, "percent", pct >= 0 ? jv_number(pct) : jv_null());
	f = json_set(f, "step", step ? jv_string(step) : jv_null());
	f = json_set(f, "strategy", field(m->row, "strategy_name"));
	f = json_set(f, "elapsed_seconds", created ? jv_number((double)(wall() - created)) : jv_null());
	f = json_set(f, "child", jv_copy(m->child));
	f = json_set(f, "connection", jv_string(m->backoff > 0 ? "lost" : "ok"));
	f = json_set(f, "retry_in", m->backoff > 0 ? jv_number(m->backoff) : jv_null());
	f = json_set(f, "message", m->message[0] ? jv_string(m->message) : jv_null());
	free(phase);
	return f;
}

static jv summary(struct mon *m, const char *end, jv last_phase)
{
	jv o = jv_object(), bt = field(m->row, "backtest_results");
	double d;

	o = json_set(o, "session", m->sid ? jv_number((double)m->sid) : jv_null());
	o = json_set(o, "agent", jv_string(m->agent));
	o = json_set(o, "end", jv_string(end));
	o = json_set(o, "outcome", field(m->row, "outcome"));
	o = json_set(o, "strategy", field(m->row, "strategy_name"));
	o = json_set(o, "verdict", field(m->row, "assessment.verdict"));
	o = json_set(o, "sharpe", json_number(bt, "metrics.sharpe_ratio", &d) ||
				  json_number(bt, "sharpe_ratio", &d) ? jv_number(d) : jv_null());
	o = json_set(o, "win_rate", json_number(bt, "metrics.win_rate", &d) ||
				    json_number(bt, "win_rate", &d) ? jv_number(d) : jv_null());
	o = json_set(o, "max_drawdown", json_number(bt, "metrics.max_drawdown_pct", &d) ||
					json_number(bt, "max_drawdown_pct", &d) ? jv_number(d) : jv_null());
	o = json_set(o, "phase", last_phase);
	o = json_set(o, "step", field(m->child, "current_step"));
	o = json_set(o, "operation", jv_null());
	o = json_set(o, "failure_reason", field(m->row, "failure_reason"));
	o = json_set(o, "message", m->message[0] ? jv_string(m->message) : jv_null());
	jv_free(bt);
	return o;
}

static int read_session(struct mon *m, jv *row, struct err *e)
{
	return m->sid ? session_get(m->s, m->sid, row, e) : session_active(m->s, m->c->agent, row, e);
}

/* The cancel, as agent-control's: a bounded retry while the store is busy. */
static int do_cancel(struct mon *m, jv *sum, struct err *e)
{
	const char *why = m->c->cancel_reason ? m->c->cancel_reason : "cancelled from agent-monitor";
	struct err warn = ERR_INIT;
	jv out = jv_null(), phase = field(m->row, "phase");
	int rc = EX_TEMP;

	for (int i = 0; i < 5 && rc == EX_TEMP; i++) {
		if (i)
			nap(&(struct monitor_cfg){ 0 }, 1);
		jv_free(out);
		out = jv_null();
		rc = control_cancel_session(m->s, m->agent, m->sid, why, wall(), &out, &warn, e);
	}
	if (rc == EX_NO) {
		/* it ended on its own meanwhile */
		jv row = jv_null();

		jv_free(out);
		if ((rc = session_get(m->s, m->sid, &row, e))) {
			jv_free(row);
			jv_free(phase);
			return rc;
		}
		if (jv_get_kind(row) == JV_KIND_OBJECT) {
			jv_free(m->row);
			m->row = row;
		} else {
			jv_free(row);
		}
		snprintf(m->message, sizeof m->message, "the session ended before it could be cancelled");
		*sum = summary(m, "ended", phase);
		return 0;
	}
	if (rc) {
		jv_free(out);
		jv_free(phase);
		return rc;
	}
	{
		jv row = json_get(jv_copy(out), "session");

		if (jv_get_kind(row) == JV_KIND_OBJECT) {
			jv_free(m->row);
			m->row = row;
		} else {
			jv_free(row);
		}
	}
	snprintf(m->message, sizeof m->message, "%s", warn.code ? warn.msg : "");
	*sum = json_set(summary(m, "cancelled", phase), "operation", json_get(out, "operation"));
	return 0;
}

/* Reads the operation of a training or backtesting session.  Returns 1
 * when the backend has lost it (404 for the operation the session still
 * names), else 0. */
static int poll_child(struct mon *m, const char *op)
{
	struct err be = ERR_INIT;
	jv data = jv_null();
	int rc = backend_operation(m->b, op, &data, &be);

	if (rc == 0) {
		jv ch = json_set(jv_object(), "operation_id", jv_string(op));

		ch = json_set(ch, "status", field(data, "status"));
		ch = json_set(ch, "percentage", field(data, "progress.percentage"));
		ch = json_set(ch, "current_step", field(data, "progress.current_step"));
		jv_free(m->child);
		m->child = ch;
		m->backoff = 0;
		m->message[0] = '\0';
	} else if (rc == EX_NO) {
		jv_free(data);
		return 1;
	} else if (rc == EX_TEMP) {
		fail_backoff(m);
		snprintf(m->message, sizeof m->message, "connection lost, retrying in %.0f s", m->backoff);
	} else {
		snprintf(m->message, sizeof m->message, "%s", be.msg);
	}
	jv_free(data);
	return 0;
}

int monitor_exit_status(jv summary)
{
	char *end = json_string(summary, "end"), *outcome = json_string(summary, "outcome");
	int64_t st = 1;
	int rc = EX_NO;

	if (!end)
		rc = EX_PERM;
	else if (!strcmp(end, "ended"))
		rc = outcome && !strcmp(outcome, "success") ? 0 : EX_NO;
	else if (!strcmp(end, "stopped"))
		rc = 0;
	else if (!strcmp(end, "lost") || !strcmp(end, "timeout"))
		rc = EX_TEMP;
	else if (!strcmp(end, "tick_failed"))
		rc = json_int(summary, "tick_status", &st) && st > 0 && st < 256 ? (int)st : EX_TEMP;
	free(end);
	free(outcome);
	return rc;
}

int monitor_run(const struct monitor_cfg *c, struct store *s, struct backend *b,
		jv *sum, struct err *e)
{
	struct mon m = { .c = c, .s = s, .b = b, .sid = c->session, .row = jv_null(),
			 .child = jv_null() };
	double t0 = mono(), interrupted = 0;
	jv last_phase = jv_null();
	int rc = 0, tick = -1;

	*sum = jv_null();
	snprintf(m.agent, sizeof m.agent, "%s", c->agent ? c->agent : "default");
	for (;;) {
		jv row = jv_null();
		char opbuf[160];
		const char *op;
		char *phase;

		if (c->tick_status && tick < 0)
			tick = c->tick_status(c->tick_arg);
		if (flag(c->stop)) {
			*sum = summary(&m, "stopped", jv_copy(last_phase));
			break;
		}
		if (flag(c->interrupt) && m.sid) {
			rc = do_cancel(&m, sum, e);
			break;
		}
		if (flag(c->interrupt)) {
			/* no session yet: a running tick is about to start one */
			if (interrupted == 0)
				interrupted = mono();
			if (tick >= 0 || !c->tick_status || mono() - interrupted > 10) {
				snprintf(m.message, sizeof m.message, "interrupted before a session started");
				*sum = summary(&m, "stopped", jv_copy(last_phase));
				break;
			}
		}
		if (mono() - t0 >= c->timeout_s) {
			snprintf(m.message, sizeof m.message, "stopped following after %g s (--timeout); "
				 "the cycle goes on", c->timeout_s);
			*sum = summary(&m, "timeout", jv_copy(last_phase));
			break;
		}
		rc = read_session(&m, &row, e);
		if (rc == EX_TEMP) {
			fail_backoff(&m);
			snprintf(m.message, sizeof m.message, "connection lost (store), retrying in %.0f s",
				 m.backoff);
			c->emit(c->emit_arg, frame(&m));
			nap(c, m.backoff);
			rc = 0;
			continue;
		}
		if (rc)
			break;
		if (jv_get_kind(row) != JV_KIND_OBJECT) {
			jv_free(row);
			if (m.sid && jv_get_kind(m.row) == JV_KIND_OBJECT) {
				snprintf(m.message, sizeof m.message, "session %lld no longer exists",
					 (long long)m.sid);
				*sum = summary(&m, "none", jv_copy(last_phase));
				break;
			}
			if (m.sid) {
				snprintf(m.message, sizeof m.message, "no session %lld", (long long)m.sid);
				*sum = summary(&m, "none", jv_null());
				break;
			}
			if (tick < 0 && c->tick_status && mono() - t0 < c->start_wait_s) {
				snprintf(m.message, sizeof m.message, "starting a cycle");
				c->emit(c->emit_arg, frame(&m));
				nap(c, fmin(c->poll_s, 0.2));
				continue;
			}
			if (tick > 0) {
				*sum = json_set(summary(&m, "tick_failed", jv_null()), "tick_status",
						jv_number(tick));
				break;
			}
			snprintf(m.message, sizeof m.message, "agent '%s' has no active research session",
				 m.agent);
			*sum = summary(&m, "none", jv_null());
			break;
		}
		if (!m.sid) {
			char *agent = str(row, "agent");

			json_int(row, "id", &m.sid);
			if (agent)
				snprintf(m.agent, sizeof m.agent, "%s", agent);
			free(agent);
		}
		jv_free(m.row);
		m.row = row;
		phase = str(m.row, "phase");
		if (phase && !strcmp(phase, "idle")) {
			free(phase);
			m.message[0] = '\0';
			*sum = summary(&m, "ended", jv_copy(last_phase));
			break;
		}
		jv_free(last_phase);
		last_phase = phase ? jv_string(phase) : jv_null();
		free(phase);
		op = op_of(m.row, opbuf, sizeof opbuf);
		if (strstr(m.message, "(store)") || !op) {
			/* the store answered; without an operation nothing else can fail */
			m.backoff = 0;
			m.message[0] = '\0';
		}
		{
			char *seen = json_string(m.child, "operation_id");

			if (!op || !seen || strcmp(op, seen)) {
				/* no operation, or a new one: forget the last one's progress */
				jv_free(m.child);
				m.child = jv_null();
			}
			free(seen);
		}
		if (op && poll_child(&m, op)) {
			/* 404: lost for good only when the session still names it */
			jv again = jv_null();
			char again_op[160];

			if ((rc = read_session(&m, &again, e)))
				break;
			if (jv_get_kind(again) == JV_KIND_OBJECT && op_of(again, again_op, sizeof again_op) &&
			    !strcmp(again_op, op)) {
				jv_free(again);
				snprintf(m.message, sizeof m.message,
					 "the backend no longer knows operation %.128s (restarted?); "
					 "the next tick ends the session", op);
				*sum = summary(&m, "lost", jv_copy(last_phase));
				break;
			}
			jv_free(again);
			continue;
		}
		if (tick > 0) {
			/* the tick that was to move the session on failed */
			char *ph = str(m.row, "phase");
			int designing = ph && !strcmp(ph, "designing");

			free(ph);
			if (designing) {
				*sum = json_set(summary(&m, "tick_failed", jv_copy(last_phase)), "tick_status",
						jv_number(tick));
				break;
			}
		}
		c->emit(c->emit_arg, frame(&m));
		nap(c, m.backoff > 0 ? m.backoff : c->poll_s);
	}
	jv_free(last_phase);
	jv_free(m.row);
	jv_free(m.child);
	return rc;
}

/* ---------------------------------------------------------------- layout */

#define RESET  "\033[0m"
#define BOLD   "\033[1m"
#define RED    "\033[31m"
#define GREEN  "\033[32m"
#define YELLOW "\033[33m"
#define CYAN   "\033[36m"

static const char *col(int color, const char *code)
{
	return color ? code : "";
}

/* s with control characters as '?', at most max bytes. */
static void put(FILE *f, const char *s, size_t max)
{
	for (size_t n = 0; s && *s && n < max; s++, n++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

static void bar(FILE *f, double pct, int width, int color)
{
	int full = (int)(fmax(0, fmin(100, pct)) / 100 * width + 0.5);

	fprintf(f, "[%s", col(color, CYAN));
	for (int i = 0; i < width; i++)
		fputc(i < full ? '#' : '.', f);
	fprintf(f, "%s]", col(color, RESET));
}

char *monitor_render_frame(jv fr, int width, int color, int utf8)
{
	char *buf = NULL, *strategy = json_string(fr, "strategy"), *step = json_string(fr, "step");
	char *msg = json_string(fr, "message"), *cstep = json_string(fr, "child.current_step");
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int64_t sid = 0, el = 0;
	double pct = 0, cp = 0;
	int bw = width >= 100 ? 30 : width >= 80 ? 20 : 10;

	if (!f)
		goto out;
	json_int(fr, "session", &sid);
	int has_el = json_int(fr, "elapsed_seconds", &el);

	json_number(fr, "percent", &pct);
	if (sid)
		fprintf(f, "%sSession %lld%s ", col(color, BOLD), (long long)sid, col(color, RESET));
	else
		fprintf(f, "%sResearch cycle%s ", col(color, BOLD), col(color, RESET));
	put(f, strategy ? strategy : "", (size_t)(width >= 100 ? 32 : 16));
	fputs("  ", f);
	bar(f, pct, bw, color);
	fprintf(f, " %3.0f%%  ", pct);
	put(f, step ? step : "", 24);
	if (has_el && el >= 0)
		fprintf(f, "  %02lld:%02lld:%02lld", (long long)(el / 3600), (long long)(el % 3600 / 60),
			(long long)(el % 60));
	fputs(utf8 ? "\n  \xe2\x94\x94\xe2\x94\x80 " : "\n  `- ", f);
	if (msg) {
		fputs(col(color, YELLOW), f);
		put(f, msg, (size_t)(width > 10 ? width - 6 : 4));
		fputs(col(color, RESET), f);
	} else if (json_number(fr, "child.percentage", &cp) || cstep) {
		put(f, cstep ? cstep : "", 30);
		fputs("  ", f);
		bar(f, cp, bw, color);
		fprintf(f, " %5.1f%%", cp);
	} else if (json_is_set(fr, "child.operation_id")) {
		fputs("waiting for the backend", f);
	} else if (json_is_set(fr, "phase")) {
		fputs(json_is_set(fr, "child") ? "" : "the model is at work", f);
	}
	fclose(f);
out:
	free(strategy);
	free(step);
	free(msg);
	free(cstep);
	return buf;
}

char *monitor_render_summary(jv s, int color)
{
	char *buf = NULL, *end = json_string(s, "end"), *outcome = json_string(s, "outcome");
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int64_t sid = 0;
	double d;

	if (!f)
		goto out;
	json_int(s, "session", &sid);
	if (end && !strcmp(end, "ended")) {
		int ok = outcome && !strcmp(outcome, "success");

		fprintf(f, "%sSession %lld ended: %s%s", col(color, BOLD), (long long)sid,
			col(color, ok ? GREEN : RED), outcome ? outcome : "?");
		fprintf(f, "%s\n", col(color, RESET));
		if (json_is_set(s, "strategy")) {
			char *st = json_string(s, "strategy"), *v = json_string(s, "verdict");

			fputs("  strategy ", f);
			put(f, st, 100);
			if (v) {
				fputs(", verdict ", f);
				put(f, v, 40);
			}
			fputc('\n', f);
			free(st);
			free(v);
		}
		if (json_number(s, "sharpe", &d)) {
			fprintf(f, "  Sharpe %.2f", d);
			if (json_number(s, "win_rate", &d))
				fprintf(f, " | win rate %.1f%%", d * 100);
			if (json_number(s, "max_drawdown", &d))
				fprintf(f, " | max drawdown %.1f%%", d * 100);
			fputc('\n', f);
		}
		if (!ok && json_is_set(s, "failure_reason")) {
			char *r = json_string(s, "failure_reason");

			fputs("  ", f);
			put(f, r, 300);
			fputc('\n', f);
			free(r);
		}
	} else if (end && !strcmp(end, "cancelled")) {
		char *ph = json_string(s, "phase"), *step = json_string(s, "step");
		char *op = json_string(s, "operation.id");
		int opc = 0;

		json_bool(s, "operation.cancelled", &opc);
		fprintf(f, "%sSession %lld cancelled%s while %s", col(color, YELLOW), (long long)sid,
			col(color, RESET), ph ? ph : "starting");
		if (step) {
			fputs(" (", f);
			put(f, step, 80);
			fputc(')', f);
		}
		fputc('\n', f);
		if (op) {
			fputs("  operation ", f);
			put(f, op, 128);
			fputs(opc ? " cancelled\n" : " NOT cancelled\n", f);
		}
		free(ph);
		free(step);
		free(op);
	} else if (json_is_set(s, "message")) {
		char *msg = json_string(s, "message");

		if (sid)
			fprintf(f, "Session %lld: ", (long long)sid);
		put(f, msg, 400);
		fputc('\n', f);
		free(msg);
	} else {
		fprintf(f, "Session %lld: %s\n", (long long)sid, end ? end : "?");
	}
	if (end && (!strcmp(end, "ended") || !strcmp(end, "cancelled")) && json_is_set(s, "message")) {
		char *msg = json_string(s, "message");

		fputs("  ", f);
		put(f, msg, 400);
		fputc('\n', f);
		free(msg);
	}
	fclose(f);
out:
	free(end);
	free(outcome);
	return buf;
}

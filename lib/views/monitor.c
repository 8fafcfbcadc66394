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
	double op_seen;  /* monotonic second the current operation was first seen */
	jv waiting;      /* what the frame waits for (null: nothing) */
	double last_drive;   /* monotonic second of the last tick we ran (0: none) */
	int drive_fails, ticks_run;
};

/* Seconds between two ticks the follower runs, and how many failed ticks
 * in a row end the following. */
#define DRIVE_GAP 5.0
#define DRIVE_FAILS_MAX 3

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

	char when[32];
	int64_t now = wall();

	json_int(m->row, "created_at", &created);
	f = json_set(f, "at", jv_string(clock_format(now, when)));
	f = json_set(f, "at_epoch", jv_number((double)now));
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
	f = json_set(f, "waiting", jv_copy(m->waiting));
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

/* The session's duration, cost and model calls (agent-session's figures),
 * and the ticks the follower ran. */
static jv with_cost(struct mon *m, jv sum)
{
	struct err e = ERR_INIT;
	jv doc = jv_null();
	double d;

	sum = json_set(sum, "duration_seconds", jv_null());
	sum = json_set(sum, "cost_usd", jv_null());
	sum = json_set(sum, "calls", jv_null());
	if (m->sid && views_session(m->s, m->sid, wall(), &doc, &e) == 0) {
		if (json_number(doc, "session.duration_seconds", &d))
			sum = json_set(sum, "duration_seconds", jv_number(d));
		if (json_number(doc, "cost.usd", &d))
			sum = json_set(sum, "cost_usd", jv_number(d));
		if (json_number(doc, "cost.invocations", &d))
			sum = json_set(sum, "calls", jv_number(d));
	}
	jv_free(doc);
	return json_set(sum, "ticks_run", jv_number(m->ticks_run));
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

/* Seconds since the operation started: the backend's started_at
 * (OperationInfo, RFC 3339), else since the follower first saw it. */
static jv op_elapsed(struct mon *m, jv data)
{
	char *st = json_string(data, "started_at");
	int64_t us, el = -1;

	if (st && clock_parse(st, &us) == 0)
		el = wall() - us / 1000000;
	free(st);
	if (el < 0 && m->op_seen > 0)
		el = (int64_t)(mono() - m->op_seen);
	return el >= 0 ? jv_number((double)el) : jv_null();
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
		ch = json_set(ch, "started_at", field(data, "started_at"));
		ch = json_set(ch, "elapsed_seconds", op_elapsed(m, data));
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

char *monitor_clock(int64_t t, char *buf)
{
	if (t < 0)
		t = 0;
	if (t >= 3600)
		snprintf(buf, 24, "%lld:%02lld:%02lld", (long long)(t / 3600), (long long)(t % 3600 / 60),
			 (long long)(t % 60));
	else
		snprintf(buf, 24, "%lld:%02lld", (long long)(t / 60), (long long)(t % 60));
	return buf;
}

static int op_over(jv child)
{
	char *st = json_string(child, "status");
	int over = st && (!strcmp(st, "completed") || !strcmp(st, "failed") || !strcmp(st, "cancelled"));

	free(st);
	return over;
}

static void set_waiting(struct mon *m, const char *text, int running, int64_t next_in)
{
	jv w = json_set(jv_object(), "for", jv_string("tick"));

	w = json_set(w, "text", jv_string(text));
	w = json_set(w, "running", jv_bool(running));
	w = json_set(w, "next_tick_in_seconds", next_in >= 0 ? jv_number((double)next_in) : jv_null());
	jv_free(m->waiting);
	m->waiting = w;
}

/*
 * The operation is over and the session still names it: the next tick
 * moves it on.  Runs that tick (with tick_start) or says when the timer's
 * is due.  *tick is the running tick's status (-1 while it runs).
 */
static void await_tick(struct mon *m, const char *phase, int *tick)
{
	const struct monitor_cfg *c = m->c;
	char *st = json_string(m->child, "status"), what[96], text[200], clk[24];
	const char *op = !strcmp(phase, "backtesting") ? "the backtest" : "training";

	snprintf(what, sizeof what, "%s %s", op, st && !strcmp(st, "completed") ? "done"
		 : st && !strcmp(st, "failed") ? "failed" : "cancelled");
	free(st);
	if (c->tick_start) {
		double since = mono() - m->last_drive;

		if (*tick < 0) {
			snprintf(text, sizeof text, "%s; the next tick is running", what);
			set_waiting(m, text, 1, 0);
		} else if (!m->last_drive || since >= DRIVE_GAP) {
			if (c->tick_start(c->tick_arg) == 0) {
				*tick = -1;
				m->ticks_run++;
				m->last_drive = mono();
				snprintf(text, sizeof text, "%s; the next tick is running", what);
				set_waiting(m, text, 1, 0);
			} else {
				m->last_drive = mono();
				snprintf(text, sizeof text, "%s; the next tick could not start", what);
				set_waiting(m, text, 0, (int64_t)DRIVE_GAP);
			}
		} else {
			int64_t left = (int64_t)ceil(DRIVE_GAP - since);

			snprintf(text, sizeof text, "%s; next tick in %s", what, monitor_clock(left, clk));
			set_waiting(m, text, 0, left);
		}
		return;
	}
	{
		struct err e = ERR_INIT;
		jv state = jv_null(), p = jv_array_append(jv_array(), jv_string(m->agent));
		int64_t last = 0, lease = 0, now = wall(), next;
		double iv = c->tick_interval_s > 0 ? c->tick_interval_s : 300;

		if (store_query1(m->s, "views_state", p, &state, &e) == 0 &&
		    jv_get_kind(state) == JV_KIND_OBJECT) {
			json_int(state, "last_tick_at", &last);
			json_int(state, "lease_expires_at", &lease);
		}
		if (json_is_set(state, "lease_holder") && lease > now) {
			snprintf(text, sizeof text, "%s; a tick is running", what);
			set_waiting(m, text, 1, 0);
		} else if (last && (next = last + (int64_t)iv - now) > 0) {
			snprintf(text, sizeof text, "%s; next tick in %s", what, monitor_clock(next, clk));
			set_waiting(m, text, 0, next);
		} else {
			snprintf(text, sizeof text, "%s; waiting for the timer's next tick", what);
			set_waiting(m, text, 0, -1);
		}
		jv_free(state);
	}
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
			 .child = jv_null(), .waiting = jv_null() };
	double t0 = mono(), interrupted = 0;
	jv last_phase = jv_null();
	int rc = 0, tick = c->tick_status ? -1 : 0;

	*sum = jv_null();
	snprintf(m.agent, sizeof m.agent, "%s", c->agent ? c->agent : "default");
	for (;;) {
		jv row = jv_null();
		char opbuf[160];
		const char *op;
		char *phase;

		if (c->tick_status && tick < 0) {
			tick = c->tick_status(c->tick_arg);
			if (tick >= 0 && m.ticks_run)   /* a tick the follower ran has ended */
				m.drive_fails = tick > 0 ? m.drive_fails + 1 : 0;
		}
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
				m.op_seen = op ? mono() : 0;
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
			if (designing || m.drive_fails >= DRIVE_FAILS_MAX) {
				*sum = json_set(summary(&m, "tick_failed", jv_copy(last_phase)), "tick_status",
						jv_number(tick));
				break;
			}
		}
		jv_free(m.waiting);
		m.waiting = jv_null();
		if (op && op_over(m.child)) {
			char *ph = str(m.row, "phase");

			await_tick(&m, ph ? ph : "training", &tick);
			free(ph);
		}
		c->emit(c->emit_arg, frame(&m));
		nap(c, m.backoff > 0 ? m.backoff : c->poll_s);
	}
	if (rc == 0 && jv_get_kind(*sum) == JV_KIND_OBJECT)
		*sum = with_cost(&m, *sum);
	jv_free(last_phase);
	jv_free(m.row);
	jv_free(m.child);
	jv_free(m.waiting);
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

/* The columns s takes: one per character (a UTF-8 lead byte when utf8,
 * else one per byte, shown as '?' when not ASCII). */
static size_t cols(const char *s, int utf8)
{
	size_t n = 0;

	for (; s && *s; s++)
		n += !utf8 || ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* Writes s in at most max columns: control characters (and, off UTF-8,
 * bytes above 0x7f) as '?', cut with an ellipsis when too long. */
static void put_fit(FILE *f, const char *s, size_t max, int utf8)
{
	size_t n = cols(s, utf8), keep = n, c = 0;

	if (n > max)
		keep = utf8 ? (max ? max - 1 : 0) : (max > 3 ? max - 3 : max);
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		int lead = !utf8 || (ch & 0xc0) != 0x80;

		if (lead && c++ == keep)
			break;
		if (ch < 0x20 || ch == 0x7f || (!utf8 && ch > 0x7f))
			fputc('?', f);
		else
			fputc(ch, f);
	}
	if (n > max)
		fputs(utf8 ? (max ? "\xe2\x80\xa6" : "") : (max > 3 ? "..." : ""), f);
}

static void bar(FILE *f, double pct, int width, int color)
{
	int full = (int)(fmax(0, fmin(100, pct)) / 100 * width + 0.5);

	fprintf(f, "[%s", col(color, CYAN));
	for (int i = 0; i < width; i++)
		fputc(i < full ? '#' : '.', f);
	fprintf(f, "%s]", col(color, RESET));
}

static size_t min_z(size_t a, size_t b)
{
	return a < b ? a : b;
}

static size_t sub(size_t a, size_t b)
{
	return a > b ? a - b : 0;
}

/*
 * Fits a line of `fixed` columns plus a bar of *bw and a flexible text of
 * `flex` columns into `room`: the bar shrinks to bw_min first, then the
 * text is cut (kept at `keep` columns or its length, when it can).  Returns the
 * columns the flexible text may take.
 */
static size_t fit(size_t room, size_t fixed, int *bw, size_t flex, size_t keep, int bw_min)
{
	size_t want = min_z(flex, keep);

	while (*bw > bw_min && fixed + (size_t)*bw + want > room)
		(*bw)--;
	return fixed + (size_t)*bw >= room ? 0 : min_z(flex, room - fixed - (size_t)*bw);
}

char *monitor_render_frame(jv fr, int width, int color, int utf8)
{
	char *buf = NULL, *strategy = json_string(fr, "strategy"), *step = json_string(fr, "step");
	char *msg = json_string(fr, "message"), *cstep = json_string(fr, "child.current_step");
	char *wait = json_string(fr, "waiting.text"), head[48], clk[24] = "", cclk[24] = "";
	size_t len = 0, room = width > 21 ? (size_t)width - 1 : 20, fixed, name_max, step_max;
	FILE *f = open_memstream(&buf, &len);
	int64_t sid = 0, el = -1, cel = -1;
	double pct = 0, cp = 0;
	int bw = width >= 100 ? 30 : width >= 80 ? 20 : 12;

	if (!f)
		goto out;
	json_int(fr, "session", &sid);
	json_number(fr, "percent", &pct);
	if (json_int(fr, "elapsed_seconds", &el) && el >= 0)
		monitor_clock(el, clk);
	if (json_int(fr, "child.elapsed_seconds", &cel) && cel >= 0)
		monitor_clock(cel, cclk);
	if (sid)
		snprintf(head, sizeof head, "Session %lld", (long long)sid);
	else
		snprintf(head, sizeof head, "Research cycle");
	/* head name  [bar] pct  step  clock */
	step_max = cols(step, utf8);
	fixed = strlen(head) + 1 + 2 + 2 + 5 + 2 + (clk[0] ? 2 + strlen(clk) : 0);
	name_max = fit(room, fixed + step_max, &bw, cols(strategy, utf8), 12, 10);
	if (strategy && name_max < min_z(cols(strategy, utf8), 10)) {
		/* too narrow still: the step text gives way to the name, then
		 * the bar to 5 */
		size_t need = min_z(cols(strategy, utf8), 10) - name_max;

		step_max = step_max > need + 4 ? step_max - need : min_z(step_max, 4);
		name_max = fit(room, fixed + step_max, &bw, cols(strategy, utf8), 10, 5);
	}
	fprintf(f, "%s%s%s ", col(color, BOLD), head, col(color, RESET));
	put_fit(f, strategy ? strategy : "", name_max, utf8);
	fputs("  ", f);
	bar(f, pct, bw, color);
	fprintf(f, " %3.0f%%  ", pct);
	put_fit(f, step ? step : "", step_max, utf8);
	if (clk[0])
		fprintf(f, "  %s", clk);

	fputs(utf8 ? "\n  \xe2\x94\x94\xe2\x94\x80 " : "\n  `- ", f);
	room = room > 5 ? room - 5 : 0;
	if (msg) {
		fputs(col(color, YELLOW), f);
		put_fit(f, msg, room, utf8);
		fputs(col(color, RESET), f);
	} else if (wait) {
		put_fit(f, wait, room, utf8);
	} else if (json_number(fr, "child.percentage", &cp) || cstep) {
		int cbw = width >= 100 ? 30 : width >= 80 ? 20 : 12;
		size_t cmax;

		/* step  [bar] pct  clock */
		fixed = 2 + 2 + 7 + (cclk[0] ? 2 + strlen(cclk) : 0);
		cmax = fit(room, fixed, &cbw, cols(cstep, utf8), 14, 5);
		put_fit(f, cstep ? cstep : "", cmax, utf8);
		fputs("  ", f);
		bar(f, cp, cbw, color);
		fprintf(f, " %5.1f%%", cp);
		if (cclk[0])
			fprintf(f, "  %s", cclk);
	} else if (json_is_set(fr, "child.operation_id")) {
		put_fit(f, "waiting for the backend", room, utf8);
	} else if (json_is_set(fr, "phase")) {
		put_fit(f, json_is_set(fr, "child") ? "" : "the model is at work", room, utf8);
	}
	fclose(f);
out:
	free(strategy);
	free(step);
	free(msg);
	free(cstep);
	free(wait);
	return buf;
}

/* "$0.07"; "<$0.01" for a cost that is not zero but rounds to it. */
static void money(FILE *f, double usd)
{
	if (usd > 0 && usd < 0.005)
		fputs("<$0.01", f);
	else
		fprintf(f, "$%.2f", usd);
}

char *monitor_render_summary(jv s, int width, int color, int utf8)
{
	char *buf = NULL, *end = json_string(s, "end"), *outcome = json_string(s, "outcome");
	char *msg = json_string(s, "message"), clk[24];
	size_t len = 0, room = width > 21 ? (size_t)width - 1 : 20;
	FILE *f = open_memstream(&buf, &len);
	int64_t sid = 0, dur = -1, calls = -1;
	double d;

	if (!f)
		goto out;
	json_int(s, "session", &sid);
	json_int(s, "duration_seconds", &dur);
	json_int(s, "calls", &calls);
	if (end && !strcmp(end, "ended")) {
		int ok = outcome && !strcmp(outcome, "success");

		fprintf(f, "%sSession %lld ended: %s%s%s", col(color, BOLD), (long long)sid,
			col(color, ok ? GREEN : RED), outcome ? outcome : "?", col(color, RESET));
		if (dur >= 0)
			fprintf(f, " after %s", monitor_clock(dur, clk));
		if (json_number(s, "cost_usd", &d) && (d > 0 || calls > 0)) {
			fputs(", ", f);
			money(f, d);
			if (calls >= 0)
				fprintf(f, " (%lld model call%s)", (long long)calls, calls == 1 ? "" : "s");
		}
		fputc('\n', f);
		if (json_is_set(s, "strategy")) {
			char *st = json_string(s, "strategy"), *v = json_string(s, "verdict");
			size_t tail = v ? 10 + min_z(cols(v, utf8), 30) : 0;

			fputs("  strategy ", f);
			put_fit(f, st, room > 11 + tail ? room - 11 - tail : 8, utf8);
			if (v) {
				fputs(", verdict ", f);
				put_fit(f, v, 30, utf8);
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
			put_fit(f, r, sub(room, 2), utf8);
			fputc('\n', f);
			free(r);
		}
	} else if (end && !strcmp(end, "cancelled")) {
		char *ph = json_string(s, "phase"), *step = json_string(s, "step");
		char *op = json_string(s, "operation.id"), *line = NULL;
		size_t ll = 0;
		FILE *l = open_memstream(&line, &ll);
		int opc = 0;
		char head[64];

		json_bool(s, "operation.cancelled", &opc);
		snprintf(head, sizeof head, "Session %lld cancelled", (long long)sid);
		if (l) {
			fprintf(l, " while %s", ph ? ph : "starting");
			if (step)
				fprintf(l, " (%s)", step);
			if (op)
				fprintf(l, "; operation %s %s", op, opc ? "cancelled" : "NOT cancelled");
			fclose(l);
		}
		fprintf(f, "%s%s%s", col(color, YELLOW), head, col(color, RESET));
		put_fit(f, line ? line : "", sub(room, strlen(head)), utf8);
		fputc('\n', f);
		free(line);
		free(ph);
		free(step);
		free(op);
	} else if (msg) {
		char head[48] = "";

		if (sid)
			snprintf(head, sizeof head, "Session %lld: ", (long long)sid);
		fputs(head, f);
		put_fit(f, msg, sub(room, strlen(head)), utf8);
		fputc('\n', f);
	} else {
		fprintf(f, "Session %lld: %s\n", (long long)sid, end ? end : "?");
	}
	if (end && (!strcmp(end, "ended") || !strcmp(end, "cancelled")) && msg) {
		fputs("  ", f);
		put_fit(f, msg, sub(room, 2), utf8);
		fputc('\n', f);
	}
	fclose(f);
out:
	free(end);
	free(outcome);
	free(msg);
	return buf;
}

/* views: the operator's views of the store (status, history, session, logs). */
#ifndef VIEWS_H
#define VIEWS_H

#include <stdint.h>
#include <jv.h>

#include "budget.h"
#include "base/err.h"
#include "store/store.h"

/*
 * Each view is one JSON document computed here (agent-formats(5) and the
 * commands' man pages describe them); the human layouts below render that
 * same document, so there is one code path for the answer.  Ownership: the
 * views hand back new documents (*out) the caller owns; the renderers
 * borrow theirs and return malloc'd text.  Reads only, except that the
 * status view takes the budget's figures through budget_status (which may
 * create the day's row and expire holds, as every budget read does).
 * Every query is bounded (LIMIT) and served by an index.
 */

#define VIEWS_LIMIT_MAX 1000    /* sessions of a history, events of a read */
#define VIEWS_COLUMNS 80        /* a human line fits in this many columns */

/* agent-status: current cycle, the `recent` latest ended ones, today's
 * budget, the pause flag. */
int views_status(struct store *s, const struct budget_cfg *b, int recent, jv *out,
		 struct err *e);

/* agent-history: the agent's latest `limit` sessions, newest first; only
 * those with `outcome` when it is not NULL (EX_USAGE for an unknown one). */
int views_history(struct store *s, const char *agent, int limit, const char *outcome,
		  int64_t now, jv *out, struct err *e);

/* agent-session: everything about session `id`, with the timeline of its
 * phases, model calls and tool calls.  EX_NO when there is no such
 * session. */
int views_session(struct store *s, int64_t id, int64_t now, jv *out, struct err *e);

/*
 * agent-logs: ticks, model calls and tool calls as events, oldest first,
 * each {"type": "tick"|"invocation"|"action", "id", "at", ...}.  A reader
 * keeps one id watermark per table.  views_log_last reads the newest
 * `limit` events and sets the watermarks; views_log_next reads what came
 * after them.  When following, a tick still running is held back (with the
 * calls of its tick) until it has finished, or for `hold_s` seconds of
 * `mono_s` (a monotonic clock) at most, so that each line says how the
 * tick ended.
 */
struct views_log {
	char agent[128];
	int64_t session;        /* 0: every session of the agent */
	int64_t after[3];       /* watermarks: triggers, invocations, actions */
	jv pending;             /* events read but held back */
	jv seen;                /* tick id -> monotonic second first seen unfinished */
};

void views_log_init(struct views_log *l, const char *agent, int64_t session);
void views_log_release(struct views_log *l);
int views_log_last(struct views_log *l, struct store *s, int limit, jv *events,
		   struct err *e);
int views_log_next(struct views_log *l, struct store *s, double mono_s, double hold_s,
		   jv *events, struct err *e);

/* Human layouts (borrow doc; malloc'd text, NULL only when out of memory).
 * color: ANSI colours when 1.  No line takes more than VIEWS_COLUMNS - 1
 * columns: the layouts keep to it, and what still would not fit is cut
 * with "...". */
char *views_render_status(jv doc, int color);
char *views_render_history(jv doc, int color);
char *views_render_session(jv doc, int color);
char *views_render_event(jv ev, int color);   /* one line, no newline */
/* agent-cost's report (lib/cost.h): a table of at most 79 columns */
char *views_render_cost(jv doc, int color);

/* "45s", "12m", "3h 05m", "4d 02h" into buf (>= 16 bytes). */
char *views_age(int64_t seconds, char *buf);

/* The percent of the whole cycle a phase stands for (designing 5,
 * training 20, backtesting 65, assessing 90, idle 100) and its step text
 * ("Training model..."); -1 and NULL for an unknown phase. */
int views_phase_percent(const char *phase);
const char *views_phase_step(const char *phase);

#endif

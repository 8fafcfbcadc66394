/* metrics: the last stage of the cycle: ended sessions into agent_metrics. */
#ifndef METRICS_H
#define METRICS_H

#include <jv.h>

#include "err.h"
#include "store.h"

/*
 * The pipeline role of agent-metrics-agg.  (Rendering Prometheus metrics and
 * aggregating event streams are other roles of the same command.)
 *
 * Ownership follows jv's rule: the functions consume the documents they are
 * given and hand back new ones.
 */
struct metrics_ctx {
	const char *db;        /* --db, or NULL */
	struct store *store;   /* opened on first need */
};

void metrics_init(struct metrics_ctx *c, const char *db);
void metrics_release(struct metrics_ctx *c);

/*
 * Ends a tick: when the document's session ended in this tick (action "end",
 * session idle with an outcome) inserts its agent_metrics row (once: a row
 * already there is kept) and counts the cycle completed; then releases the
 * lease the tick holds and records the trigger row's duration and exit
 * status 0, all in one transaction.  *out is the document, with "metrics"
 * added for an ended session.  A dry-run document (tick.dry_run) passes
 * through untouched.  EX_DATA for a document that is not a tick document.
 */
int metrics_tick(struct metrics_ctx *c, jv doc, jv *out, struct err *e);

/*
 * After a failed stage: releases the lease held by tick `id` (if it still
 * does) and records exit status and failed stage on its trigger row (when
 * there is one).  agent NULL: the trigger row's agent, else AGENT_NAME or
 * "default".  *out describes what was done.
 */
int metrics_release_tick(struct metrics_ctx *c, const char *agent, const char *id, int status,
			 const char *stage, jv *out, struct err *e);

/* The agent_metrics figures of an ended session, as an object keyed by
 * column name (borrows session, the session row, and usage, the totals of
 * its invocations); now stands in for a missing completed_at. */
jv metrics_of_session(jv session, jv usage, int64_t now);

#endif

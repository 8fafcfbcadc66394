/* metrics: the last stage of the cycle: ended sessions into agent_metrics. */
#ifndef METRICS_H
#define METRICS_H

#include <jv.h>

#include "base/err.h"
#include "store/store.h"

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
	jv problems;           /* one-line strings: what the caller should say */
};

void metrics_init(struct metrics_ctx *c, const char *db);
void metrics_release(struct metrics_ctx *c);

/* The problems said since the last call (notices not delivered, a
 * malformed notify setting): an array of one-line strings, the caller's. */
jv metrics_problems(struct metrics_ctx *c);

/*
 * Ends a tick: when the document's session ended in this tick (action "end",
 * session idle with an outcome) inserts its agent_metrics row (once: a row
 * already there is kept) and counts the cycle completed; then releases the
 * lease the tick holds and records the trigger row's duration and exit
 * status 0, trips the circuit breaker (control_breaker) and records the
 * agent's new notices (notice_scan), all in one transaction; then delivers
 * the notices (their trouble goes to metrics_problems).  *out is the document, with "metrics"
 * added for an ended session.  A dry-run document (tick.dry_run) passes
 * through untouched.  EX_DATA for a document that is not a tick document.
 */
int metrics_tick(struct metrics_ctx *c, jv doc, jv *out, struct err *e);

/*
 * After a failed stage: releases the lease held by tick `id` (if it still
 * does) and records exit status, failed stage and the stage's error line
 * (detail, may be NULL) on its trigger row; a tick that failed before it
 * had one gets a row (event "failed", reason "tick_failed").  The notices
 * are scanned and delivered as after any tick.  agent NULL: the trigger row's agent, else AGENT_NAME or
 * "default".  *out describes what was done; *closed (optional) says
 * whether the row had its exit status already (the last stage had closed
 * the tick before a later failure).
 */
int metrics_release_tick(struct metrics_ctx *c, const char *agent, const char *id, int status,
			 const char *stage, const char *detail, jv *out, int *closed, struct err *e);

/* The trace a failed tick belongs to (after metrics_release_tick): the
 * session's when the tick's trigger row names one with a trace id, as a
 * traceparent whose span is the tick's (span_hex, the incoming
 * TRACEPARENT's), and the phase the session is in now; else tp[0] == 0. */
struct metrics_tick_trace {
	char tp[64];
	char phase[16];
};
void metrics_tick_trace(struct metrics_ctx *c, const char *id, const char *span_hex,
			struct metrics_tick_trace *t);

/* The agent_metrics figures of an ended session, as an object keyed by
 * column name (borrows session, the session row, and usage, the totals of
 * its invocations); now stands in for a missing completed_at. */
jv metrics_of_session(jv session, jv usage, int64_t now);

/* ---------------------------------------------------------------- rendering
 *
 * The Prometheus exposition of the store (metrics_render.c): counters and
 * histograms from the rollups (share/sql/<driver>/0003-metric-rollups.sql;
 * on SQLite the rows written since the last fold are folded in first,
 * 0005-metric-pending.sql), gauges from a few indexed rows, so it costs the
 * same with any history.  Every series carries an
 * "agent" label; names are prefixed with AGENT_METRICS_NAMESPACE ("agent"),
 * except the OpenTelemetry GenAI histograms (gen_ai_*).
 */
struct prom;

/* AGENT_METRICS_NAMESPACE, else "agent"; EX_PERM when not a name. */
int metrics_namespace(const char **ns, struct err *e);

/* A reconciliation report (reconcile.h, borrowed) as gauges:
 * <ns>_budget_reconcile_difference_ratio, _ledger_usd, _api_usd {model},
 * _timestamp_seconds {day}, _day_timestamp_seconds, appended to p. */
int metrics_reconcile(jv report, struct prom *p, struct err *e);

/* SQLite: folds the rows pending since the last fold into the rollups, in
 * the caller's transaction or in one of its own.  PostgreSQL's triggers keep
 * its rollups current: nothing to do. */
int metrics_fold(struct store *s, struct err *e);

/* Appends the exposition of agent (NULL: every agent in the store) to out;
 * folds first. */
int metrics_render(struct store *s, const char *agent, struct prom *out, struct err *e);

/* Counts a failed delivery (method "textfile" or "push") for agent. */
int metrics_count_failure(struct store *s, const char *agent, const char *method, struct err *e);

/* ---------------------------------------------------------------- delivery
 * (metrics_deliver.c) */

/* Replaces the file at path atomically: a temporary file in the same
 * directory, written, fsync'd, renamed over it.  EX_TEMP on failure (the
 * old file stays as it was). */
int metrics_write_textfile(const char *path, const char *text, size_t len, struct err *e);

/* PUTs the exposition to a Pushgateway at base_url, group
 * /metrics/job/agent/agent/<agent> (the value @base64-encoded when it is
 * not a plain path segment): the group is replaced as a whole.  EX_TEMP
 * for a failed exchange or a status other than 2xx; bounded to a few
 * seconds. */
int metrics_push(const char *base_url, const char *agent, const char *text, size_t len,
		 struct err *e);

/* The Pushgateway URL: AGENT_PUSHGATEWAY_URL, else
 * PROMETHEUS_PUSHGATEWAY_URL, else NULL. */
const char *metrics_push_url(void);

/*
 * Delivers as configured: with AGENT_METRICS_TEXTFILE, every agent's
 * metrics to that file; with a Pushgateway URL, agent's to its group.
 * A failed delivery is counted (metrics_delivery_failures_total) and its
 * message appended to *problems (an array of strings, created here); the
 * return value is the number of failures.
 */
int metrics_deliver(struct metrics_ctx *c, const char *agent, jv *problems);

/* Opens the context's store ahead of the first document, when it exists:
 * the last stage of a tick parses the schema (or connects) while the
 * stages before it work.  A failure is left for the first real need. */
void metrics_preopen(struct metrics_ctx *c);

/* Opens the context's store if needed (the pipeline, delivery, serving). */
int metrics_store(struct metrics_ctx *c, struct store **s, struct err *e);

/* ---------------------------------------------------------------- serving
 * (metrics_serve.c, libmicrohttpd) */

struct metrics_server;

/*
 * Serves GET /metrics on addr ("HOST:PORT", "[V6]:PORT", or "PORT" for
 * 127.0.0.1; port 0 picks a free one), rendering afresh from the store for
 * each scrape, on a thread of its own until metrics_serve_stop.  *url gets
 * the endpoint (http://HOST:PORT/metrics).  EX_USAGE for a bad address,
 * EX_PERM when it cannot listen.
 */
int metrics_serve_start(struct metrics_server **out, const char *addr, const char *db,
			const char *agent, char *url, size_t url_size, struct err *e);
void metrics_serve_stop(struct metrics_server *srv);

#endif

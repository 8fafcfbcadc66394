/* notice: what a person must hear of (backend down and back, the breaker, the budget, ended sessions), each condition once. */
#ifndef NOTICE_H
#define NOTICE_H

#include <stddef.h>
#include <stdint.h>
#include <jv.h>

#include "base/err.h"
#include "store/store.h"

/*
 * A notice is a condition of one agent, named by a key that makes it once:
 *
 *   backend_down      backend_down:<since>         down for AGENT_NOTIFY_BACKEND_TICKS ticks (2)
 *   backend_up        backend_up:<since>           back, after a backend_down notice
 *   breaker_open      breaker_open:<paused_at>     the circuit breaker paused the agent
 *   budget_warning    budget_warning:<day>:<pct>   AGENT_BUDGET_WARN_PERCENT (50,80,90) of the day's cap used
 *   budget_exhausted  budget_exhausted:<day>       the day's budget no longer affords a cycle
 *   session_ended     session_ended:<id>           a session ended with an outcome of AGENT_NOTIFY_OUTCOMES
 *
 * Each is recorded in agent_notices (agent, key unique) and, once recorded,
 * delivered to AGENT_NOTIFY_COMMAND (run by /bin/sh -c with the notice on
 * stdin) and to AGENT_NOTIFY_URL (POSTed as application/json) when set and
 * its kind is in AGENT_NOTIFY_ON (default: every kind).  The notice, the
 * JSON both receive:
 *
 *   {"agent", "kind", "key", "severity": "critical"|"warning"|"info",
 *    "at": RFC 3339, "text": one line (Slack's incoming-webhook field),
 *    "details": {...}}
 *
 * Delivery of one scan is bounded by AGENT_NOTIFY_TIMEOUT_MS (2000) in all:
 * a hanging command is killed with its process group, a slow URL given up;
 * the outcome is recorded on the notice (delivered_at, delivery) and never
 * changes the caller's.
 */

#define NOTICE_WARN_MAX 8

struct notice_cfg {
	char agent[128];
	int64_t now;                  /* Unix seconds (clock_now) */
	const char *command, *url;    /* AGENT_NOTIFY_COMMAND, AGENT_NOTIFY_URL (NULL: none) */
	int timeout_ms;               /* AGENT_NOTIFY_TIMEOUT_MS */
	unsigned kinds;               /* AGENT_NOTIFY_ON: bit per kind */
	char outcomes[400];           /* AGENT_NOTIFY_OUTCOMES: ",a,b," or "" for all */
	int backend_ticks;            /* AGENT_NOTIFY_BACKEND_TICKS */
	int warn[NOTICE_WARN_MAX];    /* AGENT_BUDGET_WARN_PERCENT, ascending */
	int nwarn;
	int budget;                   /* notice_scan: look at the budget (the tick spent or skipped for it) */
};

/* Reads the environment and the clock; EX_PERM for a malformed setting. */
int notice_config(struct notice_cfg *c, const char *agent, struct err *e);

/* The thresholds of AGENT_BUDGET_WARN_PERCENT into warn (ascending); their
 * count, or -1 with *e set. */
int notice_warn_levels(int warn[NOTICE_WARN_MAX], struct err *e);

/*
 * In the caller's open transaction: records every condition of the agent
 * that holds now and was not noticed before.  ended: array of session ids
 * that ended (consumed; jv_null() for none).  What cannot have changed is
 * not looked at, so an idle tick pays one read: the budget only when
 * c->budget, the backend only while it is down or just came back.  *fresh: array of the new
 * notices (each with its "id").
 */
int notice_scan(struct store *s, const struct notice_cfg *c, jv ended, jv *fresh,
		struct err *e);

/*
 * Outside any transaction: delivers each notice of `fresh` (consumed) and
 * records how it went.  A notice whose delivery failed is said in
 * *problems (an array of one-line strings, the caller's).  Returns a store
 * error only; delivery trouble is never one.
 */
int notice_deliver(struct store *s, const struct notice_cfg *c, jv fresh, jv *problems,
		   struct err *e);

#endif

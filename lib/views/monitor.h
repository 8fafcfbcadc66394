/* monitor: follow a research cycle: the store's phase, the backend's progress. */
#ifndef MONITOR_H
#define MONITOR_H

#include <signal.h>
#include <stdint.h>
#include <jv.h>

#include "net/backend.h"
#include "base/err.h"
#include "store/store.h"

/*
 * The follower of agent-monitor: every poll reads the session from the
 * store and, while it trains or backtests, its operation from the backend
 * (GET /operations/{id}); each poll makes a frame (a JSON object) handed to
 * the caller's emit function.  It ends when the session ends, when the
 * caller's interrupt flag is set (the session is cancelled, as agent-control
 * cancel does: DELETE /operations/{id} and outcome "cancelled"), when the
 * stop flag is set (no cancel), at the overall timeout, or when the backend
 * has lost the operation (404).  A connection failure (backend or store)
 * makes the next poll wait 1, 2, 4, then 5 s, reset by a success.
 *
 * Frame: {"at", "session", "agent", "phase", "percent", "step", "strategy",
 *         "elapsed_seconds", "child": {"operation_id", "status",
 *         "percentage", "current_step"} | null, "connection": "ok" | "lost",
 *         "retry_in": seconds | null, "message": text | null}
 * Summary (*summary): {"session", "agent", "end", "outcome", "strategy",
 *         "verdict", "sharpe", "win_rate", "max_drawdown", "phase", "step",
 *         "operation", "failure_reason", "message"}, where end is one of
 *         ended, cancelled, lost, timeout, stopped, none, tick_failed.
 *
 * Ownership: emit consumes its frame; *summary belongs to the caller.  The
 * library never prints: messages are in the frames and the summary.
 */

struct monitor_cfg {
	const char *agent;        /* whose active session (when session is 0) */
	int64_t session;          /* the session to follow; 0: the active one */
	double poll_s;            /* seconds between polls (0.5) */
	double timeout_s;         /* overall bound */
	double start_wait_s;      /* with a tick running: how long a session may take to appear */
	const char *cancel_reason;
	/* a tick the caller started (NULL when none): returns -1 while it
	 * runs, else its exit status */
	int (*tick_status)(void *arg);
	void *tick_arg;
	int (*emit)(void *arg, jv frame);
	void *emit_arg;
	volatile sig_atomic_t *interrupt;   /* set: cancel the session and end */
	volatile sig_atomic_t *stop;        /* set: end, the session goes on */
};

/* The exit status a summary stands for: 0 for a session that ended with
 * success (or a plain stop), 1 for another outcome, a cancel or nothing to
 * follow, 4 for a timeout or a lost operation, a failed tick's own. */
int monitor_exit_status(jv summary);

/*
 * Follows until one of the ends above.  Returns 0 with *summary set, or an
 * error (EX_PERM for configuration, EX_TEMP when the store stayed
 * unreachable past the timeout is a summary "timeout", not an error).
 */
int monitor_run(const struct monitor_cfg *c, struct store *s, struct backend *b,
		jv *summary, struct err *e);

/* Human layouts (borrowing; malloc'd): the frame as two lines (parent bar,
 * child bar or message) at most `width` columns each, no newline at the
 * end; the summary as one or two lines ending with a newline. */
char *monitor_render_frame(jv frame, int width, int color, int utf8);
char *monitor_render_summary(jv summary, int color);

#endif

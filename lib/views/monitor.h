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
 * When the operation is over but the session has not moved on (the next
 * tick has not run yet), the frame says what it waits for ("waiting"); with
 * a tick_start callback the follower runs that tick itself (at most one at
 * a time, DRIVE_GAP seconds apart, under agent-cycle's lease like the
 * timer's), otherwise it reads when the timer's next tick is due
 * (agent_state.last_tick_at + tick_interval_s).
 *
 * Frame: {"at" (RFC 3339), "at_epoch", "session", "agent", "phase",
 *         "percent", "step", "strategy", "elapsed_seconds",
 *         "child": {"operation_id", "status", "percentage", "current_step",
 *         "started_at", "elapsed_seconds"} | null, "connection": "ok" | "lost",
 *         "retry_in": seconds | null, "message": text | null,
 *         "waiting": {"for": "tick", "text", "running": bool,
 *         "next_tick_in_seconds": n | null} | null}
 * Summary (*summary): {"session", "agent", "end", "outcome", "strategy",
 *         "verdict", "sharpe", "win_rate", "max_drawdown", "phase", "step",
 *         "operation", "failure_reason", "message", "duration_seconds",
 *         "cost_usd", "calls", "ticks_run"}, where end is one of
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
	/* runs the next tick (NULL: the timer's ticks are awaited); 0 when it
	 * started, tick_status then follows it */
	int (*tick_start)(void *arg);
	void *tick_arg;
	double tick_interval_s;   /* the timer's period, for "next tick in" (300) */
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
 * child bar or message) of fewer than `width` columns each (names and
 * steps cut with an ellipsis, never wrapped), no newline at the end; the
 * summary as a few lines ending with a newline, each under `width`
 * columns.  utf8: box drawing and "…"; else ASCII. */
char *monitor_render_frame(jv frame, int width, int color, int utf8);
char *monitor_render_summary(jv summary, int width, int color, int utf8);

/* "0:42", "12:05", "1:02:03" into buf (>= 24 bytes). */
char *monitor_clock(int64_t seconds, char *buf);

#endif

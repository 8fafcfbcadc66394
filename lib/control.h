/* control: the operator's pause, resume and cancel. */
#ifndef CONTROL_H
#define CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <jv.h>

#include "base/err.h"
#include "store/store.h"

/*
 * Results are JSON objects the caller owns (*out), set on success and, for
 * cancel, on EX_NO too.  Each call is one transaction.
 */

/* Sets agent_state.paused (with reason and time, or clearing them).  A
 * paused agent's ticks are logged as skipped.  *out: {agent, command,
 * paused, changed, reason, paused_at}. */
int control_pause(struct store *s, const char *agent, int pause, const char *reason,
		  int64_t now, jv *out, struct err *e);

/* AGENT_MAX_CONSECUTIVE_FAILURES: 3 unless set, 0 = no breaker; EX_PERM
 * when malformed. */
int control_breaker_limit(int *n, struct err *e);

/*
 * The circuit breaker, in the caller's open transaction: when the agent's
 * latest `limit` ended sessions (since the last resume) all ended with the
 * same failure of the system (failed_design, failed_training,
 * failed_backtest, failed_assessment; never a gate's, a cancel, an
 * interruption), pauses the agent, paused_by "breaker", with the reason
 * "paused: N design failures in a row; last: <failure reason>", and puts
 * that reason in why (else why is ""). A paused agent, limit 0: nothing.
 */
int control_breaker(struct store *s, const char *agent, int limit, int64_t now, char *why,
		    size_t size, struct err *e);

/*
 * Ends the agent's active session "cancelled" (failure_reason: reason, or
 * "cancelled by the operator") and cancels its backend operation first with
 * DELETE /operations/{id}.  A backend failure does not stop the cancel: it
 * is described in *warn (code 0 when there is nothing to say) and in the
 * result's "operation".  EX_NO when there is no active session.  *out:
 * {agent, command, cancelled, session, operation}.
 */
int control_cancel(struct store *s, const char *agent, const char *reason, int64_t now,
		   jv *out, struct err *warn, struct err *e);

/* control_cancel, only when the agent's active session is `id` (EX_NO
 * otherwise): a follower cancels the session it follows, never a newer one. */
int control_cancel_session(struct store *s, const char *agent, int64_t id, const char *reason,
			   int64_t now, jv *out, struct err *warn, struct err *e);

#endif

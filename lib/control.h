/* control: the operator's pause, resume and cancel. */
#ifndef CONTROL_H
#define CONTROL_H

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

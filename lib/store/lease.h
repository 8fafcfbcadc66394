/* lease: one tick at a time per agent, across processes and hosts. */
#ifndef LEASE_H
#define LEASE_H

#include <stdint.h>
#include <jv.h>

#include "base/err.h"
#include "store/store.h"

/* Lease length: AGENT_LEASE_SECONDS (default 600).  A stage that works
 * longer (agent-invoke) renews it as it goes. */
int64_t lease_seconds(void);

/*
 * Takes the agent's lease for `holder` (a tick id) until now + seconds.
 * Returns 0 and *state (the agent_state row: paused, lease_*) when taken;
 * EX_NO when another live tick holds it.
 */
int lease_take(struct store *s, const char *agent, const char *holder, int64_t now,
	       int64_t seconds, jv *state, struct err *e);

/* Extends a lease still held by holder; EX_NO when it is not (expired and
 * taken over: the caller should stop). */
int lease_renew(struct store *s, const char *agent, const char *holder, int64_t now,
		int64_t seconds, struct err *e);

/* Releases it if holder still holds it (no error when it does not). */
int lease_release(struct store *s, const char *agent, const char *holder, int64_t now,
		  struct err *e);

#endif

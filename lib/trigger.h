/* trigger: the deterministic tick of the five-minute cycle (DESIGN §2-3). */
#ifndef TRIGGER_H
#define TRIGGER_H

#include <stddef.h>
#include <stdint.h>
#include <jv.h>

#include "net/backend.h"
#include "base/err.h"
#include "store/store.h"

/*
 * One tick: take the agent's lease, read the store (and the backend when a
 * session waits on an operation), decide, record the trigger row in the
 * transaction of any session change, and describe it all in the tick
 * document (agent-formats(5)):
 *
 *   {"tick": {"id","at","agent","traceparent"[,"dry_run"]},
 *    "event", "action", "reason" [, "detail"], "session": row|null [, "result"]}
 *
 * events: start_new_cycle training_running training_completed
 *         training_failed backtest_running backtest_completed
 *         backtest_failed recovered paused busy idle budget_exhausted
 *         backend_down
 * "detail": one line, when there is more to say than the reason (the
 * backend's error, what a budget skip lacked, the breaker's reason).
 * actions: invoke gate wait skip end
 *
 * The lease stays held for the later stages; the last stage (agent-metrics-agg)
 * releases it.  A tick that fails after taking it releases it itself.
 */

struct trigger_cfg {
	char agent[128];
	char tick_id[65];
	char traceparent[64];
	int force;             /* start a cycle even when automatic starts are off */
	int dry_run;           /* decide and describe; write nothing anywhere */
	int auto_start;        /* AGENT_AUTO_START (1) */
	int max_resumes;       /* AGENT_MAX_RESUMES (2) */
	int max_conn_failures; /* AGENT_MAX_CONN_FAILURES (5) */
	int coexist;           /* AGENT_COEXIST_CHECK (1): no start while the platform's agent runs */
	int health;            /* AGENT_HEALTH_CHECK (1): no start, no model call while the backend is down */
	int busy_backoff;      /* AGENT_BUSY_BACKOFF_SECONDS (300) */
	int max_failures;      /* AGENT_MAX_CONSECUTIVE_FAILURES (3): the circuit breaker */
	int64_t now_us;        /* clock_now (AGENT_NOW) */
	int64_t lease_seconds; /* AGENT_LEASE_SECONDS (600) */
	struct backend backend;
};

/*
 * Fills c from the environment and the clock: agent (NULL: AGENT_NAME, else
 * "default"), tick id (NULL: 32 random hex digits), traceparent (TRACEPARENT
 * when valid, else a new one).  EX_USAGE for a bad agent name or tick id,
 * EX_PERM for a malformed setting.
 */
int trigger_config(struct trigger_cfg *c, const char *agent, const char *tick_id,
		   struct err *e);

/*
 * Runs the tick on an open store; *doc gets the tick document.  Backend
 * trouble is not an error: it is recorded (conn_failures, the decision) and
 * described in *warn (code 0 when there is nothing to say).  Errors: EX_TEMP
 * (store busy or down, the session changed under the tick), EX_PERM.
 */
int trigger_tick(struct store *s, const struct trigger_cfg *c, jv *doc,
		 struct err *warn, struct err *e);

/* 1 for a valid W3C traceparent (version 00: exactly 55 characters). */
int trigger_traceparent_ok(const char *tp);

/* 1 for a usable agent name or tick id: 1..max bytes of [A-Za-z0-9_.-]. */
int trigger_name_ok(const char *s, size_t max);

/* n random bytes as 2n lower-case hex digits into buf (>= 2n + 1). */
int trigger_random_hex(char *buf, size_t nbytes, struct err *e);

#endif

/* session: the research session state machine (DESIGN §3), in one place. */
#ifndef SESSION_H
#define SESSION_H

#include <stdint.h>
#include <jv.h>

#include "base/err.h"
#include "store/store.h"

/* 1 when from -> to (with this outcome, for a move to idle) is in the
 * state table, else 0. */
int session_transition_ok(const char *from, const char *to, const char *outcome);

/* 1 for a known phase / outcome name. */
int session_is_phase(const char *s);
int session_is_outcome(const char *s);

/*
 * Moves session `id` from `from` to `to`, checked against the table.
 * `fields` (consumed) is an object with any of: outcome, failure_reason,
 * strategy_name, strategy_config, strategy_path, training_operation_id,
 * training_results, backtest_operation_id, backtest_results, assessment,
 * training_gate, backtest_gate.  Returns EX_PERM for an illegal transition,
 * EX_TEMP when the session was no longer in `from` (a concurrent writer).
 * Runs inside the caller's transaction when there is one.
 */
int session_move(struct store *s, int64_t id, const char *from, const char *to,
		 jv fields, int64_t now, struct err *e);

/* The row of session id (null when none). */
int session_get(struct store *s, int64_t id, jv *row, struct err *e);

/* The agent's active session (phase <> idle), or null. */
int session_active(struct store *s, const char *agent, jv *row, struct err *e);

/* A session row (consumed) as a person reads it: its times (created_at,
 * updated_at, completed_at, the phases' *_at, progress.updated_at,
 * assessment.assessed_at) as RFC 3339 text, trace_started_us as
 * trace_started_at (RFC 3339 to the microsecond).  Anything not an object
 * is returned as it is. */
jv session_for_people(jv row);

#endif

/* invoke: one agent invocation: the model call, its tool loop, every token accounted. */
#ifndef INVOKE_H
#define INVOKE_H

#include <stdint.h>
#include <jv.h>

#include "base/err.h"
#include "store/store.h"

struct invoke_opts {
	const char *agent;      /* NULL: AGENT_NAME or "default" */
	const char *kind;       /* design, post_training, assessment; NULL: from the session's phase */
	int64_t session_id;     /* 0: none (tools change no session) */
	const char *tick_id;    /* the tick holding the lease (renewed as the loop goes), or NULL */
	const char *reason;     /* the trigger's reason, for the prompt */
};

/*
 * Runs one invocation.  Before every API call (every attempt) it holds the
 * call's worst-case cost and settles it with the actual usage after, in the
 * transaction that records the call.  *summary gets {kind, model, calls,
 * tool_calls, tool_errors, usage, cost_usd, stop_reason, status, reason,
 * duration_ms, session_id}.  Returns 0 when the invocation ran to an end
 * the session can take (the session is moved on or ended), EX_NO when the
 * budget refused the first call (nothing spent), EX_TEMP when the API
 * could not be reached after retries (the session stays for recovery),
 * EX_PERM for configuration or auth, EX_DATA for a session in the wrong
 * phase.
 */
int invoke_run(struct store *s, const struct invoke_opts *o, jv *summary, struct err *e);

/* The pipeline role: a tick with action "invoke" runs the invocation its
 * session calls for; others pass through.  doc consumed. */
int invoke_stage(struct store *s, jv doc, jv *out, struct err *e);

/* The model of an invocation kind: AGENT_MODEL_DESIGN, AGENT_MODEL_POST_TRAINING
 * or AGENT_MODEL_ASSESSMENT, else AGENT_MODEL, else the default (a short
 * name such as haiku resolved by models_short_name): Opus 4.5
 * designs (and post-trains), Haiku 4.5 assesses (bench/cycle-cost.sh).
 * Written to buf; returns buf. */
#define INVOKE_DEFAULT_MODEL "claude-opus-4-5-20251101"
#define INVOKE_ASSESSMENT_MODEL "claude-haiku-4-5-20251001"
const char *invoke_model(const char *kind, char *buf, size_t size);

/* The fallback model of an invocation kind: AGENT_FALLBACK_MODEL_DESIGN,
 * _POST_TRAINING or _ASSESSMENT, else AGENT_FALLBACK_MODEL (short names
 * resolved), else "" (none).  The invocation takes it when its model's
 * hold is refused for the model's day cap ("model_cap") or the API is
 * still overloaded (529) after the retries ("overloaded"), held and priced
 * as that model.  Written to buf; returns buf. */
const char *invoke_fallback_model(const char *kind, char *buf, size_t size);

#endif

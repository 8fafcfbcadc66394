/* stage: what agent-gate and agent-budget do to a tick document in the pipeline. */
#ifndef STAGE_H
#define STAGE_H

#include <jv.h>

#include "base/err.h"
#include "gate.h"
#include "store/store.h"

/*
 * Each stage takes a tick document (consumed) and gives the document to
 * write on in *out.  A document whose action does not concern the stage
 * passes through unchanged (and no store is needed: *s may be NULL then;
 * `open` is called to get one only when needed).
 */
struct stage_ctx {
	const char *db;              /* --db, or NULL */
	struct store *store;         /* opened on first need */
	struct gate gates[2];        /* training, backtest (compiled on first need) */
	int gates_ready[2];
	jv gate_sets;                /* --set assignments, an array of strings */
};

void stage_init(struct stage_ctx *c, const char *db);
void stage_release(struct stage_ctx *c);

/*
 * action "gate": evaluates the gate of the session's phase on .result,
 * moves the session (passed: training -> backtesting, backtesting ->
 * assessing, action "invoke"; failed: -> idle with failed_<gate>_gate,
 * action "end") and records the trigger row, in one transaction; adds
 * "gate" (the verdict).
 */
int stage_gate(struct stage_ctx *c, jv doc, jv *out, struct err *e);

/*
 * action "invoke": admits the invocation when the day's available budget
 * covers one call's estimate (adds "budget"), or refuses it: action "skip",
 * reason "budget_exhausted", trigger row updated.
 */
int stage_budget(struct stage_ctx *c, jv doc, jv *out, struct err *e);

#endif

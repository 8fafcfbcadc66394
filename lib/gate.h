/* gate: quality gates as jq rule files, judged the same way for every rule. */
#ifndef GATE_H
#define GATE_H

#include <jv.h>

#include "base/err.h"

struct jq_state;

struct gate {
	char name[64];        /* "training", "backtest", or the rule file's base name */
	char path[4096];
	jv set;               /* thresholds: environment, then --set */
	struct jq_state *jq;  /* the compiled rule */
};

/*
 * `spec` is "training", "backtest" (share/gates/NAME.jq) or a path to a
 * .jq file.  Thresholds come from <NAME>_GATE_<KEY> in the environment
 * (EX_PERM when not a number); gate_set adds --set ones (EX_USAGE).
 * The rule is compiled by gate_compile, after every threshold is known.
 */
int gate_init(struct gate *g, const char *spec, struct err *e);
int gate_set(struct gate *g, const char *assignment, struct err *e);
int gate_compile(struct gate *g, struct err *e);
void gate_release(struct gate *g);

/*
 * Evaluates the gate on a result (consumed): the backend's result_summary,
 * or an operation response carrying one (data.result_summary or
 * result_summary), or flat fields.  *verdict gets {gate, passed, reason,
 * detail, checks[]}.  Returns 0 (look at passed), EX_DATA for bad input (a
 * value that is not a number, NaN), EX_PERM for a broken rule file.
 */
int gate_eval(struct gate *g, jv result, jv *verdict, struct err *e);

/* 1 when the verdict passed. */
int gate_passed(jv verdict);

#endif

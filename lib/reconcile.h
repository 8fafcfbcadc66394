/* reconcile: one UTC day of the ledger against Anthropic's Usage & Cost Admin API. */
#ifndef RECONCILE_H
#define RECONCILE_H

#include <stdint.h>
#include <jv.h>

#include "base/err.h"
#include "store/store.h"

/*
 * The ledger's side is cost_report by model over [day 00:00, +24 h) for
 * every agent (the API reports the whole organisation); the API's side is
 * GET /v1/organizations/cost_report (group_by[]=description, for the
 * model) and GET /v1/organizations/usage_report/messages (group_by[]=model)
 * with bucket_width=1d, every page, with the admin key
 * (anthropic_admin_init: the key is never in a message or in *out).
 *
 * *out (the caller's) is the report of agent-budget(1) reconcile: per model
 * the ledger's and the API's dollars and tokens, the difference in dollars
 * and relative to the ledger (a model the ledger has nothing for is 100 %;
 * within a micro-dollar a call, the ledger's rounding, is no difference),
 * and whether it is within the tolerance; a total the same way.
 *
 * Returns 0 (the report made, whatever the differences), EX_PERM (no admin
 * key, 401/403, another 4xx), EX_TEMP (the API unreachable, 429, 5xx, a
 * malformed answer), or the store's error.
 */
struct reconcile_query {
	char day[11];         /* "YYYY-MM-DD" */
	double tolerance;     /* a fraction: 0.01 is 1 % */
	int64_t now;          /* Unix seconds, for checked_at */
};

int reconcile_run(struct store *s, const struct reconcile_query *q, jv *out, struct err *e);

/* Pico-dollars from the API's amount, a decimal string in cents; -1 when
 * malformed or out of range. */
int reconcile_cents(const char *s, int64_t *pico);

#endif

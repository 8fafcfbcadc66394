/* cost: spend reports over a time range, itemised from the budget ledger. */
#ifndef COST_H
#define COST_H

#include <stdint.h>
#include <jv.h>

#include "base/err.h"
#include "store/store.h"

/*
 * Where the money is: the budget ledger (agent_budget, one row per agent and
 * UTC day) adds up its closed holds, each settled at the cost of the call it
 * paid for or expired at its full amount.  A report reads those holds, so its
 * rows add up to the ledger to the micro-dollar, and takes the model, kind,
 * session and tokens from the invocation row that settled each hold.  A hold
 * with no invocation row (settled by hand, or a process that died before it
 * recorded its call) is counted as unattributed, never dropped.  Open holds
 * are not spent yet: reported beside (held_usd), not in the total.
 *
 * A hold belongs to the instant it was taken (and so to its ledger day); a
 * range is [since, until), in Unix seconds.  Reads only.
 */

enum cost_by { COST_DAY, COST_WEEK, COST_MONTH, COST_MODEL, COST_KIND, COST_SESSION };

struct cost_query {
	char agent[128];     /* "" for every agent */
	enum cost_by by;
	int64_t since, until;
};

/* "day", "week", ... into *by; -1 for another word. */
int cost_by_parse(const char *s, enum cost_by *by);
const char *cost_by_name(enum cost_by by);

/*
 * One end of a range: "YYYY-MM-DD" (00:00 UTC of that day; for the end of a
 * range, `until`, the day is included: 00:00 of the next day), an RFC 3339
 * time (a fraction rounds up to the next second, so the instant itself is
 * the limit), "now", or an age before now: N followed by h, d or w ("24h",
 * "7d", "4w").  0, or -1 for anything else.
 */
int cost_when_parse(const char *s, int64_t now, int until, int64_t *out);

/*
 * The range of --since/--until (either may be NULL).  Defaults: until the
 * end of today (UTC), since seven days before until when --until is given,
 * else 00:00 UTC six days ago (today and the six days before, as agent-budget
 * history).  EX_USAGE with a one-line message for a malformed end or a range
 * that is empty (since not before until).
 */
int cost_range(const char *since, const char *until, int64_t now, int64_t *from,
	       int64_t *to, struct err *e);

/* The report of q as one JSON document (agent-cost(1), agent-formats(5)):
 * *out is the caller's. */
int cost_report(struct store *s, const struct cost_query *q, jv *out, struct err *e);

/* "2026-W48": the ISO 8601 week (Monday first) of UTC day "YYYY-MM-DD" into
 * buf (>= 16 bytes); NULL for a malformed day. */
char *cost_iso_week(const char *day, char *buf);

#endif

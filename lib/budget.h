/* budget: the hard daily cap; holds and settlements in single statements. */
#ifndef BUDGET_H
#define BUDGET_H

#include <stdint.h>
#include <jv.h>

#include "base/err.h"
#include "store/store.h"

struct budget_cfg {
	char agent[128];
	int64_t limit;        /* micro-dollars, AGENT_DAILY_BUDGET_USD (5.00) */
	int64_t buffer;       /* micro-dollars never spent, AGENT_BUDGET_BUFFER_USD (0.10) */
	int64_t token_limit;  /* AGENT_DAILY_TOKEN_BUDGET, 0 for none */
	int64_t now;          /* Unix seconds (clock_now, AGENT_NOW) */
	char day[11];         /* the UTC day of now */
	/* AGENT_WEEKLY_BUDGET_USD, AGENT_MONTHLY_BUDGET_USD: the agent's
	 * week and month caps unless set in the store; -1 for none */
	int64_t week_limit, month_limit;
	char week_from[11], week_to[11];     /* the ISO week of now, Monday to Sunday */
	char month_from[11], month_to[11];   /* the calendar month of now */
	/* The model a hold is for ("" for none; budget_config leaves it
	 * empty): budget_hold records it and checks its day cap. */
	char model[128];
};

/*
 * Scopes.  Beyond the agent's day (the cap above, in agent_budget) a cap
 * may bound a scope -- "agent:NAME", "team:NAME" or "global" -- over a
 * period -- "day", "week" (ISO, from Monday) or "month", all UTC.  A scope's
 * spend and holds are the sums of its agents' day rows over the period, so
 * a hold is admitted only when every cap that applies to its agent has
 * room (the buffer applies to the agent's day only), and settling or
 * expiring a hold touches its agent's day row alone.  A team's figures are
 * those of its members now.  Names: 1 to 100 of [A-Za-z0-9_.-].
 */
#define BUDGET_SCOPE_MAX 112

/* "agent" (c->agent), "agent:NAME", "team:NAME" or "global" into scope;
 * EX_USAGE otherwise. */
int budget_scope_parse(const char *text, const struct budget_cfg *c, char *scope, size_t size,
		       struct err *e);

/* 0 for "day", "week" or "month"; EX_USAGE otherwise. */
int budget_period_ok(const char *period, struct err *e);

/* Reads the environment and the clock.  EX_PERM for a malformed setting. */
int budget_config(struct budget_cfg *c, const char *agent, struct err *e);

/*
 * Every call below is one transaction (or joins the caller's).  Amounts are
 * micro-dollars.  A hold past its expiry counts as spent at its full amount
 * and cannot be settled; "spent + held <= limit - buffer" always holds.
 */

/* Today's figures as a JSON object (see agent-budget(1)). */
int budget_status(struct store *s, const struct budget_cfg *c, jv *out, struct err *e);

/* Reserves `amount` for `ttl` seconds.  EX_NO (with *out describing the
 * refusal) when it would break the cap. */
int budget_hold(struct store *s, const struct budget_cfg *c, int64_t amount,
		int64_t tokens, int64_t ttl, const char *note, jv *out, struct err *e);

/* Settles hold `id` at the actual cost.  EX_NO when the hold is no longer
 * open (settled before, or expired); EX_DATA when there is no such hold. */
int budget_settle(struct store *s, const struct budget_cfg *c, int64_t id, int64_t cost,
		  int64_t tokens, jv *out, struct err *e);

/* Sets today's limit for the agent (kept over the environment's). */
int budget_set_limit(struct store *s, const struct budget_cfg *c, int64_t limit,
		     jv *out, struct err *e);

/* Sets (limit >= 0) or removes (-1) the cap of scope over period.  The
 * agent's own day is budget_set_limit's (and cannot be removed).  *out:
 * the scope's status. */
int budget_set_cap(struct store *s, const struct budget_cfg *c, const char *scope,
		   const char *period, int64_t limit, jv *out, struct err *e);

/*
 * Model caps.  A cap on one model's spend by the agent over the UTC day:
 * the model's holds of the day, open and expired at their amount, settled
 * at their cost.  A hold for a capped model (c->model) is refused with
 * scope "model:MODEL", period "day", when it would break it; budget_status
 * lists each in "caps".  Sets (limit >= 0) or removes (-1) the cap of
 * model (a full model id); *out: the agent's status.
 */
int budget_set_model_cap(struct store *s, const struct budget_cfg *c, const char *model,
			 int64_t limit, jv *out, struct err *e);

/* Puts the agent in team (NULL: in none).  *out: {"agent", "team",
 * "previous"}. */
int budget_set_team(struct store *s, const struct budget_cfg *c, const char *team, jv *out,
		    struct err *e);

/* One scope's caps with what each period has spent and holds, its members
 * for a team (see agent-budget(1)). */
int budget_scope_status(struct store *s, const struct budget_cfg *c, const char *scope,
			jv *out, struct err *e);

/* The last `days` UTC days, newest first. */
int budget_history(struct store *s, const struct budget_cfg *c, int days, jv *out,
		   struct err *e);

/* Counts a cycle started (completed = 0) or completed (1) today. */
int budget_count_cycle(struct store *s, const struct budget_cfg *c, int completed,
		       struct err *e);

/* When the day of c->now ends and a new budget starts: the next 00:00 UTC
 * (Unix seconds). */
int64_t budget_resets_at(const struct budget_cfg *c);

/* Cost estimate of one cycle: AGENT_CYCLE_ESTIMATE_USD, else $0.15. */
int64_t budget_cycle_estimate(void);

#endif

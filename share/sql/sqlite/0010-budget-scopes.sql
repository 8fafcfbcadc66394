-- Schema 10: budget scopes beyond the agent's day (agent-budget(1) SCOPES):
-- caps per scope ('agent:NAME', 'team:NAME', 'global') and period (day,
-- ISO week, calendar month, all UTC), and the team each agent belongs to.
-- What a scope has spent and holds is the sum of its agents' daily rows
-- (agent_budget) over the period's days, so settling and expiring stay
-- what they were: one agent's day row.
CREATE TABLE agent_budget_caps (
    scope                   TEXT    NOT NULL,
    period                  TEXT    NOT NULL CHECK (period IN ('day','week','month')),
    limit_micros            INTEGER NOT NULL CHECK (limit_micros >= 0),
    updated_at              INTEGER NOT NULL,
    PRIMARY KEY (scope, period)
);
CREATE TABLE agent_budget_teams (
    agent                   TEXT    PRIMARY KEY,
    team                    TEXT    NOT NULL,
    updated_at              INTEGER NOT NULL
);
CREATE INDEX agent_budget_teams_team ON agent_budget_teams (team);
CREATE INDEX agent_budget_day ON agent_budget (day);

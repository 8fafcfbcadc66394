-- Schema 11: per-model daily caps and model fallback (agent-budget(1)
-- --model, agent-invoke(1) FALLBACK).  A hold says which model it is for;
-- a model's day spend is its agent's holds of the day (open and expired at
-- their amount, settled at the settled cost).  An invocation row says which
-- model was asked for when another one ran, and why.
ALTER TABLE agent_budget_holds ADD COLUMN model TEXT;
CREATE TABLE agent_budget_model_caps (
    agent                   TEXT    NOT NULL,
    model                   TEXT    NOT NULL,
    limit_micros            INTEGER NOT NULL CHECK (limit_micros >= 0),
    updated_at              INTEGER NOT NULL,
    PRIMARY KEY (agent, model)
);
CREATE INDEX agent_budget_holds_model ON agent_budget_holds (agent, day, model);
ALTER TABLE agent_invocations ADD COLUMN requested_model TEXT;
ALTER TABLE agent_invocations ADD COLUMN fallback_reason TEXT;

-- Schema 8: indexes for the cost report (agent-cost): the holds of a time
-- range, and the model call that settled each hold.
SET LOCAL statement_timeout = 0;
CREATE INDEX agent_budget_holds_created ON agent_budget_holds (created_at);
CREATE INDEX agent_invocations_hold ON agent_invocations (hold_id) WHERE hold_id IS NOT NULL;

-- Statements shared by both drivers ($1..$n parameters, named by "-- name:").
-- A driver's own queries.sql overrides a name here.

-- name: schema_version
SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations

-- name: schema_list
SELECT version, name, applied_at FROM schema_migrations ORDER BY version

-- ---------------------------------------------------------------- budget

-- name: budget_ensure_day
-- $1 agent, $2 day, $3 limit from the environment, $4 now.  A limit set by
-- `agent-budget set` for the day wins over the environment.
INSERT INTO agent_budget (agent, day, limit_micros, created_at, updated_at)
VALUES ($1, $2, $3, $4, $4)
ON CONFLICT (agent, day) DO UPDATE SET limit_micros = excluded.limit_micros
 WHERE agent_budget.limit_set = false AND agent_budget.limit_micros <> excluded.limit_micros

-- name: budget_day
SELECT agent, day, limit_micros, limit_set, spent_micros, held_micros, tokens_used,
       tokens_held, invocations, cycles_started, cycles_completed
  FROM agent_budget WHERE agent = $1 AND day = $2

-- name: budget_reserve
-- The cap in one statement: the row lock serialises concurrent holders.
-- $1 agent, $2 day, $3 amount, $4 buffer, $5 token limit (0: none),
-- $6 tokens, $7 now
UPDATE agent_budget
   SET held_micros = held_micros + $3, tokens_held = tokens_held + $6, updated_at = $7
 WHERE agent = $1 AND day = $2
   AND spent_micros + held_micros + $3 <= limit_micros - $4
   AND ($5 = 0 OR tokens_used + tokens_held + $6 <= $5)
RETURNING limit_micros, spent_micros, held_micros

-- name: budget_hold_insert
INSERT INTO agent_budget_holds (agent, day, amount_micros, tokens, note, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, agent, day, amount_micros, tokens, status, note, created_at, expires_at

-- name: budget_hold_get
SELECT id, agent, day, amount_micros, tokens, status, settled_micros, settled_tokens,
       note, created_at, expires_at, settled_at
  FROM agent_budget_holds WHERE id = $1

-- name: budget_hold_close
-- $1 id, $2 actual cost, $3 actual tokens, $4 now.  An expired hold cannot be
-- settled: it already counts as spent at its full amount.
UPDATE agent_budget_holds
   SET status = 'settled', settled_micros = $2, settled_tokens = $3, settled_at = $4
 WHERE id = $1 AND status = 'open' AND expires_at > $4
RETURNING id, agent, day, amount_micros, tokens

-- name: budget_settle_day
-- $1 agent, $2 day, $3 hold amount, $4 actual cost, $5 hold tokens,
-- $6 actual tokens, $7 now
UPDATE agent_budget
   SET held_micros = held_micros - $3, spent_micros = spent_micros + $4,
       tokens_held = tokens_held - $5, tokens_used = tokens_used + $6,
       invocations = invocations + 1, updated_at = $7
 WHERE agent = $1 AND day = $2

-- name: budget_expire_holds
UPDATE agent_budget_holds
   SET status = 'expired', settled_micros = amount_micros, settled_tokens = tokens,
       settled_at = $2
 WHERE agent = $1 AND status = 'open' AND expires_at <= $2
RETURNING id, day, amount_micros, tokens

-- name: budget_expire_day
-- An expired hold is spent at its full amount.
UPDATE agent_budget
   SET held_micros = held_micros - $3, spent_micros = spent_micros + $3,
       tokens_held = tokens_held - $4, tokens_used = tokens_used + $4, updated_at = $5
 WHERE agent = $1 AND day = $2

-- name: budget_set_limit
UPDATE agent_budget SET limit_micros = $3, limit_set = true, updated_at = $4
 WHERE agent = $1 AND day = $2

-- name: budget_history
SELECT day, limit_micros, spent_micros, held_micros, tokens_used, invocations,
       cycles_started, cycles_completed
  FROM agent_budget WHERE agent = $1 AND day >= $2 AND day <= $3 ORDER BY day DESC

-- name: budget_count_cycle_started
UPDATE agent_budget SET cycles_started = cycles_started + 1, updated_at = $3
 WHERE agent = $1 AND day = $2

-- name: budget_count_cycle_completed
UPDATE agent_budget SET cycles_completed = cycles_completed + 1, updated_at = $3
 WHERE agent = $1 AND day = $2

-- ---------------------------------------------------------------- sessions

-- name: session_get
SELECT id, agent, phase, outcome, strategy_name, strategy_config, strategy_path,
       training_operation_id, training_results, backtest_operation_id, backtest_results,
       assessment, training_gate, backtest_gate, progress, failure_reason, retry_count,
       invoke_attempts, conn_failures, designing_at, training_at, backtesting_at,
       assessing_at, created_at, updated_at, completed_at
  FROM agent_sessions WHERE id = $1

-- name: session_active
SELECT id, agent, phase, outcome, strategy_name, strategy_config, strategy_path,
       training_operation_id, training_results, backtest_operation_id, backtest_results,
       assessment, training_gate, backtest_gate, progress, failure_reason, retry_count,
       invoke_attempts, conn_failures, designing_at, training_at, backtesting_at,
       assessing_at, created_at, updated_at, completed_at
  FROM agent_sessions WHERE agent = $1 AND phase <> 'idle' ORDER BY id DESC LIMIT 1

-- name: session_create
INSERT INTO agent_sessions (agent, phase, designing_at, created_at, updated_at)
VALUES ($1, 'designing', $2, $2, $2)
RETURNING id

-- name: session_move
-- One statement for every transition of the state table (lib/session.c
-- checks the table first); $2 is the phase the caller saw, so a stale
-- writer changes nothing.  NULL parameters leave a column as it is.
-- $1 id, $2 from, $3 to, $4 outcome, $5 failure_reason, $6 now,
-- $7 strategy_name, $8 strategy_config, $9 strategy_path,
-- $10 training_operation_id, $11 training_results, $12 backtest_operation_id,
-- $13 backtest_results, $14 assessment, $15 training_gate, $16 backtest_gate
UPDATE agent_sessions
   SET phase = $3,
       outcome = COALESCE($4, outcome),
       failure_reason = COALESCE($5, failure_reason),
       strategy_name = COALESCE($7, strategy_name),
       strategy_config = COALESCE($8, strategy_config),
       strategy_path = COALESCE($9, strategy_path),
       training_operation_id = COALESCE($10, training_operation_id),
       training_results = COALESCE($11, training_results),
       backtest_operation_id = COALESCE($12, backtest_operation_id),
       backtest_results = COALESCE($13, backtest_results),
       assessment = COALESCE($14, assessment),
       training_gate = COALESCE($15, training_gate),
       backtest_gate = COALESCE($16, backtest_gate),
       training_at = CASE WHEN $3 = 'training' AND $2 <> 'training' THEN $6 ELSE training_at END,
       backtesting_at = CASE WHEN $3 = 'backtesting' AND $2 <> 'backtesting' THEN $6 ELSE backtesting_at END,
       assessing_at = CASE WHEN $3 = 'assessing' AND $2 <> 'assessing' THEN $6 ELSE assessing_at END,
       completed_at = CASE WHEN $3 = 'idle' THEN $6 ELSE completed_at END,
       retry_count = CASE WHEN $3 <> $2 THEN 0 ELSE retry_count END,
       invoke_attempts = CASE WHEN $3 <> $2 THEN 0 ELSE invoke_attempts END,
       conn_failures = CASE WHEN $3 <> $2 THEN 0 ELSE conn_failures END,
       updated_at = $6
 WHERE id = $1 AND phase = $2

-- ---------------------------------------------------------------- triggers

-- name: trigger_update_decision
-- $1 tick id, $2 action, $3 reason, $4 skip reason, $5 invoked (or NULL),
-- $6 spent, $7 remaining
UPDATE agent_triggers
   SET action = COALESCE($2, action), reason = COALESCE($3, reason),
       skip_reason = COALESCE($4, skip_reason), invoked = COALESCE($5, invoked),
       budget_spent_micros = COALESCE($6, budget_spent_micros),
       budget_remaining_micros = COALESCE($7, budget_remaining_micros)
 WHERE tick_id = $1

-- ---------------------------------------------------------------- lease

-- name: lease_take
-- One tick at a time per agent: the row lock decides between concurrent
-- takers; an expired lease (a crashed tick) is simply taken over.
-- $1 agent, $2 holder (tick id), $3 now, $4 expires at
INSERT INTO agent_state (agent, lease_holder, lease_expires_at, last_tick_at, updated_at)
VALUES ($1, $2, $4, $3, $3)
ON CONFLICT (agent) DO UPDATE
   SET lease_holder = excluded.lease_holder, lease_expires_at = excluded.lease_expires_at,
       last_tick_at = excluded.last_tick_at, updated_at = excluded.updated_at
 WHERE agent_state.lease_holder IS NULL OR agent_state.lease_expires_at <= $3
RETURNING agent, lease_holder, lease_expires_at, paused

-- name: lease_renew
UPDATE agent_state SET lease_expires_at = $4, updated_at = $3
 WHERE agent = $1 AND lease_holder = $2

-- name: lease_release
UPDATE agent_state SET lease_holder = NULL, lease_expires_at = NULL, updated_at = $3
 WHERE agent = $1 AND lease_holder = $2

-- name: state_get
SELECT agent, paused, lease_holder, lease_expires_at, last_tick_at, updated_at
  FROM agent_state WHERE agent = $1

-- Statements shared by both drivers ($1..$n parameters, named by "-- name:").
-- A driver's own queries.sql overrides a name here.

-- name: schema_version
SELECT COALESCE(MAX(version), 0) AS version, COUNT(*) AS applied FROM schema_migrations

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
-- $6 tokens, $7 now, $8 limit from the environment (the row's own limit
-- wins only when set for the day, as in budget_ensure_day)
UPDATE agent_budget
   SET held_micros = held_micros + $3, tokens_held = tokens_held + $6, updated_at = $7,
       limit_micros = CASE WHEN limit_set THEN limit_micros ELSE $8 END
 WHERE agent = $1 AND day = $2
   AND spent_micros + held_micros + $3 <= CASE WHEN limit_set THEN limit_micros ELSE $8 END - $4
   AND ($5 = 0 OR tokens_used + tokens_held + $6 <= $5)
RETURNING limit_micros, spent_micros, held_micros

-- name: budget_hold_insert
-- $8 the hold's model (or null)
INSERT INTO agent_budget_holds (agent, day, amount_micros, tokens, note, created_at, expires_at, model)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id, agent, day, amount_micros, tokens, status, note, created_at, expires_at

-- name: budget_hold_get
SELECT id, agent, day, amount_micros, tokens, status, settled_micros, settled_tokens,
       note, created_at, expires_at, settled_at, model
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

-- ---------------------------------------------------------------- budget scopes (schema 10 / 9)
-- A scope is 'agent:NAME', 'team:NAME' or 'global'; what it has spent and
-- holds in a period is the sum of its agents' day rows over the period's
-- days (agent-budget(1) SCOPES).

-- name: budget_scope_caps
-- The caps that apply to agent $1 beyond its day: its own week and month,
-- its team's and the global ones, the wider scope first (the lock order).
SELECT k.scope, k.period, k.limit_micros,
       CASE WHEN k.scope = 'global' THEN 0 WHEN k.scope LIKE 'team:%' THEN 1 ELSE 2 END AS rank
  FROM agent_budget_caps k
 WHERE k.scope = 'global'
    OR k.scope = (SELECT 'team:' || t.team FROM agent_budget_teams t WHERE t.agent = $1)
    OR (k.scope = 'agent:' || $1 AND k.period <> 'day')
 ORDER BY rank, k.period

-- name: budget_scope_caps_of
-- The caps of scope $1 (any period).
SELECT scope, period, limit_micros FROM agent_budget_caps WHERE scope = $1 ORDER BY period

-- name: budget_scope_used
-- What scope $1 (of agent $2 when an agent's) has spent and holds over the
-- days $3..$4.
SELECT COALESCE(SUM(b.spent_micros), 0) AS spent_micros, COALESCE(SUM(b.held_micros), 0) AS held_micros
  FROM agent_budget b
 WHERE b.day >= $3 AND b.day <= $4
   AND ($1 = 'global'
        OR ($1 = 'agent:' || $2 AND b.agent = $2)
        OR b.agent IN (SELECT t.agent FROM agent_budget_teams t WHERE 'team:' || t.team = $1))

-- name: budget_cap_set
-- $1 scope, $2 period, $3 limit, $4 now
INSERT INTO agent_budget_caps (scope, period, limit_micros, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (scope, period) DO UPDATE SET limit_micros = excluded.limit_micros,
       updated_at = excluded.updated_at

-- name: budget_model_caps
-- The model caps of agent $1 (schema 11 / 10).
SELECT model, limit_micros FROM agent_budget_model_caps WHERE agent = $1 ORDER BY model

-- name: budget_model_cap
SELECT model, limit_micros FROM agent_budget_model_caps WHERE agent = $1 AND model = $2

-- name: budget_model_used
-- What model $3 has spent ($1's settled holds of day $2, and the expired
-- at their amount) and holds (the open ones).
SELECT COALESCE(SUM(CASE WHEN status = 'open' THEN 0 WHEN status = 'settled' THEN settled_micros
                         ELSE amount_micros END), 0) AS spent_micros,
       COALESCE(SUM(CASE WHEN status = 'open' THEN amount_micros ELSE 0 END), 0) AS held_micros
  FROM agent_budget_holds WHERE agent = $1 AND day = $2 AND model = $3

-- name: budget_model_cap_set
-- $1 agent, $2 model, $3 limit, $4 now
INSERT INTO agent_budget_model_caps (agent, model, limit_micros, updated_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (agent, model) DO UPDATE SET limit_micros = excluded.limit_micros,
       updated_at = excluded.updated_at

-- name: budget_model_cap_clear
DELETE FROM agent_budget_model_caps WHERE agent = $1 AND model = $2 RETURNING model

-- name: budget_cap_clear
DELETE FROM agent_budget_caps WHERE scope = $1 AND period = $2 RETURNING scope

-- name: budget_team_of
SELECT team FROM agent_budget_teams WHERE agent = $1

-- name: budget_team_set
-- $1 agent, $2 team, $3 now
INSERT INTO agent_budget_teams (agent, team, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (agent) DO UPDATE SET team = excluded.team, updated_at = excluded.updated_at

-- name: budget_team_clear
DELETE FROM agent_budget_teams WHERE agent = $1 RETURNING team

-- name: budget_team_members
SELECT agent FROM agent_budget_teams WHERE team = $1 ORDER BY agent LIMIT 1000

-- ---------------------------------------------------------------- cost reports (agent-cost)
-- The ledger itemised: every closed hold of the range (settled at its actual
-- cost, or expired at its full amount: what agent_budget.spent_micros adds
-- up), with the model call that settled it when there is one.  Each attempt
-- of agent-invoke holds, settles and records one agent_invocations row with
-- that hold_id (the latest is taken, should there be more, so that no hold
-- counts twice); a hold with no such row (agent-budget hold/settle by hand, a
-- process that died before recording) is unattributed.  The money is the
-- hold's, so the rows add up to the ledger to the micro-dollar.  Weeks and
-- months are rolled up from the days by agent-cost.
-- $1 agent ('' for all), $2 since, $3 until (Unix seconds, until excluded;
-- a hold belongs to the instant it was taken, as its day does).  Served by
-- agent_budget_holds_created and agent_invocations_hold (0009, 0008).

-- name: cost_by_day
SELECT h.day,
       COALESCE(SUM(CASE WHEN i.id IS NULL THEN h.settled_micros ELSE 0 END), 0) AS unattributed_micros,
       COUNT(*) AS holds, COUNT(i.id) AS calls,
       COALESCE(SUM(h.settled_micros), 0) AS cost_micros,
       COALESCE(SUM(i.input_tokens), 0) AS input_tokens,
       COALESCE(SUM(i.output_tokens), 0) AS output_tokens,
       COALESCE(SUM(i.cache_read_tokens), 0) AS cache_read_tokens,
       COALESCE(SUM(i.cache_write_tokens), 0) AS cache_write_tokens
  FROM agent_budget_holds h
  LEFT JOIN agent_invocations i
         ON i.id = (SELECT MAX(j.id) FROM agent_invocations j WHERE j.hold_id = h.id)
 WHERE h.created_at >= $2 AND h.created_at < $3 AND h.status <> 'open'
   AND ($1 = '' OR h.agent = $1)
 GROUP BY h.day
 ORDER BY h.day

-- name: cost_by_model
SELECT i.model, CASE WHEN i.id IS NULL THEN 1 ELSE 0 END AS unattributed,
       COUNT(*) AS holds, COUNT(i.id) AS calls,
       COALESCE(SUM(h.settled_micros), 0) AS cost_micros,
       COALESCE(SUM(i.input_tokens), 0) AS input_tokens,
       COALESCE(SUM(i.output_tokens), 0) AS output_tokens,
       COALESCE(SUM(i.cache_read_tokens), 0) AS cache_read_tokens,
       COALESCE(SUM(i.cache_write_tokens), 0) AS cache_write_tokens
  FROM agent_budget_holds h
  LEFT JOIN agent_invocations i
         ON i.id = (SELECT MAX(j.id) FROM agent_invocations j WHERE j.hold_id = h.id)
 WHERE h.created_at >= $2 AND h.created_at < $3 AND h.status <> 'open'
   AND ($1 = '' OR h.agent = $1)
 GROUP BY i.model, CASE WHEN i.id IS NULL THEN 1 ELSE 0 END

-- name: cost_by_kind
SELECT i.kind, CASE WHEN i.id IS NULL THEN 1 ELSE 0 END AS unattributed,
       COUNT(*) AS holds, COUNT(i.id) AS calls,
       COALESCE(SUM(h.settled_micros), 0) AS cost_micros,
       COALESCE(SUM(i.input_tokens), 0) AS input_tokens,
       COALESCE(SUM(i.output_tokens), 0) AS output_tokens,
       COALESCE(SUM(i.cache_read_tokens), 0) AS cache_read_tokens,
       COALESCE(SUM(i.cache_write_tokens), 0) AS cache_write_tokens
  FROM agent_budget_holds h
  LEFT JOIN agent_invocations i
         ON i.id = (SELECT MAX(j.id) FROM agent_invocations j WHERE j.hold_id = h.id)
 WHERE h.created_at >= $2 AND h.created_at < $3 AND h.status <> 'open'
   AND ($1 = '' OR h.agent = $1)
 GROUP BY i.kind, CASE WHEN i.id IS NULL THEN 1 ELSE 0 END

-- name: cost_by_session
SELECT i.session_id, MAX(s.strategy_name) AS strategy, CASE WHEN i.id IS NULL THEN 1 ELSE 0 END AS unattributed,
       COUNT(*) AS holds, COUNT(i.id) AS calls,
       COALESCE(SUM(h.settled_micros), 0) AS cost_micros,
       COALESCE(SUM(i.input_tokens), 0) AS input_tokens,
       COALESCE(SUM(i.output_tokens), 0) AS output_tokens,
       COALESCE(SUM(i.cache_read_tokens), 0) AS cache_read_tokens,
       COALESCE(SUM(i.cache_write_tokens), 0) AS cache_write_tokens
  FROM agent_budget_holds h
  LEFT JOIN agent_invocations i
         ON i.id = (SELECT MAX(j.id) FROM agent_invocations j WHERE j.hold_id = h.id)
  LEFT JOIN agent_sessions s ON s.id = i.session_id
 WHERE h.created_at >= $2 AND h.created_at < $3 AND h.status <> 'open'
   AND ($1 = '' OR h.agent = $1)
 GROUP BY i.session_id, CASE WHEN i.id IS NULL THEN 1 ELSE 0 END

-- name: cost_held
-- Holds of the range still open (not spent yet, as in the ledger; one past
-- its expiry is spent at its full amount by the next budget read).
SELECT COUNT(*) AS holds, COALESCE(SUM(amount_micros), 0) AS held_micros
  FROM agent_budget_holds
 WHERE created_at >= $2 AND created_at < $3 AND status = 'open' AND ($1 = '' OR agent = $1)

-- name: cost_ledger
-- The ledger's own figure for whole days: $1 agent ('' for all), $2 first
-- day, $3 the day after the last ("YYYY-MM-DD")
SELECT COUNT(*) AS days, COALESCE(SUM(spent_micros), 0) AS spent_micros
  FROM agent_budget WHERE ($1 = '' OR agent = $1) AND day >= $2 AND day < $3

-- ---------------------------------------------------------------- sessions

-- name: session_get
SELECT id, agent, phase, outcome, strategy_name, strategy_config, strategy_path,
       training_operation_id, training_results, backtest_operation_id, backtest_results,
       assessment, training_gate, backtest_gate, progress, failure_reason, retry_count,
       invoke_attempts, conn_failures, designing_at, training_at, backtesting_at,
       assessing_at, created_at, updated_at, completed_at, assess_batch_id, assess_batch_hold,
       trace_id, trace_started_us
  FROM agent_sessions WHERE id = $1

-- name: session_active
SELECT id, agent, phase, outcome, strategy_name, strategy_config, strategy_path,
       training_operation_id, training_results, backtest_operation_id, backtest_results,
       assessment, training_gate, backtest_gate, progress, failure_reason, retry_count,
       invoke_attempts, conn_failures, designing_at, training_at, backtesting_at,
       assessing_at, created_at, updated_at, completed_at, assess_batch_id, assess_batch_hold,
       trace_id, trace_started_us
  FROM agent_sessions WHERE agent = $1 AND phase <> 'idle' ORDER BY id DESC LIMIT 1

-- name: session_create
-- $3: the research cycle's trace id (32 hex digits), the creating tick's;
-- $4: when that tick began, in microseconds
INSERT INTO agent_sessions (agent, phase, designing_at, created_at, updated_at, trace_id,
                            trace_started_us)
VALUES ($1, 'designing', $2, $2, $2, $3, $4)
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
       retry_count = CASE WHEN $3 <> $2 AND $3 <> 'idle' THEN 0 ELSE retry_count END,
       invoke_attempts = CASE WHEN $3 <> $2 AND $3 <> 'idle' THEN 0 ELSE invoke_attempts END,
       conn_failures = CASE WHEN $3 <> $2 AND $3 <> 'idle' THEN 0 ELSE conn_failures END,
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

-- ---------------------------------------------------------------- invocations

-- name: invocation_insert
-- One row per model call (each attempt); settled in the same transaction.
INSERT INTO agent_invocations (agent, session_id, tick_id, kind, model, request_id, stop_reason,
       input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_micros,
       hold_id, attempts, duration_ms, status, error, created_at, requested_model, fallback_reason)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
RETURNING id

-- name: action_insert
INSERT INTO agent_actions (agent, session_id, invocation_id, tick_id, tool_use_id, tool_name,
       arguments, result, success, error, duration_ms, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)

-- name: session_invoke_started
UPDATE agent_sessions SET invoke_attempts = invoke_attempts + 1, updated_at = $2 WHERE id = $1

-- name: session_set_strategy
UPDATE agent_sessions
   SET strategy_name = $2, strategy_config = $3, strategy_path = $4, updated_at = $5
 WHERE id = $1 AND phase = 'designing'

-- name: session_backend_busy
-- A start the backend could not take (HTTP 409, 503): the phase stays, the
-- attempt is counted and explained; the next invocation is a retry.
-- $1 id, $2 phase, $3 progress, $4 now
UPDATE agent_sessions
   SET conn_failures = conn_failures + 1, invoke_attempts = 0, progress = $3, updated_at = $4
 WHERE id = $1 AND phase = $2

-- name: session_batch_set
-- The assessment's Message Batch and its hold ($2, $3; NULL, NULL clears).
-- $1 id, $4 now
UPDATE agent_sessions SET assess_batch_id = $2, assess_batch_hold = $3, invoke_attempts = 0,
       updated_at = $4
 WHERE id = $1 AND phase = 'assessing'

-- name: session_set_backtest_op
UPDATE agent_sessions SET backtest_operation_id = $2, updated_at = $3
 WHERE id = $1 AND phase = 'backtesting' AND backtest_operation_id IS NULL

-- name: recent_strategies
SELECT id, strategy_name, outcome, phase, backtest_results, created_at
  FROM agent_sessions
 WHERE agent = $1 AND strategy_name IS NOT NULL
 ORDER BY id DESC LIMIT $2

-- ---------------------------------------------------------------- trigger (agent-trigger)

-- name: trigger_insert
-- One row per tick, in the transaction of the tick's session change.
-- $1 agent, $2 tick id, $3 at, $4 event, $5 action, $6 reason, $7 session id,
-- $8 skip reason, $9 budget spent, $10 budget remaining (micro-dollars),
-- $11 detail (one line: the backend's error, what a skip lacked; or NULL)
INSERT INTO agent_triggers (agent, tick_id, at, event, action, reason, session_id, invoked,
       skip_reason, budget_spent_micros, budget_remaining_micros, detail)
VALUES ($1, $2, $3, $4, $5, $6, $7, false, $8, $9, $10, $11)

-- name: trigger_insert_failed
-- A tick that failed before agent-trigger recorded it (agent-cycle's
-- release): the row says so.  $1 agent, $2 tick id, $3 at, $4 exit status,
-- $5 failed stage, $6 detail (the stage's error line)
INSERT INTO agent_triggers (agent, tick_id, at, event, action, reason, invoked, skip_reason,
       duration_ms, exit_status, failed_stage, detail)
VALUES ($1, $2, $3, 'failed', 'skip', 'tick_failed', false, 'tick_failed', 0, $4, $5, $6)
ON CONFLICT (tick_id) DO NOTHING

-- name: trigger_backend
-- What the tick saw of the research backend: up ($2 true) clears the
-- outage, down keeps its start and counts the tick.  $1 agent, $3 now,
-- $4 the error (down) or NULL.  An up backend that was up changes nothing
-- (the idle tick writes no more than it did): backend_checked_at is the
-- first look, the last down one, or the recovery.
UPDATE agent_state
   SET backend_down_since = CASE WHEN $2 THEN NULL ELSE COALESCE(backend_down_since, $3) END,
       backend_down_ticks = CASE WHEN $2 THEN 0 ELSE backend_down_ticks + 1 END,
       backend_error = CASE WHEN $2 THEN NULL ELSE $4 END,
       backend_checked_at = $3
 WHERE agent = $1
   AND (NOT $2 OR backend_down_since IS NOT NULL OR backend_checked_at IS NULL)

-- name: trigger_get
SELECT agent, tick_id, at, event, action, reason, session_id, invoked, skip_reason,
       budget_spent_micros, budget_remaining_micros, duration_ms, exit_status, failed_stage,
       detail
  FROM agent_triggers WHERE tick_id = $1

-- name: trigger_session_progress
-- A poll that reached the backend: its progress, and the failure count reset.
-- $1 id, $2 phase the tick saw, $3 progress, $4 now
UPDATE agent_sessions SET progress = $3, conn_failures = 0, updated_at = $4
 WHERE id = $1 AND phase = $2

-- name: trigger_session_unreachable
-- $1 id, $2 phase the tick saw, $3 now
UPDATE agent_sessions SET conn_failures = conn_failures + 1, updated_at = $3
 WHERE id = $1 AND phase = $2

-- name: trigger_session_resumed
-- A failed operation resumed from its checkpoint (the backend may name a new
-- operation).  $1 id, $2 phase, $3 training op id or NULL, $4 backtest op id
-- or NULL, $5 now
UPDATE agent_sessions
   SET retry_count = retry_count + 1, conn_failures = 0,
       training_operation_id = COALESCE($3, training_operation_id),
       backtest_operation_id = COALESCE($4, backtest_operation_id), updated_at = $5
 WHERE id = $1 AND phase = $2

-- name: trigger_finish
-- The tick is over: how long it took and how it ended.
-- $1 tick id, $2 duration ms, $3 exit status, $4 failed stage (NULL: none),
-- $5 the failed stage's error line (NULL keeps the row's detail)
UPDATE agent_triggers SET duration_ms = $2, exit_status = $3, failed_stage = $4,
       detail = COALESCE($5, detail)
 WHERE tick_id = $1

-- ---------------------------------------------------------------- metrics (agent-metrics-agg)

-- name: metrics_session_usage
-- What the session's model calls cost.
SELECT COUNT(*) AS invocations, COALESCE(SUM(input_tokens), 0) AS input_tokens,
       COALESCE(SUM(output_tokens), 0) AS output_tokens,
       COALESCE(SUM(cache_write_tokens), 0) AS cache_write_tokens,
       COALESCE(SUM(cache_read_tokens), 0) AS cache_read_tokens,
       COALESCE(SUM(cost_micros), 0) AS cost_micros
  FROM agent_invocations WHERE session_id = $1

-- name: metrics_unrecorded
-- Ended sessions among the agent's latest ten without an agent_metrics row
-- (ended outside a tick, e.g. by agent-control cancel, or by a tick that died
-- before its last stage).  Bounded: independent of history size.
SELECT s.id FROM (SELECT id, phase, outcome FROM agent_sessions
                   WHERE agent = $1 ORDER BY id DESC LIMIT 10) s
 WHERE s.phase = 'idle' AND s.outcome IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM agent_metrics m WHERE m.session_id = s.id)
 ORDER BY s.id

-- name: metrics_insert
-- One row per ended session; a second aggregation of the same session
-- changes nothing.
INSERT INTO agent_metrics (session_id, agent, outcome, failed_gate, strategy_name,
       cycle_started_at, cycle_completed_at, cycle_seconds, designing_seconds,
       training_seconds, backtesting_seconds, assessing_seconds, training_accuracy,
       training_loss, training_epochs, backtest_sharpe, backtest_win_rate,
       backtest_max_drawdown, backtest_trades, backtest_profit_factor, invocations,
       input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_micros)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
        $19, $20, $21, $22, $23, $24, $25, $26)
ON CONFLICT (session_id) DO NOTHING

-- ---------------------------------------------------------------- control (agent-control)

-- name: control_state
SELECT agent, paused, pause_reason, paused_at, paused_by, lease_holder, lease_expires_at,
       last_tick_at, updated_at
  FROM agent_state WHERE agent = $1

-- name: control_set_paused
-- $1 agent, $2 paused, $3 reason (NULL when resuming), $4 paused at (NULL
-- when resuming), $5 now, $6 by whom ('operator'; NULL when resuming).  A
-- resume also clears the circuit breaker: the sessions ended so far no
-- longer count (breaker_floor).
INSERT INTO agent_state (agent, paused, pause_reason, paused_at, paused_by, breaker_floor,
       updated_at)
VALUES ($1, $2, $3, $4, $6,
        (SELECT COALESCE(MAX(id), 0) FROM agent_sessions WHERE agent = $1), $5)
ON CONFLICT (agent) DO UPDATE
   SET paused = excluded.paused, pause_reason = excluded.pause_reason,
       paused_at = excluded.paused_at, paused_by = excluded.paused_by,
       breaker_floor = CASE WHEN excluded.paused THEN agent_state.breaker_floor
                            ELSE excluded.breaker_floor END,
       updated_at = excluded.updated_at

-- name: breaker_state
SELECT paused, paused_by, breaker_floor FROM agent_state WHERE agent = $1

-- name: breaker_recent
-- The agent's latest ended sessions the breaker counts (after the last
-- resume).  $1 agent, $2 floor, $3 how many
SELECT id, outcome, failure_reason FROM agent_sessions
 WHERE agent = $1 AND phase = 'idle' AND id > $2
 ORDER BY id DESC LIMIT $3

-- name: breaker_trip
-- $1 agent, $2 reason, $3 now
UPDATE agent_state
   SET paused = true, paused_by = 'breaker', pause_reason = $2, paused_at = $3, updated_at = $3
 WHERE agent = $1 AND NOT paused

-- ---------------------------------------------------------------- notices (agent-metrics-agg)

-- name: notice_insert
-- A condition is noticed once: a second insert of its key changes nothing
-- and returns no row.  $1 agent, $2 key, $3 kind, $4 body, $5 now
INSERT INTO agent_notices (agent, key, kind, body, created_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (agent, key) DO NOTHING
RETURNING id

-- name: notice_last
-- $1 agent, $2 kind
SELECT id, key, body, created_at, delivered_at, delivery FROM agent_notices
 WHERE agent = $1 AND kind = $2 ORDER BY id DESC LIMIT 1

-- name: notice_has
-- $1 agent, $2 key
SELECT id FROM agent_notices WHERE agent = $1 AND key = $2

-- name: notice_delivered
-- $1 id, $2 now, $3 how it went (one line)
UPDATE agent_notices SET delivered_at = $2, delivery = $3 WHERE id = $1

-- name: notice_list
-- $1 agent, $2 how many, newest first
SELECT id, key, kind, body, created_at, delivered_at, delivery FROM agent_notices
 WHERE agent = $1 ORDER BY id DESC LIMIT $2

-- ---------------------------------------------------------------- metrics rendering (agent-metrics-agg)
-- Every statement here reads the rollups (0003-metric-rollups.sql) or an
-- indexed handful of rows: rendering costs the same with any history.

-- name: metrics_bounds
SELECT name, idx, le FROM metric_bounds ORDER BY name, idx

-- name: metrics_rollups
-- $1 agent, '' for all
SELECT agent, name, labels, idx, n, total FROM metric_rollups
 WHERE $1 = '' OR agent = $1
 ORDER BY name, agent, labels, idx

-- name: metrics_agents
SELECT agent FROM agent_state
UNION SELECT agent FROM metric_rollups
UNION SELECT agent FROM agent_sessions WHERE phase <> 'idle'
ORDER BY 1

-- name: metrics_state
-- $1 agent, '' for all
SELECT agent, paused, paused_by, last_tick_at, backend_down_since, backend_checked_at
  FROM agent_state WHERE $1 = '' OR agent = $1

-- name: metrics_last_trigger
SELECT at FROM agent_triggers WHERE agent = $1 ORDER BY id DESC LIMIT 1

-- name: metrics_active
-- Sessions in progress (the partial index agent_sessions_active); $1 agent,
-- '' for all
SELECT agent, phase, COUNT(*) AS n FROM agent_sessions
 WHERE phase <> 'idle' AND ($1 = '' OR agent = $1)
 GROUP BY agent, phase

-- name: metrics_count
-- Adds $4 to counter $2{$3} of agent $1 (a delivery failure).
INSERT INTO metric_observe (agent, name, a, v) VALUES ($1, $2, $3, $4)

-- ---------------------------------------------------------------- views (agent-status, agent-history, agent-session, agent-logs, agent-monitor)
-- Read-only, each bounded by LIMIT and served by an index, so a view costs
-- the same with ten sessions or a million.

-- name: views_state
SELECT agent, paused, pause_reason, paused_at, paused_by, lease_holder, lease_expires_at,
       last_tick_at, backend_down_since, backend_down_ticks, backend_error, backend_checked_at
  FROM agent_state WHERE agent = $1

-- name: views_last_trigger
-- The agent's latest tick but for a busy one (it saw another tick running).
SELECT tick_id, at, event, action, reason, session_id, skip_reason, budget_spent_micros,
       budget_remaining_micros, duration_ms, exit_status, failed_stage, detail
  FROM agent_triggers WHERE agent = $1 AND event <> 'busy' ORDER BY id DESC LIMIT 1

-- name: views_current
-- The agent's active session (agent_sessions_active), without its results.
SELECT id, phase, strategy_name, training_operation_id, backtest_operation_id, progress,
       retry_count, conn_failures, invoke_attempts, designing_at, training_at, backtesting_at, assessing_at,
       created_at, updated_at
  FROM agent_sessions WHERE agent = $1 AND phase <> 'idle' ORDER BY id DESC LIMIT 1

-- name: views_active_count
SELECT COUNT(*) AS n FROM agent_sessions WHERE agent = $1 AND phase <> 'idle'

-- name: views_recent
-- The agent's latest ended sessions.  $1 agent, $2 how many
SELECT s.id, s.outcome, s.strategy_name, s.failure_reason, s.training_gate, s.backtest_gate,
       s.created_at, s.completed_at, m.backtest_sharpe
  FROM agent_sessions s LEFT JOIN agent_metrics m ON m.session_id = s.id
 WHERE s.agent = $1 AND s.phase = 'idle'
 ORDER BY s.id DESC LIMIT $2

-- name: views_history
-- $1 agent, $2 how many, newest first; usage from the invocations (the
-- metrics row exists only once a tick has seen the session end).
SELECT s.id, s.phase, s.outcome, s.strategy_name, s.failure_reason, s.training_gate,
       s.backtest_gate, s.assessment, s.created_at, s.completed_at,
       m.training_accuracy, m.training_loss, m.training_epochs, m.backtest_sharpe,
       m.backtest_win_rate, m.backtest_max_drawdown, m.backtest_trades, m.backtest_profit_factor,
       (SELECT COUNT(*) FROM agent_invocations i WHERE i.session_id = s.id) AS invocations,
       (SELECT COALESCE(SUM(i.input_tokens), 0) FROM agent_invocations i WHERE i.session_id = s.id) AS input_tokens,
       (SELECT COALESCE(SUM(i.output_tokens), 0) FROM agent_invocations i WHERE i.session_id = s.id) AS output_tokens,
       (SELECT COALESCE(SUM(i.cost_micros), 0) FROM agent_invocations i WHERE i.session_id = s.id) AS cost_micros
  FROM agent_sessions s LEFT JOIN agent_metrics m ON m.session_id = s.id
 WHERE s.agent = $1
 ORDER BY s.id DESC LIMIT $2

-- name: views_history_outcome
-- views_history for one outcome ($3), on agent_sessions_outcome.
SELECT s.id, s.phase, s.outcome, s.strategy_name, s.failure_reason, s.training_gate,
       s.backtest_gate, s.assessment, s.created_at, s.completed_at,
       m.training_accuracy, m.training_loss, m.training_epochs, m.backtest_sharpe,
       m.backtest_win_rate, m.backtest_max_drawdown, m.backtest_trades, m.backtest_profit_factor,
       (SELECT COUNT(*) FROM agent_invocations i WHERE i.session_id = s.id) AS invocations,
       (SELECT COALESCE(SUM(i.input_tokens), 0) FROM agent_invocations i WHERE i.session_id = s.id) AS input_tokens,
       (SELECT COALESCE(SUM(i.output_tokens), 0) FROM agent_invocations i WHERE i.session_id = s.id) AS output_tokens,
       (SELECT COALESCE(SUM(i.cost_micros), 0) FROM agent_invocations i WHERE i.session_id = s.id) AS cost_micros
  FROM agent_sessions s LEFT JOIN agent_metrics m ON m.session_id = s.id
 WHERE s.agent = $1 AND s.outcome = $3
 ORDER BY s.id DESC LIMIT $2

-- name: views_session_usage
SELECT COUNT(*) AS invocations, COALESCE(SUM(input_tokens), 0) AS input_tokens,
       COALESCE(SUM(output_tokens), 0) AS output_tokens,
       COALESCE(SUM(cache_write_tokens), 0) AS cache_write_tokens,
       COALESCE(SUM(cache_read_tokens), 0) AS cache_read_tokens,
       COALESCE(SUM(cost_micros), 0) AS cost_micros
  FROM agent_invocations WHERE session_id = $1

-- name: views_session_metrics
SELECT training_epochs, backtest_trades, backtest_profit_factor FROM agent_metrics WHERE session_id = $1

-- name: views_session_invocations
-- $1 session, $2 at most
SELECT id, agent, session_id, tick_id, kind, model, stop_reason, status, error, input_tokens,
       output_tokens, cache_write_tokens, cache_read_tokens, cost_micros, attempts, duration_ms,
       created_at
  FROM agent_invocations WHERE session_id = $1 ORDER BY id LIMIT $2

-- name: views_session_actions
SELECT id, agent, session_id, invocation_id, tick_id, tool_name, success, error, duration_ms,
       created_at
  FROM agent_actions WHERE session_id = $1 ORDER BY id LIMIT $2

-- name: views_log_ticks_after
-- agent-logs: rows past a watermark, oldest first.  $1 agent, $2 after id, $3 at most
SELECT id, agent, tick_id, at, event, action, reason, session_id, invoked, skip_reason,
       budget_spent_micros, budget_remaining_micros, duration_ms, exit_status, failed_stage
  FROM agent_triggers WHERE agent = $1 AND id > $2 ORDER BY id LIMIT $3

-- name: views_log_ticks_last
-- The newest rows.  $1 agent, $2 how many
SELECT id, agent, tick_id, at, event, action, reason, session_id, invoked, skip_reason,
       budget_spent_micros, budget_remaining_micros, duration_ms, exit_status, failed_stage
  FROM agent_triggers WHERE agent = $1 ORDER BY id DESC LIMIT $2

-- name: views_log_ticks_session_after
-- $1 session, $2 after id, $3 at most
SELECT id, agent, tick_id, at, event, action, reason, session_id, invoked, skip_reason,
       budget_spent_micros, budget_remaining_micros, duration_ms, exit_status, failed_stage
  FROM agent_triggers WHERE session_id = $1 AND id > $2 ORDER BY id LIMIT $3

-- name: views_log_ticks_session_last
SELECT id, agent, tick_id, at, event, action, reason, session_id, invoked, skip_reason,
       budget_spent_micros, budget_remaining_micros, duration_ms, exit_status, failed_stage
  FROM agent_triggers WHERE session_id = $1 ORDER BY id DESC LIMIT $2

-- name: views_log_invocations_after
SELECT id, agent, session_id, tick_id, kind, model, stop_reason, status, error, input_tokens,
       output_tokens, cache_write_tokens, cache_read_tokens, cost_micros, attempts, duration_ms,
       created_at
  FROM agent_invocations WHERE agent = $1 AND id > $2 ORDER BY id LIMIT $3

-- name: views_log_invocations_last
SELECT id, agent, session_id, tick_id, kind, model, stop_reason, status, error, input_tokens,
       output_tokens, cache_write_tokens, cache_read_tokens, cost_micros, attempts, duration_ms,
       created_at
  FROM agent_invocations WHERE agent = $1 ORDER BY id DESC LIMIT $2

-- name: views_log_invocations_session_after
SELECT id, agent, session_id, tick_id, kind, model, stop_reason, status, error, input_tokens,
       output_tokens, cache_write_tokens, cache_read_tokens, cost_micros, attempts, duration_ms,
       created_at
  FROM agent_invocations WHERE session_id = $1 AND id > $2 ORDER BY id LIMIT $3

-- name: views_log_invocations_session_last
SELECT id, agent, session_id, tick_id, kind, model, stop_reason, status, error, input_tokens,
       output_tokens, cache_write_tokens, cache_read_tokens, cost_micros, attempts, duration_ms,
       created_at
  FROM agent_invocations WHERE session_id = $1 ORDER BY id DESC LIMIT $2

-- name: views_log_actions_after
SELECT id, agent, session_id, invocation_id, tick_id, tool_name, success, error, duration_ms,
       created_at
  FROM agent_actions WHERE agent = $1 AND id > $2 ORDER BY id LIMIT $3

-- name: views_log_actions_last
SELECT id, agent, session_id, invocation_id, tick_id, tool_name, success, error, duration_ms,
       created_at
  FROM agent_actions WHERE agent = $1 ORDER BY id DESC LIMIT $2

-- name: views_log_actions_session_after
SELECT id, agent, session_id, invocation_id, tick_id, tool_name, success, error, duration_ms,
       created_at
  FROM agent_actions WHERE session_id = $1 AND id > $2 ORDER BY id LIMIT $3

-- name: views_log_actions_session_last
SELECT id, agent, session_id, invocation_id, tick_id, tool_name, success, error, duration_ms,
       created_at
  FROM agent_actions WHERE session_id = $1 ORDER BY id DESC LIMIT $2

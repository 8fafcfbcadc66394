-- SQLite forms of statements whose syntax differs from queries.sql.

-- name: begin
BEGIN IMMEDIATE

-- name: commit
COMMIT

-- name: rollback
ROLLBACK

-- name: schema_lock
SELECT 1

-- name: schema_no_timeout
SELECT 1

-- name: schema_exists
SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'

-- name: schema_create
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
)

-- name: schema_record
INSERT INTO schema_migrations (version, name, applied_at)
VALUES ($1, $2, CAST(strftime('%s', 'now') AS INTEGER))

-- ---------------------------------------------------------------- metric rollups (schema 5)

-- name: metrics_pending
SELECT id FROM metric_pending LIMIT 1

-- name: metrics_fold
-- The pending rows (0005-metric-pending.sql) into the rollups: one
-- observation per row and metric, as schema 3's triggers made them, then
-- summed per bucket.  Label values are escaped for the text format.
WITH
ended AS (SELECT agent, json_extract(v, '$.outcome') AS outcome, json_extract(v, '$.created_at') AS created_at,
                 json_extract(v, '$.designing_at') AS designing_at, json_extract(v, '$.training_at') AS training_at,
                 json_extract(v, '$.backtesting_at') AS backtesting_at,
                 json_extract(v, '$.assessing_at') AS assessing_at, json_extract(v, '$.ended_at') AS ended_at
            FROM metric_pending WHERE kind = 'session_ended'),
gates AS (SELECT agent, CASE kind WHEN 'training_gate' THEN 'training' ELSE 'backtest' END AS g,
                 COALESCE(CASE WHEN json_valid(v) THEN json_extract(v, '$.passed') END = 1, 0) AS passed,
                 CASE WHEN json_valid(v) THEN CAST(json_extract(v, '$.reason') AS TEXT) END AS reason
            FROM metric_pending WHERE kind IN ('training_gate', 'backtest_gate')),
ticks AS (SELECT agent, json_extract(v, '$.event') AS event, json_extract(v, '$.invoked') AS invoked,
                 json_extract(v, '$.duration_ms') AS duration_ms, json_extract(v, '$.exit_status') AS exit_status,
                 json_extract(v, '$.failed_stage') AS failed_stage
            FROM metric_pending WHERE kind = 'tick'),
inv AS (SELECT i.*, 'gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="'
                    || COALESCE(replace(replace(replace(i.model, '\', '\\'), '"', '\"'), char(10), '\n'), '') || '"' AS gl,
               'phase="' || COALESCE(replace(replace(replace(i.kind, '\', '\\'), '"', '\"'), char(10), '\n'), '') || '"' AS kl
          FROM metric_pending p JOIN agent_invocations i ON i.id = p.ref WHERE p.kind = 'invocation'),
act AS (SELECT a.agent, a.success, a.duration_ms,
               CASE WHEN NOT a.success AND a.error LIKE 'unknown tool %' THEN '_unknown' ELSE a.tool_name END AS t
          FROM metric_pending p JOIN agent_actions a ON a.id = p.ref WHERE p.kind = 'action'),
obs (agent, name, labels, v) AS (
    SELECT agent, 'cycles_started_total', '', 1 FROM metric_pending WHERE kind = 'session_created'
    UNION ALL
    SELECT agent, 'cycles_total',
           'detail="' || COALESCE(replace(replace(replace(outcome, '\', '\\'), '"', '\"'), char(10), '\n'), '')
           || '",outcome="' || CASE outcome WHEN 'success' THEN 'completed' WHEN 'cancelled' THEN 'cancelled'
                                           ELSE 'failed' END || '"', 1
      FROM ended
    UNION ALL
    SELECT agent, 'cycle_duration_seconds', '', max(ended_at - created_at, 0) FROM ended
    UNION ALL
    SELECT agent, 'phase_duration_seconds', 'phase="' || ph || '"', max(t1 - t0, 0) FROM (
        SELECT agent, 'designing' AS ph, designing_at AS t0,
               COALESCE(training_at, backtesting_at, assessing_at, ended_at) AS t1 FROM ended
        UNION ALL
        SELECT agent, 'training', training_at, COALESCE(backtesting_at, assessing_at, ended_at) FROM ended
        UNION ALL
        SELECT agent, 'backtesting', backtesting_at, COALESCE(assessing_at, ended_at) FROM ended
        UNION ALL
        SELECT agent, 'assessing', assessing_at, ended_at FROM ended)
     WHERE t0 IS NOT NULL
    UNION ALL
    SELECT agent, 'gate_results_total',
           'gate="' || g || '",result="' || CASE WHEN passed THEN 'pass' ELSE 'fail' END || '"', 1 FROM gates
    UNION ALL
    SELECT agent, 'gate_failures_total', 'gate="' || g || '",reason="'
           || replace(replace(replace(COALESCE(reason, 'unknown'), '\', '\\'), '"', '\"'), char(10), '\n') || '"', 1
      FROM gates WHERE NOT passed
    UNION ALL
    SELECT agent, 'triggers_total', 'event="' || COALESCE(replace(replace(replace(event, '\', '\\'), '"', '\"'), char(10), '\n'), '')
           || '",invoked="' || CASE WHEN invoked THEN 'true' ELSE 'false' END || '"', 1 FROM ticks
    UNION ALL
    SELECT agent, 'tick_duration_seconds', '', max(COALESCE(duration_ms, 0), 0) FROM ticks
    UNION ALL
    SELECT agent, 'tick_failures_total', 'stage="'
           || replace(replace(replace(COALESCE(failed_stage, 'unknown'), '\', '\\'), '"', '\"'), char(10), '\n') || '"', 1
      FROM ticks WHERE failed_stage IS NOT NULL OR exit_status <> 0
    UNION ALL
    SELECT agent, 'errors_total', 'type="stage"', 1 FROM ticks WHERE failed_stage IS NOT NULL OR exit_status <> 0
    UNION ALL
    SELECT agent, 'invocations_total', 'kind="' || COALESCE(replace(replace(replace(kind, '\', '\\'), '"', '\"'), char(10), '\n'), '')
           || '",status="' || COALESCE(replace(replace(replace(status, '\', '\\'), '"', '\"'), char(10), '\n'), '') || '"', 1 FROM inv
    UNION ALL
    SELECT agent, 'model_fallbacks_total',
           'from="' || COALESCE(replace(replace(replace(requested_model, '\', '\\'), '"', '\"'), char(10), '\n'), '')
           || '",to="' || COALESCE(replace(replace(replace(model, '\', '\\'), '"', '\"'), char(10), '\n'), '')
           || '",reason="' || COALESCE(replace(replace(replace(fallback_reason, '\', '\\'), '"', '\"'), char(10), '\n'), '')
           || '"', 1 FROM inv WHERE fallback_reason IS NOT NULL
    UNION ALL
    SELECT agent, 'invocation_duration_seconds',
           'kind="' || COALESCE(replace(replace(replace(kind, '\', '\\'), '"', '\"'), char(10), '\n'), '') || '"', max(duration_ms, 0) FROM inv
    UNION ALL
    SELECT agent, 'gen_ai_client_operation_duration_seconds',
           CASE WHEN status = 'ok' THEN '' ELSE 'error_type="' || COALESCE(replace(replace(replace(status, '\', '\\'), '"', '\"'), char(10), '\n'), '') || '",' END
           || COALESCE(gl, ''), max(duration_ms, 0) FROM inv
    UNION ALL
    SELECT agent, 'tokens_total', kl || ',type="input"', input_tokens FROM inv
    UNION ALL
    SELECT agent, 'tokens_total', kl || ',type="output"', output_tokens FROM inv
    UNION ALL
    SELECT agent, 'tokens_total', kl || ',type="cache_write"', cache_write_tokens FROM inv
    UNION ALL
    SELECT agent, 'tokens_total', kl || ',type="cache_read"', cache_read_tokens FROM inv
    UNION ALL
    SELECT agent, 'cost_usd_total', '', cost_micros FROM inv
    UNION ALL
    SELECT agent, 'gen_ai_client_token_usage', COALESCE(gl, '') || ',gen_ai_token_type="input"',
           input_tokens + cache_write_tokens + cache_read_tokens FROM inv WHERE status = 'ok'
    UNION ALL
    SELECT agent, 'gen_ai_client_token_usage', COALESCE(gl, '') || ',gen_ai_token_type="output"', output_tokens
      FROM inv WHERE status = 'ok'
    UNION ALL
    SELECT agent, 'errors_total',
           CASE status WHEN 'error' THEN 'type="model_call"' ELSE 'type="model_charge_unknown"' END, 1
      FROM inv WHERE status IN ('error', 'unknown_charge')
    UNION ALL
    SELECT agent, 'tool_calls_total', 'status="' || CASE WHEN success THEN 'ok' ELSE 'error' END || '",tool="'
           || COALESCE(replace(replace(replace(t, '\', '\\'), '"', '\"'), char(10), '\n'), '') || '"', 1 FROM act
    UNION ALL
    SELECT agent, 'tool_duration_seconds', 'tool="' || COALESCE(replace(replace(replace(t, '\', '\\'), '"', '\"'), char(10), '\n'), '') || '"',
           max(duration_ms, 0) FROM act
    UNION ALL
    SELECT agent, 'errors_total', 'type="tool_call"', 1 FROM act WHERE NOT success)
INSERT INTO metric_rollups (agent, name, labels, idx, n, total)
SELECT agent, name, labels, idx, COUNT(*), SUM(v) FROM (
    SELECT COALESCE(o.agent, 'default') AS agent, o.name, o.labels, COALESCE(o.v, 0) AS v,
           COALESCE((SELECT MIN(b.idx) FROM metric_bounds b
                      WHERE b.name = o.name AND b.le >= COALESCE(o.v, 0)), 0) AS idx
      FROM obs o)
 GROUP BY agent, name, labels, idx
ON CONFLICT (agent, name, labels, idx) DO UPDATE SET n = n + excluded.n, total = total + excluded.total

-- name: metrics_fold_clear
DELETE FROM metric_pending

-- name: metrics_count
-- Adds $4 to counter $2{$3} of agent $1 (a delivery failure).
INSERT INTO metric_rollups (agent, name, labels, idx, n, total) VALUES ($1, $2, $3, 0, 1, $4)
ON CONFLICT (agent, name, labels, idx) DO UPDATE SET n = n + 1, total = total + excluded.total

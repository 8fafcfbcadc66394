-- Schema 3: rollups of the Prometheus metrics (agent-metrics-agg).
--
-- Rendering reads these small tables, never the history, so it takes the
-- same time with ten sessions as with a million.  Triggers keep them current
-- inside the writer's own transaction: a row and its counts commit or roll
-- back together, so nothing is counted twice and nothing is lost, whoever
-- writes.  The same logical schema as sqlite/0003-metric-rollups.sql (read
-- the comments there); here the triggers call plpgsql functions.

-- The backfill at the end reads the whole history: no statement timeout
-- for this migration (the store's connections have one of 60 s).
SET LOCAL statement_timeout = 0;

CREATE TABLE metric_bounds (
    name                    TEXT    NOT NULL,
    idx                     INTEGER NOT NULL,
    le                      BIGINT  NOT NULL,  -- 9223372036854775807 is +Inf
    PRIMARY KEY (name, idx)
);

CREATE TABLE metric_rollups (
    agent                   TEXT    NOT NULL,
    name                    TEXT    NOT NULL,
    labels                  TEXT    NOT NULL DEFAULT '',
    idx                     INTEGER NOT NULL DEFAULT 0,
    n                       BIGINT  NOT NULL DEFAULT 0,
    total                   BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, name, labels, idx)
);

INSERT INTO metric_bounds (name, idx, le) VALUES
    ('cycle_duration_seconds', 0, 60), ('cycle_duration_seconds', 1, 300),
    ('cycle_duration_seconds', 2, 600), ('cycle_duration_seconds', 3, 900),
    ('cycle_duration_seconds', 4, 1200), ('cycle_duration_seconds', 5, 1800),
    ('cycle_duration_seconds', 6, 3600), ('cycle_duration_seconds', 7, 7200),
    ('cycle_duration_seconds', 8, 9223372036854775807),
    ('phase_duration_seconds', 0, 10), ('phase_duration_seconds', 1, 30),
    ('phase_duration_seconds', 2, 60), ('phase_duration_seconds', 3, 120),
    ('phase_duration_seconds', 4, 300), ('phase_duration_seconds', 5, 600),
    ('phase_duration_seconds', 6, 1800), ('phase_duration_seconds', 7, 9223372036854775807),
    ('tool_duration_seconds', 0, 10), ('tool_duration_seconds', 1, 25),
    ('tool_duration_seconds', 2, 50), ('tool_duration_seconds', 3, 100),
    ('tool_duration_seconds', 4, 250), ('tool_duration_seconds', 5, 500),
    ('tool_duration_seconds', 6, 1000), ('tool_duration_seconds', 7, 2500),
    ('tool_duration_seconds', 8, 5000), ('tool_duration_seconds', 9, 10000),
    ('tool_duration_seconds', 10, 9223372036854775807),
    ('invocation_duration_seconds', 0, 500), ('invocation_duration_seconds', 1, 1000),
    ('invocation_duration_seconds', 2, 2000), ('invocation_duration_seconds', 3, 5000),
    ('invocation_duration_seconds', 4, 10000), ('invocation_duration_seconds', 5, 20000),
    ('invocation_duration_seconds', 6, 30000), ('invocation_duration_seconds', 7, 60000),
    ('invocation_duration_seconds', 8, 120000), ('invocation_duration_seconds', 9, 300000),
    ('invocation_duration_seconds', 10, 9223372036854775807),
    ('tick_duration_seconds', 0, 10), ('tick_duration_seconds', 1, 50),
    ('tick_duration_seconds', 2, 100), ('tick_duration_seconds', 3, 250),
    ('tick_duration_seconds', 4, 500), ('tick_duration_seconds', 5, 1000),
    ('tick_duration_seconds', 6, 5000), ('tick_duration_seconds', 7, 30000),
    ('tick_duration_seconds', 8, 120000), ('tick_duration_seconds', 9, 600000),
    ('tick_duration_seconds', 10, 9223372036854775807),
    ('gen_ai_client_operation_duration_seconds', 0, 10),
    ('gen_ai_client_operation_duration_seconds', 1, 20),
    ('gen_ai_client_operation_duration_seconds', 2, 40),
    ('gen_ai_client_operation_duration_seconds', 3, 80),
    ('gen_ai_client_operation_duration_seconds', 4, 160),
    ('gen_ai_client_operation_duration_seconds', 5, 320),
    ('gen_ai_client_operation_duration_seconds', 6, 640),
    ('gen_ai_client_operation_duration_seconds', 7, 1280),
    ('gen_ai_client_operation_duration_seconds', 8, 2560),
    ('gen_ai_client_operation_duration_seconds', 9, 5120),
    ('gen_ai_client_operation_duration_seconds', 10, 10240),
    ('gen_ai_client_operation_duration_seconds', 11, 20480),
    ('gen_ai_client_operation_duration_seconds', 12, 40960),
    ('gen_ai_client_operation_duration_seconds', 13, 81920),
    ('gen_ai_client_operation_duration_seconds', 14, 9223372036854775807),
    ('gen_ai_client_token_usage', 0, 1), ('gen_ai_client_token_usage', 1, 4),
    ('gen_ai_client_token_usage', 2, 16), ('gen_ai_client_token_usage', 3, 64),
    ('gen_ai_client_token_usage', 4, 256), ('gen_ai_client_token_usage', 5, 1024),
    ('gen_ai_client_token_usage', 6, 4096), ('gen_ai_client_token_usage', 7, 16384),
    ('gen_ai_client_token_usage', 8, 65536), ('gen_ai_client_token_usage', 9, 262144),
    ('gen_ai_client_token_usage', 10, 1048576), ('gen_ai_client_token_usage', 11, 4194304),
    ('gen_ai_client_token_usage', 12, 16777216), ('gen_ai_client_token_usage', 13, 67108864),
    ('gen_ai_client_token_usage', 14, 9223372036854775807);

-- A label value escaped for the text format (backslash, quote, newline).
CREATE FUNCTION metric_label(v text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT replace(replace(replace(v, '\', '\\'), '"', '\"'), chr(10), '\n')
$$;

-- Adds v to a counter, or observes v in a histogram (a name with bounds).
-- A trigger must never fail its writer, hence the COALESCEs.
CREATE FUNCTION metric_add(p_agent text, p_name text, p_labels text, p_v bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_name IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO metric_rollups AS r (agent, name, labels, idx, n, total)
    VALUES (COALESCE(p_agent, 'default'), p_name, COALESCE(p_labels, ''),
            COALESCE((SELECT min(b.idx) FROM metric_bounds b
                       WHERE b.name = p_name AND b.le >= COALESCE(p_v, 0)), 0),
            1, COALESCE(p_v, 0))
    ON CONFLICT (agent, name, labels, idx)
    DO UPDATE SET n = r.n + 1, total = r.total + excluded.total;
END
$$;

-- INSERT INTO metric_observe (agent, name, a, x1, b, x2, c, v): the same
-- counting as metric_add, with the labels a || x1 || b || x2 || c where x1
-- and x2 are raw values escaped here, as on SQLite (queries.sql uses it).
CREATE VIEW metric_observe AS
    SELECT agent, name, labels AS a, labels AS x1, labels AS b, labels AS x2, labels AS c,
           total AS v
      FROM metric_rollups WHERE false;

CREATE FUNCTION metric_observe_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM metric_add(NEW.agent, NEW.name,
        COALESCE(NEW.a, '') || COALESCE(metric_label(NEW.x1), '') || COALESCE(NEW.b, '')
        || COALESCE(metric_label(NEW.x2), '') || COALESCE(NEW.c, ''), NEW.v);
    RETURN NEW;
END
$$;
CREATE TRIGGER metric_observe_insert INSTEAD OF INSERT ON metric_observe
    FOR EACH ROW EXECUTE FUNCTION metric_observe_insert();

-- ---------------------------------------------------------------- sessions

CREATE FUNCTION metric_session_ended(s agent_sessions) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    fin bigint := COALESCE(s.completed_at, s.updated_at);
BEGIN
    PERFORM metric_add(s.agent, 'cycles_total', 'outcome="' || metric_label(s.outcome) || '"', 1);
    PERFORM metric_add(s.agent, 'cycle_duration_seconds', '', GREATEST(fin - s.created_at, 0));
    IF s.designing_at IS NOT NULL THEN
        PERFORM metric_add(s.agent, 'phase_duration_seconds', 'phase="designing"',
            GREATEST(COALESCE(s.training_at, s.backtesting_at, s.assessing_at, fin) - s.designing_at, 0));
    END IF;
    IF s.training_at IS NOT NULL THEN
        PERFORM metric_add(s.agent, 'phase_duration_seconds', 'phase="training"',
            GREATEST(COALESCE(s.backtesting_at, s.assessing_at, fin) - s.training_at, 0));
    END IF;
    IF s.backtesting_at IS NOT NULL THEN
        PERFORM metric_add(s.agent, 'phase_duration_seconds', 'phase="backtesting"',
            GREATEST(COALESCE(s.assessing_at, fin) - s.backtesting_at, 0));
    END IF;
    IF s.assessing_at IS NOT NULL THEN
        PERFORM metric_add(s.agent, 'phase_duration_seconds', 'phase="assessing"',
            GREATEST(fin - s.assessing_at, 0));
    END IF;
END
$$;

CREATE FUNCTION metric_gate(p_agent text, p_gate text, v jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    passed boolean := COALESCE(v -> 'passed' = 'true'::jsonb, false);
BEGIN
    PERFORM metric_add(p_agent, 'gate_results_total',
        'gate="' || p_gate || '",result="' || CASE WHEN passed THEN 'pass' ELSE 'fail' END || '"', 1);
    IF NOT passed THEN
        PERFORM metric_add(p_agent, 'gate_failures_total',
            'gate="' || p_gate || '",reason="'
            || metric_label(COALESCE(CASE WHEN jsonb_typeof(v) = 'object' THEN v ->> 'reason' END,
                                     'unknown')) || '"', 1);
    END IF;
END
$$;

-- A session is counted when it starts, when it ends (its outcome goes from
-- NULL to a value, once) and when a gate's verdict is written (once per gate).
CREATE FUNCTION metric_sessions_trg() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_ended boolean := false;
    had_training_gate boolean := false;
    had_backtest_gate boolean := false;
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM metric_add(NEW.agent, 'cycles_started_total', '', 1);
    ELSE
        was_ended := OLD.outcome IS NOT NULL;
        had_training_gate := OLD.training_gate IS NOT NULL;
        had_backtest_gate := OLD.backtest_gate IS NOT NULL;
    END IF;
    IF NEW.outcome IS NOT NULL AND NOT was_ended THEN
        PERFORM metric_session_ended(NEW);
    END IF;
    IF NEW.training_gate IS NOT NULL AND NOT had_training_gate THEN
        PERFORM metric_gate(NEW.agent, 'training', NEW.training_gate);
    END IF;
    IF NEW.backtest_gate IS NOT NULL AND NOT had_backtest_gate THEN
        PERFORM metric_gate(NEW.agent, 'backtest', NEW.backtest_gate);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER metric_sessions AFTER INSERT OR UPDATE OF outcome, training_gate, backtest_gate
    ON agent_sessions FOR EACH ROW EXECUTE FUNCTION metric_sessions_trg();

-- ---------------------------------------------------------------- ticks

-- A tick is counted when it is over (its exit status recorded): only then
-- is "invoked" final.
CREATE FUNCTION metric_triggers_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.exit_status IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.exit_status IS NOT NULL THEN
            RETURN NULL;
        END IF;
    END IF;
    PERFORM metric_add(NEW.agent, 'triggers_total',
        'event="' || metric_label(NEW.event) || '",invoked="'
        || CASE WHEN NEW.invoked THEN 'true' ELSE 'false' END || '"', 1);
    PERFORM metric_add(NEW.agent, 'tick_duration_seconds', '', GREATEST(COALESCE(NEW.duration_ms, 0), 0));
    IF NEW.failed_stage IS NOT NULL OR NEW.exit_status <> 0 THEN
        PERFORM metric_add(NEW.agent, 'tick_failures_total',
            'stage="' || metric_label(COALESCE(NEW.failed_stage, 'unknown')) || '"', 1);
        PERFORM metric_add(NEW.agent, 'errors_total', 'type="stage"', 1);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER metric_triggers AFTER INSERT OR UPDATE OF exit_status
    ON agent_triggers FOR EACH ROW EXECUTE FUNCTION metric_triggers_trg();

-- ---------------------------------------------------------------- model calls

CREATE FUNCTION metric_invocations_trg() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    model text := 'gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="'
                  || metric_label(NEW.model) || '"';
BEGIN
    PERFORM metric_add(NEW.agent, 'invocations_total',
        'kind="' || metric_label(NEW.kind) || '",status="' || metric_label(NEW.status) || '"', 1);
    PERFORM metric_add(NEW.agent, 'invocation_duration_seconds',
        'kind="' || metric_label(NEW.kind) || '"', GREATEST(NEW.duration_ms, 0));
    PERFORM metric_add(NEW.agent, 'tokens_total', 'type="input"', NEW.input_tokens);
    PERFORM metric_add(NEW.agent, 'tokens_total', 'type="output"', NEW.output_tokens);
    PERFORM metric_add(NEW.agent, 'tokens_total', 'type="cache_write"', NEW.cache_write_tokens);
    PERFORM metric_add(NEW.agent, 'tokens_total', 'type="cache_read"', NEW.cache_read_tokens);
    PERFORM metric_add(NEW.agent, 'cost_usd_total', '', NEW.cost_micros);
    PERFORM metric_add(NEW.agent, 'gen_ai_client_operation_duration_seconds',
        CASE WHEN NEW.status = 'ok' THEN '' ELSE 'error_type="' || metric_label(NEW.status) || '",' END
        || model, GREATEST(NEW.duration_ms, 0));
    IF NEW.status = 'ok' THEN
        -- input as the GenAI conventions count it for Anthropic
        PERFORM metric_add(NEW.agent, 'gen_ai_client_token_usage',
            model || ',gen_ai_token_type="input"',
            NEW.input_tokens + NEW.cache_write_tokens + NEW.cache_read_tokens);
        PERFORM metric_add(NEW.agent, 'gen_ai_client_token_usage',
            model || ',gen_ai_token_type="output"', NEW.output_tokens);
    ELSIF NEW.status = 'error' THEN
        PERFORM metric_add(NEW.agent, 'errors_total', 'type="model_call"', 1);
    ELSIF NEW.status = 'unknown_charge' THEN
        PERFORM metric_add(NEW.agent, 'errors_total', 'type="model_charge_unknown"', 1);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER metric_invocations AFTER INSERT ON agent_invocations
    FOR EACH ROW EXECUTE FUNCTION metric_invocations_trg();

-- ---------------------------------------------------------------- tool calls

-- A tool the model made up is "_unknown" (cardinality).
CREATE FUNCTION metric_actions_trg() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    tool text := CASE WHEN NOT NEW.success AND NEW.error LIKE 'unknown tool %' THEN '_unknown'
                      ELSE metric_label(NEW.tool_name) END;
BEGIN
    PERFORM metric_add(NEW.agent, 'tool_calls_total',
        'status="' || CASE WHEN NEW.success THEN 'ok' ELSE 'error' END || '",tool="' || tool || '"', 1);
    PERFORM metric_add(NEW.agent, 'tool_duration_seconds', 'tool="' || tool || '"',
        GREATEST(NEW.duration_ms, 0));
    IF NOT NEW.success THEN
        PERFORM metric_add(NEW.agent, 'errors_total', 'type="tool_call"', 1);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER metric_actions AFTER INSERT ON agent_actions
    FOR EACH ROW EXECUTE FUNCTION metric_actions_trg();

-- ---------------------------------------------------------------- history

-- The rollups of what the store already holds, once, in this migration's
-- transaction.  Each source is grouped by its raw columns first, so the
-- label text and the bucket are worked out per group, not per row: a store
-- with 10 million tool calls migrates in a minute or so, not in ten.

-- Counters.
INSERT INTO metric_rollups AS r (agent, name, labels, idx, n, total)
SELECT agent, name, labels, 0, SUM(n), SUM(v) FROM (
    SELECT agent, 'cycles_started_total' AS name, '' AS labels, COUNT(*) AS n, COUNT(*) AS v
      FROM agent_sessions GROUP BY agent
    UNION ALL
    SELECT agent, 'cycles_total', 'outcome="' || metric_label(outcome) || '"', COUNT(*), COUNT(*)
      FROM agent_sessions WHERE outcome IS NOT NULL GROUP BY agent, outcome
    UNION ALL
    SELECT agent, 'gate_results_total',
           'gate="' || g || '",result="' || CASE WHEN p THEN 'pass' ELSE 'fail' END || '"', n, n
      FROM (SELECT agent, 'training' AS g, COALESCE(training_gate -> 'passed' = 'true'::jsonb, false) AS p, COUNT(*) AS n
              FROM agent_sessions WHERE training_gate IS NOT NULL
             GROUP BY agent, COALESCE(training_gate -> 'passed' = 'true'::jsonb, false)
            UNION ALL
            SELECT agent, 'backtest', COALESCE(backtest_gate -> 'passed' = 'true'::jsonb, false), COUNT(*)
              FROM agent_sessions WHERE backtest_gate IS NOT NULL
             GROUP BY agent, COALESCE(backtest_gate -> 'passed' = 'true'::jsonb, false)) gr
    UNION ALL
    SELECT agent, 'gate_failures_total',
           'gate="' || g || '",reason="' || metric_label(COALESCE(r, 'unknown')) || '"', n, n
      FROM (SELECT agent, 'training' AS g, CASE WHEN jsonb_typeof(training_gate) = 'object' THEN training_gate ->> 'reason' END AS r, COUNT(*) AS n
              FROM agent_sessions WHERE training_gate IS NOT NULL AND NOT COALESCE(training_gate -> 'passed' = 'true'::jsonb, false)
             GROUP BY agent, CASE WHEN jsonb_typeof(training_gate) = 'object' THEN training_gate ->> 'reason' END
            UNION ALL
            SELECT agent, 'backtest', CASE WHEN jsonb_typeof(backtest_gate) = 'object' THEN backtest_gate ->> 'reason' END, COUNT(*)
              FROM agent_sessions WHERE backtest_gate IS NOT NULL AND NOT COALESCE(backtest_gate -> 'passed' = 'true'::jsonb, false)
             GROUP BY agent, CASE WHEN jsonb_typeof(backtest_gate) = 'object' THEN backtest_gate ->> 'reason' END) gf
    UNION ALL
    SELECT agent, 'triggers_total',
           'event="' || metric_label(event) || '",invoked="' || CASE WHEN invoked THEN 'true' ELSE 'false' END || '"',
           n, n
      FROM (SELECT agent, event, invoked, COUNT(*) AS n FROM agent_triggers
             WHERE exit_status IS NOT NULL GROUP BY agent, event, invoked) t
    UNION ALL
    SELECT agent, 'tick_failures_total', 'stage="' || metric_label(COALESCE(failed_stage, 'unknown')) || '"',
           COUNT(*), COUNT(*)
      FROM agent_triggers WHERE exit_status IS NOT NULL AND (failed_stage IS NOT NULL OR exit_status <> 0)
     GROUP BY agent, failed_stage
    UNION ALL
    SELECT agent, 'errors_total', 'type="stage"', COUNT(*), COUNT(*)
      FROM agent_triggers WHERE exit_status IS NOT NULL AND (failed_stage IS NOT NULL OR exit_status <> 0)
     GROUP BY agent
    UNION ALL
    SELECT agent, 'invocations_total', 'kind="' || metric_label(kind) || '",status="' || metric_label(status) || '"',
           COUNT(*), COUNT(*)
      FROM agent_invocations GROUP BY agent, kind, status
    UNION ALL
    SELECT i.agent, 'tokens_total', t.labels, i.n,
           CASE t.k WHEN 0 THEN i.input WHEN 1 THEN i.output WHEN 2 THEN i.cw ELSE i.cr END
      FROM (SELECT agent, COUNT(*) AS n, SUM(input_tokens) AS input, SUM(output_tokens) AS output,
                   SUM(cache_write_tokens) AS cw, SUM(cache_read_tokens) AS cr
              FROM agent_invocations GROUP BY agent) i
     CROSS JOIN (SELECT 0 AS k, 'type="input"' AS labels UNION ALL SELECT 1, 'type="output"'
                 UNION ALL SELECT 2, 'type="cache_write"' UNION ALL SELECT 3, 'type="cache_read"') t
    UNION ALL
    SELECT agent, 'cost_usd_total', '', COUNT(*), SUM(cost_micros) FROM agent_invocations GROUP BY agent
    UNION ALL
    SELECT agent, 'errors_total',
           CASE WHEN status = 'error' THEN 'type="model_call"' ELSE 'type="model_charge_unknown"' END,
           COUNT(*), COUNT(*)
      FROM agent_invocations WHERE status IN ('error', 'unknown_charge') GROUP BY agent, status
    UNION ALL
    SELECT agent, 'tool_calls_total',
           'status="' || CASE WHEN success THEN 'ok' ELSE 'error' END || '",tool="'
           || CASE WHEN unk THEN '_unknown' ELSE metric_label(tool_name) END || '"', n, n
      FROM (SELECT agent, tool_name, success, COALESCE(NOT success AND error LIKE 'unknown tool %', false) AS unk, COUNT(*) AS n
              FROM agent_actions GROUP BY agent, tool_name, success, COALESCE(NOT success AND error LIKE 'unknown tool %', false)) a
    UNION ALL
    SELECT agent, 'errors_total', 'type="tool_call"', COUNT(*), COUNT(*)
      FROM agent_actions WHERE NOT success GROUP BY agent
) c
GROUP BY agent, name, labels
ON CONFLICT (agent, name, labels, idx) DO UPDATE SET n = r.n + excluded.n, total = r.total + excluded.total;

-- Histograms: each distinct value once in its bucket, then summed.
INSERT INTO metric_rollups AS r (agent, name, labels, idx, n, total)
SELECT agent, name, labels, idx, SUM(n), SUM(v * n) FROM (
  SELECT g.agent, g.name, g.labels, g.v, g.n,
         (SELECT MIN(b.idx) FROM metric_bounds b WHERE b.name = g.name AND b.le >= g.v) AS idx
    FROM (
    SELECT agent, 'cycle_duration_seconds' AS name, '' AS labels, v, COUNT(*) AS n
      FROM (SELECT agent, GREATEST(COALESCE(completed_at, updated_at) - created_at, 0) AS v
              FROM agent_sessions WHERE outcome IS NOT NULL) s
     GROUP BY agent, v
    UNION ALL
    SELECT agent, 'phase_duration_seconds', 'phase="' || p || '"', v, COUNT(*)
      FROM (SELECT agent, 'designing' AS p,
                   GREATEST(COALESCE(COALESCE(training_at, backtesting_at, assessing_at, completed_at), updated_at) - designing_at, 0) AS v
              FROM agent_sessions WHERE outcome IS NOT NULL AND designing_at IS NOT NULL
            UNION ALL
            SELECT agent, 'training',
                   GREATEST(COALESCE(COALESCE(backtesting_at, assessing_at, completed_at), updated_at) - training_at, 0)
              FROM agent_sessions WHERE outcome IS NOT NULL AND training_at IS NOT NULL
            UNION ALL
            SELECT agent, 'backtesting', GREATEST(COALESCE(COALESCE(assessing_at, completed_at), updated_at) - backtesting_at, 0)
              FROM agent_sessions WHERE outcome IS NOT NULL AND backtesting_at IS NOT NULL
            UNION ALL
            SELECT agent, 'assessing', GREATEST(COALESCE(completed_at, updated_at) - assessing_at, 0)
              FROM agent_sessions WHERE outcome IS NOT NULL AND assessing_at IS NOT NULL) ph
     GROUP BY agent, p, v
    UNION ALL
    SELECT agent, 'tick_duration_seconds', '', v, COUNT(*)
      FROM (SELECT agent, GREATEST(COALESCE(duration_ms, 0), 0) AS v
              FROM agent_triggers WHERE exit_status IS NOT NULL) t
     GROUP BY agent, v
    UNION ALL
    SELECT agent, 'invocation_duration_seconds', 'kind="' || metric_label(kind) || '"', v, n
      FROM (SELECT agent, kind, v, COUNT(*) AS n
              FROM (SELECT agent, kind, GREATEST(duration_ms, 0) AS v FROM agent_invocations) i
             GROUP BY agent, kind, v) ik
    UNION ALL
    SELECT agent, 'gen_ai_client_operation_duration_seconds',
           CASE WHEN status = 'ok' THEN '' ELSE 'error_type="' || metric_label(status) || '",' END
           || 'gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="' || metric_label(model) || '"', v, n
      FROM (SELECT agent, status, model, v, COUNT(*) AS n
              FROM (SELECT agent, status, model, GREATEST(duration_ms, 0) AS v FROM agent_invocations) i
             GROUP BY agent, status, model, v) io
    UNION ALL
    SELECT agent, 'gen_ai_client_token_usage',
           'gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="' || metric_label(model) || '",gen_ai_token_type="' || tt || '"', v, n
      FROM (SELECT agent, model, tt, v, COUNT(*) AS n
              FROM (SELECT agent, model, 'input' AS tt,
                           input_tokens + cache_write_tokens + cache_read_tokens AS v
                      FROM agent_invocations WHERE status = 'ok'
                    UNION ALL
                    SELECT agent, model, 'output', output_tokens
                      FROM agent_invocations WHERE status = 'ok') i
             GROUP BY agent, model, tt, v) iu
    UNION ALL
    SELECT agent, 'tool_duration_seconds',
           'tool="' || CASE WHEN unk THEN '_unknown' ELSE metric_label(tool_name) END || '"', v, n
      FROM (SELECT agent, tool_name, unk, v, COUNT(*) AS n
              FROM (SELECT agent, tool_name, COALESCE(NOT success AND error LIKE 'unknown tool %', false) AS unk, GREATEST(duration_ms, 0) AS v
                      FROM agent_actions) a
             GROUP BY agent, tool_name, unk, v) ad
    ) g
  ) h
GROUP BY agent, name, labels, idx
ON CONFLICT (agent, name, labels, idx) DO UPDATE SET n = r.n + excluded.n, total = r.total + excluded.total;

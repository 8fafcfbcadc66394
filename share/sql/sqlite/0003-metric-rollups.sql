-- Schema 3: rollups of the Prometheus metrics (agent-metrics-agg).
--
-- Rendering reads these small tables, never the history, so it takes the
-- same time with ten sessions as with a million.  Triggers keep them current
-- inside the writer's own transaction: a row and its counts commit or roll
-- back together, so nothing is counted twice and nothing is lost, whoever
-- writes (a stage, agent-control, an operator with sqlite3).  The same
-- logical schema is in postgres/0003-metric-rollups.sql.
--
-- metric_rollups holds every counter and histogram, per agent, metric name
-- (without the namespace: agent-metrics-agg adds it), and label pairs as
-- canonical text (`gate="training",result="pass"`: names in alphabetical
-- order, values escaped for the text format).  A counter is one row with
-- idx 0 and its value in total; a histogram has one row per bucket that has
-- seen an observation (idx of the first bound >= the value; n observations,
-- total their sum), and the renderer makes the buckets cumulative.  Values
-- are integers in the metric's stored unit (seconds, milliseconds,
-- micro-dollars or tokens); agent-metrics-agg scales them to base units.
CREATE TABLE metric_bounds (
    name                    TEXT    NOT NULL,
    idx                     INTEGER NOT NULL,
    le                      INTEGER NOT NULL,  -- 9223372036854775807 is +Inf
    PRIMARY KEY (name, idx)
);

CREATE TABLE metric_rollups (
    agent                   TEXT    NOT NULL,
    name                    TEXT    NOT NULL,
    labels                  TEXT    NOT NULL DEFAULT '',
    idx                     INTEGER NOT NULL DEFAULT 0,
    n                       INTEGER NOT NULL DEFAULT 0,
    total                   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (agent, name, labels, idx)
);

-- Histogram bounds in the stored unit (milliseconds for the *_seconds
-- histograms fed from duration_ms columns, seconds for cycles and phases).
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

-- The one way to count:
--   INSERT INTO metric_observe (agent, name, a, x1, b, x2, c, v)
-- adds v to counter `name`, or observes v in histogram `name` (a name with
-- bounds), under the labels a || x1 || b || x2 || c: x1 and x2 are raw label
-- values, escaped here; a, b and c the text around them; NULL pieces are
-- empty.  A trigger must never fail its writer, hence the COALESCEs.  (The
-- views below are SQLite's way to write a function once: the triggers on
-- the tables stay short, and the schema every connection parses small.)
CREATE VIEW metric_observe AS
    SELECT agent, name, labels AS a, labels AS x1, labels AS b, labels AS x2, labels AS c,
           total AS v
      FROM metric_rollups WHERE 0;

CREATE TRIGGER metric_observe_insert INSTEAD OF INSERT ON metric_observe
BEGIN
    INSERT INTO metric_rollups (agent, name, labels, idx, n, total)
    SELECT COALESCE(NEW.agent, 'default'), NEW.name,
           COALESCE(NEW.a, '')
           || COALESCE(replace(replace(replace(NEW.x1, '\', '\\'), '"', '\"'), char(10), '\n'), '')
           || COALESCE(NEW.b, '')
           || COALESCE(replace(replace(replace(NEW.x2, '\', '\\'), '"', '\"'), char(10), '\n'), '')
           || COALESCE(NEW.c, ''),
           COALESCE((SELECT MIN(mb.idx) FROM metric_bounds mb
                      WHERE mb.name = NEW.name AND mb.le >= COALESCE(NEW.v, 0)), 0),
           1, COALESCE(NEW.v, 0)
     WHERE NEW.name IS NOT NULL
    ON CONFLICT (agent, name, labels, idx)
    DO UPDATE SET n = n + 1, total = total + excluded.total;
END;

-- ---------------------------------------------------------------- sessions

-- A session ends once: its outcome goes from NULL to a value (or it is
-- written already ended).  Phase durations as agent_metrics has them: from
-- a phase's start to the next phase that started, or to the end.
CREATE VIEW metric_session_end AS
    SELECT agent, outcome, created_at, designing_at, training_at, backtesting_at, assessing_at,
           COALESCE(completed_at, updated_at) AS ended_at
      FROM agent_sessions WHERE 0;

CREATE TRIGGER metric_session_end_insert INSTEAD OF INSERT ON metric_session_end
BEGIN
    INSERT INTO metric_observe (agent, name, a, x1, b, v)
    VALUES (NEW.agent, 'cycles_total', 'outcome="', NEW.outcome, '"', 1);
    INSERT INTO metric_observe (agent, name, v)
    VALUES (NEW.agent, 'cycle_duration_seconds', max(NEW.ended_at - NEW.created_at, 0));
    INSERT INTO metric_observe (agent, name, a, v)
    SELECT NEW.agent, 'phase_duration_seconds', 'phase="' || p || '"', max(t1 - t0, 0) FROM (
        SELECT 'designing' AS p, NEW.designing_at AS t0,
               COALESCE(NEW.training_at, NEW.backtesting_at, NEW.assessing_at, NEW.ended_at) AS t1
        UNION ALL
        SELECT 'training', NEW.training_at, COALESCE(NEW.backtesting_at, NEW.assessing_at, NEW.ended_at)
        UNION ALL
        SELECT 'backtesting', NEW.backtesting_at, COALESCE(NEW.assessing_at, NEW.ended_at)
        UNION ALL
        SELECT 'assessing', NEW.assessing_at, NEW.ended_at)
     WHERE t0 IS NOT NULL;
END;

-- A gate's verdict is written once per session (agent-gate in the pipeline).
CREATE VIEW metric_gate AS
    SELECT agent, 'training' AS gate, training_gate AS verdict FROM agent_sessions WHERE 0;

CREATE TRIGGER metric_gate_insert INSTEAD OF INSERT ON metric_gate
BEGIN
    INSERT INTO metric_observe (agent, name, a, x1, b, x2, c, v)
    SELECT NEW.agent, 'gate_results_total', 'gate="', NEW.gate, '",result="',
           CASE WHEN p THEN 'pass' ELSE 'fail' END, '"', 1
      FROM (SELECT CASE WHEN json_valid(NEW.verdict) THEN json_extract(NEW.verdict, '$.passed') END = 1 AS p);
    INSERT INTO metric_observe (agent, name, a, x1, b, x2, c, v)
    SELECT NEW.agent, 'gate_failures_total', 'gate="', NEW.gate, '",reason="',
           COALESCE(CASE WHEN json_valid(NEW.verdict)
                         THEN CAST(json_extract(NEW.verdict, '$.reason') AS TEXT) END, 'unknown'), '"', 1
     WHERE NOT COALESCE(CASE WHEN json_valid(NEW.verdict)
                             THEN json_extract(NEW.verdict, '$.passed') END = 1, 0);
END;

CREATE TRIGGER metric_session_created AFTER INSERT ON agent_sessions
BEGIN
    INSERT INTO metric_observe (agent, name, v) VALUES (NEW.agent, 'cycles_started_total', 1);
    INSERT INTO metric_session_end
    SELECT NEW.agent, NEW.outcome, NEW.created_at, NEW.designing_at, NEW.training_at,
           NEW.backtesting_at, NEW.assessing_at, COALESCE(NEW.completed_at, NEW.updated_at)
     WHERE NEW.outcome IS NOT NULL;
    INSERT INTO metric_gate SELECT NEW.agent, 'training', NEW.training_gate
     WHERE NEW.training_gate IS NOT NULL;
    INSERT INTO metric_gate SELECT NEW.agent, 'backtest', NEW.backtest_gate
     WHERE NEW.backtest_gate IS NOT NULL;
END;

CREATE TRIGGER metric_session_ended AFTER UPDATE OF outcome ON agent_sessions
WHEN OLD.outcome IS NULL AND NEW.outcome IS NOT NULL
BEGIN
    INSERT INTO metric_session_end
    VALUES (NEW.agent, NEW.outcome, NEW.created_at, NEW.designing_at, NEW.training_at,
            NEW.backtesting_at, NEW.assessing_at, COALESCE(NEW.completed_at, NEW.updated_at));
END;

CREATE TRIGGER metric_training_gate AFTER UPDATE OF training_gate ON agent_sessions
WHEN OLD.training_gate IS NULL AND NEW.training_gate IS NOT NULL
BEGIN
    INSERT INTO metric_gate VALUES (NEW.agent, 'training', NEW.training_gate);
END;

CREATE TRIGGER metric_backtest_gate AFTER UPDATE OF backtest_gate ON agent_sessions
WHEN OLD.backtest_gate IS NULL AND NEW.backtest_gate IS NOT NULL
BEGIN
    INSERT INTO metric_gate VALUES (NEW.agent, 'backtest', NEW.backtest_gate);
END;

-- ---------------------------------------------------------------- ticks

-- A tick is counted when it is over (its exit status recorded by the last
-- stage or by agent-cycle after a failed stage): only then is "invoked"
-- final.
CREATE VIEW metric_tick_end AS
    SELECT agent, event, invoked, duration_ms, exit_status, failed_stage
      FROM agent_triggers WHERE 0;

CREATE TRIGGER metric_tick_end_insert INSTEAD OF INSERT ON metric_tick_end
BEGIN
    INSERT INTO metric_observe (agent, name, a, x1, b, x2, c, v)
    VALUES (NEW.agent, 'triggers_total', 'event="', NEW.event, '",invoked="',
            CASE WHEN NEW.invoked THEN 'true' ELSE 'false' END, '"', 1);
    INSERT INTO metric_observe (agent, name, v)
    VALUES (NEW.agent, 'tick_duration_seconds', max(COALESCE(NEW.duration_ms, 0), 0));
    INSERT INTO metric_observe (agent, name, a, x1, b, v)
    SELECT NEW.agent, 'tick_failures_total', 'stage="', COALESCE(NEW.failed_stage, 'unknown'), '"', 1
     WHERE NEW.failed_stage IS NOT NULL OR NEW.exit_status <> 0
    UNION ALL
    SELECT NEW.agent, 'errors_total', 'type="stage"', NULL, NULL, 1
     WHERE NEW.failed_stage IS NOT NULL OR NEW.exit_status <> 0;
END;

CREATE TRIGGER metric_tick_finished AFTER UPDATE OF exit_status ON agent_triggers
WHEN OLD.exit_status IS NULL AND NEW.exit_status IS NOT NULL
BEGIN
    INSERT INTO metric_tick_end
    VALUES (NEW.agent, NEW.event, NEW.invoked, NEW.duration_ms, NEW.exit_status, NEW.failed_stage);
END;

CREATE TRIGGER metric_tick_inserted_finished AFTER INSERT ON agent_triggers
WHEN NEW.exit_status IS NOT NULL
BEGIN
    INSERT INTO metric_tick_end
    VALUES (NEW.agent, NEW.event, NEW.invoked, NEW.duration_ms, NEW.exit_status, NEW.failed_stage);
END;

-- ---------------------------------------------------------------- model calls

-- gen_ai_client_token_usage: the billable tokens of a call whose usage is
-- known, input as the GenAI conventions count it for Anthropic (uncached +
-- cache write + cache read).
CREATE TRIGGER metric_invocation AFTER INSERT ON agent_invocations
BEGIN
    INSERT INTO metric_observe (agent, name, a, x1, b, x2, c, v)
    VALUES (NEW.agent, 'invocations_total', 'kind="', NEW.kind, '",status="', NEW.status, '"', 1),
           (NEW.agent, 'invocation_duration_seconds', 'kind="', NEW.kind, '"', NULL, NULL,
            max(NEW.duration_ms, 0)),
           (NEW.agent, 'gen_ai_client_operation_duration_seconds',
            CASE WHEN NEW.status = 'ok' THEN NULL ELSE 'error_type="' END,
            CASE WHEN NEW.status = 'ok' THEN NULL ELSE NEW.status END,
            CASE WHEN NEW.status = 'ok' THEN '' ELSE '",' END
            || 'gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="',
            NEW.model, '"', max(NEW.duration_ms, 0));
    INSERT INTO metric_observe (agent, name, a, v)
    VALUES (NEW.agent, 'tokens_total', 'type="input"', NEW.input_tokens),
           (NEW.agent, 'tokens_total', 'type="output"', NEW.output_tokens),
           (NEW.agent, 'tokens_total', 'type="cache_write"', NEW.cache_write_tokens),
           (NEW.agent, 'tokens_total', 'type="cache_read"', NEW.cache_read_tokens),
           (NEW.agent, 'cost_usd_total', '', NEW.cost_micros);
    INSERT INTO metric_observe (agent, name, a, x1, b, v)
    SELECT NEW.agent, 'gen_ai_client_token_usage',
           'gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="',
           NEW.model, t, v
      FROM (SELECT '",gen_ai_token_type="input"' AS t,
                   NEW.input_tokens + NEW.cache_write_tokens + NEW.cache_read_tokens AS v
            UNION ALL
            SELECT '",gen_ai_token_type="output"', NEW.output_tokens)
     WHERE NEW.status = 'ok';
    INSERT INTO metric_observe (agent, name, a, v)
    SELECT NEW.agent, 'errors_total',
           CASE NEW.status WHEN 'error' THEN 'type="model_call"' ELSE 'type="model_charge_unknown"' END, 1
     WHERE NEW.status IN ('error', 'unknown_charge');
END;

-- ---------------------------------------------------------------- tool calls

-- A tool the model made up is "_unknown": its name is the model's choice and
-- must not become a label value (cardinality).
CREATE TRIGGER metric_action AFTER INSERT ON agent_actions
BEGIN
    INSERT INTO metric_observe (agent, name, a, x1, b, v)
    SELECT NEW.agent, m, p, t, '"', v
      FROM (SELECT CASE WHEN NOT NEW.success AND NEW.error LIKE 'unknown tool %' THEN '_unknown'
                        ELSE NEW.tool_name END AS t)
     CROSS JOIN (SELECT 'tool_calls_total' AS m,
                        'status="' || CASE WHEN NEW.success THEN 'ok' ELSE 'error' END || '",tool="' AS p,
                        1 AS v
                 UNION ALL
                 SELECT 'tool_duration_seconds', 'tool="', max(NEW.duration_ms, 0));
    INSERT INTO metric_observe (agent, name, a, v)
    SELECT NEW.agent, 'errors_total', 'type="tool_call"', 1 WHERE NOT NEW.success;
END;

-- ---------------------------------------------------------------- history

-- The rollups of what the store already holds, once, in this migration's
-- transaction.  Each source is grouped by its raw columns first, so the
-- label text and the bucket are worked out per group, not per row: a store
-- with 10 million tool calls migrates in a minute or so, not in ten.

-- Counters.
INSERT INTO metric_rollups (agent, name, labels, idx, n, total)
SELECT agent, name, labels, 0, SUM(n), SUM(v) FROM (
    SELECT agent, 'cycles_started_total' AS name, '' AS labels, COUNT(*) AS n, COUNT(*) AS v
      FROM agent_sessions GROUP BY agent
    UNION ALL
    SELECT agent, 'cycles_total', 'outcome="' || replace(replace(replace(outcome, '\', '\\'), '"', '\"'), char(10), '\n') || '"', COUNT(*), COUNT(*)
      FROM agent_sessions WHERE outcome IS NOT NULL GROUP BY agent, outcome
    UNION ALL
    SELECT agent, 'gate_results_total',
           'gate="' || g || '",result="' || CASE WHEN p THEN 'pass' ELSE 'fail' END || '"', n, n
      FROM (SELECT agent, 'training' AS g, COALESCE(CASE WHEN json_valid(training_gate) THEN json_extract(training_gate, '$.passed') END = 1, 0) AS p, COUNT(*) AS n
              FROM agent_sessions WHERE training_gate IS NOT NULL
             GROUP BY agent, COALESCE(CASE WHEN json_valid(training_gate) THEN json_extract(training_gate, '$.passed') END = 1, 0)
            UNION ALL
            SELECT agent, 'backtest', COALESCE(CASE WHEN json_valid(backtest_gate) THEN json_extract(backtest_gate, '$.passed') END = 1, 0), COUNT(*)
              FROM agent_sessions WHERE backtest_gate IS NOT NULL
             GROUP BY agent, COALESCE(CASE WHEN json_valid(backtest_gate) THEN json_extract(backtest_gate, '$.passed') END = 1, 0)) gr
    UNION ALL
    SELECT agent, 'gate_failures_total',
           'gate="' || g || '",reason="' || replace(replace(replace(COALESCE(r, 'unknown'), '\', '\\'), '"', '\"'), char(10), '\n') || '"', n, n
      FROM (SELECT agent, 'training' AS g, CASE WHEN json_valid(training_gate) THEN CAST(json_extract(training_gate, '$.reason') AS TEXT) END AS r, COUNT(*) AS n
              FROM agent_sessions WHERE training_gate IS NOT NULL AND NOT COALESCE(CASE WHEN json_valid(training_gate) THEN json_extract(training_gate, '$.passed') END = 1, 0)
             GROUP BY agent, CASE WHEN json_valid(training_gate) THEN CAST(json_extract(training_gate, '$.reason') AS TEXT) END
            UNION ALL
            SELECT agent, 'backtest', CASE WHEN json_valid(backtest_gate) THEN CAST(json_extract(backtest_gate, '$.reason') AS TEXT) END, COUNT(*)
              FROM agent_sessions WHERE backtest_gate IS NOT NULL AND NOT COALESCE(CASE WHEN json_valid(backtest_gate) THEN json_extract(backtest_gate, '$.passed') END = 1, 0)
             GROUP BY agent, CASE WHEN json_valid(backtest_gate) THEN CAST(json_extract(backtest_gate, '$.reason') AS TEXT) END) gf
    UNION ALL
    SELECT agent, 'triggers_total',
           'event="' || replace(replace(replace(event, '\', '\\'), '"', '\"'), char(10), '\n') || '",invoked="' || CASE WHEN invoked THEN 'true' ELSE 'false' END || '"',
           n, n
      FROM (SELECT agent, event, invoked, COUNT(*) AS n FROM agent_triggers
             WHERE exit_status IS NOT NULL GROUP BY agent, event, invoked) t
    UNION ALL
    SELECT agent, 'tick_failures_total', 'stage="' || replace(replace(replace(COALESCE(failed_stage, 'unknown'), '\', '\\'), '"', '\"'), char(10), '\n') || '"',
           COUNT(*), COUNT(*)
      FROM agent_triggers WHERE exit_status IS NOT NULL AND (failed_stage IS NOT NULL OR exit_status <> 0)
     GROUP BY agent, failed_stage
    UNION ALL
    SELECT agent, 'errors_total', 'type="stage"', COUNT(*), COUNT(*)
      FROM agent_triggers WHERE exit_status IS NOT NULL AND (failed_stage IS NOT NULL OR exit_status <> 0)
     GROUP BY agent
    UNION ALL
    SELECT agent, 'invocations_total', 'kind="' || replace(replace(replace(kind, '\', '\\'), '"', '\"'), char(10), '\n') || '",status="' || replace(replace(replace(status, '\', '\\'), '"', '\"'), char(10), '\n') || '"',
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
           || CASE WHEN unk THEN '_unknown' ELSE replace(replace(replace(tool_name, '\', '\\'), '"', '\"'), char(10), '\n') END || '"', n, n
      FROM (SELECT agent, tool_name, success, COALESCE(NOT success AND error LIKE 'unknown tool %', 0) AS unk, COUNT(*) AS n
              FROM agent_actions GROUP BY agent, tool_name, success, COALESCE(NOT success AND error LIKE 'unknown tool %', 0)) a
    UNION ALL
    SELECT agent, 'errors_total', 'type="tool_call"', COUNT(*), COUNT(*)
      FROM agent_actions WHERE NOT success GROUP BY agent
) c
GROUP BY agent, name, labels
ON CONFLICT (agent, name, labels, idx) DO UPDATE SET n = n + excluded.n, total = total + excluded.total;

-- Histograms: each distinct value once in its bucket, then summed.
INSERT INTO metric_rollups (agent, name, labels, idx, n, total)
SELECT agent, name, labels, idx, SUM(n), SUM(v * n) FROM (
  SELECT g.agent, g.name, g.labels, g.v, g.n,
         (SELECT MIN(b.idx) FROM metric_bounds b WHERE b.name = g.name AND b.le >= g.v) AS idx
    FROM (
    SELECT agent, 'cycle_duration_seconds' AS name, '' AS labels, v, COUNT(*) AS n
      FROM (SELECT agent, max(COALESCE(completed_at, updated_at) - created_at, 0) AS v
              FROM agent_sessions WHERE outcome IS NOT NULL) s
     GROUP BY agent, v
    UNION ALL
    SELECT agent, 'phase_duration_seconds', 'phase="' || p || '"', v, COUNT(*)
      FROM (SELECT agent, 'designing' AS p,
                   max(COALESCE(COALESCE(training_at, backtesting_at, assessing_at, completed_at), updated_at) - designing_at, 0) AS v
              FROM agent_sessions WHERE outcome IS NOT NULL AND designing_at IS NOT NULL
            UNION ALL
            SELECT agent, 'training',
                   max(COALESCE(COALESCE(backtesting_at, assessing_at, completed_at), updated_at) - training_at, 0)
              FROM agent_sessions WHERE outcome IS NOT NULL AND training_at IS NOT NULL
            UNION ALL
            SELECT agent, 'backtesting', max(COALESCE(COALESCE(assessing_at, completed_at), updated_at) - backtesting_at, 0)
              FROM agent_sessions WHERE outcome IS NOT NULL AND backtesting_at IS NOT NULL
            UNION ALL
            SELECT agent, 'assessing', max(COALESCE(completed_at, updated_at) - assessing_at, 0)
              FROM agent_sessions WHERE outcome IS NOT NULL AND assessing_at IS NOT NULL) ph
     GROUP BY agent, p, v
    UNION ALL
    SELECT agent, 'tick_duration_seconds', '', v, COUNT(*)
      FROM (SELECT agent, max(COALESCE(duration_ms, 0), 0) AS v
              FROM agent_triggers WHERE exit_status IS NOT NULL) t
     GROUP BY agent, v
    UNION ALL
    SELECT agent, 'invocation_duration_seconds', 'kind="' || replace(replace(replace(kind, '\', '\\'), '"', '\"'), char(10), '\n') || '"', v, n
      FROM (SELECT agent, kind, v, COUNT(*) AS n
              FROM (SELECT agent, kind, max(duration_ms, 0) AS v FROM agent_invocations) i
             GROUP BY agent, kind, v) ik
    UNION ALL
    SELECT agent, 'gen_ai_client_operation_duration_seconds',
           CASE WHEN status = 'ok' THEN '' ELSE 'error_type="' || replace(replace(replace(status, '\', '\\'), '"', '\"'), char(10), '\n') || '",' END
           || 'gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="' || replace(replace(replace(model, '\', '\\'), '"', '\"'), char(10), '\n') || '"', v, n
      FROM (SELECT agent, status, model, v, COUNT(*) AS n
              FROM (SELECT agent, status, model, max(duration_ms, 0) AS v FROM agent_invocations) i
             GROUP BY agent, status, model, v) io
    UNION ALL
    SELECT agent, 'gen_ai_client_token_usage',
           'gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="' || replace(replace(replace(model, '\', '\\'), '"', '\"'), char(10), '\n') || '",gen_ai_token_type="' || tt || '"', v, n
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
           'tool="' || CASE WHEN unk THEN '_unknown' ELSE replace(replace(replace(tool_name, '\', '\\'), '"', '\"'), char(10), '\n') END || '"', v, n
      FROM (SELECT agent, tool_name, unk, v, COUNT(*) AS n
              FROM (SELECT agent, tool_name, COALESCE(NOT success AND error LIKE 'unknown tool %', 0) AS unk, max(duration_ms, 0) AS v
                      FROM agent_actions) a
             GROUP BY agent, tool_name, unk, v) ad
    ) g
  ) h
GROUP BY agent, name, labels, idx
ON CONFLICT (agent, name, labels, idx) DO UPDATE SET n = n + excluded.n, total = total + excluded.total;

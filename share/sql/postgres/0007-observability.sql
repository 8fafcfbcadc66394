-- Schema 7: the platform's own metric names and one trace per research cycle
-- (the comments of sqlite/0008-observability.sql say why).
SET LOCAL statement_timeout = 0;

UPDATE metric_rollups
   SET labels = 'detail="' || substr(labels, 10, length(labels) - 10) || '",outcome="'
                || CASE substr(labels, 10, length(labels) - 10)
                   WHEN 'success' THEN 'completed' WHEN 'cancelled' THEN 'cancelled' ELSE 'failed' END
                || '"'
 WHERE name = 'cycles_total' AND labels LIKE 'outcome="%"';

DELETE FROM metric_rollups WHERE name = 'tokens_total';
INSERT INTO metric_rollups (agent, name, labels, idx, n, total)
SELECT agent, 'tokens_total', 'phase="' || metric_label(kind) || '",type="' || t.type || '"', 0, COUNT(*),
       SUM(CASE t.type WHEN 'input' THEN input_tokens WHEN 'output' THEN output_tokens
                       WHEN 'cache_write' THEN cache_write_tokens ELSE cache_read_tokens END)
  FROM agent_invocations,
       (VALUES ('input'), ('output'), ('cache_write'), ('cache_read')) AS t (type)
 GROUP BY agent, kind, t.type;

CREATE OR REPLACE FUNCTION metric_cycle_labels(outcome text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT 'detail="' || metric_label(outcome) || '",outcome="'
           || CASE outcome WHEN 'success' THEN 'completed' WHEN 'cancelled' THEN 'cancelled' ELSE 'failed' END
           || '"'
$$;

CREATE OR REPLACE FUNCTION metric_session_ended(s agent_sessions) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    fin bigint := COALESCE(s.completed_at, s.updated_at);
BEGIN
    PERFORM metric_add(s.agent, 'cycles_total', metric_cycle_labels(s.outcome), 1);
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

CREATE OR REPLACE FUNCTION metric_invocations_trg() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    model text := 'gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="'
                  || metric_label(NEW.model) || '"';
BEGIN
    PERFORM metric_add(NEW.agent, 'invocations_total',
        'kind="' || metric_label(NEW.kind) || '",status="' || metric_label(NEW.status) || '"', 1);
    PERFORM metric_add(NEW.agent, 'invocation_duration_seconds',
        'kind="' || metric_label(NEW.kind) || '"', GREATEST(NEW.duration_ms, 0));
    PERFORM metric_add(NEW.agent, 'tokens_total', 'phase="' || metric_label(NEW.kind) || '",type="input"', NEW.input_tokens);
    PERFORM metric_add(NEW.agent, 'tokens_total', 'phase="' || metric_label(NEW.kind) || '",type="output"', NEW.output_tokens);
    PERFORM metric_add(NEW.agent, 'tokens_total', 'phase="' || metric_label(NEW.kind) || '",type="cache_write"', NEW.cache_write_tokens);
    PERFORM metric_add(NEW.agent, 'tokens_total', 'phase="' || metric_label(NEW.kind) || '",type="cache_read"', NEW.cache_read_tokens);
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

-- The trace of a research cycle, fixed when the session is created.
ALTER TABLE agent_sessions ADD COLUMN trace_id TEXT;
-- when the creating tick began (µs since the epoch): the root span's start
ALTER TABLE agent_sessions ADD COLUMN trace_started_us BIGINT;
UPDATE agent_sessions SET trace_id = md5(random()::text || clock_timestamp()::text || id::text)
 WHERE outcome IS NULL;

-- Schema 10: per-model daily caps and model fallback (agent-budget(1)
-- --model, agent-invoke(1) FALLBACK).  A hold says which model it is for;
-- a model's day spend is its agent's holds of the day (open and expired at
-- their amount, settled at the settled cost).  An invocation row says which
-- model was asked for when another one ran, and why.
SET LOCAL statement_timeout = 0;
ALTER TABLE agent_budget_holds ADD COLUMN model TEXT;
CREATE TABLE agent_budget_model_caps (
    agent                   TEXT    NOT NULL,
    model                   TEXT    NOT NULL,
    limit_micros            BIGINT  NOT NULL CHECK (limit_micros >= 0),
    updated_at              BIGINT  NOT NULL,
    PRIMARY KEY (agent, model)
);
CREATE INDEX agent_budget_holds_model ON agent_budget_holds (agent, day, model);
ALTER TABLE agent_invocations ADD COLUMN requested_model TEXT;
ALTER TABLE agent_invocations ADD COLUMN fallback_reason TEXT;

-- budget_hold_scoped of schema 9 with the hold's model ($17, or null): an
-- agent with a model cap always takes it (budget_hold_atomic sends it
-- here), and the model's sum is read after the agent's day row is locked,
-- so concurrent holds of the agent for the model serialise on that lock.
DROP FUNCTION budget_hold_scoped(text, text, bigint, bigint, bigint, bigint, bigint, bigint, text,
    bigint, text, text, text, text, bigint, bigint);
CREATE FUNCTION budget_hold_scoped(p_agent text, p_day text, p_amount bigint, p_buffer bigint,
    p_token_limit bigint, p_tokens bigint, p_now bigint, p_expires bigint, p_note text,
    p_limit bigint, p_week_from text, p_week_to text, p_month_from text, p_month_to text,
    p_week_env bigint, p_month_env bigint, p_model text)
RETURNS TABLE (id bigint, agent text, day text, amount_micros bigint, tokens bigint,
    status text, note text, created_at bigint, expires_at bigint, refused text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_team text;
    c record;
    v_used bigint;
    v_from text;
    v_to text;
    v_cap bigint;
BEGIN
    SELECT t.team INTO v_team FROM agent_budget_teams t WHERE t.agent = p_agent;
    PERFORM 1 FROM agent_budget_caps k WHERE k.scope = 'global' ORDER BY k.period FOR UPDATE;
    IF v_team IS NOT NULL THEN
        PERFORM 1 FROM agent_budget_caps k WHERE k.scope = 'team:' || v_team
         ORDER BY k.period FOR UPDATE;
    END IF;
    INSERT INTO agent_budget (agent, day, limit_micros, created_at, updated_at)
    VALUES (p_agent, p_day, p_limit, p_now, p_now) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM agent_budget b WHERE b.agent = p_agent AND b.day = p_day FOR UPDATE;
    -- the model's day cap, under the day row's lock every hold of the agent takes
    IF p_model IS NOT NULL THEN
        SELECT m.limit_micros INTO v_cap FROM agent_budget_model_caps m
         WHERE m.agent = p_agent AND m.model = p_model;
        IF v_cap IS NOT NULL THEN
            SELECT COALESCE(SUM(CASE WHEN h.status = 'settled' THEN h.settled_micros
                                     ELSE h.amount_micros END), 0)::bigint INTO v_used
              FROM agent_budget_holds h
             WHERE h.agent = p_agent AND h.day = p_day AND h.model = p_model;
            IF v_used + p_amount > v_cap THEN
                RETURN QUERY SELECT NULL::bigint, p_agent, p_day, p_amount, p_tokens, NULL::text,
                    NULL::text, NULL::bigint, NULL::bigint, 'model:' || p_model || '/day';
                RETURN;
            END IF;
        END IF;
    END IF;
    FOR c IN
        SELECT k.scope, k.period, k.limit_micros FROM agent_budget_caps k
         WHERE k.scope = 'global' OR k.scope = 'team:' || v_team
            OR (k.scope = 'agent:' || p_agent AND k.period <> 'day')
        UNION ALL
        SELECT 'agent:' || p_agent, 'week', p_week_env WHERE p_week_env >= 0
           AND NOT EXISTS (SELECT 1 FROM agent_budget_caps k
                            WHERE k.scope = 'agent:' || p_agent AND k.period = 'week')
        UNION ALL
        SELECT 'agent:' || p_agent, 'month', p_month_env WHERE p_month_env >= 0
           AND NOT EXISTS (SELECT 1 FROM agent_budget_caps k
                            WHERE k.scope = 'agent:' || p_agent AND k.period = 'month')
    LOOP
        v_from := CASE c.period WHEN 'day' THEN p_day WHEN 'week' THEN p_week_from ELSE p_month_from END;
        v_to := CASE c.period WHEN 'day' THEN p_day WHEN 'week' THEN p_week_to ELSE p_month_to END;
        IF c.scope = 'global' THEN
            SELECT COALESCE(SUM(b.spent_micros + b.held_micros), 0)::bigint INTO v_used
              FROM agent_budget b WHERE b.day >= v_from AND b.day <= v_to;
        ELSIF c.scope LIKE 'team:%' THEN
            SELECT COALESCE(SUM(b.spent_micros + b.held_micros), 0)::bigint INTO v_used
              FROM agent_budget b JOIN agent_budget_teams t ON t.agent = b.agent
             WHERE t.team = v_team AND b.day >= v_from AND b.day <= v_to;
        ELSE
            SELECT COALESCE(SUM(b.spent_micros + b.held_micros), 0)::bigint INTO v_used
              FROM agent_budget b WHERE b.agent = p_agent AND b.day >= v_from AND b.day <= v_to;
        END IF;
        IF v_used + p_amount > c.limit_micros THEN
            RETURN QUERY SELECT NULL::bigint, p_agent, p_day, p_amount, p_tokens, NULL::text,
                NULL::text, NULL::bigint, NULL::bigint, c.scope || '/' || c.period;
            RETURN;
        END IF;
    END LOOP;
    RETURN QUERY
    WITH r AS (
        UPDATE agent_budget b
           SET held_micros = b.held_micros + p_amount, tokens_held = b.tokens_held + p_tokens,
               updated_at = p_now,
               limit_micros = CASE WHEN b.limit_set THEN b.limit_micros ELSE p_limit END
         WHERE b.agent = p_agent AND b.day = p_day
           AND b.spent_micros + b.held_micros + p_amount
               <= CASE WHEN b.limit_set THEN b.limit_micros ELSE p_limit END - p_buffer
           AND (p_token_limit = 0 OR b.tokens_used + b.tokens_held + p_tokens <= p_token_limit)
        RETURNING b.agent, b.day)
    INSERT INTO agent_budget_holds AS h (agent, day, amount_micros, tokens, note, created_at, expires_at, model)
    SELECT r.agent, r.day, p_amount, p_tokens, p_note, p_now, p_expires, p_model FROM r
    RETURNING h.id, h.agent, h.day, h.amount_micros::bigint, h.tokens::bigint, h.status, h.note,
              h.created_at::bigint, h.expires_at::bigint, NULL::text;
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::bigint, p_agent, p_day, p_amount, p_tokens, NULL::text,
            NULL::text, NULL::bigint, NULL::bigint, 'agent:' || p_agent || '/day';
    END IF;
END $$;

-- agent_model_fallbacks_total{from,to,reason}: schema 7's trigger function
-- with the fallback counted
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
    IF NEW.fallback_reason IS NOT NULL THEN
        PERFORM metric_add(NEW.agent, 'model_fallbacks_total',
            'from="' || metric_label(NEW.requested_model) || '",to="' || metric_label(NEW.model)
            || '",reason="' || metric_label(NEW.fallback_reason) || '"', 1);
    END IF;
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

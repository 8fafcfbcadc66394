-- Schema 9: budget scopes beyond the agent's day (agent-budget(1) SCOPES):
-- caps per scope ('agent:NAME', 'team:NAME', 'global') and period (day,
-- ISO week, calendar month, all UTC), and the team each agent belongs to.
-- What a scope has spent and holds is the sum of its agents' daily rows
-- (agent_budget) over the period's days, so settling and expiring stay
-- what they were: one agent's day row.
SET LOCAL statement_timeout = 0;
CREATE TABLE agent_budget_caps (
    scope                   TEXT    NOT NULL,
    period                  TEXT    NOT NULL CHECK (period IN ('day','week','month')),
    limit_micros            BIGINT  NOT NULL CHECK (limit_micros >= 0),
    updated_at              BIGINT  NOT NULL,
    PRIMARY KEY (scope, period)
);
CREATE TABLE agent_budget_teams (
    agent                   TEXT    PRIMARY KEY,
    team                    TEXT    NOT NULL,
    updated_at              BIGINT  NOT NULL
);
CREATE INDEX agent_budget_teams_team ON agent_budget_teams (team);
CREATE INDEX agent_budget_day ON agent_budget (day);

-- The scoped admission in one call (one round trip, its own transaction
-- when the caller has none).  Locks in a fixed order -- the global caps,
-- the team's caps, then the agent's day row -- so concurrent holders on
-- many hosts serialise per scope and never deadlock; each later statement
-- of this VOLATILE function takes a fresh snapshot (READ COMMITTED), so the
-- sums below see every hold committed before the locks were granted.
-- $1..$10 as budget_hold_atomic; the periods' first and last days; the
-- environment's week and month caps of the agent (-1: none).  Returns the
-- hold, or one row with refused = 'SCOPE/PERIOD' and no id.
CREATE FUNCTION budget_hold_scoped(p_agent text, p_day text, p_amount bigint, p_buffer bigint,
    p_token_limit bigint, p_tokens bigint, p_now bigint, p_expires bigint, p_note text,
    p_limit bigint, p_week_from text, p_week_to text, p_month_from text, p_month_to text,
    p_week_env bigint, p_month_env bigint)
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
    INSERT INTO agent_budget_holds AS h (agent, day, amount_micros, tokens, note, created_at, expires_at)
    SELECT r.agent, r.day, p_amount, p_tokens, p_note, p_now, p_expires FROM r
    RETURNING h.id, h.agent, h.day, h.amount_micros::bigint, h.tokens::bigint, h.status, h.note,
              h.created_at::bigint, h.expires_at::bigint, NULL::text;
    IF NOT FOUND THEN
        RETURN QUERY SELECT NULL::bigint, p_agent, p_day, p_amount, p_tokens, NULL::text,
            NULL::text, NULL::bigint, NULL::bigint, 'agent:' || p_agent || '/day';
    END IF;
END $$;

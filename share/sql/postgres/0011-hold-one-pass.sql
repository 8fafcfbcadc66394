-- Schema 11: budget_hold_scoped of schema 10 in fewer statements, the
-- admission the same (agent-budget(1) SCOPES).  Schema 10 ran nine
-- statements a hold, seven of them under the scope's lock; this one runs
-- three, two under the lock, so a hold of a team or under a global cap
-- passes the lock nearly as fast as an agent's alone (bench/scopes.sh):
--   1. the agent's team and every cap that applies, in one read (before
--      any lock: configuration);
--   2. one row lock: the first global cap's row, else the first of the
--      team's caps, else (caps of the agent's own only: its week, month, a
--      model's) its day row -- the widest scope serialises the narrower;
--   3. one statement, in a snapshot taken after the lock (every hold
--      committed before it is in the sums): every scope's sums over the
--      periods and the model's day, the first cap refusing, the day row's
--      reservation (its limit and tokens) and the hold row -- or the cap
--      that refused.
-- The day's first hold makes the day row and runs 3 again.  Refusal order:
-- the model's cap, then global, team, the agent's own (month, week), and
-- the day last; each 'SCOPE/PERIOD'.
SET LOCAL statement_timeout = 0;
CREATE OR REPLACE FUNCTION budget_hold_scoped(p_agent text, p_day text, p_amount bigint,
    p_buffer bigint, p_token_limit bigint, p_tokens bigint, p_now bigint, p_expires bigint,
    p_note text, p_limit bigint, p_week_from text, p_week_to text, p_month_from text,
    p_month_to text, p_week_env bigint, p_month_env bigint, p_model text)
RETURNS TABLE (id bigint, agent text, day text, amount_micros bigint, tokens bigint,
    status text, note text, created_at bigint, expires_at bigint, refused text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_team text;
    g_d bigint; g_m bigint; g_w bigint;
    t_d bigint; t_m bigint; t_w bigint;
    a_m bigint; a_w bigint;
    v_cap bigint;
    v_row boolean := true;   -- the day row is there (or assumed so)
    v_made boolean := false; -- this call made it
    r record;
BEGIN
    SELECT (SELECT t.team FROM agent_budget_teams t WHERE t.agent = p_agent),
           max(k.limit_micros) FILTER (WHERE k.scope = 'global' AND k.period = 'day'),
           max(k.limit_micros) FILTER (WHERE k.scope = 'global' AND k.period = 'month'),
           max(k.limit_micros) FILTER (WHERE k.scope = 'global' AND k.period = 'week'),
           max(k.limit_micros) FILTER (WHERE k.scope LIKE 'team:%' AND k.period = 'day'),
           max(k.limit_micros) FILTER (WHERE k.scope LIKE 'team:%' AND k.period = 'month'),
           max(k.limit_micros) FILTER (WHERE k.scope LIKE 'team:%' AND k.period = 'week'),
           max(k.limit_micros) FILTER (WHERE k.scope LIKE 'agent:%' AND k.period = 'month'),
           max(k.limit_micros) FILTER (WHERE k.scope LIKE 'agent:%' AND k.period = 'week'),
           (SELECT m.limit_micros FROM agent_budget_model_caps m
             WHERE m.agent = p_agent AND m.model = p_model)
      INTO v_team, g_d, g_m, g_w, t_d, t_m, t_w, a_m, a_w, v_cap
      FROM agent_budget_caps k
     WHERE k.scope = 'global'
        OR k.scope = 'team:' || (SELECT t.team FROM agent_budget_teams t WHERE t.agent = p_agent)
        OR k.scope = 'agent:' || p_agent;
    IF a_m IS NULL AND p_month_env >= 0 THEN a_m := p_month_env; END IF;
    IF a_w IS NULL AND p_week_env >= 0 THEN a_w := p_week_env; END IF;

    -- one row lock serialises every hold the sums below depend on: a
    -- global cap's row (every hold of every agent takes it while there is
    -- one), else a team cap's (every hold of the team's agents), else the
    -- agent's day row
    IF COALESCE(g_d, g_m, g_w) IS NOT NULL THEN
        PERFORM 1 FROM agent_budget_caps k WHERE k.scope = 'global'
         ORDER BY k.period LIMIT 1 FOR UPDATE;
    ELSIF COALESCE(t_d, t_m, t_w) IS NOT NULL THEN
        PERFORM 1 FROM agent_budget_caps k WHERE k.scope = 'team:' || v_team
         ORDER BY k.period LIMIT 1 FOR UPDATE;
    ELSE
        PERFORM 1 FROM agent_budget b WHERE b.agent = p_agent AND b.day = p_day FOR UPDATE;
        v_row := FOUND;
    END IF;

    FOR pass IN 1..2 LOOP
        IF NOT v_row THEN
            -- the day's first hold: its row (locked by the insert), then 3
            INSERT INTO agent_budget (agent, day, limit_micros, created_at, updated_at)
            VALUES (p_agent, p_day, p_limit, p_now, p_now) ON CONFLICT DO NOTHING;
            PERFORM 1 FROM agent_budget b WHERE b.agent = p_agent AND b.day = p_day FOR UPDATE;
            v_made := true;
        END IF;
        WITH s AS (
            SELECT COALESCE(SUM(b.spent_micros + b.held_micros) FILTER (WHERE b.day = p_day), 0) AS gd,
                   COALESCE(SUM(b.spent_micros + b.held_micros)
                            FILTER (WHERE b.day >= p_month_from AND b.day <= p_month_to), 0) AS gm,
                   COALESCE(SUM(b.spent_micros + b.held_micros)
                            FILTER (WHERE b.day >= p_week_from AND b.day <= p_week_to), 0) AS gw,
                   COALESCE(SUM(b.spent_micros + b.held_micros)
                            FILTER (WHERE t.team = v_team AND b.day = p_day), 0) AS td,
                   COALESCE(SUM(b.spent_micros + b.held_micros)
                            FILTER (WHERE t.team = v_team AND b.day >= p_month_from
                                      AND b.day <= p_month_to), 0) AS tm,
                   COALESCE(SUM(b.spent_micros + b.held_micros)
                            FILTER (WHERE t.team = v_team AND b.day >= p_week_from
                                      AND b.day <= p_week_to), 0) AS tw,
                   COALESCE(SUM(b.spent_micros + b.held_micros)
                            FILTER (WHERE b.agent = p_agent AND b.day >= p_month_from
                                      AND b.day <= p_month_to), 0) AS am,
                   COALESCE(SUM(b.spent_micros + b.held_micros)
                            FILTER (WHERE b.agent = p_agent AND b.day >= p_week_from
                                      AND b.day <= p_week_to), 0) AS aw,
                   (SELECT COALESCE(SUM(CASE WHEN h.status = 'settled' THEN h.settled_micros
                                             ELSE h.amount_micros END), 0)
                      FROM agent_budget_holds h
                     WHERE v_cap IS NOT NULL
                       AND h.agent = p_agent AND h.day = p_day AND h.model = p_model) AS mu
              FROM agent_budget b LEFT JOIN agent_budget_teams t ON t.agent = b.agent
             WHERE COALESCE(g_d, g_m, g_w, t_d, t_m, t_w, a_m, a_w) IS NOT NULL
               AND b.day >= LEAST(p_week_from, p_month_from)
               AND b.day <= GREATEST(p_week_to, p_month_to)
               AND (COALESCE(g_d, g_m, g_w) IS NOT NULL OR t.team = v_team OR b.agent = p_agent)),
        v AS (
            SELECT CASE
                WHEN s.mu + p_amount > v_cap THEN 'model:' || p_model || '/day'
                WHEN s.gd + p_amount > g_d THEN 'global/day'
                WHEN s.gm + p_amount > g_m THEN 'global/month'
                WHEN s.gw + p_amount > g_w THEN 'global/week'
                WHEN s.td + p_amount > t_d THEN 'team:' || v_team || '/day'
                WHEN s.tm + p_amount > t_m THEN 'team:' || v_team || '/month'
                WHEN s.tw + p_amount > t_w THEN 'team:' || v_team || '/week'
                WHEN s.am + p_amount > a_m THEN 'agent:' || p_agent || '/month'
                WHEN s.aw + p_amount > a_w THEN 'agent:' || p_agent || '/week'
            END AS why FROM s),
        u AS (
            UPDATE agent_budget b
               SET held_micros = b.held_micros + p_amount, tokens_held = b.tokens_held + p_tokens,
                   updated_at = p_now,
                   limit_micros = CASE WHEN b.limit_set THEN b.limit_micros ELSE p_limit END
             WHERE b.agent = p_agent AND b.day = p_day
               AND b.spent_micros + b.held_micros + p_amount
                   <= CASE WHEN b.limit_set THEN b.limit_micros ELSE p_limit END - p_buffer
               AND (p_token_limit = 0 OR b.tokens_used + b.tokens_held + p_tokens <= p_token_limit)
               AND (SELECT v.why FROM v) IS NULL
            RETURNING b.agent, b.day),
        h AS (
            INSERT INTO agent_budget_holds AS h (agent, day, amount_micros, tokens, note,
                                                 created_at, expires_at, model)
            SELECT u.agent, u.day, p_amount, p_tokens, p_note, p_now, p_expires, p_model FROM u
            RETURNING h.id, h.agent, h.day, h.amount_micros, h.tokens, h.status, h.note,
                      h.created_at, h.expires_at)
        SELECT h.id::bigint AS id, h.agent, h.day, h.amount_micros::bigint AS amount_micros,
               h.tokens::bigint AS tokens, h.status, h.note, h.created_at::bigint AS created_at,
               h.expires_at::bigint AS expires_at, NULL::text AS why,
               true AS row_seen
          FROM h
        UNION ALL
        SELECT NULL::bigint, p_agent, p_day, p_amount, p_tokens, NULL::text, NULL::text,
               NULL::bigint, NULL::bigint, (SELECT v.why FROM v),
               EXISTS (SELECT 1 FROM agent_budget b WHERE b.agent = p_agent AND b.day = p_day)
         WHERE NOT EXISTS (SELECT 1 FROM h)
          INTO r;
        -- held, refused by a cap, or refused by a day row that exists:
        -- done; only a missing row, not yet made, runs 3 again
        IF r.id IS NOT NULL OR r.why IS NOT NULL OR r.row_seen OR v_made THEN
            EXIT;
        END IF;
        v_row := false;
    END LOOP;
    RETURN QUERY SELECT r.id, r.agent, r.day, r.amount_micros, r.tokens, r.status, r.note,
        r.created_at, r.expires_at,
        CASE WHEN r.id IS NULL THEN COALESCE(r.why, 'agent:' || p_agent || '/day') END;
END $$;

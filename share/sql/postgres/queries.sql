-- PostgreSQL forms of statements whose syntax differs from queries.sql.

-- name: begin
BEGIN

-- name: commit
COMMIT

-- name: rollback
ROLLBACK

-- name: schema_lock
SELECT pg_advisory_xact_lock(72616765)

-- name: schema_no_timeout
-- A migration may take long on a big store: no statement timeout for it.
SET LOCAL statement_timeout = 0

-- name: schema_exists
SELECT to_regclass('schema_migrations')::text AS name
 WHERE to_regclass('schema_migrations') IS NOT NULL

-- name: schema_create
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at BIGINT  NOT NULL
)

-- name: schema_record
INSERT INTO schema_migrations (version, name, applied_at)
VALUES ($1, $2, extract(epoch FROM now())::bigint)

-- name: budget_hold_atomic
-- The reservation and the hold row in one statement: one round trip, atomic
-- without a transaction; the budget row's lock is held for this statement
-- only.  $1 agent, $2 day, $3 amount, $4 buffer, $5 token limit (0: none),
-- $6 tokens, $7 now, $8 expires at, $9 note, $10 limit from the environment
-- (see budget_reserve), $11..$14 the week's and month's first and last days,
-- $15 / $16 the environment's week / month cap (-1: none), $17 the hold's
-- model (or null).  An agent under a wider cap (a week or month, its team's,
-- the global, a model's) is held by budget_hold_scoped in the same statement
-- (its branch runs only then: a one-time filter), so either way it is one
-- round trip.  No row: the day row is missing or the day is full; the
-- caller asks budget_hold_scoped, which makes the row or says why.
WITH k AS (
    SELECT $15::bigint >= 0 OR $16::bigint >= 0
        OR EXISTS (SELECT 1 FROM agent_budget_caps c
                    WHERE c.scope = 'global' OR (c.scope = 'agent:' || $1 AND c.period <> 'day')
                       OR c.scope = (SELECT 'team:' || t.team FROM agent_budget_teams t
                                      WHERE t.agent = $1))
        OR EXISTS (SELECT 1 FROM agent_budget_model_caps m WHERE m.agent = $1) AS scoped),
r AS (
    UPDATE agent_budget
       SET held_micros = held_micros + $3, tokens_held = tokens_held + $6, updated_at = $7,
           limit_micros = CASE WHEN limit_set THEN limit_micros ELSE $10 END
     WHERE agent = $1 AND day = $2
       AND spent_micros + held_micros + $3 <= CASE WHEN limit_set THEN limit_micros ELSE $10 END - $4
       AND ($5 = 0 OR tokens_used + tokens_held + $6 <= $5)
       AND NOT (SELECT scoped FROM k)
    RETURNING agent, day),
h AS (
    INSERT INTO agent_budget_holds (agent, day, amount_micros, tokens, note, created_at, expires_at, model)
    SELECT agent, day, $3, $6, $9, $7, $8, $17::text FROM r
    RETURNING id, agent, day, amount_micros, tokens, status, note, created_at, expires_at)
SELECT id, agent, day, amount_micros, tokens, status, note, created_at, expires_at,
       NULL::text AS refused
  FROM h
UNION ALL
SELECT f.id, f.agent, f.day, f.amount_micros, f.tokens, f.status, f.note, f.created_at,
       f.expires_at, f.refused
  FROM budget_hold_scoped($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                          $17::text) f
 WHERE (SELECT scoped FROM k)

-- name: budget_hold_scoped
-- Every cap of the agent's scopes, in one call (schema 9's function), the
-- day row made when missing.  $1..$10 as budget_hold_atomic, $11..$14 the week's and month's first and
-- last days, $15 / $16 the environment's week / month cap (-1: none), $17
-- the hold's model (or null; schema 10 checks its day cap).
SELECT id, agent, day, amount_micros, tokens, status, note, created_at, expires_at, refused
  FROM budget_hold_scoped($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                          $17::text)

-- name: budget_settle_atomic
-- $1 id, $2 actual cost, $3 actual tokens, $4 now (see budget_hold_close)
WITH h AS (
    UPDATE agent_budget_holds
       SET status = 'settled', settled_micros = $2, settled_tokens = $3, settled_at = $4
     WHERE id = $1 AND status = 'open' AND expires_at > $4
    RETURNING id, agent, day, amount_micros, tokens)
UPDATE agent_budget b
   SET held_micros = b.held_micros - h.amount_micros, spent_micros = b.spent_micros + $2,
       tokens_held = b.tokens_held - h.tokens, tokens_used = b.tokens_used + $3,
       invocations = b.invocations + 1, updated_at = $4
  FROM h
 WHERE b.agent = h.agent AND b.day = h.day
RETURNING h.id, h.agent, h.day, h.amount_micros, h.tokens

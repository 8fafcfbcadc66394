-- Schema 8: the platform's own metric names and one trace per research cycle.
--
-- KTRDR's agent metrics (ktrdr/agents/metrics.py in kpiteira/ktrdr) count
-- agent_cycles_total by outcome completed / failed / cancelled and
-- agent_tokens_total by phase, and its "agent research" dashboard queries
-- those labels.  From now on cycles_total carries outcome in that
-- vocabulary and the session's own outcome (success, failed_training_gate,
-- ...) as detail; tokens_total carries the invocation kind as phase beside
-- the type.  The rollups counted so far are relabelled here, from the
-- counts themselves (cycles) and from the history (tokens: every
-- invocation already folded, grouped by kind), in this one transaction.
UPDATE metric_rollups
   SET labels = 'detail="' || substr(labels, 10, length(labels) - 10) || '",outcome="'
                || CASE substr(labels, 10, length(labels) - 10)
                   WHEN 'success' THEN 'completed' WHEN 'cancelled' THEN 'cancelled' ELSE 'failed' END
                || '"'
 WHERE name = 'cycles_total' AND labels LIKE 'outcome="%"';

DELETE FROM metric_rollups WHERE name = 'tokens_total';
INSERT INTO metric_rollups (agent, name, labels, idx, n, total)
SELECT agent, 'tokens_total', 'phase="' || replace(replace(replace(kind, '\', '\\'), '"', '\"'), char(10), '\n')
       || '",type="' || t.type || '"', 0, COUNT(*),
       SUM(CASE t.type WHEN 'input' THEN input_tokens WHEN 'output' THEN output_tokens
                       WHEN 'cache_write' THEN cache_write_tokens ELSE cache_read_tokens END)
  FROM agent_invocations,
       (SELECT 'input' AS type UNION ALL SELECT 'output' UNION ALL SELECT 'cache_write'
        UNION ALL SELECT 'cache_read') t
 WHERE id NOT IN (SELECT ref FROM metric_pending WHERE kind = 'invocation')
 GROUP BY agent, kind, t.type;

-- The trace of a research cycle (lib/net/trace.c: trace_cycle_*): fixed
-- when the session is created, so that every tick serving the session adds
-- its spans to the one trace.  Sessions still active get one now.
ALTER TABLE agent_sessions ADD COLUMN trace_id TEXT;
-- when the creating tick began (µs since the epoch): the root span's start
ALTER TABLE agent_sessions ADD COLUMN trace_started_us INTEGER;
UPDATE agent_sessions SET trace_id = lower(hex(randomblob(16))) WHERE outcome IS NULL;

-- Schema 5 (SQLite): the rollups are folded in when they are read, not by
-- triggers that do the arithmetic in every writer.
--
-- SQLite parses every trigger and view of the schema when a connection
-- opens, and compiles a table's triggers into each statement that writes
-- it.  A tick is five short-lived processes: the rollup triggers of schema 3
-- were half of the parse of every open and ~0.25 ms of compiling in the
-- tick's writers (the idle tick: 6.8 ms with them, 5.8 ms with these).
-- The triggers that stay are one INSERT each: the row's id goes to
-- metric_pending in the writer's own transaction (a row and its counts still
-- commit or roll back together, whoever writes), and the fold
-- (queries.sql: metrics_fold) turns the pending rows into rollups the way
-- schema 3's triggers did, in the transaction that deletes them.
-- agent-metrics-agg folds before it renders and when a tick ends a session.
-- PostgreSQL compiles its triggers once, server-side: it keeps schema 3.
DROP TRIGGER IF EXISTS metric_session_created;
DROP TRIGGER IF EXISTS metric_session_ended;
DROP TRIGGER IF EXISTS metric_training_gate;
DROP TRIGGER IF EXISTS metric_backtest_gate;
DROP TRIGGER IF EXISTS metric_tick_finished;
DROP TRIGGER IF EXISTS metric_tick_inserted_finished;
DROP TRIGGER IF EXISTS metric_invocation;
DROP TRIGGER IF EXISTS metric_action;
DROP TRIGGER IF EXISTS metric_observe_insert;
DROP TRIGGER IF EXISTS metric_session_end_insert;
DROP TRIGGER IF EXISTS metric_gate_insert;
DROP TRIGGER IF EXISTS metric_tick_end_insert;
DROP VIEW IF EXISTS metric_observe;
DROP VIEW IF EXISTS metric_session_end;
DROP VIEW IF EXISTS metric_gate;
DROP VIEW IF EXISTS metric_tick_end;

-- One row per event, in the writer's transaction: its kind, the agent, the
-- row (ref: its id in agent_sessions, agent_triggers, agent_invocations or
-- agent_actions), and in v what the count needs as it was at the event,
-- for the rows that change later (an ended session's times, a gate's
-- verdict as JSON text, a finished tick): schema 3's triggers counted
-- those values, and a later write (agent-cycle recording a failure on a
-- tick the last stage had closed) must not change the count.  Invocations
-- and tool calls are written once: the fold reads them.
CREATE TABLE metric_pending (
    id                      INTEGER PRIMARY KEY,
    kind                    TEXT    NOT NULL,
    agent                   TEXT    NOT NULL,
    ref                     INTEGER NOT NULL,
    v                       TEXT
);

CREATE TRIGGER metric_session_created AFTER INSERT ON agent_sessions
BEGIN
    INSERT INTO metric_pending (kind, agent, ref) VALUES ('session_created', NEW.agent, NEW.id);
    INSERT INTO metric_pending (kind, agent, ref, v)
    SELECT 'session_ended', NEW.agent, NEW.id,
           json_object('outcome', NEW.outcome, 'created_at', NEW.created_at, 'designing_at', NEW.designing_at,
                       'training_at', NEW.training_at, 'backtesting_at', NEW.backtesting_at,
                       'assessing_at', NEW.assessing_at, 'ended_at', COALESCE(NEW.completed_at, NEW.updated_at))
     WHERE NEW.outcome IS NOT NULL;
    INSERT INTO metric_pending (kind, agent, ref, v)
    SELECT 'training_gate', NEW.agent, NEW.id, NEW.training_gate WHERE NEW.training_gate IS NOT NULL;
    INSERT INTO metric_pending (kind, agent, ref, v)
    SELECT 'backtest_gate', NEW.agent, NEW.id, NEW.backtest_gate WHERE NEW.backtest_gate IS NOT NULL;
END;

CREATE TRIGGER metric_session_ended AFTER UPDATE OF outcome ON agent_sessions
WHEN OLD.outcome IS NULL AND NEW.outcome IS NOT NULL
BEGIN
    INSERT INTO metric_pending (kind, agent, ref, v)
    VALUES ('session_ended', NEW.agent, NEW.id,
            json_object('outcome', NEW.outcome, 'created_at', NEW.created_at, 'designing_at', NEW.designing_at,
                        'training_at', NEW.training_at, 'backtesting_at', NEW.backtesting_at,
                        'assessing_at', NEW.assessing_at, 'ended_at', COALESCE(NEW.completed_at, NEW.updated_at)));
END;

CREATE TRIGGER metric_training_gate AFTER UPDATE OF training_gate ON agent_sessions
WHEN OLD.training_gate IS NULL AND NEW.training_gate IS NOT NULL
BEGIN
    INSERT INTO metric_pending (kind, agent, ref, v) VALUES ('training_gate', NEW.agent, NEW.id, NEW.training_gate);
END;

CREATE TRIGGER metric_backtest_gate AFTER UPDATE OF backtest_gate ON agent_sessions
WHEN OLD.backtest_gate IS NULL AND NEW.backtest_gate IS NOT NULL
BEGIN
    INSERT INTO metric_pending (kind, agent, ref, v) VALUES ('backtest_gate', NEW.agent, NEW.id, NEW.backtest_gate);
END;

CREATE TRIGGER metric_tick_finished AFTER UPDATE OF exit_status ON agent_triggers
WHEN OLD.exit_status IS NULL AND NEW.exit_status IS NOT NULL
BEGIN
    INSERT INTO metric_pending (kind, agent, ref, v)
    VALUES ('tick', NEW.agent, NEW.id,
            json_object('event', NEW.event, 'invoked', NEW.invoked, 'duration_ms', NEW.duration_ms,
                        'exit_status', NEW.exit_status, 'failed_stage', NEW.failed_stage));
END;

CREATE TRIGGER metric_tick_inserted_finished AFTER INSERT ON agent_triggers
WHEN NEW.exit_status IS NOT NULL
BEGIN
    INSERT INTO metric_pending (kind, agent, ref, v)
    VALUES ('tick', NEW.agent, NEW.id,
            json_object('event', NEW.event, 'invoked', NEW.invoked, 'duration_ms', NEW.duration_ms,
                        'exit_status', NEW.exit_status, 'failed_stage', NEW.failed_stage));
END;

CREATE TRIGGER metric_invocation AFTER INSERT ON agent_invocations
BEGIN
    INSERT INTO metric_pending (kind, agent, ref) VALUES ('invocation', NEW.agent, NEW.id);
END;

CREATE TRIGGER metric_action AFTER INSERT ON agent_actions
BEGIN
    INSERT INTO metric_pending (kind, agent, ref) VALUES ('action', NEW.agent, NEW.id);
END;

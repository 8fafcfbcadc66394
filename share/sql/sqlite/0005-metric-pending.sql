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
DROP TRIGGER metric_session_created;
DROP TRIGGER metric_session_ended;
DROP TRIGGER metric_training_gate;
DROP TRIGGER metric_backtest_gate;
DROP TRIGGER metric_tick_finished;
DROP TRIGGER metric_tick_inserted_finished;
DROP TRIGGER metric_invocation;
DROP TRIGGER metric_action;
DROP TRIGGER metric_observe_insert;
DROP TRIGGER metric_session_end_insert;
DROP TRIGGER metric_gate_insert;
DROP TRIGGER metric_tick_end_insert;
DROP VIEW metric_observe;
DROP VIEW metric_session_end;
DROP VIEW metric_gate;
DROP VIEW metric_tick_end;

-- kind: session_created, session_ended, training_gate, backtest_gate (ref
-- an agent_sessions id), tick (agent_triggers), invocation
-- (agent_invocations), action (agent_actions).
CREATE TABLE metric_pending (
    id                      INTEGER PRIMARY KEY,
    kind                    TEXT    NOT NULL,
    ref                     INTEGER NOT NULL
);

CREATE TRIGGER metric_session_created AFTER INSERT ON agent_sessions
BEGIN
    INSERT INTO metric_pending (kind, ref) VALUES ('session_created', NEW.id);
    INSERT INTO metric_pending (kind, ref) SELECT 'session_ended', NEW.id WHERE NEW.outcome IS NOT NULL;
    INSERT INTO metric_pending (kind, ref) SELECT 'training_gate', NEW.id WHERE NEW.training_gate IS NOT NULL;
    INSERT INTO metric_pending (kind, ref) SELECT 'backtest_gate', NEW.id WHERE NEW.backtest_gate IS NOT NULL;
END;

CREATE TRIGGER metric_session_ended AFTER UPDATE OF outcome ON agent_sessions
WHEN OLD.outcome IS NULL AND NEW.outcome IS NOT NULL
BEGIN
    INSERT INTO metric_pending (kind, ref) VALUES ('session_ended', NEW.id);
END;

CREATE TRIGGER metric_training_gate AFTER UPDATE OF training_gate ON agent_sessions
WHEN OLD.training_gate IS NULL AND NEW.training_gate IS NOT NULL
BEGIN
    INSERT INTO metric_pending (kind, ref) VALUES ('training_gate', NEW.id);
END;

CREATE TRIGGER metric_backtest_gate AFTER UPDATE OF backtest_gate ON agent_sessions
WHEN OLD.backtest_gate IS NULL AND NEW.backtest_gate IS NOT NULL
BEGIN
    INSERT INTO metric_pending (kind, ref) VALUES ('backtest_gate', NEW.id);
END;

CREATE TRIGGER metric_tick_finished AFTER UPDATE OF exit_status ON agent_triggers
WHEN OLD.exit_status IS NULL AND NEW.exit_status IS NOT NULL
BEGIN
    INSERT INTO metric_pending (kind, ref) VALUES ('tick', NEW.id);
END;

CREATE TRIGGER metric_tick_inserted_finished AFTER INSERT ON agent_triggers
WHEN NEW.exit_status IS NOT NULL
BEGIN
    INSERT INTO metric_pending (kind, ref) VALUES ('tick', NEW.id);
END;

CREATE TRIGGER metric_invocation AFTER INSERT ON agent_invocations
BEGIN
    INSERT INTO metric_pending (kind, ref) VALUES ('invocation', NEW.id);
END;

CREATE TRIGGER metric_action AFTER INSERT ON agent_actions
BEGIN
    INSERT INTO metric_pending (kind, ref) VALUES ('action', NEW.id);
END;

-- Schema 1: every table of DESIGN §5.  Times are Unix seconds (UTC);
-- money is integer micro-dollars; JSON columns hold JSON text.
CREATE TABLE agent_sessions (
    id                      INTEGER PRIMARY KEY,
    agent                   TEXT    NOT NULL DEFAULT 'default',
    phase                   TEXT    NOT NULL DEFAULT 'idle'
        CHECK (phase IN ('idle','designing','training','backtesting','assessing')),
    outcome                 TEXT
        CHECK (outcome IS NULL OR outcome IN ('success','failed_design','failed_training',
            'failed_training_gate','failed_backtest','failed_backtest_gate',
            'failed_assessment','cancelled','failed_interrupted','failed_orphan')),
    strategy_name           TEXT,
    strategy_config         JSON,
    strategy_path           TEXT,
    training_operation_id   TEXT,
    training_results        JSON,
    backtest_operation_id   TEXT,
    backtest_results        JSON,
    assessment              JSON,
    training_gate           JSON,
    backtest_gate           JSON,
    progress                JSON,
    failure_reason          TEXT,
    retry_count             INTEGER NOT NULL DEFAULT 0,
    invoke_attempts         INTEGER NOT NULL DEFAULT 0,
    conn_failures           INTEGER NOT NULL DEFAULT 0,
    designing_at            INTEGER,
    training_at             INTEGER,
    backtesting_at          INTEGER,
    assessing_at            INTEGER,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    completed_at            INTEGER
);
CREATE INDEX agent_sessions_active ON agent_sessions (agent) WHERE phase <> 'idle';
CREATE INDEX agent_sessions_recent ON agent_sessions (agent, id DESC);
CREATE INDEX agent_sessions_outcome ON agent_sessions (agent, outcome, id DESC);

CREATE TABLE agent_invocations (
    id                      INTEGER PRIMARY KEY,
    agent                   TEXT    NOT NULL DEFAULT 'default',
    session_id              INTEGER REFERENCES agent_sessions (id) ON DELETE CASCADE,
    tick_id                 TEXT,
    kind                    TEXT    NOT NULL,
    model                   TEXT    NOT NULL,
    request_id              TEXT,
    stop_reason             TEXT,
    input_tokens            INTEGER NOT NULL DEFAULT 0,
    output_tokens           INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens       INTEGER NOT NULL DEFAULT 0,
    cost_micros             INTEGER NOT NULL DEFAULT 0,
    hold_id                 INTEGER,
    attempts                INTEGER NOT NULL DEFAULT 1,
    duration_ms             INTEGER NOT NULL DEFAULT 0,
    status                  TEXT    NOT NULL,
    error                   TEXT,
    created_at              INTEGER NOT NULL
);
CREATE INDEX agent_invocations_session ON agent_invocations (session_id, id);
CREATE INDEX agent_invocations_recent ON agent_invocations (agent, id DESC);

CREATE TABLE agent_actions (
    id                      INTEGER PRIMARY KEY,
    agent                   TEXT    NOT NULL DEFAULT 'default',
    session_id              INTEGER REFERENCES agent_sessions (id) ON DELETE CASCADE,
    invocation_id           INTEGER,
    tick_id                 TEXT,
    tool_use_id             TEXT,
    tool_name               TEXT    NOT NULL,
    arguments               JSON,
    result                  JSON,
    success                 BOOLEAN NOT NULL DEFAULT 1,
    error                   TEXT,
    duration_ms             INTEGER NOT NULL DEFAULT 0,
    created_at              INTEGER NOT NULL
);
CREATE INDEX agent_actions_session ON agent_actions (session_id, id);
CREATE INDEX agent_actions_recent ON agent_actions (agent, id DESC);

CREATE TABLE agent_triggers (
    id                      INTEGER PRIMARY KEY,
    agent                   TEXT    NOT NULL DEFAULT 'default',
    tick_id                 TEXT    NOT NULL UNIQUE,
    at                      INTEGER NOT NULL,
    event                   TEXT    NOT NULL,
    action                  TEXT,
    reason                  TEXT,
    session_id              INTEGER,
    invoked                 BOOLEAN NOT NULL DEFAULT 0,
    skip_reason             TEXT,
    budget_spent_micros     INTEGER,
    budget_remaining_micros INTEGER,
    duration_ms             INTEGER,
    exit_status             INTEGER,
    failed_stage            TEXT
);
CREATE INDEX agent_triggers_recent ON agent_triggers (agent, id DESC);
CREATE INDEX agent_triggers_session ON agent_triggers (session_id, id);

CREATE TABLE agent_metrics (
    session_id              INTEGER PRIMARY KEY REFERENCES agent_sessions (id) ON DELETE CASCADE,
    agent                   TEXT    NOT NULL DEFAULT 'default',
    outcome                 TEXT    NOT NULL,
    failed_gate             TEXT,
    strategy_name           TEXT,
    cycle_started_at        INTEGER NOT NULL,
    cycle_completed_at      INTEGER NOT NULL,
    cycle_seconds           REAL,
    designing_seconds       REAL,
    training_seconds        REAL,
    backtesting_seconds     REAL,
    assessing_seconds       REAL,
    training_accuracy       REAL,
    training_loss           REAL,
    training_epochs         INTEGER,
    backtest_sharpe         REAL,
    backtest_win_rate       REAL,
    backtest_max_drawdown   REAL,
    backtest_trades         INTEGER,
    backtest_profit_factor  REAL,
    invocations             INTEGER NOT NULL DEFAULT 0,
    input_tokens            INTEGER NOT NULL DEFAULT 0,
    output_tokens           INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens      INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens       INTEGER NOT NULL DEFAULT 0,
    cost_micros             INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX agent_metrics_completed ON agent_metrics (agent, cycle_completed_at DESC);

CREATE TABLE agent_budget (
    agent                   TEXT    NOT NULL,
    day                     TEXT    NOT NULL,
    limit_micros            INTEGER NOT NULL CHECK (limit_micros >= 0),
    limit_set               BOOLEAN NOT NULL DEFAULT 0,
    spent_micros            INTEGER NOT NULL DEFAULT 0 CHECK (spent_micros >= 0),
    held_micros             INTEGER NOT NULL DEFAULT 0 CHECK (held_micros >= 0),
    tokens_used             INTEGER NOT NULL DEFAULT 0,
    tokens_held             INTEGER NOT NULL DEFAULT 0,
    invocations             INTEGER NOT NULL DEFAULT 0,
    cycles_started          INTEGER NOT NULL DEFAULT 0,
    cycles_completed        INTEGER NOT NULL DEFAULT 0,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    PRIMARY KEY (agent, day)
);

CREATE TABLE agent_budget_holds (
    id                      INTEGER PRIMARY KEY,
    agent                   TEXT    NOT NULL,
    day                     TEXT    NOT NULL,
    amount_micros           INTEGER NOT NULL CHECK (amount_micros >= 0),
    tokens                  INTEGER NOT NULL DEFAULT 0,
    status                  TEXT    NOT NULL DEFAULT 'open'
        CHECK (status IN ('open','settled','expired')),
    settled_micros          INTEGER,
    settled_tokens          INTEGER,
    note                    TEXT,
    created_at              INTEGER NOT NULL,
    expires_at              INTEGER NOT NULL,
    settled_at              INTEGER
);
CREATE INDEX agent_budget_holds_open ON agent_budget_holds (agent, expires_at) WHERE status = 'open';

CREATE TABLE agent_state (
    agent                   TEXT    PRIMARY KEY,
    paused                  BOOLEAN NOT NULL DEFAULT 0,
    lease_holder            TEXT,
    lease_expires_at        INTEGER,
    last_tick_at            INTEGER,
    updated_at              INTEGER NOT NULL
);

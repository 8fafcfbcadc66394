-- Schema 6: what the operator must know (no silent failure).  The backend's
-- health as the ticks last saw it; who paused the agent (the operator or the
-- circuit breaker) and which ended sessions the breaker no longer counts;
-- one line of detail on a tick (the error, or what a skip lacked); the
-- notifications, each condition once.
ALTER TABLE agent_state ADD COLUMN paused_by TEXT;
ALTER TABLE agent_state ADD COLUMN breaker_floor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agent_state ADD COLUMN backend_down_since BIGINT;
ALTER TABLE agent_state ADD COLUMN backend_down_ticks BIGINT NOT NULL DEFAULT 0;
ALTER TABLE agent_state ADD COLUMN backend_error TEXT;
ALTER TABLE agent_state ADD COLUMN backend_checked_at BIGINT;
ALTER TABLE agent_triggers ADD COLUMN detail TEXT;

CREATE TABLE agent_notices (
    id                      BIGSERIAL PRIMARY KEY,
    agent                   TEXT    NOT NULL,
    key                     TEXT    NOT NULL,
    kind                    TEXT    NOT NULL,
    body                    JSONB   NOT NULL,
    created_at              BIGINT  NOT NULL,
    delivered_at            BIGINT,
    delivery                TEXT,
    UNIQUE (agent, key)
);
CREATE INDEX agent_notices_recent ON agent_notices (agent, kind, id DESC);

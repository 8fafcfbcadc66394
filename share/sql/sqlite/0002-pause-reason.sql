-- Schema 2: why and since when an agent is paused (agent-control pause).
ALTER TABLE agent_state ADD COLUMN pause_reason TEXT;
ALTER TABLE agent_state ADD COLUMN paused_at INTEGER;

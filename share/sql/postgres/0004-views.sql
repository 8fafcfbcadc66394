-- Schema 4: the operator views and the tick find an agent's active session
-- (phase <> 'idle', newest first) without reading its history: a partial
-- index holds only the active rows, ordered by id.  The same on both drivers.
CREATE INDEX agent_sessions_open ON agent_sessions (agent, id) WHERE phase <> 'idle';

-- SQLite forms of statements whose syntax differs from queries.sql.

-- name: begin
BEGIN IMMEDIATE

-- name: commit
COMMIT

-- name: rollback
ROLLBACK

-- name: schema_lock
SELECT 1

-- name: schema_no_timeout
SELECT 1

-- name: schema_exists
SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'

-- name: schema_create
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
)

-- name: schema_record
INSERT INTO schema_migrations (version, name, applied_at)
VALUES ($1, $2, CAST(strftime('%s', 'now') AS INTEGER))

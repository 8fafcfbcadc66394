-- PostgreSQL forms of statements whose syntax differs from queries.sql.

-- name: begin
BEGIN

-- name: commit
COMMIT

-- name: rollback
ROLLBACK

-- name: schema_lock
SELECT pg_advisory_xact_lock(72616765)

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

#!/bin/sh
# agent-metrics-agg --render on a store with 1M sessions, 10M tool calls, 3M
# model calls and 1M ticks, against the baseline: the same on a store with
# 10 sessions.  Target (DESIGN §8, issue 6): under 200 ms, and as fast as
# the small store.  The history is written at schema 2 with SQL (recursive
# CTEs, generate_series on PostgreSQL), then `agent-db migrate` applies
# 0003-metric-rollups, whose backfill is timed too.  SQLite always;
# PostgreSQL as well with RENDER_BENCH_PG=1 (a server of its own).
# $1: a temporary directory; RENDER_SESSIONS scales everything.
set -eu
tmp=$1
root=$(cd "$(dirname "$0")/.." && pwd)
sessions=${RENDER_SESSIONS:-1000000}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# history N SRC JSON: SQL writing N sessions, 10N actions, 3N invocations
# and N ticks (every one finished), the same on both drivers but for the
# row source SRC (a relation "n(i)" of 1..X, :X in place of X) and the cast
# of a JSON literal (JSON: "" or "::jsonb").
history() {
	n=$1
	src=$2
	j=$3
	cat <<EOF
INSERT INTO agent_sessions (id, agent, phase, outcome, strategy_name, training_gate, backtest_gate,
       designing_at, training_at, backtesting_at, assessing_at, created_at, updated_at, completed_at)
SELECT i, 'default', 'idle',
       CASE i % 4 WHEN 0 THEN 'success' WHEN 1 THEN 'failed_training_gate'
                  WHEN 2 THEN 'failed_backtest_gate' ELSE 'failed_design' END,
       's' || i,
       CASE i % 4 WHEN 1 THEN '{"passed":false,"reason":"accuracy_below_threshold"}'$j
                  WHEN 3 THEN NULL ELSE '{"passed":true,"reason":"passed"}'$j END,
       CASE i % 4 WHEN 0 THEN '{"passed":true,"reason":"passed"}'$j
                  WHEN 2 THEN '{"passed":false,"reason":"sharpe_below_threshold"}'$j END,
       1000000000 + i * 600, 1000000000 + i * 600 + 60 + i % 300, 1000000000 + i * 600 + 400,
       1000000000 + i * 600 + 500, 1000000000 + i * 600, 1000000000 + i * 600 + 550,
       1000000000 + i * 600 + 550
  FROM $(echo "$src" | sed "s/:X/$n/");
INSERT INTO agent_actions (agent, session_id, tool_name, success, error, duration_ms, created_at)
SELECT 'default', i % $n + 1,
       CASE i % 9 WHEN 0 THEN 'save_strategy_config' WHEN 1 THEN 'validate_strategy_config'
                  WHEN 2 THEN 'get_recent_strategies' WHEN 3 THEN 'get_available_indicators'
                  WHEN 4 THEN 'get_available_symbols' WHEN 5 THEN 'start_training'
                  WHEN 6 THEN 'start_backtest' WHEN 7 THEN 'get_operation_status'
                  ELSE 'save_assessment' END,
       i % 23 <> 0, CASE WHEN i % 23 = 0 THEN 'failed' END, i * 7919 % 20000, 1000000000 + i
  FROM $(echo "$src" | sed "s/:X/$((n * 10))/");
INSERT INTO agent_invocations (agent, session_id, kind, model, input_tokens, output_tokens,
       cache_write_tokens, cache_read_tokens, cost_micros, duration_ms, status, created_at)
SELECT 'default', i % $n + 1,
       CASE i % 3 WHEN 0 THEN 'design' WHEN 1 THEN 'post_training' ELSE 'assessment' END,
       'claude-opus-4-5-20251101', 2000 + i % 5000, 300 + i % 900, i % 7 * 100, i % 11 * 300,
       10000 + i % 50000, 1000 + i * 7 % 60000, CASE WHEN i % 50 = 0 THEN 'error' ELSE 'ok' END,
       1000000000 + i
  FROM $(echo "$src" | sed "s/:X/$((n * 3))/");
INSERT INTO agent_triggers (agent, tick_id, at, event, action, invoked, duration_ms, exit_status)
SELECT 'default', 't' || i, 1000000000 + i * 300,
       CASE i % 5 WHEN 0 THEN 'start_new_cycle' WHEN 1 THEN 'training_running'
                  WHEN 2 THEN 'backtest_running' WHEN 3 THEN 'idle' ELSE 'recovered' END,
       'wait', i % 5 IN (0, 4), 5 + i % 200, 0
  FROM $(echo "$src" | sed "s/:X/$n/");
EOF
}

v2_schema() { # v2_schema DRIVER TIMEFMT: schema 1 and 2 as agent-db would leave them
	cat "$root"/share/sql/"$1"/0001-*.sql "$root"/share/sql/"$1"/0002-*.sql
	echo "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at $2 NOT NULL);"
	echo "INSERT INTO schema_migrations VALUES (1, '0001-init.sql', 0), (2, '0002-pause-reason.sql', 0);"
}

report() { # report LABEL BIG SMALL
	hyperfine -N --warmup 5 --runs 50 --export-json "$tmp/render.json" \
		-n small "env AGENT_DB=$3 agent-metrics-agg --render" \
		-n big "env AGENT_DB=$2 agent-metrics-agg --render" >/dev/null
	jq -r --arg l "$1" '.results | map({(.command): .median}) | add
		| "\($l): median render with 10 sessions \(.small * 1e3 | . * 10 | round / 10) ms, with '"$sessions"' sessions \(.big * 1e3 | . * 10 | round / 10) ms, ratio \(.big / .small | . * 100 | round / 100) (target < 200 ms)"' \
		"$tmp/render.json"
}

sqlite_store() { # sqlite_store PATH SESSIONS
	rm -f "$1"
	{ v2_schema sqlite INTEGER
	  echo "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN;"
	  history "$2" "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :X) SELECT i FROM n) n" ""
	  echo "COMMIT;"
	} | sqlite3 -bail "$1" >/dev/null
}

echo "sqlite: writing $sessions sessions, $((sessions * 10)) tool calls, $((sessions * 3)) model calls, $sessions ticks"
t0=$(now)
sqlite_store "$tmp/render-big.db" "$sessions"
t1=$(now)
AGENT_DB="$tmp/render-big.db" agent-db -q migrate
t2=$(now)
sqlite_store "$tmp/render-small.db" 10
AGENT_DB="$tmp/render-small.db" agent-db -q migrate
echo "sqlite: history written in $(since "$t0" "$t1") s, $(($(stat -c %s "$tmp/render-big.db") / 1048576)) MiB; agent-db migrate (0003 backfill) $(since "$t1" "$t2") s"
# the two stores count the same thing, scaled
AGENT_DB="$tmp/render-big.db" agent-metrics-agg --render >"$tmp/big.prom"
grep -q "^agent_tool_calls_total{agent=\"default\",status=\"ok\",tool=\"start_training\"} " "$tmp/big.prom"
promtool check metrics <"$tmp/big.prom"
report sqlite "$tmp/render-big.db" "$tmp/render-small.db"
rm -f "$tmp/render-big.db" "$tmp/render-small.db"

if [ "${RENDER_BENCH_PG:-0}" = 1 ]; then
	pgdir="$tmp/render-pg"
	pg=$(sh "$root/t/pg" start "$pgdir")
	trap 'sh "$root/t/pg" stop "$pgdir"' EXIT
	big=$(echo "$pg" | sed 's|/agent_test?|/render_big?|')
	small=$(echo "$pg" | sed 's|/agent_test?|/render_small?|')
	psql "$pg" -qc "CREATE DATABASE render_big" -c "CREATE DATABASE render_small"
	echo "postgres: writing the same"
	t0=$(now)
	{ v2_schema postgres BIGINT; history "$sessions" "generate_series(1::bigint, :X) AS n(i)" ::jsonb; echo "VACUUM ANALYZE;"; } |
		psql "$big" -q -v ON_ERROR_STOP=1 >/dev/null
	t1=$(now)
	AGENT_DB=$big agent-db -q migrate
	t2=$(now)
	{ v2_schema postgres BIGINT; history 10 "generate_series(1::bigint, :X) AS n(i)" ::jsonb; } | psql "$small" -q -v ON_ERROR_STOP=1 >/dev/null
	AGENT_DB=$small agent-db -q migrate
	echo "postgres: history written in $(since "$t0" "$t1") s; agent-db migrate (0003 backfill) $(since "$t1" "$t2") s"
	report postgres "$big" "$small"
fi

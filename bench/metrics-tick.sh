#!/bin/sh
# What the metric rollups cost the idle tick (nothing to decide, through the
# whole pipeline).  Baseline: the same tick on the same store with the
# rollup triggers dropped (on SQLite, schema 5: the triggers that note the
# rows for the fold).  Then the tick with AGENT_METRICS_TEXTFILE set
# (render and atomic write, fsync included) against the plain tick.
# Target (issue 6): the triggers do not slow the idle tick noticeably.
# $1: a temporary directory.
set -eu
tmp=$1
export AGENT_AUTO_START=0
unset AGENT_METRICS_TEXTFILE AGENT_PUSHGATEWAY_URL PROMETHEUS_PUSHGATEWAY_URL OTEL_EXPORTER_OTLP_ENDPOINT AGENT_TRACE_JSONL_PATH
with="$tmp/tick-rollups.db"
without="$tmp/tick-norollups.db"
rm -f "$with" "$without"
AGENT_DB=$with agent-db -q migrate
AGENT_DB=$without agent-db -q migrate
for t in $(sqlite3 "$without" "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'metric%'"); do
	sqlite3 "$without" "DROP TRIGGER $t"
done
[ "$(sqlite3 "$without" "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'metric%'")" = 0 ]
pipe="agent-trigger | agent-gate | agent-budget | agent-invoke | agent-metrics-agg >/dev/null"
# a few ticks first, so the rollup rows exist as they would
for _ in 1 2 3; do
	AGENT_DB=$with sh -c "$pipe"
	AGENT_DB=$without sh -c "$pipe"
done
# counted (on SQLite once folded: a rendering folds the pending rows)
AGENT_DB=$with agent-metrics-agg --render | grep -qx 'agent_triggers_total{agent="default",event="idle",invoked="false"} 3'
[ "$(sqlite3 "$with" "SELECT total FROM metric_rollups WHERE name = 'triggers_total'")" = 3 ]
hyperfine --shell=sh --warmup 10 --runs 200 --export-json "$tmp/tick.json" \
	-n "idle tick, no rollups" "export AGENT_DB=$without; $pipe" \
	-n "idle tick, rollups" "export AGENT_DB=$with; $pipe" \
	-n "idle tick, rollups + textfile" "export AGENT_DB=$with AGENT_METRICS_TEXTFILE=$tmp/agent.prom; $pipe" >/dev/null
jq -r '.results | map({(.command): .median}) | add
	| "median: idle tick without rollups \(.["idle tick, no rollups"] * 1e3 | . * 100 | round / 100) ms, with rollups \(.["idle tick, rollups"] * 1e3 | . * 100 | round / 100) ms (ratio \(.["idle tick, rollups"] / .["idle tick, no rollups"] | . * 100 | round / 100)), with rollups and the textfile \(.["idle tick, rollups + textfile"] * 1e3 | . * 100 | round / 100) ms"' \
	"$tmp/tick.json"
# the statement that pays for the rollups, alone: trigger_finish, 2000 times
for db in "$without" "$with"; do
	sqlite3 "$db" "INSERT INTO agent_triggers (agent, tick_id, at, event)
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
		SELECT 'default', 'b' || i, 1, 'idle' FROM n"
done
a=$(date +%s%N)
sqlite3 "$without" "UPDATE agent_triggers SET exit_status = 0, duration_ms = 5 WHERE tick_id LIKE 'b%'"
b=$(date +%s%N)
sqlite3 "$with" "UPDATE agent_triggers SET exit_status = 0, duration_ms = 5 WHERE tick_id LIKE 'b%'"
c=$(date +%s%N)
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "trigger_finish per tick: %.1f us without rollups, %.1f us with (2000 rows in one statement)\n", (b - a) / 2000 / 1000, (c - b) / 2000 / 1000 }'

#!/bin/sh
# What tracing costs the idle tick (a session in training, the backend says
# "running"): the whole pipeline with tracing unset (the baseline), with
# AGENT_TRACE_JSONL_PATH, and exporting over OTLP/HTTP to a receiver on
# loopback (t/helpers/otlp-receiver, Python: its own answer time is in the
# figure).  Median wall time (hyperfine) and the ratio to the baseline.
set -eu
tmp=$1
out="$tmp/traces-sim.out"
mkdir -p "$tmp/recv"
agent-sim --listen 127.0.0.1:0 --speed 1 --seed 1 >"$out" 2>/dev/null &
sim=$!
python3 t/helpers/otlp-receiver "$tmp/recv" --lifetime 600 &
recv=$!
trap 'kill $sim $recv 2>/dev/null' EXIT
i=0
until [ -s "$out" ] && [ -s "$tmp/recv/port" ]; do i=$((i + 1)); [ "$i" -lt 100 ] || exit 4; sleep 0.05; done
url=$(head -n 1 "$out" | jq -r .url)
export AGENT_BACKEND_URL="$url/api/v1" ANTHROPIC_BASE_URL="$url" ANTHROPIC_API_KEY=bench
export AGENT_DB="$tmp/traces.db"
unset OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_TRACES_ENDPOINT AGENT_TRACE_JSONL_PATH TRACEPARENT
agent-db -q migrate
op=$(curl -sf --max-time 5 -H 'content-type: application/json' \
	-d '{"symbols":["AAPL"],"timeframes":["1h"],"strategy_name":"bench"}' \
	"$url/api/v1/trainings/start" | jq -r .task_id)
sqlite3 "$AGENT_DB" "INSERT INTO agent_sessions (agent, phase, strategy_name, training_operation_id, created_at, updated_at, designing_at, training_at)
	VALUES ('default', 'training', 'bench', '$op', 1, 1, 1, 1)"
pipe="agent-trigger | agent-gate | agent-budget | agent-invoke | agent-metrics-agg >/dev/null"
sh -c "$pipe"
hyperfine --shell=sh --warmup 10 --runs 150 --export-json "$tmp/traces.json" \
	-n unset "$pipe" \
	-n jsonl "export AGENT_TRACE_JSONL_PATH='$tmp/spans.jsonl'; $pipe" \
	-n otlp "export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$(cat "$tmp/recv/port"); $pipe" >/dev/null
jq -r '.results | map({(.command): .median}) | add as $m
	| "median: tracing unset \($m.unset * 1e3 | . * 100 | round / 100) ms, "
	+ "JSONL \($m.jsonl * 1e3 | . * 100 | round / 100) ms (ratio \($m.jsonl / $m.unset | . * 100 | round / 100)), "
	+ "OTLP to a loopback receiver \($m.otlp * 1e3 | . * 100 | round / 100) ms (ratio \($m.otlp / $m.unset | . * 100 | round / 100))"' \
	"$tmp/traces.json"
echo "spans: $(wc -l <"$tmp/spans.jsonl") JSONL lines, $(find "$tmp/recv" -name 'req-*.json' | wc -l) exports received"

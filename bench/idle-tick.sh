#!/bin/sh
# The idle tick (a session in training, the backend says "running") through
# the whole pipeline, against five empty C programs in a pipeline: median
# wall time (hyperfine) and peak memory per process (GNU time).  Target
# (issue 5): within 3x of the floor.
set -eu
tmp=$1
out="$tmp/idle-sim.out"
rm -f "$out" "$tmp/idle.db" "$tmp/idle.db-wal" "$tmp/idle.db-shm"
# the backend reads the strategy from its directory (as KTRDR does)
mkdir -p "$tmp/idle-strategies"
cp "$(dirname "$0")/idle-strategy.json" "$tmp/idle-strategies/bench.yaml"
agent-sim --listen 127.0.0.1:0 --speed 1 --seed 1 --strategies "$tmp/idle-strategies" >"$out" 2>/dev/null &
sim=$!
trap 'kill $sim 2>/dev/null' EXIT
i=0
until [ -s "$out" ]; do i=$((i + 1)); [ "$i" -lt 100 ] || exit 4; sleep 0.05; done
url=$(head -n 1 "$out" | jq -r .url)
export AGENT_BACKEND_URL="$url/api/v1" ANTHROPIC_BASE_URL="$url" ANTHROPIC_API_KEY=bench
export AGENT_DB="$tmp/idle.db"
unset OTEL_EXPORTER_OTLP_ENDPOINT AGENT_TRACE_JSONL_PATH AGENT_METRICS_TEXTFILE AGENT_PUSHGATEWAY_URL PROMETHEUS_PUSHGATEWAY_URL
agent-db -q migrate
op=$(curl -sf --max-time 5 -H 'content-type: application/json' \
	-d '{"symbols":["AAPL"],"timeframes":["1h"],"strategy_name":"bench"}' \
	"$url/api/v1/trainings/start" | jq -r .task_id)
# a session as agent-invoke leaves it: its strategy (bench/idle-strategy.json,
# the demo's third design) goes through every stage in the tick document
sqlite3 "$AGENT_DB" "INSERT INTO agent_sessions (agent, phase, strategy_name, strategy_config, strategy_path,
	training_operation_id, invoke_attempts, created_at, updated_at, designing_at, training_at)
	VALUES ('default', 'training', 'bench', CAST(readfile('$(dirname "$0")/idle-strategy.json') AS TEXT),
	'/var/lib/agent/strategies/bench.yaml', '$op', 1, 1, 1, 1, 1)"
pipe="agent-trigger | agent-gate | agent-budget | agent-invoke | agent-metrics-agg >/dev/null"
floor="$tmp/empty | $tmp/empty | $tmp/empty | $tmp/empty | $tmp/empty >/dev/null"
# the tick must really be idle: a wait on the running operation
sh -c "agent-trigger | agent-gate | agent-budget | agent-invoke | agent-metrics-agg" | jq -e '.action == "wait" and .event == "training_running"' >/dev/null
# Five rounds of 60 runs each, the order swapped every round: this machine's
# speed drifts over a minute, and one long run of each would carry the
# drift into the ratio.  Reported: the median of the rounds' medians, and
# the median of the rounds' ratios.
for r in 1 2 3 4 5; do
	if [ $((r % 2)) = 1 ]; then
		set -- -n "idle tick" "$pipe" -n "5 empty programs" "$floor"
	else
		set -- -n "5 empty programs" "$floor" -n "idle tick" "$pipe"
	fi
	hyperfine --shell=sh --warmup 10 --runs 60 --export-json "$tmp/idle-$r.json" "$@" >/dev/null
done
# every measured tick was a whole idle tick, closed by the last stage
n=$(sqlite3 "$AGENT_DB" "SELECT count(*) FROM agent_triggers WHERE event = 'training_running' AND exit_status = 0")
[ "$n" -ge 350 ] || { echo "idle-tick: only $n of the measured ticks were idle ticks" >&2; exit 1; }
jq -s -r 'def med: sort | .[length / 2 | floor];
	def ms: . * 1e3 | . * 100 | round / 100;
	map(.results | map({(.command): .median}) | add) as $rounds
	| "median of 5 rounds: idle tick \($rounds | map(.["idle tick"]) | med | ms) ms, 5 empty programs \($rounds | map(.["5 empty programs"]) | med | ms) ms, ratio \($rounds | map(.["idle tick"] / .["5 empty programs"]) | med | . * 100 | round / 100) (rounds: \($rounds | map(.["idle tick"] / .["5 empty programs"] | . * 100 | round / 100) | map(tostring) | join(" ")))"' \
	"$tmp"/idle-[1-5].json
echo "peak memory per process (max RSS, KiB):"
for c in agent-trigger agent-gate agent-budget agent-invoke agent-metrics-agg; do
	agent-trigger >"$tmp/tick.json"
	/usr/bin/time -f "%M" -o "$tmp/rss" "$c" <"$tmp/tick.json" >/dev/null 2>&1 || true
	[ "$c" = agent-trigger ] && /usr/bin/time -f "%M" -o "$tmp/rss" agent-trigger >/dev/null
	printf '  %-18s %s\n' "$c" "$(cat "$tmp/rss")"
	agent-metrics-agg <"$tmp/tick.json" >/dev/null 2>&1 || true
done
/usr/bin/time -f "%M" -o "$tmp/rss" "$tmp/empty"
printf '  %-18s %s\n' "empty" "$(cat "$tmp/rss")"

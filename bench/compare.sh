#!/bin/sh
# compare.sh OLD_BIN NEW_BIN: two builds side by side, for a change that must
# not make start-up slower (issue 17: ratio <= 1.05).  The idle tick (the
# whole pipeline, a session in training, the backend says "running") and
# `agent-trigger --version`, each build's commands on PATH in turn; five
# rounds, the order swapped each round; reported: the median of the rounds'
# new/old ratios.  Not part of `make bench` (it needs an old build):
#   git worktree add /tmp/old REV && make -C /tmp/old all
#   sh bench/compare.sh /tmp/old/build/bin build/bin
set -eu
old=$(cd "$1" && pwd) new=$(cd "$2" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agent-compare.XXXXXX")
out="$tmp/sim.out"
mkdir -p "$tmp/strategies"
cp "$root/bench/idle-strategy.json" "$tmp/strategies/bench.yaml"
"$new/agent-sim" --listen 127.0.0.1:0 --speed 1 --seed 1 --strategies "$tmp/strategies" >"$out" 2>/dev/null &
sim=$!
trap 'kill $sim 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
i=0
until [ -s "$out" ]; do i=$((i + 1)); [ "$i" -lt 100 ] || exit 4; sleep 0.05; done
url=$(head -n 1 "$out" | jq -r .url)
export AGENT_BACKEND_URL="$url/api/v1" ANTHROPIC_BASE_URL="$url" ANTHROPIC_API_KEY=bench
export AGENT_DB="$tmp/idle.db" AGENT_DATADIR="$root/share"
unset OTEL_EXPORTER_OTLP_ENDPOINT AGENT_TRACE_JSONL_PATH AGENT_METRICS_TEXTFILE AGENT_PUSHGATEWAY_URL PROMETHEUS_PUSHGATEWAY_URL
"$old/agent-db" -q migrate
op=$(curl -sf --max-time 5 -H 'content-type: application/json' \
	-d '{"symbols":["AAPL"],"timeframes":["1h"],"strategy_name":"bench"}' \
	"$url/api/v1/trainings/start" | jq -r .task_id)
sqlite3 "$AGENT_DB" "INSERT INTO agent_sessions (agent, phase, strategy_name, strategy_config, strategy_path,
	training_operation_id, invoke_attempts, created_at, updated_at, designing_at, training_at)
	VALUES ('default', 'training', 'bench', CAST(readfile('$root/bench/idle-strategy.json') AS TEXT),
	'/var/lib/agent/strategies/bench.yaml', '$op', 1, 1, 1, 1, 1)"
pipe="agent-trigger | agent-gate | agent-budget | agent-invoke | agent-metrics-agg >/dev/null"
for b in "$old" "$new"; do
	PATH="$b:$PATH" sh -c "agent-trigger | agent-gate | agent-budget | agent-invoke | agent-metrics-agg" |
		jq -e '.action == "wait"' >/dev/null || { echo "compare: $b: not an idle tick" >&2; exit 1; }
done
for r in 1 2 3 4 5; do
	if [ $((r % 2)) = 1 ]; then a=$old b=$new an=old bn=new; else a=$new b=$old an=new bn=old; fi
	hyperfine --shell=sh --warmup 10 --runs 40 --export-json "$tmp/tick-$r.json" \
		-n "$an" "PATH=$a:\$PATH; $pipe" -n "$bn" "PATH=$b:\$PATH; $pipe" >/dev/null
	hyperfine -N --warmup 20 --runs 200 --export-json "$tmp/ver-$r.json" \
		-n "$an" "$a/agent-trigger --version" -n "$bn" "$b/agent-trigger --version" >/dev/null
done
for k in tick ver; do
	jq -s -r --arg k "$k" 'def med: sort | .[length / 2 | floor];
		def ms: . * 1e3 | . * 1000 | round / 1000;
		map(.results | map({(.command): .median}) | add) as $r
		| "\(if $k == "tick" then "idle tick" else "agent-trigger --version" end): old \($r | map(.old) | med | ms) ms, new \($r | map(.new) | med | ms) ms, new/old \($r | map(.new / .old) | med | . * 1000 | round / 1000) (rounds: \($r | map(.new / .old | . * 1000 | round / 1000 | tostring) | join(" ")))"' \
		"$tmp/$k"-[1-5].json
done

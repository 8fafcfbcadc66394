#!/bin/sh
# Benchmarks of agent-invoke against agent-sim at zero latency:
# 1. tool-loop overhead per turn; baseline: the same number of HTTP
#    exchanges with the simulator from one curl process (curl --next);
# 2. input tokens and cost of one cycle's three invocations with prompt
#    caching (the default) and without (AGENT_PROMPT_CACHE=0).
set -eu
tmp=$1
out="$tmp/invoke-sim.out"
mkdir -p "$tmp/strategies"
agent-sim --listen 127.0.0.1:0 --speed 100000 --seed 1 --strategies "$tmp/strategies" >"$out" 2>/dev/null &
sim=$!
trap 'kill $sim 2>/dev/null' EXIT
i=0
until [ -s "$out" ]; do i=$((i + 1)); [ "$i" -lt 100 ] || exit 4; sleep 0.05; done
url=$(head -n 1 "$out" | jq -r .url)
export ANTHROPIC_BASE_URL="$url" AGENT_BACKEND_URL="$url/api/v1" ANTHROPIC_API_KEY=bench
export AGENT_STRATEGY_DIR="$tmp/strategies" AGENT_DB="$tmp/invoke.db"
agent-db -q migrate

# 1. per turn: a design is 3 calls and 2 tools
body='{"model":"claude-opus-4-5-20251101","max_tokens":4096,"messages":[{"role":"user","content":"Trigger: design"}]}'
h="-H x-api-key:bench -H anthropic-version:2026-10-21 -H content-type:application/json"
# shellcheck disable=SC2086
hyperfine -N --warmup 3 --runs 40 --export-json "$tmp/invoke.json" \
	-n "agent-invoke design (3 calls, 2 tools)" "agent-invoke -q --kind design" \
	-n "curl: 3 exchanges" "curl -s -o /dev/null $h -d $body $url/v1/messages --next -s -o /dev/null $h -d $body $url/v1/messages --next -s -o /dev/null $h -d $body $url/v1/messages" \
	>/dev/null
jq -r '.results | map({(.command): .median}) | add | to_entries as [$a, $b]
	| "median: \($a.key) \($a.value * 1e3 | . * 100 | round / 100) ms; \($b.key) \($b.value * 1e3 | . * 100 | round / 100) ms; ratio \($a.value / $b.value | . * 100 | round / 100); overhead per turn \(($a.value - $b.value) / 3 * 1e3 | . * 100 | round / 100) ms"' \
	"$tmp/invoke.json"

# 2. one cycle's invocations, with and without caching
cycle() { # cycle DB: design, post_training and assessment on prepared sessions
	AGENT_DB=$1 agent-db -q migrate
	sqlite3 "$1" "INSERT INTO agent_sessions (agent, phase, created_at, updated_at) VALUES ('default', 'designing', 1, 1);
		INSERT INTO agent_sessions (agent, phase, strategy_name, training_results, created_at, updated_at)
		  VALUES ('default', 'backtesting', 's1', '{\"test_metrics\":{\"test_accuracy\":0.6}}', 1, 1);
		INSERT INTO agent_sessions (agent, phase, strategy_name, training_results, backtest_results, created_at, updated_at)
		  VALUES ('default', 'assessing', 's1', '{\"test_metrics\":{\"test_accuracy\":0.6}}', '{\"metrics\":{\"sharpe_ratio\":1.1}}', 1, 1);"
	for s in 1 2 3; do AGENT_DB=$1 agent-invoke -q --session "$s"; done
	sqlite3 "$1" "SELECT SUM(input_tokens + cache_write_tokens + cache_read_tokens), SUM(input_tokens), SUM(cache_read_tokens), SUM(cost_micros) FROM agent_invocations"
}
with=$(cycle "$tmp/cache-on.db")
without=$(AGENT_PROMPT_CACHE=0 cycle "$tmp/cache-off.db")
echo "$with|$without" | awk -F'|' '{
	printf "one cycle (3 invocations): input tokens %d with caching (%d uncached, %d read from cache), %d without; cost $%.6f with, $%.6f without; cost ratio %.2f\n", $1, $2, $3, $5, $4 / 1e6, $8 / 1e6, $4 / $8 }'

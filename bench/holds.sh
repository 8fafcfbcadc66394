#!/bin/sh
# holds.sh TMP [SESSIONS]: how close the budget holds come to what the calls
# are billed.  The reference scenario of bench/cycle-cost.sh (agent-sim,
# seed 1, default settings) runs until SESSIONS (1: one whole cycle)
# research sessions have succeeded (the sessions that failed on the way
# are counted too), twice: with today's estimate
# (AGENT_COUNT_TOKENS=0, the baseline: the request's bytes at the dearest
# input rate) and with holds sized by count_tokens.  For each run one JSON
# line: the calls, held input tokens / billed input tokens (input + cache
# write + cache read), held input dollars / billed input dollars (each
# less its output part), whole hold / whole cost, and the time count_tokens
# took per call on loopback.  Goal (issue 16, item 4): input ratio <= 1.1.
set -eu
tmp=$1
want=${2:-1}

run() { # run NAME COUNT_TOKENS
	d="$tmp/holds-$1"
	rm -rf "$d"
	mkdir -p "$d/strategies"
	agent-sim --listen 127.0.0.1:0 --speed 2000 --seed 1 --strategies "$d/strategies" >"$d/sim.out" 2>/dev/null &
	sim=$!
	i=0
	until [ -s "$d/sim.out" ]; do i=$((i + 1)); [ "$i" -lt 100 ] || exit 4; sleep 0.05; done
	url=$(head -n 1 "$d/sim.out" | jq -r .url)
	(
		export AGENT_BACKEND_URL="$url/api/v1" ANTHROPIC_BASE_URL="$url" ANTHROPIC_API_KEY=bench
		export AGENT_DB="$d/holds.db" AGENT_STRATEGY_DIR="$d/strategies" AGENT_LEASE_SECONDS=60
		export AGENT_COUNT_TOKENS="$2"
		unset AGENT_NOW OTEL_EXPORTER_OTLP_ENDPOINT AGENT_TRACE_JSONL_PATH AGENT_METRICS_TEXTFILE \
			AGENT_PUSHGATEWAY_URL PROMETHEUS_PUSHGATEWAY_URL AGENT_MAX_TOKENS
		agent-db -q migrate
		ticks=0
		while [ "$(sqlite3 "$AGENT_DB" "SELECT COUNT(*) FROM agent_sessions WHERE outcome = 'success'")" -lt "$want" ]; do
			ticks=$((ticks + 1))
			[ "$ticks" -le $((want * 80)) ] || { echo "holds: $ticks ticks and not $want sessions" >&2; exit 1; }
			agent-cycle >>"$d/ticks.jsonl" || { echo "holds: tick $ticks failed" >&2; exit 1; }
			sleep 0.05
		done
	)
	kill "$sim" 2>/dev/null || true
	wait "$sim" 2>/dev/null || true
	# the output rate of each model, $/MTok, to take the output part out
	rates='{}'
	for m in $(sqlite3 "$d/holds.db" "SELECT DISTINCT model FROM agent_invocations"); do
		r=$(echo '{"output_tokens":1000000}' | agent-budget price --model "$m" | jq .total_usd)
		rates=$(printf '%s' "$rates" | jq -c --arg m "$m" --argjson r "$r" '.[$m] = $r')
	done
	sqlite3 -json "$d/holds.db" "SELECT i.model, h.amount_micros AS held, h.tokens - 4096 AS held_in,
		i.cost_micros AS cost, i.output_tokens AS out,
		i.input_tokens + i.cache_write_tokens + i.cache_read_tokens AS billed_in
		FROM agent_budget_holds h JOIN agent_invocations i ON i.hold_id = h.id" |
		jq -c --arg name "$1" --argjson rates "$rates" \
			--slurpfile ticks "$d/ticks.jsonl" '
		def r3: . * 1000 | round / 1000;
		(map(.held - 4096 * $rates[.model]) | add) as $held_usd_in
		| (map(.cost - .out * $rates[.model]) | add) as $billed_usd_in
		| ([$ticks[] | .invocation.holds? // empty] ) as $h
		| {run: $name, calls: length,
		   held_input_tokens: (map(.held_in) | add), billed_input_tokens: (map(.billed_in) | add),
		   input_tokens_ratio: ((map(.held_in) | add) / (map(.billed_in) | add) | r3),
		   input_usd_ratio: ($held_usd_in / $billed_usd_in | r3),
		   hold_to_cost_ratio: ((map(.held) | add) / (map(.cost) | add) | r3),
		   counted_calls: ($h | map(.count_tokens) | add),
		   count_ms_per_call: (if ($h | map(.count_tokens) | add) > 0
			then (($h | map(.count_ms) | add) / ($h | map(.count_tokens) | add) | r3) else null end)}'
}

echo "== budget holds over $want whole cycle(s) on agent-sim (baseline: today's estimate, AGENT_COUNT_TOKENS=0)"
run estimate 0
run count_tokens 1

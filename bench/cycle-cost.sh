#!/bin/sh
# cycle-cost.sh TMP [SESSIONS]: the reference scenario on agent-sim (seed 1,
# default settings) until SESSIONS (20) research sessions have ended; per
# invocation kind the calls, tokens and dollars from the store, then one
# JSON line: sessions, successes, usd_total, usd_per_success,
# usd_per_session, cache_read_share, calls_per_success.  Goal (issue 13):
# usd_per_success <= 0.05 with the defaults.  agent-sim's usage model
# follows the API's documented caching rules (agent-sim(1)); its token
# counts are an estimate (docs/cost.md).
set -eu
tmp=$1
want=${2:-20}
d="$tmp/cycle-cost"
rm -rf "$d"
mkdir -p "$d/strategies"
agent-sim --listen 127.0.0.1:0 --speed 2000 --seed 1 --strategies "$d/strategies" >"$d/sim.out" 2>/dev/null &
sim=$!
trap 'kill $sim 2>/dev/null' EXIT
i=0
until [ -s "$d/sim.out" ]; do i=$((i + 1)); [ "$i" -lt 100 ] || exit 4; sleep 0.05; done
url=$(head -n 1 "$d/sim.out" | jq -r .url)
export AGENT_BACKEND_URL="$url/api/v1" ANTHROPIC_BASE_URL="$url" ANTHROPIC_API_KEY=bench
export AGENT_DB="$d/cost.db" AGENT_STRATEGY_DIR="$d/strategies" AGENT_LEASE_SECONDS=60
unset AGENT_NOW OTEL_EXPORTER_OTLP_ENDPOINT AGENT_TRACE_JSONL_PATH AGENT_METRICS_TEXTFILE AGENT_PUSHGATEWAY_URL PROMETHEUS_PUSHGATEWAY_URL
agent-db -q migrate
ticks=0
while [ "$(sqlite3 "$AGENT_DB" "SELECT COUNT(*) FROM agent_sessions WHERE phase = 'idle'")" -lt "$want" ]; do
	ticks=$((ticks + 1))
	[ "$ticks" -le $((want * 40)) ] || { echo "cycle-cost: $ticks ticks and not $want sessions" >&2; exit 1; }
	agent-cycle -q >/dev/null || { echo "cycle-cost: tick $ticks failed" >&2; exit 1; }
	sleep 0.05
done
echo "per invocation kind (sessions that ended; $ticks ticks):"
sqlite3 -separator '  ' "$AGENT_DB" "SELECT printf('  %-13s calls %3d  input %7d  cache write %7d  cache read %7d  output %6d  \$%.6f',
	i.kind, COUNT(*), SUM(input_tokens), SUM(cache_write_tokens), SUM(cache_read_tokens), SUM(output_tokens), SUM(cost_micros) / 1e6)
	FROM agent_invocations i JOIN agent_sessions s ON s.id = i.session_id WHERE s.phase = 'idle' GROUP BY i.kind ORDER BY MIN(i.id)"
sqlite3 -json "$AGENT_DB" "SELECT
	(SELECT COUNT(*) FROM agent_sessions WHERE phase = 'idle') AS sessions,
	(SELECT COUNT(*) FROM agent_sessions WHERE outcome = 'success') AS successes,
	(SELECT COALESCE(SUM(cost_micros), 0) FROM agent_invocations i JOIN agent_sessions s ON s.id = i.session_id WHERE s.phase = 'idle') AS micros,
	(SELECT COUNT(*) FROM agent_invocations i JOIN agent_sessions s ON s.id = i.session_id WHERE s.phase = 'idle') AS calls,
	(SELECT COALESCE(SUM(cache_read_tokens), 0) FROM agent_invocations) AS rd,
	(SELECT COALESCE(SUM(input_tokens + cache_read_tokens + cache_write_tokens), 0) FROM agent_invocations) AS prompt" |
	jq -c '.[0] | {sessions, successes, usd_total: (.micros / 1e6),
		usd_per_success: (if .successes > 0 then (.micros / 1e6 / .successes * 1e6 | round / 1e6) else null end),
		usd_per_session: (.micros / 1e6 / .sessions * 1e6 | round / 1e6),
		cache_read_share: (if .prompt > 0 then (.rd / .prompt * 1000 | round / 1000) else 0 end),
		calls_per_success: (if .successes > 0 then (.calls / .successes * 100 | round / 100) else null end)}'

# Starts agent-sim for a bats file (setup_file) and stops it (teardown_file).
# Exports SIM_URL (the server), ANTHROPIC_BASE_URL and AGENT_BACKEND_URL.

sim_start() { # sim_start [agent-sim options...]
	local out="$BATS_FILE_TMPDIR/sim.out" i
	# The backend reads strategies from its own directory (KTRDR's
	# STRATEGIES_DIR): a link the tests point at their AGENT_STRATEGY_DIR,
	# as a deployment mounts one directory into both (sim_share_strategies).
	SIM_STRATEGIES="$BATS_FILE_TMPDIR/sim-strategies"
	mkdir -p "$BATS_FILE_TMPDIR/strategies"
	ln -sfn "$BATS_FILE_TMPDIR/strategies" "$SIM_STRATEGIES"
	export SIM_STRATEGIES AGENT_STRATEGY_DIR="$BATS_FILE_TMPDIR/strategies"
	"$AGENT_BIN/agent-sim" --listen 127.0.0.1:0 --strategies "$SIM_STRATEGIES" "$@" \
		>"$out" 2>"$BATS_FILE_TMPDIR/sim.err" 3>&- &
	SIM_PID=$!
	for i in $(seq 1 100); do
		[ -s "$out" ] && break
		sleep 0.05
	done
	SIM_URL=$(head -n 1 "$out" | jq -r .url)
	[ -n "$SIM_URL" ] && [ "$SIM_URL" != null ] || { echo "agent-sim did not start" >&2; return 1; }
	export SIM_PID SIM_URL
	export ANTHROPIC_BASE_URL="$SIM_URL" AGENT_BACKEND_URL="$SIM_URL/api/v1"
}

# sim_share_strategies DIR: the simulated backend reads its strategies from
# DIR from now on (made when missing).
sim_share_strategies() {
	mkdir -p "$1" && ln -sfn "$1" "$SIM_STRATEGIES"
}

sim_stop() {
	[ -n "${SIM_PID:-}" ] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
	return 0
}

# sim_fault JSON: adds a fault on the running simulator.
sim_fault() {
	local out
	out=$(curl -s --max-time 5 -X POST -H 'content-type: application/json' --data-binary @- \
		-w '\n%{http_code}' "$SIM_URL/_sim/faults" <<<"$1") || return 1
	[ "${out##*$'\n'}" = 201 ] || [ "${out##*$'\n'}" = 200 ] || { echo "sim_fault: $out" >&2; return 1; }
}

# sim_clear: no faults, an empty request log.
sim_clear() {
	curl -sf --max-time 5 -X DELETE "$SIM_URL/_sim/faults" >/dev/null &&
		curl -sf --max-time 5 -X DELETE "$SIM_URL/_sim/requests" >/dev/null
}

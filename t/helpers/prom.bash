# Prometheus helpers for the metrics tests: free loopback ports, a real
# Pushgateway and a real Prometheus started for a test and stopped after.
# Every wait is bounded.

# free_port: a loopback TCP port nobody listens on now (bash's /dev/tcp).
free_port() {
	local p
	for _ in $(seq 50); do
		# below the ephemeral range (32768-60999): no outgoing connection holds it
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# wait_http URL [SECONDS]: until URL answers 2xx (default 15 s).
wait_http() {
	local n=$(((${2:-15}) * 20))
	for _ in $(seq "$n"); do
		curl -sf --max-time 1 -o /dev/null "$1" && return 0
		sleep 0.05
	done
	echo "no answer from $1" >&2
	return 1
}

# pushgateway_start: a Pushgateway on 127.0.0.1 with a throw-away
# persistence file; exports PGW_URL and PGW_PID.
pushgateway_start() {
	local p
	for _ in 1 2 3; do
		p=$(free_port) || return 1
		prometheus-pushgateway --web.listen-address="127.0.0.1:$p" \
			--persistence.file="$BATS_TEST_TMPDIR/pushgateway.data" --log.level=warn \
			>"$BATS_TEST_TMPDIR/pushgateway.log" 2>&1 3>&- &
		PGW_PID=$!
		PGW_URL="http://127.0.0.1:$p"
		if wait_http "$PGW_URL/-/ready" 10 2>/dev/null; then
			export PGW_URL PGW_PID
			return 0
		fi
		kill "$PGW_PID" 2>/dev/null
		wait "$PGW_PID" 2>/dev/null
	done
	echo "the Pushgateway did not start: $(cat "$BATS_TEST_TMPDIR/pushgateway.log")" >&2
	return 1
}

# stop PID: SIGTERM, then SIGKILL after 5 s.
stop_pid() {
	[ -n "${1:-}" ] || return 0
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || { wait "$1" 2>/dev/null; return 0; }
		sleep 0.05
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# serve_start [OPTIONS...]: agent-metrics-agg --serve 127.0.0.1:0 in the
# background; exports SERVE_URL and SERVE_PID.
serve_start() {
	local out="$BATS_TEST_TMPDIR/serve.out"
	agent-metrics-agg --serve 127.0.0.1:0 "$@" >"$out" 2>"$BATS_TEST_TMPDIR/serve.err" 3>&- &
	SERVE_PID=$!
	for _ in $(seq 200); do
		[ -s "$out" ] && break
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.05
	done
	SERVE_URL=$(head -n 1 "$out" | jq -r .url 2>/dev/null)
	if [ -z "$SERVE_URL" ] || [ "$SERVE_URL" = null ]; then
		echo "agent-metrics-agg --serve did not start: $(cat "$BATS_TEST_TMPDIR/serve.err")" >&2
		return 1
	fi
	export SERVE_URL SERVE_PID
}

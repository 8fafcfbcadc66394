#!/usr/bin/env bats
# Hostile peers (issue 19, item 3): agent-invoke and agent-trigger against
# t/helpers/hostile-peer playing the Messages API or the research backend
# badly, one way per test.  Each run must end within its documented
# timeout (a small margin added; `timeout` is the outer bound, so a hang
# fails instead of hanging CI), exit with the documented status, peak at
# under 64 MB of RSS, leave the store consistent (no open hold, the ledger
# equal to the calls, sessions in a legal phase) and never show the key.
# The good half of each exchange is agent-sim (t/helpers/sim.bash).

load helpers/common
load helpers/sim

KEY=sk-test-HOSTILE-key-0123456789abcdef

setup_file() { sim_start --speed 1000 --seed 1; }
teardown_file() { sim_stop; }

setup() {
	fresh_store
	export ANTHROPIC_API_KEY=$KEY AGENT_STRATEGY_DIR="$BATS_TEST_TMPDIR/strategies"
	sim_share_strategies "$AGENT_STRATEGY_DIR"
	# small documented timeouts instead of the defaults (120 s, 30 s)
	export AGENT_TIMEOUT_SECONDS=0.5 AGENT_BACKEND_TIMEOUT_SECONDS=1
	export AGENT_MAX_ATTEMPTS=1 AGENT_COUNT_TOKENS=0 AGENT_STRATEGY_VALIDATE=0
	unset AGENT_STREAM AGENT_HTTP_CURL
	PEER_PID=
}

teardown() {
	[ -n "$PEER_PID" ] && kill "$PEER_PID" 2>/dev/null && wait "$PEER_PID" 2>/dev/null
	drop_store
}

# peer MODE: starts t/helpers/hostile-peer; PEER is its base URL
peer() {
	local d="$BATS_TEST_TMPDIR/peer" scheme=http
	mkdir -p "$d"
	python3 "$BATS_TEST_DIRNAME/helpers/hostile-peer" "$1" "$d" --lifetime 40 >"$d/out" 2>"$d/err" 3>&- &
	PEER_PID=$!
	for _ in $(seq 100); do
		[ -s "$d/port" ] && break
		sleep 0.05
	done
	[ -s "$d/port" ] || { echo "hostile-peer $1 did not start" >&2; return 1; }
	[ "$1" = tls-stall ] && scheme=https
	PEER="$scheme://127.0.0.1:$(cat "$d/port")"
	: >"$d/requests"
}

# requests PATTERN: how many requests the peer saw whose line matches
requests() { grep -c -- "$1" "$BATS_TEST_TMPDIR/peer/requests" || true; }

# measure LIMIT CMD...: runs CMD bounded by LIMIT seconds; sets status,
# output, stderr, elapsed (seconds) and rss (peak KiB); the line goes to
# $HOSTILE_REPORT when set.
measure() {
	local limit=$1 d=$BATS_TEST_TMPDIR t0 t1
	shift
	t0=$(date +%s.%N)
	status=0
	timeout -k 1 "$limit" /usr/bin/time -f %M -o "$d/rss" "$@" >"$d/stdout" 2>"$d/stderr" || status=$?
	t1=$(date +%s.%N)
	elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
	rss=$(tail -n 1 "$d/rss" 2>/dev/null)
	output=$(cat "$d/stdout")
	stderr=$(cat "$d/stderr")
	[ -z "${HOSTILE_REPORT:-}" ] ||
		printf '%s\t%s\t%s\t%s s\t%s KiB\t%s\n' "$BATS_TEST_DESCRIPTION" "${MEASURE_TAG:-}" "$status" \
			"$elapsed" "$rss" "$(head -c 160 "$d/stderr")" >>"$HOSTILE_REPORT"
}

# within SECONDS: the last run ended in time and in memory, key unseen
within() {
	[ "$status" -ne 124 ] && [ "$status" -ne 137 ] || fail "hung: killed after the outer bound"
	local bound
	bound=$(awk -v l="$1" -v k="${AGENT_TEST_SLOW:-1}" 'BEGIN { print l * k }')
	awk -v e="$elapsed" -v l="$bound" 'BEGIN { exit !(e <= l) }' || fail "took $elapsed s, more than $bound s"
	# a sanitizer build's RSS is mostly ASan's shadow memory: not held to the bound
	[ "${AGENT_TEST_SANITIZED:-0}" = 1 ] || { [ -n "$rss" ] && [ "$rss" -lt 65536 ]; } ||
		fail "peak RSS ${rss:-?} KiB, not under 64 MB"
	[[ "$stderr" != *"$KEY"* && "$output" != *"$KEY"* ]] || fail "the key is in the output"
	[[ "$stderr" != *HOSTILE-key* ]] || fail "a piece of the key is in stderr"
	[ "$(grep -c . <<<"$stderr")" -le 1 ] || fail "more than one line on stderr: $stderr"
}

# consistent: no open hold, spent = the calls' costs, a call that may have
# been billed charged in full, every session in a legal phase, no key
consistent() {
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_budget_holds WHERE status = 'open'")" 0
	assert_equal "$(sql "SELECT COALESCE(SUM(spent_micros), 0) FROM agent_budget")" \
		"$(sql "SELECT COALESCE(SUM(cost_micros), 0) FROM agent_invocations")"
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations i JOIN agent_budget_holds h ON h.id = i.hold_id
		WHERE i.status = 'unknown_charge' AND i.cost_micros <> h.amount_micros")" 0
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_sessions WHERE phase NOT IN
		('idle','designing','training','backtesting','assessing')
		OR (phase = 'idle') <> (outcome IS NOT NULL)")" 0
	assert_equal "$(snapshot | grep -c HOSTILE-key)" 0
}

# design_session: a session waiting for its design; prints its id
design_session() {
	sql "INSERT INTO agent_sessions (agent, phase, created_at, updated_at, designing_at)
	     VALUES ('default', 'designing', 100, 100, 100)" >/dev/null
	sql "SELECT MAX(id) FROM agent_sessions"
}

# training_session: a session whose training op_training_1 runs; prints its id
training_session() {
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, training_operation_id, created_at, updated_at)
	     VALUES ('default', 'training', 's1', 'op_training_1', 100, 100)" >/dev/null
	sql "SELECT MAX(id) FROM agent_sessions"
}

# model MODE EXIT REGEX [paths]: agent-invoke's design call against the
# peer playing the Messages API in MODE, over each client path (plain: the
# socket path; curl: libcurl; stream: libcurl and server-sent events):
# exit EXIT, stderr matching REGEX, in 0.5 s per attempt plus a margin.
model() {
	local mode=$1 want=$2 re=$3 paths=${4:-plain curl stream} p id
	peer "$mode"
	export ANTHROPIC_BASE_URL=$PEER
	for p in $paths; do
		id=$(design_session)
		unset AGENT_STREAM AGENT_HTTP_CURL
		case $p in
		plain) export AGENT_STREAM=0 ;;
		curl) export AGENT_STREAM=0 AGENT_HTTP_CURL=1 ;;
		stream) export AGENT_STREAM=1 ;;
		esac
		MEASURE_TAG="$mode/$p" measure 15 agent-invoke --kind design --session "$id"
		within 2.5
		[ "$status" -eq "$want" ] || fail "$mode over $p: exit $status, not $want: $stderr"
		[[ "$stderr" =~ $re ]] || fail "$mode over $p: stderr '$stderr' does not match '$re'"
		if [ "$want" -ne 0 ]; then
			# the session waits for the next tick's recovery
			assert_equal "$(sql "SELECT phase, outcome IS NULL FROM agent_sessions WHERE id = $id" | tr 1 t)" "designing|t"
		fi
	done
	consistent
}

@test "messages: a 2 GB body is cut off at the 16 MiB cap" {
	model big 4 "^agent-invoke: gave up after 1 attempts: anthropic: POST /v1/messages: response larger than 16777216 bytes$"
	assert_equal "$(sql "SELECT DISTINCT status FROM agent_invocations")" unknown_charge
}

@test "messages: an endless chunked body is cut off at the cap" {
	model chunked 4 "response larger than 16777216 bytes$"
}

@test "messages: a Content-Length longer than the body, then close: cut short" {
	model clen-long 4 "anthropic: POST /v1/messages: the answer was cut short$"
}

@test "messages: a Content-Length shorter than the body: malformed" {
	model clen-short 4 "anthropic: (malformed response: malformed JSON|stream ended early)"
}

@test "messages: invalid UTF-8 in the text is replaced; the call succeeds" {
	model utf8 0 "^$"
	run -0 iconv -f UTF-8 -t UTF-8 <<<"$output"
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations WHERE status = 'ok'")" 3
}

@test "messages: JSON nested 100 000 deep is refused, not recursed into" {
	model deep 4 "anthropic: (malformed response: malformed JSON: Exceeds depth limit for parsing|stream ended early)$"
}

@test "messages: a 1 MiB header: read by the socket path, refused by libcurl" {
	model header 0 "^$" plain
	model header 4 "anthropic: POST /v1/messages: a response header over 100 KiB, or out of memory$" "curl stream"
}

@test "messages: an event stream that never ends times out" {
	model sse-endless 4 "anthropic: POST /v1/messages: timed out after 0.5 s$" stream
}

@test "messages: 10 000 empty events, then a message: the message" {
	model sse-empty 0 "^$" stream
	assert_equal "$(jq -r .status <<<"$output")" ok
}

@test "messages: slow-loris (a byte a second) times out on every path" {
	model slowloris 4 "anthropic: POST /v1/messages: timed out after 0.5 s$"
}

@test "messages: slow-loris with retries and count_tokens: every attempt bounded, held and settled" {
	peer slowloris
	id=$(design_session)
	export ANTHROPIC_BASE_URL=$PEER AGENT_MAX_ATTEMPTS=2 AGENT_COUNT_TOKENS=1 AGENT_STREAM=0
	# count_tokens: at most 2 s; two attempts of 0.5 s; one backoff of at most 0.5 s
	measure 20 agent-invoke --kind design --session "$id"
	within 4.5
	assert_equal "$status" 4
	assert_regex "$stderr" "^agent-invoke: gave up after 2 attempts: anthropic: POST /v1/messages: timed out after 0.5 s$"
	assert_equal "$(sql "SELECT COUNT(*), COUNT(DISTINCT hold_id) FROM agent_invocations WHERE status = 'unknown_charge'")" "2|2"
	assert_equal "$(requests 'POST /v1/messages$')" 2
	consistent
}

@test "messages: a redirect loop is not followed: one request, exit 5" {
	model redirect 5 "^agent-invoke: anthropic: HTTP 302: a redirect, not followed \(check ANTHROPIC_BASE_URL\)$"
	assert_equal "$(requests 'POST /v1/messages$')" 3
	assert_equal "$(sql "SELECT DISTINCT status || ' ' || cost_micros FROM agent_invocations")" "error 0"
}

@test "messages: an error that quotes the key back: starred out of stderr, the store and the trace" {
	export AGENT_TRACE_JSONL_PATH="$BATS_TEST_TMPDIR/trace.jsonl"
	model echo-key 5 "^agent-invoke: anthropic: HTTP 400 invalid_request_error: no such key: \*+ \(from x-api-key\)$"
	run -1 grep -c HOSTILE-key "$AGENT_TRACE_JSONL_PATH"
}

@test "messages: TLS that never finishes its handshake times out" {
	model tls-stall 4 "anthropic: POST /v1/messages: timed out after 0.5 s$" "curl stream"
	[ "$(requests '^TLS')" -ge 2 ]
}

# trigger MODE REASON: agent-trigger polls op_training_1 on the peer playing
# the backend: exit 0 (a poll tolerates the backend), the documented
# event and reason, one warning line at most, within 1 s plus a margin.
trigger() {
	peer "$1"
	export AGENT_BACKEND_URL=$PEER/api/v1
	id=$(training_session)
	MEASURE_TAG="$1" measure 10 agent-trigger
	within 2.5
	assert_equal "$status" 0
	assert_equal "$(jq -c '[.event, .action, .reason]' <<<"$output")" "[\"training_running\",\"wait\",\"$2\"]"
	assert_equal "$(sql "SELECT phase FROM agent_sessions WHERE id = $id")" training
	if [ "$2" = backend_unreachable ]; then
		assert_regex "$stderr" "^agent-trigger: backend: .*\(failure 1 of 5\)$"
		assert_equal "$(sql "SELECT conn_failures FROM agent_sessions WHERE id = $id")" 1
	else
		assert_equal "$stderr" ""
	fi
	consistent
}

@test "backend poll: a 2 GB body is cut off at the backend's 8 MiB" {
	trigger big backend_unreachable
	assert_regex "$stderr" "response larger than 8388608 bytes"
}

@test "backend poll: endless chunks" { trigger chunked backend_unreachable; }
@test "backend poll: a Content-Length that lies long" { trigger clen-long backend_unreachable; }
@test "backend poll: a Content-Length that lies short" { trigger clen-short backend_unreachable; }
@test "backend poll: JSON nested 100 000 deep" { trigger deep backend_unreachable; }
@test "backend poll: an event stream that never ends" { trigger sse-endless backend_unreachable; }
@test "backend poll: slow-loris" { trigger slowloris backend_unreachable; }
@test "backend poll: a redirect loop, one request" {
	trigger redirect backend_unreachable
	assert_equal "$(requests 'GET /api/v1/operations/op_training_1$')" 1
}
@test "backend poll: TLS that never finishes" { trigger tls-stall backend_unreachable; }
@test "backend poll: a 1 MiB header is read" { trigger header operation_still_running; }

@test "backend poll: invalid UTF-8 in the progress is stored replaced" {
	trigger utf8 operation_still_running
	run -0 iconv -f UTF-8 -t UTF-8 <<<"$(sql "SELECT progress FROM agent_sessions")"
	assert_output --partial "MARK"
}

@test "backend poll: AGENT_MAX_CONN_FAILURES hostile polls end the phase, legally" {
	peer slowloris
	export AGENT_BACKEND_URL=$PEER/api/v1 AGENT_MAX_CONN_FAILURES=2
	id=$(training_session)
	measure 10 agent-trigger
	within 2.5
	# the next tick (agent-cycle's last stage would have released the lease)
	sql "UPDATE agent_state SET lease_holder = NULL, lease_expires_at = 0" >/dev/null
	measure 10 agent-trigger
	within 2.5
	assert_equal "$status" 0
	assert_equal "$(jq -c '[.event, .action, .reason]' <<<"$output")" '["training_failed","end","backend_unreachable"]'
	assert_equal "$(sql "SELECT phase, outcome, failure_reason FROM agent_sessions WHERE id = $id")" \
		"idle|failed_training|training_service_unavailable"
	consistent
}

# tools MODE: agent-sim is the model, the peer the backend its tools reach
# (the context, POST /trainings/start).  The design is paid for and saved:
# a start that does not reach the backend leaves the session designing
# with its strategy, counted (conn_failures), for a later tick's start.
tools() {
	peer "$1"
	export ANTHROPIC_BASE_URL=$SIM_URL AGENT_BACKEND_URL=$PEER/api/v1 AGENT_TIMEOUT_SECONDS=10
	id=$(design_session)
	MEASURE_TAG="$1" measure 20 agent-invoke --kind design --session "$id"
	# one second for each request that reached the peer, and a margin
	within "$(($(requests .) + 2))"
	assert_equal "$status" 0
	assert_equal "$(jq -r .reason <<<"$output")" backend_busy
	assert_equal "$(sql "SELECT phase, conn_failures, strategy_name IS NOT NULL FROM agent_sessions WHERE id = $id" | tr 1 t)" "designing|t|t"
	[ "$1" = tls-stall ] || assert_equal "$(requests 'POST /api/v1/trainings/start$')" 1
	consistent
}

@test "tools: a 2 GB answer to the training start" { tools big; }
@test "tools: a training start answered one byte a second" { tools slowloris; }
@test "tools: a training start whose Content-Length lies" { tools clen-long; }
@test "tools: a training start over TLS that never finishes" { tools tls-stall; }

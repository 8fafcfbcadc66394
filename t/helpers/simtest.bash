# simtest.bash: helpers for t/0300-agent-sim.bats: run agent-sim, call it with
# curl.  Every wait is bounded; every curl has --max-time.  (t/helpers/sim.bash
# is the smaller helper other command tests use to run a simulator.)

SIM_ROOT=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
AGENT_BIN=${AGENT_BIN:-$SIM_ROOT/build/bin}
SIM_KEY=sk-test-secret-4c6f

# st_start DIR [ARGS...]: starts agent-sim with its output in DIR and waits
# up to 5 s for the ready line; sets SIM_DIR, SIM_URL and SIM_PID (the pid
# the ready line names).  A wrapper writes the exit status to DIR/sim.status,
# so any shell can stop it and learn how it ended.
st_start() {
	local dir=$1 i
	shift
	rm -f "$dir/sim.out" "$dir/sim.err" "$dir/sim.status"
	("$AGENT_BIN/agent-sim" "$@" >"$dir/sim.out" 2>"$dir/sim.err"
	 echo $? >"$dir/sim.status") 3>&- &
	for i in $(seq 100); do
		[ -s "$dir/sim.out" ] || [ -e "$dir/sim.status" ] && break
		sleep 0.05
	done
	SIM_DIR=$dir
	SIM_URL=$(head -n 1 "$dir/sim.out" | jq -r .url 2>/dev/null)
	SIM_PID=$(head -n 1 "$dir/sim.out" | jq -r .pid 2>/dev/null)
	[ -n "$SIM_URL" ] && [ "$SIM_URL" != null ]
}

# st_stop [SIGNAL]: signals the simulator of SIM_DIR, waits up to 5 s for it
# to exit (then kills it), and sets SIM_STATUS to its exit status.
st_stop() {
	local sig=${1:-TERM} i
	SIM_STATUS=none
	kill "-$sig" "$SIM_PID" 2>/dev/null || return 1
	for i in $(seq $((100 * ${AGENT_TEST_SLOW:-1}))); do
		[ -s "$SIM_DIR/sim.status" ] && break
		sleep 0.05
	done
	if [ -s "$SIM_DIR/sim.status" ]; then
		SIM_STATUS=$(cat "$SIM_DIR/sim.status")
	else
		kill -KILL "$SIM_PID" 2>/dev/null || true
		SIM_STATUS="still running after $((5 * ${AGENT_TEST_SLOW:-1})) s"
	fi
	return 0
}

# http METHOD URL [CURL-ARGS...]: the body goes to $BATS_TEST_TMPDIR/body,
# the headers to .../headers; prints the status code.
http() {
	local m=$1 u=$2
	shift 2
	curl -sS --max-time 5 -X "$m" -o "$BATS_TEST_TMPDIR/body" \
		-D "$BATS_TEST_TMPDIR/headers" -w '%{http_code}' "$@" "$u"
}

# model BODY [CURL-ARGS...]: POST /v1/messages with a key and 2026-10-21.
model() {
	local b=$1
	shift
	http POST "$SIM_URL/v1/messages" -H "x-api-key: $SIM_KEY" \
		-H 'anthropic-version: 2026-10-21' -H 'content-type: application/json' \
		--data-binary "$b" "$@"
}

# jqb FILTER...: jq -e over the last body.
jqb() {
	jq -e "$@" "$BATS_TEST_TMPDIR/body"
}

# header NAME: the value of a header of the last answer.
header() {
	grep -i "^$1:" "$BATS_TEST_TMPDIR/headers" | head -n 1 | cut -d' ' -f2- | tr -d '\r'
}

# fault JSON: adds a fault; fails unless the simulator took it.
fault() {
	curl -sS --max-time 5 -f -X POST --data-binary "$1" "$SIM_URL/_sim/faults" >/dev/null
}

# wait_op ID STATUS: polls an operation for up to 5 s.
wait_op() {
	local i s
	for i in $(seq 100); do
		s=$(curl -sS --max-time 2 "$SIM_URL/api/v1/operations/$1" | jq -r .data.status)
		[ "$s" = "$2" ] && return 0
		sleep 0.05
	done
	echo "operation $1 is $s, not $2" >&2
	return 1
}

# next_turn IS_ERROR CONTENT: extends the request in $BATS_TEST_TMPDIR/req
# with the last answer's assistant turn and a tool_result for each tool_use.
next_turn() {
	jq -c --slurpfile r "$BATS_TEST_TMPDIR/body" --argjson err "$1" --arg content "$2" \
		'.messages += [{role: "assistant", content: $r[0].content},
		  {role: "user", content: [$r[0].content[] | select(.type == "tool_use") |
		   {type: "tool_result", tool_use_id: .id, content: $content, is_error: $err}]}]' \
		"$BATS_TEST_TMPDIR/req" >"$BATS_TEST_TMPDIR/req.next" &&
		mv "$BATS_TEST_TMPDIR/req.next" "$BATS_TEST_TMPDIR/req"
}

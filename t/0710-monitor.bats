#!/usr/bin/env bats
# agent-monitor and `agent trigger --monitor` against agent-sim (slow
# simulated time, so training is still running when we look): JSON lines off
# a terminal, the nested bars in a real terminal (tmux), Ctrl+C cancels (the
# session ends cancelled, the simulator sees the DELETE), the summary of a
# success, a lost connection and its backoff, a lost operation, the bounds.
# Every wait is bounded; the simulator and tmux are stopped in teardown.

load helpers/common
load helpers/sim

setup_file() {
	sim_start --speed 10 --seed 7 -q
}
teardown_file() { sim_stop; }

setup() {
	fresh_store
	export AGENT_STRATEGY_DIR="$BATS_TEST_TMPDIR/strategies" ANTHROPIC_API_KEY=test-key-for-the-simulator
	sim_share_strategies "$AGENT_STRATEGY_DIR"
	# the strategy the training reads, in the backend's directory
	cp "$BATS_TEST_DIRNAME/data/ktrdr/strategies/valid_minimal.yaml" "$AGENT_STRATEGY_DIR/mon.yaml"
	export TMUX_SOCK="agent-test-$$-$BATS_TEST_NUMBER"
	sim_clear
}
teardown() {
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true
	[ -z "${MON_PID:-}" ] || kill "$MON_PID" 2>/dev/null || true
	drop_store
}

NOW=$(date +%s)

# training_op: starts a training on the simulator; prints its operation id
training_op() {
	curl -sf --max-time 5 -X POST -H 'content-type: application/json' \
		-d '{"symbols":["AAPL"],"timeframes":["1h"],"strategy_name":"mon"}' \
		"$AGENT_BACKEND_URL/trainings/start" | jq -r .task_id
}

# seed_training OP [NAME]: session 1 of agent default, training on OP
seed_training() {
	local now
	now=$(date +%s)
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, training_operation_id, designing_at, training_at,
	       created_at, updated_at) VALUES ('default', 'training', '${2:-mon_strategy}', '$1', $now, $now, $now, $now)" >/dev/null
}

# end_success: session 1 ends with success, with the backend's result_summary
end_success() {
	sql "UPDATE agent_sessions SET phase = 'idle', outcome = 'success', completed_at = updated_at,
	       backtest_results = '{\"metrics\":{\"sharpe_ratio\":1.216,\"win_rate\":0.6098,\"max_drawdown_pct\":0.2338}}',
	       assessment = '{\"verdict\":\"promising\"}' WHERE id = 1" >/dev/null
}

# screen: the tmux pane's text
screen() { tmux -L "$TMUX_SOCK" capture-pane -p -t mon; }

# wait_screen REGEX [TRIES]: waits (0.1 s a try, 100 tries) for the pane to match
wait_screen() {
	local i
	for i in $(seq "${2:-100}"); do
		[[ $(screen) =~ $1 ]] && return 0
		sleep 0.1
	done
	echo "the screen never matched '$1':" >&2
	screen >&2
	return 1
}

# in_tmux CMD [ENV]: runs CMD in a terminal of TW x TH (120x30); its exit
# status goes to $BATS_TEST_TMPDIR/rc
in_tmux() {
	tmux -L "$TMUX_SOCK" new-session -d -s mon -x "${TW:-120}" -y "${TH:-30}" \
		"cd '$BATS_TEST_TMPDIR'; export PATH='$PATH' AGENT_DB='$AGENT_DB' AGENT_DATADIR='$AGENT_DATADIR' \
		 AGENT_BACKEND_URL='$AGENT_BACKEND_URL' ANTHROPIC_BASE_URL='$ANTHROPIC_BASE_URL' \
		 ANTHROPIC_API_KEY='$ANTHROPIC_API_KEY' AGENT_STRATEGY_DIR='$AGENT_STRATEGY_DIR' ${2:-}; \
		 $1; echo \$? >'$BATS_TEST_TMPDIR/rc'; sleep 60"
}

wait_rc() {
	local i
	for i in $(seq 100); do
		[ -s "$BATS_TEST_TMPDIR/rc" ] && { cat "$BATS_TEST_TMPDIR/rc"; return 0; }
		sleep 0.1
	done
	echo "no exit status after 10 s" >&2
	return 1
}

@test "nothing to follow: exit 1 and a summary that says so" {
	run -1 --separate-stderr agent-monitor --json --timeout 5
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.end, .session, .message]' <<<"$output")" "[\"none\",null,\"agent 'default' has no active research session\"]"
	run -1 --separate-stderr agent-monitor 42 --json
	assert_equal "$(jq -c '[.end, .message]' <<<"$output")" '["none","no session 42"]'
	NO_COLOR=1 run -1 --separate-stderr script -qec 'agent-monitor' /dev/null
	assert_regex "$output" "agent 'default' has no active research session"
}

@test "off a terminal: a JSON line per change, the child's progress, then the summary of a success" {
	op=$(training_op)
	seed_training "$op"
	agent-monitor --json --interval 0.2 --timeout 30 >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	MON_PID=$!
	for _ in $(seq 100); do [ "$(grep -c Epoch "$BATS_TEST_TMPDIR/out")" -ge 3 ] && break; sleep 0.1; done
	end_success
	wait "$MON_PID" && st=0 || st=$?
	MON_PID=
	assert_equal "$st" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/err")" ""
	# the frames: session 1 in training at 20 %, the operation's epochs going up
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/out" | jq -c '[.session, .agent, .phase, .percent, .step, .strategy, .child.operation_id, .connection]')" \
		"[1,\"default\",\"training\",20,\"Training model...\",\"mon_strategy\",\"$op\",\"ok\"]"
	steps=$(sed '$d' "$BATS_TEST_TMPDIR/out" | jq -r '.child.current_step' | sed -n 's|^Epoch \([0-9]*\)/100$|\1|p')
	[ "$(wc -l <<<"$steps")" -ge 3 ] || fail "fewer than 3 frames with an epoch: $steps"
	[ "$(sort -n <<<"$steps")" = "$steps" ] || fail "epochs not in order: $steps"
	# no two lines alike but for the clock
	[ "$(sed '$d' "$BATS_TEST_TMPDIR/out" | jq -c 'del(.at, .elapsed_seconds)' | sort | uniq -d)" = "" ] || fail "a repeated frame"
	assert_equal "$(tail -n 1 "$BATS_TEST_TMPDIR/out" | jq -c '[.end, .session, .outcome, .strategy, .verdict, .sharpe, .win_rate, .max_drawdown, .phase]')" \
		'["ended",1,"success","mon_strategy","promising",1.216,0.6098,0.2338,"training"]'
}

@test "tmux: agent trigger --monitor draws the nested bars; Ctrl+C cancels the session and the operation" {
	in_tmux "agent trigger --monitor --interval 0.2"
	wait_screen 'Epoch [0-9]+/[0-9]+' 150
	run screen
	assert_regex "${lines[0]}" '^Session 1 [a-z0-9_]+ +\[#+\.+\]  20%  Training model\.\.\.  0:[0-9]{2}$'
	assert_regex "${lines[1]}" '^  (└─|`-) Epoch [0-9]+/[0-9]+  \[#*\.+\] +[0-9.]+%  0:[0-9]{2}$'
	op=$(sql "SELECT training_operation_id FROM agent_sessions WHERE id = 1")
	[ -n "$op" ]
	tmux -L "$TMUX_SOCK" send-keys -t mon C-c
	wait_screen 'cancelled while training'
	assert_equal "$(wait_rc)" 1
	run screen
	# one confirmation line
	assert_regex "$output" "Session 1 cancelled while training \\(Epoch [0-9]+/[0-9]+\\); operation $op cancelled"
	assert_equal "$(sql "SELECT phase, outcome, failure_reason FROM agent_sessions WHERE id = 1")" "idle|cancelled|cancelled from agent-monitor"
	curl -sf --max-time 5 "$SIM_URL/_sim/requests" >"$BATS_TEST_TMPDIR/req"
	assert_equal "$(jq -c "[.requests[] | select(.method == \"DELETE\") | [.path, .status]]" "$BATS_TEST_TMPDIR/req")" \
		"[[\"/api/v1/operations/$op\",200]]"
	curl -sf --max-time 5 "$SIM_URL/_sim/state" >"$BATS_TEST_TMPDIR/state"
	assert_equal "$(jq -r --arg op "$op" '.operations[] | select(.operation_id == $op) | .status' "$BATS_TEST_TMPDIR/state")" cancelled
	# the tick ran, finished, and left the lease free
	assert_equal "$(sql "SELECT COUNT(*), MIN(exit_status) FROM agent_triggers")" "1|0"
	assert_equal "$(sql "SELECT COALESCE(lease_holder, '-') FROM agent_state")" "-"
}

@test "tmux: the summary of a success, in colour unless NO_COLOR" {
	op=$(training_op)
	seed_training "$op"
	in_tmux "agent-monitor --interval 0.2" "NO_COLOR=1"
	wait_screen 'Epoch [0-9]+/100'
	end_success
	wait_screen 'Session 1 ended: success'
	assert_equal "$(wait_rc)" 0
	run screen
	assert_regex "$output" $'Session 1 ended: success after 0:[0-9]{2}\n  strategy mon_strategy, verdict promising\n  Sharpe 1.22 \\| win rate 61.0% \\| max drawdown 23.4%'
	tmux -L "$TMUX_SOCK" kill-server
	# colours: the raw escapes of the pane
	sql "UPDATE agent_sessions SET phase = 'training', outcome = NULL WHERE id = 1" >/dev/null
	rm -f "$BATS_TEST_TMPDIR/rc"
	in_tmux "agent-monitor --interval 0.2"
	wait_screen 'Epoch [0-9]+/100'
	run tmux -L "$TMUX_SOCK" capture-pane -p -e -t mon
	assert_regex "$output" $'\e\\[1mSession 1'
}

# tmux_gone: stops the tmux server and waits (5 s at most) until it has gone
tmux_gone() {
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true
	for _ in $(seq 50); do
		tmux -L "$TMUX_SOCK" ls >/dev/null 2>&1 || return 0
		sleep 0.1
	done
}

# fits WIDTH: every line of the pane is shorter than WIDTH columns
fits() {
	local l n=0
	while IFS= read -r l; do
		n=$((n + 1))
		[ "${#l}" -lt "$1" ] || { echo "line $n has ${#l} columns: '$l'" >&2; return 1; }
	done < <(screen)
}

@test "tmux at 80x24 and 60x20: lines fit, long names cut with an ellipsis, both clocks advance" {
	op=$(training_op)
	seed_training "$op" a_strategy_with_a_name_far_too_long_for_any_narrow_terminal_window
	for size in 80x24 60x20; do
		TW=${size%x*} TH=${size#*x} in_tmux "agent-monitor --no-cancel --interval 0.2" "LANG=C.UTF-8"
		wait_screen 'Epoch [0-9]+/100'
		run screen
		assert_regex "${lines[0]}" '^Session 1 a_str[a-z_]*…  \[#+\.+\]  20%  Training[a-z .]*…?  0:[0-9]{2}$'
		assert_regex "${lines[1]}" '^  └─ Epoch [0-9]+/100  \[#*\.+\] +[0-9.]+%  0:[0-9]{2}$'
		LANG=C.UTF-8 fits "${size%x*}"
		first=$(screen)
		sleep 2.2
		LANG=C.UTF-8 fits "${size%x*}"
		# the cycle's clock (line 1) and the operation's (line 2) moved on
		a1=$(sed -n 1p <<<"$first" | grep -oE '[0-9]+:[0-9]{2}$') a2=$(screen | sed -n 1p | grep -oE '[0-9]+:[0-9]{2}$')
		b1=$(sed -n 2p <<<"$first" | grep -oE '[0-9]+:[0-9]{2}$') b2=$(screen | sed -n 2p | grep -oE '[0-9]+:[0-9]{2}$')
		[ "$a1" != "$a2" ] || fail "the cycle's clock stood at $a1"
		[ "$b1" != "$b2" ] || fail "the operation's clock stood at $b1"
		tmux_gone
	done
	# ASCII off UTF-8: "..." and "`-"
	TW=60 TH=20 in_tmux "agent-monitor --no-cancel --interval 0.2" "LANG=C LC_ALL=C"
	wait_screen 'Epoch [0-9]+/100'
	run screen
	assert_regex "${lines[0]}" '^Session 1 a_str[a-z_]*\.\.\.  \[#*\.+\]  20%  Training'
	assert_regex "${lines[1]}" '^  `- Epoch'
	fits 60
}

@test "the operation over and the session not moved on: the monitor says what it waits for" {
	op=$(training_op)
	seed_training "$op"
	now=$(date +%s)
	sql "INSERT INTO agent_state (agent, last_tick_at, updated_at) VALUES ('default', $((now - 100)), $now)" >/dev/null
	curl -sf --max-time 5 -X DELETE "$AGENT_BACKEND_URL/operations/$op" >/dev/null
	TW=80 TH=24 in_tmux "agent-monitor --no-cancel --interval 0.2" "LANG=C.UTF-8 AGENT_TICK_INTERVAL_SECONDS=300"
	wait_screen 'next tick in'
	run screen
	assert_regex "${lines[1]}" '^  └─ training cancelled; next tick in 3:[0-9]{2}$'
}

@test "a lost connection: 'connection lost, retrying', backing off 1, 2 s, then on again" {
	op=$(training_op)
	seed_training "$op"
	sim_fault '{"route":"/api/v1/operations","method":"GET","drop":true,"count":2}'
	agent-monitor --json --interval 0.2 --timeout 30 >"$BATS_TEST_TMPDIR/out" 2>&1 &
	MON_PID=$!
	for _ in $(seq 100); do grep -q '"connection":"ok".*Epoch' "$BATS_TEST_TMPDIR/out" && break; sleep 0.1; done
	end_success
	wait "$MON_PID" && st=0 || st=$?
	MON_PID=
	assert_equal "$st" 0
	assert_equal "$(jq -c 'select(.connection) | [.connection, .retry_in, .message]' "$BATS_TEST_TMPDIR/out" | uniq | head -n 3 | tr '\n' ' ')" \
		'["lost",1,"connection lost, retrying in 1 s"] ["lost",2,"connection lost, retrying in 2 s"] ["ok",null,null] '
	# the retries waited about 1 + 2 s
	t=$(jq -s '[.[] | select(.connection)] | (map(select(.connection == "ok")) | first | .at_epoch) - (first | .at_epoch)' "$BATS_TEST_TMPDIR/out")
	[ "$t" -ge 2 ] && [ "$t" -le 5 ] || fail "back to ok after $t s"
}

@test "the backend lost the operation (404): a clean end with a message, exit 4" {
	seed_training op_training_gone_after_restart
	run -4 --separate-stderr agent-monitor --json --timeout 20
	assert_equal "$stderr" ""
	assert_equal "$(tail -n 1 <<<"$output" | jq -c '[.end, .session, .phase, .message]')" \
		'["lost",1,"training","the backend no longer knows operation op_training_gone_after_restart (restarted?); the next tick ends the session"]'
	assert_equal "$(sql "SELECT phase FROM agent_sessions")" training
}

@test "bounded: --timeout, SIGTERM and --no-cancel leave the cycle alone" {
	op=$(training_op)
	seed_training "$op"
	run -4 --separate-stderr timeout 20 agent-monitor --json --timeout 1
	assert_equal "$(tail -n 1 <<<"$output" | jq -c '[.end, .message]')" '["timeout","stopped following after 1 s (--timeout); the cycle goes on"]'
	for sig in TERM INT; do
		opt=
		[ "$sig" = INT ] && opt=--no-cancel
		agent-monitor --json $opt --interval 0.2 >"$BATS_TEST_TMPDIR/out" 2>&1 &
		MON_PID=$!
		for _ in $(seq 50); do grep -q Epoch "$BATS_TEST_TMPDIR/out" && break; sleep 0.1; done
		kill "-$sig" "$MON_PID"
		wait "$MON_PID" && st=0 || st=$?
		MON_PID=
		assert_equal "$st" 0
		assert_equal "$(tail -n 1 "$BATS_TEST_TMPDIR/out" | jq -r .end)" stopped
	done
	assert_equal "$(sql "SELECT phase FROM agent_sessions")" training
	curl -sf --max-time 5 "$SIM_URL/_sim/requests" >"$BATS_TEST_TMPDIR/req"
	assert_equal "$(jq '[.requests[] | select(.method == "DELETE")] | length' "$BATS_TEST_TMPDIR/req")" 0
}

@test "agent-monitor: usage errors exit 2 and change nothing" {
	before=$(snapshot)
	run -2 --separate-stderr agent-monitor 1 --trigger
	assert_equal "${stderr_lines[0]}" "agent-monitor: SESSION and --trigger do not go together"
	run -2 --separate-stderr agent-monitor --force
	assert_equal "${stderr_lines[0]}" "agent-monitor: --force goes with --trigger"
	run -2 --separate-stderr agent-monitor x
	assert_equal "${stderr_lines[0]}" "agent-monitor: SESSION: not a whole number from 1 to 9000000000000000000: 'x'"
	run -2 --separate-stderr agent-monitor --interval 0
	run -2 --separate-stderr agent-monitor 1 2
	assert_equal "${stderr_lines[0]}" "agent-monitor: unexpected argument '2'"
	run -2 --separate-stderr agent trigger --monitor --loop
	assert_equal "${stderr_lines[0]}" "agent-monitor: unrecognized option '--loop'"
	assert_equal "$(snapshot)" "$before"
}

#!/usr/bin/env bats
# agent trigger --monitor drives the cycle itself: a fast agent-sim (an
# operation ends within a second or two), so the whole cycle runs while the
# monitor follows; each later tick is run by the monitor as soon as the
# backend's operation is over, under agent-cycle's lease.  Also -m MODEL,
# --dry-run, and the waiting line of a monitor that does not drive.
# Every wait is bounded (--timeout); the simulator is stopped in teardown.

load helpers/common
load helpers/sim

setup_file() {
	sim_start --speed 600 --seed 7 -q
}
teardown_file() { sim_stop; }

setup() {
	fresh_store
	export ANTHROPIC_API_KEY=test-key-for-the-simulator AGENT_AUTO_START=1
	sim_share_strategies "$AGENT_STRATEGY_DIR"
	sim_clear
	unset AGENT_MODEL AGENT_MODEL_DESIGN AGENT_MODEL_POST_TRAINING AGENT_MODEL_ASSESSMENT
}
teardown() { drop_store; }

@test "agent trigger --monitor runs the whole cycle: later ticks run as each operation ends" {
	run --separate-stderr agent trigger --monitor --json --interval 0.2 --timeout 120
	assert_success
	sum=$(tail -n 1 <<<"$output")
	assert_equal "$(jq -c '[.end, .session, .outcome]' <<<"$sum")" '["ended",1,"success"]'
	# the ticks it ran after the first: at least the one after training and
	# the one after the backtest, every one on the trigger table
	runs=$(jq '.ticks_run' <<<"$sum")
	[ "$runs" -ge 2 ] || fail "ticks_run $runs"
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_triggers")" "$((runs + 1))"
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_triggers WHERE exit_status <> 0")" 0
	# it said what it waited for while the operation was over
	sed '$d' <<<"$output" | jq -r 'select(.waiting) | .waiting.text' | grep -Eq '^training done; the next tick is running$' ||
		fail "no waiting frame after training: $output"
	# cost and calls in the summary are the session's
	assert_equal "$(jq -r '.calls' <<<"$sum")" "$(sql "SELECT COUNT(*) FROM agent_invocations WHERE session_id = 1")"
	[ "$(jq '.cost_usd > 0' <<<"$sum")" = true ]
	# the lease is free and one session ran
	assert_equal "$(sql "SELECT COALESCE(lease_holder, '-') FROM agent_state")" "-"
	assert_equal "$(sql "SELECT COUNT(*), MIN(outcome) FROM agent_sessions")" "1|success"
}

@test "-m MODEL: every invocation of the cycle uses it; a short name stands for its id" {
	run --separate-stderr agent trigger -f -m haiku --json --interval 0.2 --timeout 120
	assert_success
	assert_equal "$(tail -n 1 <<<"$output" | jq -r .outcome)" success
	assert_equal "$(sql "SELECT DISTINCT model FROM agent_invocations")" claude-haiku-4-5-20251001
	# agent-cycle alone takes it too
	last=$(sql "SELECT MAX(id) FROM agent_invocations")
	run --separate-stderr agent trigger -m claude-sonnet-4-5-20250929 --force --json
	assert_success
	assert_equal "$(sql "SELECT DISTINCT model FROM agent_invocations WHERE id > $last")" claude-sonnet-4-5-20250929
}

@test "-m and --dry-run: usage errors exit 2; --dry-run says what the tick would do and does nothing" {
	run --separate-stderr agent trigger -m 'no such!' --monitor
	assert_failure 2
	assert_regex "$stderr" "^agent-monitor: --model: not 1 to 100 characters"
	run --separate-stderr agent-cycle --model ''
	assert_failure 2
	run --separate-stderr agent-monitor -m haiku
	assert_failure 2
	assert_regex "$stderr" "^agent-monitor: --model goes with --trigger"
	run --separate-stderr agent-monitor --dry-run
	assert_failure 2
	run --separate-stderr agent trigger --monitor --dry-run --json
	assert_success
	assert_equal "$(jq -r '.tick.dry_run' <<<"$output")" true
	assert_equal "$(sql "SELECT (SELECT COUNT(*) FROM agent_sessions) + (SELECT COUNT(*) FROM agent_triggers)")" 0
}

@test "a monitor that does not drive says when the timer's next tick is due" {
	cp "$BATS_TEST_DIRNAME/data/ktrdr/strategies/valid_minimal.yaml" "$AGENT_STRATEGY_DIR/mon.yaml"
	op=$(curl -sf --max-time 5 -X POST -H 'content-type: application/json' \
		-d '{"symbols":["AAPL"],"timeframes":["1h"],"strategy_name":"mon"}' \
		"$AGENT_BACKEND_URL/trainings/start" | jq -r .task_id)
	now=$(date +%s)
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, training_operation_id, designing_at, training_at,
	       created_at, updated_at) VALUES ('default', 'training', 'mon_strategy', '$op', $now, $now, $now, $now)" >/dev/null
	sql "INSERT INTO agent_state (agent, last_tick_at, updated_at) VALUES ('default', $((now - 60)), $now)" >/dev/null
	# the training ends within about two seconds
	for _ in $(seq 50); do
		[ "$(curl -sf --max-time 5 "$AGENT_BACKEND_URL/operations/$op" | jq -r .data.status)" = completed ] && break
		sleep 0.1
	done
	AGENT_TICK_INTERVAL_SECONDS=300 run --separate-stderr agent-monitor --json --interval 0.2 --timeout 1
	assert_failure 4
	w=$(sed '$d' <<<"$output" | jq -r '.waiting.text' | tail -n 1)
	assert_regex "$w" '^training done; next tick in (3:[0-9]{2}|4:00)$'
	left=$(sed '$d' <<<"$output" | jq -r '.waiting.next_tick_in_seconds' | tail -n 1)
	[ "$left" -ge 230 ] && [ "$left" -le 240 ] || fail "next tick in $left s"
	assert_equal "$(sed '$d' <<<"$output" | jq -r '.child.status' | tail -n 1)" completed
	# nothing was ticked
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_triggers")" 0
}

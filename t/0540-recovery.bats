#!/usr/bin/env bats
# Crashes: the pipeline killed (kill -9) after each stage and in the middle
# of an invocation; the next ticks recover.  Every session ends in a valid
# outcome or goes on, the budget ledger equals the invocations plus the
# expired holds, no action row is lost, nothing is charged twice.

load helpers/common
load helpers/sim

setup_file() { sim_start --speed 2000 --seed 1; }
teardown_file() { sim_stop; }

setup() {
	fresh_store
	sim_clear
	export ANTHROPIC_API_KEY=sk-test-recovery AGENT_STRATEGY_DIR="$BATS_TEST_TMPDIR/strategies"
	sim_share_strategies "$AGENT_STRATEGY_DIR"
	export AGENT_LEASE_SECONDS=600 AGENT_TIMEOUT_SECONDS=30
	unset AGENT_NOW TRACEPARENT AGENT_AUTO_START
}
teardown() { drop_store; }

ledger_ok() { # spent == invocations + expired holds; no hold left open
	# an expired hold is spent in full the next time anyone looks (status)
	agent-budget -q status
	assert_equal "$(sql "SELECT COALESCE(SUM(spent_micros), 0) FROM agent_budget")" \
		"$(sql "SELECT (SELECT COALESCE(SUM(cost_micros), 0) FROM agent_invocations)
		          + (SELECT COALESCE(SUM(amount_micros), 0) FROM agent_budget_holds WHERE status = 'expired')")"
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_budget_holds WHERE status = 'open'")" 0
	# every hold is accounted for exactly once: an invocation row or an expiry
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_budget_holds h WHERE status = 'settled'
		AND NOT EXISTS (SELECT 1 FROM agent_invocations i WHERE i.hold_id = h.id)")" 0
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations GROUP BY hold_id HAVING COUNT(*) > 1")" ""
}

valid_outcomes() { # every ended session has a known outcome
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_sessions WHERE phase = 'idle' AND outcome IS NULL")" 0
}

# ticks N [AGENT_NOW]: N ticks through agent-cycle, a moment apart
ticks() {
	local i
	for i in $(seq 1 "$1"); do
		agent-cycle -q >>"$BATS_TEST_TMPDIR/ticks.jsonl" || true
		sleep 0.2
	done
}

later() { # the store's "now", well past every lease and hold of the crash
	date -u -d "@$(($(date +%s) + 3600))" +%Y-%m-%dT%H:%M:%SZ
}

@test "killed after each stage: the next ticks recover and the cycle goes on" {
	stages=(agent-trigger agent-gate agent-budget agent-invoke agent-metrics-agg)
	for n in 1 2 3 4; do
		# the pipeline up to stage n, and nothing after: as if killed there
		doc=$(agent-trigger)
		for ((k = 1; k < n; k++)); do
			doc=$("${stages[$k]}" <<<"$doc")
		done
		# a new tick while the dead one's lease is live: busy, nothing done
		run -0 agent-trigger
		assert_equal "$(jq -r .event <<<"$output")" busy
		# once the lease has expired the next tick carries on
		export AGENT_NOW=$(later)
		run -0 --separate-stderr agent-cycle -q
		assert_equal "$(jq -r .event <<<"$output" | grep -c busy)" 0
		unset AGENT_NOW
		ticks 12
		valid_outcomes
	done
	ledger_ok
	# no tick's tool call was lost: every session that trained has its actions
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_sessions s WHERE training_operation_id IS NOT NULL
		AND NOT EXISTS (SELECT 1 FROM agent_actions a WHERE a.session_id = s.id AND a.tool_name = 'start_training')")" 0
}

@test "killed in the middle of an invocation: the hold expires in full, the invocation is retried once" {
	sim_fault '{"route":"messages","hang":true,"count":1}'
	setsid agent-cycle -q >"$BATS_TEST_TMPDIR/killed.jsonl" 2>&1 &
	pid=$!
	# wait (bounded) until the model call is under way: a hold is open
	for _ in $(seq 100); do
		[ "$(sql "SELECT COUNT(*) FROM agent_budget_holds WHERE status = 'open'")" = 1 ] && break
		sleep 0.05
	done
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_budget_holds WHERE status = 'open'")" 1
	kill -9 -- "-$pid"
	wait "$pid" || true
	assert_equal "$(sql "SELECT phase, invoke_attempts FROM agent_sessions")" "designing|1"
	held=$(sql "SELECT amount_micros FROM agent_budget_holds")
	# an hour later the lease and the hold have expired; the next tick retries
	export AGENT_NOW=$(later)
	run -0 --separate-stderr agent-cycle -q
	assert_equal "$(jq -c '[.event, .reason]' <<<"$output")" '["recovered","training_started"]'
	assert_equal "$(sql "SELECT status, settled_micros FROM agent_budget_holds WHERE id = 1")" "expired|$held"
	ledger_ok
	valid_outcomes
}

@test "an invocation that dies twice ends the session failed_interrupted" {
	for round in 1 2; do
		sim_clear
		sim_fault '{"route":"messages","hang":true,"count":1}'
		[ "$round" = 2 ] && export AGENT_NOW=$(later)
		setsid agent-cycle -q >/dev/null 2>&1 &
		pid=$!
		# this round's call is under way once its hold exists
		for _ in $(seq 100); do
			[ "$(sql "SELECT COUNT(*) FROM agent_budget_holds")" = "$round" ] && break
			sleep 0.05
		done
		kill -9 -- "-$pid"
		wait "$pid" || true
	done
	assert_equal "$(sql "SELECT phase, invoke_attempts FROM agent_sessions")" "designing|2"
	export AGENT_NOW=$(date -u -d "@$(($(date +%s) + 7200))" +%Y-%m-%dT%H:%M:%SZ)
	run -0 --separate-stderr agent-cycle -q
	assert_equal "$(sql "SELECT phase, outcome FROM agent_sessions WHERE id = 1")" "idle|failed_interrupted"
	ledger_ok
}

#!/usr/bin/env bats
# agent-trigger: every decision of the tick, the lease, the trigger row, the
# dry run, bad options and configuration.  Paths that poll the backend run
# against agent-sim in t/0520 and below where no server is needed (nothing
# listens on 127.0.0.1:1).

load helpers/common

setup() {
	fresh_store
	export AGENT_NOW=2026-11-24T03:20:00Z
	export AGENT_BACKEND_URL=http://127.0.0.1:1/api/v1
	# no backend here: the platform's own agent is asked in t/0530
	export AGENT_COEXIST_CHECK=0 AGENT_HEALTH_CHECK=0
	unset AGENT_AUTO_START AGENT_MAX_RESUMES AGENT_MAX_CONN_FAILURES AGENT_LEASE_SECONDS TRACEPARENT
}
teardown() { drop_store; }

NOW=1795490400   # 2026-11-24T03:20:00Z

# seed PHASE [SET-CLAUSE]: the agent's active session (id 1)
seed() {
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, created_at, updated_at, designing_at)
	     VALUES ('default', '$1', 's1', $((NOW - 3600)), $((NOW - 3600)), $((NOW - 3600)))" >/dev/null
	[ -z "${2:-}" ] || sql "UPDATE agent_sessions SET $2 WHERE id = 1" >/dev/null
}

# fields: the decision of the tick document in $output
fields() { jq -c '[.event, .action, .reason]' <<<"$output"; }

trigger_row() { # trigger_row TICK
	sql "SELECT event, action, reason, COALESCE(session_id, 0),
	            CASE WHEN invoked THEN 1 ELSE 0 END, COALESCE(skip_reason, '-')
	       FROM agent_triggers WHERE tick_id = '$1'"
}

@test "no session: a new cycle starts, the trigger row and the lease are the tick's" {
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.tick.id, .tick.at, .tick.agent, .session.id, .session.phase, (.result // "none")]' <<<"$output")" \
		'["t1","2026-11-24T03:20:00.000Z","default",1,"designing","none"]'
	assert_equal "$(fields)" '["start_new_cycle","invoke","no_active_session"]'
	assert_regex "$(jq -r .tick.traceparent <<<"$output")" '^00-[0-9a-f]{32}-[0-9a-f]{16}-01$'
	assert_equal "$(jq -r 'keys_unsorted | join(",")' <<<"$output")" "tick,event,action,reason,session"
	assert_equal "$(trigger_row t1)" "start_new_cycle|invoke|no_active_session|1|0|-"
	assert_equal "$(sql "SELECT budget_spent_micros, budget_remaining_micros, at FROM agent_triggers")" "0|5000000|$NOW"
	assert_equal "$(sql "SELECT phase, designing_at, created_at FROM agent_sessions")" "designing|$NOW|$NOW"
	assert_equal "$(sql "SELECT cycles_started, cycles_completed FROM agent_budget")" "1|0"
	assert_equal "$(sql "SELECT lease_holder, lease_expires_at FROM agent_state")" "t1|$((NOW + 600))"
}

@test "a live lease: the tick is busy, logged, and exits 0; an expired lease is taken over" {
	run -0 --separate-stderr agent-trigger --tick t1
	before=$(sql "SELECT * FROM agent_sessions")
	AGENT_NOW=2026-11-24T03:25:00Z run -0 --separate-stderr agent-trigger --tick t2
	assert_equal "$stderr" ""
	assert_equal "$(fields)" '["busy","skip","lease_held"]'
	assert_equal "$(jq -c .session <<<"$output")" null
	assert_equal "$(trigger_row t2)" "busy|skip|lease_held|0|0|lease_held"
	assert_equal "$(sql "SELECT * FROM agent_sessions")" "$before"
	assert_equal "$(sql "SELECT lease_holder FROM agent_state")" t1
	# ten minutes on, t1's lease (600 s) has expired: a crashed tick blocks nothing
	AGENT_NOW=2026-11-24T03:30:00Z run -0 --separate-stderr agent-trigger --tick t3
	assert_equal "$(fields)" '["recovered","invoke","awaiting_design"]'
	assert_equal "$(sql "SELECT lease_holder FROM agent_state")" t3
}

@test "the last stage releases the lease: the next tick proceeds at once" {
	run -0 --separate-stderr bash -c 'agent-trigger --tick t1 | agent-metrics-agg'
	assert_equal "$stderr" ""
	assert_equal "$(sql "SELECT COALESCE(lease_holder, '-') FROM agent_state")" "-"
	assert_equal "$(sql "SELECT duration_ms, exit_status FROM agent_triggers WHERE tick_id = 't1'")" "0|0"
	run -0 --separate-stderr agent-trigger --tick t2
	assert_equal "$(fields)" '["recovered","invoke","awaiting_design"]'
	assert_equal "$(sql "SELECT count(*) FROM agent_sessions")" 1
}

@test "two ticks started together: exactly one proceeds, every round" {
	local d=$BATS_TEST_TMPDIR
	for round in 1 2 3 4 5; do
		timeout 30 agent-trigger --tick "a$round" >"$d/a" 2>"$d/a.err" &
		timeout 30 agent-trigger --tick "b$round" >"$d/b" 2>"$d/b.err" &
		wait
		assert_equal "$(cat "$d/a.err" "$d/b.err")" ""
		assert_equal "$(jq -r '.event == "busy"' "$d/a" "$d/b" | sort | tr '\n' ' ')" "false true "
		sql "UPDATE agent_state SET lease_holder = NULL, lease_expires_at = NULL" >/dev/null
	done
	assert_equal "$(sql "SELECT count(*) FROM agent_sessions")" 1
	assert_equal "$(sql "SELECT count(*), sum(CASE WHEN event = 'busy' THEN 1 ELSE 0 END) FROM agent_triggers")" "10|5"
}

@test "paused: every tick is logged as skipped and touches nothing else" {
	run -0 --separate-stderr agent-control pause --reason maintenance
	seed training "training_operation_id = 'op_1'"
	before=$(sql "SELECT * FROM agent_sessions")
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$stderr" ""
	assert_equal "$(fields)" '["paused","skip","paused"]'
	assert_equal "$(trigger_row t1)" "paused|skip|paused|0|0|paused"
	assert_equal "$(sql "SELECT * FROM agent_sessions")" "$before"
	run -0 --separate-stderr agent-control resume
	AGENT_NOW=2026-11-24T03:40:00Z run -0 --separate-stderr agent-trigger --tick t2
	assert_equal "$(fields)" '["training_running","wait","backend_unreachable"]'
}

@test "automatic starts off: idle unless --force" {
	AGENT_AUTO_START=0 run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$stderr" ""
	assert_equal "$(fields)" '["idle","skip","auto_start_disabled"]'
	assert_equal "$(trigger_row t1)" "idle|skip|auto_start_disabled|0|0|auto_start_disabled"
	assert_equal "$(sql "SELECT count(*) FROM agent_sessions")" 0
	sql "UPDATE agent_state SET lease_holder = NULL" >/dev/null
	AGENT_AUTO_START=0 run -0 --separate-stderr agent-trigger --tick t2 --force
	assert_equal "$(fields)" '["start_new_cycle","invoke","no_active_session"]'
	assert_equal "$(sql "SELECT count(*) FROM agent_sessions")" 1
}

@test "the budget cannot pay for a cycle: budget_exhausted, explained, no session" {
	AGENT_DAILY_BUDGET_USD=0.24 run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$stderr" ""
	assert_equal "$(fields)" '["budget_exhausted","skip","budget_exhausted"]'
	assert_equal "$(jq -r .detail <<<"$output")" "available \$0.14, a cycle needs \$0.15; the day resets at 2026-11-25T00:00:00Z"
	assert_equal "$(trigger_row t1)" "budget_exhausted|skip|budget_exhausted|0|0|budget_exhausted"
	assert_equal "$(sql "SELECT detail FROM agent_triggers WHERE tick_id = 't1'")" "available \$0.14, a cycle needs \$0.15; the day resets at 2026-11-25T00:00:00Z"
	assert_equal "$(sql "SELECT budget_spent_micros, budget_remaining_micros FROM agent_triggers")" "0|240000"
	assert_equal "$(sql "SELECT count(*) FROM agent_sessions")" 0
	# exactly one cycle's estimate left (0.25 - 0.10 buffer = 0.15): it starts
	sql "UPDATE agent_state SET lease_holder = NULL" >/dev/null
	AGENT_DAILY_BUDGET_USD=0.25 run -0 --separate-stderr agent-trigger --tick t2
	assert_equal "$(fields)" '["start_new_cycle","invoke","no_active_session"]'
}

@test "an invocation that did not finish: retried once, then the session ends failed_interrupted" {
	seed designing
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$(fields)" '["recovered","invoke","awaiting_design"]'
	sql "UPDATE agent_state SET lease_holder = NULL; UPDATE agent_sessions SET invoke_attempts = 1" >/dev/null
	run -0 --separate-stderr agent-trigger --tick t2
	assert_equal "$(fields)" '["recovered","invoke","invocation_interrupted"]'
	assert_equal "$(jq -c '[.session.phase, .session.invoke_attempts]' <<<"$output")" '["designing",1]'
	sql "UPDATE agent_state SET lease_holder = NULL; UPDATE agent_sessions SET invoke_attempts = 2" >/dev/null
	run -0 --separate-stderr agent-trigger --tick t3
	assert_equal "$stderr" ""
	assert_equal "$(fields)" '["recovered","end","invocation_interrupted"]'
	assert_equal "$(jq -c '[.session.phase, .session.outcome, .session.failure_reason]' <<<"$output")" \
		'["idle","failed_interrupted","the designing invocation was interrupted 2 times"]'
	assert_equal "$(sql "SELECT phase, outcome, completed_at FROM agent_sessions")" "idle|failed_interrupted|$NOW"
	assert_equal "$(trigger_row t3)" "recovered|end|invocation_interrupted|1|0|invocation_interrupted"
}

@test "assessing and backtesting without an operation wait for their invocation" {
	seed assessing
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$(fields)" '["recovered","invoke","awaiting_assessment"]'
	sql "UPDATE agent_state SET lease_holder = NULL; UPDATE agent_sessions SET phase = 'backtesting'" >/dev/null
	run -0 --separate-stderr agent-trigger --tick t2
	assert_equal "$(fields)" '["training_completed","invoke","awaiting_backtest"]'
	sql "UPDATE agent_state SET lease_holder = NULL; UPDATE agent_sessions SET invoke_attempts = 1" >/dev/null
	run -0 --separate-stderr agent-trigger --tick t3
	assert_equal "$(fields)" '["recovered","invoke","invocation_interrupted"]'
	sql "UPDATE agent_state SET lease_holder = NULL; UPDATE agent_sessions SET invoke_attempts = 3" >/dev/null
	run -0 --separate-stderr agent-trigger --tick t4
	assert_equal "$(jq -c '[.event, .action, .session.outcome]' <<<"$output")" '["recovered","end","failed_interrupted"]'
}

@test "training without an operation id ends failed_interrupted" {
	seed training
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$(fields)" '["recovered","end","operation_missing"]'
	assert_equal "$(sql "SELECT phase, outcome, failure_reason FROM agent_sessions")" \
		"idle|failed_interrupted|training without a training operation id"
}

@test "backend unreachable: five ticks in a row end the training phase" {
	seed training "training_operation_id = 'op_t1', training_at = $((NOW - 600))"
	export AGENT_LEASE_SECONDS=60
	for n in 1 2 3 4; do
		AGENT_NOW="2026-11-24T03:2$((n - 1)):30Z" run -0 --separate-stderr agent-trigger --tick "t$n"
		assert_regex "$stderr" "^agent-trigger: backend: GET /api/v1/operations/op_t1: .+ \(failure $n of 5\)$"
		assert_equal "$(fields)" '["training_running","wait","backend_unreachable"]'
		assert_equal "$(jq -c '[.session.phase, .session.conn_failures]' <<<"$output")" "[\"training\",$n]"
		assert_equal "$(trigger_row "t$n")" "training_running|wait|backend_unreachable|1|0|backend_unreachable"
	done
	AGENT_NOW=2026-11-24T03:24:30Z run -0 --separate-stderr bash -c 'agent-trigger --tick t5 | agent-metrics-agg'
	assert_regex "$stderr" "^agent-trigger: backend: .+ \(failure 5 of 5\)$"
	assert_equal "$(fields)" '["training_failed","end","backend_unreachable"]'
	assert_equal "$(jq -c '[.session.phase, .session.outcome, .session.failure_reason, .metrics.outcome]' <<<"$output")" \
		'["idle","failed_training","training_service_unavailable","failed_training"]'
	assert_equal "$(sql "SELECT outcome, CAST(training_seconds AS INTEGER) FROM agent_metrics")" "failed_training|870"
}

@test "AGENT_MAX_CONN_FAILURES sets how many failures end the phase" {
	seed backtesting "backtest_operation_id = 'op_b1', conn_failures = 1"
	AGENT_MAX_CONN_FAILURES=2 run -0 --separate-stderr agent-trigger --tick t1
	assert_regex "$stderr" "\(failure 2 of 2\)$"
	assert_equal "$(jq -c '[.event, .action, .session.outcome, .session.failure_reason]' <<<"$output")" \
		'["backtest_failed","end","failed_backtest","backtest_service_unavailable"]'
}

@test "--dry-run decides and prints but writes nothing" {
	before=$(snapshot)
	run -0 --separate-stderr agent-trigger --dry-run --tick d1
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.tick.dry_run, .event, .action, .session]' <<<"$output")" '[true,"start_new_cycle","invoke",null]'
	assert_equal "$(snapshot)" "$before"
	AGENT_DAILY_BUDGET_USD=0.1 run -0 --separate-stderr agent-trigger --dry-run
	assert_equal "$(fields)" '["budget_exhausted","skip","budget_exhausted"]'
	assert_equal "$(snapshot)" "$before"
	seed training "training_operation_id = 'op_1'"
	before=$(snapshot)
	run -0 --separate-stderr agent-trigger -n
	assert_regex "$stderr" "\(failure 1 of 5\)$"
	assert_equal "$(jq -c '[.event, .action, .session.conn_failures]' <<<"$output")" '["training_running","wait",0]'
	assert_equal "$(snapshot)" "$before"
	run -0 --separate-stderr agent-trigger --tick live
	before=$(snapshot)
	run -0 --separate-stderr agent-trigger --dry-run
	assert_equal "$(fields)" '["busy","skip","lease_held"]'
	assert_equal "$(snapshot)" "$before"
}

@test "TRACEPARENT: a valid one is carried, anything else replaced" {
	local tp=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
	TRACEPARENT=$tp run -0 --separate-stderr agent-trigger -n
	assert_equal "$(jq -r .tick.traceparent <<<"$output")" "$tp"
	for bad in 00-00000000000000000000000000000000-b7ad6b7169203331-01 \
		00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01 \
		ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 \
		"$tp-extra" garbage ""; do
		TRACEPARENT=$bad run -0 --separate-stderr agent-trigger -n
		assert_regex "$(jq -r .tick.traceparent <<<"$output")" '^00-[0-9a-f]{32}-[0-9a-f]{16}-01$'
		assert_not_equal "$(jq -r .tick.traceparent <<<"$output")" "$bad"
	done
	# ids are fresh every time
	run -0 bash -c 'agent-trigger -n; agent-trigger -n'
	assert_equal "$(jq -r '.tick.id, .tick.traceparent' <<<"$output" | sort -u | wc -l)" 4
}

@test "--agent and AGENT_NAME keep agents apart" {
	run -0 --separate-stderr agent-trigger --agent alpha --tick t1
	assert_equal "$(jq -c '[.tick.agent, .session.agent, .event]' <<<"$output")" '["alpha","alpha","start_new_cycle"]'
	AGENT_NAME=beta run -0 --separate-stderr agent-trigger --tick t2
	assert_equal "$(jq -c '[.tick.agent, .event]' <<<"$output")" '["beta","start_new_cycle"]'
	assert_equal "$(sql "SELECT agent, lease_holder FROM agent_state ORDER BY agent" | tr '\n' ' ')" "alpha|t1 beta|t2 "
}

@test "bad options and configuration: documented exit codes, store unchanged" {
	seed training "training_operation_id = 'op_1'"
	before=$(snapshot)
	run -2 --separate-stderr agent-trigger --bogus
	assert_equal "$output" ""
	assert_regex "$stderr" "unrecognized option '--bogus'"
	run -2 --separate-stderr agent-trigger extra
	assert_equal "${stderr%%$'\n'*}" "agent-trigger: unexpected argument 'extra'"
	run -2 --separate-stderr agent-trigger --agent 'a b'
	assert_equal "$stderr" "agent-trigger: --agent: not 1 to 100 characters of [A-Za-z0-9_.-]: 'a b'"
	run -2 --separate-stderr agent-trigger --tick "$(printf 'x%.0s' {1..65})"
	assert_regex "$stderr" "^agent-trigger: --tick: not 1 to 64 characters"
	AGENT_AUTO_START=maybe run -5 --separate-stderr agent-trigger
	assert_equal "$stderr" "agent-trigger: AGENT_AUTO_START: not 0 or 1: 'maybe'"
	AGENT_MAX_RESUMES=-1 run -5 --separate-stderr agent-trigger
	assert_equal "$stderr" "agent-trigger: AGENT_MAX_RESUMES: not a whole number from 0 to 100: '-1'"
	AGENT_MAX_CONN_FAILURES=0 run -5 --separate-stderr agent-trigger
	assert_equal "$stderr" "agent-trigger: AGENT_MAX_CONN_FAILURES: not a whole number from 1 to 1000: '0'"
	AGENT_NOW=yesterday run -5 --separate-stderr agent-trigger
	assert_equal "$stderr" "agent-trigger: AGENT_NOW: not an RFC 3339 time: 'yesterday'"
	AGENT_BACKEND_URL=ftp://example.com run -5 --separate-stderr agent-trigger
	assert_equal "$stderr" "agent-trigger: backend URL must start with http:// or https://"
	AGENT_NAME='../x' run -5 --separate-stderr agent-trigger
	assert_equal "$stderr" "agent-trigger: AGENT_NAME: not 1 to 100 characters of [A-Za-z0-9_.-]: '../x'"
	AGENT_DAILY_BUDGET_USD=lots run -5 --separate-stderr agent-trigger
	assert_equal "$stderr" "agent-trigger: AGENT_DAILY_BUDGET_USD: not a dollar amount: 'lots'"
	assert_equal "$(snapshot)" "$before"
	assert_equal "$output" ""
}

@test "an unreachable store: exit 4; a store that cannot be opened: exit 5" {
	run -4 --separate-stderr agent-trigger --db "postgresql:///agent?host=$BATS_TEST_TMPDIR/nothing-here"
	assert_equal "$output" ""
	assert_regex "$stderr" "^agent-trigger: postgresql: cannot connect: "
	run -5 --separate-stderr agent-trigger --db "$BATS_TEST_TMPDIR/no/such/dir/agent.db"
	assert_equal "$output" ""
	assert_regex "$stderr" "^agent-trigger: sqlite: cannot open "
}

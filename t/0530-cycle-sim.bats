#!/usr/bin/env bats
# The tick against a live research backend: agent-sim on loopback, a fast one
# (operations end within a second) and a slow one (they run for minutes).
# Every operation state the trigger reads, backend faults, cancel, and one
# whole cycle end to end through agent-cycle.

load helpers/common
load helpers/sim

setup_file() {
	sim_start --speed 1 --seed 5 || return 1
	export SLOW_URL=$SIM_URL SLOW_PID=$SIM_PID
	sim_start --speed 2000 --seed 7
}
teardown_file() {
	sim_stop
	[ -n "${SLOW_PID:-}" ] && kill "$SLOW_PID" 2>/dev/null
	return 0
}

setup() {
	fresh_store
	sim_clear
	curl -sf --max-time 5 -X DELETE "$SLOW_URL/_sim/faults" >/dev/null
	export AGENT_BACKEND_URL="$SIM_URL/api/v1"
	# the strategy the operations train, where both simulators read it
	sim_share_strategies "$BATS_FILE_TMPDIR/strategies"
	export AGENT_STRATEGY_DIR="$BATS_FILE_TMPDIR/strategies"
	cp "$BATS_TEST_DIRNAME/data/ktrdr/strategies/valid_minimal.yaml" "$AGENT_STRATEGY_DIR/s1.yaml"
	curl -sf --max-time 5 -X POST -d '{"active":false}' "$SIM_URL/_sim/agent" >/dev/null
	unset AGENT_NOW AGENT_AUTO_START AGENT_MAX_RESUMES AGENT_LEASE_SECONDS TRACEPARENT
}
teardown() { drop_store; }

# start_op URL training|backtest: starts an operation, prints its id
start_op() {
	if [ "$2" = training ]; then
		curl -sf --max-time 5 -H 'content-type: application/json' \
			-d '{"symbols":["EURUSD"],"timeframes":["1h"],"strategy_name":"s1"}' \
			"$1/api/v1/trainings/start" | jq -r .task_id
	else
		curl -sf --max-time 5 -H 'content-type: application/json' \
			-d '{"strategy_name":"s1","symbol":"EURUSD","timeframe":"1h","start_date":"2024-01-01","end_date":"2024-06-30"}' \
			"$1/api/v1/backtests/start" | jq -r .operation_id
	fi
}

# wait_for URL ID STATUS: polls the operation for up to 10 s
wait_for() {
	local s
	for _ in $(seq 200); do
		s=$(curl -sf --max-time 2 "$1/api/v1/operations/$2" | jq -r .data.status)
		[ "$s" = "$3" ] && return 0
		sleep 0.05
	done
	echo "operation $2 is $s, not $3" >&2
	return 1
}

op_status() { curl -sf --max-time 2 "$1/api/v1/operations/$2" | jq -r .data.status; }

# seed PHASE OP: the active session waiting on operation OP
seed() {
	local col=training_operation_id
	[ "$1" = backtesting ] && col=backtest_operation_id
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, $col, created_at, updated_at,
	       designing_at, training_at, backtesting_at)
	     VALUES ('default', '$1', 's1', '$2', 100, 100, 100, 200,
	             $([ "$1" = backtesting ] && echo 300 || echo NULL))" >/dev/null
}

fields() { jq -c '[.event, .action, .reason]' <<<"$output"; }

@test "a running operation: wait, its progress kept on the session, the failure count reset" {
	export AGENT_BACKEND_URL="$SLOW_URL/api/v1"
	op=$(start_op "$SLOW_URL" training)
	seed training "$op"
	sql "UPDATE agent_sessions SET conn_failures = 3" >/dev/null
	wait_for "$SLOW_URL" "$op" running
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$stderr" ""
	assert_equal "$(fields)" '["training_running","wait","operation_still_running"]'
	assert_equal "$(jq -c '[.session.conn_failures, .session.progress.operation_id, .session.progress.status, .session.progress.steps_total, (.session.progress.percentage | type)]' <<<"$output")" \
		"[0,\"$op\",\"running\",100,\"number\"]"
	assert_regex "$(jq -r .session.progress.current_step <<<"$output")" '^Epoch [0-9]+/100$'
	assert_equal "$(sql "SELECT conn_failures FROM agent_sessions")" 0
	assert_equal "$(sql "SELECT progress FROM agent_sessions" | jq -r .operation_id)" "$op"
	assert_equal "$(sql "SELECT event, action, skip_reason FROM agent_triggers")" \
		"training_running|wait|operation_still_running"
}

@test "a running backtest: backtest_running" {
	export AGENT_BACKEND_URL="$SLOW_URL/api/v1"
	op=$(start_op "$SLOW_URL" backtest)
	seed backtesting "$op"
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$stderr" ""
	assert_equal "$(fields)" '["backtest_running","wait","operation_still_running"]'
	assert_regex "$(jq -r .session.progress.current_step <<<"$output")" '^(Bar [0-9]+/[0-9]+|Waiting to start)$'
}

@test "a completed training: action gate with the result, judged by the next stage" {
	op=$(start_op "$SIM_URL" training)
	wait_for "$SIM_URL" "$op" completed
	seed training "$op"
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$stderr" ""
	assert_equal "$(fields)" '["training_completed","gate","operation_completed"]'
	assert_equal "$(jq -c '[(.result.test_metrics.test_accuracy | type), (.result.training_metrics.history.train_loss | type)]' <<<"$output")" \
		'["number","array"]'
	assert_equal "$(trigger_state=$(sql "SELECT event, action FROM agent_triggers"); echo "$trigger_state")" "training_completed|gate"
	# the gate stage takes it from there
	run -0 --separate-stderr agent-gate <<<"$output"
	assert_equal "$stderr" ""
	verdict=$(jq -r .gate.passed <<<"$output")
	if [ "$verdict" = true ]; then
		assert_equal "$(jq -c '[.action, .session.phase]' <<<"$output")" '["invoke","backtesting"]'
	else
		assert_equal "$(jq -c '[.action, .session.phase, .session.outcome]' <<<"$output")" '["end","idle","failed_training_gate"]'
	fi
	assert_equal "$(sql "SELECT training_results FROM agent_sessions" | jq -r '.test_metrics | type')" object
}

@test "a failed training with a checkpoint is resumed, up to AGENT_MAX_RESUMES times" {
	sim_fault '{"route":"training","fail":true,"checkpoint":true}'
	op=$(start_op "$SIM_URL" training)
	wait_for "$SIM_URL" "$op" failed
	seed training "$op"
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$stderr" ""
	assert_equal "$(fields)" '["recovered","wait","operation_resumed"]'
	assert_equal "$(jq -c '[.session.phase, .session.retry_count, .session.training_operation_id]' <<<"$output")" \
		"[\"training\",1,\"$op\"]"
	# resumed: running again (or, on a fast simulator, already done)
	assert_regex "$(op_status "$SIM_URL" "$op")" '^(running|completed)$'
	# once more, with the resumes used up: the session ends with the backend's error
	sim_fault '{"route":"training","fail":true,"checkpoint":true}'
	op2=$(start_op "$SIM_URL" training)
	wait_for "$SIM_URL" "$op2" failed
	sql "UPDATE agent_sessions SET training_operation_id = '$op2', retry_count = 2;
	     UPDATE agent_state SET lease_holder = NULL" >/dev/null
	run -0 --separate-stderr agent-trigger --tick t2
	assert_equal "$(fields)" '["training_failed","end","operation_failed"]'
	assert_equal "$(jq -c '[.session.phase, .session.outcome]' <<<"$output")" '["idle","failed_training"]'
	assert_regex "$(jq -r .session.failure_reason <<<"$output")" '^Training failed at epoch [0-9]+/100: .*\(checkpoint saved\)$'
	assert_equal "$(op_status "$SIM_URL" "$op2")" failed
}

@test "resume answers: 409 already running waits, 503 counts as unreachable, 404 ends" {
	sim_fault '{"route":"training","fail":true,"checkpoint":true}'
	op=$(start_op "$SIM_URL" training)
	wait_for "$SIM_URL" "$op" failed
	seed training "$op"
	# 409 from another resumer (ktrdr endpoints/operations.py): not a failure
	sim_fault "{\"route\":\"/api/v1/operations/$op/resume\",\"status\":409,\"count\":1,\"message\":\"Operation $op is already running\"}"
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$(fields)" '["training_running","wait","operation_resuming"]'
	assert_equal "$(sql "SELECT phase, retry_count FROM agent_sessions")" "training|0"
	# 503, no worker: counted like an unreachable backend
	sql "UPDATE agent_state SET lease_holder = NULL" >/dev/null
	sim_fault "{\"route\":\"/api/v1/operations/$op/resume\",\"status\":503,\"count\":1,\"message\":\"No training worker available to resume operation\"}"
	run -0 --separate-stderr agent-trigger --tick t2
	assert_equal "$(fields)" '["training_running","wait","backend_unreachable"]'
	assert_regex "$stderr" "HTTP 503: No training worker available to resume operation \\(failure 1 of 5\\)$"
	assert_equal "$(sql "SELECT conn_failures FROM agent_sessions")" 1
	# then the resume goes through
	sql "UPDATE agent_state SET lease_holder = NULL" >/dev/null
	run -0 --separate-stderr agent-trigger --tick t3
	assert_equal "$(fields)" '["recovered","wait","operation_resumed"]'
}

@test "a training cancelled on the backend after its first epoch resumes from its cancellation checkpoint" {
	export AGENT_BACKEND_URL="$SLOW_URL/api/v1"
	op=$(start_op "$SLOW_URL" training)
	for _ in $(seq 200); do
		[ "$(curl -sf --max-time 2 "$SLOW_URL/api/v1/operations/$op" | jq -r .data.progress.steps_completed)" -ge 1 ] && break
		sleep 0.05
	done
	curl -sf --max-time 5 -X DELETE "$SLOW_URL/api/v1/operations/$op" >/dev/null
	run -0 jq -r .data.checkpoint_type <<<"$(curl -s --max-time 5 "$SLOW_URL/api/v1/checkpoints/$op")"
	assert_output cancellation
	seed training "$op"
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$(fields)" '["recovered","wait","operation_resumed"]'
	assert_equal "$(op_status "$SLOW_URL" "$op")" running
}

@test "health before money: a down backend starts nothing and calls no model; back, the next tick starts" {
	export ANTHROPIC_API_KEY=sk-test-health
	for i in 1 2 3 4 5 6 7 8 9 10; do
		AGENT_BACKEND_URL=http://127.0.0.1:1/api/v1 run -0 --separate-stderr agent-cycle -q
		assert_equal "$(jq -c '[.event, .action, .reason]' <<<"$output")" '["backend_down","skip","backend_unreachable"]'
	done
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_sessions")" 0
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations")" 0
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_budget_holds")" 0
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_triggers WHERE reason = 'backend_unreachable' AND skip_reason = 'backend_unreachable'")" 10
	# a session awaiting its design waits too, without a call
	sql "INSERT INTO agent_sessions (agent, phase, created_at, updated_at, designing_at) VALUES ('default', 'designing', 1, 1, 1)" >/dev/null
	AGENT_BACKEND_URL=http://127.0.0.1:1/api/v1 run -0 --separate-stderr agent-trigger --tick down
	assert_equal "$(jq -c '[.action, .reason]' <<<"$output")" '["wait","backend_unreachable"]'
	assert_equal "$stderr" "agent-trigger: backend: GET /api/v1/health: Connection refused"
	sql "DELETE FROM agent_sessions; UPDATE agent_state SET lease_holder = NULL" >/dev/null
	# back: the next tick starts a cycle
	run -0 --separate-stderr agent-cycle -q
	assert_equal "$(jq -c '[.event, .reason]' <<<"$output")" '["start_new_cycle","training_started"]'
}

@test "no cycle starts while the platform's own research agent runs one" {
	curl -sf --max-time 5 -X POST -d '{"active":true,"phase":"training"}' "$SIM_URL/_sim/agent" >/dev/null
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$(fields)" '["idle","skip","backend_agent_active"]'
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_sessions")" 0
	sql "UPDATE agent_state SET lease_holder = NULL" >/dev/null
	AGENT_COEXIST_CHECK=0 run -0 --separate-stderr agent-trigger --tick t2
	assert_equal "$(fields)" '["start_new_cycle","invoke","no_active_session"]'
}

@test "a start the backend was busy for: the trigger backs off, then retries, then gives up" {
	export AGENT_NOW=2026-11-24T03:20:00Z
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, conn_failures, progress, created_at, updated_at, designing_at)
	     VALUES ('default', 'designing', 's1', 1, '{\"status\":\"backend_busy\",\"current_step\":\"backend busy or unavailable for training (HTTP 503: No training workers available)\"}', 1795490300, 1795490300, 1795490000)" >/dev/null
	# 100 s after the busy answer: within the 300 s backoff
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$(fields)" '["recovered","wait","backend_busy"]'
	# past it: the retry, as an invocation (agent-invoke starts the training without the model)
	sql "UPDATE agent_state SET lease_holder = NULL" >/dev/null
	AGENT_NOW=2026-11-24T03:25:00Z run -0 --separate-stderr agent-trigger --tick t2
	assert_equal "$(fields)" '["recovered","invoke","backend_retry"]'
	# the second attempt waits twice as long
	sql "UPDATE agent_state SET lease_holder = NULL; UPDATE agent_sessions SET conn_failures = 2, updated_at = 1795490400" >/dev/null
	AGENT_NOW=2026-11-24T03:29:00Z run -0 --separate-stderr agent-trigger --tick t3
	assert_equal "$(fields)" '["recovered","wait","backend_busy"]'
	# at AGENT_MAX_CONN_FAILURES: the phase ends, with the backend's words
	sql "UPDATE agent_state SET lease_holder = NULL; UPDATE agent_sessions SET conn_failures = 5" >/dev/null
	run -0 --separate-stderr agent-trigger --tick t4
	assert_equal "$(fields)" '["training_failed","end","backend_busy"]'
	assert_equal "$(sql "SELECT phase, outcome, failure_reason FROM agent_sessions")" \
		"idle|failed_design|backend busy or unavailable 5 times: backend busy or unavailable for training (HTTP 503: No training workers available)"
}

@test "AGENT_MAX_RESUMES=0: a checkpoint is not used" {
	sim_fault '{"route":"backtest","fail":true,"checkpoint":true}'
	op=$(start_op "$SIM_URL" backtest)
	wait_for "$SIM_URL" "$op" failed
	seed backtesting "$op"
	AGENT_MAX_RESUMES=0 run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$(jq -c '[.event, .action, .session.outcome]' <<<"$output")" '["backtest_failed","end","failed_backtest"]'
}

@test "a failed training without a checkpoint ends the session failed_training" {
	sim_fault '{"route":"training","fail":true}'
	op=$(start_op "$SIM_URL" training)
	wait_for "$SIM_URL" "$op" failed
	seed training "$op"
	run -0 --separate-stderr bash -c 'agent-trigger --tick t1 | agent-metrics-agg'
	assert_equal "$stderr" ""
	assert_equal "$(fields)" '["training_failed","end","operation_failed"]'
	assert_regex "$(sql "SELECT outcome, failure_reason FROM agent_sessions")" '^failed_training\|Training failed at epoch [0-9]+/100: worker process exited unexpectedly$'
	assert_equal "$(sql "SELECT outcome, COALESCE(failed_gate, '-') FROM agent_metrics")" "failed_training|-"
	assert_equal "$(sql "SELECT skip_reason, exit_status FROM agent_triggers")" "operation_failed|0"
}

@test "an operation the backend does not know (404): failed_orphan" {
	seed backtesting op_backtesting_20261124_000000_deadbeef
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$stderr" ""
	assert_equal "$(fields)" '["backtest_failed","end","operation_lost"]'
	assert_equal "$(jq -c '[.session.outcome, .session.failure_reason]' <<<"$output")" \
		'["failed_orphan","the backend lost backtest operation op_backtesting_20261124_000000_deadbeef"]'
}

@test "an operation cancelled on the backend ends the session cancelled" {
	export AGENT_BACKEND_URL="$SLOW_URL/api/v1"
	op=$(start_op "$SLOW_URL" training)
	curl -sf --max-time 5 -X DELETE "$SLOW_URL/api/v1/operations/$op" >/dev/null
	seed training "$op"
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$(fields)" '["training_failed","end","operation_cancelled"]'
	assert_equal "$(sql "SELECT phase, outcome FROM agent_sessions")" "idle|cancelled"
}

@test "backend errors count as unreachable; a good answer resets the count" {
	export AGENT_BACKEND_URL="$SLOW_URL/api/v1"
	op=$(start_op "$SLOW_URL" training)
	seed training "$op"
	curl -sf --max-time 5 -X POST -d '{"route":"operations","status":503,"count":1}' "$SLOW_URL/_sim/faults" >/dev/null
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$stderr" "agent-trigger: backend: GET /operations/$op: HTTP 503 (failure 1 of 5)"
	assert_equal "$(fields)" '["training_running","wait","backend_unreachable"]'
	assert_equal "$(sql "SELECT conn_failures FROM agent_sessions")" 1
	sql "UPDATE agent_state SET lease_holder = NULL" >/dev/null
	curl -sf --max-time 5 -X POST -d '{"route":"backend","unavailable_seconds":30}' "$SLOW_URL/_sim/faults" >/dev/null
	run -0 --separate-stderr agent-trigger --tick t2
	assert_regex "$stderr" "^agent-trigger: backend: .* \(failure 2 of 5\)$"
	assert_equal "$(sql "SELECT conn_failures FROM agent_sessions")" 2
	curl -sf --max-time 5 -X DELETE "$SLOW_URL/_sim/faults" >/dev/null
	sql "UPDATE agent_state SET lease_holder = NULL" >/dev/null
	run -0 --separate-stderr agent-trigger --tick t3
	assert_equal "$stderr" ""
	assert_equal "$(fields)" '["training_running","wait","operation_still_running"]'
	assert_equal "$(sql "SELECT conn_failures FROM agent_sessions")" 0
}

@test "agent-control cancel cancels the backend operation too" {
	export AGENT_BACKEND_URL="$SLOW_URL/api/v1"
	op=$(start_op "$SLOW_URL" training)
	seed training "$op"
	run -0 --separate-stderr agent-control cancel --reason "operator"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.cancelled, .operation.id, .operation.cancelled, .session.outcome, .session.failure_reason]' <<<"$output")" \
		"[true,\"$op\",true,\"cancelled\",\"operator\"]"
	assert_equal "$(op_status "$SLOW_URL" "$op")" cancelled
	# an operation already over cannot be cancelled: reported, the session ends anyway
	op2=$(start_op "$SLOW_URL" training)
	curl -sf --max-time 5 -X DELETE "$SLOW_URL/api/v1/operations/$op2" >/dev/null
	sql "UPDATE agent_sessions SET phase = 'training', outcome = NULL, training_operation_id = '$op2'" >/dev/null
	run -0 --separate-stderr agent-control cancel
	assert_regex "$stderr" "^agent-control: cannot cancel operation $op2: backend: DELETE /operations/$op2: HTTP 400 \\(already finished\\)$"
	assert_equal "$(jq -c '[.cancelled, .operation.cancelled]' <<<"$output")" '[true,false]'
}

@test "a whole research cycle, tick after tick, through agent-cycle" {
	export ANTHROPIC_API_KEY=sk-test-cycle-0001 AGENT_STRATEGY_DIR="$BATS_TEST_TMPDIR/strategies"
	sim_share_strategies "$AGENT_STRATEGY_DIR"
	export AGENT_TIMEOUT_SECONDS=10
	local out=$BATS_TEST_TMPDIR/ticks n=0
	: >"$out"
	while [ "$n" -lt 60 ]; do
		n=$((n + 1))
		agent-cycle -q >>"$out" 2>>"$out.err" || fail "tick $n failed: $(cat "$out.err")"
		[ "$(sql "SELECT count(*) FROM agent_sessions WHERE phase = 'idle'")" = 1 ] && break
		sleep 0.1
	done
	assert_equal "$(cat "$out.err")" ""
	outcome=$(sql "SELECT outcome FROM agent_sessions")
	[ -n "$outcome" ] || fail "no session ended in $n ticks: $(jq -c '[.event, .action, .reason]' "$out")"
	# the first tick started the cycle; the last ended it and aggregated it
	assert_equal "$(head -n 1 "$out" | jq -c '[.event, .action, .invocation.kind]')" '["start_new_cycle","wait","design"]'
	assert_equal "$(tail -n 1 "$out" | jq -c '[.action, .session.outcome, .metrics.outcome, .metrics.recorded]')" \
		"[\"end\",\"$outcome\",\"$outcome\",true]"
	# every tick recorded, none failed, the lease free
	assert_equal "$(sql "SELECT count(*), sum(exit_status), count(duration_ms) FROM agent_triggers")" "$n|0|$n"
	assert_equal "$(sql "SELECT COALESCE(lease_holder, '-') FROM agent_state")" "-"
	# the metrics row adds up what the store says
	assert_equal "$(sql "SELECT outcome, invocations, cost_micros FROM agent_metrics")" \
		"$outcome|$(sql "SELECT count(*), sum(cost_micros) FROM agent_invocations" | tr -d ' ')"
	assert_equal "$(sql "SELECT cycles_started, cycles_completed FROM agent_budget")" "1|1"
	assert_equal "$(sql "SELECT CASE WHEN cycle_seconds >= 0 AND training_seconds >= 0 THEN 1 ELSE 0 END FROM agent_metrics")" 1
	# one trace per tick
	assert_equal "$(jq -r '.tick.traceparent' "$out" | sort -u | wc -l)" "$n"
}

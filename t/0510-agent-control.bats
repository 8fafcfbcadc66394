#!/usr/bin/env bats
# agent-control: pause, resume, cancel; usage errors.  Cancelling against a
# live backend is in t/0520 (with agent-sim).

load helpers/common

setup() {
	fresh_store
	export AGENT_NOW=2026-11-24T03:20:00Z
	export AGENT_BACKEND_URL=http://127.0.0.1:1/api/v1
	# no backend here: its health and the platform's agent are asked in t/0530
	export AGENT_HEALTH_CHECK=0 AGENT_COEXIST_CHECK=0
}
teardown() { drop_store; }

NOW=1795490400   # 2026-11-24T03:20:00Z

seed() { # seed PHASE [SET-CLAUSE]: the agent's active session (id 1)
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, created_at, updated_at, designing_at)
	     VALUES ('default', '$1', 's1', $((NOW - 3600)), $((NOW - 3600)), $((NOW - 3600)))" >/dev/null
	[ -z "${2:-}" ] || sql "UPDATE agent_sessions SET $2 WHERE id = 1" >/dev/null
}

state() { sql "SELECT CASE WHEN paused THEN 1 ELSE 0 END, COALESCE(pause_reason, '-'), COALESCE(paused_at, 0) FROM agent_state WHERE agent = '${1:-default}'"; }

@test "pause and resume persist, say whether they changed anything, and are idempotent" {
	run -0 --separate-stderr agent-control pause --reason "deploying the backend"
	assert_equal "$stderr" ""
	assert_equal "$output" "{\"agent\":\"default\",\"command\":\"pause\",\"paused\":true,\"changed\":true,\"reason\":\"deploying the backend\",\"paused_at\":\"2026-11-24T03:20:00Z\"}"
	assert_equal "$(state)" "1|deploying the backend|$NOW"
	# a second pause keeps why and since when, unless it says a new why
	AGENT_NOW=2026-11-24T03:21:00Z run -0 --separate-stderr agent-control pause
	assert_equal "$(jq -c '[.paused, .changed, .reason, .paused_at]' <<<"$output")" "[true,false,\"deploying the backend\",\"2026-11-24T03:20:00Z\"]"
	assert_equal "$(state)" "1|deploying the backend|$NOW"
	AGENT_NOW=2026-11-24T03:22:00Z run -0 --separate-stderr agent-control pause --reason "still deploying"
	assert_equal "$(jq -c '[.changed, .reason, .paused_at]' <<<"$output")" "[false,\"still deploying\",\"2026-11-24T03:20:00Z\"]"
	assert_equal "$(state)" "1|still deploying|$NOW"
	run -0 --separate-stderr agent-control resume
	assert_equal "$stderr" ""
	assert_equal "$output" '{"agent":"default","command":"resume","paused":false,"changed":true,"reason":null,"paused_at":null}'
	assert_equal "$(state)" "0|-|0"
	run -0 --separate-stderr agent-control resume
	assert_equal "$(jq -c .changed <<<"$output")" false
}

@test "pause keeps the lease untouched and a paused agent's ticks are skipped" {
	run -0 agent-trigger --tick t1
	run -0 --separate-stderr agent-control pause
	assert_equal "$(sql "SELECT lease_holder FROM agent_state")" t1
	AGENT_NOW=2026-11-24T03:40:00Z run -0 --separate-stderr agent-trigger --tick t2
	assert_equal "$(jq -c '[.event, .action, .reason]' <<<"$output")" '["paused","skip","paused"]'
	run -0 agent-control resume
	AGENT_NOW=2026-11-24T03:50:00Z run -0 --separate-stderr agent-trigger --tick t3
	assert_equal "$(jq -c '[.event, .action]' <<<"$output")" '["recovered","invoke"]'
}

@test "agents are paused one by one" {
	run -0 agent-control pause --agent alpha
	AGENT_NAME=beta run -0 agent-control pause
	assert_equal "$(state alpha)" "1|-|$NOW"
	assert_equal "$(state beta)" "1|-|$NOW"
	assert_equal "$(state default)" ""
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$(jq -r .event <<<"$output")" start_new_cycle
}

@test "cancel with no active session: exit 1, nothing to cancel" {
	before=$(snapshot)
	run -1 --separate-stderr agent-control cancel
	assert_equal "$output" '{"agent":"default","command":"cancel","cancelled":false,"reason":"no_active_session"}'
	assert_equal "$stderr" "agent-control: nothing to cancel: agent 'default' has no active session"
	run -1 --separate-stderr agent-control cancel -q
	assert_equal "$output" ""
	assert_equal "$stderr" ""
	assert_equal "$(snapshot)" "$before"
}

@test "cancel ends a session with no backend operation" {
	seed designing
	run -0 --separate-stderr agent-control cancel --reason "wrong idea"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.cancelled, .session.id, .session.phase, .session.outcome, .session.failure_reason, .operation]' <<<"$output")" \
		'[true,1,"idle","cancelled","wrong idea",null]'
	# its times as RFC 3339 text; the trace's start to the microsecond
	assert_equal "$(jq -c '.session | [.created_at, .designing_at, .completed_at, .updated_at, .trace_started_at, has("trace_started_us")]' <<<"$output")" \
		'["2026-11-24T02:20:00Z","2026-11-24T02:20:00Z","2026-11-24T03:20:00Z","2026-11-24T03:20:00Z",null,false]'
	assert_equal "$(sql "SELECT phase, outcome, completed_at FROM agent_sessions")" "idle|cancelled|$NOW"
	run -1 --separate-stderr agent-control cancel
}

@test "cancel: an unreachable backend is reported, the session still ends" {
	seed training "training_operation_id = 'op_1'"
	run -0 --separate-stderr agent-control cancel
	assert_equal "$stderr" "agent-control: cannot cancel operation op_1: backend: DELETE /api/v1/operations/op_1: Connection refused"
	assert_equal "$(jq -c '[.cancelled, .session.outcome, .session.failure_reason, .operation.id, .operation.cancelled]' <<<"$output")" \
		'[true,"cancelled","cancelled by the operator","op_1",false]'
	assert_regex "$(jq -r .operation.error <<<"$output")" "^backend: DELETE /api/v1/operations/op_1: "
}

@test "a session cancelled between ticks gets its metrics row at the next tick" {
	seed backtesting "training_at = $((NOW - 3000)), backtesting_at = $((NOW - 600))"
	run -0 agent-control cancel
	AGENT_AUTO_START=0 run -0 --separate-stderr bash -c 'agent-trigger --tick t1 | agent-metrics-agg'
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.event, .metrics]' <<<"$output")" '["idle",null]'
	assert_equal "$(sql "SELECT outcome, CAST(cycle_seconds AS INTEGER), CAST(designing_seconds AS INTEGER),
	                            CAST(training_seconds AS INTEGER), CAST(backtesting_seconds AS INTEGER),
	                            COALESCE(assessing_seconds, -1) FROM agent_metrics")" "cancelled|3600|600|2400|600|-1"
	assert_equal "$(sql "SELECT cycles_completed FROM agent_budget")" 1
	# once only
	AGENT_AUTO_START=0 run -0 bash -c 'agent-trigger --tick t2 | agent-metrics-agg'
	assert_equal "$(sql "SELECT count(*), max(cycles_completed) FROM agent_metrics, agent_budget")" "1|1"
}

@test "usage errors exit 2 and change nothing" {
	seed designing
	before=$(snapshot)
	run -2 --separate-stderr agent-control
	assert_equal "${stderr%%$'\n'*}" "agent-control: a command is needed: pause, resume or cancel"
	run -2 --separate-stderr agent-control stop
	assert_equal "${stderr%%$'\n'*}" "agent-control: unknown command 'stop' (pause, resume or cancel)"
	run -2 --separate-stderr agent-control pause resume
	assert_equal "${stderr%%$'\n'*}" "agent-control: unexpected argument 'resume'"
	run -2 --separate-stderr agent-control pause --reason "$(printf 'two\nlines')"
	assert_equal "${stderr%%$'\n'*}" "agent-control: --reason: at most 500 characters on one line"
	run -2 --separate-stderr agent-control cancel --agent '../etc'
	assert_regex "$stderr" "^agent-control: --agent: not 1 to 100 characters"
	run -2 --separate-stderr agent-control --bogus pause
	assert_regex "$stderr" "unrecognized option '--bogus'"
	AGENT_NOW=never run -5 --separate-stderr agent-control pause
	assert_equal "$stderr" "agent-control: AGENT_NOW: not an RFC 3339 time: 'never'"
	assert_equal "$output" ""
	assert_equal "$(snapshot)" "$before"
}

@test "an unreachable store: exit 4" {
	run -4 --separate-stderr agent-control pause --db "postgresql:///agent?host=$BATS_TEST_TMPDIR/nothing-here"
	assert_equal "$output" ""
	assert_regex "$stderr" "^agent-control: postgresql: cannot connect: "
}

# ttyrun CMD...: CMD under a pseudo-terminal (script), stdout and stderr as
# the person sees them, CRs removed; $status is CMD's.
ttyrun() {
	local q
	printf -v q '%q ' "$@"
	run script -qec "$q" /dev/null
	output=${output//$'\r'/}
}

@test "on a terminal: one readable line per command, every error said once" {
	ttyrun agent cancel
	assert_equal "$status" 1
	assert_equal "$output" "agent default: nothing to cancel: no active session"
	ttyrun agent pause --reason "backend upgrade"
	assert_equal "$output" "agent default: paused: backend upgrade"
	ttyrun agent pause
	assert_equal "$output" "agent default: paused (already): backend upgrade"
	ttyrun agent resume
	assert_equal "$output" "agent default: resumed"
	seed training "training_operation_id = 'op_1', training_at = $((NOW - 600)), progress = '{\"percentage\":67,\"current_step\":\"Epoch 67/100\"}'"
	ttyrun agent cancel
	assert_equal "$status" 0
	assert_equal "$output" "agent-control: cannot cancel operation op_1: backend: DELETE /api/v1/operations/op_1: Connection refused
agent default: cancelled session 1 (training, Epoch 67/100);
  backend operation op_1 NOT cancelled (see the warning)"
	# --json keeps the document, and a script's stderr its line
	run -1 --separate-stderr agent cancel
	assert_equal "$(jq -r .reason <<<"$output")" no_active_session
	assert_equal "$stderr" "agent-control: nothing to cancel: agent 'default' has no active session"
}

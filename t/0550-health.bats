#!/usr/bin/env bats
# No silent failure, no silent spending (issue 14), end to end through
# agent-cycle against agent-sim: a backend down then back, the circuit
# breaker, a failed tick in agent status, budget skips explained and its
# warnings once each, notices to a command and to a webhook (agent-sim's
# Slack-style /services/ route) each once, and a notifier that hangs, fails
# or does not exist bounded and harmless.

load helpers/common
load helpers/sim
load helpers/views

setup_file() {
	sim_start --speed 2000 --seed 11
}
teardown_file() { sim_stop; }

setup() {
	fresh_store
	sim_clear
	sim_share_strategies "$BATS_FILE_TMPDIR/strategies"
	export AGENT_STRATEGY_DIR="$BATS_FILE_TMPDIR/strategies"
	export ANTHROPIC_API_KEY=sk-test-health AGENT_BACKEND_URL="$SIM_URL/api/v1"
	export HOOK="$SIM_URL/services/T000/B000/XXXX"
	curl -sf --max-time 5 -X POST -d '{"active":false}' "$SIM_URL/_sim/agent" >/dev/null
	unset AGENT_NOW AGENT_NOTIFY_URL AGENT_NOTIFY_COMMAND AGENT_NOTIFY_ON AGENT_DAILY_BUDGET_USD
}
teardown() { drop_store; }

DOWN=http://127.0.0.1:1/api/v1

# hooks: the texts the webhook received, one per line
hooks() {
	curl -sf --max-time 5 "$SIM_URL/_sim/requests" |
		jq -r '.requests[] | select(.path | startswith("/services/")) | .body.kind'
}
model_calls() {
	curl -sf --max-time 5 "$SIM_URL/_sim/requests" |
		jq '[.requests[] | select(.path == "/v1/messages")] | length'
}
tick() { run -0 --separate-stderr agent-cycle -q; }
status_json() { agent-status --json | jq -c "$1"; }

# unwrap: a wrapped line's continuations (indented lines) joined to it
unwrap() { sed -e ':a' -e 'N' -e '$!ba' -e 's/\n  *\([^ ]\)/ \1/g'; }

@test "backend down for 10 ticks: no session, no model call, status and metric say so, one notice each way" {
	export AGENT_NOTIFY_URL=$HOOK
	for i in 1 2 3 4 5 6 7 8 9 10; do
		AGENT_BACKEND_URL=$DOWN tick
		assert_equal "$(jq -c '[.event, .action, .reason]' <<<"$output")" '["backend_down","skip","backend_unreachable"]'
		assert_equal "$(jq -r .detail <<<"$output")" "backend: GET /api/v1/health: Connection refused"
	done
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_sessions")" 0
	assert_equal "$(model_calls)" 0
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_budget_holds")" 0
	assert_equal "$(sql "SELECT backend_down_ticks, backend_error FROM agent_state")" \
		"10|backend: GET /api/v1/health: Connection refused"
	assert_equal "$(status_json '[.state.name, .state.ticks, .state.error]')" \
		'["waiting_backend",10,"backend: GET /api/v1/health: Connection refused"]'
	run -0 --separate-stderr bash -c 'agent-metrics-agg --render | grep "^agent_backend_up"'
	assert_equal "$output" 'agent_backend_up{agent="default"} 0'
	# the notice went out once, after the second tick, not on every tick
	assert_equal "$(hooks)" "backend_down"
	assert_equal "$(sql "SELECT kind, delivery FROM agent_notices")" "backend_down|url: HTTP 200"
	# back: the next tick starts a cycle; one notice that it is back
	tick
	assert_equal "$(jq -c '[.event, .reason]' <<<"$output")" '["start_new_cycle","training_started"]'
	assert_equal "$(model_calls)" 1
	assert_equal "$(hooks | tr '\n' ' ')" "backend_down backend_up "
	run -0 --separate-stderr bash -c 'agent-metrics-agg --render | grep "^agent_backend_up"'
	assert_equal "$output" 'agent_backend_up{agent="default"} 1'
	assert_equal "$(status_json .state.name)" '"running"'
	tick
	assert_equal "$(hooks | tr '\n' ' ')" "backend_down backend_up "
}

@test "the circuit breaker: three refused designs pause the agent; resume clears it" {
	export AGENT_NOTIFY_URL=$HOOK AGENT_NOTIFY_ON=breaker_open
	sim_fault '{"route":"messages","refusal":true,"count":10}'
	for i in 1 2 3; do
		tick
		assert_equal "$(jq -c '[.session.outcome]' <<<"$output")" '["failed_design"]'
	done
	assert_equal "$(model_calls)" 3
	reason=$(sql "SELECT pause_reason FROM agent_state")
	assert_regex "$reason" '^paused: 3 design failures in a row; last: .+'
	assert_equal "$(sql "SELECT CASE WHEN paused THEN 1 ELSE 0 END, paused_by FROM agent_state")" "1|breaker"
	assert_equal "$(status_json '[.state.name, .state.by, .state.reason]')" "[\"paused\",\"breaker\",$(jq -Rc . <<<"$reason")]"
	run -0 --separate-stderr bash -c 'agent-metrics-agg --render | grep "^agent_breaker_open"'
	assert_equal "$output" 'agent_breaker_open{agent="default"} 1'
	assert_equal "$(hooks)" "breaker_open"
	# paused: the ticks spend nothing
	tick
	assert_equal "$(jq -c '[.event, .reason]' <<<"$output")" '["paused","paused"]'
	assert_equal "$(model_calls)" 3
	# resume clears it: the next failure alone does not pause again
	run -0 --separate-stderr agent-control resume
	tick
	assert_equal "$(jq -r .session.outcome <<<"$output")" failed_design
	assert_equal "$(sql "SELECT CASE WHEN paused THEN 1 ELSE 0 END FROM agent_state")" 0
	assert_equal "$(hooks)" "breaker_open"
	# gate failures never trip it; 0 turns it off
	run -0 --separate-stderr agent-control pause
	assert_equal "$(sql "SELECT paused_by FROM agent_state")" operator
}

@test "the breaker counts the same failure only, and never a gate's" {
	sql "INSERT INTO agent_sessions (agent, phase, outcome, failure_reason, created_at, updated_at, completed_at)
	     VALUES ('default', 'idle', 'failed_design', 'a', 1, 1, 1),
	            ('default', 'idle', 'failed_training_gate', 'b', 2, 2, 2),
	            ('default', 'idle', 'failed_design', 'c', 3, 3, 3),
	            ('default', 'idle', 'failed_design', 'd', 4, 4, 4)" >/dev/null
	AGENT_HEALTH_CHECK=0 AGENT_COEXIST_CHECK=0 run -0 --separate-stderr agent-trigger --dry-run
	assert_equal "$(jq -r .event <<<"$output")" start_new_cycle
	sql "INSERT INTO agent_sessions (agent, phase, outcome, failure_reason, created_at, updated_at, completed_at)
	     VALUES ('default', 'idle', 'failed_design', 'model refused (cyber)', 5, 5, 5)" >/dev/null
	AGENT_MAX_CONSECUTIVE_FAILURES=0 run -0 --separate-stderr agent-trigger --tick off
	assert_equal "$(jq -r .event <<<"$output")" start_new_cycle
	sql "DELETE FROM agent_sessions WHERE phase <> 'idle'; UPDATE agent_state SET lease_holder = NULL" >/dev/null
	run -0 --separate-stderr agent-trigger --tick on
	assert_equal "$(jq -c '[.event, .reason, .detail]' <<<"$output")" \
		'["paused","breaker_open","paused: 3 design failures in a row; last: model refused (cyber)"]'
	AGENT_MAX_CONSECUTIVE_FAILURES=x run -5 --separate-stderr agent-trigger --tick bad
	assert_equal "$stderr" "agent-trigger: AGENT_MAX_CONSECUTIVE_FAILURES: not a whole number from 0 to 100: 'x'"
}

@test "a tick failing without a key: status names the stage and the line; the session is not shown in progress" {
	unset ANTHROPIC_API_KEY
	run -5 --separate-stderr agent-cycle -q
	line=$(sql "SELECT detail FROM agent_triggers")
	assert_regex "$line" '^agent-invoke: no API key'
	assert_equal "$(sql "SELECT failed_stage, exit_status FROM agent_triggers")" "agent-invoke|5"
	assert_equal "$(status_json '[.state.name, .state.stage, .state.exit_status, .state.error]')" \
		"[\"tick_failed\",\"agent-invoke\",5,$(jq -Rc . <<<"$line")]"
	assert_equal "$(status_json '[.current.phase, .current.started, .current.percent, .current.step]')" \
		'["designing",false,0,"Not started: the last tick failed"]'
	NO_COLOR=1 run -0 tty agent-status
	# the State line wraps within 80 columns: joined again here
	assert_regex "$(unwrap <<<"$output")" "State  the last tick failed .* in agent-invoke \(exit 5\): agent-invoke: no API key"
	assert_equal "$(model_calls)" 0
}

@test "a tick failing before its row: agent status shows the configuration error" {
	AGENT_MAX_RESUMES=zz run -5 --separate-stderr agent-cycle -q
	assert_equal "$(status_json '[.state.name, .state.stage, .state.error]')" \
		"[\"tick_failed\",\"agent-trigger\",\"agent-trigger: AGENT_MAX_RESUMES: not a whole number from 0 to 100: 'zz'\"]"
}

@test "budget: warnings at 50, 80 and 90 % once each; exhausted is explained with the reset time" {
	export AGENT_NOTIFY_URL=$HOOK AGENT_NOW=2026-12-07T21:00:00Z AGENT_DAILY_BUDGET_USD=1.00
	export AGENT_HEALTH_CHECK=0 AGENT_AUTO_START=0
	spend() { # spend DOLLARS: a settled hold of that much
		local id
		id=$(agent-budget hold --usd "$1" | jq -r .id)
		agent-budget settle "$id" --usd "$1" >/dev/null
	}
	spend 0.40
	tick
	assert_equal "$(hooks)" ""
	spend 0.15
	tick
	tick
	assert_equal "$(hooks | tr '\n' ' ')" "budget_warning "
	spend 0.30
	tick
	assert_equal "$(sql "SELECT key FROM agent_notices ORDER BY id" | tr '\n' ' ')" \
		"budget_warning:2026-12-07:50 budget_warning:2026-12-07:80 budget_exhausted:2026-12-07 "
	spend 0.05
	tick
	tick
	assert_equal "$(sql "SELECT key FROM agent_notices ORDER BY id" | tr '\n' ' ')" \
		"budget_warning:2026-12-07:50 budget_warning:2026-12-07:80 budget_exhausted:2026-12-07 budget_warning:2026-12-07:90 "
	assert_equal "$(hooks | sort | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')" \
		"budget_exhausted=1 budget_warning=3 "
	run -0 --separate-stderr bash -c 'agent-metrics-agg --render | grep -E "^agent_budget_(warning_level|used)_ratio|^agent_budget_cycle"'
	assert_equal "$output" 'agent_budget_cycle_estimate_usd{agent="default"} 0.15
agent_budget_used_ratio{agent="default"} 0.9
agent_budget_warning_level_ratio{agent="default"} 0.9'
	# a tick that would start says why it does not, and status when it can again
	unset AGENT_AUTO_START
	tick
	assert_equal "$(jq -c '[.event, .reason, .detail]' <<<"$output")" \
		'["budget_exhausted","budget_exhausted","available $0.00, a cycle needs $0.15; the day resets at 2026-12-08T00:00:00Z"]'
	assert_equal "$(status_json '[.state.name, .state.available_usd, .state.cycle_estimate_usd, .state.resets_at, .state.resets_in_seconds]')" \
		'["waiting_budget",0,0.15,"2026-12-08T00:00:00Z",10800]'
	TZ=UTC NO_COLOR=1 run -0 tty agent-status
	assert_regex "$(unwrap <<<"$output")" 'State  waiting for budget: \$0.00 available, a cycle needs \$0.15; the day resets at 2026-12-08 00:00 UTC \(2026-12-08 00:00 UTC\), in 3h'
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_sessions")" 0
}

@test "notices reach a command with the JSON on stdin, once each" {
	export AGENT_NOTIFY_COMMAND="cat >> '$BATS_TEST_TMPDIR/got'; echo >> '$BATS_TEST_TMPDIR/got'"
	AGENT_BACKEND_URL=$DOWN tick
	AGENT_BACKEND_URL=$DOWN tick
	AGENT_BACKEND_URL=$DOWN tick
	run -0 jq -c '[.agent, .kind, .severity, .details.ticks, (.text | test("^agent default: the research backend is down since .* \\(2 ticks\\): backend: GET /api/v1/health: Connection refused$"))]' "$BATS_TEST_TMPDIR/got"
	assert_equal "$output" '["default","backend_down","critical",2,true]'
	assert_equal "$(sql "SELECT delivery FROM agent_notices")" "command: ok"
}

@test "a notifier that hangs is cut at its bound; one that fails or is missing changes nothing" {
	export AGENT_NOTIFY_COMMAND="sleep 30" AGENT_NOTIFY_TIMEOUT_MS=500
	AGENT_BACKEND_URL=$DOWN tick
	start=$SECONDS
	AGENT_BACKEND_URL=$DOWN run -0 --separate-stderr agent-cycle
	[ $((SECONDS - start)) -le 3 ]
	assert_regex "$stderr" "agent-metrics-agg: notice backend_down not delivered: command: killed after the AGENT_NOTIFY_TIMEOUT_MS bound"
	assert_equal "$(sql "SELECT delivery FROM agent_notices")" "command: killed after the AGENT_NOTIFY_TIMEOUT_MS bound"
	run -0 pgrep -f "^sleep 30$" -c || true
	# a webhook that answers 500, or hangs; a command that does not exist
	sql "DELETE FROM agent_notices" >/dev/null
	export AGENT_NOTIFY_COMMAND=/nonexistent/notifier AGENT_NOTIFY_URL=$HOOK
	sim_fault '{"route":"/services/","status":500,"count":1}'
	AGENT_BACKEND_URL=$DOWN run -0 --separate-stderr agent-cycle
	assert_equal "$(sql "SELECT delivery FROM agent_notices")" "command: not found (exit 127); url: HTTP 500"
	assert_equal "$(jq -c '[.event, .reason]' <<<"$output")" '["backend_down","backend_unreachable"]'
	sql "DELETE FROM agent_notices" >/dev/null
	unset AGENT_NOTIFY_COMMAND
	sim_fault '{"route":"/services/","hang":true,"count":1}'
	start=$SECONDS
	AGENT_BACKEND_URL=$DOWN run -0 --separate-stderr agent-cycle -q
	[ $((SECONDS - start)) -le 3 ]
	assert_regex "$(sql "SELECT delivery FROM agent_notices")" "^url: "
	run -0 --separate-stderr bash -c 'agent-metrics-agg --render | grep "^agent_notification_failures_total"'
	assert_equal "$output" 'agent_notification_failures_total{agent="default",method="command"} 2
agent_notification_failures_total{agent="default",method="url"} 2'
	# a malformed setting is refused by the tick, before anything
	AGENT_NOTIFY_ON=everything run -5 --separate-stderr agent-trigger
	assert_regex "$stderr" "^agent-trigger: AGENT_NOTIFY_ON: 'everything' is not one of"
}

@test "stale: no tick for more than two intervals" {
	AGENT_NOW=2026-12-07T10:00:00Z AGENT_HEALTH_CHECK=0 AGENT_AUTO_START=0 tick
	AGENT_NOW=2026-12-07T10:09:00Z run -0 agent-status --json
	assert_equal "$(jq -r .state.name <<<"$output")" idle
	AGENT_NOW=2026-12-07T10:11:00Z run -0 agent-status --json
	assert_equal "$(jq -c '[.state.name, .state.seconds]' <<<"$output")" '["stale",660]'
	assert_regex "$(jq -r .state.text <<<"$output")" "is the timer running\?$"
}

@test "health before money: 5xx, an HTML error page, a hung backend: skipped and explained, no model call" {
	sim_fault '{"route":"/api/v1/health","status":503,"count":1}'
	tick
	assert_equal "$(jq -c '[.event, .detail]' <<<"$output")" '["backend_down","backend: GET /api/v1/health: HTTP 503"]'
	sim_fault '{"route":"/api/v1/health","status":502,"message":"<html><body>502 Bad Gateway</body></html>","count":1}'
	tick
	assert_equal "$(jq -c '[.event, .detail]' <<<"$output")" '["backend_down","backend: GET /api/v1/health: HTTP 502"]'
	sim_fault '{"route":"/api/v1/health","hang":true,"count":1}'
	start=$SECONDS
	AGENT_BACKEND_TIMEOUT_SECONDS=1 tick
	[ $((SECONDS - start)) -le 4 ]
	assert_equal "$(jq -r .event <<<"$output")" backend_down
	assert_regex "$(jq -r .detail <<<"$output")" '^backend: GET /api/v1/health: .*(timed out|Timeout)'
	assert_equal "$(model_calls)" 0
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_sessions")" 0
	assert_equal "$(sql "SELECT backend_down_ticks FROM agent_state")" 3
	tick
	assert_equal "$(jq -r .event <<<"$output")" start_new_cycle
	assert_equal "$(sql "SELECT backend_down_ticks, COALESCE(backend_down_since, 0) FROM agent_state")" "0|0"
}

@test "a read-only store: one line per stage, exit 5, no model call, nothing changed" {
	export AGENT_HEALTH_CHECK=0 AGENT_COEXIST_CHECK=0
	before=$(snapshot)
	if [ "${AGENT_TEST_STORE:-sqlite}" = postgres ]; then
		AGENT_DB="$AGENT_DB&options=-c%20default_transaction_read_only%3Don" run -5 --separate-stderr agent-cycle -q
		first="^agent-trigger: postgresql: lease_take: cannot execute INSERT in a read-only transaction$"
	else
		# root writes any file: the tick runs as nobody on a store it may
		# only read, in a directory of known permissions (the checkout's
		# and bats' own may be private), with the commands beside it
		ro=$(mktemp -d /tmp/agent-ro.XXXXXX)
		chmod 755 "$ro"
		cp -R "$AGENT_BIN" "$ro/bin"
		cp -R "$AGENT_DATADIR" "$ro/share"
		sqlite3 "$AGENT_DB" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
		cp "$AGENT_DB" "$ro/agent.db"
		export AGENT_DB="$ro/agent.db"
		before=$(snapshot)
		chmod -R a+rX "$ro"
		chmod 444 "$AGENT_DB"
		chmod 555 "$ro"
		run -5 --separate-stderr runuser -u nobody -- env PATH="$ro/bin:$PATH" \
			AGENT_DB="$AGENT_DB" AGENT_DATADIR="$ro/share" AGENT_HEALTH_CHECK=0 \
			AGENT_COEXIST_CHECK=0 ANTHROPIC_API_KEY=sk-test ANTHROPIC_BASE_URL="$SIM_URL" \
			"$ro/bin/agent-cycle" -q
		chmod 755 "$ro"
		after=$(snapshot)
		rm -rf "$ro"
		# opening a WAL store writes (its -shm file): the open says so
		first="^agent-trigger: cannot open '$ro/agent.db': sqlite: attempt to write a readonly database$"
	fi
	assert_equal "$output" ""
	assert_regex "${stderr_lines[0]}" "$first"
	assert_regex "${stderr_lines[-1]}" "^agent-cycle: tick [0-9a-f]+: cannot record the failure nor release the lease$"
	assert_equal "$(model_calls)" 0
	assert_equal "${after-$(snapshot)}" "$before"
}

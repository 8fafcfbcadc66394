#!/usr/bin/env bats
# The operator views: agent-status, agent-history, agent-session, agent-logs
# (and `agent status`, `agent budget`): their JSON on a prepared store (exact
# values), the human layout on a terminal and not when piped, NO_COLOR, bad
# input, and agent-status on a million sessions.

load helpers/common
load helpers/views

setup() {
	fresh_store
	export AGENT_NOW=2026-11-24T03:20:00Z
	seed_views
}
teardown() { drop_store; }

# empty_store: AGENT_DB names another, empty store
empty_store() {
	if [ "${AGENT_TEST_STORE:-sqlite}" = postgres ]; then
		drop_store
		fresh_store
	else
		export AGENT_DB="$BATS_TEST_TMPDIR/empty.db"
		agent-db migrate -q
	fi
}

# same JSON A B: equal once keys are sorted (jsonb keeps its own key order)
same() {
	assert_equal "$(jq -S -c . <<<"$1")" "$(jq -S -c . <<<"$2")"
}

@test "agent-status --json: the current cycle, the recent ones, today's budget" {
	run -0 --separate-stderr agent-status --json
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 1
	same "$(jq -c 'del(.current, .recent, .budget, .last_tick)' <<<"$output")" \
		"{\"agent\":\"default\",\"now\":\"$(iso $NOW)\",\"now_epoch\":$NOW,\"paused\":false,\"pause_reason\":null,\"paused_at\":null,\"paused_by\":null,\"last_tick_at\":\"$(iso $((NOW - 300)))\",\"state\":{\"name\":\"running\",\"phase\":\"training\",\"percent\":20,\"phase_seconds\":1200,\"text\":\"running: session 5 training for 20m\"}}"
	assert_equal "$(jq -c '.last_tick | [.event, .action, .reason, .exit_status, .failed_stage, .detail]' <<<"$output")" \
		'["training_running","wait","operation_still_running",0,null,null]'
	same "$(jq -c .current <<<"$output")" \
		"{\"id\":5,\"phase\":\"training\",\"strategy\":\"epsilon\",\"created_at\":\"$(iso $((NOW - 1800)))\",\"age_seconds\":1800,\"phase_since\":\"$(iso $((NOW - 1200)))\",\"phase_seconds\":1200,\"percent\":20,\"step\":\"Training model...\",\"operation_id\":\"op_training_5\",\"progress\":{\"operation_id\":\"op_training_5\",\"status\":\"running\",\"percentage\":45,\"current_step\":\"Epoch 45/100\",\"steps_completed\":45,\"steps_total\":100,\"updated_at\":\"$(iso $((NOW - 60)))\"},\"retry_count\":0,\"conn_failures\":0}"
	same "$(jq -c '.recent' <<<"$output")" \
		"[{\"id\":4,\"outcome\":\"cancelled\",\"strategy\":\"delta\",\"completed_at\":\"$(iso $((NOW - 2000)))\",\"age_seconds\":2000,\"sharpe\":null,\"failed_gate\":null,\"failure_reason\":\"cancelled by the operator\"},
		  {\"id\":3,\"outcome\":\"failed_training_gate\",\"strategy\":\"gamma\",\"completed_at\":\"$(iso $((NOW - 2500)))\",\"age_seconds\":2500,\"sharpe\":null,\"failed_gate\":{\"gate\":\"training\",\"check\":\"loss\",\"value\":1.2,\"op\":\"<=\",\"threshold\":0.8},\"failure_reason\":\"loss 1.2 > 0.8\"},
		  {\"id\":2,\"outcome\":\"failed_backtest_gate\",\"strategy\":\"beta\",\"completed_at\":\"$(iso $((NOW - 3000)))\",\"age_seconds\":3000,\"sharpe\":-0.2,\"failed_gate\":{\"gate\":\"backtest\",\"check\":\"win_rate\",\"value\":0.3,\"op\":\">=\",\"threshold\":0.45},\"failure_reason\":\"win_rate 0.3 < 0.45\"},
		  {\"id\":1,\"outcome\":\"success\",\"strategy\":\"alpha\",\"completed_at\":\"$(iso $((NOW - 3600)))\",\"age_seconds\":3600,\"sharpe\":1.25,\"failed_gate\":null,\"failure_reason\":null}]"
	same "$(jq -c .budget <<<"$output")" \
		'{"agent":"default","day":"2026-11-24","limit_usd":5,"buffer_usd":0.1,"spent_usd":1.234567,"held_usd":0,"remaining_usd":3.765433,"available_usd":3.665433,"limit_set":false,"invocations":4,"cycles_started":5,"cycles_completed":4,"cycle_estimate_usd":0.15,"cycles_affordable":24,"tokens_used":4620,"token_limit":null,"resets_at":"2026-11-25T00:00:00Z","team":null,"limited_by":null,"caps":[],"used_usd":1.234567,"used_percent":24.7,"cycles_active":1}'
	run -0 agent-status --json --recent 2
	assert_equal "$(jq -c '[.recent[].id]' <<<"$output")" '[4,3]'
	run -0 agent-status --json -n 0
	assert_equal "$(jq -c .recent <<<"$output")" '[]'
}

@test "agent-status: one agent's view only; an empty store" {
	run -0 agent-status --json --agent other
	assert_equal "$(jq -c '[.current, [.recent[].id], .budget.cycles_active, .budget.spent_usd, .paused]' <<<"$output")" '[null,[6],0,0,false]'
	AGENT_NAME=other run -0 agent-status --json
	assert_equal "$(jq -c '[.recent[].id]' <<<"$output")" '[6]'
	empty_store
	run -0 --separate-stderr agent-status --json
	# which store it read, when it has no tick (a shell without the service's AGENT_DB)
	if [ "${AGENT_TEST_STORE:-sqlite}" = sqlite ]; then
		same "$(jq -c .state <<<"$output")" "{\"name\":\"never_ran\",\"store\":\"$AGENT_DB\",\"text\":\"no tick yet in $AGENT_DB; the service's store is /var/lib/agent/agent.db (AGENT_DB=/var/lib/agent/agent.db agent status)\"}"
	else
		same "$(jq -c .state <<<"$output")" '{"name":"never_ran","store":"postgresql","text":"no tick yet in this PostgreSQL store: start the timer, or run `agent trigger`"}'
	fi
	output=$(jq -c '.state = {"name":"never_ran","text":"no tick yet: start the timer, or run `agent trigger`"}' <<<"$output")
	same "$output" "{\"agent\":\"default\",\"now\":\"$(iso $NOW)\",\"now_epoch\":$NOW,\"paused\":false,\"pause_reason\":null,\"paused_at\":null,\"paused_by\":null,\"last_tick_at\":null,\"state\":{\"name\":\"never_ran\",\"text\":\"no tick yet: start the timer, or run \`agent trigger\`\"},\"last_tick\":null,\"current\":null,\"recent\":[],\"budget\":{\"agent\":\"default\",\"day\":\"2026-11-24\",\"limit_usd\":5,\"buffer_usd\":0.1,\"spent_usd\":0,\"held_usd\":0,\"remaining_usd\":5,\"available_usd\":4.9,\"limit_set\":false,\"invocations\":0,\"cycles_started\":0,\"cycles_completed\":0,\"cycle_estimate_usd\":0.15,\"cycles_affordable\":32,\"tokens_used\":0,\"token_limit\":null,\"resets_at\":\"2026-11-25T00:00:00Z\",\"team\":null,\"limited_by\":null,\"caps\":[],\"used_usd\":0,\"used_percent\":0,\"cycles_active\":0}}"
}

@test "agent-status: the human layout on a terminal, JSON when piped, colour unless NO_COLOR" {
	run -0 tty agent-status
	assert_regex "$output" $'\e\\[1mAgent default\e\\[0m'
	NO_COLOR=1 run -0 tty agent-status
	refute_regex "$output" $'\e'
	assert_equal "$output" "Agent default at 2026-11-24 03:20:00 UTC; last tick 5m ago
State  running: session 5 training for 20m

Current cycle
  Session 5  TRAINING  epsilon
  Started 30m ago; in this phase for 20m
  Cycle     [####................]  20%  Training model...
  Operation [#########...........]  45.0%  Epoch 45/100  (running, seen 1m ago)

Recent cycles
  #4      cancelled             delta                               33m ago
          cancelled by the operator
  #3      failed_training_gate  gamma                               41m ago
          training gate: loss 1.2 (needs <= 0.8)
  #2      failed_backtest_gate  beta                                50m ago
          backtest gate: win_rate 0.3 (needs >= 0.45)
  #1      success               alpha                               1h 00m ago
          Sharpe 1.25

Today's budget (2026-11-24 UTC)
  Used          \$1.23 of \$5.00 (24.7%)
  Available     \$3.67 (a \$0.10 buffer is never spent)
  Invocations   4
  Cycles        4 completed, 1 active (5 started today)
  Affordable    ~24 more cycles at \$0.15 each"
	# --json on a terminal; piped: JSON without asking
	NO_COLOR=1 run -0 tty agent-status --json
	assert_equal "$(jq -r .agent <<<"$output")" default
	run -0 bash -c 'agent-status | cat'
	assert_equal "$(jq -r .current.id <<<"$output")" 5
}

@test "agent-status: a paused agent gets a banner" {
	run -0 agent-control pause --reason "backend upgrade"
	run -0 agent-status --json
	assert_equal "$(jq -c '[.paused, .pause_reason, .paused_at]' <<<"$output")" "[true,\"backend upgrade\",\"$(iso $NOW)\"]"
	NO_COLOR=1 run -0 tty agent-status
	assert_equal "${lines[0]}" "!! PAUSED since 2026-11-24 03:20:00 UTC (0s ago): backend upgrade"
	assert_equal "${lines[1]}" "   every tick is skipped until \`agent resume\`"
	run -0 tty agent-status
	assert_regex "${lines[0]}" $'^\e\\[1m\e\\[33m!! PAUSED'
}

@test "agent-status: hostile text from the store cannot drive the terminal" {
	sql "UPDATE agent_sessions SET strategy_name = 'evil' || char(27) || '[2J' WHERE id = 5" 2>/dev/null ||
		sql "UPDATE agent_sessions SET strategy_name = 'evil' || chr(27) || '[2J' WHERE id = 5"
	NO_COLOR=1 run -0 tty agent-status
	refute_regex "$output" $'\e'
	assert_regex "$output" 'Session 5  TRAINING  evil\?\[2J'
	run -0 agent-status --json
	assert_equal "$(jq -r .current.strategy <<<"$output")" $'evil\e[2J'
}

@test "agent-history --json: every session, newest first, with figures and cost" {
	run -0 --separate-stderr agent-history --json
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.agent, .now, .now_epoch, .limit, .outcome, [.sessions[].id]]' <<<"$output")" "[\"default\",\"$(iso $NOW)\",$NOW,10,null,[5,4,3,2,1]]"
	same "$(jq -c '.sessions[4]' <<<"$output")" \
		"{\"id\":1,\"phase\":\"idle\",\"outcome\":\"success\",\"strategy\":\"alpha\",\"created_at\":\"$(iso $((NOW - 7200)))\",\"completed_at\":\"$(iso $((NOW - 3600)))\",\"duration_seconds\":3600,\"failed_gate\":null,\"failure_reason\":null,\"training\":{\"accuracy\":0.61,\"loss\":0.52,\"loss_decrease\":0.35,\"epochs\":48,\"gate_passed\":true},\"backtest\":{\"sharpe\":1.25,\"win_rate\":0.58,\"max_drawdown\":0.21,\"trades\":120,\"profit_factor\":1.6,\"gate_passed\":true},\"assessment\":{\"verdict\":\"promising\",\"strengths\":[\"steady gains\"],\"weaknesses\":[\"one symbol\"],\"suggestions\":[\"try MSFT\"]},\"invocations\":3,\"input_tokens\":3100,\"output_tokens\":380,\"cost_usd\":0.123456}"
	# no metrics row yet: the figures come from the gates' checks
	same "$(jq -c '.sessions[3] | {training, backtest, failed_gate, cost_usd}' <<<"$output")" \
		'{"training":{"accuracy":0.55,"loss":0.6,"loss_decrease":0.3,"epochs":null,"gate_passed":true},"backtest":{"sharpe":-0.2,"win_rate":0.3,"max_drawdown":0.1,"trades":null,"profit_factor":null,"gate_passed":false},"failed_gate":{"gate":"backtest","check":"win_rate","value":0.3,"op":">=","threshold":0.45},"cost_usd":0}'
	same "$(jq -c '.sessions[0]' <<<"$output")" \
		"{\"id\":5,\"phase\":\"training\",\"outcome\":null,\"strategy\":\"epsilon\",\"created_at\":\"$(iso $((NOW - 1800)))\",\"completed_at\":null,\"duration_seconds\":null,\"failed_gate\":null,\"failure_reason\":null,\"training\":null,\"backtest\":null,\"assessment\":null,\"invocations\":1,\"input_tokens\":800,\"output_tokens\":90,\"cost_usd\":0.02}"
	run -0 agent-history --json --limit 2
	assert_equal "$(jq -c '[.limit, [.sessions[].id]]' <<<"$output")" '[2,[5,4]]'
	run -0 agent-history --json --outcome failed_backtest_gate
	assert_equal "$(jq -c '[.outcome, [.sessions[].id]]' <<<"$output")" '["failed_backtest_gate",[2]]'
	run -0 agent-history --json -o failed_orphan
	assert_equal "$(jq -c '.sessions' <<<"$output")" '[]'
	run -0 agent-history --json -a other
	assert_equal "$(jq -c '[.sessions[].id]' <<<"$output")" '[6]'
}

@test "agent-history: the human layout" {
	NO_COLOR=1 run -0 tty agent-history -n 2 -o success
	assert_equal "$output" "#1      success  alpha
     started 2026-11-24 01:20:00 UTC, took 1h 00m
     training    accuracy 0.6100 loss 0.5200 epochs 48
     backtest    Sharpe 1.25 win rate 58.0% max drawdown 21.0% trades 120
     assessment  promising: steady gains
     cost        \$0.12 (3 calls, 3100 in / 380 out tokens)"
	NO_COLOR=1 run -0 tty agent-history -n 3
	assert_regex "$output" $'^#5      TRAINING  epsilon\n     started 2026-11-24 02:50:00 UTC, running for 30m\n'
	assert_regex "$output" $'\n#3      failed_training_gate  gamma\n.*\n     why         training gate: loss 1.2 \\(needs <= 0.8\\)\n'
	NO_COLOR=1 run -0 tty agent-history -o failed_orphan
	assert_equal "$output" "No sessions with outcome failed_orphan."
}

@test "agent-session --json: strategy, training, backtest, assessment, cost, timeline" {
	run -0 --separate-stderr agent-session 1 --json
	assert_equal "$stderr" ""
	same "$(jq -c .session <<<"$output")" \
		"{\"id\":1,\"agent\":\"default\",\"phase\":\"idle\",\"outcome\":\"success\",\"failure_reason\":null,\"retry_count\":0,\"created_at\":\"$(iso $((NOW - 7200)))\",\"updated_at\":\"$(iso $((NOW - 3600)))\",\"completed_at\":\"$(iso $((NOW - 3600)))\",\"designing_at\":\"$(iso $((NOW - 7200)))\",\"training_at\":\"$(iso $((NOW - 7000)))\",\"backtesting_at\":\"$(iso $((NOW - 5000)))\",\"assessing_at\":\"$(iso $((NOW - 3700)))\",\"duration_seconds\":3600,\"age_seconds\":7200}"
	same "$(jq -c .strategy <<<"$output")" \
		'{"name":"alpha","path":"/s/alpha.yaml","description":"RSI turns","hypothesis":null,"indicators":["rsi","atr"],"symbols":["AAPL"],"timeframes":["1h"],"model":"mlp","epochs":50}'
	same "$(jq -c '.training | del(.gate)' <<<"$output")" \
		'{"operation_id":"op_training_1","accuracy":0.61,"loss":0.52,"loss_decrease":0.35,"epochs_trained":48,"epochs_planned":50,"early_stopped":null,"model_path":null}'
	same "$(jq -c '.backtest | del(.gate)' <<<"$output")" \
		'{"operation_id":"op_backtesting_1","sharpe":1.25,"win_rate":0.58,"max_drawdown":0.21,"trades":120,"profit_factor":1.6,"total_return_pct":0.07}'
	assert_equal "$(jq -c '[.training.gate.passed, .backtest.gate.passed, .assessment.verdict, .progress, .timeline_truncated]' <<<"$output")" '[true,true,"promising",null,false]'
	same "$(jq -c .cost <<<"$output")" '{"invocations":3,"input_tokens":3100,"output_tokens":380,"cache_write_tokens":50,"cache_read_tokens":600,"usd":0.123456}'
	# phases, then each model call with the tool calls it asked for right after it
	assert_equal "$(jq -c '[.timeline[] | [.type, (.phase // .kind // .tool), (.at | fromdate) - '"$NOW"']]' <<<"$output")" \
		'[["phase","designing",-7200],["invocation","design",-7200],["action","save_strategy_config",-7200],["action","start_training",-7200],["invocation","design",-7200],["phase","training",-7000],["phase","backtesting",-5000],["phase","assessing",-3700],["invocation","assessment",-3700],["action","save_assessment",-3700],["phase","idle",-3600]]'
	run -0 agent-session 5 --json
	assert_equal "$(jq -c '[.session.outcome, .session.duration_seconds, .progress.current_step, .training.operation_id, .backtest, .strategy.indicators, .cost.usd]' <<<"$output")" \
		'[null,1800,"Epoch 45/100","op_training_5",null,[],0.02]'
	assert_equal "$(jq -c '[.timeline[] | select(.type == "action") | [.tool, .success, .error]]' <<<"$output")" '[["start_training",false,"backend: HTTP 503"]]'
}

@test "agent-session: the human layout; a missing session; bad ids" {
	NO_COLOR=1 run -0 tty agent-session 1
	assert_equal "${lines[0]}" "Session 1  success  alpha"
	assert_regex "$output" $'\nTraining  op_training_1\n  accuracy 0.6100  loss 0.5200  loss decrease 35.0%  epochs 48 of 50\n  gate        passed\n'
	assert_regex "$output" $'\nBacktest  op_backtesting_1\n  Sharpe 1.25  win rate 58.0%  max drawdown 21.0%  trades 120\n  profit factor 1.60  return 7.0%\n'
	assert_regex "$output" $'\nAssessment  promising\n  \\+ steady gains\n  - one symbol\n  > try MSFT\n'
	assert_regex "$output" $'\n  11-24 01:20:00  tool  start_training ok 12 ms\n'
	before=$(snapshot)
	run -1 --separate-stderr agent-session 999
	assert_equal "$output" ""
	assert_equal "$stderr" "agent-session: no session 999"
	run -1 --separate-stderr agent-session -q 999
	assert_equal "$stderr" ""
	run -0 --separate-stderr agent-session -q 1
	assert_equal "$output" ""
	run -2 --separate-stderr agent-session abc
	assert_equal "${stderr_lines[0]}" "agent-session: not a session id: 'abc'"
	run -2 --separate-stderr agent-session 0
	run -2 --separate-stderr agent-session
	assert_equal "${stderr_lines[0]}" "agent-session: a session id is needed"
	run -2 --separate-stderr agent-session 1 2
	assert_equal "${stderr_lines[0]}" "agent-session: unexpected argument '2'"
	assert_equal "$(snapshot)" "$before"
}

@test "agent-logs --json: ticks, model calls and tool calls in order" {
	run -0 --separate-stderr agent-logs --json
	assert_equal "$stderr" ""
	assert_equal "$(jq -sc '[.[] | [.type, .id]]' <<<"$output")" \
		'[["tick",1],["invocation",1],["action",1],["action",2],["invocation",2],["tick",2],["invocation",3],["action",3],["tick",3],["invocation",4],["action",4],["tick",4]]'
	same "${lines[0]}" "{\"type\":\"tick\",\"id\":1,\"at\":\"$(iso $((NOW - 7200)))\",\"agent\":\"default\",\"tick_id\":\"tk1\",\"session_id\":1,\"event\":\"start_new_cycle\",\"action\":\"invoke\",\"reason\":\"no_active_session\",\"invoked\":true,\"skip_reason\":null,\"duration_ms\":120,\"exit_status\":0,\"failed_stage\":null}"
	same "${lines[9]}" "{\"type\":\"invocation\",\"id\":4,\"at\":\"$(iso $((NOW - 1800)))\",\"agent\":\"default\",\"session_id\":5,\"tick_id\":\"tk3\",\"kind\":\"design\",\"model\":\"claude-opus-4-5-20251101\",\"status\":\"error\",\"stop_reason\":\"tool_use\",\"error\":\"overloaded\",\"input_tokens\":800,\"output_tokens\":90,\"cache_write_tokens\":0,\"cache_read_tokens\":0,\"cost_usd\":0.02,\"attempts\":1,\"duration_ms\":500}"
	same "${lines[10]}" "{\"type\":\"action\",\"id\":4,\"at\":\"$(iso $((NOW - 1800)))\",\"agent\":\"default\",\"session_id\":5,\"tick_id\":\"tk3\",\"invocation_id\":4,\"tool\":\"start_training\",\"success\":false,\"error\":\"backend: HTTP 503\",\"duration_ms\":30}"
	run -0 agent-logs --json --limit 3
	assert_equal "$(jq -sc '[.[] | [.type, .id]]' <<<"$output")" '[["invocation",4],["action",4],["tick",4]]'
	run -0 agent-logs --json --session 1 -n 100
	assert_equal "$(jq -sc '[.[] | [.type, .id]]' <<<"$output")" \
		'[["tick",1],["invocation",1],["action",1],["action",2],["invocation",2],["tick",2],["invocation",3],["action",3]]'
	run -0 agent-logs --json --agent other
	assert_equal "$(jq -sc '[.[] | [.type, .id]]' <<<"$output")" '[["tick",5]]'
	run -0 agent-logs --json -n 0
	assert_equal "$output" ""
	NO_COLOR=1 run -0 tty agent-logs -n 3
	# the call's line is cut at 79 columns, its error kept
	assert_equal "$output" "11-24 02:50:00  #5  call  design opus-4-5 error (overloaded) 800/90 tok \$0.0...
11-24 02:50:00  #5  tool  start_training failed (backend: HTTP 503) 30 ms
11-24 03:15:00  #5  tick  training_running -> wait 8 ms"
}

@test "agent-logs --follow: new rows as they come, a running tick once it has finished; SIGTERM ends it" {
	agent-logs --json --follow -n 1 --interval 0.2 --timeout 20 >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	pid=$!
	sleep 0.6
	sql "INSERT INTO agent_triggers (id, agent, tick_id, at, event, action, reason, session_id, invoked)
	     VALUES (10, 'default', 'tk10', $NOW, 'training_completed', 'gate', 'training_completed', 5, false)" >/dev/null
	sql "INSERT INTO agent_actions (id, agent, session_id, tick_id, tool_name, success, duration_ms, created_at)
	     VALUES (10, 'default', 5, 'tk10', 'start_backtest', true, 7, $NOW)" >/dev/null
	sql "INSERT INTO agent_actions (id, agent, session_id, tick_id, tool_name, success, duration_ms, created_at)
	     VALUES (11, 'default', 5, NULL, 'get_available_symbols', true, 3, $NOW)" >/dev/null
	for _ in $(seq 50); do grep -q get_available_symbols "$BATS_TEST_TMPDIR/out" && break; sleep 0.1; done
	sleep 0.5
	# the tick and its call wait for the tick to finish
	assert_equal "$(jq -sc '[.[] | [.type, .id]]' "$BATS_TEST_TMPDIR/out")" '[["tick",4],["action",11]]'
	sql "UPDATE agent_triggers SET action = 'wait', duration_ms = 42, exit_status = 0 WHERE id = 10" >/dev/null
	for _ in $(seq 50); do grep -q start_backtest "$BATS_TEST_TMPDIR/out" && break; sleep 0.1; done
	kill -TERM "$pid"
	wait "$pid" && st=0 || st=$?
	assert_equal "$st" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/err")" ""
	assert_equal "$(jq -sc '[.[] | [.type, .id, .action, .duration_ms]]' "$BATS_TEST_TMPDIR/out")" \
		'[["tick",4,"wait",8],["action",11,null,3],["tick",10,"wait",42],["action",10,null,7]]'
	# --timeout bounds it; SIGINT too
	run -0 timeout 10 agent-logs --json -n 0 -f -i 0.1 -t 0.5
	assert_equal "$output" ""
	agent-logs -f -n 0 -i 0.1 >/dev/null &
	pid=$!
	sleep 0.3
	kill -INT "$pid"
	wait "$pid" && st=0 || st=$?
	assert_equal "$st" 0
}

@test "the views: bad options exit 2 with one line, the store unchanged" {
	before=$(snapshot)
	run -2 --separate-stderr agent-history --outcome won
	assert_equal "${stderr_lines[0]}" "agent-history: --outcome: unknown outcome 'won'"
	run -2 --separate-stderr agent-history --limit 0
	assert_equal "${stderr_lines[0]}" "agent-history: --limit: not a whole number from 1 to 1000: '0'"
	run -2 --separate-stderr agent-history extra
	assert_equal "${stderr_lines[0]}" "agent-history: unexpected argument 'extra'"
	run -2 --separate-stderr agent-status --recent 1001
	assert_equal "${stderr_lines[0]}" "agent-status: --recent: not a whole number from 0 to 1000: '1001'"
	run -2 --separate-stderr agent-status --agent '../x'
	assert_regex "${stderr_lines[0]}" "^agent-status: --agent: not 1 to 100 characters"
	run -2 --separate-stderr agent-logs --interval 0
	assert_equal "${stderr_lines[0]}" "agent-logs: --interval: not a number of seconds from 0.1 to 60: '0'"
	run -2 --separate-stderr agent-logs --session x
	assert_equal "${stderr_lines[0]}" "agent-logs: --session: not a whole number from 1 to 9000000000000000000: 'x'"
	for c in agent-status agent-history agent-session agent-logs; do
		run -2 --separate-stderr "$c" --bogus
		assert_equal "$output" ""
		assert_regex "${stderr_lines[0]}" "^$c: unrecognized option '--bogus'"
	done
	AGENT_NAME='a b' run -5 --separate-stderr agent-history
	assert_equal "$stderr" "agent-history: AGENT_NAME: not 1 to 100 characters of [A-Za-z0-9_.-]: 'a b'"
	AGENT_NOW=yesterday run -5 --separate-stderr agent-history
	assert_equal "$(snapshot)" "$before"
	# -q: nothing at all
	run -0 --separate-stderr agent-status -q
	assert_equal "$output$stderr" ""
	run -0 --separate-stderr agent-history -q
	assert_equal "$output$stderr" ""
	run -0 --separate-stderr agent-logs -q
	assert_equal "$output$stderr" ""
}

@test "a store that cannot be opened: exit 5 (or 4 when unreachable), one line" {
	run -5 --separate-stderr agent-status --db /nonexistent/dir/agent.db
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^agent-status: "
	run -4 --separate-stderr agent-history --db 'postgresql:///x?host=/nonexistent&connect_timeout=1'
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^agent-history: "
}

@test "agent: status, history, session, logs and budget through the dispatcher" {
	run -0 agent status --json
	assert_equal "$(jq -r .current.id <<<"$output")" 5
	run -0 agent history --json -n 1
	assert_equal "$(jq -c '[.sessions[].id]' <<<"$output")" '[5]'
	run -0 agent session 2 --json
	assert_equal "$(jq -r .session.outcome <<<"$output")" failed_backtest_gate
	run -0 agent logs --json -n 1
	assert_equal "$(jq -r .tick_id <<<"$output")" tk4
	# agent budget: no command word is the status view; --days N the history
	run -0 --separate-stderr agent budget --json
	assert_equal "$(jq -c '[.spent_usd, .invocations]' <<<"$output")" '[1.234567,4]'
	NO_COLOR=1 run -0 tty agent budget
	assert_equal "${lines[0]}" "Budget for default on 2026-11-24 (UTC)"
	run -0 agent budget --days 2
	assert_equal "$(jq -c '[.[].day]' <<<"$output")" '["2026-11-24"]'
	run -0 agent budget set 7
	run -0 agent budget status --json
	assert_equal "$(jq -c .limit_usd <<<"$output")" 7
	run -0 agent help
	assert_regex "$output" $'\n  agent-status +Show the agent\'s current research cycle'
	assert_regex "$output" $'\n  budget +Today\'s budget'
	assert_regex "$output" $'\n  trigger -f +Start a cycle and follow it'
}

@test "agent-status on a million sessions: under 200 ms (the goal is 20 ms)" {
	empty_store
	if [ "${AGENT_TEST_STORE:-sqlite}" = postgres ]; then
		# synthetic rows: no rollup triggers, no foreign key checks
		psql "$AGENT_DB" -qAt -c "SET session_replication_role = replica;
			INSERT INTO agent_sessions (agent, phase, outcome, strategy_name, created_at, updated_at, completed_at)
			SELECT 'default', 'idle', (ARRAY['success','failed_backtest_gate','failed_training_gate','cancelled'])[1 + i % 4],
			       's' || i, 1700000000 + i, 1700000000 + i, 1700000100 + i FROM generate_series(1, 1000000) AS i;
			INSERT INTO agent_metrics (session_id, agent, outcome, cycle_started_at, cycle_completed_at, backtest_sharpe)
			SELECT id, 'default', outcome, created_at, completed_at, 0.5 FROM agent_sessions;
			INSERT INTO agent_sessions (agent, phase, strategy_name, created_at, updated_at) VALUES ('default', 'training', 'now', 1800000000, 1800000000);
			ANALYZE" >/dev/null
	else
		# synthetic rows: no rollup triggers (whatever they are named)
		sqlite3 "$AGENT_DB" "SELECT 'DROP TRIGGER \"' || name || '\";' FROM sqlite_master
			WHERE type = 'trigger' AND tbl_name IN ('agent_sessions', 'agent_metrics')" | sqlite3 "$AGENT_DB"
		sqlite3 "$AGENT_DB" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
			INSERT INTO agent_sessions (id, agent, phase, outcome, strategy_name, created_at, updated_at, completed_at)
			SELECT i, 'default', 'idle', CASE i % 4 WHEN 0 THEN 'success' WHEN 1 THEN 'failed_backtest_gate'
			       WHEN 2 THEN 'failed_training_gate' ELSE 'cancelled' END, 's' || i, 1700000000 + i, 1700000000 + i,
			       1700000100 + i FROM n;
			INSERT INTO agent_metrics (session_id, agent, outcome, cycle_started_at, cycle_completed_at, backtest_sharpe)
			SELECT id, 'default', outcome, created_at, completed_at, 0.5 FROM agent_sessions;
			INSERT INTO agent_sessions (agent, phase, strategy_name, created_at, updated_at) VALUES ('default', 'training', 'now', 1800000000, 1800000000)"
	fi
	run -0 agent-status --json
	assert_equal "$(jq -c '[.current.strategy, (.recent | length), .budget.cycles_active]' <<<"$output")" '["now",5,1]'
	local times=() t0 t1 i
	for i in $(seq 11); do
		t0=$(date +%s%N)
		agent-status --json >/dev/null
		t1=$(date +%s%N)
		times+=($(((t1 - t0) / 1000)))
	done
	median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 6p)
	echo "# agent-status --json, 1,000,001 sessions on ${AGENT_TEST_STORE:-sqlite}: median ${median} us" >&3
	[ "$median" -lt 200000 ] || fail "median $median us is over 200 ms"
	# the other views are bounded too
	for c in "agent-history --json" "agent-history --json -o cancelled" "agent-logs --json"; do
		t0=$(date +%s%N)
		$c >/dev/null
		t1=$(date +%s%N)
		[ $(((t1 - t0) / 1000)) -lt 500000 ] || fail "$c took $(((t1 - t0) / 1000)) us"
	done
}

@test "every human view fits 80 columns, colours or not" {
	# a long strategy name, a long failure reason: the layouts cut, never wrap
	sql "UPDATE agent_sessions SET strategy_name = 'a_strategy_name_much_longer_than_any_column_of_any_view_x',
	       failure_reason = '$(printf 'the backend said something very long %.0s' $(seq 8))' WHERE id = 3" >/dev/null
	bad=
	for nc in 1 ''; do
		for cmd in "agent-status" "agent-history" "agent-history -n 50" "agent-session 1" "agent-session 3" \
			"agent-session 5" "agent-logs -n 100" "agent-budget status" "agent-budget history --days 7" \
			"agent-cost --since 2026-11-01" "agent-cost --by session --since 2026-11-01"; do
			# shellcheck disable=SC2086
			out=$(NO_COLOR=$nc tty $cmd) || true
			n=0
			while IFS= read -r l; do
				n=$((n + 1))
				# the columns: escape sequences take none
				plain=$(sed 's/\x1b\[[0-9;]*m//g' <<<"$l")
				[ "${#plain}" -le 80 ] || bad="$bad
$cmd (NO_COLOR=$nc) line $n: ${#plain} columns: $plain"
			done <<<"$out"
			[ "$n" -gt 0 ] || bad="$bad
$cmd printed nothing"
		done
	done
	[ -z "$bad" ] || fail "$bad"
}

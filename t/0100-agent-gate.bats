#!/usr/bin/env bats
# agent-gate: verdicts alone, the pipeline role, thresholds, bad input.

load helpers/common

setup() { fresh_store; }
teardown() { drop_store; }

PASS_TRAIN='{"test_metrics":{"test_accuracy":0.52,"test_loss":0.61},"training_metrics":{"history":{"train_loss":[1.0,0.9,0.7]}}}'
PASS_BACK='{"metrics":{"win_rate":0.51,"max_drawdown_pct":0.2,"sharpe_ratio":1.1,"total_trades":40}}'

@test "a passing training result: exit 0, one verdict with every check" {
	run -0 --separate-stderr agent-gate --gate training <<<"$PASS_TRAIN"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.gate,.passed,.reason,(.checks|length),([.checks[].passed]|all)]' <<<"$output")" \
		'["training",true,"passed",3,true]'
	assert_equal "$(jq -c '.checks[0]|[.name,.value,.op,.threshold]' <<<"$output")" '["accuracy",0.52,">=",0.45]'
}

@test "a failing training result: exit 1, reason is the first failing check" {
	run -1 --separate-stderr agent-gate --gate training <<<'{"test_metrics":{"test_accuracy":0.30,"test_loss":0.95},"training_metrics":{"history":{"train_loss":[1.0,0.5]}}}'
	assert_equal "$stderr" ""
	assert_equal "$(jq -r '.reason' <<<"$output")" "accuracy_below_threshold"
	assert_equal "$(jq -c '[.checks[]|.passed]' <<<"$output")" '[false,false,true]'
	assert_equal "$(jq -r '.checks[1].reason' <<<"$output")" "loss_too_high"
}

@test "the gate is inferred from the result when --gate is absent" {
	run -0 --separate-stderr agent-gate <<<"$PASS_BACK"
	assert_equal "$(jq -r .gate <<<"$output")" backtest
	run -3 --separate-stderr agent-gate <<<'{"something":1}'
	assert_equal "$output" ""
	assert_equal "$stderr" "agent-gate: cannot tell a training result from a backtest result: use --gate"
}

@test "values exactly at every threshold pass" {
	run -0 --separate-stderr agent-gate --gate training <<<'{"test_metrics":{"test_accuracy":0.45,"test_loss":0.8},"training_metrics":{"history":{"train_loss":[1.0,0.8]}}}'
	assert_equal "$(jq -r .passed <<<"$output")" true
	run -0 --separate-stderr agent-gate --gate backtest <<<'{"metrics":{"win_rate":0.45,"max_drawdown_pct":0.40,"sharpe_ratio":-0.5}}'
	assert_equal "$(jq -r .passed <<<"$output")" true
}

@test "just past each backtest threshold fails with its reason" {
	run -1 agent-gate --gate backtest <<<'{"metrics":{"win_rate":0.4499,"max_drawdown_pct":0.2,"sharpe_ratio":1}}'
	assert_equal "$(jq -r .reason <<<"$output")" win_rate_too_low
	run -1 agent-gate --gate backtest <<<'{"metrics":{"win_rate":0.5,"max_drawdown_pct":0.4001,"sharpe_ratio":1}}'
	assert_equal "$(jq -r .reason <<<"$output")" drawdown_too_high
	run -1 agent-gate --gate backtest <<<'{"metrics":{"win_rate":0.5,"max_drawdown_pct":0.1,"sharpe_ratio":-0.5001}}'
	assert_equal "$(jq -r .reason <<<"$output")" sharpe_too_low
}

@test "a missing field is a failed check with a reason, not a crash" {
	run -1 --separate-stderr agent-gate --gate training <<<'{"test_metrics":{"test_accuracy":0.6}}'
	assert_equal "$stderr" ""
	assert_equal "$(jq -r '.reason' <<<"$output")" "loss_missing"
	assert_equal "$(jq -c '.checks[1]|[.value,.passed]' <<<"$output")" '[null,false]'
}

@test "flat fields and operation responses are understood" {
	run -0 agent-gate --gate training <<<'{"accuracy":0.5,"final_loss":0.5,"initial_loss":1.0}'
	assert_equal "$(jq -r .passed <<<"$output")" true
	run -0 agent-gate --gate backtest <<<"{\"success\":true,\"data\":{\"result_summary\":$PASS_BACK}}"
	assert_equal "$(jq -r .passed <<<"$output")" true
	run -0 agent-gate --gate backtest <<<'{"win_rate":0.5,"max_drawdown_pct":0.1,"sharpe_ratio":0.3}'
	assert_equal "$(jq -r .passed <<<"$output")" true
}

@test "thresholds from the environment and from --set" {
	TRAINING_GATE_MIN_ACCURACY=0.6 run -1 agent-gate --gate training <<<"$PASS_TRAIN"
	assert_equal "$(jq -c '[.reason,.checks[0].threshold]' <<<"$output")" '["accuracy_below_threshold",0.6]'
	TRAINING_GATE_MIN_ACCURACY=0.6 run -0 agent-gate --gate training --set min_accuracy=0.5 <<<"$PASS_TRAIN"
	BACKTEST_GATE_MAX_DRAWDOWN=0.1 run -1 agent-gate --gate backtest <<<"$PASS_BACK"
	assert_equal "$(jq -r .reason <<<"$output")" drawdown_too_high
}

@test "several results in, one verdict each; exit 1 when any failed" {
	run -1 --separate-stderr agent-gate --gate training <<<"$PASS_TRAIN
{\"accuracy\":0.1,\"final_loss\":0.5,\"initial_loss\":1.0}
$PASS_TRAIN"
	assert_equal "$(jq -sc 'map(.passed)' <<<"$output")" '[true,false,true]'
}

@test "a custom rule file can be copied and changed" {
	sed 's/0.45/0.9/' "$ROOT/share/gates/training.jq" >"$BATS_TEST_TMPDIR/strict.jq"
	run -1 agent-gate --gate "$BATS_TEST_TMPDIR/strict.jq" <<<"$PASS_TRAIN"
	assert_equal "$(jq -c '[.gate,.reason]' <<<"$output")" '["strict","accuracy_below_threshold"]'
	echo 'this is not jq (' >"$BATS_TEST_TMPDIR/broken.jq"
	run -5 --separate-stderr agent-gate --gate "$BATS_TEST_TMPDIR/broken.jq" <<<"$PASS_TRAIN"
	assert_output ""
	assert_regex "$stderr" "^agent-gate: gate rules '.*broken.jq': "
	run -5 --separate-stderr agent-gate --gate /nonexistent.jq <<<"$PASS_TRAIN"
	assert_regex "$stderr" "^agent-gate: cannot read gate rules '/nonexistent.jq'"
}

@test "bad input: exit 3 with one line on stderr" {
	run -3 --separate-stderr agent-gate --gate backtest <<<'{"metrics":{"win_rate":"high"}}'
	assert_output ""
	assert_equal "$stderr" "agent-gate: backtest gate: metrics.win_rate: expected a number, got string"
	run -3 --separate-stderr agent-gate --gate backtest <<<'{"metrics":{"win_rate":nan,"max_drawdown_pct":0.1,"sharpe_ratio":1}}'
	assert_equal "$stderr" "agent-gate: backtest gate: metrics.win_rate: not a finite number"
	run -3 --separate-stderr agent-gate --gate training <<<'{"test_metrics":{"test_accuracy":0.5'
	assert_equal "$stderr" "agent-gate: stdin: line 1: truncated JSON document at end of input"
	run -3 --separate-stderr agent-gate --gate training <<<'[1,2,3]'
	assert_equal "$stderr" "agent-gate: stdin: a result must be a JSON object"
	run -3 --separate-stderr agent-gate --gate training < <(printf '{"a":1}\n{"b":\0}\n')
	assert_equal "$stderr" "agent-gate: stdin: line 2: NUL byte in input"
}

@test "a 64 MiB line is refused without exhausting memory" {
	run -3 --separate-stderr bash -c 'head -c 67108864 /dev/zero | tr "\0" "1" | sed "s/^/[/" | agent-gate --gate training'
	assert_output ""
	assert_regex "$stderr" "^agent-gate: stdin: line 1: document larger than 16777216 bytes$"
}

@test "usage errors exit 2" {
	run -2 --separate-stderr agent-gate --set nonsense </dev/null
	assert_regex "$stderr" "^agent-gate: --set wants NAME=VALUE"
	run -2 --separate-stderr agent-gate --set min_accuracy=abc --gate training </dev/null
	assert_equal "${stderr%%$'\n'*}" "agent-gate: --set min_accuracy: not a number: 'abc'"
	TRAINING_GATE_MAX_LOSS=lots run -5 --separate-stderr agent-gate --gate training <<<"$PASS_TRAIN"
	assert_equal "$stderr" "agent-gate: TRAINING_GATE_MAX_LOSS: not a number: 'lots'"
}

# --- pipeline role

tick() { # tick PHASE RESULT
	jq -nc --arg phase "$1" --argjson result "$2" \
		'{tick:{id:"tick-1",at:"2026-11-24T03:20:00Z",agent:"default"},
		  event:(if $phase=="training" then "training_completed" else "backtest_completed" end),
		  action:"gate", reason:"operation_completed",
		  session:{id:1,phase:$phase}, result:$result}'
}

seed_session() { # seed_session PHASE
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, created_at, updated_at, designing_at, training_at)
	     VALUES ('default', '$1', 's1', 100, 100, 100, 200)" >/dev/null
	sql "INSERT INTO agent_triggers (agent, tick_id, at, event) VALUES ('default', 'tick-1', 300, 'training_completed')" >/dev/null
}

@test "pipeline: a passed training gate moves the session to backtesting and asks for an invocation" {
	seed_session training
	run -0 --separate-stderr agent-gate <<<"$(tick training "$PASS_TRAIN")"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.action,.reason,.gate.passed,.session.phase]' <<<"$output")" \
		'["invoke","training_gate_passed",true,"backtesting"]'
	assert_equal "$(sql "SELECT phase FROM agent_sessions WHERE id = 1")" backtesting
	assert_equal "$(sql "SELECT action || '/' || reason FROM agent_triggers WHERE tick_id = 'tick-1'")" "invoke/training_gate_passed"
}

@test "pipeline: a failed training gate ends the session failed_training_gate" {
	seed_session training
	run -0 --separate-stderr agent-gate <<<"$(tick training '{"test_metrics":{"test_accuracy":0.2,"test_loss":0.5},"training_metrics":{"history":{"train_loss":[1,0.5]}}}')"
	assert_equal "$(jq -c '[.action,.reason,.session.phase,.session.outcome]' <<<"$output")" \
		'["end","accuracy_below_threshold","idle","failed_training_gate"]'
	assert_equal "$(sql "SELECT phase, outcome, completed_at IS NOT NULL FROM agent_sessions WHERE id = 1" | tr -d ' ')" \
		"$(sql "SELECT 'idle', 'failed_training_gate', true" | tr -d ' ')"
	assert_equal "$(sql "SELECT skip_reason FROM agent_triggers WHERE tick_id = 'tick-1'")" gate_failed
}

@test "pipeline: a passed backtest gate moves the session to assessing" {
	seed_session backtesting
	run -0 agent-gate <<<"$(tick backtesting "$PASS_BACK")"
	assert_equal "$(jq -c '[.action,.session.phase,.gate.gate]' <<<"$output")" '["invoke","assessing","backtest"]'
	assert_equal "$(sql "SELECT phase FROM agent_sessions WHERE id = 1")" assessing
}

@test "pipeline: documents that do not concern the gate pass through unchanged" {
	local doc='{"tick":{"id":"t2","agent":"default"},"event":"training_running","action":"wait","reason":"operation_still_running","session":null}'
	run -0 --separate-stderr agent-gate <<<"$doc"
	assert_equal "$output" "$doc"
	assert_equal "$stderr" ""
	# as they came, byte for byte (spacing, escapes, number forms), one after another
	local odd='{ "tick" : {"id":"t3"}, "action":"wait", "n": 1.50, "s": "caf\u00e9 \"q\"" }'
	run -0 --separate-stderr agent-gate <<<"$odd"$'\n\n'"$doc"
	assert_equal "$output" "$odd"$'\n'"$doc"
	# passing on never makes a document valid: bad ones still exit 3
	run -3 --separate-stderr agent-gate <<<'{"tick":{"id":"t4"},"action":"wait","event":5}'
	assert_equal "$stderr" "agent-gate: tick: event, action, reason and tick.agent must be strings"
	run -3 --separate-stderr agent-gate <<<'{"tick":{"id":"t4"},"action":"wait",}'
	assert_regex "$stderr" '^agent-gate: stdin: line 1: '
}

@test "pipeline: bad tick documents exit 3 and leave the store unchanged" {
	seed_session training
	before=$(snapshot)
	run -3 --separate-stderr agent-gate <<<'{"tick":{"id":5},"action":"gate"}'
	assert_equal "$stderr" "agent-gate: tick.id must be a string of 1 to 128 bytes"
	run -3 --separate-stderr agent-gate <<<"$(tick training '{"test_metrics":{"test_accuracy":"x"}}')"
	assert_equal "$stderr" "agent-gate: training gate: test_metrics.test_accuracy: expected a number, got string"
	run -3 --separate-stderr agent-gate <<<"$(tick idle "$PASS_TRAIN")"
	assert_equal "$stderr" "agent-gate: tick: action gate needs a session in training or backtesting"
	assert_equal "$(snapshot)" "$before"
}

@test "pipeline: a session no longer in the phase the tick saw is not moved (exit 4)" {
	seed_session backtesting
	before=$(snapshot)
	run -4 --separate-stderr agent-gate <<<"$(tick training "$PASS_TRAIN")"
	assert_equal "$stderr" "agent-gate: session 1: no longer in phase training"
	assert_equal "$(snapshot)" "$before"
}

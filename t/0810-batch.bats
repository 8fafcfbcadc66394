#!/usr/bin/env bats
# AGENT_ASSESS_BATCH=1: the assessment as a Message Batch against agent-sim:
# submit under a hold, poll for no tokens, fetch and settle at the batch
# price once; an expired batch ends the cycle with the hold settled at 0.

load helpers/common
load helpers/sim

setup_file() { sim_start --speed 1000 --seed 2; }
teardown_file() { sim_stop; }

setup() {
	fresh_store
	sim_clear
	export ANTHROPIC_API_KEY=sk-test-batch AGENT_ASSESS_BATCH=1
}
teardown() { drop_store; }

assessing() {
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, backtest_results, created_at, updated_at, assessing_at)
	     VALUES ('default', 'assessing', 's1', '{\"metrics\":{\"sharpe_ratio\":1.2,\"win_rate\":0.55,\"max_drawdown_pct\":0.2}}', 1, 1, 1)
	     RETURNING id"
}

@test "submit, poll, fetch: one result, settled once at the batch price" {
	id=$(assessing)
	run -0 --separate-stderr agent-invoke --session "$id"
	assert_equal "$(jq -c '[.status, .reason, .calls, .cost_usd]' <<<"$output")" '["batch_submitted","assessment_batch_submitted",0,0]'
	bid=$(sql "SELECT assess_batch_id FROM agent_sessions WHERE id = $id")
	[[ $bid == msgbatch_* ]]
	assert_equal "$(sql "SELECT status FROM agent_budget_holds WHERE id = (SELECT assess_batch_hold FROM agent_sessions WHERE id = $id)")" open
	# the trigger keeps invoking the session while the batch runs
	run -0 --separate-stderr agent-trigger --tick t1
	assert_equal "$(jq -c '[.action, .reason]' <<<"$output")" '["invoke","assessment_batch_pending"]'
	sql "UPDATE agent_state SET lease_holder = NULL" >/dev/null
	for _ in $(seq 50); do
		run -0 --separate-stderr agent-invoke --session "$id"
		[ "$(jq -r .status <<<"$output")" = batch_pending ] || break
		[ "$(jq -r .cost_usd <<<"$output")" = 0 ] || fail "a poll cost something: $output"
		sleep 0.05
	done
	assert_equal "$(jq -c '[.status, .reason, .calls]' <<<"$output")" '["ok","assessment_saved",1]'
	assert_equal "$(sql "SELECT phase, outcome, COALESCE(assess_batch_id, '') FROM agent_sessions WHERE id = $id")" "idle|success|"
	# the recorded cost is pricing.json's batch price of the usage, to the micro-dollar
	read -r i o cost < <(sql "SELECT input_tokens, output_tokens, cost_micros FROM agent_invocations" | tr '|' ' ')
	want=$(jq -nc --argjson i "$i" --argjson o "$o" '{input_tokens: $i, output_tokens: $o, service_tier: "batch"}' |
		agent-budget price --model claude-haiku-4-5-20251001 | jq -r '.total_usd * 1000000 | round')
	assert_equal "$cost" "$want"
	full=$(jq -nc --argjson i "$i" --argjson o "$o" '{input_tokens: $i, output_tokens: $o}' |
		agent-budget price --model claude-haiku-4-5-20251001 | jq -r '.total_usd * 1000000 | round')
	[ "$cost" -lt "$full" ]
	assert_equal "$(sql "SELECT status, settled_micros FROM agent_budget_holds")" "settled|$cost"
	assert_equal "$(sql "SELECT tool_name FROM agent_actions")" save_assessment
}

@test "a process killed between submit and fetch loses nothing and pays once" {
	id=$(assessing)
	run -0 agent-invoke --session "$id"
	# a fetch killed at once (SIGKILL): no row, no settlement
	timeout -s KILL 0.001 agent-invoke --session "$id" >/dev/null 2>&1 || true
	sleep 0.3
	run --separate-stderr agent-invoke --session "$id"
	[ "$status" -eq 0 ] || fail "exit $status: $stderr"
	assert_equal "$(jq -r .reason <<<"$output")" assessment_saved
	# and once more: the session has ended (exit 3), nothing is charged again
	run -3 --separate-stderr agent-invoke --session "$id"
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations")" 1
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_budget_holds WHERE status = 'settled'")" 1
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_budget_holds WHERE status = 'open'")" 0
}

@test "a canceled batch: failed_assessment, the hold settled at 0" {
	sim_fault '{"route":"batches","fail":true}'
	id=$(assessing)
	run -0 agent-invoke --session "$id"
	assert_equal "$(jq -r .status <<<"$output")" batch_submitted
	# 24 simulated hours at 1000x: about 87 s; the cancel route ends it sooner
	bid=$(sql "SELECT assess_batch_id FROM agent_sessions WHERE id = $id")
	curl -sf --max-time 5 -X POST -H "x-api-key: k" -H 'anthropic-version: 2026-10-21' "$SIM_URL/v1/messages/batches/$bid/cancel" >/dev/null
	run -0 --separate-stderr agent-invoke --session "$id"
	assert_equal "$(jq -c '[.status, .reason, .cost_usd]' <<<"$output")" '["batch_failed","failed_assessment",0]'
	assert_regex "$(sql "SELECT phase, outcome, failure_reason FROM agent_sessions WHERE id = $id")" "^idle\|failed_assessment\|assessment batch $bid: canceled"
	assert_equal "$(sql "SELECT status, settled_micros FROM agent_budget_holds")" "settled|0"
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations")" 0
}

@test "a batch that expires after its 24 hours: failed_assessment, nothing billed" {
	local out="$BATS_TEST_TMPDIR/fast.out" pid url
	# a simulator where 24 hours pass in under a second
	"$AGENT_BIN/agent-sim" --listen 127.0.0.1:0 --speed 200000 --seed 2 -q \
		--fault '{"route":"batches","fail":true}' >"$out" 3>&- &
	pid=$!
	for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.05; done
	url=$(head -n 1 "$out" | jq -r .url)
	id=$(assessing)
	ANTHROPIC_BASE_URL=$url run -0 agent-invoke --session "$id"
	assert_equal "$(jq -r .status <<<"$output")" batch_submitted
	sleep 0.6
	ANTHROPIC_BASE_URL=$url run -0 --separate-stderr agent-invoke --session "$id"
	kill "$pid"
	assert_equal "$(jq -c '[.status, .reason, .cost_usd]' <<<"$output")" '["batch_expired","failed_assessment",0]'
	assert_regex "$(sql "SELECT outcome, failure_reason FROM agent_sessions WHERE id = $id")" "^failed_assessment\|assessment batch msgbatch_[0-9A-Za-z]+: expired$"
	assert_equal "$(sql "SELECT status, settled_micros FROM agent_budget_holds")" "settled|0"
}

@test "a batch over its model's cap is held, sent, priced and recorded as the fallback model" {
	local haiku=claude-haiku-4-5-20251001 sonnet=claude-sonnet-4-5-20250929
	id=$(assessing)
	agent-budget -q set --model haiku 0
	export AGENT_FALLBACK_MODEL_ASSESSMENT=sonnet
	run -0 --separate-stderr agent-invoke --session "$id"
	assert_equal "$(jq -r .status <<<"$output")" batch_submitted
	assert_equal "$(sql "SELECT model FROM agent_budget_holds")" "$sonnet"
	for _ in $(seq 50); do
		run -0 --separate-stderr agent-invoke --session "$id"
		[ "$(jq -r .status <<<"$output")" = batch_pending ] || break
		sleep 0.05
	done
	assert_equal "$(jq -c '[.status, .model, .requested_model, .fallback_reason]' <<<"$output")" \
		"[\"ok\",\"$sonnet\",\"$haiku\",\"model_cap\"]"
	assert_equal "$(sql "SELECT model || '|' || requested_model || '|' || fallback_reason FROM agent_invocations")" \
		"$sonnet|$haiku|model_cap"
	read -r i o cost < <(sql "SELECT input_tokens, output_tokens, cost_micros FROM agent_invocations" | tr '|' ' ')
	want=$(jq -nc --argjson i "$i" --argjson o "$o" '{input_tokens: $i, output_tokens: $o, service_tier: "batch"}' |
		agent-budget price --model "$sonnet" | jq -r '.total_usd * 1000000 | round')
	assert_equal "$cost" "$want"
	assert_equal "$(sql "SELECT status, settled_micros FROM agent_budget_holds")" "settled|$cost"
	# without a fallback: refused on the cap, nothing sent
	sql "DELETE FROM agent_budget_holds; DELETE FROM agent_invocations" >/dev/null
	id=$(assessing)
	unset AGENT_FALLBACK_MODEL_ASSESSMENT
	run -1 --separate-stderr agent-invoke --session "$id"
	assert_equal "$(jq -r .status <<<"$output")" budget_exhausted
	assert_equal "$(sql "SELECT COALESCE(assess_batch_id, '-') FROM agent_sessions WHERE id = $id")" "-"
}

#!/usr/bin/env bats
# Per-model daily caps (agent-budget set --model, hold --model) and the
# fallback model of agent-invoke (AGENT_FALLBACK_MODEL*): many processes
# holding for one model at once never overspend its cap and still use its
# room; an invocation over its model's cap, or overloaded after its
# retries, runs on the fallback model and says so; without a fallback,
# today's behaviour; bad input leaves the store as it was.

load helpers/common
load helpers/sim

OPUS=claude-opus-4-5-20251101
HAIKU=claude-haiku-4-5-20251001

setup_file() { sim_start --speed 1000 --seed 1; }
teardown_file() { sim_stop; }

setup() {
	fresh_store
	sim_clear
	export AGENT_NOW=2026-11-24T10:00:00Z AGENT_DAILY_BUDGET_USD=1000
	export ANTHROPIC_API_KEY=sk-test-SECRET-4242 AGENT_STRATEGY_DIR="$BATS_TEST_TMPDIR/strategies"
	sim_share_strategies "$AGENT_STRATEGY_DIR"
	export AGENT_TIMEOUT_SECONDS=10
	unset AGENT_FALLBACK_MODEL AGENT_FALLBACK_MODEL_DESIGN AGENT_FALLBACK_MODEL_POST_TRAINING \
		AGENT_FALLBACK_MODEL_ASSESSMENT AGENT_WEEKLY_BUDGET_USD AGENT_MONTHLY_BUDGET_USD
}
teardown() { drop_store; }

# model_used MODEL: spent + held of the model's cap today, in micro-dollars
model_used() {
	agent-budget status --json |
		jq -r --arg s "model:$1" '.caps[] | select(.scope == $s) | ((.spent_usd + .held_usd) * 1e6 | round)'
}

# round N AMOUNT MODEL: N processes at once, each holding AMOUNT for MODEL
round() {
	local n=$1 usd=$2 m=$3 i
	for ((i = 0; i < n; i++)); do
		agent-budget -q hold --model "$m" --usd "$usd" >/dev/null 2>>"$BATS_TEST_TMPDIR/err" &
	done
	wait
}
settle_open() {
	local id
	for id in $(sql "SELECT id FROM agent_budget_holds WHERE status = 'open'"); do
		agent-budget -q settle "$id" --usd 0.035 >/dev/null
	done
}

new_session() {
	local cfg='{"name":"s1","training_data":{"symbols":{"mode":"single","list":["AAPL"]},"timeframes":{"mode":"single","list":["1h"],"base_timeframe":"1h"}}}'
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, strategy_config, training_operation_id,
	     training_results, backtest_results, created_at, updated_at, designing_at)
	     VALUES ('default', '$1', ${2:-NULL}, '$cfg', 'op_training_1',
	     '{\"test_metrics\":{\"test_accuracy\":0.6,\"test_loss\":0.5}}',
	     '{\"metrics\":{\"sharpe_ratio\":1.2,\"win_rate\":0.55,\"max_drawdown_pct\":0.2}}', 100, 100, 100)" >/dev/null
	sql "SELECT MAX(id) FROM agent_sessions"
}

@test "set --model: a short name resolved, shown in status caps; holds for the model count, others not" {
	run -0 --separate-stderr agent-budget set --model opus 0.20
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.caps[] | [.scope, .period, .limit_usd, .available_usd]]' <<<"$output")" \
		"[[\"model:$OPUS\",\"day\",0.2,0.2]]"
	assert_equal "$(jq -r .available_usd <<<"$output")" 999.9
	run -0 agent-budget hold --model opus --usd 0.15
	run -1 --separate-stderr agent-budget hold --model "$OPUS" --usd 0.07
	assert_equal "$stderr" "agent-budget: budget_exhausted: a hold of \$0.070000 would break the day cap of model:$OPUS"
	assert_equal "$(jq -c '[.refused, .scope, .period]' <<<"$output")" "[true,\"model:$OPUS\",\"day\"]"
	# another model, and a hold without one, are not bounded by it
	run -0 agent-budget hold --model haiku --usd 0.07
	run -0 agent-budget hold --usd 0.07
	assert_equal "$(sql "SELECT COALESCE(model, '-') FROM agent_budget_holds ORDER BY id" | tr '\n' ' ')" \
		"$OPUS $HAIKU - "
	# settled at its cost, the room comes back
	agent-budget -q settle 1 --usd 0.05
	run -0 agent-budget hold --model opus --usd 0.15
	assert_equal "$(model_used "$OPUS")" 200000
	# the next UTC day starts afresh
	AGENT_NOW=2026-11-25T00:00:01Z run -0 agent-budget hold --model opus --usd 0.20
	run -0 --separate-stderr agent-budget set --model opus none
	assert_equal "$(jq -c '.caps' <<<"$output")" '[]'
	run -0 agent-budget hold --model opus --usd 0.50
}

@test "64 concurrent holds for one model never exceed its cap and use its room" {
	agent-budget -q set --model opus 2.00
	: >"$BATS_TEST_TMPDIR/err"
	for r in 1 2 3; do
		round 64 0.07 opus
		u=$(model_used "$OPUS")
		[ "$u" -le 2000000 ] || fail "round $r: $u above the model's cap"
		[ "$u" -gt $((2000000 - 70000)) ] || fail "round $r: the room unused: $u"
		settle_open
	done
	assert_equal "$(grep -vc budget_exhausted "$BATS_TEST_TMPDIR/err")" 0
	# the sum of the holds agrees with the agent's day
	assert_equal "$(sql "SELECT SUM(CASE WHEN status = 'settled' THEN settled_micros ELSE amount_micros END) FROM agent_budget_holds")" \
		"$(sql "SELECT spent_micros + held_micros FROM agent_budget")"
}

@test "fallback on a model cap: the invocation runs on the fallback model, priced as it, and says why" {
	id=$(new_session designing)
	agent-budget -q set --model opus 0.01
	AGENT_FALLBACK_MODEL_DESIGN=haiku AGENT_FALLBACK_MODEL=sonnet \
		run -0 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$(jq -c '[.status, .model, .requested_model, .fallback_reason]' <<<"$output")" \
		"[\"ok\",\"$HAIKU\",\"$OPUS\",\"model_cap\"]"
	assert_equal "$(sql "SELECT DISTINCT model || '|' || requested_model || '|' || fallback_reason FROM agent_invocations")" \
		"$HAIKU|$OPUS|model_cap"
	# held for, and priced as, haiku
	assert_equal "$(sql "SELECT DISTINCT model FROM agent_budget_holds")" "$HAIKU"
	sql "SELECT input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_micros FROM agent_invocations" |
	while IFS='|' read -r in out cw cr cost; do
		usage="{\"input_tokens\":$in,\"output_tokens\":$out,\"cache_creation_input_tokens\":$cw,\"cache_read_input_tokens\":$cr}"
		want=$(agent-budget price --model "$HAIKU" <<<"$usage" | jq '.total_usd * 1e6 | round')
		assert_equal "$cost" "$want"
	done
	assert_equal "$(sql "SELECT phase FROM agent_sessions WHERE id = $id")" training
	# the metric, from the store
	run -0 --separate-stderr bash -c 'agent-metrics-agg --render | promtool check metrics'
	run -0 --separate-stderr agent-metrics-agg --render
	assert_regex "$output" "agent_model_fallbacks_total\\{agent=\"default\",from=\"$OPUS\",to=\"$HAIKU\",reason=\"model_cap\"\\} 1"
}

@test "fallback on 529 overloaded after the retries: reason overloaded, the failed attempts on the model asked for" {
	id=$(new_session designing)
	sim_fault '{"route":"messages","status":529,"count":3}'
	AGENT_FALLBACK_MODEL=haiku run -0 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$(jq -c '[.status, .model, .requested_model, .fallback_reason]' <<<"$output")" \
		"[\"ok\",\"$HAIKU\",\"$OPUS\",\"overloaded\"]"
	assert_equal "$(sql "SELECT status, model, COALESCE(fallback_reason, '-') FROM agent_invocations ORDER BY id LIMIT 4" | tr '\n' ' ')" \
		"error|$OPUS|- error|$OPUS|- error|$OPUS|- ok|$HAIKU|overloaded "
	assert_equal "$(sql "SELECT COALESCE(SUM(spent_micros), 0) FROM agent_budget")" \
		"$(sql "SELECT COALESCE(SUM(cost_micros), 0) FROM agent_invocations")"
}

@test "no fallback configured: refused on the model cap, failed on 529, as before" {
	id=$(new_session designing)
	agent-budget -q set --model opus 0.01
	run -1 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$(jq -c '[.status, .model, .requested_model]' <<<"$output")" "[\"budget_exhausted\",\"$OPUS\",null]"
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations")" 0
	agent-budget -q set --model opus none
	sim_fault '{"route":"messages","status":529,"count":3}'
	run -4 --separate-stderr agent-invoke --kind design --session "$id"
	assert_regex "$stderr" "gave up after 3 attempts"
	assert_equal "$(sql "SELECT COUNT(*), COUNT(fallback_reason), COUNT(requested_model) FROM agent_invocations")" "3|0|0"
}

@test "bad input: one line, the documented exit status, the store unchanged" {
	agent-budget -q set --model opus 1.00
	before=$(snapshot)
	run -2 --separate-stderr agent-budget set --model opus lots
	assert_equal "$stderr" "agent-budget: set: not a dollar amount (or none): 'lots'"
	run -2 --separate-stderr agent-budget set --model opus -- -1
	assert_equal "$stderr" "agent-budget: set: not a dollar amount (or none): '-1'"
	run -5 --separate-stderr agent-budget set --model claude-fable-5-2 1
	assert_regex "$stderr" "^agent-budget: no price for model 'claude-fable-5-2'"
	assert_equal "${#lines[@]}" 0
	run -2 --separate-stderr agent-budget status --model opus
	assert_equal "${stderr%%$'\n'*}" "agent-budget: --model goes with set, hold, price or settle"
	run -2 --separate-stderr agent-budget check --model opus
	run -2 --separate-stderr agent-budget set --model opus --period week 1
	run -5 --separate-stderr agent-budget hold --model claude-fable-5-2 --usd 0.01
	assert_regex "$stderr" "^agent-budget: no price for model 'claude-fable-5-2'"
	id=$(new_session designing)
	before=$(snapshot)
	AGENT_FALLBACK_MODEL=claude-fable-5-2 run -5 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$stderr" "$(echo "$stderr" | head -1)"
	assert_regex "$stderr" "^agent-invoke: no price for model 'claude-fable-5-2'"
	assert_equal "$(snapshot)" "$before"
}

#!/usr/bin/env bats
# agent-budget: status, check, hold, settle, price, history, set, the
# pipeline role, the hard cap under concurrency, bad input.

load helpers/common

setup() { fresh_store; export AGENT_NOW=2026-11-24T10:00:00Z; }
teardown() { drop_store; }

@test "status of a fresh day: limit 5, buffer 0.10, nothing spent" {
	run -0 --separate-stderr agent-budget status
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.day,.limit_usd,.buffer_usd,.spent_usd,.held_usd,.remaining_usd,.available_usd,.cycles_affordable,.resets_at]' <<<"$output")" \
		'["2026-11-24",5,0.1,0,0,5,4.9,32,"2026-11-25T00:00:00Z"]'
}

@test "hold, then settle at the actual cost: the difference is released" {
	run -0 --separate-stderr agent-budget hold --usd 1.25 --ttl 600 --note first
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.id,.amount_usd,.expires_at]' <<<"$output")" '[1,1.25,"2026-11-24T10:10:00Z"]'
	assert_equal "$(agent-budget status | jq -c '[.held_usd,.available_usd]')" '[1.25,3.65]'
	run -0 --separate-stderr agent-budget settle 1 --usd 0.137500
	assert_equal "$(jq -c '[.cost_usd,.released_usd]' <<<"$output")" '[0.1375,1.1125]'
	assert_equal "$(agent-budget status | jq -c '[.spent_usd,.held_usd,.invocations]')" '[0.1375,0,1]'
	assert_equal "$(sql "SELECT spent_micros FROM agent_budget")" 137500
}

@test "settle prices an API usage object with the model's prices" {
	agent-budget hold --usd 1 >/dev/null
	run -0 agent-budget settle 1 --model claude-opus-4-5-20251101 \
		--api-usage '{"input_tokens":3000,"output_tokens":2000,"cache_creation_input_tokens":10000,"cache_read_input_tokens":20000}'
	assert_equal "$(jq -r .cost_usd <<<"$output")" 0.1375
	assert_equal "$(sql "SELECT spent_micros, tokens_used FROM agent_budget")" "137500|35000"
}

@test "a hold that would break the cap is refused: exit 1, nothing held" {
	agent-budget hold --usd 4 >/dev/null
	run -1 --separate-stderr agent-budget hold --usd 0.95
	assert_equal "$stderr" 'agent-budget: budget_exhausted: a hold of $0.950000 would break the cap'
	assert_equal "$(jq -c '[.refused,.budget.available_usd]' <<<"$output")" '[true,0.9]'
	# the buffer is never spent: 0.90 is the most that still fits
	run -0 agent-budget hold --usd 0.9
	assert_equal "$(agent-budget status | jq -c '[.held_usd,.available_usd]')" '[4.9,0]'
	run -1 agent-budget hold --usd 0.000001
}

@test "settling twice, or an unknown hold, changes nothing" {
	agent-budget hold --usd 1 >/dev/null
	agent-budget settle 1 --usd 0.5 >/dev/null
	before=$(snapshot)
	run -1 --separate-stderr agent-budget settle 1 --usd 0.5
	assert_equal "$stderr" "agent-budget: hold 1 is settled, not open"
	run -3 --separate-stderr agent-budget settle 42 --usd 0.5
	assert_equal "$stderr" "agent-budget: no hold 42"
	assert_equal "$(snapshot)" "$before"
}

@test "an expired hold counts as spent at its full amount and cannot be settled" {
	agent-budget hold --usd 2 --ttl 60 >/dev/null
	export AGENT_NOW=2026-11-24T10:01:00Z
	run -0 agent-budget status
	assert_equal "$(jq -c '[.spent_usd,.held_usd]' <<<"$output")" '[2,0]'
	run -1 --separate-stderr agent-budget settle 1 --usd 0.1
	assert_equal "$stderr" "agent-budget: hold 1 is expired, not open"
	assert_equal "$(sql "SELECT status, settled_micros FROM agent_budget_holds WHERE id = 1")" "expired|2000000"
}

@test "an expiring hold is spent even when nobody asks for the status in between" {
	agent-budget hold --usd 2 --ttl 60 >/dev/null
	export AGENT_NOW=2026-11-24T12:00:00Z
	run -1 agent-budget settle 1 --usd 0.1
	run -0 agent-budget check --estimate 2.9
	run -1 agent-budget check --estimate 2.91
}

@test "the day resets at 00:00 UTC" {
	agent-budget hold --usd 4.9 >/dev/null
	run -1 agent-budget check --estimate 0.01
	AGENT_NOW=2026-11-24T23:59:59Z run -1 agent-budget check --estimate 0.01
	AGENT_NOW=2026-11-25T00:00:00Z run -0 --separate-stderr agent-budget check --estimate 0.01
	assert_equal "$(jq -c '[.day,.available_usd,.allowed]' <<<"$output")" '["2026-11-25",4.9,true]'
	# a +01:00 offset is still the UTC day
	AGENT_NOW=2026-11-25T00:30:00+01:00 run -1 agent-budget check --estimate 0.01
}

@test "check: yes is exit 0, no is exit 1, -q prints nothing" {
	run -0 --separate-stderr agent-budget check
	assert_equal "$(jq -c '[.allowed,.estimate_usd]' <<<"$output")" '[true,0.15]'
	run -0 --separate-stderr agent-budget -q check --estimate 4.9
	assert_output ""
	run -1 --separate-stderr agent-budget -q check --estimate 4.900001
	assert_output ""
	assert_equal "$stderr" ""
}

@test "set: today's limit for this agent wins over the environment" {
	run -0 agent-budget set 10 --json
	assert_equal "$(jq -c '[.limit_usd,.limit_set]' <<<"$output")" '[10,true]'
	AGENT_DAILY_BUDGET_USD=2 run -0 agent-budget status
	assert_equal "$(jq -r .limit_usd <<<"$output")" 10
	AGENT_NOW=2026-11-25T08:00:00Z AGENT_DAILY_BUDGET_USD=2 run -0 agent-budget status
	assert_equal "$(jq -r .limit_usd <<<"$output")" 2
	run -0 agent-budget --agent other status
	assert_equal "$(jq -c '[.agent,.limit_usd]' <<<"$output")" '["other",5]'
}

@test "history lists the days, newest first" {
	AGENT_NOW=2026-11-22T10:00:00Z agent-budget hold --usd 1 >/dev/null
	AGENT_NOW=2026-11-22T10:00:00Z agent-budget settle 1 --usd 0.25 >/dev/null
	agent-budget status >/dev/null
	run -0 --separate-stderr agent-budget history --days 7
	assert_equal "$(jq -c 'map([.day,.spent_usd,.invocations])' <<<"$output")" '[["2026-11-24",0,0],["2026-11-22",0.25,1]]'
	run -0 agent-budget history --days 1
	assert_equal "$(jq -c 'map(.day)' <<<"$output")" '["2026-11-24"]'
	# on a terminal (agent budget --days N): a table, to the micro-dollar, with its total
	AGENT_NOW=2026-11-22T11:00:00Z agent-budget hold --usd 1 >/dev/null
	AGENT_NOW=2026-11-22T11:00:00Z agent-budget settle 2 --usd 0.000123 >/dev/null
	run -0 script -qec "agent budget --days 7" /dev/null
	assert_equal "${output//$'\r'/}" "day (UTC)         spent      limit  calls   cycles     tokens
2026-11-24    \$0.000000      \$5.00      0      0/0          0
2026-11-22    \$0.250123      \$5.00      2      0/0          0
total         \$0.250123                 2      0/0"
	run -0 script -qec "agent budget --days 7 --json" /dev/null
	assert_equal "$(tr -d '\r' <<<"$output" | jq -c 'map(.spent_usd)')" '[0,0.250123]'
}

@test "the token budget refuses holds past it" {
	export AGENT_DAILY_TOKEN_BUDGET=1000
	run -0 agent-budget hold --usd 0.1 --tokens 800
	run -1 agent-budget hold --usd 0.1 --tokens 201
	run -0 agent-budget hold --usd 0.1 --tokens 200
}

@test "price: usage on stdin, a breakdown out, to the micro-dollar" {
	run -0 --separate-stderr agent-budget price --model claude-opus-4-5-20251101 \
		<<<'{"input_tokens":3000,"output_tokens":2000,"cache_creation_input_tokens":10000,"cache_read_input_tokens":20000}'
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.total_usd,.cost_usd.cache_write_5m,.cost_usd.cache_read,.band]' <<<"$output")" '[0.1375,0.0625,0.01,false]'
	run -0 agent-budget price --model claude-opus-4-5 --batch <<<'{"input_tokens":1000000,"output_tokens":1000000}'
	assert_equal "$(jq -r .total_usd <<<"$output")" 15
	run -0 agent-budget price --model claude-sonnet-4-5 \
		<<<'{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":100000,"cache_creation":{"ephemeral_5m_input_tokens":40000,"ephemeral_1h_input_tokens":60000}}'
	assert_equal "$(jq -r .total_usd <<<"$output")" 0.51
	run -0 agent-budget price --model claude-haiku-5-5 <<<'{"input_tokens":100001,"output_tokens":1000}'
	assert_equal "$(jq -c '[.band,.total_usd]' <<<"$output")" '[true,0.052501]'
	run -0 agent-budget price --model claude-haiku-5-5 <<<'{"input_tokens":100000,"output_tokens":1000}'
	assert_equal "$(jq -c '[.band,.total_usd]' <<<"$output")" '[false,0.0105]'
	# a whole API response: its usage is priced; service_tier batch halves it
	run -0 agent-budget price --model claude-haiku-4-5 <<<'{"id":"msg_1","usage":{"input_tokens":1000000,"output_tokens":0,"service_tier":"batch"}}'
	assert_equal "$(jq -c '[.batch,.total_usd]' <<<"$output")" '[true,0.5]'
}

@test "price: an unknown model is refused, never priced at zero" {
	run -5 --separate-stderr agent-budget price --model claude-fable-5-2 <<<'{"input_tokens":1}'
	assert_output ""
	assert_equal "$stderr" "agent-budget: no price for model 'claude-fable-5-2' (add it to pricing.json or set AGENT_COST_PER_MTOK_INPUT and AGENT_COST_PER_MTOK_OUTPUT)"
	AGENT_COST_PER_MTOK_INPUT=2 AGENT_COST_PER_MTOK_OUTPUT=8 run -0 agent-budget price --model claude-fable-5-2 <<<'{"input_tokens":1000000,"output_tokens":1000000}'
	assert_equal "$(jq -r .total_usd <<<"$output")" 10
	AGENT_COST_PER_MTOK_INPUT=cheap run -5 --separate-stderr agent-budget price --model claude-opus-5 <<<'{}'
	assert_equal "$stderr" "agent-budget: AGENT_COST_PER_MTOK_INPUT: not a price in USD per million tokens: 'cheap'"
}

@test "price: bad usage is exit 3 with one line" {
	run -3 --separate-stderr agent-budget price --model claude-opus-5 <<<'{"input_tokens":-5}'
	assert_equal "$stderr" "agent-budget: usage: input_tokens must be a whole number from 0 to 1e12"
	run -3 --separate-stderr agent-budget price --model claude-opus-5 <<<'{"input_tokens":"many"}'
	assert_equal "$stderr" "agent-budget: usage: input_tokens is not a number"
	run -3 --separate-stderr agent-budget price --model claude-opus-5 <<<'{"output_tokens":1e300}'
	assert_equal "$stderr" "agent-budget: usage: output_tokens must be a whole number from 0 to 1e12"
	run -3 --separate-stderr agent-budget price --model claude-opus-5 <<<'{"input_tokens":1.5}'
	run -3 --separate-stderr agent-budget price --model claude-opus-5 <<<'{"input_tokens":'
	assert_equal "$stderr" "agent-budget: stdin: line 1: truncated JSON document at end of input"
	run -3 agent-budget price --model claude-opus-5 <<<'"text"'
}

@test "negative, absurd and malformed amounts are usage errors and change nothing" {
	before=$(snapshot)
	for a in -1 1e3 0.0000001 abc "" 1000000000 NaN; do
		run -2 --separate-stderr agent-budget hold --usd "$a"
		assert_output ""
		assert_regex "$stderr" "^agent-budget: --usd: not a dollar amount"
	done
	run -2 agent-budget set -- -5
	run -2 agent-budget settle abc --usd 1
	run -2 agent-budget hold --usd 1 --ttl 0
	run -2 agent-budget hold
	run -2 agent-budget frobnicate
	run -2 agent-budget settle 1 --usd 1 --api-usage '{}' --model claude-opus-5
	assert_equal "$(snapshot)" "$before"
	AGENT_DAILY_BUDGET_USD=lots run -5 --separate-stderr agent-budget status
	assert_equal "$stderr" "agent-budget: AGENT_DAILY_BUDGET_USD: not a dollar amount: 'lots'"
	run -3 --separate-stderr agent-budget settle 1 --api-usage '{"input_tokens":"x"}' --model claude-opus-5
	assert_equal "$stderr" "agent-budget: usage: input_tokens is not a number"
}

@test "32 processes holding at once never exceed limit minus buffer" {
	export AGENT_DAILY_BUDGET_USD=1.00
	agent-budget status >/dev/null
	for i in $(seq 1 32); do
		agent-budget -q hold --usd 0.07 >/dev/null 2>"$BATS_TEST_TMPDIR/err.$i" &
	done
	wait
	# 0.90 / 0.07 = 12 holds fit; every other process was refused, none failed
	assert_equal "$(sql "SELECT COUNT(*), SUM(amount_micros) FROM agent_budget_holds")" "12|840000"
	assert_equal "$(sql "SELECT held_micros + spent_micros <= limit_micros - 100000 FROM agent_budget" | tr t 1)" 1
	assert_equal "$(cat "$BATS_TEST_TMPDIR"/err.* | grep -vc budget_exhausted)" 0
}

@test "pipeline: an invoke tick is admitted with what remains" {
	sql "INSERT INTO agent_triggers (agent, tick_id, at, event) VALUES ('default', 'tk', 1, 'start_new_cycle')" >/dev/null
	run -0 --separate-stderr agent-budget <<<'{"tick":{"id":"tk","agent":"default"},"event":"start_new_cycle","action":"invoke","reason":"no_active_session","session":{"id":1,"phase":"designing"}}'
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.action,.budget.admitted,.budget.available_usd]' <<<"$output")" '["invoke",true,4.9]'
	assert_equal "$(sql "SELECT budget_remaining_micros FROM agent_triggers")" 5000000
}

@test "pipeline: a tick that cannot afford a call is skipped with budget_exhausted" {
	sql "INSERT INTO agent_triggers (agent, tick_id, at, event) VALUES ('default', 'tk', 1, 'start_new_cycle')" >/dev/null
	agent-budget hold --usd 4.85 >/dev/null
	run -0 --separate-stderr agent-budget <<<'{"tick":{"id":"tk","agent":"default"},"event":"training_completed","action":"invoke","reason":"training_gate_passed","session":{"id":1,"phase":"backtesting"}}'
	assert_equal "$(jq -c '[.action,.reason,.budget.admitted]' <<<"$output")" '["skip","budget_exhausted",false]'
	assert_equal "$(sql "SELECT skip_reason, action FROM agent_triggers")" "budget_exhausted|skip"
}

@test "pipeline: other documents pass through; non-tick input is exit 3" {
	local doc='{"tick":{"id":"t","agent":"default"},"event":"idle","action":"skip","reason":"paused","session":null}'
	run -0 --separate-stderr agent-budget <<<"$doc"
	assert_equal "$output" "$doc"
	run -3 --separate-stderr agent-budget <<<'{"not":"a tick"}'
	assert_equal "$stderr" "agent-budget: stdin: not a tick document (give a command for other uses)"
}

@test "an unreachable store is exit 4 (PostgreSQL) or 5 (SQLite path), quickly" {
	SECONDS=0
	AGENT_DB="postgresql:///nodb?host=/nonexistent-dir" run -4 --separate-stderr agent-budget status
	assert_regex "$stderr" "^agent-budget: postgresql: cannot connect: "
	AGENT_DB=/nonexistent-dir/agent.db run -5 --separate-stderr agent-budget status
	assert_regex "$stderr" "^agent-budget: sqlite: cannot open '/nonexistent-dir/agent.db'"
	[ "$SECONDS" -lt 10 ]
}

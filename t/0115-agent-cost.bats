#!/usr/bin/env bats
# agent-cost (and `agent budget report`): spend over a range by day, week,
# month, model, kind and session, seeded with the real commands (agent-invoke
# against agent-sim, agent-budget hold/settle), reconciled with the ledger on
# both stores; the range's forms; bad input; the JSON and the table.

load helpers/common
load helpers/sim

setup_file() { sim_start --speed 1000 --seed 1; }
teardown_file() { sim_stop; }

setup() {
	fresh_store
	sim_clear
	export ANTHROPIC_API_KEY=sk-test-SECRET-4242 AGENT_STRATEGY_DIR="$BATS_TEST_TMPDIR/strategies"
	sim_share_strategies "$AGENT_STRATEGY_DIR"
	export AGENT_TIMEOUT_SECONDS=10 AGENT_NOW=2026-11-24T12:00:00Z
}
teardown() { drop_store; }

# new_session PHASE NAME: a session row ready for an invocation; prints its id
new_session() {
	local cfg='{"name":"s1","training_data":{"symbols":{"mode":"single","list":["AAPL"]},"timeframes":{"mode":"single","list":["1h"],"base_timeframe":"1h"}}}'
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, strategy_config, training_operation_id,
	     training_results, backtest_results, created_at, updated_at, designing_at)
	     VALUES ('default', '$1', '$2', '$cfg', 'op_training_1',
	     '{\"test_metrics\":{\"test_accuracy\":0.6,\"test_loss\":0.5}}',
	     '{\"metrics\":{\"sharpe_ratio\":1.2,\"win_rate\":0.55,\"max_drawdown_pct\":0.2}}', 100, 100, 100)" >/dev/null
	sql "SELECT MAX(id) FROM agent_sessions"
}

# hold_settle WHEN USD COST [agent-budget options]: a hold settled by hand
hold_settle() {
	local id
	id=$(AGENT_NOW=$1 agent-budget "${@:4}" hold --usd "$2" | jq -r .id)
	AGENT_NOW=$1 agent-budget "${@:4}" settle "$id" --usd "$3" >/dev/null
}

# seed: several days (two ISO weeks and two months), two models, two kinds,
# two sessions, holds settled by hand, one expired, one open, another agent
seed() {
	S1=$(new_session designing alpha)
	S2=$(new_session assessing beta)
	AGENT_NOW=2026-11-20T10:00:00Z agent-invoke -q --kind design --session "$S1"
	AGENT_NOW=2026-11-23T09:00:00Z agent-invoke -q --session "$S2"
	hold_settle 2026-10-31T23:59:59Z 1 0.013000
	hold_settle 2026-11-23T18:30:00Z 0.5 0.071200
	hold_settle 2026-11-23T19:00:00Z 1 0.25 --agent other
	# dies with its hold open: spent in full once it has expired
	AGENT_NOW=2026-11-24T08:00:00Z agent-budget hold --usd 0.3 --ttl 60 >/dev/null
	AGENT_NOW=2026-11-24T09:00:00Z agent-budget status >/dev/null
	# still open: held, not spent
	AGENT_NOW=2026-11-24T11:00:00Z agent-budget hold --usd 0.2 --ttl 7200 >/dev/null
	export S1 S2
}

micros() { jq -r "$1 | . * 1000000 | round"; }

@test "the total equals the ledger to the micro-dollar, and so does every grouping's sum of rows" {
	seed
	ledger=$(sql "SELECT SUM(spent_micros) FROM agent_budget WHERE agent = 'default'")
	calls=$(sql "SELECT SUM(cost_micros) FROM agent_invocations")
	# the calls, the two settled by hand, the expired hold in full
	assert_equal "$ledger" "$((calls + 13000 + 71200 + 300000))"
	[ "$calls" -gt 0 ]
	for by in day week month model kind session; do
		run -0 --separate-stderr agent-cost --since 2026-10-01 --until 2026-11-24 --by "$by"
		assert_equal "$stderr" ""
		assert_equal "$(micros .total_usd <<<"$output")" "$ledger"
		assert_equal "$(micros .ledger_usd <<<"$output")" "$ledger"
		assert_equal "$(micros '[.rows[].cost_usd] | add' <<<"$output")" "$ledger"
		assert_equal "$(micros .unattributed_usd <<<"$output")" 384200
		assert_equal "$(micros '[.rows[].unattributed_usd] | add' <<<"$output")" 384200
		assert_equal "$(jq -c '[.held_usd, .open_holds]' <<<"$output")" '[0.2,1]'
		assert_equal "$(jq '[.rows[].calls] | add' <<<"$output")" "$(sql "SELECT COUNT(*) FROM agent_invocations")"
		assert_equal "$(jq '[.rows[].input_tokens] | add' <<<"$output")" "$(sql "SELECT SUM(input_tokens) FROM agent_invocations")"
		assert_equal "$(jq '[.rows[].cache_read_tokens] | add' <<<"$output")" "$(sql "SELECT SUM(cache_read_tokens) FROM agent_invocations")"
	done
	# what agent-budget history says for the same days
	run -0 agent-budget history --days 60
	assert_equal "$(micros 'map(.spent_usd) | add' <<<"$output")" "$ledger"
}

@test "--by day, week (ISO, UTC), month: the ledger's days, in order" {
	seed
	run -0 agent-cost --since 2026-10-01 --until 2026-11-24
	assert_equal "$(jq -c '[.by, (.rows | map(.day))]' <<<"$output")" '["day",["2026-10-31","2026-11-20","2026-11-23","2026-11-24"]]'
	# each day is its ledger row
	for d in 2026-10-31 2026-11-20 2026-11-23 2026-11-24; do
		assert_equal "$(jq --arg d "$d" '.rows[] | select(.day == $d) | .cost_usd * 1000000 | round' <<<"$output")" \
			"$(sql "SELECT spent_micros FROM agent_budget WHERE agent = 'default' AND day = '$d'")"
	done
	assert_equal "$(jq -c '.rows[] | select(.day == "2026-11-24") | [.cost_usd, .unattributed_usd, .calls, .holds]' <<<"$output")" '[0.3,0.3,0,1]'
	run -0 agent-cost --since 2026-10-01 --until 2026-11-24 --by week
	# 2026-10-31 is a Saturday of week 44; 2026-11-23 the Monday of week 48
	assert_equal "$(jq -c '.rows | map(.week)' <<<"$output")" '["2026-W44","2026-W47","2026-W48"]'
	run -0 agent-cost --since 2026-10-01 --until 2026-11-24 --by month
	assert_equal "$(jq -c '.rows | map([.month, (.cost_usd * 1000000 | round)])' <<<"$output")" '[["2026-10",13000],["2026-11",'"$(sql "SELECT SUM(spent_micros) FROM agent_budget WHERE agent = 'default' AND day >= '2026-11-01'")"']]'
}

@test "--by model, kind, session: from the calls; holds without a call on a row of their own" {
	seed
	run -0 agent-cost --since 2026-10-01 --until 2026-11-24 --by model
	assert_equal "$(jq -c '.rows | map(.model) | sort_by(. // "~")' <<<"$output")" \
		"$(sql "SELECT DISTINCT model FROM agent_invocations ORDER BY 1" | jq -R . | jq -sc '. + [null]')"
	for m in $(sql "SELECT DISTINCT model FROM agent_invocations"); do
		assert_equal "$(jq --arg m "$m" '.rows[] | select(.model == $m) | [(.cost_usd * 1000000 | round), .calls, .output_tokens] | join(" ")' <<<"$output")" \
			"\"$(sql "SELECT SUM(cost_micros) || ' ' || COUNT(*) || ' ' || SUM(output_tokens) FROM agent_invocations WHERE model = '$m'")\""
	done
	# the unattributed row comes last, all of its cost unattributed
	assert_equal "$(jq -c '.rows[-1] | [.model, .cost_usd, .unattributed_usd, .calls, .holds]' <<<"$output")" '[null,0.3842,0.3842,0,3]'
	[ "$(sql "SELECT COUNT(DISTINCT model) FROM agent_invocations")" -ge 2 ]
	run -0 agent-cost --since 2026-10-01 --until 2026-11-24 --by kind
	assert_equal "$(jq -c '.rows | map(.kind) | sort_by(. // "~")' <<<"$output")" '["assessment","design",null]'
	assert_equal "$(jq '.rows[] | select(.kind == "design") | .cost_usd * 1000000 | round' <<<"$output")" \
		"$(sql "SELECT SUM(cost_micros) FROM agent_invocations WHERE kind = 'design'")"
	run -0 agent-cost --since 2026-10-01 --until 2026-11-24 --by session
	assert_equal "$(jq -c '.rows | map([.session_id, .strategy])' <<<"$output")" "[[$S1,\"$(sql "SELECT strategy_name FROM agent_sessions WHERE id = $S1")\"],[$S2,\"beta\"],[null,null]]"
	assert_equal "$(jq ".rows[] | select(.session_id == $S2) | .cost_usd * 1000000 | round" <<<"$output")" \
		"$(sql "SELECT SUM(cost_micros) FROM agent_invocations WHERE session_id = $S2")"
}

@test "one agent by default; --agent another; --all-agents every one" {
	seed
	run -0 agent-cost --since 2026-11-23 --until 2026-11-23
	assert_equal "$(jq -c '[.agent, .all_agents]' <<<"$output")" '["default",false]'
	default=$(micros .total_usd <<<"$output")
	run -0 agent-cost --agent other --since 2026-11-23 --until 2026-11-23
	assert_equal "$(jq -c '[.agent, .total_usd, .ledger_usd]' <<<"$output")" '["other",0.25,0.25]'
	AGENT_NAME=other run -0 agent-cost --since 2026-11-23 --until 2026-11-23
	assert_equal "$(jq -r .total_usd <<<"$output")" 0.25
	run -0 agent-cost --all-agents --since 2026-11-23 --until 2026-11-23
	assert_equal "$(jq -c '[.agent, .all_agents]' <<<"$output")" '[null,true]'
	assert_equal "$(micros .total_usd <<<"$output")" "$((default + 250000))"
	assert_equal "$(micros .ledger_usd <<<"$output")" "$(sql "SELECT SUM(spent_micros) FROM agent_budget WHERE day = '2026-11-23'")"
}

@test "--since and --until: days (until included), RFC 3339 times, ages; until excluded" {
	# no --since, no --until: today and the six days before, as agent-budget history
	run -0 --separate-stderr agent-cost
	assert_equal "$(jq -c '[.since, .until, .rows, .total_usd, .ledger_usd]' <<<"$output")" \
		'["2026-11-18T00:00:00Z","2026-11-25T00:00:00Z",[],0,0]'
	run -0 agent-cost --since 24h
	assert_equal "$(jq -c '[.since, .until, .ledger_usd]' <<<"$output")" '["2026-11-23T12:00:00Z","2026-11-25T00:00:00Z",null]'
	run -0 agent-cost --since 4w --until now
	assert_equal "$(jq -c '[.since, .until]' <<<"$output")" '["2026-10-27T12:00:00Z","2026-11-24T12:00:00Z"]'
	run -0 agent-cost --since 7d --until 1h
	assert_equal "$(jq -c '[.since, .until]' <<<"$output")" '["2026-11-17T12:00:00Z","2026-11-24T11:00:00Z"]'
	run -0 agent-cost --until 2026-11-10
	assert_equal "$(jq -c '[.since, .until]' <<<"$output")" '["2026-11-04T00:00:00Z","2026-11-11T00:00:00Z"]'
	run -0 agent-cost --since 2026-11-24T01:00:00+01:00 --until 2026-11-24T10:00:00.250Z
	assert_equal "$(jq -c '[.since, .until]' <<<"$output")" '["2026-11-24T00:00:00Z","2026-11-24T10:00:01Z"]'
	# a hold at 10:00:00 is in a range that starts then, not in one that ends then
	hold_settle 2026-11-24T10:00:00Z 1 0.5
	run -0 agent-cost --since 2026-11-24T10:00:00Z --until 2026-11-24T10:00:01Z
	assert_equal "$(jq -r .total_usd <<<"$output")" 0.5
	run -0 agent-cost --since 2026-11-24T09:00:00Z --until 2026-11-24T10:00:00Z
	assert_equal "$(jq -r .total_usd <<<"$output")" 0
	run -0 agent-cost --since 2026-11-24 --until 2026-11-24
	assert_equal "$(jq -c '[.total_usd, .ledger_usd, .ledger_days]' <<<"$output")" '[0.5,0.5,1]'
}

@test "bad input: one line on stderr, exit 2, nothing on stdout, the store unchanged" {
	hold_settle 2026-11-24T10:00:00Z 1 0.5
	before=$(snapshot)
	run -2 --separate-stderr agent-cost --since garbage
	assert_equal "$stderr" "agent-cost: --since: not a day (YYYY-MM-DD), an RFC 3339 time, 'now' or an age like 24h, 7d, 4w: 'garbage'"
	assert_equal "$output" ""
	run -2 --separate-stderr agent-cost --until 2026-02-30
	assert_equal "$stderr" "agent-cost: --until: not a day (YYYY-MM-DD), an RFC 3339 time, 'now' or an age like 24h, 7d, 4w: '2026-02-30'"
	for bad in 7 7y -7d 7.5d d 2026-11-24T10:00:00; do
		run -2 --separate-stderr agent-cost --since "$bad"
		assert_equal "${#stderr_lines[@]}" 1
		assert_equal "$output" ""
	done
	run -2 --separate-stderr agent-cost --since 2026-11-25 --until 2026-11-24
	assert_equal "$stderr" "agent-cost: an empty range: --since 2026-11-25T00:00:00Z is not before --until 2026-11-25T00:00:00Z"
	run -2 --separate-stderr agent-cost --since now --until 1h
	assert_equal "${#stderr_lines[@]}" 1
	run -2 --separate-stderr agent-cost --by year
	assert_equal "$stderr" "agent-cost: --by: not day, week, month, model, kind or session: 'year'"
	assert_equal "$output" ""
	run -2 --separate-stderr agent-cost --all-agents --agent other
	assert_equal "$stderr" "agent-cost: --agent and --all-agents exclude each other"
	run -2 --separate-stderr agent budget report --by year
	assert_equal "$stderr" "agent-cost: --by: not day, week, month, model, kind or session: 'year'"
	assert_equal "$(snapshot)" "$before"
}

@test "JSON: the document's keys, RFC 3339 since and until, every row with its key and the same fields" {
	seed
	run -0 agent-cost --since 2026-10-01 --until 2026-11-24 --by session
	assert_equal "$(jq -c 'keys_unsorted' <<<"$output")" \
		'["agent","all_agents","by","since","until","rows","total_usd","calls","holds","input_tokens","output_tokens","cache_read_tokens","cache_write_tokens","unattributed_usd","held_usd","open_holds","ledger_usd","ledger_days"]'
	assert_equal "$(jq -c '[.rows[] | keys_unsorted] | unique' <<<"$output")" \
		'[["session_id","strategy","cost_usd","calls","holds","input_tokens","output_tokens","cache_read_tokens","cache_write_tokens","unattributed_usd"]]'
	run -0 jq -e '[.since, .until] | all(test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))' <<<"$output"
	run -0 jq -e '[.since, .until] | map(fromdateiso8601) == ['"$(date -ud 2026-10-01 +%s), $(date -ud 2026-11-25 +%s)"']' <<<"$(agent-cost --since 2026-10-01 --until 2026-11-24)"
	for by in day week month model kind; do
		run -0 agent-cost --since 2026-10-01 --until 2026-11-24 --by "$by"
		assert_equal "$(jq -r --arg by "$by" '[.rows[] | keys_unsorted[0]] | unique | join(" ")' <<<"$output")" "$by"
		assert_equal "$(jq -r .by <<<"$output")" "$by"
	done
	# one document on one line
	assert_equal "${#lines[@]}" 1
}

# tty CMD: CMD's stdout on a terminal (script), without CRs and colours
tty() { NO_COLOR=1 script -qec "$1" /dev/null | tr -d '\r'; }

@test "on a terminal: a table of at most 80 columns, to the micro-dollar, with the total; --json stays JSON" {
	seed
	hold_settle 2026-11-24T10:00:00Z 1 0.071200
	for by in day week month model kind session; do
		out=$(tty "agent-cost --since 2026-10-01 --by $by")
		assert_equal "$(awk 'length > 80' <<<"$out")" ""
		[ "$(wc -l <<<"$out")" -ge 6 ]
		total=$(jq -r '.total_usd * 1000000 | round' <<<"$(agent-cost --since 2026-10-01 --by "$by")")
		assert_regex "$out" $'\n'"total +\\\$$((total / 1000000)).$(printf %06d $((total % 1000000))) "
	done
	out=$(tty "agent-cost --since 2026-11-24 --until 2026-11-24")
	assert_equal "$out" 'Spend by day of agent default
from 2026-11-24T00:00:00Z to 2026-11-25T00:00:00Z (excluded)

day (UTC)        cost  calls  input  output  cache rd  cache wr
2026-11-24  $0.371200      0      0       0         0         0
total       $0.371200      0      0       0         0         0

$0.371200 of it unattributed: holds with no model call recorded
$0.200000 held by 1 open hold, not spent yet (not in the total)'
	# a key too long for the width is cut, and says so
	sql "UPDATE agent_sessions SET strategy_name = '$(printf 'x%.0s' $(seq 1 90))' WHERE id = $S1" >/dev/null
	out=$(tty "agent-cost --since 2026-10-01 --by session")
	assert_equal "$(awk 'length > 80' <<<"$out")" ""
	assert_regex "$out" "$S1 xxxx+~ "
	run -0 jq -e '.rows | length == 3' <<<"$(tty "agent-cost --since 2026-10-01 --by session --json")"
}

@test "agent budget report is agent-cost; agent budget --days N is still the history" {
	seed
	assert_equal "$(agent budget report --since 2026-10-01 --by kind)" "$(agent-cost --since 2026-10-01 --by kind)"
	assert_equal "$(agent budget --json report --by week)" "$(agent-cost --by week)"
	run -0 agent budget --days 7
	assert_equal "$(jq -c 'map(.day) | .[0]' <<<"$output")" '"2026-11-24"'
	out=$(tty "agent budget --days 7")
	assert_regex "$out" "^day \(UTC\) +spent"
}

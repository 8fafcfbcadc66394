#!/usr/bin/env bats
# agent-budget reconcile (and `agent budget reconcile`): the ledger's UTC day
# per model against the Admin API's cost and usage reports, served by
# agent-sim from what it billed on /v1/messages.  Real invocations
# (agent-invoke) with two models; a match exits 0; a call the sim bills
# otherwise (fault bill_factor) shows per model and exits 1; no admin key,
# an ordinary key, 401 → 5; 500/429 → 4; a bad --date → 2; the key in no
# output, trace or store; the metric and its alert checked with promtool.

load helpers/common
load helpers/sim

ADMIN=sk-ant-admin01-SECRET-RECON-9731

setup() {
	fresh_store
	# the sim's clock starts at AGENT_NOW, as the toolkit's: its 1d buckets
	# are the ledger's days
	export AGENT_NOW=2026-11-24T12:00:00Z
	sim_start --speed 1000 --seed 1
	export ANTHROPIC_API_KEY=sk-test-SECRET-4242 AGENT_STRATEGY_DIR="$BATS_TEST_TMPDIR/strategies"
	sim_share_strategies "$AGENT_STRATEGY_DIR"
	export AGENT_TIMEOUT_SECONDS=10 ANTHROPIC_ADMIN_KEY=$ADMIN
}
teardown() { sim_stop; drop_store; }

new_session() {
	local cfg='{"name":"s1","training_data":{"symbols":{"mode":"single","list":["AAPL"]},"timeframes":{"mode":"single","list":["1h"],"base_timeframe":"1h"}}}'
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, strategy_config, training_operation_id,
	     training_results, backtest_results, created_at, updated_at, designing_at)
	     VALUES ('default', '$1', '$2', '$cfg', 'op_training_1',
	     '{\"test_metrics\":{\"test_accuracy\":0.6,\"test_loss\":0.5}}',
	     '{\"metrics\":{\"sharpe_ratio\":1.2,\"win_rate\":0.55,\"max_drawdown_pct\":0.2}}', 100, 100, 100)" >/dev/null
	sql "SELECT MAX(id) FROM agent_sessions"
}

OPUS=claude-opus-4-5-20251101
HAIKU=claude-haiku-4-5-20251001

# two invocations, one per model, on 2026-11-24
invoke_two() {
	local s1 s2
	s1=$(new_session designing alpha)
	s2=$(new_session assessing beta)
	AGENT_MODEL=$OPUS agent-invoke -q --kind design --session "$s1"
	AGENT_MODEL=$HAIKU agent-invoke -q --session "$s2"
}

dump_store() {
	if [ "${AGENT_TEST_STORE:-sqlite}" = postgres ]; then pg_dump "$AGENT_DB"; else sqlite3 "$AGENT_DB" .dump; fi
}

@test "a day the sim billed as the ledger holds: every model within 1 %, exit 0" {
	invoke_two
	run -0 --separate-stderr agent-budget reconcile --date 2026-11-24
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.day, .since, .until, .checked_at, .tolerance_pct, .within_tolerance, .exceeded]' <<<"$output")" \
		'["2026-11-24","2026-11-24T00:00:00Z","2026-11-25T00:00:00Z","2026-11-24T12:00:00Z",1,true,[]]'
	assert_equal "$(jq -c '[.models[].model]' <<<"$output")" "[\"$HAIKU\",\"$OPUS\"]"
	# per model: the ledger's dollars are the calls', the API's the same to
	# the micro-dollar a call rounds to; the tokens agree class by class
	for m in $OPUS $HAIKU; do
		row=$(jq -c --arg m "$m" '.models[] | select(.model == $m)' <<<"$output")
		assert_equal "$(jq '.ledger_usd * 1000000 | round' <<<"$row")" "$(sql "SELECT SUM(cost_micros) FROM agent_invocations WHERE model = '$m'")"
		assert_equal "$(jq -c '[.ledger.input_tokens, .ledger.output_tokens, .ledger.cache_read_tokens, .ledger.cache_write_tokens]' <<<"$row")" \
			"$(jq -c '[.api.input_tokens, .api.output_tokens, .api.cache_read_tokens, .api.cache_write_tokens]' <<<"$row")"
		[ "$(jq '.ledger.output_tokens' <<<"$row")" -gt 0 ]
		[ "$(jq --argjson n "$(sql "SELECT COUNT(*) FROM agent_invocations WHERE model = '$m'")" \
			'(.ledger_usd - .api_usd) * 1000000 | fabs <= $n' <<<"$row")" = true ]
		assert_equal "$(jq '.within_tolerance' <<<"$row")" true
	done
	assert_equal "$(jq '.total.ledger_usd * 1000000 | round' <<<"$output")" "$(sql "SELECT spent_micros FROM agent_budget")"
	# the dispatcher reaches it
	run -0 --separate-stderr agent budget reconcile --date 2026-11-24 --json
	assert_equal "$(jq -c .within_tolerance <<<"$output")" true
	# a day with nothing on either side
	run -0 agent-budget reconcile --date 2026-11-20
	assert_equal "$(jq -c '[.models, .total.ledger_usd, .total.api_usd]' <<<"$output")" '[[],0,0]'
}

@test "a call billed at 3 times its tokens: that model differs, the other does not; exit 1" {
	s1=$(new_session designing alpha)
	s2=$(new_session assessing beta)
	AGENT_MODEL=$OPUS agent-invoke -q --kind design --session "$s1"
	sim_fault '{"route":"messages","bill_factor":3,"count":1}'
	AGENT_MODEL=$HAIKU agent-invoke -q --session "$s2"
	run -1 --separate-stderr agent-budget reconcile --date 2026-11-24
	assert_equal "$stderr" 'agent-budget: reconcile: 2026-11-24: the ledger and the Admin API differ by more than 1 % (see "exceeded")'
	assert_equal "$(jq -c '[.within_tolerance, .exceeded, .total.within_tolerance]' <<<"$output")" "[false,[\"$HAIKU\"],false]"
	row=$(jq -c --arg m "$HAIKU" '.models[] | select(.model == $m)' <<<"$output")
	assert_equal "$(jq '.within_tolerance' <<<"$row")" false
	# the API bills more than the ledger holds: a positive difference, in
	# dollars and percent of the ledger
	[ "$(jq '.difference_usd > 0 and .difference_pct > 1 and (.difference_usd - (.api_usd - .ledger_usd) | fabs) < 0.000001' <<<"$row")" = true ]
	[ "$(jq '.api.output_tokens > .ledger.output_tokens' <<<"$row")" = true ]
	assert_equal "$(jq -c --arg m "$OPUS" '.models[] | select(.model == $m) | .within_tolerance' <<<"$output")" true
	# the metric: one gauge per model, the alert's input
	run -1 agent-budget reconcile --date 2026-11-24 -q --textfile "$BATS_TEST_TMPDIR/reconcile.prom"
	assert_output ""
	run -0 --separate-stderr promtool check metrics <"$BATS_TEST_TMPDIR/reconcile.prom"
	run -0 grep -c '^agent_budget_reconcile_difference_ratio{model="' "$BATS_TEST_TMPDIR/reconcile.prom"
	assert_output 2
	ratio=$(awk -v m="$HAIKU" '$1 == "agent_budget_reconcile_difference_ratio{model=\"" m "\"}" {print $2}' "$BATS_TEST_TMPDIR/reconcile.prom")
	[ "$(jq -n "$ratio > 0.01")" = true ]
}

@test "on a terminal: a table per model, with the total" {
	invoke_two
	run -0 script -qec "agent-budget reconcile --date 2026-11-24" /dev/null
	assert_line --partial "Reconciliation of 2026-11-24 (UTC), tolerance 1%"
	assert_line --regexp "^$OPUS +\\\$[0-9.]+ +\\\$[0-9.]+ +[-+]\\\$[0-9.]+ +[-+][0-9.]+% ok"
	assert_line --regexp "^total +\\\$"
	assert_line --regexp "^ +ledger in [0-9]+ out [0-9]+ cache read [0-9]+ write [0-9]+"
}

@test "no admin key, or an ordinary key: exit 5 with one line; the API's key is not an admin key" {
	invoke_two
	unset ANTHROPIC_ADMIN_KEY
	run -5 --separate-stderr agent-budget reconcile --date 2026-11-24
	assert_output ""
	assert_equal "$stderr" "agent-budget: no admin key: set ANTHROPIC_ADMIN_KEY or ANTHROPIC_ADMIN_KEY_FILE (or the systemd credential anthropic_admin_key)"
	ANTHROPIC_ADMIN_KEY=$ANTHROPIC_API_KEY run -5 --separate-stderr agent-budget reconcile --date 2026-11-24
	assert_output ""
	assert_equal "$stderr" "agent-budget: admin API: cost_report: authentication refused (HTTP 401 authentication_error)"
	# a file, or the systemd credential, as for the API key
	printf '%s\n' "$ADMIN" >"$BATS_TEST_TMPDIR/admin.key"
	ANTHROPIC_ADMIN_KEY_FILE="$BATS_TEST_TMPDIR/admin.key" run -0 agent-budget reconcile --date 2026-11-24
	mkdir -p "$BATS_TEST_TMPDIR/cred" && cp "$BATS_TEST_TMPDIR/admin.key" "$BATS_TEST_TMPDIR/cred/anthropic_admin_key"
	CREDENTIALS_DIRECTORY="$BATS_TEST_TMPDIR/cred" run -0 agent-budget reconcile --date 2026-11-24
	ANTHROPIC_ADMIN_KEY_FILE="$BATS_TEST_TMPDIR/none" run -5 --separate-stderr agent-budget reconcile --date 2026-11-24
	assert_regex "$stderr" "^agent-budget: cannot read the key file '.*/none': No such file or directory$"
}

@test "the API unreachable, 500 or 429: exit 4 (temporary); a 400 is permanent" {
	invoke_two
	sim_fault '{"route":"/v1/organizations/","status":500,"count":1}'
	run -4 --separate-stderr agent-budget reconcile --date 2026-11-24
	assert_output ""
	assert_equal "$stderr" "agent-budget: admin API: cost_report: HTTP 500 api_error: Internal server error"
	sim_fault '{"route":"/v1/organizations/usage_report","status":429,"retry_after":5,"count":1}'
	run -4 --separate-stderr agent-budget reconcile --date 2026-11-24
	assert_regex "$stderr" "^agent-budget: admin API: usage_report: HTTP 429 rate_limit_error"
	sim_fault '{"route":"/v1/organizations/","status":400,"count":1}'
	run -5 --separate-stderr agent-budget reconcile --date 2026-11-24
	assert_regex "$stderr" "^agent-budget: admin API: cost_report: HTTP 400 invalid_request_error"
	ANTHROPIC_BASE_URL=http://127.0.0.1:9 run -4 --separate-stderr agent-budget reconcile --date 2026-11-24
	assert_regex "$stderr" "^agent-budget: admin API: "
	sim_fault '{"route":"/v1/organizations/","malformed":true,"count":1}'
	run -4 --separate-stderr agent-budget reconcile --date 2026-11-24
	assert_regex "$stderr" "^agent-budget: admin API: cost_report: malformed answer"
}

@test "bad --date, --date elsewhere: exit 2" {
	for d in 2026-13-01 yesterday 2026-11-24T00:00:00Z ""; do
		run -2 --separate-stderr agent-budget reconcile --date "$d"
		assert_output ""
		assert_equal "${stderr%%$'\n'*}" "agent-budget: --date: not a day (YYYY-MM-DD): '$d'"
	done
	run -2 --separate-stderr agent-budget status --date 2026-11-24
	assert_equal "${stderr%%$'\n'*}" "agent-budget: --date and --textfile go with reconcile"
}

@test "without --date: yesterday (UTC)" {
	run -0 agent-budget reconcile
	assert_equal "$(jq -r .day <<<"$output")" 2026-11-23
}

@test "the admin key is in no output, no trace, not in the store, not in the sim's log" {
	export AGENT_TRACE_JSONL_PATH="$BATS_TEST_TMPDIR/trace.jsonl"
	invoke_two
	sim_fault '{"route":"messages","bill_factor":2,"count":1}'
	AGENT_MODEL=$OPUS agent-invoke -q --kind design --session "$(new_session designing gamma)"
	out=$(agent-budget reconcile --date 2026-11-24 --textfile "$BATS_TEST_TMPDIR/r.prom" 2>&1; agent budget reconcile --date 2026-11-24 2>&1;
	      ANTHROPIC_ADMIN_KEY=bad agent-budget reconcile --date 2026-11-24 2>&1;
	      ANTHROPIC_ADMIN_KEY="$ADMIN x" agent-budget reconcile --date 2026-11-24 2>&1) || true
	[ -n "$out" ]
	refute_regex "$out" "SECRET-RECON"
	run -0 dump_store
	[ -n "$output" ]
	refute_regex "$output" "SECRET-RECON"
	refute_regex "$(cat "$BATS_TEST_TMPDIR/trace.jsonl" "$BATS_TEST_TMPDIR/r.prom")" "SECRET-RECON"
	refute_regex "$(curl -s "$SIM_URL/_sim/requests")" "SECRET-RECON"
	# and a malformed key (a space: header injection) is refused before any request
	ANTHROPIC_ADMIN_KEY="$ADMIN x" run -5 --separate-stderr agent-budget reconcile --date 2026-11-24
	assert_equal "$stderr" "agent-budget: the admin key is malformed (empty, or with spaces or control characters)"
}

@test "agent-sim: the Admin API's shapes, its auth, its pages" {
	invoke_two
	get() { curl -s -H "x-api-key: $1" -H 'anthropic-version: 2023-06-01' "$SIM_URL/v1/organizations/$2"; }
	run -0 get "$ADMIN" 'cost_report?starting_at=2026-11-23T00:00:00Z&ending_at=2026-11-26T00:00:00Z&limit=2&group_by%5B%5D=description'
	assert_equal "$(jq -c '[.has_more, .next_page, (.data | map(.starting_at))]' <<<"$output")" \
		'[true,"page_MjAyNi0xMS0yNVQwMDowMDowMFo=",["2026-11-23T00:00:00Z","2026-11-24T00:00:00Z"]]'
	assert_equal "$(jq -c '[.data[1].results[] | .currency, .cost_type] | unique' <<<"$output")" '["USD","tokens"]'
	assert_equal "$(jq -c '[.data[1].results[].token_type] | unique' <<<"$output")" '["output_tokens","uncached_input_tokens"]'
	# the amounts are decimal strings in cents
	[ "$(jq '[.data[1].results[].amount | type == "string" and test("^[0-9]+\\.[0-9]+$")] | all' <<<"$output")" = true ]
	cents=$(jq '[.data[1].results[].amount | tonumber] | add' <<<"$output")
	[ "$(jq -n --argjson c "$cents" --argjson m "$(sql "SELECT SUM(cost_micros) FROM agent_invocations")" '($c * 10000 - $m) | fabs < 3')" = true ]
	run -0 get "$ADMIN" 'cost_report?starting_at=2026-11-23T00:00:00Z&ending_at=2026-11-26T00:00:00Z&limit=2&page=page_MjAyNi0xMS0yNVQwMDowMDowMFo='
	assert_equal "$(jq -c '[.has_more, .next_page, (.data | map(.starting_at)), (.data[0].results | length)]' <<<"$output")" '[false,null,["2026-11-25T00:00:00Z"],0]'
	run -0 get "$ADMIN" 'usage_report/messages?starting_at=2026-11-24T00:00:00Z&ending_at=2026-11-25T00:00:00Z'
	assert_equal "$(jq -c '.data[0].results | map(.model)' <<<"$output")" '[null]'
	assert_equal "$(jq '.data[0].results[0].output_tokens' <<<"$output")" "$(sql "SELECT SUM(output_tokens) FROM agent_invocations")"
	run -0 get "$ADMIN" 'usage_report/messages?starting_at=2026-11-24T00:00:00Z&bucket_width=1h'
	assert_equal "$(jq -r .error.type <<<"$output")" invalid_request_error
	run -0 get "$ADMIN" 'cost_report?ending_at=2026-11-25T00:00:00Z'
	assert_equal "$(jq -r .error.message <<<"$output")" "starting_at: Field required"
	run -0 get "$ADMIN" 'cost_report?starting_at=2026-11-24T00:00:00Z&group_by%5B%5D=model'
	assert_equal "$(jq -r .error.type <<<"$output")" invalid_request_error
	run -0 get "$ANTHROPIC_API_KEY" 'cost_report?starting_at=2026-11-24T00:00:00Z'
	assert_equal "$(jq -c '[.type, .error.type]' <<<"$output")" '["error","authentication_error"]'
	# a bill_factor fault goes with the messages route only
	run -1 sim_fault '{"route":"backend","bill_factor":2}'
}

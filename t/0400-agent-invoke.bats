#!/usr/bin/env bats
# agent-invoke against agent-sim on loopback: the three kinds, API failures,
# hostile tool arguments, the budget and the records.

load helpers/common
load helpers/sim

setup_file() { sim_start --speed 1000 --seed 1; }
teardown_file() { sim_stop; }

setup() {
	fresh_store
	sim_clear
	export ANTHROPIC_API_KEY=sk-test-SECRET-4242 AGENT_STRATEGY_DIR="$BATS_TEST_TMPDIR/strategies"
	sim_share_strategies "$AGENT_STRATEGY_DIR"
	export AGENT_TIMEOUT_SECONDS=10
}
teardown() { drop_store; }

# new_session PHASE [strategy]: a session row; prints its id
new_session() {
	local cfg='{"name":"s1","training_data":{"symbols":{"mode":"single","list":["AAPL"]},"timeframes":{"mode":"single","list":["1h"],"base_timeframe":"1h"}}}'
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, strategy_config, training_operation_id,
	     training_results, backtest_results, created_at, updated_at, designing_at)
	     VALUES ('default', '$1', ${2:-NULL}, '$cfg', 'op_training_1',
	     '{\"test_metrics\":{\"test_accuracy\":0.6,\"test_loss\":0.5}}',
	     '{\"metrics\":{\"sharpe_ratio\":1.2,\"win_rate\":0.55,\"max_drawdown_pct\":0.2}}', 100, 100, 100)" >/dev/null
	sql "SELECT MAX(id) FROM agent_sessions"
}

ledger_matches() { # budget spent equals the sum of the invocations' costs
	assert_equal "$(sql "SELECT COALESCE(SUM(spent_micros), 0) FROM agent_budget")" \
		"$(sql "SELECT COALESCE(SUM(cost_micros), 0) FROM agent_invocations")"
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_budget_holds WHERE status = 'open'")" 0
}

@test "design: saves a strategy, starts training, moves the session to training" {
	id=$(new_session designing)
	run -0 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.kind,.status,.reason,.tool_calls]' <<<"$output")" '["design","ok","training_started",2]'
	assert_equal "$(sql "SELECT phase, training_operation_id FROM agent_sessions WHERE id = $id")" \
		"training|$(sql "SELECT result FROM agent_actions WHERE tool_name = 'start_training'" | jq -r .operation_id)"
	name=$(sql "SELECT strategy_name FROM agent_sessions WHERE id = $id")
	[ -f "$AGENT_STRATEGY_DIR/$name.yaml" ]
	assert_equal "$(sql "SELECT tool_name FROM agent_actions ORDER BY id" | tr '\n' ' ')" "save_strategy_config start_training "
	# one call: the saved design's training starts without a turn, and no
	# closing turn is paid for (AGENT_AUTO_TRAINING, AGENT_CLOSING_TURN)
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations WHERE status = 'ok' AND kind = 'design'")" 1
	# counted when the first call went out, reset when the session moved on
	assert_equal "$(sql "SELECT invoke_attempts FROM agent_sessions WHERE id = $id")" 0
	ledger_matches
}

@test "design: the invocation's cost is the sum of its calls at pricing.json's prices, to the micro-dollar" {
	id=$(new_session designing)
	run -0 agent-invoke --kind design --session "$id"
	cost=$(jq -r .cost_usd <<<"$output")
	# price every recorded call again with agent-budget price
	total=0
	while IFS='|' read -r i o cw cr; do
		c=$(jq -nc --argjson i "$i" --argjson o "$o" --argjson cw "$cw" --argjson cr "$cr" \
			'{input_tokens:$i,output_tokens:$o,cache_creation_input_tokens:$cw,cache_read_input_tokens:$cr}' |
			agent-budget price --model claude-opus-4-5-20251101 | jq -r '.total_usd * 1000000 | round')
		total=$((total + c))
	done < <(sql "SELECT input_tokens, output_tokens, cache_write_tokens, cache_read_tokens FROM agent_invocations ORDER BY id")
	assert_equal "$total" "$(sql "SELECT SUM(cost_micros) FROM agent_invocations")"
	assert_equal "$(jq -r '.cost_usd * 1000000 | round' <<<"$output")" "$total"
	ledger_matches
}

@test "post_training: starts the backtest on the session" {
	id=$(new_session backtesting "'s1'")
	run -0 --separate-stderr agent-invoke --session "$id"
	assert_equal "$(jq -c '[.kind,.reason]' <<<"$output")" '["post_training","backtest_started"]'
	assert_regex "$(sql "SELECT phase, backtest_operation_id FROM agent_sessions WHERE id = $id")" "^backtesting\|op_backtest"
}

@test "assessment: saves the verdict and ends the cycle with success" {
	id=$(new_session assessing "'s1'")
	run -0 --separate-stderr agent-invoke --session "$id"
	assert_equal "$(jq -c '[.kind,.reason]' <<<"$output")" '["assessment","assessment_saved"]'
	assert_equal "$(sql "SELECT phase, outcome FROM agent_sessions WHERE id = $id")" "idle|success"
	run -0 jq -e '.verdict | IN("promising","mediocre","poor")' <<<"$(sql "SELECT assessment FROM agent_sessions WHERE id = $id")"
}

@test "the request carries the 2026-10-21 version, x-api-key, and no sampling parameters" {
	id=$(new_session designing)
	run -0 agent-invoke --kind design --session "$id"
	run -0 curl -sf --max-time 5 "$SIM_URL/_sim/requests"
	assert_equal "$(jq -c '[.requests[] | select(.path == "/v1/messages")]
		| [(map(.anthropic_version) | unique), (map(.x_api_key) | unique), (map(.authorization) | unique), length]' <<<"$output")" \
		'[["2026-10-21"],[true],[false],1]'
	refute_output --partial "temperature"
	refute_output --partial "top_p"
	refute_output --partial "sk-test-SECRET"
}

@test "ANTHROPIC_VERSION=2023-06-01 keeps working" {
	id=$(new_session designing)
	ANTHROPIC_VERSION=2023-06-01 run -0 agent-invoke --kind design --session "$id"
	assert_equal "$(jq -r .reason <<<"$output")" training_started
}

@test "streaming: usage from the cumulative message_delta, same outcome" {
	id=$(new_session designing)
	# the model's own tool loop (AGENT_AUTO_TRAINING=0, AGENT_CLOSING_TURN=1): three streamed calls
	AGENT_AUTO_TRAINING=0 AGENT_CLOSING_TURN=1 AGENT_STREAM=1 run -0 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$(jq -r .reason <<<"$output")" training_started
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations WHERE output_tokens > 0 AND input_tokens > 0")" 3
	ledger_matches
}

@test "529 then success: retried, both attempts recorded, nothing charged for the failure" {
	id=$(new_session designing)
	sim_fault '{"route":"messages","status":529,"count":1}'
	run -0 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$(sql "SELECT status, cost_micros FROM agent_invocations ORDER BY id LIMIT 1")" "error|0"
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations WHERE status = 'ok'")" 1
	ledger_matches
}

@test "429 with retry-after: 2 waits, then succeeds" {
	id=$(new_session designing)
	sim_fault '{"route":"messages","status":429,"retry_after":2,"count":1}'
	SECONDS=0
	run -0 --separate-stderr agent-invoke --kind design --session "$id"
	[ "$SECONDS" -ge 2 ]
	assert_equal "$(jq -r .reason <<<"$output")" training_started
}

@test "x-should-retry: false on a 500 is not retried" {
	id=$(new_session designing)
	sim_fault '{"route":"messages","status":500,"should_retry":false,"count":1}'
	run -4 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations")" 1
	assert_regex "$stderr" "^agent-invoke: anthropic: HTTP 500"
}

@test "a hang times out: exit 4 after 3 attempts, each held and settled once" {
	id=$(new_session designing)
	sim_fault '{"route":"messages","hang":true,"count":3}'
	AGENT_TIMEOUT_SECONDS=1 run -4 --separate-stderr agent-invoke --kind design --session "$id"
	assert_regex "$stderr" "^agent-invoke: gave up after 3 attempts: anthropic: POST /v1/messages: timed out after 1 s$"
	assert_equal "$(sql "SELECT COUNT(*), COUNT(DISTINCT hold_id) FROM agent_invocations WHERE status = 'unknown_charge'")" "3|3"
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_budget_holds WHERE status = 'settled'")" 3
	ledger_matches
	# the session waits for recovery
	assert_equal "$(sql "SELECT phase, invoke_attempts FROM agent_sessions WHERE id = $id")" "designing|1"
}

@test "401: exit 5 with a clear message that never shows the key" {
	id=$(new_session designing)
	sim_fault '{"route":"messages","status":401,"count":1}'
	run -5 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$stderr" "agent-invoke: anthropic: authentication refused (HTTP 401 authentication_error)"
	refute_output --partial SECRET
}

@test "a malformed body: exit 4 with the cause after the retries" {
	id=$(new_session designing)
	sim_fault '{"route":"messages","malformed":true,"count":3}'
	run -4 --separate-stderr agent-invoke --kind design --session "$id"
	assert_regex "$stderr" "^agent-invoke: gave up after 3 attempts: anthropic: malformed response"
	ledger_matches
}

@test "a refusal ends the design failed_design" {
	id=$(new_session designing)
	sim_fault '{"route":"messages","refusal":true,"count":1}'
	run -0 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$(jq -c '[.status,.reason,.stop_reason]' <<<"$output")" '["refusal","failed_design","refusal"]'
	assert_equal "$(sql "SELECT phase, outcome FROM agent_sessions WHERE id = $id")" "idle|failed_design"
}

@test "no key: exit 5 before any call; the key never reaches stderr, the store or the sim" {
	id=$(new_session designing)
	unset ANTHROPIC_API_KEY
	run -5 --separate-stderr agent-invoke --kind design --session "$id"
	assert_regex "$stderr" "^agent-invoke: no API key"
	echo "sk-test-FILEKEY-77" >"$BATS_TEST_TMPDIR/key"
	ANTHROPIC_API_KEY_FILE="$BATS_TEST_TMPDIR/key" run -0 agent-invoke --kind design --session "$id"
	assert_equal "$(snapshot | grep -c FILEKEY)" 0
	run -1 grep -l "FILEKEY" "$BATS_FILE_TMPDIR/sim.err"
	run -0 curl -sf --max-time 5 "$SIM_URL/_sim/requests"
	refute_output --partial FILEKEY
}

@test "a key with a newline is refused, not sent" {
	id=$(new_session designing)
	ANTHROPIC_API_KEY=$'abc\r\nx-evil: 1' run -5 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$stderr" "agent-invoke: the API key is malformed (empty, or with spaces or control characters)"
}

@test "a refused hold makes no call: budget_exhausted, nothing spent" {
	id=$(new_session designing)
	AGENT_DAILY_BUDGET_USD=0.11 run -1 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$(jq -r .status <<<"$output")" budget_exhausted
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations")" 0
	run -0 curl -sf --max-time 5 "$SIM_URL/_sim/requests"
	assert_equal "$(sql "SELECT phase, invoke_attempts FROM agent_sessions WHERE id = $id")" "designing|0"
}

@test "an unknown model is refused before any call" {
	id=$(new_session designing)
	AGENT_MODEL=claude-fable-5-2 run -5 --separate-stderr agent-invoke --kind design --session "$id"
	assert_regex "$stderr" "^agent-invoke: no price for model 'claude-fable-5-2'"
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations")" 0
}

@test "a session in the wrong phase is bad input: exit 3, store unchanged" {
	id=$(new_session training)
	before=$(snapshot)
	run -3 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$stderr" "agent-invoke: session $id is training: no design invocation now"
	run -3 --separate-stderr agent-invoke --session 999
	assert_equal "$stderr" "agent-invoke: no session 999"
	assert_equal "$(snapshot)" "$before"
}

@test "pipeline: a tick that lost its lease stops before calling (exit 4)" {
	id=$(new_session designing)
	sql "INSERT INTO agent_state (agent, lease_holder, lease_expires_at, updated_at) VALUES ('default', 'other-tick', 9999999999, 1)" >/dev/null
	tick=$(jq -nc --argjson id "$id" '{tick:{id:"tk1",agent:"default"},event:"start_new_cycle",action:"invoke",reason:"no_active_session",session:{id:$id,phase:"designing"}}')
	run -4 --separate-stderr agent-invoke <<<"$tick"
	assert_equal "$stderr" "agent-invoke: stopping: agent 'default': tick tk1 no longer holds the lease"
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations")" 0
}

@test "pipeline: an invoke tick runs the design and moves on; others pass through" {
	id=$(new_session designing)
	sql "INSERT INTO agent_triggers (agent, tick_id, at, event) VALUES ('default', 'tk1', 1, 'start_new_cycle')" >/dev/null
	sql "INSERT INTO agent_state (agent, lease_holder, lease_expires_at, updated_at) VALUES ('default', 'tk1', 9999999999, 1)" >/dev/null
	tick=$(jq -nc --argjson id "$id" '{tick:{id:"tk1",agent:"default"},event:"start_new_cycle",action:"invoke",reason:"no_active_session",session:{id:$id,phase:"designing"}}')
	run -0 --separate-stderr agent-invoke <<<"$tick"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.action,.reason,.session.phase,.invocation.kind]' <<<"$output")" '["wait","training_started","training","design"]'
	assert_equal "$(sql "SELECT CASE WHEN invoked THEN 'yes' ELSE 'no' END, action FROM agent_triggers")" "yes|wait"
	local doc='{"tick":{"id":"t2","agent":"default"},"event":"idle","action":"skip","reason":"paused","session":null}'
	run -0 agent-invoke <<<"$doc"
	assert_equal "$output" "$doc"
	run -3 --separate-stderr agent-invoke <<<'{"no":"tick"}'
	assert_equal "$stderr" "agent-invoke: stdin: not a tick document (use --kind to run an invocation alone)"
}

@test "16 concurrent invocations against a budget with room for 3: never more spent than the cap" {
	export AGENT_DAILY_BUDGET_USD=0.80 AGENT_BUDGET_BUFFER_USD=0.10
	for i in $(seq 1 16); do
		agent-invoke -q --kind design >"$BATS_TEST_TMPDIR/out.$i" 2>&1 &
	done
	wait
	assert_equal "$(sql "SELECT CASE WHEN spent_micros + held_micros <= limit_micros - 100000 THEN 'within' ELSE 'over' END FROM agent_budget")" within
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_budget_holds WHERE status = 'open'")" 0
	[ "$(sql "SELECT COUNT(*) FROM agent_invocations")" -ge 1 ]
	ledger_matches
}

@test "the backtest after the training gate takes no model call: the strategy's range, symbol, timeframe and model_path" {
	cfg=$(jq -c '.config | .backtest = {date_range: {start: "2024-01-01", end: "2024-06-30"}}' "$BATS_TEST_DIRNAME/data/strategy.json")
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, strategy_config, training_results, created_at, updated_at)
	     VALUES ('default', 'backtesting', 's1', '$cfg', '{\"model_path\":\"models/s1/1h_v1\"}', 1, 1)" >/dev/null
	id=$(sql "SELECT MAX(id) FROM agent_sessions")
	run -0 --separate-stderr agent-invoke --session "$id"
	assert_equal "$(jq -c '[.status,.reason,.calls,.tool_calls,.cost_usd]' <<<"$output")" '["auto_backtest","backtest_started",0,1,0]'
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations")" 0
	assert_equal "$(sql "SELECT tool_name FROM agent_actions")" start_backtest
	assert_equal "$(sql "SELECT arguments FROM agent_actions" | jq -c '[.symbol, .timeframe, .start_date, .end_date, .model_path]')" \
		'["AAPL","1h","2024-01-01","2024-06-30","models/s1/1h_v1"]'
	assert_regex "$(sql "SELECT backtest_operation_id FROM agent_sessions WHERE id = $id")" "^op_backtest"
	# without a range of its own: the settings, else the platform's default half year
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, strategy_config, created_at, updated_at)
	     VALUES ('default', 'backtesting', 's1', '$(jq -c .config "$BATS_TEST_DIRNAME/data/strategy.json" | jq -c 'del(.backtest)')', 1, 1)" >/dev/null
	id2=$(sql "SELECT MAX(id) FROM agent_sessions")
	AGENT_BACKTEST_START_DATE=2024-03-01 AGENT_BACKTEST_END_DATE=2024-04-30 run -0 agent-invoke --session "$id2"
	assert_equal "$(jq -r .calls <<<"$output")" 0
	assert_equal "$(sql "SELECT arguments FROM agent_actions ORDER BY id DESC LIMIT 1" | jq -c '[.start_date, .end_date]')" '["2024-03-01","2024-04-30"]'
	# AGENT_AUTO_BACKTEST=0: the model is asked
	id3=$(new_session backtesting "'s1'")
	sql "UPDATE agent_sessions SET strategy_config = '$cfg' WHERE id = $id3" >/dev/null
	AGENT_AUTO_BACKTEST=0 run -0 agent-invoke --session "$id3"
	[ "$(jq -r .calls <<<"$output")" -ge 1 ]
}

# hostile TOOL_JSON: the model's next turn calls that tool; the answer must be
# an is_error tool_result and nothing may be written outside the strategies
hostile() {
	sim_fault "{\"route\":\"messages\",\"count\":1,\"tool_use\":$1${2:+,\"pad_bytes\":$2}}"
}

last_result() { # the last action row: success|error
	sql "SELECT CASE WHEN success THEN 'ok' ELSE 'error' END || '|' || COALESCE(error, '') FROM agent_actions ORDER BY id DESC LIMIT 1"
}

@test "hostile: a strategy name that leaves the directory is refused with is_error" {
	id=$(new_session designing)
	cfg=$(jq -c .config "$BATS_TEST_DIRNAME/data/strategy.json")
	hostile "{\"name\":\"save_strategy_config\",\"input\":{\"name\":\"../../etc/x\",\"description\":\"d\",\"config\":$cfg}}"
	run -0 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$(sql "SELECT tool_name FROM agent_actions ORDER BY id LIMIT 1")" save_strategy_config
	assert_regex "$(sql "SELECT error FROM agent_actions ORDER BY id LIMIT 1")" "is not a plain strategy name"
	[ ! -e "$BATS_TEST_TMPDIR/etc/x.yaml" ] && [ ! -e /etc/x.yaml ] && [ ! -e "$AGENT_STRATEGY_DIR/../../etc/x.yaml" ]
	# the model read the is_error result and went on
	[ "$(jq -r .tool_errors <<<"$output")" -ge 1 ]
}

@test "hostile: names with dots, slashes, NUL or over 64 bytes never reach the disk" {
	id=$(new_session designing)
	for name in '.hidden' 'a/b' 'a\u0000b' 'x.yaml.yaml' "$(printf 'a%.0s' $(seq 1 80))" '' 'ab cd'; do
		sim_clear
		hostile "{\"name\":\"save_strategy_config\",\"input\":{\"name\":\"$name\",\"description\":\"d\",\"config\":{}}}"
		AGENT_MAX_ITERATIONS=1 run -0 agent-invoke --kind design
		assert_regex "$(last_result)" "^error\|"
	done
	[ ! -d "$AGENT_STRATEGY_DIR" ] || [ -z "$(find "$AGENT_STRATEGY_DIR" -type f)" ]
}

@test "hostile: a 12 MB config is refused with is_error, nothing written" {
	# 12 MB: under the 16 MiB cap on an answer (a larger one is refused
	# whole, t/0900), over the 1 MiB cap on a tool's arguments
	id=$(new_session designing)
	hostile '{"name":"save_strategy_config","input":{"name":"big","description":"d","config":{}}}' 12582912
	AGENT_MAX_ITERATIONS=1 run -0 --separate-stderr agent-invoke --kind design --session "$id"
	assert_regex "$(last_result)" "^error\|the arguments are 125829[0-9]{2} bytes: more than the 1048576 allowed$"
	[ ! -e "$AGENT_STRATEGY_DIR/big.yaml" ]
	# the recorded arguments are a stub, not 12 MB
	assert_equal "$(sql "SELECT arguments FROM agent_actions" | jq -c '[.truncated, .bytes > 12582912]')" '[true,true]'
}

@test "hostile: wrong types, an unknown tool, an existing name" {
	id=$(new_session designing)
	hostile '{"name":"start_training","input":{"strategy_name":42,"symbols":"AAPL","timeframes":[1]}}'
	AGENT_MAX_ITERATIONS=1 run -0 agent-invoke --kind design --session "$id"
	# one turn without a strategy: the design failed, and said why
	assert_equal "$(sql "SELECT phase, outcome FROM agent_sessions WHERE id = $id")" "idle|failed_design"
	assert_regex "$(last_result)" "^error\|start_training needs strategy_name"
	sim_clear
	hostile '{"name":"rm_rf","input":{"path":"/"}}'
	AGENT_MAX_ITERATIONS=1 run -0 agent-invoke --kind design
	assert_equal "$(last_result)" "error|unknown tool 'rm_rf'"
	sim_clear
	hostile '{"name":"save_strategy_assessment","input":[1,2]}'
	AGENT_MAX_ITERATIONS=1 run -0 agent-invoke --kind design
	assert_equal "$(last_result)" "error|the arguments must be a JSON object"
	sim_clear
	mkdir -p "$AGENT_STRATEGY_DIR" && echo keep >"$AGENT_STRATEGY_DIR/taken.yaml"
	cfg=$(jq -c .config "$BATS_TEST_DIRNAME/data/strategy.json")
	hostile "{\"name\":\"save_strategy_config\",\"input\":{\"name\":\"taken\",\"description\":\"d\",\"config\":$cfg}}"
	AGENT_MAX_ITERATIONS=1 run -0 agent-invoke --kind design
	assert_equal "$(last_result)" "error|a strategy named 'taken' already exists: choose another name"
	assert_equal "$(cat "$AGENT_STRATEGY_DIR/taken.yaml")" keep
}

@test "hostile: an invalid config is refused with the platform's validation errors" {
	local cfg
	id=$(new_session designing)
	cfg=$(jq -c .config "$BATS_TEST_DIRNAME/data/strategy.json")
	# the model's wrong strategies, each with the words that let it fix it
	while IFS=$'\t' read -r name filter want; do
		id=$(new_session designing)
		hostile "$(jq -nc --arg n "$name" --argjson c "$cfg" "{name: \"save_strategy_config\", input: {name: \$n, description: \"d\", config: (\$c | $filter)}}")"
		AGENT_MAX_ITERATIONS=1 run -0 agent-invoke --kind design --session "$id"
		result=$(sql "SELECT result FROM agent_actions ORDER BY id DESC LIMIT 1")
		jq -e --arg w "$want" '.success == false and (.errors | any(contains($w)))' <<<"$result" >/dev/null ||
			fail "$name: $result does not say '$want'"
		[ ! -e "$AGENT_STRATEGY_DIR/$name.yaml" ]
	done <<'CASES'
bad_v2	.indicators = [{name: "rsi", feature_id: "rsi_14", period: 14}]	is not v3 format. Run 'ktrdr strategy migrate' to upgrade.
bad_type	.indicators.rsi_14.type = "stochrsi"	Unknown indicator type 'stochrsi'
bad_ref	.fuzzy_sets.rsi_zones.indicator = "rsi_21"	fuzzy_sets.rsi_zones.indicator: 'rsi_21' not found in indicators
bad_mf	.fuzzy_sets.rsi_zones.oversold.parameters = [1, 2]	Triangular requires exactly 3 parameters [a, b, c], got 2
bad_input	.nn_inputs[0].fuzzy_set = "nope"	nn_inputs[0].fuzzy_set: 'nope' not found in fuzzy_sets
bad_tf	.nn_inputs[0].timeframes = ["4h"]	Invalid timeframe '4h'. Available timeframes: 1h
CASES
	# 10 000 indicators (too big for a scripted turn): the same rules, run as agent-invoke runs them
	run -0 jq -c --argjson indicators '[]' -f "$ROOT/share/strategy/validate.jq" \
		<<<"$(jq -c '.indicators = ([range(10000)] | map({key: "i\(.)", value: {type: "rsi"}}) | from_entries)' <<<"$cfg")"
	run -0 jq -e '.valid == false and (.errors | any(contains("10000 indicators; at most 32")))' <<<"$output"
	# the store holds no strategy for any of the sessions
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_sessions WHERE strategy_name IS NOT NULL")" 0
}

@test "the backend's own validation: its issues go back to the model, the file is gone" {
	id=$(new_session designing)
	# rules that accept anything: only the platform's validation is left
	echo '{valid: true, errors: [], warnings: []}' >"$BATS_TEST_TMPDIR/open.jq"
	cfg=$(jq -c '.config | .fuzzy_sets.rsi_zones.indicator = "rsi_21"' "$BATS_TEST_DIRNAME/data/strategy.json")
	hostile "$(jq -nc --argjson c "$cfg" '{name: "save_strategy_config", input: {name: "platform_says_no", description: "d", config: $c}}')"
	AGENT_STRATEGY_RULES="$BATS_TEST_TMPDIR/open.jq" AGENT_MAX_ITERATIONS=1 run -0 agent-invoke --kind design --session "$id"
	result=$(sql "SELECT result FROM agent_actions ORDER BY id DESC LIMIT 1")
	run -0 jq -e '.success == false and (.error | contains("the backend refused the strategy (POST /strategies/validate/platform_says_no)")) and
		(.errors | any(contains("not found in indicators")))' <<<"$result"
	[ ! -e "$AGENT_STRATEGY_DIR/platform_says_no.yaml" ]
}

@test "a strategy directory the backend does not share ends the cycle at once" {
	id=$(new_session designing)
	export AGENT_STRATEGY_DIR="$BATS_TEST_TMPDIR/elsewhere"
	run -0 --separate-stderr agent-invoke --session "$id"
	assert_equal "$(jq -c '[.status, .reason, .calls]' <<<"$output")" '["strategy_dir_not_shared","strategy_dir_not_shared",1]'
	assert_regex "$(sql "SELECT phase, outcome, failure_reason FROM agent_sessions WHERE id = $id")" \
		"^idle\|failed_design\|the backend cannot see the strategy the toolkit saved: AGENT_STRATEGY_DIR must be the backend's STRATEGIES_DIR \(HTTP 404: Strategy file not found: "
	# one model call: nothing after the save was paid for
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations")" 1
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_budget_holds WHERE status = 'open'")" 0
}

@test "a busy backend at training start: no more model turns; the retry is deterministic" {
	id=$(new_session designing)
	sim_fault '{"route":"/api/v1/trainings/start","status":503,"count":1,"message":"No training workers available"}'
	run -0 --separate-stderr agent-invoke --session "$id"
	assert_equal "$(jq -c '[.status, .reason]' <<<"$output")" '["backend_busy","backend_busy"]'
	calls=$(jq -r .calls <<<"$output")
	assert_regex "$(sql "SELECT phase, conn_failures, invoke_attempts FROM agent_sessions WHERE id = $id")" '^designing\|1\|0$'
	# the retry: the saved strategy is trained without the model
	run -0 --separate-stderr agent-invoke --session "$id"
	assert_equal "$(jq -c '[.status, .reason, .calls]' <<<"$output")" '["auto_training","training_started",0]'
	assert_equal "$(sql "SELECT phase FROM agent_sessions WHERE id = $id")" training
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_invocations")" "$calls"
}

@test "AGENT_TOOLS_DIR: an operator's tool runs with the arguments on stdin, bounded in time" {
	id=$(new_session designing)
	tools="$BATS_TEST_TMPDIR/tools"
	mkdir -p "$tools"
	cat >"$tools/echo_args.json" <<'J'
{"name":"echo_args","description":"echo","kinds":["design"],"input_schema":{"type":"object"}}
J
	printf '#!/bin/sh\n[ -z "$ANTHROPIC_API_KEY" ] || exit 9\njq -c "{got: .}"\n' >"$tools/echo_args"
	cat >"$tools/sleepy.json" <<'J'
{"name":"sleepy","description":"sleeps","kinds":["design"],"input_schema":{"type":"object"}}
J
	printf '#!/bin/sh\nsleep 30\n' >"$tools/sleepy"
	chmod +x "$tools/echo_args" "$tools/sleepy"
	export AGENT_TOOLS_DIR="$tools"
	hostile '{"name":"echo_args","input":{"a":1}}'
	AGENT_MAX_ITERATIONS=1 run -0 agent-invoke --kind design
	assert_equal "$(sql "SELECT result FROM agent_actions ORDER BY id DESC LIMIT 1" | jq -c .)" '{"got":{"a":1}}'
	sim_clear
	hostile '{"name":"sleepy","input":{}}'
	SECONDS=0
	AGENT_TOOL_TIMEOUT_SECONDS=1 AGENT_MAX_ITERATIONS=1 run -0 agent-invoke --kind design
	[ "$SECONDS" -lt 10 ]
	assert_equal "$(last_result)" "error|tool 'sleepy' timed out after 1 s"
	# a tool may not take a built-in's name
	cp "$tools/echo_args.json" "$tools/start_training.json"
	sed -i 's/echo_args/start_training/' "$tools/start_training.json"
	cp "$tools/echo_args" "$tools/start_training"
	run -5 --separate-stderr agent-invoke --kind design
	assert_equal "$stderr" "agent-invoke: AGENT_TOOLS_DIR: tool 'start_training' shadows a built-in"
}

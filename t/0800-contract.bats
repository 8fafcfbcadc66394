#!/usr/bin/env bats
# The research platform's contract (KTRDR, kpiteira/ktrdr): fixtures in
# t/data/ktrdr written from its API models and strategy grammar, held
# against agent-sim's answers (every key the platform sends, with its
# type) and against the requests the toolkit sends (only keys the
# platform's request models have, with their types).

load helpers/common
load helpers/sim

setup_file() { sim_start --speed 2000 --seed 3; }
teardown_file() { sim_stop; }

FX="$BATS_TEST_DIRNAME/data/ktrdr"

setup() {
	fresh_store
	sim_clear
	curl -sf --max-time 5 -X POST -d '{"active":false}' "$SIM_URL/_sim/agent" >/dev/null
	sim_share_strategies "$BATS_TEST_TMPDIR/strategies"
	export AGENT_STRATEGY_DIR="$BATS_TEST_TMPDIR/strategies" ANTHROPIC_API_KEY=sk-test-contract
	cp "$FX/strategies/valid_minimal.yaml" "$AGENT_STRATEGY_DIR/fixture_ok.yaml"
	cp "$FX/strategies/v2_list_indicators.yaml" "$AGENT_STRATEGY_DIR/fixture_v2.yaml"
	cp "$FX/strategies/fuzzy_missing_indicator.yaml" "$AGENT_STRATEGY_DIR/fixture_bad.yaml"
}
teardown() { drop_store; }

# The paths of a document's keys, arrays as their first element, each with
# its type ("a.b": "string"); nulls are left out (a nullable field is
# either); a number is a number whatever its value.
SHAPE='[paths(type != "null") as $p | {path: ($p | map(if type == "number" then 0 else . end) | map(tostring) | join(".")), type: (getpath($p) | type)}] | unique'

# covers FIXTURE JSON [PREFIX]: every key path of FIXTURE's body is in JSON,
# with the same type (but those under PREFIX, a value the fixture has and
# this exchange need not)
covers() {
	local want got missing
	want=$(jq -c --arg skip "${3:-}" ".body | $SHAPE | map(select(\$skip == \"\" or (.path | startswith(\$skip) | not)))" "$1")
	got=$(jq -c "$SHAPE" <<<"$2")
	missing=$(jq -nc --argjson w "$want" --argjson g "$got" '$w - $g')
	[ "$missing" = "[]" ] || fail "$(basename "$1"): agent-sim lacks (or types differently) $missing; it sent $2"
}

# call METHOD PATH [BODY]: prints the status line then the body
call() {
	curl -s --max-time 5 -X "$1" -H 'content-type: application/json' ${3:+--data-binary "$3"} \
		-w '\n%{http_code}' "$SIM_URL/api/v1$2"
}

# exchange FIXTURE METHOD PATH [BODY [SKIP]]: the status is the fixture's,
# the body covers it
exchange() {
	local out status body
	out=$(call "$2" "$3" "${4:-}")
	status=${out##*$'\n'} body=${out%$'\n'*}
	assert_equal "$status" "$(jq .status "$FX/api/$1")"
	covers "$FX/api/$1" "$body" "${5:-}"
}

@test "fixtures: every one is JSON; responses are {status, body}" {
	local f
	for f in "$FX"/api/*.json "$FX"/strategies/*.json; do
		jq -e . "$f" >/dev/null || fail "$f: not JSON"
	done
	for f in "$FX"/api/*.response.json; do
		jq -e '(.status | type == "number") and has("body")' "$f" >/dev/null || fail "$f: not {status, body}"
	done
}

@test "agent-sim: training start, its operation, and its errors answer as the platform" {
	local req op
	req=$(jq -c '.strategy_name = "fixture_ok" | .symbols = ["EURUSD"] | .start_date = "2020-01-01" | .end_date = "2023-12-31"' \
		"$FX/api/training_start.request.json")
	exchange training_start.response.json POST /trainings/start "$req"
	exchange training_start_strategy_not_found.response.json POST /trainings/start '{"strategy_name":"no_such_strategy"}'
	exchange error_422.response.json POST /trainings/start '{"symbols":["AAPL"]}'
	# a v2 or invalid strategy: the loader's and the validator's words, nested under detail
	exchange error_400.response.json POST /trainings/start '{"strategy_name":"fixture_v2"}'
	run -0 jq -r '.detail.message' <<<"$(call POST /trainings/start '{"strategy_name":"fixture_v2"}' | head -n 1)"
	assert_output --partial "is not v3 format. Run 'ktrdr strategy migrate' to upgrade."
	run -0 jq -r '.detail.message' <<<"$(call POST /trainings/start '{"strategy_name":"fixture_bad"}' | head -n 1)"
	assert_output --partial "not found in indicators. Available indicators: rsi_14"
	# the operation, completed, with its result summary
	op=$(call POST /trainings/start '{"strategy_name":"fixture_ok"}' | head -n 1 | jq -r .task_id)
	for _ in $(seq 1 100); do
		[ "$(call GET "/operations/$op" | head -n 1 | jq -r .data.status)" = completed ] && break
		sleep 0.05
	done
	exchange operation_training_completed.response.json GET "/operations/$op"
	exchange operation_404.response.json GET /operations/op_training_20250117_120000_00000000
}

@test "agent-sim: backtest start answers as the platform, model_path taken" {
	exchange backtest_start.response.json POST /backtests/start "$(jq -c '.strategy_name = "fixture_ok"' "$FX/api/backtest_start.request.json")"
	exchange backtest_start_400.response.json POST /backtests/start '{"strategy_name":"gone","start_date":"2024-01-01","end_date":"2024-06-30"}'
	# symbol and timeframe come from the strategy when not given
	run -0 jq -c '[.symbol, .timeframe]' <<<"$(call POST /backtests/start '{"strategy_name":"fixture_ok","start_date":"2024-01-01","end_date":"2024-06-30"}' | head -n 1)"
	assert_output '["EURUSD","1h"]'
}

@test "agent-sim: checkpoints and resume answer as the platform" {
	local op
	# still running: no checkpoint yet, and nothing to resume
	op=$(call POST /trainings/start '{"strategy_name":"fixture_ok"}' | head -n 1 | jq -r .task_id)
	exchange checkpoint_404.response.json GET "/checkpoints/$op"
	exchange resume_409.response.json POST "/operations/$op/resume"
	sim_fault '{"route":"training","fail":true,"checkpoint":true}'
	op=$(call POST /trainings/start '{"strategy_name":"fixture_ok"}' | head -n 1 | jq -r .task_id)
	for _ in $(seq 1 100); do
		[ "$(call GET "/operations/$op" | head -n 1 | jq -r .data.status)" = failed ] && break
		sleep 0.05
	done
	exchange checkpoint.response.json GET "/checkpoints/$op"
	exchange resume.response.json POST "/operations/$op/resume"
	# a failure without one: 404, and no checkpoint field on operations
	sim_fault '{"route":"backtest","fail":true}'
	op=$(call POST /backtests/start '{"strategy_name":"fixture_ok","start_date":"2024-01-01","end_date":"2024-06-30"}' | head -n 1 | jq -r .operation_id)
	for _ in $(seq 1 200); do
		[ "$(call GET "/operations/$op" | head -n 1 | jq -r .data.status)" = failed ] && break
		sleep 0.05
	done
	exchange resume_404.response.json POST "/operations/$op/resume"
	run -0 jq -e '.data | has("checkpoint_available") | not' <<<"$(call GET "/operations/$op" | head -n 1)"
}

@test "agent-sim: strategies validate, agent status answer as the platform" {
	exchange strategies_validate_ok.response.json POST /strategies/validate/fixture_ok
	exchange strategies_validate_issues.response.json POST /strategies/validate/fixture_bad
	exchange strategies_validate_404.response.json POST /strategies/validate/no_such_strategy
	# the platform's own agent never ran here: no last cycle to show
	exchange agent_status_idle.response.json GET /agent/status '' last_cycle
	curl -sf --max-time 5 -X POST -d '{"active":true,"phase":"training"}' "$SIM_URL/_sim/agent" >/dev/null
	exchange agent_status_active.response.json GET /agent/status
}

# The toolkit's requests, from agent-sim's request log: only fields of the
# platform's request models (TrainingRequest, BacktestStartRequest), with
# the fixture's types.
@test "the toolkit's training and backtest requests are the platform's request models" {
	local id log req want got
	id=$(sql "INSERT INTO agent_sessions (agent, phase, created_at, updated_at, designing_at) VALUES ('default', 'designing', 1, 1, 1) RETURNING id")
	run -0 --separate-stderr agent-invoke --session "$id"
	log=$(curl -sf --max-time 5 "$SIM_URL/_sim/requests")
	for route in trainings/start strategies/validate; do
		jq -e --arg r "$route" '[.requests[] | select(.path | contains($r))] | length >= 1' <<<"$log" >/dev/null ||
			fail "the design sent no $route request: $(jq -c '[.requests[].path]' <<<"$log")"
	done
	req=$(jq -c '[.requests[] | select(.path == "/api/v1/trainings/start")][0].body' <<<"$log")
	want=$(jq -c 'to_entries | map({key, value: (.value | type)}) | from_entries' "$FX/api/training_start.request.json")
	got=$(jq -c 'to_entries | map({key, value: (.value | type)}) | from_entries' <<<"$req")
	jq -en --argjson w "$want" --argjson g "$got" '$g | to_entries | all($w[.key] == .value)' >/dev/null ||
		fail "training request $got has fields or types the platform's TrainingRequest lacks: $want"
	# the saved strategy is v3 and where the backend reads it
	name=$(jq -r .strategy_name <<<"$req")
	[ -f "$SIM_STRATEGIES/$name.yaml" ]
	run -0 grep -E '^version: "3.0"$' "$AGENT_STRATEGY_DIR/$name.yaml"
	run -0 grep -E '^nn_inputs:' "$AGENT_STRATEGY_DIR/$name.yaml"
}

@test "the deterministic backtest request carries model_path and the strategy's range" {
	local id op log req want got
	cp "$FX/strategies/valid_minimal.yaml" "$AGENT_STRATEGY_DIR/bt_ok.yaml"
	id=$(sql "INSERT INTO agent_sessions (agent, phase, strategy_name, strategy_config, strategy_path, training_results, created_at, updated_at, designing_at, training_at, backtesting_at)
		VALUES ('default', 'backtesting', 'bt_ok', '$(jq -c '.backtest = {date_range: {start: "2024-02-01", end: "2024-05-31"}}' "$FX/strategies/valid_minimal.json")', '$AGENT_STRATEGY_DIR/bt_ok.yaml',
		'{\"model_path\":\"models/bt_ok/1h_v1\"}', 1, 1, 1, 1, 1) RETURNING id")
	run -0 --separate-stderr agent-invoke --session "$id"
	assert_equal "$(jq -c '[.status, .reason, .calls]' <<<"$output")" '["auto_backtest","backtest_started",0]'
	log=$(curl -sf --max-time 5 "$SIM_URL/_sim/requests")
	req=$(jq -c '[.requests[] | select(.path == "/api/v1/backtests/start")][0].body' <<<"$log")
	assert_equal "$(jq -c '[.strategy_name, .symbol, .timeframe, .start_date, .end_date, .model_path]' <<<"$req")" \
		'["bt_ok","EURUSD","1h","2024-02-01","2024-05-31","models/bt_ok/1h_v1"]'
	want=$(jq -c 'to_entries | map({key, value: (.value | type)}) | from_entries' "$FX/api/backtest_start.request.json")
	got=$(jq -c 'to_entries | map({key, value: (.value | type)}) | from_entries' <<<"$req")
	jq -en --argjson w "$want" --argjson g "$got" '$g | to_entries | all($w[.key] == .value)' >/dev/null ||
		fail "backtest request $got is not BacktestStartRequest: $want"
}

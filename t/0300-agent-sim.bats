#!/usr/bin/env bats
# agent-sim: the simulated research backend and Messages API, driven with curl.

bats_require_minimum_version 1.5.0

load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'
load 'helpers/simtest'

TOOLS='[{"name":"save_strategy_config","description":"Save a strategy","input_schema":{"type":"object","properties":{"name":{"type":"string"},"config":{"type":"object"},"description":{"type":"string"}},"required":["name","config","description"]}},{"name":"start_training","description":"Train","input_schema":{"type":"object","properties":{"strategy_name":{"type":"string"}},"required":["strategy_name"]}},{"name":"start_backtest","description":"Backtest","input_schema":{"type":"object","properties":{"strategy_name":{"type":"string"},"model_path":{"type":"string"}},"required":["strategy_name","model_path"]}},{"name":"save_assessment","description":"Assess","input_schema":{"type":"object","properties":{"verdict":{"type":"string"}},"required":["verdict","strengths","weaknesses","suggestions"]}}]'

setup_file() {
	# the platform trains only strategies in its directory (every simulator
	# of this file reads STRATEGIES_DIR): the names the tests use
	export STRATEGIES_DIR="$BATS_FILE_TMPDIR/strategies"
	mkdir -p "$STRATEGIES_DIR"
	for n in s s1 bt doomed shape_check child progress_check list_check parent_op resumable \
		adx_macd_trend_abc123; do
		cp "$BATS_TEST_DIRNAME/data/ktrdr/strategies/valid_minimal.yaml" "$STRATEGIES_DIR/$n.yaml"
	done
	st_start "$BATS_FILE_TMPDIR" --listen 127.0.0.1:0 --speed 600 -q
	export SIM_PID SIM_URL SIM_DIR
	export API="$SIM_URL/api/v1"
}

teardown_file() {
	st_stop || true
}

teardown() {
	curl -s --max-time 2 -X DELETE "$SIM_URL/_sim/faults" >/dev/null 2>&1 || true
}

# A design request with the tools, kept in $BATS_TEST_TMPDIR/req.
design_req() {
	jq -nc --argjson tools "$TOOLS" '{model: "claude-opus-4-5-20251101", max_tokens: 4096,
		tools: $tools, messages: [{role: "user", content: "Trigger: design\nstart_new_cycle: design one strategy."}]}' \
		>"$BATS_TEST_TMPDIR/req"
}

stop_clean() { # stop_clean [SIGNAL]: stops the test's own simulator: exit 0, quiet
	st_stop "$@"
	assert_equal "$SIM_STATUS" 0
	run -0 cat "$SIM_DIR/sim.err"
	assert_output ""
}

train() { # train [STRATEGY]: starts a training, prints its id
	curl -sS --max-time 5 -f -X POST "$API/trainings/start" \
		-d "{\"symbols\":[\"AAPL\"],\"timeframes\":[\"1h\"],\"strategy_name\":\"${1:-s1}\"}" | jq -r .task_id
}

# ---- the command ----------------------------------------------------------

@test "--help exits 0 with empty stderr and names every option" {
	run -0 --separate-stderr "$AGENT_BIN/agent-sim" --help
	assert_equal "$stderr" ""
	for o in --listen --seed --speed --fault --key-file --quiet; do
		assert_output --partial -- "$o"
	done
}

@test "a bad option exits 2 with a diagnostic" {
	run -2 --separate-stderr "$AGENT_BIN/agent-sim" --no-such-option
	assert_output ""
	assert_regex "$stderr" "agent-sim: unrecognized option '--no-such-option'"
}

@test "bad --speed, --seed, --listen and --fault values exit 2" {
	run -2 --separate-stderr "$AGENT_BIN/agent-sim" --speed 0
	assert_regex "$stderr" "agent-sim: --speed: "
	run -2 --separate-stderr "$AGENT_BIN/agent-sim" --seed -3
	assert_regex "$stderr" "agent-sim: --seed: "
	run -2 --separate-stderr "$AGENT_BIN/agent-sim" --listen 127.0.0.1:99999
	assert_output ""
	assert_equal "$stderr" "agent-sim: --listen: bad port: '127.0.0.1:99999'"
	run -2 --separate-stderr "$AGENT_BIN/agent-sim" --fault '{"route":"messages"}'
	assert_output ""
	assert_regex "$stderr" "^agent-sim: --fault: fault: nothing to do"
	run -2 --separate-stderr "$AGENT_BIN/agent-sim" --fault '{"route":"nowhere","drop":true}'
	assert_equal "$stderr" "agent-sim: --fault: fault: unknown route 'nowhere'"
	run -2 --separate-stderr "$AGENT_BIN/agent-sim" --fault '{not json'
	assert_regex "$stderr" "^agent-sim: --fault: malformed JSON"
}

@test "the ready line carries the URLs and the pid" {
	run -0 jq -e --argjson pid "$SIM_PID" '(keys == ["anthropic","backend","pid","url"]) and
		(.url | test("^http://127\\.0\\.0\\.1:[0-9]+$")) and .backend == .url + "/api/v1" and
		.anthropic == .url and .pid == $pid' "$BATS_FILE_TMPDIR/sim.out"
	run -0 wc -l <"$BATS_FILE_TMPDIR/sim.out"
	assert_output 1
}

@test "by default it listens on loopback only, and says so on stderr" {
	st_start "$BATS_TEST_TMPDIR" --speed 10
	port=${SIM_URL##*:}
	assert_regex "$SIM_URL" '^http://127\.0\.0\.1:[0-9]+$'
	hex=$(printf '%04X' "$port")
	# /proc/net/tcp: local address 0100007F (127.0.0.1), state 0A (listen)
	run -0 awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" { print $2 }' /proc/net/tcp
	assert_output "0100007F:$hex"
	st_stop
	assert_equal "$SIM_STATUS" 0
	run -0 cat "$BATS_TEST_TMPDIR/sim.err"
	assert_line --index 0 "agent-sim: serving on $SIM_URL (seed 1, speed 10)"
	assert_line --index 1 "agent-sim: stopped on SIGTERM"
}

@test "SIGINT and SIGTERM stop it cleanly with exit 0" {
	st_start "$BATS_TEST_TMPDIR" -q
	run -0 --separate-stderr curl -sS --max-time 5 "$SIM_URL/api/v1/health"
	assert_output '{"status":"ok","version":"agent-sim","orphan_detector":null}'
	st_stop INT
	assert_equal "$SIM_STATUS" 0
	st_start "$BATS_TEST_TMPDIR" -q
	st_stop TERM
	assert_equal "$SIM_STATUS" 0
	run -0 cat "$BATS_TEST_TMPDIR/sim.err"
	assert_output ""
}

@test "shutdown does not wait for a hung request" {
	st_start "$BATS_TEST_TMPDIR" -q --fault '{"route":"messages","hang":true,"count":0}'
	curl -s --max-time 20 -X POST "$SIM_URL/v1/messages" -o /dev/null 3>&- &
	cpid=$!
	sleep 0.3
	start=$(date +%s%N)
	stop_clean
	elapsed=$((($(date +%s%N) - start) / 1000000))
	[ "$elapsed" -lt 3000 ] || fail "stopping took $elapsed ms"
	wait "$cpid" || true
}

@test "an address in use is a permanent failure (exit 5)" {
	run -5 --separate-stderr "$AGENT_BIN/agent-sim" --listen "${SIM_URL#http://}"
	assert_output ""
	assert_regex "$stderr" "^agent-sim: cannot listen on '127\.0\.0\.1:[0-9]+': Address already in use$"
}

# ---- research backend -------------------------------------------------------

@test "GET /symbols lists symbols in the backend's shape" {
	run -0 --separate-stderr http GET "$API/symbols"
	assert_output 200
	assert_equal "$stderr" ""
	run -0 jqb '.success == true and .error == null and (.data | length) >= 4 and
		(.data | map(.symbol) | index("AAPL") != null and index("EURUSD") != null and index("BTCUSD") != null) and
		(.data | all(has("symbol") and has("name") and has("type") and has("exchange") and
		 has("currency") and (.available_timeframes | length > 0)))'
	run -0 header content-type
	assert_output application/json
}

@test "GET /indicators/ lists ten indicators with parameters; /indicators redirects" {
	run -0 --separate-stderr http GET "$API/indicators/"
	assert_output 200
	run -0 jqb '.success == true and (.data | length) >= 10 and
		(.data | map(.name) | contains(["RSI","MACD","SMA","EMA","BollingerBands","ATR","Stochastic","ADX","OBV","CCI"])) and
		(.data | all(has("id") and has("description") and (.type | IN("trend","momentum","volatility","volume")) and
		 (.parameters | type == "array")))'
	run -0 --separate-stderr http GET "$API/indicators"
	assert_output 307
	run -0 header location
	assert_output /api/v1/indicators/
}

@test "POST /trainings/start answers in the backend's shape" {
	run -0 --separate-stderr http POST "$API/trainings/start" \
		-d '{"symbols":["AAPL"],"timeframes":["1h"],"strategy_name":"shape_check","start_date":"2020-01-01","end_date":"2023-12-31"}'
	assert_output 200
	assert_equal "$stderr" ""
	run -0 jqb '.success == true and .status == "training_started" and
		(.task_id | test("^op_training_[0-9]{8}_[0-9]{6}_[0-9a-f]{8}$")) and
		.symbols == ["AAPL"] and .timeframes == ["1h"] and .strategy_name == "shape_check" and
		(.estimated_duration_minutes | type == "number") and (.message | test("shape_check"))'
}

@test "POST /trainings/start validates as the platform does (422 envelope, strategy from its directory)" {
	# ktrdr/api/main.py validation_exception_handler: {success, error: {code, message, details}}
	run -0 --separate-stderr http POST "$API/trainings/start" -d '{"symbols":[],"timeframes":["1h"]}'
	assert_output 422
	run -0 jqb '.success == false and .error.code == "VALIDATION_ERROR" and .error.message == "Request validation failed" and
		(.error.details | length == 2) and
		(.error.details[0] | .type == "too_short" and .field == "body -> symbols" and (.message | test("at least 1 item"))) and
		(.error.details[1] | .type == "missing" and .field == "body -> strategy_name" and .message == "Field required")'
	run -0 --separate-stderr http POST "$API/trainings/start" -d '{"symbols":"AAPL","timeframes":[],"strategy_name":""}'
	assert_output 422
	run -0 jqb '[.error.details[].type] == ["list_type","too_short","string_too_short"]'
	run -0 --separate-stderr http POST "$API/trainings/start" -d '{"symbols": [tru'
	assert_output 422
	run -0 jqb '.error.details[0].type == "json_invalid" and .error.details[0].field == "body -> 0"'
	run -0 --separate-stderr http POST "$API/trainings/start"
	assert_output 422
	run -0 jqb '.error.details[0] | .type == "missing" and .field == "body"'
	# context.py: the strategy is read from the directory; a missing one is 400
	run -0 --separate-stderr http POST "$API/trainings/start" -d '{"strategy_name":"not_there"}'
	assert_output 400
	run -0 jqb '.detail | test("^Strategy file not found: not_there.yaml \\(searched: ")'
	run -0 --separate-stderr http POST "$API/trainings/start" -d '{"strategy_name":"../etc/passwd"}'
	assert_output 400
	run -0 jqb '.detail == "Strategy name may only contain alphanumerics, dashes, or underscores"'
	# symbols and timeframes default to the strategy's
	run -0 --separate-stderr http POST "$API/trainings/start" -d '{"strategy_name":"s"}'
	assert_output 200
	run -0 jqb '.symbols == ["EURUSD"] and .timeframes == ["1h"]'
}

@test "POST /backtests/start: shape, 422 without dates, 400 when the range is empty" {
	run -0 --separate-stderr http POST "$API/backtests/start" \
		-d '{"strategy_name":"bt","symbol":"MSFT","timeframe":"4h","start_date":"2024-01-01","end_date":"2024-06-30"}'
	assert_output 200
	run -0 jqb '.success == true and .status == "started" and .mode == "distributed" and .symbol == "MSFT" and
		.timeframe == "4h" and (.operation_id | test("^op_backtesting_[0-9]{8}_[0-9]{6}_[0-9a-f]{8}$"))'
	run -0 --separate-stderr http POST "$API/backtests/start" -d '{"strategy_name":"bt","symbol":"MSFT","timeframe":"4h"}'
	assert_output 422
	run -0 jqb '[.error.details[] | .field] == ["body -> start_date","body -> end_date"]'
	run -0 --separate-stderr http POST "$API/backtests/start" \
		-d '{"strategy_name":"bt","symbol":"MSFT","timeframe":"4h","start_date":"2024-13-01","end_date":"x","initial_capital":0}'
	assert_output 422
	run -0 jqb '[.error.details[].type] == ["date_from_datetime_parsing","date_from_datetime_parsing","greater_than"]'
	run -0 --separate-stderr http POST "$API/backtests/start" \
		-d '{"strategy_name":"bt","symbol":"MSFT","timeframe":"4h","start_date":"2024-06-30","end_date":"2024-01-01"}'
	assert_output 400
	run -0 jqb '.detail == "end_date must be after start_date"'
}

@test "a training advances over simulated time and completes with result_summary" {
	id=$(train progress_check)
	run -0 --separate-stderr http GET "$API/operations/$id"
	assert_output 200
	run -0 jqb '.success == true and (.data | .operation_id and .operation_type == "training" and
		(.status | IN("pending","running")) and .progress.percentage < 60 and .progress.steps_total == 100 and
		.result_summary == null and .completed_at == null and (has("checkpoint_available") | not) and
		.metadata.symbol == "AAPL" and .metadata.timeframe == "1h" and .metadata.mode == "local" and
		.metadata.parameters.strategy_name == "progress_check" and .metrics == {} and .error_message == null)'
	first=$(jq .data.progress.percentage "$BATS_TEST_TMPDIR/body")
	sleep 0.4
	run -0 --separate-stderr http GET "$API/operations/$id"
	# still running and further on; or, on a slow host (a sanitizer build),
	# already done
	run -0 jqb --argjson first "$first" '.data | ((.status == "running" and .progress.percentage > $first and
		(.progress.current_step | test("^Epoch [0-9]+/100$"))) or
		(.status == "completed" and .progress.percentage == 100)) and .started_at != null'
	wait_op "$id" completed
	run -0 --separate-stderr http GET "$API/operations/$id"
	run -0 jqb '.data | .progress.percentage == 100 and .progress.current_step == "Epoch 100/100" and
		.completed_at != null and (.result_summary | (.model_path | test("^models/progress_check/")) and
		(.training_metrics.history.train_loss | length == 100) and
		(.training_metrics | has("final_train_loss") and has("epochs_trained") and (.history | has("val_accuracy"))) and
		(.test_metrics | has("test_accuracy") and has("test_loss") and has("f1_score")))'
}

@test "a backtest completes with the backend's metrics" {
	run -0 http POST "$API/backtests/start" \
		-d '{"strategy_name":"bt","symbol":"AAPL","timeframe":"1h","start_date":"2024-01-01","end_date":"2024-06-30"}'
	id=$(jq -r .operation_id "$BATS_TEST_TMPDIR/body")
	sleep 0.1
	run -0 http GET "$API/operations/$id"
	run -0 jqb '.data.progress.current_step | test("^Bar [0-9]+/[0-9]+$")'
	wait_op "$id" completed
	run -0 --separate-stderr http GET "$API/operations/$id"
	run -0 jqb '.data.operation_type == "backtesting" and (.data.result_summary |
		.strategy_name == "bt" and .symbol == "AAPL" and .config.initial_capital == 100000 and
		(.metrics | has("sharpe_ratio") and has("win_rate") and has("max_drawdown_pct") and
		 has("total_trades") and has("profit_factor") and has("total_return") and
		 (.max_drawdown_pct < 1) and (.win_rate <= 1)) and .trade_count == .metrics.total_trades)'
}

@test "GET /operations lists, filters and validates its query" {
	train list_check >/dev/null
	run -0 --separate-stderr http GET "$API/operations?limit=1000"
	assert_output 200
	run -0 jqb '.success == true and .total_count >= 1 and (.data | length) == .total_count and
		(.active_count | type == "number") and (.data[0] | keys == ["created_at","current_step",
		"duration_seconds","operation_id","operation_type","progress_percentage","status","symbol"])'
	run -0 http GET "$API/operations?operation_type=backtesting&limit=1000"
	run -0 jqb '.data | all(.operation_type == "backtesting")'
	run -0 http GET "$API/operations?limit=1"
	run -0 jqb '.data | length == 1'
	run -0 http GET "$API/operations?limit=0"
	assert_output 422
	run -0 jqb '.detail[0].loc == ["query","limit"]'
	run -0 http GET "$API/operations?status=lost"
	assert_output 422
}

@test "an unknown operation is a FastAPI 404" {
	run -0 --separate-stderr http GET "$API/operations/op_training_19700101_000000_deadbeef"
	assert_output 404
	run -0 jqb '. == {"detail": "Operation not found: op_training_19700101_000000_deadbeef"}'
	run -0 http DELETE "$API/operations/op_nope"
	assert_output 404
	run -0 http POST "$API/operations/op_nope/resume"
	assert_output 404
}

@test "DELETE cancels, cascades to children, and refuses a terminal operation" {
	parent=$(train parent_op)
	run -0 http POST "$API/backtests/start" -d "{\"strategy_name\":\"child\",\"symbol\":\"AAPL\",\"timeframe\":\"1h\",
		\"start_date\":\"2024-01-01\",\"end_date\":\"2024-06-30\",\"parent_operation_id\":\"$parent\"}"
	child=$(jq -r .operation_id "$BATS_TEST_TMPDIR/body")
	run -0 --separate-stderr http DELETE "$API/operations/$parent" -d '{"reason":"operator said so"}'
	assert_output 200
	run -0 jqb --arg p "$parent" --arg c "$child" '.success == true and (.data | .operation_id == $p and
		.status == "cancelled" and .cancellation_reason == "operator said so" and
		.children_cancelled == [$c] and .cancelled_at != null)'
	run -0 http GET "$API/operations/$child"
	run -0 jqb --arg p "$parent" '.data | .status == "cancelled" and .parent_operation_id == $p'
	run -0 --separate-stderr http DELETE "$API/operations/$parent"
	assert_output 400
	run -0 jqb '.detail | test("already cancelled")'
}

@test "a failed training with a checkpoint resumes and completes" {
	fault '{"route":"training","fail":true,"checkpoint":true}'
	id=$(train resumable)
	# running: no checkpoint, and resume is a 409 (endpoints/operations.py)
	run -0 http POST "$API/operations/$id/resume"
	assert_output 409
	wait_op "$id" failed
	run -0 --separate-stderr http GET "$API/operations/$id"
	run -0 jqb '.data | (has("checkpoint_available") | not) and (.error_message | test("checkpoint saved")) and
		.result_summary == null and .progress.percentage < 100'
	step=$(jq .data.progress.steps_completed "$BATS_TEST_TMPDIR/body")
	# endpoints/checkpoints.py: the failure checkpoint, its epoch 0-indexed
	run -0 --separate-stderr http GET "$API/checkpoints/$id"
	assert_output 200
	run -0 jqb --argjson step "$step" '.success == true and .data.checkpoint_type == "failure" and
		.data.state.epoch == $step - 1 and .data.operation_id != null'
	run -0 --separate-stderr http POST "$API/operations/$id/resume"
	assert_output 200
	run -0 jqb --argjson step "$step" '.success == true and .data.status == "resuming" and
		.data.resumed_from == {checkpoint_type: "failure", created_at: .data.resumed_from.created_at, epoch: ($step - 1)}'
	run -0 http GET "$API/operations/$id"
	run -0 jqb --argjson step "$step" '.data.status == "running" and .data.progress.steps_completed >= $step'
	wait_op "$id" completed
	run -0 http POST "$API/operations/$id/resume"
	assert_output 409
	run -0 jqb '.detail | test("is already completed$")'
}

@test "a failure without a checkpoint cannot be resumed" {
	fault '{"route":"backtest","fail":true}'
	run -0 http POST "$API/backtests/start" \
		-d '{"strategy_name":"doomed","symbol":"AAPL","timeframe":"1h","start_date":"2024-01-01","end_date":"2024-06-30"}'
	id=$(jq -r .operation_id "$BATS_TEST_TMPDIR/body")
	wait_op "$id" failed
	run -0 http GET "$API/operations/$id"
	run -0 jqb '.data | (has("checkpoint_available") | not) and (.error_message | test("^Backtest failed at bar"))'
	run -0 --separate-stderr http GET "$API/checkpoints/$id"
	assert_output 404
	run -0 jqb --arg id "$id" '.detail == "Checkpoint not found: \($id)"'
	run -0 --separate-stderr http POST "$API/operations/$id/resume"
	assert_output 404
	run -0 jqb --arg id "$id" '.detail == "No checkpoint available for operation \($id)"'
	# the fault was used up: the next backtest runs normally
	run -0 http GET "$SIM_URL/_sim/faults"
	run -0 jqb '.faults == []'
}

@test "default seed: training 1 fails its gate, 2 and 3 pass; backtest 1 fails, 2 passes" {
	st_start "$BATS_TEST_TMPDIR" -q --speed 100000
	for i in 1 2 3; do
		curl -sS --max-time 5 -f -X POST "$SIM_URL/api/v1/trainings/start" \
			-d '{"symbols":["AAPL"],"timeframes":["1h"],"strategy_name":"s"}' >/dev/null
	done
	for i in 1 2; do
		curl -sS --max-time 5 -f -X POST "$SIM_URL/api/v1/backtests/start" \
			-d '{"strategy_name":"s","symbol":"AAPL","timeframe":"1h","start_date":"2024-01-01","end_date":"2024-06-30"}' >/dev/null
	done
	sleep 0.2
	run -0 http GET "$SIM_URL/_sim/state"
	stop_clean
	run -0 jq -c '[.operations[] | select(.status == "completed") | .result_summary |
		if .test_metrics then
			(.training_metrics.history.train_loss[0]) as $i |
			(.test_metrics.test_accuracy >= 0.45 and .test_metrics.test_loss <= 0.8 and
			 ($i - .training_metrics.final_train_loss) / $i >= 0.2)
		else
			(.metrics.win_rate >= 0.45 and .metrics.max_drawdown_pct <= 0.4 and .metrics.sharpe_ratio >= -0.5)
		end]' "$BATS_TEST_TMPDIR/body"
	assert_output '[false,true,true,false,true]'
}

@test "the same seed gives the same operations; another seed does not" {
	for seed in 7 7 8; do
		st_start "$BATS_TEST_TMPDIR" -q --speed 100000 --seed "$seed"
		curl -sS --max-time 5 -f -X POST "$SIM_URL/api/v1/trainings/start" \
			-d '{"symbols":["AAPL"],"timeframes":["1h"],"strategy_name":"s"}' >/dev/null
		sleep 0.1
		curl -sS --max-time 5 "$SIM_URL/_sim/state" |
			jq -c '.operations[0] | [(.operation_id | .[-8:]), .result_summary.test_metrics]' >>"$BATS_TEST_TMPDIR/runs"
		stop_clean
	done
	run -0 sed -n 1p "$BATS_TEST_TMPDIR/runs"
	a=$output
	run -0 sed -n 2p "$BATS_TEST_TMPDIR/runs"
	assert_output "$a"
	run -0 sed -n 3p "$BATS_TEST_TMPDIR/runs"
	refute_output "$a"
}

@test "unknown backend routes are FastAPI 404s; a wrong method is 405" {
	run -0 --separate-stderr http GET "$API/nowhere"
	assert_output 404
	run -0 jqb '. == {"detail": "Not Found"}'
	run -0 http GET "$API/trainings/start"
	assert_output 405
	run -0 jqb '. == {"detail": "Method Not Allowed"}'
}

# ---- the Messages API ---------------------------------------------------------

@test "messages: a missing or empty key is a 401 authentication_error" {
	b='{"model":"claude-opus-4-5-20251101","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'
	run -0 --separate-stderr http POST "$SIM_URL/v1/messages" -H 'anthropic-version: 2026-10-21' -d "$b"
	assert_output 401
	run -0 jqb '.type == "error" and .error.type == "authentication_error" and (.request_id | test("^req_01[0-9A-Za-z]{22}$"))'
	run -0 header request-id
	assert_output "$(jq -r .request_id "$BATS_TEST_TMPDIR/body")"
	run -0 http POST "$SIM_URL/v1/messages" -H 'anthropic-version: 2026-10-21' -H 'x-api-key;' \
		-H "authorization: Bearer $SIM_KEY" -d "$b"
	assert_output 401
	run -0 http POST "$SIM_URL/v1/messages" -H 'anthropic-version: 2026-10-21' -H 'authorization: Basic abc' -d "$b"
	assert_output 401
}

@test "messages: x-api-key and Authorization: Bearer both work" {
	b='{"model":"claude-opus-4-5-20251101","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}'
	run -0 --separate-stderr http POST "$SIM_URL/v1/messages" -H 'anthropic-version: 2026-10-21' \
		-H "x-api-key: $SIM_KEY" -d "$b"
	assert_output 200
	run -0 --separate-stderr http POST "$SIM_URL/v1/messages" -H 'anthropic-version: 2023-06-01' \
		-H "authorization: Bearer $SIM_KEY" -d "$b"
	assert_output 200
	run -0 jqb '.type == "message" and .role == "assistant" and .stop_reason == "end_turn" and
		(.id | test("^msg_01[0-9A-Za-z]{22}$")) and .model == "claude-opus-4-5-20251101" and
		.stop_sequence == null and .stop_details == null and .container == null and
		(.usage | .input_tokens > 0 and .output_tokens > 0 and .cache_creation_input_tokens == 0 and
		 .cache_read_input_tokens == 0 and .cache_creation == {"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0} and
		 .server_tool_use == null and .service_tier == "standard" and .inference_geo == null)'
	run -0 header request-id
	assert_regex "$output" '^req_01[0-9A-Za-z]{22}$'
}

@test "messages: with --key-file only that key is accepted" {
	printf '%s\n' "$SIM_KEY" >"$BATS_TEST_TMPDIR/key"
	st_start "$BATS_TEST_TMPDIR" -q --key-file "$BATS_TEST_TMPDIR/key"
	b='{"model":"claude-opus-4-5-20251101","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'
	run -0 http POST "$SIM_URL/v1/messages" -H 'anthropic-version: 2026-10-21' -H 'x-api-key: sk-other' -d "$b"
	assert_output 401
	run -0 jqb '.error.type == "authentication_error" and .error.message == "invalid x-api-key"'
	run -0 http POST "$SIM_URL/v1/messages" -H 'anthropic-version: 2026-10-21' -H "x-api-key: $SIM_KEY" -d "$b"
	assert_output 200
	stop_clean
	run -5 --separate-stderr "$AGENT_BIN/agent-sim" --key-file "$BATS_TEST_TMPDIR/none"
	assert_output ""
	assert_equal "$stderr" "agent-sim: cannot read '$BATS_TEST_TMPDIR/none': No such file or directory"
}

@test "messages: anthropic-version is required and must be known" {
	b='{"model":"claude-opus-4-5-20251101","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'
	run -0 --separate-stderr http POST "$SIM_URL/v1/messages" -H "x-api-key: $SIM_KEY" -d "$b"
	assert_output 400
	run -0 jqb '.error.type == "invalid_request_error" and (.error.message | test("anthropic-version"))'
	run -0 http POST "$SIM_URL/v1/messages" -H "x-api-key: $SIM_KEY" -H 'anthropic-version: 2024-01-01' -d "$b"
	assert_output 400
	run -0 jqb '.error.type == "invalid_request_error"'
}

@test "messages: 2026-10-21 refuses temperature, top_p, top_k; 2023-06-01 takes them" {
	b='{"model":"claude-opus-4-5-20251101","max_tokens":16,"temperature":1.0,"messages":[{"role":"user","content":"hi"}]}'
	run -0 --separate-stderr model "$b"
	assert_output 400
	run -0 jqb '.error.type == "invalid_request_error" and
		(.error.message | startswith("temperature: Extra inputs are not permitted"))'
	run -0 model '{"model":"claude-opus-4-5-20251101","max_tokens":16,"top_k":5,"messages":[{"role":"user","content":"hi"}]}'
	assert_output 400
	run -0 jqb '.error.message | startswith("top_k: Extra inputs are not permitted")'
	run -0 --separate-stderr http POST "$SIM_URL/v1/messages" -H "x-api-key: $SIM_KEY" \
		-H 'anthropic-version: 2023-06-01' -d "$b"
	assert_output 200
	run -0 jqb '.type == "message"'
}

@test "messages: model, max_tokens and messages are required; bodies are checked" {
	run -0 model '{"max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'
	assert_output 400
	run -0 jqb '.error.message == "model: Field required"'
	run -0 model '{"model":"claude-opus-4-5-20251101","messages":[{"role":"user","content":"hi"}]}'
	assert_output 400
	run -0 jqb '.error.message == "max_tokens: Field required"'
	run -0 model '{"model":"claude-opus-4-5-20251101","max_tokens":16}'
	assert_output 400
	run -0 jqb '.error.message == "messages: Field required"'
	run -0 model '{"model":"claude-opus-4-5-20251101","max_tokens":16,"messages":[],"bogus":1}'
	assert_output 400
	run -0 jqb '.error.message == "bogus: Extra inputs are not permitted"'
	run -0 model '{"model": "claude'
	assert_output 400
	run -0 jqb '.error.type == "invalid_request_error" and (.error.message | test("parsing the body"))'
	run -0 model '{"model":"gpt-4","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'
	assert_output 404
	run -0 jqb '.error.type == "not_found_error"'
}

@test "messages: tool_use without tool_result right after is a 400" {
	msgs='[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_01A","name":"start_training","input":{}}]}'
	run -0 --separate-stderr model "{\"model\":\"claude-opus-4-5-20251101\",\"max_tokens\":16,\"messages\":$msgs]}"
	assert_output 400
	run -0 jqb '(keys == ["error","request_id","type"]) and .type == "error" and
		.error.type == "invalid_request_error" and
		(.error.message | test("`tool_use` ids were found without `tool_result` blocks immediately after: toolu_01A"))'
	run -0 header request-id
	assert_output "$(jq -r .request_id "$BATS_TEST_TMPDIR/body")"
	# results after text are not "immediately after"
	run -0 model "{\"model\":\"claude-opus-4-5-20251101\",\"max_tokens\":16,\"messages\":$msgs,
		{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"here\"},{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_01A\",\"content\":\"ok\"}]}]}"
	assert_output 400
	# a result for a call that was never made
	run -0 model "{\"model\":\"claude-opus-4-5-20251101\",\"max_tokens\":16,\"messages\":$msgs,
		{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_01A\",\"content\":\"ok\"},{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_01B\",\"content\":\"ok\"}]}]}"
	assert_output 400
	run -0 jqb '.error.message | test("unexpected `tool_use_id`")'
	# and the right order is fine
	run -0 model "{\"model\":\"claude-opus-4-5-20251101\",\"max_tokens\":16,\"messages\":$msgs,
		{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_01A\",\"content\":\"ok\"},{\"type\":\"text\",\"text\":\"go on\"}]}]}"
	assert_output 200
}

@test "messages: the design conversation: save_strategy_config, start_training, end_turn" {
	design_req
	run -0 --separate-stderr model "@$BATS_TEST_TMPDIR/req"
	assert_output 200
	run -0 jqb '.stop_reason == "tool_use" and (.content | length == 2) and .content[0].type == "text" and
		(.content[1] | .type == "tool_use" and .name == "save_strategy_config" and
		 (.id | test("^toolu_01[0-9A-Za-z]{22}$")) and
		 (.input.name | test("^[a-z_]+_[0-9a-f]{6}$")) and (.input.description | length > 0) and
		 (.input.config | .name == $n and .version == "3.0" and
		  .training_data.symbols == {"mode":"single","symbol":"AAPL","list":["AAPL"]} and
		  .training_data.timeframes.list == ["1h"] and .training_data.history_required >= 50 and
		  (.backtest.date_range.start > .training_data.date_range.end) and
		  (.indicators | type == "object" and length >= 2 and all(.[]; .type)) and
		  ([.fuzzy_sets[].indicator | split(".")[0]] - (.indicators | keys) == []) and
		  ([.nn_inputs[].fuzzy_set] | sort) == (.fuzzy_sets | keys) and
		  .model.type == "mlp" and .model.architecture.hidden_layers == [32,16] and
		  .model.training.early_stopping.enabled == true and
		  .decisions.output_format == "classification" and .decisions.position_awareness == true and
		  .training.labels.source == "zigzag" and .training.data_split == {"train":0.7,"validation":0.15,"test":0.15}))' \
		--arg n "$(jq -r '.content[1].input.name' "$BATS_TEST_TMPDIR/body")"
	name=$(jq -r '.content[1].input.name' "$BATS_TEST_TMPDIR/body")
	next_turn false '{"success":true,"path":"/tmp/s.yaml"}'
	run -0 --separate-stderr model "@$BATS_TEST_TMPDIR/req"
	assert_output 200
	run -0 jqb --arg n "$name" '.stop_reason == "tool_use" and (.content[-1] | .name == "start_training" and
		.input == {"strategy_name":$n,"symbols":["AAPL"],"timeframes":["1h"],"start_date":"2020-01-01","end_date":"2023-12-31"})'
	next_turn false '{"success":true,"operation_id":"op_training_20261124_032000_1a2b3c4d"}'
	run -0 --separate-stderr model "@$BATS_TEST_TMPDIR/req"
	assert_output 200
	run -0 jqb --arg n "$name" '.stop_reason == "end_turn" and (.content | length == 1) and
		(.content[0].text | test("op_training_20261124_032000_1a2b3c4d") and test("Strategy: " + $n))'
}

@test "messages: an is_error result makes it correct itself once, then give up" {
	design_req
	run -0 model "@$BATS_TEST_TMPDIR/req"
	name=$(jq -r '.content[1].input.name' "$BATS_TEST_TMPDIR/body")
	next_turn true 'strategy already exists'
	run -0 model "@$BATS_TEST_TMPDIR/req"
	assert_output 200
	run -0 jqb --arg n "${name}_v2" '.stop_reason == "tool_use" and .content[-1].name == "save_strategy_config" and
		.content[-1].input.name == $n and (.content[0].text | test("strategy already exists"))'
	next_turn true 'still invalid'
	run -0 model "@$BATS_TEST_TMPDIR/req"
	assert_output 200
	run -0 jqb '.stop_reason == "end_turn" and (.content[0].text | test("giving up"))'
}

@test "messages: post-training starts the backtest; assessment saves a verdict" {
	jq -nc --argjson tools "$TOOLS" '{model: "claude-opus-4-5-20251101", max_tokens: 4096, tools: $tools,
		messages: [{role: "user", content: "Trigger: post_training\nstrategy_name: adx_macd_trend_abc123\nsymbol: MSFT\ntimeframe: 4h\n\"model_path\": \"models/adx/MSFT_4h_v1.pt\""}]}' >"$BATS_TEST_TMPDIR/req"
	run -0 --separate-stderr model "@$BATS_TEST_TMPDIR/req"
	assert_output 200
	run -0 jqb '.stop_reason == "tool_use" and (.content[-1] | .name == "start_backtest" and
		.input == {"strategy_name":"adx_macd_trend_abc123","symbol":"MSFT","timeframe":"4h",
		"start_date":"2024-01-01","end_date":"2024-06-30","model_path":"models/adx/MSFT_4h_v1.pt"})'
	next_turn false '{"success":true,"operation_id":"op_backtesting_x"}'
	run -0 model "@$BATS_TEST_TMPDIR/req"
	run -0 jqb '.stop_reason == "end_turn"'

	jq -nc --argjson tools "$TOOLS" '{model: "claude-opus-4-5-20251101", max_tokens: 4096, tools: $tools,
		messages: [{role: "user", content: "Trigger: assessment\n{\"strategy_name\": \"s1\", \"sharpe_ratio\": -0.9, \"win_rate\": 0.41, \"max_drawdown_pct\": 0.2}"}]}' >"$BATS_TEST_TMPDIR/req"
	run -0 model "@$BATS_TEST_TMPDIR/req"
	assert_output 200
	run -0 jqb '.stop_reason == "tool_use" and (.content[-1] | .name == "save_assessment" and
		.input.verdict == "poor" and (.input.strengths | length == 2) and
		(.input.weaknesses | length == 2) and (.input.suggestions | length == 2))'
	next_turn false '{"success":true}'
	run -0 model "@$BATS_TEST_TMPDIR/req"
	run -0 jqb '.stop_reason == "end_turn" and (.content[0].text | test("poor"))'
}

# sysreq MODEL BYTES [TTL]: a request whose system block of BYTES x's is a
# breakpoint; the prefix is (BYTES + 28) / 4 tokens (agent-sim's estimate)
sysreq() {
	jq -nc --arg m "$1" --arg s "$(head -c "$2" /dev/zero | tr '\0' 'x')" --arg ttl "${3:-5m}" \
		'{model: $m, max_tokens: 16,
		  system: [{type: "text", text: $s, cache_control: ({type: "ephemeral"} + if $ttl == "1h" then {ttl: "1h"} else {} end)}],
		  messages: [{role: "user", content: "hi"}]}'
}

@test "messages: caching follows the model's minimum (4096 Opus 4.5 and Haiku 4.5, 1024 Sonnet 4.5)" {
	local m n
	# at the minimum: written, then read; one token under: neither, and no error
	while read -r m n; do
		run -0 model "$(sysreq "$m" $((n * 4 - 28)))"
		assert_output 200
		run -0 jqb --argjson n "$n" '.usage | .cache_creation_input_tokens == $n and .cache_read_input_tokens == 0 and
			.cache_creation.ephemeral_5m_input_tokens == $n and .cache_creation.ephemeral_1h_input_tokens == 0'
		run -0 model "$(sysreq "$m" $((n * 4 - 28)))"
		run -0 jqb --argjson n "$n" '.usage | .cache_read_input_tokens == $n and .cache_creation_input_tokens == 0'
		run -0 model "$(sysreq "$m" $((n * 4 - 32)))"
		assert_output 200
		run -0 jqb --argjson n "$n" '.usage | .cache_creation_input_tokens == 0 and .cache_read_input_tokens == 0 and
			.input_tokens >= $n - 1'
	done <<'MODELS'
claude-opus-4-5-20251101 4096
claude-haiku-4-5-20251001 4096
claude-sonnet-4-5-20250929 1024
MODELS
	# just over the Sonnet minimum is cached; 2000 tokens on Opus 4.5 are not
	run -0 model "$(sysreq claude-sonnet-4-5-20250929 4200)"
	run -0 jqb '.usage.cache_creation_input_tokens == 1057'
	run -0 model "$(sysreq claude-opus-4-5-20251101 8000)"
	run -0 jqb '.usage.cache_creation_input_tokens == 0 and .usage.cache_read_input_tokens == 0'
	# a 1-hour breakpoint reports its own share
	run -0 model "$(sysreq claude-sonnet-4-5-20250929 6000 1h)"
	run -0 jqb '.usage | .cache_creation.ephemeral_1h_input_tokens == 1507 and .cache_creation.ephemeral_5m_input_tokens == 0'
}

@test "messages: at most 4 breakpoints; 1-hour ones before 5-minute ones" {
	local five
	five=$(jq -nc '{model: "claude-sonnet-4-5-20250929", max_tokens: 16,
		system: [range(5) | {type: "text", text: "block \(.)", cache_control: {type: "ephemeral"}}],
		messages: [{role: "user", content: "hi"}]}')
	run -0 model "$five"
	assert_output 400
	run -0 jqb '.error.type == "invalid_request_error" and .error.message == "A maximum of 4 blocks with cache_control may be provided. Found 5."'
	# four are fine; a top-level (automatic) one is a fifth
	run -0 model "$(jq -c '.system |= .[:4]' <<<"$five")"
	assert_output 200
	run -0 model "$(jq -c '.system |= .[:4] | .cache_control = {type: "ephemeral"}' <<<"$five")"
	assert_output 400
	run -0 model "$(jq -c '.system |= .[:2] | .system[1].cache_control.ttl = "1h"' <<<"$five")"
	assert_output 400
	run -0 jqb '.error.message | test("ttl=.1h. must not come after")'
	run -0 model "$(jq -c '.system |= .[:2] | .system[0].cache_control.ttl = "1h"' <<<"$five")"
	assert_output 200
}

@test "messages: a read looks back 20 blocks from a breakpoint; automatic caching moves forward" {
	local base
	# a cached prefix of 24 blocks (Sonnet: 1024 tokens and more)
	base=$(jq -nc --arg s "$(head -c 6000 /dev/zero | tr '\0' 'y')" '{model: "claude-sonnet-4-5-20250929", max_tokens: 16,
		system: [{type: "text", text: $s, cache_control: {type: "ephemeral"}}],
		messages: [{role: "user", content: [range(24) | {type: "text", text: "turn \(.)"}]}]}')
	run -0 model "$base"
	run -0 jqb '.usage.cache_creation_input_tokens > 1024'
	w=$(jq .usage.cache_creation_input_tokens "$BATS_TEST_TMPDIR/body")
	# the breakpoint 20 blocks after the cached end still finds it ...
	run -0 model "$(jq -c 'del(.system[0].cache_control) | .messages[0].content[19].cache_control = {type: "ephemeral"}' <<<"$base")"
	run -0 jqb --argjson w "$w" '.usage.cache_read_input_tokens == $w and .usage.cache_creation_input_tokens > 0'
	# ... 21 blocks after it does not (a fresh system text: nothing else cached)
	base=$(jq -c '.system[0].text += "z"' <<<"$base")
	run -0 model "$base"
	run -0 model "$(jq -c 'del(.system[0].cache_control) | .messages[0].content[20].cache_control = {type: "ephemeral"}' <<<"$base")"
	run -0 jqb '.usage.cache_read_input_tokens == 0'
	# automatic caching: a top-level cache_control caches the whole prompt, and the next turn reads it
	auto=$(jq -c '.system[0].text += "a" | del(.system[0].cache_control) | .cache_control = {type: "ephemeral"}' <<<"$base")
	run -0 model "$auto"
	w=$(jq '.usage.cache_creation_input_tokens' "$BATS_TEST_TMPDIR/body")
	[ "$w" -gt 1024 ]
	run -0 model "$(jq -c '.messages += [{role: "assistant", content: "ok"}, {role: "user", content: "more"}]' <<<"$auto")"
	run -0 jqb --argjson w "$w" '.usage.cache_read_input_tokens == $w'
}

@test "messages: count_tokens is what the messages route bills as input, cached or not" {
	local req
	req=$(sysreq claude-sonnet-4-5-20250929 5000)
	run -0 model "$req"
	billed=$(jq '.usage | .input_tokens + .cache_creation_input_tokens + .cache_read_input_tokens' "$BATS_TEST_TMPDIR/body")
	run -0 model "$req"
	assert_equal "$(jq '.usage | .input_tokens + .cache_creation_input_tokens + .cache_read_input_tokens' "$BATS_TEST_TMPDIR/body")" "$billed"
	run -0 --separate-stderr curl -sS --max-time 5 -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' -H "x-api-key: $SIM_KEY" \
		-H 'anthropic-version: 2026-10-21' -H 'content-type: application/json' \
		--data-binary "$(jq -c 'del(.max_tokens)' <<<"$req")" "$SIM_URL/v1/messages/count_tokens"
	assert_output 200
	run -0 jqb --argjson b "$billed" '.input_tokens == $b'
}

@test "messages: stream true sends the real event sequence" {
	design_req
	jq -c '.stream = true' "$BATS_TEST_TMPDIR/req" >"$BATS_TEST_TMPDIR/sreq"
	run -0 --separate-stderr curl -sS -N --max-time 5 -D "$BATS_TEST_TMPDIR/headers" -o "$BATS_TEST_TMPDIR/sse" \
		-w '%{http_code}' -H "x-api-key: $SIM_KEY" -H 'anthropic-version: 2026-10-21' \
		-X POST --data-binary "@$BATS_TEST_TMPDIR/sreq" "$SIM_URL/v1/messages"
	assert_output 200
	run -0 header content-type
	assert_output "text/event-stream; charset=utf-8"
	run -0 bash -c "grep '^event: ' '$BATS_TEST_TMPDIR/sse' | cut -d' ' -f2 | uniq | tr '\n' ' '"
	assert_output "message_start ping content_block_start content_block_delta content_block_stop ping content_block_start content_block_delta content_block_stop message_delta message_stop "
	# data lines name their event; the tool input arrives as JSON fragments
	run -0 bash -c "paste -d' ' <(grep '^event: ' '$BATS_TEST_TMPDIR/sse' | cut -c8-) <(grep '^data: ' '$BATS_TEST_TMPDIR/sse' | cut -c7- | jq -r .type) | awk '\$1 != \$2' | wc -l"
	assert_output 0
	run -0 bash -c "grep '^data: ' '$BATS_TEST_TMPDIR/sse' | cut -c7- | jq -rj 'select(.delta.type == \"input_json_delta\") | .delta.partial_json' | jq -e '.config.model.type == \"mlp\"'"
	run -0 bash -c "grep '^data: ' '$BATS_TEST_TMPDIR/sse' | cut -c7- | jq -c 'select(.type == \"message_delta\")'"
	run -0 jq -e '.delta.stop_reason == "tool_use" and .usage.output_tokens > 50 and (.usage | has("input_tokens"))' <<<"$output"
	run -0 bash -c "grep '^data: ' '$BATS_TEST_TMPDIR/sse' | head -n 1 | cut -c7- | jq -e '.message.content == [] and .message.stop_reason == null and .message.usage.input_tokens > 0'"
}

@test "messages: count_tokens and models" {
	run -0 --separate-stderr http POST "$SIM_URL/v1/messages/count_tokens" -H "x-api-key: $SIM_KEY" \
		-H 'anthropic-version: 2026-10-21' -d '{"model":"claude-opus-4-5-20251101","messages":[{"role":"user","content":"hello there"}]}'
	assert_output 200
	run -0 jqb '(keys == ["input_tokens"]) and .input_tokens > 0'
	run -0 http GET "$SIM_URL/v1/models" -H "x-api-key: $SIM_KEY" -H 'anthropic-version: 2026-10-21'
	assert_output 200
	run -0 jqb '.data | length >= 3 and all(.type == "model")'
}

@test "messages: a body over 32 MiB is a 413 request_too_large" {
	head -c $((32 * 1024 * 1024 + 10)) /dev/zero | tr '\0' ' ' >"$BATS_TEST_TMPDIR/huge"
	run -0 --separate-stderr http POST "$SIM_URL/v1/messages" -H "x-api-key: $SIM_KEY" \
		-H 'anthropic-version: 2026-10-21' --data-binary "@$BATS_TEST_TMPDIR/huge"
	assert_output 413
	run -0 jqb '.type == "error" and .error.type == "request_too_large"'
}

@test "unknown /v1 routes are not_found_error; /_sim/requests never holds a key" {
	run -0 --separate-stderr http GET "$SIM_URL/v1/nothing" -H "x-api-key: $SIM_KEY"
	assert_output 404
	run -0 jqb '.type == "error" and .error.type == "not_found_error"'
	run -0 http POST "$SIM_URL/v1/messages" -H "authorization: Bearer $SIM_KEY" -H 'anthropic-version: 2023-06-01' \
		-H 'content-type: application/json' -d '{"model":"claude-opus-4-5-20251101","max_tokens":8,"messages":[{"role":"user","content":"record me"}]}'
	run -0 http GET "$SIM_URL/_sim/requests"
	assert_output 200
	run -0 jqb '.requests[-1] | .method == "POST" and .path == "/v1/messages" and .status == 200 and
		.anthropic_version == "2023-06-01" and .x_api_key == false and .authorization == true and
		.authorization_scheme == "Bearer" and .body_fields == ["max_tokens","messages","model"] and
		.model == "claude-opus-4-5-20251101" and .stream == false'
	run -1 grep -c "$SIM_KEY" "$BATS_TEST_TMPDIR/body"
	assert_output 0
}

# ---- faults ----------------------------------------------------------------------

@test "fault: 529 overloaded_error for one request, listed until used" {
	run -0 --separate-stderr http POST "$SIM_URL/_sim/faults" -d '{"route":"messages","status":529,"count":1}'
	assert_output 200
	run -0 jqb '.faults[0] | .route == "messages" and .status == 529 and .remaining == 1 and .id > 0'
	run -0 http GET "$SIM_URL/_sim/faults"
	run -0 jqb '.faults | length == 1'
	b='{"model":"claude-opus-4-5-20251101","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'
	run -0 model "$b"
	assert_output 529
	run -0 jqb '.type == "error" and .error.type == "overloaded_error" and (.request_id | startswith("req_01"))'
	run -0 model "$b"
	assert_output 200
	run -0 http GET "$SIM_URL/_sim/faults"
	run -0 jqb '.faults == []'
}

@test "fault: 429 with retry-after, and a spend limit without it" {
	b='{"model":"claude-opus-4-5-20251101","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'
	fault '{"route":"messages","status":429,"retry_after":2}'
	run -0 model "$b"
	assert_output 429
	run -0 header retry-after
	assert_output 2
	run -0 jqb '.error.type == "rate_limit_error"'
	fault '{"route":"messages","status":429,"error_code":"enforced_spend_limit_reached"}'
	run -0 model "$b"
	assert_output 429
	run -0 header retry-after
	assert_output ""
	run -0 jqb '.error.type == "rate_limit_error" and .error.details.error_code == "enforced_spend_limit_reached"'
}

@test "fault: 500 with x-should-retry false, 408, 402 billing_error" {
	b='{"model":"claude-opus-4-5-20251101","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'
	fault '[{"route":"messages","status":500,"should_retry":false},{"route":"messages","status":408},{"route":"messages","status":402}]'
	run -0 model "$b"
	assert_output 500
	run -0 header x-should-retry
	assert_output false
	run -0 jqb '.error.type == "api_error"'
	run -0 model "$b"
	assert_output 408
	run -0 model "$b"
	assert_output 402
	run -0 jqb '.error.type == "billing_error"'
}

@test "fault: latency delays the answer" {
	fault '{"route":"symbols","latency_ms":300}'
	start=$(date +%s%N)
	run -0 http GET "$API/symbols"
	assert_output 200
	elapsed=$((($(date +%s%N) - start) / 1000000))
	[ "$elapsed" -ge 300 ] || fail "answered after $elapsed ms"
}

@test "fault: a hang holds one request until the client gives up, not the others" {
	fault '{"route":"messages","hang":true}'
	curl -s --max-time 1 -o /dev/null -w '%{http_code}' -X POST "$SIM_URL/v1/messages" \
		>"$BATS_TEST_TMPDIR/hung" 2>&1 3>&- &
	cpid=$!
	sleep 0.2
	start=$(date +%s%N)
	run -0 http GET "$API/symbols"
	assert_output 200
	elapsed=$((($(date +%s%N) - start) / 1000000))
	[ "$elapsed" -lt 500 ] || fail "other requests waited $elapsed ms"
	rc=0
	wait "$cpid" || rc=$?
	assert_equal "$rc" 28
	run -0 cat "$BATS_TEST_TMPDIR/hung"
	assert_output 000
}

@test "fault: drop closes the connection without an answer" {
	fault '{"route":"backend","drop":true}'
	run -52 --separate-stderr http GET "$API/symbols"
	assert_output 000
	assert_regex "$stderr" "Empty reply from server"
	run -0 http GET "$API/symbols"
	assert_output 200
}

@test "fault: malformed and truncated bodies" {
	fault '{"route":"messages","malformed":true}'
	run -0 model '{}'
	assert_output 200
	run ! jq . "$BATS_TEST_TMPDIR/body"
	fault '{"route":"/api/v1/operations","truncated":true}'
	run -18 --separate-stderr http GET "$API/operations"
	assert_output 200
	assert_regex "$stderr" "transfer closed with [0-9]+ bytes remaining"
}

@test "fault: refusal is a 200 with stop_reason refusal and stop_details" {
	fault '{"route":"messages","refusal":true,"category":"bio"}'
	run -0 model '{"model":"claude-opus-4-5-20251101","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'
	assert_output 200
	run -0 jqb '.stop_reason == "refusal" and .stop_details.type == "refusal" and
		.stop_details.category == "bio" and (.stop_details.explanation | length > 0) and .content == []'
}

@test "fault: stream_error sends event: error after the 200" {
	fault '{"route":"messages","stream_error":true}'
	run -0 --separate-stderr curl -sS -N --max-time 5 -o "$BATS_TEST_TMPDIR/sse" -w '%{http_code}' \
		-H "x-api-key: $SIM_KEY" -H 'anthropic-version: 2026-10-21' -X POST \
		-d '{"model":"claude-opus-4-5-20251101","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}' \
		"$SIM_URL/v1/messages"
	assert_output 200
	run -0 bash -c "grep '^event: ' '$BATS_TEST_TMPDIR/sse' | cut -d' ' -f2 | tr '\n' ' '"
	assert_output "message_start ping content_block_start error "
	run -0 bash -c "grep '^data: ' '$BATS_TEST_TMPDIR/sse' | tail -n 1 | cut -c7-"
	run -0 jq -e '.type == "error" and .error.type == "overloaded_error"' <<<"$output"
	# not a streaming request: the fault waits for one
	run -0 http GET "$SIM_URL/_sim/faults"
	run -0 jqb '.faults == []'
}

@test "fault: the backend is unavailable for a window, then back" {
	fault '{"route":"backend","unavailable_seconds":0.5}'
	run -52 --separate-stderr http GET "$API/operations"
	run -52 --separate-stderr http GET "$API/symbols"
	run -0 http GET "$SIM_URL/v1/nothing"
	assert_output 404
	sleep 0.6
	run -0 http GET "$API/operations"
	assert_output 200
	fault '{"route":"backend","unavailable_seconds":5,"status":503}'
	run -0 http GET "$API/symbols"
	assert_output 503
	run -0 jqb '.detail == "Service Unavailable"'
}

@test "fault: count 0 lasts until cleared; bad faults are refused" {
	fault '{"route":"indicators","status":500,"count":0}'
	for i in 1 2 3; do
		run -0 http GET "$API/indicators/"
		assert_output 500
	done
	run -0 http GET "$SIM_URL/_sim/faults"
	run -0 jqb '.faults[0] | .used == 3 and .remaining == null'
	run -0 --separate-stderr http DELETE "$SIM_URL/_sim/faults"
	assert_output 200
	run -0 jqb '.cleared == 1'
	run -0 http GET "$API/indicators/"
	assert_output 200
	run -0 http POST "$SIM_URL/_sim/faults" -d '{"route":"messages","status":529,"drop":true}'
	assert_output 400
	run -0 jqb '.error | test("at most one")'
	run -0 http POST "$SIM_URL/_sim/faults" -d '{"route":"messages","sttaus":529}'
	assert_output 400
	run -0 jqb '.error == "fault: unknown field '"'sttaus'"'"'
}

@test "fault: --fault on the command line applies from the start" {
	st_start "$BATS_TEST_TMPDIR" -q --fault '{"route":"messages","status":529,"count":1}'
	url=$SIM_URL
	run -0 http POST "$url/v1/messages" -H "x-api-key: $SIM_KEY" -H 'anthropic-version: 2026-10-21' -d '{}'
	assert_output 529
	run -0 http POST "$url/v1/messages" -H "x-api-key: $SIM_KEY" -H 'anthropic-version: 2026-10-21' -d '{}'
	assert_output 400
	stop_clean
}

@test "the official TypeScript SDK works unchanged (AGENT_TEST_NODE_PATH)" {
	sdk=${AGENT_TEST_NODE_PATH:-}
	[ -n "$sdk" ] && [ -d "$sdk/@anthropic-ai/sdk" ] ||
		skip "set AGENT_TEST_NODE_PATH to a node_modules holding @anthropic-ai/sdk"
	cat >"$BATS_TEST_TMPDIR/sdk.cjs" <<'JS'
const mod = require('@anthropic-ai/sdk');
const Anthropic = mod.default || mod.Anthropic || mod;
const base = process.env.SIM_URL;
const tools = [{name: 'save_strategy_config', description: 'save', input_schema: {type: 'object'}},
	       {name: 'start_training', description: 'train', input_schema: {type: 'object'}}];
(async () => {
	const c = new Anthropic({apiKey: 'sk-sdk', baseURL: base, maxRetries: 2});
	const msgs = [{role: 'user', content: 'Trigger: design'}];
	const seen = [];
	for (let i = 0; i < 4; i++) {
		const m = await c.messages.create({model: 'claude-opus-4-5-20251101', max_tokens: 4096, messages: msgs, tools});
		seen.push(m.stop_reason + ':' + m.content.filter(b => b.type === 'tool_use').map(b => b.name).join(''));
		if (m.stop_reason !== 'tool_use') break;
		msgs.push({role: 'assistant', content: m.content});
		msgs.push({role: 'user', content: m.content.filter(b => b.type === 'tool_use')
			.map(b => ({type: 'tool_result', tool_use_id: b.id, content: '{"success":true}'}))});
	}
	console.log(seen.join(' '));
	const s = c.messages.stream({model: 'claude-opus-4-5-20251101', max_tokens: 4096, messages: [{role: 'user', content: 'Trigger: design'}], tools});
	const f = await s.finalMessage();
	console.log('stream', f.stop_reason, f.content[1].input.config.model.type, f.usage.output_tokens > 50);
	await fetch(base + '/_sim/faults', {method: 'POST', body: '{"route":"messages","status":529}'});
	const r = await c.messages.create({model: 'claude-opus-4-5-20251101', max_tokens: 64, messages: [{role: 'user', content: 'hi'}]});
	console.log('retried', r.stop_reason);
})().catch(e => { console.error(String(e)); process.exit(1); });
JS
	NODE_PATH="$sdk" run -0 --separate-stderr timeout 30 node "$BATS_TEST_TMPDIR/sdk.cjs"
	assert_line --index 0 "tool_use:save_strategy_config tool_use:start_training end_turn:"
	assert_line --index 1 "stream tool_use mlp true"
	assert_line --index 2 "retried end_turn"
	run -0 http GET "$SIM_URL/_sim/requests"
	run -0 jqb '[.requests[] | select(.user_agent | test("^Anthropic/JS"))] | length >= 6 and
		all(.anthropic_version == "2026-10-21" and .authorization == true and .x_api_key == false)'
}

@test "_sim/state shows the operations and counters" {
	run -0 --separate-stderr http GET "$SIM_URL/_sim/state"
	assert_output 200
	run -0 jqb '.seed == 1 and .speed == 600 and .counters.trainings >= 1 and .counters.messages >= 1 and
		(.operations | length >= 1 and all(has("operation_id") and has("status") and has("progress")))'
}

@test "the man page is lint-clean and its example prints what the page says" {
	man="$SIM_ROOT/man/agent-sim.1"
	run -0 --separate-stderr mandoc -Tlint -Wwarning "$man"
	assert_output ""
	cd "$BATS_TEST_TMPDIR"
	# the first literal block of EXAMPLES is the script, the second its output
	awk '/^\.Sh EXAMPLES/ { ex = 1 } ex && /^\.Ed/ { n++; inb = 0 }
	     ex && inb { print > (n == 0 ? "script" : n == 1 ? "expected" : "/dev/null") }
	     ex && /^\.Bd -literal/ { inb = 1 }' "$man"
	sed -i 's/\\e/\\/g' script expected
	run -0 grep -c . expected
	assert_output 3
	export PATH="$AGENT_BIN:$PATH"
	run -0 --separate-stderr timeout 20 bash ./script
	assert_output "$(cat expected)"
	assert_equal "$stderr" ""
}

@test "the shared simulator stops with exit 0 and nothing on stderr (last test)" {
	st_stop
	assert_equal "$SIM_STATUS" 0
	run -0 cat "$BATS_FILE_TMPDIR/sim.err"
	assert_output ""
}

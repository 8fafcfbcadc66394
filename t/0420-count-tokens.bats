#!/usr/bin/env bats
# agent-invoke sizes each call's hold by POST /v1/messages/count_tokens:
# the hold is the counted prompt's cost plus max_tokens of output; counting
# that fails or hangs leaves today's estimate and the call goes on.

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

new_session() { # new_session PHASE: a session row; prints its id
	sql "INSERT INTO agent_sessions (agent, phase, created_at, updated_at, designing_at)
	     VALUES ('default', '$1', 100, 100, 100)" >/dev/null
	sql "SELECT MAX(id) FROM agent_sessions"
}

# price MODEL USAGE: what agent-budget price makes of a usage, in micro-dollars
price() {
	agent-budget price --model "$1" <<<"$2" | jq -r '.total_usd * 1000000 | round'
}

# each hold's input tokens (its tokens less max_tokens) next to what its call
# was billed as input (input + cache write + cache read): "held|billed" lines
holds_vs_billed() {
	sql "SELECT h.tokens - 4096, i.input_tokens + i.cache_write_tokens + i.cache_read_tokens
	     FROM agent_budget_holds h JOIN agent_invocations i ON i.hold_id = h.id ORDER BY h.id"
}

count_requests() { # the count_tokens requests agent-sim saw
	curl -sf --max-time 5 "$SIM_URL/_sim/requests" |
		jq -c '[.requests[] | select(.path == "/v1/messages/count_tokens")]'
}

@test "the hold is the counted prompt at the input rate plus max_tokens at the output rate (Opus 4.5: below its cache minimum)" {
	id=$(new_session designing)
	run -0 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.status, .holds.count_tokens, .holds.estimate]' <<<"$output")" '["ok",1,0]'
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_budget_holds")" 1
	IFS='|' read -r held billed < <(holds_vs_billed)
	# the sim's count is exactly what its messages route billed
	assert_equal "$held" "$billed"
	assert_equal "$(jq -r .holds.input_tokens <<<"$output")" "$held"
	# 1826-odd tokens are below Opus 4.5's 4096: nothing is written, so input rate
	[ "$held" -lt 4096 ]
	assert_equal "$(sql "SELECT amount_micros FROM agent_budget_holds")" \
		"$(price claude-opus-4-5-20251101 "{\"input_tokens\":$held,\"output_tokens\":4096}")"
	# what went to count_tokens: the request without max_tokens and stream
	run -0 count_requests
	assert_equal "$(jq -c 'map([.status, .body_fields, .x_api_key])' <<<"$output")" \
		'[[200,["messages","model","system","tools"],true]]'
}

@test "a prompt that reaches the cache minimum is held at the cache-write rate (Sonnet 4.5); every call of a tool loop is counted" {
	id=$(new_session designing)
	AGENT_MODEL=claude-sonnet-4-5-20250929 AGENT_AUTO_TRAINING=0 run -0 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$stderr" ""
	calls=$(jq -r .calls <<<"$output")
	[ "$calls" -ge 2 ]
	assert_equal "$(jq -c '[.holds.count_tokens, .holds.estimate]' <<<"$output")" "[$calls,0]"
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_budget_holds")" "$calls"
	# counted == billed for every call, cache writes and reads included
	while IFS='|' read -r held billed; do
		assert_equal "$held" "$billed"
	done < <(holds_vs_billed)
	[ "$(sql "SELECT SUM(cache_read_tokens) FROM agent_invocations")" -gt 0 ]
	while IFS='|' read -r amount held; do
		assert_equal "$amount" \
			"$(price claude-sonnet-4-5-20250929 "{\"cache_creation_input_tokens\":$held,\"output_tokens\":4096}")"
	done < <(sql "SELECT amount_micros, tokens - 4096 FROM agent_budget_holds ORDER BY id")
	assert_equal "$(jq -r .holds.input_tokens <<<"$output")" "$(sql "SELECT SUM(tokens - 4096) FROM agent_budget_holds")"
	run -0 count_requests
	assert_equal "$(jq length <<<"$output")" "$calls"
}

@test "AGENT_COUNT_TOKENS=0: no count_tokens request, the hold is today's estimate (the request's bytes at the dearest input rate)" {
	id=$(new_session designing)
	AGENT_COUNT_TOKENS=0 run -0 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.status, .holds.count_tokens, .holds.estimate]' <<<"$output")" '["ok",0,1]'
	run -0 count_requests
	assert_output '[]'
	IFS='|' read -r held billed < <(holds_vs_billed)
	[ "$held" -gt $((billed * 3)) ]
	assert_equal "$(sql "SELECT amount_micros FROM agent_budget_holds")" \
		"$(price claude-opus-4-5-20251101 "{\"cache_creation_input_tokens\":$held,\"output_tokens\":4096}")"
	AGENT_COUNT_TOKENS=yes run -5 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$stderr" "agent-invoke: AGENT_COUNT_TOKENS: not a whole number from 0 to 1: 'yes'"
}

# fallback FAULT: count_tokens fails once that way; the invocation still
# succeeds, held at the estimate, with the failure in the trace
fallback() {
	local jl="$BATS_TEST_TMPDIR/trace.jsonl"
	id=$(new_session designing)
	sim_fault "{\"route\":\"count_tokens\",\"count\":1,$1}"
	AGENT_TRACE_JSONL_PATH=$jl run -0 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.status, .calls, .holds.count_tokens, .holds.estimate]' <<<"$output")" '["ok",1,0,1]'
	IFS='|' read -r held billed < <(holds_vs_billed)
	[ "$held" -gt $((billed * 3)) ]
	assert_equal "$(sql "SELECT status FROM agent_invocations")" ok
	# one attempt at counting, never retried
	run -0 count_requests
	assert_equal "$(jq length <<<"$output")" 1
	assert_equal "$(jq -s -r 'map(select(.event == "budget.hold") | .metadata.basis) | join(" ")' "$jl")" estimate
	failed=$(jq -s -r 'map(select(.event == "count_tokens.failed") | .metadata.error) | join(" ")' "$jl")
	! grep -q SECRET "$jl"
}

@test "count_tokens answering 500: the estimate stands, the call goes on" {
	fallback '"status":500'
	assert_equal "$failed" "count_tokens: HTTP 500 api_error"
}

@test "count_tokens answering 429 (with retry-after): not retried, the estimate stands" {
	fallback '"status":429,"retry_after":5'
	assert_equal "$failed" "count_tokens: HTTP 429 rate_limit_error"
}

@test "count_tokens answering a malformed body: the estimate stands" {
	fallback '"malformed":true'
	assert_regex "$failed" "^count_tokens: malformed answer"
}

@test "count_tokens cutting its answer short: the estimate stands" {
	fallback '"truncated":true'
	assert_regex "$failed" "^count_tokens: "
}

@test "count_tokens dropping the connection: the estimate stands" {
	fallback '"drop":true'
	assert_regex "$failed" "^count_tokens: "
}

@test "count_tokens refusing the key (401): the estimate stands; the key is in no output" {
	fallback '"status":401'
	assert_equal "$failed" "count_tokens: HTTP 401 authentication_error"
	! grep -q SECRET <<<"$output"
}

@test "count_tokens hanging: given up after 2 s, the estimate stands, the call delayed by no more than that" {
	id=$(new_session designing)
	run -0 agent-invoke --kind design --session "$id"
	base=$(jq -r .duration_ms <<<"$output")
	id=$(new_session designing)
	sim_fault '{"route":"count_tokens","count":1,"hang":true}'
	run -0 --separate-stderr agent-invoke --kind design --session "$id"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.status, .holds.count_tokens, .holds.estimate]' <<<"$output")" '["ok",0,1]'
	ms=$(jq -r .duration_ms <<<"$output")
	count_ms=$(jq -r '.holds.count_ms | floor' <<<"$output")
	[ "$count_ms" -ge 1900 ] && [ "$count_ms" -le 2500 ] || fail "count_tokens took $count_ms ms"
	[ "$ms" -le $((base + 2500)) ] || fail "the call took $ms ms, $base ms without the hang"
	assert_equal "$(sql "SELECT status FROM agent_invocations ORDER BY id DESC LIMIT 1")" ok
}

@test "agent-sim: count_tokens equals the billed input of the same body, first call and cached ones; its shape is the API's" {
	local req='{"model":"claude-sonnet-4-5-20250929","max_tokens":64,"system":[{"type":"text","text":"'
	req+=$(head -c 6000 /dev/zero | tr '\0' 'a')
	req+='","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"hello","cache_control":{"type":"ephemeral"}}]}]}'
	for turn in 1 2; do
		body=$(curl -sS --max-time 5 -H "x-api-key: $ANTHROPIC_API_KEY" -H 'anthropic-version: 2026-10-21' \
			-H 'content-type: application/json' --data-binary "$req" "$SIM_URL/v1/messages")
		billed=$(jq '.usage | .input_tokens + .cache_creation_input_tokens + .cache_read_input_tokens' <<<"$body")
		counted=$(curl -sS --max-time 5 -H "x-api-key: $ANTHROPIC_API_KEY" -H 'anthropic-version: 2026-10-21' \
			-H 'content-type: application/json' --data-binary "$(jq -c 'del(.max_tokens)' <<<"$req")" \
			"$SIM_URL/v1/messages/count_tokens")
		assert_equal "$(jq -c 'keys' <<<"$counted")" '["input_tokens"]'
		assert_equal "$(jq .input_tokens <<<"$counted")" "$billed"
		# the next turn reads what this one wrote
		req=$(jq -c --argjson c "$(jq -c .content <<<"$body")" \
			'.messages[0].content[0] |= del(.cache_control) | .messages += [{role:"assistant",content:$c},
			 {role:"user",content:[{type:"text",text:"go on",cache_control:{type:"ephemeral"}}]}]' <<<"$req")
	done
	[ "$(jq '.usage.cache_read_input_tokens' <<<"$body")" -gt 0 ]
	# what count_tokens does not take is the Messages API's 400
	run -0 curl -sS --max-time 5 -w '\n%{http_code}' -H "x-api-key: $ANTHROPIC_API_KEY" -H 'anthropic-version: 2026-10-21' \
		-H 'content-type: application/json' --data-binary "$req" "$SIM_URL/v1/messages/count_tokens"
	assert_equal "${output##*$'\n'}" 400
	assert_equal "$(head -n 1 <<<"$output" | jq -c '[.type, .error.type, .error.message]')" \
		'["error","invalid_request_error","max_tokens: Extra inputs are not permitted"]'
	# speed is a count_tokens field (the API reference's parameters)
	run -0 curl -sS --max-time 5 -w '\n%{http_code}' -H "x-api-key: $ANTHROPIC_API_KEY" -H 'anthropic-version: 2026-10-21' \
		-H 'content-type: application/json' --data-binary "$(jq -c 'del(.max_tokens) | .speed = "standard"' <<<"$req")" \
		"$SIM_URL/v1/messages/count_tokens"
	assert_equal "${output##*$'\n'}" 200
	# a fault on the route answers in the same envelope
	sim_fault '{"route":"count_tokens","count":1,"status":529}'
	run -0 curl -sS --max-time 5 -w '\n%{http_code}' -H "x-api-key: $ANTHROPIC_API_KEY" -H 'anthropic-version: 2026-10-21' \
		-H 'content-type: application/json' --data-binary '{"model":"claude-opus-4-5","messages":[{"role":"user","content":"hi"}]}' \
		"$SIM_URL/v1/messages/count_tokens"
	assert_equal "${output##*$'\n'}" 529
	assert_equal "$(head -n 1 <<<"$output" | jq -c '[.type, .error.type, (.request_id | type)]')" '["error","overloaded_error","string"]'
}

@test "an assessment sent as a Message Batch is held by its count too" {
	sql "INSERT INTO agent_sessions (agent, phase, strategy_name, backtest_results, created_at, updated_at, assessing_at)
	     VALUES ('default', 'assessing', 's1', '{\"metrics\":{\"sharpe_ratio\":1.2,\"win_rate\":0.55,\"max_drawdown_pct\":0.2}}', 1, 1, 1)" >/dev/null
	id=$(sql "SELECT MAX(id) FROM agent_sessions")
	AGENT_ASSESS_BATCH=1 run -0 --separate-stderr agent-invoke --session "$id"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.status, .holds.count_tokens, .holds.estimate]' <<<"$output")" '["batch_submitted",1,0]'
	held=$(jq -r .holds.input_tokens <<<"$output")
	assert_equal "$(sql "SELECT tokens - 4096, note FROM agent_budget_holds")" "$held|assessment_batch"
	# held at the full price (the batch's half is what is settled)
	assert_equal "$(sql "SELECT amount_micros FROM agent_budget_holds")" \
		"$(price claude-haiku-4-5-20251001 "{\"input_tokens\":$held,\"output_tokens\":4096}")"
	run -0 count_requests
	assert_equal "$(jq length <<<"$output")" 1
}

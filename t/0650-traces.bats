#!/usr/bin/env bats
# Traces: a tick against agent-sim exported over OTLP/HTTP JSON to a receiver
# on loopback (t/helpers/otlp-receiver) and written as JSONL events; one
# trace per tick, the stages under agent-cycle's span, the GenAI spans under
# invoke_agent; no secret in any payload; and an export that fails or hangs
# costs at most its bound and one line on stderr.

load helpers/common
load helpers/sim

setup_file() { sim_start --speed 2000 --seed 7; }
teardown_file() { sim_stop; }

setup() {
	fresh_store
	sim_clear
	unset OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_TRACES_ENDPOINT OTEL_EXPORTER_OTLP_HEADERS
	unset OTEL_SERVICE_NAME OTEL_RESOURCE_ATTRIBUTES OTEL_SDK_DISABLED OTEL_EXPORTER_OTLP_PROTOCOL
	unset AGENT_TRACE_JSONL_PATH AGENT_OTLP_TIMEOUT_MS TRACEPARENT AGENT_AUTO_START AGENT_TOOLS_DIR
	export ANTHROPIC_API_KEY=sk-test-SECRET-4242 AGENT_STRATEGY_DIR="$BATS_TEST_TMPDIR/strategies"
	sim_share_strategies "$AGENT_STRATEGY_DIR"
	export AGENT_TIMEOUT_SECONDS=10
	RECV_PIDS=()
}

teardown() {
	local p
	for p in "${RECV_PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	drop_store
	return 0
}

# recv_start DIR [otlp-receiver options]: a receiver keeping its requests in
# DIR; OTEL_EXPORTER_OTLP_ENDPOINT points at it.  Waits up to 5 s.
recv_start() {
	local dir=$1 i
	shift
	mkdir -p "$dir"
	python3 "$BATS_TEST_DIRNAME/helpers/otlp-receiver" "$dir" --lifetime 60 "$@" 3>&- &
	RECV_PIDS+=($!)
	for i in $(seq 100); do
		[ -s "$dir/port" ] && break
		sleep 0.05
	done
	[ -s "$dir/port" ] || { echo "otlp-receiver did not start" >&2; return 1; }
	RECV=$dir
	export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$(cat "$dir/port")"
}

requests() { # the number of POSTs the receiver got
	find "$RECV" -name 'req-*.json' | wc -l
}

spans() { # every span the receiver got, as one array
	jq -c -s '[.[].resourceSpans[].scopeSpans[].spans[]]' "$RECV"/req-*.json
}

# jq definitions: a(k) is attribute k's value; one(name) the only span so named
JQ_DEFS='def a($k): first(.attributes[] | select(.key == $k) | .value
		| (.stringValue // .intValue // .doubleValue // .boolValue // .arrayValue));
	def named($n): [.[] | select(.name == $n)];'

ms() { date +%s%3N; }

closed_port() { # a loopback port nothing listens on
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

@test "a tick is one trace: the stages under agent-cycle's span, chat and execute_tool under invoke_agent" {
	recv_start "$BATS_TEST_TMPDIR/recv"
	export OTEL_SERVICE_NAME=agent-test
	export OTEL_RESOURCE_ATTRIBUTES='deployment.environment=test, team=a%2Cb'
	export OTEL_EXPORTER_OTLP_HEADERS='authorization=Bearer%20otlp-SECRET-77'
	# the model's own loop of three calls, on a model whose cache minimum
	# (1024) the prefix reaches: cache tokens to map onto the spans
	export AGENT_MODEL=claude-sonnet-4-5-20250929 AGENT_AUTO_TRAINING=0 AGENT_CLOSING_TURN=1
	run -0 --separate-stderr agent-cycle
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.event, .action, .invocation.calls > 0]' <<<"$output")" '["start_new_cycle","wait",true]'
	tp=$(jq -r .tick.traceparent <<<"$output")
	trace=${tp:3:32} root=${tp:36:16}
	# --version makes no span
	version=$(agent-db --version | awk '{print $3}')
	# one export per process of the pipeline, each valid OTLP/JSON
	assert_equal "$(requests)" 5
	for r in "$RECV"/req-*.json; do
		jq -e --arg v "$version" '
			(.resourceSpans | length == 1)
			and ([.resourceSpans[0].resource.attributes[] | {(.key): .value.stringValue}] | add
			     | .["service.name"] == "agent-test" and .["deployment.environment"] == "test"
			       and .team == "a,b")
			and (.resourceSpans[0].scopeSpans[0].scope == {name: "agent-toolkit", version: $v})' "$r" >/dev/null ||
			{ echo "bad payload $r: $(cat "$r")"; return 1; }
		grep -qx 'content-type: application/json' "${r%.json}.headers"
		grep -qx 'authorization: Bearer otlp-SECRET-77' "${r%.json}.headers"
		grep -qx 'path: /v1/traces' "${r%.json}.headers"
	done
	all=$(spans)
	# ids in hex, enums and int64s as OTLP/JSON wants them, one trace
	jq -e --arg t "$trace" 'length > 8 and all(.[];
		.traceId == $t and (.spanId | test("^[0-9a-f]{16}$"))
		and ((has("parentSpanId") | not) or (.parentSpanId | test("^[0-9a-f]{16}$")))
		and (.kind | type == "number") and (.status.code | type == "number")
		and (.startTimeUnixNano | test("^[0-9]{19}$")) and (.endTimeUnixNano | test("^[0-9]{19}$"))
		and .endTimeUnixNano >= .startTimeUnixNano
		and all(.attributes[]; .value | (has("intValue") | not) or (.intValue | type == "string")))' <<<"$all" >/dev/null ||
		{ echo "malformed spans: $all"; return 1; }
	# every stage exactly once, a child of the tick's root span
	for s in agent-trigger agent-gate agent-budget agent-invoke agent-metrics-agg; do
		assert_equal "$(jq -c --arg s "$s" "$JQ_DEFS named(\$s) | map([.parentSpanId, .kind, .status.code])" <<<"$all")" \
			"[[\"$root\",1,0]]"
	done
	# the tick is agent-cycle's span (exported by the last stage), begun
	# before every other span of the tick, under the phase it found: the
	# session's design phase, which ended in this tick (exported), under the
	# research cycle's root, which is exported when the session ends
	assert_equal "$(jq -c "$JQ_DEFS named(\"agent-cycle\")
		| map([.spanId, .kind, .status.code, a(\"agent.tick.id\")])" <<<"$all")" \
		"[[\"$root\",1,0,\"$(jq -r .tick.id <<<"$output")\"]]"
	assert_equal "$(jq -r "$JQ_DEFS"' (named("agent.phase.design")[0].spanId) as $p
		| named("agent-cycle")[0].parentSpanId == $p' <<<"$all")" true
	assert_equal "$(jq -c "$JQ_DEFS named(\"agent.phase.design\") | map([a(\"phase\"), a(\"agent.session.id\"),
		(.parentSpanId | length)])" <<<"$all")" "[[\"design\",\"$(sql "SELECT id FROM agent_sessions")\",16]]"
	# nothing else lacks its parent: only the design phase's (the root, to come)
	assert_equal "$(jq -r '[.[].spanId] as $ids | map(select(has("parentSpanId") and (.parentSpanId as $q | $ids | index($q) | not)) | .name) | join(" ")' <<<"$all")" \
		"agent.phase.design"
	assert_equal "$(sql "SELECT trace_id FROM agent_sessions")" "$trace"
	jq -e '(map(select(.name == "agent-cycle"))[0].startTimeUnixNano) as $t0
		| all(.[] | select(.name | startswith("agent.phase.") | not); .startTimeUnixNano >= $t0)' <<<"$all" >/dev/null
	sid=$(sql "SELECT id FROM agent_sessions")
	assert_equal "$(jq -c "$JQ_DEFS named(\"agent-trigger\")[0] | [a(\"agent.trigger.event\"), a(\"agent.trigger.action\"),
		a(\"agent.trigger.reason\"), a(\"agent.tick.id\")]" <<<"$all")" \
		"$(jq -c '[.event, "invoke", "no_active_session", .tick.id]' <<<"$output")"
	assert_equal "$(jq -c "$JQ_DEFS named(\"agent-budget\")[0] | [a(\"agent.budget.admitted\"), (a(\"agent.budget.remaining_usd\") | type)]" <<<"$all")" \
		'[true,"number"]'
	# invoke_agent under agent-invoke; every chat and execute_tool under invoke_agent
	inv=$(jq -r "$JQ_DEFS named(\"agent-invoke\")[0].spanId" <<<"$all")
	assert_equal "$(jq -c "$JQ_DEFS named(\"invoke_agent default\") | map([.parentSpanId, .kind,
		a(\"gen_ai.operation.name\"), a(\"gen_ai.agent.name\"), a(\"gen_ai.conversation.id\"),
		a(\"gen_ai.provider.name\"), a(\"agent.invocation.kind\")])" <<<"$all")" \
		"[[\"$inv\",1,\"invoke_agent\",\"default\",\"$sid\",\"anthropic\",\"design\"]]"
	ia=$(jq -r "$JQ_DEFS named(\"invoke_agent default\")[0].spanId" <<<"$all")
	chats=$(jq -c '[.[] | select(.name | startswith("chat "))]' <<<"$all")
	assert_equal "$(jq length <<<"$chats")" "$(sql "SELECT COUNT(*) FROM agent_invocations")"
	port=${SIM_URL##*:}
	jq -e --arg p "$ia" --arg port "$port" "$JQ_DEFS"' all(.[];
		.parentSpanId == $p and .kind == 3 and .status.code == 0
		and .name == "chat claude-sonnet-4-5-20250929"
		and a("gen_ai.operation.name") == "chat" and a("gen_ai.provider.name") == "anthropic"
		and a("gen_ai.request.model") == "claude-sonnet-4-5-20250929"
		and a("gen_ai.request.max_tokens") == "4096"
		and (a("gen_ai.response.id") | startswith("msg_"))
		and (a("gen_ai.response.model") | type == "string")
		and (a("gen_ai.response.finish_reasons").values | length == 1)
		and a("server.address") == "127.0.0.1" and a("server.port") == $port)' <<<"$chats" >/dev/null
	# the Anthropic rule: input tokens count the cache reads and writes, call by call
	assert_equal "$(jq -r "$JQ_DEFS"' map([a("gen_ai.usage.input_tokens"), a("gen_ai.usage.output_tokens"),
		a("gen_ai.usage.cache_read.input_tokens"), a("gen_ai.usage.cache_creation.input_tokens")] | join(" "))
		| sort | .[]' <<<"$chats")" \
		"$(sql "SELECT (input_tokens + cache_read_tokens + cache_write_tokens) || ' ' || output_tokens || ' ' ||
		        cache_read_tokens || ' ' || cache_write_tokens FROM agent_invocations" | sort)"
	[ "$(sql "SELECT SUM(cache_write_tokens + cache_read_tokens) FROM agent_invocations")" -gt 0 ]
	# one execute_tool per recorded tool call, under invoke_agent, with its tool_use id
	assert_equal "$(jq -r --arg p "$ia" "$JQ_DEFS"' [.[] | select(.name | startswith("execute_tool "))]
		| map(select(.parentSpanId == $p and .kind == 1 and a("gen_ai.operation.name") == "execute_tool"
		             and a("gen_ai.tool.type") == "function" and .name == "execute_tool " + a("gen_ai.tool.name"))
		      | a("gen_ai.tool.name") + " " + a("gen_ai.tool.call.id")) | sort | .[]' <<<"$all")" \
		"$(sql "SELECT tool_name || ' ' || tool_use_id FROM agent_actions" | sort)"
	# no key, no header value, no prompt, no tool argument in any payload;
	# the strategy's name only as the research cycle's strategy.name
	run ! grep -l -e sk-test-SECRET-4242 -e otlp-SECRET-77 -e 'You are an autonomous research agent' "$RECV"/req-*.json
	assert_equal "$(jq -r "$JQ_DEFS"' map(select(.attributes | map(.value.stringValue) | index($n))
		| .name + " " + (.attributes[] | select(.value.stringValue == $n) | .key)) | join(",")' \
		--arg n "$(sql "SELECT strategy_name FROM agent_sessions")" <<<"$all")" "agent.phase.design strategy.name"
}

@test "agent-cycle's span: under a caller's span when continuing its trace, in error when a stage fails" {
	export AGENT_TRACE_JSONL_PATH="$BATS_TEST_TMPDIR/trace.jsonl"
	local tp=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
	AGENT_AUTO_START=0 TRACEPARENT=$tp run -0 --separate-stderr agent-cycle
	assert_equal "$(jq -c -s 'map(select(.name == "agent-cycle")) | map([.trace_id, .parent_span_id, .status])' \
		"$AGENT_TRACE_JSONL_PATH")" '[["0af7651916cd43dd8448eb211c80319c","b7ad6b7169203331","unset"]]'
	assert_equal "$(jq -r -s 'map(select(.name == "agent-trigger"))[0].parent_span_id' "$AGENT_TRACE_JSONL_PATH")" \
		"$(jq -r '.tick.traceparent[36:52]' <<<"$output")"
	# a stage that fails: the span agent-metrics-agg --release ends is in error
	rm "$AGENT_TRACE_JSONL_PATH"
	ANTHROPIC_API_KEY= run -5 --separate-stderr agent-cycle
	# (the tick made a session: its span is under the session's design phase)
	assert_equal "$(jq -c -s 'map(select(.name == "agent-cycle"))
		| map([(.parent_span_id | length), .status, .attributes["agent.tick.failed_stage"], .attributes["error.type"]])' \
		"$AGENT_TRACE_JSONL_PATH")" '[[16,"error","agent-invoke","permanent_failure"]]'
	# and the tick is still one trace, the session's, every span under agent-cycle's
	assert_equal "$(jq -r -s 'map(.trace_id) | unique | .[]' "$AGENT_TRACE_JSONL_PATH")" \
		"$(sql "SELECT trace_id FROM agent_sessions")"
	assert_equal "$(jq -r -s '(map(select(.name == "agent-cycle"))[0].span_id) as $c
		| map(select(.event == "span" and .name != "agent-cycle" and .parent_span_id == $c)) | length > 0' "$AGENT_TRACE_JSONL_PATH")" true
}

@test "AGENT_TRACE_JSONL_PATH: one line per span, the same ids as the OTLP export" {
	recv_start "$BATS_TEST_TMPDIR/recv"
	export AGENT_TRACE_JSONL_PATH="$BATS_TEST_TMPDIR/trace.jsonl"
	run -0 --separate-stderr agent-cycle
	assert_equal "$stderr" ""
	tp=$(jq -r .tick.traceparent <<<"$output")
	jq -e -s 'map(select(.event == "span")) | length > 8 and all(.[]; .event == "span" and (.ts | test("^20[0-9-]{8}T[0-9:]{8}\\.[0-9]{3}Z$"))
		and (.start | test("^[0-9]{19}$")) and (.end | test("^[0-9]{19}$"))
		and (.duration_ms | type == "number") and (.kind == "internal" or .kind == "client")
		and (.status == "unset" or .status == "error") and (.attributes | type == "object"))' \
		"$AGENT_TRACE_JSONL_PATH" >/dev/null
	assert_equal "$(jq -c -s 'map(select(.event == "span") | [.trace_id, .span_id, .parent_span_id // "-", .name]) | sort' "$AGENT_TRACE_JSONL_PATH")" \
		"$(spans | jq -c 'map([.traceId, .spanId, .parentSpanId // "-", .name]) | sort')"
	assert_equal "$(jq -r -s 'map(.trace_id) | unique | .[]' "$AGENT_TRACE_JSONL_PATH")" "${tp:3:32}"
	# the JSONL attributes are plain values
	assert_equal "$(jq -c 'select(.name == "agent-trigger") | [.attributes["agent.trigger.event"], .parent_span_id]' \
		"$AGENT_TRACE_JSONL_PATH")" "[\"start_new_cycle\",\"${tp:36:16}\"]"
	# every chat line names its session, for agent-metrics-agg --events and for jq
	assert_equal "$(jq -s -c 'map(select(.event == "span" and (.name | startswith("chat "))) | .session_id) | unique' "$AGENT_TRACE_JSONL_PATH")" \
		"[$(sql "SELECT id FROM agent_sessions")]"
	assert_equal "$(jq -s 'map(select(.event == "span" and (.name | startswith("chat ")))) | map(.attributes["gen_ai.usage.input_tokens"]) | add' \
		"$AGENT_TRACE_JSONL_PATH")" \
		"$(sql "SELECT SUM(input_tokens + cache_read_tokens + cache_write_tokens) FROM agent_invocations")"
}

@test "tracing unset: no span, no file, libcurl never loaded, no time added" {
	export AGENT_AUTO_START=0
	for i in 1 2 3; do
		t0=$(ms)
		LD_DEBUG=files LD_DEBUG_OUTPUT="$BATS_TEST_TMPDIR/ld" run -0 --separate-stderr agent-cycle
		t1=$(ms)
		assert_equal "$stderr" ""
		assert_equal "$(jq -r .event <<<"$output")" idle
		# an idle tick takes milliseconds; any wait on a network would show
		[ $((t1 - t0)) -lt 1000 ]
	done
	# every process of the pipeline ran, and none of them loaded libcurl
	[ "$(grep -l 'agent-metrics-agg' "$BATS_TEST_TMPDIR"/ld.* | wc -l)" -ge 3 ]
	run ! grep -l 'libcurl' "$BATS_TEST_TMPDIR"/ld.*
	[ -z "$(find "$BATS_TEST_TMPDIR" -name '*.jsonl')" ]
	# the same tick with a JSONL path only: lines, still no libcurl
	rm -f "$BATS_TEST_TMPDIR"/ld.*
	AGENT_TRACE_JSONL_PATH="$BATS_TEST_TMPDIR/t.jsonl" LD_DEBUG=files LD_DEBUG_OUTPUT="$BATS_TEST_TMPDIR/ld" \
		run -0 agent-cycle
	assert_equal "$(grep -c '"event":"span"' "$BATS_TEST_TMPDIR/t.jsonl")" 6  # the five stages and agent-cycle's
	assert_equal "$(grep -v '"event":"span"' "$BATS_TEST_TMPDIR/t.jsonl" | jq -r .event)" trigger.decision
	run ! grep -l 'libcurl' "$BATS_TEST_TMPDIR"/ld.*
	# OTEL_SDK_DISABLED=true turns everything off
	OTEL_SDK_DISABLED=true AGENT_TRACE_JSONL_PATH="$BATS_TEST_TMPDIR/off.jsonl" run -0 agent-cycle
	[ ! -e "$BATS_TEST_TMPDIR/off.jsonl" ]
	# a collector on loopback over http is posted to on a plain socket:
	# still no libcurl (its load alone costs a process ~20x a stage's work)
	recv_start "$BATS_TEST_TMPDIR/recv"
	rm -f "$BATS_TEST_TMPDIR"/ld.*
	LD_DEBUG=files LD_DEBUG_OUTPUT="$BATS_TEST_TMPDIR/ld" run -0 --separate-stderr agent-cycle
	assert_equal "$stderr" ""
	assert_equal "$(requests)" 5
	run ! grep -l 'libcurl' "$BATS_TEST_TMPDIR"/ld.*
}

@test "an endpoint with credentials in it goes through libcurl: the same export and retries, the credentials never printed" {
	recv_start "$BATS_TEST_TMPDIR/recv" --fail 1 --status 502
	port=$(cat "$RECV/port")
	export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://otel:pw-SECRET-55@127.0.0.1:$port/v1/traces"
	LD_DEBUG=files LD_DEBUG_OUTPUT="$BATS_TEST_TMPDIR/ld" run -0 --separate-stderr agent-budget status
	assert_equal "$stderr" ""
	grep -l libcurl "$BATS_TEST_TMPDIR"/ld.* >/dev/null
	assert_equal "$(requests)" 2
	grep -qx "authorization: Basic $(printf otel:pw-SECRET-55 | base64)" "$RECV/req-2.headers"
	assert_equal "$(jq -c '[.resourceSpans[].scopeSpans[].spans[].name]' "$RECV/req-2.json")" '["agent-budget status"]'
	cmp "$RECV/req-1.json" "$RECV/req-2.json"
	# refused: one line, the path only
	export OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://otel:pw-SECRET-55@127.0.0.1:$(closed_port)/v1/traces"
	run -0 --separate-stderr agent-budget status
	assert_regex "$stderr" '^agent-budget: trace export: POST /v1/traces: .+$'
	run ! grep -e pw-SECRET-55 -e otel: <<<"$stderr"
}

@test "a command without spans of its own has one for the process, in error when it failed; --help has none" {
	recv_start "$BATS_TEST_TMPDIR/recv"
	export TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
	run -0 --separate-stderr agent-status --json
	run -5 --separate-stderr agent-history --json --db "$BATS_TEST_TMPDIR/no/such/dir/x.db"
	run -0 agent-status --help
	run -0 agent-status --version
	run -2 agent-status --no-such-option
	assert_equal "$(requests)" 2
	assert_equal "$(spans | jq -c 'sort_by(.name) | map([.name, .traceId, .parentSpanId, .status.code,
		(.attributes | map(select(.key == "error.type") | .value.stringValue) | join(""))])')" \
		'[["agent-history","0af7651916cd43dd8448eb211c80319c","b7ad6b7169203331",2,"permanent_failure"],["agent-status","0af7651916cd43dd8448eb211c80319c","b7ad6b7169203331",0,""]]'
}

@test "a closed port: every command still exits 0 within the bound, one line on stderr at most" {
	export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$(closed_port)"
	export OTEL_EXPORTER_OTLP_HEADERS='x-api-key=otlp-SECRET-77'
	t0=$(ms)
	run -0 --separate-stderr agent-budget status
	[ $(($(ms) - t0)) -lt 3000 ]
	assert_equal "$(jq -r .agent <<<"$output")" default
	assert_regex "$stderr" '^agent-budget: trace export: POST /v1/traces: .+$'
	assert_equal "$(grep -c . <<<"$stderr")" 1
	# a whole tick: said once, by its last stage; the tick is not held up
	t0=$(ms)
	run -0 --separate-stderr agent-cycle
	[ $(($(ms) - t0)) -lt 3000 ]
	assert_equal "$(jq -r .action <<<"$output")" wait
	assert_regex "$stderr" '^agent-metrics-agg: trace export: POST /v1/traces: .+$'
	assert_equal "$(grep -c . <<<"$stderr")" 1
	# a read-only view never says it
	run -0 --separate-stderr agent status --json
	assert_equal "$stderr" ""
	run ! grep -e otlp-SECRET-77 -e sk-test-SECRET-4242 <<<"$stderr"
}

@test "a collector that never answers: the export gives up at its bound, the pipeline is not held up" {
	recv_start "$BATS_TEST_TMPDIR/recv" --hang
	export AGENT_AUTO_START=0
	AGENT_OTLP_TIMEOUT_MS=500
	export AGENT_OTLP_TIMEOUT_MS
	t0=$(ms)
	run -0 --separate-stderr agent-db status
	t1=$(ms)
	[ $((t1 - t0)) -ge 450 ] && [ $((t1 - t0)) -lt 1500 ]
	assert_equal "$stderr" "agent-db: trace export: POST /v1/traces: no answer within the 500 ms bound"
	# the default bound (2 s): the five exports of a tick overlap, the next
	# stage is not kept waiting for the previous one's export
	unset AGENT_OTLP_TIMEOUT_MS
	t0=$(ms)
	run -0 --separate-stderr agent-cycle
	t1=$(ms)
	[ $((t1 - t0)) -ge 1900 ] && [ $((t1 - t0)) -lt 3000 ]
	assert_equal "$(jq -r .event <<<"$output")" idle
	# the five give up at the same moment; the last stage says it, in one whole line
	assert_equal "$stderr" "agent-metrics-agg: trace export: POST /v1/traces: no answer within the 2000 ms bound"
}

@test "retries: 503 and 429 again within the bound, 400 never; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is the whole URL" {
	recv_start "$BATS_TEST_TMPDIR/r503" --fail 2 --status 503
	run -0 --separate-stderr agent-db status
	assert_equal "$stderr" ""
	assert_equal "$(requests)" 3
	assert_equal "$(md5sum "$RECV"/req-*.json | cut -d' ' -f1 | sort -u | wc -l)" 1
	recv_start "$BATS_TEST_TMPDIR/r429" --fail 1 --status 429 --retry-after 0
	run -0 --separate-stderr agent-db status
	assert_equal "$stderr" ""
	assert_equal "$(requests)" 2
	# a Retry-After beyond the bound: given up at once, not waited for
	recv_start "$BATS_TEST_TMPDIR/rlong" --fail 1 --status 503 --retry-after 30
	t0=$(ms)
	run -0 --separate-stderr agent-db status
	[ $(($(ms) - t0)) -lt 1500 ]
	assert_equal "$stderr" "agent-db: trace export: POST /v1/traces: HTTP 503 after 1 attempt within the 2000 ms bound"
	recv_start "$BATS_TEST_TMPDIR/r400" --fail 5 --status 400
	run -0 --separate-stderr agent-db status
	assert_equal "$stderr" "agent-db: trace export: POST /v1/traces: HTTP 400"
	assert_equal "$(requests)" 1
	recv_start "$BATS_TEST_TMPDIR/full"
	OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://127.0.0.1:$(cat "$RECV/port")/custom/traces" \
		OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$(closed_port)" run -0 --separate-stderr agent-db status
	assert_equal "$stderr" ""
	grep -qx 'path: /custom/traces' "$RECV/req-1.headers"
	assert_equal "$(spans | jq -c 'map([.name, .kind, .status.code, has("parentSpanId")])')" '[["agent-db status",1,0,false]]'
}

@test "a failed API call is a chat span in error; an AGENT_TOOLS_DIR tool is an extension and gets its span as TRACEPARENT" {
	recv_start "$BATS_TEST_TMPDIR/recv"
	sql "INSERT INTO agent_sessions (agent, phase, created_at, updated_at, designing_at)
	     VALUES ('default', 'designing', 100, 100, 100)" >/dev/null
	sim_fault '{"route":"messages","status":529,"count":1}'
	run -0 --separate-stderr agent-invoke --kind design --session 1
	all=$(spans)
	assert_equal "$(jq -c "$JQ_DEFS"' [.[] | select(.name | startswith("chat "))][0]
		| [.status.code, a("error.type"), a("http.response.status_code")]' <<<"$all")" '[2,"overloaded_error","529"]'
	assert_equal "$(jq -c '[.[] | select(.name | startswith("chat ")) | .status.code][1:] | unique' <<<"$all")" '[0]'
	assert_equal "$(jq -c 'map(select(.name == "agent-invoke" or .name == "invoke_agent default") | .status.code)' <<<"$all")" '[0,0]'
	rm -f "$RECV"/req-*
	sim_clear
	tools="$BATS_TEST_TMPDIR/tools"
	mkdir -p "$tools"
	echo '{"name":"trace_probe","description":"probe","kinds":["design"],"input_schema":{"type":"object"}}' \
		>"$tools/trace_probe.json"
	printf '#!/bin/sh\nprintf "%%s" "$TRACEPARENT" >"%s/probe.tp"\necho "{\\"ok\\":true}"\n' "$BATS_TEST_TMPDIR" \
		>"$tools/trace_probe"
	chmod +x "$tools/trace_probe"
	sim_fault '{"route":"messages","count":1,"tool_use":{"name":"trace_probe","input":{"x":"arg-SECRET-99"}}}'
	AGENT_TOOLS_DIR="$tools" AGENT_MAX_ITERATIONS=1 run -0 --separate-stderr agent-invoke --kind design
	all=$(spans)
	probe=$(jq -c "$JQ_DEFS"' [.[] | select(.name == "execute_tool trace_probe")]
		| map({id: .spanId, trace: .traceId, type: a("gen_ai.tool.type"), code: .status.code})' <<<"$all")
	assert_equal "$(jq -c 'map([.type, .code])' <<<"$probe")" '[["extension",0]]'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/probe.tp")" "$(jq -r '.[0] | "00-\(.trace)-\(.id)-01"' <<<"$probe")"
	run ! grep -l -e arg-SECRET-99 -e sk-test-SECRET-4242 "$RECV"/req-*.json
}

# One trace per research cycle (seed 001's manual test: look for the
# agent.research_cycle trace).  The receiver keeps every export; the tree is
# rebuilt from them here: one root, its phases, every tick of the session
# under the phase it found, every span's parent in the trace.
@test "a research cycle is one trace across its ticks: agent.research_cycle, agent.phase.*, every tick beneath" {
	recv_start "$BATS_TEST_TMPDIR/recv"
	export AGENT_TRACE_JSONL_PATH="$BATS_TEST_TMPDIR/trace.jsonl"
	local n=0 start=$SECONDS sid trace all ticks url i
	# a simulator of its own, slower than the file's, so that the training
	# and the backtest each outlast a few ticks on any build (sanitizers too)
	"$AGENT_BIN/agent-sim" --listen 127.0.0.1:0 --speed 400 --seed 7 --strategies "$AGENT_STRATEGY_DIR" \
		>"$BATS_TEST_TMPDIR/sim2.out" 2>/dev/null 3>&- &
	RECV_PIDS+=($!)
	for i in $(seq 100); do [ -s "$BATS_TEST_TMPDIR/sim2.out" ] && break; sleep 0.05; done
	url=$(head -n 1 "$BATS_TEST_TMPDIR/sim2.out" | jq -r .url)
	export ANTHROPIC_BASE_URL=$url AGENT_BACKEND_URL=$url/api/v1
	# the session's ticks until it ends (bounded: 80 ticks, 60 s), then an idle one
	while [ -z "$(sql "SELECT outcome FROM agent_sessions WHERE outcome IS NOT NULL")" ] &&
		[ "$n" -lt 80 ] && [ $((SECONDS - start)) -lt 60 ]; do
		n=$((n + 1))
		run -0 --separate-stderr agent-cycle -q
		sleep 0.05
	done
	sid=$(sql "SELECT id FROM agent_sessions WHERE outcome IS NOT NULL")
	[ -n "$sid" ] || fail "no session ended in $n ticks"
	AGENT_AUTO_START=0 run -0 --separate-stderr agent-cycle -q
	trace=$(sql "SELECT trace_id FROM agent_sessions WHERE id = $sid")
	ticks=$(sql "SELECT COUNT(*) FROM agent_triggers WHERE session_id = $sid")
	[ "$ticks" -ge 5 ] || fail "the session had $ticks ticks; the test wants 5 or more"
	all=$(jq -c -s --arg t "$trace" '[.[].resourceSpans[].scopeSpans[].spans[] | select(.traceId == $t)]' "$RECV"/req-*.json)
	# one root, the research cycle, with the seeds' attributes
	assert_equal "$(jq -c "$JQ_DEFS"' [.[] | select(has("parentSpanId") | not)]
		| map([.name, a("outcome"), a("agent.session.id"), (a("tokens.input") | tonumber > 0),
		       (a("tokens.output") | tonumber > 0), (a("strategy.name") | type)])' <<<"$all")" \
		"[[\"agent.research_cycle\",\"$(sql "SELECT outcome FROM agent_sessions WHERE id = $sid")\",\"$sid\",true,true,\"string\"]]"
	root=$(jq -r '.[] | select(has("parentSpanId") | not) | .spanId' <<<"$all")
	# the tree is whole: every parent is a span of the trace
	assert_equal "$(jq -r '[.[].spanId] as $ids | [.[] | select(has("parentSpanId")) | select(.parentSpanId as $p | $ids | index($p) | not) | .name] | join(" ")' <<<"$all")" ""
	# the phases it went through, each once, under the root
	assert_equal "$(jq -r --arg r "$root" "$JQ_DEFS"' [.[] | select(.name | startswith("agent.phase."))]
		| map(select(.parentSpanId == $r) | "\(.name)=\(a("phase"))") | sort | join(" ")' <<<"$all")" \
		"$(sql "SELECT trim(CASE WHEN assessing_at IS NOT NULL THEN 'agent.phase.assessment=assessment ' ELSE '' END
		              || CASE WHEN backtesting_at IS NOT NULL THEN 'agent.phase.backtest=backtest ' ELSE '' END
		              || CASE WHEN designing_at IS NOT NULL THEN 'agent.phase.design=design ' ELSE '' END
		              || CASE WHEN training_at IS NOT NULL THEN 'agent.phase.training=training' ELSE '' END)
		         FROM agent_sessions WHERE id = $sid")"
	# the training phase carries the operation
	assert_equal "$(jq -r "$JQ_DEFS"' [.[] | select(.name == "agent.phase.training")][0] | a("operation.id")' <<<"$all")" \
		"$(sql "SELECT training_operation_id FROM agent_sessions WHERE id = $sid")"
	# every tick of the session is in it, under a phase span
	assert_equal "$(jq -r '[.[] | select(.name | startswith("agent.phase.")) | .spanId] as $ph
		| [.[] | select(.name == "agent-cycle") | select(.parentSpanId as $p | $ph | index($p))] | length' <<<"$all")" "$ticks"
	# the GenAI spans beneath: each model call and tool call of the session
	assert_equal "$(jq '[.[] | select(.name | startswith("chat "))] | length' <<<"$all")" \
		"$(sql "SELECT COUNT(*) FROM agent_invocations WHERE session_id = $sid")"
	[ "$(jq '[.[] | select(.name | startswith("invoke_agent "))] | length' <<<"$all")" -ge \
		"$(sql "SELECT COUNT(DISTINCT tick_id) FROM agent_invocations WHERE session_id = $sid")" ]
	# the root spans the session: from its creation to its end
	jq -e '(map(select(has("parentSpanId") | not))[0]) as $r
		| all(.[] | select(.name == "agent-cycle"); .startTimeUnixNano >= $r.startTimeUnixNano
		      and .endTimeUnixNano <= $r.endTimeUnixNano)' <<<"$all" >/dev/null ||
		fail "a tick outside its research cycle's span"
	# the idle tick after it is a short trace of its own
	assert_equal "$(jq -s --arg t "$trace" '[.[] | select(.event == "span" and .name == "agent-cycle" and .trace_id != $t)] | length' "$AGENT_TRACE_JSONL_PATH")" 1
	# the domain events beside the spans, in the event schema's shape
	local jl=$AGENT_TRACE_JSONL_PATH
	jq -e -s 'map(select(.event != "span")) | length > 10 and all(.[];
		(.ts | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")) and (.event | type == "string")
		and has("trace_id") and has("session_id") and has("turn_id") and (.metadata | type == "object"))' "$jl" >/dev/null ||
		fail "malformed domain events: $(grep -v '"event":"span"' "$jl" | head -n 3)"
	# the session's events are in the session's trace, each once where it should be
	assert_equal "$(jq -s -r --arg t "$trace" --argjson s "$sid" '[.[] | select(.session_id == $s and .event != "span")
		| select(.trace_id != $t)] | length' "$jl")" 0
	assert_equal "$(jq -s --argjson s "$sid" '[.[] | select(.event == "trigger.decision" and .session_id == $s)] | length' "$jl")" "$ticks"
	assert_equal "$(jq -s --argjson s "$sid" '[.[] | select(.event == "model.call" and .session_id == $s)] | length' "$jl")" \
		"$(sql "SELECT COUNT(*) FROM agent_invocations WHERE session_id = $sid")"
	assert_equal "$(jq -s --argjson s "$sid" '[.[] | select(.event == "budget.hold" and .session_id == $s)] | length' "$jl")" \
		"$(jq -s --argjson s "$sid" '[.[] | select(.event == "budget.settle" and .session_id == $s)] | length' "$jl")"
	assert_equal "$(jq -s -c --argjson s "$sid" '[.[] | select(.event == "session.end" and .session_id == $s) | .metadata
		| [.outcome, .detail, (.cost_usd > 0)]]' "$jl")" \
		"[[\"completed\",\"$(sql "SELECT outcome FROM agent_sessions WHERE id = $sid")\",true]]"
	assert_equal "$(jq -s -r --argjson s "$sid" '[.[] | select(.event == "phase.changed" and .session_id == $s)
		| .metadata | "\(.from)>\(.to)"] | join(" ")' "$jl")" \
		"designing>training training>backtesting backtesting>assessing assessing>idle"
	# a model turn's events share its turn id: "<tick>/<n>"
	jq -e -s 'map(select(.event == "model.call")) | all(.[]; .turn_id | test("^[0-9a-f]+/[0-9]+$"))' "$jl" >/dev/null
	# the toolkit eats its own format: --events over its JSONL gives the
	# store's tool calls, model turns and gate verdicts
	run -0 --separate-stderr agent-metrics-agg --events "$jl"
	assert_equal "$stderr" ""
	assert_equal "$(sed -n 's/^agent_tool_calls_total{agent="default",tool="\([^"]*\)",status="\([^"]*\)"} \([0-9]*\)$/\1 \2 \3/p' <<<"$output" | grep -v ' 0$' | sort)" \
		"$(sql "SELECT tool_name || ' ' || CASE WHEN success THEN 'ok' ELSE 'error' END || ' ' || COUNT(*) FROM agent_actions
		        GROUP BY tool_name, success" | sort)"
	assert_line "agent_turn_latency_seconds_count $(sql "SELECT COUNT(*) FROM agent_invocations")"
	assert_line "agent_guardrail_total{gate=\"training\",decision=\"pass\",reason=\"passed\"} 1"
	assert_line "agent_guardrail_total{gate=\"backtest\",decision=\"pass\",reason=\"passed\"} 1"
	assert_line 'agent_events_malformed_total 0'
}

@test "a failed tick that served a session: its agent-cycle span is in the session's trace, under its phase" {
	export AGENT_TRACE_JSONL_PATH="$BATS_TEST_TMPDIR/trace.jsonl"
	run -0 --separate-stderr agent-cycle -q
	local sid trace
	sid=$(sql "SELECT id FROM agent_sessions")
	trace=$(sql "SELECT trace_id FROM agent_sessions")
	[ "$(sql "SELECT phase FROM agent_sessions")" = training ] || skip "the design did not start training"
	sql "INSERT INTO agent_triggers (agent, tick_id, at, event, session_id)
	     VALUES ('default', 'failed-1', $(date +%s), 'training_running', $sid)" >/dev/null
	rm "$AGENT_TRACE_JSONL_PATH"
	# the tick's own trace (agent-cycle's TRACEPARENT) is another one
	TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 AGENT_TRACE_CYCLE="$(date +%s%N)" \
		run -0 --separate-stderr agent-metrics-agg --release failed-1 --status 4 --stage agent-trigger
	assert_equal "$(jq -c -s 'map(select(.event == "span")) | map([.name, .trace_id, .span_id, .status]) | sort' "$AGENT_TRACE_JSONL_PATH")" \
		"[[\"agent-cycle\",\"$trace\",\"b7ad6b7169203331\",\"error\"],[\"agent-metrics-agg\",\"$trace\",$(jq -s 'map(select(.name == "agent-metrics-agg"))[0].span_id' "$AGENT_TRACE_JSONL_PATH"),\"unset\"]]"
	# under the training phase's span: the one the session's next tick goes under too
	run -0 --separate-stderr agent-cycle -q
	assert_equal "$(jq -r -s 'map(select(.name == "agent-cycle") | .parent_span_id) | unique | length' "$AGENT_TRACE_JSONL_PATH")" 1
	assert_equal "$(jq -r -s 'map(select(.name == "agent-cycle") | .trace_id) | unique | .[]' "$AGENT_TRACE_JSONL_PATH")" "$trace"
}

@test "a session cancelled between ticks: agent cancel ends its phase span and its research cycle's root" {
	export AGENT_TRACE_JSONL_PATH="$BATS_TEST_TMPDIR/trace.jsonl"
	run -0 --separate-stderr agent-cycle -q
	[ "$(sql "SELECT phase FROM agent_sessions")" = training ] || skip "the design did not start training"
	local trace
	trace=$(sql "SELECT trace_id FROM agent_sessions")
	run -0 --separate-stderr agent cancel --json
	assert_equal "$(jq -c -s --arg t "$trace" 'map(select(.event == "span" and .trace_id == $t and (.name | startswith("agent.")))
		| [.name, .attributes.outcome // .attributes.phase]) | sort' "$AGENT_TRACE_JSONL_PATH")" \
		'[["agent.phase.design","design"],["agent.phase.training","training"],["agent.research_cycle","cancelled"]]'
	assert_equal "$(jq -c -s --arg t "$trace" 'map(select(.event == "session.end" and .trace_id == $t) | .metadata.outcome)' "$AGENT_TRACE_JSONL_PATH")" '["cancelled"]'
	# agent-control's own span is in the cycle, under its root
	assert_equal "$(jq -r -s --arg t "$trace" 'map(select(.event == "span" and .name == "agent-control cancel")) | map(.trace_id == $t and .parent_span_id != null) | .[]' "$AGENT_TRACE_JSONL_PATH")" true
}

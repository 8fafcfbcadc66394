#!/usr/bin/env bats
# agent-metrics-agg --events: counters and latency histograms from JSONL trace
# events, exact on a small fixed file; names matched loosely; fields at the
# top level; turn latency from start and end; the cardinality cap; malformed
# lines counted, or fatal with --strict; agreement with jq on a generated
# file.  No store is involved (it runs the same on both drivers).

load helpers/common

setup() {
	unset AGENT_METRICS_NAMESPACE AGENT_EVENTS_MAX_SERIES AGENT_MAX_DOC_BYTES
	cd "$BATS_TEST_TMPDIR" || return 1
}

# has_lines TEXT: every line of TEXT is a line of $output.
has_lines() {
	local line missing=
	while IFS= read -r line; do
		grep -qxF -- "$line" <<<"$output" || missing+="$line"$'\n'
	done <<<"$1"
	[ -z "$missing" ] || fail "missing from the exposition:"$'\n'"$missing"
}

# samples: the sample lines of $output that are not zero.
samples() { grep -v '^#' <<<"$output" | grep -v ' 0$'; }

fixed() {
	cat <<'EOF'
{"ts":"2026-11-24T03:20:00.000Z","event":"turn_start","trace_id":"a","session_id":"s1","turn_id":"t1","metadata":{"agent":"triage"}}
{"ts":"2026-11-24T03:20:00.010Z","event":"route","trace_id":"a","session_id":"s1","turn_id":"t1","metadata":{"agent":"triage","selected_agent":"billing","confidence":0.93,"latency_ms":4}}
{"ts":"2026-11-24T03:20:00.050Z","event":"tool_call","trace_id":"a","session_id":"s1","turn_id":"t1","metadata":{"agent":"billing","tool":"refund","status":"ok","latency_ms":20,"args":{"order":[1,2,{"x":null}]}}}
{"ts":"2026-11-24T03:20:00.400Z","event":"tool_call","trace_id":"a","session_id":"s1","turn_id":"t1","metadata":{"agent":"billing","tool":"refund","status":"error","latency_ms":300}}
{"ts":"2026-11-24T03:20:00.500Z","event":"Tool.Call","trace_id":"a","session_id":"s1","turn_id":"t1","agent":"billing","tool_name":"lookup","success":true,"duration_s":1.5}
{"ts":"2026-11-24T03:20:00.600Z","event":"handoff","trace_id":"a","session_id":"s1","turn_id":"t1","metadata":{"from_agent":"billing","to_agent":"refunds","reason":"escalation"}}
{"ts":"2026-11-24T03:20:00.700Z","event":"guardrail","trace_id":"a","session_id":"s1","turn_id":"t1","metadata":{"gate":"pii","decision":"block","reason":"email_address"}}
{"ts":"2026-11-24T03:20:00.710Z","event":"guardrail-check","trace_id":"a","session_id":"s1","turn_id":"t1","metadata":{"gate":"toxicity","passed":true}}
{"ts":"2026-11-24T03:20:00.800Z","event":"self_check","trace_id":"a","session_id":"s1","turn_id":"t1","metadata":{"agent":"refunds","decision":"retry","score":0.41}}
{"ts":"2026-11-24T03:20:02.000Z","event":"turn_end","trace_id":"a","session_id":"s1","turn_id":"t1","metadata":{"agent":"refunds"}}
{"ts":1795490403.5,"event":"turn_end","trace_id":"b","session_id":"s2","turn_id":9,"metadata":{"agent":"triage","duration_ms":7000}}

  {"ts":"2026-11-24T03:20:05Z","event":"custom_thing","metadata":null}
{"event":"route","metadata":{"selected_agent":"caf\u00e9 \"x\"\\y"}}
EOF
}

@test "events: exact counters and histograms of a small fixed file" {
	fixed >events.jsonl
	run -0 --separate-stderr agent-metrics-agg --events events.jsonl
	assert_equal "$stderr" ""
	assert_equal "$(samples)" 'agent_events_total{event="Tool.Call"} 1
agent_events_total{event="custom_thing"} 1
agent_events_total{event="guardrail"} 1
agent_events_total{event="guardrail-check"} 1
agent_events_total{event="handoff"} 1
agent_events_total{event="route"} 2
agent_events_total{event="self_check"} 1
agent_events_total{event="tool_call"} 2
agent_events_total{event="turn_end"} 2
agent_events_total{event="turn_start"} 1
agent_route_total{selected_agent="billing"} 1
agent_route_total{selected_agent="café \"x\"\\y"} 1
agent_handoff_total{from_agent="billing",to_agent="refunds"} 1
agent_tool_calls_total{agent="billing",tool="lookup",status="ok"} 1
agent_tool_calls_total{agent="billing",tool="refund",status="error"} 1
agent_tool_calls_total{agent="billing",tool="refund",status="ok"} 1
agent_tool_latency_seconds_bucket{agent="billing",tool="lookup",le="2.5"} 1
agent_tool_latency_seconds_bucket{agent="billing",tool="lookup",le="5"} 1
agent_tool_latency_seconds_bucket{agent="billing",tool="lookup",le="10"} 1
agent_tool_latency_seconds_bucket{agent="billing",tool="lookup",le="+Inf"} 1
agent_tool_latency_seconds_sum{agent="billing",tool="lookup"} 1.5
agent_tool_latency_seconds_count{agent="billing",tool="lookup"} 1
agent_tool_latency_seconds_bucket{agent="billing",tool="refund",le="0.025"} 1
agent_tool_latency_seconds_bucket{agent="billing",tool="refund",le="0.05"} 1
agent_tool_latency_seconds_bucket{agent="billing",tool="refund",le="0.1"} 1
agent_tool_latency_seconds_bucket{agent="billing",tool="refund",le="0.25"} 1
agent_tool_latency_seconds_bucket{agent="billing",tool="refund",le="0.5"} 2
agent_tool_latency_seconds_bucket{agent="billing",tool="refund",le="1"} 2
agent_tool_latency_seconds_bucket{agent="billing",tool="refund",le="2.5"} 2
agent_tool_latency_seconds_bucket{agent="billing",tool="refund",le="5"} 2
agent_tool_latency_seconds_bucket{agent="billing",tool="refund",le="10"} 2
agent_tool_latency_seconds_bucket{agent="billing",tool="refund",le="+Inf"} 2
agent_tool_latency_seconds_sum{agent="billing",tool="refund"} 0.32
agent_tool_latency_seconds_count{agent="billing",tool="refund"} 2
agent_guardrail_total{gate="pii",decision="block",reason="email_address"} 1
agent_guardrail_total{gate="toxicity",decision="pass",reason="none"} 1
agent_selfrag_decision_total{decision="retry",reason="none"} 1
agent_turn_latency_seconds_bucket{le="2.5"} 1
agent_turn_latency_seconds_bucket{le="5"} 1
agent_turn_latency_seconds_bucket{le="10"} 2
agent_turn_latency_seconds_bucket{le="30"} 2
agent_turn_latency_seconds_bucket{le="60"} 2
agent_turn_latency_seconds_bucket{le="120"} 2
agent_turn_latency_seconds_bucket{le="+Inf"} 2
agent_turn_latency_seconds_sum 9
agent_turn_latency_seconds_count 2'
	has_lines 'agent_turn_latency_seconds_bucket{le="1"} 0
agent_events_malformed_total 0
agent_events_folded_total{metric="agent_route_total"} 0'
	# every family, HELP before TYPE, promtool clean; the same from stdin
	assert_equal "$(grep -c '^# HELP' <<<"$output")" 10
	run -0 --separate-stderr bash -c 'agent-metrics-agg --events events.jsonl | promtool check metrics'
	assert_equal "$output$stderr" ""
	run -0 --separate-stderr agent-metrics-agg --events - <events.jsonl
	assert_equal "$output" "$(agent-metrics-agg --events events.jsonl)"
	# CRLF line ends and a last line without its newline change nothing
	sed 's/$/\r/' events.jsonl | head -c -2 >crlf.jsonl
	run -0 --separate-stderr agent-metrics-agg --events crlf.jsonl
	assert_equal "$output" "$(agent-metrics-agg --events events.jsonl)"
}

@test "events: AGENT_METRICS_NAMESPACE or --namespace prefixes the families; agent adds nothing" {
	fixed >events.jsonl
	AGENT_METRICS_NAMESPACE=app run -0 --separate-stderr agent-metrics-agg --events events.jsonl
	assert_line 'app_agent_handoff_total{from_agent="billing",to_agent="refunds"} 1'
	assert_line 'app_agent_events_malformed_total 0'
	assert_line 'app_agent_events_folded_total{metric="app_agent_route_total"} 0'
	run -1 grep '^agent_' <<<"$output"
	run -0 --separate-stderr agent-metrics-agg --events events.jsonl --namespace app
	assert_equal "$output" "$(AGENT_METRICS_NAMESPACE=app agent-metrics-agg --events events.jsonl)"
	# the default namespace is no prefix: agent_route_total, not agent_agent_route_total
	AGENT_METRICS_NAMESPACE=agent run -0 agent-metrics-agg --events events.jsonl
	assert_equal "$output" "$(agent-metrics-agg --events events.jsonl)"
	run -2 --separate-stderr agent-metrics-agg --events events.jsonl --namespace 'bad-ns'
	assert_equal "${stderr%%$'\n'*}" "agent-metrics-agg: --namespace: not a metric name prefix: 'bad-ns'"
}

@test "events: the cardinality cap folds new label sets into _other" {
	for a in a b c d c e; do
		printf '{"event":"route","metadata":{"selected_agent":"%s"}}\n' "$a"
	done >routes.jsonl
	AGENT_EVENTS_MAX_SERIES=2 run -0 --separate-stderr agent-metrics-agg --events routes.jsonl
	assert_equal "$stderr" 'agent-metrics-agg: routes.jsonl: 4 events counted under "_other" label values: a metric reached 2 label sets (AGENT_EVENTS_MAX_SERIES)'
	assert_equal "$(grep '^agent_route_total' <<<"$output")" 'agent_route_total{selected_agent="_other"} 4
agent_route_total{selected_agent="a"} 1
agent_route_total{selected_agent="b"} 1'
	assert_line 'agent_events_folded_total{metric="agent_route_total"} 4'
	assert_line 'agent_events_total{event="route"} 6'
	# a label set already kept is still counted as itself
	{ cat routes.jsonl; echo '{"event":"route","metadata":{"selected_agent":"a"}}'; } >more.jsonl
	AGENT_EVENTS_MAX_SERIES=2 run -0 agent-metrics-agg --events more.jsonl
	assert_line 'agent_route_total{selected_agent="a"} 2'
	AGENT_EVENTS_MAX_SERIES=0 run -5 --separate-stderr agent-metrics-agg --events routes.jsonl
	assert_equal "$stderr" "agent-metrics-agg: AGENT_EVENTS_MAX_SERIES: not a whole number from 1 to 10000000: '0'"
	assert_equal "$output" ""
}

@test "events: malformed lines are counted and skipped, with one line on stderr" {
	{
		echo '{"event":"route","metadata":{"selected_agent":"a"}}'
		echo 'not json'
		echo '{"event":1}'
		echo '[1,2]'
		echo '{"event":"route"} {"x":1}'
		echo '{"event":"route","metadata":"x"}'
		echo '{"event":"route","metadata":{"selected_agent":"a"}'
		echo '{"event":"route","x":"bad \q escape"}'
		printf '{"event":"route","x":"%s"}\n' "$(printf 'a\tb')"
		printf '%0.s[' $(seq 300); echo
		echo '{"event":"route","metadata":{"selected_agent":"b"}}'
	} >bad.jsonl
	run -0 --separate-stderr agent-metrics-agg --events bad.jsonl
	assert_equal "$stderr" "agent-metrics-agg: bad.jsonl: 9 malformed lines skipped (the first, line 2: not a JSON object)"
	assert_line 'agent_events_malformed_total 9'
	assert_line 'agent_events_total{event="route"} 2'
	assert_line 'agent_route_total{selected_agent="b"} 1'
	run -0 --separate-stderr agent-metrics-agg -q --events bad.jsonl
	assert_equal "$stderr" ""
	# --strict: the first one is an error, and nothing is written
	run -3 --separate-stderr agent-metrics-agg --events bad.jsonl --strict
	assert_equal "$output" ""
	assert_equal "$stderr" "agent-metrics-agg: bad.jsonl: line 2: not a JSON object"
	tail -n +3 bad.jsonl | head -n 1 >one.jsonl
	run -3 --separate-stderr agent-metrics-agg --strict --events - <one.jsonl
	assert_equal "$stderr" "agent-metrics-agg: stdin: line 1: no \"event\" string"
	# a line longer than AGENT_MAX_DOC_BYTES
	printf '{"event":"route","pad":"%s"}\n{"event":"route"}\n' "$(head -c 3000 /dev/zero | tr '\0' x)" >long.jsonl
	AGENT_MAX_DOC_BYTES=1000 run -0 --separate-stderr agent-metrics-agg --events long.jsonl
	assert_line 'agent_events_malformed_total 1'
	assert_line 'agent_events_total{event="route"} 1'
	assert_equal "$stderr" "agent-metrics-agg: long.jsonl: 1 malformed lines skipped (the first, line 1: line too long)"
	run -5 --separate-stderr agent-metrics-agg --events no-such-file
	assert_equal "$stderr" "agent-metrics-agg: cannot read 'no-such-file': No such file or directory"
}

@test "events: the same counts as jq on 20000 generated events" {
	awk -v n=20000 -f "$ROOT/bench/events-gen.awk" >gen.jsonl
	run -0 --separate-stderr agent-metrics-agg --events gen.jsonl
	assert_equal "$stderr" ""
	jq -n -f "$ROOT/bench/events.jq" gen.jsonl >jq.json
	local want got
	want=$(jq -r '.routes | to_entries | sort_by(.key) | map("\(.key) \(.value)") | .[]' jq.json)
	got=$(sed -n 's/^agent_route_total{selected_agent="\(.*\)"} \(.*\)/\1 \2/p' <<<"$output")
	assert_equal "$got" "$want"
	want=$(jq -r '.tools | to_entries | map((.key | split("\u001f")) as $k
		| "\($k[0]) \($k[2]) \($k[1]) \(.value)") | sort | .[]' jq.json)
	got=$(sed -n 's/^agent_tool_calls_total{agent="\(.*\)",tool="\(.*\)",status="\(.*\)"} \(.*\)/\1 \3 \2 \4/p' <<<"$output" | LC_ALL=C sort)
	assert_equal "$got" "$want"
	assert_equal "$(grep -c '^agent_tool_calls_total' <<<"$output")" 72
	want=$(jq -r '.tool_latency | to_entries | map(.value.count) | add' jq.json)
	got=$(grep '^agent_tool_latency_seconds_count' <<<"$output" | awk '{s += $2} END {print s}')
	assert_equal "$got" "$want"
	want=$(jq -r '.turn_latency | to_entries | map(.value.count) | add' jq.json)
	got=$(grep '^agent_turn_latency_seconds_count' <<<"$output" | awk '{s += $2} END {print s}')
	assert_equal "$got" "$want"
	assert_equal "$(jq -r '[.guardrails[]] | add' jq.json)" \
		"$(grep '^agent_guardrail_total' <<<"$output" | awk '{s += $2} END {print s}')"
	run -0 --separate-stderr bash -c 'agent-metrics-agg --events gen.jsonl | promtool check metrics'
	assert_equal "$output$stderr" ""
}

# The multi-agent event schema of the seeds (seed 003): its event names, its
# families and labels, its namespace rule; its own test's line, exactly.
@test "events: seed 003's events give its families, labels and names" {
	cat >seed.jsonl <<'JSON'
{"ts":"2026-11-24T03:20:00.000Z","event":"turn.start","trace_id":"t1","session_id":"s1","turn_id":"u1","metadata":{}}
{"ts":"2026-11-24T03:20:00.100Z","event":"route.selected","trace_id":"t1","session_id":"s1","turn_id":"u1","metadata":{"selected_agent":"monitor","confidence":0.9}}
{"ts":"2026-11-24T03:20:00.200Z","event":"handoff","trace_id":"t1","session_id":"s1","turn_id":"u1","metadata":{"from_agent":"router","to_agent":"monitor"}}
{"ts":"2026-11-24T03:20:00.300Z","event":"tool.call","trace_id":"t1","session_id":"s1","turn_id":"u1","metadata":{"agent":"monitor","tool":"search_logs","status":"success","latency_ms":120}}
{"ts":"2026-11-24T03:20:00.400Z","event":"guardrail.decision","trace_id":"t1","session_id":"s1","turn_id":"u1","metadata":{"gate":"pii","decision":"deny","reason":"contains_secret"}}
{"ts":"2026-11-24T03:20:00.500Z","event":"selfrag.decision","trace_id":"t1","session_id":"s1","turn_id":"u1","metadata":{"decision":"escalate","reason":"low_confidence"}}
{"ts":"2026-11-24T03:20:01.500Z","event":"turn.end","trace_id":"t1","session_id":"s1","turn_id":"u1","metadata":{}}
JSON
	run -0 --separate-stderr agent-metrics-agg --events seed.jsonl --namespace security_agent
	assert_equal "$stderr" ""
	assert_line 'security_agent_agent_route_total{selected_agent="monitor"} 1'
	assert_line 'security_agent_agent_handoff_total{from_agent="router",to_agent="monitor"} 1'
	assert_line 'security_agent_agent_tool_calls_total{agent="monitor",tool="search_logs",status="success"} 1'
	assert_line 'security_agent_agent_tool_latency_seconds_bucket{agent="monitor",tool="search_logs",le="0.25"} 1'
	assert_line 'security_agent_agent_guardrail_total{gate="pii",decision="deny",reason="contains_secret"} 1'
	assert_line 'security_agent_agent_selfrag_decision_total{decision="escalate",reason="low_confidence"} 1'
	assert_line 'security_agent_agent_turn_latency_seconds_count 1'
	assert_line 'security_agent_agent_turn_latency_seconds_sum 1.5'
	# the families, in order, and nothing else
	assert_equal "$(sed -n 's/^# TYPE \([^ ]*\) \(.*\)/\1 \2/p' <<<"$output" | tr '\n' ' ')" "security_agent_agent_events_total counter security_agent_agent_route_total counter security_agent_agent_handoff_total counter security_agent_agent_tool_calls_total counter security_agent_agent_tool_latency_seconds histogram security_agent_agent_guardrail_total counter security_agent_agent_selfrag_decision_total counter security_agent_agent_turn_latency_seconds histogram security_agent_agent_events_malformed_total counter security_agent_agent_events_folded_total counter "
	run -0 agent-metrics-agg --events seed.jsonl
	assert_line 'agent_route_total{selected_agent="monitor"} 1'
}

@test "events: hostile input: wrong types, 10000 label values, a 1 MB line, invalid UTF-8 — counted, folded, never a crash" {
	{
		# metadata of the wrong types: numbers and objects where strings go
		echo '{"event":"route.selected","metadata":{"selected_agent":7}}'
		echo '{"event":"tool.call","metadata":{"agent":{"x":1},"tool":["a"],"status":false,"latency_ms":"fast"}}'
		echo '{"event":"guardrail.decision","metadata":{"gate":null,"decision":true}}'
		echo '{"event":"selfrag.decision"}'
		# invalid UTF-8 in a label value, and in an event name: U+FFFD each
		printf '{"event":"route.selected","metadata":{"selected_agent":"a\xff\xfeb"}}\n'
		printf '{"event":"r\xc3\x28","metadata":{}}\n'
		# truncated
		echo '{"event":"route.selected","metadata":{"selected_agent":'
		# a 1 MB line
		printf '{"event":"route.selected","metadata":{"selected_agent":"big"},"pad":"%s"}\n' "$(head -c 1048576 /dev/zero | tr '\0' x)"
		# 10000 distinct label values
		seq 10000 | awk '{printf "{\"event\":\"route.selected\",\"metadata\":{\"selected_agent\":\"agent-%d\"}}\n", $1}'
	} >hostile.jsonl
	run -0 --separate-stderr agent-metrics-agg --events hostile.jsonl
	# folded, and said so; the malformed lines said too
	assert_line --partial 'agent_route_total{selected_agent="_other"} '
	assert_line 'agent_events_folded_total{metric="agent_route_total"} 9003'
	[[ "$stderr" == *'events counted under "_other" label values: a metric reached 1000 label sets (AGENT_EVENTS_MAX_SERIES)'* ]] || fail "$stderr"
	assert_equal "$(grep -c '^agent_route_total' <<<"$output")" 1001
	assert_line 'agent_events_malformed_total 1'
	assert_line 'agent_selfrag_decision_total{decision="unknown",reason="none"} 1'
	assert_line $'agent_route_total{selected_agent="a\xef\xbf\xbd\xef\xbf\xbdb"} 1'
	assert_line $'agent_events_total{event="r\xef\xbf\xbd("} 1'
	run -0 --separate-stderr bash -c 'agent-metrics-agg --events hostile.jsonl 2>/dev/null | promtool check metrics'
	assert_equal "$output$stderr" ""
	# --strict: exit 3 at the first bad line, nothing on stdout
	run -3 --separate-stderr agent-metrics-agg --strict --events hostile.jsonl
	assert_equal "$output" ""
	assert_equal "$stderr" "agent-metrics-agg: hostile.jsonl: line 7: truncated JSON"
}

#!/usr/bin/env bats
# The whole loop into a real Prometheus: cycles on agent-sim (loopback) push
# to a real Pushgateway after each tick, agent-metrics-agg --serve is
# scraped as well, Prometheus (scrape interval 1 s, the alert rules loaded)
# scrapes both, and then every query of every panel of the Grafana
# dashboard, run through Prometheus's HTTP API, returns data.  Everything
# on 127.0.0.1; every wait bounded; every server stopped in teardown.

load helpers/common
load helpers/sim
load helpers/prom

setup() {
	fresh_store
	unset AGENT_NOW AGENT_AUTO_START AGENT_MAX_RESUMES AGENT_LEASE_SECONDS TRACEPARENT
	unset AGENT_METRICS_NAMESPACE AGENT_METRICS_TEXTFILE AGENT_PUSHGATEWAY_URL PROMETHEUS_PUSHGATEWAY_URL
	PGW_PID= SERVE_PID= SERVE2_PID= PROM_PID= SIM_PID=
}
teardown() {
	stop_pid "$PROM_PID"
	stop_pid "$SERVE2_PID"
	stop_pid "$SERVE_PID"
	stop_pid "$PGW_PID"
	sim_stop
	drop_store
}

# prom_query EXPR: the API's answer to an instant query.
prom_query() {
	curl -sf --max-time 10 --data-urlencode "query=$1" "$PROM_URL/api/v1/query"
}

# prometheus_start: Prometheus on 127.0.0.1 scraping the Pushgateway (honor
# labels) and agent-metrics-agg --serve every second, with the alert rules.
prometheus_start() {
	local i p dir=$BATS_TEST_TMPDIR/prometheus
	mkdir -p "$dir"
	cat >"$dir/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $ROOT/share/alerts/agent.rules.yml
  - $ROOT/share/alerts/events.rules.yml
scrape_configs:
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets: ['${PGW_URL#http://}']
  - job_name: agent-serve
    static_configs:
      - targets: ['$(sed 's|^http://||; s|/metrics$||' <<<"$SERVE_URL")']
  - job_name: agent-serve-lab
    static_configs:
      - targets: ['$(sed 's|^http://||; s|/metrics$||' <<<"$SERVE2_URL")']
EOF
	promtool check config "$dir/prometheus.yml" >/dev/null || return 1
	for i in 1 2 3; do
		p=$(free_port) || return 1
		prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
			--web.listen-address="127.0.0.1:$p" --log.level=warn >"$dir/log" 2>&1 3>&- &
		PROM_PID=$!
		PROM_URL="http://127.0.0.1:$p"
		wait_http "$PROM_URL/-/ready" 20 2>/dev/null && return 0
		stop_pid "$PROM_PID"
	done
	echo "Prometheus did not start: $(tail -n 5 "$dir/log")" >&2
	return 1
}

@test "cycles on agent-sim, pushed and served, scraped by Prometheus: every dashboard query returns data" {
	local start=$SECONDS n=0 ended=0 out=$BATS_TEST_TMPDIR/ticks
	sim_start --speed 2000 --seed 11
	pushgateway_start
	export AGENT_PUSHGATEWAY_URL=$PGW_URL
	export ANTHROPIC_API_KEY=sk-test-prometheus-0001 AGENT_STRATEGY_DIR="$BATS_TEST_TMPDIR/strategies"
	sim_share_strategies "$AGENT_STRATEGY_DIR"
	export AGENT_TIMEOUT_SECONDS=10
	# the same store served under another namespace: the dashboard's
	# namespace variable must make every panel work for it too
	AGENT_METRICS_NAMESPACE=lab serve_start
	SERVE2_URL=$SERVE_URL SERVE2_PID=$SERVE_PID
	serve_start
	prometheus_start
	# ticks until three research sessions have ended (bounded: 150 ticks, 60 s)
	while [ "$ended" -lt 3 ] && [ "$n" -lt 150 ] && [ $((SECONDS - start)) -lt 60 ]; do
		n=$((n + 1))
		agent-cycle -q >>"$out" 2>>"$out.err" || fail "tick $n failed: $(tail -n 3 "$out.err")"
		ended=$(sql "SELECT count(*) FROM agent_sessions WHERE outcome IS NOT NULL")
		sleep 0.05
	done
	[ "$ended" -ge 3 ] || fail "$ended sessions ended in $n ticks"
	assert_equal "$(cat "$out.err")" ""
	# a tick more, so that every counter has moved within the last seconds
	agent-cycle -q >/dev/null
	# Prometheus has both targets up and a few samples of each (bounded: 20 s)
	local i ok=0
	for i in $(seq 80); do
		if [ "$(prom_query 'count(count_over_time(agent_triggers_total[1m]) >= 3)' | jq -r '.data.result[0].value[1] // 0')" -ge 2 ] &&
			[ "$(prom_query 'sum(up)' | jq -r '.data.result[0].value[1] // 0')" = 3 ] &&
			[ "$(prom_query 'count(count_over_time(lab_triggers_total[1m]) >= 3)' | jq -r '.data.result[0].value[1] // 0')" -ge 1 ]; then
			ok=1
			break
		fi
		sleep 0.25
	done
	[ "$ok" = 1 ] || fail "Prometheus did not scrape both targets: $(curl -sf "$PROM_URL/api/v1/targets" | jq -c '[.data.activeTargets[] | {job: .labels.job, health, lastError}]')"
	# the pushed and the served metrics agree on what happened
	run -0 prom_query 'sum by (job) (agent_triggers_total{agent="default"})'
	assert_equal "$(jq -r '[.data.result[].metric.job] | sort | join(" ")' <<<"$output")" "agent agent-serve"
	# the alert rules are loaded and evaluated
	run -0 curl -sf --max-time 5 "$PROM_URL/api/v1/rules"
	assert_equal "$(jq -r '[.data.groups[].rules[] | .health] | unique | join(" ")' <<<"$output")" ok
	assert_equal "$(jq '[.data.groups[].rules[]] | length' <<<"$output")" 19
	# every panel's every query, as Grafana would send it
	local expr agent ns bad= count=0
	for ns in agent lab; do
	for agent in '.*' default; do
		while IFS= read -r expr; do
			count=$((count + 1))
			expr=${expr//\$\{namespace\}/$ns}
			expr=${expr//\$agent/$agent}
			expr=${expr//\$__rate_interval/1m}
			expr=${expr//\$__range/1h}
			run prom_query "$expr"
			if [ "$status" != 0 ] || [ "$(jq -r .status <<<"$output")" != success ]; then
				bad+="error: $expr: $output"$'\n'
			elif [ "$(jq '.data.result | length' <<<"$output")" = 0 ]; then
				bad+="no data: $expr"$'\n'
			fi
		done < <(jq -r '.panels[] | select(.type != "row") | .targets[].expr' "$ROOT/share/grafana/agent.json")
	done
	done
	[ "$count" -ge 120 ] || fail "only $count queries in the dashboard"
	[ -z "$bad" ] || fail "$bad"
	# the research platform's own dashboard, unedited: every query has data,
	# and the stat panels say what the store says
	local title want completed failed total spent
	count=0
	while IFS=$'\t' read -r title expr; do
		count=$((count + 1))
		run prom_query "$expr"
		if [ "$status" != 0 ] || [ "$(jq -r .status <<<"$output")" != success ]; then
			bad+="error: $title: $expr: $output"$'\n'
		elif [ "$(jq '.data.result | length' <<<"$output")" = 0 ]; then
			bad+="no data: $title: $expr"$'\n'
		fi
	done < <(grep -v '^#' "$ROOT/t/data/ktrdr/grafana/agent-research.queries")
	[ "$count" = 15 ] || fail "$count queries of the platform's dashboard"
	[ -z "$bad" ] || fail "$bad"
	# one job's view of the counters (the pushed and the served are the same)
	ktrdr_value() { prom_query "$1" | jq -r '.data.result[0].value[1]'; }
	completed=$(sql "SELECT count(*) FROM agent_sessions WHERE outcome = 'success'")
	failed=$(sql "SELECT count(*) FROM agent_sessions WHERE outcome LIKE 'failed%'")
	total=$(sql "SELECT count(*) FROM agent_sessions WHERE outcome IS NOT NULL")
	assert_equal "$(ktrdr_value 'sum(agent_cycles_total{job="agent-serve"})')" "$total"
	assert_equal "$(ktrdr_value 'sum(agent_cycles_total{job="agent-serve",outcome="completed"}) or vector(0)')" "$completed"
	assert_equal "$(ktrdr_value 'sum(agent_cycles_total{job="agent-serve",outcome="failed"}) or vector(0)')" "$failed"
	spent=$(sql "SELECT sum(cost_micros) FROM agent_invocations")
	want=$(ktrdr_value 'sum(agent_budget_spend_total{job="agent-serve"}) * 1000000')
	assert_equal "$(printf '%.0f' "$want")" "$spent"
	# tokens by phase: the invocation kinds the platform names
	run -0 prom_query 'sum by (phase) (agent_tokens_total{job="agent-serve"}) > 0'
	assert_equal "$(jq -r '[.data.result[].metric.phase] | sort | join(" ")' <<<"$output")" "assessment design"
}

# agent_tool_calls_total is rendered by the store (the cycle's tool calls)
# and by --events (any application's, the toolkit's own JSONL included):
# two processes' outputs, delivered as two groups of one Pushgateway, which
# takes both (one type, one help) and serves no series twice.
@test "the store's and the events' agent_tool_calls_total: two Pushgateway groups, one family, no duplicate series" {
	sql "INSERT INTO agent_actions (agent, session_id, tool_name, success, error, duration_ms, created_at)
	     VALUES ('default', NULL, 'start_training', true, NULL, 20, 1000),
	            ('default', NULL, 'start_training', false, 'backend down', 30, 1000)" >/dev/null
	{
		echo '{"event":"tool.call","metadata":{"agent":"default","tool":"start_training","status":"ok","latency_ms":20}}'
		echo '{"event":"tool.call","metadata":{"agent":"default","tool":"start_training","status":"error","latency_ms":30}}'
		echo '{"event":"tool.call","metadata":{"agent":"monitor","tool":"search_logs","status":"success","latency_ms":5}}'
	} >"$BATS_TEST_TMPDIR/events.jsonl"
	pushgateway_start
	AGENT_PUSHGATEWAY_URL=$PGW_URL run -0 --separate-stderr agent-metrics-agg --deliver
	agent-metrics-agg --events "$BATS_TEST_TMPDIR/events.jsonl" >"$BATS_TEST_TMPDIR/events.prom"
	run -0 curl -sf --max-time 5 -o /dev/null -w '%{http_code}' --data-binary @"$BATS_TEST_TMPDIR/events.prom" \
		"$PGW_URL/metrics/job/agent-events"
	run -0 curl -sf --max-time 5 "$PGW_URL/metrics"
	local all=$output
	# both groups there, the family once, valid exposition
	assert_equal "$(grep -c '^# TYPE agent_tool_calls_total counter$' <<<"$all")" 1
	assert_equal "$(grep '^agent_tool_calls_total{' <<<"$all" | grep -c 'job="agent"')" 2
	assert_equal "$(grep '^agent_tool_calls_total{' <<<"$all" | grep -c 'job="agent-events"')" 3
	run -0 --separate-stderr promtool check metrics <<<"$all"
	# no two samples of one series: the label sets, sorted, are all different
	local dups
	dups=$(grep '^agent_tool_calls_total{' <<<"$all" | sed 's/ [^ ]*$//; s/^agent_tool_calls_total{//; s/}$//' |
		while IFS= read -r l; do tr ',' '\n' <<<"$l" | sort | paste -sd ,; done | sort | uniq -d)
	assert_equal "$dups" ""
	# the same counts from both for the toolkit's agent, told apart by job
	assert_equal "$(grep '^agent_tool_calls_total{' <<<"$all" | grep 'agent="default"' | grep 'job="agent"' | awk '{s += $2} END {print s}')" 2
	assert_equal "$(grep '^agent_tool_calls_total{' <<<"$all" | grep 'agent="default"' | grep 'job="agent-events"' | awk '{s += $2} END {print s}')" 2
	# one exposition made of both is not valid: never concatenate them
	run ! bash -c "{ agent-metrics-agg --render; cat '$BATS_TEST_TMPDIR/events.prom'; } | promtool check metrics"
}

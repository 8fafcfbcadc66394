#!/usr/bin/env bats
# agent-metrics-agg's metrics: rendered from the rollups (exact values from
# known rows, on both drivers; the migration's backfill gives the same),
# promtool, the namespace, label escaping; delivery to an atomic textfile, to
# a real Pushgateway, and failures that never fail the tick; --serve.
# Event streams are in t/0610, the whole loop into Prometheus in t/0620.

load helpers/common
load helpers/prom

setup() {
	fresh_store
	export AGENT_NOW=2026-11-24T03:20:00Z
	export AGENT_BACKEND_URL=http://127.0.0.1:1/api/v1
	# no backend here: its health and the platform's agent are asked in t/0530
	export AGENT_HEALTH_CHECK=0 AGENT_COEXIST_CHECK=0
	unset AGENT_METRICS_NAMESPACE AGENT_METRICS_TEXTFILE AGENT_PUSHGATEWAY_URL PROMETHEUS_PUSHGATEWAY_URL
	unset AGENT_AUTO_START AGENT_LEASE_SECONDS TRACEPARENT
	PGW_PID= SERVE_PID=
}
teardown() {
	stop_pid "$PGW_PID"
	stop_pid "$SERVE_PID"
	drop_store
}

NOW=1795490400   # 2026-11-24T03:20:00Z

# known_rows: sessions, model calls, tool calls and ticks whose metrics are
# worked out by hand below.  Sessions 1 and 2 are written ended (the insert
# triggers), session 3 goes through updates like the stages do.
known_rows() {
	local pass='{"gate":"training","passed":true,"reason":"passed"}'
	local bpass='{"gate":"backtest","passed":true,"reason":"passed"}'
	local fail='{"gate":"training","passed":false,"reason":"accuracy_below_threshold"}'
	sql "INSERT INTO agent_sessions (agent, phase, outcome, training_gate, backtest_gate, designing_at,
	       training_at, backtesting_at, assessing_at, created_at, updated_at, completed_at)
	     VALUES ('default', 'idle', 'success', '$pass', '$bpass', 1000, 1100, 1700, 1900, 1000, 2000, 2000)" >/dev/null
	sql "INSERT INTO agent_sessions (agent, phase, designing_at, created_at, updated_at)
	     VALUES ('default', 'designing', 3000, 3000, 3000)" >/dev/null
	sql "UPDATE agent_sessions SET phase = 'training', training_at = 3050 WHERE id = 2" >/dev/null
	sql "UPDATE agent_sessions SET phase = 'idle', outcome = 'failed_training_gate', training_gate = '$fail',
	       completed_at = 3400, updated_at = 3400 WHERE id = 2" >/dev/null
	sql "INSERT INTO agent_sessions (agent, phase, designing_at, training_at, created_at, updated_at)
	     VALUES ('default', 'training', 5000, 5100, 5000, 5100)" >/dev/null
	sql "INSERT INTO agent_invocations (agent, session_id, kind, model, input_tokens, output_tokens,
	       cache_write_tokens, cache_read_tokens, cost_micros, duration_ms, status, created_at)
	     VALUES ('default', 1, 'design', 'm', 1000, 200, 300, 400, 12345, 1500, 'ok', 1000),
	            ('default', 1, 'assessment', 'm', 10, 20, 0, 5, 5, 250, 'ok', 1900),
	            ('default', 2, 'design', 'm', 0, 0, 0, 0, 0, 30000, 'error', 3000)" >/dev/null
	sql "INSERT INTO agent_actions (agent, session_id, tool_name, success, error, duration_ms, created_at)
	     VALUES ('default', 1, 'start_training', true, NULL, 20, 1000),
	            ('default', 1, 'save_strategy_config', true, NULL, 5, 1000),
	            ('default', 2, 'start_training', false, 'backend down', 3000, 3000),
	            ('default', 2, 'made_up', false, 'unknown tool ''made_up''', 1, 3000)" >/dev/null
	sql "INSERT INTO agent_triggers (agent, tick_id, at, event, invoked)
	     VALUES ('default', 't1', $((NOW - 300)), 'start_new_cycle', true),
	            ('default', 't2', $((NOW - 200)), 'idle', false),
	            ('default', 't3', $((NOW - 100)), 'training_completed', false),
	            ('default', 't4', $NOW, 'idle', false)" >/dev/null
	sql "UPDATE agent_triggers SET exit_status = 0, duration_ms = 3000 WHERE tick_id = 't1'" >/dev/null
	sql "UPDATE agent_triggers SET exit_status = 0, duration_ms = 8 WHERE tick_id = 't2'" >/dev/null
	sql "UPDATE agent_triggers SET exit_status = 4, failed_stage = 'agent-invoke', duration_ms = 100
	     WHERE tick_id = 't3'" >/dev/null
	# finished twice (the last stage, then --release): counted once
	sql "UPDATE agent_triggers SET exit_status = 5 WHERE tick_id = 't3'" >/dev/null
	sql "INSERT INTO agent_budget (agent, day, limit_micros, spent_micros, held_micros, created_at, updated_at)
	     VALUES ('default', '2026-11-24', 5000000, 1234567, 100000, $NOW, $NOW)" >/dev/null
}

# The samples, by hand, of known_rows (label sets that are still zero left out).
EXPECTED='agent_cycles_started_total{agent="default"} 3
agent_cycles_total{agent="default",detail="failed_training_gate",outcome="failed"} 1
agent_cycles_total{agent="default",detail="success",outcome="completed"} 1
agent_cycle_duration_seconds_bucket{agent="default",le="600"} 1
agent_cycle_duration_seconds_bucket{agent="default",le="900"} 1
agent_cycle_duration_seconds_bucket{agent="default",le="1200"} 2
agent_cycle_duration_seconds_bucket{agent="default",le="+Inf"} 2
agent_cycle_duration_seconds_sum{agent="default"} 1400
agent_cycle_duration_seconds_count{agent="default"} 2
agent_phase_duration_seconds_bucket{agent="default",phase="assessing",le="120"} 1
agent_phase_duration_seconds_bucket{agent="default",phase="assessing",le="+Inf"} 1
agent_phase_duration_seconds_sum{agent="default",phase="assessing"} 100
agent_phase_duration_seconds_bucket{agent="default",phase="backtesting",le="120"} 0
agent_phase_duration_seconds_bucket{agent="default",phase="backtesting",le="300"} 1
agent_phase_duration_seconds_count{agent="default",phase="backtesting"} 1
agent_phase_duration_seconds_bucket{agent="default",phase="designing",le="30"} 0
agent_phase_duration_seconds_bucket{agent="default",phase="designing",le="60"} 1
agent_phase_duration_seconds_bucket{agent="default",phase="designing",le="120"} 2
agent_phase_duration_seconds_sum{agent="default",phase="designing"} 150
agent_phase_duration_seconds_bucket{agent="default",phase="training",le="300"} 0
agent_phase_duration_seconds_bucket{agent="default",phase="training",le="600"} 2
agent_phase_duration_seconds_sum{agent="default",phase="training"} 950
agent_phase_duration_seconds_count{agent="default",phase="training"} 2
agent_triggers_total{agent="default",event="idle",invoked="false"} 1
agent_triggers_total{agent="default",event="start_new_cycle",invoked="true"} 1
agent_triggers_total{agent="default",event="training_completed",invoked="false"} 1
agent_tick_duration_seconds_bucket{agent="default",le="0.01"} 1
agent_tick_duration_seconds_bucket{agent="default",le="0.05"} 1
agent_tick_duration_seconds_bucket{agent="default",le="0.1"} 2
agent_tick_duration_seconds_bucket{agent="default",le="1"} 2
agent_tick_duration_seconds_bucket{agent="default",le="5"} 3
agent_tick_duration_seconds_sum{agent="default"} 3.108
agent_tick_duration_seconds_count{agent="default"} 3
agent_tick_failures_total{agent="default",stage="agent-invoke"} 1
agent_gate_results_total{agent="default",gate="backtest",result="fail"} 0
agent_gate_results_total{agent="default",gate="backtest",result="pass"} 1
agent_gate_results_total{agent="default",gate="training",result="fail"} 1
agent_gate_results_total{agent="default",gate="training",result="pass"} 1
agent_gate_failures_total{agent="default",gate="training",reason="accuracy_below_threshold"} 1
agent_invocations_total{agent="default",kind="assessment",status="ok"} 1
agent_invocations_total{agent="default",kind="design",status="error"} 1
agent_invocations_total{agent="default",kind="design",status="ok"} 1
agent_invocation_duration_seconds_bucket{agent="default",kind="design",le="1"} 0
agent_invocation_duration_seconds_bucket{agent="default",kind="design",le="2"} 1
agent_invocation_duration_seconds_bucket{agent="default",kind="design",le="20"} 1
agent_invocation_duration_seconds_bucket{agent="default",kind="design",le="30"} 2
agent_invocation_duration_seconds_sum{agent="default",kind="design"} 31.5
agent_invocation_duration_seconds_bucket{agent="default",kind="assessment",le="0.5"} 1
agent_tokens_total{agent="default",phase="assessment",type="cache_read"} 5
agent_tokens_total{agent="default",phase="assessment",type="cache_write"} 0
agent_tokens_total{agent="default",phase="assessment",type="input"} 10
agent_tokens_total{agent="default",phase="assessment",type="output"} 20
agent_tokens_total{agent="default",phase="design",type="cache_read"} 400
agent_tokens_total{agent="default",phase="design",type="cache_write"} 300
agent_tokens_total{agent="default",phase="design",type="input"} 1000
agent_tokens_total{agent="default",phase="design",type="output"} 200
agent_cost_usd_total{agent="default"} 0.01235
agent_budget_spend_total{agent="default"} 0.01235
agent_tool_calls_total{agent="default",status="error",tool="_unknown"} 1
agent_tool_calls_total{agent="default",status="error",tool="start_training"} 1
agent_tool_calls_total{agent="default",status="ok",tool="save_strategy_config"} 1
agent_tool_calls_total{agent="default",status="ok",tool="start_training"} 1
agent_tool_duration_seconds_bucket{agent="default",tool="start_training",le="0.01"} 0
agent_tool_duration_seconds_bucket{agent="default",tool="start_training",le="0.025"} 1
agent_tool_duration_seconds_bucket{agent="default",tool="start_training",le="2.5"} 1
agent_tool_duration_seconds_bucket{agent="default",tool="start_training",le="5"} 2
agent_tool_duration_seconds_sum{agent="default",tool="start_training"} 3.02
agent_tool_duration_seconds_count{agent="default",tool="start_training"} 2
agent_tool_duration_seconds_bucket{agent="default",tool="save_strategy_config",le="0.01"} 1
agent_errors_total{agent="default",type="model_call"} 1
agent_errors_total{agent="default",type="model_charge_unknown"} 0
agent_errors_total{agent="default",type="stage"} 1
agent_errors_total{agent="default",type="tool_call"} 2
agent_metrics_delivery_failures_total{agent="default",method="push"} 0
gen_ai_client_token_usage_bucket{agent="default",gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="m",gen_ai_token_type="input",le="16"} 1
gen_ai_client_token_usage_bucket{agent="default",gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="m",gen_ai_token_type="input",le="1024"} 1
gen_ai_client_token_usage_bucket{agent="default",gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="m",gen_ai_token_type="input",le="4096"} 2
gen_ai_client_token_usage_sum{agent="default",gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="m",gen_ai_token_type="input"} 1715
gen_ai_client_token_usage_count{agent="default",gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="m",gen_ai_token_type="input"} 2
gen_ai_client_token_usage_bucket{agent="default",gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="m",gen_ai_token_type="output",le="64"} 1
gen_ai_client_token_usage_bucket{agent="default",gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="m",gen_ai_token_type="output",le="256"} 2
gen_ai_client_token_usage_sum{agent="default",gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="m",gen_ai_token_type="output"} 220
gen_ai_client_operation_duration_seconds_bucket{agent="default",gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="m",le="0.32"} 1
gen_ai_client_operation_duration_seconds_bucket{agent="default",gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="m",le="2.56"} 2
gen_ai_client_operation_duration_seconds_sum{agent="default",gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="m"} 1.75
gen_ai_client_operation_duration_seconds_bucket{agent="default",error_type="error",gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="m",le="20.48"} 0
gen_ai_client_operation_duration_seconds_bucket{agent="default",error_type="error",gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="m",le="40.96"} 1
agent_budget_limit_usd{agent="default"} 5
agent_budget_spent_usd{agent="default"} 1.234567
agent_budget_held_usd{agent="default"} 0.1
agent_budget_remaining_usd{agent="default"} 3.665433
agent_budget_buffer_usd{agent="default"} 0.1
agent_paused{agent="default"} 0
agent_last_tick_timestamp_seconds{agent="default"} 1795490400
agent_active_sessions{agent="default",phase="assessing"} 0
agent_active_sessions{agent="default",phase="designing"} 0
agent_active_sessions{agent="default",phase="training"} 1'

# has_lines TEXT: every line of $EXPECTED-like TEXT is a line of $output.
has_lines() {
	local line missing=
	while IFS= read -r line; do
		grep -qxF -- "$line" <<<"$output" || missing+="$line"$'\n'
	done <<<"$1"
	[ -z "$missing" ] || fail "missing from the exposition:"$'\n'"$missing"
}

# families TEXT: the family names of the HELP lines, in order.
families() { sed -n 's/^# HELP \([^ ]*\) .*/\1/p' <<<"$1"; }

@test "render: a fresh store: every family, HELP and TYPE, zero series, promtool clean" {
	run -0 --separate-stderr agent-metrics-agg --render
	assert_equal "$stderr" ""
	assert_equal "$(families "$output" | tr '\n' ' ')" "agent_cycles_started_total agent_cycles_total agent_cycle_duration_seconds agent_phase_duration_seconds agent_triggers_total agent_tick_duration_seconds agent_tick_failures_total agent_gate_results_total agent_gate_failures_total agent_invocations_total agent_model_fallbacks_total agent_invocation_duration_seconds agent_tokens_total agent_cost_usd_total agent_budget_spend_total agent_tool_calls_total agent_tool_duration_seconds agent_errors_total agent_metrics_delivery_failures_total agent_notifications_total agent_notification_failures_total gen_ai_client_token_usage gen_ai_client_operation_duration_seconds agent_budget_limit_usd agent_budget_spent_usd agent_budget_held_usd agent_budget_remaining_usd agent_budget_buffer_usd agent_budget_cycle_estimate_usd agent_budget_used_ratio agent_budget_warning_level_ratio agent_paused agent_backend_up agent_breaker_open agent_last_tick_timestamp_seconds agent_active_sessions "
	# one TYPE per HELP, right after it
	assert_equal "$(grep -c '^# TYPE' <<<"$output")" "$(grep -c '^# HELP' <<<"$output")"
	assert_equal "$(grep -A1 '^# HELP' <<<"$output" | grep -c '^# TYPE')" "$(grep -c '^# HELP' <<<"$output")"
	has_lines 'agent_cycles_started_total{agent="default"} 0
agent_cycles_total{agent="default",detail="success",outcome="completed"} 0
agent_cycle_duration_seconds_bucket{agent="default",le="7200"} 0
agent_cycle_duration_seconds_count{agent="default"} 0
agent_tokens_total{agent="default",phase="design",type="cache_write"} 0
agent_budget_limit_usd{agent="default"} 5
agent_budget_remaining_usd{agent="default"} 5
agent_paused{agent="default"} 0'
	# no timestamps: every sample line is "series value"
	run -1 grep -vE '^(# (HELP|TYPE) .*|[a-z_:]+(\{.*\})? [-+0-9.eInfNa]+)$' <<<"$output"
	run -0 --separate-stderr bash -c 'agent-metrics-agg --render | promtool check metrics'
	assert_equal "$output$stderr" ""
}

@test "render: exact values from known rows, every label set and bucket" {
	known_rows
	run -0 --separate-stderr agent-metrics-agg --render
	assert_equal "$stderr" ""
	has_lines "$EXPECTED"
	# the unfinished tick t4 is not counted; failed_stage counts once
	assert_equal "$(grep -c '^agent_triggers_total' <<<"$output")" 3
	# the trailing newline
	assert_equal "$(agent-metrics-agg --render | tail -c 1 | od -An -c | tr -d ' ')" '\n'
	run -0 --separate-stderr bash -c 'agent-metrics-agg --render | promtool check metrics'
	assert_equal "$output$stderr" ""
}

@test "render: the migration counts the history it finds the same as the triggers do" {
	known_rows
	local want
	want=$(agent-metrics-agg --render)
	# the same rows in a store at schema 2, then migrated: 0003 backfills
	drop_store
	if [ "${AGENT_TEST_STORE:-sqlite}" = postgres ]; then
		TEST_PG_DB="t_${BATS_SUITE_TEST_NUMBER}_$$_b"
		psql "$AGENT_TEST_PG" -qAtc "CREATE DATABASE $TEST_PG_DB" >/dev/null
		export AGENT_DB="${AGENT_TEST_PG/\/agent_test\?//$TEST_PG_DB?}"
		{ cat "$ROOT"/share/sql/postgres/000[12]-*.sql
		  echo "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);"
		  echo "INSERT INTO schema_migrations VALUES (1, '0001-init.sql', 0), (2, '0002-pause-reason.sql', 0);"
		} | psql "$AGENT_DB" -q -v ON_ERROR_STOP=1 >/dev/null
	else
		export AGENT_DB="$BATS_TEST_TMPDIR/v2.db"
		{ cat "$ROOT"/share/sql/sqlite/000[12]-*.sql
		  echo "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);"
		  echo "INSERT INTO schema_migrations VALUES (1, '0001-init.sql', 0), (2, '0002-pause-reason.sql', 0);"
		} | sqlite3 -bail "$AGENT_DB"
	fi
	known_rows
	assert_equal "$(sql "SELECT max(version) FROM schema_migrations")" 2
	run -0 --separate-stderr agent-db migrate --json
	assert_equal "$(jq -c .applied[0] <<<"$output")" 3
	run -0 --separate-stderr agent-metrics-agg --render
	assert_equal "$output" "$want"
}

@test "render: label values are escaped; the agent label is on every sample" {
	local verdict
	verdict=$(jq -nc '{passed: false, reason: "a \"quoted\" back\\slash\nnew line"}')
	sql "INSERT INTO agent_sessions (agent, phase, outcome, training_gate, created_at, updated_at, completed_at)
	     VALUES ('a.b-c', 'idle', 'failed_training_gate', '$verdict', 1, 2, 2)" >/dev/null
	run -0 --separate-stderr agent-metrics-agg --render
	assert_line 'agent_gate_failures_total{agent="a.b-c",gate="training",reason="a \"quoted\" back\\slash\nnew line"} 1'
	# every sample of both agents names its agent, first
	run -1 grep -vE '^#|^[a-z_]+\{agent="(a\.b-c|default)"' <<<"$output"
	# --agent: that agent only
	run -0 --separate-stderr agent-metrics-agg --render --agent a.b-c
	run -1 grep -E 'agent="default"' <<<"$output"
	run -0 --separate-stderr bash -c 'agent-metrics-agg --render | promtool check metrics'
	assert_equal "$output$stderr" ""
}

@test "render: AGENT_METRICS_NAMESPACE renames all but gen_ai_*; a bad one exits 5" {
	AGENT_METRICS_NAMESPACE=research run -0 --separate-stderr agent-metrics-agg --render
	assert_line 'research_cycles_started_total{agent="default"} 0'
	assert_line '# TYPE gen_ai_client_token_usage histogram'
	run -1 grep -E '^agent_' <<<"$output"
	AGENT_METRICS_NAMESPACE='bad-name' run -5 --separate-stderr agent-metrics-agg --render
	assert_equal "$output" ""
	assert_equal "$stderr" "agent-metrics-agg: AGENT_METRICS_NAMESPACE: not a metric name prefix: 'bad-name'"
}

@test "render: a paused agent and today's budget without a row" {
	sql "INSERT INTO agent_state (agent, paused, last_tick_at, updated_at) VALUES ('default', true, $NOW, $NOW)" >/dev/null
	AGENT_DAILY_BUDGET_USD=2.50 AGENT_BUDGET_BUFFER_USD=0.25 run -0 --separate-stderr agent-metrics-agg --render
	has_lines 'agent_paused{agent="default"} 1
agent_last_tick_timestamp_seconds{agent="default"} 1795490400
agent_budget_limit_usd{agent="default"} 2.5
agent_budget_spent_usd{agent="default"} 0
agent_budget_remaining_usd{agent="default"} 2.5
agent_budget_buffer_usd{agent="default"} 0.25'
}

@test "rollups: a writer's rollback takes its counts with it" {
	sql "BEGIN; INSERT INTO agent_actions (agent, tool_name, success, duration_ms, created_at)
	     VALUES ('default', 'x', true, 1, 1); ROLLBACK;" >/dev/null
	assert_equal "$(sql "SELECT count(*) FROM agent_actions")" 0
	run -0 --separate-stderr agent-metrics-agg --render
	refute_line --partial 'tool="x"'
	assert_equal "$(sql "SELECT count(*) FROM metric_rollups WHERE name LIKE 'tool%'")" 0
	sql "INSERT INTO agent_actions (agent, tool_name, success, duration_ms, created_at) VALUES ('default', 'x', true, 1, 1)" >/dev/null
	run -0 --separate-stderr agent-metrics-agg --render
	assert_line 'agent_tool_calls_total{agent="default",status="ok",tool="x"} 1'
	assert_line 'agent_tool_duration_seconds_count{agent="default",tool="x"} 1'
	assert_equal "$(sql "SELECT name, labels, idx, n, total FROM metric_rollups WHERE name LIKE 'tool%' ORDER BY name")" \
		'tool_calls_total|status="ok",tool="x"|0|1|1
tool_duration_seconds|tool="x"|0|1|1'
	# a second render counts nothing twice
	run -0 --separate-stderr agent-metrics-agg --render
	assert_line 'agent_tool_calls_total{agent="default",status="ok",tool="x"} 1'
}

@test "rollups: SQLite's rows wait in metric_pending for a fold, PostgreSQL's triggers count at once" {
	sql "INSERT INTO agent_actions (agent, tool_name, success, duration_ms, created_at) VALUES ('default', 'y', false, 7, 1)" >/dev/null
	if [ "$AGENT_TEST_STORE" = sqlite ]; then
		assert_equal "$(sql "SELECT kind FROM metric_pending")" action
		assert_equal "$(sql "SELECT count(*) FROM metric_rollups WHERE name LIKE 'tool%'")" 0
	else
		assert_equal "$(sql "SELECT count(*) FROM metric_rollups WHERE name LIKE 'tool%'")" 2
	fi
	run -0 --separate-stderr agent-metrics-agg --render
	assert_line 'agent_tool_calls_total{agent="default",status="error",tool="y"} 1'
	assert_line 'agent_errors_total{agent="default",type="tool_call"} 1'
	assert_equal "$(sql "SELECT count(*) FROM metric_rollups WHERE name LIKE 'tool%'")" 2
	[ "$AGENT_TEST_STORE" != sqlite ] || assert_equal "$(sql "SELECT count(*) FROM metric_pending")" 0
}

@test "rollups: folded a batch at a time or all at once, the counts are the same" {
	local i rows
	for i in 1 2 3; do
		sql "INSERT INTO agent_sessions (agent, phase, outcome, strategy_name, created_at, updated_at,
		       designing_at, training_at, backtesting_at, completed_at, training_gate, backtest_gate)
		     VALUES ('default', 'idle', 'failed_backtest_gate', 's$i', 100, 900, 100, 160, 400, 800,
		       '{\"passed\":true}', '{\"passed\":false,\"reason\":\"win \\\"rate\\\"\"}');
		     INSERT INTO agent_sessions (agent, phase, strategy_name, created_at, updated_at, designing_at)
		     VALUES ('other', 'designing', 'o$i', 100, 100, 100);
		     INSERT INTO agent_invocations (agent, kind, model, status, duration_ms, input_tokens, output_tokens,
		       cache_write_tokens, cache_read_tokens, cost_micros, created_at)
		     VALUES ('default', 'design', 'claude-x', 'ok', 1500 * $i, 10, 20, 30, 40, 5000, 1),
		            ('other', 'assess', 'm\"q', 'error', 70000, 1, 0, 0, 0, 3, 1);
		     INSERT INTO agent_actions (agent, tool_name, success, error, duration_ms, created_at)
		     VALUES ('default', 'made_up', false, 'unknown tool made_up', 3, 1),
		            ('default', 'start_training', true, NULL, 40 * $i, 1);
		     INSERT INTO agent_triggers (agent, tick_id, at, event, invoked, duration_ms, exit_status, failed_stage)
		     VALUES ('default', 't$i', 1, 'idle', false, 12 * $i, 0, NULL),
		            ('default', 'u$i', 1, 'design', true, 900, 4, 'agent-invoke');" >/dev/null
		run -0 --separate-stderr agent-metrics-agg --render  # folds on SQLite
	done
	assert_line 'agent_cycles_started_total{agent="default"} 3'
	assert_line 'agent_cycles_started_total{agent="other"} 3'
	assert_line 'agent_cycles_total{agent="default",detail="failed_backtest_gate",outcome="failed"} 3'
	assert_line 'agent_gate_results_total{agent="default",gate="training",result="pass"} 3'
	assert_line 'agent_gate_failures_total{agent="default",gate="backtest",reason="win \"rate\""} 3'
	assert_line 'agent_tool_calls_total{agent="default",status="error",tool="_unknown"} 3'
	assert_line 'agent_tokens_total{agent="default",phase="design",type="cache_read"} 120'
	assert_line 'agent_errors_total{agent="other",type="model_call"} 3'
	assert_line 'agent_tick_failures_total{agent="default",stage="agent-invoke"} 3'
	assert_line 'gen_ai_client_token_usage_sum{agent="default",gen_ai_operation_name="chat",gen_ai_provider_name="anthropic",gen_ai_request_model="claude-x",gen_ai_token_type="input"} 240'
	rows=$(sql "SELECT agent, name, labels, idx, n, total FROM metric_rollups ORDER BY 1, 2, 3, 4")
	[ "$(wc -l <<<"$rows")" -gt 40 ]
	[ "$AGENT_TEST_STORE" = sqlite ] || return 0
	# the same rows again, pending all at once: one fold makes the same rollups
	sql "DELETE FROM metric_rollups;
	     INSERT INTO metric_pending (kind, agent, ref) SELECT 'session_created', agent, id FROM agent_sessions;
	     INSERT INTO metric_pending (kind, agent, ref, v) SELECT 'session_ended', agent, id,
	       json_object('outcome', outcome, 'created_at', created_at, 'designing_at', designing_at,
	                   'training_at', training_at, 'backtesting_at', backtesting_at,
	                   'assessing_at', assessing_at, 'ended_at', COALESCE(completed_at, updated_at))
	       FROM agent_sessions WHERE outcome IS NOT NULL;
	     INSERT INTO metric_pending (kind, agent, ref, v)
	       SELECT 'training_gate', agent, id, training_gate FROM agent_sessions WHERE training_gate IS NOT NULL;
	     INSERT INTO metric_pending (kind, agent, ref, v)
	       SELECT 'backtest_gate', agent, id, backtest_gate FROM agent_sessions WHERE backtest_gate IS NOT NULL;
	     INSERT INTO metric_pending (kind, agent, ref, v) SELECT 'tick', agent, id,
	       json_object('event', event, 'invoked', invoked, 'duration_ms', duration_ms,
	                   'exit_status', exit_status, 'failed_stage', failed_stage)
	       FROM agent_triggers WHERE exit_status IS NOT NULL;
	     INSERT INTO metric_pending (kind, agent, ref) SELECT 'invocation', agent, id FROM agent_invocations;
	     INSERT INTO metric_pending (kind, agent, ref) SELECT 'action', agent, id FROM agent_actions;" >/dev/null
	run -0 --separate-stderr agent-metrics-agg --render
	assert_equal "$(sql "SELECT agent, name, labels, idx, n, total FROM metric_rollups ORDER BY 1, 2, 3, 4")" "$rows"
}

@test "rollups: a count is what the row was at its event, not what it became" {
	# schema 3's triggers counted a finished tick once, as it finished; a later
	# write (agent-cycle recording a failure on a tick the last stage had
	# closed) changes the row, not the count
	sql "INSERT INTO agent_triggers (agent, tick_id, at, event, invoked, duration_ms, exit_status)
	     VALUES ('default', 'tA', 1, 'idle', false, 40, 0);
	     UPDATE agent_triggers SET exit_status = 4, failed_stage = 'agent-trigger', duration_ms = 900
	      WHERE tick_id = 'tA';
	     INSERT INTO agent_sessions (agent, phase, strategy_name, created_at, updated_at, training_at, training_gate)
	     VALUES ('default', 'training', 's', 100, 100, 100, '{\"passed\":false,\"reason\":\"r1\"}');
	     UPDATE agent_sessions SET training_gate = '{\"passed\":true}';" >/dev/null
	run -0 --separate-stderr agent-metrics-agg --render
	assert_line 'agent_triggers_total{agent="default",event="idle",invoked="false"} 1'
	assert_line 'agent_tick_duration_seconds_sum{agent="default"} 0.04'
	refute_line 'agent_tick_failures_total{agent="default",stage="agent-trigger"} 1'
	assert_line 'agent_gate_failures_total{agent="default",gate="training",reason="r1"} 1'
	assert_line 'agent_gate_results_total{agent="default",gate="training",result="fail"} 1'
	refute_line 'agent_gate_results_total{agent="default",gate="training",result="pass"} 1'
}

# ---------------------------------------------------------------- delivery

# tick: one idle tick through the first and the last stage.
tick() { AGENT_AUTO_START=0 agent-trigger | agent-metrics-agg; }

@test "textfile: the last stage writes the metrics; the file is replaced whole, by rename" {
	local f="$BATS_TEST_TMPDIR/prom/agent.prom" ino
	mkdir -p "${f%/*}"
	export AGENT_METRICS_TEXTFILE=$f
	run -0 --separate-stderr tick
	assert_equal "$stderr" ""
	assert_equal "$(jq -r .event <<<"$output")" idle
	assert_equal "$(cat "$f")" "$(agent-metrics-agg --render)"
	assert_line --partial 'idle' # the tick document itself went on
	grep -qx 'agent_triggers_total{agent="default",event="idle",invoked="false"} 1' "$f"
	assert_equal "$(stat -c %a "$f")" 644
	assert_equal "$(ls "${f%/*}")" agent.prom
	ino=$(stat -c %i "$f")
	run -0 --separate-stderr agent-metrics-agg --deliver
	assert_equal "$output$stderr" ""
	[ "$(stat -c %i "$f")" != "$ino" ] || fail "the file was written in place, not replaced"
	# readers never see a partial file: 40 replacements while reading it
	local want n=0 i
	want=$(cat "$f")
	( for i in $(seq 40); do agent-metrics-agg --deliver; done ) &
	local writer=$!
	while kill -0 "$writer" 2>/dev/null && [ "$n" -lt 2000 ]; do
		[ "$(cat "$f")" = "$want" ] || fail "a reader saw a partial file"
		n=$((n + 1))
	done
	wait "$writer"
	[ "$n" -gt 5 ] || fail "too few reads ($n) to tell"
	assert_equal "$(ls "${f%/*}")" agent.prom
	run -0 --separate-stderr bash -c "promtool check metrics <'$f'"
}

@test "textfile: a directory that cannot be written fails the delivery, never the tick" {
	export AGENT_METRICS_TEXTFILE=$BATS_TEST_TMPDIR/no/such/dir/agent.prom
	run -0 --separate-stderr tick
	assert_equal "$(jq -r .event <<<"$output")" idle
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^agent-metrics-agg: textfile: cannot create a file beside '.*/no/such/dir/agent.prom': No such file or directory$"
	# counted; the tick itself was closed as usual
	unset AGENT_METRICS_TEXTFILE
	run -0 agent-metrics-agg --render
	assert_line 'agent_metrics_delivery_failures_total{agent="default",method="textfile"} 1'
	assert_line 'agent_triggers_total{agent="default",event="idle",invoked="false"} 1'
	assert_equal "$(sql "SELECT COALESCE(lease_holder, '-'), exit_status FROM agent_state, agent_triggers")" "-|0"
}

@test "textfile: a tick whose stage failed refreshes it too, through --release" {
	local f="$BATS_TEST_TMPDIR/agent.prom"
	export AGENT_METRICS_TEXTFILE=$f
	AGENT_AUTO_START=0 agent-trigger --tick t1 >/dev/null
	[ ! -e "$f" ] || fail "the first stage wrote the textfile"
	run -0 --separate-stderr agent-metrics-agg -q --release t1 --status 4 --stage agent-invoke
	assert_equal "$output$stderr" ""
	grep -qx 'agent_tick_failures_total{agent="default",stage="agent-invoke"} 1' "$f"
	grep -qx 'agent_errors_total{agent="default",type="stage"} 1' "$f"
	# and through agent-cycle, whose stage fails for want of an API key
	unset ANTHROPIC_API_KEY
	sql "INSERT INTO agent_sessions (agent, phase, designing_at, created_at, updated_at)
	     VALUES ('default', 'designing', 1, 1, 1)" >/dev/null
	run -5 --separate-stderr agent-cycle -q
	grep -qx 'agent_tick_failures_total{agent="default",stage="agent-invoke"} 2' "$f"
}

@test "push: a real Pushgateway gets the agent's group, replaced each tick" {
	pushgateway_start
	export AGENT_PUSHGATEWAY_URL=$PGW_URL
	run -0 --separate-stderr tick
	assert_equal "$stderr" ""
	run -0 curl -sf --max-time 5 "$PGW_URL/metrics"
	assert_line 'agent_triggers_total{agent="default",event="idle",instance="",invoked="false",job="agent"} 1'
	assert_line 'agent_cycles_started_total{agent="default",instance="",job="agent"} 0'
	assert_line --regexp '^push_time_seconds\{agent="default",instance="",job="agent"\} [0-9.e+]+$'
	# PROMETHEUS_PUSHGATEWAY_URL works as well; the group is replaced, not added to
	unset AGENT_PUSHGATEWAY_URL
	PROMETHEUS_PUSHGATEWAY_URL=$PGW_URL run -0 --separate-stderr tick
	assert_equal "$stderr" ""
	run -0 curl -sf --max-time 5 "$PGW_URL/metrics"
	assert_line 'agent_triggers_total{agent="default",event="idle",instance="",invoked="false",job="agent"} 2'
	assert_equal "$(grep -c '^agent_triggers_total' <<<"$output")" 1
	# the grouping key of another agent
	AGENT_PUSHGATEWAY_URL=$PGW_URL/ run -0 --separate-stderr agent-metrics-agg --deliver --agent other.agent
	run -0 curl -sf --max-time 5 "$PGW_URL/api/v1/metrics"
	assert_equal "$(jq -c '[.data[].labels | [.job, .agent]] | sort' <<<"$output")" '[["agent","default"],["agent","other.agent"]]'
}

@test "push: a Pushgateway that is down fails the delivery, never the tick" {
	local port
	port=$(free_port)
	export AGENT_PUSHGATEWAY_URL=http://127.0.0.1:$port
	run -0 --separate-stderr tick
	assert_equal "$(jq -r .event <<<"$output")" idle
	assert_equal "${#stderr_lines[@]}" 1
	assert_regex "$stderr" "^agent-metrics-agg: push: PUT /metrics/job/agent/agent/default: .*[Cc]onnect"
	run -0 --separate-stderr tick
	unset AGENT_PUSHGATEWAY_URL
	run -0 agent-metrics-agg --render
	assert_line 'agent_metrics_delivery_failures_total{agent="default",method="push"} 2'
	# alone, --deliver says so with exit status 4
	AGENT_PUSHGATEWAY_URL=http://127.0.0.1:$port run -4 --separate-stderr agent-metrics-agg --deliver
	assert_equal "${#stderr_lines[@]}" 1
	run -5 --separate-stderr agent-metrics-agg --deliver
	assert_equal "$stderr" "agent-metrics-agg: --deliver: neither AGENT_METRICS_TEXTFILE nor a Pushgateway URL is set"
}

@test "serve: /metrics on loopback, rendered afresh per scrape; SIGTERM stops it" {
	serve_start
	assert_regex "$SERVE_URL" '^http://127\.0\.0\.1:[0-9]+/metrics$'
	run -0 curl -sf --max-time 5 -D "$BATS_TEST_TMPDIR/h" "$SERVE_URL"
	assert_equal "$output" "$(agent-metrics-agg --render)"
	grep -qi '^content-type: text/plain; version=0.0.4' "$BATS_TEST_TMPDIR/h"
	# a new row shows in the next scrape
	sql "INSERT INTO agent_sessions (agent, phase, designing_at, created_at, updated_at) VALUES ('default', 'designing', 1, 1, 1)" >/dev/null
	run -0 curl -sf --max-time 5 "$SERVE_URL"
	assert_line 'agent_cycles_started_total{agent="default"} 1'
	assert_line 'agent_active_sessions{agent="default",phase="designing"} 1'
	assert_equal "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${SERVE_URL%/metrics}/")" 404
	assert_equal "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST "$SERVE_URL")" 405
	kill -TERM "$SERVE_PID"
	local i
	for i in $(seq 100); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.05; done
	wait "$SERVE_PID" || fail "--serve exited $? on SIGTERM"
	SERVE_PID=
	assert_equal "$(cat "$BATS_TEST_TMPDIR/serve.err")" ""
}

@test "serve: a bare port means loopback; bad addresses exit 2" {
	local port
	port=$(free_port)
	agent-metrics-agg --serve "$port" >"$BATS_TEST_TMPDIR/s.out" 2>&1 3>&- &
	SERVE_PID=$!
	wait_http "http://127.0.0.1:$port/metrics"
	assert_equal "$(head -n 1 "$BATS_TEST_TMPDIR/s.out")" "{\"url\":\"http://127.0.0.1:$port/metrics\"}"
	run -2 --separate-stderr agent-metrics-agg --serve 127.0.0.1:99999
	assert_equal "$stderr" "agent-metrics-agg: --serve: bad port: '127.0.0.1:99999'"
	run -2 --separate-stderr agent-metrics-agg --serve ::1:80
	assert_equal "$stderr" "agent-metrics-agg: --serve: write an IPv6 address as [ADDRESS]:PORT: '::1:80'"
	run -5 --separate-stderr agent-metrics-agg --serve "127.0.0.1:$port"
	assert_regex "$stderr" "^agent-metrics-agg: cannot listen on '127.0.0.1:$port': Address already in use$"
}

@test "usage: the roles go alone" {
	run -2 --separate-stderr agent-metrics-agg --render --events -
	assert_equal "${stderr%%$'\n'*}" "agent-metrics-agg: --release, --render, --deliver, --serve and --events go alone"
	run -2 --separate-stderr agent-metrics-agg --agent x
	assert_equal "${stderr%%$'\n'*}" "agent-metrics-agg: --agent goes with --release, --render, --deliver or --serve"
	run -2 --separate-stderr agent-metrics-agg --strict
	assert_equal "${stderr%%$'\n'*}" "agent-metrics-agg: --strict goes with --events"
}

#!/usr/bin/env bats
# The shipped monitoring assets: the alert rules (promtool check rules, and
# promtool test rules: every alert fires and stays quiet when it should), the
# Grafana dashboard (its variables, rows and data sources), and the metric
# names both use, which agent-metrics-agg must render.

load helpers/common

DASH="$ROOT/share/grafana/agent.json"
RULES="$ROOT/share/alerts/agent.rules.yml"

setup() {
	fresh_store
	unset AGENT_METRICS_NAMESPACE
}
teardown() { drop_store; }

@test "alerts: promtool check rules is clean; the fourteen alerts, critical and warning" {
	run -0 --separate-stderr promtool check rules "$RULES"
	assert_line "  SUCCESS: 14 rules found"
	run -0 --separate-stderr bash -c "grep -E '^ +- alert: ' '$RULES' | awk '{print \$3}' | tr '\n' ' '"
	assert_equal "$output" "AgentNoActivity AgentBudgetExhausted AgentBackendDown AgentCircuitBreakerOpen AgentHighFailureRate AgentBudgetWarning AgentNotificationsFailing AgentToolErrorRate AgentCycleTooLong AgentGateFailureRate AgentMetricsStale AgentTextfileStale AgentDeliveryFailing AgentTicksFailing "
	# each alert names its runbook section, which exists
	local a bad=
	for a in $output; do
		grep -q "runbook_url: 'docs/runbook.md#${a,,}'" "$RULES" || bad+="$a: no runbook_url"$'\n'
		grep -qx "### $a" "$ROOT/docs/runbook.md" || bad+="$a: no section in docs/runbook.md"$'\n'
	done
	[ -z "$bad" ] || fail "$bad"
}

@test "event alerts: promtool checks and tests them; each fires, and does not; each has its runbook section" {
	local ev="$ROOT/share/alerts/events.rules.yml" evt="$ROOT/share/alerts/events.rules.test.yml" a bad=
	run -0 --separate-stderr promtool check rules "$ev"
	assert_line "  SUCCESS: 4 rules found"
	run -0 --separate-stderr promtool test rules "$evt"
	assert_line "  SUCCESS"
	run -0 bash -c "grep -E '^ +- alert: ' '$ev' | awk '{print \$3}' | tr '\n' ' '"
	assert_equal "$output" "AgentEventToolFailureRatio AgentSelfragEscalationSurge AgentGuardrailDenySurge AgentHandoffLoop "
	for a in $output; do
		[ "$(grep -c "alertname: $a\$" "$evt")" -ge 2 ] || bad+="$a: fewer than two evaluations in the tests"$'\n'
		grep -A2 "alertname: $a\$" "$evt" | grep -q 'exp_alerts: \[\]' || bad+="$a: no test that it stays quiet"$'\n'
		grep -q "runbook_url: 'docs/runbook.md#${a,,}'" "$ev" || bad+="$a: no runbook_url"$'\n'
		grep -qx "### $a" "$ROOT/docs/runbook.md" || bad+="$a: no section in docs/runbook.md"$'\n'
	done
	[ -z "$bad" ] || fail "$bad"
	# the families they use are the ones --events renders
	local rendered m
	rendered=$(echo '{"event":"route.selected"}' | agent-metrics-agg --events - | sed -n 's/^# TYPE \([^ ]*\) .*/\1/p')
	for m in $(grep -oE '\bagent_[a-z_]+_total\b' "$ev" | sort -u); do
		[ "$m" = agent_cycles_started_total ] && continue
		grep -qx "$m" <<<"$rendered" || bad+="$m is used but not rendered by --events"$'\n'
	done
	[ -z "$bad" ] || fail "$bad"
}

@test "alerts: promtool test rules passes (each alert fires, and does not)" {
	run -0 --separate-stderr promtool test rules "$ROOT/share/alerts/agent.rules.test.yml"
	assert_line "  SUCCESS"
	# every alert has a test where it fires and one where it must not
	local a bad=
	for a in $(grep -E '^ +- alert: ' "$RULES" | awk '{print $3}'); do
		[ "$(grep -c "alertname: $a\$" "$ROOT/share/alerts/agent.rules.test.yml")" -ge 2 ] ||
			bad+="$a: fewer than two evaluations in the tests"$'\n'
		grep -A2 "alertname: $a\$" "$ROOT/share/alerts/agent.rules.test.yml" | grep -q 'exp_alerts: \[\]' ||
			bad+="$a: no test that it stays quiet"$'\n'
	done
	[ -z "$bad" ] || fail "$bad"
}

@test "alertmanager: the route example is a valid configuration that routes the alerts by severity" {
	local am="$ROOT/share/alerts/alertmanager.yml"
	run -0 --separate-stderr amtool check-config "$am"
	assert_line --partial "SUCCESS"
	run -0 --separate-stderr amtool config routes test --config.file="$am" severity=critical alertname=AgentBackendDown agent=a
	assert_equal "$output" "agent-pager"
	run -0 --separate-stderr amtool config routes test --config.file="$am" severity=warning alertname=AgentBudgetWarning agent=a
	assert_equal "$output" "agent-warnings"
}

@test "dashboard: data source, namespace and agent variables, five rows, every panel on \${datasource}" {
	run -0 jq -r '.templating.list | map("\(.name) \(.type) \(.query | if type == "object" then .query else . end)") | .[]' "$DASH"
	assert_equal "$output" 'datasource datasource prometheus
namespace textbox agent
agent query label_values(${namespace}_cycles_started_total, agent)'
	run -0 jq -r '[.panels[] | select(.type == "row") | .title] | join(", ")' "$DASH"
	assert_equal "$output" "Status, Quality gates, Cost, Performance, Health"
	# every panel and every target on the template data source, with a query
	run -0 jq -r '.panels[] | select(.type != "row")
		| select(.datasource.uid != "${datasource}" or .datasource.type != "prometheus"
			or (.targets | length) == 0
			or any(.targets[]; .datasource.uid != "${datasource}" or (.expr | length) == 0))
		| .title' "$DASH"
	assert_equal "$output" ""
	# unique ids, inside the 24 columns
	assert_equal "$(jq '[.panels[].id] | length == (unique | length)' "$DASH")" true
	assert_equal "$(jq '[.panels[].gridPos | select(.x + .w > 24)] | length' "$DASH")" 0
	# every panel filters by the agent variable
	run -0 jq -r '.panels[] | select(.type != "row") | .targets[].expr | select(test("agent=~\"\\$agent\"") | not)' "$DASH"
	assert_equal "$output" ""
	# and names its families through the namespace variable: no agent_ left
	run -0 jq -r '.panels[] | select(.type != "row") | .targets[].expr | select(test("(^|[^a-z_])agent_[a-z]"))' "$DASH"
	assert_equal "$output" ""
}

@test "dashboard and alerts use only metrics agent-metrics-agg renders" {
	local rendered used m bad=
	rendered=$(agent-metrics-agg --render | sed -n 's/^# TYPE \([^ ]*\) .*/\1/p')
	used=$({ jq -r '.panels[].targets[]?.expr' "$DASH" | sed 's/\${namespace}_/agent_/g'; grep -E '^ +expr:|^ {10}' "$RULES"; } |
		grep -oE '\b(agent|gen_ai)_[a-z_]+' | grep -vxE 'gen_ai_(request_model|token_type|operation_name|provider_name)' |
		sed -E 's/_(bucket|sum|count)$//' | sort -u)
	[ -n "$used" ] || fail "found no metric names"
	for m in $used; do
		grep -qx "$m" <<<"$rendered" || bad+="$m is used but not rendered"$'\n'
	done
	[ -z "$bad" ] || fail "$bad"
}

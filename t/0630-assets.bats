#!/usr/bin/env bats
# The shipped monitoring assets: the alert rules (promtool check rules, and
# promtool test rules: every alert fires and stays quiet when it should), the
# Grafana dashboard (its variables, rows and data sources), and the metric
# names both use, which agent-metrics-agg must render (or, for the
# reconciliation's, agent-budget reconcile --textfile).

load helpers/common
load helpers/sim

DASH="$ROOT/share/grafana/agent.json"
RULES="$ROOT/share/alerts/agent.rules.yml"

setup() {
	fresh_store
	unset AGENT_METRICS_NAMESPACE
}
teardown() { drop_store; }

@test "alerts: promtool check rules is clean; the fifteen alerts, critical and warning" {
	run -0 --separate-stderr promtool check rules "$RULES"
	assert_line "  SUCCESS: 15 rules found"
	run -0 --separate-stderr bash -c "grep -E '^ +- alert: ' '$RULES' | awk '{print \$3}' | tr '\n' ' '"
	assert_equal "$output" "AgentNoActivity AgentBudgetExhausted AgentBackendDown AgentCircuitBreakerOpen AgentHighFailureRate AgentBudgetWarning AgentNotificationsFailing AgentToolErrorRate AgentCycleTooLong AgentGateFailureRate AgentMetricsStale AgentTextfileStale AgentDeliveryFailing AgentTicksFailing AgentSpendMismatch "
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

@test "dashboard and alerts use only metrics agent-metrics-agg (or agent-budget reconcile) renders" {
	local rendered used m bad=
	rendered=$(agent-metrics-agg --render | sed -n 's/^# TYPE \([^ ]*\) .*/\1/p')
	# the reconciliation's gauges, from its textfile (agent-sim plays the Admin API)
	sim_start
	ANTHROPIC_ADMIN_KEY=sk-ant-admin01-test agent-budget reconcile -q --date 2026-11-24 \
		--textfile "$BATS_TEST_TMPDIR/reconcile.prom"
	sim_stop
	rendered+=$'\n'$(sed -n 's/^# TYPE \([^ ]*\) .*/\1/p' "$BATS_TEST_TMPDIR/reconcile.prom")
	used=$({ jq -r '.panels[].targets[]?.expr' "$DASH" | sed 's/\${namespace}_/agent_/g'; grep -E '^ +expr:|^ {10}' "$RULES"; } |
		grep -oE '\b(agent|gen_ai)_[a-z_]+' | grep -vxE 'gen_ai_(request_model|token_type|operation_name|provider_name)' |
		sed -E 's/_(bucket|sum|count)$//' | sort -u)
	[ -n "$used" ] || fail "found no metric names"
	for m in $used; do
		grep -qx "$m" <<<"$rendered" || bad+="$m is used but not rendered"$'\n'
	done
	[ -z "$bad" ] || fail "$bad"
}

# share/k8s: for those who run the cycle on Kubernetes.  Checked offline
# against the Kubernetes and Prometheus Operator schemas (t/k8s/validate.mjs,
# its tools installed by t/k8s/setup from t/k8s/package-lock.json).
k8s_json() { node "$ROOT/t/k8s/tojson.mjs" "$1"; }

@test "k8s: every manifest validates against the schemas of its kind; a typo or a wrong type does not" {
	[ -d "$ROOT/t/k8s/node_modules" ] || fail "t/k8s/setup has not run (make check runs it)"
	run -0 --separate-stderr node "$ROOT/t/k8s/validate.mjs" "$ROOT"/share/k8s/*.yaml
	assert_output "ok 7 documents"
	# the check can fail: an unknown field, a wrong type, an unknown kind
	cd "$BATS_TEST_TMPDIR" || return 1
	sed 's/concurrencyPolicy: Forbid/concurencyPolicy: Forbid/' "$ROOT/share/k8s/cronjob.yaml" >typo.yaml
	run -1 node "$ROOT/t/k8s/validate.mjs" typo.yaml
	assert_output --partial "'\"concurencyPolicy\"' does not exist in type 'ICronJobSpec'"
	sed 's|schedule: "\*/5 \* \* \* \*"|schedule: 5|' "$ROOT/share/k8s/cronjob.yaml" >type.yaml
	run -1 node "$ROOT/t/k8s/validate.mjs" type.yaml
	assert_output --partial "spec/schedule must be string"
	printf 'apiVersion: v9\nkind: Nope\n' >kind.yaml
	run -1 node "$ROOT/t/k8s/validate.mjs" kind.yaml
	assert_output "kind.yaml: document 1: unknown apiVersion/kind 'v9/Nope'"
}

@test "k8s: the CronJob runs agent-cycle every five minutes, one at a time, key from a Secret, settings from a ConfigMap, PostgreSQL as the store" {
	local cj
	cj=$(k8s_json "$ROOT/share/k8s/cronjob.yaml")
	assert_equal "$(jq -c '[.spec.schedule, .spec.concurrencyPolicy, .spec.jobTemplate.spec.template.spec.restartPolicy]' <<<"$cj")" \
		'["*/5 * * * *","Forbid","Never"]'
	c=$(jq -c '.spec.jobTemplate.spec.template.spec.containers[0]' <<<"$cj")
	assert_equal "$(jq -c .command <<<"$c")" '["agent-cycle"]'
	assert_equal "$(jq -r '.envFrom[0].configMapRef.name' <<<"$c")" agent-config
	assert_equal "$(jq -c '.env[] | select(.name == "AGENT_DB") | .valueFrom.secretKeyRef' <<<"$c")" '{"name":"agent-secrets","key":"agent_db"}'
	# the key is a file from the Secret, never a variable's value
	assert_equal "$(jq -r '.env[] | select(.name == "ANTHROPIC_API_KEY_FILE") | .value' <<<"$c")" /run/secrets/agent/anthropic_api_key
	assert_equal "$(jq -r '.env[] | select(.name == "ANTHROPIC_API_KEY") | .name' <<<"$c")" ""
	assert_equal "$(jq -c '.spec.jobTemplate.spec.template.spec.volumes[] | select(.name == "secrets") | [.secret.secretName, .secret.items[0].key]' <<<"$cj")" \
		'["agent-secrets","anthropic_api_key"]'
	assert_equal "$(jq -r '.volumeMounts[] | select(.name == "secrets") | .mountPath' <<<"$c")" /run/secrets/agent
	# the Secret's store is PostgreSQL; the ConfigMap holds no secret
	assert_equal "$(k8s_json "$ROOT/share/k8s/secret.example.yaml" | jq -r '.stringData.agent_db | startswith("postgresql://")')" true
	run -0 bash -c "k8s_json() { node '$ROOT/t/k8s/tojson.mjs' \"\$1\"; }; k8s_json '$ROOT/share/k8s/configmap.yaml' | jq -r '.data | keys[]'"
	refute_output --partial KEY
	refute_output --partial AGENT_DB
	# every setting it names is one the commands read (agent(7) names it)
	local k
	for k in $(k8s_json "$ROOT/share/k8s/configmap.yaml" | jq -r '.data | keys[]'); do
		grep -q "^\.It Ev $k\b\|Ev $k\b" "$ROOT/man/agent.7" || fail "$k is not in agent(7)"
	done
	# the Deployment serves the store's metrics on a port the Service names
	local dep
	dep=$(k8s_json "$ROOT/share/k8s/metrics.yaml" | jq -c 'select(.kind == "Deployment")')
	assert_equal "$(jq -c '.spec.template.spec.containers[0].command' <<<"$dep")" '["agent-metrics-agg","--serve","0.0.0.0:9464"]'
	assert_equal "$(k8s_json "$ROOT/share/k8s/metrics.yaml" | jq -r 'select(.kind == "Service") | .spec.ports[0].port')" 9464
}

@test "k8s: the PrometheusRule is the alert rules files, generated and current, and promtool takes its groups" {
	cd "$BATS_TEST_TMPDIR" || return 1
	run -0 sh "$ROOT/build-aux/k8s-rules" "$ROOT/share/alerts/agent.rules.yml" "$ROOT/share/alerts/events.rules.yml"
	assert_equal "$output" "$(cat "$ROOT/share/k8s/prometheusrule.yaml")"
	k8s_json "$ROOT/share/k8s/prometheusrule.yaml" | jq '.spec' >rules.json
	run -0 --separate-stderr promtool check rules rules.json
	assert_line "  SUCCESS: 19 rules found"
	assert_equal "$(jq -r '[.groups[].rules[].alert] | join(" ")' rules.json)" \
		"$(cat "$ROOT/share/alerts/agent.rules.yml" "$ROOT/share/alerts/events.rules.yml" | grep -E '^ +- alert: ' | awk '{print $3}' | tr '\n' ' ' | sed 's/ $//')"
}

#!/usr/bin/env bats
# agent-budget's scopes beyond the agent's day: week and month caps, teams
# and the global cap; admission checks every cap of the agent in one
# transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: one function call with
# a fixed lock order), so many processes holding at once never overspend
# any cap and still use its room.  Rollover by AGENT_NOW; bad input.

load helpers/common

setup() {
	fresh_store
	export AGENT_NOW=2026-11-24T10:00:00Z AGENT_DAILY_BUDGET_USD=1000
	unset AGENT_WEEKLY_BUDGET_USD AGENT_MONTHLY_BUDGET_USD
}
teardown() { drop_store; }

# used SCOPE PERIOD: spent + held of a scope's period, in micro-dollars
used() {
	agent-budget status --scope "$1" --json |
		jq -r --arg p "$2" '.caps[] | select(.period == $p) | ((.spent_usd + .held_usd) * 1e6 | round)'
}

# round N AMOUNT AGENT...: N processes at once, each holding AMOUNT for one
# of the agents in turn; then every open hold settled at half its amount
round() {
	local n=$1 usd=$2 i a
	shift 2
	local -a agents=("$@")
	for ((i = 0; i < n; i++)); do
		a=${agents[i % ${#agents[@]}]}
		agent-budget -q --agent "$a" hold --usd "$usd" >/dev/null 2>>"$BATS_TEST_TMPDIR/err" &
	done
	wait
}
settle_open() {
	local id
	for id in $(sql "SELECT id FROM agent_budget_holds WHERE status = 'open'"); do
		agent-budget -q settle "$id" --usd 0.035 >/dev/null
	done
}

@test "week and month caps: the environment's, the store's over it; status shows each period" {
	AGENT_WEEKLY_BUDGET_USD=0.50 run -0 --separate-stderr agent-budget status
	assert_equal "$(jq -c '[.caps[] | [.scope, .period, .limit_usd, .from, .to, .resets_at]]' <<<"$output")" \
		'[["agent:default","week",0.5,"2026-11-23","2026-11-29","2026-11-30T00:00:00Z"]]'
	run -0 --separate-stderr agent-budget set --period month 2.00
	assert_equal "$(jq -c '[.caps[] | [.period, .limit_usd, .from, .to]]' <<<"$output")" \
		'[["day",1000,"2026-11-24","2026-11-24"],["month",2,"2026-11-01","2026-11-30"]]'
	run -0 --separate-stderr agent-budget set --period week 0.30
	export AGENT_WEEKLY_BUDGET_USD=0.50
	# the store's week (0.30) wins over the environment's (0.50)
	run -0 agent-budget hold --usd 0.25
	run -1 --separate-stderr agent-budget hold --usd 0.10
	assert_equal "$stderr" "agent-budget: budget_exhausted: a hold of \$0.100000 would break the week cap of agent:default"
	assert_equal "$(jq -c '[.refused, .scope, .period, .budget.limited_by, .budget.available_usd]' <<<"$output")" \
		'[true,"agent:default","week","agent:default/week",0.05]'
	# removed, the environment's stands again
	run -0 agent-budget set --period week none
	run -0 agent-budget hold --usd 0.20
	run -1 agent-budget hold --usd 0.10
	# the day's own cap: never removed
	run -2 --separate-stderr agent-budget set --period day none
	assert_regex "$stderr" "an agent's day always has a cap"
}

@test "a week cap under 64 concurrent holders x 10 rounds: never above it, its room used" {
	agent-budget set --period week 2.00 >/dev/null
	for r in $(seq 10); do
		round 64 0.07 default
		u=$(used agent:default week)
		[ "$u" -le 2000000 ] || fail "round $r: $u above the week's cap"
		settle_open
	done
	u=$(used agent:default week)
	[ "$u" -le 2000000 ] && [ "$u" -gt $((2000000 - 70000)) ] || fail "the room unused: $u"
	assert_equal "$(grep -vc budget_exhausted "$BATS_TEST_TMPDIR/err")" 0
}

@test "a team cap shared by two agents, a global cap by three: never above either" {
	agent-budget --agent a team t1 >/dev/null
	agent-budget --agent b team t1 >/dev/null
	agent-budget set --scope team:t1 --period week 1.50 >/dev/null
	agent-budget set --scope global 2.50 >/dev/null
	run -0 agent-budget --agent a status --json
	assert_equal "$(jq -c '[.team, [.caps[] | .scope + "/" + .period]]' <<<"$output")" '["t1",["global/day","team:t1/week"]]'
	for r in $(seq 10); do
		round 64 0.07 a b c
		t=$(used team:t1 week) g=$(used global day)
		[ "$t" -le 1500000 ] || fail "round $r: team at $t"
		[ "$g" -le 2500000 ] || fail "round $r: global at $g"
		settle_open
	done
	t=$(used team:t1 week) g=$(used global day)
	[ "$g" -gt $((2500000 - 70000)) ] || fail "the global room unused: $g"
	[ "$t" -gt $((1500000 - 70000 - 70000)) ] || fail "the team's room unused: $t"
	# the ledger agrees with the scopes' sums
	assert_equal "$(sql "SELECT SUM(spent_micros + held_micros) FROM agent_budget")" "$g"
	assert_equal "$(sql "SELECT SUM(spent_micros + held_micros) FROM agent_budget WHERE agent IN ('a', 'b')")" "$t"
	run -0 agent-budget status --scope team:t1 --json
	assert_equal "$(jq -c '.members' <<<"$output")" '["a","b"]'
	# leaving the team: its cap no longer applies to the agent
	run -0 agent-budget --agent a team --none --json
	assert_equal "$(jq -c '[.agent, .team, .previous]' <<<"$output")" '["a",null,"t1"]'
	assert_equal "$(grep -vc budget_exhausted "$BATS_TEST_TMPDIR/err")" 0
}

@test "the day's first hold of an agent in a team or under a global cap is admitted" {
	# no day row yet: the scoped admission makes it (PostgreSQL once refused
	# this first hold, then admitted the next once status had made the row)
	agent-budget --agent a team t1 >/dev/null
	agent-budget set --scope team:t1 --period week 10 >/dev/null
	agent-budget set --scope global --period day 10 >/dev/null
	run -0 --separate-stderr agent-budget --agent a hold --usd 0.01 --json
	assert_equal "$(jq -c '[(.id | type), .refused]' <<<"$output")" '["number",null]'
	run -0 --separate-stderr agent-budget --agent b hold --usd 0.01 --json
	assert_equal "$(jq -c '[(.id | type), .refused]' <<<"$output")" '["number",null]'
	assert_equal "$(sql "SELECT agent || ':' || held_micros FROM agent_budget ORDER BY agent")" "a:10000
b:10000"
	# and a cap still refuses the first hold that would break it
	run -1 --separate-stderr agent-budget --agent c hold --usd 11 --json
	assert_equal "$(jq -c '[.refused, .scope, .period]' <<<"$output")" '[true,"global","day"]'
}

@test "rollover: ISO week 53, the month's end, the leap day" {
	agent-budget set --period week 0.50 >/dev/null
	agent-budget set --period month 0.80 >/dev/null
	AGENT_NOW=2026-12-31T23:00:00Z run -0 agent-budget status --json
	assert_equal "$(jq -c '[.caps[] | [.period, .from, .to, .resets_at]]' <<<"$output")" \
		'[["month","2026-12-01","2026-12-31","2027-01-01T00:00:00Z"],["week","2026-12-28","2027-01-03","2027-01-04T00:00:00Z"]]'
	AGENT_NOW=2026-12-31T23:00:00Z agent-budget hold --usd 0.40 >/dev/null
	# the next day: a new month, the same week (2026-W53)
	AGENT_NOW=2027-01-01T01:00:00Z run -1 --separate-stderr agent-budget hold --usd 0.20
	assert_equal "$(jq -r '.period' <<<"$output")" week
	AGENT_NOW=2027-01-04T00:00:00Z run -0 agent-budget hold --usd 0.45
	AGENT_NOW=2028-02-29T12:00:00Z run -0 agent-budget status --json
	assert_equal "$(jq -c '[.caps[] | [.period, .from, .to]]' <<<"$output")" \
		'[["month","2028-02-01","2028-02-29"],["week","2028-02-28","2028-03-05"]]'
	AGENT_NOW=2026-11-30T23:59:59Z run -0 agent-budget status --json
	assert_equal "$(jq -r '.caps[] | select(.period == "month") | .resets_at' <<<"$output")" 2026-12-01T00:00:00Z
}

@test "bad scopes, periods, amounts and team names: exit 2, one line, nothing changed" {
	agent-budget status >/dev/null
	before=$(snapshot)
	for args in "set --scope teams:x 1" "set --scope team: 1" "set --scope 'team:a b' 1" \
		"set --period fortnight 1" "set --period week -1" "set --period week abc" \
		"set --scope global" "team 'a b'" "team $(printf 'x%.0s' $(seq 200))" "team" \
		"team x --none" "status --none" "hold --usd 1 --period week" "status --scope nope"; do
		eval "run --separate-stderr agent-budget $args"
		[ "$status" = 2 ] || fail "agent-budget $args: exit $status"
		[ "${#stderr_lines[@]}" -le 2 ] || fail "agent-budget $args: ${stderr}"
		[ -z "$output" ] || fail "agent-budget $args printed '$output'"
	done
	assert_equal "$(snapshot)" "$before"
	AGENT_WEEKLY_BUDGET_USD=lots run -5 --separate-stderr agent-budget status
	assert_equal "$stderr" "agent-budget: AGENT_WEEKLY_BUDGET_USD: not a dollar amount: 'lots'"
}

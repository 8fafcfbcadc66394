#!/usr/bin/env bats
# The chaos run's short form (make chaos runs the long one): ticks of
# agent-cycle against a faulty agent-sim, half of them killed at a random
# moment, some raced by a second supervisor, on this run's store; then the
# invariants of t/chaos.  And the checks themselves: a store broken on
# purpose is caught.

load helpers/common

chaos() { bash "$BATS_TEST_DIRNAME/chaos" "${AGENT_TEST_STORE:-sqlite}"; }

@test "60 ticks under faults, kills and races: no invariant violated, sessions still end" {
	CHAOS_TICKS=60 CHAOS_SEED=${CHAOS_SEED:-11} run -0 --separate-stderr chaos
	echo "# $output" >&3
	assert_equal "$(jq -c '[.store, .ticks, .violations, .found]' <<<"$output")" "[\"${AGENT_TEST_STORE:-sqlite}\",60,0,[]]"
	[ "$(jq .kills <<<"$output")" -gt 0 ]
	[ "$(jq .races <<<"$output")" -gt 0 ]
	[ "$(jq .sessions_ended <<<"$output")" -gt 0 ]
}

@test "the checks catch a ledger, a charge and a session broken on purpose" {
	local t
	for t in ledger charge session; do
		CHAOS_TAMPER=$t CHAOS_TICKS=12 CHAOS_SEED=3 run -1 --separate-stderr chaos
		[ "$(jq .violations <<<"$output")" -ge 1 ]
		case $t in
		ledger) assert_regex "$(jq -r '.found[0]' <<<"$output")" '^ledger: ' ;;
		charge) assert_regex "$(jq -r '.found | join("\n")' <<<"$output")" 'charge: invocation [0-9]+ cost' ;;
		session) assert_regex "$(jq -r '.found | join("\n")' <<<"$output")" 'sessions: session [0-9]+: phase idle, outcome -' ;;
		esac
	done
}

@test "usage errors exit 2" {
	run -2 --separate-stderr bash "$BATS_TEST_DIRNAME/chaos" mysql
	assert_equal "$stderr" "chaos: unknown store 'mysql' (sqlite, postgres)"
	CHAOS_TICKS=many run -2 --separate-stderr bash "$BATS_TEST_DIRNAME/chaos" sqlite
	assert_equal "$stderr" "chaos: CHAOS_TICKS: not a whole number from 1 to 999999: 'many'"
}

#!/usr/bin/env bats
# One time format in the operator views: every time in the JSON of agent
# status, history, session, logs, budget, control and db is RFC 3339 UTC
# text; a number of seconds only under a key ending in _epoch (a duration
# ends in _seconds or _ms).  Walked on the views' prepared store and on a
# store after a demo-like run against agent-sim.  And agent-formats(5)'s
# Views section: each example is JSON with the key paths of the command's
# real output.

load helpers/common
load helpers/views
load helpers/sim

setup_file() {
	sim_start --speed 2000 --seed 1
}
teardown_file() { sim_stop; }

setup() {
	fresh_store
	unset AGENT_NOW
	export AGENT_HEALTH_CHECK=0 AGENT_COEXIST_CHECK=0
}
teardown() { drop_store; }

# bad_times: reads JSON documents; prints "path: value" for each time that
# is not RFC 3339 UTC text: a number in the range of epoch seconds,
# milliseconds or microseconds, or a string of another shape, under a key
# whose name says time (at, since, created, ... alone or after a "_", or
# reset...), unless it ends in _epoch.
bad_times() {
	jq -r '
	def timekey: test("(^|_)(at|time|timestamp|ts|since|until|when|started|ended|created|updated|expires)$|(^|_)reset");
	def epochish: (. >= 1e9 and . < 1e10) or (. >= 1e12 and . < 1e13) or (. >= 1e15 and . < 1e16);
	def rfc3339: test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$");
	. as $doc | paths(scalars) as $p
	| ([$p[] | strings] | last) as $k
	| select($k != null and ($k | timekey) and ($k | endswith("_epoch") | not))
	| ($doc | getpath($p)) as $v
	| select((($v | type) == "number" and ($v | epochish)) or
	         (($v | type) == "string" and ($v | rfc3339 | not)))
	| "\($p | map(tostring) | join(".")): \($v | tojson)"'
}

# walk CMD...: runs a view (exit 0 or 1), checks its times, adds it to $walked
walk() {
	local out rc=0 bad
	out=$("$@" 2>/dev/null) || rc=$?
	[ "$rc" -le 1 ] || fail "$* exited $rc"
	[ -n "$out" ] || fail "$*: no output"
	bad=$(bad_times <<<"$out") || fail "$*: not JSON: $out"
	[ -z "$bad" ] || fail "$*: times not RFC 3339 UTC: $bad"
	walked+=("$*")
}

# every_view: walks the JSON of every operator view on the current store
every_view() {
	local id
	walked=()
	walk agent-status --json
	walk agent-history --json -n 1000
	for id in $(sql "SELECT id FROM agent_sessions ORDER BY id"); do
		walk agent-session "$id" --json
	done
	walk agent-logs --json -n 1000
	walk agent-budget status
	walk agent-budget history --days 3
	walk agent-budget check
	walk agent-budget hold --usd 0.01
	walk agent-budget settle "$(sql "SELECT max(id) FROM agent_budget_holds")" --usd 0.005
	walk agent-budget set 5
	walk agent-control pause --reason "time check"
	walk agent-status --json
	walk agent-control resume
	walk agent-control cancel
	walk agent-db status
}

@test "every view's times are RFC 3339 UTC on the prepared store" {
	export AGENT_NOW=2026-11-24T03:20:00Z AGENT_BACKEND_URL=http://127.0.0.1:1/api/v1
	seed_views
	every_view
	# a session ended by the cancel, with every phase time and progress
	walk agent-session 5 --json
	assert_equal "$(agent-session 5 --json | jq -r '[.session.completed_at, .session.training_at] | join(" ")')" \
		"2026-11-24T03:20:00Z 2026-11-24T03:00:00Z"
	[ "${#walked[@]}" -ge 20 ] || fail "only ${#walked[@]} views walked"
	# the checker itself: it finds an epoch, milliseconds, a local time
	assert_equal "$(bad_times <<<'{"a":{"created_at":1795490400,"at_epoch":1795490400,"output_format":"x","x":[{"since":1795490400123}]},"resets_at":"2026-11-25 00:00","updated_at":null,"age_seconds":1795490400,"at":"2026-11-24T03:20:00.5Z"}')" \
		'a.created_at: 1795490400
a.x.0.since: 1795490400123
resets_at: "2026-11-25 00:00"'
}

@test "every view's times are RFC 3339 UTC after a demo-like run against agent-sim" {
	export ANTHROPIC_API_KEY=sk-test-times-0001 AGENT_TIMEOUT_SECONDS=10 AGENT_LEASE_SECONDS=60
	sim_share_strategies "$BATS_TEST_TMPDIR/strategies"
	export AGENT_STRATEGY_DIR="$BATS_TEST_TMPDIR/strategies"
	local n=0
	while [ "$n" -lt 60 ]; do
		n=$((n + 1))
		agent-cycle -q >/dev/null 2>>"$BATS_TEST_TMPDIR/err" || fail "tick $n failed: $(cat "$BATS_TEST_TMPDIR/err")"
		[ "$(sql "SELECT count(*) FROM agent_sessions WHERE phase = 'idle'")" -ge 1 ] && break
		sleep 0.1
	done
	[ "$(sql "SELECT count(*) FROM agent_sessions WHERE phase = 'idle'")" -ge 1 ] || fail "no session ended in $n ticks"
	# one more tick starts the next cycle: an active session to show and cancel
	agent-cycle -q >/dev/null 2>>"$BATS_TEST_TMPDIR/err" || fail "the last tick failed"
	every_view
	assert_regex "$(agent-logs --json -n 1 | jq -r .at)" '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
}

# views_examples: the Views section of agent-formats(5) as "CMD<TAB>JSON
# text" records, one per example (the JSON on one line per display line,
# joined by \x1f).
views_examples() {
	awk '
	/^\.Sh / { views = ($0 == ".Sh VIEWS") }
	!views { next }
	/^\.\\" view: / { cmd = $0; sub(/^\.\\" view: /, "", cmd); want = 1; next }
	want && /^\.Bd -literal/ { inblk = 1; want = 0; text = ""; next }
	inblk && /^\.Ed/ { inblk = 0; print cmd "\t" text; next }
	inblk {
		line = $0
		gsub(/\\e/, "\\", line); gsub(/\\&/, "", line)
		text = text (text == "" ? "" : "\037") line
	}' "$ROOT/man/agent-formats.5"
}

# key_paths: the key paths of the JSON documents read (array indices as
# []), sorted, one a line
key_paths() {
	jq -r 'paths | map(if type == "number" then "[]" else . end) | join(".")' | sort -u
}

@test "agent-formats(5), VIEWS: each example is JSON with the key paths of the command's output" {
	export AGENT_NOW=2026-11-24T03:20:00Z AGENT_BACKEND_URL=http://127.0.0.1:1/api/v1
	seed_views
	local cmd text want got rc n=0 bad= seen=
	while IFS=$'\t' read -r cmd text; do
		n=$((n + 1))
		want=$(tr '\037' '\n' <<<"$text" | jq -c . 2>&1) || { bad+="$cmd: the example is not JSON: $want"$'\n'; continue; }
		rc=0
		got=$(bash -c "$cmd" 2>/dev/null) || rc=$?
		[ "$rc" -le 1 ] || { bad+="$cmd: exit $rc"$'\n'; continue; }
		[ "$(key_paths <<<"$want")" = "$(key_paths <<<"$got")" ] ||
			bad+="$cmd: key paths differ: $(diff <(key_paths <<<"$want") <(key_paths <<<"$got") | grep '^[<>]' | tr '\n' ' ')"$'\n'
		seen+=" ${cmd%% -*}"
	done < <(views_examples)
	[ -z "$bad" ] || fail "$bad"
	# one example for each view
	for cmd in agent-status agent-history agent-session agent-logs "agent-budget status" \
		"agent-budget history" "agent-control pause" "agent-control resume" "agent-control cancel" \
		"agent-db status"; do
		[[ "$seen" == *" $cmd"* ]] || fail "no example for $cmd"
	done
	[ "$n" -ge 10 ] || fail "only $n examples"
}

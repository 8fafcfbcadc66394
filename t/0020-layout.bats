#!/usr/bin/env bats
# The source tree's layers (lib/README): build-aux/check-layers passes on the
# tree and fails, naming the file, on each kind of breach; agent-sim alone
# links the simulator; the shared options are declared once.

load helpers/common

setup() {
	tree="$BATS_TEST_TMPDIR/tree"
	mkdir -p "$tree"
	cp -r "$ROOT/lib" "$ROOT/sim" "$ROOT/cmd" "$tree/"
}

# breach FILE LINE: adds an include line to FILE of the copy
breach() { printf '%s\n' "$2" >>"$tree/$1"; }

@test "check-layers: the tree is clean" {
	run -0 sh "$ROOT/build-aux/check-layers" "$ROOT"
	assert_output ""
}

@test "check-layers: each kind of breach fails and names the file" {
	local f inc want
	while IFS='|' read -r f inc want; do
		rm -rf "$tree"/*; cp -r "$ROOT/lib" "$ROOT/sim" "$ROOT/cmd" "$tree/"
		breach "$f" "#include \"$inc\""
		run -1 --separate-stderr sh "$ROOT/build-aux/check-layers" "$tree"
		[[ $stderr == *"$f: "*"$want"* ]] || fail "$f including $inc: '$stderr' does not say '$want'"
	done <<'CASES'
lib/base/json.c|store/store.h|above base
lib/base/buf.h|budget.h|above base
lib/store/store.c|net/http.h|siblings do not include each other
lib/net/http.c|store/store.h|siblings do not include each other
lib/budget.c|obs/prom.h|above domain
lib/session.c|views/views.h|above domain
lib/obs/metrics.c|views/views.h|siblings do not include each other
lib/budget.c|sim/sim.h|the simulator is not part of lib/
sim/sim_model.c|store/store.h|it may use base only
sim/sim.c|budget.h|it may use base only
lib/budget.c|misc/thing.h|in no layer
CASES
	# a command other than agent-sim's main
	rm -rf "$tree"/*; cp -r "$ROOT/lib" "$ROOT/sim" "$ROOT/cmd" "$tree/"
	breach cmd/agent-status.c '#include "sim/sim.h"'
	run -1 --separate-stderr sh "$ROOT/build-aux/check-layers" "$tree"
	assert_equal "$stderr" "check-layers: cmd/agent-status.c: includes the simulator (only cmd/agent-sim.c may)"
}

@test "the simulator is linked into agent-sim only" {
	local c
	nm "$AGENT_BIN/agent-sim" | grep -q ' T sim_start$' || fail "agent-sim has no sim_start"
	for c in "$AGENT_BIN"/agent-*; do
		[ "${c##*/}" = agent-sim ] && continue
		[ -f "$c" ] && head -c 4 "$c" | grep -q ELF || continue
		if nm "$c" | grep -qE ' [TtDdBb] sim_'; then fail "${c##*/} carries simulator code"; fi
	done
	# libagent.a has no simulator object
	run -0 ar t "$AGENT_BIN/../libagent.a"
	refute_output --regexp 'sim'
}

@test "the shared options are declared once, in cmd/cli.c" {
	run -0 grep -lE '\{ *"(db|agent|json|quiet)", ' "$ROOT"/cmd/*.c
	assert_output "$ROOT/cmd/cli.c"
}

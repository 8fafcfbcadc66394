#!/usr/bin/env bats
# completions/agent.bash: the completion function called with prepared
# COMP_WORDS/COMP_CWORD: commands, options read from each command's --help
# (cached per shell), values from the option's argument name and the store.

load helpers/common
load helpers/views

setup() {
	fresh_store
	export AGENT_NOW=2026-11-24T03:20:00Z
	# shellcheck source=/dev/null
	source "$ROOT/completions/agent.bash"
}
teardown() { drop_store; }

# comp LINE: completes the last word of LINE (a trailing space: a new word);
# prints the candidates, one a line, sorted
comp() {
	local line=$1 fn
	read -r -a COMP_WORDS <<<"$line"
	[[ $line == *' ' ]] && COMP_WORDS+=('')
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE=$line
	COMP_POINT=${#line}
	COMPREPLY=()
	fn=_agent_cmd
	[ "${COMP_WORDS[0]}" = agent ] && fn=_agent
	"$fn"
	printf '%s\n' "${COMPREPLY[@]}" | sort
}

# help_options CMD: every -x and --long of CMD --help (as t/0010 reads them)
help_options() {
	"$1" --help | grep -oE '^ {2,6}(-[^- ](, )?)?(--[[:alnum:]][[:alnum:]-]*)?' | grep -oE -- '--?[[:alnum:]?][[:alnum:]-]*' | sort -u
}

@test "agent COMMAND: the commands next to agent and the operator words" {
	run -0 comp "agent "
	for w in status history session logs monitor budget db gate trigger pause resume cancel help cycle sim; do
		assert_line "$w"
	done
	run -0 comp "agent st"
	assert_output "status"
	run -0 comp "agent his"
	assert_output "history"
}

@test "every command: the completion knows every option of its --help" {
	local c bad= want got
	for c in "$AGENT_BIN"/agent-*; do
		want=$(help_options "$c")
		got=$(comp "${c##*/} -" | sed 's/=$//' | sort -u)
		[ "$want" = "$got" ] || bad+="${c##*/}: --help has: $(echo $want); completion: $(echo $got)"$'\n'
	done
	[ -z "$bad" ] || fail "$bad"
	# through the dispatcher too
	assert_equal "$(comp 'agent history -' | sed 's/=$//')" "$(help_options agent-history)"
}

@test "options: one match with an argument gets '=' and no space" {
	run -0 comp "agent-status --re"
	assert_output "--recent="
	run -0 comp "agent status --js"
	assert_output "--json"
	run -0 comp "agent trigger --mon"
	assert_output "--monitor"
	run -0 comp "agent trigger --mod"
	assert_output "--model="
	run -0 comp "agent-monitor --no"
	assert_output "--no-cancel"
}

@test "values: outcomes, gates, kinds, files" {
	run -0 comp "agent history --outcome failed_b"
	assert_output $'failed_backtest\nfailed_backtest_gate'
	run -0 comp "agent-history -o succ"
	assert_output "success"
	run -0 comp "agent-history --outcome=canc"
	assert_output "--outcome=cancelled"
	# COMP_WORDBREAKS splits --outcome=canc into three words
	COMP_WORDS=(agent-history --outcome = canc) COMP_CWORD=3 COMPREPLY=()
	_agent_cmd
	assert_equal "${COMPREPLY[*]}" cancelled
	run -0 comp "agent-gate --gate "
	assert_line training
	assert_line backtest
	run -0 comp "agent-invoke --kind p"
	assert_output "post_training"
	touch "$BATS_TEST_TMPDIR/store-file.db"
	run -0 comp "agent-status --db $BATS_TEST_TMPDIR/store-f"
	assert_output "$BATS_TEST_TMPDIR/store-file.db"
}

@test "session ids come from the store" {
	run -0 comp "agent session "
	assert_equal "$output" ""
	seed_views
	run -0 comp "agent session "
	assert_output $'1\n2\n3\n4\n5'
	run -0 comp "agent-monitor "
	assert_output $'1\n2\n3\n4\n5'
	run -0 comp "agent logs --session "
	assert_output $'1\n2\n3\n4\n5'
	run -0 comp "agent-logs -s 4"
	assert_output "4"
}

@test "command words: agent budget, agent-control; none again after one" {
	run -0 comp "agent budget "
	assert_output $'check\nhistory\nhold\nprice\nreconcile\nreport\nset\nsettle\nstatus\nteam'
	run -0 comp "agent budget reconcile --t"
	assert_output $'--textfile\n--tokens\n--ttl'
	# agent budget report is agent-cost: its options, the groups, no word again
	run -0 comp "agent budget rep"
	assert_output "report"
	run -0 comp "agent budget report --b"
	assert_output "--by="
	run -0 comp "agent budget report --by "
	assert_output $'day\nkind\nmodel\nmonth\nsession\nweek'
	run -0 comp "agent-cost --by m"
	assert_output $'model\nmonth'
	run -0 comp "agent budget report "
	assert_output ""
	run -0 comp "agent-control "
	assert_output $'cancel\npause\nresume'
	run -0 comp "agent-control pause "
	assert_output ""
	run -0 comp "agent pause "
	assert_output ""
	run -0 comp "agent pause --re"
	assert_output "--reason="
}

@test "--help is read once per shell" {
	local dir="$BATS_TEST_TMPDIR/bin"
	mkdir -p "$dir"
	cat >"$dir/agent-fake" <<-'SH'
	#!/bin/sh
	echo run >>"${0%/*}/calls"
	printf 'Usage: agent-fake [OPTION...]\nA fake.\n\n  -x, --xray=LEVEL           how deep\n      --zulu                 last\n'
	SH
	chmod +x "$dir/agent-fake"
	PATH="$dir:$PATH"
	# in this shell (not in `run`'s subshell), three times
	comp "agent-fake --" >"$BATS_TEST_TMPDIR/a"
	comp "agent-fake -" >"$BATS_TEST_TMPDIR/b"
	comp "agent-fake --x" >"$BATS_TEST_TMPDIR/c"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/a")" $'--xray\n--zulu'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/b")" $'--xray\n--zulu\n-x'
	assert_equal "$(cat "$BATS_TEST_TMPDIR/c")" '--xray='
	assert_equal "$(wc -l <"$dir/calls")" 1
	# an unknown command completes nothing, quietly
	run -0 comp "agent nosuch --"
	assert_output ""
}

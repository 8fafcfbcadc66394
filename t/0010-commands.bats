#!/usr/bin/env bats
# The common test of every command: --help, --usage, --version, a bad
# option, and its man page (every option named, the synopsis argp's, clean
# under mandoc -Tlint, the examples run); agent(7) names every environment
# variable the code reads and the six exit statuses; agent-formats(5) names
# every table and column of the schema.
#
# Which commands: C_CMDS and SH_CMDS of the Makefile as committed (HEAD's
# Makefile in a git checkout, else the Makefile itself), those that are built
# in $AGENT_BIN.  So a command in flight (built, not yet in the committed
# Makefile) is not checked, and a command that lands without its man page
# fails here: man/<command>.1 comes with the command.
#
# Which sources (for the environment and schema checks): lib/*.c, cmd/* and
# share/sql/sqlite/*.sql as committed (HEAD's), else as they are.
#
# Man page examples.  In EXAMPLES every ".Bd" display follows a comment
# line that marks it:
#   .\" example            run it; it must exit 0
#   .\" example exit=N     run it; it must exit N
#   .\" example-norun      shown, not run (needs the network, a key, a server)
# A runnable display is a bash script: its text with the mdoc escapes \e \&
# \- \(aq \(dq undone, run with `bash -e -o pipefail` and a 60 s timeout.  The
# displays of one page run in order in one fresh directory with a fresh SQLite
# store (AGENT_DB=<dir>/agent.db, never migrated beforehand), the commands of
# $AGENT_BIN first on PATH, HOME and XDG_STATE_HOME inside the directory, no
# API key, and the API and backend URLs on a closed local port, so that no
# example can reach the network or spend money.  Every page needs at least
# one runnable example.

load helpers/common

# Known defects, each tolerated until it is fixed, then reported as fixed so
# the entry is removed ("strict" expected failures).  COMMAND:CHECK.
#   agent-budget:usage    its --usage=JSON option (cmd/agent-budget.c) shadows
#                         argp's --usage, so `agent-budget --usage` exits 2
KNOWN_DEFECTS=""

setup_file() {
	local mk
	if git -C "$ROOT" rev-parse --verify -q HEAD:Makefile >/dev/null 2>&1; then
		mk=$(git -C "$ROOT" show HEAD:Makefile)
	else
		mk=$(cat "$ROOT/Makefile")
	fi
	MAKE_CMDS=$({ printf '%s\n' "$mk"; printf '\n__agent_cmds:\n\t@echo $(C_CMDS) $(SH_CMDS)\n'; } |
		make -s --no-print-directory -C "$ROOT" -f - __agent_cmds)
	CMDS=
	for c in $MAKE_CMDS; do
		if [ -x "$AGENT_BIN/$c" ]; then CMDS="$CMDS $c"; else echo "# $c: not built, not checked" >&3; fi
	done
	export MAKE_CMDS CMDS
}

# known CMD CHECK: 0 when CMD:CHECK is a known defect.
known() {
	case " $(echo $KNOWN_DEFECTS) " in *" $1:$2 "*) return 0 ;; esac
	return 1
}

# render PAGE: the page as plain text, lines never wrapped.
render() {
	mandoc -T ascii -O width=1000 "$1" | sed 's/.\x08//g'
}

# section NAME: the lines of section NAME of rendered text on stdin.
section() {
	awk -v want="$1" '/^[^ \t]/ { on = ($0 == want); next } on'
}

# src_section NAME FILE: the mdoc source of section NAME.
src_section() {
	awk -v want=".Sh $1" '/^\.Sh / { on = ($0 == want); next } on' "$2"
}

# has_token TEXT WORD: WORD occurs in TEXT, not as part of a longer option or name.
has_token() {
	local w
	w=$(printf '%s' "$2" | sed 's/[][\/.^$*+?(){}|]/\\&/g')
	grep -qE -- "(^|[^[:alnum:]_-])$w([^[:alnum:]_-]|$)" <<<"$1"
}

# options CMD: one line per option of CMD --help: "SHORT LONG ARG" ("-" for none).
options() {
	local line s l a
	"$1" --help | while IFS= read -r line; do
		[[ $line =~ ^\ {2,6}(-([^-\ ])(,\ )?)?(--([[:alnum:]][[:alnum:]-]*))?(\[?=([^][:space:]]+)\]?)?(\ ([A-Z][A-Z_=]*))? ]] || continue
		s=${BASH_REMATCH[2]} l=${BASH_REMATCH[5]} a=${BASH_REMATCH[7]:-${BASH_REMATCH[9]}}
		[ -n "$s$l" ] || continue
		echo "${s:--} ${l:--} ${a:--}"
	done
}

# pages: the man pages checked: those of the commands checked, and every
# page of sections 2 to 9 (agent(7), agent-formats(5), ...).
pages() {
	local c p
	for c in $CMDS; do
		[ -f "$ROOT/man/$c.1" ] && echo "$ROOT/man/$c.1"
	done
	for p in "$ROOT"/man/*.[2-9]; do
		[ -f "$p" ] && echo "$p"
	done
}

# fail_with TEXT: fails the test, showing TEXT, unless TEXT is empty.
fail_with() {
	[ -z "$1" ] || { printf '%s\n' "$1"; return 1; }
}

# expect_known CMD CHECK OK: checks OK (0 or 1) against the known defects;
# prints a failure line, or a note on fd 3 for a defect still there.
expect_known() {
	if known "$1" "$2"; then
		if [ "$3" = 1 ]; then
			echo "$1: the known defect '$2' is fixed: remove '$1:$2' from KNOWN_DEFECTS"
		else
			echo "# known defect: $1 ($2)" >&3
		fi
	elif [ "$3" = 0 ]; then
		return 1
	fi
	return 0
}

@test "the command list comes from the Makefile and its commands are built" {
	[[ " $MAKE_CMDS " == *" agent-db "* ]] || fail_with "no agent-db in C_CMDS: cannot read the Makefile ($MAKE_CMDS)"
	[[ " $CMDS " == *" agent-db "* ]] || fail_with "agent-db is not built in $AGENT_BIN: run make"
	# the --help parser reads argp's layout
	assert_equal "$(options agent-db | tr '\n' ' ')" "d db URI j json - q quiet - ? help - - usage - V version - "
	local c bad=
	for c in $CMDS; do
		[ "$(command -v "$c")" = "$AGENT_BIN/$c" ] || bad+="$c is not found first on PATH"$'\n'
	done
	fail_with "$bad"
}

@test "every command: --help exits 0, empty stderr, stdout starts with Usage:" {
	local c bad=
	for c in $CMDS; do
		run --separate-stderr "$c" --help
		[ "$status" -eq 0 ] || bad+="$c --help: exit $status"$'\n'
		[ -z "$stderr" ] || bad+="$c --help: stderr: $stderr"$'\n'
		[[ $output == "Usage: $c "* ]] || bad+="$c --help: stdout does not start with 'Usage: $c ': ${output%%$'\n'*}"$'\n'
	done
	fail_with "$bad"
}

@test "every command: --usage and --version exit 0 with empty stderr" {
	local c bad= ok line
	for c in $CMDS; do
		run --separate-stderr "$c" --usage
		ok=0
		[ "$status" -eq 0 ] && [ -z "$stderr" ] && [[ $output == "Usage: $c "* ]] && ok=1
		line=$(expect_known "$c" usage "$ok") || line="$c --usage: exit $status, stderr '$stderr', stdout '${output%%$'\n'*}'"
		[ -z "$line" ] || bad+="$line"$'\n'
		run --separate-stderr "$c" --version
		[ "$status" -eq 0 ] || bad+="$c --version: exit $status"$'\n'
		[ -z "$stderr" ] || bad+="$c --version: stderr: $stderr"$'\n'
		[ -n "$output" ] || bad+="$c --version: prints nothing"$'\n'
	done
	fail_with "$bad"
}

@test "every command: a bad option exits 2, one diagnostic line and a hint, nothing on stdout" {
	local c bad=
	for c in $CMDS; do
		run --separate-stderr "$c" --no-such-option
		[ "$status" -eq 2 ] || bad+="$c --no-such-option: exit $status, not 2"$'\n'
		[ -z "$output" ] || bad+="$c --no-such-option: stdout: $output"$'\n'
		# argp wraps its hint at 79 columns: a long name makes it two lines
		[ "${#stderr_lines[@]}" -ge 2 ] && [ "${#stderr_lines[@]}" -le 3 ] ||
			bad+="$c --no-such-option: ${#stderr_lines[@]} lines on stderr, not a line and a hint: $stderr"$'\n'
		[[ ${stderr_lines[0]-} == "$c: "*no-such-option* ]] ||
			bad+="$c --no-such-option: first line is not '$c: ...no-such-option...': ${stderr_lines[0]-}"$'\n'
		[[ $(printf '%s ' "${stderr_lines[@]:1}") == "Try "*"$c "* ]] ||
			bad+="$c --no-such-option: the rest is not a hint 'Try ... $c ...': ${stderr_lines[*]:1}"$'\n'
	done
	fail_with "$bad"
}

@test "every command has a man page that names every option of its --help" {
	local c bad= page text opts syn s l a letters line ok
	for c in $CMDS; do
		page="$ROOT/man/$c.1"
		ok=0
		[ -f "$page" ] && ok=1
		line=$(expect_known "$c" man "$ok") || line="$c: no man page man/$c.1"
		[ -z "$line" ] || bad+="$line"$'\n'
		[ -f "$page" ] || continue
		text=$(render "$page")
		opts=$(section OPTIONS <<<"$text")
		syn=$(section SYNOPSIS <<<"$text" | tr -s ' \n' '  ')
		[ -n "$opts" ] || bad+="$c.1: no OPTIONS section"$'\n'
		letters=$(grep -oE '\[-[[:alnum:]?]+\]' <<<"$syn" | tr -d '[]-' | tr -d '\n')
		while read -r s l a; do
			if [ "$s" != - ]; then
				has_token "$opts" "-$s" || bad+="$c.1: OPTIONS does not name -$s"$'\n'
				if [ "$a" = - ]; then
					[[ $letters == *"$s"* ]] || bad+="$c.1: SYNOPSIS has no -$s in [-...]"$'\n'
				else
					[[ $syn == *"[-$s $a]"* ]] || bad+="$c.1: SYNOPSIS has no [-$s $a]"$'\n'
				fi
			fi
			if [ "$l" != - ]; then
				has_token "$opts" "--$l" || bad+="$c.1: OPTIONS does not name --$l"$'\n'
				if [ "$a" = - ]; then
					[[ $syn == *"[--$l]"* ]] || bad+="$c.1: SYNOPSIS has no [--$l]"$'\n'
				else
					[[ $syn == *"[--$l=$a]"* ]] || bad+="$c.1: SYNOPSIS has no [--$l=$a]"$'\n'
				fi
			fi
		done < <(options "$c")
	done
	fail_with "$bad"
}

@test "every command's man page synopsis begins with what --usage prints" {
	local c bad= usage syn
	for c in $CMDS; do
		[ -f "$ROOT/man/$c.1" ] || continue     # the test above says so
		known "$c" usage && continue            # no --usage to compare with
		usage=$("$c" --usage | tr -s ' \n' '  ' | sed 's/^Usage: //; s/ $//')
		# the first synopsis block: up to the next line that starts with the name
		syn=$(render "$ROOT/man/$c.1" | section SYNOPSIS |
			awk -v c="$c" 'NF == 0 { next } $0 ~ "^     " c "( |$)" { n++ } n == 1' |
			tr -s ' \n' '  ' | sed 's/^ //; s/ $//')
		[ "$syn" = "$usage" ] || bad+="$c.1: SYNOPSIS: $syn"$'\n'"$c --usage: $usage"$'\n'
	done
	fail_with "$bad"
}

@test "every man page is clean under mandoc -Tlint -Wwarning and has the sections it needs" {
	local p bad= out sec need
	[[ $(pages) == *"/agent.7"* ]] || fail_with "no man page agent.7 in $ROOT/man"
	for p in $(pages); do
		out=$(mandoc -T lint -W warning "$p" 2>&1) || bad+="$out"$'\n'
		need="NAME DESCRIPTION EXIT_STATUS EXAMPLES SEE_ALSO"
		[[ $p == *.1 ]] && need+=" SYNOPSIS OPTIONS"
		for sec in $need; do
			grep -qx "\.Sh ${sec//_/ }" "$p" || bad+="${p##*/}: no section ${sec//_/ }"$'\n'
		done
	done
	fail_with "$bad"
}

# extract_examples PAGE DIR: writes DIR/NN.sh and DIR/NN.exit for each
# runnable example; fails on an unmarked display.
extract_examples() {
	awk -v dir="$2" '
	function unescape(s) {
		gsub(/\\\(aq/, "\047", s); gsub(/\\\(dq/, "\"", s)
		gsub(/\\-/, "-", s); gsub(/\\&/, "", s); gsub(/\\e/, "\\", s)
		return s
	}
	/^\.Sh / { ex = ($0 == ".Sh EXAMPLES"); prev = $0; next }
	!ex { prev = $0; next }
	inblk && /^\.Ed/ { inblk = 0; if (run) close(f); prev = $0; next }
	inblk { if (run) print unescape($0) > f; prev = $0; next }
	/^\.Bd / {
		inblk = 1; run = 0
		if (prev ~ /^\.\\" example-norun[ \t]*$/) {
		} else if (prev ~ /^\.\\" example( exit=[0-9]+)?[ \t]*$/) {
			n++; run = 1; code = 0
			if (prev ~ /exit=/) { code = prev; sub(/.*exit=/, "", code); sub(/[ \t]*$/, "", code) }
			f = sprintf("%s/%02d.sh", dir, n)
			print code > sprintf("%s/%02d.exit", dir, n)
			close(sprintf("%s/%02d.exit", dir, n))
		} else {
			printf "line %d: a display in EXAMPLES without an example marker\n", NR
			bad = 1
		}
		prev = $0; next
	}
	/^\.\\" example/ && prev ~ /^\.\\" example/ { printf "line %d: two markers\n", NR; bad = 1 }
	{ prev = $0 }
	END { exit bad }' "$1"
}

@test "every man page's runnable examples run in a fresh SQLite store" {
	local p bad= name dir sh want got out count
	for p in $(pages); do
		name=${p##*/}
		dir="$BATS_TEST_TMPDIR/ex-$name"
		mkdir -p "$dir/src" "$dir/run/home" "$dir/run/state"
		if ! out=$(extract_examples "$p" "$dir/src"); then
			bad+="$name: $out"$'\n'
			continue
		fi
		count=0
		for sh in "$dir"/src/*.sh; do
			[ -f "$sh" ] || continue
			count=$((count + 1))
			want=$(cat "${sh%.sh}.exit")
			out=$(cd "$dir/run" && env -i PATH="$AGENT_BIN:$PATH" LC_ALL=C.UTF-8 TERM=dumb \
				HOME="$dir/run/home" XDG_STATE_HOME="$dir/run/state" TMPDIR="$dir/run" \
				AGENT_DB="$dir/run/agent.db" AGENT_DATADIR="$AGENT_DATADIR" \
				ANTHROPIC_BASE_URL=http://127.0.0.1:9 AGENT_BACKEND_URL=http://127.0.0.1:9/api/v1 \
				AGENT_HEALTH_CHECK=0 AGENT_COEXIST_CHECK=0 \
				timeout 60 bash -e -o pipefail "$sh" </dev/null 2>&1) && got=0 || got=$?
			[ "$got" = "$want" ] ||
				bad+="$name: example ${sh##*/}: exit $got, not $want"$'\n'"$(sed 's/^/    | /' "$sh")"$'\n'"$(sed 's/^/    > /' <<<"$out")"$'\n'
		done
		[ "$count" -gt 0 ] || bad+="$name: no runnable example"$'\n'
	done
	fail_with "$bad"
}

# committed_text PATHSPEC...: the text of the files, as committed in HEAD
# (else as they are); ":!GLOB" excludes.
committed_text() {
	if git -C "$ROOT" rev-parse --verify -q HEAD >/dev/null 2>&1; then
		git -C "$ROOT" grep -h -I --no-color -e '' HEAD -- "$@" || true
		return
	fi
	local g f x skip
	for g in "$@"; do
		[[ $g == ':!'* ]] && continue
		for f in "$ROOT"/$g; do
			[ -f "$f" ] || continue
			skip=0
			for x in "$@"; do
				[[ $x == ':!'* && ${f#"$ROOT"/} == ${x#:!} ]] && skip=1
			done
			[ "$skip" = 1 ] || cat "$f"
		done
	done
}

@test "agent(7) names every environment variable the code reads" {
	local v bad= env vars c
	env=$(render "$ROOT/man/agent.7" | section ENVIRONMENT)
	[ -n "$env" ] || fail_with "agent.7: no ENVIRONMENT section"
	# C: getenv("X") and the env_*("X", ...) helpers; shell: $X and ${X of
	# the toolkit's prefixes; and every variable a --help names
	vars=$(
		committed_text 'lib/*.c' 'cmd/*.c' |
			grep -oE '(getenv|env_[a-z_]+)\(\s*"[A-Z][A-Z0-9_]*"' | sed -E 's/.*"(.*)"/\1/' || true
		committed_text 'cmd/*' ':!cmd/*.c' ':!cmd/*.h' |
			grep -oE '\$\{?((AGENT|ANTHROPIC|KTRDR|OTEL|PROMETHEUS)_[A-Z0-9_]+|TRACEPARENT|NO_COLOR|XDG_[A-Z_]+|CREDENTIALS_DIRECTORY)' |
			tr -d '${' || true
		for c in $CMDS; do "$c" --help; done | grep -oE '\b[A-Z][A-Z0-9]*(_[A-Z0-9]+)+\b' || true
	)
	vars=$(sort -u <<<"$vars")
	[[ $vars == *AGENT_DB* ]] || fail_with "found no variables (the search is broken): $vars"
	for v in $vars; do
		has_token "$env" "$v" || bad+="agent.7: ENVIRONMENT does not describe $v"$'\n'
	done
	fail_with "$bad"
}

@test "agent(7) has the exit status table with all six codes" {
	local src n bad=
	src=$(src_section "EXIT STATUS" "$ROOT/man/agent.7")
	[ -n "$src" ] || fail_with "agent.7: no EXIT STATUS section"
	for n in 0 1 2 3 4 5; do
		grep -qx "\.It $n" <<<"$src" || bad+="agent.7: EXIT STATUS has no entry for $n"$'\n'
	done
	[ "$(grep -c '^\.It ' <<<"$src")" -eq 6 ] || bad+="agent.7: EXIT STATUS has other entries than 0 to 5"$'\n'
	fail_with "$bad"
}

@test "agent-formats(5) describes every table and column of the schema" {
	local bad= pairs table col entry
	# "table column" pairs: CREATE TABLE bodies and ALTER TABLE ... ADD COLUMN
	pairs=$(committed_text 'share/sql/sqlite/*.sql' | awk '
		/^CREATE TABLE/ { t = $3; if (t == "IF") t = $6; intab = 1; print t, ""; next }
		intab && /^\)/ { intab = 0; next }
		intab && /^ +[a-z_]+ / { print t, $1 }
		/^ALTER TABLE .* ADD COLUMN/ { for (i = 1; i <= NF; i++) if ($i == "COLUMN") print $3, $(i + 1) }
	' | sed 's/(//')
	[[ $pairs == *"agent_sessions phase"* ]] || fail_with "cannot read the schema: $pairs"
	while read -r table col; do
		# the column items (".It Li a , b") from ".It Sy TABLE" to the next
		# table or section
		entry=$(awk -v t=".It Sy $table" '$0 == t { on = 1; print; next } /^\.It Sy |^\.Sh / { on = 0 }
			on && /^\.It Li / { print }' "$ROOT/man/agent-formats.5")
		if [ -z "$entry" ]; then
			bad+="agent-formats.5: no entry '.It Sy $table'"$'\n'
		elif [ -n "$col" ] && ! has_token "$entry" "$col"; then
			bad+="agent-formats.5: $table.$col is not described"$'\n'
		fi
	done < <(sort -u <<<"$pairs")
	fail_with "$bad"
}

@test "a mistyped long option near a known one: a usage error that names it; an abbreviation still works" {
	# a store of the test's own (never the default one of whoever runs it)
	fresh_store
	run -2 --separate-stderr agent-status --jsno
	assert_equal "$output" ""
	assert_equal "$stderr" "agent-status: unrecognized option '--jsno'; did you mean '--json'?
Try \`agent-status --help' or \`agent-status --usage' for more information."
	run -2 --separate-stderr agent-control pause --reasn x
	assert_equal "${stderr%%$'\n'*}" "agent-control: unrecognized option '--reasn'; did you mean '--reason'?"
	# an option of the shared table (cli_shared) too, and one after a verb
	run -2 --separate-stderr agent-budget status --agnet x
	assert_equal "${stderr%%$'\n'*}" "agent-budget: unrecognized option '--agnet'; did you mean '--agent'?"
	# far from every name: argp's own words
	run -2 --separate-stderr agent-history --frobnicate
	assert_equal "${stderr%%$'\n'*}" "agent-history: unrecognized option '--frobnicate'"
	# an option's argument is not an option; getopt's abbreviations stand
	run -0 --separate-stderr agent-control pause --reason --jsno --json
	assert_equal "$(jq -r .reason <<<"$output")" "--jsno"
	run -0 --separate-stderr agent-status --js
	jq -e .agent <<<"$output" >/dev/null
	drop_store
}

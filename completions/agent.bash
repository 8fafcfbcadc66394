# bash completion for the agent toolkit: `agent COMMAND ...` and every
# agent-* command.  Options are read from each command's own --help (argp's
# option table, the single source), once per shell; values come from the
# option's argument name (OUTCOME, ID, GATE, KIND, URI, FILE...) and, for
# session ids, from the store (agent-history --json).

declare -gA _agent_opts=() _agent_argopts=() _agent_metavars=() _agent_verbs=()

# _agent_exe NAME: the agent-* executable NAME (next to `agent`, else on PATH)
_agent_exe() {
	local here p
	p=$(type -P agent 2>/dev/null) && here=${p%/*}
	if [[ -n $here && -x $here/$1 ]]; then
		printf '%s\n' "$here/$1"
	else
		type -P "$1" 2>/dev/null
	fi
}

# _agent_learn EXE: parses `EXE --help` into the caches (once per shell):
# its options, those taking an argument, each one's argument name, and the
# command words of its usage ("pause|resume|cancel", "Commands: a | b ...").
_agent_learn() {
	local exe=$1 line s l a words
	[[ -n ${_agent_opts[$exe]+set} ]] && return 0
	local opts='' argopts=' ' verbs='' help
	help=$("$exe" --help 2>/dev/null)
	while IFS= read -r line; do
		if [[ $line =~ ^\ {2,6}(-([^-\ ])(,\ )?)?(--([[:alnum:]][[:alnum:]-]*))?(\[?=([^][:space:]]+)\]?)?(\ ([A-Z][A-Z_=]*))? ]]; then
			s=${BASH_REMATCH[2]} l=${BASH_REMATCH[5]} a=${BASH_REMATCH[7]:-${BASH_REMATCH[9]}}
			[[ -n $s$l ]] || continue
			[[ -n $s ]] && opts+=" -$s"
			[[ -n $l ]] && opts+=" --$l"
			if [[ -n $a ]]; then
				[[ -n $s ]] && { argopts+="-$s "; _agent_metavars["$exe -$s"]=$a; }
				[[ -n $l ]] && { argopts+="--$l "; _agent_metavars["$exe --$l"]=$a; }
			fi
		elif [[ $line =~ ^Usage:\ [^\ ]+\ .*\ ([a-z]+(\|[a-z]+)+)$ ]]; then
			verbs=${BASH_REMATCH[1]//|/ }
		fi
	done <<<"$help"
	# a paragraph "Commands: status | check [--estimate USD] | hold ...": the
	# first word of each part
	if [[ -z $verbs && $(tr '\n' ' ' <<<"$help") =~ Commands:\ ([^.]*) ]]; then
		words=${BASH_REMATCH[1]}
		verbs=$(tr '|' '\n' <<<"$words" | awk '{ print $1 }' | grep -E '^[a-z]+$' | tr '\n' ' ')
	fi
	_agent_opts[$exe]=$opts
	_agent_argopts[$exe]=$argopts
	_agent_verbs[$exe]=$verbs
}

# _agent_sessions: recent session ids, newest first (nothing without a store)
_agent_sessions() {
	local h out
	h=$(_agent_exe agent-history) || return 0
	out=$("$h" --json --limit 50 2>/dev/null) || return 0
	# each session object begins with its id
	grep -oE '\{"id":[0-9]+' <<<"$out" | cut -d: -f2
}

# _agent_values METAVAR CUR: the values of an option's argument
_agent_values() {
	case $1 in
	OUTCOME)
		compgen -W 'success failed_design failed_training failed_training_gate
			failed_backtest failed_backtest_gate failed_assessment cancelled
			failed_interrupted failed_orphan' -- "$2" ;;
	ID|SESSION) compgen -W "$(_agent_sessions)" -- "$2" ;;
	GATE) compgen -W 'training backtest' -- "$2"; compgen -f -X '!*.jq' -- "$2" ;;
	KIND) compgen -W 'design post_training assessment' -- "$2" ;;
	GROUP) compgen -W 'day week month model kind session' -- "$2" ;;
	WHEN) compgen -W 'now 24h 7d 4w' -- "$2" ;;
	URI|FILE|PATH|DIR) compgen -f -- "$2" ;;
	esac
}

# _agent_complete EXE FIRST: completes the words of EXE from index FIRST on
_agent_complete() {
	local exe=$1 first=$2 cur=${COMP_WORDS[COMP_CWORD]} prev='' i w verb='' name
	((COMP_CWORD > first)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	_agent_learn "$exe"
	name=${exe##*/}
	# --opt=VALUE: one word, or three when '=' breaks words (COMP_WORDBREAKS)
	if [[ $cur == --*=* ]]; then
		local o=${cur%%=*} v=${cur#*=}
		mapfile -t COMPREPLY < <(_agent_values "${_agent_metavars["$exe $o"]-}" "$v")
		COMPREPLY=("${COMPREPLY[@]/#/$o=}")
		return 0
	fi
	if [[ $cur == = && $prev == --* ]]; then
		mapfile -t COMPREPLY < <(_agent_values "${_agent_metavars["$exe $prev"]-}" '')
		return 0
	fi
	if [[ $prev == = ]] && ((COMP_CWORD - 2 >= first)); then
		mapfile -t COMPREPLY < <(_agent_values "${_agent_metavars["$exe ${COMP_WORDS[COMP_CWORD - 2]}"]-}" "$cur")
		return 0
	fi
	# the value of the option before
	if [[ -n $prev && ${_agent_argopts[$exe]} == *" $prev "* && $cur != -* ]]; then
		mapfile -t COMPREPLY < <(_agent_values "${_agent_metavars["$exe $prev"]-}" "$cur")
		return 0
	fi
	if [[ $cur == -* ]]; then
		local extra=''
		[[ $name == agent-cycle && $first == 2 ]] && extra=' --monitor --follow'
		mapfile -t COMPREPLY < <(compgen -W "${_agent_opts[$exe]}$extra" -- "$cur")
		# an option that takes an argument: --opt= without a space after
		[[ ${#COMPREPLY[@]} == 1 && ${_agent_argopts[$exe]} == *" ${COMPREPLY[0]} "* && ${COMPREPLY[0]} == --* ]] &&
			{ COMPREPLY[0]+="="; compopt -o nospace 2>/dev/null || true; }
		return 0
	fi
	# positional words: a command word first, else what the command takes
	for ((i = first; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		[[ " ${_agent_verbs[$exe]} " == *" $w "* ]] && verb=$w
	done
	if [[ -n ${_agent_verbs[$exe]} && -z $verb ]]; then
		mapfile -t COMPREPLY < <(compgen -W "${_agent_verbs[$exe]}" -- "$cur")
	elif [[ $name == agent-session || $name == agent-monitor ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_agent_sessions)" -- "$cur")
	fi
	return 0
}

# `agent COMMAND ...`: the commands next to agent (and on PATH), the
# operator words, then the command's own completion
_agent() {
	local cur=${COMP_WORDS[COMP_CWORD]} sub exe here p words
	COMPREPLY=()
	if ((COMP_CWORD == 1)); then
		words='help pause resume cancel trigger budget'
		p=$(type -P agent 2>/dev/null) && here=${p%/*}
		for p in ${here:+"$here"/agent-*} $(compgen -c agent- 2>/dev/null); do
			p=${p##*/}
			words+=" ${p#agent-}"
		done
		mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur" | sort -u)
		return 0
	fi
	sub=${COMP_WORDS[1]}
	case $sub in
	pause|resume|cancel) exe=$(_agent_exe agent-control) ;;
	trigger) exe=$(_agent_exe agent-cycle) ;;
	help) return 0 ;;
	*) exe=$(_agent_exe "agent-$sub") ;;
	esac
	[[ -n $exe ]] || return 0
	# `agent budget report ...` is agent-cost
	if [[ $sub == budget && ${COMP_WORDS[2]-} == report ]] && ((COMP_CWORD > 2)); then
		exe=$(_agent_exe agent-cost) && _agent_complete "$exe" 3
		return 0
	fi
	_agent_complete "$exe" 2
	# `agent budget r`: report too (agent-cost's word in the dispatcher)
	if [[ $sub == budget ]] && ((COMP_CWORD == 2)) && [[ report == "${COMP_WORDS[2]}"* ]] &&
		[[ ${COMP_WORDS[2]} != -* ]]; then
		COMPREPLY+=(report)
	fi
	# `agent pause` is already the command word
	if [[ $sub == pause || $sub == resume || $sub == cancel ]]; then
		local keep=() r
		for r in "${COMPREPLY[@]}"; do
			[[ $r == pause || $r == resume || $r == cancel ]] || keep+=("$r")
		done
		COMPREPLY=("${keep[@]}")
	fi
}

# `agent-X ...` itself
_agent_cmd() {
	local exe
	COMPREPLY=()
	exe=$(type -P "${COMP_WORDS[0]}" 2>/dev/null) || exe=${COMP_WORDS[0]}
	[[ -x $exe ]] || return 0
	_agent_complete "$exe" 1
}

complete -F _agent agent
for _agent_c in $(compgen -c agent- 2>/dev/null) agent-status agent-history agent-session agent-logs agent-monitor agent-budget agent-cost \
	agent-control agent-cycle agent-db agent-gate agent-invoke agent-trigger agent-metrics-agg agent-sim; do
	complete -F _agent_cmd "$_agent_c"
done
unset _agent_c

#!/usr/bin/env bats
# Secrets: whole research cycles (design, training, backtest, assessment)
# against agent-sim with marker keys, an operator tool and a notify command
# on the way, traces to an OTLP receiver and to JSONL, the metrics textfile
# on; then `agent budget reconcile` with a marker admin key.  Neither key,
# nor its distinctive part, may be in any output: the store (dump and raw
# files), every command's stdout and stderr, the OTLP payloads, the JSONL
# trace, the metrics textfiles, the strategy files, the views (agent logs,
# status, history), the notices and tool input, the temporary files; nor in
# the command line of any process, nor in the environment of a process that
# does not call the API (t/helpers/proc-sampler watches every descendant of
# the test while it runs).  With the key in the environment, agent-cycle
# (its caller's) and agent-invoke (the design's §6 allows it there) may hold
# it; with ANTHROPIC_API_KEY_FILE no process does.

load helpers/common
load helpers/sim

setup_file() {
	# the API key of this file's run, which the simulator alone accepts; in
	# a file, not exported: no process of the test has it unless given it
	od -An -N8 -tx1 /dev/urandom | tr -d ' \n' >"$BATS_FILE_TMPDIR/marker"
	printf 'sk-ant-api03-MARKER-%s\n' "$(cat "$BATS_FILE_TMPDIR/marker")" >"$BATS_FILE_TMPDIR/key"
	sim_start --speed 2000 --seed 7 --key-file "$BATS_FILE_TMPDIR/key"
}
teardown_file() { sim_stop; }

setup() {
	fresh_store
	sim_clear
	unset OTEL_EXPORTER_OTLP_HEADERS OTEL_SERVICE_NAME OTEL_RESOURCE_ATTRIBUTES OTEL_SDK_DISABLED
	unset TRACEPARENT AGENT_AUTO_START AGENT_MAX_RESUMES AGENT_TOOLS_DIR AGENT_NOTIFY_URL
	unset AGENT_METRICS_TEXTFILE AGENT_PUSHGATEWAY_URL PROMETHEUS_PUSHGATEWAY_URL
	unset ANTHROPIC_API_KEY_FILE ANTHROPIC_ADMIN_KEY ANTHROPIC_ADMIN_KEY_FILE ANTHROPIC_AUTH_TOKEN CREDENTIALS_DIRECTORY
	# the markers: never exported here, given to the commands under test only
	local r
	r=$(cat "$BATS_FILE_TMPDIR/marker")
	KEY=sk-ant-api03-MARKER-$r
	KEY_PART=MARKER-$r
	r=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	ADMIN=sk-ant-admin01-ADMINMARK-$r
	ADMIN_PART=ADMINMARK-$r
	# everything the run writes, under one directory scanned at the end;
	# the processes' snapshots beside it
	OUT=$BATS_TEST_TMPDIR/out
	PROCS=$BATS_TEST_TMPDIR/procs
	mkdir -p "$OUT/tmp" "$OUT/recv" "$OUT/prom" "$OUT/probe" "$OUT/tools" "$PROCS"
	export TMPDIR=$OUT/tmp
	export AGENT_STRATEGY_DIR="$OUT/strategies"
	sim_share_strategies "$AGENT_STRATEGY_DIR"
	export AGENT_TIMEOUT_SECONDS=10
	export AGENT_TRACE_JSONL_PATH=$OUT/trace.jsonl AGENT_METRICS_TEXTFILE=$OUT/prom/agent.prom
	# an operator's tool and a notify command: each
	# keeps its environment and its input, and lingers to be sampled
	echo '{"name":"probe","description":"probe","kinds":["design"],"input_schema":{"type":"object"}}' \
		>"$OUT/tools/probe.json"
	printf '#!/bin/sh\ncat /proc/$$/environ >"%s/tool.env.$$"\ncat >"%s/tool.in.$$"\nsleep 0.2\necho "{\\"ok\\":true}"\n' \
		"$OUT/probe" "$OUT/probe" >"$OUT/tools/probe"
	printf '#!/bin/sh\ncat /proc/$$/environ >"%s/notify.env.$$"\ncat >"%s/notify.in.$$"\nsleep 0.2\n' \
		"$OUT/probe" "$OUT/probe" >"$OUT/tools/notify"
	chmod +x "$OUT/tools/probe" "$OUT/tools/notify"
	export AGENT_TOOLS_DIR=$OUT/tools AGENT_NOTIFY_COMMAND="$OUT/tools/notify"
	PIDS=()
}

teardown() {
	local p
	for p in "${PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	drop_store
	return 0
}

# recv_start: the OTLP receiver, keeping its requests in $OUT/recv
recv_start() {
	local i
	python3 "$BATS_TEST_DIRNAME/helpers/otlp-receiver" "$OUT/recv" --lifetime 240 3>&- &
	PIDS+=($!)
	RECV_PID=$!
	for i in $(seq 100); do
		[ -s "$OUT/recv/port" ] && break
		sleep 0.05
	done
	[ -s "$OUT/recv/port" ] || { echo "otlp-receiver did not start" >&2; return 1; }
	export OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$(cat "$OUT/recv/port")"
}

# sampler_start: every process below this shell, every 5 ms, to $PROCS;
# waits up to 5 s for its first walk
sampler_start() {
	local i
	ROOT=$BASHPID
	python3 "$BATS_TEST_DIRNAME/helpers/proc-sampler" "$PROCS" "$ROOT" --lifetime 240 --interval 0.005 \
		--exclude "$SIM_PID" --exclude "$RECV_PID" 3>&- &
	SAMPLER_PID=$!
	PIDS+=($!)
	for i in $(seq 100); do
		[ -e "$PROCS/ready" ] && return 0
		sleep 0.05
	done
	fail "the sampler did not start"
}

# unseen: the stages (and the notify command) no snapshot shows yet
STAGES='bin/agent-cycle bin/agent-trigger bin/agent-gate bin/agent-budget bin/agent-invoke bin/agent-metrics-agg'
unseen() {
	local s all
	all=$(cat "$PROCS"/*.cmdline 2>/dev/null | tr '\0' '\n')
	for s in $STAGES "$OUT/tools/notify"; do
		grep -q -F -e "$s" <<<"$all" || echo "$s"
	done
}
sampler_stop() {
	local i
	kill "$SAMPLER_PID" 2>/dev/null
	for i in $(seq 100); do
		[ -e "$PROCS/done" ] && break
		sleep 0.05
	done
	[ -e "$PROCS/done" ] || fail "the sampler did not stop"
}

# with_keys MODE CMD...: CMD with the keys, from the environment (env) or
# from files (file); nothing else in this shell has them
with_keys() {
	local mode=$1
	shift
	if [ "$mode" = env ]; then
		ANTHROPIC_API_KEY=$KEY ANTHROPIC_ADMIN_KEY=$ADMIN "$@"
	else
		ANTHROPIC_API_KEY_FILE=$BATS_TEST_TMPDIR/keys/api ANTHROPIC_ADMIN_KEY_FILE=$BATS_TEST_TMPDIR/keys/admin "$@"
	fi
}

# research_cycle MODE: ticks agent-cycle (at most 80 ticks, 90 s) until a
# session has ended; each tick's stdout and stderr kept in $OUT
research_cycle() {
	local mode=$1 n=0 start=$SECONDS rc
	if [ "$mode" = file ]; then
		mkdir -p "$BATS_TEST_TMPDIR/keys"
		printf '%s\n' "$KEY" >"$BATS_TEST_TMPDIR/keys/api"
		printf '%s\n' "$ADMIN" >"$BATS_TEST_TMPDIR/keys/admin"
		chmod 600 "$BATS_TEST_TMPDIR/keys/api" "$BATS_TEST_TMPDIR/keys/admin"
	fi
	while [ -z "$(sql "SELECT outcome FROM agent_sessions WHERE outcome IS NOT NULL")" ] &&
		[ "$n" -lt 80 ] && [ $((SECONDS - start)) -lt 90 ]; do
		n=$((n + 1))
		rc=0
		with_keys "$mode" agent-cycle >"$OUT/tick.$n.out" 2>"$OUT/tick.$n.err" || rc=$?
		[ "$rc" = 0 ] || fail "tick $n: exit $rc: $(cat "$OUT/tick.$n.err")"
		sleep 0.05
	done
	# more ticks (a new cycle) while the sampler missed a stage: a short
	# one may end between two walks
	while [ -n "$(unseen)" ] && [ "$n" -lt 100 ]; do
		n=$((n + 1))
		with_keys "$mode" agent-cycle >"$OUT/tick.$n.out" 2>"$OUT/tick.$n.err" ||
			fail "tick $n: $(cat "$OUT/tick.$n.err")"
	done
	TICKS=$n
	# the session went the whole way: a design, a training, a backtest and
	# an assessment
	assert_equal "$(sql "SELECT COUNT(*) FROM agent_sessions WHERE strategy_config IS NOT NULL
		AND training_results IS NOT NULL AND backtest_results IS NOT NULL AND assessment IS NOT NULL")" 1
	ls "$OUT/probe"/notify.env.* >/dev/null || fail "no notify command ran"
	# an operator's tool the model calls (on a session of its own: the
	# simulated model's flows do not take a detour), agent-invoke given
	# the keys as the cycle gives them
	sql "INSERT INTO agent_sessions (agent, phase, created_at, updated_at, designing_at)
	     VALUES ('tooling', 'designing', 100, 100, 100)" >/dev/null
	sim_fault '{"route":"messages","count":1,"tool_use":{"name":"probe","input":{"x":1}}}'
	with_keys "$mode" env AGENT_NAME=tooling AGENT_MAX_ITERATIONS=1 agent-invoke --kind design \
		>"$OUT/invoke-tool.out" 2>"$OUT/invoke-tool.err" || fail "invoke with a tool: $(cat "$OUT/invoke-tool.err")"
	ls "$OUT/probe"/tool.env.* >/dev/null || fail "the model's tool never ran"
	# the day's spend against the Admin API: a good key, a refused one, a
	# malformed one (its error paths say so without the key)
	local today
	today=$(date -u +%F)
	with_keys "$mode" agent budget reconcile --date "$today" --textfile "$OUT/prom/reconcile.prom" \
		>"$OUT/reconcile.out" 2>"$OUT/reconcile.err" || [ $? = 1 ] ||
		fail "reconcile: $(cat "$OUT/reconcile.err")"
	jq -e .day "$OUT/reconcile.out" >/dev/null
	ANTHROPIC_ADMIN_KEY=sk-ant-api03-NOPE-$ADMIN_PART agent-budget reconcile --date "$today" \
		>"$OUT/reconcile-bad.out" 2>"$OUT/reconcile-bad.err" && fail "a refused admin key passed"
	ANTHROPIC_ADMIN_KEY="$ADMIN x" agent-budget reconcile --date "$today" \
		>"$OUT/reconcile-malformed.out" 2>"$OUT/reconcile-malformed.err" && fail "a malformed admin key passed"
	# and a key the Messages API refuses, on a session of its own
	sql "INSERT INTO agent_sessions (agent, phase, created_at, updated_at, designing_at)
	     VALUES ('refused', 'designing', 100, 100, 100)" >/dev/null
	ANTHROPIC_API_KEY=sk-ant-api03-NOPE-$KEY_PART AGENT_NAME=refused agent-invoke --kind design \
		>"$OUT/invoke-refused.out" 2>"$OUT/invoke-refused.err" && fail "a refused API key passed"
	grep -q 'authentication_error\|401' "$OUT/invoke-refused.err" || fail "not refused: $(cat "$OUT/invoke-refused.err")"
	ANTHROPIC_API_KEY="$KEY x" AGENT_NAME=refused agent-invoke --kind design \
		>"$OUT/invoke-malformed.out" 2>"$OUT/invoke-malformed.err" && fail "a malformed API key passed"
	# the last stage given the keys by its caller (a pipeline by hand, the
	# backend down twice): its notify command still has none
	rm -f "$OUT/probe"/notify.env.*
	local i
	for i in 1 2; do
		if [ "$mode" = env ]; then
			AGENT_BACKEND_URL=http://127.0.0.1:1/api/v1 agent-trigger 2>"$OUT/down.$i.err" | agent-gate | agent-budget |
				agent-invoke | ANTHROPIC_API_KEY=$KEY ANTHROPIC_ADMIN_KEY=$ADMIN agent-metrics-agg \
				>"$OUT/down.$i.out" 2>>"$OUT/down.$i.err"
		else
			AGENT_BACKEND_URL=http://127.0.0.1:1/api/v1 agent-trigger 2>"$OUT/down.$i.err" | agent-gate | agent-budget |
				agent-invoke | ANTHROPIC_API_KEY_FILE=$BATS_TEST_TMPDIR/keys/api \
				ANTHROPIC_ADMIN_KEY_FILE=$BATS_TEST_TMPDIR/keys/admin agent-metrics-agg \
				>"$OUT/down.$i.out" 2>>"$OUT/down.$i.err"
		fi
	done
	ls "$OUT/probe"/notify.env.* >/dev/null || fail "no backend_down notice: $(cat "$OUT"/down.*.err)"
	# the operator's views of it all
	local v
	for v in "logs -n 500" "logs -n 500 --json" "status --json" "history --json" "budget" "budget report --by model"; do
		# shellcheck disable=SC2086
		agent $v >"$OUT/view.${v// /_}.out" 2>"$OUT/view.${v// /_}.err" || fail "agent $v failed: $(cat "$OUT/view.${v// /_}.err")"
	done
	return 0
}

# dump_store: every row, as SQL; the SQLite files raw too (freed pages)
dump_store() {
	if [ "${AGENT_TEST_STORE:-sqlite}" = postgres ]; then
		pg_dump "$AGENT_DB" >"$OUT/store.sql"
	else
		sqlite3 "$AGENT_DB" .dump >"$OUT/store.sql"
		cat "$AGENT_DB"* >"$OUT/store.raw"
	fi
	[ -s "$OUT/store.sql" ] && grep -q 'INSERT INTO\|COPY' "$OUT/store.sql"
}

# markers: one pattern a line, for grep -F -f
markers() { printf '%s\n' "$KEY" "$KEY_PART" "$ADMIN" "$ADMIN_PART" >"$BATS_TEST_TMPDIR/markers"; }

# check_outputs: no marker in any file under $OUT (the stores included);
# the files that have one added to LEAKS
check_outputs() {
	local hits
	markers
	# there was something to read
	[ -s "$OUT/trace.jsonl" ] || fail "no JSONL trace"
	[ -s "$OUT/prom/agent.prom" ] || fail "no metrics textfile"
	ls "$OUT/recv"/req-*.json >/dev/null || fail "no OTLP payload"
	ls "$OUT/strategies"/*.yaml >/dev/null || fail "no strategy written"
	hits=$(grep -r -a -l -F -f "$BATS_TEST_TMPDIR/markers" "$OUT" || true)
	[ -z "$hits" ] || LEAKS+="a key in: $hits"$'\n'
}

# check_processes MODE: no marker in any command line.  In an environment
# only where the test put it (a process it started itself, ppid this shell;
# the forks of agent-cycle and of the agent wrapper, which share its memory), and, with MODE env,
# the API key (not the admin key) in agent-invoke's: it calls the API (the
# design's §6: the key from ANTHROPIC_API_KEY).  Nowhere else: the others
# added to LEAKS.
# clone_of_parent SNAPSHOT: its parent was sampled with the same command line
clone_of_parent() {
	local pp p
	pp=$(cat "${1%.cmdline}.ppid")
	for p in "$PROCS/$pp".*.cmdline; do
		[ -f "$p" ] && cmp -s "$p" "$1" && return 0
	done
	return 1
}

check_processes() {
	local mode=$1 f cmd hits='' stage env
	markers
	for f in "$PROCS"/*.cmdline; do
		cmd=$(tr '\0' ' ' <"$f")
		env=${f%.cmdline}.environ
		if grep -a -q -F -f "$BATS_TEST_TMPDIR/markers" "$f"; then
			hits+="command line of ${f##*/}: $cmd"$'\n'
		fi
		grep -a -q -F -f "$BATS_TEST_TMPDIR/markers" "$env" || continue
		[ "$(cat "${f%.cmdline}.ppid")" = "$ROOT" ] && continue
		# a sanitizer build: LeakSanitizer's tracer at exit is a clone of
		# the process (its memory, its environment, no exec), not a child
		if [ "${AGENT_TEST_SANITIZED:-0}" = 1 ] && clone_of_parent "$f"; then
			continue
		fi
		[[ $cmd =~ ^/bin/bash\ [^\ ]*/agent(-cycle)?(\ |$) ]] && continue
		if [ "$mode" = env ] && [[ $cmd =~ ^[^\ ]*/agent-invoke(\ |$) ]] &&
			! grep -a -q -F -e "$ADMIN_PART" "$env"; then
			continue
		fi
		hits+="environment of ${f##*/}: $cmd"$'\n'
	done
	LEAKS+=$hits
	# the sampler saw every stage, the tool, the notify command and
	# reconcile: the test could have failed
	for stage in $(unseen); do
		LEAKS+="the sampler never saw $stage"$'\n'
	done
	cat "$PROCS"/*.cmdline | tr '\0' '\n' | grep -q -F -e "$OUT/tools/probe" ||
		LEAKS+="the sampler never saw the tool"$'\n'
	cat "$PROCS"/*.cmdline | tr '\0' ' ' | grep -q -F 'budget reconcile' ||
		LEAKS+="the sampler never saw reconcile"$'\n'
}

@test "the keys in the environment: in no output, no store, no trace, no command line, no child's environment" {
	recv_start
	sampler_start
	research_cycle env
	sampler_stop
	dump_store
	LEAKS=''
	check_outputs
	check_processes env
	[ -z "$LEAKS" ] || fail "$LEAKS"
	echo "# $TICKS ticks, $(ls "$PROCS"/*.cmdline | wc -l) process snapshots" >&3
}

@test "the keys in files: in no output, no store, no trace, no command line, no environment" {
	recv_start
	sampler_start
	research_cycle file
	sampler_stop
	dump_store
	LEAKS=''
	check_outputs
	check_processes file
	[ -z "$LEAKS" ] || fail "$LEAKS"
	# nor were the tool and the notify command told where the keys are
	run ! grep -a -l -F -e "$BATS_TEST_TMPDIR/keys" "$OUT"/probe/*.env.*
	echo "# $TICKS ticks, $(ls "$PROCS"/*.cmdline | wc -l) process snapshots" >&3
}

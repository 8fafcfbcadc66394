#!/usr/bin/env bats
# The cycle: agent-metrics-agg (its last stage), agent-cycle (the supervisor),
# the agent dispatcher and the systemd units.  Ticks against a live backend
# (agent-sim) are in t/0530-cycle-sim.bats.

load helpers/common

setup() {
	fresh_store
	export AGENT_BACKEND_URL=http://127.0.0.1:1/api/v1
	# no backend here: the platform's own agent is asked in t/0530
	export AGENT_COEXIST_CHECK=0 AGENT_HEALTH_CHECK=0
	unset AGENT_AUTO_START AGENT_LEASE_SECONDS TRACEPARENT ANTHROPIC_API_KEY ANTHROPIC_API_KEY_FILE
	unset CREDENTIALS_DIRECTORY
}
teardown() { drop_store; }

NOW=1795490400   # 2026-11-24T03:20:00Z

TRAIN='{"test_metrics":{"test_accuracy":0.52,"test_loss":0.61},"training_metrics":{"epochs_trained":42,"history":{"train_loss":[1.0,0.7]}}}'
BACK='{"metrics":{"sharpe_ratio":1.25,"win_rate":0.55,"max_drawdown_pct":0.18,"max_drawdown":18000,"total_trades":37,"profit_factor":1.6}}'

# ended OUTCOME: a session that went through every phase and ended at NOW,
# with two model calls; the tick t1 holds the lease and logged its row
ended() {
	sql "INSERT INTO agent_sessions (agent, phase, outcome, strategy_name, training_results, backtest_results,
	       designing_at, training_at, backtesting_at, assessing_at, created_at, updated_at, completed_at)
	     VALUES ('default', 'idle', '$1', 's1', '$TRAIN', '$BACK', $((NOW - 1000)), $((NOW - 900)),
	             $((NOW - 300)), $((NOW - 100)), $((NOW - 1000)), $NOW, $NOW)" >/dev/null
	sql "INSERT INTO agent_invocations (agent, session_id, kind, model, input_tokens, output_tokens,
	       cache_write_tokens, cache_read_tokens, cost_micros, status, created_at)
	     VALUES ('default', 1, 'design', 'm', 1000, 200, 300, 400, 12345, 'ok', $NOW),
	            ('default', 1, 'assessment', 'm', 10, 20, 0, 5, 5, 'ok', $NOW)" >/dev/null
	sql "INSERT INTO agent_triggers (agent, tick_id, at, event) VALUES ('default', 't1', $NOW, 'recovered')" >/dev/null
	sql "INSERT INTO agent_state (agent, lease_holder, lease_expires_at, updated_at) VALUES ('default', 't1', $((NOW + 600)), $NOW)" >/dev/null
}

doc() { # doc ACTION [SESSION-JSON]
	jq -nc --arg action "$1" --argjson s "${2:-null}" \
		'{tick:{id:"t1",at:"2026-11-24T03:20:00.000Z",agent:"default"},event:"recovered",
		  action:$action,reason:"assessment_saved",session:$s}'
}

metric_cols="outcome, COALESCE(failed_gate, '-'), strategy_name, cycle_started_at, cycle_completed_at,
	CAST(cycle_seconds AS INTEGER), CAST(designing_seconds AS INTEGER), CAST(training_seconds AS INTEGER),
	CAST(backtesting_seconds AS INTEGER), CAST(assessing_seconds AS INTEGER),
	CAST(training_accuracy * 100 AS INTEGER), CAST(training_loss * 100 AS INTEGER), training_epochs,
	CAST(backtest_sharpe * 100 AS INTEGER), CAST(backtest_win_rate * 100 AS INTEGER),
	CAST(backtest_max_drawdown * 100 AS INTEGER), backtest_trades, CAST(backtest_profit_factor * 10 AS INTEGER),
	invocations, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens, cost_micros"

# ---------------------------------------------------------------- agent-metrics-agg

@test "metrics-agg: a session that ended in the tick gets its metrics row, once" {
	export AGENT_NOW=2026-11-24T03:20:01Z
	ended success
	run -0 --separate-stderr agent-metrics-agg <<<"$(doc end '{"id":1,"phase":"idle","outcome":"success"}')"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c .metrics <<<"$output")" \
		'{"recorded":true,"outcome":"success","failed_gate":null,"cycle_seconds":1000,"invocations":2,"input_tokens":1715,"output_tokens":220,"cost_usd":0.01235}'
	assert_equal "$(sql "SELECT $metric_cols FROM agent_metrics")" \
		"success|-|s1|$((NOW - 1000))|$NOW|1000|100|600|200|100|52|61|42|125|55|18|37|16|2|1010|220|300|405|12350"
	assert_equal "$(sql "SELECT cycles_completed FROM agent_budget")" 1
	assert_equal "$(sql "SELECT COALESCE(lease_holder, '-') FROM agent_state")" "-"
	assert_equal "$(sql "SELECT duration_ms, exit_status, COALESCE(failed_stage, '-') FROM agent_triggers")" "1000|0|-"
	# the same document again: nothing is counted twice
	run -0 --separate-stderr agent-metrics-agg <<<"$(doc end '{"id":1,"phase":"idle","outcome":"success"}')"
	assert_equal "$(jq -c .metrics.recorded <<<"$output")" false
	assert_equal "$(sql "SELECT count(*) FROM agent_metrics")" 1
	assert_equal "$(sql "SELECT cycles_completed FROM agent_budget")" 1
}

@test "metrics-agg: a gate failure names the gate; figures missing from the results stay null" {
	export AGENT_NOW=2026-11-24T03:20:00Z
	ended failed_training_gate
	sql "UPDATE agent_sessions SET backtest_results = NULL, backtesting_at = NULL, assessing_at = NULL,
	     training_results = '{\"accuracy\":0.3}'" >/dev/null
	run -0 --separate-stderr agent-metrics-agg <<<"$(doc end '{"id":1,"phase":"idle","outcome":"failed_training_gate"}')"
	assert_equal "$(jq -c '[.metrics.outcome, .metrics.failed_gate]' <<<"$output")" '["failed_training_gate","training"]'
	assert_equal "$(sql "SELECT failed_gate, CAST(training_seconds AS INTEGER), COALESCE(backtesting_seconds, -1),
	                            CAST(training_accuracy * 10 AS INTEGER), COALESCE(training_loss, -1),
	                            COALESCE(backtest_sharpe, -1), COALESCE(backtest_trades, -1) FROM agent_metrics")" \
		"training|900|-1|3|-1|-1|-1"
}

@test "metrics-agg: other ticks pass through unchanged; the lease is released and the duration kept" {
	export AGENT_NOW=2026-11-24T03:20:00.250Z
	ended success
	sql "DELETE FROM agent_metrics" >/dev/null
	sql "UPDATE agent_sessions SET phase = 'assessing', outcome = NULL, completed_at = NULL" >/dev/null
	local d
	d=$(doc wait '{"id":1,"phase":"assessing"}')
	run -0 --separate-stderr agent-metrics-agg <<<"$d"
	assert_equal "$stderr" ""
	assert_equal "$output" "$d"
	assert_equal "$(sql "SELECT duration_ms, exit_status FROM agent_triggers")" "250|0"
	assert_equal "$(sql "SELECT COALESCE(lease_holder, '-') FROM agent_state")" "-"
	assert_equal "$(sql "SELECT count(*) FROM agent_metrics")" 0
}

@test "metrics-agg: a lease held by another tick is not released" {
	ended success
	sql "UPDATE agent_state SET lease_holder = 'other'" >/dev/null
	run -0 agent-metrics-agg <<<"$(doc skip)"
	assert_equal "$(sql "SELECT lease_holder FROM agent_state")" other
}

@test "metrics-agg: a dry-run document is passed on and nothing is written" {
	ended success
	before=$(snapshot)
	local d='{"tick":{"id":"t1","at":"2026-11-24T03:20:00.000Z","agent":"default","dry_run":true},"event":"recovered","action":"end","reason":"x","session":{"id":1,"phase":"idle","outcome":"success"}}'
	run -0 --separate-stderr agent-metrics-agg <<<"$d"
	assert_equal "$output" "$d"
	assert_equal "$(snapshot)" "$before"
}

@test "metrics-agg: bad documents exit 3 and leave the store unchanged" {
	ended success
	before=$(snapshot)
	run -3 --separate-stderr agent-metrics-agg <<<'{"event":"idle"}'
	assert_equal "$output" ""
	assert_equal "$stderr" 'agent-metrics-agg: not a tick document (no "tick" object)'
	run -3 --separate-stderr agent-metrics-agg <<<'{"tick":{"id":""}}'
	assert_equal "$stderr" "agent-metrics-agg: tick.id must be a string of 1 to 128 bytes"
	run -3 --separate-stderr agent-metrics-agg <<<'{"tick":{"id":"t1"},"session":[1]}'
	assert_equal "$stderr" "agent-metrics-agg: tick: session must be an object or null"
	run -3 --separate-stderr agent-metrics-agg <<<'{"tick":{"id":"t1"'
	assert_equal "$stderr" "agent-metrics-agg: stdin: line 1: truncated JSON document at end of input"
	sql "UPDATE agent_sessions SET phase = 'assessing', outcome = NULL" >/dev/null
	before=$(snapshot)
	run -3 --separate-stderr agent-metrics-agg <<<"$(doc end '{"id":1,"phase":"idle","outcome":"success"}')"
	assert_equal "$stderr" "agent-metrics-agg: tick: session 1 has not ended (phase assessing)"
	assert_equal "$(snapshot)" "$before"
}

@test "metrics-agg --release: closes a tick whose stage failed" {
	export AGENT_NOW=2026-11-24T03:20:03Z
	ended success
	run -0 --separate-stderr agent-metrics-agg --release t1 --status 4 --stage agent-invoke
	assert_equal "$stderr" ""
	assert_equal "$output" '{"tick":"t1","agent":"default","released":true,"recorded":true,"exit_status":4,"failed_stage":"agent-invoke","error":null}'
	assert_equal "$(sql "SELECT duration_ms, exit_status, failed_stage FROM agent_triggers")" "3000|4|agent-invoke"
	assert_equal "$(sql "SELECT COALESCE(lease_holder, '-') FROM agent_state")" "-"
	# a tick that failed before its trigger row: the row says so, with the line
	run -0 --separate-stderr agent-metrics-agg --release nosuchtick --status 5 --stage agent-trigger -q \
		--error $'agent-trigger: AGENT_MAX_RESUMES: bad\nsecond line'
	assert_equal "$output" ""
	assert_equal "$stderr" ""
	assert_equal "$(sql "SELECT event, action, reason, exit_status, failed_stage, detail FROM agent_triggers WHERE tick_id = 'nosuchtick'")" \
		"failed|skip|tick_failed|5|agent-trigger|agent-trigger: AGENT_MAX_RESUMES: bad"
}

@test "metrics-agg: usage errors exit 2" {
	run -2 --separate-stderr agent-metrics-agg --status 4
	assert_equal "${stderr%%$'\n'*}" "agent-metrics-agg: --status, --stage and --error go with --release"
	run -2 --separate-stderr agent-metrics-agg --release 'a b'
	assert_equal "${stderr%%$'\n'*}" "agent-metrics-agg: --release: not a tick id: 'a b'"
	run -2 --separate-stderr agent-metrics-agg --release t1 --status 256
	assert_equal "${stderr%%$'\n'*}" "agent-metrics-agg: --status: not a whole number from 0 to 255: '256'"
	run -2 --separate-stderr agent-metrics-agg extra
	assert_equal "${stderr%%$'\n'*}" "agent-metrics-agg: unexpected argument 'extra'"
	assert_equal "$output" ""
}

# ---------------------------------------------------------------- agent-cycle

@test "cycle: an idle tick through the whole pipeline" {
	AGENT_AUTO_START=0 run -0 --separate-stderr agent-cycle
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.event, .action, .reason]' <<<"$output")" '["idle","skip","auto_start_disabled"]'
	assert_equal "$(wc -l <<<"$output")" 1
	tick=$(jq -r .tick.id <<<"$output")
	assert_regex "$tick" '^[0-9a-f]{32}$'
	assert_regex "$(jq -r .tick.traceparent <<<"$output")" '^00-[0-9a-f]{32}-[0-9a-f]{16}-01$'
	assert_equal "$(sql "SELECT tick_id, exit_status, COALESCE(failed_stage, '-'), CASE WHEN duration_ms >= 0 THEN 1 ELSE 0 END FROM agent_triggers")" \
		"$tick|0|-|1"
	assert_equal "$(sql "SELECT COALESCE(lease_holder, '-') FROM agent_state")" "-"
}

@test "cycle: a caller's trace is continued, every tick gets its own span" {
	local tp=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
	AGENT_AUTO_START=0 TRACEPARENT=$tp run -0 --separate-stderr agent-cycle
	assert_regex "$(jq -r .tick.traceparent <<<"$output")" '^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$'
	assert_not_equal "$(jq -r .tick.traceparent <<<"$output")" "$tp"
	# the caller's sampling decision holds: an unsampled trace stays unsampled
	AGENT_AUTO_START=0 TRACEPARENT=${tp%-01}-00 run -0 --separate-stderr agent-cycle
	assert_regex "$(jq -r .tick.traceparent <<<"$output")" '^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-00$'
	# a loop starts a trace per tick
	AGENT_AUTO_START=0 TRACEPARENT=$tp run -0 --separate-stderr agent-cycle --loop --count 2 --interval 0
	assert_equal "$(jq -r '.tick.traceparent[3:35]' <<<"$output" | grep -vc 0af7651916cd43dd8448eb211c80319c)" 2
}

@test "cycle: a failing stage is recorded on the trigger row, the lease released, its status returned" {
	# no API key: agent-invoke refuses (exit 5) the new cycle's design invocation
	run -5 --separate-stderr agent-cycle
	assert_equal "$output" ""
	assert_regex "$stderr" "^agent-invoke: no API key"
	assert_regex "$stderr" $'\nagent-cycle: tick [0-9a-f]{32}: agent-invoke failed \\(exit 5\\)$'
	assert_equal "$(sql "SELECT event, action, exit_status, failed_stage FROM agent_triggers")" \
		"start_new_cycle|invoke|5|agent-invoke"
	assert_equal "$(sql "SELECT COALESCE(lease_holder, '-') FROM agent_state")" "-"
	# the next tick recovers the session at once
	run -5 --separate-stderr agent-cycle -q
	assert_equal "$stderr" "agent-invoke: no API key: set ANTHROPIC_API_KEY or ANTHROPIC_API_KEY_FILE (or the systemd credential anthropic_api_key)"
	assert_equal "$(sql "SELECT event, reason, failed_stage FROM agent_triggers ORDER BY id DESC LIMIT 1")" \
		"recovered|awaiting_design|agent-invoke"
}

@test "cycle: the first stage failing is reported as such" {
	run -4 --separate-stderr agent-cycle --db "postgresql:///agent?host=$BATS_TEST_TMPDIR/nothing-here"
	assert_equal "$output" ""
	assert_regex "$stderr" "^agent-trigger: postgresql: cannot connect: "
	assert_regex "$stderr" "agent-cycle: tick [0-9a-f]{32}: agent-trigger failed \(exit 4\)"
	assert_regex "$stderr" "agent-cycle: tick [0-9a-f]{32}: cannot record the failure nor release the lease$"
}

@test "cycle: --loop --count runs that many ticks and exits with the last one's status" {
	AGENT_AUTO_START=0 run -0 --separate-stderr agent-cycle --loop --count 3 --interval 0
	assert_equal "$stderr" ""
	assert_equal "$(jq -r .event <<<"$output" | tr '\n' ' ')" "idle idle idle "
	assert_equal "$(sql "SELECT count(*), sum(exit_status) FROM agent_triggers")" "3|0"
}

@test "cycle: --loop stops cleanly on SIGTERM and SIGINT" {
	local out=$BATS_TEST_TMPDIR/out sig
	for sig in TERM INT; do
		: >"$out"
		# (a shell starts background jobs with SIGINT ignored: give it back)
		AGENT_AUTO_START=0 env --default-signal=INT agent-cycle --loop --interval 60 >"$out" 2>"$out.err" &
		pid=$!
		for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.05; done
		kill "-$sig" "$pid"
		st=0
		timeout 10 tail --pid="$pid" -f /dev/null || true
		wait "$pid" || st=$?
		assert_equal "$st" 0
		assert_equal "$(wc -l <"$out")" 1
		assert_equal "$(cat "$out.err")" ""
	done
	assert_equal "$(sql "SELECT count(*), sum(exit_status) FROM agent_triggers")" "2|0"
	assert_equal "$(sql "SELECT COALESCE(lease_holder, '-') FROM agent_state")" "-"
}

@test "cycle: a one-line summary per tick on stderr when it is a terminal, none with -q" {
	AGENT_AUTO_START=0 run -0 script -qec "agent-cycle >'$BATS_TEST_TMPDIR/out'" /dev/null
	assert_regex "$output" $'^[0-9]{2}:[0-9]{2}:[0-9]{2} tick [0-9a-f]{4}: idle skip \\(auto_start_disabled\\)\r?$'
	assert_equal "$(jq -r .event "$BATS_TEST_TMPDIR/out")" idle
	AGENT_AUTO_START=0 run -0 script -qec "agent-cycle -q >/dev/null" /dev/null
	assert_equal "$output" ""
}

@test "cycle on a terminal: the summary line instead of the document; --json keeps it; --loop a line per tick" {
	AGENT_AUTO_START=0 run -0 script -qec "agent trigger 2>/dev/null" /dev/null
	assert_regex "$output" $'^[0-9]{2}:[0-9]{2}:[0-9]{2} tick [0-9a-f]{4}: idle skip \\(auto_start_disabled\\)\r?$'
	AGENT_AUTO_START=0 run -0 script -qec "agent trigger --json 2>/dev/null" /dev/null
	assert_equal "$(tr -d '\r' <<<"$output" | jq -r .event)" idle
	AGENT_AUTO_START=0 run -0 script -qec "agent-cycle --loop --count 3 --interval 0 2>/dev/null" /dev/null
	assert_equal "$(grep -cE 'tick [0-9a-f]{4}: idle skip' <<<"$output")" 3
	assert_equal "$(wc -l <<<"$output")" 3
	AGENT_AUTO_START=0 run -0 script -qec "agent-cycle -q" /dev/null
	assert_equal "$output" ""
	assert_equal "$(sql "SELECT count(*) FROM agent_triggers")" 6
}

@test "cycle --dry-run: what the tick would do, nothing written, no later stage" {
	local before
	before=$(sql "SELECT count(*) FROM agent_triggers")
	run -0 --separate-stderr agent trigger --dry-run --force
	assert_equal "$(jq -c '[.event, .action, .tick.dry_run]' <<<"$output")" '["start_new_cycle","invoke",true]'
	# no gate, budget, model or metrics stage: no invocation, no hold, no row
	assert_equal "$(jq -c '[.budget, .invocation]' <<<"$output")" '[null,null]'
	assert_equal "$(sql "SELECT count(*) FROM agent_triggers")" "$before"
	assert_equal "$(sql "SELECT count(*) FROM agent_sessions")" 0
	assert_equal "$(sql "SELECT count(*) FROM agent_budget_holds")" 0
	run -0 script -qec "agent trigger --dry-run --force 2>/dev/null" /dev/null
	assert_regex "$output" 'tick [0-9a-f]{4} \[dry run\]: start_new_cycle invoke \(no_active_session\)'
	run -2 --separate-stderr agent-cycle --dry-run --loop
	assert_equal "${stderr%%$'\n'*}" "agent-cycle: --dry-run goes alone, not with --loop"
	# a dry run leaves no file of its stderr behind
	mkdir "$BATS_TEST_TMPDIR/tmp"
	TMPDIR=$BATS_TEST_TMPDIR/tmp run -0 --separate-stderr agent-cycle --dry-run --force
	assert_equal "$(ls -A "$BATS_TEST_TMPDIR/tmp")" ""
}

@test "cycle: every line it said is out when it exits; its stderr file is gone" {
	# the stderr of a tick passes a tee: whoever reads it after the exit
	# reads all of it, every time (CI once caught it half-written)
	local i
	mkdir "$BATS_TEST_TMPDIR/tmp"
	for i in $(seq 20); do
		TMPDIR=$BATS_TEST_TMPDIR/tmp run -5 --separate-stderr agent-cycle
		assert_regex "$stderr" $'\nagent-cycle: tick [0-9a-f]{32}: agent-invoke failed \\(exit 5\\)$'
	done
	assert_equal "$(ls -A "$BATS_TEST_TMPDIR/tmp")" ""
}

@test "cycle: a missing stage command is a permanent failure (exit 5)" {
	local bin=$BATS_TEST_TMPDIR/bin
	mkdir "$bin"
	for c in agent-cycle agent-trigger agent-gate agent-budget agent-metrics-agg; do
		ln -s "$AGENT_BIN/$c" "$bin/$c"
	done
	cp "$AGENT_BIN/agent-cycle" "$bin/agent-cycle.real"
	before=$(snapshot)
	PATH=/usr/bin:/bin run -5 --separate-stderr "$bin/agent-cycle.real"
	assert_equal "$output" ""
	assert_equal "$stderr" "agent-cycle: agent-invoke not found (looked in '$bin' and on PATH)"
	assert_equal "$(snapshot)" "$before"
}

@test "cycle: usage errors exit 2; --help and --version exit 0" {
	run -2 --separate-stderr agent-cycle --bogus
	assert_equal "$output" ""
	assert_equal "$stderr" "agent-cycle: unrecognized option '--bogus'
Try \`agent-cycle --help' or \`agent-cycle --usage' for more information."
	run -2 --separate-stderr agent-cycle --interval soon
	assert_equal "${stderr%%$'\n'*}" "agent-cycle: --interval: not a whole number from 0 to 999999999: 'soon'"
	run -2 --separate-stderr agent-cycle --count 2
	assert_equal "${stderr%%$'\n'*}" "agent-cycle: --count goes with --loop"
	run -2 --separate-stderr agent-cycle --loop --count 0
	assert_equal "${stderr%%$'\n'*}" "agent-cycle: --count: not a whole number from 1 to 999999999: '0'"
	run -2 --separate-stderr agent-cycle --agent
	assert_equal "${stderr%%$'\n'*}" "agent-cycle: option '--agent' requires an argument"
	run -2 --separate-stderr agent-cycle --force=yes
	assert_equal "${stderr%%$'\n'*}" "agent-cycle: option '--force' doesn't allow an argument"
	run -2 --separate-stderr agent-cycle now
	assert_equal "${stderr%%$'\n'*}" "agent-cycle: unexpected argument 'now'"
	assert_equal "$(sql "SELECT count(*) FROM agent_triggers")" 0
	run -0 --separate-stderr agent-cycle --help
	assert_equal "$stderr" ""
	assert_equal "${output%%$'\n'*}" "Usage: agent-cycle [OPTION...]"
	run -0 --separate-stderr agent-cycle --version
	assert_equal "$output" "$(agent-trigger --version)"
}

# ---------------------------------------------------------------- agent

@test "agent: dispatches to agent-COMMAND; the operator words are aliases" {
	run -0 --separate-stderr agent pause --reason "from the dispatcher"
	assert_equal "$stderr" ""
	assert_equal "$(jq -c '[.command, .paused, .reason]' <<<"$output")" '["pause",true,"from the dispatcher"]'
	run -0 --separate-stderr agent trigger
	assert_equal "$(jq -c '[.event, .action]' <<<"$output")" '["paused","skip"]'
	assert_equal "$(sql "SELECT exit_status FROM agent_triggers")" 0
	run -0 agent resume
	run -1 --separate-stderr agent cancel
	assert_equal "$stderr" "agent-control: nothing to cancel: agent 'default' has no active session"
	run -0 --separate-stderr agent budget status --json
	assert_equal "$(jq -r .agent <<<"$output")" default
	# --force reaches agent-trigger (the design invocation then wants an API key)
	AGENT_AUTO_START=0 run -5 --separate-stderr agent trigger --force
	assert_equal "$(sql "SELECT event, failed_stage FROM agent_triggers ORDER BY id DESC LIMIT 1")" \
		"start_new_cycle|agent-invoke"
}

@test "agent help lists every command with its one-line description" {
	run -0 --separate-stderr agent help
	assert_equal "$stderr" ""
	for c in "$AGENT_BIN"/agent-*; do
		n=${c##*/}
		first=$("$c" --help | sed -n 2p)
		line=$(grep -F "  $n " <<<"$output") || fail "agent help does not list $n"
		[[ $line == *"${first:0:30}"* ]] || fail "agent help: $n: '$line' lacks '${first:0:30}'"
	done
	assert_regex "$output" $'\n  pause +Pause the agent'
	assert_regex "$output" $'\n  trigger +Run one tick now'
	run -0 agent --help
}

@test "agent: an unknown command or option exits 2" {
	run -2 --separate-stderr agent frobnicate
	assert_equal "$output" ""
	assert_equal "$stderr" "agent: unknown command 'frobnicate' (see 'agent help')"
	run -2 --separate-stderr agent ../agent-db
	assert_equal "$stderr" "agent: unknown command '../agent-db' (see 'agent help')"
	run -2 --separate-stderr agent
	assert_regex "$stderr" "^Usage: agent "
	run -2 --separate-stderr agent --frob
	assert_regex "$stderr" "^agent: unrecognized option '--frob'"
	# a word within two edits (one for short words) of a command: said once, in the same line
	local typo want
	for typo in stauts:status histroy:history budgte:budget sesion:session pase:pause logz:logs trigerr:trigger; do
		want=${typo#*:}
		run -2 --separate-stderr agent "${typo%%:*}"
		assert_equal "$output" ""
		assert_equal "$stderr" "agent: unknown command '${typo%%:*}'; did you mean '$want'? (see 'agent help')"
	done
	run -2 --separate-stderr agent stat
	assert_equal "$stderr" "agent: unknown command 'stat' (see 'agent help')"
}

# ---------------------------------------------------------------- systemd

@test "systemd: the units pass systemd-analyze verify with the built agent-cycle" {
	command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (install systemd)"
	local d=$BATS_TEST_TMPDIR/units
	mkdir "$d"
	sed "s|^ExecStart=/usr/local/bin/agent-cycle\$|ExecStart=$AGENT_BIN/agent-cycle|" \
		"$ROOT/share/systemd/agent-trigger.service" >"$d/agent-trigger.service"
	cp "$ROOT/share/systemd/agent-trigger.timer" "$d/"
	grep -q "^ExecStart=$AGENT_BIN/agent-cycle\$" "$d/agent-trigger.service"
	run -0 --separate-stderr systemd-analyze verify --man=no "$d/agent-trigger.service" "$d/agent-trigger.timer"
	assert_equal "$output" ""
	assert_equal "$stderr" ""
	# the check can fail: a unit with a missing binary or a misspelt key does
	sed -i 's/^ProtectHome=yes/ProtectHome=yess/' "$d/agent-trigger.service"
	run --separate-stderr systemd-analyze verify --man=no "$d/agent-trigger.service"
	assert_regex "$stderr" "protect home value.*yess"
}

@test "systemd: the service is a hardened oneshot running agent-cycle; the timer every five minutes" {
	local u="$ROOT/share/systemd/agent-trigger.service" t="$ROOT/share/systemd/agent-trigger.timer"
	for kv in Type=oneshot ExecStart=/usr/local/bin/agent-cycle DynamicUser=yes StateDirectory=agent \
		Environment=AGENT_DB=/var/lib/agent/agent.db EnvironmentFile=-/etc/agent/agent.env \
		LoadCredential=anthropic_api_key:/etc/agent/anthropic_api_key ProtectSystem=strict \
		ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" \
		SystemCallFilter=@system-service CapabilityBoundingSet= MemoryDenyWriteExecute=yes \
		LockPersonality=yes RestrictNamespaces=yes ProtectKernelTunables=yes ProtectKernelModules=yes \
		ProtectKernelLogs=yes ProtectControlGroups=yes TimeoutStartSec=3600; do
		grep -qxF -- "$kv" "$u" || fail "agent-trigger.service lacks $kv"
	done
	for kv in "OnCalendar=*:0/5" Persistent=true AccuracySec=1s WantedBy=timers.target; do
		grep -qxF -- "$kv" "$t" || fail "agent-trigger.timer lacks $kv"
	done
}

@test "install: the guide's files land where docs/operating.md says; the installed unit verifies" {
	command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (install systemd)"
	local d=$BATS_TEST_TMPDIR/stage
	run -0 make -C "$ROOT" -s install DESTDIR="$d" PREFIX=/usr O="${O:-build}"
	# the commands, the data, the units (ExecStart names the BINDIR), the env example
	[ -x "$d/usr/bin/agent-cycle" ] && [ -x "$d/usr/bin/agent" ]
	[ -f "$d/usr/share/agent/alerts/agent.rules.yml" ] && [ -f "$d/usr/share/agent/k8s/cronjob.yaml" ]
	grep -qx 'ExecStart=/usr/bin/agent-cycle' "$d/usr/lib/systemd/system/agent-trigger.service"
	grep -qx 'ReadWritePaths=-/var/lib/prometheus/node-exporter' "$d/usr/lib/systemd/system/agent-trigger.service"
	[ -f "$d/etc/agent/agent.env.example" ]
	[ ! -e "$d/etc/agent/agent.env" ]  # never written: the operator's
	# the example changes nothing as it is: comments and blank lines only
	run -1 grep -vE '^(#.*)?$' "$d/etc/agent/agent.env.example"
	# and every setting it names is one agent(7) describes
	local v bad=
	for v in $(sed -n 's/^#\([A-Z][A-Z0-9_]*\)=.*/\1/p' "$d/etc/agent/agent.env.example"); do
		grep -q "Ev $v\b" "$ROOT/man/agent.7" || bad+="$v "
	done
	[ -z "$bad" ] || fail "agent.env.example names settings agent(7) does not: $bad"
	# the installed unit, pointed at the staged binary, passes systemd-analyze
	sed "s|^ExecStart=/usr/bin/agent-cycle\$|ExecStart=$d/usr/bin/agent-cycle|" \
		"$d/usr/lib/systemd/system/agent-trigger.service" >"$BATS_TEST_TMPDIR/agent-trigger.service"
	cp "$d/usr/lib/systemd/system/agent-trigger.timer" "$BATS_TEST_TMPDIR/"
	run -0 --separate-stderr systemd-analyze verify --man=no "$BATS_TEST_TMPDIR/agent-trigger.service" \
		"$BATS_TEST_TMPDIR/agent-trigger.timer"
	assert_equal "$stderr" ""
	# the guide's files are the ones installed
	grep -q '/etc/agent/agent.env.example' "$ROOT/docs/operating.md"
	grep -q 'ReadWritePaths=-/var/lib/prometheus/node-exporter' "$ROOT/docs/operating.md"
}

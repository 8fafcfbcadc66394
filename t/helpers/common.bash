# Shared by every bats file: paths, a fresh store per test on the driver
# under test (AGENT_TEST_STORE=sqlite|postgres), and store helpers.
bats_require_minimum_version 1.5.0
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
AGENT_BIN="${AGENT_BIN:-$ROOT/build/bin}"
PATH="$AGENT_BIN:$PATH"
export AGENT_DATADIR="$ROOT/share"
unset AGENT_DB AGENT_NOW AGENT_NAME AGENT_MODEL ANTHROPIC_API_KEY
unset TRAINING_GATE_MIN_ACCURACY TRAINING_GATE_MAX_LOSS TRAINING_GATE_MIN_LOSS_DECREASE
unset BACKTEST_GATE_MIN_WIN_RATE BACKTEST_GATE_MAX_DRAWDOWN BACKTEST_GATE_MIN_SHARPE
unset AGENT_DAILY_BUDGET_USD AGENT_BUDGET_BUFFER_USD AGENT_DAILY_TOKEN_BUDGET AGENT_COUNT_TOKENS
# a collector of the caller's would add lines to stderr (t/0650 sets its own)
unset OTEL_EXPORTER_OTLP_ENDPOINT OTEL_EXPORTER_OTLP_TRACES_ENDPOINT AGENT_TRACE_JSONL_PATH

# fresh_store: AGENT_DB names an empty, migrated store for this test.
fresh_store() {
	if [ "${AGENT_TEST_STORE:-sqlite}" = postgres ]; then
		[ -n "${AGENT_TEST_PG:-}" ] || { echo "AGENT_TEST_PG is not set" >&2; return 1; }
		TEST_PG_DB="t_${BATS_SUITE_TEST_NUMBER}_$$"
		psql "$AGENT_TEST_PG" -qAtc "CREATE DATABASE $TEST_PG_DB" >/dev/null || return 1
		export AGENT_DB="${AGENT_TEST_PG/\/agent_test\?//$TEST_PG_DB?}"
	else
		export AGENT_DB="$BATS_TEST_TMPDIR/agent.db"
	fi
	agent-db migrate -q
}

# drop_store: drops this test's PostgreSQL database (SQLite files go with
# the test's temp dir).
drop_store() {
	if [ -n "${TEST_PG_DB:-}" ]; then
		psql "$AGENT_TEST_PG" -qAtc "DROP DATABASE IF EXISTS $TEST_PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
	fi
}

# sql QUERY: rows of the store, fields separated by |.
sql() {
	if [ "${AGENT_TEST_STORE:-sqlite}" = postgres ]; then
		psql "$AGENT_DB" -qAt -F'|' -c "$1"
	else
		sqlite3 -batch "$AGENT_DB" "$1"
	fi
}

# snapshot: every row of every table, to compare before and after.
snapshot() {
	local t
	for t in agent_sessions agent_actions agent_invocations agent_triggers agent_metrics \
		agent_budget agent_budget_holds agent_budget_caps agent_budget_teams agent_budget_model_caps agent_state \
		schema_migrations; do
		echo "== $t"
		sql "SELECT * FROM $t ORDER BY 1"
	done
}

#!/bin/sh
# bench/views.sh DIR: agent-status --json with a million sessions against the
# same with ten (baseline; the goal is a ratio near 1, DESIGN §8), and against
# an empty C program, on SQLite and on PostgreSQL.  Stores and a PostgreSQL
# server are made in DIR; the server is stopped at the end.
set -eu
dir=${1:?usage: bench/views.sh DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-build}
PATH="$root/$O/bin:$PATH"
export AGENT_DATADIR="$root/share"
unset AGENT_NOW AGENT_NAME
mkdir -p "$dir"
cc=${CC:-cc}
[ -x "$dir/empty" ] || $cc -O2 -o "$dir/empty" "$root/bench/empty.c"
trap 'sh "$root/t/pg" stop "$dir/pg-views"' EXIT INT TERM

sessions_sqlite() { # DB N
	AGENT_DB=$1 agent-db migrate -q
	# synthetic rows: no rollup triggers
	sqlite3 "$1" "SELECT 'DROP TRIGGER \"' || name || '\";' FROM sqlite_master
		WHERE type = 'trigger' AND tbl_name = 'agent_sessions'" | sqlite3 "$1"
	sqlite3 "$1" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
		INSERT INTO agent_sessions (id, agent, phase, outcome, strategy_name, created_at, updated_at, completed_at)
		SELECT i, 'default', 'idle', CASE i % 3 WHEN 0 THEN 'success' WHEN 1 THEN 'failed_backtest_gate'
		       ELSE 'cancelled' END, 's' || i, 1700000000 + i, 1700000000 + i, 1700000100 + i FROM n;
		INSERT INTO agent_sessions (agent, phase, strategy_name, created_at, updated_at)
		VALUES ('default', 'training', 'now', 1800000000, 1800000000)"
}

sessions_pg() { # URI N
	AGENT_DB=$1 agent-db migrate -q
	psql "$1" -qAt -c "SET session_replication_role = replica;
		INSERT INTO agent_sessions (agent, phase, outcome, strategy_name, created_at, updated_at, completed_at)
		SELECT 'default', 'idle', (ARRAY['success','failed_backtest_gate','cancelled'])[1 + i % 3], 's' || i,
		       1700000000 + i, 1700000000 + i, 1700000100 + i FROM generate_series(1, $2) AS i;
		INSERT INTO agent_sessions (agent, phase, strategy_name, created_at, updated_at)
		VALUES ('default', 'training', 'now', 1800000000, 1800000000);
		ANALYZE" >/dev/null
}

report() { # NAME JSON
	jq -r --arg n "$1" '.results | (map({(.command): .median}) | add) as $m
		| "\($n): median empty \($m.empty * 1e3 | . * 100 | round / 100) ms, ten sessions \($m.ten * 1e3 | . * 100 | round / 100) ms, a million \($m.million * 1e3 | . * 100 | round / 100) ms; million/ten \($m.million / $m.ten | . * 100 | round / 100), million/empty \($m.million / $m.empty | . * 10 | round / 10)"' "$2"
}

rm -f "$dir"/views-*.db*
sessions_sqlite "$dir/views-10.db" 10
sessions_sqlite "$dir/views-1m.db" 1000000
hyperfine -N --warmup 10 --runs 100 --export-json "$dir/views-sqlite.json" \
	-n empty "$dir/empty" \
	-n ten "agent-status --json --db $dir/views-10.db" \
	-n million "agent-status --json --db $dir/views-1m.db" >/dev/null
report "agent-status --json, SQLite" "$dir/views-sqlite.json"

pg=$(sh "$root/t/pg" start "$dir/pg-views")
psql "$pg" -qAtc "CREATE DATABASE views_ten" && psql "$pg" -qAtc "CREATE DATABASE views_million"
ten=$(printf '%s' "$pg" | sed 's|/agent_test?|/views_ten?|')
million=$(printf '%s' "$pg" | sed 's|/agent_test?|/views_million?|')
sessions_pg "$ten" 10
sessions_pg "$million" 1000000
hyperfine -N --warmup 10 --runs 100 --export-json "$dir/views-pg.json" \
	-n empty "$dir/empty" \
	-n ten "agent-status --json --db $ten" \
	-n million "agent-status --json --db $million" >/dev/null
report "agent-status --json, PostgreSQL" "$dir/views-pg.json"

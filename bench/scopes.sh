#!/bin/sh
# bench/scopes.sh [TMPDIR]: hold+settle pairs per second at 1, 8 and 32
# concurrent workers for an agent in a team with a week cap under a global
# cap (the scoped admission), as a ratio to the same figure for an agent with
# its day cap only (today's path), on SQLite and on PostgreSQL (a server of
# its own, t/pg).  Target: >= 0.8.  BENCH_PAIRS sets the pairs per worker,
# BENCH_STORES the stores (default "sqlite postgres").
set -eu
O=${O:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=${1:-$(mktemp -d "${TMPDIR:-/tmp}/agent-bench.XXXXXX")}
mkdir -p "$tmp/scopes"
chmod 755 "$tmp" "$tmp/scopes"
own_pg=
if [ -z "${BENCH_PG:-}" ]; then
	BENCH_PG=$(sh t/pg start "$tmp/scopes/pg")
	own_pg=1
fi
trap '[ -z "$own_pg" ] || sh t/pg stop "$tmp/scopes/pg"' EXIT INT TERM
cc=${CC:-cc}
libs="$(pkg-config --libs sqlite3 libpq) -ljq -lm"
# shellcheck disable=SC2086  # $libs is a list of flags
$cc -O2 -D_GNU_SOURCE -Ilib -o "$tmp/scopes/budget_bench" bench/budget_bench.c "$O/libagent.a" $libs
export AGENT_DATADIR="$root/share"
pairs=${BENCH_PAIRS:-100}
n=0
for store in ${BENCH_STORES:-sqlite postgres}; do
	for w in 1 8 32; do
		n=$((n + 1))
		for scoped in 0 1; do
			if [ "$store" = sqlite ]; then
				db="$tmp/scopes/b$n-$scoped.db"
			else
				name="scopes_${n}_$scoped"
				psql "$BENCH_PG" -qAtc "CREATE DATABASE $name" >/dev/null
				db=$(printf '%s' "$BENCH_PG" | sed "s|/agent_test?|/$name?|")
			fi
			AGENT_DB=$db "$root/$O/bin/agent-db" migrate -q
			BENCH_SCOPED=$scoped "$tmp/scopes/budget_bench" "$db" "$w" "$pairs" >"$tmp/scopes/r$n-$scoped.json"
		done
		jq -rs --arg s "$store" --argjson w "$w" '
			(.[0].hold_settle_per_s) as $plain | (.[1].hold_settle_per_s) as $scoped |
			"\($s) \($w) workers: day cap only \($plain)/s, team + global caps \($scoped)/s, ratio \($scoped / $plain | . * 100 | round / 100)"' \
			"$tmp/scopes/r$n-0.json" "$tmp/scopes/r$n-1.json"
	done
done

#!/bin/sh
# agent-metrics-agg --events on 1M trace events (about 200 MB of JSON Lines
# from bench/events-gen.awk) against the baseline: jq doing the same
# aggregation (bench/events.jq) on the same file.  Target (DESIGN §8,
# issue 6): at least 5 times faster than jq.  $1: a temporary directory;
# EVENTS_N changes the number of events.
set -eu
tmp=$1
n=${EVENTS_N:-1000000}
here=$(cd "$(dirname "$0")" && pwd)
f="$tmp/events.jsonl"
awk -v n="$n" -f "$here/events-gen.awk" >"$f"
echo "$n events, $(($(wc -c <"$f") / 1048576)) MiB"
# the two agree before they race
agent-metrics-agg --events "$f" >"$tmp/events.prom"
jq -n -f "$here/events.jq" "$f" >"$tmp/events.json"
c=$(awk '/^agent_events_total/ { s += $2 } END { print s }' "$tmp/events.prom")
j=$(jq '[.events[]] | add' "$tmp/events.json")
[ "$c" = "$j" ] || { echo "bench/events.sh: the C counts $c events, jq $j" >&2; exit 1; }
hyperfine -N --warmup 1 --runs 5 --export-json "$tmp/events-c.json" \
	-n "agent-metrics-agg --events" "agent-metrics-agg --events $f" >/dev/null
hyperfine -N --runs 2 --export-json "$tmp/events-jq.json" \
	-n "jq (bench/events.jq)" "jq -n -f $here/events.jq $f" >/dev/null
c=$(jq '.results[0].median' "$tmp/events-c.json")
j=$(jq '.results[0].median' "$tmp/events-jq.json")
jq -rn --argjson c "$c" --argjson j "$j" --argjson n "$n" \
	'"median: agent-metrics-agg --events \($c * 1000 | round) ms (\($n / $c / 1e6 * 100 | round / 100) M events/s), jq \($j * 1000 | round) ms, ratio \($j / $c * 10 | round / 10)x (target >= 5x)"'

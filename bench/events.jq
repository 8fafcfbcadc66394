# The baseline of bench/events.sh: the aggregation agent-metrics-agg --events
# does, written in jq (jq -n -f bench/events.jq FILE).  Counters by label
# set, and the tool and turn latency histograms (buckets, sum, count); the
# turn latency from turn_end's duration_ms.  Less than the C does (no alias
# table, no cardinality cap, no start/end matching): a generous baseline.
def bucket($bounds; $v): ([$bounds[] | select(. >= $v)] | first) // "+Inf";
def observe($k; $bounds; $v):
  .[$k].count += 1 | .[$k].sum += $v | .[$k].b[bucket($bounds; $v) | tostring] += 1;
[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as $tb
| [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] as $ub
| reduce inputs as $e ({};
    ($e.metadata // {}) as $m
    | $e.event as $ev
    | .events[$ev] += 1
    | if $ev == "route" then .routes[$m.selected_agent // "unknown"] += 1
      elif $ev == "handoff" then .handoffs["\($m.from_agent // "unknown")\u001f\($m.to_agent // "unknown")"] += 1
      elif $ev == "tool_call" then
        "\($m.agent // "unknown")\u001f\($m.tool // "unknown")" as $k
        | .tools["\($k)\u001f\($m.status // "unknown")"] += 1
        | if $m.latency_ms != null then .tool_latency |= observe($k; $tb; $m.latency_ms / 1000) else . end
      elif $ev == "guardrail" then .guardrails["\($m.decision // "unknown")\u001f\($m.gate // "unknown")\u001f\($m.reason // "none")"] += 1
      elif $ev == "self_check" then .self_checks["\($m.agent // "unknown")\u001f\($m.decision // "unknown")"] += 1
      elif $ev == "turn_end" and $m.duration_ms != null then
        .turn_latency |= observe($m.agent // "unknown"; $ub; $m.duration_ms / 1000)
      else . end)

# Backtest gate (DESIGN §6).  Copy this file, change it, and pass it with
# `agent-gate --gate FILE.jq`.
#
# Input:  the backend's backtest result_summary (metrics.win_rate,
#         metrics.max_drawdown_pct as a fraction, metrics.sharpe_ratio), or
#         flat fields (win_rate, max_drawdown_pct or max_drawdown, sharpe_ratio).
# $set:   thresholds from BACKTEST_GATE_<NAME> or --set name=value.
# Output: an array of checks, judged by agent-gate (see training.jq).

def get(f): try f catch null;
def pick(fs): [fs | select(. != null)] | .[0];

($set.min_win_rate // 0.45) as $min_win_rate
| ($set.max_drawdown // 0.4) as $max_drawdown
| ($set.min_sharpe // -0.5) as $min_sharpe
| [
    {name: "win_rate", field: "metrics.win_rate",
     value: pick(get(.metrics.win_rate), get(.win_rate)),
     op: ">=", threshold: $min_win_rate, reason: "win_rate_too_low"},
    {name: "max_drawdown", field: "metrics.max_drawdown_pct",
     value: pick(get(.metrics.max_drawdown_pct), get(.max_drawdown_pct), get(.max_drawdown)),
     op: "<=", threshold: $max_drawdown, reason: "drawdown_too_high"},
    {name: "sharpe_ratio", field: "metrics.sharpe_ratio",
     value: pick(get(.metrics.sharpe_ratio), get(.sharpe_ratio)),
     op: ">=", threshold: $min_sharpe, reason: "sharpe_too_low"}
  ]

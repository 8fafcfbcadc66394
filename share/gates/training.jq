# Training gate (DESIGN §6).  Copy this file, change it, and pass it with
# `agent-gate --gate FILE.jq`.
#
# Input:  the backend's training result_summary (training_metrics,
#         test_metrics), or flat fields (accuracy, final_loss, initial_loss).
# $set:   thresholds from TRAINING_GATE_<NAME> or --set name=value.
# Output: an array of checks {name, field, value, op, threshold, reason};
#         agent-gate judges them: a missing value fails its check, a value
#         that is not a number is bad input, a value at the threshold passes.

def get(f): try f catch null;
def pick(fs): [fs | select(. != null)] | .[0];

($set.min_accuracy // 0.45) as $min_accuracy
| ($set.max_loss // 0.8) as $max_loss
| ($set.min_loss_decrease // 0.2) as $min_loss_decrease
| pick(get(.test_metrics.test_accuracy), get(.accuracy)) as $accuracy
| pick(get(.test_metrics.test_loss), get(.final_loss)) as $loss
| get(.training_metrics.history.train_loss) as $history
| (if ($history | type) == "array" and ($history | length) >= 2 then
     {initial: $history[0],
      final: pick(get(.training_metrics.final_train_loss), $history[-1])}
   elif get(.initial_loss) != null and get(.final_loss) != null then
     {initial: .initial_loss, final: .final_loss}
   else null end) as $losses
| (if $losses == null then null
   elif ($losses.initial | type) != "number" then $losses.initial
   elif ($losses.final | type) != "number" then $losses.final
   elif $losses.initial <= 0 then null
   else ($losses.initial - $losses.final) / $losses.initial end) as $decrease
| [
    {name: "accuracy", field: "test_metrics.test_accuracy", value: $accuracy,
     op: ">=", threshold: $min_accuracy, reason: "accuracy_below_threshold"},
    {name: "loss", field: "test_metrics.test_loss", value: $loss,
     op: "<=", threshold: $max_loss, reason: "loss_too_high"},
    {name: "loss_decrease", field: "training_metrics.history.train_loss",
     value: $decrease, op: ">=", threshold: $min_loss_decrease,
     reason: "insufficient_loss_decrease"}
  ]

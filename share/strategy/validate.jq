# Strategy validation rules (ktrdr's strategy_validator, as data).  Input: a
# strategy config object.  $indicators: names of the backend's indicators
# (may be empty: the name check is skipped then).  Output:
# {valid, errors: [string], warnings: [string]}.  Copy and change freely;
# agent-invoke only reads "valid" and the two lists.

def is_obj: type == "object";
def is_arr: type == "array";
# (not index/1: it leaks in libjq 1.6)
def str_in($xs): . as $v | any($xs[]; . == $v);
def reserved: ["open", "high", "low", "close", "volume"];
def set_params: {"triangular": 3, "triangle": 3, "trapezoidal": 4, "trapezoid": 4,
                 "gaussian": 2, "sigmoid": 2};

. as $c
| ($c | has("scope") or has("training_data") or has("deployment")) as $v2
| [
    # required sections
    (["name", "indicators", "fuzzy_sets", "model", "decisions", "training"]
     + (if $v2 then ["training_data", "deployment"] else [] end)
     | .[] | select($c[.] == null) | "missing required section: \(.)"),
    (if $c.name != null and ($c.name | type) != "string" then "name must be a string" else empty end),
    (if $c.indicators != null and ($c.indicators | is_arr | not) then "indicators must be a list" else empty end),
    (if $c.fuzzy_sets != null and ($c.fuzzy_sets | is_obj | not) then "fuzzy_sets must be an object" else empty end),
    # model
    (if ($c.model | is_obj) then
       (["type", "architecture", "training", "features"] | .[] | select($c.model[.] == null)
        | "model: missing \(.)")
     elif $c.model != null then "model must be an object" else empty end),
    # training
    (if ($c.training | is_obj) then
       (["method", "labels", "data_split"] | .[] | select($c.training[.] == null)
        | "training: missing \(.)")
     elif $c.training != null then "training must be an object" else empty end),
    # decisions
    (if ($c.decisions | is_obj) then
       (if ($c.decisions.output_format | type) != "string" then "decisions.output_format must be a string" else empty end),
       (if ($c.decisions.confidence_threshold | type) != "number" then "decisions.confidence_threshold must be a number" else empty end),
       (if ($c.decisions.position_awareness | type) != "boolean" then "decisions.position_awareness must be a boolean" else empty end)
     elif $c.decisions != null then "decisions must be an object" else empty end),
    # indicators and feature ids
    (if ($c.indicators | is_arr) then
       ($c.indicators | to_entries[] | .key as $i | .value as $ind
        | if ($ind | is_obj | not) then "indicators[\($i)] must be an object"
          elif ($ind.feature_id | type) != "string" then "indicators[\($i)]: missing feature_id"
          elif ($ind.feature_id | test("^[a-zA-Z][a-zA-Z0-9_-]*$") | not) then
            "indicators[\($i)]: feature_id '\($ind.feature_id)' must start with a letter and hold only letters, digits, _ and -"
          elif ($ind.feature_id | ascii_downcase | str_in(reserved)) then
            "indicators[\($i)]: feature_id '\($ind.feature_id)' is a reserved name"
          elif ($c.fuzzy_sets | is_obj) and ($c.fuzzy_sets[$ind.feature_id] == null) then
            "indicators[\($i)]: no fuzzy_sets entry for feature_id '\($ind.feature_id)'"
          elif ($indicators | length) > 0 and (($ind.name // "" | ascii_downcase) | str_in($indicators | map(ascii_downcase)) | not) then
            "indicators[\($i)]: unknown indicator '\($ind.name // "")'"
          else empty end),
       ([$c.indicators[] | objects | .feature_id | strings] | group_by(.) | map(select(length > 1) | .[0])
        | .[] | "duplicate feature_id '\(.)'")
     else empty end),
    # fuzzy sets: parameter counts per type
    (if ($c.fuzzy_sets | is_obj) then
       ($c.fuzzy_sets | to_entries[] | .key as $f
        | if (.value | is_obj | not) then "fuzzy_sets.\($f) must be an object of sets"
          else (.value | to_entries[] | .key as $s | .value as $set
            | ($set.type // "triangular") as $t
            | if (set_params[$t] == null) then "fuzzy_sets.\($f).\($s): unknown type '\($t)'"
              elif ($set.parameters | is_arr | not) then "fuzzy_sets.\($f).\($s): parameters must be a list"
              elif ($set.parameters | length) != set_params[$t] then
                "fuzzy_sets.\($f).\($s): \($t) needs \(set_params[$t]) parameters, got \($set.parameters | length)"
              elif ($set.parameters | all(type == "number") | not) then
                "fuzzy_sets.\($f).\($s): parameters must be numbers"
              else empty end)
          end)
     else empty end),
    # modes
    (if $v2 then
       (if ($c.scope // "universal" | str_in(["universal", "symbol_group", "symbol_specific"]) | not) then
          "scope must be universal, symbol_group or symbol_specific" else empty end),
       ($c.training_data.symbols.mode // null | select(. != null and (str_in(["single", "multi_symbol"]) | not))
        | "training_data.symbols.mode must be single or multi_symbol"),
       ($c.training_data.timeframes as $tf | select($tf != null)
        | if ($tf.mode // "single" | str_in(["single", "multi_timeframe"]) | not) then
            "training_data.timeframes.mode must be single or multi_timeframe"
          elif $tf.mode == "multi_timeframe" and (($tf.list // []) | length) < 2 then
            "training_data.timeframes: multi_timeframe needs at least 2 timeframes"
          elif $tf.mode == "multi_timeframe" and ($tf.base_timeframe | str_in($tf.list // []) | not) then
            "training_data.timeframes: base_timeframe must be in the list"
          else empty end),
       ($c.training_data.history_required // null | select(. != null and (type != "number" or . < 50))
        | "training_data.history_required must be at least 50"),
       ($c.deployment.target_symbols.mode // null
        | select(. != null and (str_in(["universal", "group_restricted", "training_only"]) | not))
        | "deployment.target_symbols.mode must be universal, group_restricted or training_only"),
       ($c.deployment.target_timeframes.mode // null
        | select(. != null and (str_in(["single", "multi_timeframe"]) | not))
        | "deployment.target_timeframes.mode must be single or multi_timeframe")
     else empty end)
  ] as $errors
| [
    (if ($c.model.type // "mlp") != "mlp" then "model.type '\($c.model.type)' is not mlp" else empty end),
    (if ($c.indicators | is_arr) and ($c.indicators | length) > 6 then "more than 6 indicators: start smaller" else empty end)
  ] as $warnings
| {valid: ($errors | length == 0), errors: $errors, warnings: $warnings}

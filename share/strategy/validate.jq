# Strategy validation rules: KTRDR's v3 strategy grammar, as data.
#
# What the platform checks when it loads a strategy (kpiteira/ktrdr
# ktrdr/config/strategy_loader.py load_v3_strategy, config/models.py
# StrategyConfigurationV3, config/strategy_validator.py validate_v3_strategy),
# and what it checks only when training starts (IndicatorEngine, FuzzyEngine,
# fuzzy/membership.py): a strategy that passes here is neither refused at
# load nor at the first epoch.  Messages keep the platform's wording, so the
# model reads what the platform would have said.
#
# Input: a strategy config object.  $indicators: the names and ids the
# backend's GET /indicators/ lists (may be empty: the built-in registry
# below is used then).  Output: {valid, errors: [string], warnings: [string]}.
# Copy and change freely; agent-invoke only reads "valid" and the two lists.

def is_obj: type == "object";
def is_arr: type == "array";
# (not index/1: it leaks in libjq 1.6)
def str_in($xs): . as $v | any($xs[]; . == $v);
def day: type == "string" and test("^[0-9]{4}-[0-9]{2}-[0-9]{2}$");

# ktrdr/indicators/*.py: the registry's canonical names (class name less
# "Indicator", lower case) and their outputs when they have several
# (core/type_registry.py; the multi-output classes' get_output_names).
def registry: {
  "rsi": [], "roc": [], "momentum": [], "cci": [], "williamsr": [],
  "stochastic": ["k", "d"], "rvi": ["rvi", "signal"], "fishertransform": ["fisher", "signal"],
  "aroon": ["up", "down", "oscillator"], "atr": [],
  "bollingerbands": ["upper", "middle", "lower"], "bollingerbandwidth": [],
  "keltnerchannels": ["upper", "middle", "lower"], "donchianchannels": ["upper", "middle", "lower"],
  "supertrend": ["trend", "direction"], "simplemovingaverage": [], "exponentialmovingaverage": [],
  "weightedmovingaverage": [], "macd": ["line", "signal", "histogram"],
  "adx": ["adx", "plus_di", "minus_di"], "parabolicsar": [],
  "ichimoku": ["tenkan", "kijun", "senkou_a", "senkou_b", "chikou"], "obv": [], "vwap": [], "mfi": [],
  "cmf": ["cmf", "mf_multiplier", "mf_volume", "momentum", "signal", "histogram", "above_zero", "below_zero"],
  "adline": ["line", "mf_multiplier", "mf_volume", "roc_10", "momentum_21", "relative_strength"],
  "volumeratio": [], "distancefromma": [], "squeezeintensity": [], "zigzag": []
};
def aliases: {"sma": "simplemovingaverage", "ema": "exponentialmovingaverage",
              "wma": "weightedmovingaverage", "bbands": "bollingerbands"};
# a type as the registry resolves it (case-insensitive; "RSIIndicator" too)
def canonical: ascii_downcase | (aliases[.] // .) | sub("indicator$"; "") | (aliases[.] // .);
# fuzzy/membership.py: parameter counts (case-insensitive; "...mf" aliases)
def mf_params: {"triangular": 3, "trapezoidal": 4, "gaussian": 2};
def mf_form: {"triangular": "[a, b, c]", "trapezoidal": "[a, b, c, d]", "gaussian": "[μ, σ]"};

# the backend's own list, when it gave one, decides which types exist
(if ($indicators | length) > 0
 then [$indicators[] | strings | canonical] | unique
 else registry | keys end) as $known

| . as $c
| (($c.indicators | is_obj) and ($c | has("nn_inputs"))) as $v3
| ($c.training_data.timeframes // {}) as $tf
| (if ($tf.list | is_arr) then $tf.list elif ($tf.timeframes | is_arr) then $tf.timeframes
   elif ($tf.timeframe | type) == "string" then [$tf.timeframe] else [] end) as $avail_tf
| (if ($c.indicators | is_obj) then $c.indicators else {} end) as $inds
| (if ($c.fuzzy_sets | is_obj) then $c.fuzzy_sets else {} end) as $fsets
| [
    # the loader's v3 detection, first: a v2 strategy gets nothing else
    (if $v3 | not then
       "Strategy '\($c.name // "strategy").yaml' is not v3 format. Run 'ktrdr strategy migrate' to upgrade."
       + " (v3: indicators is a mapping of indicator id to {type, parameters...}, not a list;"
       + " nn_inputs is required)"
     else
       # required top-level fields (StrategyConfigurationV3)
       (["name", "training_data", "indicators", "fuzzy_sets", "nn_inputs", "model", "decisions", "training"]
        | .[] | select($c[.] == null) | "Missing required field: \(.)"),
       (if $c.name != null and ($c.name | type) != "string" then "Validation error in 'name': Input should be a valid string" else empty end),
       (if $c.version != null and ($c.version | type) != "string" then
          "Validation error in 'version': Input should be a valid string (write \"3.0\", quoted)" else empty end),
       (["model", "decisions", "training"] | .[] | select($c[.] != null and ($c[.] | is_obj | not))
        | "Validation error in '\(.)': Input should be a valid dictionary"),

       # training_data (TrainingDataConfiguration)
       (if $c.training_data != null and ($c.training_data | is_obj | not) then
          "Validation error in 'training_data': Input should be a valid dictionary"
        elif ($c.training_data | is_obj) then
          ($c.training_data.symbols // null) as $s
          | (if ($s | is_obj | not) then "Missing required field: training_data.symbols"
             elif ($s.mode | type) != "string" or ($s.mode | str_in(["single", "multi_symbol"]) | not) then
               "Validation error in 'training_data.symbols.mode': Input should be 'single' or 'multi_symbol'"
             # the research worker reads only `list` (agents/workers/research_worker.py)
             elif ($s.list | is_arr | not) or ($s.list | length) == 0 or ($s.list | all(type == "string") | not) then
               "training_data.symbols.list: a list of symbols is required (the platform reads only list; without it it trains EURUSD)"
             elif $s.mode == "single" and ($s.list | length) != 1 then
               "training_data.symbols: single mode takes exactly one symbol in list"
             elif $s.mode == "single" and $s.symbol != null and $s.symbol != $s.list[0] then
               "training_data.symbols: symbol '\($s.symbol)' is not the one in list"
             else empty end),
          (if ($tf | is_obj | not) or ($c.training_data.timeframes == null) then "Missing required field: training_data.timeframes"
           elif ($tf.mode | type) != "string" or ($tf.mode | str_in(["single", "multi_timeframe"]) | not) then
             "Validation error in 'training_data.timeframes.mode': Input should be 'single' or 'multi_timeframe'"
           elif ($tf.list | is_arr | not) or ($tf.list | length) == 0 or ($tf.list | all(type == "string") | not) then
             "training_data.timeframes.list: a list of timeframes is required (the platform reads only list; without it it trains 1h)"
           elif $tf.mode == "multi_timeframe" and ($tf.list | length) < 2 then
             "Validation error in 'training_data.timeframes.list': Multi-timeframe mode requires at least 2 timeframes"
           elif $tf.mode == "single" and ($tf.list | length) != 1 then
             "training_data.timeframes: single mode takes exactly one timeframe in list"
           elif ($tf.list | unique | length) != ($tf.list | length) then
             "training_data.timeframes.list: a timeframe is listed twice"
           else empty end),
          ($c.training_data.history_required // null
           | select(. != null and (type != "number" or . != floor or . < 50))
           | "Validation error in 'training_data.history_required': History required must be at least 50 bars"),
          ($c.training_data.date_range // null | select(. != null)
           | if (.start | day | not) or (.end | day | not) or .start >= .end then
               "training_data.date_range: start and end are YYYY-MM-DD strings, start before end" else empty end)
        else empty end),

       # indicators: id -> {type, parameters...}
       (if ($inds | length) == 0 then "indicators: at least one indicator is required"
        elif ($inds | length) > 32 then "indicators: \($inds | length) indicators; at most 32 (start with 2 to 4)"
        else
          ($inds | to_entries[] | .key as $id | .value as $ind
           | if ($id | test("^[A-Za-z][A-Za-z0-9_]{0,63}$") | not) then
               "indicators.\($id[0:64]): an indicator id is a letter, then letters, digits or _ (no dots: dots name outputs)"
             elif ($ind | is_obj | not) then "Validation error in 'indicators.\($id)': Input should be a valid dictionary"
             elif ($ind.type | type) != "string" then "Missing required field: indicators.\($id).type"
             elif ($ind.type | canonical | str_in($known) | not) then
               "indicators.\($id): Unknown indicator type '\($ind.type)'. Available: \($known | tostring)"
             else empty end)
        end),

       # fuzzy_sets: set id -> {indicator, membership: [a,b,c] | {type, parameters}}
       (if $c.fuzzy_sets != null and ($c.fuzzy_sets | is_obj | not) then
          "Validation error in 'fuzzy_sets': Input should be a valid dictionary"
        elif ($fsets | length) == 0 then "Fuzzy sets configuration cannot be empty"
        elif ($fsets | length) > 64 then "fuzzy_sets: \($fsets | length) sets; at most 64"
        else
          ($fsets | to_entries[] | .key as $fs | .value as $set
           | if ($fs | test("^[A-Za-z][A-Za-z0-9_]{0,63}$") | not) then
               "fuzzy_sets.\($fs[0:64]): a fuzzy set id is a letter, then letters, digits or _"
             elif ($set | is_obj | not) then "Validation error in 'fuzzy_sets.\($fs)': Input should be a valid dictionary"
             elif ($set.indicator | type) != "string" then "Missing required field: fuzzy_sets.\($fs).indicator"
             else
               ($set.indicator | split(".")) as $ref
               | ($ref[0]) as $base | ($ref[1:] | join(".")) as $out
               | (if $inds[$base] == null then
                    "fuzzy_sets.\($fs).indicator: '\($base)' not found in indicators. Available indicators: \($inds | keys | join(", "))"
                  elif ($ref | length) > 1 then
                    ($inds[$base].type // "" | canonical) as $t
                    | (registry[$t] // null) as $outs
                    | if $outs == null then empty
                      elif ($outs | length) == 0 then
                        "fuzzy_sets.\($fs).indicator: Indicator '\($base)' (type: \($inds[$base].type)) is single-output and does not support dot notation. Remove '.\($out)' from reference."
                      elif ($out | str_in($outs) | not) then
                        "fuzzy_sets.\($fs).indicator: Invalid output '\($out)' for \($inds[$base].type) indicator '\($base)'. Valid outputs: \($outs | join(", "))"
                      else empty end
                  else empty end),
                 ([$set | to_entries[] | select(.key != "indicator")] as $mfs
                  | if ($mfs | length) == 0 then
                      "fuzzy_sets.\($fs): Fuzzy set has no membership functions defined. At least one membership function is required (e.g., oversold, overbought)."
                    elif ($mfs | length) > 16 then "fuzzy_sets.\($fs): \($mfs | length) membership functions; at most 16"
                    else
                      ($mfs[] | .key as $m
                       | (if (.value | is_arr) then {type: "triangular", parameters: .value} else .value end) as $mf
                       | if ($mf | is_obj | not) or ($mf.type | type) != "string" or ($mf.parameters | is_arr | not) then
                           "fuzzy_sets.\($fs).\($m): Failed to create membership function '\($m)': write [a, b, c] or {type, parameters}"
                         elif (mf_params[$mf.type | ascii_downcase | sub("mf$"; "")] == null) then
                           "fuzzy_sets.\($fs).\($m): Unknown membership function type '\($mf.type)'. Available: ['gaussian', 'trapezoidal', 'triangular']"
                         else
                           ($mf.type | ascii_downcase | sub("mf$"; "")) as $t
                           | ($mf.parameters) as $p
                           | if ($p | length) != mf_params[$t] then
                               "fuzzy_sets.\($fs).\($m): \($t[0:1] | ascii_upcase)\($t[1:]) requires exactly \(mf_params[$t]) parameters \(mf_form[$t]), got \($p | length)"
                             elif ($p | all(type == "number") | not) then
                               "fuzzy_sets.\($fs).\($m): parameters must be numbers"
                             elif $t == "gaussian" and $p[1] <= 0 then
                               "fuzzy_sets.\($fs).\($m): Sigma must be > 0, got \($p[1])"
                             elif $t != "gaussian" and ($p | . != sort) then
                               "fuzzy_sets.\($fs).\($m): Parameters must satisfy \(if $t == "triangular" then "a <= b <= c" else "a <= b <= c <= d" end), got \($p | map(tostring) | join(", "))"
                             else empty end
                         end)
                    end)
             end)
        end),

       # nn_inputs: [{fuzzy_set | raw_indicator, timeframes: [..] | "all", normalization?}]
       (if $c.nn_inputs != null and ($c.nn_inputs | is_arr | not) then
          "Validation error in 'nn_inputs': Input should be a valid list"
        elif ($c.nn_inputs | is_arr) and ($c.nn_inputs | length) == 0 then "nn_inputs: at least one input is required"
        elif ($c.nn_inputs | is_arr) and ($c.nn_inputs | length) > 64 then "nn_inputs: \($c.nn_inputs | length) inputs; at most 64"
        elif ($c.nn_inputs | is_arr) then
          ($c.nn_inputs | to_entries[] | .key as $i | .value as $in
           | if ($in | is_obj | not) then "Validation error in 'nn_inputs.\($i)': Input should be a valid dictionary"
             elif $in.fuzzy_set != null and $in.raw_indicator != null then
               "Validation error in 'nn_inputs.\($i)': Value error, Specify either fuzzy_set or raw_indicator, not both"
             elif $in.fuzzy_set == null and $in.raw_indicator == null then
               "Validation error in 'nn_inputs.\($i)': Value error, Must specify either fuzzy_set or raw_indicator"
             elif $in.normalization != null and $in.fuzzy_set != null then
               "Validation error in 'nn_inputs.\($i)': Value error, normalization is only valid with raw_indicator, not fuzzy_set"
             elif $in.normalization != null and ($in.normalization | str_in(["minmax", "zscore", "none"]) | not) then
               "Validation error in 'nn_inputs.\($i).normalization': Input should be 'minmax', 'zscore' or 'none'"
             elif $in.timeframes == null then "Missing required field: nn_inputs.\($i).timeframes"
             # a bare string other than "all" passes the platform's check and
             # is then read letter by letter: refused here
             elif ($in.timeframes | type) == "string" and $in.timeframes != "all" then
               "nn_inputs[\($i)].timeframes: a list of timeframes, or the string all, not '\($in.timeframes)'"
             elif ($in.timeframes | type) != "string" and (($in.timeframes | is_arr | not) or ($in.timeframes | length) == 0 or ($in.timeframes | all(type == "string") | not)) then
               "nn_inputs[\($i)].timeframes: a list of timeframes, or the string all"
             else
               (if $in.fuzzy_set != null and ($in.fuzzy_set | type) == "string" and $fsets[$in.fuzzy_set] == null then
                  "nn_inputs[\($i)].fuzzy_set: '\($in.fuzzy_set)' not found in fuzzy_sets. Available fuzzy_sets: \($fsets | keys | join(", "))"
                elif $in.raw_indicator != null and (($in.raw_indicator | type) != "string" or $inds[$in.raw_indicator | split(".")[0]] == null) then
                  "nn_inputs[\($i)].raw_indicator: '\($in.raw_indicator | tostring | split(".")[0])' not found in indicators. Available indicators: \($inds | keys | join(", "))"
                else empty end),
               (if ($in.timeframes | is_arr) then
                  ($in.timeframes[] | select(str_in($avail_tf) | not)
                   | "nn_inputs[\($i)].timeframes: Invalid timeframe '\(.)'. Available timeframes: \($avail_tf | sort | join(", "))")
                else empty end)
             end)
        else empty end),

       # decisions (validate_v3_strategy, Validation 6)
       (if ($c.decisions | is_obj) then
          ($c.decisions.output_format // "classification") as $of
          | if ($of | type) != "string" or ($of | str_in(["classification", "regression"]) | not) then
              "decisions.output_format must be 'classification' or 'regression', got '\($of)'"
            elif $of == "regression" then
              (if ($c.decisions.cost_model | is_obj | not) then
                 "decisions.cost_model is required for regression mode (must include round_trip_cost and min_edge_multiplier)"
               else
                 (["round_trip_cost", "min_edge_multiplier"] | .[]
                  | select(($c.decisions.cost_model[.] | type) != "number" or $c.decisions.cost_model[.] <= 0)
                  | "decisions.cost_model.\(.) must be a positive number")
               end)
            else empty end
        else empty end),

       # the backtest range the research worker reads (backtest.date_range)
       ($c.backtest.date_range // null | select(. != null)
        | if (.start | day | not) or (.end | day | not) or .start >= .end then
            "backtest.date_range: start and end are YYYY-MM-DD strings, start before end" else empty end)
     end)
  ] as $errors
| [
    ($inds | keys[] as $id
     | select([$fsets[] | objects | .indicator | strings | split(".")[0]] | any(. == $id) | not)
     | select([($c.nn_inputs // [])[]? | objects | .raw_indicator | strings | split(".")[0]] | any(. == $id) | not)
     | "Indicator '\($id)' is defined but not referenced by any fuzzy_set"),
    (if ($inds | length) > 6 then "more than 6 indicators: start smaller" else empty end)
  ] as $warnings
| {valid: ($errors | length == 0), errors: $errors, warnings: $warnings}

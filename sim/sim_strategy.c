/* sim_strategy: the platform's strategy directory, read and checked as KTRDR does. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "base/json.h"
#include "sim_int.h"

/*
 * Sources (kpiteira/ktrdr @ 2c5c7173), cited in agent-sim(1) too:
 * - the directory: ktrdr/api/services/training/context.py
 *   _get_default_strategy_paths (STRATEGIES_DIR, /app/strategies,
 *   ./strategies) and _resolve_strategy_path ("Strategy file not found:
 *   {name}.yaml (searched: ...)");
 * - the load: ktrdr/config/strategy_loader.py load_v3_strategy (v3 only when
 *   `indicators` is a mapping and `nn_inputs` is present, else "Strategy
 *   '{file}' is not v3 format. Run 'ktrdr strategy migrate' to upgrade.");
 * - the model: ktrdr/config/models.py StrategyConfigurationV3 (required
 *   fields, symbol and timeframe modes, history_required >= 50);
 * - the checks: ktrdr/config/strategy_validator.py validate_v3_strategy
 *   (fuzzy set -> indicator, nn_input -> fuzzy set or indicator, timeframes,
 *   memberships, output_format), with the platform's messages;
 * - what fails only when training starts: IndicatorEngine (unknown type:
 *   "Unknown indicator type '{t}'. Available: [...]"), FuzzyEngine and
 *   ktrdr/fuzzy/membership.py (parameter counts).
 */

#define STRATEGY_FILE_MAX (1u << 20)
#define YAML_DEPTH_MAX 64

/* ---- YAML to jv, as yaml.safe_load types plain scalars ------------------- */

static jv scalar(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	char *end;
	double d;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return jv_string_sized(v, (int)n);
	if (n == 0 || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0)
		return jv_null();
	if (strcasecmp(v, "true") == 0)
		return jv_true();
	if (strcasecmp(v, "false") == 0)
		return jv_false();
	if (strchr("+-.0123456789", v[0])) {
		errno = 0;
		d = strtod(v, &end);
		/* finite only: "+nan" and "-inf" are strings to yaml.safe_load */
		if (errno == 0 && *end == 0 && end != v && isfinite(d))
			return jv_number(d);
	}
	return jv_string_sized(v, (int)n);
}

/* The next node of the event stream; invalid on a parse error or alias. */
static jv node(yaml_parser_t *p, int depth)
{
	yaml_event_t ev;
	jv v;

	if (depth > YAML_DEPTH_MAX || !yaml_parser_parse(p, &ev))
		return jv_invalid_with_msg(jv_string("YAML nested too deep or malformed"));
	switch (ev.type) {
	case YAML_SCALAR_EVENT:
		v = scalar(&ev);
		break;
	case YAML_SEQUENCE_START_EVENT:
		v = jv_array();
		for (;;) {
			jv x = node(p, depth + 1);

			if (!jv_is_valid(x)) {
				if (jv_invalid_has_msg(jv_copy(x))) {
					jv_free(v);
					v = x;
				} else {
					jv_free(x);  /* the end of the sequence */
				}
				break;
			}
			v = jv_array_append(v, x);
		}
		break;
	case YAML_MAPPING_START_EVENT:
		v = jv_object();
		for (;;) {
			jv k = node(p, depth + 1), x;

			if (!jv_is_valid(k)) {
				if (jv_invalid_has_msg(jv_copy(k))) {
					jv_free(v);
					v = k;
				} else {
					jv_free(k);
				}
				break;
			}
			if (jv_get_kind(k) == JV_KIND_OBJECT || jv_get_kind(k) == JV_KIND_ARRAY) {
				/* yaml.safe_load: "found unhashable key"; the text of
				 * keys of keys would double at each level, too */
				jv_free(k);
				jv_free(v);
				v = jv_invalid_with_msg(jv_string("found unhashable key"));
				break;
			}
			if (jv_get_kind(k) != JV_KIND_STRING) {
				jv s = jv_dump_string(k, 0);

				k = s;
			}
			x = node(p, depth + 1);
			if (!jv_is_valid(x)) {
				jv_free(k);
				jv_free(v);
				v = jv_invalid_has_msg(jv_copy(x)) ? x
					: (jv_free(x), jv_invalid_with_msg(jv_string("mapping without a value")));
				break;
			}
			/* yaml.safe_load keeps the last of duplicate keys, as this does */
			v = jv_object_set(v, k, x);
		}
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		v = jv_invalid();
		break;
	default:
		v = jv_invalid_with_msg(jv_string("anchors, aliases and tags are not supported"));
		break;
	}
	yaml_event_delete(&ev);
	return v;
}

jv sim_strategy_yaml(const char *text, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	jv v = jv_invalid_with_msg(jv_string("empty YAML"));
	int ok;

	if (!yaml_parser_initialize(&p))
		return jv_invalid_with_msg(jv_string("out of memory"));
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	/* stream start, document start */
	ok = yaml_parser_parse(&p, &ev);
	yaml_event_delete(&ev);
	if (ok && (ok = yaml_parser_parse(&p, &ev))) {
		int doc = ev.type == YAML_DOCUMENT_START_EVENT;

		yaml_event_delete(&ev);
		if (doc) {
			jv_free(v);
			v = node(&p, 0);
		}
	}
	if (!ok) {
		jv_free(v);
		v = jv_invalid_with_msg(jv_string_fmt("%s at line %zu", p.problem ? p.problem : "malformed",
						      p.problem_mark.line + 1));
	}
	yaml_parser_delete(&p);
	return v;
}

/* ---- the directory -------------------------------------------------------- */

int sim_strategy_name_ok(const char *name)
{
	/* context.py build_training_context: ^[A-Za-z0-9][A-Za-z0-9_-]*$ */
	if (!name || !isalnum((unsigned char)name[0]) || strlen(name) > 128)
		return 0;
	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
			return 0;
	return 1;
}

int sim_strategy_load(struct sim *s, const char *name, jv *cfg, char *msg, size_t size)
{
	char path[4300], *text;
	FILE *f;
	long n;

	*cfg = jv_null();
	snprintf(path, sizeof path, "%s/%s.yaml", s->cfg.strategies, name);
	f = fopen(path, "r");
	if (!f) {
		snprintf(msg, size, "%s", strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > (long)STRATEGY_FILE_MAX ||
	    fseek(f, 0, SEEK_SET)) {
		fclose(f);
		snprintf(msg, size, "Failed to parse strategy YAML: file over %u bytes", STRATEGY_FILE_MAX);
		return -2;
	}
	text = malloc((size_t)n + 1);
	if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
		free(text);
		fclose(f);
		snprintf(msg, size, "Failed to parse strategy YAML: unreadable");
		return -2;
	}
	fclose(f);
	text[n] = 0;
	*cfg = sim_strategy_yaml(text, (size_t)n);
	free(text);
	if (!jv_is_valid(*cfg)) {
		jv m = jv_invalid_get_msg(*cfg);

		snprintf(msg, size, "Failed to parse strategy YAML: %s",
			 jv_get_kind(m) == JV_KIND_STRING ? jv_string_value(m) : "malformed");
		jv_free(m);
		*cfg = jv_null();
		return -2;
	}
	if (jv_get_kind(*cfg) != JV_KIND_OBJECT) {
		jv_free(*cfg);
		*cfg = jv_null();
		snprintf(msg, size, "Strategy configuration must be a mapping");
		return -2;
	}
	return 0;
}

/* ---- the checks ----------------------------------------------------------- */

static int is_kind(jv v, const char *path, jv_kind k)
{
	return json_kind_at(v, path) == k;
}

static int str_is(jv v, const char *path, const char *const *allowed)
{
	char *x = json_string(v, path);
	int ok = 0;

	for (; x && *allowed; allowed++)
		ok |= strcmp(x, *allowed) == 0;
	free(x);
	return ok;
}

static jv add(jv errs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static jv add(jv errs, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return jv_array_append(errs, jv_string(buf));
}

/* "a, b, c" of an object's keys, sorted */
static void keys_text(jv obj, char *buf, size_t size)
{
	jv keys = jv_get_kind(obj) == JV_KIND_OBJECT ? jv_keys(jv_copy(obj)) : jv_array();
	size_t used = 0;

	buf[0] = 0;
	for (int i = 0; i < jv_array_length(jv_copy(keys)) && used + 1 < size; i++) {
		jv k = jv_array_get(jv_copy(keys), i);
		int w = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", jv_string_value(k));

		used = w < 0 || (size_t)w >= size - used ? size - 1 : used + (size_t)w;
		jv_free(k);
	}
	jv_free(keys);
	jv_free(obj);
}

int sim_strategy_is_v3(jv cfg)
{
	int v3 = is_kind(cfg, "indicators", JV_KIND_OBJECT) &&
		 jv_object_has(jv_copy(cfg), jv_string("nn_inputs"));

	return v3;
}

/* The load-time checks (models.py, then validate_v3_strategy); borrows cfg.
 * An array of messages, empty when the platform accepts the strategy. */
jv sim_strategy_check(jv cfg)
{
	static const char *const req[] = { "name", "training_data", "indicators", "fuzzy_sets",
					   "nn_inputs", "model", "decisions", "training", NULL };
	static const char *const sym_modes[] = { "single", "multi_symbol", NULL };
	static const char *const tf_modes[] = { "single", "multi_timeframe", NULL };
	static const char *const formats[] = { "classification", "regression", NULL };
	jv errs = jv_array(), inds, fsets, inputs, tfs;
	char names[1024];
	double hist;
	int n;

	for (const char *const *r = req; *r; r++)
		if (!jv_object_has(jv_copy(cfg), jv_string(*r)))
			errs = add(errs, "Missing required field: %s", *r);
	if (jv_array_length(jv_copy(errs)))
		return errs;
	if (!is_kind(cfg, "indicators", JV_KIND_OBJECT))
		return add(errs, "Validation error in 'indicators': Input should be a valid dictionary");
	if (!is_kind(cfg, "training_data.symbols", JV_KIND_OBJECT))
		errs = add(errs, "Missing required field: training_data.symbols");
	else if (!str_is(cfg, "training_data.symbols.mode", sym_modes))
		errs = add(errs, "Validation error in 'training_data.symbols.mode': Input should be 'single' or 'multi_symbol'");
	if (!is_kind(cfg, "training_data.timeframes", JV_KIND_OBJECT))
		errs = add(errs, "Missing required field: training_data.timeframes");
	else if (!str_is(cfg, "training_data.timeframes.mode", tf_modes))
		errs = add(errs, "Validation error in 'training_data.timeframes.mode': Input should be 'single' or 'multi_timeframe'");
	tfs = json_get(jv_copy(cfg), "training_data.timeframes.list");
	if (jv_get_kind(tfs) != JV_KIND_ARRAY) {
		char *one = json_string(cfg, "training_data.timeframes.timeframe");

		jv_free(tfs);
		tfs = one ? jv_array_append(jv_array(), jv_string(one)) : jv_array();
		free(one);
	} else if (str_is(cfg, "training_data.timeframes.mode", (const char *const[]){ "multi_timeframe", NULL }) &&
		   jv_array_length(jv_copy(tfs)) < 2) {
		errs = add(errs, "Validation error in 'training_data.timeframes.list': Value error, Multi-timeframe mode requires at least 2 timeframes");
	}
	if (json_number(cfg, "training_data.history_required", &hist) && hist < 50)
		errs = add(errs, "Validation error in 'training_data.history_required': Value error, History required must be at least 50 bars");

	inds = json_get(jv_copy(cfg), "indicators");
	jv_object_foreach(inds, id, def) {
		if (jv_get_kind(def) != JV_KIND_OBJECT || json_kind_at(def, "type") != JV_KIND_STRING)
			errs = add(errs, "Missing required field: indicators.%s.type", jv_string_value(id));
		jv_free(id);
		jv_free(def);
	}
	fsets = json_get(jv_copy(cfg), "fuzzy_sets");
	if (jv_get_kind(fsets) != JV_KIND_OBJECT) {
		jv_free(fsets);
		fsets = jv_object();
		errs = add(errs, "Validation error in 'fuzzy_sets': Input should be a valid dictionary");
	}
	jv_object_foreach(fsets, fs, def) {
		char *ref = jv_get_kind(def) == JV_KIND_OBJECT ? json_string(def, "indicator") : NULL;

		if (!ref) {
			errs = add(errs, "Missing required field: fuzzy_sets.%s.indicator", jv_string_value(fs));
		} else {
			char *dot = strchr(ref, '.');

			if (dot)
				*dot = 0;
			if (!jv_object_has(jv_copy(inds), jv_string(ref))) {
				keys_text(jv_copy(inds), names, sizeof names);
				errs = add(errs, "fuzzy_sets.%s.indicator: '%s' not found in indicators. "
					   "Available indicators: %s", jv_string_value(fs), ref, names);
			}
			if (jv_object_length(jv_copy(def)) < 2)
				errs = add(errs, "fuzzy_sets.%s: Fuzzy set has no membership functions defined. "
					   "At least one membership function is required (e.g., oversold, "
					   "overbought).", jv_string_value(fs));
		}
		free(ref);
		jv_free(fs);
		jv_free(def);
	}
	inputs = json_get(jv_copy(cfg), "nn_inputs");
	n = jv_get_kind(inputs) == JV_KIND_ARRAY ? jv_array_length(jv_copy(inputs)) : 0;
	if (jv_get_kind(inputs) != JV_KIND_ARRAY)
		errs = add(errs, "Validation error in 'nn_inputs': Input should be a valid list");
	for (int i = 0; i < n; i++) {
		jv in = jv_array_get(jv_copy(inputs), i), t;
		char *fz = json_string(in, "fuzzy_set"), *raw = json_string(in, "raw_indicator");

		if (fz && raw)
			errs = add(errs, "Validation error in 'nn_inputs.%d': Value error, Specify either "
				   "fuzzy_set or raw_indicator, not both", i);
		else if (!fz && !raw)
			errs = add(errs, "Validation error in 'nn_inputs.%d': Value error, Must specify "
				   "either fuzzy_set or raw_indicator", i);
		else if (fz && !jv_object_has(jv_copy(fsets), jv_string(fz))) {
			keys_text(jv_copy(fsets), names, sizeof names);
			errs = add(errs, "nn_inputs[%d].fuzzy_set: '%s' not found in fuzzy_sets. "
				   "Available fuzzy_sets: %s", i, fz, names);
		} else if (raw) {
			char *dot = strchr(raw, '.');

			if (dot)
				*dot = 0;
			if (!jv_object_has(jv_copy(inds), jv_string(raw))) {
				keys_text(jv_copy(inds), names, sizeof names);
				errs = add(errs, "nn_inputs[%d].raw_indicator: '%s' not found in indicators. "
					   "Available indicators: %s", i, raw, names);
			}
		}
		t = json_get(jv_copy(in), "timeframes");
		if (!jv_is_valid(t) || jv_get_kind(t) == JV_KIND_NULL)
			errs = add(errs, "Missing required field: nn_inputs.%d.timeframes", i);
		for (int j = 0; jv_get_kind(t) == JV_KIND_ARRAY && j < jv_array_length(jv_copy(t)); j++) {
			jv tf = jv_array_get(jv_copy(t), j);
			int found = 0;

			for (int k = 0; jv_get_kind(tf) == JV_KIND_STRING && k < jv_array_length(jv_copy(tfs)); k++) {
				jv a = jv_array_get(jv_copy(tfs), k);

				found |= jv_equal(a, jv_copy(tf));
			}
			if (!found) {
				jv all = jv_dump_string(jv_copy(tfs), 0);

				errs = add(errs, "nn_inputs[%d].timeframes: Invalid timeframe '%s'. Available "
					   "timeframes: %s", i, jv_get_kind(tf) == JV_KIND_STRING
					   ? jv_string_value(tf) : "?", jv_string_value(all));
				jv_free(all);
			}
			jv_free(tf);
		}
		jv_free(t);
		free(fz);
		free(raw);
		jv_free(in);
	}
	if (json_kind_at(cfg, "decisions.output_format") != JV_KIND_INVALID &&
	    json_kind_at(cfg, "decisions.output_format") != JV_KIND_NULL &&
	    !str_is(cfg, "decisions.output_format", formats)) {
		char *of = json_string(cfg, "decisions.output_format");

		errs = add(errs, "decisions.output_format must be 'classification' or 'regression', got '%s'",
			   of ? of : "?");
		free(of);
	}
	jv_free(tfs);
	jv_free(inds);
	jv_free(fsets);
	jv_free(inputs);
	return errs;
}

/* The registry IndicatorEngine resolves types in (the ktrdr/indicators/ modules,
 * core/type_registry.py: class name less "Indicator", lower case, and the
 * aliases sma, ema, wma, bbands). */
static const char *const registry[] = {
	"rsi", "roc", "momentum", "cci", "williamsr", "stochastic", "rvi", "fishertransform",
	"aroon", "atr", "bollingerbands", "bollingerbandwidth", "keltnerchannels",
	"donchianchannels", "supertrend", "simplemovingaverage", "exponentialmovingaverage",
	"weightedmovingaverage", "macd", "adx", "parabolicsar", "ichimoku", "obv", "vwap", "mfi",
	"cmf", "adline", "volumeratio", "distancefromma", "squeezeintensity", "zigzag", NULL
};

static int known_type(const char *t)
{
	static const char *const alias[][2] = {
		{ "sma", "simplemovingaverage" }, { "ema", "exponentialmovingaverage" },
		{ "wma", "weightedmovingaverage" }, { "bbands", "bollingerbands" },
	};
	char low[80];
	size_t n = 0;

	for (; t[n] && n < sizeof low - 1; n++)
		low[n] = (char)tolower((unsigned char)t[n]);
	low[n] = 0;
	if (n > 9 && strcmp(low + n - 9, "indicator") == 0)
		low[n - 9] = 0;
	for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
		if (strcmp(low, alias[i][0]) == 0)
			return 1;
	for (const char *const *r = registry; *r; r++)
		if (strcmp(low, *r) == 0)
			return 1;
	return 0;
}

/* What training start finds when it builds the engines (IndicatorEngine,
 * FuzzyEngine); 0, or 1 with the operation's error_message in msg. */
int sim_strategy_runtime(jv cfg, char *msg, size_t size)
{
	jv inds = json_get(jv_copy(cfg), "indicators"), fsets = json_get(jv_copy(cfg), "fuzzy_sets");
	int bad = 0;

	jv_object_foreach(inds, id, def) {
		char *t = json_string(def, "type");

		if (!bad && t && !known_type(t)) {
			snprintf(msg, size, "Unknown indicator type '%s'. Available: ['adline', 'adx', "
				 "'aroon', 'atr', 'bollingerbands', 'bollingerbandwidth', 'cci', 'cmf', ...]", t);
			bad = 1;
		}
		free(t);
		jv_free(id);
		jv_free(def);
	}
	jv_object_foreach(fsets, fs, def) {
		jv_object_foreach(def, m, mf) {
			const char *name = jv_string_value(m);
			jv params = jv_get_kind(mf) == JV_KIND_ARRAY ? jv_copy(mf) : json_get(jv_copy(mf), "parameters");
			char *t = jv_get_kind(mf) == JV_KIND_ARRAY ? strdup("triangular") : json_string(mf, "type");
			int need = 0, got = jv_get_kind(params) == JV_KIND_ARRAY ? jv_array_length(jv_copy(params)) : -1;

			if (t && (!strcasecmp(t, "triangular") || !strcasecmp(t, "triangularmf")))
				need = 3;
			else if (t && (!strcasecmp(t, "trapezoidal") || !strcasecmp(t, "trapezoidalmf")))
				need = 4;
			else if (t && (!strcasecmp(t, "gaussian") || !strcasecmp(t, "gaussianmf")))
				need = 2;
			if (!bad && strcmp(name, "indicator") != 0 && (need == 0 || got != need)) {
				snprintf(msg, size, need ? "Invalid parameters for %sMF" :
					 "Failed to create membership function '%s'",
					 need == 3 ? "Triangular" : need == 4 ? "Trapezoidal" :
					 need == 2 ? "Gaussian" : name);
				bad = 1;
			}
			free(t);
			jv_free(params);
			jv_free(m);
			jv_free(mf);
		}
		jv_free(fs);
		jv_free(def);
	}
	jv_free(inds);
	jv_free(fsets);
	return bad;
}

/* POST /strategies/validate/{name} (ktrdr/api/endpoints/strategies.py
 * validate_strategy, _validate_strategy_config). */
void sim_strategy_validate(struct sim *s, const char *name, struct sim_reply *rp)
{
	char msg[512];
	jv cfg, errs, out, issues = jv_array(), ind = jv_array();
	int rc, nerr;

	if (!sim_strategy_name_ok(name)) {
		jv_free(issues);
		jv_free(ind);
		sim_reply_detail(rp, 400, "Invalid strategy name: '%.100s'", name);
		return;
	}
	rc = sim_strategy_load(s, name, &cfg, msg, sizeof msg);
	if (rc == -1) {
		jv_free(issues);
		jv_free(ind);
		sim_reply_detail(rp, 404, "Strategy file not found: %s.yaml", name);
		return;
	}
	out = json_set(jv_object(), "success", jv_true());
	if (rc) {
		/* an exception inside validation is a 200 with a "system" issue */
		jv it = jv_object();

		it = json_set(it, "severity", jv_string("error"));
		it = json_set(it, "category", jv_string("system"));
		it = json_set(it, "message", jv_string_fmt("Failed to validate strategy: %s", msg));
		it = json_set(it, "details", json_set(jv_object(), "error", jv_string(msg)));
		out = json_set(out, "success", jv_false());
		out = json_set(out, "valid", jv_false());
		out = json_set(out, "strategy_name", jv_string(name));
		out = json_set(out, "issues", jv_array_append(issues, it));
		out = json_set(out, "available_indicators", ind);
		out = json_set(out, "message", jv_string("Validation failed due to system error"));
		sim_reply_json(rp, 200, out);
		return;
	}
	errs = sim_strategy_check(cfg);
	nerr = jv_array_length(jv_copy(errs));
	for (int i = 0; i < nerr; i++) {
		jv m = jv_array_get(jv_copy(errs), i), it = jv_object();
		const char *t = jv_string_value(m);
		const char *cat = strstr(t, "indicator") ? "indicators" : strstr(t, "fuzzy") ? "fuzzy_sets"
				  : strstr(t, "nn_input") ? "nn_inputs" : "structure";

		it = json_set(it, "severity", jv_string("error"));
		it = json_set(it, "category", jv_string(cat));
		it = json_set(it, "message", m);
		it = json_set(it, "details", jv_null());
		issues = jv_array_append(issues, it);
	}
	for (const char *const *r = registry; *r; r++)
		ind = jv_array_append(ind, jv_string(*r));
	out = json_set(out, "valid", jv_bool(nerr == 0));
	out = json_set(out, "strategy_name", jv_string(name));
	out = json_set(out, "issues", issues);
	out = json_set(out, "available_indicators", ind);
	out = json_set(out, "message", nerr ? jv_string_fmt("Strategy '%s' has %d error(s)", name, nerr)
					    : jv_string_fmt("Strategy '%s' is valid", name));
	jv_free(errs);
	jv_free(cfg);
	sim_reply_json(rp, 200, out);
}

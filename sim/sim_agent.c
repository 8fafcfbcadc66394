/* sim_agent: the scripted model: designs, trains, backtests, assesses. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "sim_int.h"

enum flow { CHAT, DESIGN, POST_TRAINING, ASSESSMENT };

/* Strategy families: indicators and fuzzy sets that belong together, in
 * KTRDR's v3 grammar (ktrdr/config/models.py StrategyConfigurationV3;
 * strategies/v3_multi_indicator.yaml there): indicators keyed by id with
 * their type, fuzzy sets naming their indicator (dot notation for one
 * output of a multi-output indicator), nn_inputs naming the fuzzy sets. */
static const struct family {
	const char *name, *description, *hypothesis, *indicators, *fuzzy;
} families[] = {
	{ "rsi_macd_momentum",
	  "RSI and MACD momentum with fuzzy oversold and overbought zones",
	  "momentum confirmed by both RSI and the MACD histogram persists for a few bars",
	  "{\"rsi_14\":{\"type\":\"rsi\",\"period\":14},"
	  "\"macd_12_26_9\":{\"type\":\"macd\",\"fast_period\":12,\"slow_period\":26,\"signal_period\":9}}",
	  "{\"rsi_zones\":{\"indicator\":\"rsi_14\",\"oversold\":{\"type\":\"triangular\",\"parameters\":[0,20,40]},"
	  "\"neutral\":{\"type\":\"triangular\",\"parameters\":[30,50,70]},"
	  "\"overbought\":{\"type\":\"triangular\",\"parameters\":[60,80,100]}},"
	  "\"macd_hist\":{\"indicator\":\"macd_12_26_9.histogram\",\"negative\":{\"type\":\"triangular\",\"parameters\":[-2,-1,0]},"
	  "\"neutral\":{\"type\":\"triangular\",\"parameters\":[-0.5,0,0.5]},"
	  "\"positive\":{\"type\":\"triangular\",\"parameters\":[0,1,2]}}}" },
	{ "cci_rsi_reversal",
	  "CCI extremes confirmed by RSI for mean-reversion entries",
	  "stretched CCI readings that RSI confirms tend to revert within a day",
	  "{\"cci_20\":{\"type\":\"cci\",\"period\":20},\"rsi_14\":{\"type\":\"rsi\",\"period\":14}}",
	  "{\"cci_zones\":{\"indicator\":\"cci_20\",\"oversold\":{\"type\":\"triangular\",\"parameters\":[-200,-100,0]},"
	  "\"neutral\":{\"type\":\"triangular\",\"parameters\":[-100,0,100]},"
	  "\"overbought\":{\"type\":\"triangular\",\"parameters\":[0,100,200]}},"
	  "\"rsi_zones\":{\"indicator\":\"rsi_14\",\"oversold\":{\"type\":\"triangular\",\"parameters\":[0,25,40]},"
	  "\"neutral\":{\"type\":\"triangular\",\"parameters\":[30,50,70]},"
	  "\"overbought\":{\"type\":\"triangular\",\"parameters\":[60,75,100]}}}" },
	{ "adx_macd_trend",
	  "Trend following: MACD direction weighted by ADX trend strength",
	  "MACD signals are reliable only when ADX shows a trending market",
	  "{\"adx_14\":{\"type\":\"adx\",\"period\":14},"
	  "\"macd_12_26_9\":{\"type\":\"macd\",\"fast_period\":12,\"slow_period\":26,\"signal_period\":9}}",
	  "{\"adx_strength\":{\"indicator\":\"adx_14.adx\",\"weak\":{\"type\":\"triangular\",\"parameters\":[0,10,25]},"
	  "\"strong\":{\"type\":\"triangular\",\"parameters\":[20,35,50]},"
	  "\"very_strong\":{\"type\":\"trapezoidal\",\"parameters\":[40,55,80,100]}},"
	  "\"macd_hist\":{\"indicator\":\"macd_12_26_9.histogram\",\"negative\":{\"type\":\"triangular\",\"parameters\":[-2,-1,0]},"
	  "\"neutral\":{\"type\":\"triangular\",\"parameters\":[-0.5,0,0.5]},"
	  "\"positive\":{\"type\":\"triangular\",\"parameters\":[0,1,2]}}}" },
	{ "stochastic_atr_breakout",
	  "Stochastic turns filtered by ATR volatility regimes",
	  "stochastic reversals in high-volatility regimes lead to breakouts",
	  "{\"stoch_14_3\":{\"type\":\"stochastic\",\"k_period\":14,\"d_period\":3},"
	  "\"atr_14\":{\"type\":\"atr\",\"period\":14}}",
	  "{\"stoch_k\":{\"indicator\":\"stoch_14_3.k\",\"oversold\":{\"type\":\"triangular\",\"parameters\":[0,15,30]},"
	  "\"neutral\":{\"type\":\"triangular\",\"parameters\":[20,50,80]},"
	  "\"overbought\":{\"type\":\"triangular\",\"parameters\":[70,85,100]}},"
	  "\"atr_regime\":{\"indicator\":\"atr_14\",\"low\":{\"type\":\"triangular\",\"parameters\":[0,0.5,1]},"
	  "\"medium\":{\"type\":\"triangular\",\"parameters\":[0.5,1.5,2.5]},"
	  "\"high\":{\"type\":\"gaussian\",\"parameters\":[3,1]}}}" },
};

#define NFAMILIES (sizeof families / sizeof families[0])

/* The rest of a v3 strategy (strategies/v3_minimal.yaml's sections): the
 * training data the research worker reads (symbols.list, timeframes.list,
 * training_data.date_range, backtest.date_range), model, decisions. */
static const char skeleton[] =
	"{\"version\":\"3.0\","
	"\"training_data\":{\"symbols\":{\"mode\":\"single\",\"symbol\":\"AAPL\",\"list\":[\"AAPL\"]},"
	"\"timeframes\":{\"mode\":\"single\",\"timeframe\":\"1h\",\"list\":[\"1h\"]},"
	"\"history_required\":200,\"date_range\":{\"start\":\"2020-01-01\",\"end\":\"2023-12-31\"}},"
	"\"backtest\":{\"date_range\":{\"start\":\"2024-01-01\",\"end\":\"2024-06-30\"}},"
	"\"model\":{\"type\":\"mlp\",\"architecture\":{\"hidden_layers\":[32,16],"
	"\"activation\":\"relu\",\"output_activation\":\"softmax\",\"dropout\":0.2},"
	"\"training\":{\"learning_rate\":0.001,\"batch_size\":32,\"epochs\":50,"
	"\"optimizer\":\"adam\",\"early_stopping\":{\"enabled\":true,\"patience\":10,"
	"\"min_delta\":0.001}}},"
	"\"decisions\":{\"output_format\":\"classification\",\"confidence_threshold\":0.6,"
	"\"position_awareness\":true},"
	"\"training\":{\"method\":\"supervised\",\"labels\":{\"source\":\"zigzag\","
	"\"zigzag_threshold\":0.03,\"label_lookahead\":20},"
	"\"data_split\":{\"train\":0.7,\"validation\":0.15,\"test\":0.15}}}";

/* One tool call seen in the conversation and what came back. */
struct call {
	char id[64];
	char name[64];
	jv input;
	int answered, error;
	char result[512];
};

#define MAX_CALLS 32

struct convo {
	enum flow flow;
	char *text;            /* the first user turn and every tool result, joined */
	jv tools;              /* offered custom tools, by name -> definition */
	int ncalls;
	struct call calls[MAX_CALLS];
	int assistant_turns;
	int last_is_result;    /* the request ends with tool results */
};

static jv get(jv v, const char *k)
{
	return jv_get_kind(v) == JV_KIND_OBJECT ? jv_object_get(jv_copy(v), jv_string(k)) : jv_invalid();
}

static int is(jv v, const char *k, const char *want)
{
	jv x = get(v, k);
	int eq = jv_get_kind(x) == JV_KIND_STRING && strcmp(jv_string_value(x), want) == 0;

	jv_free(x);
	return eq;
}

/* Appends the text of a content value (a string or blocks) to acc, a jv
 * string, a line per part; both are consumed. */
static jv text_of(jv acc, jv content)
{
	if (jv_get_kind(content) == JV_KIND_STRING)
		return jv_string_append_str(jv_string_concat(acc, content), "\n");
	for (int i = 0; jv_get_kind(content) == JV_KIND_ARRAY &&
			i < jv_array_length(jv_copy(content)); i++) {
		jv b = jv_array_get(jv_copy(content), i), t = get(b, "text");

		if (jv_get_kind(t) == JV_KIND_STRING)
			acc = jv_string_append_str(jv_string_concat(acc, t), "\n");
		else
			jv_free(t);
		jv_free(b);
	}
	jv_free(content);
	return acc;
}

static int has_tool(struct convo *c, const char *name)
{
	jv t = get(c->tools, name);
	int ok = jv_is_valid(t);

	jv_free(t);
	return ok;
}

static void read_convo(jv req, struct convo *c)
{
	jv msgs = get(req, "messages"), tools = get(req, "tools"), choice = get(req, "tool_choice");
	int n = jv_array_length(jv_copy(msgs));
	jv text = jv_string("");
	const char *t;

	memset(c, 0, sizeof *c);
	c->tools = jv_object();
	if (jv_get_kind(tools) == JV_KIND_ARRAY && !is(choice, "type", "none"))
		for (int i = 0; i < jv_array_length(jv_copy(tools)); i++) {
			jv d = jv_array_get(jv_copy(tools), i), nm = get(d, "name");

			if (jv_get_kind(nm) == JV_KIND_STRING)
				c->tools = jv_object_set(c->tools, nm, d);
			else
				jv_free(nm), jv_free(d);
		}
	for (int i = 0; i < n; i++) {
		jv m = jv_array_get(jv_copy(msgs), i), content = get(m, "content");
		int assistant = is(m, "role", "assistant");

		if (i == 0 && !assistant)
			text = text_of(text, jv_copy(content));
		if (assistant)
			c->assistant_turns++;
		c->last_is_result = 0;
		for (int j = 0; jv_get_kind(content) == JV_KIND_ARRAY &&
				j < jv_array_length(jv_copy(content)); j++) {
			jv b = jv_array_get(jv_copy(content), j);

			if (assistant && is(b, "type", "tool_use") && c->ncalls < MAX_CALLS) {
				struct call *k = &c->calls[c->ncalls++];
				jv nm = get(b, "name"), id = get(b, "id");

				snprintf(k->name, sizeof k->name, "%s", jv_string_value(nm));
				snprintf(k->id, sizeof k->id, "%s", jv_string_value(id));
				k->input = get(b, "input");
				jv_free(nm);
				jv_free(id);
			} else if (!assistant && is(b, "type", "tool_result")) {
				jv id = get(b, "tool_use_id");

				for (int q = 0; q < c->ncalls; q++)
					if (!c->calls[q].answered &&
					    strcmp(c->calls[q].id, jv_string_value(id)) == 0) {
						struct call *k = &c->calls[q];
						jv e = get(b, "is_error");
						jv r = text_of(jv_string(""), get(b, "content"));

						k->answered = 1;
						k->error = jv_get_kind(e) == JV_KIND_TRUE;
						snprintf(k->result, sizeof k->result, "%s", jv_string_value(r));
						for (size_t z = strlen(k->result); z > 0 &&
						     isspace((unsigned char)k->result[z - 1]); z--)
							k->result[z - 1] = 0;
						text = text_of(text, get(b, "content"));
						jv_free(r);
						jv_free(e);
						break;
					}
				jv_free(id);
				c->last_is_result = 1;
			}
			jv_free(b);
		}
		jv_free(content);
		jv_free(m);
	}
	c->text = strdup(jv_string_value(text));
	jv_free(text);
	t = c->text ? c->text : "";
	if (strstr(t, "Trigger: design") || strstr(t, "start_new_cycle"))
		c->flow = DESIGN;
	else if (strstr(t, "Trigger: post_training") || strstr(t, "training_completed"))
		c->flow = POST_TRAINING;
	else if (strstr(t, "Trigger: assessment") || strstr(t, "backtest_completed"))
		c->flow = ASSESSMENT;
	else if (has_tool(c, "save_strategy_config"))
		c->flow = DESIGN;
	else if (has_tool(c, "start_backtest"))
		c->flow = POST_TRAINING;
	else if (has_tool(c, "save_assessment"))
		c->flow = ASSESSMENT;
	jv_free(choice);
	jv_free(tools);
	jv_free(msgs);
}

static void convo_release(struct convo *c)
{
	for (int i = 0; i < c->ncalls; i++)
		jv_free(c->calls[i].input);
	jv_free(c->tools);
	free(c->text);
}

/* The value after `key` in prose or JSON: key, quotes, colon or equals,
 * then a word.  Returns 1 and the word in buf. */
static int find_word(const char *text, const char *key, char *buf, size_t size)
{
	const char *p = text;
	size_t kl = strlen(key);

	while (text && (p = strstr(p, key)) != NULL) {
		const char *q = p + kl;
		size_t n = 0;

		p += kl;
		if (p - kl > text && (isalnum((unsigned char)p[-kl - 1]) || p[-kl - 1] == '_'))
			continue;
		if (*q == '"' || *q == '\'' || *q == '*' || *q == '`')
			q++;
		while (*q == ' ' || *q == '*')
			q++;
		if (*q != ':' && *q != '=')
			continue;
		q++;
		while (*q == ' ' || *q == '"' || *q == '\'' || *q == '[' || *q == '`' || *q == '*')
			q++;
		while (n + 1 < size && (isalnum((unsigned char)q[n]) || q[n] == '_' || q[n] == '-' ||
					q[n] == '.' || q[n] == '/'))
			n++;
		while (n > 0 && q[n - 1] == '.')
			n--;
		if (n == 0)
			continue;
		memcpy(buf, q, n);
		buf[n] = 0;
		return 1;
	}
	return 0;
}

static int find_number(const char *text, const char *key, double *out)
{
	char w[64], *end;

	if (!find_word(text, key, w, sizeof w))
		return 0;
	*out = strtod(w, &end);
	return end != w;
}

/* Fills the required fields a tool's schema names that the call lacks. */
static jv complete(struct convo *c, const char *tool, jv input, const char *strategy)
{
	jv def = get(c->tools, tool), schema = get(def, "input_schema");
	jv req = get(schema, "required"), props = get(schema, "properties");

	for (int i = 0; jv_get_kind(req) == JV_KIND_ARRAY && i < jv_array_length(jv_copy(req)); i++) {
		jv k = jv_array_get(jv_copy(req), i), have, prop;
		const char *ks;
		char w[200];

		if (jv_get_kind(k) != JV_KIND_STRING) {
			jv_free(k);
			continue;
		}
		ks = jv_string_value(k);
		have = get(input, ks);
		prop = get(props, ks);
		if (!jv_is_valid(have)) {
			jv val;

			if (strcmp(ks, "model_path") == 0)
				val = find_word(c->text, "model_path", w, sizeof w) ? jv_string(w)
				    : jv_string_fmt("models/%s/AAPL_1h_v1.pt", strategy);
			else if (strstr(ks, "strategy"))
				val = jv_string(strategy);
			else if (is(prop, "type", "integer") || is(prop, "type", "number"))
				val = jv_number(0);
			else if (is(prop, "type", "array"))
				val = jv_array();
			else if (is(prop, "type", "object"))
				val = jv_object();
			else if (is(prop, "type", "boolean"))
				val = jv_false();
			else
				val = jv_string(find_word(c->text, ks, w, sizeof w) ? w : "");
			input = jv_object_set(input, jv_copy(k), val);
		}
		jv_free(have);
		jv_free(prop);
		jv_free(k);
	}
	jv_free(req);
	jv_free(props);
	jv_free(schema);
	jv_free(def);
	return input;
}

static jv text_block(const char *t)
{
	return json_set(json_set(jv_object(), "type", jv_string("text")), "text", jv_string(t));
}

static jv tool_block(struct sim *s, const char *name, jv input)
{
	char id[40];
	jv b = jv_object();

	sim_make_id(s, "toolu_01", 22, id, sizeof id);
	b = json_set(b, "type", jv_string("tool_use"));
	b = json_set(b, "id", jv_string(id));
	b = json_set(b, "name", jv_string(name));
	b = json_set(b, "input", input);
	return b;
}

static jv say(const char *t, const char **stop)
{
	*stop = "end_turn";
	return jv_array_append(jv_array(), text_block(t));
}

static jv call(struct sim *s, const char *preface, const char *name, jv input, const char **stop)
{
	*stop = "tool_use";
	return jv_array_append(jv_array_append(jv_array(), text_block(preface)),
			       tool_block(s, name, input));
}

static const struct family *family_of(const char *name)
{
	for (size_t i = 0; i < NFAMILIES; i++)
		if (strncmp(name, families[i].name, strlen(families[i].name)) == 0)
			return &families[i];
	return &families[0];
}

static jv strategy(const struct family *f, const char *name)
{
	jv cfg = jv_parse(skeleton), in = jv_object();

	cfg = json_set(cfg, "name", jv_string(name));
	cfg = json_set(cfg, "description", jv_string(f->description));
	cfg = json_set(cfg, "indicators", jv_parse(f->indicators));
	cfg = json_set(cfg, "fuzzy_sets", jv_parse(f->fuzzy));
	{
		/* one input per fuzzy set, on every training timeframe */
		jv fs = jv_keys(jv_parse(f->fuzzy)), inputs = jv_array();

		for (int i = 0; i < jv_array_length(jv_copy(fs)); i++)
			inputs = jv_array_append(inputs, json_set(json_set(jv_object(), "fuzzy_set",
				jv_array_get(jv_copy(fs), i)), "timeframes", jv_string("all")));
		jv_free(fs);
		cfg = json_set(cfg, "nn_inputs", inputs);
	}
	in = json_set(in, "name", jv_string(name));
	in = json_set(in, "description", jv_string(f->description));
	in = json_set(in, "config", cfg);
	return in;
}

static int count(struct convo *c, const char *name)
{
	int n = 0;

	for (int i = 0; i < c->ncalls; i++)
		n += strcmp(c->calls[i].name, name) == 0;
	return n;
}

static jv design(struct sim *s, struct convo *c, const char **stop)
{
	struct call *last = c->ncalls ? &c->calls[c->ncalls - 1] : NULL;
	char name[96], msg[700];

	if (!last) {
		uint64_t h = sim_hash(s->cfg.seed, 0xde5, ++s->n_designs);
		const struct family *f = &families[h % NFAMILIES];

		if (!has_tool(c, "save_strategy_config"))
			return say("I need the save_strategy_config tool to design a strategy; "
				   "none was offered, so I am stopping here.", stop);
		snprintf(name, sizeof name, "%s_%06llx", f->name,
			 (unsigned long long)((h >> 16) & 0xffffff));
		snprintf(msg, sizeof msg, "I'll design a neuro-fuzzy strategy: %s. Hypothesis: %s. "
			 "Saving the configuration first.", f->description, f->hypothesis);
		return call(s, msg, "save_strategy_config", strategy(f, name), stop);
	}
	{
		jv nm = get(last->input, strcmp(last->name, "save_strategy_config") == 0
			    ? "name" : "strategy_name");

		snprintf(name, sizeof name, "%s", jv_get_kind(nm) == JV_KIND_STRING
			 ? jv_string_value(nm) : "strategy");
		jv_free(nm);
	}
	if (strcmp(last->name, "save_strategy_config") == 0) {
		jv in;

		if (last->error) {
			char fixed[96];

			if (count(c, "save_strategy_config") >= 2)
				return say("Saving the strategy failed twice; I am giving up on this "
					   "design.\n\n## Status\nPhase: designing\nStrategy: none\n"
					   "Action Taken: two failed saves\nNext: none", stop);
			snprintf(fixed, sizeof fixed, "%.80s_v2", name);
			snprintf(msg, sizeof msg, "The save was rejected (%.200s). I'll correct the "
				 "configuration and save it under a new name, %s.", last->result, fixed);
			return call(s, msg, "save_strategy_config", strategy(family_of(name), fixed), stop);
		}
		if (!has_tool(c, "start_training")) {
			snprintf(msg, sizeof msg, "Strategy %s is saved and ready for training.\n\n"
				 "## Status\nPhase: designing\nStrategy: %s\nAction Taken: saved the "
				 "configuration\nNext: start training", name, name);
			return say(msg, stop);
		}
		in = jv_object();
		in = json_set(in, "strategy_name", jv_string(name));
		in = json_set(in, "symbols", jv_array_append(jv_array(), jv_string("AAPL")));
		in = json_set(in, "timeframes", jv_array_append(jv_array(), jv_string("1h")));
		in = json_set(in, "start_date", jv_string("2020-01-01"));
		in = json_set(in, "end_date", jv_string("2023-12-31"));
		snprintf(msg, sizeof msg, "Saved %s. Starting training on AAPL 1h, 2020 to 2023; "
			 "2024 stays held out for the backtest.", name);
		return call(s, msg, "start_training", complete(c, "start_training", in, name), stop);
	}
	if (strcmp(last->name, "start_training") == 0) {
		char op[96] = "";

		if (last->error) {
			if (count(c, "start_training") >= 2)
				return say("Training could not be started after two attempts; giving "
					   "up.\n\n## Status\nPhase: designing\nAction Taken: saved the "
					   "strategy, training refused\nNext: none", stop);
			snprintf(msg, sizeof msg, "Starting the training failed (%.200s); trying once "
				 "more.", last->result);
			return call(s, msg, "start_training", jv_copy(last->input), stop);
		}
		if (!find_word(last->result, "operation_id", op, sizeof op))
			find_word(last->result, "task_id", op, sizeof op);
		snprintf(msg, sizeof msg, "Training of %s has started%s%s%s.\n\n## Status\n"
			 "Phase: training\nStrategy: %s\nAction Taken: saved the configuration "
			 "and started training\nNext: wait for training to complete", name,
			 op[0] ? " (operation " : "", op, op[0] ? ")" : "", name);
		return say(msg, stop);
	}
	return say("The design step is complete.", stop);
}

static jv post_training(struct sim *s, struct convo *c, const char **stop)
{
	struct call *last = c->ncalls ? &c->calls[c->ncalls - 1] : NULL;
	char name[96] = "strategy", sym[32] = "AAPL", tf[16] = "1h", msg[600];
	jv in;

	if (!find_word(c->text, "strategy_name", name, sizeof name))
		if (!find_word(c->text, "Strategy", name, sizeof name))
			find_word(c->text, "strategy", name, sizeof name);
	if (!find_word(c->text, "symbol", sym, sizeof sym))
		find_word(c->text, "symbols", sym, sizeof sym);
	if (!find_word(c->text, "timeframe", tf, sizeof tf))
		find_word(c->text, "timeframes", tf, sizeof tf);
	if (last && strcmp(last->name, "start_backtest") == 0) {
		if (!last->error) {
			snprintf(msg, sizeof msg, "The backtest of %s on %s %s over 2024-01-01 to "
				 "2024-06-30 has started.\n\n## Status\nPhase: backtesting\nStrategy: "
				 "%s\nAction Taken: started the backtest\nNext: wait for the backtest "
				 "to complete", name, sym, tf, name);
			return say(msg, stop);
		}
		if (count(c, "start_backtest") >= 2)
			return say("The backtest could not be started after two attempts; giving "
				   "up.", stop);
		snprintf(msg, sizeof msg, "Starting the backtest failed (%.200s); trying once more.",
			 last->result);
		return call(s, msg, "start_backtest", jv_copy(last->input), stop);
	}
	if (last)
		return say("Post-training step complete.", stop);
	if (!has_tool(c, "start_backtest"))
		return say("Training passed its gate, but no start_backtest tool was offered.", stop);
	in = jv_object();
	in = json_set(in, "strategy_name", jv_string(name));
	in = json_set(in, "symbol", jv_string(sym));
	in = json_set(in, "timeframe", jv_string(tf));
	in = json_set(in, "start_date", jv_string("2024-01-01"));
	in = json_set(in, "end_date", jv_string("2024-06-30"));
	snprintf(msg, sizeof msg, "Training of %s passed the gate. I'll backtest it on held-out "
		 "data: %s %s, first half of 2024.", name, sym, tf);
	return call(s, msg, "start_backtest", complete(c, "start_backtest", in, name), stop);
}

static jv list2(const char *a, const char *b)
{
	return jv_array_append(jv_array_append(jv_array(), jv_string(a)), jv_string(b));
}

static jv assessment(struct sim *s, struct convo *c, const char **stop)
{
	struct call *last = c->ncalls ? &c->calls[c->ncalls - 1] : NULL;
	double sharpe = NAN, win = NAN, dd = NAN;
	const char *verdict = "mediocre";
	char a[200], b[200], msg[600], name[96] = "the strategy";
	jv in;

	find_word(c->text, "strategy_name", name, sizeof name);
	if (!find_number(c->text, "sharpe_ratio", &sharpe))
		find_number(c->text, "sharpe", &sharpe);
	find_number(c->text, "win_rate", &win);
	if (!find_number(c->text, "max_drawdown_pct", &dd))
		find_number(c->text, "max_drawdown", &dd);
	if (!isnan(sharpe) && !isnan(win)) {
		if (sharpe >= 1.0 && win >= 0.5 && (isnan(dd) || dd <= 0.25))
			verdict = "promising";
		else if (sharpe < 0 || win < 0.45 || (!isnan(dd) && dd > 0.40))
			verdict = "poor";
	}
	if (last && strcmp(last->name, "save_assessment") == 0) {
		if (!last->error) {
			snprintf(msg, sizeof msg, "Assessment saved: %s is %s.\n\n## Status\nPhase: "
				 "assessing\nStrategy: %s\nAction Taken: saved the assessment\nNext: "
				 "start a new cycle", name, verdict, name);
			return say(msg, stop);
		}
		if (count(c, "save_assessment") >= 2)
			return say("The assessment could not be saved after two attempts; giving up.", stop);
		snprintf(msg, sizeof msg, "Saving the assessment failed (%.200s); trying again.",
			 last->result);
		return call(s, msg, "save_assessment", jv_copy(last->input), stop);
	}
	if (last)
		return say("Assessment complete.", stop);
	if (!has_tool(c, "save_assessment"))
		return say("No save_assessment tool was offered, so the verdict stays in this "
			   "text: mediocre.", stop);
	in = jv_object();
	in = json_set(in, "verdict", jv_string(verdict));
	if (!isnan(sharpe))
		snprintf(a, sizeof a, "Sharpe ratio of %.2f on held-out data", sharpe);
	else
		snprintf(a, sizeof a, "Completed training and backtest without errors");
	if (!isnan(win))
		snprintf(b, sizeof b, "Win rate of %.0f%%", win * 100);
	else
		snprintf(b, sizeof b, "Simple, interpretable fuzzy rules");
	in = json_set(in, "strengths", list2(a, b));
	if (!isnan(dd))
		snprintf(a, sizeof a, "Maximum drawdown of %.0f%%", dd * 100);
	else
		snprintf(a, sizeof a, "Drawdown not reported");
	in = json_set(in, "weaknesses", list2(a, "Tested on a single symbol and timeframe"));
	in = json_set(in, "suggestions", list2("Validate on a second symbol such as MSFT",
					       "Add a volatility filter (ATR) to cut drawdowns"));
	snprintf(msg, sizeof msg, "Assessing %s: the verdict is %s.", name, verdict);
	return call(s, msg, "save_assessment", complete(c, "save_assessment", in, name), stop);
}

jv sim_agent_turn(struct sim *s, jv req, const char **stop)
{
	struct convo c;
	jv out;

	read_convo(req, &c);
	if (c.assistant_turns > 0 && !c.last_is_result)
		out = say("Understood. I have nothing further to add for this step.", stop);
	else if (c.flow == DESIGN)
		out = design(s, &c, stop);
	else if (c.flow == POST_TRAINING)
		out = post_training(s, &c, stop);
	else if (c.flow == ASSESSMENT)
		out = assessment(s, &c, stop);
	else
		out = say("Hello from agent-sim, the scripted stand-in for the model. Put a "
			  "\"Trigger: design\", \"Trigger: post_training\" or \"Trigger: "
			  "assessment\" line in the first user message to start a research step.", stop);
	convo_release(&c);
	return out;
}

/* metrics_render: the Prometheus exposition of the store, from its rollups (DESIGN §7-8). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "notice.h"
#include "base/json.h"
#include "obs/events.h"
#include "obs/metrics.h"
#include "obs/prom.h"

enum { COUNTER, GAUGE, HISTOGRAM };

#define MAX_BOUNDS 32

/* A metric kept in metric_rollups (share/sql/<driver>/0003-metric-rollups.sql). */
struct family {
	const char *name;          /* as stored, without the namespace */
	int type;
	int global;                /* a name of its own (gen_ai_*): no namespace */
	double scale;              /* stored units per base unit */
	const char *help;
	const char *const *init;   /* label sets shown at zero before they are seen */
	const char *from;          /* the stored name when it is not name */
};

#define LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static const struct family families[] = {
	{ "cycles_started_total", COUNTER, 0, 1, "Research cycles started.", LABELS("") },
	{ "cycles_total", COUNTER, 0, 1,
	  "Research cycles ended, by outcome (completed, failed, cancelled: the platform's words) and detail (the session's outcome).",
	  LABELS("detail=\"success\",outcome=\"completed\"",
		 "detail=\"failed_design\",outcome=\"failed\"",
		 "detail=\"failed_training\",outcome=\"failed\"",
		 "detail=\"failed_training_gate\",outcome=\"failed\"",
		 "detail=\"failed_backtest\",outcome=\"failed\"",
		 "detail=\"failed_backtest_gate\",outcome=\"failed\"",
		 "detail=\"failed_assessment\",outcome=\"failed\"",
		 "detail=\"cancelled\",outcome=\"cancelled\"",
		 "detail=\"failed_interrupted\",outcome=\"failed\"",
		 "detail=\"failed_orphan\",outcome=\"failed\"") },
	{ "cycle_duration_seconds", HISTOGRAM, 0, 1,
	  "Duration of ended research cycles, from start to outcome, in seconds.", LABELS("") },
	{ "phase_duration_seconds", HISTOGRAM, 0, 1,
	  "Duration of the phases of ended research cycles, in seconds.",
	  LABELS("phase=\"designing\"", "phase=\"training\"", "phase=\"backtesting\"",
		 "phase=\"assessing\"") },
	{ "triggers_total", COUNTER, 0, 1,
	  "Ticks, by the trigger's event and whether the model was invoked (counted when the tick is over).",
	  NULL },
	{ "tick_duration_seconds", HISTOGRAM, 0, 1000,
	  "Duration of ticks through the whole pipeline, in seconds.", LABELS("") },
	{ "tick_failures_total", COUNTER, 0, 1, "Ticks that ended with a failed stage, by stage.", NULL },
	{ "gate_results_total", COUNTER, 0, 1, "Quality gate verdicts, by gate and result.",
	  LABELS("gate=\"training\",result=\"pass\"", "gate=\"training\",result=\"fail\"",
		 "gate=\"backtest\",result=\"pass\"", "gate=\"backtest\",result=\"fail\"") },
	{ "gate_failures_total", COUNTER, 0, 1,
	  "Failed quality gate verdicts, by gate and the first failed check's reason.", NULL },
	{ "invocations_total", COUNTER, 0, 1, "Model calls (each attempt), by kind and status.", NULL },
	{ "model_fallbacks_total", COUNTER, 0, 1,
	  "Invocations that ran on the fallback model, by the model asked for (from), the one that ran (to) and why (model_cap, overloaded).",
	  NULL },
	{ "invocation_duration_seconds", HISTOGRAM, 0, 1000,
	  "Duration of model calls (each attempt), by kind, in seconds.", NULL },
	{ "tokens_total", COUNTER, 0, 1,
	  "Model tokens, by phase (the invocation kind) and type (input: uncached input; cache_write, cache_read; output).",
	  LABELS("phase=\"design\",type=\"input\"", "phase=\"design\",type=\"output\"",
		 "phase=\"design\",type=\"cache_write\"", "phase=\"design\",type=\"cache_read\"",
		 "phase=\"assessment\",type=\"input\"", "phase=\"assessment\",type=\"output\"",
		 "phase=\"assessment\",type=\"cache_write\"",
		 "phase=\"assessment\",type=\"cache_read\"") },
	{ "cost_usd_total", COUNTER, 0, 1e6, "Cost of model calls in US dollars.", LABELS("") },
	/* the same count under the platform's name (ktrdr/agents/metrics.py) */
	{ "budget_spend_total", COUNTER, 0, 1e6,
	  "Cost of model calls in US dollars (agent_cost_usd_total under the research platform's name).",
	  LABELS(""), "cost_usd_total" },
	{ "tool_calls_total", COUNTER, 0, 1, EVENTS_TOOL_CALLS_HELP, NULL },
	{ "tool_duration_seconds", HISTOGRAM, 0, 1000, "Duration of tool calls, by tool, in seconds.",
	  NULL },
	{ "errors_total", COUNTER, 0, 1,
	  "Errors, by type: model_call, model_charge_unknown, tool_call, stage.",
	  LABELS("type=\"model_call\"", "type=\"model_charge_unknown\"", "type=\"tool_call\"",
		 "type=\"stage\"") },
	{ "metrics_delivery_failures_total", COUNTER, 0, 1,
	  "Failed deliveries of these metrics, by method (textfile, push).",
	  LABELS("method=\"push\"", "method=\"textfile\"") },
	{ "notifications_total", COUNTER, 0, 1,
	  "Notices recorded (each condition once; agent(7) NOTIFICATIONS), by kind.",
	  LABELS("kind=\"backend_down\"", "kind=\"backend_up\"", "kind=\"breaker_open\"",
		 "kind=\"budget_warning\"", "kind=\"budget_exhausted\"", "kind=\"session_ended\"") },
	{ "notification_failures_total", COUNTER, 0, 1,
	  "Notices whose delivery failed, by method (command, url).",
	  LABELS("method=\"command\"", "method=\"url\"") },
	{ "gen_ai_client_token_usage", HISTOGRAM, 1, 1,
	  "Measures number of input and output tokens used (OpenTelemetry GenAI gen_ai.client.token.usage).",
	  NULL },
	{ "gen_ai_client_operation_duration_seconds", HISTOGRAM, 1, 1000,
	  "GenAI operation duration in seconds (OpenTelemetry GenAI gen_ai.client.operation.duration).",
	  NULL },
	{ NULL, 0, 0, 0, NULL, NULL, NULL }
};

struct series {
	char *agent, *labels;
	uint64_t counts[MAX_BOUNDS + 1];
	int64_t total;
};

struct render {
	struct store *s;
	struct prom *out;
	const char *ns;
	jv agents;     /* array of strings */
	jv bounds;     /* rows: name, idx, le */
	jv rollups;    /* rows: agent, name, labels, idx, n, total */
	struct budget_cfg bc;
};

int metrics_namespace(const char **ns, struct err *e)
{
	const char *v = getenv("AGENT_METRICS_NAMESPACE");

	*ns = "agent";
	if (!v || !*v)
		return 0;
	if (!prom_name_ok(v, 1) || strlen(v) > 64)
		return err_set(e, EX_PERM,
			       "AGENT_METRICS_NAMESPACE: not a metric name prefix: '%.64s'", v);
	*ns = v;
	return 0;
}

/* ns_name into buf */
static const char *full_name(char *buf, size_t n, const char *ns, const char *name, int global)
{
	if (global)
		snprintf(buf, n, "%s", name);
	else
		snprintf(buf, n, "%s_%s", ns, name);
	return buf;
}

static int64_t num_at(jv row, const char *key)
{
	double d = 0;

	json_number(row, key, &d);
	return (int64_t)d;
}

/* The bounds of a histogram in base units; returns how many (the +Inf
 * bucket is not among them). */
static size_t bounds_of(struct render *r, const struct family *f, double *b)
{
	size_t n = 0;
	int len = jv_array_length(jv_copy(r->bounds));

	for (int i = 0; i < len && n < MAX_BOUNDS; i++) {
		jv row = jv_array_get(jv_copy(r->bounds), i);
		char *name = json_string(row, "name");
		double le = 0;

		json_number(row, "le", &le);
		if (name && !strcmp(name, f->from ? f->from : f->name) && le < 9.0e18)
			b[n++] = le / f->scale;
		free(name);
		jv_free(row);
	}
	return n;
}

static int series_cmp(const void *a, const void *b)
{
	const struct series *x = a, *y = b;
	int c = strcmp(x->agent, y->agent);

	return c ? c : strcmp(x->labels, y->labels);
}

static struct series *find_series(struct series **v, size_t *n, size_t *cap, const char *agent,
				  const char *labels)
{
	struct series *s;

	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*v)[i].agent, agent) && !strcmp((*v)[i].labels, labels))
			return &(*v)[i];
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct series *nv = realloc(*v, nc * sizeof *nv);

		if (!nv)
			return NULL;
		*v = nv;
		*cap = nc;
	}
	s = &(*v)[(*n)++];
	memset(s, 0, sizeof *s);
	s->agent = strdup(agent);
	s->labels = strdup(labels);
	if (!s->agent || !s->labels) {
		free(s->agent);
		free(s->labels);
		(*n)--;
		return NULL;
	}
	return s;
}

static int render_family(struct render *r, const struct family *f, struct err *e)
{
	struct series *v = NULL;
	size_t n = 0, cap = 0, nb = 0;
	double bounds[MAX_BOUNDS];
	char name[160];
	int len = jv_array_length(jv_copy(r->rollups)), na = jv_array_length(jv_copy(r->agents));
	int rc = 0;

	if (f->type == HISTOGRAM)
		nb = bounds_of(r, f, bounds);
	/* the label sets every agent shows from the start */
	for (int a = 0; f->init && a < na && rc == 0; a++) {
		jv ag = jv_array_get(jv_copy(r->agents), a);

		for (const char *const *l = f->init; *l && rc == 0; l++)
			if (!find_series(&v, &n, &cap, jv_string_value(ag), *l))
				rc = err_set(e, EX_TEMP, "out of memory");
		jv_free(ag);
	}
	for (int i = 0; i < len && rc == 0; i++) {
		jv row = jv_array_get(jv_copy(r->rollups), i);
		char *rn = json_string(row, "name"), *agent = json_string(row, "agent");
		char *labels = json_string(row, "labels");
		struct series *s;

		if (rn && agent && !strcmp(rn, f->from ? f->from : f->name)) {
			s = find_series(&v, &n, &cap, agent, labels ? labels : "");
			if (!s) {
				rc = err_set(e, EX_TEMP, "out of memory");
			} else {
				int64_t idx = num_at(row, "idx");

				s->total += num_at(row, "total");
				if (f->type == HISTOGRAM)
					s->counts[idx >= 0 && (size_t)idx < nb ? (size_t)idx : nb] +=
						(uint64_t)num_at(row, "n");
			}
		}
		free(rn);
		free(agent);
		free(labels);
		jv_free(row);
	}
	if (rc == 0) {
		if (n)
			qsort(v, n, sizeof *v, series_cmp);
		full_name(name, sizeof name, r->ns, f->name, f->global);
		prom_family(r->out, name, f->type == HISTOGRAM ? "histogram" : "counter", f->help);
		for (size_t i = 0; i < n; i++) {
			const char *pairs[] = { "agent", v[i].agent, NULL };

			if (f->type == HISTOGRAM)
				prom_histogram(r->out, name, pairs, v[i].labels, bounds, v[i].counts, nb,
					       (double)v[i].total / f->scale);
			else
				prom_sample(r->out, name, NULL, pairs, v[i].labels, NULL,
					    (double)v[i].total / f->scale);
		}
	}
	for (size_t i = 0; i < n; i++) {
		free(v[i].agent);
		free(v[i].labels);
	}
	free(v);
	return rc;
}

static jv agent_param(const char *agent)
{
	return jv_array_append(jv_array(), jv_string(agent ? agent : ""));
}

static void gauge_family(struct render *r, const char *base, const char *help)
{
	char name[160];

	prom_family(r->out, full_name(name, sizeof name, r->ns, base, 0), "gauge", help);
}

static void gauge(struct render *r, const char *base, const char *agent, const char *escaped,
		  double v)
{
	char name[160];
	const char *pairs[] = { "agent", agent, NULL };

	prom_sample(r->out, full_name(name, sizeof name, r->ns, base, 0), NULL, pairs, escaped, NULL, v);
}

/* Today's budget of every agent: the store's row, else the configured limit. */
static int render_budget(struct render *r, struct err *e)
{
	static const struct { const char *name, *help; } g[] = {
		{ "budget_limit_usd", "Today's (UTC) budget limit in US dollars." },
		{ "budget_spent_usd", "Spent today (UTC) in US dollars, expired holds included." },
		{ "budget_held_usd", "Held today (UTC) by model calls in flight, in US dollars." },
		{ "budget_remaining_usd", "Today's (UTC) limit minus spent and held, in US dollars." },
		{ "budget_buffer_usd", "The part of the limit never spent (AGENT_BUDGET_BUFFER_USD), in US dollars." },
		{ "budget_cycle_estimate_usd",
		  "What one research cycle is expected to cost (AGENT_CYCLE_ESTIMATE_USD); the agent starts none when less is available, in US dollars." },
		{ "budget_used_ratio", "Spent and held today (UTC) over the day's limit (1 when the limit is 0)." },
		{ "budget_warning_level_ratio",
		  "The highest soft warning threshold (AGENT_BUDGET_WARN_PERCENT) today's use has reached, as a ratio; 0 for none." },
	};
	int na = jv_array_length(jv_copy(r->agents)), rc = 0, warn[NOTICE_WARN_MAX], nwarn;
	int64_t (*vals)[8] = calloc((size_t)(na ? na : 1), sizeof *vals);

	if (!vals)
		return err_set(e, EX_TEMP, "out of memory");
	if ((nwarn = notice_warn_levels(warn, e)) < 0) {
		free(vals);
		return e->code = EX_PERM;
	}
	for (int a = 0; a < na && rc == 0; a++) {
		jv ag = jv_array_get(jv_copy(r->agents), a), row = jv_null();
		int64_t limit = r->bc.limit, spent = 0, held = 0;

		rc = store_query1(r->s, "budget_day",
				  jv_array_append(jv_array_append(jv_array(), jv_copy(ag)),
						  jv_string(r->bc.day)),
				  &row, e);
		if (rc == 0 && jv_get_kind(row) == JV_KIND_OBJECT) {
			limit = num_at(row, "limit_micros");
			spent = num_at(row, "spent_micros");
			held = num_at(row, "held_micros");
		}
		vals[a][0] = limit;
		vals[a][1] = spent;
		vals[a][2] = held;
		vals[a][3] = limit - spent - held > 0 ? limit - spent - held : 0;
		vals[a][4] = r->bc.buffer;
		vals[a][5] = budget_cycle_estimate();
		/* ratios in millionths, like the dollars */
		vals[a][6] = limit > 0 ? (spent + held) * 1000000 / limit : 1000000;
		vals[a][7] = 0;
		for (int w = 0; w < nwarn; w++)
			if (limit > 0 && (spent + held) * 100 >= (int64_t)warn[w] * limit)
				vals[a][7] = (int64_t)warn[w] * 10000;
		jv_free(row);
		jv_free(ag);
	}
	for (int k = 0; k < 8 && rc == 0; k++) {
		gauge_family(r, g[k].name, g[k].help);
		for (int a = 0; a < na; a++) {
			jv ag = jv_array_get(jv_copy(r->agents), a);

			gauge(r, g[k].name, jv_string_value(ag), NULL, (double)vals[a][k] / 1e6);
			jv_free(ag);
		}
	}
	free(vals);
	return rc;
}

static int render_state(struct render *r, const char *only, struct err *e)
{
	static const char *const phases[] = { "designing", "training", "backtesting", "assessing" };
	int na = jv_array_length(jv_copy(r->agents)), ns, rc;
	jv state, active;

	if ((rc = store_query(r->s, "metrics_state", agent_param(only), &state, e)))
		return rc;
	if ((rc = store_query(r->s, "metrics_active", agent_param(only), &active, e))) {
		jv_free(state);
		return rc;
	}
	ns = jv_array_length(jv_copy(state));
	gauge_family(r, "paused", "1 when the agent is paused (agent pause), else 0.");
	for (int a = 0; a < na; a++) {
		jv ag = jv_array_get(jv_copy(r->agents), a);
		int paused = 0;

		for (int i = 0; i < ns; i++) {
			jv row = jv_array_get(jv_copy(state), i);
			char *name = json_string(row, "agent");

			if (name && !strcmp(name, jv_string_value(ag)))
				json_bool(row, "paused", &paused);
			free(name);
			jv_free(row);
		}
		gauge(r, "paused", jv_string_value(ag), NULL, paused);
		jv_free(ag);
	}
	gauge_family(r, "backend_up",
		     "1 when the research backend answered the agent's last look at it, 0 when it did not "
		     "(no series before the first look).");
	for (int a = 0; a < na; a++) {
		jv ag = jv_array_get(jv_copy(r->agents), a);

		for (int i = 0; i < ns; i++) {
			jv row = jv_array_get(jv_copy(state), i);
			char *name = json_string(row, "agent");

			if (name && !strcmp(name, jv_string_value(ag)) && num_at(row, "backend_checked_at") > 0)
				gauge(r, "backend_up", jv_string_value(ag), NULL,
				      json_is_set(row, "backend_down_since") ? 0 : 1);
			free(name);
			jv_free(row);
		}
		jv_free(ag);
	}
	gauge_family(r, "breaker_open",
		     "1 when the circuit breaker paused the agent (AGENT_MAX_CONSECUTIVE_FAILURES), else 0.");
	for (int a = 0; a < na; a++) {
		jv ag = jv_array_get(jv_copy(r->agents), a);
		int open = 0;

		for (int i = 0; i < ns; i++) {
			jv row = jv_array_get(jv_copy(state), i);
			char *name = json_string(row, "agent"), *by = json_string(row, "paused_by");
			int paused = 0;

			json_bool(row, "paused", &paused);
			if (name && !strcmp(name, jv_string_value(ag)) && paused && by && !strcmp(by, "breaker"))
				open = 1;
			free(name);
			free(by);
			jv_free(row);
		}
		gauge(r, "breaker_open", jv_string_value(ag), NULL, open);
		jv_free(ag);
	}
	gauge_family(r, "last_tick_timestamp_seconds",
		     "When the agent's last tick started, in seconds since the epoch.");
	for (int a = 0; a < na && rc == 0; a++) {
		jv ag = jv_array_get(jv_copy(r->agents), a), row = jv_null();
		int64_t last = 0, at;

		for (int i = 0; i < ns; i++) {
			jv st = jv_array_get(jv_copy(state), i);
			char *name = json_string(st, "agent");

			if (name && !strcmp(name, jv_string_value(ag)))
				last = num_at(st, "last_tick_at");
			free(name);
			jv_free(st);
		}
		rc = store_query1(r->s, "metrics_last_trigger",
				  jv_array_append(jv_array(), jv_copy(ag)), &row, e);
		if (rc == 0 && jv_get_kind(row) == JV_KIND_OBJECT && (at = num_at(row, "at")) > last)
			last = at;
		if (rc == 0 && last > 0)
			gauge(r, "last_tick_timestamp_seconds", jv_string_value(ag), NULL, (double)last);
		jv_free(row);
		jv_free(ag);
	}
	if (rc == 0) {
		int nr = jv_array_length(jv_copy(active));

		gauge_family(r, "active_sessions", "Research sessions in progress, by phase.");
		for (int a = 0; a < na; a++) {
			jv ag = jv_array_get(jv_copy(r->agents), a);

			for (int p = 0; p < 4; p++) {
				char lab[64];
				int64_t count = 0;

				for (int i = 0; i < nr; i++) {
					jv row = jv_array_get(jv_copy(active), i);
					char *name = json_string(row, "agent"), *ph = json_string(row, "phase");

					if (name && ph && !strcmp(name, jv_string_value(ag)) &&
					    !strcmp(ph, phases[p]))
						count += num_at(row, "n");
					free(name);
					free(ph);
					jv_free(row);
				}
				snprintf(lab, sizeof lab, "phase=\"%s\"", phases[p]);
				gauge(r, "active_sessions", jv_string_value(ag), lab, (double)count);
			}
			jv_free(ag);
		}
	}
	jv_free(state);
	jv_free(active);
	return rc;
}

/* The agents to show: the one asked for, else every agent the store knows
 * (AGENT_NAME or "default" in an empty store). */
static int agents_of(struct render *r, const char *only, struct err *e)
{
	jv rows;
	int rc, n;

	r->agents = jv_array();
	if (only) {
		r->agents = jv_array_append(r->agents, jv_string(only));
		return 0;
	}
	if ((rc = store_query(r->s, "metrics_agents", jv_array(), &rows, e)))
		return rc;
	n = jv_array_length(jv_copy(rows));
	for (int i = 0; i < n; i++) {
		jv row = jv_array_get(jv_copy(rows), i);
		char *a = json_string(row, "agent");

		if (a)
			r->agents = jv_array_append(r->agents, jv_string(a));
		free(a);
		jv_free(row);
	}
	jv_free(rows);
	if (n == 0)
		r->agents = jv_array_append(r->agents, jv_string(r->bc.agent));
	return 0;
}

int metrics_fold(struct store *s, struct err *e)
{
	jv row;
	int rc, own = !store_in_tx(s);

	if (store_driver(s) != STORE_SQLITE)
		return 0;
	/* nothing pending (the common case): a read, no write lock */
	if ((rc = store_query1(s, "metrics_pending", jv_array(), &row, e)))
		return rc;
	if (jv_get_kind(row) == JV_KIND_NULL)
		return 0;
	jv_free(row);
	if (own && (rc = store_begin(s, e)))
		return rc;
	rc = store_query(s, "metrics_fold", jv_array(), NULL, e);
	if (rc == 0)
		rc = store_query(s, "metrics_fold_clear", jv_array(), NULL, e);
	if (own) {
		if (rc)
			store_rollback(s);
		else
			rc = store_commit(s, e);
	}
	return rc;
}

int metrics_render(struct store *s, const char *agent, struct prom *out, struct err *e)
{
	struct render r;
	int rc;

	memset(&r, 0, sizeof r);
	r.s = s;
	r.out = out;
	r.agents = jv_null();
	r.bounds = jv_null();
	r.rollups = jv_null();
	if ((rc = metrics_namespace(&r.ns, e)) || (rc = budget_config(&r.bc, agent, e)) ||
	    (rc = metrics_fold(s, e)))
		return rc;
	/* every counter comes from one statement, so from one moment */
	rc = agents_of(&r, agent, e);
	if (rc == 0)
		rc = store_query(s, "metrics_bounds", jv_array(), &r.bounds, e);
	if (rc == 0)
		rc = store_query(s, "metrics_rollups", agent_param(agent), &r.rollups, e);
	for (const struct family *f = families; rc == 0 && f->name; f++)
		rc = render_family(&r, f, e);
	if (rc == 0)
		rc = render_budget(&r, e);
	if (rc == 0)
		rc = render_state(&r, agent, e);
	if (rc == 0 && prom_failed(out))
		rc = err_set(e, EX_TEMP, "out of memory");
	jv_free(r.agents);
	jv_free(r.bounds);
	jv_free(r.rollups);
	return rc;
}

int metrics_count_failure(struct store *s, const char *agent, const char *method, struct err *e)
{
	char labels[64];
	jv p = jv_array();

	snprintf(labels, sizeof labels, "method=\"%s\"", method);
	p = jv_array_append(p, jv_string(agent));
	p = jv_array_append(p, jv_string("metrics_delivery_failures_total"));
	p = jv_array_append(p, jv_string(labels));
	p = jv_array_append(p, jv_number(1));
	return store_query(s, "metrics_count", p, NULL, e);
}

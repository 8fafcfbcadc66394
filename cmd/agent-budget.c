/* agent-budget: the hard daily dollar cap: status, holds, settlements, prices. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "cli.h"
#include "base/clock.h"
#include "base/json.h"
#include "base/models.h"
#include "obs/metrics.h"
#include "obs/prom.h"
#include "pricing.h"
#include "reconcile.h"
#include "stage.h"
#include "store/store.h"
#include "tick.h"
#include "net/trace.h"

static const char summary[] =
	"Report, hold, settle and price the agent's daily model spend under a hard cap."
	"\vCommands: status | check [--estimate USD] | hold --usd X [--ttl S] [--model M] | "
	"settle HOLD (--usd X | --api-usage JSON --model M) | price --model M (usage JSON "
	"on stdin) | history [--days N] | set [--scope S] [--period P] USD (or none) | "
	"team NAME (or --none) | reconcile [--date DAY] (the ledger's "
	"day per model against Anthropic's Usage & Cost Admin API, key in ANTHROPIC_ADMIN_KEY; "
	"exit 1 when a model differs by more than 1 %).  Scopes: agent (this one), agent:NAME, "
	"team:NAME, global; periods: day, week (ISO), month; a hold needs room in every cap of "
	"its agent.  Without a command it is the pipeline "
	"stage: a tick with action \"invoke\" is admitted (\"budget\" added) or refused "
	"(action \"skip\", reason \"budget_exhausted\"); other documents pass through.  "
	"Limits: AGENT_DAILY_BUDGET_USD (5.00), AGENT_BUDGET_BUFFER_USD (0.10), "
	"AGENT_DAILY_TOKEN_BUDGET; the day is the UTC day.";

enum { OPT_USAGE = 256, OPT_BATCH, OPT_NOTE, OPT_TOKENS, OPT_SCOPE, OPT_PERIOD, OPT_NONE, OPT_DATE,
       OPT_TEXTFILE };

static struct argp_option options[] = {
	{ "usd", 'u', "USD", 0, "amount in dollars (hold, settle)", 0 },
	{ "ttl", 't', "SECONDS", 0, "hold lifetime (default 900)", 0 },
	{ "tokens", OPT_TOKENS, "N", 0, "tokens the hold reserves against AGENT_DAILY_TOKEN_BUDGET", 0 },
	{ "note", OPT_NOTE, "TEXT", 0, "a note kept with the hold", 0 },
	{ "api-usage", OPT_USAGE, "JSON", 0, "the API's usage object to price (settle; not --usage, which is argp's)", 0 },
	{ "model", 'm', "MODEL", 0, "model whose prices apply (price, settle), whose day cap to set (set) or the hold is for (hold)", 0 },
	{ "batch", OPT_BATCH, 0, 0, "apply the batch discount (price, settle)", 0 },
	{ "estimate", 'e', "USD", 0, "what the caller means to spend (check; default: one cycle)", 0 },
	{ "days", 'n', "N", 0, "days of history (default 7)", 0 },
	{ "scope", OPT_SCOPE, "SCOPE", 0, "agent, agent:NAME, team:NAME or global (set, status; default agent)", 0 },
	{ "period", OPT_PERIOD, "PERIOD", 0, "day, week or month (set; default day)", 0 },
	{ "none", OPT_NONE, 0, 0, "team: leave the agent's team", 0 },
	{ "date", OPT_DATE, "DAY", 0, "the UTC day to reconcile, YYYY-MM-DD (default: yesterday)", 0 },
	{ "textfile", OPT_TEXTFILE, "PATH", 0, "reconcile: also write the metrics to PATH for node_exporter's textfile collector", 0 },
	{ 0 }
};

struct args {
	const char *verb, *arg, *usage, *model, *note, *scope, *period, *date, *textfile;
	int64_t usd, estimate, tokens;
	int has_usd, has_estimate, batch, none;
	long long ttl, days;
};

static const char *const verbs[] = { "status", "check", "hold", "settle", "price",
				     "history", "set", "team", "reconcile", NULL };

static int64_t usd_arg(struct argp_state *st, const char *opt, const char *arg)
{
	int64_t v;

	if (pricing_parse_usd(arg, &v) < 0)
		argp_error(st, "%s: not a dollar amount from 0 to 999999999 with at most 6 decimals: '%s'",
			   opt, arg);
	return v;
}

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;

	switch (key) {
	case 'u': a->usd = usd_arg(st, "--usd", arg); a->has_usd = 1; break;
	case 't': a->ttl = cli_number(st, "--ttl", arg, 1, 7 * 86400); break;
	case OPT_TOKENS: a->tokens = cli_number(st, "--tokens", arg, 0, 1000000000000LL); break;
	case OPT_NOTE: a->note = arg; break;
	case OPT_USAGE: a->usage = arg; break;
	case 'm': a->model = arg; break;
	case OPT_BATCH: a->batch = 1; break;
	case 'e': a->estimate = usd_arg(st, "--estimate", arg); a->has_estimate = 1; break;
	case 'n': a->days = cli_number(st, "--days", arg, 1, 3660); break;
	case OPT_SCOPE: a->scope = arg; break;
	case OPT_PERIOD:
		if (strcmp(arg, "day") && strcmp(arg, "week") && strcmp(arg, "month"))
			argp_error(st, "--period: not day, week or month: '%.40s'", arg);
		a->period = arg;
		break;
	case OPT_NONE: a->none = 1; break;
	case OPT_DATE: {
		int64_t d;

		if (clock_parse_day(arg, &d) < 0)
			argp_error(st, "--date: not a day (YYYY-MM-DD): '%.40s'", arg);
		a->date = arg;
		break;
	}
	case OPT_TEXTFILE: a->textfile = arg; break;
	case ARGP_KEY_ARG:
		if (!a->verb) {
			int ok = 0;

			for (const char *const *v = verbs; *v; v++)
				ok |= strcmp(*v, arg) == 0;
			if (!ok)
				argp_error(st, "unknown command '%s'", arg);
			a->verb = arg;
		} else if (!a->arg && (!strcmp(a->verb, "settle") || !strcmp(a->verb, "set") ||
				       !strcmp(a->verb, "team"))) {
			a->arg = arg;
		} else {
			argp_error(st, "unexpected argument '%s'", arg);
		}
		break;
	case ARGP_KEY_END:
		if (!a->verb)
			break;
		if (!strcmp(a->verb, "hold") && !a->has_usd)
			argp_error(st, "hold needs --usd");
		if (!strcmp(a->verb, "settle") &&
		    (!a->arg || a->has_usd == !!a->usage || (a->usage && !a->model)))
			argp_error(st, "settle needs HOLD and either --usd or --api-usage with --model");
		if (!strcmp(a->verb, "price") && !a->model)
			argp_error(st, "price needs --model");
		if (!strcmp(a->verb, "set") && !a->arg)
			argp_error(st, "set needs an amount in dollars (or none)");
		if (!strcmp(a->verb, "team") && !a->arg == !a->none)
			argp_error(st, "team needs a NAME or --none");
		if (a->none && strcmp(a->verb, "team"))
			argp_error(st, "--none goes with team");
		if (a->period && strcmp(a->verb, "set"))
			argp_error(st, "--period goes with set");
		if (a->model && strcmp(a->verb, "set") && strcmp(a->verb, "hold") &&
		    strcmp(a->verb, "price") && strcmp(a->verb, "settle"))
			argp_error(st, "--model goes with set, hold, price or settle");
		if (a->model && !strcmp(a->verb, "set") && (a->scope || a->period))
			argp_error(st, "set --model takes no --scope or --period (a model's cap is the agent's, by day)");
		if (a->scope && strcmp(a->verb, "set") && strcmp(a->verb, "status"))
			argp_error(st, "--scope goes with set or status");
		if ((a->date || a->textfile) && strcmp(a->verb, "reconcile"))
			argp_error(st, "--date and --textfile go with reconcile");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct argp argp = { options, parse, "[COMMAND [ARG]]", summary, 0, 0, 0 };

static void usd_line(const char *label, jv v, const char *key)
{
	double d = 0;
	char buf[40];

	json_number(v, key, &d);
	pricing_format_usd(pricing_micros(d), buf, sizeof buf);
	printf("  %-18s %s\n", label, buf);
}

static void print_caps(jv caps, int skip_day);

static void print_status(jv v)
{
	double limit = 0, spent = 0, held = 0, avail = 0, cycles = 0;
	char *day = json_string(v, "day"), *agent = json_string(v, "agent");
	int color = cli_color();
	const char *hue = "";

	json_number(v, "limit_usd", &limit);
	json_number(v, "spent_usd", &spent);
	json_number(v, "held_usd", &held);
	json_number(v, "available_usd", &avail);
	json_number(v, "cycles_affordable", &cycles);
	if (color)
		hue = avail < 0.5 ? "\033[31m" : avail < 1.5 ? "\033[33m" : "\033[32m";
	printf("Budget for %s on %s (UTC)\n", agent ? agent : "?", day ? day : "?");
	printf("  %-18s $%.2f of $%.2f (%.0f%%)\n", "used", spent + held, limit,
	       limit > 0 ? 100 * (spent + held) / limit : 100.0);
	usd_line("spent", v, "spent_usd");
	usd_line("held", v, "held_usd");
	{
		char buf[40];

		pricing_format_usd(pricing_micros(avail), buf, sizeof buf);
		printf("  %-18s %s%s%s\n", "available", hue, buf, color ? "\033[0m" : "");
	}
	printf("  %-18s ~%.0f\n", "cycles affordable", cycles);
	{
		jv caps = json_get(jv_copy(v), "caps");
		char *team = json_string(v, "team");

		if (team)
			printf("  %-18s %s\n", "team", team);
		print_caps(caps, 1);
		jv_free(caps);
		free(team);
	}
	free(day);
	free(agent);
}

/* The caps beyond the day, one line each. */
static void print_caps(jv caps, int skip_day)
{
	int n = jv_get_kind(caps) == JV_KIND_ARRAY ? jv_array_length(jv_copy(caps)) : 0;

	for (int i = 0; i < n; i++) {
		jv k = jv_array_get(jv_copy(caps), i);
		char *sc = json_string(k, "scope"), *pe = json_string(k, "period");
		char *from = json_string(k, "from"), *to = json_string(k, "to");
		double lim = 0, spent = 0, held = 0, avail = 0;

		json_number(k, "limit_usd", &lim);
		json_number(k, "spent_usd", &spent);
		json_number(k, "held_usd", &held);
		json_number(k, "available_usd", &avail);
		if (!(skip_day && pe && !strcmp(pe, "day") && sc && !strncmp(sc, "agent:", 6)))
			printf("  %-6s %-22.22s $%.2f of $%.2f, $%.2f available (%s to %s)\n",
			       pe ? pe : "?", sc ? sc : "?", spent + held, lim, avail, from ? from : "?",
			       to ? to : "?");
		free(sc);
		free(pe);
		free(from);
		free(to);
		jv_free(k);
	}
}

static void print_scope(jv v)
{
	char *scope = json_string(v, "scope");
	jv members = json_get(jv_copy(v), "members"), caps = json_get(jv_copy(v), "caps");

	printf("Budget of %s\n", scope ? scope : "?");
	if (jv_get_kind(members) == JV_KIND_ARRAY) {
		int n = jv_array_length(jv_copy(members));

		printf("  members: %d\n", n);
	}
	if (jv_get_kind(caps) != JV_KIND_ARRAY || !jv_array_length(jv_copy(caps)))
		printf("  no caps\n");
	print_caps(caps, 0);
	jv_free(members);
	jv_free(caps);
	free(scope);
}

static void print_team(jv v)
{
	char *agent = json_string(v, "agent"), *team = json_string(v, "team");
	char *prev = json_string(v, "previous");

	if (team)
		printf("agent %s: in team %s%s%s\n", agent ? agent : "?", team,
		       prev && strcmp(prev, team) ? ", was in " : "", prev && strcmp(prev, team) ? prev : "");
	else
		printf("agent %s: in no team%s%s\n", agent ? agent : "?", prev ? ", was in " : "",
		       prev ? prev : "");
	free(agent);
	free(team);
	free(prev);
}

/* history on a terminal: a ledger, so the dollars to the micro-dollar */
static void print_history(jv v)
{
	int n = jv_get_kind(v) == JV_KIND_ARRAY ? jv_array_length(jv_copy(v)) : 0;
	double total = 0;
	int64_t calls = 0, started = 0, done = 0;

	printf("%-10s  %11s  %9s  %5s  %7s  %9s\n", "day (UTC)", "spent", "limit", "calls",
	       "cycles", "tokens");
	for (int i = 0; i < n; i++) {
		jv row = jv_array_get(jv_copy(v), i);
		char *day = json_string(row, "day");
		double spent = 0, limit = 0;
		int64_t inv = 0, cs = 0, cc = 0, tok = 0;
		char cyc[48], ms[40], ml[40];

		json_number(row, "spent_usd", &spent);
		json_number(row, "limit_usd", &limit);
		json_int(row, "invocations", &inv);
		json_int(row, "cycles_started", &cs);
		json_int(row, "cycles_completed", &cc);
		json_int(row, "tokens_used", &tok);
		snprintf(cyc, sizeof cyc, "%lld/%lld", (long long)cc, (long long)cs);
		snprintf(ms, sizeof ms, "$%.6f", spent);
		snprintf(ml, sizeof ml, "$%.2f", limit);
		printf("%-10s  %11s  %9s  %5lld  %7s  %9lld\n", day ? day : "?", ms, ml,
		       (long long)inv, cyc, (long long)tok);
		total += spent;
		calls += inv;
		started += cs;
		done += cc;
		free(day);
		jv_free(row);
	}
	{
		char ms[40], cyc[48];

		snprintf(ms, sizeof ms, "$%.6f", total);
		snprintf(cyc, sizeof cyc, "%lld/%lld", (long long)done, (long long)started);
		printf("%-10s  %11s  %9s  %5lld  %7s\n", "total", ms, "", (long long)calls, cyc);
	}
}

static void recon_line(jv r, const char *name)
{
	double l = 0, x = 0, d = 0, pct = 0;
	int64_t t[8] = { 0 };
	int ok = 1;
	char ls[32], xs[32], ds[32], ps[24];

	json_number(r, "ledger_usd", &l);
	json_number(r, "api_usd", &x);
	json_number(r, "difference_usd", &d);
	json_number(r, "difference_pct", &pct);
	json_bool(r, "within_tolerance", &ok);
	json_int(r, "ledger.input_tokens", &t[0]);
	json_int(r, "ledger.output_tokens", &t[1]);
	json_int(r, "ledger.cache_read_tokens", &t[2]);
	json_int(r, "ledger.cache_write_tokens", &t[3]);
	json_int(r, "api.input_tokens", &t[4]);
	json_int(r, "api.output_tokens", &t[5]);
	json_int(r, "api.cache_read_tokens", &t[6]);
	json_int(r, "api.cache_write_tokens", &t[7]);
	snprintf(ls, sizeof ls, "$%.6f", l);
	snprintf(xs, sizeof xs, "$%.6f", x);
	snprintf(ds, sizeof ds, "%s$%.6f", d < 0 ? "-" : "+", d < 0 ? -d : d);
	snprintf(ps, sizeof ps, "%+.2f%%", pct);
	printf("%-28.28s %11s %11s %12s %8s %s\n", name, ls, xs, ds, ps, ok ? "ok" : "OVER");
	printf("%-28s ledger in %lld out %lld cache read %lld write %lld\n", "", (long long)t[0],
	       (long long)t[1], (long long)t[2], (long long)t[3]);
	printf("%-28s api    in %lld out %lld cache read %lld write %lld\n", "", (long long)t[4],
	       (long long)t[5], (long long)t[6], (long long)t[7]);
}

/* reconcile on a terminal: one block per model, then the total */
static void print_reconcile(jv v)
{
	char *day = json_string(v, "day");
	jv models = json_get(jv_copy(v), "models"), total = json_get(jv_copy(v), "total");
	double tol = 1;

	json_number(v, "tolerance_pct", &tol);
	printf("Reconciliation of %s (UTC), tolerance %g%%\n", day ? day : "?", tol);
	printf("%-28s %11s %11s %12s %8s\n", "model", "ledger", "api", "difference", "%");
	jv_array_foreach(models, i, m) {
		char *name = json_string(m, "model");

		recon_line(m, name ? name : "(no model)");
		free(name);
		jv_free(m);
		(void)i;
	}
	recon_line(total, "total");
	jv_free(models);
	jv_free(total);
	free(day);
}

static int emit(struct args *a, jv v, void (*human)(jv))
{
	if (cli_quiet) {
		jv_free(v);
		return 0;
	}
	if (human && cli_tty() && !cli_opt.json) {
		human(v);
		jv_free(v);
		return 0;
	}
	return cli_emit(v);
}

struct price_run {
	struct pricing_model m;
	int batch;
};

static int price_one(jv doc, void *arg)
{
	struct price_run *p = arg;
	struct err e = ERR_INIT;
	struct usage u;
	struct cost c;
	int batch = 0;
	jv usage = json_get(jv_copy(doc), "usage");

	/* a whole API response is fine too: its usage is priced */
	if (jv_get_kind(usage) != JV_KIND_OBJECT) {
		jv_free(usage);
		usage = jv_copy(doc);
	}
	jv_free(doc);
	if (pricing_usage(usage, &u, &batch, &e)) {
		jv_free(usage);
		return cli_fail(&e);
	}
	jv_free(usage);
	pricing_cost(&p->m, &u, p->batch || batch, &c);
	return cli_emit(pricing_cost_json(&p->m, &u, &c));
}

static int cmd_price(struct args *a)
{
	struct err e = ERR_INIT;
	struct price_run p = { .batch = a->batch };
	jv table;
	int rc;

	if ((rc = pricing_load(&table, &e)))
		return cli_fail(&e);
	rc = pricing_find(table, a->model, &p.m, &e);
	jv_free(table);
	if (rc)
		return cli_fail(&e);
	return cli_each_doc(price_one, &p);
}

/* settle --api-usage JSON --model M: the cost of that usage */
static int usage_cost(struct args *a, int64_t *cost, int64_t *tokens, struct err *e)
{
	struct pricing_model m;
	struct usage u;
	struct cost c;
	int batch = 0, rc;
	jv table, usage;

	if ((rc = json_parse(a->usage, strlen(a->usage), &usage, e)))
		return err_wrap(e, "--api-usage");
	if ((rc = pricing_usage(usage, &u, &batch, e)) || (rc = pricing_load(&table, e))) {
		jv_free(usage);
		return rc;
	}
	jv_free(usage);
	rc = pricing_find(table, a->model, &m, e);
	jv_free(table);
	if (rc)
		return rc;
	pricing_cost(&m, &u, a->batch || batch, &c);
	*cost = c.micros;
	*tokens = u.input + u.output + u.cache_5m + u.cache_1h + u.cache_read;
	return 0;
}

/* --model for set and hold: a short name resolved, and a model with a
 * price (EX_PERM otherwise, as pricing_find says). */
static int model_arg(const char *arg, char *buf, size_t size, struct err *e)
{
	struct pricing_model m;
	jv table;
	int rc;

	snprintf(buf, size, "%s", arg);
	models_short_name(buf, size);
	if ((rc = pricing_load(&table, e)))
		return rc;
	rc = pricing_find(table, buf, &m, e);
	jv_free(table);
	return rc;
}

struct pipe_run {
	struct stage_ctx stage;
};

static int pipe_one(jv doc, void *arg)
{
	struct pipe_run *p = arg;
	struct err e = ERR_INIT;
	jv out;

	if (!tick_is(doc)) {
		jv_free(doc);
		cli_warn("stdin: not a tick document (give a command for other uses)");
		return EX_DATA;
	}
	{
		/* one span per tick document, a child of the tick's trace */
		int span = trace_tick_start("agent-budget", doc), rc;

		if (stage_budget(&p->stage, doc, &out, &e))
			return cli_fail(&e);  /* the span ends, in error, at exit */
		trace_tick_result(span, "agent-budget", out);
		rc = cli_emit(out);
		trace_end(span);
		return rc;
	}
}

int main(int argc, char **argv)
{
	struct args a = { .ttl = 900, .days = 7 };
	struct err e = ERR_INIT;
	struct budget_cfg cfg;
	struct store *s = NULL;
	jv out = jv_null();
	char scope[BUDGET_SCOPE_MAX] = "";
	int rc;

	cli_init("agent-budget", argv);
	argp.children = cli_shared(CLI_DB | CLI_AGENT | CLI_JSON | CLI_QUIET, NULL, NULL);
	cli_parse(&argp, argc, argv, &a);
	if (!a.verb) {
		struct pipe_run p;

		stage_init(&p.stage, cli_opt.db);
		cli_pass_through("invoke");
		rc = cli_each_doc(pipe_one, &p);
		stage_release(&p.stage);
		return cli_finish(rc);
	}
	trace_startf(TRACE_INTERNAL, "agent-budget %s", a.verb);  /* ended at exit */
	if (!strcmp(a.verb, "price"))
		return cli_finish(cmd_price(&a));
	if ((rc = budget_config(&cfg, cli_opt.agent, &e)))
		return cli_fail(&e);
	if ((rc = store_open(&s, cli_opt.db, &e)))
		return cli_fail(&e);

	if (a.scope && (rc = budget_scope_parse(a.scope, &cfg, scope, sizeof scope, &e))) {
		store_close(s);
		return cli_finish(cli_fail(&e));
	}
	if (!strcmp(a.verb, "reconcile")) {
		struct reconcile_query q = { .tolerance = 0.01, .now = cfg.now };
		int ok = 0;

		if (a.date)
			snprintf(q.day, sizeof q.day, "%s", a.date);
		else
			clock_day(cfg.now - 86400, q.day);
		if ((rc = reconcile_run(s, &q, &out, &e)) == 0) {
			json_bool(out, "within_tolerance", &ok);
			if (a.textfile) {
				struct prom p = PROM_INIT;

				rc = metrics_reconcile(out, &p, &e);
				if (rc == 0)
					rc = metrics_write_textfile(a.textfile, prom_text(&p), p.len, &e);
				prom_release(&p);
			}
			if (rc == 0) {
				rc = emit(&a, out, print_reconcile);
				if (rc == 0 && !ok) {
					if (!cli_quiet)
						cli_warn("reconcile: %s: the ledger and the Admin API differ by "
							 "more than 1 %% (see \"exceeded\")", q.day);
					rc = -EX_NO;
				}
			} else {
				jv_free(out);
			}
		}
	} else if (!strcmp(a.verb, "status") && a.scope) {
		if ((rc = budget_scope_status(s, &cfg, scope, &out, &e)) == 0)
			rc = emit(&a, out, print_scope);
	} else if (!strcmp(a.verb, "status")) {
		if ((rc = budget_status(s, &cfg, &out, &e)) == 0)
			rc = emit(&a, out, print_status);
	} else if (!strcmp(a.verb, "check")) {
		if ((rc = budget_status(s, &cfg, &out, &e)) == 0) {
			double avail = 0;
			int64_t want = a.has_estimate ? a.estimate : budget_cycle_estimate();

			json_number(out, "available_usd", &avail);
			out = json_set(out, "estimate_usd", pricing_usd(want));
			out = json_set(out, "allowed", jv_bool(pricing_micros(avail) >= want));
			rc = pricing_micros(avail) >= want ? 0 : EX_NO;
			if (emit(&a, out, NULL))
				rc = EX_TEMP;
		}
	} else if (!strcmp(a.verb, "hold")) {
		if (a.model && (rc = model_arg(a.model, cfg.model, sizeof cfg.model, &e)))
			goto done;
		rc = budget_hold(s, &cfg, a.usd, a.tokens, a.ttl, a.note, &out, &e);
		if (rc == 0 || rc == EX_NO) {
			int w = emit(&a, out, NULL);

			if (rc == EX_NO && !cli_quiet)
				cli_warn("%s", e.msg);
			rc = rc ? rc : w;
			rc = rc == EX_NO ? -EX_NO : rc;
		}
	} else if (!strcmp(a.verb, "settle")) {
		char *end;
		long long id = strtoll(a.arg, &end, 10);
		int64_t cost = a.usd, tokens = 0;

		if (*end || id <= 0)
			rc = err_set(&e, EX_USAGE, "settle: not a hold id: '%.40s'", a.arg);
		else if (a.usage)
			rc = usage_cost(&a, &cost, &tokens, &e);
		if (rc == 0 && (rc = budget_settle(s, &cfg, id, cost, tokens, &out, &e)) == 0)
			rc = emit(&a, out, NULL);
	} else if (!strcmp(a.verb, "history")) {
		if ((rc = budget_history(s, &cfg, (int)a.days, &out, &e)) == 0)
			rc = emit(&a, out, print_history);
	} else if (!strcmp(a.verb, "set") && a.model) {
		char model[sizeof cfg.model];
		int64_t limit = -1;

		if ((rc = model_arg(a.model, model, sizeof model, &e)) == 0) {
			if (strcmp(a.arg, "none") && pricing_parse_usd(a.arg, &limit) < 0)
				rc = err_set(&e, EX_USAGE, "set: not a dollar amount (or none): '%.40s'", a.arg);
			else if ((rc = budget_set_model_cap(s, &cfg, model, limit, &out, &e)) == 0)
				rc = emit(&a, out, print_status);
		}
	} else if (!strcmp(a.verb, "set") && (a.scope || a.period)) {
		int64_t limit = -1;

		if (!a.scope)
			budget_scope_parse("agent", &cfg, scope, sizeof scope, &e);
		if (strcmp(a.arg, "none") && pricing_parse_usd(a.arg, &limit) < 0)
			rc = err_set(&e, EX_USAGE, "set: not a dollar amount (or none): '%.40s'", a.arg);
		else if ((rc = budget_set_cap(s, &cfg, scope, a.period ? a.period : "day", limit, &out,
					      &e)) == 0)
			rc = emit(&a, out, print_scope);
	} else if (!strcmp(a.verb, "set")) {
		int64_t limit;

		if (pricing_parse_usd(a.arg, &limit) < 0)
			rc = err_set(&e, EX_USAGE, "set: not a dollar amount: '%.40s'", a.arg);
		else if ((rc = budget_set_limit(s, &cfg, limit, &out, &e)) == 0)
			rc = emit(&a, out, print_status);
	} else if (!strcmp(a.verb, "team")) {
		if ((rc = budget_set_team(s, &cfg, a.none ? NULL : a.arg, &out, &e)) == 0)
			rc = emit(&a, out, print_team);
	}
done:
	store_close(s);
	if (rc == -EX_NO)
		return cli_finish(EX_NO);
	if (rc > 0 && e.code)
		return cli_finish(cli_fail(&e));
	return cli_finish(rc);
}

/* views_render: the human layouts of the views, rendered from their JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/json.h"
#include "pricing.h"
#include "views/views.h"

#define RESET  "\033[0m"
#define BOLD   "\033[1m"
#define DIM    "\033[2m"
#define RED    "\033[31m"
#define GREEN  "\033[32m"
#define YELLOW "\033[33m"
#define CYAN   "\033[36m"

struct out {
	FILE *f;
	char *buf;
	size_t len;
	int color;
};

static int out_open(struct out *o, int color)
{
	o->buf = NULL;
	o->len = 0;
	o->color = color;
	o->f = open_memstream(&o->buf, &o->len);
	return o->f ? 0 : -1;
}

/* The length of an escape sequence "ESC [ ... final" at p, else 0. */
static size_t esc_len(const char *p)
{
	const char *e = p + 2;

	if (p[0] != 0x1b || p[1] != '[')
		return 0;
	while (*e && *e != '\n' && !(*e >= 0x40 && *e <= 0x7e))
		e++;
	return *e && *e != '\n' ? (size_t)(e - p + 1) : 0;
}

/* The columns of the line at p: escape sequences take none, a UTF-8
 * character one. */
static size_t line_cols(const char *p)
{
	size_t n = 0, k;

	while (*p && *p != '\n') {
		if ((k = esc_len(p))) {
			p += k;
			continue;
		}
		n += ((unsigned char)*p & 0xc0) != 0x80;
		p++;
	}
	return n;
}

/* Every line at most VIEWS_COLUMNS - 1 columns, so a terminal never wraps
 * it: a longer one is cut with "..." (and its colours reset). */
static void fit_lines(char *buf)
{
	char *r = buf, *w = buf;

	while (*r) {
		if (line_cols(r) <= VIEWS_COLUMNS - 1) {
			while (*r && *r != '\n')
				*w++ = *r++;
		} else {
			size_t n = 0, k;
			int esc = 0;

			while (*r && *r != '\n') {
				if ((k = esc_len(r))) {
					memmove(w, r, k);
					w += k;
					r += k;
					esc = 1;
					continue;
				}
				if (((unsigned char)*r & 0xc0) != 0x80 && ++n > VIEWS_COLUMNS - 4)
					break;
				*w++ = *r++;
			}
			while (*r && *r != '\n')
				r++;
			memcpy(w, "...", 3);
			w += 3;
			if (esc) {
				memcpy(w, RESET, strlen(RESET));
				w += strlen(RESET);
			}
		}
		if (*r == '\n')
			*w++ = *r++;
	}
	*w = '\0';
}

static char *out_close(struct out *o)
{
	if (fclose(o->f) != 0) {
		free(o->buf);
		return NULL;
	}
	if (o->buf)
		fit_lines(o->buf);
	return o->buf;
}

static const char *c(const struct out *o, const char *code)
{
	return o->color ? code : "";
}

/* Money in a view: "$0.07" (pricing_format_usd); ledgers print six
 * decimals. */
static void put_usd(struct out *o, double usd)
{
	char buf[40];

	pricing_format_usd(pricing_micros(usd), buf, sizeof buf);
	fputs(buf, o->f);
}

/* Text from the store on a terminal: control characters (an escape
 * sequence in a strategy name or an error) are shown as '?'; at most max
 * bytes (0: all). */
static void put(struct out *o, const char *s, size_t max)
{
	size_t n = 0;

	for (; s && *s && (!max || n < max); s++, n++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, o->f);
	if (s && *s && max)
		fputs("...", o->f);
}

static void put_field(struct out *o, jv v, const char *path, const char *dflt, size_t max)
{
	char *s = json_string(v, path);

	put(o, s ? s : dflt, max);
	free(s);
}

/* put, then spaces up to width (text longer than width is cut). */
static void pad_field(struct out *o, jv v, const char *path, const char *dflt, size_t width)
{
	char *s = json_string(v, path);
	const char *p = s ? s : dflt;
	size_t n = strlen(p);

	if (n > width) {
		put(o, p, width - 3);
		n = width;
	} else {
		put(o, p, 0);
	}
	fprintf(o->f, "%*s", (int)(width - n), "");
	free(s);
}

static int num_at(jv v, const char *path, double *d)
{
	return json_number(v, path, d);
}

/* A time of the document (RFC 3339 text) in seconds since the epoch; 0
 * when absent. */
static int64_t time_at(jv v, const char *path)
{
	int64_t t = 0;

	json_time_of(v, path, &t);
	return t;
}

static int64_t int_at(jv v, const char *path)
{
	int64_t i = 0;

	json_int(v, path, &i);
	return i;
}

char *views_age(int64_t s, char *buf)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, 16, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, 16, "%lldm", (long long)(s / 60));
	else if (s < 86400)
		snprintf(buf, 16, "%lldh %02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(buf, 16, "%lldd %02lldh", (long long)(s / 86400),
			 (long long)(s % 86400 / 3600));
	return buf;
}

/* "2026-11-24 03:20:00" */
static char *when(int64_t t, char *buf)
{
	clock_format(t, buf);
	buf[10] = ' ';
	buf[19] = '\0';
	return buf;
}

static const char *outcome_color(const struct out *o, const char *outcome)
{
	if (!outcome)
		return c(o, CYAN);
	if (!strcmp(outcome, "success"))
		return c(o, GREEN);
	if (!strcmp(outcome, "cancelled"))
		return c(o, YELLOW);
	return c(o, RED);
}

/* "win_rate 0.3375 (needs >= 0.45)", or the failure reason. */
static void why(struct out *o, jv item, size_t max)
{
	jv g = json_get(jv_copy(item), "failed_gate");
	double v, t;
	char *check = json_string(g, "check"), *op = json_string(g, "op");

	if (check && num_at(g, "value", &v) && num_at(g, "threshold", &t)) {
		char *gate = json_string(g, "gate");

		put(o, gate ? gate : "?", 20);
		fputs(" gate: ", o->f);
		put(o, check, 40);
		fprintf(o->f, " %.6g (needs %s %.6g)", v, op ? op : "?", t);
		free(gate);
	} else {
		put_field(o, item, "failure_reason", "", max);
	}
	free(check);
	free(op);
	jv_free(g);
}

/* s (control characters as '?', at most max bytes) wrapped at spaces into
 * lines of fewer than VIEWS_COLUMNS columns, the first starting at column
 * `indent`, the others indented as much; each continuation line starts
 * with the colour `col` again. */
static void put_wrapped(struct out *o, const char *s, size_t indent, size_t max, const char *col)
{
	size_t width = VIEWS_COLUMNS - 1 - indent, n = strlen(s);

	if (n > max)
		n = max;
	while (n > 0) {
		size_t take = n;

		if (take > width) {
			take = width;
			while (take > width / 2 && s[take] != ' ')
				take--;
			if (s[take] != ' ')
				take = width;
		}
		for (size_t i = 0; i < take; i++)
			fputc((unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i], o->f);
		s += take;
		n -= take;
		while (n > 0 && *s == ' ') {
			s++;
			n--;
		}
		if (n > 0)
			fprintf(o->f, "%s\n%*s%s", c(o, RESET), (int)indent, "", col);
	}
}

static void bar(struct out *o, double pct, int width)
{
	int full = (int)(pct / 100 * width + 0.5);

	if (full < 0)
		full = 0;
	if (full > width)
		full = width;
	/* one escape sequence per run of cells, not per cell */
	fputc('[', o->f);
	fputs(c(o, CYAN), o->f);
	for (int i = 0; i < full; i++)
		fputc('#', o->f);
	fputs(c(o, DIM), o->f);
	for (int i = full; i < width; i++)
		fputc('.', o->f);
	fputs(c(o, RESET), o->f);
	fputc(']', o->f);
}

static void upper(struct out *o, const char *s)
{
	for (; s && *s; s++)
		fputc(*s >= 'a' && *s <= 'z' ? *s - 32 : *s, o->f);
}

char *views_render_status(jv doc, int color)
{
	struct out o;
	char age[16], t[32];
	jv cur = json_get(jv_copy(doc), "current"), recent = json_get(jv_copy(doc), "recent");
	jv b = json_get(jv_copy(doc), "budget");
	int paused = 0;
	int64_t now = time_at(doc, "now");
	double d, limit = 0, used = 0, pct = 0;

	if (out_open(&o, color)) {
		jv_free(cur);
		jv_free(recent);
		jv_free(b);
		return NULL;
	}
	json_bool(doc, "paused", &paused);
	if (paused) {
		fprintf(o.f, "%s%s!! PAUSED", c(&o, BOLD), c(&o, YELLOW));
		if (json_is_set(doc, "paused_at"))
			fprintf(o.f, " since %s UTC (%s ago)", when(time_at(doc, "paused_at"), t),
				views_age(now - time_at(doc, "paused_at"), age));
		if (json_is_set(doc, "pause_reason")) {
			fputs(": ", o.f);
			put_field(&o, doc, "pause_reason", "", 200);
		}
		fprintf(o.f, "%s\n   every tick is skipped until `agent resume`\n\n", c(&o, RESET));
	}
	fprintf(o.f, "%sAgent ", c(&o, BOLD));
	put_field(&o, doc, "agent", "?", 100);
	fprintf(o.f, "%s at %s UTC", c(&o, RESET), when(now, t));
	if (json_is_set(doc, "last_tick_at"))
		fprintf(o.f, "; last tick %s ago", views_age(now - time_at(doc, "last_tick_at"), age));
	{
		char *st = json_string(doc, "state.name");
		const char *col = !st ? "" : !strcmp(st, "running") || !strcmp(st, "idle") ? c(&o, GREEN)
				  : !strcmp(st, "tick_failed") || !strcmp(st, "stale") ? c(&o, RED)
				  : c(&o, YELLOW);

		char *text = json_string(doc, "state.text");

		fprintf(o.f, "\n%s%sState%s  %s", c(&o, BOLD), col, c(&o, RESET), col);
		/* the whole of it, wrapped: it is what the operator reads first */
		put_wrapped(&o, text ? text : "?", 7, 700, col);
		fputs(c(&o, RESET), o.f);
		free(text);
		free(st);
	}
	fputs("\n\nCurrent cycle\n", o.f);
	if (jv_get_kind(cur) == JV_KIND_OBJECT) {
		fprintf(o.f, "  Session %lld  %s%s", (long long)int_at(cur, "id"), c(&o, BOLD), c(&o, CYAN));
		{
			char *ph = json_string(cur, "phase");

			upper(&o, ph);
			free(ph);
		}
		fprintf(o.f, "%s  ", c(&o, RESET));
		put_field(&o, cur, "strategy", "(no strategy yet)", 80);
		fprintf(o.f, "\n  Started %s ago", views_age(int_at(cur, "age_seconds"), age));
		if (json_is_set(cur, "phase_seconds"))
			fprintf(o.f, "; in this phase for %s", views_age(int_at(cur, "phase_seconds"), age));
		fputc('\n', o.f);
		if (num_at(cur, "percent", &d)) {
			fputs("  Cycle     ", o.f);
			bar(&o, d, 20);
			fprintf(o.f, " %3.0f%%  ", d);
			put_field(&o, cur, "step", "", 60);
			fputc('\n', o.f);
		}
		if (json_is_set(cur, "progress.operation_id")) {
			fputs("  Operation ", o.f);
			if (num_at(cur, "progress.percentage", &d)) {
				bar(&o, d, 20);
				fprintf(o.f, " %5.1f%%  ", d);
			}
			put_field(&o, cur, "progress.current_step", "", 60);
			fputs("  (", o.f);
			put_field(&o, cur, "progress.status", "?", 20);
			if (json_is_set(cur, "progress.updated_at"))
				fprintf(o.f, ", seen %s ago",
					views_age(now - time_at(cur, "progress.updated_at"), age));
			fputs(")\n", o.f);
		} else if (json_is_set(cur, "operation_id")) {
			fputs("  Operation ", o.f);
			put_field(&o, cur, "operation_id", "", 128);
			fputs(" (no progress seen yet)\n", o.f);
		}
	} else {
		fputs("  No active cycle.\n", o.f);
	}
	fputs("\nRecent cycles\n", o.f);
	if (jv_get_kind(recent) != JV_KIND_ARRAY || jv_array_length(jv_copy(recent)) == 0)
		fputs("  None yet.\n", o.f);
	else
		jv_array_foreach(recent, i, r) {
			char *oc = json_string(r, "outcome");
			double sh;

			/* the cycle on one line, how it ended on the next */
			fprintf(o.f, "  #%-6lld %s%-21s%s ", (long long)int_at(r, "id"), outcome_color(&o, oc),
				oc ? oc : "?", c(&o, RESET));
			pad_field(&o, r, "strategy", "-", 34);
			if (json_is_set(r, "age_seconds"))
				fprintf(o.f, "  %s%s ago%s", c(&o, DIM), views_age(int_at(r, "age_seconds"), age),
					c(&o, RESET));
			fputs("\n          ", o.f);
			if (oc && !strcmp(oc, "success") && num_at(r, "sharpe", &sh))
				fprintf(o.f, "Sharpe %.2f", sh);
			else
				why(&o, r, 60);
			fputc('\n', o.f);
			free(oc);
			jv_free(r);
		}
	num_at(b, "limit_usd", &limit);
	num_at(b, "used_usd", &used);
	num_at(b, "used_percent", &pct);
	fputs("\nToday's budget (", o.f);
	put_field(&o, b, "day", "?", 10);
	fprintf(o.f, " UTC)\n  Used          %s$%.2f of $%.2f (%.1f%%)%s\n",
		pct >= 90 ? c(&o, RED) : pct >= 70 ? c(&o, YELLOW) : "", used, limit, pct, c(&o, RESET));
	if (num_at(b, "available_usd", &d))
		fprintf(o.f, "  Available     $%.2f (a $%.2f buffer is never spent)\n", d,
			num_at(b, "buffer_usd", &limit) ? limit : 0);
	fprintf(o.f, "  Invocations   %lld\n", (long long)int_at(b, "invocations"));
	fprintf(o.f, "  Cycles        %lld completed, %lld active (%lld started today)\n",
		(long long)int_at(b, "cycles_completed"), (long long)int_at(b, "cycles_active"),
		(long long)int_at(b, "cycles_started"));
	d = (double)int_at(b, "cycles_affordable");
	fprintf(o.f, "  Affordable    %s~%.0f more cycles%s at $%.2f each\n",
		d < 1 ? c(&o, RED) : d < 5 ? c(&o, YELLOW) : "", d, c(&o, RESET),
		num_at(b, "cycle_estimate_usd", &limit) ? limit : 0);
	jv_free(cur);
	jv_free(recent);
	jv_free(b);
	return out_close(&o);
}

static void figures(struct out *o, jv v, const char *label, const char *const *keys,
		    const char *const *names, const char *fmts)
{
	int any = 0;
	double d;

	for (int i = 0; keys[i]; i++)
		any |= num_at(v, keys[i], &d);
	if (!any)
		return;
	fprintf(o->f, "     %-11s", label);
	for (int i = 0; keys[i]; i++)
		if (num_at(v, keys[i], &d)) {
			fprintf(o->f, " %s ", names[i]);
			/* 4: four decimals, 2: two, p: a percentage, i: a count */
			if (fmts[i] == 'p')
				fprintf(o->f, "%.1f%%", d * 100);
			else if (fmts[i] == 'i')
				fprintf(o->f, "%.0f", d);
			else
				fprintf(o->f, "%.*f", fmts[i] == '2' ? 2 : 4, d);
		}
	fputc('\n', o->f);
}

static void history_item(struct out *o, jv r, int64_t now)
{
	static const char *const tk[] = { "training.accuracy", "training.loss", "training.epochs", NULL };
	static const char *const tn[] = { "accuracy", "loss", "epochs", NULL };
	static const char tf[] = "44i";
	static const char *const bk[] = { "backtest.sharpe", "backtest.win_rate",
					  "backtest.max_drawdown", "backtest.trades", NULL };
	static const char *const bn[] = { "Sharpe", "win rate", "max drawdown", "trades", NULL };
	static const char bf[] = "2ppi";
	char *oc = json_string(r, "outcome"), *phase = json_string(r, "phase");
	char t[32], age[16];
	double d;

	fprintf(o->f, "#%-6lld %s%s", (long long)int_at(r, "id"), outcome_color(o, oc), c(o, BOLD));
	if (oc)
		put(o, oc, 40);
	else
		upper(o, phase ? phase : "?");
	fprintf(o->f, "%s  ", c(o, RESET));
	put_field(o, r, "strategy", "(no strategy)", 80);
	fprintf(o->f, "\n     started %s UTC", when(time_at(r, "created_at"), t));
	if (json_is_set(r, "duration_seconds"))
		fprintf(o->f, ", took %s", views_age(int_at(r, "duration_seconds"), age));
	else
		fprintf(o->f, ", running for %s", views_age(now - time_at(r, "created_at"), age));
	fputc('\n', o->f);
	figures(o, r, "training", tk, tn, tf);
	figures(o, r, "backtest", bk, bn, bf);
	if (json_is_set(r, "assessment.verdict")) {
		fputs("     assessment  ", o->f);
		put_field(o, r, "assessment.verdict", "", 40);
		{
			jv s = json_get(jv_copy(r), "assessment.strengths");
			jv first = jv_get_kind(s) == JV_KIND_ARRAY && jv_array_length(jv_copy(s)) > 0
				   ? jv_array_get(jv_copy(s), 0) : jv_null();

			if (jv_get_kind(first) == JV_KIND_STRING) {
				fputs(": ", o->f);
				put(o, jv_string_value(first), 70);
			}
			jv_free(first);
			jv_free(s);
		}
		fputc('\n', o->f);
	} else if (oc && strcmp(oc, "success")) {
		fputs("     why         ", o->f);
		why(o, r, 100);
		fputc('\n', o->f);
	}
	num_at(r, "cost_usd", &d);
	fputs("     cost        ", o->f);
	put_usd(o, d);
	fprintf(o->f, " (%lld calls, %lld in / %lld out tokens)\n",
		(long long)int_at(r, "invocations"), (long long)int_at(r, "input_tokens"),
		(long long)int_at(r, "output_tokens"));
	free(oc);
	free(phase);
}

char *views_render_history(jv doc, int color)
{
	struct out o;
	jv list = json_get(jv_copy(doc), "sessions");
	int64_t now = time_at(doc, "now");

	if (out_open(&o, color)) {
		jv_free(list);
		return NULL;
	}
	if (jv_get_kind(list) != JV_KIND_ARRAY || jv_array_length(jv_copy(list)) == 0) {
		fputs("No sessions", o.f);
		if (json_is_set(doc, "outcome")) {
			fputs(" with outcome ", o.f);
			put_field(&o, doc, "outcome", "", 40);
		}
		fputs(".\n", o.f);
	} else {
		jv_array_foreach(list, i, r) {
			if (i)
				fputc('\n', o.f);
			history_item(&o, r, now);
			jv_free(r);
		}
	}
	jv_free(list);
	return out_close(&o);
}

static void list_line(struct out *o, jv v, const char *path, const char *label)
{
	jv a = json_get(jv_copy(v), path);

	if (jv_get_kind(a) == JV_KIND_ARRAY && jv_array_length(jv_copy(a)) > 0) {
		fprintf(o->f, "  %-12s", label);
		jv_array_foreach(a, i, x) {
			fputs(i ? ", " : "", o->f);
			if (jv_get_kind(x) == JV_KIND_STRING)
				put(o, jv_string_value(x), 60);
			jv_free(x);
		}
		fputc('\n', o->f);
	}
	jv_free(a);
}

static void gate_line(struct out *o, jv v)
{
	int passed = 0;

	if (!json_bool(v, "gate.passed", &passed))
		return;
	fprintf(o->f, "  gate        %s%s%s", passed ? c(o, GREEN) : c(o, RED),
		passed ? "passed" : "failed", c(o, RESET));
	if (!passed) {
		fputs(": ", o->f);
		put_field(o, v, "gate.detail", "", 120);
	}
	fputc('\n', o->f);
}

static void assessment_list(struct out *o, jv a, const char *path, const char *mark)
{
	jv l = json_get(jv_copy(a), path);

	if (jv_get_kind(l) == JV_KIND_ARRAY)
		jv_array_foreach(l, i, x) {
			if (jv_get_kind(x) == JV_KIND_STRING) {
				fprintf(o->f, "  %s ", mark);
				put(o, jv_string_value(x), 200);
				fputc('\n', o->f);
			}
			jv_free(x);
		}
	jv_free(l);
}

char *views_render_session(jv doc, int color)
{
	struct out o;
	jv s = json_get(jv_copy(doc), "session"), st = json_get(jv_copy(doc), "strategy");
	jv tr = json_get(jv_copy(doc), "training"), bt = json_get(jv_copy(doc), "backtest");
	jv as = json_get(jv_copy(doc), "assessment"), cost = json_get(jv_copy(doc), "cost");
	jv tl = json_get(jv_copy(doc), "timeline");
	char *oc = json_string(s, "outcome"), *phase = json_string(s, "phase");
	char t[32], age[16];
	double d;

	if (out_open(&o, color))
		goto out;
	fprintf(o.f, "%sSession %lld%s  %s", c(&o, BOLD), (long long)int_at(s, "id"), c(&o, RESET),
		outcome_color(&o, oc));
	if (oc)
		put(&o, oc, 40);
	else
		upper(&o, phase);
	fprintf(o.f, "%s  ", c(&o, RESET));
	put_field(&o, st, "name", "(no strategy)", 80);
	fputs("\n  agent ", o.f);
	put_field(&o, s, "agent", "?", 100);
	fprintf(o.f, "; %s", when(time_at(s, "created_at"), t));
	if (json_is_set(s, "completed_at")) {
		char t2[32];

		when(time_at(s, "completed_at"), t2);
		/* the same day: its time only */
		fprintf(o.f, " to %s", strncmp(t, t2, 10) ? t2 : t2 + 11);
	} else {
		fputs(" to now", o.f);
	}
	fprintf(o.f, " UTC (%s)\n", views_age(int_at(s, "duration_seconds"), age));
	if (json_is_set(s, "failure_reason")) {
		fputs("  reason      ", o.f);
		put_field(&o, s, "failure_reason", "", 300);
		fputc('\n', o.f);
	}
	if (jv_get_kind(st) == JV_KIND_OBJECT) {
		fputs("\nStrategy\n", o.f);
		if (json_is_set(st, "description") || json_is_set(st, "hypothesis")) {
			fputs("  idea        ", o.f);
			put_field(&o, st, json_is_set(st, "hypothesis") ? "hypothesis" : "description", "", 200);
			fputc('\n', o.f);
		}
		list_line(&o, st, "indicators", "indicators");
		list_line(&o, st, "symbols", "symbols");
		list_line(&o, st, "timeframes", "timeframes");
		if (json_is_set(st, "model")) {
			fputs("  model       ", o.f);
			put_field(&o, st, "model", "", 40);
			if (num_at(st, "epochs", &d))
				fprintf(o.f, ", %.0f epochs", d);
			fputc('\n', o.f);
		}
	}
	if (jv_get_kind(tr) == JV_KIND_OBJECT) {
		fputs("\nTraining  ", o.f);
		put_field(&o, tr, "operation_id", "", 128);
		fputc('\n', o.f);
		fputs("  ", o.f);
		if (num_at(tr, "accuracy", &d))
			fprintf(o.f, "accuracy %.4f  ", d);
		if (num_at(tr, "loss", &d))
			fprintf(o.f, "loss %.4f  ", d);
		if (num_at(tr, "loss_decrease", &d))
			fprintf(o.f, "loss decrease %.1f%%  ", d * 100);
		if (num_at(tr, "epochs_trained", &d)) {
			double planned;

			/* early stopping trains fewer than planned; a strategy may
			 * also plan fewer than the backend trained */
			if (num_at(tr, "epochs_planned", &planned) && planned >= d)
				fprintf(o.f, "epochs %.0f of %.0f", d, planned);
			else if (num_at(tr, "epochs_planned", &planned))
				fprintf(o.f, "epochs %.0f (%.0f planned)", d, planned);
			else
				fprintf(o.f, "epochs %.0f", d);
		}
		fputc('\n', o.f);
		gate_line(&o, tr);
	}
	if (jv_get_kind(bt) == JV_KIND_OBJECT) {
		fputs("\nBacktest  ", o.f);
		put_field(&o, bt, "operation_id", "", 128);
		fputs("\n  ", o.f);
		if (num_at(bt, "sharpe", &d))
			fprintf(o.f, "Sharpe %.2f  ", d);
		if (num_at(bt, "win_rate", &d))
			fprintf(o.f, "win rate %.1f%%  ", d * 100);
		if (num_at(bt, "max_drawdown", &d))
			fprintf(o.f, "max drawdown %.1f%%  ", d * 100);
		if (num_at(bt, "trades", &d))
			fprintf(o.f, "trades %.0f", d);
		fputs("\n  ", o.f);
		if (num_at(bt, "profit_factor", &d))
			fprintf(o.f, "profit factor %.2f  ", d);
		if (num_at(bt, "total_return_pct", &d))
			fprintf(o.f, "return %.1f%%", d * 100);
		fputc('\n', o.f);
		gate_line(&o, bt);
	}
	if (jv_get_kind(as) == JV_KIND_OBJECT) {
		fputs("\nAssessment  ", o.f);
		put_field(&o, as, "verdict", "", 40);
		fputc('\n', o.f);
		assessment_list(&o, as, "strengths", "+");
		assessment_list(&o, as, "weaknesses", "-");
		assessment_list(&o, as, "suggestions", ">");
	}
	num_at(cost, "usd", &d);
	fputs("\nCost  ", o.f);
	put_usd(&o, d);
	fprintf(o.f, ", %lld calls; tokens %lld in, %lld out, %lld cache write, %lld cache read\n",
		(long long)int_at(cost, "invocations"), (long long)int_at(cost, "input_tokens"),
		(long long)int_at(cost, "output_tokens"), (long long)int_at(cost, "cache_write_tokens"),
		(long long)int_at(cost, "cache_read_tokens"));
	fputs("\nTimeline\n", o.f);
	if (jv_get_kind(tl) == JV_KIND_ARRAY)
		jv_array_foreach(tl, i, ev) {
			/* every line is of this session */
			char *line = views_render_event(ev = jv_object_delete(ev, jv_string("session_id")),
							color);

			fprintf(o.f, "  %s\n", line ? line : "");
			free(line);
			jv_free(ev);
		}
	if (json_kind_at(doc, "timeline_truncated") == JV_KIND_TRUE)
		fputs("  ... (the first 1000 calls of each kind only)\n", o.f);
out:
	jv_free(s);
	jv_free(st);
	jv_free(tr);
	jv_free(bt);
	jv_free(as);
	jv_free(cost);
	jv_free(tl);
	free(oc);
	free(phase);
	return o.f ? out_close(&o) : NULL;
}

static int json_eq_str(jv v, const char *k, const char *want)
{
	char *got = json_string(v, k);
	int eq = got && !strcmp(got, want);

	free(got);
	return eq;
}

/* "opus-4-5" for "claude-opus-4-5-20251101": the family and version, the
 * rest is in the JSON. */
static void put_model(struct out *o, const char *m)
{
	size_t n;

	if (!m) {
		fputc('?', o->f);
		return;
	}
	if (!strncmp(m, "claude-", 7) && m[7])
		m += 7;
	n = strlen(m);
	if (n > 9 && m[n - 9] == '-' && strspn(m + n - 8, "0123456789") == 8)
		n -= 9;
	for (size_t i = 0; i < n && i < 60; i++)
		fputc((unsigned char)m[i] < 0x20 || m[i] == 0x7f ? '?' : m[i], o->f);
}

/* "850 ms", "12.3 s" */
static void put_ms(struct out *o, int64_t ms)
{
	if (ms < 1000)
		fprintf(o->f, "%lld ms", (long long)ms);
	else
		fprintf(o->f, "%.1f s", (double)ms / 1000);
}

char *views_render_event(jv ev, int color)
{
	struct out o;
	char *type = json_string(ev, "type"), t[32];
	double d;
	int ok = 1;

	if (out_open(&o, color)) {
		free(type);
		return NULL;
	}
	/* the day without its year: the JSON has the whole time */
	fprintf(o.f, "%s%s%s  ", c(&o, DIM), when(time_at(ev, "at"), t) + 5, c(&o, RESET));
	if (json_is_set(ev, "session_id"))
		fprintf(o.f, "%s#%lld%s  ", c(&o, DIM), (long long)int_at(ev, "session_id"), c(&o, RESET));
	if (type && !strcmp(type, "tick")) {
		int64_t st = -1;

		json_int(ev, "exit_status", &st);
		fprintf(o.f, "%stick%s  ", c(&o, CYAN), c(&o, RESET));
		put_field(&o, ev, "event", "?", 40);
		fputs(" -> ", o.f);
		put_field(&o, ev, "action", "?", 20);
		/* "training_running -> wait" says all that its reason would */
		if (json_is_set(ev, "reason") && !json_eq_str(ev, "reason", "operation_still_running")) {
			fputs(" (", o.f);
			put_field(&o, ev, "reason", "", 80);
			fputc(')', o.f);
		}
		if (json_is_set(ev, "duration_ms")) {
			fputc(' ', o.f);
			put_ms(&o, int_at(ev, "duration_ms"));
		}
		if (st > 0) {
			fprintf(o.f, " %sexit %lld", c(&o, RED), (long long)st);
			if (json_is_set(ev, "failed_stage")) {
				fputs(" in ", o.f);
				put_field(&o, ev, "failed_stage", "", 40);
			}
			fputs(c(&o, RESET), o.f);
		} else if (st < 0) {
			fputs(" running", o.f);
		}
	} else if (type && !strcmp(type, "invocation")) {
		char *status = json_string(ev, "status"), *model = json_string(ev, "model");

		ok = status && !strcmp(status, "ok");
		fprintf(o.f, "%scall%s  ", c(&o, CYAN), c(&o, RESET));
		put_field(&o, ev, "kind", "?", 40);
		fputc(' ', o.f);
		put_model(&o, model);
		fprintf(o.f, " %s", ok ? c(&o, GREEN) : c(&o, RED));
		put(&o, status ? status : "?", 30);
		fputs(c(&o, RESET), o.f);
		/* what went wrong before the figures: a cut line keeps it */
		if (json_is_set(ev, "error")) {
			fputs(" (", o.f);
			put_field(&o, ev, "error", "", 120);
			fputc(')', o.f);
		}
		num_at(ev, "cost_usd", &d);
		fprintf(o.f, " %lld/%lld tok $%.6f ", (long long)int_at(ev, "input_tokens"),
			(long long)int_at(ev, "output_tokens"), d);
		put_ms(&o, int_at(ev, "duration_ms"));
		free(status);
		free(model);
	} else if (type && !strcmp(type, "action")) {
		json_bool(ev, "success", &ok);
		fprintf(o.f, "%stool%s  ", c(&o, CYAN), c(&o, RESET));
		put_field(&o, ev, "tool", "?", 60);
		fprintf(o.f, " %s%s%s ", ok ? c(&o, GREEN) : c(&o, RED), ok ? "ok" : "failed", c(&o, RESET));
		if (json_is_set(ev, "error")) {
			fputc('(', o.f);
			put_field(&o, ev, "error", "", 120);
			fputs(") ", o.f);
		}
		put_ms(&o, int_at(ev, "duration_ms"));
	} else if (type && !strcmp(type, "phase")) {
		fprintf(o.f, "%sphase%s ", c(&o, CYAN), c(&o, RESET));
		put_field(&o, ev, "phase", "?", 20);
	} else {
		put(&o, type ? type : "?", 20);
	}
	free(type);
	return out_close(&o);
}

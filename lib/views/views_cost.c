/* views_cost: the cost report (agent-cost) as a table of at most 79 columns. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "views/views.h"

#define WIDTH 79
#define BOLD  "\033[1m"
#define RESET "\033[0m"

enum { C_KEY, C_COST, C_CALLS, C_IN, C_OUT, C_CREAD, C_CWRITE, NCOL };

static const char *const tok_keys[] = { "input_tokens", "output_tokens", "cache_read_tokens",
					"cache_write_tokens" };

static void usd(jv v, const char *k, char *buf, size_t n)
{
	int64_t m = 0;
	double d = 0;

	json_number(v, k, &d);
	m = (int64_t)(d * 1e6 + (d < 0 ? -0.5 : 0.5));
	snprintf(buf, n, "%s$%lld.%06lld", m < 0 ? "-" : "", (long long)(llabs(m) / 1000000),
		 (long long)(llabs(m) % 1000000));
}

/* the cells of one row (or of the total, from the document's own figures) */
static void cells(jv r, const char *by, int total, char c[NCOL][128])
{
	int64_t v = 0;

	if (total) {
		snprintf(c[C_KEY], 128, "total");
	} else if (!strcmp(by, "session")) {
		double un = 0, cost = 0;
		char *strategy = json_string(r, "strategy");

		json_number(r, "unattributed_usd", &un);
		json_number(r, "cost_usd", &cost);
		if (json_kind_at(r, "session_id") == JV_KIND_NUMBER) {
			json_int(r, "session_id", &v);
			snprintf(c[C_KEY], 128, "%lld %s", (long long)v, strategy ? strategy : "-");
		} else {
			snprintf(c[C_KEY], 128, "%s", un > 0 && un == cost ? "(unattributed)" : "(no session)");
		}
		free(strategy);
	} else {
		char *k = json_string(r, by);

		snprintf(c[C_KEY], 128, "%s", k ? k : "(unattributed)");
		free(k);
	}
	usd(r, total ? "total_usd" : "cost_usd", c[C_COST], 128);
	json_int(r, "calls", &v);
	snprintf(c[C_CALLS], 128, "%lld", (long long)v);
	for (int i = 0; i < 4; i++) {
		v = 0;
		json_int(r, tok_keys[i], &v);
		snprintf(c[C_IN + i], 128, "%lld", (long long)v);
	}
}

char *views_render_cost(jv doc, int color)
{
	static const char *const head[NCOL] = { NULL, "cost", "calls", "input", "output",
						"cache rd", "cache wr" };
	char *by = json_string(doc, "by"), *agent = json_string(doc, "agent");
	char *since = json_string(doc, "since"), *until = json_string(doc, "until");
	char line[256], c[NCOL][128], keyhead[32], a[40], b[40];
	jv rows = json_get(jv_copy(doc), "rows");
	int n = jv_get_kind(rows) == JV_KIND_ARRAY ? jv_array_length(jv_copy(rows)) : 0;
	int w[NCOL] = { 0 }, rest = WIDTH;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	double held = 0, un = 0, total = 0, led = 0;
	int64_t open = 0;
	const char *g = by && strlen(by) < 16 ? by : "day";

	if (!f)
		goto out;
	snprintf(keyhead, sizeof keyhead, "%s", !strcmp(g, "day") ? "day (UTC)"
		 : !strcmp(g, "week") ? "week (ISO)" : !strcmp(g, "month") ? "month (UTC)" : g);
	if (agent)
		snprintf(line, sizeof line, "Spend by %s of agent %s", g, agent);
	else
		snprintf(line, sizeof line, "Spend by %s of every agent", g);
	fprintf(f, "%.*s\n", WIDTH, line);
	fprintf(f, "from %s to %s (excluded)\n\n", since ? since : "?", until ? until : "?");
	/* the widths: each number column as wide as its widest cell, the key
	 * column what is left, at most */
	w[C_KEY] = (int)strlen(keyhead);
	for (int i = 1; i < NCOL; i++)
		w[i] = (int)strlen(head[i]);
	for (int i = 0; i <= n; i++) {
		jv r = i < n ? jv_array_get(jv_copy(rows), i) : jv_copy(doc);

		cells(r, g, i == n, c);
		for (int k = 0; k < NCOL; k++)
			if ((int)strlen(c[k]) > w[k])
				w[k] = (int)strlen(c[k]);
		jv_free(r);
	}
	for (int k = 1; k < NCOL; k++)
		rest -= w[k] + 2;
	if (w[C_KEY] > rest)
		w[C_KEY] = rest > 5 ? rest : 5;
	for (int i = -1; i <= n; i++) {
		jv r = i >= 0 && i < n ? jv_array_get(jv_copy(rows), i) : jv_copy(doc);
		const char *on = "", *off = "";

		if (i < 0) {
			snprintf(c[C_KEY], 128, "%s", keyhead);
			for (int k = 1; k < NCOL; k++)
				snprintf(c[k], 128, "%s", head[k]);
		} else {
			cells(r, g, i == n, c);
		}
		jv_free(r);
		if ((int)strlen(c[C_KEY]) > w[C_KEY])
			memcpy(c[C_KEY] + w[C_KEY] - 1, "~", 2);  /* cut, and say so */
		if (i == n && color) {
			on = BOLD;
			off = RESET;
		}
		fprintf(f, "%s%-*s", on, w[C_KEY], c[C_KEY]);
		for (int k = 1; k < NCOL; k++)
			fprintf(f, "  %*s", w[k], c[k]);
		fprintf(f, "%s\n", off);
	}
	json_number(doc, "total_usd", &total);
	json_number(doc, "unattributed_usd", &un);
	json_number(doc, "held_usd", &held);
	json_int(doc, "open_holds", &open);
	if (un > 0) {
		usd(doc, "unattributed_usd", a, sizeof a);
		fprintf(f, "\n%s of it unattributed: holds with no model call recorded\n", a);
	}
	if (open > 0) {
		usd(doc, "held_usd", a, sizeof a);
		fprintf(f, "%s%s held by %lld open hold%s, not spent yet (not in the total)\n",
			un > 0 ? "" : "\n", a, (long long)open, open == 1 ? "" : "s");
	}
	if (json_kind_at(doc, "ledger_usd") == JV_KIND_NUMBER) {
		json_number(doc, "ledger_usd", &led);
		if ((int64_t)(led * 1e6 + 0.5) != (int64_t)(total * 1e6 + 0.5)) {
			usd(doc, "ledger_usd", a, sizeof a);
			usd(doc, "total_usd", b, sizeof b);
			fprintf(f, "the ledger says %s for these days, not %s\n", a, b);
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		buf = NULL;
	}
out:
	jv_free(rows);
	free(by);
	free(agent);
	free(since);
	free(until);
	return buf;
}

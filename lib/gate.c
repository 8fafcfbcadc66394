/* gate: jq extracts the checks, C judges them, so every rule fails alike. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jq.h>

#include "base/data.h"
#include "gate.h"
#include "base/json.h"

extern char **environ;

static int parse_number(const char *s, double *out)
{
	char *end;

	if (!s || !*s)
		return -1;
	*out = strtod(s, &end);
	return *end || !isfinite(*out) ? -1 : 0;
}

int gate_init(struct gate *g, const char *spec, struct err *e)
{
	char prefix[80];
	size_t plen;

	memset(g, 0, sizeof *g);
	g->set = jv_object();
	if (!spec || !*spec)
		return err_set(e, EX_USAGE, "no gate given");
	if (strcmp(spec, "training") == 0 || strcmp(spec, "backtest") == 0) {
		char rel[64];

		snprintf(g->name, sizeof g->name, "%s", spec);
		snprintf(rel, sizeof rel, "gates/%s.jq", spec);
		data_path(rel, g->path, sizeof g->path);
	} else {
		const char *base = strrchr(spec, '/');
		char *dot;

		snprintf(g->path, sizeof g->path, "%s", spec);
		snprintf(g->name, sizeof g->name, "%s", base ? base + 1 : spec);
		dot = strrchr(g->name, '.');
		if (dot && dot != g->name)
			*dot = 0;
	}
	/* TRAINING_GATE_MIN_ACCURACY=0.5 -> {"min_accuracy": 0.5} */
	plen = (size_t)snprintf(prefix, sizeof prefix, "%s_GATE_", g->name);
	for (char *p = prefix; *p; p++)
		*p = (char)(isalnum((unsigned char)*p) ? toupper((unsigned char)*p) : '_');
	for (char **env = environ; *env; env++) {
		const char *eq = strchr(*env, '=');
		char key[64];
		double v;

		if (!eq || strncmp(*env, prefix, plen) != 0 || (size_t)(eq - *env) <= plen)
			continue;
		snprintf(key, sizeof key, "%.*s", (int)(eq - *env - (ptrdiff_t)plen), *env + plen);
		for (char *k = key; *k; k++)
			*k = (char)tolower((unsigned char)*k);
		if (parse_number(eq + 1, &v) < 0) {
			err_set(e, EX_PERM, "%.*s: not a number: '%.40s'", (int)(eq - *env), *env, eq + 1);
			gate_release(g);
			return EX_PERM;
		}
		g->set = json_set(g->set, key, jv_number(v));
	}
	return 0;
}

int gate_set(struct gate *g, const char *assignment, struct err *e)
{
	const char *eq = strchr(assignment, '=');
	char key[64];
	double v;

	if (!eq || eq == assignment || (size_t)(eq - assignment) >= sizeof key)
		return err_set(e, EX_USAGE, "--set wants NAME=VALUE, not '%.60s'", assignment);
	if (parse_number(eq + 1, &v) < 0)
		return err_set(e, EX_USAGE, "--set %.*s: not a number: '%.40s'",
			       (int)(eq - assignment), assignment, eq + 1);
	snprintf(key, sizeof key, "%.*s", (int)(eq - assignment), assignment);
	g->set = json_set(g->set, key, jv_number(v));
	return 0;
}

static void jq_error_cb(void *data, jv msg)
{
	char *buf = data;

	if (!buf[0]) {
		jv s = jv_get_kind(msg) == JV_KIND_STRING ? jv_copy(msg) : jv_dump_string(jv_copy(msg), 0);

		snprintf(buf, 300, "%s", jv_string_value(s));
		jv_free(s);
	}
	jv_free(msg);
}

int gate_compile(struct gate *g, struct err *e)
{
	static char jqerr[300];
	FILE *f;
	char *text;
	long n;
	int rc;

	{
		f = fopen(g->path, "r");
		if (!f)
			return err_set(e, EX_PERM, "cannot read gate rules '%s': %m", g->path);
		if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || n > (1 << 20) ||
		    fseek(f, 0, SEEK_SET) < 0) {
			fclose(f);
			return err_set(e, EX_PERM, "gate rules '%s': unreadable or over 1 MiB", g->path);
		}
		text = malloc((size_t)n + 1);
		if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
			free(text);
			fclose(f);
			return err_set(e, EX_PERM, "cannot read gate rules '%s'", g->path);
		}
		text[n] = 0;
		fclose(f);
		g->jq = jq_init();
		if (!g->jq) {
			free(text);
			return err_set(e, EX_TEMP, "out of memory");
		}
		jqerr[0] = 0;
		jq_set_error_cb(g->jq, jq_error_cb, jqerr);
		/* an object, never an array (GHSA-gf4g-95wj-4q4r) */
		rc = jq_compile_args(g->jq, text, json_set(jv_object(), "set", jv_copy(g->set)));
		free(text);
		if (!rc) {
			jq_teardown(&g->jq);
			return err_set(e, EX_PERM, "gate rules '%s': %s", g->path,
				       jqerr[0] ? jqerr : "does not compile");
		}
	}
	return 0;
}

void gate_release(struct gate *g)
{
	if (g->jq)
		jq_teardown(&g->jq);
	jv_free(g->set);
	g->set = jv_null();
}

/* Computed values (a loss decrease) carry rounding: a value within 1e-9 of
 * its threshold counts as at the threshold, and at the threshold passes. */
static int compare(double v, const char *op, double t, int *ok)
{
	double tol = 1e-9 * fmax(1.0, fabs(t));

	if (strcmp(op, ">=") == 0)
		*ok = v >= t - tol;
	else if (strcmp(op, "<=") == 0)
		*ok = v <= t + tol;
	else if (strcmp(op, ">") == 0)
		*ok = v > t + tol;
	else if (strcmp(op, "<") == 0)
		*ok = v < t - tol;
	else if (strcmp(op, "==") == 0)
		*ok = fabs(v - t) <= tol;
	else
		return -1;
	return 0;
}

static const char *negate(const char *op)
{
	return strcmp(op, ">=") == 0 ? "<" : strcmp(op, "<=") == 0 ? ">" :
	       strcmp(op, ">") == 0 ? "<=" : strcmp(op, "<") == 0 ? ">=" : "!=";
}

/* The result_summary inside an operation response, when given one. */
static jv unwrap(jv r)
{
	jv inner = json_get(jv_copy(r), "data.result_summary");

	if (jv_get_kind(inner) == JV_KIND_OBJECT) {
		jv_free(r);
		return inner;
	}
	jv_free(inner);
	inner = json_get(jv_copy(r), "result_summary");
	if (jv_get_kind(inner) == JV_KIND_OBJECT) {
		jv_free(r);
		return inner;
	}
	jv_free(inner);
	return r;
}

int gate_eval(struct gate *g, jv result, jv *verdict, struct err *e)
{
	jv checks, out = jv_array(), first_fail = jv_null();
	char detail[256] = "";
	int n, passed = 1, rc = 0;

	if (jv_get_kind(result) != JV_KIND_OBJECT) {
		jv_free(result);
		jv_free(out);
		return err_set(e, EX_DATA, "%s gate: the result is not a JSON object", g->name);
	}
	jq_start(g->jq, unwrap(result), 0);
	checks = jq_next(g->jq);
	if (!jv_is_valid(checks)) {
		jv msg = jv_invalid_get_msg(checks);

		rc = err_set(e, EX_PERM, "%s gate: rule produced no checks%s%s", g->name,
			     jv_get_kind(msg) == JV_KIND_STRING ? ": " : "",
			     jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : "");
		jv_free(msg);
		jv_free(out);
		return rc;
	}
	/* drain, so the next jq_start begins clean */
	for (jv more = jq_next(g->jq); jv_is_valid(more); more = jq_next(g->jq))
		jv_free(more);
	if (jv_get_kind(checks) != JV_KIND_ARRAY) {
		jv_free(checks);
		jv_free(out);
		return err_set(e, EX_PERM, "%s gate: the rule must output an array of checks", g->name);
	}
	n = jv_array_length(jv_copy(checks));
	for (int i = 0; i < n && rc == 0; i++) {
		jv c = jv_array_get(jv_copy(checks), i);
		char *name = json_string(c, "name"), *op = json_string(c, "op");
		char *reason = json_string(c, "reason"), *field = json_string(c, "field");
		jv value = json_get(jv_copy(c), "value");
		double t, v;
		int ok = 0;
		jv check;

		if (!name || !op || !json_number(c, "threshold", &t)) {
			rc = err_set(e, EX_PERM, "%s gate: check %d lacks name, op or a numeric threshold",
				     g->name, i);
		} else if (jv_get_kind(value) == JV_KIND_NULL || !jv_is_valid(value)) {
			ok = 0;
			if (passed)
				snprintf(detail, sizeof detail, "%s missing (%s)", name,
					 field ? field : name);
			check = jv_object();
			check = json_set(check, "name", jv_string(name));
			check = json_set(check, "field", json_str_or_null(field));
			check = json_set(check, "value", jv_null());
			check = json_set(check, "op", jv_string(op));
			check = json_set(check, "threshold", jv_number(t));
			check = json_set(check, "passed", jv_false());
			check = json_set(check, "reason", jv_string_fmt("%s_missing", name));
			if (passed)
				first_fail = jv_string_fmt("%s_missing", name);
			passed = 0;
			out = jv_array_append(out, check);
		} else if (jv_get_kind(value) != JV_KIND_NUMBER) {
			rc = err_set(e, EX_DATA, "%s gate: %s: expected a number, got %s", g->name,
				     field ? field : name, jv_kind_name(jv_get_kind(value)));
		} else if (isnan(v = jv_number_value(value)) || isinf(v)) {
			rc = err_set(e, EX_DATA, "%s gate: %s: not a finite number", g->name,
				     field ? field : name);
		} else if (compare(v, op, t, &ok) < 0) {
			rc = err_set(e, EX_PERM, "%s gate: unknown comparison '%s'", g->name, op);
		} else {
			check = jv_object();
			check = json_set(check, "name", jv_string(name));
			check = json_set(check, "field", json_str_or_null(field));
			check = json_set(check, "value", jv_number(v));
			check = json_set(check, "op", jv_string(op));
			check = json_set(check, "threshold", jv_number(t));
			check = json_set(check, "passed", jv_bool(ok));
			if (!ok) {
				const char *r = reason ? reason : name;

				check = json_set(check, "reason", jv_string(r));
				if (passed) {
					first_fail = jv_string(r);
					snprintf(detail, sizeof detail, "%s %.6g %s %.6g", name, v,
						 negate(op), t);
				}
				passed = 0;
			}
			out = jv_array_append(out, check);
		}
		jv_free(value);
		jv_free(c);
		free(name);
		free(op);
		free(reason);
		free(field);
	}
	jv_free(checks);
	if (rc) {
		jv_free(out);
		jv_free(first_fail);
		return rc;
	}
	*verdict = jv_object();
	*verdict = json_set(*verdict, "gate", jv_string(g->name));
	*verdict = json_set(*verdict, "passed", jv_bool(passed));
	*verdict = json_set(*verdict, "reason", passed ? jv_string("passed") : first_fail);
	*verdict = json_set(*verdict, "detail", jv_string(passed ? "all checks passed" : detail));
	*verdict = json_set(*verdict, "checks", out);
	if (passed)
		jv_free(first_fail);
	return 0;
}

int gate_passed(jv verdict)
{
	int p = 0;

	return json_bool(verdict, "passed", &p) && p;
}

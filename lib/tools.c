/* tools: built-in tools in C, operator tools as executables; every call recorded. */
#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/data.h"
#include "base/env.h"
#include "base/json.h"
#include "session.h"
#include "strategy.h"
#include "tools.h"
#include "net/trace.h"

#define MAX_TOOL_OUTPUT (1u << 20)
#define MAX_RECORDED (64u << 10)

size_t tools_max_input(void)
{
	const char *s = getenv("AGENT_MAX_TOOL_INPUT_BYTES");
	long v = s && *s ? strtol(s, NULL, 10) : 0;

	return v > 0 ? (size_t)v : 1u << 20;
}

/* --- definitions */

static int has_kind(jv def, const char *kind)
{
	jv kinds = json_get(jv_copy(def), "kinds");
	int n, hit = 0;

	if (jv_get_kind(kinds) != JV_KIND_ARRAY) {
		jv_free(kinds);
		return 1;  /* a tool without "kinds" is offered to every kind */
	}
	n = jv_array_length(jv_copy(kinds));
	for (int i = 0; i < n && !hit; i++) {
		jv k = jv_array_get(jv_copy(kinds), i);

		hit = jv_get_kind(k) == JV_KIND_STRING && strcmp(jv_string_value(k), kind) == 0;
		jv_free(k);
	}
	jv_free(kinds);
	return hit;
}

static int tool_name_ok(const char *n)
{
	size_t len = strlen(n);

	if (len == 0 || len > 64)
		return 0;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '-'))
			return 0;
	return 1;
}

/* API shape only: name, description, input_schema */
static jv api_shape(jv def)
{
	jv out = jv_object();

	out = json_set(out, "name", json_get(jv_copy(def), "name"));
	out = json_set(out, "description", json_get(jv_copy(def), "description"));
	out = json_set(out, "input_schema", json_get(jv_copy(def), "input_schema"));
	jv_free(def);
	return out;
}

static int names_sorted(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int load_dir(const char *dir, const char *kind, int external, jv *defs, struct err *e)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, names_sorted), rc = 0;

	if (n < 0)
		return external ? err_set(e, EX_PERM, "AGENT_TOOLS_DIR '%s': %s", dir, strerror(errno))
				: err_set(e, EX_PERM, "cannot read tool definitions in '%s': %s", dir,
					  strerror(errno));
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		size_t len = strlen(name);
		char path[4400], exe[4400];
		jv def;
		char *tname;

		if (rc || len < 6 || strcmp(name + len - 5, ".json") != 0 || name[0] == '.') {
			free(ents[i]);
			continue;
		}
		snprintf(path, sizeof path, "%s/%s", dir, name);
		if (json_read_file(path, 256u << 10, &def, e)) {
			err_wrap(e, "tool definition");
			rc = e->code = EX_PERM;
			free(ents[i]);
			continue;
		}
		tname = json_string(def, "name");
		if (!tname || !tool_name_ok(tname) || strncmp(name, tname, len - 5) || strlen(tname) != len - 5) {
			rc = err_set(e, EX_PERM, "tool definition '%s': \"name\" must be the file's base name", path);
		} else if (external) {
			snprintf(exe, sizeof exe, "%s/%s", dir, tname);
			if (access(exe, X_OK) != 0)
				rc = err_set(e, EX_PERM, "tool '%s': no executable '%s'", tname, exe);
		}
		if (rc == 0 && has_kind(def, kind))
			*defs = jv_array_append(*defs, api_shape(jv_copy(def)));
		jv_free(def);
		free(tname);
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int tools_load(const char *kind, jv *defs, struct err *e)
{
	const char *ext = getenv("AGENT_TOOLS_DIR");
	char dir[4200];
	int rc;

	*defs = jv_array();
	rc = load_dir(data_path("tools", dir, sizeof dir), kind, 0, defs, e);
	if (rc == 0 && ext && *ext) {
		/* an operator's tool may not take a built-in's name */
		jv more = jv_array();
		int n;

		rc = load_dir(ext, kind, 1, &more, e);
		n = jv_array_length(jv_copy(more));
		for (int i = 0; rc == 0 && i < n; i++) {
			jv t = jv_array_get(jv_copy(more), i);
			char *tn = json_string(t, "name");
			int m = jv_array_length(jv_copy(*defs));

			for (int k = 0; k < m && rc == 0; k++) {
				jv d = jv_array_get(jv_copy(*defs), k);
				char *dn = json_string(d, "name");

				if (dn && tn && !strcmp(dn, tn))
					rc = err_set(e, EX_PERM, "AGENT_TOOLS_DIR: tool '%s' shadows a built-in", tn);
				free(dn);
				jv_free(d);
			}
			*defs = jv_array_append(*defs, t);
			free(tn);
		}
		jv_free(more);
	}
	if (rc) {
		jv_free(*defs);
		*defs = jv_null();
	}
	return rc;
}

/* --- results */

static jv fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static jv fail(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return json_set(json_set(jv_object(), "success", jv_false()), "error", jv_string(buf));
}

/* A string argument: absent/NULL when missing; *bad set when present but not
 * a string or too long. */
static char *arg_str(jv in, const char *key, size_t max, int *bad)
{
	jv v = json_get(jv_copy(in), key);
	char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING) {
		if ((size_t)jv_string_length_bytes(jv_copy(v)) > max || strlen(jv_string_value(v)) !=
		    (size_t)jv_string_length_bytes(jv_copy(v)))
			*bad = 1;
		else
			s = strdup(jv_string_value(v));
	} else if (jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL) {
		*bad = 1;
	}
	jv_free(v);
	return s;
}

static int date_ok(const char *s)
{
	int64_t t;

	return s && strlen(s) == 10 && clock_parse_day(s, &t) == 0;
}

/* short tokens: symbols, timeframes */
static int token_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      strchr("._-/=^", *p)))
			return 0;
	return 1;
}

/* an array of 1..20 tokens, else NULL */
static jv token_list(jv in, const char *key)
{
	jv v = json_get(jv_copy(in), key);
	int n;

	if (jv_get_kind(v) != JV_KIND_ARRAY || (n = jv_array_length(jv_copy(v))) < 1 || n > 20) {
		jv_free(v);
		return jv_invalid();
	}
	for (int i = 0; i < n; i++) {
		jv x = jv_array_get(jv_copy(v), i);
		int ok = jv_get_kind(x) == JV_KIND_STRING && token_ok(jv_string_value(x));

		jv_free(x);
		if (!ok) {
			jv_free(v);
			return jv_invalid();
		}
	}
	return v;
}

/* KTRDR's error bodies (ktrdr/api/main.py, errors/exceptions.py):
 * {"detail": "text"}; {"detail": {message, error_code, context, details,
 * suggestion}} (ConfigurationError); {"detail": {error, hint, ...}} (no
 * worker); {"success": false, "error": {code, message, details}} (global
 * handlers, and the 422 VALIDATION_ERROR envelope). */
static jv error_part(jv resp, const char *want)
{
	jv d = json_get(jv_copy(resp), "detail");

	if (jv_get_kind(d) == JV_KIND_OBJECT) {
		jv x = json_get(jv_copy(d), want);

		if (!jv_is_valid(x) && !strcmp(want, "message"))
			x = json_get(jv_copy(d), "error");
		if (!jv_is_valid(x) && !strcmp(want, "suggestion"))
			x = json_get(jv_copy(d), "hint");
		jv_free(d);
		return x;
	}
	if (jv_get_kind(d) == JV_KIND_STRING && !strcmp(want, "message"))
		return d;
	if (jv_get_kind(d) == JV_KIND_ARRAY && !strcmp(want, "details"))
		return d;
	jv_free(d);
	d = json_get(jv_copy(resp), "error");
	if (jv_get_kind(d) == JV_KIND_OBJECT) {
		jv x = json_get(jv_copy(d), want);

		jv_free(d);
		return x;
	}
	jv_free(d);
	return jv_invalid();
}

char *tools_backend_words(long status, jv resp)
{
	jv m = error_part(resp, "message"), sg = error_part(resp, "suggestion");
	char *dump = jv_get_kind(m) == JV_KIND_STRING ? NULL : json_dump(jv_copy(resp)), *out = NULL;
	int has = jv_get_kind(sg) == JV_KIND_STRING;

	if (asprintf(&out, "HTTP %ld: %.600s%s%.300s%s", status,
		     dump ? dump : jv_string_value(m), has ? " (" : "",
		     has ? jv_string_value(sg) : "", has ? ")" : "") < 0)
		out = NULL;
	free(dump);
	jv_free(m);
	jv_free(sg);
	return out;
}

enum backend_class tools_backend_class(long status, jv resp)
{
	jv m;
	int missing;

	if (status >= 200 && status < 300)
		return BACKEND_OK;
	if (status == 409 || status == 503 || status == 502)
		return BACKEND_BUSY;
	m = error_part(resp, "message");
	/* training start: 400 "Strategy file not found: X.yaml (searched: ...)"
	 * (context.py _resolve_strategy_path); validate: 404 "Strategy file not
	 * found: X.yaml" (endpoints/strategies.py) */
	missing = (status == 400 || status == 404) && jv_get_kind(m) == JV_KIND_STRING &&
		  strncmp(jv_string_value(m), "Strategy file not found", 23) == 0;
	jv_free(m);
	if (missing)
		return BACKEND_NO_STRATEGY;
	return status >= 500 ? BACKEND_FAILED : BACKEND_REFUSED;
}

/* The backend's answer as a tool result: data, or a failure with its words
 * (message, suggestion and details, for the model to act on). */
static jv backend_result(int rc, long status, jv resp, struct err *e)
{
	if (rc)
		return fail("backend unreachable: %s", e->msg);
	if (status < 200 || status >= 300) {
		char *words = tools_backend_words(status, resp);
		jv r = fail("backend refused (%s)", words ? words : "no answer");
		jv x;

		free(words);
		if (jv_get_kind(x = error_part(resp, "suggestion")) == JV_KIND_STRING)
			r = json_set(r, "suggestion", x);
		else
			jv_free(x);
		if (jv_is_valid(x = error_part(resp, "details")) && jv_get_kind(x) != JV_KIND_NULL)
			r = json_set(r, "details", x);
		else
			jv_free(x);
		if (jv_get_kind(x = error_part(resp, "error_code")) == JV_KIND_STRING ||
		    (jv_free(x), jv_get_kind(x = error_part(resp, "code")) == JV_KIND_STRING))
			r = json_set(r, "error_code", x);
		else
			jv_free(x);
		r = json_set(r, "http_status", jv_number((double)status));
		jv_free(resp);
		return r;
	}
	return resp;
}

/* A start or validation the backend could not take now, or a strategy it
 * cannot see: the invocation stops (tools.h TOOLS_HALT_*). */
static void halt_for(struct tools_ctx *c, enum backend_class k, long status, jv resp,
		     const char *what)
{
	char *words = tools_backend_words(status, resp);

	if (k == BACKEND_NO_STRATEGY) {
		c->halt = TOOLS_HALT_END;
		snprintf(c->halt_msg, sizeof c->halt_msg, "the backend cannot see the strategy the "
			 "toolkit saved: AGENT_STRATEGY_DIR must be the backend's STRATEGIES_DIR (%s)",
			 words ? words : "");
	} else if (k == BACKEND_BUSY) {
		c->halt = TOOLS_HALT_BUSY;
		snprintf(c->halt_msg, sizeof c->halt_msg, "backend busy or unavailable for %s (%s)",
			 what, words ? words : "");
	}
	free(words);
}

static jv indicators_names(struct tools_ctx *c)
{
	long status = 0;
	jv resp = jv_null(), names = jv_array();
	struct err e = ERR_INIT;

	if (backend_call(c->backend, "GET", "/indicators/", jv_null(), &status, &resp, &e) == 0 &&
	    status == 200) {
		jv data = json_get(jv_copy(resp), "data");
		int n = jv_get_kind(data) == JV_KIND_ARRAY ? jv_array_length(jv_copy(data)) : 0;

		for (int i = 0; i < n && i < 1000; i++) {
			jv d = jv_array_get(jv_copy(data), i);
			char *name = json_string(d, "name"), *id = json_string(d, "id");

			if (name)
				names = jv_array_append(names, jv_string(name));
			if (id)
				names = jv_array_append(names, jv_string(id));
			free(name);
			free(id);
			jv_free(d);
		}
		jv_free(data);
	}
	jv_free(resp);
	return names;
}

/* --- the built-in tools; each returns the result and sets *err for failures.
 * `ch` collects the session change to apply with the action row. */

struct change {
	const char *stmt;   /* a statement name, or "move" */
	jv params;          /* for stmt */
	const char *from, *to;
	jv fields;          /* for move */
};

static jv t_validate(struct tools_ctx *c, jv in, int *err, struct err *e)
{
	jv config = json_get(jv_copy(in), "config"), report;

	if (jv_get_kind(config) != JV_KIND_OBJECT) {
		jv_free(config);
		*err = 1;
		return fail("config must be an object");
	}
	jv names = indicators_names(c);
	int rc = strategy_validate(config, names, &report, e);

	jv_free(names);
	jv_free(config);
	if (rc) {
		*err = 1;
		return fail("%s", e->msg);
	}
	return report;
}

/* After a save: the backend reads the file from its own directory (POST
 * /strategies/validate/{name}, ktrdr/api/endpoints/strategies.py).  Not
 * there: the directories are not one (the session ends).  Issues: the file
 * goes, the issues go back to the model.  AGENT_STRATEGY_VALIDATE=0 skips
 * it; a backend without the route (404 "Not Found") is not asked.
 * Returns the failure for the model, or invalid when the save stands. */
static jv backend_validate(struct tools_ctx *c, const char *name, const char *path, struct err *e)
{
	const char *env = getenv("AGENT_STRATEGY_VALIDATE");
	char route[128];
	long status = 0;
	jv resp = jv_null(), r = jv_invalid();
	int rc, valid = 0;
	enum backend_class k;

	if (env && !strcmp(env, "0"))
		return r;
	snprintf(route, sizeof route, "/strategies/validate/%s", name);
	rc = backend_call(c->backend, "POST", route, jv_null(), &status, &resp, e);
	if (rc) {
		r = fail("the strategy was not saved: the backend could not be asked to validate it "
			 "(%s); try the save again", e->msg);
		goto drop;
	}
	k = tools_backend_class(status, resp);
	if (k == BACKEND_NO_STRATEGY) {
		halt_for(c, k, status, resp, "validation");
		jv_free(resp);
		r = fail("%s", c->halt_msg);
		goto drop;
	}
	if (status == 404) {
		jv_free(resp);
		return r;  /* a platform without the route */
	}
	if (k != BACKEND_OK) {
		if (k == BACKEND_BUSY)
			halt_for(c, k, status, resp, "strategy validation");
		{
			char *was;

			r = backend_result(0, status, resp, e);
			was = json_string(r, "error");
			r = json_set(r, "error", jv_string_fmt("the strategy was not saved: the backend's "
							       "validation failed: %s", was ? was : ""));
			free(was);
		}
		goto drop;
	}
	if (json_bool(resp, "valid", &valid) && valid) {
		jv_free(resp);
		return r;
	}
	{
		jv issues = json_get(jv_copy(resp), "issues"), errs = jv_array();
		int n = jv_get_kind(issues) == JV_KIND_ARRAY ? jv_array_length(jv_copy(issues)) : 0;

		for (int i = 0; i < n && i < 50; i++) {
			jv it = jv_array_get(jv_copy(issues), i);
			char *sev = json_string(it, "severity"), *msg = json_string(it, "message");

			if (msg && (!sev || strcmp(sev, "warning")))
				errs = jv_array_append(errs, jv_string(msg));
			free(sev);
			free(msg);
			jv_free(it);
		}
		jv_free(issues);
		r = json_set(fail("the backend refused the strategy (POST %s): fix these and save "
				  "again", route), "errors", errs);
	}
	jv_free(resp);
drop:
	/* not saved after all: the name stays free for the corrected strategy */
	if (unlink(path) != 0 && errno != ENOENT)
		r = json_set(r, "warning", jv_string_fmt("could not remove %s: %s", path, strerror(errno)));
	return r;
}

static jv t_save_strategy(struct tools_ctx *c, jv in, int *err, struct change *ch, struct err *e)
{
	int bad = 0;
	char *name = arg_str(in, "name", 200, &bad), *desc = arg_str(in, "description", 4000, &bad);
	jv config = json_get(jv_copy(in), "config"), report = jv_null(), r;
	char *path = NULL;
	size_t len;

	*err = 1;
	if (bad || !name || !desc || jv_get_kind(config) != JV_KIND_OBJECT) {
		r = fail("save_strategy_config needs name (string), description (string) and config (object)");
		goto out;
	}
	len = strlen(name);
	if (len > 5 && strcmp(name + len - 5, ".yaml") == 0)
		name[len - 5] = 0;
	if (!strategy_name_ok(name)) {
		r = fail("'%.80s' is not a plain strategy name: use a letter, then letters, digits, _ or - (at most 64)", name);
		goto out;
	}
	{
		jv names = indicators_names(c);
		int vrc = strategy_validate(config, names, &report, e);

		jv_free(names);
		if (vrc) {
			r = fail("%s", e->msg);
			goto out;
		}
	}
	{
		int valid = 0;

		json_bool(report, "valid", &valid);
		if (!valid) {
			r = json_set(json_set(fail("the config is not valid"), "errors",
					      json_get(jv_copy(report), "errors")),
				     "warnings", json_get(jv_copy(report), "warnings"));
			goto out;
		}
	}
	config = json_set(json_set(config, "name", jv_string(name)), "description", jv_string(desc));
	if (strategy_write(name, config, &path, e)) {
		r = e->code == EX_NO ? fail("a strategy named '%s' already exists: choose another name", name)
				     : fail("cannot save: %s", e->msg);
		goto out;
	}
	r = backend_validate(c, name, path, e);
	if (jv_is_valid(r))
		goto out;
	if (c->session_id) {
		ch->stmt = "session_set_strategy";
		ch->params = jv_array();
		ch->params = jv_array_append(ch->params, jv_number((double)c->session_id));
		ch->params = jv_array_append(ch->params, jv_string(name));
		ch->params = jv_array_append(ch->params, jv_copy(config));
		ch->params = jv_array_append(ch->params, jv_string(path));
		ch->params = jv_array_append(ch->params, jv_number((double)c->now));
	}
	*err = 0;
	r = json_set(json_set(json_set(json_set(jv_object(), "success", jv_true()),
		"path", jv_string(path)), "name", jv_string(name)),
		"warnings", json_get(jv_copy(report), "warnings"));
out:
	free(name);
	free(desc);
	free(path);
	jv_free(config);
	jv_free(report);
	return r;
}

static jv t_recent(struct tools_ctx *c, jv in, int *err, struct err *e)
{
	int64_t n = 5;
	jv rows, out = jv_array();
	int cnt;

	json_int(in, "n", &n);
	if (n < 1)
		n = 1;
	if (n > 20)
		n = 20;
	if (store_query(c->store, "recent_strategies",
			jv_array_append(jv_array_append(jv_array(), jv_string(c->agent)),
					jv_number((double)n)), &rows, e)) {
		*err = 1;
		return fail("cannot read recent strategies");
	}
	cnt = jv_array_length(jv_copy(rows));
	for (int i = 0; i < cnt; i++) {
		jv row = jv_array_get(jv_copy(rows), i), o = jv_object();
		double sharpe;

		o = json_set(o, "name", json_get(jv_copy(row), "strategy_name"));
		o = json_set(o, "outcome", json_get(jv_copy(row), "outcome"));
		if (!json_is_set(o, "outcome"))
			o = json_set(o, "outcome", json_get(jv_copy(row), "phase"));
		o = json_set(o, "sharpe_ratio", json_number(row, "backtest_results.metrics.sharpe_ratio", &sharpe)
						    ? jv_number(sharpe) : jv_null());
		out = jv_array_append(out, o);
		jv_free(row);
	}
	jv_free(rows);
	return out;
}

static jv t_listing(struct tools_ctx *c, const char *path, int *err, struct err *e)
{
	long status = 0;
	jv resp = jv_null();
	int rc = backend_call(c->backend, "GET", path, jv_null(), &status, &resp, e);

	resp = backend_result(rc, status, resp, e);
	if (json_kind_at(resp, "data") == JV_KIND_ARRAY) {
		jv data = json_get(resp, "data");

		return data;
	}
	*err = 1;
	return resp;
}

/* The session must be in `phase` (and have saved `name`, when given). */
static jv session_check(struct tools_ctx *c, const char *phase, const char *name, const char *what,
			struct err *e)
{
	jv sess, r = jv_invalid();
	char *p, *sname;

	if (!c->session_id)
		return r;
	if (session_get(c->store, c->session_id, &sess, e))
		return fail("cannot read the session");
	p = json_string(sess, "phase");
	sname = json_string(sess, "strategy_name");
	if (!p || strcmp(p, phase))
		r = fail("%s is not possible now: the research cycle is %s", what, p ? p : "gone");
	else if (name && (!sname || strcmp(sname, name)))
		r = fail("strategy '%s' is not the one saved in this research cycle (%s)", name,
			 sname ? sname : "none saved yet: use save_strategy_config first");
	free(p);
	free(sname);
	jv_free(sess);
	return r;
}

/* POSTs a start request; *op gets the new operation's id and *resp the
 * answer, or the failure to give the model comes back (invalid otherwise).
 * A busy backend, or one that cannot see the strategy, halts the
 * invocation (c->halt). */
static jv start_operation(struct tools_ctx *c, const char *path, jv body, char **op, jv *resp,
			  struct err *e)
{
	long status = 0;
	int rc = backend_call(c->backend, "POST", path, body, &status, resp, e), ok = 1;

	if (rc == 0) {
		enum backend_class k = tools_backend_class(status, *resp);

		if (k == BACKEND_BUSY || k == BACKEND_NO_STRATEGY)
			halt_for(c, k, status, *resp, strstr(path, "training") ? "training" : "a backtest");
	} else if (rc == EX_TEMP) {
		/* not reached (down, timed out, an answer cut short, too large or
		 * not JSON): as busy, the saved design waits for a later tick's
		 * start, counted, instead of ending the cycle failed_design */
		c->halt = TOOLS_HALT_BUSY;
		snprintf(c->halt_msg, sizeof c->halt_msg, "backend busy or unavailable for %s (%s)",
			 strstr(path, "training") ? "training" : "a backtest", e->msg);
	}
	*resp = backend_result(rc, status, rc ? jv_null() : *resp, e);
	*op = rc || status < 200 || status >= 300 ? NULL : json_string(*resp, "task_id");
	if (!*op && !(rc || status < 200 || status >= 300))
		*op = json_string(*resp, "operation_id");
	if (*op && backend_id_ok(*op))
		return jv_invalid();
	/* a failure the backend explained goes back as it is */
	return json_bool(*resp, "success", &ok) && !ok ? jv_copy(*resp)
		: fail("the backend did not return an operation id");
}

static jv t_start_training(struct tools_ctx *c, jv in, int *err, struct change *ch, struct err *e)
{
	int bad = 0;
	char *name = arg_str(in, "strategy_name", 64, &bad), *from = arg_str(in, "start_date", 10, &bad);
	char *to = arg_str(in, "end_date", 10, &bad), *op = NULL;
	jv syms = token_list(in, "symbols"), tfs = token_list(in, "timeframes"), body, resp = jv_null(), r;

	*err = 1;
	if (bad || !name || !strategy_name_ok(name) || !jv_is_valid(syms) || !jv_is_valid(tfs) ||
	    (from && !date_ok(from)) || (to && !date_ok(to))) {
		r = fail("start_training needs strategy_name (a saved strategy), symbols and timeframes "
			 "(1 to 20 short names each), and dates as YYYY-MM-DD");
		goto out;
	}
	r = session_check(c, "designing", name, "starting training", e);
	if (jv_is_valid(r))
		goto out;
	body = jv_object();
	body = json_set(body, "symbols", jv_copy(syms));
	body = json_set(body, "timeframes", jv_copy(tfs));
	body = json_set(body, "strategy_name", jv_string(name));
	if (from)
		body = json_set(body, "start_date", jv_string(from));
	if (to)
		body = json_set(body, "end_date", jv_string(to));
	r = start_operation(c, "/trainings/start", body, &op, &resp, e);
	if (jv_is_valid(r))
		goto out;
	if (c->session_id) {
		ch->stmt = "move";
		ch->from = "designing";
		ch->to = "training";
		ch->fields = json_set(jv_object(), "training_operation_id", jv_string(op));
	}
	*err = 0;
	r = json_set(json_set(json_set(json_set(jv_object(), "success", jv_true()),
		"operation_id", jv_string(op)), "status", json_get(jv_copy(resp), "status")),
		"strategy_name", jv_string(name));
out:
	jv_free(resp);
	jv_free(syms);
	jv_free(tfs);
	free(name);
	free(from);
	free(to);
	free(op);
	return r;
}

/* A model path as training returns it (models/{strategy}/{tf}_v{N}):
 * relative, [A-Za-z0-9_./-], no ".." component. */
static int model_path_ok(const char *p)
{
	if (!*p || *p == '/' || strstr(p, "..") || strlen(p) > 512)
		return 0;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_./-", *p))
			return 0;
	return 1;
}

static jv t_start_backtest(struct tools_ctx *c, jv in, int *err, struct change *ch, struct err *e)
{
	int bad = 0;
	char *name = arg_str(in, "strategy_name", 64, &bad), *sym = arg_str(in, "symbol", 32, &bad);
	char *tf = arg_str(in, "timeframe", 32, &bad), *from = arg_str(in, "start_date", 10, &bad);
	char *to = arg_str(in, "end_date", 10, &bad), *op = NULL;
	char *model = arg_str(in, "model_path", 512, &bad);
	jv cap = json_get(jv_copy(in), "initial_capital"), body, resp = jv_null(), r;

	*err = 1;
	if (bad || !name || !strategy_name_ok(name) || !sym || !token_ok(sym) || !tf || !token_ok(tf) ||
	    (model && !model_path_ok(model)) ||
	    !date_ok(from) || !date_ok(to) || strcmp(from, to) >= 0 ||
	    (jv_is_valid(cap) && jv_get_kind(cap) != JV_KIND_NULL &&
	     (jv_get_kind(cap) != JV_KIND_NUMBER || !(jv_number_value(cap) > 0) ||
	      jv_number_value(cap) > 1e12))) {
		r = fail("start_backtest needs strategy_name, symbol, timeframe, start_date < end_date "
			 "(YYYY-MM-DD) and, optionally, a positive initial_capital and the model_path "
			 "training returned");
		goto out;
	}
	r = session_check(c, "backtesting", name, "starting a backtest", e);
	if (jv_is_valid(r))
		goto out;
	body = jv_object();
	body = json_set(body, "strategy_name", jv_string(name));
	body = json_set(body, "symbol", jv_string(sym));
	body = json_set(body, "timeframe", jv_string(tf));
	body = json_set(body, "start_date", jv_string(from));
	body = json_set(body, "end_date", jv_string(to));
	if (jv_get_kind(cap) == JV_KIND_NUMBER)
		body = json_set(body, "initial_capital", jv_copy(cap));
	/* BacktestStartRequest.model_path: "explicit model path, for v3 models" */
	if (model)
		body = json_set(body, "model_path", jv_string(model));
	r = start_operation(c, "/backtests/start", body, &op, &resp, e);
	if (jv_is_valid(r))
		goto out;
	if (c->session_id) {
		ch->stmt = "session_set_backtest_op";
		ch->params = jv_array();
		ch->params = jv_array_append(ch->params, jv_number((double)c->session_id));
		ch->params = jv_array_append(ch->params, jv_string(op));
		ch->params = jv_array_append(ch->params, jv_number((double)c->now));
	}
	*err = 0;
	r = json_set(json_set(json_set(jv_object(), "success", jv_true()),
		"operation_id", jv_string(op)), "strategy_name", jv_string(name));
out:
	jv_free(resp);
	jv_free(cap);
	free(name);
	free(sym);
	free(tf);
	free(from);
	free(to);
	free(model);
	free(op);
	return r;
}

static jv t_operation(struct tools_ctx *c, jv in, int *err, struct err *e)
{
	int bad = 0;
	char *id = arg_str(in, "operation_id", 128, &bad);
	jv op, r;

	*err = 1;
	if (bad || !id || !backend_id_ok(id)) {
		free(id);
		return fail("operation_id must be an operation id such as op_training_...");
	}
	if (backend_operation(c->backend, id, &op, e)) {
		r = fail("%s", e->msg);
	} else {
		*err = 0;
		r = jv_object();
		r = json_set(r, "operation_id", json_get(jv_copy(op), "operation_id"));
		r = json_set(r, "operation_type", json_get(jv_copy(op), "operation_type"));
		r = json_set(r, "status", json_get(jv_copy(op), "status"));
		r = json_set(r, "progress", json_get(jv_copy(op), "progress"));
		r = json_set(r, "error_message", json_get(jv_copy(op), "error_message"));
		r = json_set(r, "result_summary", json_get(jv_copy(op), "result_summary"));
		jv_free(op);
	}
	free(id);
	return r;
}

static int string_list_ok(jv in, const char *key)
{
	jv v = json_get(jv_copy(in), key);
	int n = jv_get_kind(v) == JV_KIND_ARRAY ? jv_array_length(jv_copy(v)) : 0, ok = n >= 1 && n <= 6;

	for (int i = 0; ok && i < n; i++) {
		jv x = jv_array_get(jv_copy(v), i);

		ok = jv_get_kind(x) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(x)) <= 2000;
		jv_free(x);
	}
	jv_free(v);
	return ok;
}

static jv t_assessment(struct tools_ctx *c, jv in, int *err, struct change *ch, struct err *e)
{
	int bad = 0;
	char *verdict = arg_str(in, "verdict", 32, &bad);
	jv r, a;

	*err = 1;
	if (bad || !verdict || (strcmp(verdict, "promising") && strcmp(verdict, "mediocre") &&
				strcmp(verdict, "poor")) ||
	    !string_list_ok(in, "strengths") || !string_list_ok(in, "weaknesses") ||
	    !string_list_ok(in, "suggestions")) {
		free(verdict);
		return fail("save_assessment needs verdict (promising, mediocre or poor) and strengths, "
			    "weaknesses and suggestions as lists of 1 to 6 strings");
	}
	r = session_check(c, "assessing", NULL, "saving an assessment", e);
	if (jv_is_valid(r)) {
		free(verdict);
		return r;
	}
	a = jv_object();
	a = json_set(a, "verdict", jv_string(verdict));
	a = json_set(a, "strengths", json_get(jv_copy(in), "strengths"));
	a = json_set(a, "weaknesses", json_get(jv_copy(in), "weaknesses"));
	a = json_set(a, "suggestions", json_get(jv_copy(in), "suggestions"));
	a = json_set(a, "assessed_at", jv_number((double)c->now));
	if (c->session_id) {
		ch->stmt = "move";
		ch->from = "assessing";
		ch->to = "idle";
		ch->fields = json_set(json_set(jv_object(), "outcome", jv_string("success")), "assessment", jv_copy(a));
	}
	jv_free(a);
	*err = 0;
	free(verdict);
	return json_set(json_set(jv_object(), "success", jv_true()), "message",
			jv_string("assessment saved; the research cycle is complete"));
}

/* --- operator tools: an executable gets the arguments on stdin */

static jv run_external(const char *name, jv in, int *err)
{
	const char *dir = getenv("AGENT_TOOLS_DIR"), *ts = getenv("AGENT_TOOL_TIMEOUT_SECONDS"), *tp;
	long timeout_ms = (ts && *ts ? strtol(ts, NULL, 10) : 30) * 1000;
	char exe[4400], tpvar[128], **envp, *input = json_dump(jv_copy(in)), *out = NULL;
	int inpipe[2], outpipe[2], status = 0;
	size_t len = 0, cap = 0, off = 0, inlen = input ? strlen(input) : 0;
	int64_t deadline;
	pid_t pid;
	jv r;

	*err = 1;
	if (timeout_ms <= 0 || timeout_ms > 3600000)
		timeout_ms = 30000;
	snprintf(exe, sizeof exe, "%s/%s", dir ? dir : ".", name);
	if (!input || pipe2(inpipe, O_CLOEXEC) < 0) {
		free(input);
		return fail("cannot run tool '%s'", name);
	}
	if (pipe2(outpipe, O_CLOEXEC) < 0) {
		close(inpipe[0]);
		close(inpipe[1]);
		free(input);
		return fail("cannot run tool '%s'", name);
	}
	tp = trace_child_traceparent();  /* the tool's spans go under execute_tool */
	if (tp)
		snprintf(tpvar, sizeof tpvar, "TRACEPARENT=%s", tp);
	/* the keys are not the tool's business */
	envp = env_without_secrets(tp ? tpvar : NULL);
	pid = envp ? fork() : -1;
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		char *const argv[] = { (char *)name, NULL };

		dup2(inpipe[0], 0);
		dup2(outpipe[1], 1);
		if (devnull >= 0)
			dup2(devnull, 2);
		setpgid(0, 0);
		execve(exe, argv, envp);
		_exit(127);
	}
	free(envp);
	close(inpipe[0]);
	close(outpipe[1]);
	if (pid < 0) {
		close(inpipe[1]);
		close(outpipe[0]);
		free(input);
		return fail("cannot run tool '%s'", name);
	}
	fcntl(inpipe[1], F_SETFL, O_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	deadline = clock_mono_us() + (int64_t)timeout_ms * 1000;
	for (;;) {
		struct pollfd p[2] = { { outpipe[0], POLLIN, 0 }, { inpipe[1], POLLOUT, 0 } };
		int nfds = off < inlen ? 2 : 1, left = (int)((deadline - clock_mono_us()) / 1000);

		if (off >= inlen && inpipe[1] >= 0) {
			close(inpipe[1]);
			inpipe[1] = -1;
		}
		if (left <= 0 || poll(p, (nfds_t)nfds, left) <= 0) {
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
			r = fail("tool '%s' timed out after %ld s", name, timeout_ms / 1000);
			goto done;
		}
		if (nfds == 2 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(inpipe[1], input + off, inlen - off);

			if (w > 0)
				off += (size_t)w;
			else
				off = inlen;  /* the tool stopped reading */
		}
		if (p[0].revents & (POLLIN | POLLHUP)) {
			char buf[8192];
			ssize_t n = read(outpipe[0], buf, sizeof buf);

			if (n <= 0)
				break;
			if (len + (size_t)n > MAX_TOOL_OUTPUT) {
				kill(-pid, SIGKILL);
				waitpid(pid, NULL, 0);
				r = fail("tool '%s' wrote more than %u bytes", name, MAX_TOOL_OUTPUT);
				goto done;
			}
			if (len + (size_t)n + 1 > cap) {
				char *grown;

				cap = (len + (size_t)n + 1) * 2;
				grown = realloc(out, cap);
				if (!grown) {
					kill(-pid, SIGKILL);
					waitpid(pid, NULL, 0);
					r = fail("tool '%s': out of memory", name);
					goto done;
				}
				out = grown;
			}
			memcpy(out + len, buf, (size_t)n);
			len += (size_t)n;
			out[len] = 0;
		}
	}
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		r = fail("tool '%s' failed (exit %d)", name, WIFEXITED(status) ? WEXITSTATUS(status) : 128);
	} else {
		struct err pe = ERR_INIT;

		if (json_parse(out ? out : "", len, &r, &pe))
			r = fail("tool '%s' did not print JSON", name);
		else
			*err = 0;
	}
done:
	if (inpipe[1] >= 0)
		close(inpipe[1]);
	close(outpipe[0]);
	free(out);
	free(input);
	return r;
}

static int external_exists(const char *name)
{
	const char *dir = getenv("AGENT_TOOLS_DIR");
	char p[4400];

	if (!dir || !*dir || !tool_name_ok(name))
		return 0;
	snprintf(p, sizeof p, "%s/%s.json", dir, name);
	if (access(p, R_OK))
		return 0;
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return access(p, X_OK) == 0;
}

/* At most MAX_RECORDED bytes of a value go into a row. */
static jv recorded(jv v)
{
	char *s = json_dump(jv_copy(v));
	size_t n = s ? strlen(s) : 0;

	free(s);
	if (n <= MAX_RECORDED)
		return v;
	jv_free(v);
	return json_set(json_set(jv_object(), "truncated", jv_true()), "bytes", jv_number((double)n));
}

int tools_run(struct tools_ctx *c, const char *use_id, const char *name, jv input,
	      jv *result, int *is_error, struct err *e)
{
	struct change ch = { NULL, jv_null(), NULL, NULL, jv_null() };
	int64_t t0 = clock_mono_us();
	char *dump = json_dump(jv_copy(input));
	size_t size = dump ? strlen(dump) : 0;
	int err = 0, rc;
	int span = trace_tool_start(name, use_id), ext = 0;
	jv r, p;

	free(dump);
	if (size > tools_max_input()) {
		err = 1;
		r = fail("the arguments are %zu bytes: more than the %zu allowed", size, tools_max_input());
	} else if (jv_get_kind(input) != JV_KIND_OBJECT) {
		err = 1;
		r = fail("the arguments must be a JSON object");
	} else if (!strcmp(name, "save_strategy_config")) {
		r = t_save_strategy(c, input, &err, &ch, e);
	} else if (!strcmp(name, "validate_strategy_config")) {
		r = t_validate(c, input, &err, e);
	} else if (!strcmp(name, "get_recent_strategies")) {
		r = t_recent(c, input, &err, e);
	} else if (!strcmp(name, "get_available_indicators")) {
		r = t_listing(c, "/indicators/", &err, e);
	} else if (!strcmp(name, "get_available_symbols")) {
		r = t_listing(c, "/symbols", &err, e);
	} else if (!strcmp(name, "start_training")) {
		r = t_start_training(c, input, &err, &ch, e);
	} else if (!strcmp(name, "start_backtest")) {
		r = t_start_backtest(c, input, &err, &ch, e);
	} else if (!strcmp(name, "get_operation_status")) {
		r = t_operation(c, input, &err, e);
	} else if (!strcmp(name, "save_assessment")) {
		r = t_assessment(c, input, &err, &ch, e);
	} else if (external_exists(name)) {
		ext = 1;
		r = run_external(name, input, &err);
	} else {
		err = 1;
		r = fail("unknown tool '%.64s'", name);
	}
	err_clear(e);
	/* the session change and the action row: one transaction */
	rc = store_begin(c->store, e);
	if (rc == 0 && ch.stmt) {
		int moved;

		if (!strcmp(ch.stmt, "move"))
			moved = session_move(c->store, c->session_id, ch.from, ch.to, jv_copy(ch.fields),
					     c->now, e) == 0;
		else
			moved = store_query(c->store, ch.stmt, jv_copy(ch.params), NULL, e) == 0 &&
				store_changes(c->store) == 1;
		if (!moved) {
			/* the cycle moved under us (cancelled?): the action is still recorded */
			store_rollback(c->store);
			err = 1;
			jv_free(r);
			r = fail("the research cycle changed while the tool ran");
			rc = store_begin(c->store, e);
		}
	}
	if (rc == 0) {
		char *msg = err ? json_string(r, "error") : NULL;

		p = jv_array();
		p = jv_array_append(p, jv_string(c->agent));
		p = jv_array_append(p, c->session_id ? jv_number((double)c->session_id) : jv_null());
		p = jv_array_append(p, c->invocation_id ? jv_number((double)c->invocation_id) : jv_null());
		p = jv_array_append(p, json_str_or_null(c->tick_id));
		p = jv_array_append(p, json_str_or_null(use_id));
		p = jv_array_append(p, jv_string(tool_name_ok(name) ? name : "_invalid"));
		p = jv_array_append(p, recorded(jv_copy(input)));
		p = jv_array_append(p, recorded(jv_copy(r)));
		p = jv_array_append(p, jv_bool(!err));
		p = jv_array_append(p, json_str_or_null(msg));
		p = jv_array_append(p, jv_number((double)((clock_mono_us() - t0) / 1000)));
		p = jv_array_append(p, jv_number((double)c->now));
		rc = store_query(c->store, "action_insert", p, NULL, e);
		free(msg);
	}
	if (rc == 0)
		rc = store_commit(c->store, e);
	else
		store_rollback(c->store);
	jv_free(ch.params);
	jv_free(ch.fields);
	jv_free(input);
	if (rc == 0) {
		/* the domain event: the tool and how it went, never its arguments */
		jv m = jv_object();

		m = json_set(m, "agent", jv_string(c->agent));
		m = json_set(m, "tool", jv_string(tool_name_ok(name) ? name : "_invalid"));
		m = json_set(m, "status", jv_string(err ? "error" : "ok"));
		m = json_set(m, "latency_ms", jv_number((double)((clock_mono_us() - t0) / 1000)));
		m = json_set(m, "tool_use_id", json_str_or_null(use_id));
		if (ext)
			m = json_set(m, "extension", jv_true());
		trace_event("tool.call", c->session_id, m);
	}
	trace_tool_end(span, ext, err, rc);
	if (rc) {
		jv_free(r);
		return rc;
	}
	*result = r;
	*is_error = err;
	return 0;
}

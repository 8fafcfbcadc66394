/* sim_fault: faults on demand: which requests they hit, and how many times. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "sim_int.h"

static const char *const routes[] = {
	"messages", "count_tokens", "models", "anthropic", "backend", "trainings",
	"backtests", "operations", "indicators", "symbols", "training", "backtest",
	"batches", "all", NULL,
};

static const char *const keys[] = {
	"route", "method", "count", "probability", "status", "retry_after",
	"should_retry", "error_type", "error_code", "message", "latency_ms",
	"hang", "drop", "malformed", "truncated", "refusal", "category",
	"stream_error", "fail", "checkpoint", "unavailable_seconds", "tool_use", "pad_bytes",
	"bill_factor", NULL,
};

static int in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

static int prefix(const char *path, const char *p)
{
	return strncmp(path, p, strlen(p)) == 0;
}

static int route_matches(const char *route, const char *path)
{
	if (route[0] == '/')
		return prefix(path, route);
	if (prefix(path, "/_sim"))
		return 0;
	if (strcmp(route, "messages") == 0)
		return strcmp(path, "/v1/messages") == 0;
	if (strcmp(route, "count_tokens") == 0)
		return strcmp(path, "/v1/messages/count_tokens") == 0;
	if (strcmp(route, "models") == 0)
		return prefix(path, "/v1/models");
	if (strcmp(route, "anthropic") == 0)
		return prefix(path, "/v1/");
	if (strcmp(route, "backend") == 0)
		return prefix(path, "/api/v1/") || strcmp(path, "/api/v1") == 0;
	if (strcmp(route, "all") == 0)
		return 1;
	if (strcmp(route, "training") == 0 || strcmp(route, "backtest") == 0 ||
	    strcmp(route, "batches") == 0)
		return 0;
	{
		char p[80];

		snprintf(p, sizeof p, "/api/v1/%s", route);
		return prefix(path, p);
	}
}

/* Reads an optional member of the right kind; 1 when present, -1 when of the
 * wrong kind (e set), 0 when absent. */
static int get_bool(jv spec, const char *k, int *out, struct err *e)
{
	jv x = jv_object_get(jv_copy(spec), jv_string(k));
	jv_kind kind = jv_get_kind(x);

	jv_free(x);
	if (kind == JV_KIND_INVALID || kind == JV_KIND_NULL)
		return 0;
	if (kind != JV_KIND_TRUE && kind != JV_KIND_FALSE)
		return err_set(e, EX_USAGE, "fault: %s: expected true or false", k), -1;
	*out = kind == JV_KIND_TRUE;
	return 1;
}

static int get_num(jv spec, const char *k, double lo, double hi, int whole,
		   double *out, struct err *e)
{
	jv x = jv_object_get(jv_copy(spec), jv_string(k));
	jv_kind kind = jv_get_kind(x);
	double d;

	if (kind == JV_KIND_INVALID || kind == JV_KIND_NULL) {
		jv_free(x);
		return 0;
	}
	d = kind == JV_KIND_NUMBER ? jv_number_value(x) : NAN;
	jv_free(x);
	if (!isfinite(d) || d < lo || d > hi || (whole && d != floor(d)))
		return err_set(e, EX_USAGE, "fault: %s: expected a %s from %g to %g", k,
			       whole ? "whole number" : "number", lo, hi), -1;
	*out = d;
	return 1;
}

static int get_str(jv spec, const char *k, char *out, size_t size, struct err *e)
{
	jv x = jv_object_get(jv_copy(spec), jv_string(k));
	jv_kind kind = jv_get_kind(x);
	int rc = 0;

	if (kind == JV_KIND_STRING) {
		size_t n = (size_t)jv_string_length_bytes(jv_copy(x));

		if (n == 0 || n >= size)
			rc = (err_set(e, EX_USAGE, "fault: %s: expected 1 to %zu characters", k, size - 1), -1);
		else {
			memcpy(out, jv_string_value(x), n + 1);
			rc = 1;
		}
	} else if (kind != JV_KIND_INVALID && kind != JV_KIND_NULL) {
		rc = (err_set(e, EX_USAGE, "fault: %s: expected a string", k), -1);
	}
	jv_free(x);
	return rc;
}

static int parse(struct sim *s, jv spec, struct sim_fault *f, struct err *e)
{
	double d;
	int actions, b, r;
	jv ks;

	memset(f, 0, sizeof *f);
	f->count = 1;
	f->probability = 1;
	f->status = f->retry_after = f->should_retry = -1;
	if (jv_get_kind(spec) != JV_KIND_OBJECT)
		return err_set(e, EX_USAGE, "fault: expected a JSON object");
	ks = jv_keys(jv_copy(spec));
	for (int i = 0; i < jv_array_length(jv_copy(ks)); i++) {
		jv k = jv_array_get(jv_copy(ks), i);
		int ok = in_list(keys, jv_string_value(k));

		if (!ok)
			err_set(e, EX_USAGE, "fault: unknown field '%.60s'", jv_string_value(k));
		jv_free(k);
		if (!ok) {
			jv_free(ks);
			return EX_USAGE;
		}
	}
	jv_free(ks);
	if ((r = get_str(spec, "route", f->route, sizeof f->route, e)) < 0)
		return EX_USAGE;
	if (r == 0)
		return err_set(e, EX_USAGE, "fault: route is required");
	if (f->route[0] != '/' && !in_list(routes, f->route))
		return err_set(e, EX_USAGE, "fault: unknown route '%s'", f->route);
	if (get_str(spec, "method", f->method, sizeof f->method, e) < 0 ||
	    get_str(spec, "error_type", f->error_type, sizeof f->error_type, e) < 0 ||
	    get_str(spec, "error_code", f->error_code, sizeof f->error_code, e) < 0 ||
	    get_str(spec, "message", f->message, sizeof f->message, e) < 0 ||
	    get_str(spec, "category", f->category, sizeof f->category, e) < 0)
		return EX_USAGE;
	{
		/* a scripted reply: the model calls this tool with this input */
		jv tu = json_get(jv_copy(spec), "tool_use");

		if (jv_is_valid(tu) && jv_get_kind(tu) != JV_KIND_NULL) {
			char *text = NULL;
			jv name = json_get(jv_copy(tu), "name");

			if (jv_get_kind(tu) != JV_KIND_OBJECT || jv_get_kind(name) != JV_KIND_STRING) {
				jv_free(name);
				jv_free(tu);
				return err_set(e, EX_USAGE, "fault: tool_use must be {\"name\": string, \"input\": ...}");
			}
			jv_free(name);
			text = json_dump(jv_copy(tu));
			if (!text || strlen(text) >= sizeof f->tool_use) {
				free(text);
				jv_free(tu);
				return err_set(e, EX_USAGE, "fault: tool_use over %zu bytes (use pad_bytes)",
					       sizeof f->tool_use - 1);
			}
			snprintf(f->tool_use, sizeof f->tool_use, "%s", text);
			free(text);
		}
		jv_free(tu);
	}
	if ((r = get_num(spec, "pad_bytes", 0, 256e6, 1, &d, e)) < 0)
		return EX_USAGE;
	if (r)
		f->pad_bytes = d;
	if ((r = get_num(spec, "bill_factor", 0.001, 1000, 0, &d, e)) < 0)
		return EX_USAGE;
	if (r)
		f->bill_factor = d;
	if ((r = get_num(spec, "count", 0, 1e9, 1, &d, e)) < 0)
		return EX_USAGE;
	if (r)
		f->count = (int)d;
	if ((r = get_num(spec, "probability", 0, 1, 0, &d, e)) < 0)
		return EX_USAGE;
	if (r)
		f->probability = d;
	if ((r = get_num(spec, "status", 100, 599, 1, &d, e)) < 0)
		return EX_USAGE;
	if (r)
		f->status = (int)d;
	if ((r = get_num(spec, "retry_after", 0, 86400, 1, &d, e)) < 0)
		return EX_USAGE;
	if (r)
		f->retry_after = (int)d;
	if ((r = get_num(spec, "latency_ms", 0, 600000, 1, &d, e)) < 0)
		return EX_USAGE;
	if (r)
		f->latency_ms = (int)d;
	if ((r = get_num(spec, "unavailable_seconds", 0.001, 86400, 0, &d, e)) < 0)
		return EX_USAGE;
	if (r)
		f->unavailable_s = d;
	if ((r = get_bool(spec, "should_retry", &b, e)) < 0)
		return EX_USAGE;
	if (r)
		f->should_retry = b;
	if (get_bool(spec, "hang", &f->hang, e) < 0 || get_bool(spec, "drop", &f->drop, e) < 0 ||
	    get_bool(spec, "malformed", &f->malformed, e) < 0 ||
	    get_bool(spec, "truncated", &f->truncated, e) < 0 ||
	    get_bool(spec, "refusal", &f->refusal, e) < 0 ||
	    get_bool(spec, "stream_error", &f->stream_error, e) < 0 ||
	    get_bool(spec, "fail", &f->fail, e) < 0 ||
	    get_bool(spec, "checkpoint", &f->checkpoint, e) < 0)
		return EX_USAGE;

	actions = (f->tool_use[0] != 0) + (f->bill_factor > 0) + f->hang + f->drop + f->malformed + f->truncated + f->refusal +
		  f->stream_error + f->fail + (f->status >= 0 && f->unavailable_s == 0);
	if (actions > 1)
		return err_set(e, EX_USAGE, "fault: at most one of status, hang, drop, malformed, "
			       "truncated, refusal, stream_error, fail, tool_use, bill_factor");
	if (actions == 0 && f->latency_ms == 0 && f->unavailable_s == 0)
		return err_set(e, EX_USAGE, "fault: nothing to do (status, latency_ms, hang, drop, "
			       "malformed, truncated, refusal, stream_error, fail or unavailable_seconds)");
	if (f->unavailable_s > 0 && actions - (f->status >= 0) > 0)
		return err_set(e, EX_USAGE, "fault: unavailable_seconds combines with status only");
	{
		/* fail on "batches": the next batch expires instead of ending */
		int op_route = strcmp(f->route, "training") == 0 || strcmp(f->route, "backtest") == 0 ||
			       strcmp(f->route, "batches") == 0;
		int msg_route = strcmp(f->route, "messages") == 0 || strcmp(f->route, "/v1/messages") == 0;

		if (f->fail != op_route || (op_route && (f->latency_ms || f->unavailable_s)))
			return err_set(e, EX_USAGE, "fault: fail goes with the routes training and "
				       "backtest, and they take nothing else");
		if ((f->refusal || f->stream_error || f->bill_factor > 0) && !msg_route)
			return err_set(e, EX_USAGE, "fault: refusal, stream_error and bill_factor go with "
				       "the route messages");
	}
	if (f->checkpoint && !f->fail)
		return err_set(e, EX_USAGE, "fault: checkpoint goes with fail");
	if (f->status < 0 && (f->retry_after >= 0 || f->should_retry >= 0 || f->error_type[0] ||
			      f->error_code[0] || f->message[0]))
		return err_set(e, EX_USAGE, "fault: retry_after, should_retry, error_type, error_code "
			       "and message go with status");
	if (f->category[0] && !f->refusal)
		return err_set(e, EX_USAGE, "fault: category goes with refusal");
	if (f->unavailable_s > 0)
		f->until_mono = sim_mono_us() + (int64_t)(f->unavailable_s * 1e6);
	f->id = ++s->next_fault;
	return 0;
}

static jv fault_json(const struct sim_fault *f)
{
	jv v = jv_object();

	v = json_set(v, "id", jv_number(f->id));
	v = json_set(v, "route", jv_string(f->route));
	if (f->method[0])
		v = json_set(v, "method", jv_string(f->method));
	v = json_set(v, "count", jv_number(f->count));
	v = json_set(v, "used", jv_number(f->used));
	v = json_set(v, "remaining", f->count ? jv_number(f->count - f->used) : jv_null());
	if (f->probability < 1)
		v = json_set(v, "probability", jv_number(f->probability));
	if (f->status >= 0)
		v = json_set(v, "status", jv_number(f->status));
	if (f->retry_after >= 0)
		v = json_set(v, "retry_after", jv_number(f->retry_after));
	if (f->should_retry >= 0)
		v = json_set(v, "should_retry", jv_bool(f->should_retry));
	if (f->error_type[0])
		v = json_set(v, "error_type", jv_string(f->error_type));
	if (f->error_code[0])
		v = json_set(v, "error_code", jv_string(f->error_code));
	if (f->message[0])
		v = json_set(v, "message", jv_string(f->message));
	if (f->latency_ms)
		v = json_set(v, "latency_ms", jv_number(f->latency_ms));
#define FLAG(x) if (f->x) v = json_set(v, #x, jv_true())
	FLAG(hang); FLAG(drop); FLAG(malformed); FLAG(truncated); FLAG(refusal);
	FLAG(stream_error); FLAG(fail); FLAG(checkpoint);
#undef FLAG
	if (f->bill_factor > 0)
		v = json_set(v, "bill_factor", jv_number(f->bill_factor));
	if (f->tool_use[0]) {
		jv tu;
		struct err pe = ERR_INIT;

		if (json_parse(f->tool_use, strlen(f->tool_use), &tu, &pe) == 0)
			v = json_set(v, "tool_use", tu);
		if (f->pad_bytes > 0)
			v = json_set(v, "pad_bytes", jv_number(f->pad_bytes));
	}
	if (f->category[0])
		v = json_set(v, "category", jv_string(f->category));
	if (f->unavailable_s > 0) {
		double left = (double)(f->until_mono - sim_mono_us()) / 1e6;

		v = json_set(v, "unavailable_seconds", jv_number(f->unavailable_s));
		v = json_set(v, "unavailable_remaining_seconds", jv_number(left > 0 ? round(left * 1000) / 1000 : 0));
	}
	return v;
}

int sim_fault_add(struct sim *s, jv spec, jv *added, struct err *e)
{
	struct sim_fault f;
	int rc;

	if (s->nfaults >= SIM_MAX_FAULTS) {
		jv_free(spec);
		return err_set(e, EX_USAGE, "fault: table full (%d faults); clear it first", SIM_MAX_FAULTS);
	}
	rc = parse(s, spec, &f, e);
	jv_free(spec);
	if (rc)
		return rc;
	s->faults[s->nfaults++] = f;
	if (added)
		*added = fault_json(&f);
	return 0;
}

static int stage_of(const struct sim_fault *f)
{
	if (f->fail)
		return SIM_STAGE_OP;
	if (f->refusal || f->stream_error || f->tool_use[0] || f->bill_factor > 0)
		return SIM_STAGE_POST;
	return SIM_STAGE_PRE;
}

void sim_fault_take(struct sim *s, enum sim_stage stage, const char *path,
		    const char *method, int streaming, struct sim_hit *hit)
{
	int64_t now = sim_mono_us();
	int keep = 0;

	memset(hit, 0, sizeof *hit);
	for (int i = 0; i < s->nfaults; i++) {
		struct sim_fault *f = &s->faults[i];
		int gone = 0;

		if (f->unavailable_s > 0 && now >= f->until_mono) {
			gone = 1;   /* the window is over */
		} else if (stage_of(f) == (int)stage &&
			   (stage == SIM_STAGE_OP ? strcmp(f->route, path) == 0
						  : route_matches(f->route, path)) &&
			   (!f->method[0] || strcasecmp(f->method, method) == 0) &&
			   (!f->stream_error || streaming)) {
			int fire = 1;

			f->seen++;
			if (f->probability < 1)
				fire = sim_unit(&(uint64_t){ sim_hash(s->cfg.seed, 0xfa17u + (uint64_t)f->id,
								      f->seen) }) < f->probability;
			if (fire) {
				int acts = f->unavailable_s > 0 || f->latency_ms == 0 ||
					   f->status >= 0 || f->hang || f->drop || f->malformed ||
					   f->truncated || f->refusal || f->stream_error || f->fail ||
					   f->bill_factor > 0;

				if (acts && hit->action)
					goto next;  /* one action per request; the next may take it */
				hit->latency_ms += f->latency_ms;
				if (acts) {
					hit->action = 1;
					hit->f = *f;
				}
				if (f->unavailable_s == 0) {
					f->used++;
					gone = f->count > 0 && f->used >= f->count;
				}
			}
		}
next:
		if (!gone)
			s->faults[keep++] = *f;
	}
	s->nfaults = keep;
}

jv sim_fault_list(struct sim *s)
{
	jv a = jv_array();
	int64_t now = sim_mono_us();

	for (int i = 0; i < s->nfaults; i++)
		if (!(s->faults[i].unavailable_s > 0 && now >= s->faults[i].until_mono))
			a = jv_array_append(a, fault_json(&s->faults[i]));
	return a;
}

void sim_fault_clear(struct sim *s)
{
	s->nfaults = 0;
}

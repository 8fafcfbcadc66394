/* events: trace events to counters and histograms, with a scanner rather than a parser. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "obs/events.h"
#include "base/json.h"
#include "obs/prom.h"

#define MAX_LABELS 3
#define DEPTH_MAX 128
#define LABEL_MAX 256          /* bytes of one label value; longer ones are cut */
#define TURNS_MAX 65536        /* turns started and not yet ended, remembered */
#define DEFAULT_MAX_SERIES 1000

/* ---------------------------------------------------------------- series */

struct series {
	uint64_t hash;
	size_t off, len;       /* the key in the family's arena */
	uint64_t count;
	double sum;
	uint64_t *buckets;     /* nb + 1 of them, for a histogram */
};

struct family {
	const char *name, *help;
	int nlabels;
	const char *labels[MAX_LABELS];
	const double *bounds;
	size_t nb;
	struct series *tab;    /* open addressing; cap a power of two */
	size_t cap, n;
	char *keys;
	size_t klen, kcap;
	uint64_t folded;
};

static const double tool_bounds[] = { 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
static const double turn_bounds[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120 };

enum { M_EVENTS, M_ROUTES, M_HANDOFFS, M_TOOL_CALLS, M_TOOL_LATENCY, M_GUARDRAILS,
       M_SELFRAG, M_TURN_LATENCY, M_COUNT };

/*
 * The families and labels of the multi-agent event schema our users' agents
 * emit (the "seed 003" contract: agent_route_total{selected_agent}, ...),
 * labels in its order.  agent_tool_calls_total is also a family of the
 * store's own exposition (metrics_render.c), with the same meaning, type
 * and help: two processes' outputs, told apart by the job and instance
 * Prometheus gives each target (agent-metrics-agg(1), EVENT METRICS).
 */
static const struct family family_defs[M_COUNT] = {
	[M_EVENTS] = { "agent_events_total", "Trace events read, by event name.", 1, { "event" },
		       NULL, 0, NULL, 0, 0, NULL, 0, 0, 0 },
	[M_ROUTES] = { "agent_route_total", "Routing decisions, by the agent selected.", 1,
		       { "selected_agent" }, NULL, 0, NULL, 0, 0, NULL, 0, 0, 0 },
	[M_HANDOFFS] = { "agent_handoff_total", "Handoffs between agents.", 2,
			 { "from_agent", "to_agent" }, NULL, 0, NULL, 0, 0, NULL, 0, 0, 0 },
	[M_TOOL_CALLS] = { "agent_tool_calls_total", EVENTS_TOOL_CALLS_HELP, 3,
			   { "agent", "tool", "status" }, NULL, 0, NULL, 0, 0, NULL, 0, 0, 0 },
	[M_TOOL_LATENCY] = { "agent_tool_latency_seconds",
			     "Tool call latency in seconds, by agent and tool.", 2,
			     { "agent", "tool" }, tool_bounds, 10, NULL, 0, 0, NULL, 0, 0, 0 },
	[M_GUARDRAILS] = { "agent_guardrail_total",
			   "Guardrail decisions, by gate, decision and reason.", 3,
			   { "gate", "decision", "reason" }, NULL, 0, NULL, 0, 0, NULL, 0, 0, 0 },
	[M_SELFRAG] = { "agent_selfrag_decision_total",
			"Self-RAG (self-check) decisions, by decision and reason.", 2,
			{ "decision", "reason" }, NULL, 0, NULL, 0, 0, NULL, 0, 0, 0 },
	[M_TURN_LATENCY] = { "agent_turn_latency_seconds", "Turn latency in seconds.", 0,
			     { NULL }, turn_bounds, 10, NULL, 0, 0, NULL, 0, 0, 0 },
};

struct turn {
	uint64_t hash;
	char *key;             /* NULL: free slot */
	size_t len;
	int64_t start_us;
};

struct events {
	struct family fam[M_COUNT];
	size_t max_series;
	struct turn *turns;    /* TURNS_MAX slots, linear probing */
	size_t nturns;
	struct events_stats st;
	char scratch[8192];    /* decoded label values of the current line */
	size_t sused;
	int oom;
};

static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h ^ (h >> 29);
}

static int used(const struct series *s)
{
	return s->hash != 0;
}

static int grow_table(struct family *f)
{
	size_t cap = f->cap ? f->cap * 2 : 64;
	struct series *t = calloc(cap, sizeof *t);

	if (!t)
		return -1;
	for (size_t i = 0; i < f->cap; i++) {
		struct series *s = &f->tab[i];
		size_t j;

		if (!used(s))
			continue;
		for (j = s->hash & (cap - 1); used(&t[j]); j = (j + 1) & (cap - 1))
			;
		t[j] = *s;
	}
	free(f->tab);
	f->tab = t;
	f->cap = cap;
	return 0;
}

/* The series of key, created when new; NULL when the family is full (and
 * may_add is 0) or out of memory (ev->oom). */
static struct series *series_get(struct events *ev, struct family *f, const char *key, size_t len,
				 int may_add)
{
	uint64_t h = hash_bytes(key, len) | 1;  /* never 0: 0 marks a free slot */
	struct series *s;
	size_t i;

	if (f->cap) {
		for (i = h & (f->cap - 1); used(&f->tab[i]); i = (i + 1) & (f->cap - 1)) {
			s = &f->tab[i];
			if (s->hash == h && s->len == len && (!len || !memcmp(f->keys + s->off, key, len)))
				return s;
		}
	}
	if (!may_add)
		return NULL;
	if ((f->n + 1) * 2 > f->cap && grow_table(f)) {
		ev->oom = 1;
		return NULL;
	}
	if (f->klen + len > f->kcap) {
		size_t kc = f->kcap ? f->kcap : 4096;
		char *nk;

		while (kc < f->klen + len)
			kc *= 2;
		if (!(nk = realloc(f->keys, kc))) {
			ev->oom = 1;
			return NULL;
		}
		f->keys = nk;
		f->kcap = kc;
	}
	for (i = h & (f->cap - 1); used(&f->tab[i]); i = (i + 1) & (f->cap - 1))
		;
	s = &f->tab[i];
	memset(s, 0, sizeof *s);
	if (f->nb && !(s->buckets = calloc(f->nb + 1, sizeof *s->buckets))) {
		ev->oom = 1;
		return NULL;
	}
	s->hash = h;
	s->off = f->klen;
	s->len = len;
	if (len)
		memcpy(f->keys + f->klen, key, len);
	f->klen += len;
	f->n++;
	return s;
}

struct str {
	const char *p;
	size_t n;
};

/* The series for these label values, or the "_other" one when the family
 * is at its cap. */
static struct series *series_for(struct events *ev, int m, const struct str *v)
{
	struct family *f = &ev->fam[m];
	char key[MAX_LABELS * (LABEL_MAX + 4) + 16];
	size_t len = 0;
	struct series *s;

	for (int i = 0; i < f->nlabels; i++) {
		uint32_t n = (uint32_t)v[i].n;

		memcpy(key + len, &n, 4);
		memcpy(key + len + 4, v[i].p, n);
		len += 4 + n;
	}
	s = series_get(ev, f, key, len, f->n < ev->max_series);
	if (s || ev->oom)
		return s;
	f->folded++;
	len = 0;
	for (int i = 0; i < f->nlabels; i++) {
		uint32_t n = 6;

		memcpy(key + len, &n, 4);
		memcpy(key + len + 4, "_other", 6);
		len += 10;
	}
	return series_get(ev, f, key, len, 1);
}

static void count(struct events *ev, int m, const struct str *v)
{
	struct series *s = series_for(ev, m, v);

	if (s)
		s->count++;
}

static void observe(struct events *ev, int m, const struct str *v, double x)
{
	struct family *f = &ev->fam[m];
	struct series *s;
	size_t b = 0;

	if (!isfinite(x) || x < 0)
		return;
	if (!(s = series_for(ev, m, v)))
		return;
	while (b < f->nb && x > f->bounds[b])
		b++;
	s->buckets[b]++;
	s->count++;
	s->sum += x;
}

/* ---------------------------------------------------------------- scanner */

enum { V_NONE, V_STR, V_NUM, V_TRUE, V_FALSE, V_NULL, V_OTHER, V_OBJ };

struct val {
	int kind;
	const char *p;         /* string contents (no quotes), or the number's text */
	size_t n;
	int esc;               /* a string with escapes or bytes above 0x7f */
};

/* The fields wanted, from the top level and from metadata. */
enum { FD_EVENT, FD_TS, FD_TRACE, FD_SESSION, FD_TURN, FD_METADATA, FD_AGENT, FD_SELECTED,
       FD_FROM, FD_TO, FD_TOOL, FD_STATUS, FD_SUCCESS, FD_ERROR, FD_MS, FD_S, FD_GATE,
       FD_DECISION, FD_PASSED, FD_REASON, FD_COUNT };

static const struct {
	const char *name;
	int fd;
} field_names[] = {
	{ "event", FD_EVENT }, { "ts", FD_TS }, { "timestamp", FD_TS }, { "trace_id", FD_TRACE },
	{ "session_id", FD_SESSION }, { "turn_id", FD_TURN }, { "metadata", FD_METADATA },
	{ "agent", FD_AGENT }, { "agent_name", FD_AGENT }, { "selected_agent", FD_SELECTED },
	{ "target_agent", FD_SELECTED }, { "from_agent", FD_FROM }, { "to_agent", FD_TO },
	{ "tool", FD_TOOL }, { "tool_name", FD_TOOL }, { "status", FD_STATUS },
	{ "success", FD_SUCCESS }, { "error", FD_ERROR }, { "latency_ms", FD_MS },
	{ "duration_ms", FD_MS }, { "latency_s", FD_S }, { "duration_s", FD_S },
	{ "latency_seconds", FD_S }, { "duration_seconds", FD_S }, { "gate", FD_GATE },
	{ "guardrail", FD_GATE }, { "decision", FD_DECISION }, { "verdict", FD_DECISION },
	{ "result", FD_DECISION }, { "passed", FD_PASSED }, { "reason", FD_REASON },
	{ NULL, 0 }
};

struct scan {
	const char *p, *end;
	const char *why;
	struct val top[FD_COUNT], meta[FD_COUNT];
};

static void ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int bad(struct scan *s, const char *why)
{
	if (!s->why)
		s->why = why;
	return -1;
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* At '"': checks the string, leaves p after its closing quote. */
static int scan_string(struct scan *s, struct val *v)
{
	const char *p = ++s->p;
	int esc = 0;

	for (;;) {
		const char *q = p;

		/* the common run of plain bytes */
		while (q < s->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20 &&
		       (unsigned char)*q < 0x80)
			q++;
		if (q >= s->end)
			return bad(s, "unterminated string");
		if (*q == '"') {
			v->kind = V_STR;
			v->p = s->p;
			v->n = (size_t)(q - s->p);
			v->esc = esc;
			s->p = q + 1;
			return 0;
		}
		if ((unsigned char)*q < 0x20)
			return bad(s, "control character in a string");
		esc = 1;
		if ((unsigned char)*q >= 0x80) {
			p = q + 1;
			continue;
		}
		/* a backslash */
		if (q + 1 >= s->end)
			return bad(s, "unterminated string");
		switch (q[1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			p = q + 2;
			break;
		case 'u':
			if (q + 5 >= s->end || hexval(q[2]) < 0 || hexval(q[3]) < 0 || hexval(q[4]) < 0 ||
			    hexval(q[5]) < 0)
				return bad(s, "bad \\u escape");
			p = q + 6;
			break;
		default:
			return bad(s, "bad escape in a string");
		}
		if (p > s->end)
			return bad(s, "unterminated string");
	}
}

static int scan_number(struct scan *s, struct val *v)
{
	const char *p = json_number_end(s->p, s->end), *start = s->p;

	if (!p)
		return bad(s, "bad number");
	v->kind = V_NUM;
	v->p = start;
	v->n = (size_t)(p - start);
	v->esc = 0;
	s->p = p;
	return 0;
}

static int scan_word(struct scan *s, const char *w, int kind, struct val *v)
{
	size_t n = strlen(w);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n))
		return bad(s, "not JSON");
	s->p += n;
	v->kind = kind;
	return 0;
}

static int field_of(const struct val *k)
{
	if (k->esc)
		return -1;  /* the names wanted need no escapes */
	for (int i = 0; field_names[i].name; i++)
		if (strlen(field_names[i].name) == k->n && !memcmp(field_names[i].name, k->p, k->n))
			return field_names[i].fd;
	return -1;
}

static int scan_value(struct scan *s, struct val *v, int depth, struct val *fields);

/* At '{': the members; with fields, the wanted ones are kept there. */
static int scan_object(struct scan *s, int depth, struct val *fields, int top)
{
	struct val k, v;

	if (depth > DEPTH_MAX)
		return bad(s, "nested too deep");
	s->p++;
	ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return 0;
	}
	for (;;) {
		int fd;

		ws(s);
		if (s->p >= s->end || *s->p != '"')
			return bad(s, "expected a member name");
		if (scan_string(s, &k))
			return -1;
		ws(s);
		if (s->p >= s->end || *s->p != ':')
			return bad(s, "expected ':'");
		s->p++;
		ws(s);
		fd = fields ? field_of(&k) : -1;
		if (top && fd == FD_METADATA && s->p < s->end && *s->p == '{') {
			if (scan_object(s, depth + 1, s->meta, 0))
				return -1;
			fields[fd].kind = V_OBJ;
		} else {
			if (scan_value(s, &v, depth + 1, NULL))
				return -1;
			if (fd >= 0)
				fields[fd] = v;
		}
		ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == '}') {
			s->p++;
			return 0;
		}
		return bad(s, "expected ',' or '}'");
	}
}

static int scan_array(struct scan *s, int depth)
{
	struct val v;

	if (depth > DEPTH_MAX)
		return bad(s, "nested too deep");
	s->p++;
	ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return 0;
	}
	for (;;) {
		ws(s);
		if (scan_value(s, &v, depth + 1, NULL))
			return -1;
		ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (s->p < s->end && *s->p == ']') {
			s->p++;
			return 0;
		}
		return bad(s, "expected ',' or ']'");
	}
}

static int scan_value(struct scan *s, struct val *v, int depth, struct val *fields)
{
	if (s->p >= s->end)
		return bad(s, "truncated JSON");
	v->kind = V_OTHER;
	switch (*s->p) {
	case '{': return scan_object(s, depth, fields, 0);
	case '[': return scan_array(s, depth);
	case '"': return scan_string(s, v);
	case 't': return scan_word(s, "true", V_TRUE, v);
	case 'f': return scan_word(s, "false", V_FALSE, v);
	case 'n': return scan_word(s, "null", V_NULL, v);
	default: return scan_number(s, v);
	}
}

/* ---------------------------------------------------------------- values */

static void put_utf8(char *o, size_t *n, size_t max, unsigned cp)
{
	char b[4];
	size_t k;

	if (cp < 0x80) {
		b[0] = (char)cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	if (*n + k > max)
		return;
	memcpy(o + *n, b, k);
	*n += k;
}

/* Length of a valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (p[0] >= 0xe0 && p[0] <= 0xef) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f))
			return 0;
		return 3;
	}
	if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
			return 0;
		if ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* A string value decoded (escapes undone, bad UTF-8 as U+FFFD) into the
 * line's scratch space, cut at LABEL_MAX bytes. */
static struct str decode(struct events *ev, const struct val *v)
{
	char *o = ev->scratch + ev->sused;
	size_t room = sizeof ev->scratch - ev->sused, n = 0, max = room < LABEL_MAX ? room : LABEL_MAX;
	const unsigned char *p = (const unsigned char *)v->p, *end = p + v->n;
	struct str r;

	if (!v->esc) {
		r.p = v->p;
		r.n = v->n < LABEL_MAX ? v->n : LABEL_MAX;
		return r;
	}
	while (p < end && n < max) {
		if (*p == '\\') {
			unsigned cp;

			switch (p[1]) {
			case 'b': cp = '\b'; break;
			case 'f': cp = '\f'; break;
			case 'n': cp = '\n'; break;
			case 'r': cp = '\r'; break;
			case 't': cp = '\t'; break;
			case 'u':
				cp = (unsigned)(hexval(p[2]) << 12 | hexval(p[3]) << 8 | hexval(p[4]) << 4 |
						hexval(p[5]));
				p += 4;
				if (cp >= 0xd800 && cp <= 0xdbff && end - p >= 8 && p[2] == '\\' &&
				    p[3] == 'u') {
					unsigned lo = (unsigned)(hexval(p[4]) << 12 | hexval(p[5]) << 8 |
								 hexval(p[6]) << 4 | hexval(p[7]));

					if (lo >= 0xdc00 && lo <= 0xdfff) {
						cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
						p += 6;
					}
				}
				/* no lone surrogate, and no NUL in a label value */
				if ((cp >= 0xd800 && cp <= 0xdfff) || cp == 0)
					cp = 0xfffd;
				break;
			default: cp = p[1]; break;
			}
			put_utf8(o, &n, max, cp);
			p += 2;
		} else if (*p < 0x80) {
			o[n++] = (char)*p++;
		} else {
			size_t k = utf8_len(p, (size_t)(end - p));

			if (k == 0) {
				put_utf8(o, &n, max, 0xfffd);
				p++;
			} else {
				if (n + k > max)
					break;
				memcpy(o + n, p, k);
				n += k;
				p += k;
			}
		}
	}
	ev->sused += n;
	r.p = o;
	r.n = n;
	return r;
}

static const struct val *field(const struct scan *s, int fd)
{
	if (s->meta[fd].kind != V_NONE && s->meta[fd].kind != V_NULL)
		return &s->meta[fd];
	return &s->top[fd];
}

/* A label value from a field: strings decoded, numbers and booleans as
 * written; dflt when absent. */
static struct str label(struct events *ev, const struct scan *s, int fd, const char *dflt)
{
	const struct val *v = field(s, fd);
	struct str r = { dflt, strlen(dflt) };

	switch (v->kind) {
	case V_STR:
		r = decode(ev, v);
		if (r.n == 0)
			r.p = dflt, r.n = strlen(dflt);
		break;
	case V_NUM:
		r.p = v->p;
		r.n = v->n < LABEL_MAX ? v->n : LABEL_MAX;
		break;
	case V_TRUE: r.p = "true"; r.n = 4; break;
	case V_FALSE: r.p = "false"; r.n = 5; break;
	default: break;
	}
	return r;
}

static double number(const struct val *v)
{
	char buf[64];

	if (v->kind != V_NUM || v->n >= sizeof buf)
		return NAN;
	memcpy(buf, v->p, v->n);
	buf[v->n] = 0;
	return strtod(buf, NULL);
}

/* Latency in seconds from *_ms or *_s fields, NAN when there is none. */
static double latency(const struct scan *s)
{
	double v = number(field(s, FD_MS));

	if (!isnan(v))
		return v / 1000.0;
	return number(field(s, FD_S));
}

/* ---------------------------------------------------------------- classes */

enum { C_OTHER, C_ROUTE, C_HANDOFF, C_TOOL, C_GUARDRAIL, C_SELF_CHECK, C_TURN_START, C_TURN_END };

static const struct {
	const char *name;
	int cls;
} aliases[] = {
	{ "route", C_ROUTE }, { "routing", C_ROUTE }, { "routed", C_ROUTE },
	{ "route_selected", C_ROUTE }, { "router_selected", C_ROUTE },
	{ "routing_decision", C_ROUTE }, { "route_decision", C_ROUTE },
	{ "router_decision", C_ROUTE }, { "agent_route", C_ROUTE }, { "agent_routed", C_ROUTE },
	{ "handoff", C_HANDOFF }, { "hand_off", C_HANDOFF }, { "agent_handoff", C_HANDOFF },
	{ "handoff_decision", C_HANDOFF }, { "handoff_started", C_HANDOFF },
	{ "tool_call", C_TOOL }, { "tool_use", C_TOOL }, { "tool_result", C_TOOL },
	{ "tool_call_end", C_TOOL }, { "tool_end", C_TOOL }, { "tool", C_TOOL },
	{ "function_call", C_TOOL }, { "execute_tool", C_TOOL }, { "tool_called", C_TOOL },
	{ "guardrail", C_GUARDRAIL }, { "guardrail_decision", C_GUARDRAIL },
	{ "guardrail_check", C_GUARDRAIL }, { "guardrail_result", C_GUARDRAIL },
	{ "guardrail_triggered", C_GUARDRAIL }, { "guardrail_evaluated", C_GUARDRAIL },
	{ "self_check", C_SELF_CHECK }, { "selfcheck", C_SELF_CHECK },
	{ "self_check_decision", C_SELF_CHECK }, { "self_check_result", C_SELF_CHECK },
	{ "selfrag", C_SELF_CHECK }, { "selfrag_decision", C_SELF_CHECK },
	{ "self_rag", C_SELF_CHECK }, { "self_rag_decision", C_SELF_CHECK },
	{ "turn_start", C_TURN_START }, { "turn_begin", C_TURN_START },
	{ "turn_started", C_TURN_START },
	{ "turn_end", C_TURN_END }, { "turn_complete", C_TURN_END },
	{ "turn_completed", C_TURN_END }, { "turn_finished", C_TURN_END },
	{ "turn_ended", C_TURN_END }, { "turn", C_TURN_END },
	{ NULL, 0 }
};

static int classify(const struct str *name)
{
	char n[32];

	if (name->n >= sizeof n)
		return C_OTHER;
	for (size_t i = 0; i < name->n; i++) {
		char c = name->p[i];

		n[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c == '.' || c == '-' || c == ' ' ? '_' : c;
	}
	n[name->n] = 0;
	for (int i = 0; aliases[i].name; i++)
		if (!strcmp(aliases[i].name, n))
			return aliases[i].cls;
	return C_OTHER;
}

/* ---------------------------------------------------------------- turns */

/* The turn's key: trace, session and turn ids as written. */
static size_t turn_key(const struct scan *s, char *buf, size_t n)
{
	size_t len = 0;
	const int fds[] = { FD_TRACE, FD_SESSION, FD_TURN };

	for (int i = 0; i < 3; i++) {
		const struct val *v = &s->top[fds[i]];
		size_t k = v->kind == V_STR || v->kind == V_NUM ? v->n : 0;

		if (len + k + 1 > n)
			return 0;
		if (k)
			memcpy(buf + len, v->p, k);
		len += k;
		buf[len++] = '\x1f';
	}
	return s->top[FD_TURN].kind == V_STR || s->top[FD_TURN].kind == V_NUM ? len : 0;
}

static int64_t ts_us(const struct scan *s)
{
	const struct val *v = &s->top[FD_TS];
	char buf[64];
	int64_t us;
	double d;

	if (v->kind == V_STR && !v->esc && v->n < sizeof buf) {
		memcpy(buf, v->p, v->n);
		buf[v->n] = 0;
		return clock_parse(buf, &us) == 0 ? us : INT64_MIN;
	}
	d = number(v);
	if (isnan(d) || d < 0)
		return INT64_MIN;
	/* seconds, milliseconds or microseconds since the epoch */
	return (int64_t)(d < 1e11 ? d * 1e6 : d < 1e14 ? d * 1e3 : d);
}

static void turn_start(struct events *ev, const struct scan *s)
{
	char key[512];
	size_t len = turn_key(s, key, sizeof key), i;
	int64_t at = ts_us(s);
	uint64_t h;

	if (!len || at == INT64_MIN || ev->nturns >= TURNS_MAX / 2)
		return;
	h = hash_bytes(key, len) | 1;
	for (i = h & (TURNS_MAX - 1); ev->turns[i].key; i = (i + 1) & (TURNS_MAX - 1))
		if (ev->turns[i].hash == h && ev->turns[i].len == len &&
		    !memcmp(ev->turns[i].key, key, len)) {
			ev->turns[i].start_us = at;  /* started again: the later start counts */
			return;
		}
	if (!(ev->turns[i].key = malloc(len)))
		return;
	memcpy(ev->turns[i].key, key, len);
	ev->turns[i].hash = h;
	ev->turns[i].len = len;
	ev->turns[i].start_us = at;
	ev->nturns++;
}

/* The start of the turn, forgotten now; INT64_MIN when unknown. */
static int64_t turn_end(struct events *ev, const struct scan *s)
{
	char key[512];
	size_t len = turn_key(s, key, sizeof key), i, j;
	int64_t at;
	uint64_t h;

	if (!len)
		return INT64_MIN;
	h = hash_bytes(key, len) | 1;
	for (i = h & (TURNS_MAX - 1); ev->turns[i].key; i = (i + 1) & (TURNS_MAX - 1))
		if (ev->turns[i].hash == h && ev->turns[i].len == len &&
		    !memcmp(ev->turns[i].key, key, len))
			break;
	if (!ev->turns[i].key)
		return INT64_MIN;
	at = ev->turns[i].start_us;
	free(ev->turns[i].key);
	ev->turns[i].key = NULL;
	ev->nturns--;
	/* backward shift: keep every probe chain unbroken */
	for (j = (i + 1) & (TURNS_MAX - 1); ev->turns[j].key; j = (j + 1) & (TURNS_MAX - 1)) {
		size_t home = ev->turns[j].hash & (TURNS_MAX - 1);

		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			ev->turns[i] = ev->turns[j];
			ev->turns[j].key = NULL;
			i = j;
		}
	}
	return at;
}

/* ---------------------------------------------------------------- lines */

int events_new(struct events **out, size_t max_series, struct err *e)
{
	struct events *ev;

	*out = NULL;
	if (!max_series) {
		const char *v = getenv("AGENT_EVENTS_MAX_SERIES");
		char *end;
		long long n;

		max_series = DEFAULT_MAX_SERIES;
		if (v && *v) {
			errno = 0;
			n = strtoll(v, &end, 10);
			if (errno || *end || n < 1 || n > 10000000)
				return err_set(e, EX_PERM,
					       "AGENT_EVENTS_MAX_SERIES: not a whole number from 1 to 10000000: '%.40s'",
					       v);
			max_series = (size_t)n;
		}
	}
	ev = calloc(1, sizeof *ev);
	if (!ev || !(ev->turns = calloc(TURNS_MAX, sizeof *ev->turns))) {
		free(ev);
		return err_set(e, EX_TEMP, "out of memory");
	}
	memcpy(ev->fam, family_defs, sizeof ev->fam);
	ev->max_series = max_series;
	*out = ev;
	return 0;
}

void events_free(struct events *ev)
{
	if (!ev)
		return;
	for (int m = 0; m < M_COUNT; m++) {
		struct family *f = &ev->fam[m];

		for (size_t i = 0; i < f->cap; i++)
			free(f->tab[i].buckets);
		free(f->tab);
		free(f->keys);
	}
	for (size_t i = 0; i < TURNS_MAX; i++)
		free(ev->turns[i].key);
	free(ev->turns);
	free(ev);
}

static void malformed(struct events *ev, const char *why)
{
	ev->st.malformed++;
	if (!ev->st.first_bad_line) {
		ev->st.first_bad_line = ev->st.lines;
		snprintf(ev->st.first_bad, sizeof ev->st.first_bad, "%s", why);
	}
}

int events_line(struct events *ev, const char *line, size_t len, const char **why)
{
	struct scan s;
	struct str v[MAX_LABELS] = { { NULL, 0 } }, name;
	const struct val *ok;
	double lat;

	ev->st.lines++;
	memset(&s, 0, sizeof s);
	s.p = line;
	s.end = line + len;
	ws(&s);
	if (s.p == s.end)
		return 0;  /* a blank line is no event */
	if (*s.p != '{') {
		s.why = "not a JSON object";
	} else if (scan_object(&s, 0, s.top, 1) == 0) {
		ws(&s);
		if (s.p != s.end)
			s.why = "more than one JSON value on the line";
		else if (s.top[FD_EVENT].kind != V_STR || s.top[FD_EVENT].n == 0)
			s.why = "no \"event\" string";
		else if (s.top[FD_METADATA].kind != V_NONE && s.top[FD_METADATA].kind != V_NULL &&
			 s.top[FD_METADATA].kind != V_OBJ)
			s.why = "\"metadata\" is not an object";
	}
	if (s.why) {
		malformed(ev, s.why);
		if (why)
			*why = s.why;
		return 1;
	}
	ev->st.events++;
	ev->sused = 0;
	name = decode(ev, &s.top[FD_EVENT]);
	count(ev, M_EVENTS, &name);
	switch (classify(&name)) {
	case C_ROUTE:
		v[0] = label(ev, &s, s.meta[FD_SELECTED].kind || s.top[FD_SELECTED].kind ? FD_SELECTED
											  : FD_TO,
			     "unknown");
		count(ev, M_ROUTES, v);
		break;
	case C_HANDOFF:
		v[0] = label(ev, &s, FD_FROM, "unknown");
		v[1] = label(ev, &s, FD_TO, "unknown");
		count(ev, M_HANDOFFS, v);
		break;
	case C_TOOL:
		v[0] = label(ev, &s, FD_AGENT, "unknown");
		ok = field(&s, FD_SUCCESS);
		if (field(&s, FD_STATUS)->kind == V_STR)
			v[1] = label(ev, &s, FD_STATUS, "unknown");
		else if (ok->kind == V_TRUE || ok->kind == V_FALSE)
			v[1] = ok->kind == V_TRUE ? (struct str){ "ok", 2 } : (struct str){ "error", 5 };
		else if (field(&s, FD_ERROR)->kind != V_NONE && field(&s, FD_ERROR)->kind != V_NULL)
			v[1] = (struct str){ "error", 5 };
		else
			v[1] = (struct str){ "unknown", 7 };
		v[2] = v[1];
		v[1] = label(ev, &s, FD_TOOL, "unknown");
		count(ev, M_TOOL_CALLS, v);
		lat = latency(&s);
		if (!isnan(lat))
			observe(ev, M_TOOL_LATENCY, v, lat);
		break;
	case C_GUARDRAIL:
		ok = field(&s, FD_PASSED);
		if (field(&s, FD_DECISION)->kind == V_STR)
			v[0] = label(ev, &s, FD_DECISION, "unknown");
		else if (ok->kind == V_TRUE || ok->kind == V_FALSE)
			v[0] = ok->kind == V_TRUE ? (struct str){ "pass", 4 } : (struct str){ "fail", 4 };
		else
			v[0] = label(ev, &s, FD_DECISION, "unknown");
		v[1] = v[0];
		v[0] = label(ev, &s, FD_GATE, "unknown");
		v[2] = label(ev, &s, FD_REASON, "none");
		count(ev, M_GUARDRAILS, v);
		break;
	case C_SELF_CHECK:
		ok = field(&s, FD_PASSED);
		if (field(&s, FD_DECISION)->kind == V_STR)
			v[0] = label(ev, &s, FD_DECISION, "unknown");
		else if (ok->kind == V_TRUE || ok->kind == V_FALSE)
			v[0] = ok->kind == V_TRUE ? (struct str){ "pass", 4 } : (struct str){ "fail", 4 };
		else
			v[0] = label(ev, &s, FD_DECISION, "unknown");
		v[1] = label(ev, &s, FD_REASON, "none");
		count(ev, M_SELFRAG, v);
		break;
	case C_TURN_START:
		turn_start(ev, &s);
		break;
	case C_TURN_END: {
		int64_t start = turn_end(ev, &s), end;

		lat = latency(&s);
		if (isnan(lat) && start != INT64_MIN && (end = ts_us(&s)) != INT64_MIN && end >= start)
			lat = (double)(end - start) / 1e6;
		if (!isnan(lat))
			observe(ev, M_TURN_LATENCY, v, lat);
		break;
	}
	default:
		break;
	}
	return 0;
}

int events_read(struct events *ev, int fd, const char *name, size_t limit, int strict,
		struct err *e)
{
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	int skipping = 0, rc = 0;

	if (!buf)
		return err_set(e, EX_TEMP, "out of memory");
	if (!limit)
		limit = 16u << 20;
	for (;;) {
		ssize_t n;
		char *p, *nl, *end;

		if (len == cap) {
			/* a line longer than the buffer */
			if (cap >= limit + 1) {
				skipping = 1;
				len = 0;
			} else {
				size_t nc = cap * 2 > limit + 1 ? limit + 1 : cap * 2;
				char *nb = realloc(buf, nc);

				if (!nb) {
					rc = err_set(e, EX_TEMP, "out of memory");
					break;
				}
				buf = nb;
				cap = nc;
			}
		}
		do
			n = read(fd, buf + len, cap - len);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			rc = err_set(e, EX_TEMP, "%s: read error: %s", name, strerror(errno));
			break;
		}
		if (n == 0) {
			/* the last line may lack its newline */
			if (len > 0 || skipping) {
				const char *why = "line too long";

				if (skipping) {
					ev->st.lines++;
					malformed(ev, why);
				} else if (events_line(ev, buf, len, &why) == 0) {
					why = NULL;
				}
				if (why && strict)
					rc = err_set(e, EX_DATA, "%s: line %llu: %s", name,
						     (unsigned long long)ev->st.lines, why);
			}
			break;
		}
		p = buf;
		end = buf + len + (size_t)n;
		while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			const char *why = NULL;
			int badline;

			if (skipping) {
				ev->st.lines++;
				malformed(ev, "line too long");
				why = "line too long";
				badline = 1;
				skipping = 0;
			} else if ((size_t)(nl - p) > limit) {
				ev->st.lines++;
				malformed(ev, "line too long");
				why = "line too long";
				badline = 1;
			} else {
				badline = events_line(ev, p, (size_t)(nl - p), &why);
			}
			if (badline && strict) {
				rc = err_set(e, EX_DATA, "%s: line %llu: %s", name,
					     (unsigned long long)ev->st.lines, why);
				goto out;
			}
			p = nl + 1;
		}
		len = (size_t)(end - p);
		if (skipping)
			len = 0;
		else
			memmove(buf, p, len);
		if (ev->oom) {
			rc = err_set(e, EX_TEMP, "out of memory");
			break;
		}
	}
out:
	free(buf);
	if (rc == 0 && ev->oom)
		rc = err_set(e, EX_TEMP, "out of memory");
	return rc;
}

void events_stats(const struct events *ev, struct events_stats *st)
{
	*st = ev->st;
	st->folded = 0;
	for (int m = 0; m < M_COUNT; m++)
		st->folded += ev->fam[m].folded;
	st->max_series = ev->max_series;
}

/* ---------------------------------------------------------------- render */

struct sorted {
	const struct family *f;
	const struct series *s;
};

/* Label by label, each value in byte order. */
static int key_cmp(const void *a, const void *b)
{
	const struct sorted *x = a, *y = b;
	const char *p = x->f->keys + x->s->off, *q = y->f->keys + y->s->off;

	for (int l = 0; l < x->f->nlabels; l++) {
		uint32_t n, m;
		int c;

		memcpy(&n, p, 4);
		memcpy(&m, q, 4);
		c = memcmp(p + 4, q + 4, n < m ? n : m);
		if (c || n != m)
			return c ? c : (n > m) - (n < m);
		p += 4 + n;
		q += 4 + m;
	}
	return 0;
}

/* ns_name, or name alone for no namespace or "agent" (no agent_agent_). */
static void prefixed(char *buf, size_t n, const char *ns, const char *name)
{
	if (!ns || !*ns || !strcmp(ns, "agent"))
		snprintf(buf, n, "%s", name);
	else
		snprintf(buf, n, "%s_%s", ns, name);
}

int events_render(struct events *ev, const char *ns, struct prom *out, struct err *e)
{
	char name[160], vals[MAX_LABELS][LABEL_MAX + 1];

	for (int m = 0; m < M_COUNT; m++) {
		struct family *f = &ev->fam[m];
		struct sorted *v = calloc(f->n ? f->n : 1, sizeof *v);
		size_t k = 0;

		if (!v)
			return err_set(e, EX_TEMP, "out of memory");
		for (size_t i = 0; i < f->cap; i++)
			if (used(&f->tab[i]))
				v[k++] = (struct sorted){ f, &f->tab[i] };
		qsort(v, k, sizeof *v, key_cmp);
		prefixed(name, sizeof name, ns, f->name);
		prom_family(out, name, f->nb ? "histogram" : "counter", f->help);
		for (size_t i = 0; i < k; i++) {
			const char *pairs[2 * MAX_LABELS + 1];
			/* a family without labels has no key bytes, nor keys */
			const char *key = f->keys ? f->keys + v[i].s->off : "";
			size_t off = 0;

			for (int l = 0; l < f->nlabels; l++) {
				uint32_t n;

				memcpy(&n, key + off, 4);
				memcpy(vals[l], key + off + 4, n);
				vals[l][n] = 0;  /* a value with a NUL in it ends there */
				off += 4 + n;
				pairs[2 * l] = f->labels[l];
				pairs[2 * l + 1] = vals[l];
			}
			pairs[2 * f->nlabels] = NULL;
			if (f->nb)
				prom_histogram(out, name, pairs, NULL, f->bounds, v[i].s->buckets, f->nb,
					       v[i].s->sum);
			else
				prom_sample(out, name, NULL, pairs, NULL, NULL, (double)v[i].s->count);
		}
		free(v);
	}
	prefixed(name, sizeof name, ns, "agent_events_malformed_total");
	prom_family(out, name, "counter", "Lines that were not a JSON object with an \"event\" string.");
	prom_sample(out, name, NULL, NULL, NULL, NULL, (double)ev->st.malformed);
	prefixed(name, sizeof name, ns, "agent_events_folded_total");
	prom_family(out, name, "counter",
		    "Events counted under \"_other\" label values because their metric had reached AGENT_EVENTS_MAX_SERIES label sets.");
	for (int m = 0; m < M_COUNT; m++) {
		char metric[160];
		const char *pairs[] = { "metric", metric, NULL };

		prefixed(metric, sizeof metric, ns, ev->fam[m].name);
		prom_sample(out, name, NULL, pairs, NULL, NULL, (double)ev->fam[m].folded);
	}
	return prom_failed(out) ? err_set(e, EX_TEMP, "out of memory") : 0;
}

/* trace: spans in memory, JSONL lines as they end, one OTLP/HTTP JSON export at exit. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "net/http.h"
#include "base/json.h"
#include "net/trace.h"

#define MAX_SPANS 8192
#define MAX_ATTRS 128
#define MAX_VALUE 4096           /* bytes of one string attribute */
#define SCOPE "agent-toolkit"

struct span {
	unsigned char trace[16], id[8], parent[8];
	int has_parent, kind, open, error;
	char *name, *status_msg;
	int64_t start_ns, end_ns, mono_start;
	jv attrs;                    /* key -> OTLP AnyValue */
	int nattrs;
};

static struct {
	int inited, on;
	char command[64];
	char *service;               /* service.name */
	unsigned char in_trace[16], in_span[8];
	int has_in;
	char in_tp[64];              /* the TRACEPARENT we got, for pass-through */
	char *url;                   /* the traces endpoint, NULL: no OTLP export */
	char *jsonl;                 /* AGENT_TRACE_JSONL_PATH */
	int jsonl_fd;
	char jsonl_err[200];
	char cfg_err[200];           /* a setting that was malformed and ignored */
	long timeout_ms;
	jv resource;                 /* OTLP KeyValue array */
	jv headers;                  /* array of "Name: value" strings */
	struct span *spans;
	int n, cap, exported, dropped;
	char child_tp[64];
	int64_t t0_real, t0_mono;    /* trace_init: the process span's start */
	int perr;                    /* trace_fail(0, ...): the process span's error */
	char perr_type[24], perr_msg[512];
} T;

/* --- time, ids, hex */

static int64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void random_bytes(unsigned char *b, size_t n)
{
	static uint64_t fallback;
	size_t got = 0;
	int zero = 1;

	while (got < n) {
		ssize_t r = getrandom(b + got, n - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got < n) {
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			ssize_t r = read(fd, b + got, n - got);

			got += r > 0 ? (size_t)r : 0;
			close(fd);
		}
	}
	/* no entropy at all: ids must still differ from each other */
	for (; got < n; got++) {
		fallback += 0x9e3779b97f4a7c15ULL ^ (uint64_t)real_ns() ^ ((uint64_t)getpid() << 32);
		b[got] = (unsigned char)(fallback >> 29);
	}
	for (size_t i = 0; i < n; i++)
		zero &= b[i] == 0;
	if (zero)
		b[n - 1] = 1;  /* all-zero ids are invalid */
}

static void hex(char *out, const unsigned char *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = 0;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* n bytes from 2n lower-case hex digits (W3C allows no upper case); -1 when
 * malformed or all zero. */
static int unhex(const char *s, unsigned char *b, size_t n)
{
	int zero = 1;

	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		b[i] = (unsigned char)(hi << 4 | lo);
		zero &= b[i] == 0;
	}
	return zero ? -1 : 0;
}

/* W3C traceparent: 00-<32 hex>-<16 hex>-<2 hex>; a later version may add
 * fields after a dash.  All-zero ids and version ff are invalid. */
static int parse_tp(const char *s, unsigned char trace[16], unsigned char span[8], int *flags)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
		return -1;
	if (hexval(s[0]) < 0 || hexval(s[1]) < 0 || !strncmp(s, "ff", 2))
		return -1;
	if (!strncmp(s, "00", 2) ? n != 55 : n > 55 && s[55] != '-')
		return -1;
	if (hexval(s[53]) < 0 || hexval(s[54]) < 0)
		return -1;
	if (unhex(s + 3, trace, 16) < 0 || unhex(s + 36, span, 8) < 0)
		return -1;
	*flags = hexval(s[53]) << 4 | hexval(s[54]);
	return 0;
}

static void tp_of(char out[64], const unsigned char trace[16], const unsigned char span[8])
{
	char t[33], s[17];

	hex(t, trace, 16);
	hex(s, span, 8);
	snprintf(out, 64, "00-%s-%s-01", t, s);
}

/* --- k=v,k=v lists (W3C baggage syntax, values percent-encoded) */

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = 0;
	return s;
}

static int pct_decode(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (*r == '%') {
			unsigned char c;

			if (!isxdigit((unsigned char)r[1]) || !isxdigit((unsigned char)r[2]))
				return -1;
			c = (unsigned char)((isdigit((unsigned char)r[1]) ? r[1] - '0' : (tolower(r[1]) - 'a' + 10)) << 4 |
					    (isdigit((unsigned char)r[2]) ? r[2] - '0' : (tolower(r[2]) - 'a' + 10)));
			if (c == 0)
				return -1;
			*w++ = (char)c;
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
	return 0;
}

/* Calls fn for each pair; -1 (and nothing kept by the caller) when the
 * list is malformed. */
static int each_pair(const char *list, int (*fn)(const char *k, const char *v, void *arg), void *arg)
{
	char *copy = strdup(list), *save = NULL;
	int rc = 0;

	if (!copy)
		return -1;
	for (char *item = strtok_r(copy, ",", &save); item && rc == 0; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '='), *k, *v;

		if (!*trim(item))
			continue;
		if (!eq) {
			rc = -1;
			break;
		}
		*eq = 0;
		k = trim(item);
		v = trim(eq + 1);
		if (!*k || pct_decode(k) < 0 || pct_decode(v) < 0)
			rc = -1;
		else
			rc = fn(k, v, arg);
	}
	free(copy);
	return rc;
}

static jv any_string(const char *s)
{
	return json_set(jv_object(), "stringValue", jv_string(s));
}

static jv keyvalue(const char *k, jv anyvalue)
{
	return json_set(json_set(jv_object(), "key", jv_string(k)), "value", anyvalue);
}

static int add_resource(const char *k, const char *v, void *arg)
{
	jv *obj = arg;

	*obj = json_set(*obj, k, any_string(v));
	return 0;
}

static int token_ok(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return 0;
	return 1;
}

static int add_header(const char *k, const char *v, void *arg)
{
	jv *arr = arg;

	/* a value may hold a secret; it may never smuggle a second header */
	if (!token_ok(k) || strpbrk(v, "\r\n"))
		return -1;
	*arr = jv_array_append(*arr, jv_string_fmt("%s: %s", k, v));
	return 0;
}

static void cfg_warn(const char *what)
{
	if (!T.cfg_err[0])
		snprintf(T.cfg_err, sizeof T.cfg_err, "%s", what);
}

/* --- init */

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

void trace_init(const char *command)
{
	const char *ep = env("OTEL_EXPORTER_OTLP_ENDPOINT"), *tep = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	const char *jl = env("AGENT_TRACE_JSONL_PATH"), *dis = env("OTEL_SDK_DISABLED");
	const char *tp = env("TRACEPARENT"), *s;
	jv res;
	int flags = 1;

	if (T.inited)
		return;
	T.inited = 1;
	T.jsonl_fd = -1;
	snprintf(T.command, sizeof T.command, "%s", command ? command : "agent");
	if (tp && parse_tp(tp, T.in_trace, T.in_span, &flags) == 0) {
		T.has_in = 1;
		snprintf(T.in_tp, sizeof T.in_tp, "%.55s", tp);
	}
	if ((!ep && !tep && !jl) || (dis && !strcasecmp(dis, "true")) || !(flags & 1))
		return;  /* off: nothing below runs, nothing is loaded */
	T.on = 1;
	T.t0_real = real_ns();
	T.t0_mono = mono_ns();
	T.resource = jv_array();
	T.headers = jv_array();
	if (tep) {
		T.url = strdup(tep);
	} else if (ep) {
		size_t n = strlen(ep);

		T.url = malloc(n + 12);
		if (T.url)
			snprintf(T.url, n + 12, "%s%s", ep, n && ep[n - 1] == '/' ? "v1/traces" : "/v1/traces");
	}
	if (jl)
		T.jsonl = strdup(jl);
	T.timeout_ms = 2000;
	if ((s = env("AGENT_OTLP_TIMEOUT_MS"))) {
		char *end;
		long v = strtol(s, &end, 10);

		if (*end || v < 1 || v > 60000)
			cfg_warn("AGENT_OTLP_TIMEOUT_MS: not a whole number from 1 to 60000: ignored");
		else
			T.timeout_ms = v;
	}
	if ((s = env("OTEL_EXPORTER_OTLP_PROTOCOL")) && strcmp(s, "http/json") && strcmp(s, "http/protobuf")) {
		cfg_warn("OTEL_EXPORTER_OTLP_PROTOCOL: only http/json is spoken: no export");
		free(T.url);
		T.url = NULL;
	}
	res = jv_object();
	if ((s = env("OTEL_RESOURCE_ATTRIBUTES")) && each_pair(s, add_resource, &res) < 0) {
		jv_free(res);
		res = jv_object();
		cfg_warn("OTEL_RESOURCE_ATTRIBUTES: malformed: ignored");
	}
	if ((s = env("OTEL_SERVICE_NAME")))
		res = json_set(res, "service.name", any_string(s));
	else if (!jv_object_has(jv_copy(res), jv_string("service.name")))
		res = json_set(res, "service.name", any_string("agent"));
	if (!jv_object_has(jv_copy(res), jv_string("service.version")))
		res = json_set(res, "service.version", any_string(AGENT_VERSION));
	res = json_set(res, "process.executable.name", any_string(T.command));
	res = json_set(res, "process.pid", json_set(jv_object(), "intValue", jv_string_fmt("%ld", (long)getpid())));
	{
		/* the key has dots: json_get would split it */
		jv sn = json_get(jv_object_get(jv_copy(res), jv_string("service.name")), "stringValue");

		T.service = strdup(jv_get_kind(sn) == JV_KIND_STRING ? jv_string_value(sn) : "agent");
		jv_free(sn);
	}
	jv_object_foreach(res, k, v) {
		T.resource = jv_array_append(T.resource, keyvalue(jv_string_value(k), v));
		jv_free(k);
	}
	jv_free(res);
	if ((s = env("OTEL_EXPORTER_OTLP_HEADERS")) && each_pair(s, add_header, &T.headers) < 0) {
		jv_free(T.headers);
		T.headers = jv_array();
		cfg_warn("OTEL_EXPORTER_OTLP_HEADERS: malformed: ignored");
	}
}

int trace_on(void)
{
	return T.on;
}

/* --- spans */

static struct span *get(int h)
{
	return T.on && h > T.exported && h <= T.n ? &T.spans[h - 1] : NULL;
}

int trace_current(void)
{
	if (!T.on)
		return 0;
	for (int i = T.n; i > T.exported; i--)
		if (T.spans[i - 1].open)
			return i;
	return 0;
}

static int new_span(const char *name, enum trace_kind kind, const unsigned char *trace,
		    const unsigned char *parent)
{
	struct span *s;

	if (T.n >= T.cap) {
		int cap = T.cap ? T.cap * 2 : 16;
		struct span *ns;

		if (T.n >= MAX_SPANS) {
			T.dropped++;
			return 0;
		}
		ns = realloc(T.spans, (size_t)cap * sizeof *ns);
		if (!ns) {
			T.dropped++;
			return 0;
		}
		T.spans = ns;
		T.cap = cap;
	}
	s = &T.spans[T.n];
	memset(s, 0, sizeof *s);
	s->name = strdup(name && *name ? name : "span");
	if (!s->name) {
		T.dropped++;
		return 0;
	}
	if (trace)
		memcpy(s->trace, trace, 16);
	else
		random_bytes(s->trace, 16);
	if (parent) {
		memcpy(s->parent, parent, 8);
		s->has_parent = 1;
	}
	random_bytes(s->id, 8);
	s->kind = kind;
	s->open = 1;
	s->attrs = jv_object();
	s->start_ns = real_ns();
	s->mono_start = mono_ns();
	return ++T.n;
}

int trace_start(const char *name, enum trace_kind kind)
{
	int cur;

	if (!T.on)
		return 0;
	if ((cur = trace_current()))
		return new_span(name, kind, T.spans[cur - 1].trace, T.spans[cur - 1].id);
	if (T.has_in)
		return new_span(name, kind, T.in_trace, T.in_span);
	return new_span(name, kind, NULL, NULL);
}

int trace_startf(enum trace_kind kind, const char *fmt, ...)
{
	char name[200];
	va_list ap;

	if (!T.on)
		return 0;
	va_start(ap, fmt);
	vsnprintf(name, sizeof name, fmt, ap);
	va_end(ap);
	return trace_start(name, kind);
}

int trace_start_under(const char *tp, const char *name, enum trace_kind kind)
{
	unsigned char trace[16], span[8];
	int flags;

	if (!T.on)
		return 0;
	if (tp && parse_tp(tp, trace, span, &flags) == 0)
		return new_span(name, kind, trace, span);
	return trace_start(name, kind);
}

static void set_attr(int h, const char *key, jv anyvalue)
{
	struct span *s = get(h);

	if (!s || !key || !*key) {
		jv_free(anyvalue);
		return;
	}
	if (!jv_object_has(jv_copy(s->attrs), jv_string(key))) {
		if (s->nattrs >= MAX_ATTRS) {
			jv_free(anyvalue);
			return;
		}
		s->nattrs++;
	}
	s->attrs = json_set(s->attrs, key, anyvalue);
}

static jv bounded_string(const char *v)
{
	size_t n = strlen(v);

	if (n <= MAX_VALUE)
		return jv_string(v);
	n = MAX_VALUE;
	while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
		n--;  /* not in the middle of a UTF-8 sequence */
	return jv_string_sized(v, (int)n);
}

void trace_str(int span, const char *key, const char *value)
{
	if (!get(span) || !value)
		return;
	set_attr(span, key, json_set(jv_object(), "stringValue", bounded_string(value)));
}

void trace_int(int span, const char *key, int64_t value)
{
	if (!get(span))
		return;
	set_attr(span, key, json_set(jv_object(), "intValue", jv_string_fmt("%lld", (long long)value)));
}

void trace_double(int span, const char *key, double value)
{
	if (!get(span) || !isfinite(value))
		return;  /* JSON has no NaN or infinity */
	set_attr(span, key, json_set(jv_object(), "doubleValue", jv_number(value)));
}

void trace_bool(int span, const char *key, int value)
{
	if (!get(span))
		return;
	set_attr(span, key, json_set(jv_object(), "boolValue", jv_bool(value)));
}

void trace_strs(int span, const char *key, const char *const *values, size_t n)
{
	jv arr;

	if (!get(span))
		return;
	arr = jv_array();
	for (size_t i = 0; i < n && i < MAX_ATTRS; i++)
		if (values[i])
			arr = jv_array_append(arr, json_set(jv_object(), "stringValue", bounded_string(values[i])));
	set_attr(span, key, json_set(jv_object(), "arrayValue", json_set(jv_object(), "values", arr)));
}

void trace_json(int span, const char *key, jv v)
{
	if (!get(span)) {
		jv_free(v);
		return;
	}
	switch (jv_get_kind(v)) {
	case JV_KIND_STRING:
		trace_str(span, key, jv_string_value(v));
		break;
	case JV_KIND_NUMBER: {
		double d = jv_number_value(v);

		if (d == floor(d) && fabs(d) < 9007199254740992.0)
			trace_int(span, key, (int64_t)d);
		else
			trace_double(span, key, d);
		break;
	}
	case JV_KIND_TRUE:
	case JV_KIND_FALSE:
		trace_bool(span, key, jv_get_kind(v) == JV_KIND_TRUE);
		break;
	case JV_KIND_ARRAY: {
		int n = jv_array_length(jv_copy(v));
		jv arr = jv_array();

		for (int i = 0; i < n && i < MAX_ATTRS; i++) {
			jv x = jv_array_get(jv_copy(v), i);

			if (jv_get_kind(x) == JV_KIND_STRING)
				arr = jv_array_append(arr, json_set(jv_object(), "stringValue",
								   bounded_string(jv_string_value(x))));
			jv_free(x);
		}
		set_attr(span, key, json_set(jv_object(), "arrayValue", json_set(jv_object(), "values", arr)));
		break;
	}
	default:
		break;
	}
	jv_free(v);
}

void trace_error(int span, const char *type, const char *message)
{
	struct span *s = get(span);

	if (!s)
		return;
	s->error = 1;
	if (message) {
		free(s->status_msg);
		s->status_msg = strndup(message, 512);
	}
	trace_str(span, "error.type", type && *type ? type : "_OTHER");
}

void trace_fail(int span, int code, const char *message)
{
	static const char *const types[] = { NULL, NULL, "usage", "bad_input", "temporary_failure",
					     "permanent_failure" };

	const char *type = code > 0 && code <= EX_PERM ? types[code] : "_OTHER";

	if (!T.on || code == EX_DONE || code == EX_NO)
		return;
	if (span == 0) {
		/* no span open: the process span trace_finish makes carries it */
		T.perr = 1;
		snprintf(T.perr_type, sizeof T.perr_type, "%s", type);
		if (message)
			snprintf(T.perr_msg, sizeof T.perr_msg, "%s", message);
		return;
	}
	trace_error(span, type, message);
}

/* --- JSONL: one line per span as it ends, one write(2) each */

static jv plain_value(jv any)
{
	jv out = jv_null();

	jv_object_foreach(any, k, v) {
		const char *key = jv_string_value(k);

		jv_free(out);
		if (!strcmp(key, "intValue")) {
			out = jv_number(strtod(jv_string_value(v), NULL));
			jv_free(v);
		} else if (!strcmp(key, "arrayValue")) {
			jv vals = json_get(v, "values"), arr = jv_array();
			int n = jv_get_kind(vals) == JV_KIND_ARRAY ? jv_array_length(jv_copy(vals)) : 0;

			for (int i = 0; i < n; i++)
				arr = jv_array_append(arr, plain_value(jv_array_get(jv_copy(vals), i)));
			jv_free(vals);
			out = arr;
		} else {
			out = v;
		}
		jv_free(k);
	}
	jv_free(any);
	return out;
}

/* One line onto AGENT_TRACE_JSONL_PATH (line consumed); the first failure
 * is kept for trace_finish and stops later writes. */
static void jsonl_append(jv line)
{
	char *text;
	size_t len;
	ssize_t w;

	if (!T.jsonl || T.jsonl_err[0]) {
		jv_free(line);
		return;
	}
	if (T.jsonl_fd < 0) {
		T.jsonl_fd = open(T.jsonl, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666);
		if (T.jsonl_fd < 0) {
			snprintf(T.jsonl_err, sizeof T.jsonl_err, "cannot open AGENT_TRACE_JSONL_PATH '%.100s': %s",
				 T.jsonl, strerror(errno));
			jv_free(line);
			return;
		}
	}
	text = json_dump(line);
	if (!text)
		return;
	len = strlen(text);
	text[len] = '\n';  /* json_dump's buffer ends in the NUL we overwrite */
	w = write(T.jsonl_fd, text, len + 1);
	if (w != (ssize_t)(len + 1))
		snprintf(T.jsonl_err, sizeof T.jsonl_err, "cannot append to AGENT_TRACE_JSONL_PATH '%.100s': %s",
			 T.jsonl, w < 0 ? strerror(errno) : "short write");
	free(text);
}

static void iso_ms(int64_t ns, char ts[40])
{
	struct tm tm;
	time_t secs = (time_t)(ns / 1000000000);

	gmtime_r(&secs, &tm);
	snprintf(ts, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ns / 1000000 % 1000));
}

static char event_turn[96];  /* the tick's id: the turn of events outside model turns */

void trace_set_turn(const char *turn)
{
	snprintf(event_turn, sizeof event_turn, "%s", turn ? turn : "");
}

void trace_event(const char *event, int64_t session_id, jv metadata)
{
	trace_event_turn(event, session_id, NULL, metadata);
}

void trace_event_turn(const char *event, int64_t session_id, const char *turn, jv metadata)
{
	char ts[40], trace[33], span[17];
	int cur;
	jv line;

	if (!T.on || !T.jsonl) {
		jv_free(metadata);
		return;
	}
	iso_ms(real_ns(), ts);
	cur = trace_current();
	line = jv_object();
	line = json_set(line, "ts", jv_string(ts));
	line = json_set(line, "event", jv_string(event));
	if (cur) {
		hex(trace, T.spans[cur - 1].trace, 16);
		hex(span, T.spans[cur - 1].id, 8);
	} else if (T.has_in) {
		hex(trace, T.in_trace, 16);
		hex(span, T.in_span, 8);
	}
	line = json_set(line, "trace_id", cur || T.has_in ? jv_string(trace) : jv_null());
	if (cur || T.has_in)
		line = json_set(line, "span_id", jv_string(span));
	line = json_set(line, "session_id", session_id > 0 ? jv_number((double)session_id) : jv_null());
	if (!turn || !*turn)
		turn = event_turn[0] ? event_turn : NULL;
	line = json_set(line, "turn_id", turn ? jv_string(turn) : jv_null());
	line = json_set(line, "service", jv_string(T.service ? T.service : "agent"));
	line = json_set(line, "command", jv_string(T.command));
	line = json_set(line, "metadata", metadata);
	jsonl_append(line);
}

static void jsonl_write(const struct span *s)
{
	char id[17], parent[17], trace[33], ts[40], start[24], end[24];
	jv line, attrs;

	if (!T.jsonl || T.jsonl_err[0])
		return;
	hex(id, s->id, 8);
	hex(parent, s->parent, 8);
	hex(trace, s->trace, 16);
	iso_ms(s->end_ns, ts);
	snprintf(start, sizeof start, "%lld", (long long)s->start_ns);
	snprintf(end, sizeof end, "%lld", (long long)s->end_ns);
	attrs = jv_object();
	jv_object_foreach(s->attrs, k, v) {
		attrs = jv_object_set(attrs, k, plain_value(v));
	}
	line = jv_object();
	line = json_set(line, "ts", jv_string(ts));
	line = json_set(line, "event", jv_string("span"));
	line = json_set(line, "trace_id", jv_string(trace));
	line = json_set(line, "span_id", jv_string(id));
	line = json_set(line, "parent_span_id", s->has_parent ? jv_string(parent) : jv_null());
	line = json_set(line, "name", jv_string(s->name));
	line = json_set(line, "kind", jv_string(s->kind == TRACE_CLIENT ? "client"
						 : s->kind == TRACE_SERVER ? "server" : "internal"));
	line = json_set(line, "start", jv_string(start));
	line = json_set(line, "end", jv_string(end));
	line = json_set(line, "duration_ms", jv_number((double)(s->end_ns - s->start_ns) / 1e6));
	line = json_set(line, "status", jv_string(s->error ? "error" : "unset"));
	if (s->error && s->status_msg)
		line = json_set(line, "status_message", jv_string(s->status_msg));
	line = json_set(line, "service", jv_string(T.service ? T.service : "agent"));
	line = json_set(line, "command", jv_string(T.command));
	{
		jv sid = jv_object_get(jv_copy(attrs), jv_string("agent.session.id"));

		if (jv_get_kind(sid) != JV_KIND_NUMBER) {
			/* a chat span has the session as its conversation id */
			jv c = jv_object_get(jv_copy(attrs), jv_string("gen_ai.conversation.id"));
			char *rest = NULL;
			long long n = jv_get_kind(c) == JV_KIND_STRING ? strtoll(jv_string_value(c), &rest, 10) : 0;

			jv_free(sid);
			sid = rest && !*rest && n > 0 ? jv_number((double)n) : jv_null();
			jv_free(c);
		}
		if (jv_get_kind(sid) == JV_KIND_NUMBER)
			line = json_set(line, "session_id", sid);
		else
			jv_free(sid);
	}
	line = json_set(line, "attributes", attrs);
	jsonl_append(line);
}

/* Ends the span at end_ns (INT64_MIN: now, by the monotonic clock). */
static void end_span(int span, int64_t end_ns)
{
	struct span *s = get(span);

	if (!s || !s->open)
		return;
	/* spans opened inside it and left open end with it, innermost first */
	for (int i = T.n; i > span; i--)
		end_span(i, INT64_MIN);
	s->open = 0;
	if (end_ns == INT64_MIN)
		s->end_ns = s->start_ns + (mono_ns() - s->mono_start);
	else
		s->end_ns = end_ns >= s->start_ns ? end_ns : s->start_ns;
	jsonl_write(s);
}

void trace_end(int span)
{
	end_span(span, INT64_MIN);
}

const char *trace_child_traceparent(void)
{
	int cur = trace_current();

	if (cur) {
		tp_of(T.child_tp, T.spans[cur - 1].trace, T.spans[cur - 1].id);
		return T.child_tp;
	}
	return T.has_in ? T.in_tp : NULL;
}

/* --- OTLP/HTTP JSON */

static jv span_json(const struct span *s)
{
	char id[17], parent[17], trace[33];
	jv o = jv_object(), attrs = jv_array(), status = jv_object();

	hex(id, s->id, 8);
	hex(parent, s->parent, 8);
	hex(trace, s->trace, 16);
	jv_object_foreach(s->attrs, k, v) {
		attrs = jv_array_append(attrs, keyvalue(jv_string_value(k), v));
		jv_free(k);
	}
	o = json_set(o, "traceId", jv_string(trace));
	o = json_set(o, "spanId", jv_string(id));
	if (s->has_parent)
		o = json_set(o, "parentSpanId", jv_string(parent));
	o = json_set(o, "name", jv_string(s->name));
	o = json_set(o, "kind", jv_number(s->kind));
	o = json_set(o, "startTimeUnixNano", jv_string_fmt("%lld", (long long)s->start_ns));
	o = json_set(o, "endTimeUnixNano", jv_string_fmt("%lld", (long long)s->end_ns));
	o = json_set(o, "attributes", attrs);
	status = json_set(status, "code", jv_number(s->error ? 2 : 0));
	if (s->error && s->status_msg)
		status = json_set(status, "message", jv_string(s->status_msg));
	o = json_set(o, "status", status);
	return o;
}

static char *payload(int from, int to)
{
	jv spans = jv_array(), scope, rs;

	for (int i = from; i < to; i++)
		spans = jv_array_append(spans, span_json(&T.spans[i]));
	scope = json_set(json_set(jv_object(), "name", jv_string(SCOPE)), "version", jv_string(AGENT_VERSION));
	rs = json_set(jv_object(), "resource", json_set(jv_object(), "attributes", jv_copy(T.resource)));
	rs = json_set(rs, "scopeSpans", jv_array_append(jv_array(),
		json_set(json_set(jv_object(), "scope", scope), "spans", spans)));
	return json_dump(json_set(jv_object(), "resourceSpans", jv_array_append(jv_array(), rs)));
}

/* One attempt: 0 when an answer came (its status in *status), -1 with msg. */
static int post_once(const char *const *hdrs, int n, const char *body, int64_t deadline,
		     long *status, double *retry_after, char *msg, size_t msgn)
{
	struct http_req req = { 0 };
	struct http_resp resp;
	struct err e = ERR_INIT;
	int64_t left = (deadline - mono_ns()) / 1000000;
	const char *all[66];

	/* lib/http posts to a local collector on a plain socket, without libcurl */
	*retry_after = -1;
	for (int i = 0; i < n && i < 63; i++)
		all[i] = hdrs[i];
	all[n < 63 ? n : 63] = "Content-Type: application/json";
	all[(n < 63 ? n : 63) + 1] = "Expect:";  /* no 100-continue wait on a large body */
	all[(n < 63 ? n : 63) + 2] = NULL;
	req.method = "POST";
	req.url = T.url;
	req.headers = all;
	req.body = body;
	req.body_len = strlen(body);
	req.timeout_ms = left > 0 ? (long)left : 1;
	req.connect_timeout_ms = req.timeout_ms;
	req.max_response = 1u << 20;
	if (http_do(&req, &resp, &e)) {
		/* e names the method and the path, never headers or credentials */
		if (strstr(e.msg, "timed out"))
			snprintf(msg, msgn, "POST %s: no answer within the %ld ms bound", http_path(T.url),
				 T.timeout_ms);
		else
			snprintf(msg, msgn, "%s", e.msg);
		return -1;
	}
	*status = resp.status;
	*retry_after = resp.retry_after;
	http_resp_release(&resp);
	return 0;
}

/* One POST, then more only on 429, 502, 503 and 504, all inside the bound. */
static int export(const char *body, char *msg, size_t msgn)
{
	int64_t deadline = mono_ns() + (int64_t)T.timeout_ms * 1000000;
	int n = jv_array_length(jv_copy(T.headers));
	const char **hdrs = calloc((size_t)n + 1, sizeof *hdrs);
	jv copies = jv_array();
	int rc = -1;

	if (!hdrs) {
		snprintf(msg, msgn, "out of memory");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		jv h = jv_array_get(jv_copy(T.headers), i);

		hdrs[i] = jv_string_value(h);
		copies = jv_array_append(copies, h);  /* keeps the string alive */
	}
	for (int attempt = 1;; attempt++) {
		double delay, retry_after;
		long status = 0;

		if (post_once(hdrs, n, body, deadline, &status, &retry_after, msg, msgn))
			break;
		if (status >= 200 && status < 300) {
			rc = 0;
			break;
		}
		snprintf(msg, msgn, "POST %s: HTTP %ld", http_path(T.url), status);
		if (status != 429 && status != 502 && status != 503 && status != 504)
			break;  /* 400, 413 and the rest: sending again would not help */
		/* Retry-After, else 100 ms doubling with jitter; only inside the bound */
		if (retry_after >= 0) {
			delay = retry_after * 1000;
		} else {
			unsigned char r;

			random_bytes(&r, 1);
			delay = 100.0 * (double)(1 << (attempt < 6 ? attempt - 1 : 5)) * (0.75 + r / 1020.0);
		}
		if (delay + 1 >= (double)((deadline - mono_ns()) / 1000000)) {
			snprintf(msg, msgn, "POST %s: HTTP %ld after %d attempt%s within the %ld ms bound",
				 http_path(T.url), status, attempt, attempt > 1 ? "s" : "", T.timeout_ms);
			break;
		}
		{
			struct timespec ts = { (time_t)(delay / 1000), (long)fmod(delay, 1000.0) * 1000000 };

			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
	}
	jv_free(copies);
	free(hdrs);
	return rc;
}

void trace_process_span(void)
{
	int h;

	if (!T.on || T.n > 0)
		return;
	h = trace_start(T.command, TRACE_INTERNAL);
	if (h) {
		T.spans[h - 1].start_ns = T.t0_real;
		T.spans[h - 1].mono_start = T.t0_mono;
		if (T.perr)
			trace_error(h, T.perr_type, T.perr_msg[0] ? T.perr_msg : NULL);
		trace_end(h);
	}
}

int trace_finish(struct err *e)
{
	char msg[300] = "";
	int to, rc = 0;

	if (!T.on || (T.n == T.exported && !T.jsonl_err[0]))
		return 0;  /* nothing recorded: nothing to send or to say */
	for (int i = T.n; i > T.exported; i--)
		trace_end(i);
	to = T.n;
	if (T.url && to > T.exported) {
		char *body = payload(T.exported, to);

		if (!body)
			snprintf(msg, sizeof msg, "out of memory");
		else if (export(body, msg, sizeof msg) == 0)
			msg[0] = 0;
		free(body);
	}
	for (int i = T.exported; i < to; i++) {
		free(T.spans[i].name);
		free(T.spans[i].status_msg);
		jv_free(T.spans[i].attrs);
		T.spans[i].name = T.spans[i].status_msg = NULL;
		T.spans[i].attrs = jv_null();
	}
	T.exported = to;
	if (msg[0] || T.jsonl_err[0] || T.cfg_err[0]) {
		rc = err_set(e, EX_TEMP, "trace%s%s%s%s%s%s", msg[0] ? " export: " : "", msg,
			     T.jsonl_err[0] ? ": " : "", T.jsonl_err, T.cfg_err[0] ? ": " : "", T.cfg_err);
		T.jsonl_err[0] = T.cfg_err[0] = 0;
	}
	if (T.jsonl_fd >= 0) {
		close(T.jsonl_fd);
		T.jsonl_fd = -1;
	}
	return rc;
}

/* --- agent-cycle's own span
 *
 * agent-cycle is a shell script: it names the tick's root span in
 * TRACEPARENT and leaves its start (and the caller's span, when it
 * continues a trace) in AGENT_TRACE_CYCLE="<start ns>[,<parent span id>]";
 * the last stage ends and exports it, so a tick's trace has its root. */
/* trace_cycle_span, the span's parent given (16 hex digits; NULL: from
 * AGENT_TRACE_CYCLE, as trace_cycle_span). */
static void cycle_span_under(const char *tick_id, const char *parent_hex, int status,
			     const char *stage)
{
	static int done;
	const char *v = getenv("AGENT_TRACE_CYCLE");
	unsigned char parent[8];
	int64_t now = real_ns(), start;
	struct span *sp;
	char *end;
	int h, has_parent = 0;

	if (!T.on || !T.has_in || done || !v || !*v)
		return;
	errno = 0;
	start = strtoll(v, &end, 10);
	if (errno || start <= 0 || (*end && *end != ','))
		return;
	if (parent_hex) {
		if (strlen(parent_hex) != 16 || unhex(parent_hex, parent, 8) < 0)
			return;
		has_parent = 1;
	} else if (*end == ',') {
		if (strlen(end + 1) != 16 || unhex(end + 1, parent, 8) < 0)
			return;
		has_parent = 1;
	}
	if (start > now)
		start = now;
	h = new_span("agent-cycle", TRACE_INTERNAL, T.in_trace, has_parent ? parent : NULL);
	if (!h)
		return;
	done = 1;
	sp = &T.spans[h - 1];
	memcpy(sp->id, T.in_span, 8);
	sp->start_ns = start;
	sp->mono_start = mono_ns() - (now - start);
	trace_str(h, "agent.tick.id", tick_id);
	if (status) {
		trace_fail(h, status, NULL);
		trace_str(h, "agent.tick.failed_stage", stage);
		trace_int(h, "agent.tick.failed_status", status);
	}
	trace_end(h);
}

void trace_cycle_span(const char *tick_id, int status, const char *stage)
{
	cycle_span_under(tick_id, NULL, status, stage);
}

/* --- research cycles: one trace per session */

void trace_adopt(const char *tp)
{
	unsigned char trace[16], span[8], old[16];
	int flags, have_old;

	if (!T.on || !tp || parse_tp(tp, trace, span, &flags) < 0)
		return;
	have_old = T.has_in || T.n > T.exported;
	if (T.has_in)
		memcpy(old, T.in_trace, 16);
	else if (T.n > T.exported)
		memcpy(old, T.spans[T.exported].trace, 16);
	for (int i = T.exported; have_old && i < T.n; i++)
		if (!memcmp(T.spans[i].trace, old, 16)) {
			memcpy(T.spans[i].trace, trace, 16);
			/* a root of this process joins under tp's span */
			if (!T.spans[i].has_parent && memcmp(T.spans[i].id, span, 8)) {
				memcpy(T.spans[i].parent, span, 8);
				T.spans[i].has_parent = 1;
			}
		}
	T.has_in = 1;
	memcpy(T.in_trace, trace, 16);
	memcpy(T.in_span, span, 8);
	snprintf(T.in_tp, sizeof T.in_tp, "%.55s", tp);
}

int trace_cycle_id(const char *trace_hex, const char *name, char out[17])
{
	unsigned char t[16], id[8];
	uint64_t h = 1469598103934665603ULL;

	out[0] = 0;
	if (!trace_hex || strlen(trace_hex) != 32 || unhex(trace_hex, t, 16) < 0)
		return -1;
	for (size_t i = 0; i < 16; i++)
		h = (h ^ t[i]) * 1099511628211ULL;
	for (const char *p = name ? name : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	if (!h)
		h = 1;  /* an all-zero span id is invalid */
	for (int i = 0; i < 8; i++)
		id[i] = (unsigned char)(h >> (56 - 8 * i));
	hex(out, id, 8);
	return 0;
}

int trace_span_at(const char *name, const char *trace_hex, const char *id_hex,
		  const char *parent_hex, int64_t start_ns)
{
	unsigned char trace[16], id[8], parent[8];
	struct span *sp;
	int h;

	if (!T.on || !trace_hex || !id_hex || strlen(trace_hex) != 32 || strlen(id_hex) != 16 ||
	    unhex(trace_hex, trace, 16) < 0 || unhex(id_hex, id, 8) < 0)
		return 0;
	if (parent_hex && (strlen(parent_hex) != 16 || unhex(parent_hex, parent, 8) < 0))
		return 0;
	h = new_span(name, TRACE_INTERNAL, trace, parent_hex ? parent : NULL);
	if (!h)
		return 0;
	sp = &T.spans[h - 1];
	memcpy(sp->id, id, 8);
	if (start_ns > 0 && start_ns <= sp->start_ns) {
		sp->mono_start -= sp->start_ns - start_ns;
		sp->start_ns = start_ns;
	}
	return h;
}

void trace_end_at(int span, int64_t end_ns)
{
	end_span(span, end_ns == INT64_MIN ? INT64_MIN + 1 : end_ns);
}

int64_t trace_tick_began_us(int64_t fallback_us)
{
	const char *v = getenv("AGENT_TRACE_CYCLE");
	char *end;
	long long ns;

	if (!v || !*v)
		return fallback_us;
	errno = 0;
	ns = strtoll(v, &end, 10);
	if (errno || ns <= 0 || (*end && *end != ',') || ns / 1000 > fallback_us)
		return fallback_us;
	return ns / 1000;
}

/* The session's phases in order: column, span name, the seeds' phase word. */
static const struct {
	const char *phase, *at, *span, *word;
} cycle_phases[] = {
	{ "designing", "designing_at", "agent.phase.design", "design" },
	{ "training", "training_at", "agent.phase.training", "training" },
	{ "backtesting", "backtesting_at", "agent.phase.backtest", "backtest" },
	{ "assessing", "assessing_at", "agent.phase.assessment", "assessment" },
};

static int cycle_phase_index(const char *phase)
{
	for (int i = 0; i < 4; i++)
		if (phase && !strcmp(phase, cycle_phases[i].phase))
			return i;
	return -1;
}

static void cycle_attrs(int h, jv session, int64_t sid)
{
	char *v;

	if ((v = json_string(session, "agent")))
		trace_str(h, "agent.name", v);
	free(v);
	trace_int(h, "agent.session.id", sid);
	if ((v = json_string(session, "strategy_name")))
		trace_str(h, "strategy.name", v);
	free(v);
}

void trace_cycle_tick(jv doc)
{
	char *tp, *found, *cur, *outcome, *tick, trace[33], id[17], parent[17], root[17];
	int64_t sid = 0, now = real_ns(), began = 0;
	int p0, curi, h, done;
	jv session;

	if (!T.on)
		return;
	tp = json_string(doc, "tick.traceparent");
	found = json_string(doc, "tick.session_phase");
	tick = json_string(doc, "tick.id");
	session = json_get(jv_copy(doc), "session");
	snprintf(trace, sizeof trace, "%.32s", tp && strlen(tp) >= 35 ? tp + 3 : "");
	if (!found || jv_get_kind(session) != JV_KIND_OBJECT || !json_int(session, "id", &sid) ||
	    trace_cycle_id(trace, "", root) < 0) {
		/* a tick that serves no session is a short trace of its own */
		trace_cycle_span(tick, 0, NULL);
		goto out;
	}
	p0 = cycle_phase_index(found);
	if (p0 < 0)
		p0 = 0;
	cur = json_string(session, "phase");
	outcome = json_string(session, "outcome");
	done = outcome && *outcome;
	curi = done ? 4 : cycle_phase_index(cur);
	if (curi < 0)
		curi = p0;
	/* the tick under the phase it found */
	trace_cycle_id(trace, cycle_phases[p0].span, parent);
	cycle_span_under(tick, parent, 0, NULL);
	now = real_ns();  /* the phases and the cycle end after their ticks */
	if (!json_int(session, "trace_started_us", &began) || began <= 0) {
		json_int(session, "created_at", &began);
		began *= 1000000;
	}
	{
		char *ev = json_string(doc, "event");

		if (ev && !strcmp(ev, "start_new_cycle"))
			trace_event("session.start", sid,
				    json_set(json_set(jv_object(), "agent", json_get(jv_copy(session), "agent")),
					     "phase", jv_string("designing")));
		free(ev);
	}
	/* the phases that ended in this tick, each with its real start */
	for (int q = p0; q < curi && q < 4; q++) {
		int64_t at = 0, next = 0;
		int has_next = 0;
		char *op = NULL;

		if (!json_int(session, cycle_phases[q].at, &at))
			continue;
		for (int r = q + 1; r < curi && r < 4 && !has_next; r++)
			has_next = json_int(session, cycle_phases[r].at, &next);
		trace_cycle_id(trace, cycle_phases[q].span, id);
		/* the design phase began with the cycle, in the creating tick */
		h = trace_span_at(cycle_phases[q].span, trace, id, root,
				  q == 0 && began > 0 ? began * 1000 : at * 1000000000);
		trace_str(h, "phase", cycle_phases[q].word);
		cycle_attrs(h, session, sid);
		if (q == 1)
			op = json_string(session, "training_operation_id");
		else if (q == 2)
			op = json_string(session, "backtest_operation_id");
		if (op && *op)
			trace_str(h, "operation.id", op);
		free(op);
		trace_end_at(h, has_next ? next * 1000000000 : now);
		{
			const char *to = "idle";
			jv m = json_set(jv_object(), "agent", json_get(jv_copy(session), "agent"));

			for (int r = q + 1; r < 4; r++)
				if (json_is_set(session, cycle_phases[r].at)) {
					to = cycle_phases[r].phase;
					break;
				}
			m = json_set(m, "from", jv_string(cycle_phases[q].phase));
			m = json_set(m, "to", jv_string(to));
			m = json_set(m, "seconds", jv_number((double)((has_next ? next * 1000000000 : now) / 1000000000 - at)));
			trace_event("phase.changed", sid, m);
		}
	}
	if (done) {
		int64_t in = 0, out = 0;
		double cost = 0;

		h = trace_span_at("agent.research_cycle", trace, root, NULL, began * 1000);
		cycle_attrs(h, session, sid);
		trace_int(h, "gen_ai.conversation.id", sid);
		trace_str(h, "outcome", outcome);
		trace_str(h, "agent.cycle.outcome", !strcmp(outcome, "success") ? "completed"
						    : !strcmp(outcome, "cancelled") ? "cancelled"
						    : "failed");
		if (json_int(doc, "metrics.input_tokens", &in)) {
			json_int(doc, "metrics.output_tokens", &out);
			trace_int(h, "tokens.input", in);
			trace_int(h, "tokens.output", out);
		}
		if (json_number(doc, "metrics.cost_usd", &cost))
			trace_double(h, "cost.usd", cost);
		if (outcome && strcmp(outcome, "success") && strcmp(outcome, "cancelled"))
			trace_error(h, outcome, NULL);
		trace_end_at(h, now);
		{
			jv m = json_set(jv_object(), "agent", json_get(jv_copy(session), "agent"));

			m = json_set(m, "outcome", jv_string(!strcmp(outcome, "success") ? "completed"
							     : !strcmp(outcome, "cancelled") ? "cancelled"
							     : "failed"));
			m = json_set(m, "detail", jv_string(outcome));
			m = json_set(m, "strategy", json_get(jv_copy(session), "strategy_name"));
			m = json_set(m, "failure_reason", json_get(jv_copy(session), "failure_reason"));
			m = json_set(m, "input_tokens", jv_number((double)in));
			m = json_set(m, "output_tokens", jv_number((double)out));
			m = json_set(m, "cost_usd", jv_number(cost));
			m = json_set(m, "seconds", jv_number((double)((now / 1000 - began) / 1000000)));
			trace_event("session.end", sid, m);
		}
	}
	free(cur);
	free(outcome);
out:
	jv_free(session);
	free(tp);
	free(found);
	free(tick);
}

void trace_release_span(const char *tick_id, const char *tp, const char *phase, int status,
			const char *stage)
{
	char trace[33], parent[17];
	int i = cycle_phase_index(phase);

	if (!T.on)
		return;
	if (!tp || strlen(tp) < 35) {
		trace_cycle_span(tick_id, status, stage);
		return;
	}
	snprintf(trace, sizeof trace, "%.32s", tp + 3);
	if (trace_cycle_id(trace, i >= 0 ? cycle_phases[i].span : "", parent) < 0) {
		trace_cycle_span(tick_id, status, stage);
		return;
	}
	trace_adopt(tp);
	cycle_span_under(tick_id, parent, status, stage);
}

void trace_cycle_ended(jv session, const char *phase_before)
{
	char tp[64], trace[33], *t;
	jv doc;

	if (!T.on || jv_get_kind(session) != JV_KIND_OBJECT) {
		jv_free(session);
		return;
	}
	t = json_string(session, "trace_id");
	snprintf(trace, sizeof trace, "%s", t ? t : "");
	free(t);
	{
		char root[17];

		/* this command's spans join the cycle, under its root */
		if (trace_cycle_id(trace, "", root) < 0) {
			jv_free(session);
			return;
		}
		snprintf(tp, sizeof tp, "00-%s-%s-01", trace, root);
		trace_adopt(tp);
	}
	doc = json_set(jv_object(), "tick", json_set(json_set(jv_object(), "traceparent", jv_string(tp)),
						     "session_phase", jv_string(phase_before ? phase_before : "")));
	doc = json_set(doc, "session", session);
	trace_cycle_tick(doc);
	jv_free(doc);
}

/* --- tick documents */

static void tick_common(int span, jv doc)
{
	int64_t sid;
	char *s;

	if ((s = json_string(doc, "tick.id")))
		trace_str(span, "agent.tick.id", s);
	free(s);
	if ((s = json_string(doc, "tick.agent")))
		trace_str(span, "agent.name", s);
	free(s);
	if (json_int(doc, "session.id", &sid))
		trace_int(span, "agent.session.id", sid);
}

static void trigger_attrs(int span, jv doc)
{
	static const char *const keys[] = { "event", "action", "reason" };
	char key[40];

	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		char *v = json_string(doc, keys[i]);

		snprintf(key, sizeof key, "agent.trigger.%s", keys[i]);
		trace_str(span, key, v);
		free(v);
	}
}

int trace_tick_start(const char *stage, jv doc)
{
	char *tp;
	int span;

	if (!T.on)
		return 0;
	tp = json_string(doc, "tick.traceparent");
	trace_adopt(tp);  /* the tick may be part of its session's trace */
	{
		char *id = json_string(doc, "tick.id");

		trace_set_turn(id);
		free(id);
	}
	span = trace_start_under(tp, stage, TRACE_INTERNAL);
	free(tp);
	/* as it came in; trace_tick_result overwrites with what the stage made of it */
	trace_tick_result(span, stage, doc);
	return span;
}

/* Gate check names come from editable rule files: keys keep [a-z0-9_]. */
void trace_gate(int span, jv gate)
{
	jv checks = json_get(jv_copy(gate), "checks");
	int n = jv_get_kind(checks) == JV_KIND_ARRAY ? jv_array_length(jv_copy(checks)) : 0;

	trace_json(span, "agent.gate.name", json_get(jv_copy(gate), "gate"));
	trace_json(span, "agent.gate.passed", json_get(jv_copy(gate), "passed"));
	trace_json(span, "agent.gate.reason", json_get(jv_copy(gate), "reason"));
	for (int i = 0; i < n; i++) {
		jv c = jv_array_get(jv_copy(checks), i);
		char *name = json_string(c, "name"), key[120];
		double t;

		if (name && strlen(name) <= 64) {
			for (char *p = name; *p; p++)
				if (!isalnum((unsigned char)*p) && *p != '_')
					*p = '_';
			if (json_number(c, "threshold", &t)) {
				snprintf(key, sizeof key, "agent.gate.threshold.%s", name);
				trace_double(span, key, t);
			}
			if (json_number(c, "value", &t)) {
				snprintf(key, sizeof key, "agent.gate.value.%s", name);
				trace_double(span, key, t);
			}
		}
		free(name);
		jv_free(c);
	}
	jv_free(checks);
}

/* dollars are always doubles, whole or not: one type per attribute */
static void usd(int span, const char *key, jv obj, const char *path)
{
	double d;

	if (json_number(obj, path, &d))
		trace_double(span, key, d);
}

void trace_tick_result(int span, const char *stage, jv doc)
{
	static const struct { const char *stage, *part; } parts[] = {
		{ "agent-gate", "gate" }, { "agent-budget", "budget" },
		{ "agent-invoke", "invocation" }, { "agent-metrics-agg", "metrics" },
	};
	const char *part = NULL;
	jv v;

	if (!get(span) || jv_get_kind(doc) != JV_KIND_OBJECT)
		return;
	tick_common(span, doc);
	if (!strcmp(stage, "agent-trigger")) {
		trigger_attrs(span, doc);
		return;
	}
	trace_json(span, "agent.tick.action", json_get(jv_copy(doc), "action"));
	trace_json(span, "agent.tick.reason", json_get(jv_copy(doc), "reason"));
	for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
		if (!strcmp(stage, parts[i].stage))
			part = parts[i].part;
	v = part ? json_get(jv_copy(doc), part) : jv_invalid();
	/* a document that did not concern the stage passed through it */
	trace_bool(span, "agent.stage.acted", jv_get_kind(v) == JV_KIND_OBJECT);
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		return;
	}
	if (!strcmp(part, "gate")) {
		trace_gate(span, v);
	} else if (!strcmp(part, "budget")) {
		usd(span, "agent.budget.remaining_usd", v, "remaining_usd");
		usd(span, "agent.budget.available_usd", v, "available_usd");
		usd(span, "agent.budget.estimate_usd", v, "estimate_usd");
		trace_json(span, "agent.budget.admitted", json_get(jv_copy(v), "admitted"));
	} else if (!strcmp(part, "invocation")) {
		static const char *const keys[] = { "kind", "status", "calls", "tool_calls",
						    "tool_errors" };
		char key[60];

		for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
			snprintf(key, sizeof key, "agent.invocation.%s", keys[i]);
			trace_json(span, key, json_get(jv_copy(v), keys[i]));
		}
		usd(span, "agent.invocation.cost_usd", v, "cost_usd");
	} else {
		trace_json(span, "agent.metrics.recorded", json_get(jv_copy(v), "recorded"));
		trace_json(span, "agent.session.outcome", json_get(jv_copy(v), "outcome"));
	}
	jv_free(v);
}

/* --- GenAI semantic conventions */

int trace_agent_start(const char *agent, int64_t session_id, const char *model)
{
	char name[160];
	int span;

	if (!T.on)
		return 0;
	snprintf(name, sizeof name, "invoke_agent %s", agent && *agent ? agent : "default");
	span = trace_start(name, TRACE_INTERNAL);
	trace_str(span, "gen_ai.operation.name", "invoke_agent");
	trace_str(span, "gen_ai.provider.name", "anthropic");
	trace_str(span, "gen_ai.agent.name", agent && *agent ? agent : "default");
	trace_str(span, "gen_ai.request.model", model);
	if (session_id) {
		char id[24];

		snprintf(id, sizeof id, "%lld", (long long)session_id);
		trace_str(span, "gen_ai.conversation.id", id);
		trace_int(span, "agent.session.id", session_id);
	}
	return span;
}

void trace_agent_end(int span, const char *kind, int64_t input_tokens, int64_t output_tokens,
		     const char *status, int rc, const char *message)
{
	if (!get(span))
		return;
	trace_str(span, "agent.invocation.kind", kind);
	trace_str(span, "phase", kind);  /* the seeds' name beside the conventions' */
	trace_int(span, "gen_ai.usage.input_tokens", input_tokens);
	trace_int(span, "gen_ai.usage.output_tokens", output_tokens);
	trace_int(span, "tokens.input", input_tokens);
	trace_int(span, "tokens.output", output_tokens);
	if (rc == 0 || rc == EX_NO)
		trace_str(span, "agent.invocation.status", rc ? "budget_exhausted" : status);
	trace_fail(span, rc, message);
	trace_end(span);
}

/* host and port of an http(s) URL; 0 when there is none */
static int server_of(const char *url, char *host, size_t n, long *port)
{
	const char *p = strstr(url, "://"), *end, *at, *colon;
	size_t len;

	if (!p)
		return 0;
	*port = !strncmp(url, "https", 5) ? 443 : 80;
	p += 3;
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(end - p));
	if (at)
		p = at + 1;  /* userinfo is never reported */
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (!close)
			return 0;
		len = (size_t)(close - p - 1);
		colon = close[1] == ':' ? close + 1 : NULL;
		p++;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		len = (size_t)((colon ? colon : end) - p);
	}
	if (len == 0 || len >= n)
		return 0;
	memcpy(host, p, len);
	host[len] = 0;
	if (colon && colon + 1 < end)
		*port = strtol(colon + 1, NULL, 10);
	return 1;
}

int trace_chat_start(const char *model, long max_tokens, const char *base_url, int64_t session_id)
{
	char name[200], host[256];
	long port;
	int span;

	if (!T.on)
		return 0;
	snprintf(name, sizeof name, "chat %s", model ? model : "");
	span = trace_start(name, TRACE_CLIENT);
	trace_str(span, "gen_ai.operation.name", "chat");
	trace_str(span, "gen_ai.provider.name", "anthropic");
	trace_str(span, "gen_ai.request.model", model);
	trace_int(span, "gen_ai.request.max_tokens", max_tokens);
	if (session_id) {
		char id[24];

		snprintf(id, sizeof id, "%lld", (long long)session_id);
		trace_str(span, "gen_ai.conversation.id", id);
	}
	if (base_url && server_of(base_url, host, sizeof host, &port)) {
		trace_str(span, "server.address", host);
		trace_int(span, "server.port", port);
	}
	return span;
}

/* One usage count: absent or null is 0; anything but a whole number from 0
 * to 1e12 is -1 (the span then carries no usage, as the ledger refuses it). */
static int64_t usage_count(jv u, const char *key)
{
	jv v = json_get(jv_copy(u), key);
	jv_kind k = jv_get_kind(v);
	double d = k == JV_KIND_NUMBER ? jv_number_value(v) : 0;

	jv_free(v);
	if (k == JV_KIND_INVALID || k == JV_KIND_NULL)
		return 0;
	if (k != JV_KIND_NUMBER || !(d >= 0 && d <= 1e12) || d != (double)(int64_t)d)
		return -1;
	return (int64_t)d;
}

/* The Messages API's usage object (net/ knows the wire; pricing reads the
 * same fields for money): a cache write is the larger of the total and the
 * 5m + 1h split. */
static int usage_counts(jv u, int64_t *in, int64_t *out, int64_t *rd, int64_t *w)
{
	int64_t total, w5, w1;

	if (jv_get_kind(u) != JV_KIND_OBJECT)
		return -1;
	*in = usage_count(u, "input_tokens");
	*out = usage_count(u, "output_tokens");
	*rd = usage_count(u, "cache_read_input_tokens");
	total = usage_count(u, "cache_creation_input_tokens");
	w5 = usage_count(u, "cache_creation.ephemeral_5m_input_tokens");
	w1 = usage_count(u, "cache_creation.ephemeral_1h_input_tokens");
	if (*in < 0 || *out < 0 || *rd < 0 || total < 0 || w5 < 0 || w1 < 0)
		return -1;
	*w = w1 + (total - w1 > w5 ? total - w1 : w5);
	return 0;
}

void trace_chat_end(int span, jv message, jv api_error, long http_status, int rc,
		    const char *message_text)
{
	if (!get(span))
		return;
	if (http_status > 0)
		trace_int(span, "http.response.status_code", http_status);
	if (rc == 0 && jv_get_kind(message) == JV_KIND_OBJECT) {
		jv usage = json_get(jv_copy(message), "usage"), stop = json_get(jv_copy(message), "stop_reason");
		int64_t in, out, rd, w;

		trace_json(span, "gen_ai.response.id", json_get(jv_copy(message), "id"));
		trace_json(span, "gen_ai.response.model", json_get(jv_copy(message), "model"));
		if (jv_get_kind(stop) == JV_KIND_STRING)
			trace_json(span, "gen_ai.response.finish_reasons", jv_array_append(jv_array(), stop));
		else
			jv_free(stop);
		if (usage_counts(usage, &in, &out, &rd, &w) == 0) {
			/* the Anthropic rule: input counts the cached prefix too */
			trace_int(span, "gen_ai.usage.input_tokens", in + rd + w);
			trace_int(span, "gen_ai.usage.output_tokens", out);
			trace_int(span, "tokens.input", in + rd + w);
			trace_int(span, "tokens.output", out);
			trace_int(span, "gen_ai.usage.cache_read.input_tokens", rd);
			trace_int(span, "gen_ai.usage.cache_creation.input_tokens", w);
		}
		jv_free(usage);
	} else if (rc) {
		jv type = jv_get_kind(api_error) == JV_KIND_OBJECT ? json_get(jv_copy(api_error), "type")
								 : jv_invalid();
		char status[24];
		const char *t = "_OTHER";

		if (jv_get_kind(type) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(type)) <= 64)
			t = jv_string_value(type);
		else if (message_text && strstr(message_text, "timed out"))
			t = "timeout";
		else if (http_status >= 300)
			t = (snprintf(status, sizeof status, "%ld", http_status), status);
		trace_error(span, t, message_text);
		jv_free(type);
	}
	trace_end(span);
}

int trace_tool_start(const char *name, const char *call_id)
{
	char sname[100];
	size_t n = name ? strlen(name) : 0;
	int ok = n > 0 && n <= 64, span;

	if (!T.on)
		return 0;
	for (size_t i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)name[i]) || name[i] == '_' || name[i] == '-';
	/* a name the model made up stays out of the span name */
	snprintf(sname, sizeof sname, "execute_tool%s%s", ok ? " " : "", ok ? name : "");
	span = trace_start(sname, TRACE_INTERNAL);
	trace_str(span, "gen_ai.operation.name", "execute_tool");
	if (name) {
		char tn[65];

		snprintf(tn, sizeof tn, "%s", name);
		trace_str(span, "gen_ai.tool.name", tn);
	}
	trace_str(span, "gen_ai.tool.call.id", call_id);
	return span;
}

void trace_tool_end(int span, int extension, int failed, int rc)
{
	if (!get(span))
		return;
	trace_str(span, "gen_ai.tool.type", extension ? "extension" : "function");
	if (rc)
		trace_fail(span, rc, "the tool call could not be recorded");
	else if (failed)
		trace_error(span, "tool_error", "the tool reported an error");
	trace_end(span);
}

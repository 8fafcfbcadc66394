/* anthropic: the Messages API on libcurl, plain JSON or server-sent events. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/anthropic.h"
#include "net/http.h"
#include "base/json.h"

#define MAX_RESPONSE HTTP_MAX_RESPONSE
#define MAX_ERROR_BODY (64u << 10)  /* what is kept of a streamed error answer */

static int read_key_file(const char *path, char *buf, size_t n, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return err_set(e, EX_PERM, "cannot read the key file '%s': %s", path, strerror(errno));
	got = read(fd, buf, n - 1);
	close(fd);
	if (got < 0)
		return err_set(e, EX_PERM, "cannot read the key file '%s'", path);
	buf[got] = 0;
	while (got > 0 && isspace((unsigned char)buf[got - 1]))
		buf[--got] = 0;
	return 0;
}

/* A key goes into a header: printable ASCII without spaces, or it would let
 * a bad value inject headers. */
static int key_ok(const char *k)
{
	if (!*k)
		return 0;
	for (; *k; k++)
		if (*k <= ' ' || *k > '~')
			return 0;
	return 1;
}

/* What every client of the API reads: ANTHROPIC_BASE_URL, ANTHROPIC_VERSION
 * and AGENT_TIMEOUT_SECONDS (default_ms when unset). */
static int endpoint_init(struct anthropic *a, long default_ms, struct err *e)
{
	const char *base = getenv("ANTHROPIC_BASE_URL"), *ver = getenv("ANTHROPIC_VERSION");
	const char *t = getenv("AGENT_TIMEOUT_SECONDS");
	size_t n;

	memset(a, 0, sizeof *a);
	snprintf(a->base, sizeof a->base, "%s", base && *base ? base : "https://api.anthropic.com");
	n = strlen(a->base);
	while (n && a->base[n - 1] == '/')
		a->base[--n] = 0;
	if (strncmp(a->base, "https://", 8) && strncmp(a->base, "http://", 7))
		return err_set(e, EX_PERM, "ANTHROPIC_BASE_URL must start with https:// or http://");
	snprintf(a->version, sizeof a->version, "%s", ver && *ver ? ver : "2026-10-21");
	if (!key_ok(a->version))
		return err_set(e, EX_PERM, "ANTHROPIC_VERSION is malformed");
	a->timeout_ms = default_ms;
	if (t && *t) {
		char *end;
		double s = strtod(t, &end);

		if (*end || s <= 0 || s > 3600)
			return err_set(e, EX_PERM, "AGENT_TIMEOUT_SECONDS: not 0 to 3600: '%.20s'", t);
		a->timeout_ms = (long)(s * 1000);
	}
	return 0;
}

/* A key from the variable `var`, else the file named by `var`_FILE, else
 * the systemd credential `cred_name`; key[0] is 0 when there is none. */
static int find_key(const char *var, const char *cred_name, char *key, size_t size,
		    struct err *e)
{
	char fvar[64], path[4200];
	const char *k = getenv(var), *kf, *cred = getenv("CREDENTIALS_DIRECTORY");

	snprintf(fvar, sizeof fvar, "%s_FILE", var);
	kf = getenv(fvar);
	key[0] = '\0';
	if (k && *k) {
		snprintf(key, size, "%s", k);
	} else if (kf && *kf) {
		if (read_key_file(kf, key, size, e))
			return e->code;
	} else if (cred && *cred) {
		snprintf(path, sizeof path, "%s/%s", cred, cred_name);
		if (access(path, R_OK) == 0 && read_key_file(path, key, size, e))
			return e->code;
	}
	return 0;
}

int anthropic_init(struct anthropic *a, struct err *e)
{
	const char *st = getenv("AGENT_STREAM"), *tok = getenv("ANTHROPIC_AUTH_TOKEN");
	char key[1024] = "";

	if (endpoint_init(a, 120000, e))
		return e->code;
	a->stream = st && *st ? (strcmp(st, "1") == 0 ? 1 : strcmp(st, "0") == 0 ? 0 : -1) : -1;
	if (find_key("ANTHROPIC_API_KEY", "anthropic_api_key", key, sizeof key, e))
		return e->code;
	if (key[0]) {
		if (!key_ok(key)) {
			explicit_bzero(key, sizeof key);
			return err_set(e, EX_PERM, "the API key is malformed (empty, or with spaces or control characters)");
		}
		snprintf(a->auth, sizeof a->auth, "x-api-key: %s", key);
	} else if (tok && *tok) {
		if (!key_ok(tok))
			return err_set(e, EX_PERM, "ANTHROPIC_AUTH_TOKEN is malformed");
		snprintf(a->auth, sizeof a->auth, "Authorization: Bearer %s", tok);
	} else {
		return err_set(e, EX_PERM, "no API key: set ANTHROPIC_API_KEY or ANTHROPIC_API_KEY_FILE "
			       "(or the systemd credential anthropic_api_key)");
	}
	explicit_bzero(key, sizeof key);
	return 0;
}

/*
 * The Usage & Cost Admin API takes an Admin API key (sk-ant-admin...), not
 * the key that sends messages, in x-api-key with anthropic-version
 * (platform.claude.com/docs/en/api/admin/usage_report/retrieve_messages, its
 * curl example; docs.anthropic.com/en/api/usage-cost-api).  Same sources as
 * the ordinary key: the environment, a file, or the systemd credential.
 */
int anthropic_admin_init(struct anthropic *a, struct err *e)
{
	char key[1024] = "";

	if (endpoint_init(a, 60000, e) ||
	    find_key("ANTHROPIC_ADMIN_KEY", "anthropic_admin_key", key, sizeof key, e))
		return e->code;
	if (!key[0])
		return err_set(e, EX_PERM, "no admin key: set ANTHROPIC_ADMIN_KEY or ANTHROPIC_ADMIN_KEY_FILE "
			       "(or the systemd credential anthropic_admin_key)");
	if (!key_ok(key)) {
		explicit_bzero(key, sizeof key);
		return err_set(e, EX_PERM, "the admin key is malformed (empty, or with spaces or control characters)");
	}
	snprintf(a->auth, sizeof a->auth, "x-api-key: %s", key);
	explicit_bzero(key, sizeof key);
	return 0;
}

/* The secret of the auth header line: after "x-api-key: " or "Bearer ". */
static const char *secret_of(const struct anthropic *a, size_t *n)
{
	const char *k = strchr(a->auth, ':');

	*n = 0;
	if (!k)
		return NULL;
	for (k++; *k == ' '; k++)
		;
	if (!strncmp(k, "Bearer ", 7))
		k += 7;
	*n = strlen(k);
	return k;
}

void anthropic_redact(const struct anthropic *a, char *s)
{
	size_t kn, sn = s ? strlen(s) : 0, min;
	const char *k = secret_of(a, &kn);

	if (!k || !kn || !sn)
		return;
	min = kn < 8 ? kn : 8;
	for (size_t i = 0; i + min <= sn; i++) {
		size_t best = 0;

		for (size_t j = 0; j + min <= kn; j++) {
			size_t m = 0;

			while (i + m < sn && j + m < kn && s[i + m] == k[j + m])
				m++;
			if (m > best)
				best = m;
		}
		if (best >= min) {
			memset(s + i, '*', best);
			i += best - 1;
		}
	}
}

/* An {type, message} error object with the key's pieces starred out. */
static jv redact_error(const struct anthropic *a, jv err)
{
	static const char *const keys[] = { "type", "message" };

	if (jv_get_kind(err) != JV_KIND_OBJECT)
		return err;
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		char *v = json_string(err, keys[i]);

		if (v) {
			anthropic_redact(a, v);
			err = json_set(err, keys[i], jv_string(v));
			free(v);
		}
	}
	return err;
}

void anthropic_release(struct anthropic *a)
{
	explicit_bzero(a->auth, sizeof a->auth);
}

void anthropic_call_release(struct anthropic_call *c)
{
	jv_free(c->message);
	jv_free(c->error);
	c->message = jv_null();
	c->error = jv_null();
}

/* --- server-sent events: the SDK's accumulation rules (reference (c)) */

struct sse {
	char *line;
	size_t len, cap;
	char event[64];
	char *data;
	size_t dlen, dcap;
	jv msg;            /* accumulating Message */
	jv partial;        /* per block index: concatenated partial_json strings */
	jv error;
	int done, bad;
	char why[200];
	char *raw;         /* the first MAX_ERROR_BODY bytes: an error answer's JSON */
	size_t rlen, rcap;
};

static int buf_add(char **b, size_t *len, size_t *cap, const char *p, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap * 2 : 1024;
		char *nb;

		while (c < *len + n + 1)
			c *= 2;
		if (c > MAX_RESPONSE)
			return -1;
		nb = realloc(*b, c);
		if (!nb)
			return -1;
		*b = nb;
		*cap = c;
	}
	memcpy(*b + *len, p, n);
	*len += n;
	(*b)[*len] = 0;
	return 0;
}

static void sse_fail(struct sse *s, const char *why)
{
	if (!s->bad)
		snprintf(s->why, sizeof s->why, "%s", why);
	s->bad = 1;
}

/* Overwrite usage counters that are present; never add (reference (c)). */
static jv usage_overlay(jv usage, jv delta)
{
	if (jv_get_kind(delta) != JV_KIND_OBJECT) {
		jv_free(delta);
		return usage;
	}
	if (jv_get_kind(usage) != JV_KIND_OBJECT) {
		jv_free(usage);
		usage = jv_object();
	}
	jv_object_foreach(delta, k, v) {
		if (jv_get_kind(v) == JV_KIND_NULL) {
			jv_free(k);
			jv_free(v);
			continue;
		}
		usage = jv_object_set(usage, k, v);
	}
	jv_free(delta);
	return usage;
}

static void sse_event(struct sse *s)
{
	jv d;
	struct err e = ERR_INIT;
	char *type;

	if (!s->data || s->dlen == 0 || s->bad)
		goto out;
	if (json_parse(s->data, s->dlen, &d, &e)) {
		sse_fail(s, "an event's data is not JSON");
		goto out;
	}
	type = json_string(d, "type");
	if (!type) {
		jv_free(d);
		goto out;
	}
	if (!strcmp(type, "message_start")) {
		jv m = json_get(jv_copy(d), "message");

		if (jv_get_kind(m) != JV_KIND_OBJECT) {
			jv_free(m);
			sse_fail(s, "message_start without a message");
		} else {
			jv_free(s->msg);
			s->msg = json_set(m, "content", jv_array());
		}
	} else if (!strcmp(type, "content_block_start")) {
		int64_t i = -1;
		jv block = json_get(jv_copy(d), "content_block");

		if (!json_int(d, "index", &i) || i < 0 || i > 1000 ||
		    jv_get_kind(block) != JV_KIND_OBJECT || json_kind_at(s->msg, "content") != JV_KIND_ARRAY) {
			jv_free(block);
			sse_fail(s, "content_block_start out of order");
		} else {
			jv content = json_get(jv_copy(s->msg), "content");

			content = jv_array_set(content, (int)i, block);
			s->msg = json_set(s->msg, "content", content);
			s->partial = jv_array_set(s->partial, (int)i, jv_string(""));
		}
	} else if (!strcmp(type, "content_block_delta")) {
		int64_t i = -1;
		char *dt = json_string(d, "delta.type");
		jv content = json_get(jv_copy(s->msg), "content");
		jv block;

		if (!json_int(d, "index", &i) || i < 0 || jv_get_kind(content) != JV_KIND_ARRAY ||
		    i >= jv_array_length(jv_copy(content)) || !dt) {
			jv_free(content);
			sse_fail(s, "content_block_delta out of order");
		} else if (jv_get_kind(block = jv_array_get(jv_copy(content), (int)i)) != JV_KIND_OBJECT) {
			/* an index no content_block_start opened */
			jv_free(block);
			jv_free(content);
			sse_fail(s, "content_block_delta out of order");
		} else {
			if (!strcmp(dt, "text_delta")) {
				char *t = json_string(block, "text"), *add = json_string(d, "delta.text");

				block = json_set(block, "text", jv_string_fmt("%s%s", t ? t : "", add ? add : ""));
				free(t);
				free(add);
			} else if (!strcmp(dt, "input_json_delta")) {
				jv p = jv_array_get(jv_copy(s->partial), (int)i);
				char *add = json_string(d, "delta.partial_json");

				if (jv_get_kind(p) != JV_KIND_STRING) {
					jv_free(p);
					p = jv_string("");
				}
				p = jv_string_append_str(p, add ? add : "");
				s->partial = jv_array_set(s->partial, (int)i, p);
				free(add);
			} else if (!strcmp(dt, "thinking_delta")) {
				char *t = json_string(block, "thinking"), *add = json_string(d, "delta.thinking");

				block = json_set(block, "thinking", jv_string_fmt("%s%s", t ? t : "", add ? add : ""));
				free(t);
				free(add);
			} else if (!strcmp(dt, "signature_delta")) {
				jv sig = json_get(jv_copy(d), "delta.signature");

				/* absent, it is no value at all: a Message holding it
				 * cannot be written */
				block = json_set(block, "signature", jv_is_valid(sig) ? sig : jv_null());
			}
			/* other delta kinds (citations) are kept as they come: ignored here */
			content = jv_array_set(content, (int)i, block);
			s->msg = json_set(s->msg, "content", content);
		}
		free(dt);
	} else if (!strcmp(type, "content_block_stop")) {
		int64_t i = -1;

		if (json_int(d, "index", &i) && i >= 0 && i < jv_array_length(jv_copy(s->partial)) &&
		    json_kind_at(s->msg, "content") == JV_KIND_ARRAY) {
			jv p = jv_array_get(jv_copy(s->partial), (int)i);
			jv content = json_get(jv_copy(s->msg), "content");
			jv block = jv_array_get(jv_copy(content), (int)i);
			char *bt = json_string(block, "type");

			if (jv_get_kind(block) != JV_KIND_OBJECT) {
				/* a message_start since replaced the content */
				sse_fail(s, "content_block_stop out of order");
			} else if (bt && !strcmp(bt, "tool_use") && jv_get_kind(p) == JV_KIND_STRING &&
			    jv_string_length_bytes(jv_copy(p)) > 0) {
				jv input;
				struct err pe = ERR_INIT;

				/* strict, like SDK 1.9: tool input that is not JSON fails the stream */
				if (json_parse(jv_string_value(p), (size_t)jv_string_length_bytes(jv_copy(p)),
					       &input, &pe))
					sse_fail(s, "a tool_use block's streamed input is not JSON");
				else
					block = json_set(block, "input", input);
			}
			free(bt);
			content = jv_array_set(content, (int)i, block);
			s->msg = json_set(s->msg, "content", content);
			jv_free(p);
		}
	} else if (!strcmp(type, "message_delta")) {
		jv delta = json_get(jv_copy(d), "delta");

		if (jv_get_kind(s->msg) != JV_KIND_OBJECT) {
			/* before any message_start: nothing to apply it to */
			sse_fail(s, "message_delta out of order");
		} else {
			if (jv_get_kind(delta) == JV_KIND_OBJECT) {
				jv_object_foreach(delta, k, v) {
					/* the blocks are the stream's to build, not a delta's */
					if (strcmp(jv_string_value(k), "content"))
						s->msg = jv_object_set(s->msg, k, v);
					else
						jv_free(k), jv_free(v);
				}
			}
			s->msg = json_set(s->msg, "usage", usage_overlay(json_get(jv_copy(s->msg), "usage"),
									  json_get(jv_copy(d), "usage")));
		}
		jv_free(delta);
	} else if (!strcmp(type, "message_stop")) {
		s->done = 1;
	} else if (!strcmp(type, "error")) {
		jv_free(s->error);
		s->error = json_get(jv_copy(d), "error");
		sse_fail(s, "the stream carried an error event");
	}
	/* ping and unknown events are ignored, as the SDKs do */
	free(type);
	jv_free(d);
out:
	s->dlen = 0;
	s->event[0] = 0;
}

static void sse_line(struct sse *s, char *line, size_t n)
{
	if (n && line[n - 1] == '\r')
		line[--n] = 0;
	if (n == 0) {
		sse_event(s);
		return;
	}
	if (line[0] == ':')
		return;
	if (!strncmp(line, "event:", 6)) {
		const char *v = line + 6;

		while (*v == ' ')
			v++;
		snprintf(s->event, sizeof s->event, "%s", v);
	} else if (!strncmp(line, "data:", 5)) {
		const char *v = line + 5;

		if (*v == ' ')
			v++;
		if (s->dlen && buf_add(&s->data, &s->dlen, &s->dcap, "\n", 1))
			sse_fail(s, "event too large");
		if (buf_add(&s->data, &s->dlen, &s->dcap, v, strlen(v)))
			sse_fail(s, "event too large");
	}
}

static int sse_feed(void *arg, const char *p, size_t n)
{
	struct sse *s = arg;

	if (s->rlen < MAX_ERROR_BODY)
		buf_add(&s->raw, &s->rlen, &s->rcap, p, n < MAX_ERROR_BODY - s->rlen ? n : MAX_ERROR_BODY - s->rlen);
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			sse_line(s, s->line ? s->line : (char[]){ 0 }, s->len);
			s->len = 0;
			if (s->line)
				s->line[0] = 0;
		} else if (buf_add(&s->line, &s->len, &s->cap, p + i, 1)) {
			sse_fail(s, "line too long");
			return -1;
		}
	}
	return 0;
}

/* --- one attempt */

static int well_formed(jv m)
{
	jv c = json_get(jv_copy(m), "content");
	int ok = jv_get_kind(m) == JV_KIND_OBJECT && jv_get_kind(c) == JV_KIND_ARRAY;
	char *type = json_string(m, "type");
	jv u = json_get(jv_copy(m), "usage");

	ok = ok && type && strcmp(type, "message") == 0 && jv_get_kind(u) == JV_KIND_OBJECT;
	free(type);
	jv_free(c);
	jv_free(u);
	return ok;
}

static int status_code(long status)
{
	switch (status) {
	case 400: case 401: case 402: case 403: case 404: case 413:
		return EX_PERM;
	default:
		return EX_TEMP;
	}
}

static void sse_init(struct sse *s)
{
	memset(s, 0, sizeof *s);
	s->msg = jv_null();
	s->partial = jv_array();
	s->error = jv_null();
}

static void sse_release(struct sse *s)
{
	jv_free(s->msg);
	jv_free(s->partial);
	jv_free(s->error);
	free(s->line);
	free(s->data);
	free(s->raw);
}

/* The end of a 2xx stream: the Message it built into call, or why not. */
static int sse_end(struct sse *s, struct anthropic_call *call, struct err *e)
{
	if (s->len)
		sse_line(s, s->line, s->len);
	sse_event(s);
	if (s->bad || !s->done) {
		char *et = json_string(s->error, "type");
		int rc;

		call->error = jv_copy(s->error);
		call->retryable = !et || !strcmp(et, "overloaded_error") || !strcmp(et, "api_error");
		call->maybe_charged = 1;
		rc = err_set(e, EX_TEMP, "anthropic: stream %s%s%s%s", s->bad ? s->why : "ended early",
			     et ? " (" : "", et ? et : "", et ? ")" : "");
		free(et);
		return rc;
	}
	if (!well_formed(s->msg)) {
		call->retryable = 1;
		call->maybe_charged = 1;
		return err_set(e, EX_TEMP, "anthropic: malformed response: the stream built no Message");
	}
	call->message = s->msg;
	s->msg = jv_null();
	return 0;
}

int anthropic_stream_read(const char *body, size_t len, size_t chunk,
			  struct anthropic_call *call, struct err *e)
{
	struct sse s;
	int rc = 0;

	memset(call, 0, sizeof *call);
	call->message = jv_null();
	call->error = jv_null();
	call->retry_after = -1;
	call->should_retry = -1;
	call->status = 200;
	sse_init(&s);
	if (!chunk)
		chunk = len ? len : 1;
	for (size_t off = 0; off < len && rc == 0; off += chunk)
		rc = sse_feed(&s, body + off, len - off < chunk ? len - off : chunk);
	if (rc) {
		call->error = jv_copy(s.error);
		call->retryable = 1;
		call->maybe_charged = 1;
		rc = err_set(e, EX_TEMP, "anthropic: stream %s", s.why);
	} else {
		rc = sse_end(&s, call, e);
	}
	sse_release(&s);
	return rc;
}

int anthropic_send(struct anthropic *a, jv body, int max_tokens,
		   struct anthropic_call *call, struct err *e)
{
	char url[600], ver[64];
	const char *headers[6];
	struct http_req req = { 0 };
	struct http_resp r;
	struct sse s = { 0 };
	int stream = a->stream < 0 ? max_tokens > 16384 : a->stream;
	char *text;
	int rc;

	memset(call, 0, sizeof *call);
	call->message = jv_null();
	call->error = jv_null();
	call->retry_after = -1;
	call->should_retry = -1;
	body = json_set(jv_copy(body), "stream", jv_bool(stream));
	text = json_dump(jv_copy(body));
	if (!text)
		return err_set(e, EX_TEMP, "out of memory");
	snprintf(url, sizeof url, "%s/v1/messages", a->base);
	snprintf(ver, sizeof ver, "anthropic-version: %s", a->version);
	headers[0] = a->auth;
	headers[1] = ver;
	headers[2] = "content-type: application/json";
	headers[3] = stream ? "accept: text/event-stream" : "accept: application/json";
	headers[4] = NULL;
	req.method = "POST";
	req.url = url;
	req.headers = headers;
	req.body = text;
	req.body_len = strlen(text);
	req.timeout_ms = a->timeout_ms;
	req.connect_timeout_ms = 10000;
	req.max_response = MAX_RESPONSE;
	if (stream) {
		sse_init(&s);
		req.on_data = sse_feed;
		req.arg = &s;
	}
	rc = http_do(&req, &r, e);
	free(text);
	call->status = r.status;
	call->retry_after = r.retry_after;
	call->should_retry = r.should_retry;
	snprintf(call->request_id, sizeof call->request_id, "%s", r.request_id);
	if (rc) {
		/* timed out or dropped after the request went out: it may be billed */
		call->retryable = rc == EX_TEMP;
		call->maybe_charged = 1;
		err_wrap(e, "anthropic");
		goto out;
	}
	if (stream && r.status >= 200 && r.status < 300) {
		rc = sse_end(&s, call, e);
		goto out;
	}
	{
		jv parsed;
		struct err pe = ERR_INIT;
		/* a request to stream is answered with plain JSON when it fails */
		const char *rb = stream ? s.raw : r.body;
		size_t rl = stream ? s.rlen : r.len;
		int ok = json_parse(rb ? rb : "", rl, &parsed, &pe) == 0;

		if (r.status >= 200 && r.status < 300) {
			if (!ok || !well_formed(parsed)) {
				if (ok)
					jv_free(parsed);
				call->retryable = 1;
				call->maybe_charged = 1;
				rc = err_set(e, EX_TEMP, "anthropic: malformed response: %s",
					     ok ? "not a Message" : pe.msg);
				goto out;
			}
			call->message = parsed;
			goto out;
		}
		/* an error: {"type":"error","error":{"type","message"}} */
		{
			char *et = NULL, *em = NULL;

			if (ok) {
				call->error = json_get(jv_copy(parsed), "error");
				et = json_string(parsed, "error.type");
				em = json_string(parsed, "error.message");
				if (!call->request_id[0]) {
					char *rid = json_string(parsed, "request_id");

					if (rid)
						snprintf(call->request_id, sizeof call->request_id, "%s", rid);
					free(rid);
				}
				jv_free(parsed);
			}
			call->retryable = r.status == 408 || r.status == 409 || r.status == 429 ||
					  r.status >= 500;
			if (r.status == 401 || r.status == 403)
				rc = err_set(e, EX_PERM, "anthropic: authentication refused (HTTP %ld %s)",
					     r.status, et ? et : "");
			else if (r.status >= 300 && r.status < 400)
				/* the API never redirects: the base URL names something else */
				rc = err_set(e, EX_PERM, "anthropic: HTTP %ld: a redirect, not followed "
					     "(check ANTHROPIC_BASE_URL)", r.status);
			else
				rc = err_set(e, status_code(r.status), "anthropic: HTTP %ld %s%s%.200s",
					     r.status, et ? et : "error", em ? ": " : "", em ? em : "");
			free(et);
			free(em);
		}
	}
out:
	/* a peer may quote the credentials back: never into a message */
	if (rc)
		anthropic_redact(a, e->msg);
	call->error = redact_error(a, call->error);
	if (stream)
		sse_release(&s);
	http_resp_release(&r);
	jv_free(body);
	return rc;
}

/* What count_tokens takes of a Messages request (the API reference's
 * "Count tokens in a Message", platform.claude.com/docs/en/api/messages/
 * count_tokens: the create params without max_tokens, stream, metadata,
 * service_tier, stop_sequences, container, inference_geo, diagnostics). */
static const char *const count_fields[] = {
	"model", "messages", "system", "tools", "tool_choice", "thinking", "cache_control",
	"output_config", "speed", "context_management", "mcp_servers", NULL,
};

int anthropic_count_tokens(struct anthropic *a, jv body, long timeout_ms, int64_t *tokens,
			   struct err *e)
{
	jv req = jv_object(), parsed;
	struct err pe = ERR_INIT;
	char *text = NULL, *et = NULL;
	long status = 0;
	int rc;
	double n;

	*tokens = 0;
	if (jv_get_kind(body) != JV_KIND_OBJECT)
		return err_set(e, EX_TEMP, "count_tokens: the request is not an object");
	for (int i = 0; count_fields[i]; i++) {
		jv v = jv_object_get(jv_copy(body), jv_string(count_fields[i]));

		if (jv_is_valid(v))
			req = jv_object_set(req, jv_string(count_fields[i]), v);
		else
			jv_free(v);
	}
	{
		char url[700], ver[64];
		const char *headers[5];
		struct http_req hr = { 0 };
		struct http_resp r = HTTP_RESP_INIT;
		char *b = json_dump(req);

		if (!b)
			return err_set(e, EX_TEMP, "count_tokens: out of memory");
		snprintf(url, sizeof url, "%s/v1/messages/count_tokens", a->base);
		snprintf(ver, sizeof ver, "anthropic-version: %s", a->version);
		headers[0] = a->auth;
		headers[1] = ver;
		headers[2] = "content-type: application/json";
		headers[3] = "accept: application/json";
		headers[4] = NULL;
		hr.method = "POST";
		hr.url = url;
		hr.headers = headers;
		hr.body = b;
		hr.body_len = strlen(b);
		hr.timeout_ms = timeout_ms > 0 ? timeout_ms : ANTHROPIC_COUNT_TIMEOUT_MS;
		hr.connect_timeout_ms = hr.timeout_ms;
		hr.max_response = 1u << 20;
		rc = http_do(&hr, &r, e);
		free(b);
		if (rc) {
			http_resp_release(&r);
			err_wrap(e, "count_tokens");
			e->code = EX_TEMP;
			return EX_TEMP;
		}
		status = r.status;
		text = r.body;
		r.body = NULL;
		http_resp_release(&r);
	}
	rc = json_parse(text ? text : "", text ? strlen(text) : 0, &parsed, &pe);
	free(text);
	if (status < 200 || status >= 300) {
		if (rc == 0) {
			et = json_string(parsed, "error.type");
			jv_free(parsed);
		}
		rc = err_set(e, EX_TEMP, "count_tokens: HTTP %ld %s", status, et ? et : "error");
		anthropic_redact(a, e->msg);
		free(et);
		return rc;
	}
	if (rc)
		return err_set(e, EX_TEMP, "count_tokens: malformed answer: %s", pe.msg);
	if (jv_get_kind(parsed) != JV_KIND_OBJECT || !json_number(parsed, "input_tokens", &n) ||
	    n < 0 || n > 1e12 || n != (double)(int64_t)n) {
		jv_free(parsed);
		return err_set(e, EX_TEMP, "count_tokens: malformed answer: no input_tokens count");
	}
	jv_free(parsed);
	*tokens = (int64_t)n;
	return 0;
}

int anthropic_exchange(struct anthropic *a, const char *method, const char *path, jv body,
		       long *status, char **text, struct err *e)
{
	char url[700], ver[64];
	const char *headers[5];
	struct http_req req = { 0 };
	struct http_resp r = HTTP_RESP_INIT;
	char *b = jv_get_kind(body) == JV_KIND_NULL ? NULL : json_dump(jv_copy(body));
	int rc;

	*text = NULL;
	*status = 0;
	snprintf(url, sizeof url, "%s%s", a->base, path);
	snprintf(ver, sizeof ver, "anthropic-version: %s", a->version);
	headers[0] = a->auth;
	headers[1] = ver;
	headers[2] = "content-type: application/json";
	headers[3] = "accept: application/json";
	headers[4] = NULL;
	req.method = method;
	req.url = url;
	req.headers = headers;
	req.body = b;
	req.body_len = b ? strlen(b) : 0;
	req.timeout_ms = a->timeout_ms;
	req.connect_timeout_ms = 10000;
	req.max_response = MAX_RESPONSE;
	rc = http_do(&req, &r, e);
	free(b);
	if (rc) {
		http_resp_release(&r);
		return rc;
	}
	*status = r.status;
	*text = r.body ? r.body : strdup("");
	r.body = NULL;
	http_resp_release(&r);
	return 0;
}

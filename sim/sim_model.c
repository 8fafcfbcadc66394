/* sim_model: the Messages API: the checks the real one makes, usage, caching, SSE. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/models.h"
#include "sim_int.h"

#define V2023 "2023-06-01"
#define V2026 "2026-10-21"
#define MAX_OUTPUT 128000
#define MAX_BLOCKS 10000  /* per message: keeps every check cheap */

/* Top-level request fields the API knows (1.12), beyond the sampling ones. */
static const char *const message_fields[] = {
	"model", "messages", "max_tokens", "cache_control", "container", "context_management",
	"diagnostics", "inference_geo", "mcp_servers", "metadata", "output_config",
	"service_tier", "speed", "stop_sequences", "stream", "system", "thinking",
	"tool_choice", "tools", NULL,
};

/* What count_tokens takes: the create params without max_tokens, stream,
 * metadata, service_tier, stop_sequences, container, inference_geo and
 * diagnostics (the API reference's "Count tokens in a Message",
 * platform.claude.com/docs/en/api/php/messages/count_tokens: messages,
 * model, cache_control, output_config, speed, system, thinking,
 * tool_choice, tools; context_management and mcp_servers from the beta
 * page).  Anything else is a 400 "Extra inputs are not permitted". */
static const char *const count_fields[] = {
	"model", "messages", "cache_control", "context_management", "mcp_servers",
	"output_config", "speed", "system", "thinking", "tool_choice", "tools", NULL,
};

static const char *const sampling[] = { "temperature", "top_p", "top_k", NULL };

static int listed(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (strcmp(*l, s) == 0)
			return 1;
	return 0;
}

/* A growable string for building event streams. */
struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (buf_grow(&b->p, &b->cap, b->len + n + 1)) {
		b->oom = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_event(struct sbuf *b, const char *name, jv data)
{
	char *d = json_dump(data);

	sb_add(b, "event: ", 7);
	sb_add(b, name, strlen(name));
	sb_add(b, "\ndata: ", 7);
	if (d)
		sb_add(b, d, strlen(d));
	sb_add(b, "\n\n", 2);
	free(d);
}

/* request-id and the organization header on every /v1 answer. */
static void ids(struct sim *s, struct sim_reply *rp, char *rid, size_t size)
{
	sim_make_id(s, "req_01", 22, rid, size);
	sim_reply_header(rp, "request-id", "%s", rid);
	sim_reply_header(rp, "anthropic-organization-id", "5d8c3b1e-7f2a-4c61-9e0d-%012llx",
			 (unsigned long long)(sim_hash(s->cfg.seed, 0x0a9, 0) & 0xffffffffffffull));
}

void sim_model_error(struct sim *s, struct sim_reply *rp, int status, const char *type,
		     const char *code, const char *fmt, ...)
{
	char msg[600], rid[40];
	va_list ap;
	jv err = jv_object(), v = jv_object();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ids(s, rp, rid, sizeof rid);
	err = json_set(err, "type", jv_string(type));
	err = json_set(err, "message", jv_string(msg));
	if (code)
		err = json_set(err, "details", json_set(jv_object(), "error_code", jv_string(code)));
	v = json_set(v, "type", jv_string("error"));
	v = json_set(v, "error", err);
	v = json_set(v, "request_id", jv_string(rid));
	sim_reply_json(rp, status, v);
}

/* A 400 invalid_request_error; returns 1 so checks read "return BAD(...)". */
static int refuse(struct sim *s, struct sim_reply *rp, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(struct sim *s, struct sim_reply *rp, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sim_model_error(s, rp, 400, "invalid_request_error", NULL, "%s", msg);
	return 1;
}

#define BAD(...) refuse(s, rp, __VA_ARGS__)

/* ---- request checks -------------------------------------------------------- */

static int kind_of(jv v, const char *k)
{
	jv x = jv_object_get(jv_copy(v), jv_string(k));
	int kind = jv_get_kind(x);

	jv_free(x);
	return kind;
}

static jv member(jv v, const char *k)
{
	return jv_get_kind(v) == JV_KIND_OBJECT ? jv_object_get(jv_copy(v), jv_string(k))
						: jv_invalid();
}

static int str_is(jv v, const char *k, const char *want)
{
	jv x = member(v, k);
	int eq = jv_get_kind(x) == JV_KIND_STRING && strcmp(jv_string_value(x), want) == 0;

	jv_free(x);
	return eq;
}

static int auth_ok(struct sim *s, const struct sim_req *rq, struct sim_reply *rp)
{
	const char *xk = sim_req_header(rq, "x-api-key");
	const char *au = sim_req_header(rq, "authorization");
	const char *key = NULL;

	/* x-api-key wins when both are sent; an empty one is refused. */
	if (xk)
		key = *xk ? xk : NULL;
	else if (au && strncasecmp(au, "Bearer ", 7) == 0 && au[7])
		key = au + 7;
	if (!xk && !au) {
		sim_model_error(s, rp, 401, "authentication_error", NULL, "x-api-key header is required");
		return 0;
	}
	if (!key || (s->api_key[0] && strcmp(key, s->api_key) != 0)) {
		sim_model_error(s, rp, 401, "authentication_error", NULL,
				xk ? "invalid x-api-key" : "Invalid bearer token");
		return 0;
	}
	return 1;
}

/* Returns the version (2023 or 2026), or 0 after answering 400. */
static int version_ok(struct sim *s, const struct sim_req *rq, struct sim_reply *rp)
{
	const char *v = sim_req_header(rq, "anthropic-version");

	if (!v) {
		BAD("anthropic-version: header is required");
		return 0;
	}
	if (strcmp(v, V2023) == 0)
		return 2023;
	if (strcmp(v, V2026) == 0)
		return 2026;
	BAD("anthropic-version: invalid version '%.40s'; supported: %s, %s", v, V2023, V2026);
	return 0;
}

/* Checks one content block (consumed). */
static int check_block(struct sim *s, struct sim_reply *rp, jv b, int i, int j,
		       const char *role, int ver)
{
	jv t = member(b, "type");
	int bad = 0;

	if (jv_get_kind(b) != JV_KIND_OBJECT || jv_get_kind(t) != JV_KIND_STRING) {
		jv_free(t);
		jv_free(b);
		return BAD("messages.%d.content.%d: Input should be an object with a type", i, j);
	}
	if (strcmp(jv_string_value(t), "text") == 0 && kind_of(b, "text") != JV_KIND_STRING)
		bad = BAD("messages.%d.content.%d.text: Field required", i, j);
	else if (strcmp(jv_string_value(t), "tool_use") == 0 &&
		 (kind_of(b, "id") != JV_KIND_STRING || kind_of(b, "name") != JV_KIND_STRING ||
		  kind_of(b, "input") != JV_KIND_OBJECT))
		bad = BAD("messages.%d.content.%d.tool_use: id, name and input (an object) are required", i, j);
	else if (strcmp(jv_string_value(t), "tool_result") == 0 &&
		 kind_of(b, "tool_use_id") != JV_KIND_STRING)
		bad = BAD("messages.%d.content.%d.tool_result.tool_use_id: Field required", i, j);
	else if (strcmp(jv_string_value(t), "tool_result") == 0 && strcmp(role, "user"))
		bad = BAD("messages.%d.content.%d: tool_result blocks are only allowed in user messages", i, j);
	else if (strcmp(jv_string_value(t), "tool_use") == 0 && strcmp(role, "assistant"))
		bad = BAD("messages.%d.content.%d: tool_use blocks are only allowed in assistant messages", i, j);
	else if (ver == 2026 && strcmp(role, "assistant") == 0 &&
		 strcmp(jv_string_value(t), "document") == 0)
		bad = BAD("messages.%d.content.%d: document blocks are not permitted in assistant messages", i, j);
	else if (ver == 2026 && strcmp(role, "user") == 0) {
		/* Citations on user text, directly or inside a search result. */
		jv c = member(b, "citations");
		int cited = jv_get_kind(c) == JV_KIND_ARRAY && jv_array_length(jv_copy(c)) > 0;

		jv_free(c);
		if (strcmp(jv_string_value(t), "search_result") == 0) {
			jv inner = member(b, "content");

			if (jv_get_kind(inner) == JV_KIND_ARRAY)
				for (int k = 0; k < jv_array_length(jv_copy(inner)); k++) {
					jv ib = jv_array_get(jv_copy(inner), k);
					jv ic = member(ib, "citations");

					cited |= jv_get_kind(ic) == JV_KIND_ARRAY &&
						 jv_array_length(jv_copy(ic)) > 0;
					jv_free(ic);
					jv_free(ib);
				}
			jv_free(inner);
		}
		if (cited && (strcmp(jv_string_value(t), "text") == 0 ||
			      strcmp(jv_string_value(t), "search_result") == 0))
			bad = BAD("messages.%d.content.%d: text blocks with citations are not "
				  "permitted in user messages", i, j);
	}
	jv_free(t);
	jv_free(b);
	return bad;
}

static int tool_order_error(struct sim *s, struct sim_reply *rp, int i, jv missing)
{
	jv first = jv_array_get(jv_keys(missing), 0);
	int bad = BAD("messages.%d: `tool_use` ids were found without `tool_result` blocks "
		      "immediately after: %.80s. Each `tool_use` block must have a corresponding "
		      "`tool_result` block in the next message.", i, jv_string_value(first));

	jv_free(first);
	return bad;
}

/* Every tool_use must be answered by a tool_result at the start of the
 * next user turn, and every tool_result must answer one.  The ids are kept
 * in objects, so the check is linear in the number of blocks. */
static int check_tool_order(struct sim *s, struct sim_reply *rp, jv msgs)
{
	int n = jv_array_length(jv_copy(msgs)), bad = 0;
	jv prev = jv_object();   /* the previous assistant turn's tool_use ids */

	for (int i = 0; i < n && !bad; i++) {
		jv m = jv_array_get(jv_copy(msgs), i), c = member(m, "content");
		int assistant = str_is(m, "role", "assistant");
		int nc = jv_get_kind(c) == JV_KIND_ARRAY ? jv_array_length(jv_copy(c)) : 0;
		jv uses = jv_object();
		int lead = 1;

		for (int j = 0; j < nc && !bad; j++) {
			jv b = jv_array_get(jv_copy(c), j);

			if (assistant && str_is(b, "type", "tool_use")) {
				uses = jv_object_set(uses, member(b, "id"), jv_true());
			} else if (!assistant && str_is(b, "type", "tool_result")) {
				jv id = member(b, "tool_use_id");

				if (!jv_object_has(jv_copy(prev), jv_copy(id)))
					bad = BAD("messages.%d.content.%d: unexpected `tool_use_id` found in "
						  "`tool_result` blocks: %.80s. Each `tool_result` block must have a "
						  "corresponding `tool_use` block in the previous message.", i, j,
						  jv_string_value(id));
				else if (lead)
					prev = jv_object_delete(prev, jv_copy(id));  /* answered */
				jv_free(id);
			} else {
				lead = 0;
			}
			jv_free(b);
		}
		/* What the previous assistant turn asked must be answered up front. */
		if (!bad && jv_object_length(jv_copy(prev)) > 0)
			bad = tool_order_error(s, rp, i - 1, jv_copy(prev));
		jv_free(prev);
		prev = assistant ? uses : (jv_free(uses), jv_object());
		jv_free(c);
		jv_free(m);
	}
	if (!bad && jv_object_length(jv_copy(prev)) > 0)
		bad = tool_order_error(s, rp, n - 1, jv_copy(prev));
	jv_free(prev);
	return bad;
}

static int check_messages(struct sim *s, struct sim_reply *rp, jv msgs, int ver)
{
	int n;

	if (jv_get_kind(msgs) != JV_KIND_ARRAY)
		return BAD("messages: Input should be a valid list");
	n = jv_array_length(jv_copy(msgs));
	if (n == 0)
		return BAD("messages: at least one message is required");
	for (int i = 0; i < n; i++) {
		jv m = jv_array_get(jv_copy(msgs), i), role = member(m, "role"), c = member(m, "content");
		const char *r = jv_get_kind(role) == JV_KIND_STRING ? jv_string_value(role) : "";
		int bad = 0;

		if (jv_get_kind(m) != JV_KIND_OBJECT)
			bad = BAD("messages.%d: Input should be a valid dictionary", i);
		else if (strcmp(r, "user") && strcmp(r, "assistant") && strcmp(r, "system"))
			bad = BAD("messages.%d.role: Input should be 'user', 'assistant' or 'system'", i);
		else if (jv_get_kind(c) == JV_KIND_STRING) {
			if (jv_string_length_bytes(jv_copy(c)) == 0 &&
			    !(i == n - 1 && strcmp(r, "assistant") == 0))
				bad = BAD("messages.%d: all messages must have non-empty content except for "
					  "the optional final assistant message", i);
		} else if (jv_get_kind(c) == JV_KIND_ARRAY) {
			int nc = jv_array_length(jv_copy(c));

			if (nc > MAX_BLOCKS)
				bad = BAD("messages.%d.content: at most %d content blocks", i, MAX_BLOCKS);
			else if (nc == 0 && !(i == n - 1 && strcmp(r, "assistant") == 0))
				bad = BAD("messages.%d: all messages must have non-empty content except for "
					  "the optional final assistant message", i);
			for (int j = 0; !bad && j < nc; j++)
				bad = check_block(s, rp, jv_array_get(jv_copy(c), j), i, j, r, ver);
		} else {
			bad = BAD("messages.%d.content: Input should be a valid string or list", i);
		}
		jv_free(m);
		jv_free(role);
		jv_free(c);
		if (bad)
			return 1;
	}
	return check_tool_order(s, rp, msgs);
}

/* Checks the tool definitions (consumed); 1 when they are fine. */
static int tools_ok(struct sim *s, struct sim_reply *rp, jv tools)
{
	int n;

	if (!jv_is_valid(tools))
		return jv_free(tools), 1;
	if (jv_get_kind(tools) != JV_KIND_ARRAY)
		return jv_free(tools), !BAD("tools: Input should be a valid list");
	n = jv_array_length(jv_copy(tools));
	for (int i = 0; i < n; i++) {
		jv t = jv_array_get(jv_copy(tools), i), name = member(t, "name");
		int custom = kind_of(t, "type") != JV_KIND_STRING || str_is(t, "type", "custom");
		int ok = 1;

		if (jv_get_kind(t) != JV_KIND_OBJECT)
			ok = !BAD("tools.%d: Input should be a valid dictionary", i);
		else if (jv_get_kind(name) != JV_KIND_STRING)
			ok = !BAD("tools.%d.name: Field required", i);
		else {
			const char *p = jv_string_value(name);
			size_t len = strlen(p);

			for (size_t k = 0; k < len; k++)
				if (!isalnum((unsigned char)p[k]) && p[k] != '_' && p[k] != '-')
					len = 0;
			if (len == 0 || len > 128)
				ok = !BAD("tools.%d.custom.name: String should match pattern "
					  "'^[a-zA-Z0-9_-]{1,128}$'", i);
			else if (custom && kind_of(t, "input_schema") != JV_KIND_OBJECT)
				ok = !BAD("tools.%d.custom.input_schema: Field required", i);
		}
		jv_free(name);
		jv_free(t);
		if (!ok) {
			jv_free(tools);
			return 0;
		}
	}
	jv_free(tools);
	return 1;
}

/* The checks in the order the API reports them; 0 when the request is fine. */
static int check_request(struct sim *s, const struct sim_req *rq, struct sim_reply *rp,
			 int ver, int counting)
{
	jv b = rq->json, keys, x;
	int n, bad = 0;

	if (!jv_is_valid(b))
		return BAD("There was an error parsing the body of your request: %s",
			   rq->len ? (rq->json_error ? rq->json_error : "malformed JSON") : "empty body");
	if (jv_get_kind(b) != JV_KIND_OBJECT)
		return BAD("Request body must be a JSON object");
	keys = jv_keys(jv_copy(b));
	n = jv_array_length(jv_copy(keys));
	/* Sampling parameters first: 2026-10-21 removed them. */
	for (int pass = 0; pass < 2 && !bad; pass++)
		for (int i = 0; i < n && !bad; i++) {
			jv k = jv_array_get(jv_copy(keys), i);
			const char *ks = jv_string_value(k);
			int samp = listed(sampling, ks);

			if (pass == 0 && samp && (ver == 2026 || counting))
				bad = BAD("%s: Extra inputs are not permitted", ks);
			else if (pass == 1 && !samp &&
				 !listed(counting ? count_fields : message_fields, ks))
				bad = BAD("%.60s: Extra inputs are not permitted", ks);
			jv_free(k);
		}
	jv_free(keys);
	if (bad)
		return 1;
	if (kind_of(b, "model") != JV_KIND_STRING)
		return BAD(kind_of(b, "model") == JV_KIND_INVALID ? "model: Field required"
			   : "model: Input should be a valid string");
	if (!counting) {
		double mt;

		if (kind_of(b, "max_tokens") == JV_KIND_INVALID)
			return BAD("max_tokens: Field required");
		if (!json_number(b, "max_tokens", &mt) || mt != floor(mt))
			return BAD("max_tokens: Input should be a valid integer");
		if (mt < 1)
			return BAD("max_tokens: Input should be greater than or equal to 1");
		if (mt > MAX_OUTPUT)
			return BAD("max_tokens: %.0f > %d, which is the maximum allowed number of output "
				   "tokens for this model", mt, MAX_OUTPUT);
	}
	if (kind_of(b, "messages") == JV_KIND_INVALID)
		return BAD("messages: Field required");
	x = member(b, "stream");
	if (jv_is_valid(x) && jv_get_kind(x) != JV_KIND_TRUE && jv_get_kind(x) != JV_KIND_FALSE)
		bad = BAD("stream: Input should be a valid boolean");
	jv_free(x);
	if (bad)
		return 1;
	x = member(b, "system");
	if (jv_is_valid(x) && jv_get_kind(x) != JV_KIND_STRING && jv_get_kind(x) != JV_KIND_ARRAY)
		bad = BAD("system: Input should be a valid string or list of text blocks");
	jv_free(x);
	if (bad)
		return 1;
	for (int i = 0; sampling[i] && ver == 2023; i++) {
		double v;

		if (kind_of(b, sampling[i]) == JV_KIND_INVALID)
			continue;
		if (!json_number(b, sampling[i], &v))
			return BAD("%s: Input should be a valid number", sampling[i]);
		if (i < 2 && (v < 0 || v > 1))
			return BAD("%s: Input should be less than or equal to 1", sampling[i]);
		if (i == 2 && (v < 0 || v != floor(v)))
			return BAD("top_k: Input should be a valid non-negative integer");
	}
	if (!tools_ok(s, rp, member(b, "tools")))
		return 1;
	x = member(b, "tool_choice");
	if (jv_is_valid(x)) {
		jv t = member(x, "type");
		const char *ts = jv_get_kind(t) == JV_KIND_STRING ? jv_string_value(t) : "";

		if (strcmp(ts, "auto") && strcmp(ts, "any") && strcmp(ts, "tool") && strcmp(ts, "none"))
			bad = BAD("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'");
		else if (strcmp(ts, "tool") == 0 && kind_of(x, "name") != JV_KIND_STRING)
			bad = BAD("tool_choice.tool.name: Field required");
		jv_free(t);
	}
	jv_free(x);
	if (bad)
		return 1;
	x = member(b, "messages");
	bad = check_messages(s, rp, x, ver);
	jv_free(x);
	return bad;
}

/* ---- usage: tokens and prompt caching -------------------------------------- */

/* The prompt in the API's order (tools, system, messages), block by block:
 * the running hash and token count at each block's end (where a cache entry
 * can start or end), and the breakpoints.  The rules (reference (h), the
 * prompt-caching page): at most 4 breakpoints; 1-hour ones before 5-minute
 * ones; a read looks back about 20 blocks from each breakpoint. */
#define SIM_BLOCKS_MAX 2048
#define SIM_LOOKBACK 20
struct seg_walk {
	uint64_t h;           /* FNV-1a over the prefix so far */
	long tokens;          /* total so far */
	int nbp, marks;       /* breakpoints kept (at most 8), and all of them */
	int ttl_after_5m;     /* a 1-hour breakpoint came after a 5-minute one */
	int nblk;
	struct { uint64_t h; long tokens; } blk[SIM_BLOCKS_MAX];
	struct { uint64_t h; long tokens; int ttl; int blk; } bp[8];
};

static void mark(struct seg_walk *w, int ttl)
{
	if (ttl == 3600 && w->nbp > 0 && w->bp[w->nbp - 1].ttl == 300)
		w->ttl_after_5m = 1;
	w->marks++;
	if (w->nbp == 8)  /* past the API's four (a 400): keep the last ones */
		memmove(&w->bp[0], &w->bp[1], sizeof w->bp[0] * 7), w->nbp = 7;
	w->bp[w->nbp].h = w->h;
	w->bp[w->nbp].tokens = w->tokens;
	w->bp[w->nbp].ttl = ttl;
	w->bp[w->nbp].blk = w->nblk - 1;
	w->nbp++;
}

static long toks(size_t bytes)
{
	return (long)((bytes + 3) / 4);
}

static void seg(struct seg_walk *w, jv block)
{
	jv cc = member(block, "cache_control");
	jv plain = jv_get_kind(block) == JV_KIND_OBJECT
		 ? jv_object_delete(jv_copy(block), jv_string("cache_control")) : jv_copy(block);
	char *d = json_dump(plain);
	size_t n = d ? strlen(d) : 0;

	for (size_t i = 0; i < n; i++)
		w->h = (w->h ^ (unsigned char)d[i]) * 0x100000001b3ull;
	w->tokens += toks(n);
	if (w->nblk < SIM_BLOCKS_MAX) {
		w->blk[w->nblk].h = w->h;
		w->blk[w->nblk].tokens = w->tokens;
		w->nblk++;
	}
	if (jv_get_kind(cc) == JV_KIND_OBJECT)
		mark(w, str_is(cc, "ttl", "1h") ? 3600 : 300);
	free(d);
	jv_free(cc);
	jv_free(block);
}

static void seg_all(struct seg_walk *w, jv list)
{
	if (jv_get_kind(list) == JV_KIND_ARRAY)
		for (int i = 0; i < jv_array_length(jv_copy(list)); i++)
			seg(w, jv_array_get(jv_copy(list), i));
	else if (jv_is_valid(list) && jv_get_kind(list) != JV_KIND_NULL)
		seg(w, jv_copy(list));
	jv_free(list);
}

/* Walks the prompt in the API's order: tools, system, messages. */
static void walk(jv req, struct seg_walk *w)
{
	jv model = member(req, "model"), msgs = member(req, "messages"), top = member(req, "cache_control");
	const char *m = jv_get_kind(model) == JV_KIND_STRING ? jv_string_value(model) : "";

	memset(w, 0, sizeof *w);
	w->h = 0xcbf29ce484222325ull;
	for (; *m; m++)
		w->h = (w->h ^ (unsigned char)*m) * 0x100000001b3ull;
	seg_all(w, member(req, "tools"));
	seg_all(w, member(req, "system"));
	for (int i = 0; jv_get_kind(msgs) == JV_KIND_ARRAY && i < jv_array_length(jv_copy(msgs)); i++) {
		jv msg = jv_array_get(jv_copy(msgs), i);

		w->tokens += 3;  /* role and turn framing, counted before the turn's blocks */
		seg_all(w, member(msg, "content"));
		jv_free(msg);
	}
	/* Automatic caching: a top-level cache_control puts a breakpoint on
	 * the last block (and takes one of the four) */
	if (jv_get_kind(top) == JV_KIND_OBJECT && (w->nbp == 0 || w->bp[w->nbp - 1].tokens != w->tokens))
		mark(w, str_is(top, "ttl", "1h") ? 3600 : 300);
	if (w->tokens < 1)
		w->tokens = 1;
	jv_free(top);
	jv_free(msgs);
	jv_free(model);
}

static struct sim_cache_ent *cache_find(struct sim *s, uint64_t key, int64_t now)
{
	for (int i = 0; i < SIM_CACHE_SLOTS; i++)
		if (s->cache[i].key == key && s->cache[i].expires_mono > now)
			return &s->cache[i];
	return NULL;
}

static void cache_put(struct sim *s, uint64_t key, int ttl, int64_t now)
{
	struct sim_cache_ent *slot = cache_find(s, key, now);

	for (int i = 0; !slot && i < SIM_CACHE_SLOTS; i++)
		if (s->cache[i].expires_mono <= now)
			slot = &s->cache[i];
	if (!slot) {  /* all live: evict the one closest to expiry */
		slot = &s->cache[0];
		for (int i = 1; i < SIM_CACHE_SLOTS; i++)
			if (s->cache[i].expires_mono < slot->expires_mono)
				slot = &s->cache[i];
	}
	slot->key = key;
	slot->ttl_s = ttl;
	slot->expires_mono = now + (int64_t)ttl * 1000000;
}

struct usage {
	long input, read, write5m, write1h, output;
};

/* The longest cached prefix is read: for each breakpoint, from the last,
 * an entry at its end or at one of the SIM_LOOKBACK block ends before it;
 * the breakpoints after the read are written, each at its own TTL;
 * input_tokens is what neither covers.  Nothing below the model's minimum
 * (share/models.json) is read or written. */
static void usage_of(struct sim *s, jv req, struct usage *u)
{
	struct seg_walk *w = malloc(sizeof *w);
	struct model_limits lim;
	int64_t now = sim_mono_us();
	long done = 0;
	int from = 0;
	char *model = json_string(req, "model");

	memset(u, 0, sizeof *u);
	if (!w) {
		free(model);
		u->input = 1;
		return;
	}
	models_limits(model, &lim);
	free(model);
	walk(req, w);
	for (int k = w->nbp - 1; k >= 0 && !done; k--) {
		int lo = w->bp[k].blk - SIM_LOOKBACK;

		for (int b = w->bp[k].blk; b >= 0 && b >= lo; b--) {
			struct sim_cache_ent *c;

			if (w->blk[b].tokens < lim.min_cache_tokens)
				break;
			if ((c = cache_find(s, w->blk[b].h, now))) {
				u->read = done = w->blk[b].tokens;
				c->expires_mono = now + (int64_t)c->ttl_s * 1000000;  /* a hit refreshes */
				from = k + (b == w->bp[k].blk);
				break;
			}
		}
	}
	for (int k = from; k < w->nbp; k++) {
		if (w->bp[k].tokens < lim.min_cache_tokens || w->bp[k].tokens <= done)
			continue;
		if (w->bp[k].ttl == 3600)
			u->write1h += w->bp[k].tokens - done;
		else
			u->write5m += w->bp[k].tokens - done;
		done = w->bp[k].tokens;
		cache_put(s, w->bp[k].h, w->bp[k].ttl, now);
	}
	u->input = w->tokens - done;
	free(w);
}

static jv usage_json(const struct usage *u, int stream_start, jv speed)
{
	jv v = jv_object(), cc = jv_object();

	cc = json_set(cc, "ephemeral_5m_input_tokens", jv_number(u->write5m));
	cc = json_set(cc, "ephemeral_1h_input_tokens", jv_number(u->write1h));
	v = json_set(v, "input_tokens", jv_number(u->input));
	v = json_set(v, "cache_creation_input_tokens", jv_number(u->write5m + u->write1h));
	v = json_set(v, "cache_read_input_tokens", jv_number(u->read));
	v = json_set(v, "cache_creation", cc);
	v = json_set(v, "output_tokens", jv_number(stream_start ? 1 : u->output));
	v = json_set(v, "server_tool_use", jv_null());
	v = json_set(v, "service_tier", jv_string("standard"));
	v = json_set(v, "speed", speed);
	v = json_set(v, "inference_geo", jv_null());
	return v;
}

/* Output tokens of a turn's content (consumed). */
static long output_tokens(jv content)
{
	long n = 0;

	for (int i = 0; i < jv_array_length(jv_copy(content)); i++) {
		jv b = jv_array_get(jv_copy(content), i);
		jv t = member(b, "text");
		char *d;

		if (jv_get_kind(t) == JV_KIND_STRING) {
			n += toks((size_t)jv_string_length_bytes(jv_copy(t))) + 3;
		} else {
			d = json_dump(member(b, "input"));
			n += toks(d ? strlen(d) : 0) + 12;
			free(d);
		}
		jv_free(t);
		jv_free(b);
	}
	jv_free(content);
	return n > 0 ? n : 1;
}

/* ---- the reply ---------------------------------------------------------------- */

/* Splits s into pieces of about n bytes without cutting a UTF-8 sequence. */
static size_t piece(const char *s, size_t len, size_t n)
{
	size_t k = len < n ? len : n;

	while (k < len && ((unsigned char)s[k] & 0xc0) == 0x80)
		k++;
	return k;
}

static void sse_block(struct sbuf *b, jv block, int index)
{
	int tool = str_is(block, "type", "tool_use");
	jv start = jv_copy(block), text = member(block, "text");
	char *body;
	size_t len, off = 0;

	if (tool) {
		start = json_set(start, "input", jv_object());
		body = json_dump(member(block, "input"));
	} else {
		start = json_set(start, "text", jv_string(""));
		body = strdup(jv_get_kind(text) == JV_KIND_STRING ? jv_string_value(text) : "");
	}
	sb_event(b, "content_block_start", json_set(json_set(json_set(jv_object(), "type",
		jv_string("content_block_start")), "index", jv_number(index)), "content_block", start));
	len = body ? strlen(body) : 0;
	if (tool) {  /* the API opens a tool input with an empty fragment */
		jv d = json_set(json_set(jv_object(), "type", jv_string("input_json_delta")),
				"partial_json", jv_string(""));

		sb_event(b, "content_block_delta", json_set(json_set(json_set(jv_object(), "type",
			jv_string("content_block_delta")), "index", jv_number(index)), "delta", d));
	}
	while (off < len) {
		size_t k = piece(body + off, len - off, tool ? 48 : 24);
		jv d = jv_object();

		d = json_set(d, "type", jv_string(tool ? "input_json_delta" : "text_delta"));
		d = json_set(d, tool ? "partial_json" : "text", jv_string_sized(body + off, (int)k));
		sb_event(b, "content_block_delta", json_set(json_set(json_set(jv_object(), "type",
			jv_string("content_block_delta")), "index", jv_number(index)), "delta", d));
		off += k;
	}
	sb_event(b, "content_block_stop", json_set(json_set(jv_object(), "type",
		jv_string("content_block_stop")), "index", jv_number(index)));
	free(body);
	jv_free(text);
	jv_free(block);
}

/* The event sequence of a streamed message (msg consumed). */
static void sse(struct sim *s, struct sim_reply *rp, jv msg, const struct usage *u,
		int fail_mid, const char *rid)
{
	struct sbuf b = { 0 };
	jv content = member(msg, "content"), start = jv_copy(msg), d = jv_object(), du = jv_object();
	int n = jv_array_length(jv_copy(content));

	start = json_set(start, "content", jv_array());
	start = json_set(start, "stop_reason", jv_null());
	start = json_set(start, "stop_details", jv_null());
	{
		jv us = member(msg, "usage");

		start = json_set(start, "usage", usage_json(u, 1, member(us, "speed")));
		jv_free(us);
	}
	sb_event(&b, "message_start", json_set(json_set(jv_object(), "type",
		jv_string("message_start")), "message", start));
	sb_event(&b, "ping", json_set(jv_object(), "type", jv_string("ping")));
	for (int i = 0; i < n && !fail_mid; i++) {
		sse_block(&b, jv_array_get(jv_copy(content), i), i);
		if (i == 0 && n > 1)
			sb_event(&b, "ping", json_set(jv_object(), "type", jv_string("ping")));
	}
	if (fail_mid) {
		/* Overloaded after the 200: the client sees an error event. */
		jv e = json_set(json_set(jv_object(), "type", jv_string("overloaded_error")),
				"message", jv_string("Overloaded"));

		if (n > 0) {
			jv b0 = jv_array_get(jv_copy(content), 0);
			jv st = str_is(b0, "type", "tool_use")
			      ? json_set(jv_copy(b0), "input", jv_object())
			      : json_set(jv_copy(b0), "text", jv_string(""));

			sb_event(&b, "content_block_start", json_set(json_set(json_set(jv_object(), "type",
				jv_string("content_block_start")), "index", jv_number(0)), "content_block", st));
			jv_free(b0);
		}
		sb_event(&b, "error", json_set(json_set(json_set(jv_object(), "type", jv_string("error")),
						       "error", e), "request_id", jv_string(rid)));
	} else {
		d = json_set(d, "stop_reason", member(msg, "stop_reason"));
		d = json_set(d, "stop_sequence", jv_null());
		d = json_set(d, "stop_details", member(msg, "stop_details"));
		d = json_set(d, "container", jv_null());
		du = json_set(du, "input_tokens", jv_number(u->input));
		du = json_set(du, "cache_creation_input_tokens", jv_number(u->write5m + u->write1h));
		du = json_set(du, "cache_read_input_tokens", jv_number(u->read));
		du = json_set(du, "output_tokens", jv_number(u->output));
		du = json_set(du, "server_tool_use", jv_null());
		sb_event(&b, "message_delta", json_set(json_set(json_set(jv_object(), "type",
			jv_string("message_delta")), "delta", d), "usage", du));
		d = du = jv_invalid();
		sb_event(&b, "message_stop", json_set(jv_object(), "type", jv_string("message_stop")));
	}
	jv_free(d);
	jv_free(du);
	jv_free(content);
	jv_free(msg);
	if (b.oom) {
		free(b.p);
		sim_model_error(s, rp, 500, "api_error", NULL, "Internal server error");
		return;
	}
	free(rp->body);
	rp->status = 200;
	rp->body = b.p;
	rp->len = b.len;
	rp->mode = SIM_STREAM;
	rp->ctype = "text/event-stream; charset=utf-8";
}

/* Cuts the turn at max_tokens, as the API stops generating there. */
static jv clip(jv content, long max, const char **stop, long *out)
{
	jv first = jv_array_get(jv_copy(content), 0), text = member(first, "text");
	const char *t = jv_get_kind(text) == JV_KIND_STRING ? jv_string_value(text)
		      : "I will now call the tool with the following configuration";
	size_t keep = piece(t, strlen(t), (size_t)max * 4);
	jv cut = jv_array_append(jv_array(), json_set(json_set(jv_object(), "type", jv_string("text")),
						      "text", jv_string_sized(t, (int)keep)));

	*stop = "max_tokens";
	*out = max;
	jv_free(text);
	jv_free(first);
	jv_free(content);
	return cut;
}

static void messages(struct sim *s, const struct sim_req *rq, struct sim_reply *rp,
		     const char *rid)
{
	jv req = rq->json, msg = jv_object(), content, stop_details = jv_null();
	const char *stop = "end_turn";
	struct sim_hit hit;
	struct usage u;
	int stream = kind_of(req, "stream") == JV_KIND_TRUE;
	double max_tokens = 1;
	char id[40];

	s->n_messages++;
	sim_fault_take(s, SIM_STAGE_POST, rq->path, rq->method, stream, &hit);
	rp->delay_ms += hit.latency_ms;
	if (hit.action && hit.f.refusal) {
		jv sd = jv_object();

		content = jv_array();
		stop = "refusal";
		sd = json_set(sd, "type", jv_string("refusal"));
		sd = json_set(sd, "category", jv_string(hit.f.category[0] ? hit.f.category : "cyber"));
		sd = json_set(sd, "explanation", jv_string("The request was declined by the "
							   "simulated safety classifier."));
		jv_free(stop_details);
		stop_details = sd;
		snprintf(rp->note, sizeof rp->note, "refusal");
	} else if (hit.action && hit.f.tool_use[0]) {
		/* a scripted turn: this tool, this input (tests of hostile arguments) */
		jv tu, input, block;
		struct err pe = ERR_INIT;
		char tid[40];

		if (json_parse(hit.f.tool_use, strlen(hit.f.tool_use), &tu, &pe))
			tu = jv_object();
		input = json_get(jv_copy(tu), "input");
		if (!jv_is_valid(input))
			input = jv_object();
		if (hit.f.pad_bytes > 0 && jv_get_kind(input) == JV_KIND_OBJECT) {
			size_t n = (size_t)hit.f.pad_bytes;
			char *pad = malloc(n + 1);

			if (pad) {
				memset(pad, 'x', n);
				pad[n] = 0;
				input = json_set(input, "padding", jv_string_sized(pad, (int)n));
				free(pad);
			}
		}
		sim_make_id(s, "toolu_01", 22, tid, sizeof tid);
		block = json_set(json_set(json_set(json_set(jv_object(), "type", jv_string("tool_use")),
			"id", jv_string(tid)), "name", json_get(jv_copy(tu), "name")), "input", input);
		content = jv_array_append(jv_array(), block);
		stop = "tool_use";
		jv_free(tu);
		snprintf(rp->note, sizeof rp->note, "tool_use");
	} else {
		content = sim_agent_turn(s, req, &stop);
	}
	json_number(req, "max_tokens", &max_tokens);
	usage_of(s, req, &u);
	u.output = jv_array_length(jv_copy(content)) ? output_tokens(jv_copy(content)) : 1;
	/* a scripted turn is sent as it is, however large (hostile-input tests) */
	if (u.output > (long)max_tokens && jv_array_length(jv_copy(content)) > 0 &&
	    !(hit.action && hit.f.tool_use[0]))
		content = clip(content, (long)max_tokens, &stop, &u.output);
	{
		/* what the Admin API will report (a bill_factor fault bills it otherwise) */
		const int64_t tok[SIM_TOK_N] = { u.input, u.output, u.read, u.write5m, u.write1h };
		jv m = member(req, "model");

		sim_admin_bill(s, jv_get_kind(m) == JV_KIND_STRING ? jv_string_value(m) : NULL, tok,
			       hit.action && hit.f.bill_factor > 0 ? hit.f.bill_factor : 1);
		jv_free(m);
		if (hit.action && hit.f.bill_factor > 0)
			snprintf(rp->note, sizeof rp->note, "bill_factor");
	}
	sim_make_id(s, "msg_01", 22, id, sizeof id);
	msg = json_set(msg, "id", jv_string(id));
	msg = json_set(msg, "type", jv_string("message"));
	msg = json_set(msg, "role", jv_string("assistant"));
	msg = json_set(msg, "model", member(req, "model"));
	msg = json_set(msg, "content", content);
	msg = json_set(msg, "stop_reason", jv_string(stop));
	msg = json_set(msg, "stop_sequence", jv_null());
	msg = json_set(msg, "stop_details", stop_details);
	msg = json_set(msg, "container", jv_null());
	msg = json_set(msg, "diagnostics", jv_null());
	{
		jv sp = member(req, "speed");

		msg = json_set(msg, "usage", usage_json(&u, 0, jv_get_kind(sp) == JV_KIND_STRING
							? sp : (jv_free(sp), jv_null())));
	}
	if (stream) {
		if (hit.action && hit.f.stream_error)
			snprintf(rp->note, sizeof rp->note, "stream_error");
		sse(s, rp, msg, &u, hit.action && hit.f.stream_error, rid);
	} else {
		sim_reply_json(rp, 200, msg);
	}
}

static void models(struct sim *s, const struct sim_req *rq, struct sim_reply *rp)
{
	static const char *const list[][3] = {
		{ "claude-opus-4-5-20251101", "Claude Opus 4.5", "2025-11-01T00:00:00Z" },
		{ "claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z" },
		{ "claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01T00:00:00Z" },
	};
	const char *want = rq->path[10] == '/' ? rq->path + 11 : NULL;
	jv data = jv_array();

	for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
		jv m = jv_object();

		m = json_set(m, "type", jv_string("model"));
		m = json_set(m, "id", jv_string(list[i][0]));
		m = json_set(m, "display_name", jv_string(list[i][1]));
		m = json_set(m, "created_at", jv_string(list[i][2]));
		if (want && strcmp(want, list[i][0]) == 0) {
			jv_free(data);
			sim_reply_json(rp, 200, m);
			return;
		}
		data = jv_array_append(data, m);
	}
	if (want) {
		jv_free(data);
		sim_model_error(s, rp, 404, "not_found_error", NULL, "model: %.100s", want);
		return;
	}
	sim_reply_json(rp, 200, json_set(json_set(json_set(json_set(jv_object(), "data", data),
		"has_more", jv_false()), "first_id", jv_string(list[0][0])),
		"last_id", jv_string(list[2][0])));
}

/* ---- Message Batches (/v1/messages/batches) ------------------------------
 * Source: the Message Batches API as the reference (anthropic-api.md, after
 * section (h)) and the platform docs describe it: a batch of up to 100 000
 * {custom_id, params}; each params is a Messages request, answered when the
 * batch ends (results as JSON Lines: succeeded | errored | canceled |
 * expired); most batches end within an hour, all within 24 h (then the
 * rest expire); billed at half price.  Here a batch ends
 * SIM_BATCH_SECONDS of simulated time after it was made; a fault with
 * route "batches" and "expire": true makes it expire instead (at 24 h). */
#define SIM_BATCH_SECONDS 120.0
#define SIM_BATCH_EXPIRY (24 * 3600.0)

static jv batch_json(struct sim *s, struct sim_batch *b)
{
	double now = sim_now(s);
	int ended = b->canceled || now >= b->t_end;
	jv v = jv_object(), c = jv_object();
	char t[32];
	int n = jv_array_length(jv_copy(b->results)), ok = 0, bad = 0;

	for (int i = 0; i < n; i++) {
		jv r = jv_array_get(jv_copy(b->results), i);
		char *ty = json_string(r, "result.type");

		ok += ty && !strcmp(ty, "succeeded");
		bad += ty && !strcmp(ty, "errored");
		free(ty);
		jv_free(r);
	}
	c = json_set(c, "processing", jv_number(ended ? 0 : n));
	c = json_set(c, "succeeded", jv_number(ended && !b->canceled && !b->expire ? ok : 0));
	c = json_set(c, "errored", jv_number(ended && !b->canceled && !b->expire ? bad : 0));
	c = json_set(c, "canceled", jv_number(ended && b->canceled ? n : 0));
	c = json_set(c, "expired", jv_number(ended && b->expire && !b->canceled ? n : 0));
	v = json_set(v, "id", jv_string(b->id));
	v = json_set(v, "type", jv_string("message_batch"));
	v = json_set(v, "processing_status", jv_string(ended ? "ended" : b->canceled ? "canceling" : "in_progress"));
	v = json_set(v, "request_counts", c);
	v = json_set(v, "ended_at", ended ? jv_string(sim_iso(sim_wall_us(s, b->canceled ? b->t_cancel : b->t_end), t))
					  : jv_null());
	v = json_set(v, "created_at", jv_string(sim_iso(sim_wall_us(s, b->t_created), t)));
	v = json_set(v, "expires_at", jv_string(sim_iso(sim_wall_us(s, b->t_created + SIM_BATCH_EXPIRY), t)));
	v = json_set(v, "archived_at", jv_null());
	v = json_set(v, "cancel_initiated_at", b->canceled ? jv_string(sim_iso(sim_wall_us(s, b->t_cancel), t)) : jv_null());
	v = json_set(v, "results_url", ended ? jv_string_fmt("http://%s:%d/v1/messages/batches/%s/results", s->host, s->port, b->id)
					     : jv_null());
	return v;
}

static void batch_create(struct sim *s, const struct sim_req *rq, struct sim_reply *rp, int ver)
{
	jv reqs = member(rq->json, "requests"), results = jv_array(), seen = jv_object();
	struct sim_batch *b;
	struct sim_hit hit;
	int n;

	if (jv_get_kind(reqs) != JV_KIND_ARRAY || (n = jv_array_length(jv_copy(reqs))) < 1 || n > 1000) {
		jv_free(reqs);
		jv_free(results);
		jv_free(seen);
		sim_model_error(s, rp, 400, "invalid_request_error", NULL,
				"requests: a list of 1 to 100000 {custom_id, params} (this simulator keeps 1000)");
		return;
	}
	if (s->nbatches == SIM_MAX_BATCHES) {
		jv_free(reqs);
		jv_free(results);
		jv_free(seen);
		sim_model_error(s, rp, 429, "rate_limit_error", NULL, "too many batches");
		return;
	}
	for (int i = 0; i < n; i++) {
		jv it = jv_array_get(jv_copy(reqs), i), params = member(it, "params");
		char *cid = json_string(it, "custom_id");
		struct sim_req one = *rq;
		struct sim_reply r1;
		jv line = jv_object(), res = jv_object(), body;

		if (!cid || !*cid || strlen(cid) > 64 || jv_object_has(jv_copy(seen), jv_string(cid))) {
			free(cid);
			jv_free(it);
			jv_free(params);
			jv_free(reqs);
			jv_free(results);
			jv_free(seen);
			jv_free(line);
			jv_free(res);
			sim_model_error(s, rp, 400, "invalid_request_error", NULL,
					"requests.%d.custom_id: 1 to 64 characters, unique in the batch", i);
			return;
		}
		seen = json_set(seen, cid, jv_true());
		memset(&r1, 0, sizeof r1);
		r1.status = 200;
		one.json = params;
		one.len = 1;
		if (kind_of(params, "stream") == JV_KIND_TRUE) {
			body = jv_parse("{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\","
					"\"message\":\"stream: not allowed in a batch\"}}");
			r1.status = 400;
		} else if (check_request(s, &one, &r1, ver, 0)) {
			body = r1.body ? jv_parse(r1.body) : jv_object();
		} else {
			messages(s, &one, &r1, "");
			body = r1.body ? jv_parse(r1.body) : jv_object();
		}
		if (r1.status == 200) {
			/* billed at half the price: the usage is what it would be,
			 * its service_tier "batch" */
			if (json_kind_at(body, "usage") == JV_KIND_OBJECT)
				body = json_set(body, "usage", json_set(json_get(jv_copy(body), "usage"),
									"service_tier", jv_string("batch")));
			res = json_set(res, "type", jv_string("succeeded"));
			res = json_set(res, "message", body);
		} else {
			res = json_set(res, "type", jv_string("errored"));
			res = json_set(res, "error", body);
		}
		sim_reply_release(&r1);
		line = json_set(line, "custom_id", jv_string(cid));
		line = json_set(line, "result", res);
		results = jv_array_append(results, line);
		free(cid);
		jv_free(params);
		jv_free(it);
	}
	jv_free(reqs);
	jv_free(seen);
	b = &s->batches[s->nbatches++];
	memset(b, 0, sizeof *b);
	sim_make_id(s, "msgbatch_01", 22, b->id, sizeof b->id);
	b->t_created = sim_now(s);
	b->t_end = b->t_created + SIM_BATCH_SECONDS;
	sim_fault_take(s, SIM_STAGE_OP, "batches", "POST", 0, &hit);
	if (hit.action && hit.f.fail) {
		b->expire = 1;
		b->t_end = b->t_created + SIM_BATCH_EXPIRY;
	}
	b->results = results;
	sim_reply_json(rp, 200, batch_json(s, b));
}

static struct sim_batch *batch_find(struct sim *s, const char *id, size_t n)
{
	for (int i = 0; i < s->nbatches; i++)
		if (strlen(s->batches[i].id) == n && strncmp(s->batches[i].id, id, n) == 0)
			return &s->batches[i];
	return NULL;
}

static void batch_routes(struct sim *s, const struct sim_req *rq, struct sim_reply *rp, int ver)
{
	const char *rest = rq->path + strlen("/v1/messages/batches");
	int post = strcmp(rq->method, "POST") == 0, get = strcmp(rq->method, "GET") == 0;
	const char *id = rest[0] == '/' ? rest + 1 : NULL, *slash = id ? strchr(id, '/') : NULL;
	struct sim_batch *b = id ? batch_find(s, id, slash ? (size_t)(slash - id) : strlen(id)) : NULL;

	if (!id && post) {
		batch_create(s, rq, rp, ver);
	} else if (!id && get) {
		jv data = jv_array();

		for (int i = s->nbatches - 1; i >= 0; i--)
			data = jv_array_append(data, batch_json(s, &s->batches[i]));
		sim_reply_json(rp, 200, json_set(json_set(jv_object(), "data", data), "has_more", jv_false()));
	} else if (!b) {
		sim_model_error(s, rp, 404, "not_found_error", NULL, "message batch not found");
	} else if (!slash && get) {
		sim_reply_json(rp, 200, batch_json(s, b));
	} else if (slash && !strcmp(slash, "/cancel") && post) {
		if (!b->canceled && sim_now(s) < b->t_end) {
			b->canceled = 1;
			b->t_cancel = sim_now(s);
		}
		sim_reply_json(rp, 200, batch_json(s, b));
	} else if (slash && !strcmp(slash, "/results") && get) {
		struct sbuf out = { 0 };
		int n = jv_array_length(jv_copy(b->results));

		if (!b->canceled && sim_now(s) < b->t_end) {
			sim_model_error(s, rp, 400, "invalid_request_error", NULL,
					"Batch %s has not ended: no results yet", b->id);
			return;
		}
		for (int i = 0; i < n; i++) {
			jv line = jv_array_get(jv_copy(b->results), i);
			char *text;

			if (b->canceled || b->expire) {
				jv cid = json_get(jv_copy(line), "custom_id");

				jv_free(line);
				line = json_set(json_set(jv_object(), "custom_id", cid), "result",
						json_set(jv_object(), "type", jv_string(b->canceled ? "canceled" : "expired")));
			}
			text = json_dump(line);
			sb_add(&out, text ? text : "{}", text ? strlen(text) : 2);
			sb_add(&out, "\n", 1);
			free(text);
		}
		rp->status = 200;
		free(rp->body);
		rp->body = out.p ? out.p : strdup("");
		rp->len = out.p ? out.len : 0;
		rp->ctype = "application/binary";
	} else {
		sim_model_error(s, rp, 405, "invalid_request_error", NULL, "Method Not Allowed");
	}
}

void sim_model_handle(struct sim *s, const struct sim_req *rq, struct sim_reply *rp)
{
	const char *p = rq->path;
	int ver;
	int post = strcmp(rq->method, "POST") == 0, get = strcmp(rq->method, "GET") == 0;
	int msgs = strcmp(p, "/v1/messages") == 0, count = strcmp(p, "/v1/messages/count_tokens") == 0;
	int mods = strcmp(p, "/v1/models") == 0 || strncmp(p, "/v1/models/", 11) == 0;
	int batches = strcmp(p, "/v1/messages/batches") == 0 || strncmp(p, "/v1/messages/batches/", 21) == 0;
	char rid[40];

	if (strncmp(p, "/v1/organizations/", 18) == 0) {
		if (!sim_admin_auth(s, rq, rp) || !version_ok(s, rq, rp))
			return;
		ids(s, rp, rid, sizeof rid);
		sim_admin_handle(s, rq, rp);
		return;
	}
	if (batches) {
		if (!auth_ok(s, rq, rp) || !(ver = version_ok(s, rq, rp)))
			return;
		ids(s, rp, rid, sizeof rid);
		batch_routes(s, rq, rp, ver);
		return;
	}
	if (!msgs && !count && !mods) {
		sim_model_error(s, rp, 404, "not_found_error", NULL, "Not found");
		return;
	}
	if ((msgs || count) ? !post : !get) {
		sim_model_error(s, rp, 405, "invalid_request_error", NULL, "Method Not Allowed");
		return;
	}
	if (!auth_ok(s, rq, rp) || !(ver = version_ok(s, rq, rp)))
		return;
	if (mods) {
		ids(s, rp, rid, sizeof rid);
		models(s, rq, rp);
		return;
	}
	if (check_request(s, rq, rp, ver, count))
		return;
	{
		jv m = member(rq->json, "model");
		int known = strncmp(jv_string_value(m), "claude-", 7) == 0;

		if (!known)
			sim_model_error(s, rp, 404, "not_found_error", NULL, "model: %.100s",
					jv_string_value(m));
		jv_free(m);
		if (!known)
			return;
	}
	ids(s, rp, rid, sizeof rid);
	{
		/* the prompt-caching rules a request can break (reference (h)) */
		struct seg_walk *w = malloc(sizeof *w);
		int marks, order;
		long tokens;

		if (!w) {
			sim_model_error(s, rp, 500, "api_error", NULL, "out of memory");
			return;
		}
		walk(rq->json, w);
		marks = w->marks, order = w->ttl_after_5m, tokens = w->tokens;
		free(w);
		if (marks > 4) {
			sim_model_error(s, rp, 400, "invalid_request_error", NULL,
					"A maximum of 4 blocks with cache_control may be provided. Found %d.", marks);
			return;
		}
		if (order) {
			sim_model_error(s, rp, 400, "invalid_request_error", NULL,
					"cache_control: a block with ttl='1h' must not come after a block "
					"with ttl='5m' (longer TTLs go first)");
			return;
		}
		/* count_tokens: what the messages route bills as input, cached or not */
		if (count) {
			sim_reply_json(rp, 200, json_set(jv_object(), "input_tokens", jv_number(tokens)));
			return;
		}
	}
	messages(s, rq, rp, rid);
}

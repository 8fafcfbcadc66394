/* sim_http: the HTTP server: bodies, routing, faults on the wire, /_sim. */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <microhttpd.h>

#include "base/json.h"
#include "sim_int.h"

/* What one connection accumulates while its request body arrives. */
struct conn {
	char *body;
	size_t len, cap;
	size_t reserved;   /* bytes counted in sim.body_bytes */
	int too_large, no_room, answered;
};

/* What a streamed or truncated reply still has to send. */
struct feed {
	struct sim *s;
	char *buf;
	size_t len, off, stop;
};

const char *sim_req_header(const struct sim_req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

const char *sim_req_arg(const struct sim_req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

void sim_reply_header(struct sim_reply *rp, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (rp->nhdr >= SIM_HDR_MAX)
		return;
	snprintf(rp->hdr[rp->nhdr].name, sizeof rp->hdr[0].name, "%s", name);
	va_start(ap, fmt);
	vsnprintf(rp->hdr[rp->nhdr].value, sizeof rp->hdr[0].value, fmt, ap);
	va_end(ap);
	rp->nhdr++;
}

void sim_reply_json(struct sim_reply *rp, int status, jv body)
{
	free(rp->body);
	rp->status = status;
	rp->body = json_dump(body);
	rp->len = rp->body ? strlen(rp->body) : 0;
	rp->ctype = "application/json";
}

void sim_reply_detail(struct sim_reply *rp, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sim_reply_json(rp, status, json_set(jv_object(), "detail", jv_string(msg)));
}

void sim_reply_release(struct sim_reply *rp)
{
	free(rp->body);
	rp->body = NULL;
}

static int is_model_path(const char *path)
{
	return strncmp(path, "/v1/", 4) == 0 || strcmp(path, "/v1") == 0;
}

static int is_backend_path(const char *path)
{
	return strncmp(path, "/api/v1/", 8) == 0 || strcmp(path, "/api/v1") == 0;
}

/* An incoming webhook, as Slack's answers it (docs.slack.dev, "Sending
 * messages using incoming webhooks" and its error table): POST
 * /services/T.../B.../X... with a JSON body whose "text" is the message;
 * 200 with the plain-text body "ok"; 400 "invalid_payload" for a body that
 * is not JSON, 400 "no_text" without a text; 404 "no_service" for another
 * method.  The toolkit's AGENT_NOTIFY_URL is tested against it. */
static int is_hook_path(const char *path)
{
	return strncmp(path, "/services/", 10) == 0;
}

static void hook_handle(const struct sim_req *rq, struct sim_reply *rp)
{
	const char *word = "ok";
	jv text;

	rp->status = 200;
	if (strcmp(rq->method, "POST")) {
		rp->status = 404;
		word = "no_service";
	} else if (jv_get_kind(rq->json) != JV_KIND_OBJECT) {
		rp->status = 400;
		word = "invalid_payload";
	} else {
		text = jv_object_get(jv_copy(rq->json), jv_string("text"));
		if (jv_get_kind(text) != JV_KIND_STRING || jv_string_length_bytes(jv_copy(text)) == 0) {
			rp->status = 400;
			word = "no_text";
		}
		jv_free(text);
	}
	free(rp->body);
	rp->body = strdup(word);
	rp->len = rp->body ? strlen(rp->body) : 0;
	rp->ctype = "text/plain";
}

/* A reply that looks like the route's answer but is not valid JSON. */
static void broken_body(struct sim *s, const char *path, struct sim_reply *rp)
{
	char id[40];
	jv v;

	sim_make_id(s, "msg_01", 22, id, sizeof id);
	if (is_model_path(path))
		v = jv_parse("{\"type\":\"message\",\"role\":\"assistant\",\"content\":"
			     "[{\"type\":\"text\",\"text\":\"The strategy looks promising; "
			     "next I will start the training run.\"}],\"stop_reason\":\"end_turn\","
			     "\"stop_sequence\":null,\"usage\":{\"input_tokens\":1200,"
			     "\"output_tokens\":24}}");
	else
		v = jv_parse("{\"success\":true,\"data\":{\"status\":\"running\",\"progress\":"
			     "{\"percentage\":42.0,\"current_step\":\"Epoch 42/100\"}}}");
	v = json_set(v, "id", jv_string(id));
	sim_reply_json(rp, 200, v);
}

static void fault_reply(struct sim *s, const struct sim_req *rq, const struct sim_hit *hit,
			struct sim_reply *rp)
{
	const struct sim_fault *f = &hit->f;

	if (f->hang) {
		rp->mode = SIM_HANG;
		snprintf(rp->note, sizeof rp->note, "hang");
	} else if (f->drop || (f->unavailable_s > 0 && f->status < 0)) {
		rp->mode = SIM_DROP;
		snprintf(rp->note, sizeof rp->note, f->drop ? "drop" : "unavailable");
	} else if (f->malformed || f->truncated) {
		broken_body(s, rq->path, rp);
		if (f->malformed) {
			rp->len = rp->len * 2 / 3;  /* a JSON text cut short, sent whole */
			snprintf(rp->note, sizeof rp->note, "malformed");
		} else {
			rp->mode = SIM_TRUNCATE;
			snprintf(rp->note, sizeof rp->note, "truncated");
		}
	} else if (is_model_path(rq->path)) {
		const char *type = f->error_type[0] ? f->error_type : NULL;
		int st = f->status;

		if (!type)
			type = st == 400 ? "invalid_request_error" : st == 401 ? "authentication_error"
			     : st == 402 ? "billing_error" : st == 403 ? "permission_error"
			     : st == 404 ? "not_found_error" : st == 408 || st == 504 ? "timeout_error"
			     : st == 409 ? "conflict_error" : st == 413 ? "request_too_large"
			     : st == 429 ? "rate_limit_error" : st == 529 ? "overloaded_error"
			     : st >= 500 ? "api_error" : "invalid_request_error";
		if (f->message[0])
			sim_model_error(s, rp, st, type, f->error_code[0] ? f->error_code : NULL,
					"%s", f->message);
		else
			sim_model_error(s, rp, st, type, f->error_code[0] ? f->error_code : NULL,
					"%s", strcmp(type, "overloaded_error") == 0 ? "Overloaded"
					: strcmp(type, "rate_limit_error") == 0
					? "This request would exceed your organization's rate limit. "
					  "Please try again later."
					: strcmp(type, "billing_error") == 0
					? "Your credit balance is too low to access the Anthropic API."
					: strcmp(type, "api_error") == 0 ? "Internal server error"
					: "Simulated error");
		snprintf(rp->note, sizeof rp->note, "status %d", st);
	} else {
		sim_reply_detail(rp, f->status, "%s", f->message[0] ? f->message
				 : f->status == 503 ? "Service Unavailable"
				 : f->status >= 500 ? "Internal Server Error" : "Simulated error");
		snprintf(rp->note, sizeof rp->note, "status %d", f->status);
	}
	if (f->status >= 0) {
		/* A rate limit says when to come back, unless it is a spend limit. */
		int ra = f->retry_after;

		if (ra < 0 && f->status == 429 && !f->error_code[0])
			ra = 1;
		if (ra >= 0)
			sim_reply_header(rp, "retry-after", "%d", ra);
		if (f->should_retry >= 0)
			sim_reply_header(rp, "x-should-retry", "%s", f->should_retry ? "true" : "false");
	}
}

static void sim_routes(struct sim *s, const struct sim_req *rq, struct sim_reply *rp)
{
	const char *p = rq->path + 5;  /* after "/_sim" */
	int get = strcmp(rq->method, "GET") == 0, post = strcmp(rq->method, "POST") == 0,
	    del = strcmp(rq->method, "DELETE") == 0;

	if (strcmp(p, "/faults") == 0 && get) {
		sim_reply_json(rp, 200, json_set(jv_object(), "faults", sim_fault_list(s)));
	} else if (strcmp(p, "/faults") == 0 && del) {
		jv v = json_set(jv_object(), "cleared", jv_number(s->nfaults));

		sim_fault_clear(s);
		sim_reply_json(rp, 200, v);
	} else if (strcmp(p, "/faults") == 0 && post) {
		struct err e = ERR_INIT;
		jv spec = jv_copy(rq->json), added = jv_array(), one;
		int rc = 0;

		if (!jv_is_valid(spec)) {
			jv_free(spec);
			jv_free(added);
			sim_reply_json(rp, 400, json_set(jv_object(), "error",
				jv_string_fmt("malformed JSON: %s", rq->json_error ? rq->json_error : "empty body")));
			return;
		}
		if (jv_get_kind(spec) != JV_KIND_ARRAY)
			spec = jv_array_append(jv_array(), spec);
		for (int i = 0; rc == 0 && i < jv_array_length(jv_copy(spec)); i++) {
			rc = sim_fault_add(s, jv_array_get(jv_copy(spec), i), &one, &e);
			if (rc == 0)
				added = jv_array_append(added, one);
		}
		jv_free(spec);
		if (rc) {
			jv_free(added);
			sim_reply_json(rp, 400, json_set(jv_object(), "error", jv_string(e.msg)));
		} else {
			sim_reply_json(rp, 200, json_set(jv_object(), "faults", added));
		}
	} else if (strcmp(p, "/agent") == 0 && post) {
		/* the platform's own agent starts or stops a research cycle */
		int on = 0;
		char *phase = jv_get_kind(rq->json) == JV_KIND_OBJECT ? json_string(rq->json, "phase") : NULL;

		if (jv_get_kind(rq->json) != JV_KIND_OBJECT || !json_bool(rq->json, "active", &on)) {
			free(phase);
			sim_reply_json(rp, 400, json_set(jv_object(), "error",
				jv_string("POST /_sim/agent takes {\"active\": true|false, \"phase\": \"...\"}")));
			return;
		}
		s->agent_active = on;
		snprintf(s->agent_phase, sizeof s->agent_phase, "%.31s", phase ? phase : "training");
		sim_make_id(s, "", 8, s->agent_op, sizeof s->agent_op);
		free(phase);
		sim_reply_json(rp, 200, json_set(json_set(jv_object(), "active", jv_bool(on)),
						 "phase", jv_string(s->agent_phase)));
	} else if (strcmp(p, "/requests") == 0 && get) {
		sim_reply_json(rp, 200, json_set(jv_object(), "requests", jv_copy(s->log)));
	} else if (strcmp(p, "/requests") == 0 && del) {
		jv v = json_set(jv_object(), "cleared", jv_number(jv_array_length(jv_copy(s->log))));

		jv_free(s->log);
		s->log = jv_array();
		sim_reply_json(rp, 200, v);
	} else if (strcmp(p, "/state") == 0 && get) {
		char t[32];
		jv v = jv_object(), n = jv_object();

		v = json_set(v, "seed", jv_number((double)s->cfg.seed));
		v = json_set(v, "speed", jv_number(s->cfg.speed));
		v = json_set(v, "started_at", jv_string(sim_iso(s->wall0_us, t)));
		v = json_set(v, "sim_seconds", jv_number(round(sim_now(s) * 1000) / 1000));
		n = json_set(n, "requests", jv_number((double)s->n_requests));
		n = json_set(n, "messages", jv_number((double)s->n_messages));
		n = json_set(n, "designs", jv_number((double)s->n_designs));
		n = json_set(n, "trainings", jv_number((double)s->n_trainings));
		n = json_set(n, "backtests", jv_number((double)s->n_backtests));
		v = json_set(v, "counters", n);
		v = json_set(v, "operations", sim_backend_ops(s));
		v = json_set(v, "faults", sim_fault_list(s));
		sim_reply_json(rp, 200, v);
	} else if (!strcmp(p, "/faults") || !strcmp(p, "/requests") || !strcmp(p, "/state")) {
		sim_reply_json(rp, 405, json_set(jv_object(), "error", jv_string("method not allowed")));
	} else {
		sim_reply_json(rp, 404, json_set(jv_object(), "error", jv_string("not found")));
	}
}

/* What the log keeps of a request: never a credential's value. */
static void record(struct sim *s, const struct sim_req *rq, const struct sim_reply *rp)
{
	const char *auth = sim_req_header(rq, "authorization");
	char t[32];
	jv v = jv_object(), x;
	int n;

	v = json_set(v, "seq", jv_number((double)rq->seq));
	v = json_set(v, "at", jv_string(sim_iso(s->wall0_us + (sim_mono_us() - s->mono0_us), t)));
	v = json_set(v, "method", jv_string(rq->method));
	v = json_set(v, "path", jv_string(rq->path));
	v = json_set(v, "status", rp->mode == SIM_DROP || rp->mode == SIM_HANG
			  ? jv_null() : jv_number(rp->status));
	v = json_set(v, "fault", rp->note[0] ? jv_string(rp->note) : jv_null());
	v = json_set(v, "anthropic_version", json_str_or_null(sim_req_header(rq, "anthropic-version")));
	v = json_set(v, "anthropic_beta", json_str_or_null(sim_req_header(rq, "anthropic-beta")));
	v = json_set(v, "x_api_key", jv_bool(sim_req_header(rq, "x-api-key") != NULL));
	v = json_set(v, "authorization", jv_bool(auth != NULL));
	if (auth) {
		size_t k = strcspn(auth, " ");

		v = json_set(v, "authorization_scheme", jv_string_sized(auth, (int)(k < 20 ? k : 20)));
	}
	v = json_set(v, "content_type", json_str_or_null(sim_req_header(rq, "content-type")));
	v = json_set(v, "user_agent", json_str_or_null(sim_req_header(rq, "user-agent")));
	v = json_set(v, "body_bytes", jv_number((double)rq->len));
	if (jv_get_kind(rq->json) == JV_KIND_OBJECT) {
		v = json_set(v, "body_fields", jv_keys(jv_copy(rq->json)));
		/* the research backend's requests carry no secret: kept whole */
		if ((strncmp(rq->path, "/api/", 5) == 0 || is_hook_path(rq->path)) && rq->len <= 65536)
			v = json_set(v, "body", jv_copy(rq->json));
		x = jv_object_get(jv_copy(rq->json), jv_string("model"));
		v = json_set(v, "model", jv_get_kind(x) == JV_KIND_STRING ? x : (jv_free(x), jv_null()));
		x = jv_object_get(jv_copy(rq->json), jv_string("stream"));
		v = json_set(v, "stream", jv_get_kind(x) == JV_KIND_TRUE ? x : (jv_free(x), jv_false()));
	} else {
		v = json_set(v, "body_fields", jv_null());
	}
	n = jv_array_length(jv_copy(s->log));
	if (n >= SIM_MAX_LOG)
		s->log = jv_array_slice(s->log, n - SIM_MAX_LOG + 1, n);
	s->log = jv_array_append(s->log, v);
}

/* Routes one complete request (mu held). */
static void dispatch(struct sim *s, struct sim_req *rq, struct sim_reply *rp)
{
	struct sim_hit hit;

	rq->seq = ++s->n_requests;
	if (strncmp(rq->path, "/_sim", 5) == 0 && (rq->path[5] == '/' || !rq->path[5])) {
		sim_routes(s, rq, rp);
		return;
	}
	sim_fault_take(s, SIM_STAGE_PRE, rq->path, rq->method, 0, &hit);
	rp->delay_ms = hit.latency_ms;
	if (hit.latency_ms)
		snprintf(rp->note, sizeof rp->note, "latency %d ms", hit.latency_ms);
	if (hit.action)
		fault_reply(s, rq, &hit, rp);
	else if (is_model_path(rq->path))
		sim_model_handle(s, rq, rp);
	else if (is_backend_path(rq->path))
		sim_backend_handle(s, rq, rp);
	else if (is_hook_path(rq->path))
		hook_handle(rq, rp);
	else
		sim_reply_detail(rp, 404, "Not Found");
	if (is_model_path(rq->path) || is_backend_path(rq->path) || is_hook_path(rq->path))
		record(s, rq, rp);
}

/* Sleeps up to ms, in slices, returning early (1) when the server stops. */
static int pause_ms(struct sim *s, int ms)
{
	while (ms > 0 && !atomic_load(&s->stopping)) {
		int step = ms < 20 ? ms : 20;

		nanosleep(&(struct timespec){ 0, step * 1000000L }, NULL);
		ms -= step;
	}
	return atomic_load(&s->stopping);
}

/* Holds the request until the client gives up, the server stops, or the
 * bound passes; only this connection's thread waits. */
static void hang(struct sim *s, struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	int fd = ci ? ci->connect_fd : -1;
	int64_t end = sim_mono_us() + (int64_t)SIM_HANG_MAX_S * 1000000;

	while (!atomic_load(&s->stopping) && sim_mono_us() < end) {
		struct pollfd p = { fd, POLLIN | POLLRDHUP, 0 };
		char b;

		if (fd < 0 || poll(&p, 1, 100) <= 0) {
			if (fd < 0)
				pause_ms(s, 100);
			continue;
		}
		if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
			return;
		if (recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
			return;
		pause_ms(s, 100);  /* more data (a pipelined request): keep waiting */
	}
}

static ssize_t feed_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct feed *f = cls;
	size_t n;
	char *ev;

	(void)pos;
	if (atomic_load(&f->s->stopping))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (f->off >= f->stop)
		return f->stop < f->len ? MHD_CONTENT_READER_END_WITH_ERROR
					: MHD_CONTENT_READER_END_OF_STREAM;
	/* One server-sent event per chunk, as a streaming server writes them. */
	ev = memmem(f->buf + f->off, f->stop - f->off, "\n\n", 2);
	n = ev ? (size_t)(ev - (f->buf + f->off)) + 2 : f->stop - f->off;
	if (n > max)
		n = max;
	memcpy(buf, f->buf + f->off, n);
	f->off += n;
	return (ssize_t)n;
}

static void feed_free(void *cls)
{
	struct feed *f = cls;

	free(f->buf);
	free(f);
}

static enum MHD_Result deliver(struct sim *s, struct MHD_Connection *c, struct sim_reply *rp)
{
	struct MHD_Response *r = NULL;
	enum MHD_Result ok;

	if (rp->delay_ms && pause_ms(s, rp->delay_ms))
		return MHD_NO;
	if (rp->mode == SIM_DROP)
		return MHD_NO;
	if (rp->mode == SIM_HANG) {
		hang(s, c);
		return MHD_NO;
	}
	if (rp->mode == SIM_STREAM || rp->mode == SIM_TRUNCATE) {
		struct feed *f = calloc(1, sizeof *f);

		if (!f)
			return MHD_NO;
		f->s = s;
		f->buf = rp->body;
		f->len = rp->len;
		f->stop = rp->mode == SIM_TRUNCATE ? rp->len / 2 : rp->len;
		rp->body = NULL;
		r = MHD_create_response_from_callback(rp->mode == SIM_STREAM ? MHD_SIZE_UNKNOWN
						      : (uint64_t)f->len, 4096, feed_read, f, feed_free);
		if (!r)
			feed_free(f);
	} else {
		r = MHD_create_response_from_buffer(rp->len, rp->body ? rp->body : "",
						    rp->body ? MHD_RESPMEM_MUST_FREE
						    : MHD_RESPMEM_PERSISTENT);
		if (r)
			rp->body = NULL;
	}
	if (!r)
		return MHD_NO;
	if (rp->ctype)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rp->ctype);
	for (int i = 0; i < rp->nhdr; i++)
		MHD_add_response_header(r, rp->hdr[i].name, rp->hdr[i].value);
	if (rp->mode == SIM_STREAM)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	ok = MHD_queue_response(c, (unsigned)rp->status, r);
	MHD_destroy_response(r);
	return ok;
}

static void conn_release(struct sim *s, struct conn *cs)
{
	if (cs->reserved)
		atomic_fetch_sub(&s->body_bytes, cs->reserved);
	free(cs->body);
	free(cs);
}

static enum MHD_Result too_large(struct sim *s, struct MHD_Connection *c, const char *url)
{
	struct sim_reply rp = { 0 };
	enum MHD_Result ok;

	pthread_mutex_lock(&s->mu);
	s->n_requests++;
	if (is_model_path(url))
		sim_model_error(s, &rp, 413, "request_too_large", NULL,
				"Request exceeds the maximum allowed number of bytes.");
	else
		sim_reply_detail(&rp, 413, "Request body too large");
	pthread_mutex_unlock(&s->mu);
	ok = deliver(s, c, &rp);
	sim_reply_release(&rp);
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_size, void **ptr)
{
	struct sim *s = cls;
	struct conn *cs = *ptr;
	struct sim_req rq = { 0 };
	struct sim_reply rp = { 0 };
	struct err e = ERR_INIT;
	enum MHD_Result ok;

	(void)version;
	if (!cs) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);

		cs = calloc(1, sizeof *cs);
		if (!cs)
			return MHD_NO;
		*ptr = cs;
		/* Refused before the body is read, as the real API does. */
		if (cl && strtoull(cl, NULL, 10) > SIM_BODY_MAX) {
			cs->too_large = cs->answered = 1;
			return too_large(s, c, url);
		}
		return MHD_YES;
	}
	if (cs->answered) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;

		*upload_size = 0;
		if (cs->too_large || cs->no_room)
			return MHD_YES;
		if (cs->len + n > SIM_BODY_MAX) {
			cs->too_large = 1;
			return MHD_YES;
		}
		if (cs->len + n + 1 > cs->cap) {
			size_t cap = cs->cap ? cs->cap : 16384, grow;
			char *b;

			while (cap < cs->len + n + 1)
				cap *= 2;
			grow = cap - cs->cap;
			if (atomic_fetch_add(&s->body_bytes, grow) + grow > SIM_BODY_TOTAL ||
			    !(b = realloc(cs->body, cap))) {
				atomic_fetch_sub(&s->body_bytes, grow);
				cs->no_room = 1;
				return MHD_YES;
			}
			cs->reserved += grow;
			cs->body = b;
			cs->cap = cap;
		}
		memcpy(cs->body + cs->len, upload, n);
		cs->len += n;
		cs->body[cs->len] = 0;
		return MHD_YES;
	}
	if (cs->too_large)
		return too_large(s, c, url);
	if (cs->no_room) {
		/* Every connection's buffers together are bounded too. */
		pthread_mutex_lock(&s->mu);
		if (is_model_path(url))
			sim_model_error(s, &rp, 529, "overloaded_error", NULL, "Overloaded");
		else
			sim_reply_detail(&rp, 503, "Service Unavailable");
		pthread_mutex_unlock(&s->mu);
		ok = deliver(s, c, &rp);
		sim_reply_release(&rp);
		return ok;
	}

	rq.method = method;
	rq.path = url;
	rq.body = cs->body ? cs->body : "";
	rq.len = cs->len;
	rq.conn = c;
	rp.status = 200;
	pthread_mutex_lock(&s->mu);
	rq.json = jv_invalid();
	if (rq.len) {
		if (json_parse(rq.body, rq.len, &rq.json, &e) == 0) {
			/* parsed */
		} else {
			rq.json = jv_invalid();
			rq.json_error = e.msg;
		}
	}
	dispatch(s, &rq, &rp);
	jv_free(rq.json);
	pthread_mutex_unlock(&s->mu);
	ok = deliver(s, c, &rp);
	sim_reply_release(&rp);
	return ok;
}

static void on_done(void *cls, struct MHD_Connection *c, void **ptr,
		    enum MHD_RequestTerminationCode why)
{
	(void)c;
	(void)why;
	if (*ptr)
		conn_release(cls, *ptr);
	*ptr = NULL;
}

static int url_host(struct sim *s, const struct sockaddr_storage *ss, socklen_t sl,
		    struct err *e)
{
	char h[INET6_ADDRSTRLEN + 2], p[16];

	if (getnameinfo((const struct sockaddr *)ss, sl, h, sizeof h, p, sizeof p,
			NI_NUMERICHOST | NI_NUMERICSERV))
		return err_set(e, EX_TEMP, "cannot read the listening address");
	s->port = atoi(p);
	/* A wildcard address is reached on loopback. */
	if (ss->ss_family == AF_INET6)
		snprintf(s->host, sizeof s->host, "[%s]", strcmp(h, "::") ? h : "::1");
	else
		snprintf(s->host, sizeof s->host, "%s", strcmp(h, "0.0.0.0") ? h : "127.0.0.1");
	return 0;
}

int sim_http_start(struct sim *s, struct err *e)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_POLL;
	int fd, one = 1, rc;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(s->bind_host, s->port_text, &hints, &res);
	if (rc)
		return err_set(e, EX_PERM, "cannot listen on '%s:%s': %s", s->bind_host,
			       s->port_text, gai_strerror(rc));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		rc = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return err_set(e, rc == EMFILE || rc == ENOMEM ? EX_TEMP : EX_PERM,
			       "cannot listen on '%s:%s': %s", s->bind_host, s->port_text, strerror(rc));
	}
	freeaddrinfo(res);
	if (url_host(s, &ss, sl, e)) {
		close(fd);
		return e->code;
	}
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s,
				  MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)SIM_CONN_MAX,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
				  MHD_OPTION_NOTIFY_COMPLETED, on_done, s,
				  MHD_OPTION_END);
	if (!s->mhd) {
		close(fd);
		return err_set(e, EX_TEMP, "cannot start the HTTP server on '%s:%d'", s->host, s->port);
	}
	s->lfd = fd;
	return 0;
}

void sim_http_stop(struct sim *s)
{
	if (!s->mhd)
		return;
	atomic_store(&s->stopping, 1);
	MHD_stop_daemon(s->mhd);
	s->mhd = NULL;
}

/* http: libcurl with bounded time and size, and headers the callers need. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#define DL_REDIRECT_CURL
#include "dl.h"
#include "dl_int.h"

#include "http.h"

static int curl_ready;

struct sink {
	const struct http_req *req;
	struct http_resp *resp;
	size_t cap, max;
	int too_big;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;

	if (s->req->on_data)
		return s->req->on_data(s->req->arg, p, len) ? 0 : len;
	if (s->resp->len + len > s->max) {
		s->too_big = 1;
		return 0;
	}
	if (s->resp->len + len + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *nb;

		while (cap < s->resp->len + len + 1)
			cap *= 2;
		nb = realloc(s->resp->body, cap);
		if (!nb)
			return 0;
		s->resp->body = nb;
		s->cap = cap;
	}
	memcpy(s->resp->body + s->resp->len, p, len);
	s->resp->len += len;
	s->resp->body[s->resp->len] = 0;
	return len;
}

static void trim_copy(char *dst, size_t n, const char *v, size_t len)
{
	while (len && isspace((unsigned char)*v))
		v++, len--;
	while (len && isspace((unsigned char)v[len - 1]))
		len--;
	if (len >= n)
		len = n - 1;
	memcpy(dst, v, len);
	dst[len] = 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct http_resp *r = ((struct sink *)arg)->resp;
	size_t len = size * n;
	char *colon = memchr(p, ':', len);
	char val[128];

	if (!colon)
		return len;
	trim_copy(val, sizeof val, colon + 1, len - (size_t)(colon + 1 - p));
#define IS(name) ((size_t)(colon - p) == strlen(name) && strncasecmp(p, name, strlen(name)) == 0)
	if (IS("retry-after-ms")) {
		double ms = strtod(val, NULL);

		if (ms > 0)
			r->retry_after = ms / 1000.0;
	} else if (IS("retry-after") && r->retry_after < 0) {
		char *end;
		double s = strtod(val, &end);

		if (end != val && *end == 0) {
			r->retry_after = s;
		} else {
			time_t t = curl_getdate(val, NULL);

			if (t > 0)
				r->retry_after = difftime(t, time(NULL));
		}
	} else if (IS("x-should-retry")) {
		r->should_retry = strcasecmp(val, "true") == 0 ? 1 : strcasecmp(val, "false") == 0 ? 0 : -1;
	} else if (IS("request-id")) {
		snprintf(r->request_id, sizeof r->request_id, "%s", val);
	} else if (IS("content-type")) {
		snprintf(r->content_type, sizeof r->content_type, "%s", val);
	}
#undef IS
	return len;
}

const char *http_path(const char *url)
{
	static char buf[256];
	const char *p = strstr(url, "://");

	p = p ? strchr(p + 3, '/') : NULL;
	snprintf(buf, sizeof buf, "%s", p ? p : "/");
	buf[strcspn(buf, "?#")] = 0;
	return buf;
}

int http_do(const struct http_req *r, struct http_resp *out, struct err *e)
{
	struct http_resp init = HTTP_RESP_INIT;
	struct sink sink;
	struct curl_slist *hdrs = NULL;
	CURL *c;
	CURLcode cc;
	int rc = 0;

	*out = init;
	sink = (struct sink){ r, out, 0, r->max_response ? r->max_response : (32u << 20), 0 };
	if (!curl_ready) {
		if (dl_libcurl(e))
			return e->code;
		if (curl_global_init(CURL_GLOBAL_DEFAULT))
			return err_set(e, EX_TEMP, "cannot initialise libcurl");
		curl_ready = 1;
	}
	c = curl_easy_init();
	if (!c)
		return err_set(e, EX_TEMP, "out of memory");
	for (const char *const *h = r->headers; h && *h; h++)
		hdrs = curl_slist_append(hdrs, *h);
	curl_easy_setopt(c, CURLOPT_URL, r->url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r->method);
	if (r->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
	} else if (strcmp(r->method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms > 0 ? r->timeout_ms : 30000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 r->connect_timeout_ms > 0 ? r->connect_timeout_ms : 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "agent-toolkit/" AGENT_VERSION);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	if (cc != CURLE_OK) {
		const char *path = http_path(r->url);

		if (sink.too_big)
			rc = err_set(e, EX_TEMP, "%s %s: response larger than %zu bytes", r->method,
				     path, sink.max);
		else if (cc == CURLE_WRITE_ERROR && r->on_data)
			rc = err_set(e, EX_TEMP, "%s %s: stream aborted", r->method, path);
		else if (cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL)
			rc = err_set(e, EX_PERM, "%s: malformed or unsupported URL", r->method);
		else if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
			 cc == CURLE_SSL_CERTPROBLEM)
			rc = err_set(e, EX_PERM, "%s %s: TLS verification failed: %s", r->method, path,
				     curl_easy_strerror(cc));
		else if (cc == CURLE_OPERATION_TIMEDOUT)
			rc = err_set(e, EX_TEMP, "%s %s: timed out after %g s", r->method, path,
				     (r->timeout_ms > 0 ? r->timeout_ms : 30000L) / 1000.0);
		else
			rc = err_set(e, EX_TEMP, "%s %s: %s", r->method, path, curl_easy_strerror(cc));
		out->status = 0;
	}
	if (!out->body && rc == 0 && !r->on_data) {
		out->body = calloc(1, 1);
		if (!out->body)
			rc = err_set(e, EX_TEMP, "out of memory");
	}
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	return rc;
}

void http_resp_release(struct http_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

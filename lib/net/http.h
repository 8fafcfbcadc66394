/* http: one bounded HTTP exchange over libcurl; TLS verification always on.
 * The CA bundle is the system's, or AGENT_CA_BUNDLE / CURL_CA_BUNDLE /
 * SSL_CERT_FILE (the first set) and SSL_CERT_DIR; HTTPS_PROXY, HTTP_PROXY,
 * ALL_PROXY and NO_PROXY are libcurl's own. */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

#include "base/err.h"

/* The most body bytes one exchange reads, streamed or not (agent(7)):
 * a larger answer is EX_TEMP "response larger than N bytes". */
#define HTTP_MAX_RESPONSE (16u << 20)

struct http_req {
	const char *method;              /* "GET", "POST", "DELETE", "PUT" */
	const char *url;
	const char *const *headers;      /* "Name: value", NULL-terminated; may hold secrets */
	const char *body;                /* may be NULL */
	size_t body_len;
	long timeout_ms;                 /* whole exchange (default 30 s) */
	long connect_timeout_ms;         /* default 5 s */
	size_t max_response;             /* default HTTP_MAX_RESPONSE */
	/* When set, body bytes go here as they arrive instead of into resp.body;
	 * a non-zero return aborts the transfer.  max_response bounds them too. */
	int (*on_data)(void *arg, const char *buf, size_t n);
	void *arg;
};

struct http_resp {
	long status;
	char *body;                      /* NUL-terminated; malloc'd */
	size_t len;
	double retry_after;              /* seconds from retry-after-ms / retry-after; -1 when absent */
	int should_retry;                /* x-should-retry: 1 true, 0 false, -1 absent */
	char request_id[128];
	char content_type[128];
};

#define HTTP_RESP_INIT { 0, NULL, 0, -1, -1, "", "" }

/*
 * Performs the request.  Returns 0 when an HTTP response arrived (whatever
 * its status), EX_TEMP for connection failures and timeouts, EX_PERM for a
 * malformed URL or a TLS verification failure.  Messages name the method
 * and the URL's path, never headers or credentials.
 */
int http_do(const struct http_req *r, struct http_resp *out, struct err *e);
void http_resp_release(struct http_resp *r);

/*
 * The plain path's reading of a whole answer (status line, headers as
 * http_do gives them, a Content-Length or chunked body): buf holds got
 * bytes and room for one more, and is consumed (out->body on success).
 * 0, or -1 with why (n bytes) saying what was wrong.  Exposed for the
 * fuzzer (t/fuzz/http.c); http_do is the entry point.
 */
int http_answer(char *buf, size_t got, size_t max, struct http_resp *out, char *why, size_t n);

/* The path part of a URL for messages (static buffer). */
const char *http_path(const char *url);

#endif

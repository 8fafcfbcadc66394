/* http: libcurl with bounded time and size, and headers the callers need. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#define DL_REDIRECT_CURL
#include "base/dl.h"
#include "base/dl_int.h"

#include "net/http.h"

static int curl_ready;

struct sink {
	const struct http_req *req;
	struct http_resp *resp;
	size_t cap, max;
	size_t seen;                     /* body bytes so far, streamed ones too */
	int too_big;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = size * n;

	/* the cap holds for a streamed body too: an event stream that never
	 * ends is bounded in bytes as well as in time */
	if (len > s->max - s->seen) {
		s->too_big = 1;
		return 0;
	}
	s->seen += len;
	if (s->req->on_data)
		return s->req->on_data(s->req->arg, p, len) ? 0 : len;
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
		} else if (dl_curl.ready) {
			/* an HTTP date; without libcurl loaded (the plain path) it is
			 * taken as absent, and the caller's backoff applies */
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


/*
 * The plain path: http://HOST[:PORT]/PATH with an IP literal or "localhost"
 * (a backend or collector on this host or network, the idle tick's usual
 * case) is one HTTP/1.1 exchange on a socket.  Loading libcurl and its TLS
 * stack costs a process several milliseconds (~20 million instructions),
 * more than the whole stage; https, names to resolve, credentials in the URL
 * and streamed bodies go through libcurl.
 */
struct plain_target {
	char host[256], port[8];
	const char *path;
	int v6;
};

static int plain_target(const char *url, struct plain_target *t)
{
	const char *p = url + 7, *end, *colon;
	unsigned char addr[16];
	size_t n;

	if (strncmp(url, "http://", 7))
		return 0;
	end = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(end - p)) || (*end && *end != '/') || strchr(end, '#'))
		return 0;
	t->v6 = *p == '[';
	if (t->v6) {
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (!close)
			return 0;
		n = (size_t)(close - p - 1);
		p++;
		colon = close[1] == ':' ? close + 1 : close + 1 == end ? NULL : end;
		if (colon == end)
			return 0;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		n = (size_t)((colon ? colon : end) - p);
	}
	if (n == 0 || n >= sizeof t->host)
		return 0;
	memcpy(t->host, p, n);
	t->host[n] = 0;
	if (colon) {
		n = (size_t)(end - colon - 1);
		if (n == 0 || n >= sizeof t->port || strspn(colon + 1, "0123456789") < n)
			return 0;
		memcpy(t->port, colon + 1, n);
		t->port[n] = 0;
	} else {
		strcpy(t->port, "80");
	}
	t->path = *end ? end : "/";
	return !strcmp(t->host, "localhost") ||
	       inet_pton(t->v6 ? AF_INET6 : AF_INET, t->host, addr) == 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 ready, 0 deadline passed, -1 error */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd p = { fd, events, 0 };
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

static int plain_connect(const struct plain_target *t, int64_t deadline, int *err)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	int fd = -1;

	*err = ECONNREFUSED;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (strcmp(t->host, "localhost") ? AI_NUMERICHOST : 0);
	if (getaddrinfo(t->host, t->port, &hints, &res) != 0 || !res)
		return -1;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		int soerr = 0, w;
		socklen_t sl = sizeof soerr;

		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			*err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			if (errno != EINPROGRESS)
				soerr = errno;
			else if ((w = wait_fd(fd, POLLOUT, deadline)) <= 0)
				soerr = w == 0 ? ETIMEDOUT : errno;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
				soerr = errno;
		}
		if (soerr) {
			*err = soerr;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

/* Decodes a chunked body in place; returns its length, or -1 if malformed
 * or incomplete. */
static ssize_t unchunk(char *b, size_t n)
{
	size_t in = 0, out = 0;

	for (;;) {
		char *end;
		unsigned long size;

		if (in >= n)
			return -1;
		size = strtoul(b + in, &end, 16);
		if (end == b + in)
			return -1;
		end = memmem(b + in, n - in, "\r\n", 2);
		if (!end)
			return -1;
		in = (size_t)(end - b) + 2;
		if (size == 0)
			return (ssize_t)out;
		if (size > n - in || n - in - size < 2)
			return -1;
		memmove(b + out, b + in, size);
		out += size;
		in += size + 2;
	}
}

int http_answer(char *buf, size_t got, size_t max, struct http_resp *out, char *why, size_t n)
{
	char *eoh;
	size_t body_at;
	long clen = -1;
	int chunked = 0;
	ssize_t len;

	if (!buf || !(eoh = memmem(buf, got, "\r\n\r\n", 4))) {
		free(buf);
		snprintf(why, n, "%s", got ? "incomplete answer" : "empty reply from server");
		return -1;
	}
	buf[got] = 0;
	if (sscanf(buf, "HTTP/%*d.%*d %ld", &out->status) != 1 || out->status < 100 || out->status > 599) {
		free(buf);
		out->status = 0;
		snprintf(why, n, "not an HTTP answer");
		return -1;
	}
	/* the same headers on_header picks up from libcurl */
	for (char *line = strstr(buf, "\r\n"); line && line < eoh; line = strstr(line + 2, "\r\n")) {
		char *h = line + 2, *lend = strstr(h, "\r\n");
		struct sink hs = { NULL, out, 0, 0, 0, 0 };

		if (!lend || h >= eoh)
			break;
		if (!strncasecmp(h, "content-length:", 15))
			clen = strtol(h + 15, NULL, 10);
		else if (!strncasecmp(h, "transfer-encoding:", 18) && strcasestr(h, "chunked") &&
			 strcasestr(h, "chunked") < lend)
			chunked = 1;
		on_header(h, 1, (size_t)(lend - h), &hs);
	}
	body_at = (size_t)(eoh - buf) + 4;
	if (chunked) {
		len = unchunk(buf + body_at, got - body_at);
		if (len < 0) {
			free(buf);
			snprintf(why, n, "malformed chunked answer");
			return -1;
		}
		out->len = (size_t)len;
	} else {
		out->len = got - body_at;
		if (clen >= 0 && (size_t)clen < out->len)
			out->len = (size_t)clen;
		if (clen >= 0 && (size_t)clen > out->len) {
			free(buf);
			snprintf(why, n, "the answer was cut short");
			return -1;
		}
	}
	if (out->len > max) {
		free(buf);
		snprintf(why, n, "response larger than %zu bytes", max);
		return -1;
	}
	memmove(buf, buf + body_at, out->len);
	buf[out->len] = 0;
	out->body = buf;
	return 0;
}

static int plain_do(const struct http_req *r, const struct plain_target *t,
		    struct http_resp *out, size_t max, struct err *e)
{
	long total_ms = r->timeout_ms > 0 ? r->timeout_ms : 30000L;
	int64_t start = now_ms(), deadline = start + total_ms;
	int64_t cdeadline = start + (r->connect_timeout_ms > 0 ? r->connect_timeout_ms : 5000L);
	char head[8192], *buf = NULL, why[80];
	size_t hl, len = r->body ? r->body_len : 0, got = 0, cap = 0;
	int fd, err, w;
	ssize_t n;

	if (cdeadline > deadline)
		cdeadline = deadline;
	fd = plain_connect(t, cdeadline, &err);
	if (fd < 0) {
		if (err == ETIMEDOUT)
			return err_set(e, EX_TEMP, "%s %s: timed out after %g s", r->method, t->path,
				       total_ms / 1000.0);
		return err_set(e, EX_TEMP, "%s %s: %s", r->method, t->path, strerror(err));
	}
	hl = (size_t)snprintf(head, sizeof head,
			      "%s %s HTTP/1.1\r\nHost: %s%s%s:%s\r\nUser-Agent: agent-toolkit/%s\r\n"
			      "Connection: close\r\n",
			      r->method, t->path, t->v6 ? "[" : "", t->host, t->v6 ? "]" : "", t->port,
			      AGENT_VERSION);
	for (const char *const *h = r->headers; h && *h && hl < sizeof head; h++)
		hl += (size_t)snprintf(head + hl, sizeof head - hl, "%s\r\n", *h);
	if (r->body && hl < sizeof head)
		hl += (size_t)snprintf(head + hl, sizeof head - hl, "Content-Length: %zu\r\n", len);
	if (hl + 3 > sizeof head) {
		close(fd);
		return err_set(e, EX_PERM, "%s %s: request headers too long", r->method, t->path);
	}
	memcpy(head + hl, "\r\n", 3);
	hl += 2;
	for (size_t off = 0, all = hl + len; off < all;) {
		const char *p = off < hl ? head + off : r->body + (off - hl);

		n = send(fd, p, off < hl ? hl - off : all - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR) && (w = wait_fd(fd, POLLOUT, deadline)) > 0)
			continue;
		close(fd);
		if (n < 0 && errno == EAGAIN)
			return err_set(e, EX_TEMP, "%s %s: timed out after %g s", r->method, t->path,
				       total_ms / 1000.0);
		return err_set(e, EX_TEMP, "%s %s: %s", r->method, t->path,
			       n < 0 ? strerror(errno) : "connection closed");
	}
	/* read the whole answer (Connection: close), bounded in size and time */
	for (;;) {
		if (got + 8192 + 1 > cap) {
			size_t nc = cap ? cap * 2 : 16384;
			char *nb;

			if (nc > max + 65536 + 1)
				nc = max + 65536 + 1;
			if (got + 1 >= nc) {
				close(fd);
				free(buf);
				return err_set(e, EX_TEMP, "%s %s: response larger than %zu bytes",
					       r->method, t->path, max);
			}
			nb = realloc(buf, nc);
			if (!nb) {
				close(fd);
				free(buf);
				return err_set(e, EX_TEMP, "out of memory");
			}
			buf = nb;
			cap = nc;
		}
		n = recv(fd, buf + got, cap - 1 - got, 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		if ((errno == EAGAIN || errno == EINTR) && (w = wait_fd(fd, POLLIN, deadline)) > 0)
			continue;
		close(fd);
		free(buf);
		if (errno == EAGAIN || errno == EINTR)
			return err_set(e, EX_TEMP, "%s %s: timed out after %g s", r->method, t->path,
				       total_ms / 1000.0);
		return err_set(e, EX_TEMP, "%s %s: %s", r->method, t->path, strerror(errno));
	}
	close(fd);
	if (http_answer(buf, got, max, out, why, sizeof why))
		return err_set(e, EX_TEMP, "%s %s: %s", r->method, t->path, why);
	return 0;
}

/* The CA bundle the operator named: AGENT_CA_BUNDLE, else CURL_CA_BUNDLE,
 * else SSL_CERT_FILE; NULL for the system's. */
static const char *ca_bundle(void)
{
	static const char *const names[] = { "AGENT_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE" };

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		const char *v = getenv(names[i]);

		if (v && *v)
			return v;
	}
	return NULL;
}

int http_do(const struct http_req *r, struct http_resp *out, struct err *e)
{
	struct http_resp init = HTTP_RESP_INIT;
	struct sink sink;
	struct curl_slist *hdrs = NULL;
	char ebuf[CURL_ERROR_SIZE] = "";
	CURL *c;
	CURLcode cc;
	int rc = 0;

	*out = init;
	sink = (struct sink){ r, out, 0, r->max_response ? r->max_response : HTTP_MAX_RESPONSE, 0, 0 };
	{
		struct plain_target t;

		if (!r->on_data && !getenv("AGENT_HTTP_CURL") && plain_target(r->url, &t))
			return plain_do(r, &t, out, sink.max, e);
	}
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
	{
		/* a custom CA, as the curl program and OpenSSL take one (libcurl
		 * itself reads none of these): behind a TLS-inspecting proxy, or
		 * for a private CA; verification stays on */
		const char *dir = getenv("SSL_CERT_DIR"), *ca = ca_bundle();

		if (ca)
			curl_easy_setopt(c, CURLOPT_CAINFO, ca);
		if (dir && *dir)
			curl_easy_setopt(c, CURLOPT_CAPATH, dir);
	}
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "agent-toolkit/" AGENT_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
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
		else if (cc == CURLE_SSL_CACERT_BADFILE && ca_bundle())
			rc = err_set(e, EX_PERM, "%s %s: cannot use the CA bundle '%.200s' (AGENT_CA_BUNDLE, CURL_CA_BUNDLE or SSL_CERT_FILE)",
				     r->method, path, ca_bundle());
		else if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
			 cc == CURLE_SSL_CERTPROBLEM)
			rc = err_set(e, EX_PERM, "%s %s: TLS verification failed: %s%s", r->method, path,
				     curl_easy_strerror(cc),
				     ca_bundle() ? "" : " (a private CA: AGENT_CA_BUNDLE=FILE)");
		else if (cc == CURLE_OUT_OF_MEMORY)
			/* libcurl's word (7.x) for a header over its 100 KiB limit,
			 * far likelier here than memory running out */
			rc = err_set(e, EX_TEMP, "%s %s: %s", r->method, path,
				     ebuf[0] ? ebuf : "a response header over 100 KiB, or out of memory");
		else if (cc == CURLE_PARTIAL_FILE)
			rc = err_set(e, EX_TEMP, "%s %s: the answer was cut short", r->method, path);
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

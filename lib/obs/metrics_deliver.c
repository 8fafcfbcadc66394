/* metrics_deliver: the exposition to node_exporter's textfile collector and to a Pushgateway. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/http.h"
#include "obs/metrics.h"
#include "obs/prom.h"

int metrics_write_textfile(const char *path, const char *text, size_t len, struct err *e)
{
	char *tmp = NULL, *dir = NULL, *slash;
	int fd = -1, rc = 0, dfd;
	size_t off = 0;

	/* the temporary name must not end in .prom: the collector would read it */
	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0 || !(dir = strdup(path))) {
		free(tmp);
		return err_set(e, EX_TEMP, "out of memory");
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		rc = err_set(e, EX_TEMP, "textfile: cannot create a file beside '%s': %s", path,
			     strerror(errno));
		goto out;
	}
	/* node_exporter usually runs as another user */
	if (fchmod(fd, 0644) < 0) {
		rc = err_set(e, EX_TEMP, "textfile: '%s': %s", tmp, strerror(errno));
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = err_set(e, EX_TEMP, "textfile: cannot write '%s': %s", tmp,
				     n < 0 ? strerror(errno) : "short write");
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		rc = err_set(e, EX_TEMP, "textfile: cannot sync '%s': %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = err_set(e, EX_TEMP, "textfile: cannot write '%s': %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		rc = err_set(e, EX_TEMP, "textfile: cannot rename '%s' to '%s': %s", tmp, path,
			     strerror(errno));
		goto out;
	}
	/* the rename itself survives a crash once the directory is synced */
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = 0;
	dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
out:
	if (fd >= 0)
		close(fd);
	if (rc)
		unlink(tmp);
	free(tmp);
	free(dir);
	return rc;
}

const char *metrics_push_url(void)
{
	const char *u = getenv("AGENT_PUSHGATEWAY_URL");

	if (!u || !*u)
		u = getenv("PROMETHEUS_PUSHGATEWAY_URL");
	return u && *u ? u : NULL;
}

/* A grouping label value as a path segment: plain when it is one, else
 * "@base64" with its base64url form (the Pushgateway's convention). */
static void segment(char *out, size_t n, const char *label, const char *v)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t len = strlen(v), o;
	int plain = len > 0 && strcmp(v, ".") && strcmp(v, "..");

	for (const char *c = v; *c && plain; c++)
		plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			(*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '.';
	if (plain) {
		snprintf(out, n, "%s/%s", label, v);
		return;
	}
	o = (size_t)snprintf(out, n, "%s@base64/", label);
	for (size_t i = 0; i < len && o + 5 < n; i += 3) {
		unsigned x = (unsigned char)v[i] << 16;
		size_t k = len - i < 3 ? len - i : 3;

		if (k > 1)
			x |= (unsigned char)v[i + 1] << 8;
		if (k > 2)
			x |= (unsigned char)v[i + 2];
		out[o++] = b64[(x >> 18) & 63];
		out[o++] = b64[(x >> 12) & 63];
		out[o++] = k > 1 ? b64[(x >> 6) & 63] : '=';
		out[o++] = k > 2 ? b64[x & 63] : '=';
	}
	out[o < n ? o : n - 1] = 0;
	if (len == 0)
		snprintf(out, n, "%s@base64/=", label);
}

int metrics_push(const char *base_url, const char *agent, const char *text, size_t len,
		 struct err *e)
{
	static const char *const headers[] = {
		"Content-Type: text/plain; version=0.0.4; charset=utf-8", NULL
	};
	struct http_req rq = { 0 };
	struct http_resp rs = HTTP_RESP_INIT;
	char *url = NULL, seg[512];
	size_t bl = strlen(base_url);
	int rc;

	while (bl > 0 && base_url[bl - 1] == '/')
		bl--;
	segment(seg, sizeof seg, "agent", agent);
	if (asprintf(&url, "%.*s/metrics/job/agent/%s", (int)bl, base_url, seg) < 0)
		return err_set(e, EX_TEMP, "out of memory");
	rq.method = "PUT";
	rq.url = url;
	rq.headers = headers;
	rq.body = text;
	rq.body_len = len;
	rq.timeout_ms = 5000;
	rq.connect_timeout_ms = 2000;
	rq.max_response = 64 << 10;
	rc = http_do(&rq, &rs, e);
	if (rc) {
		err_wrap(e, "push");
	} else if (rs.status < 200 || rs.status > 299) {
		char first[200] = "";

		if (rs.body)
			snprintf(first, sizeof first, "%.*s", (int)strcspn(rs.body, "\r\n"), rs.body);
		rc = err_set(e, rs.status >= 500 ? EX_TEMP : EX_DATA, "push: PUT %s: HTTP %ld%s%s",
			     http_path(url), rs.status, *first ? ": " : "", first);
	}
	http_resp_release(&rs);
	free(url);
	return rc;
}

/* One delivery's failure: counted (best effort) and described. */
static void failed(struct metrics_ctx *c, const char *agent, const char *method, struct err *why,
		   jv *problems)
{
	struct store *s;
	struct err ignore = ERR_INIT;

	*problems = jv_array_append(*problems, jv_string(why->msg));
	if (metrics_store(c, &s, &ignore) == 0)
		metrics_count_failure(s, agent, method, &ignore);
}

int metrics_deliver(struct metrics_ctx *c, const char *agent, jv *problems)
{
	const char *path = getenv("AGENT_METRICS_TEXTFILE"), *url = metrics_push_url();
	struct store *s = NULL;
	int failures = 0;

	*problems = jv_array();
	if (path && !*path)
		path = NULL;
	if (path) {
		struct prom out = PROM_INIT;
		struct err e = ERR_INIT;

		if (metrics_store(c, &s, &e) || metrics_render(s, NULL, &out, &e) ||
		    metrics_write_textfile(path, prom_text(&out), out.len, &e)) {
			failed(c, agent, "textfile", &e, problems);
			failures++;
		}
		prom_release(&out);
	}
	if (url) {
		struct prom out = PROM_INIT;
		struct err e = ERR_INIT;

		if (metrics_store(c, &s, &e) || metrics_render(s, agent, &out, &e) ||
		    metrics_push(url, agent, prom_text(&out), out.len, &e)) {
			failed(c, agent, "push", &e, problems);
			failures++;
		}
		prom_release(&out);
	}
	return failures;
}

/* metrics_serve: a /metrics endpoint (libmicrohttpd, opened only when serving). */
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>

#include "obs/metrics.h"
#include "obs/prom.h"

/*
 * libmicrohttpd brings GnuTLS and its kin: linked, it would cost every
 * agent-metrics-agg process (the last stage of every tick) milliseconds at
 * start.  So it is opened here, when a server starts.
 */
#define MHD_FUNCS \
	X(MHD_start_daemon) \
	X(MHD_stop_daemon) \
	X(MHD_create_response_from_buffer) \
	X(MHD_add_response_header) \
	X(MHD_queue_response) \
	X(MHD_destroy_response)

static struct {
#define X(f) __typeof__(&f) f;
	MHD_FUNCS
#undef X
} mhd;

static int load_mhd(struct err *e)
{
	static void *h;

	if (h)
		return 0;
	h = dlopen("libmicrohttpd.so.12", RTLD_LAZY | RTLD_LOCAL);
	if (!h)
		h = dlopen("libmicrohttpd.so", RTLD_LAZY | RTLD_LOCAL);
	if (!h)
		return err_set(e, EX_PERM, "cannot load libmicrohttpd: %s", dlerror());
#define X(f)                                                                     \
	if (!(*(void **)&mhd.f = dlsym(h, #f))) {                                \
		dlclose(h);                                                      \
		h = NULL;                                                        \
		return err_set(e, EX_PERM, "libmicrohttpd: no symbol %s", #f); \
	}
	MHD_FUNCS
#undef X
	return 0;
}

struct metrics_server {
	struct MHD_Daemon *d;
	struct metrics_ctx ctx;   /* the store, opened by the server's thread */
	char *agent;
	int fd;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype,
			     const char *body, size_t len)
{
	struct MHD_Response *r = mhd.MHD_create_response_from_buffer(len, (void *)body,
								     MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ok;

	if (!r)
		return MHD_NO;
	mhd.MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	mhd.MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ok = mhd.MHD_queue_response(c, status, r);
	mhd.MHD_destroy_response(r);
	return ok;
}

/* One internal thread serves every connection in turn: the store is only
 * ever used by it. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **state)
{
	static const char text[] = "text/plain; charset=utf-8";
	struct metrics_server *srv = cls;
	struct prom out = PROM_INIT;
	struct err e = ERR_INIT;
	struct store *s;
	enum MHD_Result ok;
	char msg[600];

	(void)version;
	(void)upload;
	if (*upload_size) {
		*upload_size = 0;  /* a body is ignored */
		return MHD_YES;
	}
	if (!*state) {
		*state = srv;      /* the headers are in; answer on the next call */
		return MHD_YES;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, text, "GET /metrics\n", 13);
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, text, "not found: the metrics are at /metrics\n", 39);
	if (metrics_store(&srv->ctx, &s, &e) || metrics_render(s, srv->agent, &out, &e)) {
		/* the next scrape opens the store afresh */
		metrics_release(&srv->ctx);
		prom_release(&out);
		snprintf(msg, sizeof msg, "cannot render the metrics: %s\n", e.msg);
		return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, text, msg, strlen(msg));
	}
	ok = reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", prom_text(&out),
		   out.len);
	prom_release(&out);
	return ok;
}

static int split_addr(const char *spec, char *host, size_t hn, char *port, size_t pn,
		      struct err *e)
{
	const char *colon, *h = "127.0.0.1", *p = spec;
	size_t hl = strlen(h);
	char *end;
	long v;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (!rb || rb[1] != ':')
			return err_set(e, EX_USAGE, "--serve: expected [ADDRESS]:PORT: '%s'", spec);
		h = spec + 1;
		hl = (size_t)(rb - h);
		p = rb + 2;
	} else if ((colon = strrchr(spec, ':')) != NULL) {
		if (memchr(spec, ':', (size_t)(colon - spec)))
			return err_set(e, EX_USAGE,
				       "--serve: write an IPv6 address as [ADDRESS]:PORT: '%s'", spec);
		if (colon > spec) {
			h = spec;
			hl = (size_t)(colon - spec);
		}
		p = colon + 1;
	}
	v = strtol(p, &end, 10);
	if (!*p || *end || v < 0 || v > 65535)
		return err_set(e, EX_USAGE, "--serve: bad port: '%s'", spec);
	if (hl == 0 || hl >= hn)
		return err_set(e, EX_USAGE, "--serve: bad address: '%s'", spec);
	memcpy(host, h, hl);
	host[hl] = 0;
	snprintf(port, pn, "%ld", v);
	return 0;
}

int metrics_serve_start(struct metrics_server **out, const char *addr, const char *db,
			const char *agent, char *url, size_t url_size, struct err *e)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	struct metrics_server *srv;
	char host[256], port[16], h[NI_MAXHOST], p[NI_MAXSERV];
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
	int fd, one = 1, rc;

	*out = NULL;
	if ((rc = split_addr(addr, host, sizeof host, port, sizeof port, e)) || (rc = load_mhd(e)))
		return rc;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)))
		return err_set(e, EX_PERM, "cannot listen on '%s': %s", addr, gai_strerror(rc));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p,
			NI_NUMERICHOST | NI_NUMERICSERV)) {
		rc = errno;
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return err_set(e, EX_PERM, "cannot listen on '%s': %s", addr, strerror(rc));
	}
	freeaddrinfo(res);
	srv = calloc(1, sizeof *srv);
	if (!srv || (agent && !(srv->agent = strdup(agent)))) {
		free(srv);
		close(fd);
		return err_set(e, EX_TEMP, "out of memory");
	}
	metrics_init(&srv->ctx, db);
	srv->fd = fd;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv->d = mhd.MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
				      MHD_OPTION_LISTEN_SOCKET, fd,
				      MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
				      MHD_OPTION_END);
	if (!srv->d) {
		close(fd);
		free(srv->agent);
		free(srv);
		return err_set(e, EX_TEMP, "cannot start the HTTP server on '%s'", addr);
	}
	if (ss.ss_family == AF_INET6)
		snprintf(url, url_size, "http://[%s]:%s/metrics", strcmp(h, "::") ? h : "::1", p);
	else
		snprintf(url, url_size, "http://%s:%s/metrics", strcmp(h, "0.0.0.0") ? h : "127.0.0.1",
			 p);
	*out = srv;
	return 0;
}

void metrics_serve_stop(struct metrics_server *srv)
{
	if (!srv)
		return;
	mhd.MHD_stop_daemon(srv->d);
	close(srv->fd);
	metrics_release(&srv->ctx);
	free(srv->agent);
	free(srv);
}

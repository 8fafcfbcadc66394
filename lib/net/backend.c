/* backend: JSON over HTTP to the research platform, bounded and checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/backend.h"
#include "net/http.h"
#include "base/json.h"

int backend_init(struct backend *b, struct err *e)
{
	const char *url = getenv("AGENT_BACKEND_URL"), *t = getenv("AGENT_BACKEND_TIMEOUT_SECONDS");
	size_t n;

	memset(b, 0, sizeof *b);
	if (url && *url) {
		snprintf(b->base, sizeof b->base, "%s", url);
	} else if ((url = getenv("KTRDR_API_URL")) && *url) {
		n = strlen(url);
		while (n && url[n - 1] == '/')
			n--;
		if (n >= 7 && strncmp(url + n - 7, "/api/v1", 7) == 0)
			snprintf(b->base, sizeof b->base, "%.*s", (int)n, url);
		else
			snprintf(b->base, sizeof b->base, "%.*s/api/v1", (int)n, url);
	} else {
		snprintf(b->base, sizeof b->base, "http://localhost:8000/api/v1");
	}
	n = strlen(b->base);
	while (n && b->base[n - 1] == '/')
		b->base[--n] = 0;
	if (strncmp(b->base, "http://", 7) && strncmp(b->base, "https://", 8))
		return err_set(e, EX_PERM, "backend URL must start with http:// or https://");
	b->timeout_ms = 30000;
	if (t && *t) {
		long s = strtol(t, NULL, 10);

		if (s <= 0 || s > 3600)
			return err_set(e, EX_PERM, "AGENT_BACKEND_TIMEOUT_SECONDS: not 1 to 3600: '%.20s'", t);
		b->timeout_ms = s * 1000;
	}
	return 0;
}

int backend_call(struct backend *b, const char *method, const char *path, jv body,
		 long *status, jv *resp, struct err *e)
{
	static const char *const json_headers[] = { "Content-Type: application/json",
						    "Accept: application/json", NULL };
	char url[2048];
	char *text = NULL;
	struct http_req req = { 0 };
	struct http_resp r;
	int rc;

	snprintf(url, sizeof url, "%s%s", b->base, path);
	if (jv_get_kind(body) != JV_KIND_NULL && jv_is_valid(body))
		text = json_dump(body);
	else
		jv_free(body);
	req.method = method;
	req.url = url;
	req.headers = json_headers;
	req.body = text;
	req.body_len = text ? strlen(text) : 0;
	req.timeout_ms = b->timeout_ms;
	req.max_response = 8u << 20;
	rc = http_do(&req, &r, e);
	free(text);
	if (rc) {
		err_wrap(e, "backend");
		return rc;
	}
	*status = r.status;
	if (r.len == 0) {
		*resp = jv_null();
	} else if (json_parse(r.body, r.len, resp, e)) {
		rc = err_set(e, EX_TEMP, "backend: %s %s: HTTP %ld with a body that is not JSON",
			     method, path, r.status);
	}
	http_resp_release(&r);
	return rc;
}

int backend_id_ok(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	if (n == 0 || n > 128)
		return 0;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return 0;
	return strcmp(id, ".") && strcmp(id, "..");
}

int backend_operation(struct backend *b, const char *id, jv *op, struct err *e)
{
	char path[200];
	long status = 0;
	jv resp;
	int rc;

	*op = jv_null();
	if (!backend_id_ok(id))
		return err_set(e, EX_DATA, "not an operation id: '%.60s'", id ? id : "");
	snprintf(path, sizeof path, "/operations/%s", id);
	if ((rc = backend_call(b, "GET", path, jv_null(), &status, &resp, e)))
		return rc;
	if (status == 404) {
		jv_free(resp);
		return err_set(e, EX_NO, "backend: operation %s not found", id);
	}
	if (status != 200) {
		jv_free(resp);
		return err_set(e, status >= 500 || status == 429 || status == 408 ? EX_TEMP : EX_PERM,
			       "backend: GET /operations/%s: HTTP %ld", id, status);
	}
	*op = json_get(resp, "data");
	if (jv_get_kind(*op) != JV_KIND_OBJECT) {
		jv_free(*op);
		*op = jv_null();
		return err_set(e, EX_TEMP, "backend: GET /operations/%s: no data object", id);
	}
	return 0;
}

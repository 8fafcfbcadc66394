/* prompt: a template becomes one jq string with interpolations, compiled once per render. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jq.h>

#include "base/data.h"
#include "prompt.h"

struct buf {
	char *p;
	size_t len, cap;
};

static int add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t c = b->cap ? b->cap * 2 : 4096;
		char *np;

		while (c < b->len + n + 1)
			c *= 2;
		np = realloc(b->p, c);
		if (!np)
			return -1;
		b->p = np;
		b->cap = c;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

/* text -> "…\((EXPR) | if type == "string" then . else tojson end)…" */
static int to_program(const char *t, struct buf *b)
{
	char esc[8];

	if (add(b, "\"", 1))
		return -1;
	while (*t) {
		if (t[0] == '{' && t[1] == '{') {
			const char *end = strstr(t + 2, "}}");
			static const char pre[] = "\\((", post[] = ") | if type == \"string\" then . else tojson end)";

			if (!end)
				return -2;
			if (add(b, pre, sizeof pre - 1) || add(b, t + 2, (size_t)(end - t - 2)) ||
			    add(b, post, sizeof post - 1))
				return -1;
			t = end + 2;
			continue;
		}
		switch (*t) {
		case '"': snprintf(esc, sizeof esc, "\\\""); break;
		case '\\': snprintf(esc, sizeof esc, "\\\\"); break;
		case '\n': snprintf(esc, sizeof esc, "\\n"); break;
		case '\t': snprintf(esc, sizeof esc, "\\t"); break;
		case '\r': snprintf(esc, sizeof esc, "\\r"); break;
		default:
			if ((unsigned char)*t < 0x20)
				snprintf(esc, sizeof esc, "\\u%04x", (unsigned char)*t);
			else
				esc[0] = *t, esc[1] = 0;
		}
		if (add(b, esc, strlen(esc)))
			return -1;
		t++;
	}
	return add(b, "\"", 1);
}

static void on_error(void *data, jv msg)
{
	char *buf = data;

	if (!buf[0] && jv_get_kind(msg) == JV_KIND_STRING)
		snprintf(buf, 256, "%s", jv_string_value(msg));
	jv_free(msg);
}

int prompt_render_text(const char *text, const char *what, jv context, char **out,
		       struct err *e)
{
	struct buf b = { 0 };
	char msg[256] = "";
	jq_state *jq;
	jv r;
	int rc;

	*out = NULL;
	if (!strstr(text, "{{")) {
		/* plain text (the system prompt): no jq program to compile */
		jv_free(context);
		*out = strdup(text);
		return *out ? 0 : err_set(e, EX_TEMP, "out of memory");
	}
	rc = to_program(text, &b);
	if (rc) {
		free(b.p);
		jv_free(context);
		return rc == -2 ? err_set(e, EX_PERM, "prompt '%s': a {{ has no closing }}", what)
				: err_set(e, EX_TEMP, "out of memory");
	}
	jq = jq_init();
	if (!jq) {
		free(b.p);
		jv_free(context);
		return err_set(e, EX_TEMP, "out of memory");
	}
	jq_set_error_cb(jq, on_error, msg);
	if (!jq_compile(jq, b.p)) {
		free(b.p);
		jq_teardown(&jq);
		jv_free(context);
		return err_set(e, EX_PERM, "prompt '%s': %s", what, msg[0] ? msg : "a {{ }} does not compile");
	}
	free(b.p);
	jq_start(jq, context, 0);
	r = jq_next(jq);
	if (jv_get_kind(r) != JV_KIND_STRING) {
		jv m = jv_is_valid(r) ? jv_null() : jv_invalid_get_msg(jv_copy(r));

		err_set(e, EX_PERM, "prompt '%s': %s", what,
			jv_get_kind(m) == JV_KIND_STRING ? jv_string_value(m) : "did not render to text");
		jv_free(m);
		jv_free(r);
		jq_teardown(&jq);
		return EX_PERM;
	}
	*out = strdup(jv_string_value(r));
	jv_free(r);
	jq_teardown(&jq);
	return *out ? 0 : err_set(e, EX_TEMP, "out of memory");
}

int prompt_render(const char *name, jv context, char **out, struct err *e)
{
	const char *dir = getenv("AGENT_PROMPTS_DIR");
	char path[4400], rel[128], *text;
	FILE *f;
	long n;
	int rc;

	snprintf(rel, sizeof rel, "prompts/%s.md", name);
	if (dir && *dir)
		snprintf(path, sizeof path, "%s/%s.md", dir, name);
	else
		data_path(rel, path, sizeof path);
	f = fopen(path, "r");
	if (!f) {
		jv_free(context);
		return err_set(e, EX_PERM, "cannot read prompt '%s': %s", path, strerror(errno));
	}
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > (1 << 20) || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		jv_free(context);
		return err_set(e, EX_PERM, "prompt '%s': unreadable or over 1 MiB", path);
	}
	text = malloc((size_t)n + 1);
	if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(text);
		jv_free(context);
		return err_set(e, EX_PERM, "cannot read prompt '%s'", path);
	}
	text[n] = 0;
	fclose(f);
	rc = prompt_render_text(text, name, context, out, e);
	free(text);
	return rc;
}

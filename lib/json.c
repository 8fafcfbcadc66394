/* json: streaming JSON Lines reader, compact writer and borrowing accessors. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"

#define READ_CHUNK (64u << 10)

size_t json_limit_from_env(void)
{
	const char *s = getenv("AGENT_MAX_DOC_BYTES");
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return JSON_DEFAULT_LIMIT;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v == 0)
		return JSON_DEFAULT_LIMIT;
	return (size_t)v;
}

int json_reader_init(struct json_reader *r, int fd, const char *name,
		     size_t limit, struct err *e)
{
	memset(r, 0, sizeof *r);
	r->fd = fd;
	r->name = name ? name : "stdin";
	r->limit = limit ? limit : JSON_DEFAULT_LIMIT;
	r->line = 1;
	r->next_line = 1;
	r->buf = malloc(READ_CHUNK);
	r->parser = jv_parser_new(0);
	if (!r->buf || !r->parser) {
		json_reader_release(r);
		return err_set(e, EX_TEMP, "out of memory");
	}
	return 0;
}

void json_reader_release(struct json_reader *r)
{
	if (r->parser)
		jv_parser_free(r->parser);
	free(r->buf);
	r->parser = NULL;
	r->buf = NULL;
}

/* jq's own messages end in " at line L, column C" counted over what it was
 * fed; the reader reports the line itself, so that tail is dropped. */
static void parse_error(struct json_reader *r, jv msg, struct err *e)
{
	char text[300];
	const char *s = jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg)
							   : "malformed JSON";
	char *at;

	snprintf(text, sizeof text, "%s", s);
	at = strstr(text, " at line ");
	if (at)
		*at = 0;
	if (strncmp(text, "Unfinished JSON term at EOF", 27) == 0)
		snprintf(text, sizeof text, "truncated JSON document at end of input");
	err_set(e, EX_DATA, "%s: line %ld: %s", r->name, r->line, text);
	jv_free(msg);
}

int json_reader_next(struct json_reader *r, jv *out, struct err *e)
{
	for (;;) {
		if (r->fed) {
			jv v = jv_parser_next(r->parser);

			if (jv_is_valid(v)) {
				size_t rest = (size_t)jv_parser_remaining(r->parser);

				/* a line's newline belongs to no document */
				if (rest > 0 && r->off > 0 && r->buf[r->off - 1] == '\n')
					rest--;
				r->doc_bytes = rest;
				*out = v;
				return 1;
			}
			if (jv_invalid_has_msg(jv_copy(v))) {
				parse_error(r, jv_invalid_get_msg(v), e);
				r->done = 1;
				return -1;
			}
			jv_free(v);
			r->fed = 0;
			if (r->eof)
				r->done = 1;
		}
		if (r->done)
			return 0;
		if (r->off == r->len) {
			ssize_t n;

			do
				n = read(r->fd, r->buf, READ_CHUNK);
			while (n < 0 && errno == EINTR);
			if (n < 0) {
				r->done = 1;
				err_set(e, EX_TEMP, "%s: read error: %s", r->name,
					strerror(errno));
				return -1;
			}
			r->off = 0;
			r->len = (size_t)n;
			if (n == 0) {
				r->eof = 1;
				r->fed = 1;
				jv_parser_set_buf(r->parser, "", 0, 0);
				continue;
			}
		}
		/* Feed up to the end of one line, so an error knows its line. */
		{
			char *start = r->buf + r->off;
			char *nl = memchr(start, '\n', r->len - r->off);
			size_t n = nl ? (size_t)(nl - start) + 1 : r->len - r->off;

			r->line = r->next_line;
			if (memchr(start, 0, n)) {
				r->done = 1;
				err_set(e, EX_DATA, "%s: line %ld: NUL byte in input",
					r->name, r->line);
				return -1;
			}
			r->doc_bytes += nl ? n - 1 : n;
			if (r->doc_bytes > r->limit) {
				r->done = 1;
				err_set(e, EX_DATA, "%s: line %ld: document larger than %zu bytes",
					r->name, r->line, r->limit);
				return -1;
			}
			jv_parser_set_buf(r->parser, start, (int)n, 1);
			r->fed = 1;
			r->off += n;
			if (nl)
				r->next_line++;
		}
	}
}

int json_read_file(const char *path, size_t limit, jv *out, struct err *e)
{
	struct json_reader r;
	int fd, rc;
	jv extra;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, errno == ENOENT || errno == EACCES ? EX_PERM : EX_TEMP,
			       "cannot read '%s': %s", path, strerror(errno));
	if (json_reader_init(&r, fd, path, limit, e)) {
		close(fd);
		return e->code;
	}
	rc = json_reader_next(&r, out, e);
	if (rc == 0)
		rc = (err_set(e, EX_DATA, "%s: empty file", path), -1);
	else if (rc == 1) {
		int more = json_reader_next(&r, &extra, e);

		if (more == 1) {
			jv_free(extra);
			jv_free(*out);
			rc = (err_set(e, EX_DATA, "%s: more than one JSON document", path), -1);
		} else if (more < 0) {
			jv_free(*out);
			rc = -1;
		}
	}
	json_reader_release(&r);
	close(fd);
	return rc == 1 ? 0 : e->code;
}

int json_parse(const char *s, size_t len, jv *out, struct err *e)
{
	jv_parser *p;
	jv v, extra;

	if (memchr(s, 0, len))
		return err_set(e, EX_DATA, "NUL byte in JSON text");
	p = jv_parser_new(0);
	if (!p)
		return err_set(e, EX_TEMP, "out of memory");
	jv_parser_set_buf(p, s, (int)len, 0);
	v = jv_parser_next(p);
	if (!jv_is_valid(v)) {
		if (jv_invalid_has_msg(jv_copy(v))) {
			jv m = jv_invalid_get_msg(v);
			char text[200];
			char *at;

			snprintf(text, sizeof text, "%s", jv_string_value(m));
			at = strstr(text, " at line ");
			if (at)
				*at = 0;
			jv_free(m);
			err_set(e, EX_DATA, "malformed JSON: %s", text);
		} else {
			jv_free(v);
			err_set(e, EX_DATA, "malformed JSON: empty");
		}
		jv_parser_free(p);
		return EX_DATA;
	}
	extra = jv_parser_next(p);
	if (jv_is_valid(extra) || jv_invalid_has_msg(jv_copy(extra))) {
		jv_free(extra);
		jv_free(v);
		jv_parser_free(p);
		return err_set(e, EX_DATA, "malformed JSON: trailing data");
	}
	jv_free(extra);
	jv_parser_free(p);
	*out = v;
	return 0;
}

int json_write(FILE *f, jv v)
{
	jv s = jv_dump_string(v, 0);
	const char *t = jv_string_value(s);
	size_t n = (size_t)jv_string_length_bytes(jv_copy(s));
	int rc = 0;

	if (fwrite(t, 1, n, f) != n || putc('\n', f) == EOF)
		rc = -1;
	jv_free(s);
	return rc;
}

char *json_dump(jv v)
{
	jv s = jv_dump_string(v, 0);
	char *r = strdup(jv_string_value(s));

	jv_free(s);
	return r;
}

jv json_get(jv v, const char *path)
{
	const char *p = path;

	while (*p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);

		if (jv_get_kind(v) != JV_KIND_OBJECT) {
			jv_free(v);
			return jv_invalid();
		}
		v = jv_object_get(v, jv_string_sized(p, (int)n));
		if (!jv_is_valid(v))
			return v;
		p += n;
		if (*p == '.')
			p++;
	}
	return v;
}

int json_number(jv v, const char *path, double *out)
{
	jv x = json_get(jv_copy(v), path);
	int ok = jv_get_kind(x) == JV_KIND_NUMBER;

	if (ok)
		*out = jv_number_value(x);
	jv_free(x);
	return ok;
}

int json_int(jv v, const char *path, int64_t *out)
{
	double d;

	if (!json_number(v, path, &d) || !isfinite(d) || d != floor(d) ||
	    d < -9.2e18 || d > 9.2e18)
		return 0;
	*out = (int64_t)d;
	return 1;
}

char *json_string(jv v, const char *path)
{
	jv x = json_get(jv_copy(v), path);
	char *s = NULL;

	if (jv_get_kind(x) == JV_KIND_STRING)
		s = strdup(jv_string_value(x));
	jv_free(x);
	return s;
}

int json_bool(jv v, const char *path, int *out)
{
	jv x = json_get(jv_copy(v), path);
	jv_kind k = jv_get_kind(x);

	jv_free(x);
	if (k != JV_KIND_TRUE && k != JV_KIND_FALSE)
		return 0;
	*out = k == JV_KIND_TRUE;
	return 1;
}

int json_is(jv v, jv_kind kind)
{
	return jv_get_kind(v) == kind;
}

jv json_set(jv obj, const char *key, jv value)
{
	return jv_object_set(obj, jv_string(key), value);
}

jv json_str_or_null(const char *s)
{
	return s ? jv_string(s) : jv_null();
}

jv_kind json_kind_at(jv v, const char *path)
{
	jv x = json_get(jv_copy(v), path);
	jv_kind k = jv_get_kind(x);

	jv_free(x);
	return k;
}

int json_is_set(jv v, const char *path)
{
	jv_kind k = json_kind_at(v, path);

	return k != JV_KIND_INVALID && k != JV_KIND_NULL;
}

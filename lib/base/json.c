/* json: streaming JSON Lines reader, compact writer and borrowing accessors. */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/json.h"

#define READ_CHUNK (64u << 10)

static int is_ws(char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* The powers of ten a double holds exactly. */
static const double pow10_exact[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};




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
	r->clean = 1;
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
	r->raw = NULL;
	r->raw_len = 0;
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
			if (memchr(start, 0, n) || memchr(start, 0x1e, n)) {
				/* jq's parser drops what it holds at a record
				 * separator (JSON text sequences), even in a string,
				 * and says nothing: neither is JSON text */
				r->done = 1;
				err_set(e, EX_DATA, "%s: line %ld: %s byte in input", r->name, r->line,
					memchr(start, 0, n) ? "NUL" : "record separator (0x1e)");
				return -1;
			}
			r->doc_bytes += nl ? n - 1 : n;
			if (r->doc_bytes > r->limit) {
				r->done = 1;
				err_set(e, EX_DATA, "%s: line %ld: document larger than %zu bytes",
					r->name, r->line, r->limit);
				return -1;
			}
			/* a whole line while jq holds nothing: the fast path first */
			if (r->clean && nl) {
				const char *d = start, *end = start + n;
				int got;

				while (d < end && is_ws(*d))
					d++;
				while (end > d && is_ws(end[-1]))
					end--;
				if (d == end)
					got = 0;  /* a blank line: it counts, as jq's would */
				else if (r->skip && r->skip(d, (size_t)(end - d), r->skip_arg))
					got = 2;
				else
					got = json_fast_parse(d, (size_t)(end - d), out) == 0 ? 1 : -1;
				if (got >= 0) {
					r->off += n;
					r->next_line++;
					r->fast_used = 1;
					if (got == 0)
						continue;
					r->doc_bytes = 0;
					r->raw = d;
					r->raw_len = (size_t)(end - d);
					return got;
				}
			}
			if (r->clean && r->fast_used) {
				/* jq strips a byte-order mark from the first bytes it
				 * is fed, which are not the stream's first now: one
				 * blank tells it the stream has begun */
				jv_parser_set_buf(r->parser, " ", 1, 1);
				jv_free(jv_parser_next(r->parser));
			}
			r->clean = 0;  /* jq holds what it is fed: jq's from here on */
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
	if (memchr(s, 0x1e, len))
		return err_set(e, EX_DATA, "record separator (0x1e) in JSON text");
	if (json_fast_parse(s, len, out) == 0)
		return 0;
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

/* ---------------------------------------------------------------- writer
 *
 * The compact text jq itself prints (jv_dump_string with no flags), byte
 * for byte, at a fraction of the cost: libjq 1.6 builds it one token at a
 * time into a jv string, ~300 instructions per byte, and every stage of a
 * tick writes the tick document once. */

struct out {
	char *p;
	size_t len, cap;
	int failed;
};

static void out_put(struct out *o, const char *s, size_t n)
{
	if (o->failed || (o->cap - o->len < n && buf_grow(&o->p, &o->cap, o->len + n))) {
		o->failed = 1;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void out_char(struct out *o, char c)
{
	out_put(o, &c, 1);
}

static void out_string(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	out_char(o, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = { '\\', 0 };
		size_t k = 2;

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;  /* copied with its run */
		out_put(o, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			out_put(o, esc, 2);
			esc[0] = '0';
			esc[1] = '0';
			esc[2] = hex[c >> 4];
			esc[3] = hex[c & 15];
			k = 4;
		}
		out_put(o, esc, k);
	}
	out_put(o, s + run, n - run);
	out_char(o, '"');
}

/* jq's jvp_dtoa_fmt: the shortest digits that read back as d, laid out as
 * David Gay's g_fmt with jq's thresholds (exponent when the decimal point
 * is 4 or more places left of the digits, or 15 past them). */
static void out_number(struct out *o, double d)
{
	char tmp[40], digits[20], buf[48], *b = buf;
	int nd = 0, decpt, prec;

	if (d != d) {
		out_put(o, "null", 4);
		return;
	}
	if (d > DBL_MAX)
		d = DBL_MAX;
	if (d < -DBL_MAX)
		d = -DBL_MAX;
	if (d == 0) {
		out_put(o, signbit(d) ? "-0" : "0", signbit(d) ? 2 : 1);
		return;
	}
	if (fabs(d) < 1e15 && d == (double)(long long)d) {
		/* an integer: its digits, as jq prints them (no exponent below 1e17) */
		int n = snprintf(buf, sizeof buf, "%lld", (long long)d);

		out_put(o, buf, (size_t)n);
		return;
	}
	if (d < 0) {
		*b++ = '-';
		d = -d;
	}
	/* A decimal of 15 digits or fewer reads back as d only if it is d
	 * rounded to 15 digits (DBL_DIG), and no other 15-digit decimal does:
	 * where d * 10^p lands on one that reads back (m / 10^p, both exact,
	 * one rounding), it is the one, trailing zeros dropped the shortest. */
	{
		int e10 = (int)floor(log10(d)), p = 14 - e10;

		if (p >= 0 && p <= 22) {
			double m = nearbyint(d * pow10_exact[p]);

			if (m >= 1e14 && m < 1e15 && m / pow10_exact[p] == d) {
				long long v = (long long)m;

				for (int i = 14; i >= 0; i--, v /= 10)
					digits[i] = (char)('0' + v % 10);
				nd = 15;
				decpt = e10 + 1;
				goto trim;
			}
		}
	}
	/* else the first precision of 15, 16, 17 digits with a decimal that
	 * reads back (subnormals carry fewer digits: every precision is tried):
	 * d rounded to it, or else the decimal one unit above or below, which
	 * is the one that reads back where the doubles below d are closer
	 * together than those above it (d a power of two). */
	for (prec = d < DBL_MIN ? 0 : 14; prec <= 16; prec++) {
		snprintf(tmp, sizeof tmp, "%.*e", prec, d);
		nd = 0;
		for (const char *t = tmp; *t && *t != 'e'; t++)
			if (*t != '.')
				digits[nd++] = *t;
		decpt = (int)strtol(strchr(tmp, 'e') + 1, NULL, 10) + 1;
		if (strtod(tmp, NULL) == d || prec == 16)
			break;
		for (int step = 1; step >= -1; step -= 2) {
			char alt[20], num[48];
			int i = nd - 1, e10 = decpt;

			memcpy(alt, digits, (size_t)nd);
			/* one unit in the last place, carried; 10..0 - 1 and 9..9 + 1
			 * change the digit count: left to the next precision */
			while (i >= 0 && alt[i] == (step > 0 ? '9' : '0'))
				alt[i--] = step > 0 ? '0' : '9';
			if (i < 0 || (i == 0 && step < 0 && alt[0] == '1'))
				continue;
			alt[i] = (char)(alt[i] + step);
			snprintf(num, sizeof num, "%c.%.*se%d", alt[0], nd - 1, alt + 1, e10 - 1);
			if (strtod(num, NULL) == d) {
				memcpy(digits, alt, (size_t)nd);
				goto trim;
			}
		}
	}
trim:
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	if (decpt <= -4 || decpt > nd + 15) {
		int x = decpt - 1, k;

		*b++ = digits[0];
		if (nd > 1) {
			*b++ = '.';
			memcpy(b, digits + 1, (size_t)nd - 1);
			b += nd - 1;
		}
		*b++ = 'e';
		*b++ = x < 0 ? '-' : '+';
		if (x < 0)
			x = -x;
		for (k = 10; 10 * k <= x; k *= 10)
			;
		for (; k; k /= 10) {
			*b++ = (char)('0' + x / k);
			x %= k;
		}
	} else if (decpt <= 0) {
		*b++ = '0';
		*b++ = '.';
		for (; decpt < 0; decpt++)
			*b++ = '0';
		memcpy(b, digits, (size_t)nd);
		b += nd;
	} else {
		for (int i = 0; i < nd; i++) {
			*b++ = digits[i];
			if (i + 1 == decpt && i + 1 < nd)
				*b++ = '.';
		}
		for (; decpt > nd; decpt--)
			*b++ = '0';
	}
	out_put(o, buf, (size_t)(b - buf));
}

static void out_value(struct out *o, jv v)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_NULL:
		out_put(o, "null", 4);
		break;
	case JV_KIND_TRUE:
		out_put(o, "true", 4);
		break;
	case JV_KIND_FALSE:
		out_put(o, "false", 5);
		break;
	case JV_KIND_NUMBER:
		out_number(o, jv_number_value(v));
		break;
	case JV_KIND_STRING:
		out_string(o, jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)));
		break;
	case JV_KIND_ARRAY: {
		int n = jv_array_length(jv_copy(v));

		out_char(o, '[');
		for (int i = 0; i < n; i++) {
			jv x = jv_array_get(jv_copy(v), i);

			if (i)
				out_char(o, ',');
			out_value(o, x);
			jv_free(x);
		}
		out_char(o, ']');
		break;
	}
	case JV_KIND_OBJECT: {
		int first = 1;

		out_char(o, '{');
		for (int i = jv_object_iter(v); jv_object_iter_valid(v, i);
		     i = jv_object_iter_next(v, i)) {
			jv k = jv_object_iter_key(v, i), x = jv_object_iter_value(v, i);

			if (!first)
				out_char(o, ',');
			first = 0;
			out_string(o, jv_string_value(k), (size_t)jv_string_length_bytes(jv_copy(k)));
			out_char(o, ':');
			out_value(o, x);
			jv_free(k);
			jv_free(x);
		}
		out_char(o, '}');
		break;
	}
	default:
		out_put(o, "null", 4);
	}
}

const char *json_number_end(const char *p, const char *end)
{
	const char *q;

	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if (p < end && *p >= '1' && *p <= '9')
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	else
		return NULL;
	if (p < end && *p == '.') {
		for (q = ++p; p < end && *p >= '0' && *p <= '9'; p++)
			;
		if (p == q)
			return NULL;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		for (q = p; p < end && *p >= '0' && *p <= '9'; p++)
			;
		if (p == q)
			return NULL;
	}
	return p;
}

/* ---------------------------------------------------------------- fast path
 *
 * libjq 1.6's parser costs ~160 instructions per byte and every stage of a
 * tick reads the tick document.  This one takes strict JSON as it is
 * nearly always written (valid UTF-8, no control characters in strings,
 * depth under 200) and builds the same jv as jq would; on anything else it
 * gives up and the caller hands the text to jq, for jq's result or its
 * error message. */

struct fp {
	const char *p, *end;
	int depth;
};

static void fp_ws(struct fp *f)
{
	while (f->p < f->end && is_ws(*f->p))
		f->p++;
}

static int fp_hex4(const char *p, unsigned *u)
{
	*u = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];

		*u <<= 4;
		if (c >= '0' && c <= '9')
			*u |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*u |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*u |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0. */
static int fp_utf8(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0], cp;
	int n;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (end - p < n)
		return 0;
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

static int fp_string(struct fp *f, jv *out)
{
	const char *start = ++f->p, *p = start;
	struct out o = { 0 };
	int escaped = 0;

	while (p < f->end && *p != '"') {
		unsigned char c = (unsigned char)*p;

		if (c == '\\') {
			escaped = 1;
			p += 2;
		} else if (c < 0x20) {
			return -1;
		} else if (c < 0x80) {
			p++;
		} else {
			int n = fp_utf8((const unsigned char *)p, (const unsigned char *)f->end);

			if (!n)
				return -1;
			p += n;
		}
	}
	if (p >= f->end)
		return -1;
	f->p = p + 1;
	if (!escaped) {
		*out = jv_string_sized(start, (int)(p - start));
		return 0;
	}
	for (const char *q = start; q < p; q++) {
		unsigned u, lo;
		char b[4];
		int n;

		if (*q != '\\') {
			out_char(&o, *q);
			continue;
		}
		q++;
		switch (*q) {
		case '"': case '\\': case '/': out_char(&o, *q); continue;
		case 'b': out_char(&o, '\b'); continue;
		case 'f': out_char(&o, '\f'); continue;
		case 'n': out_char(&o, '\n'); continue;
		case 'r': out_char(&o, '\r'); continue;
		case 't': out_char(&o, '\t'); continue;
		case 'u': break;
		default: free(o.p); return -1;
		}
		if (p - q < 5 || fp_hex4(q + 1, &u)) {
			free(o.p);
			return -1;
		}
		q += 4;
		if (u >= 0xd800 && u <= 0xdbff) {  /* a pair, or jq's business */
			if (p - q < 7 || q[1] != '\\' || q[2] != 'u' || fp_hex4(q + 3, &lo) ||
			    lo < 0xdc00 || lo > 0xdfff) {
				free(o.p);
				return -1;
			}
			u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
			q += 6;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			free(o.p);
			return -1;
		}
		if (u < 0x80)
			b[0] = (char)u, n = 1;
		else if (u < 0x800)
			b[0] = (char)(0xc0 | u >> 6), b[1] = (char)(0x80 | (u & 0x3f)), n = 2;
		else if (u < 0x10000)
			b[0] = (char)(0xe0 | u >> 12), b[1] = (char)(0x80 | ((u >> 6) & 0x3f)),
			b[2] = (char)(0x80 | (u & 0x3f)), n = 3;
		else
			b[0] = (char)(0xf0 | u >> 18), b[1] = (char)(0x80 | ((u >> 12) & 0x3f)),
			b[2] = (char)(0x80 | ((u >> 6) & 0x3f)), b[3] = (char)(0x80 | (u & 0x3f)), n = 4;
		out_put(&o, b, (size_t)n);
	}
	if (o.failed) {
		free(o.p);
		return -1;
	}
	*out = jv_string_sized(o.p ? o.p : "", (int)o.len);
	free(o.p);
	return 0;
}

static int fp_number(struct fp *f, jv *out)
{
	const char *p = json_number_end(f->p, f->end);
	char tmp[64];

	if (!p)
		return -1;
	if ((size_t)(p - f->p) >= sizeof tmp)
		return -1;
	/* Up to 15 significant digits and a power of ten under 10^23: both
	 * exact doubles, so one multiplication or division rounds correctly,
	 * as strtod would (Clinger).  The rest goes to strtod. */
	{
		const char *q = f->p;
		unsigned long long m = 0;
		int nd = 0, scale = 0, neg = 0, ex = 0, eneg = 0;

		if (*q == '-')
			neg = 1, q++;
		for (; q < p && *q >= '0' && *q <= '9'; q++)
			if (nd || *q != '0')
				m = m * 10 + (unsigned)(*q - '0'), nd++;
		if (q < p && *q == '.')
			for (q++; q < p && *q >= '0' && *q <= '9'; q++, scale--)
				if (nd || *q != '0')
					m = m * 10 + (unsigned)(*q - '0'), nd++;
		if (q < p) {  /* the exponent */
			q++;
			if (*q == '+' || *q == '-')
				eneg = *q++ == '-';
			for (; q < p && ex < 1000; q++)
				ex = ex * 10 + (*q - '0');
		}
		scale += eneg ? -ex : ex;
		if (nd <= 15 && scale >= -22 && scale <= 22) {
			double v = (double)m;

			v = scale < 0 ? v / pow10_exact[-scale] : v * pow10_exact[scale];
			f->p = p;
			*out = jv_number(neg ? -v : v);
			return 0;
		}
	}
	memcpy(tmp, f->p, (size_t)(p - f->p));
	tmp[p - f->p] = 0;
	f->p = p;
	*out = jv_number(strtod(tmp, NULL));
	return 0;
}

static int fp_value(struct fp *f, jv *out)
{
	fp_ws(f);
	if (f->p >= f->end)
		return -1;
	switch (*f->p) {
	case '{':
	case '[': {
		int obj = *f->p == '{';
		char close = obj ? '}' : ']';
		jv c = obj ? jv_object() : jv_array();

		if (++f->depth > 200)
			return jv_free(c), -1;
		f->p++;
		fp_ws(f);
		if (f->p < f->end && *f->p == close) {
			f->p++;
			f->depth--;
			*out = c;
			return 0;
		}
		for (;;) {
			jv k = jv_null(), v;

			if (obj) {
				fp_ws(f);
				if (f->p >= f->end || *f->p != '"' || fp_string(f, &k))
					return jv_free(c), -1;
				fp_ws(f);
				if (f->p >= f->end || *f->p != ':') {
					jv_free(k);
					return jv_free(c), -1;
				}
				f->p++;
			}
			if (fp_value(f, &v)) {
				jv_free(k);
				return jv_free(c), -1;
			}
			c = obj ? jv_object_set(c, k, v) : jv_array_append(c, v);
			fp_ws(f);
			if (f->p < f->end && *f->p == ',') {
				f->p++;
				continue;
			}
			if (f->p < f->end && *f->p == close) {
				f->p++;
				f->depth--;
				*out = c;
				return 0;
			}
			return jv_free(c), -1;
		}
	}
	case '"':
		return fp_string(f, out);
	case 't':
		if (f->end - f->p >= 4 && !memcmp(f->p, "true", 4)) {
			f->p += 4;
			*out = jv_true();
			return 0;
		}
		return -1;
	case 'f':
		if (f->end - f->p >= 5 && !memcmp(f->p, "false", 5)) {
			f->p += 5;
			*out = jv_false();
			return 0;
		}
		return -1;
	case 'n':
		if (f->end - f->p >= 4 && !memcmp(f->p, "null", 4)) {
			f->p += 4;
			*out = jv_null();
			return 0;
		}
		return -1;
	default:
		return fp_number(f, out);
	}
}

/* One value and nothing but whitespace in s[0..len): 0 and *out, or -1
 * (not taken: hand the text to jq).  A bare number or literal needs what
 * jq needs after it, a delimiter, so only objects, arrays and strings are
 * taken. */
int json_fast_parse(const char *s, size_t len, jv *out)
{
	struct fp f = { s, s + len, 0 };
	jv v;

	fp_ws(&f);
	if (f.p >= f.end || (*f.p != '{' && *f.p != '[' && *f.p != '"'))
		return -1;
	if (fp_value(&f, &v))
		return -1;
	fp_ws(&f);
	if (f.p != f.end) {
		jv_free(v);
		return -1;
	}
	*out = v;
	return 0;
}

/* ---------------------------------------------------------------- scanning
 *
 * The fast path's grammar without building anything: where a stage only
 * looks at a few members of a document it passes on, it need not build the
 * rest. */

static const char *sk_value(const char *p, const char *end, int depth);

static const char *sk_ws(const char *p, const char *end)
{
	while (p < end && is_ws(*p))
		p++;
	return p;
}

/* Past the string at p (its opening quote), or NULL; *plain says it has no
 * escape. */
static const char *sk_string(const char *p, const char *end, int *plain)
{
	*plain = 1;
	for (p++; p < end; ) {
		unsigned char c = (unsigned char)*p;

		if (c == '"')
			return p + 1;
		if (c == '\\') {
			unsigned u;

			*plain = 0;
			if (p + 1 >= end)
				return NULL;
			if (strchr("\"\\/bfnrt", p[1]) && p[1]) {
				p += 2;
				continue;
			}
			/* \u: no surrogate halves here (the fast path pairs them) */
			if (p[1] != 'u' || end - p < 6 || fp_hex4(p + 2, &u) || (u >= 0xd800 && u <= 0xdfff))
				return NULL;
			p += 6;
		} else if (c < 0x20) {
			return NULL;
		} else if (c < 0x80) {
			p++;
		} else {
			int n = fp_utf8((const unsigned char *)p, (const unsigned char *)end);

			if (!n)
				return NULL;
			p += n;
		}
	}
	return NULL;
}

static const char *sk_value(const char *p, const char *end, int depth)
{
	int plain;

	p = sk_ws(p, end);
	if (p >= end)
		return NULL;
	switch (*p) {
	case '{':
	case '[': {
		char close = *p == '{' ? '}' : ']';

		if (depth >= 200)
			return NULL;
		p = sk_ws(p + 1, end);
		if (p < end && *p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				p = sk_ws(p, end);
				if (p >= end || *p != '"' || !(p = sk_string(p, end, &plain)))
					return NULL;
				p = sk_ws(p, end);
				if (p >= end || *p++ != ':')
					return NULL;
			}
			if (!(p = sk_value(p, end, depth + 1)))
				return NULL;
			p = sk_ws(p, end);
			if (p < end && *p == ',') {
				p++;
				continue;
			}
			return p < end && *p == close ? p + 1 : NULL;
		}
	}
	case '"':
		return sk_string(p, end, &plain);
	case 't':
		return end - p >= 4 && !memcmp(p, "true", 4) ? p + 4 : NULL;
	case 'f':
		return end - p >= 5 && !memcmp(p, "false", 5) ? p + 5 : NULL;
	case 'n':
		return end - p >= 4 && !memcmp(p, "null", 4) ? p + 4 : NULL;
	default:
		return json_number_end(p, end);
	}
}

int json_scan_object(const char *s, size_t len, struct json_member *m, int max)
{
	const char *p = sk_ws(s, s + len), *end = s + len;
	int n = 0, plain;

	if (p >= end || *p != '{')
		return -1;
	p = sk_ws(p + 1, end);
	if (p < end && *p == '}')
		return sk_ws(p + 1, end) == end ? 0 : -1;
	for (;;) {
		const char *k = p, *v;

		if (p >= end || *p != '"' || !(p = sk_string(p, end, &plain)) || !plain)
			return -1;
		if (n < max) {
			m[n].key = k + 1;
			m[n].key_len = (size_t)(p - 1 - (k + 1));
		}
		p = sk_ws(p, end);
		if (p >= end || *p++ != ':')
			return -1;
		v = sk_ws(p, end);
		if (!(p = sk_value(v, end, 1)))
			return -1;
		if (n < max) {
			m[n].value = v;
			m[n].value_len = (size_t)(p - v);
		}
		n++;
		p = sk_ws(p, end);
		if (p < end && *p == ',') {
			p = sk_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}' && sk_ws(p + 1, end) == end)
			return n;
		return -1;
	}
}

int json_write(FILE *f, jv v)
{
	struct out o = { 0 };
	int rc = 0;

	out_value(&o, v);
	out_char(&o, '\n');
	jv_free(v);
	if (o.failed) {
		errno = ENOMEM;
		rc = -1;
	} else if (fwrite(o.p, 1, o.len, f) != o.len) {
		rc = -1;
	}
	free(o.p);
	return rc;
}

char *json_dump(jv v)
{
	struct out o = { 0 };

	out_value(&o, v);
	out_char(&o, 0);
	jv_free(v);
	if (o.failed) {
		free(o.p);
		return NULL;
	}
	return o.p;
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

/* "2026-11-24T03:20:00Z", or with digits of a second when frac > 0 */
static jv time_text(int64_t us, int digits)
{
	char buf[48], tmp[32];
	int64_t s = us / 1000000, f = us % 1000000;

	if (f < 0) {
		s--;
		f += 1000000;
	}
	clock_format(s, tmp);
	if (digits == 0 && f == 0)
		return jv_string(tmp);
	tmp[19] = '\0';
	snprintf(buf, sizeof buf, "%s.%06lldZ", tmp, (long long)f);
	if (digits == 0) {
		/* no trailing zeros of a fraction given in seconds */
		size_t n = strlen(buf) - 1;

		while (buf[n - 1] == '0')
			n--;
		buf[n] = 'Z';
		buf[n + 1] = '\0';
	}
	return jv_string(buf);
}

jv json_time(jv v)
{
	double d;

	if (jv_get_kind(v) != JV_KIND_NUMBER)
		return v;
	d = jv_number_value(v);
	jv_free(v);
	if (!isfinite(d) || fabs(d) > 1e14)
		return jv_null();
	return time_text((int64_t)llround(d * 1e6), 0);
}

jv json_time_us(jv v)
{
	double d;

	if (jv_get_kind(v) != JV_KIND_NUMBER)
		return v;
	d = jv_number_value(v);
	jv_free(v);
	if (!isfinite(d) || fabs(d) > 1e20)
		return jv_null();
	return time_text((int64_t)d, 6);
}

jv json_time_at(jv obj, const char *path)
{
	const char *dot = strchr(path, '.');
	char key[128];
	jv v;

	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return obj;
	if (!dot) {
		v = jv_object_get(jv_copy(obj), jv_string(path));
		if (jv_get_kind(v) != JV_KIND_NUMBER) {
			jv_free(v);
			return obj;
		}
		return jv_object_set(obj, jv_string(path), json_time(v));
	}
	if ((size_t)(dot - path) >= sizeof key)
		return obj;
	memcpy(key, path, (size_t)(dot - path));
	key[dot - path] = '\0';
	v = jv_object_get(jv_copy(obj), jv_string(key));
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		return obj;
	}
	return jv_object_set(obj, jv_string(key), json_time_at(v, dot + 1));
}

int json_time_of(jv v, const char *path, int64_t *out)
{
	jv x = json_get(jv_copy(v), path);
	int64_t us;
	int ok = 0;

	if (jv_get_kind(x) == JV_KIND_NUMBER) {
		*out = (int64_t)jv_number_value(x);
		ok = 1;
	} else if (jv_get_kind(x) == JV_KIND_STRING && clock_parse(jv_string_value(x), &us) == 0) {
		*out = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
		ok = 1;
	}
	jv_free(x);
	return ok;
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

/* test_json: the JSON Lines reader, json_read_file, json_parse, the
 * accessors, and a write to a full device. */
#include <fcntl.h>
#include <math.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "unit.h"
#include "base/json.h"
#include "tick.h"

/* json_time of v as text ("null" for null); consumes v */
static char *time_text(jv v)
{
	return json_dump(json_time(v));
}

static void times_as_text(void **state)
{
	char *t;
	int64_t s = 0;
	jv o;

	(void)state;
	t = time_text(jv_number(1795490400));
	assert_string_equal(t, "\"2026-11-24T03:20:00Z\"");
	free(t);
	/* a fraction is kept, without trailing zeros */
	t = time_text(jv_number(1795490400.25));
	assert_string_equal(t, "\"2026-11-24T03:20:00.25Z\"");
	free(t);
	t = time_text(jv_number(0));
	assert_string_equal(t, "\"1970-01-01T00:00:00Z\"");
	free(t);
	/* null and text pass; nonsense becomes null */
	t = time_text(jv_null());
	assert_string_equal(t, "null");
	free(t);
	t = time_text(jv_string("2026-11-24T03:20:00Z"));
	assert_string_equal(t, "\"2026-11-24T03:20:00Z\"");
	free(t);
	t = time_text(jv_number(1e300));
	assert_string_equal(t, "null");
	free(t);
	t = json_dump(json_time_us(jv_number(1795490400123456.0)));
	assert_string_equal(t, "\"2026-11-24T03:20:00.123456Z\"");
	free(t);
	t = json_dump(json_time_us(jv_number(1795490400000000.0)));
	assert_string_equal(t, "\"2026-11-24T03:20:00.000000Z\"");
	free(t);
	/* in place, at a path; absent or not a number: unchanged */
	assert_int_equal(json_parse("{\"a\":{\"at\":1795490400,\"n\":null},\"b\":3}", 38, &o, NULL), 0);
	o = json_time_at(o, "a.at");
	o = json_time_at(o, "a.n");
	o = json_time_at(o, "a.missing");
	o = json_time_at(o, "b.c");
	o = json_time_at(o, "nothing.here");
	t = json_dump(jv_copy(o));
	assert_string_equal(t, "{\"a\":{\"at\":\"2026-11-24T03:20:00Z\",\"n\":null},\"b\":3}");
	free(t);
	/* and back: text or a number */
	assert_int_equal(json_time_of(o, "a.at", &s), 1);
	assert_int_equal(s, 1795490400);
	assert_int_equal(json_time_of(o, "b", &s), 1);
	assert_int_equal(s, 3);
	s = 7;
	assert_int_equal(json_time_of(o, "a.n", &s), 0);
	assert_int_equal(json_time_of(o, "a.missing", &s), 0);
	assert_int_equal(s, 7);
	jv_free(o);
	o = json_set(jv_object(), "at", jv_string("yesterday"));
	assert_int_equal(json_time_of(o, "at", &s), 0);
	o = json_set(o, "at", jv_string("2026-11-24T04:20:00+01:00"));
	assert_int_equal(json_time_of(o, "at", &s), 1);
	assert_int_equal(s, 1795490400);
	jv_free(o);
}

/* An fd positioned at the start of len bytes of text (NULs allowed). */
static int memfd_with(const char *text, size_t len)
{
	int fd = memfd_create("unit-json", MFD_CLOEXEC);
	size_t off = 0;

	assert_true(fd >= 0);
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		assert_true(n > 0);
		off += (size_t)n;
	}
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* Reads every document of text; returns the array, or fails the test when
 * the reader reports an error. */
static jv read_all(const char *text, size_t len, size_t limit)
{
	struct json_reader r;
	struct err e = ERR_INIT;
	int fd = memfd_with(text, len), rc;
	jv docs = jv_array(), v;

	assert_int_equal(json_reader_init(&r, fd, "input", limit, &e), 0);
	while ((rc = json_reader_next(&r, &v, &e)) == 1)
		docs = jv_array_append(docs, v);
	if (rc < 0)
		fail_msg("reader failed: %s", e.msg);
	/* the end stays the end */
	assert_int_equal(json_reader_next(&r, &v, &e), 0);
	json_reader_release(&r);
	close(fd);
	return docs;
}

/* Reads text until the reader fails; the error in *e, the documents read
 * before it in the result. */
static jv read_until_error(const char *text, size_t len, size_t limit, struct err *e)
{
	struct json_reader r;
	int fd = memfd_with(text, len), rc;
	jv docs = jv_array(), v;

	assert_int_equal(json_reader_init(&r, fd, "input", limit, e), 0);
	while ((rc = json_reader_next(&r, &v, e)) == 1)
		docs = jv_array_append(docs, v);
	if (rc == 0)
		fail_msg("the reader accepted input it should refuse");
	assert_int_equal(rc, -1);
	json_reader_release(&r);
	close(fd);
	return docs;
}

#define S(lit) lit, sizeof(lit) - 1

static void reader_one_per_line(void **state)
{
	jv docs = read_all(S("{\"a\":1}\n[1,2]\n\"s\"\n3\nnull\n"), 0);

	assert_jv_equal(docs, "[{\"a\":1},[1,2],\"s\",3,null]");
	jv_free(docs);
}

static void reader_no_final_newline(void **state)
{
	jv docs = read_all(S("{\"a\":1}\n42"), 0);

	/* a bare number at the end of input is complete: EOF delimits it */
	assert_jv_equal(docs, "[{\"a\":1},42]");
	jv_free(docs);
}

static void reader_document_spans_lines(void **state)
{
	jv docs = read_all(S("{\n  \"a\": [1,\n 2],\n  \"b\": {\"c\": true}\n}\n{\"d\":\n\"x\"}\n"), 0);

	assert_jv_equal(docs, "[{\"a\":[1,2],\"b\":{\"c\":true}},{\"d\":\"x\"}]");
	jv_free(docs);
}

static void reader_two_on_one_line(void **state)
{
	jv docs = read_all(S("{\"a\":1} {\"b\":2}\n[3][4]\n"), 0);

	assert_jv_equal(docs, "[{\"a\":1},{\"b\":2},[3],[4]]");
	jv_free(docs);
}

static void reader_empty_input(void **state)
{
	jv docs = read_all("", 0, 0);

	assert_int_equal(jv_array_length(docs), 0);
}

static void reader_whitespace_only(void **state)
{
	jv docs = read_all(S("  \n\t\n\r\n\n   "), 0);

	assert_int_equal(jv_array_length(docs), 0);
}

static void reader_blank_lines_between(void **state)
{
	jv docs = read_all(S("\n\n1\n\n\n2\n\n"), 0);

	assert_jv_equal(docs, "[1,2]");
	jv_free(docs);
}

static void reader_truncated_last(void **state)
{
	struct err e = ERR_INIT;
	jv docs = read_until_error(S("{\"a\":1}\n{\"b\":2}\n{\"c\": [1, 2"), 0, &e);

	assert_int_equal(e.code, EX_DATA);
	assert_int_equal(jv_array_length(docs), 2);
	assert_non_null(strstr(e.msg, "line 3"));
	assert_non_null(strstr(e.msg, "truncated"));
	assert_non_null(strstr(e.msg, "input"));
}

static void reader_truncated_with_newline(void **state)
{
	struct err e = ERR_INIT;
	jv docs = read_until_error(S("{\"a\":1}\n{\"b\":\n"), 0, &e);

	assert_int_equal(e.code, EX_DATA);
	assert_int_equal(jv_array_length(docs), 1);
	/* the document began on line 2 and ran out there */
	assert_non_null(strstr(e.msg, "line 2"));
}

static void reader_truncated_string(void **state)
{
	struct err e = ERR_INIT;
	jv docs = read_until_error(S("\"abc"), 0, &e);

	assert_int_equal(e.code, EX_DATA);
	assert_int_equal(jv_array_length(docs), 0);
	assert_non_null(strstr(e.msg, "line 1"));
}

/* fuzz (t/fuzz/json.c): a record separator in a document made jq's parser
 * drop what it held and stop short of its buffer; the next line fed then
 * failed jq's assertion (abort) */
static void reader_record_separator(void **state)
{
	struct err e = ERR_INIT;
	jv docs = read_until_error(S("{\"a\": 1}\n{\n \"b\": \x1e 2\n}\n{\"c\": 3}\n"), 0, &e);
	jv v;

	assert_int_equal(e.code, EX_DATA);
	assert_jv_equal(docs, "[{\"a\":1}]");
	jv_free(docs);
	assert_non_null(strstr(e.msg, "line 3"));
	assert_non_null(strstr(e.msg, "record separator"));
	err_clear(&e);
	assert_int_equal(json_parse(S("[\"x\x1e\"]"), &v, &e), EX_DATA);
}

static void reader_malformed_middle(void **state)
{
	struct err e = ERR_INIT;
	jv docs = read_until_error(S("1\n2\n{\"a\":1}\n{bad}\n5\n6\n"), 0, &e);

	assert_int_equal(e.code, EX_DATA);
	assert_jv_equal(docs, "[1,2,{\"a\":1}]");
	jv_free(docs);
	if (!strstr(e.msg, "line 4"))
		fail_msg("wrong line in '%s'", e.msg);
	/* the reader's own line, not jq's count over what it was fed */
	assert_null(strstr(e.msg, "column"));
}

static void reader_malformed_after_multiline(void **state)
{
	struct err e = ERR_INIT;
	jv docs = read_until_error(S("{\n\"a\":\n1\n}\n[1,,2]\n"), 0, &e);

	assert_int_equal(e.code, EX_DATA);
	assert_int_equal(jv_array_length(docs), 1);
	if (!strstr(e.msg, "line 5"))
		fail_msg("wrong line in '%s'", e.msg);
}

static void reader_nul_byte(void **state)
{
	static const char text[] = "{\"a\":1}\n{\"b\":\"x\0y\"}\n";
	struct err e = ERR_INIT;
	jv docs = read_until_error(text, sizeof text - 1, 0, &e);

	assert_int_equal(e.code, EX_DATA);
	assert_int_equal(jv_array_length(docs), 1);
	assert_non_null(strstr(e.msg, "NUL"));
	assert_non_null(strstr(e.msg, "line 2"));
}

static void reader_over_limit(void **state)
{
	size_t len = 64u << 10;
	char *line = malloc(len + 1);
	struct err e = ERR_INIT;
	jv docs;

	assert_non_null(line);
	/* one 64 KiB document: a string of 'x', quoted, and a newline */
	memset(line, 'x', len);
	line[0] = '"';
	line[len - 2] = '"';
	line[len - 1] = '\n';
	docs = read_until_error(line, len, 1024, &e);
	assert_int_equal(e.code, EX_DATA);
	assert_int_equal(jv_array_length(docs), 0);
	assert_non_null(strstr(e.msg, "larger than 1024 bytes"));
	assert_non_null(strstr(e.msg, "line 1"));
	free(line);
}

/* A document spanning many short lines is measured as a whole. */
static void reader_over_limit_across_lines(void **state)
{
	size_t n = 400, len = 0;
	char *text = malloc(n * 8 + 8);
	struct err e = ERR_INIT;
	jv docs;

	assert_non_null(text);
	text[len++] = '[';
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "%s1234\n", i ? "," : "");
	text[len++] = ']';
	text[len++] = '\n';
	docs = read_until_error(text, len, 1024, &e);
	assert_int_equal(e.code, EX_DATA);
	assert_int_equal(jv_array_length(docs), 0);
	assert_non_null(strstr(e.msg, "larger than 1024 bytes"));
	free(text);
}

/* The reader refuses a huge document without reading the whole input: on
 * a 16 MiB line it stops after a chunk or two. */
static void reader_over_limit_stops_early(void **state)
{
	size_t len = 16u << 20;
	char *big = malloc(len);
	struct json_reader r;
	struct err e = ERR_INIT;
	int fd;
	jv v;
	off_t consumed;

	assert_non_null(big);
	memset(big, ' ', len);
	big[0] = '[';
	for (size_t i = 1; i + 2 < len; i += 2)
		big[i] = '0', big[i + 1] = ',';
	big[len - 2] = '0';
	big[len - 1] = ']';
	fd = memfd_with(big, len);
	free(big);
	assert_int_equal(json_reader_init(&r, fd, "input", 1024, &e), 0);
	assert_int_equal(json_reader_next(&r, &v, &e), -1);
	assert_int_equal(e.code, EX_DATA);
	consumed = lseek(fd, 0, SEEK_CUR);
	if (consumed > (off_t)(256u << 10))
		fail_msg("read %lld bytes before refusing a document over 1 KiB",
			 (long long)consumed);
	json_reader_release(&r);
	close(fd);
}

/* A document of exactly the limit is within it; one byte more is not. */
static void reader_at_limit(void **state)
{
	char doc[1100];
	struct err e = ERR_INIT;
	jv docs;

	memset(doc, 'y', sizeof doc);
	doc[0] = '"';
	doc[1023] = '"';  /* a 1024-byte document */
	doc[1024] = '\n';
	docs = read_all(doc, 1025, 1024);
	assert_int_equal(jv_array_length(jv_copy(docs)), 1);
	jv_free(docs);

	doc[1023] = 'y';
	doc[1024] = '"';  /* 1025 bytes */
	doc[1025] = '\n';
	docs = read_until_error(doc, 1026, 1024, &e);
	assert_int_equal(e.code, EX_DATA);
	jv_free(docs);
}

/* The same for a document after another: what the first leaves on its line
 * (the newline) is not charged to the second. */
static void reader_at_limit_second(void **state)
{
	char text[1200];
	size_t len;
	jv docs;

	len = (size_t)sprintf(text, "{\"a\":1}\n\"");
	memset(text + len, 'z', 1022);
	len += 1022;
	text[len++] = '"';
	text[len++] = '\n';
	docs = read_all(text, len, 1024);
	assert_int_equal(jv_array_length(docs), 2);
}

/* Many small documents add up to far more than the limit: each is within
 * it, so all are read. */
static void reader_limit_is_per_document(void **state)
{
	size_t n = 2000, len = 0;
	char *text = malloc(n * 16);
	jv docs;

	assert_non_null(text);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "{\"i\":%zu}\n", i);
	docs = read_all(text, len, 64);
	assert_int_equal(jv_array_length(jv_copy(docs)), (int)n);
	{
		jv last = jv_array_get(jv_copy(docs), 1999);

		assert_int_equal(unit_num(last, "i"), 1999);
		jv_free(last);
	}
	jv_free(docs);
	free(text);
}

static void reader_from_pipe(void **state)
{
	int p[2];
	struct json_reader r;
	struct err e = ERR_INIT;
	jv v;
	static const char text[] = "{\"a\":\n1}\n{\"b\":2}";

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], text, sizeof text - 1), (ssize_t)(sizeof text - 1));
	close(p[1]);
	assert_int_equal(json_reader_init(&r, p[0], NULL, 0, &e), 0);
	assert_string_equal(r.name, "stdin");
	assert_int_equal(r.limit, JSON_DEFAULT_LIMIT);
	assert_int_equal(json_reader_next(&r, &v, &e), 1);
	assert_jv_equal(v, "{\"a\":1}");
	jv_free(v);
	assert_int_equal(json_reader_next(&r, &v, &e), 1);
	assert_jv_equal(v, "{\"b\":2}");
	jv_free(v);
	assert_int_equal(json_reader_next(&r, &v, &e), 0);
	json_reader_release(&r);
	close(p[0]);
}

/* Whole lines take the fast path and keep their text for a verbatim pass;
 * once jq is fed (a line longer than a read, or a document over lines),
 * jq reads the rest. */
static void reader_raw_lines(void **state)
{
	size_t big = 100000, len = big + 64;
	char *text = malloc(len);
	struct json_reader r;
	struct err e = ERR_INIT;
	int fd;
	jv v;

	(void)state;
	assert_non_null(text);
	len = (size_t)snprintf(text, len, " {\"a\" : 1}  \n\n[\"");
	memset(text + len, 'x', big);
	len += big;
	len += (size_t)snprintf(text + len, 64, "\"]\n{\"b\":2}\n");
	fd = memfd_with(text, len);
	assert_int_equal(json_reader_init(&r, fd, NULL, 0, &e), 0);
	assert_int_equal(json_reader_next(&r, &v, &e), 1);
	assert_jv_equal(v, "{\"a\":1}");
	jv_free(v);
	assert_non_null(r.raw);
	assert_int_equal(r.raw_len, 9);
	assert_memory_equal(r.raw, "{\"a\" : 1}", 9);
	assert_int_equal(json_reader_next(&r, &v, &e), 1);  /* 100 kB: over two reads */
	assert_int_equal(jv_get_kind(v), JV_KIND_ARRAY);
	jv_free(v);
	assert_null(r.raw);
	assert_int_equal(json_reader_next(&r, &v, &e), 1);
	assert_jv_equal(v, "{\"b\":2}");
	jv_free(v);
	assert_null(r.raw);
	assert_int_equal(json_reader_next(&r, &v, &e), 0);
	json_reader_release(&r);
	close(fd);
	free(text);
}

/* The fast path changes nothing jq would have said: a byte-order mark is
 * taken only at the start of the stream, and blank lines count toward the
 * next document's limit. */
static void reader_as_jq_would(void **state)
{
	static const char bom_first[] = "\357\273\277{\"a\":1}\n{\"b\":2}\n";
	static const char bom_later[] = "{\"a\":1}\n\357\273\277{\"b\":2}\n";
	static const char blanks[] = "\t\n\n{\"h\":1}\r\n";
	struct json_reader r;
	struct err e = ERR_INIT;
	int fd;
	jv v;

	(void)state;
	fd = memfd_with(bom_first, sizeof bom_first - 1);
	assert_int_equal(json_reader_init(&r, fd, NULL, 0, &e), 0);
	assert_int_equal(json_reader_next(&r, &v, &e), 1);
	assert_jv_equal(v, "{\"a\":1}");
	jv_free(v);
	assert_int_equal(json_reader_next(&r, &v, &e), 1);
	jv_free(v);
	json_reader_release(&r);
	close(fd);

	fd = memfd_with(bom_later, sizeof bom_later - 1);
	assert_int_equal(json_reader_init(&r, fd, NULL, 0, &e), 0);
	assert_int_equal(json_reader_next(&r, &v, &e), 1);
	jv_free(v);
	assert_int_equal(json_reader_next(&r, &v, &e), -1);
	assert_int_equal(e.code, EX_DATA);
	assert_non_null(strstr(e.msg, "line 2"));
	json_reader_release(&r);
	close(fd);

	fd = memfd_with(blanks, sizeof blanks - 1);
	assert_int_equal(json_reader_init(&r, fd, NULL, 8, &e), 0);
	assert_int_equal(json_reader_next(&r, &v, &e), -1);
	assert_non_null(strstr(e.msg, "document larger than 8 bytes"));
	json_reader_release(&r);
	close(fd);
}

static void reader_read_error_directory(void **state)
{
	struct json_reader r;
	struct err e = ERR_INIT;
	int fd = open("/", O_RDONLY | O_DIRECTORY);
	jv v;

	assert_true(fd >= 0);
	assert_int_equal(json_reader_init(&r, fd, "/", 0, &e), 0);
	assert_int_equal(json_reader_next(&r, &v, &e), -1);
	assert_int_equal(e.code, EX_TEMP);
	assert_non_null(strstr(e.msg, "read error"));
	/* after an error the reader stays stopped */
	assert_int_equal(json_reader_next(&r, &v, &e), 0);
	json_reader_release(&r);
	close(fd);
}

static void reader_read_error_closed_fd(void **state)
{
	struct json_reader r;
	struct err e = ERR_INIT;
	int fd = memfd_with("1\n", 2);
	jv v;

	close(fd);
	assert_int_equal(json_reader_init(&r, fd, "closed", 0, &e), 0);
	assert_int_equal(json_reader_next(&r, &v, &e), -1);
	assert_int_equal(e.code, EX_TEMP);
	assert_non_null(strstr(e.msg, "closed: read error"));
	json_reader_release(&r);
}

static void limit_from_env(void **state)
{
	unsetenv("AGENT_MAX_DOC_BYTES");
	assert_int_equal(json_limit_from_env(), JSON_DEFAULT_LIMIT);
	setenv("AGENT_MAX_DOC_BYTES", "2048", 1);
	assert_int_equal(json_limit_from_env(), 2048);
	setenv("AGENT_MAX_DOC_BYTES", "12k", 1);
	assert_int_equal(json_limit_from_env(), JSON_DEFAULT_LIMIT);
	setenv("AGENT_MAX_DOC_BYTES", "0", 1);
	assert_int_equal(json_limit_from_env(), JSON_DEFAULT_LIMIT);
	unsetenv("AGENT_MAX_DOC_BYTES");
}

/* ---------------------------------------------------------------- files */

struct files {
	char *dir;
	char path[4200];
};

static int files_setup(void **state)
{
	struct files *f = calloc(1, sizeof *f);

	if (!f || !(f->dir = unit_tmpdir()))
		return -1;
	snprintf(f->path, sizeof f->path, "%s/doc.json", f->dir);
	*state = f;
	return 0;
}

static int files_teardown(void **state)
{
	struct files *f = *state;

	unit_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void read_file_ok(void **state)
{
	struct files *f = *state;
	struct err e = ERR_INIT;
	jv v;

	assert_int_equal(unit_write_file(f->path, "{\n \"models\": [1, 2]\n}\n\n"), 0);
	assert_int_equal(json_read_file(f->path, 0, &v, &e), 0);
	assert_jv_equal(v, "{\"models\":[1,2]}");
	jv_free(v);
}

static void read_file_missing(void **state)
{
	struct files *f = *state;
	struct err e = ERR_INIT;
	char path[4300];
	jv v;

	snprintf(path, sizeof path, "%s/nope.json", f->dir);
	assert_int_equal(json_read_file(path, 0, &v, &e), EX_PERM);
	assert_int_equal(e.code, EX_PERM);
	assert_non_null(strstr(e.msg, "nope.json"));
	assert_non_null(strstr(e.msg, "No such file"));
}

static void read_file_two_documents(void **state)
{
	struct files *f = *state;
	struct err e = ERR_INIT;
	jv v;

	assert_int_equal(unit_write_file(f->path, "{\"a\":1}\n{\"b\":2}\n"), 0);
	assert_int_equal(json_read_file(f->path, 0, &v, &e), EX_DATA);
	assert_non_null(strstr(e.msg, "more than one"));
}

static void read_file_empty(void **state)
{
	struct files *f = *state;
	struct err e = ERR_INIT;
	jv v;

	assert_int_equal(unit_write_file(f->path, "  \n"), 0);
	assert_int_equal(json_read_file(f->path, 0, &v, &e), EX_DATA);
	assert_non_null(strstr(e.msg, "empty"));
}

static void read_file_truncated(void **state)
{
	struct files *f = *state;
	struct err e = ERR_INIT;
	jv v;

	assert_int_equal(unit_write_file(f->path, "{\"a\": [1,\n2,\n"), 0);
	assert_int_equal(json_read_file(f->path, 0, &v, &e), EX_DATA);
	assert_non_null(strstr(e.msg, "truncated"));
	assert_non_null(strstr(e.msg, "doc.json"));
}

static void read_file_garbage_after(void **state)
{
	struct files *f = *state;
	struct err e = ERR_INIT;
	jv v;

	assert_int_equal(unit_write_file(f->path, "{\"a\":1}\n}\n"), 0);
	assert_int_equal(json_read_file(f->path, 0, &v, &e), EX_DATA);
	assert_non_null(strstr(e.msg, "line 2"));
}

static void read_file_over_limit(void **state)
{
	struct files *f = *state;
	struct err e = ERR_INIT;
	jv v;

	assert_int_equal(unit_write_file(f->path, "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]\n"), 0);
	assert_int_equal(json_read_file(f->path, 16, &v, &e), EX_DATA);
	assert_non_null(strstr(e.msg, "larger than 16 bytes"));
}

static void read_file_directory(void **state)
{
	struct files *f = *state;
	struct err e = ERR_INIT;
	jv v;

	assert_int_equal(json_read_file(f->dir, 0, &v, &e), EX_TEMP);
	assert_non_null(strstr(e.msg, "read error"));
}

/* ---------------------------------------------------------------- parse */

static void parse_ok(void **state)
{
	struct err e = ERR_INIT;
	jv v;

	assert_int_equal(json_parse(S(" {\"a\":[1,2.5,\"x\",null,true]} \n"), &v, &e), 0);
	assert_jv_equal(v, "{\"a\":[1,2.5,\"x\",null,true]}");
	jv_free(v);
	/* only len bytes count */
	assert_int_equal(json_parse("[1]garbage", 3, &v, &e), 0);
	assert_jv_equal(v, "[1]");
	jv_free(v);
}

static void parse_errors(void **state)
{
	static const struct { const char *text; size_t len; const char *want; } bad[] = {
		{ S(""), "empty" },
		{ S("   \n"), "empty" },
		{ S("{\"a\":"), "malformed" },
		{ S("{\"a\" 1}"), "malformed" },
		{ S("[1] [2]"), "trailing" },
		{ S("{\"a\":1}}"), "malformed" },
		{ "[\"a\0\"]", 5, "NUL" },
		{ S("nul"), "malformed" },
	};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct err e = ERR_INIT;
		jv v = jv_null();

		if (json_parse(bad[i].text, bad[i].len, &v, &e) != EX_DATA)
			fail_msg("json_parse accepted case %zu", i);
		assert_int_equal(e.code, EX_DATA);
		if (!strstr(e.msg, bad[i].want))
			fail_msg("case %zu: '%s' lacks '%s'", i, e.msg, bad[i].want);
		assert_null(strchr(e.msg, '\n'));
	}
}

/* ---------------------------------------------------------------- access */

static void get_paths(void **state)
{
	jv doc = unit_json("{\"a\":{\"b\":{\"c\":3}},\"n\":null,\"s\":\"x\",\"arr\":[1]}");
	jv x;

	x = json_get(jv_copy(doc), "a.b.c");
	assert_jv_equal(x, "3");
	jv_free(x);
	x = json_get(jv_copy(doc), "a.b");
	assert_jv_equal(x, "{\"c\":3}");
	jv_free(x);
	x = json_get(jv_copy(doc), "n");
	assert_int_equal(jv_get_kind(x), JV_KIND_NULL);
	jv_free(x);
	x = json_get(jv_copy(doc), "");
	assert_true(jv_equal(x, jv_copy(doc)));
	/* a missing step, a step through a non-object: invalid, no assertion */
	x = json_get(jv_copy(doc), "a.x.c");
	assert_false(jv_is_valid(x));
	jv_free(x);
	x = json_get(jv_copy(doc), "s.t");
	assert_false(jv_is_valid(x));
	jv_free(x);
	x = json_get(jv_copy(doc), "arr.0");
	assert_false(jv_is_valid(x));
	jv_free(x);
	x = json_get(jv_number(1), "a");
	assert_false(jv_is_valid(x));
	jv_free(x);
	jv_free(doc);
}

static void int_accessor(void **state)
{
	jv doc = unit_json("{\"i\":42,\"neg\":-7,\"f\":2.5,\"s\":\"3\",\"big\":1e19,"
			   "\"b\":true,\"n\":null,\"o\":{\"k\":9007199254740992}}");
	int64_t v = -1;

	assert_true(json_int(doc, "i", &v));
	assert_int_equal(v, 42);
	assert_true(json_int(doc, "neg", &v));
	assert_int_equal(v, -7);
	assert_true(json_int(doc, "o.k", &v));
	assert_int_equal(v, 9007199254740992LL);
	v = 99;
	assert_false(json_int(doc, "f", &v));
	assert_false(json_int(doc, "s", &v));
	assert_false(json_int(doc, "big", &v));
	assert_false(json_int(doc, "b", &v));
	assert_false(json_int(doc, "n", &v));
	assert_false(json_int(doc, "missing", &v));
	assert_int_equal(v, 99);  /* untouched on refusal */
	jv_free(doc);

	doc = jv_object_set(jv_object(), jv_string("nan"), jv_number(NAN));
	doc = jv_object_set(doc, jv_string("inf"), jv_number(INFINITY));
	assert_false(json_int(doc, "nan", &v));
	assert_false(json_int(doc, "inf", &v));
	jv_free(doc);
}

static void other_accessors(void **state)
{
	jv doc = unit_json("{\"d\":0.25,\"s\":\"text\",\"t\":true,\"f\":false,\"n\":null,\"z\":0}");
	double d = 0;
	int b = -1;
	char *s;

	assert_true(json_number(doc, "d", &d));
	assert_true(d == 0.25);
	assert_false(json_number(doc, "s", &d));
	s = json_string(doc, "s");
	assert_string_equal(s, "text");
	free(s);
	assert_null(json_string(doc, "d"));
	assert_null(json_string(doc, "n"));
	assert_true(json_bool(doc, "t", &b));
	assert_int_equal(b, 1);
	assert_true(json_bool(doc, "f", &b));
	assert_int_equal(b, 0);
	assert_false(json_bool(doc, "z", &b));
	assert_false(json_bool(doc, "n", &b));
	assert_true(json_is(doc, JV_KIND_OBJECT));
	assert_false(json_is(doc, JV_KIND_ARRAY));
	jv_free(doc);

	doc = json_set(json_set(jv_object(), "a", json_str_or_null(NULL)), "b", json_str_or_null("x"));
	assert_jv_equal(doc, "{\"a\":null,\"b\":\"x\"}");
	s = json_dump(doc);
	assert_string_equal(s, "{\"a\":null,\"b\":\"x\"}");
	free(s);
}

/* ---------------------------------------------------------------- write */

static void write_compact_line(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(json_write(f, unit_json("{ \"a\" : [1, 2],\n \"b\": \"x y\" }")), 0);
	assert_int_equal(json_write(f, jv_number(3)), 0);
	assert_int_equal(fclose(f), 0);
	assert_string_equal(buf, "{\"a\":[1,2],\"b\":\"x y\"}\n3\n");
	free(buf);
}

/* The writer prints what jq prints (jv_dump_string), byte for byte. */
static void same_as_jq(jv v)
{
	jv want = jv_dump_string(jv_copy(v), 0);
	char *got = json_dump(v);

	assert_non_null(got);
	assert_string_equal(got, jv_string_value(want));
	free(got);
	jv_free(want);
}

static void write_same_as_jq(void **state)
{
	static const double edge[] = {
		0.0, -0.0, 1, -1, 0.1, 0.2, 1.0 / 3, 1e-7, 1e-4, 1e-3, 0.001234, 1e15, 1e16, 1e17,
		1e21, 1e22, 1.5e300, 1.7976931348623157e308, 5e-324, 9007199254740993.0,
		1795502003, 0.1375, -2.5e-10, 123456789012345678.0, 12345.678,
	};
	static const char *const text[] = {
		"", "a\"b", "back\\slash", "ctl\001\037\177", "tab\t nl\n cr\r bs\b ff\f",
		"uni \303\251 \346\274\242 \360\237\230\200", "slash/", "\342\200\250",
	};
	unsigned long long x = 88172645463325252ULL;

	(void)state;
	for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
		same_as_jq(jv_number(edge[i]));
		same_as_jq(jv_number(-edge[i]));
	}
	/* powers of two and their neighbours: the doubles below are twice as
	 * close as those above, and the nearest decimal may not read back */
	for (int k = -1074; k <= 1023; k++) {
		double p2 = ldexp(1.0, k);

		same_as_jq(jv_number(p2));
		same_as_jq(jv_number(-p2));
		same_as_jq(jv_number(nextafter(p2, 0)));
		same_as_jq(jv_number(nextafter(p2, INFINITY)));
	}
	same_as_jq(jv_number(NAN));
	same_as_jq(jv_number(INFINITY));
	same_as_jq(jv_number(-INFINITY));
	for (int i = 0; i < 20000; i++) {  /* any bit pattern, and plain decimals */
		double d;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(&d, &x, sizeof d);
		same_as_jq(jv_number(d));
		same_as_jq(jv_number((double)(long long)(x % 2000000001ULL) / 1000.0));
		/* decimals of every length and scale, as results carry them */
		{
			static const double p10[] = { 1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
						      1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17 };
			unsigned long long m = x % 100000000000000000ULL;

			same_as_jq(jv_number((double)(m % (unsigned long long)p10[(x >> 3) % 18]) /
					     p10[(x >> 9) % 18] * ((x >> 20) & 1 ? -1 : 1)));
			same_as_jq(jv_number((double)(m % 100000) * p10[(x >> 13) % 18]));
		}
	}
	for (size_t i = 0; i < sizeof text / sizeof *text; i++) {
		jv o = jv_object();

		o = jv_object_set(o, jv_string(text[i]), jv_string(text[i]));
		o = jv_object_set(o, jv_string("nested"),
				  JV_ARRAY(jv_string(text[i]), jv_object(), jv_array(), jv_true(),
					   jv_false(), jv_null()));
		same_as_jq(o);
	}
	same_as_jq(jv_string_sized("nul\0x", 5));
	same_as_jq(unit_json("{\"tick\":{\"id\":\"a\"},\"session\":{\"progress\":{\"percentage\":12.5},"
			     "\"x\":[1,2,{\"y\":null}]}}"));
}

/* The fast path of json_parse builds what jq's parser builds, or leaves
 * the text to it: each text parsed both ways, compared as jq prints them. */
static void parse_same_as_jq(const char *text)
{
	struct err e = ERR_INIT;
	jv want = jv_parse_sized(text, (int)strlen(text)), got;
	int rc = json_parse(text, strlen(text), &got, &e);

	if (!jv_is_valid(want)) {
		assert_int_not_equal(rc, 0);
		jv_free(want);
		return;
	}
	if (rc != 0)
		fail_msg("jq takes '%s', json_parse does not: %s", text, e.msg);
	{
		jv a = jv_dump_string(want, 0), b = jv_dump_string(got, 0);

		if (strcmp(jv_string_value(a), jv_string_value(b)))
			fail_msg("'%s': jq %s, json_parse %s", text, jv_string_value(a), jv_string_value(b));
		jv_free(a);
		jv_free(b);
	}
}

static unsigned long long rnd_state = 0x9E3779B97F4A7C15ULL;

static unsigned rnd(unsigned n)
{
	rnd_state ^= rnd_state << 13, rnd_state ^= rnd_state >> 7, rnd_state ^= rnd_state << 17;
	return (unsigned)(rnd_state % n);
}

static void gen(char **p, char *end, int depth)
{
	static const char *const atoms[] = {
		"0", "-0", "1", "-12", "3.25", "1e3", "1E-7", "-2.5e+10", "1e400", "-1e400", "1e-400",
		"123456789012345678901234567890", "0.1", "true", "false", "null", "\"\"", "\"plain\"",
		"\"esc \\\" \\\\ \\/ \\b\\f\\n\\r\\t\"", "\"\\u00e9\\u0000\\u001f\\u20AC\"",
		"\"\\ud83d\\ude00 pair\"", "\"\\ud83d lone\"", "\"\\udc00 lone low\"",
		"\"caf\303\251 \346\274\242 \360\237\230\200\"", "\"bad \300\257 utf8\"",
		"\"trunc \342\202\"", "\"ctl \001 raw\"", "\"del \177\"", "01", "1.", ".5", "+1", "nan", "tru",
		"0.8312", "-43.25e-3", "1.5e22", "1.5e23", "123456789012345", "1234567890123456",
		"0.000001234", "9007199254740993", "0.1e-22", "7e-23", "1.7976931348623157e308", "-0.0",
		"0.30000000000000004", "1e0001", "1E+2", "2.5e-324", "100000000000000000000000",
	};
	unsigned k = depth > 4 ? 0 : rnd(4);

	if (end - *p < 200)
		k = 0;
	if (k == 0) {
		*p += snprintf(*p, (size_t)(end - *p), "%s", atoms[rnd(sizeof atoms / sizeof *atoms)]);
	} else if (k == 1 || k == 2) {
		unsigned n = rnd(4);

		*(*p)++ = '{';
		for (unsigned i = 0; i < n; i++) {
			*p += snprintf(*p, (size_t)(end - *p), "%s\"k%u\" :", i ? ", " : "", rnd(3));
			gen(p, end, depth + 1);
		}
		*(*p)++ = '}';
	} else {
		unsigned n = rnd(4);

		*(*p)++ = '[';
		for (unsigned i = 0; i < n; i++) {
			if (i)
				*(*p)++ = ',';
			gen(p, end, depth + 1);
		}
		*(*p)++ = ']';
	}
	**p = 0;
}

static void parse_fast_path_same_as_jq(void **state)
{
	static const char *const fixed[] = {
		"{}", "[]", " {\"a\":1} \n", "{\"a\":1,\"a\":2}", "{\"a\":1,}", "[1,]", "{\"a\" 1}",
		"{\"a\":1} x", "{\"a\":1} {}", "\"str\"", "[1e999,-1e999,4.9e-324,0.30000000000000004]",
		"{\"tick\":{\"id\":\"x\"},\"session\":{\"strategy_config\":{\"k\":[1,2.5,\"\\u2014\"]}}}",
		"[\"\\ud800\\udc00\", \"\\uDBFF\\uDFFF\"]", "{\"\\u0041\":\"\\/\"}", "[\"a\\q\"]", "[\"\\u12\"]",
	};
	char deep[1200], buf[8192], *p;

	(void)state;
	for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
		parse_same_as_jq(fixed[i]);
	/* past the fast path's depth: jq's result (or its error) either way */
	memset(deep, '[', 300);
	memset(deep + 300, ']', 300);
	deep[600] = 0;
	parse_same_as_jq(deep);
	memset(deep, '[', 150);
	memset(deep + 150, ']', 150);
	deep[300] = 0;
	parse_same_as_jq(deep);
	for (int i = 0, fast = 0; i < 3000; i++) {
		jv v;

		p = buf;
		gen(&p, buf + sizeof buf - 64, 0);
		if (rnd(8) == 0)  /* now and then a document cut short (libjq 1.6 leaks */
			buf[rnd((unsigned)(p - buf))] = 0;  /* on some other errors) */
		parse_same_as_jq(buf);
		if (json_fast_parse(buf, strlen(buf), &v) == 0) {
			fast++;
			jv_free(v);
		}
		if (i == 2999)  /* the fast path is taken, and not for everything */
			assert_in_range(fast, 300, 2700);
	}
	{
		jv v;

		assert_int_equal(json_fast_parse(fixed[11], strlen(fixed[11]), &v), 0);
		jv_free(v);
		assert_int_equal(json_fast_parse("{\"a\":1} {}", 10, &v), -1);
	}
}

/* tick_line_passes says 1 only where the parsed document passes tick_check
 * with another action; and it does say 1 for plain tick documents. */
static void tick_line_agrees(const char *line, const char *action, int expect)
{
	struct err e = ERR_INIT;
	jv doc;
	int says = tick_line_passes(line, strlen(line), action), full = 0;

	if (json_parse(line, strlen(line), &doc, &e) == 0) {
		full = tick_is(doc) && tick_check(doc, &e) == 0 && !tick_action_is(doc, action);
		jv_free(doc);
	}
	if (says && !full)
		fail_msg("'%s': passes by its text, not once parsed", line);
	if (expect >= 0 && says != expect)
		fail_msg("'%s': tick_line_passes %d, want %d", line, says, expect);
}

static void tick_line_passes_as_parsed(void **state)
{
	static const char *const tick[] = {
		"{\"id\":\"a1\"}", "{\"id\":\"a1\",\"agent\":\"default\",\"dry_run\":true}", "{\"id\":\"\"}",
		"{\"id\":7}", "{\"agent\":\"x\"}", "{\"id\":\"a\\u0031\"}", "{\"id\":\"a\",\"id\":\"b\"}",
		"{\"id\":\"a\",\"agent\":3}", "null", "[]",
	};
	static const char *const action[] = {
		"", ",\"action\":\"wait\"", ",\"action\":\"gate\"", ",\"action\":\"ga\\u0074e\"",
		",\"action\":null", ",\"action\":\"wait\",\"action\":\"gate\"", ",\"action\":1",
	};
	static const char *const rest[] = {
		"", ",\"event\":\"idle\"", ",\"event\":null", ",\"reason\":null", ",\"reason\":[]",
		",\"session\":{\"id\":1,\"phase\":\"training\"}", ",\"session\":null", ",\"session\":\"s\"",
		",\"result\":{}", ",\"result\":0", ",\"x\":[1,{\"y\":\"\\u00e9\"}]", ",\"x\":nan",
	};
	char line[512];
	char big[140];

	(void)state;
	for (size_t i = 0; i < sizeof tick / sizeof *tick; i++)
		for (size_t j = 0; j < sizeof action / sizeof *action; j++)
			for (size_t k = 0; k < sizeof rest / sizeof *rest; k++) {
				snprintf(line, sizeof line, "{\"tick\":%s%s%s}", tick[i], action[j], rest[k]);
				tick_line_agrees(line, "gate", -1);
				tick_line_agrees(line, "invoke", -1);
			}
	tick_line_agrees("{\"tick\":{\"id\":\"a1\"},\"action\":\"wait\",\"session\":{\"id\":1}}", "gate", 1);
	tick_line_agrees("{\"tick\":{\"id\":\"a1\"},\"action\":\"gate\"}", "invoke", 1);
	tick_line_agrees("{\"tick\":{\"id\":\"a1\"},\"action\":\"gate\"}", "gate", 0);
	tick_line_agrees("{\"tick\":{\"id\":\"a1\"}} ", "gate", 1);
	tick_line_agrees("{\"tick\":{\"id\":\"a1\"}} {}", "gate", 0);
	tick_line_agrees("{\"tick\":{\"id\":\"a1\"},}", "gate", 0);
	/* tick.id: 128 bytes pass, 129 do not */
	memset(big, 'i', sizeof big);
	snprintf(line, sizeof line, "{\"tick\":{\"id\":\"%.128s\"}}", big);
	tick_line_agrees(line, "gate", 1);
	snprintf(line, sizeof line, "{\"tick\":{\"id\":\"%.129s\"}}", big);
	tick_line_agrees(line, "gate", 0);
}

static void write_full_device(void **state)
{
	FILE *f = fopen("/dev/full", "w");
	char big[3 * BUFSIZ];

	if (!f)
		fail_msg("cannot open /dev/full: %s", strerror(errno));
	/* unbuffered: the write itself fails */
	assert_int_equal(setvbuf(f, NULL, _IONBF, 0), 0);
	assert_int_equal(json_write(f, unit_json("{\"a\":1}")), -1);
	assert_int_equal(errno, ENOSPC);
	fclose(f);

	/* buffered: a document larger than the buffer fails in json_write... */
	f = fopen("/dev/full", "w");
	assert_non_null(f);
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = 0;
	assert_int_equal(json_write(f, jv_string(big)), -1);
	assert_true(ferror(f));
	fclose(f);

	/* ...and a small one when the caller flushes, as every command must */
	f = fopen("/dev/full", "w");
	assert_non_null(f);
	assert_int_equal(json_write(f, jv_number(1)), 0);
	assert_int_equal(fflush(f), EOF);
	assert_true(ferror(f));
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest reader[] = {
		cmocka_unit_test(reader_one_per_line),
		cmocka_unit_test(reader_no_final_newline),
		cmocka_unit_test(reader_document_spans_lines),
		cmocka_unit_test(reader_two_on_one_line),
		cmocka_unit_test(reader_empty_input),
		cmocka_unit_test(reader_whitespace_only),
		cmocka_unit_test(reader_blank_lines_between),
		cmocka_unit_test(reader_truncated_last),
		cmocka_unit_test(reader_truncated_with_newline),
		cmocka_unit_test(reader_truncated_string),
		cmocka_unit_test(reader_malformed_middle),
		cmocka_unit_test(reader_record_separator),
		cmocka_unit_test(reader_malformed_after_multiline),
		cmocka_unit_test(reader_nul_byte),
		cmocka_unit_test(reader_over_limit),
		cmocka_unit_test(reader_over_limit_across_lines),
		cmocka_unit_test(reader_over_limit_stops_early),
		cmocka_unit_test(reader_at_limit),
		cmocka_unit_test(reader_at_limit_second),
		cmocka_unit_test(reader_limit_is_per_document),
		cmocka_unit_test(reader_from_pipe),
		cmocka_unit_test(reader_raw_lines),
		cmocka_unit_test(reader_as_jq_would),
		cmocka_unit_test(reader_read_error_directory),
		cmocka_unit_test(reader_read_error_closed_fd),
		cmocka_unit_test(limit_from_env),
		cmocka_unit_test_setup_teardown(read_file_ok, files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(read_file_missing, files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(read_file_two_documents, files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(read_file_empty, files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(read_file_truncated, files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(read_file_garbage_after, files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(read_file_over_limit, files_setup, files_teardown),
		cmocka_unit_test_setup_teardown(read_file_directory, files_setup, files_teardown),
		cmocka_unit_test(parse_ok),
		cmocka_unit_test(parse_errors),
		cmocka_unit_test(get_paths),
		cmocka_unit_test(int_accessor),
		cmocka_unit_test(other_accessors),
		cmocka_unit_test(write_same_as_jq),
		cmocka_unit_test(tick_line_passes_as_parsed),
		cmocka_unit_test(parse_fast_path_same_as_jq),
		cmocka_unit_test(write_compact_line),
		cmocka_unit_test(write_full_device),
		cmocka_unit_test(times_as_text),
	};

	unit_datadir();
	return cmocka_run_group_tests_name("json", reader, NULL, NULL) != 0;
}

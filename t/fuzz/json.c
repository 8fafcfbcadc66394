/* fuzz json: lib/base/json.c against libjq on every input: the one-document
 * parser, the fast path, the object scanner, the streaming JSON Lines reader
 * and the compact writer must each agree with jq (same accept/reject, the
 * same value, jq's bytes). */
#include <sys/mman.h>

#include "base/json.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* jq's verdict on one whole document: valid, or invalid. */
static jv jq_one(const char *s, size_t len)
{
	jv_parser *p = jv_parser_new(0);
	jv v, extra;

	jv_parser_set_buf(p, s, (int)len, 0);
	v = jv_parser_next(p);
	if (jv_is_valid(v)) {
		extra = jv_parser_next(p);
		if (jv_is_valid(extra) || jv_invalid_has_msg(jv_copy(extra))) {
			jv_free(v);
			v = jv_invalid_with_msg(jv_string("trailing data"));
		}
		jv_free(extra);
	}
	jv_parser_free(p);
	return v;
}

/* The written text of v (consumed) against jq's dump. */
static void check_writer(jv v)
{
	jv d = jv_dump_string(jv_copy(v), 0);
	char *mine = json_dump(v);

	FUZZ_CHECK(mine && strcmp(mine, jv_string_value(d)) == 0,
		   "json_dump differs from jv_dump_string: '%s' vs '%s'", mine ? mine : "(null)",
		   jv_string_value(d));
	free(mine);
	jv_free(d);
}

/* The documents of the stream, through the reader (line by line, the fast
 * path first) and through jq's parser fed everything at once. */
static void check_reader(const char *s, size_t len)
{
	struct json_reader r;
	struct err e = ERR_INIT;
	jv_parser *p;
	int fd = memfd_create("fuzz", MFD_CLOEXEC), rc, docs = 0;

	FUZZ_CHECK(fd >= 0, "memfd_create failed");
	FUZZ_CHECK(write(fd, s, len) == (ssize_t)len && lseek(fd, 0, SEEK_SET) == 0, "memfd write");
	FUZZ_CHECK(json_reader_init(&r, fd, "fuzz", 0, &e) == 0, "json_reader_init: %s", e.msg);
	p = jv_parser_new(0);
	jv_parser_set_buf(p, s, (int)len, 0);
	for (;;) {
		jv mine, theirs = jv_parser_next(p);

		rc = json_reader_next(&r, &mine, &e);
		if (rc == 1) {
			FUZZ_CHECK(jv_is_valid(theirs), "document %d: the reader took one jq refuses", docs);
			FUZZ_CHECK(fuzz_same(mine, theirs), "document %d: the reader and jq differ", docs);
			jv_free(mine);
			jv_free(theirs);
			docs++;
			continue;
		}
		FUZZ_CHECK(rc == 0 || rc == -1, "json_reader_next returned %d", rc);
		FUZZ_CHECK(!jv_is_valid(theirs), "document %d: jq took one the reader %s", docs,
			   rc ? "refused" : "did not see");
		FUZZ_CHECK((rc == -1) == jv_invalid_has_msg(jv_copy(theirs)),
			   "document %d: the reader %s, jq %s", docs, rc ? "refused" : "ended",
			   jv_invalid_has_msg(jv_copy(theirs)) ? "refused" : "ended");
		jv_free(theirs);
		break;
	}
	jv_parser_free(p);
	json_reader_release(&r);
	close(fd);
}

/* A stream with NUL or RS: documents, then an error, never the end. */
static void check_reader_refuses(const char *s, size_t len)
{
	struct json_reader r;
	struct err e = ERR_INIT;
	int fd = memfd_create("fuzz", MFD_CLOEXEC), rc;
	jv v;

	FUZZ_CHECK(fd >= 0 && write(fd, s, len) == (ssize_t)len && lseek(fd, 0, SEEK_SET) == 0, "memfd");
	FUZZ_CHECK(json_reader_init(&r, fd, "fuzz", 0, &e) == 0, "json_reader_init: %s", e.msg);
	while ((rc = json_reader_next(&r, &v, &e)) == 1)
		jv_free(v);
	FUZZ_CHECK(rc == -1, "the reader read a NUL or RS byte to the end");
	json_reader_release(&r);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct err e = ERR_INIT;
	struct json_member m[8];
	jv mine, theirs, fast;
	int rc, n;

	if (size > (1u << 20))
		return 0;
	if (memchr(s, 0, size) || memchr(s, 0x1e, size)) {
		/* NUL and RS: the library refuses them where jq reads on or
		 * silently drops what it holds */
		FUZZ_CHECK(json_parse(s, size, &mine, &e) == EX_DATA, "json_parse took a NUL or RS byte");
		check_reader_refuses(s, size);
		return 0;
	}
	theirs = jq_one(s, size);
	rc = json_parse(s, size, &mine, &e);
	FUZZ_CHECK((rc == 0) == jv_is_valid(theirs), "json_parse %s what jq %s",
		   rc ? "refused" : "took", jv_is_valid(theirs) ? "takes" : "refuses");
	if (rc == 0) {
		FUZZ_CHECK(fuzz_same(mine, theirs), "json_parse and jq differ");
		check_writer(jv_copy(mine));
		jv_free(mine);
	}
	if (json_fast_parse(s, size, &fast) == 0) {
		FUZZ_CHECK(jv_is_valid(theirs), "the fast path took what jq refuses");
		FUZZ_CHECK(fuzz_same(fast, theirs), "the fast path and jq differ");
		jv_free(fast);
	}
	n = json_scan_object(s, size, m, 8);
	if (n >= 0) {
		FUZZ_CHECK(jv_get_kind(theirs) == JV_KIND_OBJECT, "json_scan_object took what jq does not read as an object");
		FUZZ_CHECK(json_fast_parse(s, size, &fast) == 0, "json_scan_object took what the fast path does not");
		FUZZ_CHECK(jv_object_length(jv_copy(theirs)) <= n, "json_scan_object counted fewer members than jq");
		for (int i = 0; i < n && i < 8; i++) {
			jv k = jv_string_sized(m[i].key, (int)m[i].key_len), v;

			FUZZ_CHECK(jv_object_has(jv_copy(fast), jv_copy(k)), "member %d: key not in the object", i);
			FUZZ_CHECK(json_parse(m[i].value, m[i].value_len, &v, &e) == 0, "member %d: value is not JSON", i);
			jv_free(v);
			jv_free(k);
		}
		jv_free(fast);
	}
	jv_free(theirs);
	check_reader(s, size);
	return 0;
}

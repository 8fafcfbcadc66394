/* json: JSON Lines in and out on libjq's jv, and small accessors. */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jv.h>

#include "base/err.h"

/*
 * Ownership follows jv's rule: every function here consumes the jv values it
 * is given, except where a comment says "borrows".  Strings returned as
 * char * are malloc'd and belong to the caller.
 */

#define JSON_DEFAULT_LIMIT (16u << 20)  /* bytes of one document */

/*
 * A streaming reader: any number of JSON documents on a file descriptor,
 * one per line as JSON Lines has it (documents may also share or span
 * lines).  A document larger than `limit` bytes is refused before it can
 * exhaust memory; a malformed one is reported with its line.
 */
struct json_reader {
	int fd;
	const char *name;   /* "stdin" or a path, for messages */
	size_t limit;
	jv_parser *parser;
	char *buf;
	size_t len, off;
	size_t doc_bytes;   /* bytes fed since the last complete document */
	long line;          /* line of the text last fed, 1-based */
	long next_line;
	int fed, eof, done;
	int clean;          /* jq's parser holds no partial document */
	int fast_used;      /* the fast path took a line */
	const char *raw;    /* the last document's text when it was a line of */
	size_t raw_len;     /* its own (fast path); valid until the next call */
	/* optional: a whole line for which skip() says 1 is not parsed;
	 * json_reader_next returns 2 with its text in raw */
	int (*skip)(const char *line, size_t len, void *arg);
	void *skip_arg;
};

/* Limit from AGENT_MAX_DOC_BYTES when set (else JSON_DEFAULT_LIMIT). */
size_t json_limit_from_env(void);

int json_reader_init(struct json_reader *r, int fd, const char *name,
		     size_t limit, struct err *e);
void json_reader_release(struct json_reader *r);

/* Returns 1 and a document in *out, 0 at the end of input, or -1 with e set
 * (EX_DATA for bad input, EX_TEMP for a read error); 2 for a line skip()
 * took (*out untouched). */
int json_reader_next(struct json_reader *r, jv *out, struct err *e);

/* Reads exactly one document from a file. */
int json_read_file(const char *path, size_t limit, jv *out, struct err *e);

/* The fast path of json_parse and of the reader: strict JSON with an
 * object, array or string at the top, valid UTF-8, no control characters
 * in strings, depth under 200.  0 and *out (the jv jq would build), or -1:
 * not taken, jq's parser decides. */
int json_fast_parse(const char *s, size_t len, jv *out);

/* Past the JSON number (RFC 8259's grammar) at p, or NULL. */
const char *json_number_end(const char *p, const char *end);

/* The members of the object that is the whole of s[0..len), checked as
 * json_fast_parse checks (and keys without escapes), nothing built: their
 * number, the first max of them in m (pointers into s), or -1 when s is
 * anything else. */
struct json_member {
	const char *key, *value;
	size_t key_len, value_len;
};
int json_scan_object(const char *s, size_t len, struct json_member *m, int max);

/* Parses one document from a string (borrows s). */
int json_parse(const char *s, size_t len, jv *out, struct err *e);

/* Writes v as one compact line; consumes v.  Returns 0 or -1 (errno). */
int json_write(FILE *f, jv v);

/* Compact text of v (consumed), malloc'd. */
char *json_dump(jv v);

/* v[path] where path is dot-separated keys ("a.b.c"); consumes v.  Returns
 * jv_invalid() when a step is missing or not an object. */
jv json_get(jv v, const char *path);

/* Borrowing accessors on an object: 1 and the value when present with the
 * right kind, 0 otherwise. */
int json_number(jv v, const char *path, double *out);
int json_int(jv v, const char *path, int64_t *out);
char *json_string(jv v, const char *path);  /* NULL when absent */
int json_bool(jv v, const char *path, int *out);

/* The kind of v[path] (JV_KIND_INVALID when absent); borrows v. */
jv_kind json_kind_at(jv v, const char *path);
/* 1 when v[path] is present and not null; borrows v. */
int json_is_set(jv v, const char *path);

/* Object/array kind checks that never assert. */
int json_is(jv v, jv_kind kind);

/* Adds key=value to obj (both consumed); a shorthand for jv_object_set. */
jv json_set(jv obj, const char *key, jv value);

/* A jv string, or null when s is NULL. */
jv json_str_or_null(const char *s);

/*
 * Times in the documents people read (agent-formats(5), "Times"): RFC 3339
 * UTC text, "2026-11-24T03:20:00Z".  json_time turns a number of seconds
 * since the epoch into that text (a fraction of a second is kept, to the
 * microsecond); anything else (null, text already) is returned as it is.
 * json_time_us does the same for microseconds, always with the six digits.
 * json_time_at applies json_time to obj[path] (dot-separated) when it is
 * there.  json_time_of borrows v: the epoch second of v[path], RFC 3339
 * text or a number; 1 when it was either, else 0 and *out untouched.
 */
jv json_time(jv v);
jv json_time_us(jv v);
jv json_time_at(jv obj, const char *path);
int json_time_of(jv v, const char *path, int64_t *out);

#endif

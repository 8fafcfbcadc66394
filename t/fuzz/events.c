/* fuzz events: `--events` lines (lib/obs/events.c), read as agent-metrics-agg
 * reads them, rendered, and each line the scanner calls well-formed checked
 * against jq: a JSON object with a non-empty "event" string and a
 * "metadata" that is an object or null when present. */
#include <sys/mman.h>

#include "base/json.h"
#include "obs/events.h"
#include "obs/prom.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(struct events *ev, const char *line, size_t len)
{
	const char *why = NULL;
	struct err e = ERR_INIT;
	jv doc, name, meta;

	if (events_line(ev, line, len, &why)) {
		FUZZ_CHECK(why, "a malformed line without a reason");
		return;
	}
	while (len && (*line == ' ' || *line == '\t' || *line == '\r' || *line == '\n'))
		line++, len--;
	if (!len)
		return;
	FUZZ_CHECK(!memchr(line, 0, len), "events_line took a NUL byte");
	FUZZ_CHECK(json_parse(line, len, &doc, &e) == 0, "events_line took what jq refuses: %s", e.msg);
	FUZZ_CHECK(jv_get_kind(doc) == JV_KIND_OBJECT, "events_line took a line that is no object");
	name = jv_object_get(jv_copy(doc), jv_string("event"));
	FUZZ_CHECK(jv_get_kind(name) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(name)) > 0,
		   "events_line took a line without an event string");
	meta = jv_object_get(jv_copy(doc), jv_string("metadata"));
	FUZZ_CHECK(!jv_is_valid(meta) || jv_get_kind(meta) == JV_KIND_NULL ||
		   jv_get_kind(meta) == JV_KIND_OBJECT, "events_line took a metadata that is no object");
	jv_free(meta);
	jv_free(name);
	jv_free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *end = s + size;
	struct events *ev;
	struct events_stats st;
	struct err e = ERR_INIT;
	struct prom out = PROM_INIT;
	int fd;

	if (size > (1u << 20))
		return 0;
	/* the reader, with a small line limit and a small cap on series */
	FUZZ_CHECK(events_new(&ev, 3, &e) == 0, "events_new: %s", e.msg);
	fd = memfd_create("fuzz", MFD_CLOEXEC);
	FUZZ_CHECK(fd >= 0 && write(fd, s, size) == (ssize_t)size && lseek(fd, 0, SEEK_SET) == 0, "memfd");
	FUZZ_CHECK(events_read(ev, fd, "fuzz", 512, 0, &e) == 0, "events_read: %s", e.msg);
	close(fd);
	events_stats(ev, &st);
	FUZZ_CHECK(st.events + st.malformed <= st.lines, "more events than lines");
	FUZZ_CHECK(events_render(ev, "fuzz", &out, &e) == 0 && !prom_failed(&out), "events_render: %s", e.msg);
	prom_release(&out);
	events_free(ev);
	/* line by line, each well-formed one against jq */
	FUZZ_CHECK(events_new(&ev, 1000, &e) == 0, "events_new: %s", e.msg);
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);

		check_line(ev, s, n);
		s += n + (nl != NULL);
	}
	FUZZ_CHECK(events_render(ev, NULL, &out, &e) == 0 && !prom_failed(&out), "events_render: %s", e.msg);
	prom_release(&out);
	events_free(ev);
	return 0;
}

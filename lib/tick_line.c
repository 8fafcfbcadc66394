/* tick_line: whether a tick document passes a stage, read off its text.
 * Apart from tick.c, which reads the trigger row: a stage that only passes
 * documents on needs no store. */
#include <string.h>

#include "base/json.h"
#include "tick.h"

static int key_is(const struct json_member *m, const char *k)
{
	return m->key_len == strlen(k) && memcmp(m->key, k, m->key_len) == 0;
}

int tick_line_passes(const char *line, size_t len, const char *action)
{
	struct json_member m[32], t[32];
	const struct json_member *tick = NULL, *act = NULL, *id = NULL;
	int n = json_scan_object(line, len, m, 32), nt;

	if (n < 0 || n > 32)
		return 0;
	for (int i = 0; i < n; i++) {
		char c = m[i].value[0];

		if (key_is(&m[i], "tick") || key_is(&m[i], "action")) {
			const struct json_member **one = key_is(&m[i], "tick") ? &tick : &act;

			if (*one)
				return 0;  /* twice: the last one counts, let jq say */
			*one = &m[i];
		} else if ((key_is(&m[i], "event") && c != '"') ||
			   (key_is(&m[i], "reason") && c != '"' && c != 'n') ||
			   ((key_is(&m[i], "session") || key_is(&m[i], "result")) && c != '{' && c != 'n')) {
			return 0;
		}
	}
	if (!tick || tick->value[0] != '{')
		return 0;
	nt = json_scan_object(tick->value, tick->value_len, t, 32);
	if (nt < 0 || nt > 32)
		return 0;
	for (int i = 0; i < nt; i++) {
		if (key_is(&t[i], "id")) {
			if (id)
				return 0;
			id = &t[i];
		} else if (key_is(&t[i], "agent") && t[i].value[0] != '"') {
			return 0;
		}
	}
	/* tick.id: a string of 1 to 128 bytes, written without escapes */
	if (!id || id->value[0] != '"' || id->value_len < 3 || id->value_len > 130 ||
	    memchr(id->value + 1, '\\', id->value_len - 2))
		return 0;
	if (!act)
		return 1;
	if (act->value[0] != '"' || memchr(act->value + 1, '\\', act->value_len - 2))
		return 0;
	return !(act->value_len - 2 == strlen(action) &&
		 memcmp(act->value + 1, action, act->value_len - 2) == 0);
}


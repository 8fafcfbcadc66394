/* tick: accessors of the tick document and its trigger row. */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "tick.h"

int tick_is(jv doc)
{
	jv t;
	int ok;

	if (jv_get_kind(doc) != JV_KIND_OBJECT)
		return 0;
	t = json_get(jv_copy(doc), "tick");
	ok = jv_get_kind(t) == JV_KIND_OBJECT;
	jv_free(t);
	return ok;
}

static int kind_ok(jv doc, const char *path, jv_kind want, int nullable)
{
	jv v = json_get(jv_copy(doc), path);
	jv_kind k = jv_get_kind(v);

	jv_free(v);
	return k == JV_KIND_INVALID || k == want || (nullable && k == JV_KIND_NULL);
}

int tick_check(jv doc, struct err *e)
{
	jv id;
	int ok;

	if (!tick_is(doc))
		return err_set(e, EX_DATA, "not a tick document (no \"tick\" object)");
	id = json_get(jv_copy(doc), "tick.id");
	ok = jv_get_kind(id) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(id)) > 0 &&
	     jv_string_length_bytes(jv_copy(id)) <= 128;
	jv_free(id);
	if (!ok)
		return err_set(e, EX_DATA, "tick.id must be a string of 1 to 128 bytes");
	if (!kind_ok(doc, "event", JV_KIND_STRING, 0) || !kind_ok(doc, "action", JV_KIND_STRING, 0) ||
	    !kind_ok(doc, "reason", JV_KIND_STRING, 1) || !kind_ok(doc, "tick.agent", JV_KIND_STRING, 0))
		return err_set(e, EX_DATA, "tick: event, action, reason and tick.agent must be strings");
	if (!kind_ok(doc, "session", JV_KIND_OBJECT, 1))
		return err_set(e, EX_DATA, "tick: session must be an object or null");
	if (!kind_ok(doc, "result", JV_KIND_OBJECT, 1))
		return err_set(e, EX_DATA, "tick: result must be an object or null");
	return 0;
}

char *tick_id(jv doc)
{
	return json_string(doc, "tick.id");
}

char *tick_agent(jv doc)
{
	char *a = json_string(doc, "tick.agent");

	return a ? a : strdup("default");
}

char *tick_action(jv doc)
{
	return json_string(doc, "action");
}

int tick_action_is(jv doc, const char *action)
{
	char *a = tick_action(doc);
	int is = a && strcmp(a, action) == 0;

	free(a);
	return is;
}

int64_t tick_session_id(jv doc)
{
	int64_t id = 0;

	return json_int(doc, "session.id", &id) ? id : 0;
}

char *tick_session_phase(jv doc)
{
	return json_string(doc, "session.phase");
}

int tick_record(struct store *s, jv doc, const char *skip_reason, int invoked,
		int64_t spent_micros, int64_t remaining_micros, struct err *e)
{
	char *id = tick_id(doc), *action = tick_action(doc), *reason = json_string(doc, "reason");
	jv p = jv_array();
	int rc;

	p = jv_array_append(p, json_str_or_null(id));
	p = jv_array_append(p, json_str_or_null(action));
	p = jv_array_append(p, json_str_or_null(reason));
	p = jv_array_append(p, json_str_or_null(skip_reason));
	p = jv_array_append(p, invoked < 0 ? jv_null() : jv_bool(invoked));
	p = jv_array_append(p, spent_micros < 0 ? jv_null() : jv_number((double)spent_micros));
	p = jv_array_append(p, remaining_micros < 0 ? jv_null() : jv_number((double)remaining_micros));
	rc = store_query(s, "trigger_update_decision", p, NULL, e);
	free(id);
	free(action);
	free(reason);
	return rc;
}

/* tick: the tick document every pipeline stage reads, extends and passes on. */
#ifndef TICK_H
#define TICK_H

#include <stdint.h>
#include <jv.h>

#include "base/err.h"
#include "store/store.h"

/*
 * {"tick": {"id","at","agent","traceparent"}, "event", "action", "reason",
 *  "session", "result", "gate", "budget", "invocation"}  (agent-formats(5))
 *
 * Accessors borrow the document; returned strings are malloc'd.
 */

/* 1 when doc is a tick document (an object with a "tick" object). */
int tick_is(jv doc);

/* EX_DATA unless doc is a well-formed tick document: tick.id a string,
 * event/action strings when present, session an object or null. */
int tick_check(jv doc, struct err *e);

char *tick_id(jv doc);
char *tick_agent(jv doc);           /* "default" when absent */
char *tick_action(jv doc);          /* NULL when absent */
int tick_action_is(jv doc, const char *action);
int64_t tick_session_id(jv doc);    /* 0 when no session */
char *tick_session_phase(jv doc);

/* Records the stage's decision on the trigger row (in the caller's
 * transaction): action, reason, skip reason, invoked, budget figures; NULL
 * or negative values leave a column as it is. */
int tick_record(struct store *s, jv doc, const char *skip_reason, int invoked,
		int64_t spent_micros, int64_t remaining_micros, struct err *e);

/* Whether the tick document that is the whole of line[0..len) would go
 * through a stage unchanged: it passes tick_check and its action is not
 * `action`.  Looked at without building it (json_scan_object); 0 when it
 * would not, or when that takes parsing it (escapes, a repeated member). */
int tick_line_passes(const char *line, size_t len, const char *action);

#endif

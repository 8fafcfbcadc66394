/* tools: the agent's tools: definitions as data, execution in C or as executables. */
#ifndef TOOLS_H
#define TOOLS_H

#include <stdint.h>
#include <jv.h>

#include "net/backend.h"
#include "base/err.h"
#include "store/store.h"

/* What a tool may touch.  The model's arguments are untrusted: every tool
 * checks kinds, sizes and names before acting. */
struct tools_ctx {
	struct store *store;
	struct backend *backend;
	const char *agent;
	const char *tick_id;      /* may be NULL */
	int64_t session_id;       /* 0: no session (agent-invoke alone) */
	int64_t invocation_id;    /* the model call that asked */
	int64_t now;              /* Unix seconds, for rows */
	/* Set by a tool when the invocation must stop before another model
	 * turn (the tool's result is recorded, not sent):
	 * TOOLS_HALT_END   the session cannot go on (the backend cannot see
	 *                  the strategy directory): it ends, halt_msg the reason;
	 * TOOLS_HALT_BUSY  the backend is busy or unavailable (HTTP 409, 503,
	 *                  or a start that did not reach it): a later tick
	 *                  retries without the model. */
	int halt;
	char halt_msg[400];
};

enum { TOOLS_HALT_NONE, TOOLS_HALT_END, TOOLS_HALT_BUSY };

/* The class of a backend answer to a start or validate request, for the
 * tools and for the deterministic steps that make the same requests. */
enum backend_class {
	BACKEND_OK,          /* 2xx */
	BACKEND_REFUSED,     /* 400 / 422 / other 4xx: the request or the strategy is wrong */
	BACKEND_NO_STRATEGY, /* the strategy file is not where the backend looks */
	BACKEND_BUSY,        /* 409, 503 (and 502): try again later */
	BACKEND_FAILED,      /* 5xx otherwise */
};
enum backend_class tools_backend_class(long status, jv resp);

/* One line of what the backend said (message, detail or error.message,
 * then suggestion), malloc'd; borrows resp. */
char *tools_backend_words(long status, jv resp);

/* Tool definitions for an invocation kind ("design", "post_training",
 * "assessment"): the JSON files in share/tools whose "kinds" include it,
 * plus AGENT_TOOLS_DIR/<name>.json beside an executable <name>.  *defs gets an
 * array in the API's shape ({name, description, input_schema}). */
int tools_load(const char *kind, jv *defs, struct err *e);

/*
 * Runs tool `name` with `input` (consumed) for the tool_use `use_id`, and
 * records it as an agent_actions row (with any session change it makes, in
 * one transaction).  *result gets what goes back to the model; *is_error
 * says whether it is an error.  Returns non-zero only when the store failed
 * (the invocation must stop); a failing tool is a result, not an error.
 */
int tools_run(struct tools_ctx *c, const char *use_id, const char *name, jv input,
	      jv *result, int *is_error, struct err *e);

/* Largest tool input accepted (bytes of JSON), AGENT_MAX_TOOL_INPUT_BYTES
 * (default 1 MiB). */
size_t tools_max_input(void);

#endif

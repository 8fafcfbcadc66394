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
};

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

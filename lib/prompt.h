/* prompt: prompt templates (share/prompts/NAME.md) with jq expressions. */
#ifndef PROMPT_H
#define PROMPT_H

#include <jv.h>

#include "base/err.h"

/*
 * A template is text in which {{ EXPR }} is a jq expression evaluated
 * against the context object; a string result is inserted as it is, any
 * other value as JSON.  Templates come from AGENT_PROMPTS_DIR or
 * <datadir>/prompts.  Renders `name` (e.g. "design") with `context`
 * (consumed) into *out (malloc'd).  EX_PERM for a missing or broken
 * template.
 */
int prompt_render(const char *name, jv context, char **out, struct err *e);

/* The same for a template given as text (borrowed). */
int prompt_render_text(const char *text, const char *what, jv context, char **out,
		       struct err *e);

#endif

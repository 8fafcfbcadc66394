/* strategy: strategy names, validation rules (jq) and YAML files. */
#ifndef STRATEGY_H
#define STRATEGY_H

#include <jv.h>

#include "base/err.h"

/* 1 for a plain identifier: a letter, then letters, digits, _ or -, at most
 * 64 bytes; anything else (dots, slashes, "..") could leave the directory. */
int strategy_name_ok(const char *name);

/* The strategies directory: AGENT_STRATEGY_DIR, else
 * $XDG_STATE_HOME/agent/strategies (~/.local/state/agent/strategies). */
const char *strategy_dir(void);

/* Validates a config (borrowed) with share/strategy/validate.jq (or
 * AGENT_STRATEGY_RULES); indicators (borrowed) is an array of known
 * indicator names (may be empty).  *report gets {valid, errors, warnings}. */
int strategy_validate(jv config, jv indicators, jv *report, struct err *e);

/* Frees the compiled rules (at exit, for leak checkers). */
void strategy_release(void);

/* Writes config (borrowed) as YAML to <dir>/<name>.yaml, never replacing an
 * existing file (EX_NO when it exists).  *path (malloc'd) gets the path. */
int strategy_write(const char *name, jv config, char **path, struct err *e);

/* YAML text of a JSON value (borrowed), malloc'd; NULL on failure. */
char *strategy_yaml(jv v);

#endif

/* env: settings read from the environment, checked, with one-line errors. */
#ifndef ENV_H
#define ENV_H

#include "base/err.h"

/* *out = the whole number in `name`, def when unset or empty.  EX_PERM
 * ("NAME: not a whole number from MIN to MAX: 'value'") otherwise. */
int env_int(const char *name, int def, int min, int max, int *out, struct err *e);

/* *out = 1 for 1/true/yes/on, 0 for 0/false/no/off, def when unset or
 * empty.  EX_PERM ("NAME: not 0 or 1: 'value'") otherwise. */
int env_flag(const char *name, int def, int *out, struct err *e);

#endif

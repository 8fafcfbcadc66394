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

/* The environment for a child that calls neither Anthropic API (an
 * operator's tool, a notify command): environ without the keys
 * (ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN, ANTHROPIC_ADMIN_KEY, and the
 * _FILE variants that say where they are), plus `extra` ("NAME=value",
 * replacing any NAME; NULL for none).  A NULL-terminated array of pointers
 * into environ and to extra, valid while they are: free() the array, not
 * the strings.  NULL when out of memory.  Made before fork, so that the
 * child only calls execve with it. */
char **env_without_secrets(const char *extra);

#endif

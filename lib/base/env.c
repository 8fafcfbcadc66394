/* env: settings read from the environment, checked, with one-line errors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/env.h"

int env_int(const char *name, int def, int min, int max, int *out, struct err *e)
{
	const char *s = getenv(name);
	char *end;
	long v;

	*out = def;
	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return err_set(e, EX_PERM, "%s: not a whole number from %d to %d: '%.40s'",
			       name, min, max, s);
	*out = (int)v;
	return 0;
}

int env_flag(const char *name, int def, int *out, struct err *e)
{
	static const char *const yes[] = { "1", "true", "yes", "on", NULL };
	static const char *const no[] = { "0", "false", "no", "off", NULL };
	const char *s = getenv(name);

	*out = def;
	if (!s || !*s)
		return 0;
	for (const char *const *p = yes; *p; p++)
		if (strcmp(s, *p) == 0)
			return *out = 1, 0;
	for (const char *const *p = no; *p; p++)
		if (strcmp(s, *p) == 0)
			return *out = 0, 0;
	return err_set(e, EX_PERM, "%s: not 0 or 1: '%.40s'", name, s);
}

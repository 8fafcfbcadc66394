/* env: settings read from the environment, checked, with one-line errors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/env.h"

extern char **environ;

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

/* the names a child that calls no API never needs: its keys, and where
 * they are kept */
static const char *const secret[] = {
	"ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY_FILE", "ANTHROPIC_AUTH_TOKEN",
	"ANTHROPIC_ADMIN_KEY", "ANTHROPIC_ADMIN_KEY_FILE", NULL,
};

static int named(const char *var, const char *name, size_t len)
{
	return strncmp(var, name, len) == 0 && var[len] == '=';
}

char **env_without_secrets(const char *extra)
{
	const char *eq = extra ? strchr(extra, '=') : NULL;
	size_t n = 0, k = 0, xlen = eq ? (size_t)(eq - extra) : 0;
	char **out;

	for (char **v = environ; v && *v; v++)
		n++;
	out = malloc((n + 2) * sizeof *out);
	if (!out)
		return NULL;
	for (char **v = environ; v && *v; v++) {
		int drop = eq && named(*v, extra, xlen);

		for (const char *const *s = secret; !drop && *s; s++)
			drop = named(*v, *s, strlen(*s));
		if (!drop)
			out[k++] = *v;
	}
	if (eq)
		out[k++] = (char *)extra;
	out[k] = NULL;
	return out;
}

/* trigger_id: tick ids, agent names and W3C traceparents (no backend needed). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "trigger.h"

int trigger_name_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return 0;
	return 1;
}

int trigger_random_hex(char *buf, size_t nbytes, struct err *e)
{
	unsigned char raw[64];
	size_t got = 0;

	if (nbytes > sizeof raw)
		return err_set(e, EX_PERM, "random id too long");
	while (got < nbytes) {
		ssize_t n = getrandom(raw + got, nbytes - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return err_set(e, EX_TEMP, "cannot read random bytes: %s", strerror(errno));
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < nbytes; i++)
		snprintf(buf + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

static int hex_run(const char *p, size_t n, int *all_zero)
{
	*all_zero = 1;
	for (size_t i = 0; i < n; i++) {
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
		if (p[i] != '0')
			*all_zero = 0;
	}
	return 1;
}

int trigger_traceparent_ok(const char *tp)
{
	size_t n = tp ? strlen(tp) : 0;
	int zero;

	/* version-traceid-parentid-flags; later versions may append fields */
	if (n < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
		return 0;
	if (!hex_run(tp, 2, &zero) || strncmp(tp, "ff", 2) == 0)
		return 0;
	if (strncmp(tp, "00", 2) == 0 ? n != 55 : (n > 55 && tp[55] != '-'))
		return 0;
	if (!hex_run(tp + 3, 32, &zero) || zero)
		return 0;
	if (!hex_run(tp + 36, 16, &zero) || zero)
		return 0;
	return hex_run(tp + 53, 2, &zero);
}

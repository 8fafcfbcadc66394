/* buf: the one way a growable byte string here grows. */
#include <stdlib.h>

#include "base/buf.h"

int buf_grow(char **p, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 1024;
	char *np;

	if (need <= *cap)
		return 0;
	while (c < need) {
		if (c > (size_t)-1 / 2)
			return -1;
		c *= 2;
	}
	np = realloc(*p, c);
	if (!np)
		return -1;
	*p = np;
	*cap = c;
	return 0;
}

/* buf: the one way a growable byte string here grows. */
#ifndef BUF_H
#define BUF_H

#include <stddef.h>

/* Makes *cap at least need (doubling from 1 KiB), moving *p with realloc:
 * 0, or -1 with *p and *cap as they were when memory runs out. */
int buf_grow(char **p, size_t *cap, size_t need);

#endif

/* dl: libpq and libcurl loaded on first use, not at every process start. */
#ifndef DL_H
#define DL_H

#include "base/err.h"

/*
 * Linking libpq and libcurl costs every process several milliseconds at
 * start (tens of shared objects: TLS, Kerberos, LDAP...), even the many
 * that never open a PostgreSQL store or an HTTP connection: the idle tick
 * is five processes.  So the two are opened with dlopen the first time
 * they are needed.  Each returns 0, or EX_PERM with a message when the
 * library is not installed.
 */
int dl_libpq(struct err *e);
int dl_libcurl(struct err *e);

#endif

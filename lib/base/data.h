/* data: where the shared data files (share/) are found. */
#ifndef DATA_H
#define DATA_H

#include <stddef.h>

/*
 * The data directory: AGENT_DATADIR when set; else the source tree's share/
 * when the command runs from the build tree; else <bindir>/../share/agent;
 * else the compiled-in DATADIR.  Returns a static string.
 */
const char *data_dir(void);

/* data_dir()/rel into buf; returns buf. */
char *data_path(const char *rel, char *buf, size_t n);

/* The directory of the running executable (static string). */
const char *data_exe_dir(void);

#endif

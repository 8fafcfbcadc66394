/* data: locates share/ for the build tree, an install, or AGENT_DATADIR. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/data.h"

#ifndef AGENT_DATADIR
#define AGENT_DATADIR "/usr/local/share/agent"
#endif

const char *data_exe_dir(void)
{
	static char dir[PATH_MAX];
	ssize_t n;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", dir, sizeof dir - 1);
	if (n <= 0) {
		snprintf(dir, sizeof dir, ".");
		return dir;
	}
	dir[n] = 0;
	if (strrchr(dir, '/'))
		*strrchr(dir, '/') = 0;
	return dir;
}

static int has_pricing(const char *dir)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof p, "%s/pricing.json", dir);
	return access(p, R_OK) == 0;
}

const char *data_dir(void)
{
	static char dir[PATH_MAX + 32];
	const char *env = getenv("AGENT_DATADIR");
	const char *exe;
	static const char *const rel[] = { "/../../share", "/../../../share", "/../share/agent" };

	if (env && *env)
		return env;
	if (dir[0])
		return dir;
	exe = data_exe_dir();
	for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
		snprintf(dir, sizeof dir, "%s%s", exe, rel[i]);
		if (has_pricing(dir))
			return dir;
	}
	snprintf(dir, sizeof dir, "%s", AGENT_DATADIR);
	return dir;
}

char *data_path(const char *rel, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%s", data_dir(), rel);
	return buf;
}

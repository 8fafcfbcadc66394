/* fuzz: what the libFuzzer harnesses share: the data directory, one scratch
 * directory removed at exit, and the check that aborts on a difference. */
#ifndef FUZZ_H
#define FUZZ_H

#include <ftw.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jv.h>

#define FUZZ_FN static __attribute__((unused))

/* A difference between two readers that must agree: a crash to libFuzzer. */
#define FUZZ_CHECK(cond, ...)                                               \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "fuzz: %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                       \
			fputc('\n', stderr);                                \
			abort();                                            \
		}                                                           \
	} while (0)

/* rel in this source tree (the harness is build/fuzz/fuzzers/NAME). */
FUZZ_FN char *fuzz_tree(const char *rel, char *buf, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	if (n <= 0) {
		snprintf(buf, size, "%s", rel);
		return buf;
	}
	exe[n] = 0;
	*strrchr(exe, '/') = 0;
	snprintf(buf, size, "%s/../../../%s", exe, rel);
	return buf;
}

/* share/ of this tree, unless AGENT_DATADIR says otherwise. */
FUZZ_FN void fuzz_datadir(void)
{
	char dir[PATH_MAX + 32];

	if (!getenv("AGENT_DATADIR"))
		setenv("AGENT_DATADIR", fuzz_tree("share", dir, sizeof dir), 1);
}

static char fuzz_dir[PATH_MAX];

static int fuzz_rm(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st; (void)flag; (void)f;
	return remove(p);
}

static void fuzz_cleanup(void)
{
	if (fuzz_dir[0])
		nftw(fuzz_dir, fuzz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* A scratch directory of this process, under TMPDIR; removed at exit. */
FUZZ_FN const char *fuzz_scratch(void)
{
	const char *tmp = getenv("TMPDIR");

	if (fuzz_dir[0])
		return fuzz_dir;
	snprintf(fuzz_dir, sizeof fuzz_dir, "%s/agent-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(fuzz_dir)) {
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(fuzz_cleanup);
	return fuzz_dir;
}

/* The same value: the same text in jq's own dump, which tells any two
 * doubles apart (17 digits), -0 from 0, and keeps the order of keys. */
FUZZ_FN int fuzz_same(jv a, jv b)
{
	jv da = jv_dump_string(jv_copy(a), 0), db = jv_dump_string(jv_copy(b), 0);
	int same = jv_get_kind(a) == jv_get_kind(b) &&
		   strcmp(jv_string_value(da), jv_string_value(db)) == 0;

	jv_free(da);
	jv_free(db);
	return same;
}

#endif

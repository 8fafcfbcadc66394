/* dl: resolves the few functions of libpq and libcurl the toolkit calls. */
#include <dlfcn.h>
#include <stdio.h>

#include "base/dl.h"
#include "base/dl_int.h"

struct dl_pq dl_pq;
struct dl_curl dl_curl;

static int resolve(void *h, const char *const *names, void **slots, int n, const char *lib,
		   struct err *e)
{
	for (int i = 0; i < n; i++) {
		slots[i] = dlsym(h, names[i]);
		if (!slots[i])
			return err_set(e, EX_PERM, "%s: no symbol %s", lib, names[i]);
	}
	return 0;
}

#define X(ret, name, args) #name,
static const char *const pq_names[] = { DL_PQ_FUNCS };
static const char *const curl_names[] = { DL_CURL_FUNCS };
#undef X

int dl_libpq(struct err *e)
{
	void *h;

	if (dl_pq.ready)
		return 0;
	h = dlopen("libpq.so.5", RTLD_LAZY | RTLD_LOCAL);
	if (!h)
		return err_set(e, EX_PERM, "postgresql: cannot load libpq.so.5 (install libpq5): %s", dlerror());
	if (resolve(h, pq_names, (void **)&dl_pq.fn, (int)(sizeof pq_names / sizeof *pq_names),
		    "libpq.so.5", e))
		return EX_PERM;
	dl_pq.ready = 1;
	return 0;
}

int dl_libcurl(struct err *e)
{
	void *h;

	if (dl_curl.ready)
		return 0;
	h = dlopen("libcurl.so.4", RTLD_LAZY | RTLD_LOCAL);
	if (!h)
		return err_set(e, EX_PERM, "http: cannot load libcurl.so.4 (install libcurl4): %s", dlerror());
	if (resolve(h, curl_names, (void **)&dl_curl.fn, (int)(sizeof curl_names / sizeof *curl_names),
		    "libcurl.so.4", e))
		return EX_PERM;
	dl_curl.ready = 1;
	return 0;
}

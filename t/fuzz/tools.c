/* fuzz tools: the model's tool arguments as tools_run checks them
 * (lib/tools.c): the first line of an input is the tool's name, the rest its
 * JSON input.  The store is SQLite in a scratch directory, strategies are
 * written there too, and the backend's URL has a scheme no transfer can
 * take, so a call that passes the checks fails at once and offline. */
#include "base/json.h"
#include "strategy.h"
#include "tools.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *store;
static struct backend backend = { "offline-fuzz://backend/api/v1", 1000 };
static char db[PATH_MAX + 16], dir[PATH_MAX + 16];
static long runs;

static void open_store(void)
{
	struct err e = ERR_INIT;

	if (store)
		store_close(store);
	unlink(db);
	FUZZ_CHECK(store_open(&store, db, &e) == 0, "store_open: %s", e.msg);
}

static void done(void)
{
	store_close(store);
	strategy_release();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_datadir();
	snprintf(db, sizeof db, "%s/agent.db", fuzz_scratch());
	snprintf(dir, sizeof dir, "%s/strategies", fuzz_scratch());
	setenv("AGENT_STRATEGY_DIR", dir, 1);
	unsetenv("AGENT_TOOLS_DIR");
	open_store();
	atexit(done);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *nl = memchr(s, '\n', size);
	struct tools_ctx c = { 0 };
	struct err e = ERR_INIT;
	char *name;
	jv input, result;
	int is_error = -1, rc;

	if (size > (256u << 10) || !nl)
		return 0;
	if (json_parse(nl + 1, size - (size_t)(nl + 1 - s), &input, &e))
		return 0;
	if (++runs % 4096 == 0)
		open_store();  /* the rows of the actions would pile up */
	name = strndup(s, (size_t)(nl - s));
	FUZZ_CHECK(name, "out of memory");
	c.store = store;
	c.backend = &backend;
	c.agent = "fuzz";
	c.tick_id = "t-fuzz";
	c.now = 1700000000;
	rc = tools_run(&c, "toolu_fuzz", name, input, &result, &is_error, &e);
	FUZZ_CHECK(rc == 0, "tools_run: %s", e.msg);
	FUZZ_CHECK(is_error == 0 || is_error == 1, "is_error %d", is_error);
	if (is_error)
		FUZZ_CHECK(json_kind_at(result, "error") == JV_KIND_STRING, "an error result without an error");
	jv_free(result);
	free(name);
	return 0;
}

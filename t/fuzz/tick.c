/* fuzz tick: the tick document as the stages read it: tick_check and its
 * accessors, the gate and budget stages on a scratch store, and the line
 * test the stages pass documents on by (tick_line_passes), which must never
 * pass one that the stage would refuse or change. */
#include "base/json.h"
#include "stage.h"
#include "tick.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct stage_ctx ctx;
static char db[PATH_MAX + 16];

static void done(void)
{
	stage_release(&ctx);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_datadir();
	snprintf(db, sizeof db, "%s/agent.db", fuzz_scratch());
	setenv("AGENT_DB", db, 1);
	stage_init(&ctx, db);
	atexit(done);
	return 0;
}

static void accessors(jv doc)
{
	free(tick_id(doc));
	free(tick_agent(doc));
	free(tick_action(doc));
	free(tick_session_phase(doc));
	(void)tick_session_id(doc);
	(void)tick_action_is(doc, "gate");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	static const char *const actions[] = { "gate", "invoke" };
	struct err e = ERR_INIT;
	jv doc, out;
	int parsed, checked = -1;

	if (size > (256u << 10))
		return 0;
	parsed = json_parse(s, size, &doc, &e) == 0;
	if (parsed) {
		checked = tick_check(doc, &e);
		(void)tick_is(doc);
		accessors(doc);
	}
	for (int i = 0; i < 2; i++) {
		if (!tick_line_passes(s, size, actions[i]))
			continue;
		FUZZ_CHECK(parsed, "tick_line_passes(%s) passed what is not JSON", actions[i]);
		FUZZ_CHECK(checked == 0, "tick_line_passes(%s) passed what tick_check refuses: %s",
			   actions[i], e.msg);
		FUZZ_CHECK(!tick_action_is(doc, actions[i]), "tick_line_passes(%s) passed its own action",
			   actions[i]);
	}
	if (!parsed)
		return 0;
	for (int i = 0; i < 2; i++) {
		int rc, passes = tick_line_passes(s, size, actions[i]);

		err_clear(&e);
		rc = i == 0 ? stage_gate(&ctx, jv_copy(doc), &out, &e)
			    : stage_budget(&ctx, jv_copy(doc), &out, &e);
		if (rc == 0) {
			if (passes)
				FUZZ_CHECK(fuzz_same(out, doc), "stage %s changed a document tick_line_passes passes",
					   actions[i]);
			jv_free(out);
		} else {
			FUZZ_CHECK(!passes, "stage %s refused a document tick_line_passes passes: %s",
				   actions[i], e.msg);
		}
	}
	jv_free(doc);
	return 0;
}

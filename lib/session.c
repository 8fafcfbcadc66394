/* session: the state table of DESIGN §3; an illegal move is an error. */
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "session.h"

static const char *const phases[] = {
	"idle", "designing", "training", "backtesting", "assessing", NULL
};

static const char *const outcomes[] = {
	"success", "failed_design", "failed_training", "failed_training_gate",
	"failed_backtest", "failed_backtest_gate", "failed_assessment",
	"cancelled", "failed_interrupted", "failed_orphan", NULL
};

/* Forward moves; a move to idle is checked against end_outcomes. */
static const struct { const char *from, *to; } moves[] = {
	{ "idle", "designing" },
	{ "designing", "training" },
	{ "training", "backtesting" },
	{ "backtesting", "assessing" },
};

/* How each active phase may end.  cancelled and failed_interrupted can end
 * any of them (operator, crash); failed_orphan any with a backend operation. */
static const struct { const char *from; const char *outcomes[6]; } ends[] = {
	{ "designing",   { "failed_design", NULL } },
	{ "training",    { "failed_training", "failed_training_gate", "failed_orphan", NULL } },
	{ "backtesting", { "failed_backtest", "failed_backtest_gate", "failed_orphan", NULL } },
	{ "assessing",   { "success", "failed_assessment", NULL } },
};

static int in_list(const char *s, const char *const *list)
{
	for (; s && *list; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

int session_is_phase(const char *s)
{
	return in_list(s, phases);
}

int session_is_outcome(const char *s)
{
	return in_list(s, outcomes);
}

int session_transition_ok(const char *from, const char *to, const char *outcome)
{
	if (!session_is_phase(from) || !session_is_phase(to))
		return 0;
	if (strcmp(to, "idle") != 0) {
		if (outcome)
			return 0;
		for (size_t i = 0; i < sizeof moves / sizeof *moves; i++)
			if (strcmp(moves[i].from, from) == 0 && strcmp(moves[i].to, to) == 0)
				return 1;
		return 0;
	}
	if (!outcome || strcmp(from, "idle") == 0)
		return 0;
	if (strcmp(outcome, "cancelled") == 0 || strcmp(outcome, "failed_interrupted") == 0)
		return 1;
	for (size_t i = 0; i < sizeof ends / sizeof *ends; i++)
		if (strcmp(ends[i].from, from) == 0)
			return in_list(outcome, ends[i].outcomes);
	return 0;
}

static const char *const move_fields[] = {
	"strategy_name", "strategy_config", "strategy_path", "training_operation_id",
	"training_results", "backtest_operation_id", "backtest_results", "assessment",
	"training_gate", "backtest_gate", NULL
};

int session_move(struct store *s, int64_t id, const char *from, const char *to,
		 jv fields, int64_t now, struct err *e)
{
	char *outcome = NULL, *reason = NULL;
	jv params;
	int rc;

	if (jv_get_kind(fields) != JV_KIND_OBJECT) {
		jv_free(fields);
		fields = jv_object();
	}
	outcome = json_string(fields, "outcome");
	reason = json_string(fields, "failure_reason");
	if (!session_transition_ok(from, to, outcome)) {
		rc = err_set(e, EX_PERM, "session %lld: illegal transition %s -> %s%s%s",
			     (long long)id, from, to, outcome ? " with outcome " : "",
			     outcome ? outcome : "");
		goto out;
	}
	params = jv_array();
	params = jv_array_append(params, jv_number((double)id));
	params = jv_array_append(params, jv_string(from));
	params = jv_array_append(params, jv_string(to));
	params = jv_array_append(params, json_str_or_null(outcome));
	params = jv_array_append(params, json_str_or_null(reason));
	params = jv_array_append(params, jv_number((double)now));
	for (const char *const *f = move_fields; *f; f++) {
		jv v = jv_object_get(jv_copy(fields), jv_string(*f));

		params = jv_array_append(params, jv_is_valid(v) ? v : jv_null());
	}
	rc = store_query(s, "session_move", params, NULL, e);
	if (rc == 0 && store_changes(s) != 1)
		rc = err_set(e, EX_TEMP, "session %lld: no longer in phase %s",
			     (long long)id, from);
out:
	jv_free(fields);
	free(outcome);
	free(reason);
	return rc;
}

int session_get(struct store *s, int64_t id, jv *row, struct err *e)
{
	return store_query1(s, "session_get",
			    jv_array_append(jv_array(), jv_number((double)id)), row, e);
}

int session_active(struct store *s, const char *agent, jv *row, struct err *e)
{
	return store_query1(s, "session_active",
			    jv_array_append(jv_array(), jv_string(agent)), row, e);
}

jv session_for_people(jv row)
{
	static const char *const keys[] = { "created_at", "updated_at", "completed_at",
					    "designing_at", "training_at", "backtesting_at",
					    "assessing_at", "progress.updated_at",
					    "assessment.assessed_at", NULL };
	jv us;

	if (jv_get_kind(row) != JV_KIND_OBJECT)
		return row;
	for (int i = 0; keys[i]; i++)
		row = json_time_at(row, keys[i]);
	us = jv_object_get(jv_copy(row), jv_string("trace_started_us"));
	if (jv_is_valid(us)) {
		row = jv_object_delete(row, jv_string("trace_started_us"));
		row = json_set(row, "trace_started_at", json_time_us(us));
	} else {
		jv_free(us);
	}
	return row;
}

/* lease: the agent_state lease row; a crashed holder's lease just expires. */
#include <stdlib.h>

#include "store/lease.h"

int64_t lease_seconds(void)
{
	const char *s = getenv("AGENT_LEASE_SECONDS");
	long v = s && *s ? strtol(s, NULL, 10) : 600;

	return v > 0 && v <= 86400 ? v : 600;
}

static jv args(const char *agent, const char *holder, int64_t now, int64_t expires)
{
	jv a = jv_array();

	a = jv_array_append(a, jv_string(agent));
	a = jv_array_append(a, jv_string(holder));
	a = jv_array_append(a, jv_number((double)now));
	return jv_array_append(a, jv_number((double)expires));
}

int lease_take(struct store *s, const char *agent, const char *holder, int64_t now,
	       int64_t seconds, jv *state, struct err *e)
{
	jv row;
	int rc = store_query1(s, "lease_take", args(agent, holder, now, now + seconds), &row, e);

	if (rc)
		return rc;
	if (jv_get_kind(row) != JV_KIND_OBJECT) {
		jv_free(row);
		return err_set(e, EX_NO, "agent '%s' is busy: another tick holds its lease", agent);
	}
	if (state)
		*state = row;
	else
		jv_free(row);
	return 0;
}

int lease_renew(struct store *s, const char *agent, const char *holder, int64_t now,
		int64_t seconds, struct err *e)
{
	int rc = store_query(s, "lease_renew", args(agent, holder, now, now + seconds), NULL, e);

	if (rc == 0 && store_changes(s) != 1)
		return err_set(e, EX_NO, "agent '%s': tick %s no longer holds the lease", agent, holder);
	return rc;
}

int lease_release(struct store *s, const char *agent, const char *holder, int64_t now,
		  struct err *e)
{
	jv a = jv_array_append(jv_array_append(jv_array_append(jv_array(), jv_string(agent)),
					       jv_string(holder)), jv_number((double)now));

	return store_query(s, "lease_release", a, NULL, e);
}

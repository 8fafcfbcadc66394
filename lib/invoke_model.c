/* invoke_model: the model of each invocation kind (apart: agent-budget's
 * admission prices with it and must not link the whole invocation). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/models.h"
#include "invoke.h"

const char *invoke_model(const char *kind, char *buf, size_t size)
{
	char name[64];
	const char *v, *m;

	snprintf(name, sizeof name, "AGENT_MODEL_%s", !strcmp(kind, "design") ? "DESIGN"
		 : !strcmp(kind, "post_training") ? "POST_TRAINING" : "ASSESSMENT");
	v = getenv(name);
	m = v && *v ? v : getenv("AGENT_MODEL") && *getenv("AGENT_MODEL") ? getenv("AGENT_MODEL")
		: !strcmp(kind, "assessment") ? INVOKE_ASSESSMENT_MODEL : INVOKE_DEFAULT_MODEL;
	snprintf(buf, size, "%s", m);
	models_short_name(buf, size);
	return buf;
}

const char *invoke_fallback_model(const char *kind, char *buf, size_t size)
{
	char name[64];
	const char *v;

	snprintf(name, sizeof name, "AGENT_FALLBACK_MODEL_%s", !strcmp(kind, "design") ? "DESIGN"
		 : !strcmp(kind, "post_training") ? "POST_TRAINING" : "ASSESSMENT");
	v = getenv(name);
	if (!v || !*v)
		v = getenv("AGENT_FALLBACK_MODEL");
	snprintf(buf, size, "%s", v ? v : "");
	if (buf[0])
		models_short_name(buf, size);
	return buf;
}

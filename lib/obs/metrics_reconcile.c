/* metrics_reconcile: a reconciliation report (reconcile.h) as Prometheus gauges. */
#include <stdlib.h>
#include <string.h>

#include "obs/metrics.h"
#include "obs/prom.h"
#include "base/clock.h"
#include "base/json.h"

int metrics_reconcile(jv report, struct prom *p, struct err *e)
{
	static const struct { const char *suffix, *key, *help; } g[] = {
		{ "difference_ratio", "difference_ratio",
		  "What the Admin API reports less what the ledger holds, relative to the ledger, per model (UTC day of the last reconciliation)" },
		{ "ledger_usd", "ledger_usd", "The ledger's spend per model on the reconciled UTC day" },
		{ "api_usd", "api_usd", "The Admin API's cost per model on the reconciled UTC day" },
	};
	const char *ns;
	char name[160];
	jv models = json_get(jv_copy(report), "models");
	int rc;

	if ((rc = metrics_namespace(&ns, e))) {
		jv_free(models);
		return rc;
	}
	for (size_t i = 0; i < sizeof g / sizeof *g; i++) {
		snprintf(name, sizeof name, "%s_budget_reconcile_%s", ns, g[i].suffix);
		prom_family(p, name, "gauge", g[i].help);
		jv_array_foreach(models, k, m) {
			char *model = json_string(m, "model");
			const char *pairs[] = { "model", model ? model : "(none)", NULL };
			double v = 0;

			json_number(m, g[i].key, &v);
			prom_sample(p, name, "", pairs, NULL, NULL, v);
			free(model);
			jv_free(m);
			(void)k;
		}
	}
	{
		char *at = json_string(report, "checked_at"), *day = json_string(report, "day");
		int64_t us = 0, d = 0;
		const char *pairs[] = { "day", day ? day : "", NULL };

		snprintf(name, sizeof name, "%s_budget_reconcile_timestamp_seconds", ns);
		prom_family(p, name, "gauge", "When the last reconciliation ran (Unix seconds)");
		if (at)
			clock_parse(at, &us);
		prom_sample(p, name, "", pairs, NULL, NULL, (double)(us / 1000000));
		snprintf(name, sizeof name, "%s_budget_reconcile_day_timestamp_seconds", ns);
		prom_family(p, name, "gauge", "The start of the UTC day the last reconciliation compared (Unix seconds)");
		if (day)
			clock_parse_day(day, &d);
		prom_sample(p, name, "", NULL, NULL, NULL, (double)d);
		free(at);
		free(day);
	}
	jv_free(models);
	return prom_failed(p) ? err_set(e, EX_TEMP, "out of memory") : 0;
}

/* budget_bench: hold+settle throughput of N concurrent workers against one
 * agent's budget, beside a baseline of the same number of minimal write
 * transactions on the same budget row (count a cycle: an upsert and an
 * UPDATE) on the same store.  With BENCH_SCOPED=1 the agent is in a team
 * with a week cap and under a global day cap (both far from reached), so
 * every hold takes the scoped admission (agent-budget(1) SCOPES).  Prints
 * JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "budget.h"
#include "base/clock.h"
#include "base/json.h"
#include "store/store.h"

static int worker(const char *db, int n, int baseline)
{
	struct err e = ERR_INIT;
	struct store *s;
	struct budget_cfg c;
	if (store_open(&s, db, &e) || budget_config(&c, "bench", &e)) {
		fprintf(stderr, "budget_bench: %s\n", e.msg);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		if (baseline) {
			/* two small write transactions on the same budget row: the floor
			 * under a hold and a settlement */
			for (int k = 0; k < 2; k++)
				if (budget_count_cycle(s, &c, 0, &e))
					goto fail;
		} else {
			jv hold, st;
			int64_t id = 0;
			int rc = budget_hold(s, &c, 1000, 0, 600, NULL, &hold, &e);

			if (rc == EX_NO) {
				jv_free(hold);
				continue;
			}
			if (rc)
				goto fail;
			json_int(hold, "id", &id);
			jv_free(hold);
			if (budget_settle(s, &c, id, 500, 0, &st, &e))
				goto fail;
			jv_free(st);
		}
	}
	store_close(s);
	return 0;
fail:
	fprintf(stderr, "budget_bench: %s\n", e.msg);
	store_close(s);
	return 1;
}

static double run(const char *db, int workers, int n, int baseline)
{
	int64_t t0 = clock_mono_us();
	int failed = 0;

	for (int w = 0; w < workers; w++)
		if (fork() == 0)
			_exit(worker(db, n, baseline));
	for (int w = 0; w < workers; w++) {
		int st;

		wait(&st);
		failed |= !WIFEXITED(st) || WEXITSTATUS(st);
	}
	if (failed)
		exit(4);
	return (double)(clock_mono_us() - t0) / 1e6;
}

int main(int argc, char **argv)
{
	const char *db = argc > 1 ? argv[1] : NULL;
	int workers = argc > 2 ? atoi(argv[2]) : 8, n = argc > 3 ? atoi(argv[3]) : 200;
	struct err e = ERR_INIT;
	struct store *s;
	struct budget_cfg c;
	jv st;
	double hold_s, base_s;

	setenv("AGENT_DAILY_BUDGET_USD", "1000000", 1);
	if (!db || workers < 1 || n < 1) {
		fprintf(stderr, "usage: budget_bench DB [WORKERS] [PAIRS_PER_WORKER]\n");
		return 2;
	}
	if (store_open(&s, db, &e) || budget_config(&c, "bench", &e) || budget_status(s, &c, &st, &e)) {
		fprintf(stderr, "budget_bench: %s\n", e.msg);
		return 4;
	}
	jv_free(st);
	if (getenv("BENCH_SCOPED") && !strcmp(getenv("BENCH_SCOPED"), "1")) {
		if (budget_set_team(s, &c, "bench-team", &st, &e)) {
			fprintf(stderr, "budget_bench: %s\n", e.msg);
			return 4;
		}
		jv_free(st);
		if (budget_set_cap(s, &c, "team:bench-team", "week", 900000LL * 1000000, &st, &e) ||
		    (jv_free(st), budget_set_cap(s, &c, "global", "day", 900000LL * 1000000, &st, &e))) {
			fprintf(stderr, "budget_bench: %s\n", e.msg);
			return 4;
		}
		jv_free(st);
	}
	store_close(s);
	base_s = run(db, workers, n, 1);
	hold_s = run(db, workers, n, 0);
	printf("{\"store\":\"%s\",\"scoped\":%s,\"workers\":%d,\"pairs\":%d,\"hold_settle_per_s\":%.0f,"
	       "\"baseline_tx_pairs_per_s\":%.0f,\"ratio_to_baseline\":%.2f}\n",
	       strncmp(db, "postgres", 8) == 0 ? "postgres" : "sqlite",
	       getenv("BENCH_SCOPED") && !strcmp(getenv("BENCH_SCOPED"), "1") ? "true" : "false",
	       workers, workers * n,
	       workers * n / hold_s, workers * n / base_s, hold_s / base_s);
	return 0;
}

/* agent-db: create and migrate the store, and say which schema it holds. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "base/json.h"
#include "store/store.h"
#include "net/trace.h"

static const char summary[] =
	"Apply the store's migrations (migrate) or report its schema version (status)."
	"\vThe store is AGENT_DB or --db: a postgresql:// URI or a SQLite path.";

static struct argp_option options[] = {
	{ 0 }
};

struct args {
	const char *verb;
};

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;

	switch (key) {
	case ARGP_KEY_ARG:
		if (a->verb)
			argp_error(st, "unexpected argument '%s'", arg);
		if (strcmp(arg, "migrate") && strcmp(arg, "status"))
			argp_error(st, "unknown command '%s' (migrate, status)", arg);
		a->verb = arg;
		break;
	case ARGP_KEY_END:
		if (!a->verb)
			argp_error(st, "a command is required: migrate or status");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct argp argp = { options, parse, "migrate|status", summary, 0, 0, 0 };

int main(int argc, char **argv)
{
	struct args a = { 0 };
	struct err e = ERR_INIT;
	struct store *s;
	jv out, applied = jv_array();
	int rc, cur = 0, latest = 0;

	cli_init("agent-db", argv);
	argp.children = cli_shared(CLI_DB | CLI_JSON | CLI_QUIET, NULL, "print nothing on success");
	cli_parse(&argp, argc, argv, &a);
	trace_startf(TRACE_INTERNAL, "agent-db %s", a.verb);  /* ended at exit */
	rc = store_open_raw(&s, cli_opt.db, &e);
	if (rc)
		return cli_fail(&e);
	if (strcmp(a.verb, "migrate") == 0) {
		jv_free(applied);
		rc = store_migrate(s, &applied, &e);
	}
	if (rc == 0)
		rc = store_schema_version(s, &cur, &latest, &e);
	if (rc) {
		store_close(s);
		jv_free(applied);
		return cli_fail(&e);
	}
	out = jv_object();
	out = json_set(out, "driver", jv_string(store_driver_name(s)));
	out = json_set(out, "version", jv_number(cur));
	out = json_set(out, "latest", jv_number(latest));
	out = json_set(out, "applied", applied);
	if (cli_quiet) {
		jv_free(out);
	} else if (cli_tty() && !cli_opt.json) {
		printf("%s store at schema %d of %d", store_driver_name(s), cur, latest);
		printf("%s\n", cur < latest ? " (run: agent-db migrate)" : "");
		jv_free(out);
	} else {
		rc = cli_emit(out);
	}
	store_close(s);
	return cli_finish(rc);
}

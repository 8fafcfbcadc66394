/* agent-db: create and migrate the store, and say which schema it holds. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json.h"
#include "store.h"
#include "trace.h"

static const char summary[] =
	"Apply the store's migrations (migrate) or report its schema version (status)."
	"\vThe store is AGENT_DB or --db: a postgresql:// URI or a SQLite path.";

static struct argp_option options[] = {
	{ "db", 'd', "URI", 0, "store to use (default: AGENT_DB, else the SQLite default)", 0 },
	{ "json", 'j', 0, 0, "print JSON even on a terminal", 0 },
	{ "quiet", 'q', 0, 0, "print nothing on success", 0 },
	{ 0 }
};

struct args {
	const char *db, *verb;
	int json;
};

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;

	switch (key) {
	case 'd': a->db = arg; break;
	case 'j': a->json = 1; break;
	case 'q': cli_quiet = 1; break;
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
	argp_parse(&argp, argc, argv, 0, 0, &a);
	trace_startf(TRACE_INTERNAL, "agent-db %s", a.verb);  /* ended at exit */
	rc = store_open_raw(&s, a.db, &e);
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
	} else if (cli_tty() && !a.json) {
		printf("%s store at schema %d of %d", store_driver_name(s), cur, latest);
		printf("%s\n", cur < latest ? " (run: agent-db migrate)" : "");
		jv_free(out);
	} else {
		rc = cli_emit(out);
	}
	store_close(s);
	return cli_finish(rc);
}

/* cli: what every command does the same way: argp setup, diagnostics, exit. */
#ifndef CLI_H
#define CLI_H

#include <argp.h>
#include <jv.h>

#include "base/err.h"

extern const char *cli_prog;

/* Program name for diagnostics (also as argv[0], which getopt's messages
 * use), argp exit status 2, version string. */
void cli_init(const char *prog, char **argv);

/* argp_parse, after a look for a mistyped long option: one near a known
 * name (two edits, one for a name of up to four letters) is a usage error
 * that names it ("did you mean '--json'?"), exit 2; anything else is
 * argp's to say. */
void cli_parse(struct argp *ap, int argc, char **argv, void *input);

/* "prog: message" on stderr, one line. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints e (errors are printed even with -q) and returns its code. */
int cli_fail(const struct err *e);

/* Flushes stdout and checks for a write error: returns rc, or EX_TEMP when
 * what was written did not all reach its destination. */
int cli_finish(int rc);

/* 1 when stdout is a terminal; cli_color also honours NO_COLOR. */
int cli_tty(void);
int cli_color(void);

/* Set by -q: diagnostics other than errors are not printed. */
extern int cli_quiet;

/* The options several commands share, declared and parsed here once:
 * --db/-d URI, --agent/-a NAME (1 to 100 of [A-Za-z0-9_.-]), --json/-j,
 * --quiet/-q (sets cli_quiet).  A command names the ones it takes in
 * cli_shared(), and reads what was given from cli_opt. */
enum { CLI_DB = 1, CLI_AGENT = 2, CLI_JSON = 4, CLI_QUIET = 8 };

struct cli_opts {
	const char *db;     /* NULL: AGENT_DB, else the SQLite default */
	const char *agent;  /* NULL: AGENT_NAME, else "default" */
	int json;
};
extern struct cli_opts cli_opt;

/* The argp children (for struct argp's children) offering `which`; a NULL
 * doc keeps the common help line of --agent or --quiet. */
const struct argp_child *cli_shared(unsigned which, const char *agent_doc,
				    const char *quiet_doc);

/* Writes one JSON line to stdout (consumes v). */
int cli_emit(jv v);

/* Prints a view (consumes doc): nothing with -q; on a terminal, unless
 * `json`, the human layout render(doc, colour) makes of the same document;
 * else the JSON line.  Returns the exit status, stdout checked. */
int cli_view(jv doc, int json, char *(*render)(jv doc, int color));

/* Reads JSON Lines from stdin and calls fn for each document (consumed).
 * Stops at the first non-zero return.  Returns that, or the reader's error
 * code (after printing it). */
int cli_each_doc(int (*fn)(jv doc, void *arg), void *arg);

/* For a pipeline stage: a tick document whose action is not `action`, and
 * that passes tick_check, goes to stdout as it came, without being parsed
 * into a jv or shown to cli_each_doc's callback (unless spans are being
 * recorded: each document gets its span). */
void cli_pass_through(const char *action);

/* Parses a non-negative integer option; EX_USAGE via argp_error. */
long long cli_number(struct argp_state *st, const char *opt, const char *arg,
		     long long min, long long max);

/* Parses a number of seconds from min to max; EX_USAGE via argp_error. */
double cli_seconds(struct argp_state *st, const char *opt, const char *arg, double min,
		   double max);

#endif

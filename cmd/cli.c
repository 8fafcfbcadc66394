/* cli: shared glue of the commands (the library itself never prints). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tick.h"
#include "trigger.h"
#include "base/json.h"
#include "net/trace.h"

const char *cli_prog = "agent";
int cli_quiet;

struct cli_opts cli_opt;

static error_t shared_parse(int key, char *arg, struct argp_state *st)
{
	switch (key) {
	case 'd': cli_opt.db = arg; break;
	case 'a':
		if (!trigger_name_ok(arg, 100)) {
			/* one line, as AGENT_NAME's own error is */
			cli_warn("--agent: not 1 to 100 characters of [A-Za-z0-9_.-]: '%.100s'", arg);
			exit(EX_USAGE);
		}
		cli_opt.agent = arg;
		break;
	case 'j': cli_opt.json = 1; break;
	case 'q': cli_quiet = 1; break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

const struct argp_child *cli_shared(unsigned which, const char *agent_doc,
				    const char *quiet_doc)
{
	static struct argp_option opt[5];
	static struct argp child = { opt, shared_parse, NULL, NULL, NULL, NULL, NULL };
	static struct argp_child children[2];
	int n = 0;

	if (which & CLI_DB)
		opt[n++] = (struct argp_option){ "db", 'd', "URI", 0,
			"store to use (default: AGENT_DB, else the SQLite default)", 0 };
	if (which & CLI_AGENT)
		opt[n++] = (struct argp_option){ "agent", 'a', "NAME", 0,
			agent_doc ? agent_doc : "agent (default: AGENT_NAME, else \"default\")", 0 };
	if (which & CLI_JSON)
		opt[n++] = (struct argp_option){ "json", 'j', 0, 0,
			"print JSON even on a terminal", 0 };
	if (which & CLI_QUIET)
		opt[n++] = (struct argp_option){ "quiet", 'q', 0, 0,
			quiet_doc ? quiet_doc : "print nothing; the exit status says it", 0 };
	opt[n] = (struct argp_option){ 0 };
	children[0] = (struct argp_child){ &child, 0, NULL, 0 };
	children[1] = (struct argp_child){ 0 };
	return children;
}

const char *argp_program_version = "agent toolkit " AGENT_VERSION;
const char *argp_program_bug_address = NULL;

/* At exit the spans go out (lib/net/trace.h), after stdout is handed back: the
 * next stage of a pipeline gets its end of input without waiting for the
 * export.  A failed export is one warning; it never changes the status. */
static int ran;  /* past option parsing: --help and --version make no span */

/* Whether this process says that its trace export failed: once per tick
 * (its last stage, agent-metrics-agg, whose export comes last) and never
 * a read-only view, whose output is for a person reading something else. */
static int export_says(void)
{
	static const char *const quiet[] = { "agent-status", "agent-history", "agent-session",
					     "agent-logs", "agent-monitor", NULL };
	const char *cycle = getenv("AGENT_TRACE_CYCLE");

	for (int i = 0; quiet[i]; i++)
		if (!strcmp(cli_prog, quiet[i]))
			return 0;
	return !(cycle && *cycle) || !strcmp(cli_prog, "agent-metrics-agg");
}

static void trace_exit(void)
{
	struct err e = ERR_INIT;
	int fd;

	if (!trace_on())
		return;
	if (ran)
		trace_process_span();
	if (fflush(stdout) == 0 && (fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) >= 0 &&
	    fd != STDOUT_FILENO) {
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	if (trace_finish(&e) && !cli_quiet && export_says())
		cli_warn("%s", e.msg);
}

void cli_init(const char *prog, char **argv)
{
	cli_prog = prog;
	/* getopt's messages ("unrecognized option") name argv[0] */
	if (argv && argv[0])
		argv[0] = (char *)prog;
	/* argp names the program in its messages: the name, not the path */
	program_invocation_name = (char *)prog;
	program_invocation_short_name = (char *)prog;
	argp_err_exit_status = EX_USAGE;
	trace_init(prog);
	atexit(trace_exit);
}

/* One write(2) per line: the stages of a tick share one stderr, and three
 * stdio calls per line let two stages' lines cut into each other. */
void cli_warn(const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n = snprintf(line, sizeof line, "%s: ", cli_prog), m;

	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	n = m < 0 ? n : n + m < (int)sizeof line - 1 ? n + m : (int)sizeof line - 2;
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;  /* nowhere left to say it */
}

int cli_fail(const struct err *e)
{
	cli_warn("%s", e->msg[0] ? e->msg : "failed");
	ran = 1;
	trace_fail(trace_current(), e->code ? e->code : EX_PERM, e->msg);
	return e->code ? e->code : EX_PERM;
}

int cli_finish(int rc)
{
	ran = 1;
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_warn("write error: %s", strerror(errno ? errno : EIO));
		return rc ? rc : EX_TEMP;
	}
	return rc;
}

int cli_tty(void)
{
	return isatty(STDOUT_FILENO);
}

int cli_color(void)
{
	const char *nc = getenv("NO_COLOR");

	return cli_tty() && !(nc && *nc);
}

/* The document being handled and its text, while cli_each_doc's callback
 * runs: a document passed on untouched is written as it came (the same
 * object: a stage that changed it holds a copy, jq's copy on write). */
static jv in_doc = { .kind_flags = JV_KIND_NULL };
static const char *in_raw;
static size_t in_raw_len;

int cli_emit(jv v)
{
	ran = 1;
	if (in_raw && jv_get_kind(v) == JV_KIND_OBJECT && jv_identical(jv_copy(v), jv_copy(in_doc))) {
		jv_free(v);
		if (fwrite(in_raw, 1, in_raw_len, stdout) != in_raw_len || putchar('\n') == EOF) {
			cli_warn("write error: %s", strerror(errno));
			return EX_TEMP;
		}
		return 0;
	}
	if (json_write(stdout, v) < 0) {
		cli_warn("write error: %s", strerror(errno));
		return EX_TEMP;
	}
	return 0;
}

int cli_view(jv doc, int json, char *(*render)(jv doc, int color))
{
	char *text;

	if (cli_quiet) {
		jv_free(doc);
		return 0;
	}
	if (!cli_tty() || json)
		return cli_finish(cli_emit(doc));
	text = render(doc, cli_color());
	jv_free(doc);
	if (!text) {
		cli_warn("out of memory");
		return EX_TEMP;
	}
	fputs(text, stdout);
	free(text);
	return cli_finish(0);
}

static const char *pass_action;

void cli_pass_through(const char *action)
{
	pass_action = action;
}

static int passes(const char *line, size_t len, void *arg)
{
	(void)arg;
	return tick_line_passes(line, len, pass_action);
}

/* What is written goes on before the reader waits for more input: in a
 * pipeline the next stage has the document while this one is still waiting
 * for the end of its input (each stage's end waits for the one before it to
 * exit), not when this one exits.  A stream with more input already read
 * is written in blocks, as stdio does. */
static void flush_before_wait(const struct json_reader *r)
{
	if (r->off == r->len)
		fflush(stdout);
}

int cli_each_doc(int (*fn)(jv doc, void *arg), void *arg)
{
	struct json_reader r;
	struct err e = ERR_INIT;
	jv doc;
	int rc = 0, got;

	if (json_reader_init(&r, STDIN_FILENO, "stdin", json_limit_from_env(), &e))
		return cli_fail(&e);
	/* with no span to make, a tick document the stage passes on is
	 * copied through without being built */
	if (pass_action && !trace_on())
		r.skip = passes;
	while (rc == 0 && (got = json_reader_next(&r, &doc, &e)) != 0) {
		if (got < 0) {
			rc = cli_fail(&e);
			break;
		}
		if (got == 2) {
			ran = 1;
			if (fwrite(r.raw, 1, r.raw_len, stdout) != r.raw_len || putchar('\n') == EOF) {
				cli_warn("write error: %s", strerror(errno));
				rc = EX_TEMP;
			}
			flush_before_wait(&r);
			continue;
		}
		jv_free(in_doc);  /* the document before */
		in_raw = r.raw;
		in_raw_len = r.raw_len;
		in_doc = jv_copy(doc);
		rc = fn(doc, arg);
		in_raw = NULL;
		flush_before_wait(&r);
	}
	/* The last document stays referenced: the command exits next, and
	 * taking a tick document apart node by node (~50 us) is work for
	 * nothing then. */
	json_reader_release(&r);
	return rc;
}

long long cli_number(struct argp_state *st, const char *opt, const char *arg,
		     long long min, long long max)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(arg, &end, 10);
	if (errno || *end || !*arg || v < min || v > max)
		argp_error(st, "%s: not a whole number from %lld to %lld: '%s'", opt, min, max, arg);
	return v;
}

double cli_seconds(struct argp_state *st, const char *opt, const char *arg, double min,
		   double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || *end || !*arg || !(v >= min && v <= max))
		argp_error(st, "%s: not a number of seconds from %g to %g: '%s'", opt, min, max, arg);
	return v;
}

/* --- "did you mean" for a mistyped long option */

/* The edit distance (insert, delete, substitute, swap neighbours) of two
 * short words; more than 3 counts as far. */
static int distance(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	int d[40][40];

	if (na >= 40 || nb >= 40)
		return 99;
	for (size_t i = 0; i <= na; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= nb; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= na; i++)
		for (size_t j = 1; j <= nb; j++) {
			int c = a[i - 1] != b[j - 1], v = d[i - 1][j] + 1;

			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + c < v)
				v = d[i - 1][j - 1] + c;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[na][nb];
}

struct optscan {
	const char *word;    /* the name given, without "--" and "=..." */
	size_t len;
	int known;           /* a name it is, or a prefix of one (getopt abbreviates) */
	const char *best;
	int best_d;
	int takes_arg;       /* the option it names takes a separate argument */
};

static void scan_options(const struct argp *ap, struct optscan *o)
{
	int arg = 0;

	for (const struct argp_option *op = ap->options; op && (op->name || op->key || op->doc);
	     op++) {
		if (!(op->flags & OPTION_ALIAS))
			arg = op->arg && !(op->flags & OPTION_ARG_OPTIONAL);
		if (!op->name)
			continue;
		if (!strncmp(op->name, o->word, o->len)) {
			o->known = 1;
			o->takes_arg |= arg && strlen(op->name) == o->len;
		} else {
			char w[40];
			int d;

			snprintf(w, sizeof w, "%.*s", (int)(o->len < 39 ? o->len : 39), o->word);
			d = distance(w, op->name);
			if (d < o->best_d) {
				o->best_d = d;
				o->best = op->name;
			}
		}
	}
	for (const struct argp_child *c = ap->children; c && c->argp; c++)
		scan_options(c->argp, o);
}

/* Whether short option key takes an argument: 1, 0, or -1 when no option
 * of the tree has that key. */
static int short_arg(const struct argp *ap, int key)
{
	int arg = 0, r;

	for (const struct argp_option *op = ap->options; op && (op->name || op->key || op->doc);
	     op++) {
		if (!(op->flags & OPTION_ALIAS))
			arg = op->arg && !(op->flags & OPTION_ARG_OPTIONAL);
		if (op->key == key)
			return arg;
	}
	for (const struct argp_child *c = ap->children; c && c->argp; c++)
		if ((r = short_arg(c->argp, key)) >= 0)
			return r;
	return -1;
}

/* A short option cluster whose last option takes an argument with nothing
 * after it ("-d", not "-dURI"): the next word is that argument. */
static int short_takes_arg(const struct argp *ap, const char *cluster)
{
	for (const char *p = cluster + 1; *p; p++)
		if (short_arg(ap, (unsigned char)*p) == 1)
			return p[1] == 0;
	return 0;
}

void cli_parse(struct argp *ap, int argc, char **argv, void *input)
{
	for (int i = 1; i < argc; i++) {
		const char *w = argv[i];

		if (!strcmp(w, "--"))
			break;
		if (w[0] == '-' && w[1] && w[1] != '-') {
			if (short_takes_arg(ap, w))
				i++;
			continue;
		}
		if (strncmp(w, "--", 2) || !w[2])
			continue;
		{
			struct optscan o = { w + 2, strcspn(w + 2, "="), 0, NULL, 99, 0 };

			if (!strncmp("help", o.word, o.len) || !strncmp("usage", o.word, o.len) ||
			    !strncmp("version", o.word, o.len))
				continue;
			scan_options(ap, &o);
			if (o.known) {
				if (o.takes_arg && !strchr(w, '='))
					i++;
				continue;
			}
			if (o.best && o.best_d <= (o.len <= 4 ? 1 : 2)) {
				fprintf(stderr, "%s: unrecognized option '%.*s'; did you mean '--%s'?\n",
					cli_prog, (int)(o.len + 2 < 80 ? o.len + 2 : 80), w, o.best);
				fprintf(stderr, "Try `%s --help' or `%s --usage' for more information.\n",
					cli_prog, cli_prog);
				exit(EX_USAGE);
			}
		}
	}
	argp_parse(ap, argc, argv, 0, 0, input);
}


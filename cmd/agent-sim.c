/* agent-sim: a local stand-in for the research backend and the Messages API. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "base/json.h"
#include "sim/sim.h"

#define MAX_FAULTS 64
#define STOP_SECONDS 10  /* a stop that takes longer is cut off */

static const char doc[] =
	"Serve a simulated research backend and Anthropic Messages API on loopback."
	"\vWhen ready, prints one JSON line: {\"url\",\"backend\",\"anthropic\",\"pid\"}; "
	"then serves until SIGINT or SIGTERM and exits 0.  Faults are added with "
	"--fault or POST /_sim/faults; see agent-sim(1).";

static struct argp_option options[] = {
	{ "listen", 'l', "ADDR", 0, "serve on HOST:PORT, [V6]:PORT or PORT (default 127.0.0.1:0: "
	  "a free port on loopback)", 0 },
	{ "seed", 's', "N", 0, "seed of every outcome, id and name (default 1)", 0 },
	{ "speed", 'x', "X", 0, "run simulated time X times faster (default 1)", 0 },
	{ "fault", 'f', "JSON", 0, "add a fault, as POST /_sim/faults takes it (repeatable)", 0 },
	{ "strategies", 'S', "DIR", 0, "the platform's strategy directory, where training reads "
	  "{name}.yaml (default: STRATEGIES_DIR, else /app/strategies, else ./strategies)", 0 },
	{ "key-file", 'k', "FILE", 0, "accept only the API key on FILE's first line (default: any key)", 0 },
	{ 0 }
};

struct args {
	struct sim_config cfg;
	const char *key_file;
	const char *faults[MAX_FAULTS];
	int nfaults;
};

static error_t parse(int key, char *arg, struct argp_state *st)
{
	struct args *a = st->input;
	char *end;

	switch (key) {
	case 'l':
		a->cfg.listen = arg;
		break;
	case 's':
		errno = 0;
		a->cfg.seed = strtoull(arg, &end, 10);
		if (errno || *end || !*arg || *arg == '-')
			argp_error(st, "--seed: not a whole number from 0 to %llu: '%s'",
				   (unsigned long long)UINT64_MAX, arg);
		break;
	case 'x':
		errno = 0;
		a->cfg.speed = strtod(arg, &end);
		if (errno || *end || !*arg || !isfinite(a->cfg.speed) || a->cfg.speed <= 0 ||
		    a->cfg.speed > SIM_SPEED_MAX)
			argp_error(st, "--speed: not a number above 0 and at most %g: '%s'",
				   SIM_SPEED_MAX, arg);
		break;
	case 'f':
		if (a->nfaults == MAX_FAULTS)
			argp_error(st, "--fault: at most %d", MAX_FAULTS);
		a->faults[a->nfaults++] = arg;
		break;
	case 'k':
		a->key_file = arg;
		break;
	case 'S':
		a->cfg.strategies = arg;
		break;
	case ARGP_KEY_ARG:
		argp_error(st, "unexpected argument '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static struct argp argp = { options, parse, NULL, doc, 0, 0, 0 };

/* The first line of path, without its line end, into key (size bytes). */
static int read_key(const char *path, char *key, size_t size, struct err *e)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return err_set(e, EX_PERM, "cannot read '%s': %s", path, strerror(errno));
	if (!fgets(key, (int)size, f))
		key[0] = 0;
	fclose(f);
	n = strcspn(key, "\r\n");
	if (n == 0 || n == size - 1)
		return err_set(e, EX_PERM, "'%s': expected a key of 1 to %zu bytes on the first line",
			       path, size - 2);
	key[n] = 0;
	return 0;
}

static void stop_timeout(int sig)
{
	static const char msg[] = "agent-sim: stopping took too long; exiting\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof msg - 1) < 0)
		_exit(EX_TEMP);
	_exit(EX_TEMP);
}

int main(int argc, char **argv)
{
	struct args a = { .cfg = SIM_CONFIG_INIT };
	struct err e = ERR_INIT;
	struct sim *sim = NULL;
	char key[256];
	sigset_t set;
	jv ready;
	char *url;
	int sig, rc;

	cli_init("agent-sim", argv);
	argp.children = cli_shared(CLI_QUIET, NULL, "print nothing on stderr but errors");
	cli_parse(&argp, argc, argv, &a);

	/* The server threads inherit this mask, so only sigwait sees the signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (a.key_file) {
		if (read_key(a.key_file, key, sizeof key, &e))
			return cli_fail(&e);
		a.cfg.api_key = key;
	}
	rc = sim_new(&sim, &a.cfg, &e);
	for (int i = 0; rc == 0 && i < a.nfaults; i++)
		rc = sim_add_fault(sim, a.faults[i], &e);
	if (rc == 0)
		rc = sim_start(sim, &e);
	if (rc) {
		sim_free(sim);
		return cli_fail(&e);
	}
	ready = sim_ready(sim);
	url = json_string(ready, "url");
	rc = cli_emit(ready);
	if (rc == 0 && fflush(stdout) != 0)
		rc = EX_TEMP;
	if (rc) {
		cli_warn("cannot write the ready line: %s", strerror(errno ? errno : EIO));
		free(url);
		sim_free(sim);
		return rc;
	}
	if (!cli_quiet)
		cli_warn("serving on %s (seed %llu, speed %g)", url ? url : "?",
			 (unsigned long long)a.cfg.seed, a.cfg.speed);
	free(url);

	while (sigwait(&set, &sig) != 0)
		;
	signal(SIGALRM, stop_timeout);
	alarm(STOP_SECONDS);
	sim_free(sim);
	alarm(0);
	if (!cli_quiet)
		cli_warn("stopped on %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	return cli_finish(0);
}

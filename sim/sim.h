/* sim: a local stand-in for the research backend and the Anthropic Messages API. */
#ifndef SIM_H
#define SIM_H

#include <stdint.h>
#include <jv.h>

#include "base/err.h"

/*
 * Ownership: struct sim belongs to the caller of sim_new and is released by
 * sim_free.  Strings given in struct sim_config are borrowed until sim_start
 * returns.  sim_ready consumes nothing and returns a new jv the caller owns.
 * The library never prints and never exits; every error is in struct err.
 *
 * Threads: sim_start runs the HTTP server on its own threads (one per
 * connection); every access to the shared state, and every jv touched by
 * more than one thread, is under one mutex.  Block SIGINT/SIGTERM in the
 * calling thread before sim_start so the server threads never take them.
 */

struct sim_config {
	const char *listen;  /* "HOST:PORT", "[V6]:PORT" or "PORT"; NULL: 127.0.0.1:0 */
	uint64_t seed;       /* operation outcomes, ids and names derive from it */
	double speed;        /* simulated seconds per real second, > 0 */
	const char *api_key; /* the only key the Messages API accepts; NULL: any */
	const char *strategies; /* the platform's STRATEGIES_DIR (never NULL after sim_new) */
};

#define SIM_CONFIG_INIT { NULL, 1, 1.0, NULL, NULL }

#define SIM_SPEED_MAX 1e6

struct sim;

/* Checks the configuration and creates the state (nothing listens yet). */
int sim_new(struct sim **out, const struct sim_config *cfg, struct err *e);

/* Adds a fault, as the body of POST /_sim/faults would (borrows json).
 * EX_USAGE with a message when the text is not a valid fault. */
int sim_add_fault(struct sim *s, const char *json, struct err *e);

/* Binds the listening socket and starts serving.  EX_PERM when the address
 * cannot be used, EX_TEMP for resource failures. */
int sim_start(struct sim *s, struct err *e);

/* The ready line: {"url","backend","anthropic","pid"}. */
jv sim_ready(struct sim *s);

/* Stops serving (bounded: hung and slow requests are cut off) and frees. */
void sim_free(struct sim *s);

#endif

/* backend: the research platform's operations API (DESIGN §6). */
#ifndef BACKEND_H
#define BACKEND_H

#include <jv.h>

#include "base/err.h"

struct backend {
	char base[1024];   /* ".../api/v1", no trailing slash */
	long timeout_ms;
};

/* Base URL from AGENT_BACKEND_URL, else KTRDR_API_URL (+ "/api/v1" when it
 * lacks it), else http://localhost:8000/api/v1.  Timeout from
 * AGENT_BACKEND_TIMEOUT_SECONDS (30). */
int backend_init(struct backend *b, struct err *e);

/*
 * One call: method, path below the base ("/operations/op_1"), a JSON body
 * (consumed; jv_null() for none).  Returns 0 when the backend answered:
 * *status is its HTTP status and *resp its JSON body (null when the body
 * was empty; an answer that is not JSON is EX_TEMP: the backend is not
 * itself).  EX_TEMP when it could not be reached.
 */
int backend_call(struct backend *b, const char *method, const char *path, jv body,
		 long *status, jv *resp, struct err *e);

/* GET /operations/{id}: 0 with *op = data on 200; EX_NO with *op null on
 * 404 (the backend lost it); EX_TEMP when unreachable or 5xx; EX_DATA when
 * the id is not a plain operation id. */
int backend_operation(struct backend *b, const char *id, jv *op, struct err *e);

/* 1 when id is safe to put in a path: [A-Za-z0-9_.-], 1..128 bytes. */
int backend_id_ok(const char *id);

#endif

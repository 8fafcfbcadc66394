/* anthropic: one call to the Messages API (POST /v1/messages), no retries. */
#ifndef ANTHROPIC_H
#define ANTHROPIC_H

#include <stdint.h>
#include <jv.h>

#include "base/err.h"

/*
 * The key never leaves this struct except in the x-api-key header: it is
 * not in any message, log or returned value.  Retries, backoff and the
 * budget hold of each attempt belong to the caller (lib/invoke.c), so that
 * every attempt is held and settled on its own.
 */
struct anthropic {
	char base[512];       /* ANTHROPIC_BASE_URL, default https://api.anthropic.com */
	char version[32];     /* ANTHROPIC_VERSION, default 2026-10-21 */
	char auth[1100];      /* the whole auth header line */
	long timeout_ms;      /* AGENT_TIMEOUT_SECONDS, default 120 */
	int stream;           /* AGENT_STREAM: 1 always, 0 never, -1 when max_tokens is large */
};

/* Key from ANTHROPIC_API_KEY, ANTHROPIC_API_KEY_FILE, or
 * $CREDENTIALS_DIRECTORY/anthropic_api_key (else ANTHROPIC_AUTH_TOKEN as a
 * Bearer token).  EX_PERM when there is none or it is malformed. */
int anthropic_init(struct anthropic *a, struct err *e);
void anthropic_release(struct anthropic *a);  /* wipes the key */

/* Stars out, in place, every run of 8 or more bytes of the key (all of a
 * shorter key) in s: for text a peer sent, which may quote the key back.
 * anthropic_send and anthropic_count_tokens do it to their messages. */
void anthropic_redact(const struct anthropic *a, char *s);

/* The same for the Usage & Cost Admin API: the admin key from
 * ANTHROPIC_ADMIN_KEY, ANTHROPIC_ADMIN_KEY_FILE, or
 * $CREDENTIALS_DIRECTORY/anthropic_admin_key (never a Bearer token).
 * EX_PERM when there is none or it is malformed. */
int anthropic_admin_init(struct anthropic *a, struct err *e);

/* What one attempt gave. */
struct anthropic_call {
	long status;            /* HTTP status, 0 when none arrived */
	jv message;             /* the Message on success, else null */
	jv error;               /* {type, message} from an error body or event, else null */
	double retry_after;     /* seconds, -1 when none */
	int should_retry;       /* x-should-retry: 1, 0, or -1 when absent */
	int retryable;          /* 408, 409, 429, 5xx, connection errors, overloaded/api_error events */
	int maybe_charged;      /* the request reached the API and no usage came back */
	char request_id[128];
};

/*
 * Sends `body` (a request object, borrowed; "stream" is set here).  Returns
 * 0 with call->message on a 2xx with a well-formed Message; otherwise an
 * error code with e set and call describing what happened: EX_PERM for
 * 400/401/402/403/404/413 (auth refused, bad request), EX_TEMP for the rest.
 */
int anthropic_send(struct anthropic *a, jv body, int max_tokens,
		   struct anthropic_call *call, struct err *e);
void anthropic_call_release(struct anthropic_call *call);

/*
 * The stream reader of anthropic_send on a text/event-stream body at hand
 * (borrowed), fed `chunk` bytes at a time as the network would (0: all at
 * once): 0 with call->message, or EX_TEMP with call->error as a 2xx stream
 * that went wrong gives it.  For tests and the fuzzer (t/fuzz/sse.c).
 */
int anthropic_stream_read(const char *body, size_t len, size_t chunk,
			  struct anthropic_call *call, struct err *e);

/* The bound on one count_tokens exchange, connection included. */
#define ANTHROPIC_COUNT_TIMEOUT_MS 2000

/*
 * POST /v1/messages/count_tokens for the request `body` (borrowed): the
 * same body with only the fields that route takes (model, messages,
 * system, tools, tool_choice, thinking, cache_control, output_config,
 * speed, context_management, mcp_servers; max_tokens, stream, metadata and
 * the rest are left out).  One attempt, bounded by timeout_ms in all.
 * 0 with *tokens from {"input_tokens": N}; EX_TEMP for anything else (an
 * HTTP error, with its status and error type in e; a timeout or dropped
 * connection; an answer that is not such an object).
 */
int anthropic_count_tokens(struct anthropic *a, jv body, long timeout_ms, int64_t *tokens,
			   struct err *e);

/*
 * One exchange with another route of the API (the Message Batches routes):
 * method, path ("/v1/messages/batches"), a JSON body (borrowed; jv_null()
 * for none).  0 when an answer arrived: *status and *text (malloc'd, the
 * raw body: JSON, or JSON Lines for batch results).  EX_TEMP when none did.
 */
int anthropic_exchange(struct anthropic *a, const char *method, const char *path, jv body,
		       long *status, char **text, struct err *e);

#endif

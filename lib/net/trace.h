/* trace: this process's spans, exported once at exit over OTLP/HTTP JSON and as JSONL events. */
#ifndef TRACE_H
#define TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <jv.h>

#include "base/err.h"

/*
 * One process-wide tracer.  trace_init reads the environment once:
 *
 *   OTEL_EXPORTER_OTLP_ENDPOINT          spans go to {endpoint}/v1/traces
 *   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   ... or to this URL, as it is
 *   OTEL_EXPORTER_OTLP_HEADERS           k=v,k=v (percent-decoded): request headers
 *   OTEL_SERVICE_NAME                    service.name (default "agent")
 *   OTEL_RESOURCE_ATTRIBUTES             k=v,k=v (percent-decoded): resource attributes
 *   OTEL_SDK_DISABLED=true               no spans at all
 *   AGENT_TRACE_JSONL_PATH               one JSON line per ended span, appended
 *   AGENT_OTLP_TIMEOUT_MS                the whole export's bound (default 2000)
 *   TRACEPARENT                          the W3C parent of this process's spans
 *
 * With neither an endpoint nor a JSONL path every call below returns at
 * once and costs nothing.  An http:// endpoint on an IP literal or
 * localhost is posted to on a plain socket; anything else (https, a host
 * name, credentials in the URL) through libcurl, loaded only then.  A TRACEPARENT whose sampled flag is 0 records
 * nothing too.  An invalid or all-zero TRACEPARENT is ignored: a new trace
 * starts.
 *
 * Spans are named by int handles; 0 is "no span" and every call accepts it
 * and does nothing, so callers never test whether tracing is on.  A new span
 * is a child of the innermost span still open in this process, else of
 * TRACEPARENT, else the root of a new trace.  Attribute keys and values are
 * copied; nothing is kept that the caller owns.  Never give an attribute a
 * secret, a prompt or a tool's arguments.
 *
 * The library never prints: trace_finish returns what went wrong.
 */

enum trace_kind {
	TRACE_INTERNAL = 1,
	TRACE_SERVER = 2,
	TRACE_CLIENT = 3,
};

void trace_init(const char *command);

/* 1 when spans are being recorded. */
int trace_on(void);

int trace_start(const char *name, enum trace_kind kind);

/* trace_start with a printf-made name. */
int trace_startf(enum trace_kind kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A span whose parent is the W3C traceparent tp (e.g. a tick document's),
 * when valid; else as trace_start. */
int trace_start_under(const char *tp, const char *name, enum trace_kind kind);

/* The innermost open span, 0 when none. */
int trace_current(void);

/* Attributes; a NULL string value sets nothing.  Setting a key again
 * replaces its value. */
void trace_str(int span, const char *key, const char *value);
void trace_int(int span, const char *key, int64_t value);
void trace_double(int span, const char *key, double value);
void trace_bool(int span, const char *key, int value);
void trace_strs(int span, const char *key, const char *const *values, size_t n);

/* A JSON value as an attribute (consumed): string, integer or other
 * number, boolean, or an array of strings; anything else is ignored. */
void trace_json(int span, const char *key, jv value);

/* Status error (code 2) with a message (NULL keeps one set before), and
 * error.type = type (NULL: "_OTHER"). */
void trace_error(int span, const char *type, const char *message);

/* trace_error with error.type named after an exit status (agent(7)):
 * usage, bad_input, temporary_failure, permanent_failure; 0 and EX_NO set
 * nothing.  With span 0 it is the process span's error (trace_finish). */
void trace_fail(int span, int code, const char *message);

/* Ends the span (and any span opened after it that is still open). */
void trace_end(int span);

/* The W3C traceparent of the innermost open span, for a subprocess's
 * TRACEPARENT; without one (or with tracing off), the TRACEPARENT this
 * process got, or NULL.  Static storage, valid until the next call. */
const char *trace_child_traceparent(void);

/* When this process has made no span, one named after the command, from
 * trace_init to now, a child of TRACEPARENT, in error when trace_fail(0,
 * ...) said so: every command shows in a trace without code of its own. */
void trace_process_span(void);

/*
 * Ends every open span, then exports what was recorded: one POST within
 * AGENT_OTLP_TIMEOUT_MS, retried only on 429, 502, 503 and 504 while the
 * bound allows.  Returns 0, or EX_TEMP with e set (one line naming what
 * failed, never a header value or credentials) when the export or a JSONL
 * write failed.  Spans recorded after it are kept for a later call.
 */
int trace_finish(struct err *e);

/* Tick documents (agent-formats(5)) of the pipeline stages. */

/* A stage's span for one tick document (borrowed): named `stage`, a child
 * of the document's tick.traceparent when valid, with the attributes
 * trace_tick_result gives the document as it comes in. */
int trace_tick_start(const char *stage, jv doc);

/* The tick's attributes from a document (borrowed): agent.tick.id,
 * agent.name, agent.session.id; for agent-trigger agent.trigger.{event,
 * action,reason}, for the other stages agent.tick.{action,reason} and the
 * stage's own part (the gate verdict, the budget's admission, the
 * invocation summary, the metrics row) with agent.stage.acted, false when
 * the document does not carry that part (it passed through). */
void trace_tick_result(int span, const char *stage, jv doc);

/* A gate verdict's attributes (borrowed): agent.gate.name, .passed,
 * .reason, .threshold.<check> and .value.<check>. */
void trace_gate(int span, jv verdict);

/* GenAI semantic conventions (gen_ai.*, provider "anthropic"). */

/* "invoke_agent {agent}", INTERNAL: operation, agent name, conversation id
 * (the session id, when not 0), provider, request model. */
int trace_agent_start(const char *agent, int64_t session_id, const char *model);
/* Ends it with the invocation's kind and totals: input tokens including
 * cache reads and writes, output tokens; agent.invocation.status when rc
 * is 0 (budget_exhausted for EX_NO), else an error status. */
void trace_agent_end(int span, const char *kind, int64_t input_tokens, int64_t output_tokens,
		     const char *status, int rc, const char *message);

/* "chat {model}", CLIENT, for one API call attempt: operation, provider,
 * request model and max_tokens, conversation id, server address and port
 * (from base_url). */
int trace_chat_start(const char *model, long max_tokens, const char *base_url, int64_t session_id);
/* The attempt's outcome (all borrowed): on success the Message's id,
 * model, finish reasons and usage (gen_ai.usage.input_tokens = input +
 * cache reads + cache writes, the Anthropic rule); on failure error.type
 * from the API's error type, else "timeout", the HTTP status, or "_OTHER". */
void trace_chat_end(int span, jv message, jv api_error, long http_status, int rc,
		    const char *message_text);

/* "execute_tool {name}", INTERNAL: operation, tool name, call id (the
 * tool_use id, may be NULL). */
int trace_tool_start(const char *name, const char *call_id);
/* gen_ai.tool.type "extension" (an AGENT_TOOLS_DIR executable) or
 * "function"; an error status when the tool failed or could not be
 * recorded (rc). */
void trace_tool_end(int span, int extension, int failed, int rc);

/* agent-cycle's span, the root of the tick's trace (the span TRACEPARENT
 * names), from AGENT_TRACE_CYCLE="<start unix ns>[,<parent span id>]" set
 * by agent-cycle: started then, ended now, in error when status is not 0
 * (a failed stage).  Once per process; nothing without AGENT_TRACE_CYCLE. */
void trace_cycle_span(const char *tick_id, int status, const char *stage);


/*
 * Research cycles: one trace per session.  A session's trace id is fixed
 * when it is created (agent_sessions.trace_id); its root span
 * agent.research_cycle and its phase spans agent.phase.<name> have ids
 * derived from it (trace_cycle_id), so every tick that serves the session
 * knows them without storing them, and the tick's own span (agent-cycle)
 * goes under the phase it found.  The root and phase spans are made, with
 * their real start times, by the tick that ends them.
 */

/* This process's spans so far (those in its incoming trace) move to tp's
 * trace, and tp becomes the incoming parent of the spans to come.  Nothing
 * when tp is not a valid traceparent. */
void trace_adopt(const char *tp);

/* The span id (16 hex digits and a NUL into out) of a research cycle's
 * span: name "" for the root, else the phase's span name; -1 when
 * trace_hex is not a trace id. */
int trace_cycle_id(const char *trace_hex, const char *name, char out[17]);

/* An open span with the ids given (hex; parent NULL for a root) that
 * started at start_ns (real time); 0 when an id is malformed. */
int trace_span_at(const char *name, const char *trace_hex, const char *id_hex,
		  const char *parent_hex, int64_t start_ns);

/* Ends the span at end_ns (real time; not before its start). */
void trace_end_at(int span, int64_t end_ns);

/* The pipeline's last stage, once the tick is over (doc borrowed): the
 * tick's agent-cycle span (trace_cycle_span) under the phase span of
 * tick.session_phase in the session's trace, then each phase span that
 * ended in the tick and, when the session ended, the agent.research_cycle
 * root with its outcome, strategy and tokens (doc.metrics).  A tick that
 * serves no session: trace_cycle_span alone. */
void trace_cycle_tick(jv doc);

/* When this tick began, in microseconds since the epoch: agent-cycle's
 * stamp (AGENT_TRACE_CYCLE) when there is one, else fallback_us. */
int64_t trace_tick_began_us(int64_t fallback_us);

/* A failed tick's agent-cycle span (agent-metrics-agg --release): in the
 * trace of tp (the session's, "" or NULL: the tick's own), under the span
 * of the session's phase (or its root when the phase is idle). */
void trace_release_span(const char *tick_id, const char *tp, const char *phase, int status,
			const char *stage);

/* A session ended outside a tick (agent cancel): its last phase's span and
 * the research cycle's root, as the tick that ends a session makes them
 * (session: the row now, consumed; phase_before: the phase it was in). */
void trace_cycle_ended(jv session, const char *phase_before);


/* One event line on AGENT_TRACE_JSONL_PATH now, in the event-stream shape
 * agent-metrics-agg --events reads: {ts, event, trace_id, span_id,
 * session_id (null when <= 0), turn_id, service, command, metadata}; the
 * trace and span are the innermost open span's, else TRACEPARENT's.
 * metadata consumed.  Nothing without a JSONL path. */
void trace_event(const char *event, int64_t session_id, jv metadata);

/* The same with turn_id = turn (a model turn: "<tick>/<n>"); NULL or "":
 * the tick's id (trace_set_turn; trace_tick_start sets it), else null. */
void trace_event_turn(const char *event, int64_t session_id, const char *turn, jv metadata);

/* The turn_id of the events to come that name none (copied; NULL clears). */
void trace_set_turn(const char *turn);

#endif

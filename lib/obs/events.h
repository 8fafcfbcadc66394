/* events: counters and latency histograms from JSONL trace events of any agent application. */
#ifndef EVENTS_H
#define EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct prom;

/* The help of agent_tool_calls_total, which the store's exposition has too:
 * one family, one help, wherever it is rendered. */
#define EVENTS_TOOL_CALLS_HELP "Tool calls, by agent, tool and status."

/*
 * Input: one JSON object per line,
 *   {"ts", "event", "trace_id", "session_id", "turn_id", "metadata": {...}}
 * where the metadata fields (agent, selected_agent, from_agent, to_agent,
 * tool, status, success, error, latency_ms, duration_ms, latency_s,
 * duration_s, gate, decision, passed, reason) may also sit at the top level.
 * Event names are matched loosely (case, and "." "-" " " as "_"): route,
 * routing, routing_decision, ...; handoff; tool_call, tool_use,
 * tool_result, ...; guardrail, ...; self_check, ...; turn_start, turn_end
 * (agent-metrics-agg(1) lists them).
 *
 * Each metric keeps at most max_series label sets; an event that would add
 * another is counted under the label set whose every value is "_other" (and
 * in events_folded_total).  A line that is not a JSON object with a string
 * "event" is malformed: counted in events_malformed_total and skipped.
 *
 * The lines are scanned, not parsed into values: a strict JSON check and the
 * few fields wanted, with no allocation per line, which is what makes this
 * several times faster than the same aggregation in jq.
 *
 * Ownership: struct events owns everything it holds; the library never prints.
 */
struct events;

struct events_stats {
	uint64_t lines;        /* lines read, blank ones included */
	uint64_t events;       /* well-formed events */
	uint64_t malformed;
	uint64_t folded;       /* events counted under "_other" label values */
	size_t max_series;     /* the cap that folded them */
	uint64_t first_bad_line;
	char first_bad[160];   /* why the first malformed line was */
};

/* max_series 0: AGENT_EVENTS_MAX_SERIES, else 1000 (EX_PERM when that is
 * not a whole number from 1 to 10000000). */
int events_new(struct events **out, size_t max_series, struct err *e);
void events_free(struct events *ev);

/* One line, without its newline.  0, or 1 when it was malformed (then
 * *why, when not NULL, says why; a static string). */
int events_line(struct events *ev, const char *line, size_t len, const char **why);

/*
 * Reads fd to its end, line by line (name is for messages).  strict: the
 * first malformed line is an error (EX_DATA, "name: line N: why").  A line
 * longer than limit bytes is malformed.  EX_TEMP for a read error.
 */
int events_read(struct events *ev, int fd, const char *name, size_t limit, int strict,
		struct err *e);

void events_stats(const struct events *ev, struct events_stats *st);

/* Appends the exposition to out: agent_route_total, ...; with a namespace
 * ns other than "agent" (or NULL/empty), ns_agent_route_total, .... */
int events_render(struct events *ev, const char *ns, struct prom *out, struct err *e);

#endif

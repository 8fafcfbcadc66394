/* clock: UTC wall time with a test override, and a monotonic stopwatch. */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>

#include "base/err.h"

/*
 * Wall time in microseconds since the epoch, UTC.  When AGENT_NOW is set
 * (RFC 3339, e.g. 2026-11-24T03:20:00Z) that instant is "now" for every
 * decision that depends on time: the budget day, lease and hold expiry.
 * Returns EX_PERM and sets e when AGENT_NOW is malformed.
 */
int clock_now(int64_t *us, struct err *e);

/* Seconds precision shorthand of clock_now. */
int clock_now_s(int64_t *s, struct err *e);

/* Monotonic microseconds, for durations (never overridden). */
int64_t clock_mono_us(void);

/* RFC 3339 with a Z: "2026-11-24T03:20:00Z" (buf >= 32) */
char *clock_format(int64_t unix_s, char *buf);
/* Same with milliseconds: "2026-11-24T03:20:00.123Z" */
char *clock_format_ms(int64_t unix_us, char *buf);
/* The UTC day "2026-11-24" (buf >= 11) */
char *clock_day(int64_t unix_s, char *buf);

/* Parses RFC 3339 (Z or +hh:mm offsets, optional fraction) into
 * microseconds; returns 0 or -1. */
int clock_parse(const char *s, int64_t *us);

/* Parses a UTC day "YYYY-MM-DD" into the epoch second of its midnight. */
int clock_parse_day(const char *s, int64_t *unix_s);

#endif

/* err: exit codes with fixed meaning and an error message the caller prints. */
#ifndef ERR_H
#define ERR_H

#include <stdarg.h>

/* Exit status of every command (agent(7)). */
enum {
	EX_DONE  = 0,  /* done; for a question, "yes" */
	EX_NO    = 1,  /* a valid "no": gate failed, budget exhausted */
	EX_USAGE = 2,  /* usage error */
	EX_DATA  = 3,  /* bad input data */
	EX_TEMP  = 4,  /* temporary failure: a retry may help */
	EX_PERM  = 5,  /* permanent failure: configuration, auth */
};

/*
 * The library never prints and never exits: a failing call fills a struct
 * err and returns its code.  The message is one line, lower case, no final
 * period, and never carries a secret.
 */
struct err {
	int code;
	char msg[512];
};

#define ERR_INIT { 0, "" }

/* Sets code and message (printf format); returns code.  Newlines in the
 * message are replaced by spaces so a diagnostic stays one line. */
int err_set(struct err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int err_vset(struct err *e, int code, const char *fmt, va_list ap);

/* Prefixes the message already in e with "fmt: "; returns e->code. */
int err_wrap(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void err_clear(struct err *e);

#endif

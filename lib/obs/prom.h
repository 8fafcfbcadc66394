/* prom: the Prometheus text exposition format (0.0.4), built in memory. */
#ifndef PROM_H
#define PROM_H

#include <stddef.h>
#include <stdint.h>

/*
 * A growing text buffer and the rules of the format: one HELP and one TYPE
 * line per family before its samples, label values escaped (\\ \" \n),
 * numbers in their shortest exact form, no timestamps.  The caller keeps a
 * family's samples together (the format wants them contiguous).
 *
 * Out of memory is sticky: the calls do nothing after it, and prom_failed
 * says so at the end.  The text belongs to the struct until prom_release.
 */
struct prom {
	char *buf;
	size_t len, cap;
	int oom;
};

#define PROM_INIT { NULL, 0, 0, 0 }

void prom_release(struct prom *p);
int prom_failed(const struct prom *p);
/* The text so far, NUL-terminated ("" when empty). */
const char *prom_text(const struct prom *p);

/* 1 when s is a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), or, with label
 * set, a label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with "__"). */
int prom_name_ok(const char *s, int label);

void prom_append(struct prom *p, const char *s, size_t n);
void prom_puts(struct prom *p, const char *s);
/* s escaped as a label value. */
void prom_escape(struct prom *p, const char *s);
/* v as the format writes numbers: integers without a fraction, others in
 * the shortest form that reads back exactly, +Inf, -Inf, NaN. */
void prom_number(struct prom *p, double v);

/* "# HELP name help" (help escaped) and "# TYPE name type". */
void prom_family(struct prom *p, const char *name, const char *type, const char *help);

/*
 * One sample line: name suffix{pairs..., escaped, le="le"} value.
 * pairs: label name, raw value, ..., NULL (may be NULL); escaped: label
 * pairs already in the text format ("a=\"x\",b=\"y\"", may be NULL or "");
 * le: a bucket bound already formatted (NULL for none).
 */
void prom_sample(struct prom *p, const char *name, const char *suffix, const char *const *pairs,
		 const char *escaped, const char *le, double v);

/*
 * The samples of one histogram series from per-bucket counts: bounds[0..nb-1]
 * ascending (the +Inf bucket is implied and counts[nb] is its own count),
 * made cumulative here, then _sum and _count.
 */
void prom_histogram(struct prom *p, const char *name, const char *const *pairs,
		    const char *escaped, const double *bounds, const uint64_t *counts, size_t nb,
		    double sum);

#endif

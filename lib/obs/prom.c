/* prom: Prometheus text exposition, written by hand (no client library fits a CLI). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "obs/prom.h"

void prom_release(struct prom *p)
{
	free(p->buf);
	p->buf = NULL;
	p->len = p->cap = 0;
	p->oom = 0;
}

int prom_failed(const struct prom *p)
{
	return p->oom;
}

const char *prom_text(const struct prom *p)
{
	return p->buf ? p->buf : "";
}

int prom_name_ok(const char *s, int label)
{
	if (!s || !*s)
		return 0;
	if (label && s[0] == '_' && s[1] == '_')
		return 0;
	for (const char *c = s; *c; c++) {
		int alpha = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
			    (!label && *c == ':');

		if (!alpha && !(c > s && *c >= '0' && *c <= '9'))
			return 0;
	}
	return 1;
}

void prom_append(struct prom *p, const char *s, size_t n)
{
	if (p->oom)
		return;
	if (buf_grow(&p->buf, &p->cap, p->len + n + 1)) {
		p->oom = 1;
		return;
	}
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = 0;
}

void prom_puts(struct prom *p, const char *s)
{
	prom_append(p, s, strlen(s));
}

/* Escapes backslash and newline, and the quote when quote is set. */
static void escape(struct prom *p, const char *s, int quote)
{
	const char *run = s;

	for (; *s; s++) {
		const char *rep = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" :
				  quote && *s == '"' ? "\\\"" : NULL;

		if (!rep)
			continue;
		prom_append(p, run, (size_t)(s - run));
		prom_append(p, rep, 2);
		run = s + 1;
	}
	prom_append(p, run, (size_t)(s - run));
}

void prom_escape(struct prom *p, const char *s)
{
	escape(p, s ? s : "", 1);
}

/* buf >= 32 bytes */
static const char *format_number(char *buf, size_t n, double v)
{
	if (isnan(v))
		return "NaN";
	if (isinf(v))
		return v > 0 ? "+Inf" : "-Inf";
	if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(buf, n, "%.0f", v == 0 ? 0.0 : v);
		return buf;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, n, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

void prom_number(struct prom *p, double v)
{
	char buf[64];

	prom_puts(p, format_number(buf, sizeof buf, v));
}

void prom_family(struct prom *p, const char *name, const char *type, const char *help)
{
	prom_puts(p, "# HELP ");
	prom_puts(p, name);
	prom_puts(p, " ");
	escape(p, help, 0);
	prom_puts(p, "\n# TYPE ");
	prom_puts(p, name);
	prom_puts(p, " ");
	prom_puts(p, type);
	prom_puts(p, "\n");
}

void prom_sample(struct prom *p, const char *name, const char *suffix, const char *const *pairs,
		 const char *escaped, const char *le, double v)
{
	int n = 0;

	prom_puts(p, name);
	if (suffix)
		prom_puts(p, suffix);
	for (; pairs && pairs[0]; pairs += 2) {
		prom_puts(p, n++ ? "," : "{");
		prom_puts(p, pairs[0]);
		prom_puts(p, "=\"");
		prom_escape(p, pairs[1]);
		prom_puts(p, "\"");
	}
	if (escaped && *escaped) {
		prom_puts(p, n++ ? "," : "{");
		prom_puts(p, escaped);
	}
	if (le) {
		prom_puts(p, n++ ? ",le=\"" : "{le=\"");
		prom_puts(p, le);
		prom_puts(p, "\"");
	}
	prom_puts(p, n ? "} " : " ");
	prom_number(p, v);
	prom_puts(p, "\n");
}

void prom_histogram(struct prom *p, const char *name, const char *const *pairs,
		    const char *escaped, const double *bounds, const uint64_t *counts, size_t nb,
		    double sum)
{
	uint64_t cum = 0;

	for (size_t i = 0; i <= nb; i++) {
		char le[64];

		cum += counts[i];
		prom_sample(p, name, "_bucket", pairs, escaped,
			    i < nb ? format_number(le, sizeof le, bounds[i]) : "+Inf", (double)cum);
	}
	prom_sample(p, name, "_sum", pairs, escaped, NULL, sum);
	prom_sample(p, name, "_count", pairs, escaped, NULL, (double)cum);
}

/* clock: one source of "now" so tests can move time (AGENT_NOW). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"

int clock_now(int64_t *us, struct err *e)
{
	const char *fake = getenv("AGENT_NOW");
	struct timespec ts;

	if (fake && *fake) {
		if (clock_parse(fake, us) < 0)
			return err_set(e, EX_PERM, "AGENT_NOW: not an RFC 3339 time: '%.40s'", fake);
		return 0;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	*us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	return 0;
}

int clock_now_s(int64_t *s, struct err *e)
{
	int64_t us;
	int rc = clock_now(&us, e);

	if (rc == 0)
		*s = us / 1000000;
	return rc;
}

int64_t clock_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *clock_format(int64_t unix_s, char *buf)
{
	time_t t = (time_t)unix_s;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

char *clock_format_ms(int64_t unix_us, char *buf)
{
	time_t t = (time_t)(unix_us / 1000000);
	struct tm tm;
	char tmp[24];

	gmtime_r(&t, &tm);
	strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, 32, "%s.%03dZ", tmp, (int)((unix_us % 1000000) / 1000));
	return buf;
}

char *clock_day(int64_t unix_s, char *buf)
{
	time_t t = (time_t)unix_s;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 11, "%Y-%m-%d", &tm);
	return buf;
}

static int digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* timegm would quietly turn February 30 into March 2 */
static int days_in_month(int y, int mo)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return mo == 2 && leap ? 29 : days[mo - 1];
}

int clock_parse(const char *s, int64_t *us)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, frac_us = 0, off = 0;
	const char *p;

	if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
	    s[16] != ':' || digits(s + 17, 2, &sec))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 60)
		return -1;
	p = s + 19;
	if (*p == '.') {
		int scale = 100000, n = 0;

		for (p++; isdigit((unsigned char)*p); p++, n++) {
			frac_us += (*p - '0') * scale;
			scale /= 10;
		}
		if (n == 0)
			return -1;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;

		if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) ||
		    oh > 23 || om > 59)
			return -1;
		off = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*us = ((int64_t)timegm(&tm) - off) * 1000000 + frac_us;
	return 0;
}

int clock_parse_day(const char *s, int64_t *unix_s)
{
	char buf[32];
	int64_t us;

	if (strlen(s) != 10)
		return -1;
	snprintf(buf, sizeof buf, "%sT00:00:00Z", s);
	if (clock_parse(buf, &us) < 0)
		return -1;
	*unix_s = us / 1000000;
	return 0;
}

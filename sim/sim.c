/* sim: lifecycle of the simulator, its clocks and its deterministic numbers. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/json.h"
#include "sim_int.h"

static int split_listen(struct sim *s, const char *spec, struct err *e)
{
	const char *colon, *host = "127.0.0.1", *port = spec;
	size_t hl = strlen(host);
	char *end;
	long p;

	if (!spec || !*spec)
		spec = port = "127.0.0.1:0";
	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (!rb || rb[1] != ':')
			return err_set(e, EX_USAGE, "--listen: expected [ADDRESS]:PORT: '%s'", spec);
		host = spec + 1;
		hl = (size_t)(rb - host);
		port = rb + 2;
	} else if ((colon = strrchr(spec, ':')) != NULL) {
		if (memchr(spec, ':', (size_t)(colon - spec)))
			return err_set(e, EX_USAGE, "--listen: write an IPv6 address as [ADDRESS]:PORT: '%s'", spec);
		host = spec;
		hl = (size_t)(colon - spec);
		port = colon + 1;
	}
	if (hl == 0 || hl >= sizeof s->bind_host)
		return err_set(e, EX_USAGE, "--listen: bad address: '%s'", spec);
	p = strtol(port, &end, 10);
	if (!*port || *end || p < 0 || p > 65535)
		return err_set(e, EX_USAGE, "--listen: bad port: '%s'", spec);
	memcpy(s->bind_host, host, hl);
	s->bind_host[hl] = 0;
	snprintf(s->port_text, sizeof s->port_text, "%ld", p);
	return 0;
}

int sim_new(struct sim **out, const struct sim_config *cfg, struct err *e)
{
	struct sim *s;
	int64_t now;

	*out = NULL;
	if (!(cfg->speed > 0) || !isfinite(cfg->speed) || cfg->speed > SIM_SPEED_MAX)
		return err_set(e, EX_USAGE, "--speed: must be above 0 and at most %g", SIM_SPEED_MAX);
	if (clock_now(&now, e))
		return e->code;
	s = calloc(1, sizeof *s);
	if (!s)
		return err_set(e, EX_TEMP, "out of memory");
	s->cfg = *cfg;
	s->cfg.listen = NULL;
	s->lfd = -1;
	if (split_listen(s, cfg->listen, e)) {
		free(s);
		return e->code;
	}
	if (cfg->api_key && strlen(cfg->api_key) >= sizeof s->api_key) {
		free(s);
		return err_set(e, EX_USAGE, "the API key is longer than %zu bytes",
			       sizeof s->api_key - 1);
	}
	snprintf(s->api_key, sizeof s->api_key, "%s", cfg->api_key ? cfg->api_key : "");
	s->cfg.api_key = NULL;
	{
		/* context.py _get_default_strategy_paths: STRATEGIES_DIR, then
		 * /app/strategies, then ./strategies */
		const char *d = cfg->strategies, *env = getenv("STRATEGIES_DIR");
		struct stat st;

		if (!d || !*d)
			d = env && *env ? env : stat("/app/strategies", &st) == 0 && S_ISDIR(st.st_mode)
				? "/app/strategies" : "strategies";
		if (strlen(d) >= sizeof s->strategies - 200) {
			free(s);
			return err_set(e, EX_USAGE, "--strategies: the path is too long");
		}
		snprintf(s->strategies, sizeof s->strategies, "%s", d);
		s->cfg.strategies = s->strategies;
	}
	s->wall0_us = now;
	s->mono0_us = sim_mono_us();
	s->log = jv_array();
	s->prices = jv_null();
	pthread_mutex_init(&s->mu, NULL);
	*out = s;
	return 0;
}

int sim_add_fault(struct sim *s, const char *json, struct err *e)
{
	jv v;
	int rc;

	rc = json_parse(json, strlen(json), &v, e);
	if (rc == 0) {
		pthread_mutex_lock(&s->mu);
		rc = sim_fault_add(s, v, NULL, e);
		pthread_mutex_unlock(&s->mu);
	}
	if (rc == 0)
		return 0;
	err_wrap(e, "--fault");
	return e->code = EX_USAGE;
}

int sim_start(struct sim *s, struct err *e)
{
	return sim_http_start(s, e);
}

jv sim_ready(struct sim *s)
{
	char url[128];
	jv v = jv_object();

	snprintf(url, sizeof url, "http://%s:%d", s->host, s->port);
	v = json_set(v, "url", jv_string(url));
	v = json_set(v, "backend", jv_string_fmt("%s/api/v1", url));
	v = json_set(v, "anthropic", jv_string(url));
	v = json_set(v, "pid", jv_number((double)getpid()));
	return v;
}

void sim_free(struct sim *s)
{
	if (!s)
		return;
	sim_http_stop(s);
	sim_backend_free(s);
	for (int i = 0; i < s->nbatches; i++)
		jv_free(s->batches[i].results);
	s->nbatches = 0;
	jv_free(s->log);
	jv_free(s->prices);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* splitmix64's finalizer: a cheap bijective mix with good avalanche. */
uint64_t sim_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t sim_hash(uint64_t seed, uint64_t stream, uint64_t n)
{
	return sim_mix(sim_mix(sim_mix(seed) ^ stream) ^ n);
}

double sim_unit(uint64_t *state)
{
	*state = sim_mix(*state);
	return (double)(*state >> 11) / 9007199254740992.0;
}

double sim_range(uint64_t *state, double lo, double hi)
{
	return lo + (hi - lo) * sim_unit(state);
}

void sim_make_id(struct sim *s, const char *prefix, int n, char *out, size_t size)
{
	static const char b62[] =
		"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	uint64_t st = sim_hash(s->cfg.seed, 0x1d5, ++s->n_ids);
	size_t p = (size_t)snprintf(out, size, "%s", prefix);

	for (int i = 0; i < n && p + 1 < size; i++) {
		st = sim_mix(st);
		out[p++] = b62[st % 62];
	}
	out[p < size ? p : size - 1] = 0;
}

int64_t sim_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double sim_now(struct sim *s)
{
	return (double)(sim_mono_us() - s->mono0_us) / 1e6 * s->cfg.speed;
}

int64_t sim_wall_us(struct sim *s, double t)
{
	return s->wall0_us + (int64_t)llround(t / s->cfg.speed * 1e6);
}

char *sim_iso(int64_t us, char *buf)
{
	return clock_format_ms(us, buf);
}

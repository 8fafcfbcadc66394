/* notice: conditions a person must hear of, recorded once and delivered within a bound. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "base/clock.h"
#include "base/env.h"
#include "base/json.h"
#include "budget.h"
#include "net/http.h"
#include "net/trace.h"
#include "notice.h"
#include "pricing.h"

static const char *const kinds[] = { "backend_down", "backend_up", "breaker_open",
				     "budget_warning", "budget_exhausted", "session_ended", NULL };

static int kind_bit(const char *k, size_t n)
{
	for (int i = 0; kinds[i]; i++)
		if (strlen(kinds[i]) == n && !strncmp(kinds[i], k, n))
			return 1 << i;
	return 0;
}

int notice_warn_levels(int warn[NOTICE_WARN_MAX], struct err *e)
{
	const char *s = getenv("AGENT_BUDGET_WARN_PERCENT");
	int n = 0;

	if (!s)
		s = "50,80,90";
	for (const char *p = s; *p;) {
		char *end;
		long v;

		errno = 0;
		v = strtol(p, &end, 10);
		if (end == p || errno || v < 1 || v > 100 || (*end && *end != ',') ||
		    (*end == ',' && !end[1]) || n == NOTICE_WARN_MAX || (n && v <= warn[n - 1])) {
			err_set(e, EX_PERM,
				"AGENT_BUDGET_WARN_PERCENT: not up to %d rising whole percentages from 1 to 100, "
				"comma-separated: '%.60s'", NOTICE_WARN_MAX, s);
			return -1;
		}
		warn[n++] = (int)v;
		p = *end ? end + 1 : end;
	}
	return n;
}

int notice_config(struct notice_cfg *c, const char *agent, struct err *e)
{
	const char *on = getenv("AGENT_NOTIFY_ON"), *out = getenv("AGENT_NOTIFY_OUTCOMES");
	int64_t us;

	memset(c, 0, sizeof *c);
	snprintf(c->agent, sizeof c->agent, "%s", agent);
	if (clock_now(&us, e))
		return e->code = EX_PERM;
	c->now = us / 1000000;
	c->command = getenv("AGENT_NOTIFY_COMMAND");
	c->url = getenv("AGENT_NOTIFY_URL");
	if (c->command && !*c->command)
		c->command = NULL;
	if (c->url && !*c->url)
		c->url = NULL;
	if (c->url && strncmp(c->url, "http://", 7) && strncmp(c->url, "https://", 8))
		return err_set(e, EX_PERM, "AGENT_NOTIFY_URL: not an http:// or https:// URL: '%.60s'",
			       c->url);
	if (env_int("AGENT_NOTIFY_TIMEOUT_MS", 2000, 1, 60000, &c->timeout_ms, e) ||
	    env_int("AGENT_NOTIFY_BACKEND_TICKS", 2, 1, 1000, &c->backend_ticks, e))
		return EX_PERM;
	if (!on || !*on || !strcmp(on, "all")) {
		c->kinds = ~0u;
	} else if (strcmp(on, "none")) {
		for (const char *p = on; *p;) {
			size_t n = strcspn(p, ",");
			int bit = kind_bit(p, n);

			if (!bit)
				return err_set(e, EX_PERM,
					       "AGENT_NOTIFY_ON: '%.*s' is not one of all, none, backend_down, "
					       "backend_up, breaker_open, budget_warning, budget_exhausted, "
					       "session_ended", (int)(n > 40 ? 40 : n), p);
			c->kinds |= (unsigned)bit;
			p += n + (p[n] == ',');
		}
	}
	if (out && *out && strcmp(out, "all")) {
		if (strlen(out) > sizeof c->outcomes - 3 || strspn(out, "abcdefghijklmnopqrstuvwxyz_,") !=
							      strlen(out))
			return err_set(e, EX_PERM, "AGENT_NOTIFY_OUTCOMES: not a comma-separated list of "
				       "outcomes: '%.60s'", out);
		snprintf(c->outcomes, sizeof c->outcomes, ",%s,", out);
	}
	if ((c->nwarn = notice_warn_levels(c->warn, e)) < 0)
		return EX_PERM;
	return 0;
}

/* ---------------------------------------------------------------- scan */

static jv args2(const char *a, jv b)
{
	return jv_array_append(jv_array_append(jv_array(), jv_string(a)), b);
}

static void at_text(int64_t t, char out[32])
{
	clock_format(t, out);
}

/* Records the notice; appends it to *fresh when it is new. */
static int add(struct store *s, const struct notice_cfg *c, const char *kind, const char *key,
	       const char *severity, const char *text, jv details, jv *fresh, struct err *e)
{
	char at[32];
	jv body = jv_object(), row = jv_null(), p;
	int64_t id = 0;
	int rc;

	at_text(c->now, at);
	body = json_set(body, "agent", jv_string(c->agent));
	body = json_set(body, "kind", jv_string(kind));
	body = json_set(body, "key", jv_string(key));
	body = json_set(body, "severity", jv_string(severity));
	body = json_set(body, "at", jv_string(at));
	body = json_set(body, "text", jv_string(text));
	body = json_set(body, "details", details);
	p = args2(c->agent, jv_string(key));
	p = jv_array_append(p, jv_string(kind));
	p = jv_array_append(p, jv_copy(body));
	p = jv_array_append(p, jv_number((double)c->now));
	if ((rc = store_query1(s, "notice_insert", p, &row, e))) {
		jv_free(body);
		return rc;
	}
	if (jv_get_kind(row) == JV_KIND_OBJECT && json_int(row, "id", &id) && id > 0) {
		char lab[64];

		snprintf(lab, sizeof lab, "kind=\"%s\"", kind);
		p = args2(c->agent, jv_string("notifications_total"));
		p = jv_array_append(p, jv_string(lab));
		p = jv_array_append(p, jv_number(1));
		if ((rc = store_query(s, "metrics_count", p, NULL, e))) {
			jv_free(row);
			jv_free(body);
			return rc;
		}
		*fresh = jv_array_append(*fresh, json_set(body, "id", jv_number((double)id)));
	} else {
		jv_free(body);
	}
	jv_free(row);
	return 0;
}

static int64_t iget(jv row, const char *k)
{
	int64_t v = 0;

	json_int(row, k, &v);
	return v;
}

static void span_text(int64_t secs, char *buf, size_t n)
{
	if (secs < 90)
		snprintf(buf, n, "%lld s", (long long)secs);
	else if (secs < 5400)
		snprintf(buf, n, "%lld min", (long long)(secs + 30) / 60);
	else
		snprintf(buf, n, "%lld h %lld min", (long long)secs / 3600,
			 (long long)(secs % 3600 + 30) / 60);
}

static int scan_backend(struct store *s, const struct notice_cfg *c, jv st, jv *fresh,
			struct err *e)
{
	int64_t since = iget(st, "backend_down_since"), ticks = iget(st, "backend_down_ticks");
	int64_t checked = iget(st, "backend_checked_at"), was = 0;
	char key[96], text[600], at[32], dur[40];
	jv last = jv_null();
	int rc;

	/* up and not seen changing lately (agent-trigger writes the time only
	 * when it is down or changes): nothing to notice */
	if (since <= 0 && (checked <= 0 || c->now - checked > 900))
		return 0;

	if (since > 0 && ticks >= c->backend_ticks) {
		char *why = json_string(st, "backend_error");
		jv d = jv_object();

		at_text(since, at);
		d = json_set(d, "since", jv_number((double)since));
		d = json_set(d, "ticks", jv_number((double)ticks));
		d = json_set(d, "error", why ? jv_string(why) : jv_null());
		snprintf(key, sizeof key, "backend_down:%lld", (long long)since);
		snprintf(text, sizeof text, "agent %s: the research backend is down since %s (%lld ticks): %.300s",
			 c->agent, at, (long long)ticks, why ? why : "no answer");
		free(why);
		if ((rc = add(s, c, "backend_down", key, "critical", text, d, fresh, e)))
			return rc;
	}
	if ((rc = store_query1(s, "notice_last", args2(c->agent, jv_string("backend_down")), &last, e)))
		return rc;
	if (jv_get_kind(last) == JV_KIND_OBJECT) {
		jv body = json_get(jv_copy(last), "body");

		if (jv_get_kind(body) == JV_KIND_STRING) {  /* a driver that hands JSON back as text */
			jv parsed = jv_parse(jv_string_value(body));

			jv_free(body);
			body = parsed;
		}
		if (jv_is_valid(body)) {
			jv det = json_get(body, "details");

			was = iget(det, "since");
			jv_free(det);
		} else {
			jv_free(body);
		}
	}
	jv_free(last);
	if (was > 0 && since != was && checked >= was) {
		jv d = jv_object();

		span_text(checked - was, dur, sizeof dur);
		d = json_set(d, "down_since", jv_number((double)was));
		d = json_set(d, "up_at", jv_number((double)checked));
		snprintf(key, sizeof key, "backend_up:%lld", (long long)was);
		snprintf(text, sizeof text, "agent %s: the research backend is back after %s", c->agent,
			 dur);
		if ((rc = add(s, c, "backend_up", key, "info", text, d, fresh, e)))
			return rc;
	}
	return 0;
}

static int scan_breaker(struct store *s, const struct notice_cfg *c, jv st, jv *fresh,
			struct err *e)
{
	char *by = json_string(st, "paused_by"), *why = NULL, key[64], text[700];
	int rc = 0, paused = 0;

	json_bool(st, "paused", &paused);  /* both stores hand booleans back as such */
	if (paused && by && !strcmp(by, "breaker")) {
		jv d = jv_object();

		why = json_string(st, "pause_reason");
		d = json_set(d, "reason", why ? jv_string(why) : jv_null());
		d = json_set(d, "paused_at", jv_number((double)iget(st, "paused_at")));
		snprintf(key, sizeof key, "breaker_open:%lld", (long long)iget(st, "paused_at"));
		snprintf(text, sizeof text, "agent %s %.500s (agent resume clears it)", c->agent,
			 why ? why : "paused by the circuit breaker");
		rc = add(s, c, "breaker_open", key, "critical", text, d, fresh, e);
	}
	free(by);
	free(why);
	return rc;
}

static int scan_budget(struct store *s, const struct notice_cfg *c, jv *fresh, struct err *e)
{
	struct budget_cfg b;
	double v;
	int64_t limit = 0, used = 0, avail = 0, need = budget_cycle_estimate(), reset;
	char key[96], text[400], a[32], n[32], l[32], at[32], left[40];
	jv st = jv_null();
	int rc;

	if ((rc = budget_config(&b, c->agent, e)) || (rc = budget_status(s, &b, &st, e)))
		return rc;
	if (json_number(st, "limit_usd", &v))
		limit = pricing_micros(v);
	if (json_number(st, "spent_usd", &v))
		used += pricing_micros(v);
	if (json_number(st, "held_usd", &v))
		used += pricing_micros(v);
	if (json_number(st, "available_usd", &v))
		avail = pricing_micros(v);
	jv_free(st);
	pricing_format_usd(used, a, sizeof a);
	pricing_format_usd(limit, l, sizeof l);
	for (int i = 0; i < c->nwarn && rc == 0; i++) {
		jv d;

		if (limit <= 0 || used * 100 < (int64_t)c->warn[i] * limit)
			continue;
		d = json_set(jv_object(), "percent", jv_number(c->warn[i]));
		d = json_set(d, "used_usd", pricing_usd(used));
		d = json_set(d, "limit_usd", pricing_usd(limit));
		d = json_set(d, "day", jv_string(b.day));
		snprintf(key, sizeof key, "budget_warning:%s:%d", b.day, c->warn[i]);
		snprintf(text, sizeof text, "agent %s: %d %% of today's budget used (%s of %s)", c->agent,
			 c->warn[i], a, l);
		rc = add(s, c, "budget_warning", key, "warning", text, d, fresh, e);
	}
	if (rc == 0 && avail < need) {
		jv d = jv_object();

		reset = budget_resets_at(&b);
		at_text(reset, at);
		span_text(reset - c->now, left, sizeof left);
		pricing_format_usd(avail, a, sizeof a);
		pricing_format_usd(need, n, sizeof n);
		d = json_set(d, "available_usd", pricing_usd(avail));
		d = json_set(d, "cycle_estimate_usd", pricing_usd(need));
		d = json_set(d, "resets_at", jv_string(at));
		d = json_set(d, "day", jv_string(b.day));
		snprintf(key, sizeof key, "budget_exhausted:%s", b.day);
		snprintf(text, sizeof text,
			 "agent %s: budget exhausted: %s available, a cycle needs %s; resets at %s (in %s)",
			 c->agent, a, n, at, left);
		rc = add(s, c, "budget_exhausted", key, "critical", text, d, fresh, e);
	}
	return rc;
}

/* Spend outside the tick (another process's hold, an expired one): one
 * read of the day's row says whether a threshold may have been crossed. */
static int budget_moved(struct store *s, const struct notice_cfg *c)
{
	struct budget_cfg b;
	struct err ignore = ERR_INIT;
	int64_t limit, used;
	jv row = jv_null();
	int moved = 0;

	if (budget_config(&b, c->agent, &ignore) ||
	    store_query1(s, "budget_day", args2(c->agent, jv_string(b.day)),
			 &row, &ignore))
		return 1;  /* let the scan say what is wrong */
	if (jv_get_kind(row) == JV_KIND_OBJECT) {
		limit = iget(row, "limit_micros");
		used = iget(row, "spent_micros") + iget(row, "held_micros");
		moved = (c->nwarn && used * 100 >= (int64_t)c->warn[0] * limit) ||
			limit - b.buffer - used < budget_cycle_estimate();
	}
	jv_free(row);
	return moved;
}

static int scan_ended(struct store *s, const struct notice_cfg *c, jv ended, jv *fresh,
		      struct err *e)
{
	int rc = 0;

	if (jv_get_kind(ended) != JV_KIND_ARRAY) {
		jv_free(ended);
		return 0;
	}
	jv_array_foreach(ended, i, idv) {
		int64_t id = jv_get_kind(idv) == JV_KIND_NUMBER ? (int64_t)jv_number_value(idv) : 0;
		char *outcome, *name, *why, key[64], text[700];
		jv row = jv_null(), d;

		jv_free(idv);
		if (rc || id <= 0)
			continue;
		if ((rc = store_query1(s, "session_get", jv_array_append(jv_array(), jv_number((double)id)),
				       &row, e)))
			continue;
		outcome = json_string(row, "outcome");
		name = json_string(row, "strategy_name");
		why = json_string(row, "failure_reason");
		if (outcome) {
			d = json_set(jv_object(), "session_id", jv_number((double)id));
			d = json_set(d, "outcome", jv_string(outcome));
			d = json_set(d, "strategy", name ? jv_string(name) : jv_null());
			d = json_set(d, "failure_reason", why ? jv_string(why) : jv_null());
			snprintf(key, sizeof key, "session_ended:%lld", (long long)id);
			snprintf(text, sizeof text, "agent %s: session %lld ended %s%s%.80s%s%s%.300s", c->agent,
				 (long long)id, outcome, name ? " (" : "", name ? name : "", name ? ")" : "",
				 why && *why ? ": " : "", why ? why : "");
			rc = add(s, c, "session_ended", key, strcmp(outcome, "success") ? "warning" : "info",
				 text, d, fresh, e);
		}
		free(outcome);
		free(name);
		free(why);
		jv_free(row);
	}
	jv_free(ended);
	return rc;
}

int notice_scan(struct store *s, const struct notice_cfg *c, jv ended, jv *fresh,
		struct err *e)
{
	jv st = jv_null();
	int rc;

	*fresh = jv_array();
	if ((rc = store_query1(s, "views_state", jv_array_append(jv_array(), jv_string(c->agent)), &st,
			       e)))
		goto out;
	if (jv_get_kind(st) == JV_KIND_OBJECT &&
	    ((rc = scan_backend(s, c, st, fresh, e)) || (rc = scan_breaker(s, c, st, fresh, e))))
		goto out;
	if ((c->budget || budget_moved(s, c)) && (rc = scan_budget(s, c, fresh, e)))
		goto out;
	rc = scan_ended(s, c, ended, fresh, e);
	ended = jv_invalid();
out:
	jv_free(ended);
	jv_free(st);
	if (rc) {
		jv_free(*fresh);
		*fresh = jv_null();
	}
	return rc;
}

/* ---------------------------------------------------------------- delivery */

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Runs `sh -c command` with text on stdin until it exits or the deadline;
 * its output goes nowhere.  How it went, in out. */
static int run_command(const char *command, const char *text, int64_t deadline, char *out,
		       size_t size)
{
	sigset_t pipe_set, old;
	char **envp;
	int fd[2], status = 0, done = 0;
	pid_t pid, w;
	size_t len = strlen(text);

	/* the operator's command calls no Anthropic API: not given the keys */
	if (!(envp = env_without_secrets(NULL))) {
		snprintf(out, size, "command: out of memory");
		return -1;
	}
	if (pipe(fd) < 0) {
		snprintf(out, size, "command: cannot make a pipe: %s", strerror(errno));
		free(envp);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(out, size, "command: cannot fork: %s", strerror(errno));
		close(fd[0]);
		close(fd[1]);
		free(envp);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		char *const argv[] = { "sh", "-c", (char *)command, NULL };

		setpgid(0, 0);  /* its own group: a timeout kills whatever it started */
		dup2(fd[0], 0);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		close(fd[0]);
		close(fd[1]);
		execve("/bin/sh", argv, envp);
		_exit(127);
	}
	free(envp);
	setpgid(pid, pid);
	close(fd[0]);
	/* the notice is small (a pipe holds 64 KiB): a child that never reads
	 * does not block the write; one that exits early gets no SIGPIPE here */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	fcntl(fd[1], F_SETFL, O_NONBLOCK);
	if (write(fd[1], text, len) < 0 && errno == EPIPE) {
		struct timespec zero = { 0, 0 };

		sigtimedwait(&pipe_set, NULL, &zero);
	}
	close(fd[1]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	for (;;) {
		struct timespec nap = { 0, 5 * 1000000 };

		w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			done = 1;
			break;
		}
		if (w < 0 && errno != EINTR)
			break;
		if (mono_ms() >= deadline)
			break;
		nanosleep(&nap, NULL);
	}
	if (!done) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		snprintf(out, size, "command: killed after the %s bound", "AGENT_NOTIFY_TIMEOUT_MS");
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		snprintf(out, size, "command: ok");
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		snprintf(out, size, "command: not found (exit 127)");
	else if (WIFEXITED(status))
		snprintf(out, size, "command: exit %d", WEXITSTATUS(status));
	else
		snprintf(out, size, "command: killed by signal %d", WTERMSIG(status));
	return -1;
}

static int post_url(const char *url, const char *text, int64_t deadline, char *out, size_t size)
{
	static const char *const headers[] = { "Content-Type: application/json", NULL };
	struct http_req r = { 0 };
	struct http_resp resp = HTTP_RESP_INIT;
	struct err he = ERR_INIT;
	int64_t left = deadline - mono_ms();
	int rc;

	if (left <= 0) {
		snprintf(out, size, "url: not sent: the %s bound was spent", "AGENT_NOTIFY_TIMEOUT_MS");
		return -1;
	}
	r.method = "POST";
	r.url = url;
	r.headers = headers;
	r.body = text;
	r.body_len = strlen(text);
	r.timeout_ms = (long)left;
	r.connect_timeout_ms = (long)left;
	r.max_response = 64 * 1024;
	rc = http_do(&r, &resp, &he);
	if (rc)
		snprintf(out, size, "url: %.200s", he.msg);
	else
		snprintf(out, size, "url: HTTP %ld", resp.status);
	rc = rc ? -1 : resp.status >= 200 && resp.status <= 299 ? 0 : -1;
	http_resp_release(&resp);
	return rc;
}

static int wanted(const struct notice_cfg *c, jv n)
{
	char *kind = json_string(n, "kind"), *outcome = json_string(n, "details.outcome");
	int w = kind && (c->kinds & (unsigned)kind_bit(kind, strlen(kind)));

	if (w && !strcmp(kind, "session_ended") && c->outcomes[0]) {
		char probe[64];

		snprintf(probe, sizeof probe, ",%.60s,", outcome ? outcome : "");
		w = strstr(c->outcomes, probe) != NULL;
	}
	free(kind);
	free(outcome);
	return w;
}

int notice_deliver(struct store *s, const struct notice_cfg *c, jv fresh, jv *problems,
		   struct err *e)
{
	int64_t deadline = mono_ms() + c->timeout_ms;
	int rc = 0;

	*problems = jv_array();
	if (jv_get_kind(fresh) != JV_KIND_ARRAY) {
		jv_free(fresh);
		return 0;
	}
	jv_array_foreach(fresh, i, n) {
		char how[600] = "", a[300] = "", b[300] = "", *text = NULL, *kind = json_string(n, "kind");
		int64_t id = iget(n, "id");
		int bad = 0, bad_cmd = 0, bad_url = 0;
		jv p, meta;

		/* the stream of events sees every notice, delivered or not */
		meta = jv_copy(n);
		trace_event("agent.notice", iget(n, "details.session_id"), meta);
		if (!wanted(c, n)) {
			snprintf(how, sizeof how, "not sent: %s is not in AGENT_NOTIFY_ON%s",
				 kind ? kind : "?", c->outcomes[0] ? " or AGENT_NOTIFY_OUTCOMES" : "");
		} else if (!c->command && !c->url) {
			snprintf(how, sizeof how, "not sent: no AGENT_NOTIFY_COMMAND or AGENT_NOTIFY_URL");
		} else {
			text = json_dump(jv_object_delete(jv_copy(n), jv_string("id")));
			if (!text) {
				snprintf(how, sizeof how, "not sent: out of memory");
				bad = 1;
			} else {
				bad_cmd = c->command && run_command(c->command, text, deadline, a, sizeof a) < 0;
				bad_url = c->url && post_url(c->url, text, deadline, b, sizeof b) < 0;
				bad = bad_cmd || bad_url;
				snprintf(how, sizeof how, "%s%s%s", a, a[0] && b[0] ? "; " : "", b);
			}
			if (bad) {
				char line[800];

				snprintf(line, sizeof line, "notice %s not delivered: %s", kind ? kind : "?", how);
				*problems = jv_array_append(*problems, jv_string(line));
			}
		}
		free(text);
		free(kind);
		if (rc == 0) {
			p = jv_array_append(jv_array(), jv_number((double)id));
			p = jv_array_append(p, jv_number((double)c->now));
			p = jv_array_append(p, jv_string(how));
			for (int m = 0; m < 2 && rc == 0; m++) {
				jv q;

				if (!(m ? bad_url : bad_cmd))
					continue;
				q = args2(c->agent, jv_string("notification_failures_total"));
				q = jv_array_append(q, jv_string(m ? "method=\"url\"" : "method=\"command\""));
				q = jv_array_append(q, jv_number(1));
				rc = store_query(s, "metrics_count", q, NULL, e);
			}
			if (rc == 0)
				rc = store_query(s, "notice_delivered", p, NULL, e);
			else
				jv_free(p);
		}
		jv_free(n);
	}
	jv_free(fresh);
	return rc;
}

/* strategy: libyaml emission, exclusive file creation, jq validation rules. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jq.h>
#include <yaml.h>

#include "base/data.h"
#include "base/json.h"
#include "strategy.h"

int strategy_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > 64 || !isalpha((unsigned char)name[0]))
		return 0;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return 0;
	return 1;
}

const char *strategy_dir(void)
{
	static char buf[4096];
	const char *d = getenv("AGENT_STRATEGY_DIR"), *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");

	if (d && *d)
		return d;
	if (state && *state)
		snprintf(buf, sizeof buf, "%s/agent/strategies", state);
	else
		snprintf(buf, sizeof buf, "%s/.local/state/agent/strategies", home && *home ? home : ".");
	return buf;
}

/* --- validation */

static jq_state *rules;
static char *rules_key;     /* the indicator list the rules were compiled with */
static char rules_err[300];

static void rules_cb(void *data, jv msg)
{
	(void)data;
	if (!rules_err[0] && jv_get_kind(msg) == JV_KIND_STRING)
		snprintf(rules_err, sizeof rules_err, "%s", jv_string_value(msg));
	jv_free(msg);
}

static int load_rules(jv indicators, struct err *e)
{
	const char *env = getenv("AGENT_STRATEGY_RULES");
	char path[4200], *text;
	FILE *f;
	long n;

	if (env && *env)
		snprintf(path, sizeof path, "%s", env);
	else
		data_path("strategy/validate.jq", path, sizeof path);
	f = fopen(path, "r");
	if (!f)
		return err_set(e, EX_PERM, "cannot read strategy rules '%s': %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > (1 << 20) || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return err_set(e, EX_PERM, "strategy rules '%s': unreadable or over 1 MiB", path);
	}
	text = malloc((size_t)n + 1);
	if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) {
		free(text);
		fclose(f);
		return err_set(e, EX_PERM, "cannot read strategy rules '%s'", path);
	}
	text[n] = 0;
	fclose(f);
	rules = jq_init();
	jq_set_error_cb(rules, rules_cb, NULL);
	if (!jq_compile_args(rules, text, json_set(jv_object(), "indicators", jv_copy(indicators)))) {
		free(text);
		jq_teardown(&rules);
		return err_set(e, EX_PERM, "strategy rules '%s': %s", path, rules_err[0] ? rules_err : "do not compile");
	}
	free(text);
	return 0;
}

int strategy_validate(jv config, jv indicators, jv *report, struct err *e)
{
	jv r;

	/* the indicator names are bound at compile time: compile again only
	 * when they change (compiling costs milliseconds with libjq) */
	{
		char *key = json_dump(jv_copy(indicators));

		if (rules && (!key || !rules_key || strcmp(key, rules_key))) {
			jq_teardown(&rules);
			free(rules_key);
			rules_key = NULL;
		}
		if (!rules && load_rules(indicators, e)) {
			free(key);
			return e->code;
		}
		if (!rules_key)
			rules_key = key;
		else
			free(key);
	}
	if (jv_get_kind(config) != JV_KIND_OBJECT) {
		*report = json_set(json_set(json_set(jv_object(), "valid", jv_false()),
			"errors", jv_array_append(jv_array(), jv_string("config must be a JSON object"))),
			"warnings", jv_array());
		return 0;
	}
	jq_start(rules, jv_copy(config), 0);
	r = jq_next(rules);
	for (jv more = jq_next(rules); jv_is_valid(more); more = jq_next(rules))
		jv_free(more);
	if (!jv_is_valid(r) || jv_get_kind(r) != JV_KIND_OBJECT) {
		jv msg = jv_is_valid(r) ? jv_null() : jv_invalid_get_msg(jv_copy(r));

		err_set(e, EX_PERM, "strategy rules failed: %s",
			jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : "no report object");
		jv_free(msg);
		jv_free(r);
		return EX_PERM;
	}
	*report = r;
	return 0;
}

/* --- YAML */

static int plain_ok(jv str)
{
	const char *s = jv_string_value(str);
	static const char *const words[] = { "true", "false", "null", "yes", "no", "on", "off",
					     "y", "n", "~", NULL };

	if (!*s || !isalpha((unsigned char)s[0]))
		return 0;
	for (const char *const *w = words; *w; w++)
		if (strcasecmp(s, *w) == 0)
			return 0;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("_-. /", *p))
			return 0;
	return s[strlen(s) - 1] != ' ' &&
	       strlen(s) == (size_t)jv_string_length_bytes(jv_copy(str));
}

/* s is n bytes: a jv string may hold NUL, which only the quoted style
 * writes ("\0"), and which plain_ok never allows. */
static int emit_scalar(yaml_emitter_t *em, const char *s, int n, int plain)
{
	yaml_event_t ev;

	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, n, plain, 1,
				     plain ? YAML_PLAIN_SCALAR_STYLE : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	return yaml_emitter_emit(em, &ev);
}

static int emit(yaml_emitter_t *em, jv v, int depth)
{
	yaml_event_t ev;
	int ok = 1;

	if (depth > 64)
		return 0;
	switch (jv_get_kind(v)) {
	case JV_KIND_OBJECT: {
		yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
		ok = yaml_emitter_emit(em, &ev);
		jv_object_foreach(v, k, x) {
			if (ok)
				ok = emit_scalar(em, jv_string_value(k), jv_string_length_bytes(jv_copy(k)),
						 plain_ok(k));
			if (ok)
				ok = emit(em, x, depth + 1);
			jv_free(k);
			jv_free(x);
		}
		yaml_mapping_end_event_initialize(&ev);
		return ok && yaml_emitter_emit(em, &ev);
	}
	case JV_KIND_ARRAY: {
		int n = jv_array_length(jv_copy(v));

		yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_ANY_SEQUENCE_STYLE);
		ok = yaml_emitter_emit(em, &ev);
		for (int i = 0; ok && i < n; i++) {
			jv x = jv_array_get(jv_copy(v), i);

			ok = emit(em, x, depth + 1);
			jv_free(x);
		}
		yaml_sequence_end_event_initialize(&ev);
		return ok && yaml_emitter_emit(em, &ev);
	}
	case JV_KIND_STRING:
		return emit_scalar(em, jv_string_value(v), jv_string_length_bytes(jv_copy(v)), plain_ok(v));
	default: {
		jv s = jv_dump_string(jv_copy(v), 0);

		ok = emit_scalar(em, jv_string_value(s), jv_string_length_bytes(jv_copy(s)), 1);
		jv_free(s);
		return ok;
	}
	}
}

static int write_cb(void *data, unsigned char *buf, size_t n)
{
	char **out = data;
	size_t len = *out ? strlen(*out) : 0;
	char *nb = realloc(*out, len + n + 1);

	if (!nb)
		return 0;
	memcpy(nb + len, buf, n);
	nb[len + n] = 0;
	*out = nb;
	return 1;
}

char *strategy_yaml(jv v)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	char *out = NULL;
	int ok;

	if (!yaml_emitter_initialize(&em))
		return NULL;
	yaml_emitter_set_output(&em, write_cb, &out);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, 100);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	ok = yaml_emitter_emit(&em, &ev);
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	ok = ok && yaml_emitter_emit(&em, &ev);
	ok = ok && emit(&em, v, 0);
	yaml_document_end_event_initialize(&ev, 1);
	ok = ok && yaml_emitter_emit(&em, &ev);
	yaml_stream_end_event_initialize(&ev);
	ok = ok && yaml_emitter_emit(&em, &ev);
	yaml_emitter_delete(&em);
	if (!ok) {
		free(out);
		return NULL;
	}
	return out;
}

static int mkdirs(const char *dir)
{
	char tmp[4096];

	snprintf(tmp, sizeof tmp, "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

int strategy_write(const char *name, jv config, char **path, struct err *e)
{
	const char *dir = strategy_dir();
	char final[4300], tmp[4400];
	char *yaml;
	size_t n;
	int fd, rc = 0;

	*path = NULL;
	if (!strategy_name_ok(name))
		return err_set(e, EX_DATA, "'%.80s' is not a plain strategy name", name ? name : "");
	if (mkdirs(dir) < 0)
		return err_set(e, EX_PERM, "cannot create the strategies directory '%s': %s", dir,
			       strerror(errno));
	snprintf(final, sizeof final, "%s/%s.yaml", dir, name);
	snprintf(tmp, sizeof tmp, "%s/.%s.yaml.%ld.tmp", dir, name, (long)getpid());
	yaml = strategy_yaml(config);
	if (!yaml)
		return err_set(e, EX_DATA, "cannot write the config as YAML");
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		free(yaml);
		return err_set(e, EX_TEMP, "cannot create '%s': %s", tmp, strerror(errno));
	}
	n = strlen(yaml);
	if (write(fd, yaml, n) != (ssize_t)n || fsync(fd) < 0) {
		rc = err_set(e, EX_TEMP, "cannot write '%s': %s", tmp, strerror(errno));
	}
	close(fd);
	free(yaml);
	/* link() never replaces: an existing strategy stays as it was */
	if (rc == 0 && link(tmp, final) < 0)
		rc = errno == EEXIST ? err_set(e, EX_NO, "strategy '%s' already exists", name)
				     : err_set(e, EX_TEMP, "cannot create '%s': %s", final, strerror(errno));
	unlink(tmp);
	if (rc == 0)
		*path = strdup(final);
	return rc;
}

void strategy_release(void)
{
	if (rules)
		jq_teardown(&rules);
	free(rules_key);
	rules_key = NULL;
}

/* models: share/models.json, read once, matched as pricing.json is. */
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/data.h"
#include "base/json.h"
#include "base/models.h"

static jv table;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
	char path[4200];
	struct err e = ERR_INIT;
	jv v;

	table = jv_null();  /* unreadable or not an object: the built-in defaults serve */
	if (json_read_file(data_path("models.json", path, sizeof path), 1 << 20, &v, &e))
		return;
	if (jv_get_kind(v) == JV_KIND_OBJECT)
		table = v;
	else
		jv_free(v);
}

int models_name_matches(const char *model, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(model, name, n) != 0)
		return 0;
	if (model[n] == 0)
		return 1;
	if (model[n] != '-' || strlen(model + n + 1) != 8)
		return 0;
	for (const char *p = model + n + 1; *p; p++)
		if (!isdigit((unsigned char)*p))
			return 0;
	return 1;
}

static int matches(jv ent, const char *model)
{
	jv id = json_get(jv_copy(ent), "id"), al = json_get(jv_copy(ent), "aliases");
	int hit = jv_get_kind(id) == JV_KIND_STRING && models_name_matches(model, jv_string_value(id));

	for (int i = 0; !hit && jv_get_kind(al) == JV_KIND_ARRAY && i < jv_array_length(jv_copy(al)); i++) {
		jv a = jv_array_get(jv_copy(al), i);

		hit = jv_get_kind(a) == JV_KIND_STRING && models_name_matches(model, jv_string_value(a));
		jv_free(a);
	}
	jv_free(id);
	jv_free(al);
	return hit;
}

static void fill(jv ent, struct model_limits *out)
{
	double d;

	if (json_number(ent, "min_cache_tokens", &d) && d >= 0)
		out->min_cache_tokens = (long)d;
	if (json_number(ent, "context_window", &d) && d > 0)
		out->context_window = (long)d;
	if (json_number(ent, "max_output_tokens", &d) && d > 0)
		out->max_output_tokens = (long)d;
}

void models_limits(const char *model, struct model_limits *out)
{
	jv list;

	out->min_cache_tokens = 4096;
	out->context_window = 200000;
	out->max_output_tokens = 32000;
	out->known = 0;
	pthread_once(&once, load);
	if (jv_get_kind(table) != JV_KIND_OBJECT)
		return;
	{
		jv d = json_get(jv_copy(table), "default");

		if (jv_get_kind(d) == JV_KIND_OBJECT)
			fill(d, out);
		jv_free(d);
	}
	list = json_get(jv_copy(table), "models");
	for (int i = 0; model && jv_get_kind(list) == JV_KIND_ARRAY && i < jv_array_length(jv_copy(list)); i++) {
		jv ent = jv_array_get(jv_copy(list), i);

		if (jv_get_kind(ent) == JV_KIND_OBJECT && matches(ent, model)) {
			fill(ent, out);
			out->known = 1;
			jv_free(ent);
			break;
		}
		jv_free(ent);
	}
	jv_free(list);
}

void models_short_name(char *buf, size_t size)
{
	jv full;

	if (!buf[0] || strspn(buf, "abcdefghijklmnopqrstuvwxyz") != strlen(buf))
		return;
	pthread_once(&once, load);
	full = json_get(jv_copy(table), "short_names");
	if (jv_get_kind(full) == JV_KIND_OBJECT)
		full = json_get(full, buf);
	if (jv_get_kind(full) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(full)) < (int)size)
		snprintf(buf, size, "%s", jv_string_value(full));
	jv_free(full);
}

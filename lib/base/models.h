/* models: what the Messages API does per model (share/models.json): cache minimum, limits. */
#ifndef MODELS_H
#define MODELS_H

#include <stddef.h>

struct model_limits {
	long min_cache_tokens;   /* a cached prefix shorter than this is not cached */
	long context_window;
	long max_output_tokens;
	int known;               /* 0: the file's "default" (or the built-in one) */
};

/* The limits of `model` (an id, an alias, or either with a -YYYYMMDD
 * suffix) from share/models.json, read once per process.  A model not
 * listed, or a file that cannot be read, gets the defaults: the largest
 * minimum (4096), so nothing counts on a cache the API would not keep. */
void models_limits(const char *model, struct model_limits *out);

/* A short name in buf (opus, sonnet, haiku: models.json "short_names",
 * KTRDR's --model aliases) becomes the model id it stands for; anything
 * else stays as it is (priced, or refused, by pricing_find). */
void models_short_name(char *buf, size_t size);

/* 1 when model is name, or name followed by -YYYYMMDD. */
int models_name_matches(const char *model, const char *name);

#endif

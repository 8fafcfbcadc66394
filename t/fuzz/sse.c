/* fuzz sse: the server-sent events of a streamed Messages answer
 * (lib/net/anthropic.c), read whole and in small pieces as the network may
 * cut them: both must build the same Message, or fail alike. */
#include "base/json.h"
#include "net/anthropic.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct anthropic_call whole, cut;
	struct err e1 = ERR_INIT, e2 = ERR_INIT;
	size_t chunk;
	int r1, r2;

	if (size < 1 || size > (256u << 10))
		return 0;
	chunk = 1 + data[0] % 7;
	r1 = anthropic_stream_read((const char *)data + 1, size - 1, 0, &whole, &e1);
	r2 = anthropic_stream_read((const char *)data + 1, size - 1, chunk, &cut, &e2);
	FUZZ_CHECK(r1 == r2, "whole: %d (%s), in %zu-byte pieces: %d (%s)", r1, e1.msg, chunk, r2, e2.msg);
	FUZZ_CHECK(r1 == 0 || r1 == EX_TEMP, "anthropic_stream_read returned %d", r1);
	FUZZ_CHECK(strcmp(e1.msg, e2.msg) == 0, "'%s' whole, '%s' in pieces", e1.msg, e2.msg);
	FUZZ_CHECK(fuzz_same(whole.message, cut.message), "the Message differs when cut in pieces");
	if (r1 == 0)
		FUZZ_CHECK(jv_get_kind(whole.message) == JV_KIND_OBJECT, "success without a Message");
	anthropic_call_release(&whole);
	anthropic_call_release(&cut);
	return 0;
}

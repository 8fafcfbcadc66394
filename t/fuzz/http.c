/* fuzz http: the plain path's reading of an HTTP answer (lib/net/http.c
 * http_answer): the status line, the headers http_do reports
 * (retry-after, x-should-retry, request-id, content-type), Content-Length
 * and chunked bodies. */
#include "net/http.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_resp r = HTTP_RESP_INIT;
	char why[80] = "", *buf;
	size_t max;

	if (size < 1 || size > (256u << 10))
		return 0;
	/* the bound on the body: from the first byte, small or the default */
	max = data[0] & 1 ? (size_t)data[0] * 4 : 32u << 20;
	buf = malloc(size);  /* size - 1 bytes of answer and room for one more */
	FUZZ_CHECK(buf, "out of memory");
	memcpy(buf, data + 1, size - 1);
	if (http_answer(buf, size - 1, max, &r, why, sizeof why) == 0) {
		FUZZ_CHECK(r.status >= 100 && r.status <= 599, "status %ld", r.status);
		FUZZ_CHECK(r.body && r.len <= max && r.len <= size - 1 && r.body[r.len] == 0,
			   "a body of %zu bytes", r.len);
		FUZZ_CHECK(r.should_retry >= -1 && r.should_retry <= 1, "x-should-retry %d", r.should_retry);
		FUZZ_CHECK(strlen(r.request_id) < sizeof r.request_id, "request-id");
		FUZZ_CHECK(r.retry_after == r.retry_after, "retry-after is NaN");
	} else {
		FUZZ_CHECK(why[0], "refused without a reason");
	}
	http_resp_release(&r);
	return 0;
}

/* test_anthropic: the reader of a streamed Messages answer on streams the
 * fuzzer (t/fuzz/sse.c) found aborting the process: events out of order
 * fail the stream (EX_TEMP), and every Message built can be written. */
#include "unit.h"
#include "net/anthropic.h"

#define START "event: message_start\ndata: {\"type\":\"message_start\",\"message\":" \
	"{\"type\":\"message\",\"content\":[],\"usage\":{\"input_tokens\":1}}}\n\n"
#define STOP "data: {\"type\":\"message_stop\"}\n\n"

static int stream(const char *text, size_t chunk, jv *message, struct err *e)
{
	struct anthropic_call call;
	int rc = anthropic_stream_read(text, strlen(text), chunk, &call, e);

	*message = jv_copy(call.message);
	anthropic_call_release(&call);
	return rc;
}

static void refused(const char *text, const char *why)
{
	struct err e = ERR_INIT;
	jv m;

	assert_int_equal(stream(text, 0, &m, &e), EX_TEMP);
	jv_free(m);
	if (!strstr(e.msg, why))
		fail_msg("'%s' lacks '%s'", e.msg, why);
	err_clear(&e);
	assert_int_equal(stream(text, 3, &m, &e), EX_TEMP);
	jv_free(m);
}

static void whole_stream(void **state)
{
	struct err e = ERR_INIT;
	jv m;

	assert_int_equal(stream(START "data: {\"type\":\"content_block_start\",\"index\":0,"
				"\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
				"data: {\"type\":\"content_block_delta\",\"index\":0,"
				"\"delta\":{\"type\":\"text_delta\",\"text\":\"hi\"}}\n\n"
				"data: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
				"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
				"\"usage\":{\"output_tokens\":2}}\n\n" STOP, 5, &m, &e), 0);
	assert_jv_equal(m, "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],"
			"\"usage\":{\"input_tokens\":1,\"output_tokens\":2},\"stop_reason\":\"end_turn\"}");
	jv_free(m);
}

/* each aborted on a jq assertion before */
static void message_delta_first(void **state)
{
	refused("data: {\"type\":\"message_delta\",\"delta\":{}}\n\n" START STOP, "message_delta out of order");
}

static void delta_on_a_gap(void **state)
{
	refused(START "data: {\"type\":\"content_block_start\",\"index\":2,"
		"\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
		"data: {\"type\":\"content_block_delta\",\"index\":0,"
		"\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n" STOP,
		"content_block_delta out of order");
}

static void content_replaced(void **state)
{
	refused(START "data: {\"type\":\"message_delta\",\"delta\":{\"content\":5}}\n\n"
		"data: {\"type\":\"content_block_start\",\"index\":0,"
		"\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" STOP "data: {}\n\n"
		"data: {\"type\":\"content_block_delta\",\"index\":9,\"delta\":{\"type\":\"x\"}}\n\n",
		"content_block_delta out of order");
}

static void stop_after_restart(void **state)
{
	refused(START "data: {\"type\":\"content_block_start\",\"index\":1,"
		"\"content_block\":{\"type\":\"tool_use\",\"input\":{}}}\n\n" START
		"data: {\"type\":\"content_block_stop\",\"index\":1}\n\n" STOP,
		"content_block_stop out of order");
}

/* a Message holding an invalid jv could not be written (jq's dump aborts) */
static void signature_absent(void **state)
{
	struct err e = ERR_INIT;
	jv m;
	char *text;

	assert_int_equal(stream(START "data: {\"type\":\"content_block_start\",\"index\":0,"
				"\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n"
				"data: {\"type\":\"content_block_delta\",\"index\":0,"
				"\"delta\":{\"type\":\"signature_delta\"}}\n\n" STOP, 0, &m, &e), 0);
	text = json_dump(jv_copy(m));
	assert_non_null(text);
	assert_non_null(strstr(text, "\"signature\":null"));
	free(text);
	jv_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whole_stream),
		cmocka_unit_test(message_delta_first),
		cmocka_unit_test(delta_on_a_gap),
		cmocka_unit_test(content_replaced),
		cmocka_unit_test(stop_after_restart),
		cmocka_unit_test(signature_absent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

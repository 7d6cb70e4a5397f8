/* Unit tests of the control protocol parser: garbage, oversize and unknown requests get
 * a JSON error reply, never a crash. */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "check.h"
#include "snk/ctl.h"

static bool reply_is(char *reply, bool ok, const char *text)
{
	cJSON *o = cJSON_Parse(reply);
	bool match = o && cJSON_IsBool(cJSON_GetObjectItem(o, "ok")) &&
		     cJSON_IsTrue(cJSON_GetObjectItem(o, "ok")) == ok && (!text || strstr(reply, text));

	if (!match)
		fprintf(stderr, "  reply: %s\n", reply ? reply : "(null)");
	cJSON_Delete(o);
	free(reply);
	return match;
}

#define REQ(s) ctl_handle_line(NULL, (s), strlen(s))

int main(void)
{
	CHECK(reply_is(REQ("ping"), true, "pong"));
	CHECK(reply_is(REQ("{\"command\":\"ping\"}"), true, "pong"));
	CHECK(reply_is(REQ("  ping \r"), true, "pong"));
	CHECK(reply_is(REQ(""), false, "empty request"));
	CHECK(reply_is(REQ("frob"), false, "unknown command"));
	CHECK(reply_is(REQ("{\"command\":\"frob\"}"), false, "unknown command"));
	CHECK(reply_is(REQ("{\"command\":5}"), false, "malformed request"));
	CHECK(reply_is(REQ("{\"command\":"), false, "malformed request"));
	CHECK(reply_is(REQ("{"), false, "malformed request"));
	CHECK(reply_is(REQ("{}"), false, "malformed request"));
	CHECK(reply_is(ctl_handle_line(NULL, "pi\0ng", 5), false, "NUL"));
	char big[5000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	CHECK(reply_is(REQ(big), false, "unknown command"));
	/* Random bytes never crash the parser and always get a JSON reply. */
	unsigned seed = 12345;
	for (int i = 0; i < 20000; i++) {
		char buf[64];
		size_t n = (size_t)(rand_r(&seed) % (int)sizeof(buf));

		for (size_t j = 0; j < n; j++)
			buf[j] = (char)(rand_r(&seed) % 3 == 0 ? "{}\":,pingstatus"[rand_r(&seed) % 15] : rand_r(&seed));
		char *r = ctl_handle_line(NULL, buf, n);
		cJSON *o = cJSON_Parse(r);

		if (!o || !cJSON_IsBool(cJSON_GetObjectItem(o, "ok"))) {
			CHECK(!"reply is JSON with ok");
			break;
		}
		cJSON_Delete(o);
		free(r);
	}
	CHECK(1);
	return check_done();
}

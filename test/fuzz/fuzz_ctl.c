/* libFuzzer target: the control protocol's request handler, with a real (unconnected)
 * snk_app behind it, must answer any bytes with one JSON object carrying "ok". */
#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>

#include "snk/ctl.h"
#include "snk/sync.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct snk_app app;

static void setup(void)
{
	static bool done;
	struct snk_config *cfg;
	char err[256];

	if (done)
		return;
	done = true;
	log_set_level(LOG_ERROR);
	if (config_parse("{\"databases\": {\"a\": \"dbname=a\", \"b\": \"dbname=b\"}}", "fuzz", &cfg, err,
			 sizeof(err)) != CONFIG_OK ||
	    !sync_app_init(&app, event_base_new(), cfg))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *reply;
	cJSON *o;

	setup();
	if (size > CTL_MAX_REQUEST)
		return 0; /* the socket layer refuses these before parsing */
	reply = ctl_handle_line(&app, (const char *)data, size);
	o = reply ? cJSON_Parse(reply) : NULL;
	if (!o || !cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(o, "ok")))
		abort();
	cJSON_Delete(o);
	free(reply);
	return 0;
}

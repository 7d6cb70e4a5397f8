/* libFuzzer target: config_parse must answer any bytes with a config or a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snk/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct snk_config *cfg = NULL;
	char err[1024];

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (config_parse(text, "fuzz.json", &cfg, err, sizeof(err)) == CONFIG_OK) {
		if (!cfg || !cfg->conninfo[0] || !cfg->conninfo[1] || !cfg->table)
			abort();
		config_free(cfg);
	} else if (cfg || err[0] == '\0') {
		abort(); /* a failure must leave no config and say why */
	}
	free(text);
	return 0;
}

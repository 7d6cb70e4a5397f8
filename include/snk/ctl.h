/* ctl.h - the control socket: newline-delimited JSON requests and replies. */
#ifndef SNK_CTL_H
#define SNK_CTL_H

#include <stdbool.h>
#include <stddef.h>

struct snk_app;
struct snk_ctl;

#define CTL_MAX_REQUEST 4096

/* ctl_listen: binds path (mode 0660, a stale socket replaced, a live one refused).
 * NULL with err filled on failure. */
struct snk_ctl *ctl_listen(struct snk_app *app, const char *path, char *err, size_t errlen);
void ctl_free(struct snk_ctl *ctl);

/* ctl_handle_line: the reply (one JSON object, newly allocated, no newline) to one
 * request line: {"command":"status"} or a bare word. Never NULL unless out of memory. */
char *ctl_handle_line(struct snk_app *app, const char *line, size_t len);

/* ctl_status_json: the status object as text (newly allocated). */
char *ctl_status_json(struct snk_app *app);

#endif

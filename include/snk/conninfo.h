/* conninfo.h - the user's libpq connection strings: checked without echoing them, and
 * turned into connection parameters that pin snk's session settings. */
#ifndef SNK_CONNINFO_H
#define SNK_CONNINFO_H

#include <stdbool.h>
#include <stddef.h>

/* What every session snk opens runs with, set at connect (libpq's options), so that no
 * statement of snk's ever runs under a search_path that another role can write to. */
#define SNK_SESSION_SEARCH_PATH "pg_catalog,pg_temp"

struct snk_conn_params {
	const char **keys; /* owned array, NULL-terminated; strings owned by opts or extra */
	const char **vals;
	void *opts;        /* owned: libpq's parsed options */
	char *options;     /* owned: the user's options with snk's appended */
	char timeout[16];
};

/* conninfo_check: true if libpq can parse conninfo (key=value pairs or a URI). Else err
 * says what kind of mistake it is, and never the value itself: it may hold a password. */
bool conninfo_check(const char *conninfo, char *err, size_t errlen) __attribute__((warn_unused_result));

/* conninfo_params: keys and values for PQconnectStartParams/PQconnectdbParams (with
 * expand_dbname 0): the user's settings, then snk's: application_name as a fallback,
 * client_encoding UTF8, connect_timeout_s unless the user set one (0: none), TCP
 * keepalives unless the user set them, and
 * options with snk's session settings after the user's, so that they win; copies: the
 * session writes copies (snk_xid NULL) that the stamp trigger must leave alone. */
bool conninfo_params(struct snk_conn_params *p, const char *conninfo, const char *app,
		     int connect_timeout_s, bool copies) __attribute__((warn_unused_result));
void conninfo_params_free(struct snk_conn_params *p);

/* conninfo_value: the value libpq would use for keyword: the conninfo's, else its
 * default (a PG* environment variable, or libpq's built-in one); "" and false when none.
 * For snk's checks (the TLS files); never print it for a secret keyword. */
bool conninfo_value(const char *conninfo, const char *keyword, char *buf, size_t len);
/* conninfo_target: "host:port/dbname" of conninfo, the only part of it snk shows. */
void conninfo_target(const char *conninfo, char *buf, size_t len);

#endif

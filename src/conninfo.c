/* conninfo.c - the user's libpq connection strings.
 *
 * A conninfo is parsed once at config load (and at every reload), so that a malformed one
 * is refused with a message that names the mistake but never echoes the string: libpq's
 * own parse errors quote the text around the mistake, which may be the password. At every
 * connect it becomes a parameter list in which snk's session settings follow the user's
 * `options`, so that they win: search_path is pinned to pg_catalog and pg_temp, so no
 * function or operator that another role creates can ever run as snk (docs/DESIGN.md,
 * "Sessions").
 */
#include "snk/conninfo.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* After the user's options: the last -c of a setting wins. snk.copy marks the daemon's
 * sessions, whose copies keep snk_xid NULL (migration 005's trigger leaves them alone).
 * It is a convention, not a privilege: any session may set it. */
static const char SNK_OPTIONS[] = "-c search_path=" SNK_SESSION_SEARCH_PATH;
static const char SNK_COPY_OPTIONS[] = " -c snk.copy=on";

/* Unless the user's conninfo sets them: a peer that vanished (a host gone, a network cut)
 * is noticed within about 11 s on an idle session (keepalives), not after the kernel's 2
 * hours and 15 minutes. Ignored on a unix socket. No tcp_user_timeout: on Linux it also
 * ends a session whose server stops reading for that long (an INSERT waiting for a lock
 * while snk's batch fills the window), which is a healthy session. */
static const char *const TCP_DEFAULTS[][2] = {
	{ "keepalives_idle", "5" },
	{ "keepalives_interval", "2" },
	{ "keepalives_count", "3" },
};
#define NTCP_DEFAULTS (sizeof(TCP_DEFAULTS) / sizeof(TCP_DEFAULTS[0]))

struct parse_error {
	const char *libpq_prefix;
	const char *meaning;
};

static const struct parse_error parse_errors[] = {
	{ "missing \"=\" after", "a keyword is not followed by '=' (give keyword=value pairs)" },
	{ "unterminated quoted string", "a quoted value is not closed" },
	{ "invalid percent-encoded token", "a %-escape in the URI is not two hex digits" },
	{ "forbidden value %00", "a %-escape in the URI encodes a NUL byte" },
	{ "invalid connection option", "it names a keyword libpq does not know" },
	{ "invalid URI", "it is not a valid postgresql:// URI" },
	{ "end of string reached when looking for matching \"]\"", "an IPv6 host in the URI lacks its ']'" },
	{ "unexpected character", "the URI has an unexpected character after a host" },
	{ "extra key/value separator", "the URI's query has a second '='" },
	{ "missing key/value separator", "the URI's query has a parameter without '='" },
};

/* Like libpq: a string without '=' that is not a URI is a database name. */
static bool bare_dbname(const char *conninfo)
{
	return !strchr(conninfo, '=') && strncmp(conninfo, "postgresql://", 13) != 0 &&
	       strncmp(conninfo, "postgres://", 11) != 0;
}

/* A database name with "://" or "@" is a URI whose scheme is misspelt ("postgressql://
 * user:password@host/db"): libpq would take it whole as the name and the server would echo
 * it, password and all, in "database ... does not exist". */
static bool looks_like_uri(const char *conninfo)
{
	return strstr(conninfo, "://") != NULL || strchr(conninfo, '@') != NULL;
}

bool conninfo_check(const char *conninfo, char *err, size_t errlen)
{
	char *msg = NULL;
	PQconninfoOption *opts;
	const char *meaning = "libpq cannot parse it";

	if (bare_dbname(conninfo)) {
		if (!looks_like_uri(conninfo))
			return true;
		snprintf(err, errlen, "not a valid libpq connection string or URI: it looks like a URI, but"
			 " does not begin with postgresql:// or postgres:// (the string is not shown: it may hold a"
			 " password)");
		return false;
	}
	opts = PQconninfoParse(conninfo, &msg);
	if (opts) {
		PQconninfoFree(opts);
		return true;
	}
	for (size_t i = 0; msg && i < sizeof(parse_errors) / sizeof(parse_errors[0]); i++) {
		if (strncmp(msg, parse_errors[i].libpq_prefix, strlen(parse_errors[i].libpq_prefix)) == 0) {
			meaning = parse_errors[i].meaning;
			break;
		}
	}
	if (!msg)
		meaning = "out of memory";
	snprintf(err, errlen, "not a valid libpq connection string or URI: %s (the string is not shown:"
		 " it may hold a password)", meaning);
	PQfreemem(msg);
	return false;
}

/* The value of keyword in a parsed option list, NULL when unset or empty. */
static const char *option_value(const PQconninfoOption *opts, const char *keyword)
{
	for (const PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (strcmp(o->keyword, keyword) == 0)
			return o->val && o->val[0] ? o->val : NULL;
	}
	return NULL;
}

bool conninfo_value(const char *conninfo, const char *keyword, char *buf, size_t len)
{
	PQconninfoOption *opts = bare_dbname(conninfo) ? NULL : PQconninfoParse(conninfo, NULL);
	PQconninfoOption *defaults = PQconndefaults();
	const char *v = bare_dbname(conninfo) && strcmp(keyword, "dbname") == 0 ? conninfo : NULL;

	if (!v)
		v = option_value(opts, keyword);
	if (!v)
		v = option_value(defaults, keyword);
	snprintf(buf, len, "%s", v ? v : "");
	PQconninfoFree(opts);
	PQconninfoFree(defaults);
	return v != NULL;
}

void conninfo_target(const char *conninfo, char *buf, size_t len)
{
	char host[256], port[32], db[256];

	if (!conninfo_value(conninfo, "host", host, sizeof(host)) &&
	    !conninfo_value(conninfo, "hostaddr", host, sizeof(host)))
		snprintf(host, sizeof(host), "local");
	if (!conninfo_value(conninfo, "port", port, sizeof(port)))
		snprintf(port, sizeof(port), "5432");
	/* libpq's default database is the user's name */
	if (!conninfo_value(conninfo, "dbname", db, sizeof(db)))
		(void)conninfo_value(conninfo, "user", db, sizeof(db));
	snprintf(buf, len, "%s:%s/%s", host, port, db[0] ? db : "?");
}

static void push(struct snk_conn_params *p, int *n, const char *key, const char *val)
{
	p->keys[*n] = key;
	p->vals[*n] = val;
	(*n)++;
}

bool conninfo_params(struct snk_conn_params *p, const char *conninfo, const char *app,
		     int connect_timeout_s, bool copies)
{
	PQconninfoOption *opts, *o;
	const char *user_options = NULL;
	bool has_timeout = false, has_tcp[NTCP_DEFAULTS] = { false };
	int n = 0, total = 0;

	memset(p, 0, sizeof(*p));
	opts = PQconninfoParse(bare_dbname(conninfo) ? "" : conninfo, NULL);
	if (!opts)
		return false;
	p->opts = opts;
	for (o = opts; o->keyword; o++)
		total++;
	p->keys = calloc((size_t)total + 5 + NTCP_DEFAULTS, sizeof(*p->keys));
	p->vals = calloc((size_t)total + 5 + NTCP_DEFAULTS, sizeof(*p->vals));
	if (!p->keys || !p->vals) {
		conninfo_params_free(p);
		return false;
	}
	if (bare_dbname(conninfo))
		push(p, &n, "dbname", conninfo);
	for (o = opts; o->keyword; o++) {
		if (!o->val)
			continue;
		if (strcmp(o->keyword, "options") == 0) {
			user_options = o->val;
			continue;
		}
		if (strcmp(o->keyword, "client_encoding") == 0)
			continue; /* snk exchanges text as UTF-8 */
		has_timeout |= strcmp(o->keyword, "connect_timeout") == 0;
		for (size_t i = 0; i < NTCP_DEFAULTS; i++)
			has_tcp[i] |= strcmp(o->keyword, TCP_DEFAULTS[i][0]) == 0;
		push(p, &n, o->keyword, o->val);
	}
	if (!user_options)
		user_options = getenv("PGOPTIONS"); /* libpq's default, which an explicit options hides */
	if (asprintf(&p->options, "%s%s%s%s", user_options ? user_options : "", user_options ? " " : "",
		     SNK_OPTIONS, copies ? SNK_COPY_OPTIONS : "") < 0) {
		p->options = NULL;
		conninfo_params_free(p);
		return false;
	}
	push(p, &n, "options", p->options);
	push(p, &n, "client_encoding", "UTF8");
	if (app)
		push(p, &n, "fallback_application_name", app);
	for (size_t i = 0; i < NTCP_DEFAULTS; i++) {
		if (!has_tcp[i])
			push(p, &n, TCP_DEFAULTS[i][0], TCP_DEFAULTS[i][1]);
	}
	if (!has_timeout && connect_timeout_s > 0) {
		snprintf(p->timeout, sizeof(p->timeout), "%d", connect_timeout_s);
		push(p, &n, "connect_timeout", p->timeout);
	}
	p->keys[n] = NULL;
	p->vals[n] = NULL;
	return true;
}

void conninfo_params_free(struct snk_conn_params *p)
{
	if (!p)
		return;
	free(p->keys);
	free(p->vals);
	free(p->options);
	if (p->opts)
		PQconninfoFree(p->opts);
	memset(p, 0, sizeof(*p));
}

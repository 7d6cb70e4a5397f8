/* Unit tests of conninfo.c: snk's session settings follow the user's options, so that
 * they win, and the user's other keys are kept. */
#include <stdlib.h>

#include "check.h"
#include "snk/conninfo.h"

static const char *value_of(const struct snk_conn_params *p, const char *key)
{
	const char *v = NULL;

	for (int i = 0; p->keys[i]; i++) {
		if (strcmp(p->keys[i], key) == 0)
			v = p->vals[i]; /* the last one counts, as in libpq */
	}
	return v;
}

int main(void)
{
	struct snk_conn_params p;
	char err[256];

	CHECK(conninfo_params(&p, "host=h port=5 dbname=d options='-c work_mem=64MB' client_encoding=LATIN1", "snk",
			      0, true));
	CHECK_STR(value_of(&p, "host"), "h");
	CHECK_STR(value_of(&p, "dbname"), "d");
	CHECK_STR(value_of(&p, "options"), "-c work_mem=64MB -c search_path=pg_catalog,pg_temp -c snk.copy=on");
	CHECK_STR(value_of(&p, "client_encoding"), "UTF8");
	CHECK_STR(value_of(&p, "fallback_application_name"), "snk");
	CHECK(value_of(&p, "connect_timeout") == NULL);
	conninfo_params_free(&p);

	/* A tool's session: no snk.copy, a default connect timeout that the user may set. */
	CHECK(conninfo_params(&p, "postgresql://u@h:7/d?options=-csearch_path%3Dpublic", "tst", 10, false));
	CHECK_STR(value_of(&p, "options"), "-csearch_path=public -c search_path=pg_catalog,pg_temp");
	CHECK_STR(value_of(&p, "port"), "7");
	CHECK_STR(value_of(&p, "connect_timeout"), "10");
	conninfo_params_free(&p);
	CHECK(conninfo_params(&p, "dbname=d connect_timeout=3", "tst", 10, false));
	CHECK_STR(value_of(&p, "connect_timeout"), "3");
	/* A vanished peer is noticed in seconds (the lease, docs/DESIGN.md "Standby"). */
	CHECK_STR(value_of(&p, "keepalives_idle"), "5");
	CHECK(value_of(&p, "tcp_user_timeout") == NULL);
	conninfo_params_free(&p);
	/* ...unless the user says otherwise: the user's value, once. */
	CHECK(conninfo_params(&p, "dbname=d keepalives_idle=30 tcp_user_timeout=0", "snk", 0, true));
	CHECK_STR(value_of(&p, "keepalives_idle"), "30");
	CHECK_STR(value_of(&p, "tcp_user_timeout"), "0");
	CHECK_STR(value_of(&p, "keepalives_count"), "3");
	{
		int n = 0;

		for (int i = 0; p.keys[i]; i++)
			n += strcmp(p.keys[i], "keepalives_idle") == 0;
		CHECK(n == 1);
	}
	conninfo_params_free(&p);

	/* A bare word is a database name, as in libpq. */
	CHECK(conninfo_check("mydb", err, sizeof(err)));
	CHECK(conninfo_params(&p, "mydb", "snk", 0, true));
	CHECK_STR(value_of(&p, "dbname"), "mydb");
	conninfo_params_free(&p);

	/* What snk shows of a conninfo: host:port/dbname, never the password or anything else. */
	char target[256], val[256];
	conninfo_target("host=db1 port=6543 dbname=app user=u password=hunter2 sslkey=/k", target, sizeof(target));
	CHECK_STR(target, "db1:6543/app");
	conninfo_target("postgresql://u:hunter2@db2/app2", target, sizeof(target));
	CHECK_STR(target, "db2:5432/app2");
	conninfo_target("mydb", target, sizeof(target));
	CHECK_CONTAINS(target, "/mydb");
	unsetenv("PGDATABASE");
	conninfo_target("hostaddr=10.0.0.1 user=alice", target, sizeof(target));
	CHECK_STR(target, "10.0.0.1:5432/alice"); /* libpq's default database is the user's name */
	/* The TLS files snk check looks at: the conninfo's, else the PG* variable's. */
	CHECK(conninfo_value("host=h sslrootcert=/etc/ca.crt", "sslrootcert", val, sizeof(val)));
	CHECK_STR(val, "/etc/ca.crt");
	unsetenv("PGSSLCERT");
	CHECK(!conninfo_value("host=h", "sslcert", val, sizeof(val)));
	CHECK_STR(val, "");
	setenv("PGSSLCERT", "/env/client.crt", 1);
	CHECK(conninfo_value("host=h", "sslcert", val, sizeof(val)));
	CHECK_STR(val, "/env/client.crt");
	unsetenv("PGSSLCERT");

	CHECK(!conninfo_check("host=h password=x y", err, sizeof(err)));
	CHECK(strstr(err, "x y") == NULL && strstr(err, "\"y\"") == NULL);
	CHECK_CONTAINS(err, "a keyword is not followed by");
	/* A misspelt URI scheme would make the whole string a database name, echoed by the
	 * server in its error: refused, without showing it. */
	CHECK(!conninfo_check("postgressql://u:hunter2@h/d", err, sizeof(err)));
	CHECK_CONTAINS(err, "does not begin with postgresql://");
	CHECK(strstr(err, "hunter2") == NULL);
	CHECK(!conninfo_check("u:hunter2@h", err, sizeof(err)));
	CHECK(!conninfo_check("bogus_key=1", err, sizeof(err)));
	CHECK_CONTAINS(err, "names a keyword libpq does not know");
	return check_done();
}

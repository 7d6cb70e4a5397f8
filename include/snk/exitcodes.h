/* exitcodes.h - process exit codes, sysexits(3) style, shared by snk, snkctl and tst. */
#ifndef SNK_EXITCODES_H
#define SNK_EXITCODES_H

#define SNK_EXIT_OK 0
#define SNK_EXIT_DIFFER 1       /* verify: the tables differ */
#define SNK_EXIT_CHECK_FAILED 1 /* check: at least one check failed (the answer is no, as verify's 1) */
#define SNK_EXIT_REFUSED 1      /* snkctl: snk refused the request */
#define SNK_EXIT_DEGRADED 2     /* snkctl status: snk answers, but a database or direction is down */
#define SNK_EXIT_USAGE 64       /* bad command line */
#define SNK_EXIT_SCHEMA 65      /* table missing, not migrated, without a key, or not the same in a and b */
#define SNK_EXIT_NOINPUT 66     /* config file missing or unreadable */
#define SNK_EXIT_UNAVAILABLE 69 /* database or control socket unreachable (tools) */
#define SNK_EXIT_SOFTWARE 70    /* internal error */
#define SNK_EXIT_OSERR 71       /* socket, event loop or memory failure at start-up */
#define SNK_EXIT_TEMPFAIL 75    /* tst: whether its last batch committed is unknown (snk itself no longer exits 75: a second snk is a standby) */
#define SNK_EXIT_CONFIG 78      /* config file present but invalid */

#endif

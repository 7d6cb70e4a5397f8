/* listener.h - a listening socket that caps its clients and never spins on accept(). */
#ifndef SNK_LISTENER_H
#define SNK_LISTENER_H

#include <event2/util.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct sockaddr;
struct snk_listener;

/* listener_cb: a new client; fd is the callee's from now on, and the callee calls
 * listener_client_closed once when the client is gone (also if it cannot take it). */
typedef void (*listener_cb)(evutil_socket_t fd, void *arg);

struct listener_stats {
	int clients;                /* held now */
	int max_clients;            /* the cap in force */
	uint64_t refused;           /* accepted and closed at once: the cap was reached */
	uint64_t accept_failures;   /* accept() failed (EMFILE, ENFILE, ENOMEM...): paused */
};

/* listener_new: listens on sa for at most max_clients clients at once (fewer when the
 * descriptor limit is low); role names it in log lines. NULL with err filled (the
 * reason, e.g. strerror) on failure. */
struct snk_listener *listener_new(struct event_base *base, const char *role,
				  const struct sockaddr *sa, int salen, int max_clients,
				  listener_cb cb, void *arg, char *err, size_t errlen);
void listener_client_closed(struct snk_listener *l);
void listener_get_stats(const struct snk_listener *l, struct listener_stats *out);
void listener_free(struct snk_listener *l);

#endif

/* notify.h - systemd's notification protocol (sd_notify), without libsystemd. */
#ifndef SNK_NOTIFY_H
#define SNK_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* notify_send: sends one datagram ("READY=1", "STATUS=...") to $NOTIFY_SOCKET.
 * False when there is no socket or the send failed; harmless outside systemd. */
bool notify_send(const char *msg);

/* notify_watchdog_usec: the watchdog interval systemd asks for ($WATCHDOG_USEC, when
 * $WATCHDOG_PID is unset or ours), 0 when there is none. */
uint64_t notify_watchdog_usec(void);

#endif

/* clock.h - the two clocks every module reads: the wall clock (for what status and logs
 * show) and the monotonic clock (for durations and timers). */
#ifndef SNK_CLOCK_H
#define SNK_CLOCK_H

#include <stdint.h>

/* clock_now_ms: wall clock, milliseconds since the epoch. */
int64_t clock_now_ms(void);
/* clock_mono_us: monotonic clock, microseconds. */
int64_t clock_mono_us(void);

#endif

// SPDX-License-Identifier: MIT
/* summary.h: summary records — the counts per type × peer × cause × role of
 * every record that was due (written or left out by the rate limit) since
 * the previous summary. Written by a process whose rate limit has left
 * something out: every summary period when something happened, and at exit,
 * at exec, and at a fork child's exit. There is no timer thread and no
 * signal: the period is checked on the next due record or closed connection
 * after it ends. */
#ifndef RSTWATCH_SUMMARY_H
#define RSTWATCH_SUMMARY_H

#include <stdint.h>

/* After a due record at monotonic time now: writes a summary when the period
 * has ended. Async-signal-safe. */
void summary_tick(uint64_t now_ns);

/* Cheap check for idle paths (one relaxed load when nothing is due): writes a
 * summary when the period has ended. Async-signal-safe. */
void summary_poll(void);

/* Writes a summary now if anything is due ("exit", "exec"). Does nothing in a
 * vfork child, whose memory is its parent's. Async-signal-safe. */
void summary_flush(const char *reason);

/* In a fork child: a new period starts now, for the child's own records. */
void summary_atfork_child(void);

#endif

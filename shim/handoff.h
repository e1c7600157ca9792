// SPDX-License-Identifier: MIT
/* handoff.h: what one process knew of a connection it handed to another by
 * SCM_RIGHTS.
 *
 * A privilege-separated server (vsftpd) accepts a data connection in one
 * process and passes the socket to another, which does the I/O. The receiver
 * sees a socket it never saw created: by the time it fails (a reset), the
 * kernel no longer names the peer, and the listener it came from is closed,
 * in another network namespace or behind a chroot, so neither its role nor
 * its peer can be learnt there. The sender knew both. A small table in
 * memory shared by a process and every child it forks afterwards (made at
 * its first accept(), so a forking or cloning server's processes share one)
 * carries them: the sender writes an entry for each tracked connection it
 * passes (no system call), and the receiver looks the socket up by its
 * identity (one fstat per received socket, none under a filter). Entries
 * are overwritten in turn; a lookup that misses leaves the socket untracked,
 * as before. Lock-free: each entry has a sequence count, odd while written.
 *
 * The same table tells the holders of a socket shared across fork that one of
 * them wrote its close record (docs/design.md "Never hurt the host", rule
 * 10): a forking server's parent that never used its copy and closes it after
 * the child that served the connection closed its own writes no second,
 * empty record. */
#ifndef RSTWATCH_HANDOFF_H
#define RSTWATCH_HANDOFF_H

#include <stdint.h>

#include "conn_table.h"

#pragma GCC visibility push(hidden)

enum handoff_kind { HANDOFF_PASSED = 1, HANDOFF_ENDED = 2 };

/* What the sender knew: the connection's identity (fdident.h), family, role
 * and addresses; or, for HANDOFF_ENDED, only that its record was written. */
struct handoff_entry {
    uint64_t ident;
    uint8_t family, role, kind;
    uint8_t pad[5];
    union sockaddr_any peer, local;
};

/* Makes the shared table if this process has none (one mmap, once): called
 * at accept(), before a server forks the processes it hands sockets to. */
void handoff_ready(void);

/* 1 when a table exists (made here or inherited). */
int handoff_enabled(void);

/* The sender: c is being passed to another process (HANDOFF_PASSED), or a
 * holder of c shared across fork wrote its close record (HANDOFF_ENDED). No
 * system call. */
void handoff_publish(const struct conn *c, enum handoff_kind kind);

/* The receiver: copies the entry for identity ident into out; 1 if found. */
int handoff_find(uint64_t ident, struct handoff_entry *out);

#pragma GCC visibility pop

#endif

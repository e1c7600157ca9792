// SPDX-License-Identifier: MIT
/* sink.h: where record lines go — a file (template with %p %t %h %u), stderr,
 * an inherited fd, syslog, or journald's native protocol — opened lazily at
 * the first record, so a clean run touches no file at all. Each line is one
 * write() (atomic against other writers of the same O_APPEND file). A file
 * that was renamed or removed (log rotation) is reopened before the next
 * record. Any failure warns once on stderr and falls back to stderr; records
 * are never silently dropped. */
#ifndef RSTWATCH_SINK_H
#define RSTWATCH_SINK_H

#include <stdatomic.h>
#include <stddef.h>

/* Parses the destination (NULL or "" = the default); no I/O. */
void sink_configure(const char *spec);

/* What journald gets as separate fields besides the JSON (NULL = absent). */
struct sink_fields {
    const char *type, *cause, *peer, *err;
    const char *message; /* one line for humans */
    int priority;        /* syslog priority, 0..7 */
};

/* Writes one complete line (must end in '\n'). Async-signal-safe. Returns 0 or -errno. */
int sink_write(const char *line, size_t len);

/* Same, with the structured fields a journal destination keeps (f may be NULL). */
int sink_write_record(const char *line, size_t len, const struct sink_fields *f);

/* Records wait in static memory while the process has no file descriptor
 * free to open the destination with (EMFILE, ENFILE); sink_held is nonzero
 * then. sink_fd_freed(): the program closed a descriptor, write them now if
 * the destination can be opened. sink_last_chance(): exit or exec, write
 * them to the destination or else to stderr, and say how many were dropped.
 * Async-signal-safe. */
extern _Atomic int sink_held;
void sink_fd_freed(void);
void sink_last_chance(void);

/* The longest line (newline included) the destination keeps whole: syslog
 * daemons cut longer messages; other destinations take any length (0). */
size_t sink_line_limit(void);

/* The process is about to change its user id: open a file destination now,
 * while the current user may still create it, and keep it (the fd stays
 * valid after the change). Async-signal-safe. */
void sink_before_uid_change(void);

/* systemd's JOURNAL_STREAM (NULL if unset): fd 2 may be that socket. */
void sink_set_journal_stream(const char *value);

/* A seccomp filter is about to be installed: open the destination now (the
 * filtered process writes to that fd and opens nothing), and take fd 2's
 * verdict (may it carry the shim's lines?) while it can still be asked. */
void sink_before_filter(void);

/* Writes "rstwatch: <msg>\n" to stderr, if fd 2 may take it: a terminal,
 * file or pipe, never a socket the program uses for traffic. */
void sink_warn(const char *msg);

/* chroot() is about to be called: open the destination now, where its path
 * still means what it says; after a successful chroot, sink_after_chroot():
 * nothing is opened by path any more (no file or directory inside a jail). */
void sink_before_chroot(void);
void sink_after_chroot(void);

/* In a forked child: the child opens its own file at its first record (so %p
 * names the child); the parent's fd is kept and used when the child cannot
 * (a privilege drop, a chroot, no fds left). */
void sink_atfork_child(void);

/* Expands a template ("%p" pid, "%t" unix time, "%h" host, "%u" effective
 * uid at the time of writing, "%%") into out;
 * returns 0 or -ENAMETOOLONG. Exposed for unit tests. */
int sink_expand(const char *tmpl, char *out, size_t len);

#endif

/* sink.h: where record lines go — a file (template with %p %t %h), stderr,
 * an inherited fd, or syslog — opened lazily at the first record, so a clean
 * run touches no file at all. Each line is one write() (atomic against other
 * writers of the same O_APPEND file). Any failure warns once on stderr and
 * falls back to stderr; records are never silently dropped. */
#ifndef RSTWATCH_SINK_H
#define RSTWATCH_SINK_H

#include <stddef.h>

/* Parses the destination (NULL or "" = the default); no I/O. */
void sink_configure(const char *spec);

/* Writes one complete line (must end in '\n'). Async-signal-safe. Returns 0 or -errno. */
int sink_write(const char *line, size_t len);

/* Writes "rstwatch: <msg>\n" to stderr. */
void sink_warn(const char *msg);

/* In a forked child: forget the parent's file so %p names the child. */
void sink_atfork_child(void);

/* Expands a template ("%p" pid, "%t" unix time, "%h" host, "%%") into out;
 * returns 0 or -ENAMETOOLONG. Exposed for unit tests. */
int sink_expand(const char *tmpl, char *out, size_t len);

#endif

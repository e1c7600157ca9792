// SPDX-License-Identifier: MIT
/* logscan.h: walks the inputs of report/export (files, directories, stdin) record by record. */
#ifndef RSTWATCH_LOGSCAN_H
#define RSTWATCH_LOGSCAN_H

#include "logread.h"

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* Lines longer than this are rejected (a record is a few KiB; this is 4096 events and more). */
#define LOGSCAN_MAX_LINE (16u << 20)

struct logscan_stats {
    size_t files;                  /* inputs opened and read */
    size_t records;                /* good lines handed to the callback */
    size_t bad_lines;              /* lines skipped with a message on stderr */
    size_t summaries;              /* summary records read */
    unsigned long long suppressed; /* records the rate limit left out, from both places */
    int unreadable;                /* an input could not be opened or read */
};

/* Receives ownership of each good record (must log_record_free it or keep it). */
typedef void (*logscan_fn)(struct log_record *rec, void *ctx);

/*
 * Reads every record of the given inputs, in order: "-" is stdin, a directory means every file
 * under it, recursively (sorted by name, hidden names skipped), anything else is a file. A file
 * may be JSON Lines, a syslog file (the prefix before a record is stripped, lines without one
 * are skipped), `journalctl -o json` output, or any of these gzip-compressed. With no inputs,
 * reads the default log directory, and for root also the other users' /tmp/rstwatch-UID (a
 * missing default directory simply holds no records). A summary record is handed on as it is
 * (type LOG_SUMMARY, its entries in counts[]); incidents.c adds them to the totals.
 * Bad lines are reported on stderr as "rstwatch: FILE:LINE: reason" and skipped; unreadable
 * inputs as "rstwatch: PATH: reason". Streams: memory use is one line at a time. Fills *stats.
 */
void logscan_run(char *const *inputs, size_t ninputs, logscan_fn fn, void *ctx,
                 struct logscan_stats *stats);

/*
 * Reads the records of one open stream named name (for messages). Same reporting as
 * logscan_run. Returns 0, or -1 on a read error (reported, stats->unreadable set).
 */
int logscan_stream(FILE *fp, const char *name, logscan_fn fn, void *ctx,
                   struct logscan_stats *stats);

/* Where a read of complete lines got to (logscan_stream_lines). */
struct logscan_pos {
    unsigned long long line;     /* in: number of the first line read (0 = 1); out: the next one */
    unsigned long long consumed; /* out: bytes of complete lines read (up to their newline) */
    unsigned long long tail;     /* out: bytes after the last newline, not read as a line */
    int mode; /* in/out: the file's kind, logscan_line_mode of its first line (0: not known) */
};

/* What the first non-blank line says a file is: 1 records (JSON Lines, journal entries: every
 * line is checked), 2 a syslog file (lines without a record belong to other programs); 0 for
 * a blank line. A read that starts in the middle of a file passes its first line's mode on. */
int logscan_line_mode(const char *line, size_t len);

/*
 * Like logscan_stream, for a file that may still grow: reads only the lines that end with a
 * newline and leaves an unterminated last line unread (a record still being written, or a torn
 * one), measured in pos->tail. Numbers lines from pos->line on, for messages. Returns 0, or -1
 * on a read error (reported; pos says how far the good part went).
 */
int logscan_stream_lines(FILE *fp, const char *name, logscan_fn fn, void *ctx,
                         struct logscan_stats *stats, struct logscan_pos *pos);

/* Receives each file an input names: its path ("-" for stdin, or an argument that may not
 * exist: the receiver reports it), and in_dir: found under a directory argument. */
typedef void (*logscan_visit_fn)(const char *path, int in_dir, void *vctx);

/*
 * The files logscan_run reads, in its order, without reading them: directories walked
 * recursively (sorted by name, hidden names and non-regular files skipped), other arguments
 * passed on as they are, and with no inputs the default log directories. An unreadable
 * directory is reported on stderr and sets stats->unreadable.
 */
void logscan_walk(char *const *inputs, size_t ninputs, logscan_visit_fn visit, void *vctx,
                  struct logscan_stats *stats);

/* True when the file open on fd starts with the gzip magic (read with pread: no seek). */
int logscan_is_gzip(int fd);

/* `gzip -dc` of the file open on fd, as a stream (fd's offset must be 0); *pid for
 * logscan_gunzip_close. NULL on failure (errno set). */
FILE *logscan_gunzip(int fd, pid_t *pid);

/* Closes the stream and reaps gzip: 0 when it ran to a successful end, -1 otherwise (a corrupt
 * or truncated file; also when the stream was closed before its end). */
int logscan_gunzip_close(FILE *z, pid_t pid);

/*
 * The text of the line whose record is being handed to the callback (not NUL-terminated; *len
 * bytes), for a caller that shows the record as written (rstwatch cat). Valid only during the
 * callback; NULL outside it.
 */
const char *logscan_current_line(size_t *len);

/* What the commands that read logs (report, export, cat) exit with, as their --help says. */
#define LOGSCAN_EXIT_HELP                                                                          \
    "exit status: 0 ok, 1 bad lines were skipped, 2 usage error or unreadable input\n"

/* Their exit status after a scan: 2 when an input was unreadable, 1 when bad lines were skipped,
 * 0 otherwise. */
int logscan_exit_status(const struct logscan_stats *stats);

#endif

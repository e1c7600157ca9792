// SPDX-License-Identifier: MIT
/* sink.c: record destinations (see sink.h).
 *
 * File safety: the directory is created 0700 if missing, then opened with
 * O_NOFOLLOW and checked (a real directory, owned by us; a symlink to one is
 * followed only when root or we own the link, the layout systemd's
 * DynamicUser= creates for LogsDirectory=); the file is created
 * 0600 with O_APPEND|O_CLOEXEC|O_NOFOLLOW|O_NONBLOCK (a FIFO without a reader
 * fails instead of hanging the host) and must be a regular file owned by us.
 * Anything else is refused with one warning and the record goes to stderr.
 *
 * Host safety: a destination that is a pipe or socket whose reader is gone
 * (stderr piped into a finished `head`, fd:N) must not kill the host with a
 * SIGPIPE it would never have had: records are written with SIGPIPE blocked
 * and the signal they caused is consumed. A destination that stays full
 * (EAGAIN) is given up after WRITE_STALL_MS rather than stalling the host.
 * Warnings are one line each: control bytes in the text (an environment value
 * or path with a newline or a terminal escape) are shown as '?'.
 *
 * fd 2 is the program's: inetd-style servers (vsftpd, sshd -i) put the
 * client's socket on fds 0-2, so a warning or record written there would go
 * down the client's stream. Nothing is written to fd 2 unless it is a
 * terminal or other character device, a regular file or a pipe (asked with
 * fstat before each write), or the journal's stream that systemd names in
 * JOURNAL_STREAM; under a seccomp filter the verdict is the one taken before
 * the filter. A record with nowhere to go is dropped.
 *
 * Rotation: before each record the path the file was opened under is
 * stat()ed; when it names another file or none (logrotate's "create" renamed
 * it) the file is reopened. "copytruncate" needs nothing: O_APPEND writes go
 * to the new end. The old fd is closed only once no writer can be using it
 * (a count of writers in flight), so a concurrent record never lands on an fd
 * number the host has reused.
 *
 * The shim's fd is one of the program's fd numbers: the program may close it
 * (closefrom(3) in a daemon, close_range, dup2 onto it, a raw close) and get
 * the number back for a file or connection of its own. So the fd's identity
 * (st_dev, st_ino) is kept from the open, and before each record, before a
 * retired fd is closed and in a fork child, the fd is asked again: when it is
 * another file now, it is the program's and is never written or closed; the
 * sink opens its destination anew.
 *
 * journald: the native protocol (KEY=value lines in one datagram, the
 * length-prefixed form for values with a newline; a record too big for a
 * datagram goes in a sealed memfd passed with SCM_RIGHTS). */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "real.h"
#include "sandbox.h"
#include "strbuf.h"

enum sink_kind { SINK_FILE, SINK_STDERR, SINK_FD, SINK_SYSLOG, SINK_JOURNAL };

static enum sink_kind kind = SINK_FILE;
static char tmpl[512];
static char sock_path[108]; /* SINK_SYSLOG / SINK_JOURNAL */
static int is_default;
static int configured;                                  /* sink_configure ran: the shim is active */
static int target_fd = 2;                               /* SINK_FD */
static uint64_t journal_stream_dev, journal_stream_ino; /* JOURNAL_STREAM=dev:ino, 0 if unset */
static _Atomic int stderr_verdict = -1; /* stderr_usable()'s last answer, for under a filter */
static _Atomic int file_fd = -1;        /* SINK_FILE / SINK_SYSLOG / SINK_JOURNAL, opened lazily */
static _Atomic int fell_back;           /* 1: writing to stderr after a failure */
static _Atomic int warned_write;
static _Atomic int warned_open; /* racing first records: one warning, not one per thread */
static _Atomic int warned_rotate;
static _Atomic int writers;         /* sink_write calls in flight */
static _Atomic int retired_fd = -1; /* replaced by a reopen; closed when no writer is left */
static _Atomic uint64_t file_id;    /* file_identity(file_fd), 0 until published */
static _Atomic uint64_t retired_id; /* file_identity(retired_fd) */
/* 1 while one thread checks for a rotation, and until the first open has published
 * opened_path: opened_path is written only by the thread that holds this flag. */
static _Atomic int reopening = 1;
static char opened_path[512]; /* the path file_fd was opened under */
/* After chroot() no path names what it named before: nothing is opened by
 * path any more (no file, no mkdir inside the jail), the fd opened before the
 * chroot is used as it is. */
static _Atomic int jailed;
/* A fork child's copy of its parent's fd: used (O_APPEND keeps the lines of
 * both whole) when the child cannot open its own (a privilege drop into a
 * root-owned directory, RLIMIT_NOFILE 0, a chroot). */
static _Atomic int inherited_fd = -1;
static _Atomic uint64_t inherited_id;
/* 1: file_fd is used as it is (jailed or inherited): no rotation reopen. */
static _Atomic int pinned;

/* Records due while the process had no file descriptor free to open the
 * destination with (EMFILE, ENFILE: a server at its RLIMIT_NOFILE, whose
 * accept() failures are records of their own). No fd is taken from the host
 * in advance, which would change when it hits its limit; the records wait
 * here, whole lines in static memory, and are written as soon as the
 * destination can be opened: at the next record, or when the program closes
 * a descriptor (sink_fd_freed). What does not fit is counted: under its key
 * for the next summary record (the writer's ratelimit_sent), and as a total
 * said on stderr once the held lines are out (or at exit or exec, when the
 * held lines themselves go to stderr if the destination still cannot be
 * opened). */
#define HELD_MAX 16384
static char held[HELD_MAX];
static size_t held_len;       /* whole lines; only under held_lock */
static _Atomic int held_lock; /* try-lock: a signal handler never waits for it */
static _Atomic uint64_t held_dropped;
_Atomic int sink_held; /* nonzero while lines are held or were dropped */

/* An open failed for want of a file descriptor: no warning, no fallback to
 * stderr (the records are held instead). */
static int out_of_fds(int err)
{
    return err == EMFILE || err == ENFILE;
}

/* sink_fd() when the destination cannot be opened for want of a descriptor. */
#define SINK_NO_FD (-2)

#define WRITE_STALL_MS 2000 /* total wait for a full non-blocking destination */
/* rsyslog's and syslog-ng's default message limit is 8 KiB with the header;
 * a line this long (newline included) arrives whole. */
#define SYSLOG_LINE_MAX 8000
/* Larger journal records go in a memfd (the datagram limit is the socket's
 * send buffer, often 208 KiB; stay well below it). */
#define JOURNAL_DGRAM_MAX (96 * 1024)

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

void sink_configure(const char *spec)
{
    kind = SINK_FILE;
    is_default = 0;
    configured = 1;
    if (!spec || !*spec) {
        /* %u: the effective uid when the file is opened, so a process that
         * dropped privileges writes where its new user may. */
        strcpy(tmpl, "/tmp/rstwatch-%u/%p.jsonl");
        is_default = 1;
    } else if (!strcmp(spec, "stderr")) {
        kind = SINK_STDERR;
    } else if (!strcmp(spec, "syslog") || !strncmp(spec, "syslog:", 7)) {
        kind = SINK_SYSLOG;
        const char *p = spec[6] ? spec + 7 : "/dev/log";
        strncpy(sock_path, *p ? p : "/dev/log", sizeof sock_path - 1);
    } else if (!strcmp(spec, "journal") || !strncmp(spec, "journal:", 8)) {
        kind = SINK_JOURNAL;
        const char *p = spec[7] ? spec + 8 : "/run/systemd/journal/socket";
        strncpy(sock_path, *p ? p : "/run/systemd/journal/socket", sizeof sock_path - 1);
    } else if (!strncmp(spec, "fd:", 3) && all_digits(spec + 3)) {
        kind = SINK_FD;
        int fd = 0;
        for (const char *p = spec + 3; *p && fd < (1 << 20); p++)
            fd = fd * 10 + (*p - '0');
        target_fd = fd;
    } else {
        size_t n = strlen(spec);
        if (n >= sizeof tmpl) n = sizeof tmpl - 1;
        memcpy(tmpl, spec, n);
        tmpl[n] = 0;
    }
}

static ssize_t write_nosigpipe(int fd, const char *p, size_t len);
/* 1 when RLIMIT_FSIZE was finite as a seccomp filter went in (see
 * write_nosigpipe). */
static atomic_int fsize_limited;

void sink_set_journal_stream(const char *value)
{
    journal_stream_dev = journal_stream_ino = 0;
    if (!value) return;
    uint64_t dev = 0, ino = 0;
    const char *p = value;
    for (; *p >= '0' && *p <= '9'; p++)
        dev = dev * 10 + (uint64_t)(*p - '0');
    if (*p++ != ':' || p == value + 1) return;
    for (; *p >= '0' && *p <= '9'; p++)
        ino = ino * 10 + (uint64_t)(*p - '0');
    if (*p || !ino) return;
    journal_stream_dev = dev, journal_stream_ino = ino;
}

/* May the shim write to fd 2? Only a terminal (or another character device,
 * /dev/null), a regular file, a pipe, or systemd's journal stream: never a
 * socket the program talks on, never a closed fd. One fstat; under a filter,
 * the verdict taken before it. */
static int stderr_usable(void)
{
    if (sandbox_filtered()) return atomic_load(&stderr_verdict) == 1;
    struct stat st;
    int ok = 0;
    if (fstat(2, &st) == 0) {
        if (S_ISSOCK(st.st_mode))
            ok = journal_stream_ino && (uint64_t)st.st_dev == journal_stream_dev &&
                 (uint64_t)st.st_ino == journal_stream_ino;
        else
            ok = S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode);
    }
    atomic_store(&stderr_verdict, ok);
    return ok;
}

/* Writes a whole line to fd 2 if it may take one (stderr_usable); 0 or -errno,
 * -ENOTTY when fd 2 is not for the shim. */
static int write_all(int fd, const char *p, size_t len);
static int write_stderr(const char *p, size_t len)
{
    if (!stderr_usable()) return -ENOTTY;
    return write_all(2, p, len);
}

void sink_warn(const char *msg)
{
    char line[512];
    struct strbuf b;
    sb_init(&b, line, sizeof line - 1);
    sb_puts(&b, "rstwatch: ");
    sb_puts(&b, msg);
    if (b.overflow) b.len = sizeof line - 1, b.overflow = 0;
    for (size_t i = 0; i < b.len; i++) /* one line, no terminal escapes */
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f) line[i] = '?';
    line[b.len++] = '\n';
    int saved = errno;
    (void)!write_stderr(line, b.len);
    errno = saved;
}

/* Warning "<what> <path>: <strerror>; ...". */
static void warn_path(const char *what, const char *path, int err, const char *then)
{
    if (atomic_exchange(&warned_open, 1)) return; /* another thread already said it */
    char msg[480];
    struct strbuf b;
    sb_init(&b, msg, sizeof msg);
    sb_puts(&b, what);
    sb_putc(&b, ' ');
    sb_puts(&b, path);
    if (err) {
        sb_puts(&b, ": ");
        const char *s = strerrordesc_np(err);
        sb_puts(&b, s ? s : "error");
    }
    sb_puts(&b, then);
    sink_warn(sb_cstr(&b));
}

int sink_expand(const char *t, char *out, size_t len)
{
    struct strbuf b;
    sb_init(&b, out, len ? len - 1 : 0);
    for (; *t; t++) {
        if (*t != '%' || !t[1]) {
            sb_putc(&b, *t);
            continue;
        }
        t++;
        if (*t == 'p')
            sb_putu(&b, (uint64_t)sandbox_pid());
        else if (*t == 't')
            sb_putu(&b, (uint64_t)time(NULL));
        else if (*t == 'h') {
            struct utsname u;
            sb_puts(&b, uname(&u) == 0 ? u.nodename : "unknown");
        } else if (*t == 'u')
            sb_putu(&b, (uint64_t)geteuid());
        else if (*t == '%')
            sb_putc(&b, '%');
        else
            sb_putc(&b, '%'), sb_putc(&b, *t);
    }
    if (b.overflow) return -ENAMETOOLONG;
    out[b.len] = 0;
    return 0;
}

/* mkdir -p for the parents of path's last component; new directories 0700. */
static void make_parents(char *dir)
{
    for (char *p = dir + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        mkdir(dir, 0700);
        *p = '/';
    }
    mkdir(dir, 0700);
}

/* Opens the expanded file safely into path (opened_path's size); returns the fd or -1 after
 * one warning. */
static int open_log_file(char *path, int *no_fd)
{
    if (sink_expand(tmpl, path, sizeof opened_path) < 0) {
        warn_path("log path too long:", tmpl, 0, "; writing records to stderr");
        return -1;
    }
    char *slash = strrchr(path, '/');
    char dir[512];
    const char *name = path;
    if (slash) {
        size_t n = (size_t)(slash - path);
        if (n == 0) n = 1; /* "/file" */
        memcpy(dir, path, n);
        dir[n] = 0;
        name = slash + 1;
    } else {
        strcpy(dir, ".");
    }
    if (!*name) {
        warn_path("log path names a directory:", path, 0, "; writing records to stderr");
        return -1;
    }
    make_parents(dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (dfd < 0 && (errno == ENOTDIR || errno == ELOOP) && lstat(dir, &st) == 0 &&
        S_ISLNK(st.st_mode)) {
        /* systemd's DynamicUser= makes /var/log/NAME a root-owned symlink
         * into private/: follow a link that root or we own, nobody else's. */
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
            warn_path("refusing log directory", dir, 0,
                      " (a symlink owned by another user); writing records to stderr");
            return -1;
        }
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (dfd < 0 && out_of_fds(errno)) {
        *no_fd = 1;
        return -1;
    }
    if (dfd < 0) {
        warn_path("cannot use log directory", dir, errno, "; writing records to stderr");
        return -1;
    }
    if (fstat(dfd, &st) < 0 || st.st_uid != geteuid()) {
        real_close(dfd);
        warn_path("refusing log directory", dir, 0,
                  " (owned by another user); writing records to stderr");
        return -1;
    }
    if (is_default && (st.st_mode & 077)) fchmod(dfd, 0700);
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                    0600);
    int err = errno;
    real_close(dfd);
    if (fd < 0 && out_of_fds(err)) {
        *no_fd = 1;
        return -1;
    }
    if (fd < 0) {
        warn_path("cannot open log file", path, err, "; writing records to stderr");
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        real_close(fd);
        warn_path("refusing log file", path, 0,
                  " (not a regular file of ours); writing records to stderr");
        return -1;
    }
    return fd;
}

static int open_socket(int *no_fd)
{
    int fd = real_socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *no_fd = out_of_fds(errno);
        return -1;
    }
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, sock_path, sizeof sock_path);
    if (real_connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        warn_path(kind == SINK_SYSLOG ? "cannot reach syslog at" : "cannot reach journald at",
                  sock_path, errno, "; writing records to stderr");
        real_close(fd);
        return -1;
    }
    return fd;
}

/* Which file an fd is: st_dev and st_ino folded into one word; 0 when the
 * fd is not open. */
static uint64_t stat_identity(const struct stat *st)
{
    uint64_t id = ((uint64_t)st->st_dev * 0x9e3779b97f4a7c15ull) ^ (uint64_t)st->st_ino;
    return id ? id : 1;
}

static uint64_t file_identity(int fd)
{
    struct stat st;
    return fstat(fd, &st) < 0 ? 0 : stat_identity(&st);
}

/* 0 when fd is no longer the file whose identity is id: the program closed
 * it and maybe reused the number, so the fd is not ours to write or close.
 * An identity not yet published (id 0, a first open racing) counts as ours. */
static int still_ours(int fd, uint64_t id)
{
    return !id || file_identity(fd) == id;
}

/* Closes fd if it is still the shim's file id (never a number the program
 * took back). */
static void close_if_ours(int fd, uint64_t id)
{
    if (fd >= 0 && id && still_ours(fd, id)) real_close(fd);
}

/* Closes the fd a reopen replaced, once no writer may still hold it. */
static void close_retired(void)
{
    if (atomic_load(&retired_fd) < 0 || atomic_load(&writers) != 0) return;
    uint64_t id = atomic_load(&retired_id);
    int fd = atomic_exchange(&retired_fd, -1);
    close_if_ours(fd, id);
}

/* Log rotation: the path no longer names the open file -> reopen. Returns the
 * fd to write to. Called with writers counted. */
static int check_rotated(int fd)
{
    if (atomic_exchange(&reopening, 1)) {
        /* Another thread is at it: keep to our fd while it is ours, else take
         * the one that thread opens (stderr if it cannot; the wait is bounded,
         * as this may be a signal handler that interrupted that thread). */
        if (still_ours(fd, atomic_load(&file_id))) return fd;
        for (int i = 0; i < 1000 && atomic_load(&reopening); i++)
            sched_yield();
        int nfd = atomic_load(&file_fd);
        return nfd >= 0 && nfd != fd ? nfd : 2;
    }
    struct stat now;
    uint64_t ours = file_identity(fd), want = atomic_load(&file_id);
    /* The program closed our fd (and maybe took the number back): open anew,
     * and leave that number alone. */
    int lost = !ours || (want && ours != want);
    int moved = lost;
    if (!lost) {
        if (stat(opened_path, &now) < 0)
            moved = errno == ENOENT; /* EACCES after a privilege drop: not a rotation */
        else
            moved = stat_identity(&now) != ours;
    }
    if (moved) {
        char new_path[sizeof opened_path];
        /* open_log_file's own warnings say "writing to stderr": not so after
         * a rotation (the moved file still takes records), but so when the
         * fd is lost */
        int saved_warned = lost ? -1 : atomic_exchange(&warned_open, 1);
        int no_fd = 0;
        int nfd = open_log_file(new_path, &no_fd);
        if (saved_warned >= 0) atomic_store(&warned_open, saved_warned);
        if (nfd < 0 && lost) {
            atomic_store(&file_id, 0);
            atomic_store(&file_fd, -1);
            atomic_store(&fell_back, 1); /* open_log_file said so */
            fd = 2;
        } else if (nfd < 0) {
            if (!atomic_exchange(&warned_rotate, 1)) {
                char msg[480];
                struct strbuf b;
                sb_init(&b, msg, sizeof msg);
                sb_puts(&b, "log file ");
                sb_puts(&b, opened_path);
                sb_puts(&b, " was moved and cannot be reopened; still writing to the moved file");
                sink_warn(sb_cstr(&b));
            }
        } else {
            memcpy(opened_path, new_path, sizeof opened_path);
            uint64_t old_id = atomic_exchange(&file_id, file_identity(nfd));
            int old = atomic_exchange(&file_fd, nfd);
            if (!lost) { /* a lost fd is the program's now: never closed here */
                uint64_t prev_id = atomic_exchange(&retired_id, old_id);
                int prev = atomic_exchange(&retired_fd, old);
                close_if_ours(prev, prev_id); /* two rotations within one write: rare */
            }
            fd = nfd;
        }
    }
    atomic_store(&reopening, 0);
    return fd;
}

/* Under a seccomp filter: the fd opened before it, as it is (no rotation
 * check, no identity check, no open); -1 when there is none. */
static int sink_fd_filtered(void)
{
    if (atomic_load(&fell_back) || kind == SINK_STDERR) return 2;
    if (kind == SINK_FD) return target_fd;
    return atomic_load(&file_fd);
}

/* The fd records go to; 2 means stderr (also the fallback), -1 nowhere. */
static int sink_fd(void)
{
    if (sandbox_filtered()) return sink_fd_filtered();
    if (atomic_load(&fell_back)) return 2;
    switch (kind) {
    case SINK_STDERR: return 2;
    case SINK_FD: return target_fd;
    case SINK_FILE:
    case SINK_SYSLOG:
    case SINK_JOURNAL: break;
    }
    int fd = atomic_load(&file_fd);
    if (fd >= 0 && atomic_load(&pinned)) {
        if (still_ours(fd, atomic_load(&file_id))) return fd;
        atomic_store(&fell_back, 1); /* closed by the program, and nothing may be opened */
        return 2;
    }
    if (fd >= 0 && kind == SINK_FILE) return check_rotated(fd);
    if (fd >= 0 && still_ours(fd, atomic_load(&file_id))) return fd;
    if (fd >= 0) { /* the program closed our socket: connect anew, leave its fd alone */
        int expected = fd;
        if (atomic_compare_exchange_strong(&file_fd, &expected, -1)) atomic_store(&file_id, 0);
    }
    char path[sizeof opened_path];
    int have_inherited = atomic_load(&inherited_fd) >= 0;
    fd = -1;
    int no_fd = 0;
    if (!atomic_load(&jailed)) {
        /* With the parent's fd to fall back on, a refusal is no news. */
        int saved_warned = have_inherited ? atomic_exchange(&warned_open, 1) : -1;
        fd = kind == SINK_FILE ? open_log_file(path, &no_fd) : open_socket(&no_fd);
        if (saved_warned >= 0) atomic_store(&warned_open, saved_warned);
    }
    if (fd < 0 && have_inherited) {
        uint64_t id = atomic_exchange(&inherited_id, 0);
        int ifd = atomic_exchange(&inherited_fd, -1);
        int expected = -1;
        if (ifd >= 0 && still_ours(ifd, id) &&
            atomic_compare_exchange_strong(&file_fd, &expected, ifd)) {
            atomic_store(&file_id, id);
            atomic_store(&pinned, 1);
            return ifd;
        }
        if (expected >= 0) return expected; /* another thread published one */
    }
    if (fd < 0 && no_fd) return SINK_NO_FD; /* held until a descriptor is free: no fallback */
    if (fd < 0) {
        atomic_store(&fell_back, 1);
        return 2;
    }
    if (have_inherited) { /* our own file now: the parent's copy goes */
        uint64_t id = atomic_exchange(&inherited_id, 0);
        close_if_ours(atomic_exchange(&inherited_fd, -1), id);
    }
    int expected = -1;
    if (!atomic_compare_exchange_strong(&file_fd, &expected, fd)) {
        real_close(fd); /* another thread won the race; use its fd */
        return expected;
    }
    atomic_store(&file_id, file_identity(fd));
    if (kind == SINK_FILE) {
        /* The winner alone publishes the path, then lets rotation checks begin. */
        memcpy(opened_path, path, sizeof opened_path);
        atomic_store(&reopening, 0);
    }
    return fd;
}

/* One write() with SIGPIPE and SIGXFSZ blocked; a signal this write raised is
 * consumed (one already pending for the app is left alone). A pipe whose
 * reader is gone raises SIGPIPE; a file at the process's RLIMIT_FSIZE (a
 * sandboxed child: OpenSSH's pre-auth child sets it to 0) raises SIGXFSZ,
 * whose default action kills the host. errno as write() sets it. Under a
 * seccomp filter only the write() (no signal mask calls), and none at all
 * when a file size limit was in force as the filter went in (fsize_limited):
 * the record is dropped rather than the host killed. */
static ssize_t write_nosigpipe(int fd, const char *p, size_t len)
{
    if (sandbox_filtered()) {
        if (atomic_load(&fsize_limited)) {
            errno = EFBIG;
            return -1;
        }
        return real_write(fd, p, len);
    }
    sigset_t set, old, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigaddset(&set, SIGXFSZ);
    sigemptyset(&pending);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    sigpending(&pending);
    ssize_t n = real_write(fd, p, len);
    int err = errno;
    int raised = n < 0 && err == EPIPE ? SIGPIPE : n < 0 && err == EFBIG ? SIGXFSZ : 0;
    if (raised && !sigismember(&pending, raised)) {
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, raised);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&one, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return n;
}

/* Writes all len bytes (waiting out a full pipe for a while): 0 or -errno. */
static int write_all(int fd, const char *p, size_t len)
{
    size_t done = 0;
    int stalled_ms = 0;
    while (done < len) {
        ssize_t n = write_nosigpipe(fd, p + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN && stalled_ms < WRITE_STALL_MS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (sandbox_filtered()) return -EAGAIN;
            real_poll(&pfd, 1, 100);
            stalled_ms += 100;
            continue;
        }
        if (n == 0) return -EIO;
        if (n < 0) return -errno;
        done += (size_t)n;
    }
    return 0;
}

/* One journald field: "KEY=value\n", or for a value with a newline
 * "KEY\n" + 64-bit little-endian length + value + "\n". Uses 3 iovecs. */
static size_t journal_field(struct iovec *iov, char *hdr, const char *key, const char *v, size_t n)
{
    size_t k = strlen(key);
    memcpy(hdr, key, k);
    if (memchr(v, '\n', n)) {
        hdr[k] = '\n';
        for (int i = 0; i < 8; i++)
            hdr[k + 1 + i] = (char)((uint64_t)n >> (8 * i));
        iov[0] = (struct iovec){hdr, k + 9};
    } else {
        hdr[k] = '=';
        iov[0] = (struct iovec){hdr, k + 1};
    }
    iov[1] = (struct iovec){(void *)v, n};
    iov[2] = (struct iovec){(void *)"\n", 1};
    return 3;
}

#define JOURNAL_FIELDS 9

/* Sends one record to journald; returns 0 or -errno. */
static int journal_send(int fd, const char *line, size_t len, const struct sink_fields *f)
{
    struct iovec iov[JOURNAL_FIELDS * 3];
    char hdr[JOURNAL_FIELDS][32];
    char prio[2] = {(char)('0' + (f && f->priority >= 0 && f->priority <= 7 ? f->priority : 6)), 0};
    size_t n = 0, h = 0;
    const char *msg = f && f->message ? f->message : "rstwatch record";
    n += journal_field(iov + n, hdr[h++], "MESSAGE", msg, strlen(msg));
    n += journal_field(iov + n, hdr[h++], "PRIORITY", prio, 1);
    n += journal_field(iov + n, hdr[h++], "SYSLOG_IDENTIFIER", "rstwatch", 8);
    n += journal_field(iov + n, hdr[h++], "RSTWATCH_JSON", line, len);
    const char *keys[] = {"RSTWATCH_TYPE", "RSTWATCH_CAUSE", "RSTWATCH_PEER", "RSTWATCH_ERRNO"};
    const char *vals[] = {f ? f->type : NULL, f ? f->cause : NULL, f ? f->peer : NULL,
                          f ? f->err : NULL};
    for (int i = 0; i < 4; i++)
        if (vals[i] && *vals[i])
            n += journal_field(iov + n, hdr[h++], keys[i], vals[i], strlen(vals[i]));
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += iov[i].iov_len;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = n};
    if (total <= JOURNAL_DGRAM_MAX) {
        if (real_sendmsg(fd, &mh, MSG_NOSIGNAL) >= 0) return 0;
        if (errno != EMSGSIZE && errno != ENOBUFS) return -errno;
    }
    /* Too big for a datagram: the same bytes in a sealed memfd. */
    int mfd = (int)syscall(SYS_memfd_create, "rstwatch-record", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0) return -errno;
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        size_t done = 0;
        while (done < iov[i].iov_len) {
            ssize_t w =
                real_write(mfd, (const char *)iov[i].iov_base + done, iov[i].iov_len - done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                rc = w < 0 ? -errno : -EIO;
                break;
            }
            done += (size_t)w;
        }
    }
    if (!rc && syscall(SYS_fcntl, mfd, F_ADD_SEALS,
                       F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
        rc = -errno;
    if (!rc) {
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(int))];
        } cm;
        memset(&cm, 0, sizeof cm);
        struct msghdr fm = {.msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
        struct cmsghdr *c = CMSG_FIRSTHDR(&fm);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &mfd, sizeof mfd);
        if (real_sendmsg(fd, &fm, MSG_NOSIGNAL) < 0) rc = -errno;
    }
    real_close(mfd);
    return rc;
}

int sink_write(const char *line, size_t len)
{
    return sink_write_record(line, len, NULL);
}

/* Keeps a whole line for later (see held); 0, or -ENOBUFS when it was
 * counted as dropped instead. */
static int hold_line(const char *line, size_t len)
{
    int rc = -ENOBUFS;
    atomic_store(&sink_held, 1);
    if (!atomic_exchange(&held_lock, 1)) {
        if (len <= HELD_MAX - held_len) {
            memcpy(held + held_len, line, len);
            held_len += len;
            rc = 0;
        }
        atomic_store(&held_lock, 0);
    }
    if (rc) atomic_fetch_add(&held_dropped, 1);
    return rc;
}

static int emit(int fd, const char *line, size_t len, const struct sink_fields *f);

/* Writes the held lines to fd, one emit each (fd 2: the fallback), and says
 * how many records were dropped. Called with writers counted. */
static void release_held(int fd)
{
    if (atomic_exchange(&held_lock, 1)) return; /* being held or released right now */
    size_t at = 0;
    while (at < held_len) {
        const char *nl = memchr(held + at, '\n', held_len - at);
        size_t n = (size_t)(nl - (held + at)) + 1; /* held lines always end in '\n' */
        if (emit(fd, held + at, n, NULL) != 0) {
            if (fd != 2) break; /* kept for the next try */
            /* Nowhere at all (stderr is the program's socket): count them. */
            for (size_t k = at; k < held_len; k++)
                if (held[k] == '\n') atomic_fetch_add(&held_dropped, 1);
            at = held_len;
            break;
        }
        at += n;
    }
    memmove(held, held + at, held_len - at);
    held_len -= at;
    uint64_t dropped = held_len ? 0 : atomic_exchange(&held_dropped, 0);
    if (!held_len && !atomic_load(&held_dropped)) atomic_store(&sink_held, 0);
    atomic_store(&held_lock, 0);
    if (dropped) {
        char msg[160];
        struct strbuf b;
        sb_init(&b, msg, sizeof msg);
        sb_putu(&b, dropped);
        sb_puts(&b, dropped == 1 ? " record was" : " records were");
        sb_puts(&b, " dropped while the process had no file descriptor free for the log");
        sink_warn(sb_cstr(&b));
    }
}

void sink_fd_freed(void)
{
    int saved = errno;
    atomic_fetch_add(&writers, 1);
    int fd = sink_fd();
    if (fd >= 0) release_held(fd);
    if (atomic_fetch_sub(&writers, 1) == 1) close_retired();
    errno = saved;
}

void sink_last_chance(void)
{
    if (!atomic_load(&sink_held)) return;
    int saved = errno;
    atomic_fetch_add(&writers, 1);
    int fd = sink_fd();
    release_held(fd >= 0 ? fd : 2); /* still no descriptor: stderr, not lost */
    if (atomic_fetch_sub(&writers, 1) == 1) close_retired();
    errno = saved;
}

int sink_write_record(const char *line, size_t len, const struct sink_fields *f)
{
    int saved = errno;
    int rc = 0;
    atomic_fetch_add(&writers, 1);
    int fd = sink_fd();
    if (fd == SINK_NO_FD) {
        rc = hold_line(line, len);
        goto out;
    }
    if (fd < 0) {
        rc = -EBADF; /* under a filter, no log fd was opened before it */
        goto out;
    }
    if (atomic_load(&sink_held)) release_held(fd); /* in order: the held ones first */
    rc = emit(fd, line, len, f);
out:
    if (atomic_fetch_sub(&writers, 1) == 1) close_retired();
    errno = saved;
    return rc;
}

/* Writes one line to fd (2: stderr, the fallback), falling back to stderr
 * on a failure with one warning. 0 or -errno. */
static int emit(int fd, const char *line, size_t len, const struct sink_fields *f)
{
    int rc;
    if (kind == SINK_SYSLOG && fd != 2) {
        char msg[64];
        struct strbuf b;
        sb_init(&b, msg, sizeof msg);
        sb_puts(&b, "<14>rstwatch[");
        sb_putu(&b, (uint64_t)sandbox_pid());
        sb_puts(&b, "]: ");
        struct iovec iov[2] = {{msg, b.len}, {(void *)line, len - 1}};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
        rc = real_sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
    } else if (kind == SINK_JOURNAL && fd != 2) {
        rc = journal_send(fd, line, len - 1, f);
    } else if (fd == 2) {
        rc = write_stderr(line, len);
        if (rc == -ENOTTY) return rc; /* fd 2 is the program's stream: nowhere to go */
    } else {
        rc = write_all(fd, line, len);
    }
    if (rc == 0 || sandbox_filtered()) return rc; /* no fallback under a filter */
    if (!atomic_exchange(&warned_write, 1)) {
        atomic_store(&warned_open, 0); /* a distinct failure: says so once too */
        warn_path("cannot write a record to",
                  kind == SINK_FD                               ? "the log fd"
                  : kind == SINK_SYSLOG || kind == SINK_JOURNAL ? sock_path
                                                                : tmpl,
                  -rc, "; writing records to stderr from now on");
    }
    atomic_store(&fell_back, 1);
    if (fd != 2 && write_stderr(line, len) == 0) rc = 0;
    return rc;
}

size_t sink_line_limit(void)
{
    return kind == SINK_SYSLOG && !atomic_load(&fell_back) ? SYSLOG_LINE_MAX : 0;
}

/* Opens a file, syslog or journal destination now, unless it is open. */
static void open_now(void)
{
    if (!configured || kind == SINK_STDERR || kind == SINK_FD || atomic_load(&file_fd) >= 0 ||
        atomic_load(&fell_back) || sandbox_filtered())
        return;
    int saved = errno;
    atomic_fetch_add(&writers, 1);
    (void)sink_fd();
    if (atomic_fetch_sub(&writers, 1) == 1) close_retired();
    errno = saved;
}

void sink_before_filter(void)
{
    /* The last moment to ask: a limit set before the filter (OpenSSH sets
     * RLIMIT_FSIZE 0, then installs its filter) would make the record's
     * write raise SIGXFSZ, which no signal mask call may then hold back. */
    struct rlimit fsize;
    if (getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur != RLIM_INFINITY)
        atomic_store(&fsize_limited, 1);
    open_now();
    (void)stderr_usable(); /* the verdict the filtered process keeps */
}

void sink_before_uid_change(void)
{
    if (kind == SINK_FILE) open_now();
}

void sink_before_chroot(void)
{
    open_now();
    (void)stderr_usable();
}

void sink_after_chroot(void)
{
    atomic_store(&jailed, 1);
    if (atomic_load(&file_fd) >= 0) atomic_store(&pinned, 1);
}

void sink_atfork_child(void)
{
    /* Held records are the parent's to write, not written twice. */
    held_len = 0;
    atomic_store(&held_lock, 0);
    atomic_store(&held_dropped, 0);
    atomic_store(&sink_held, 0);
    /* Under a filter the child opens nothing: it keeps writing to this fd. */
    if (sandbox_filtered()) return;
    /* The parent's fd becomes the child's fallback (its own file is opened
     * at its first record, so %p names the child). */
    uint64_t id = atomic_exchange(&file_id, 0);
    int fd = atomic_exchange(&file_fd, -1);
    uint64_t old_id = atomic_exchange(&inherited_id, id);
    close_if_ours(atomic_exchange(&inherited_fd, fd), old_id); /* a grandparent's */
    atomic_store(&pinned, 0);
    id = atomic_exchange(&retired_id, 0);
    close_if_ours(atomic_exchange(&retired_fd, -1), id);
    atomic_store(&writers, 0);
    atomic_store(&reopening, 1); /* until the child's first open publishes its path */
}

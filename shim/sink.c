/* sink.c: record destinations (see sink.h).
 *
 * File safety: the directory is created 0700 if missing, then opened with
 * O_NOFOLLOW and checked (a real directory, owned by us); the file is created
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
 * or path with a newline or a terminal escape) are shown as '?'. */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "real.h"
#include "strbuf.h"

enum sink_kind { SINK_FILE, SINK_STDERR, SINK_FD, SINK_SYSLOG };

static enum sink_kind kind = SINK_FILE;
static char tmpl[512];
static int is_default;
static int target_fd = 2;        /* SINK_FD */
static _Atomic int file_fd = -1; /* SINK_FILE / SINK_SYSLOG, opened lazily */
static _Atomic int fell_back;    /* 1: writing to stderr after a failure */
static _Atomic int warned_write;
static _Atomic int warned_open; /* racing first records: one warning, not one per thread */

#define WRITE_STALL_MS 2000 /* total wait for a full non-blocking destination */

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
    if (!spec || !*spec) {
        struct strbuf b;
        sb_init(&b, tmpl, sizeof tmpl);
        sb_puts(&b, "/tmp/rstwatch-");
        sb_putu(&b, (uint64_t)geteuid());
        sb_puts(&b, "/%p.jsonl");
        sb_cstr(&b);
        is_default = 1;
    } else if (!strcmp(spec, "stderr")) {
        kind = SINK_STDERR;
    } else if (!strcmp(spec, "syslog")) {
        kind = SINK_SYSLOG;
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
    (void)!write_nosigpipe(2, line, b.len);
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
            sb_putu(&b, (uint64_t)syscall(SYS_getpid));
        else if (*t == 't')
            sb_putu(&b, (uint64_t)time(NULL));
        else if (*t == 'h') {
            struct utsname u;
            sb_puts(&b, uname(&u) == 0 ? u.nodename : "unknown");
        } else if (*t == '%')
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

/* Opens the expanded file safely; returns the fd or -1 after one warning. */
static int open_log_file(void)
{
    char path[512];
    if (sink_expand(tmpl, path, sizeof path) < 0) {
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
    if (dfd < 0) {
        warn_path("cannot use log directory", dir, errno, "; writing records to stderr");
        return -1;
    }
    struct stat st;
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

static int open_syslog(void)
{
    int fd = real_socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_un sun = {.sun_family = AF_UNIX, .sun_path = "/dev/log"};
    if (real_connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        warn_path("cannot reach syslog at", "/dev/log", errno, "; writing records to stderr");
        real_close(fd);
        return -1;
    }
    return fd;
}

/* The fd records go to; -1 means "fall back to stderr". */
static int sink_fd(void)
{
    if (atomic_load(&fell_back)) return 2;
    switch (kind) {
    case SINK_STDERR: return 2;
    case SINK_FD: return target_fd;
    case SINK_FILE:
    case SINK_SYSLOG: break;
    }
    int fd = atomic_load(&file_fd);
    if (fd >= 0) return fd;
    fd = kind == SINK_FILE ? open_log_file() : open_syslog();
    if (fd < 0) {
        atomic_store(&fell_back, 1);
        return 2;
    }
    int expected = -1;
    if (!atomic_compare_exchange_strong(&file_fd, &expected, fd)) {
        real_close(fd); /* another thread won the race; use its fd */
        return expected;
    }
    return fd;
}

/* One write() with SIGPIPE blocked; a SIGPIPE this write raised is consumed
 * (one already pending for the app is left alone). errno as write() sets it. */
static ssize_t write_nosigpipe(int fd, const char *p, size_t len)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigemptyset(&pending);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    ssize_t n = real_write(fd, p, len);
    int err = errno;
    if (n < 0 && err == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return n;
}

static ssize_t write_all(int fd, const char *p, size_t len)
{
    size_t done = 0;
    int stalled_ms = 0;
    while (done < len) {
        ssize_t n = write_nosigpipe(fd, p + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN && stalled_ms < WRITE_STALL_MS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            real_poll(&pfd, 1, 100);
            stalled_ms += 100;
            continue;
        }
        if (n == 0) errno = EIO;
        if (n <= 0) return -1;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

int sink_write(const char *line, size_t len)
{
    int saved = errno;
    int rc = 0;
    int fd = sink_fd();
    if (kind == SINK_SYSLOG && fd != 2) {
        char msg[64];
        struct strbuf b;
        sb_init(&b, msg, sizeof msg);
        sb_puts(&b, "<14>rstwatch[");
        sb_putu(&b, (uint64_t)syscall(SYS_getpid));
        sb_puts(&b, "]: ");
        struct iovec iov[2] = {{msg, b.len}, {(void *)line, len - 1}};
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
        if (real_sendmsg(fd, &mh, MSG_NOSIGNAL) >= 0) goto out;
    } else if (write_all(fd, line, len) >= 0) {
        goto out;
    }
    rc = -errno;
    if (!atomic_exchange(&warned_write, 1)) {
        atomic_store(&warned_open, 0); /* a distinct failure: says so once too */
        warn_path("cannot write a record to", kind == SINK_FD ? "the log fd" : tmpl, -rc,
                  "; writing records to stderr from now on");
    }
    atomic_store(&fell_back, 1);
    if (fd != 2 && write_all(2, line, len) >= 0) rc = 0;
out:
    errno = saved;
    return rc;
}

void sink_atfork_child(void)
{
    int fd = atomic_exchange(&file_fd, -1);
    if (fd >= 0) real_close(fd);
}

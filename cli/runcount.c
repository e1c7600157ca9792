// SPDX-License-Identifier: MIT
/* runcount.c: which records did this `rstwatch run` write? The summary line
 * must count the command's own records only, not those of other programs
 * writing to the same directory at the same time (another rstwatch run, a
 * service with the shim loaded).
 *
 * A record names the process that wrote it ("pid"), so the run counts the
 * records appended during the run whose pid belongs to its process tree: the
 * child, and every process descended from this wrapper (the wrapper is a
 * child subreaper, so even a daemon that double-forks stays in the tree).
 * Descendants are known exactly when the kernel's process events connector
 * is available (root: every fork is reported with its parent, before the new
 * process can write anything). Otherwise they are found in /proc at the
 * moment a record lands: inotify on the log directories wakes the wrapper,
 * which walks the parent links of every live process; a record written by a
 * descendant that its own parent has already reaped when the wrapper looks
 * cannot be attributed that way, and is not counted (it is still in the
 * file for `rstwatch report`). A record of unknown pid (0: a child forked
 * under a seccomp filter, writing to the log its parent opened before the
 * filter) counts when its destination is the tree's: the command's own fd,
 * or a file whose name gives a pid of the tree through the template's %p.
 *
 * Destinations: files (the default directories /tmp/rstwatch-<uid>, every
 * uid, since a daemon that drops privileges writes to its new uid's
 * directory; or the directory of an RSTWATCH_LOG path); stderr and fd:N,
 * counted when the fd is a regular file; syslog and journal, which cannot be
 * read back here, get a line saying where the records went. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define MAX_DIRS 64
#define PID_MAX_LIMIT_64 (4 * 1024 * 1024) /* the kernel's ceiling for pid_max */
#define DEFAULT_PARENT "/tmp"
#define DEFAULT_PREFIX "rstwatch-"

enum sink { SINK_FILES, SINK_FD, SINK_SYSLOG, SINK_JOURNAL, SINK_TEMPLATED_DIR };

struct file_size {
    char *name;
    off_t size;
};

struct watched_dir {
    char *path;
    struct file_size *files; /* sorted by name: sizes when the run started */
    size_t count;
};

struct run_count {
    enum sink sink;
    char tmpl[PATH_MAX]; /* RSTWATCH_LOG as given */
    int is_default;
    char parent[PATH_MAX];  /* where a missing log directory will appear */
    char dirname[PATH_MAX]; /* its name there (default: a prefix) */
    char logdir[PATH_MAX];  /* the directory of an RSTWATCH_LOG path */
    struct watched_dir dirs[MAX_DIRS];
    size_t ndirs;
    int ino;
    int parent_wd;  /* the watch on parent, -1 without one */
    int forks;      /* process events connector socket, -1 without one */
    int forks_lost; /* the connector dropped events: /proc scans fill in */
    int forks_live; /* the child's own fork event arrived: the connector works */
    pid_t child;
    /* SINK_FD: the fd and, when it is a regular file, where it ended. */
    int fdnum;
    int fd_is_file;
    dev_t fd_dev;
    ino_t fd_ino;
    off_t fd_start;
    time_t started;
    pid_t self;
    unsigned char *tree; /* bitmap over pids: known to be ours */
    size_t tree_pids;    /* pids the bitmap covers (the kernel's pid_max) */
};

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct file_size *)a)->name, ((const struct file_size *)b)->name);
}

/* The next regular file (links not followed) of an open directory, its stat in *st; NULL at
 * the end. */
static struct dirent *next_regular_file(DIR *dir, struct stat *st)
{
    struct dirent *e;
    while ((e = readdir(dir)))
        if (fstatat(dirfd(dir), e->d_name, st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st->st_mode))
            return e;
    return NULL;
}

/* Records every regular file in the directory with its size. */
static void snapshot_dir(struct watched_dir *d)
{
    DIR *dir = opendir(d->path);
    if (!dir) return;
    size_t cap = 0;
    struct dirent *e;
    struct stat st;
    while ((e = next_regular_file(dir, &st))) {
        if (d->count == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct file_size *nf = realloc(d->files, ncap * sizeof *nf);
            if (!nf) break;
            d->files = nf;
            cap = ncap;
        }
        char *name = strdup(e->d_name);
        if (!name) break;
        d->files[d->count].name = name;
        d->files[d->count++].size = st.st_size;
    }
    closedir(dir);
    if (d->count) qsort(d->files, d->count, sizeof *d->files, by_name);
}

static void watch_dir(struct run_count *rc, const char *path, int snapshot)
{
    for (size_t i = 0; i < rc->ndirs; i++)
        if (!strcmp(rc->dirs[i].path, path)) return;
    if (rc->ndirs == MAX_DIRS) return;
    struct watched_dir *d = &rc->dirs[rc->ndirs];
    memset(d, 0, sizeof *d);
    d->path = strdup(path);
    if (!d->path) return;
    rc->ndirs++;
    if (rc->ino >= 0)
        inotify_add_watch(rc->ino, path, IN_CREATE | IN_MODIFY | IN_MOVED_TO | IN_ONLYDIR);
    if (snapshot) snapshot_dir(d);
}

/* Does a directory entry named name, in the parent, hold records for us? */
static int is_log_dir_name(const struct run_count *rc, const char *name)
{
    if (rc->is_default) { /* rstwatch-<uid> */
        size_t n = strlen(DEFAULT_PREFIX);
        if (strncmp(name, DEFAULT_PREFIX, n) || !name[n]) return 0;
        return strspn(name + n, "0123456789") == strlen(name + n);
    }
    return !strcmp(name, rc->dirname);
}

static void watch_existing_dirs(struct run_count *rc, int snapshot)
{
    DIR *dir = opendir(rc->parent);
    if (!dir) return;
    struct dirent *e;
    while ((e = readdir(dir))) {
        if (!is_log_dir_name(rc, e->d_name)) continue;
        struct stat st;
        if (fstatat(dirfd(dir), e->d_name, &st, 0) < 0 || !S_ISDIR(st.st_mode)) continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", strcmp(rc->parent, "/") ? rc->parent : "",
                     e->d_name) >= (int)sizeof path)
            continue;
        watch_dir(rc, path, snapshot);
    }
    closedir(dir);
}

/* Replaces each %h in path with the host name, as the shim does; the same
 * for every process, so such a directory can still be watched. */
static void expand_host(char *path, size_t len)
{
    struct utsname u;
    char *at = strstr(path, "%h");
    if (!at || uname(&u) < 0) return;
    char out[PATH_MAX];
    size_t o = 0;
    for (const char *p = path; *p && o + 1 < sizeof out;) {
        if (p[0] == '%' && p[1] == 'h') {
            o += (size_t)snprintf(out + o, sizeof out - o, "%s", u.nodename);
            if (o >= sizeof out) return; /* too long: leave it templated */
            p += 2;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = 0;
    if (o < len) memcpy(path, out, o + 1);
}

static void setup_files(struct run_count *rc, const char *log)
{
    if (!log || !*log) {
        rc->is_default = 1;
        snprintf(rc->parent, sizeof rc->parent, "%s", DEFAULT_PARENT);
    } else {
        /* The directory part of the template; a relative name is in the cwd. */
        char dir[PATH_MAX];
        const char *slash = strrchr(log, '/');
        if (!slash)
            snprintf(dir, sizeof dir, ".");
        else
            snprintf(dir, sizeof dir, "%.*s", (int)(slash == log ? 1 : slash - log), log);
        expand_host(dir, sizeof dir);
        if (strchr(dir, '%')) { /* %p or %t: a directory per process or per second */
            rc->sink = SINK_TEMPLATED_DIR;
            return;
        }
        char *base = strrchr(dir, '/');
        if (base && base != dir) {
            snprintf(rc->parent, sizeof rc->parent, "%.*s", (int)(base - dir), dir);
            snprintf(rc->dirname, sizeof rc->dirname, "%s", base + 1);
        } else if (base) {
            snprintf(rc->parent, sizeof rc->parent, "/");
            snprintf(rc->dirname, sizeof rc->dirname, "%s", base + 1);
        } else {
            snprintf(rc->parent, sizeof rc->parent, ".");
            snprintf(rc->dirname, sizeof rc->dirname, "%s", dir);
        }
        struct stat st;
        snprintf(rc->logdir, sizeof rc->logdir, "%s", dir);
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) watch_dir(rc, dir, 1);
        if (!rc->dirname[0] || !strcmp(rc->dirname, ".")) return; /* "/" or "." itself */
    }
    /* A log directory that appears during the run (created at the first record). */
    if (rc->ino >= 0)
        rc->parent_wd =
            inotify_add_watch(rc->ino, rc->parent, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
    if (rc->is_default) watch_existing_dirs(rc, 1);
}

/* Asks the connector to start (PROC_CN_MCAST_LISTEN) or stop sending events. */
static int fork_events_op(int fd, enum proc_cn_mcast_op op)
{
    struct {
        struct nlmsghdr nl;
        struct cn_msg cn;
        enum proc_cn_mcast_op op;
    } __attribute__((packed)) req = {
        .nl = {.nlmsg_len = sizeof req, .nlmsg_type = NLMSG_DONE, .nlmsg_pid = (__u32)getpid()},
        .cn = {.id = {.idx = CN_IDX_PROC, .val = CN_VAL_PROC}, .len = sizeof req.op},
        .op = op,
    };
    return send(fd, &req, sizeof req, 0) == (ssize_t)sizeof req ? 0 : -1;
}

/* Subscribes to the kernel's fork events; -1 without them. Without
 * CAP_NET_ADMIN the subscription may succeed and stay silent: the events
 * count as working only once the child's own fork has been seen. */
static int open_fork_events(void)
{
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
    if (fd < 0) return -1;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC, .nl_pid = 0};
    int rcvbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        fork_events_op(fd, PROC_CN_MCAST_LISTEN) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

struct run_count *run_count_start(void)
{
    struct run_count *rc = calloc(1, sizeof *rc);
    if (!rc) return NULL;
    rc->started = time(NULL);
    rc->self = getpid();
    rc->ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    rc->forks = -1;
    rc->parent_wd = -1;
    /* Orphaned descendants are re-parented to us, so they stay in our tree. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    const char *log = getenv("RSTWATCH_LOG");
    snprintf(rc->tmpl, sizeof rc->tmpl, "%s", log ? log : "");
    if (log && !strcmp(log, "syslog")) {
        rc->sink = SINK_SYSLOG;
    } else if (log && !strcmp(log, "journal")) {
        rc->sink = SINK_JOURNAL;
    } else if (log && (!strcmp(log, "stderr") || !strncmp(log, "fd:", 3))) {
        rc->sink = SINK_FD;
        rc->fdnum = log[0] == 's' ? 2 : atoi(log + 3);
        struct stat st;
        if (fstat(rc->fdnum, &st) == 0 && S_ISREG(st.st_mode)) {
            rc->fd_is_file = 1;
            rc->fd_dev = st.st_dev;
            rc->fd_ino = st.st_ino;
            rc->fd_start = st.st_size;
        }
    } else {
        rc->sink = SINK_FILES;
        setup_files(rc, log);
    }
    rc->forks = open_fork_events(); /* before the fork of the command */
    return rc;
}

static int in_tree(const struct run_count *rc, pid_t pid)
{
    return pid > 0 && (size_t)pid < rc->tree_pids && (rc->tree[pid / 8] >> (pid % 8) & 1);
}

static void add_to_tree(struct run_count *rc, pid_t pid)
{
    if (pid > 0 && (size_t)pid < rc->tree_pids)
        rc->tree[pid / 8] |= (unsigned char)(1u << (pid % 8));
}

void run_count_child(struct run_count *rc, pid_t child)
{
    if (!rc || rc->tree) return;
    /* A bitmap over every possible pid (512 KiB at the 64-bit maximum):
     * constant time per fork event however many processes the command
     * starts in a long run. */
    long pid_max = 0;
    FILE *f = fopen("/proc/sys/kernel/pid_max", "re");
    if (f) {
        if (fscanf(f, "%ld", &pid_max) != 1) pid_max = 0;
        fclose(f);
    }
    if (pid_max <= 0 || pid_max > PID_MAX_LIMIT_64) pid_max = PID_MAX_LIMIT_64;
    rc->tree = calloc((size_t)pid_max / 8 + 1, 1);
    if (!rc->tree) return;
    rc->tree_pids = (size_t)pid_max;
    rc->child = child;
    add_to_tree(rc, rc->self);
    add_to_tree(rc, child);
}

int run_count_fds(const struct run_count *rc, int fds[2])
{
    int n = 0;
    if (rc && rc->forks >= 0) fds[n++] = rc->forks;
    if (rc && rc->sink == SINK_FILES && rc->ino >= 0) fds[n++] = rc->ino;
    return n;
}

/* Adds every live process descended from this wrapper to the tree. */
static void scan_tree(struct run_count *rc)
{
    DIR *proc = opendir("/proc");
    if (!proc) return;
    size_t n = 0, cap = 256;
    pid_t(*links)[2] = malloc(cap * sizeof *links);
    struct dirent *e;
    while (links && (e = readdir(proc))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t got = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (got <= 0) continue;
        buf[got] = 0;
        const char *p = strrchr(buf, ')'); /* the command name may hold ')' */
        int ppid;
        if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1) continue;
        if (n == cap) {
            void *nl = realloc(links, cap * 2 * sizeof *links);
            if (!nl) break;
            links = nl;
            cap *= 2;
        }
        links[n][0] = (pid_t)atoi(e->d_name);
        links[n][1] = (pid_t)ppid;
        n++;
    }
    closedir(proc);
    add_to_tree(rc, rc->self);
    /* Parents may be listed after their children: repeat until nothing is added. */
    for (int added = 1; added && links;) {
        added = 0;
        for (size_t i = 0; i < n; i++)
            if (!in_tree(rc, links[i][0]) && in_tree(rc, links[i][1])) {
                add_to_tree(rc, links[i][0]);
                if (in_tree(rc, links[i][0])) added = 1;
            }
    }
    free(links);
}

/* Adds the children of known processes from the queued fork events. */
static void read_fork_events(struct run_count *rc)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct nlmsghdr))));
    ssize_t len;
    while ((len = recv(rc->forks, buf, sizeof buf, 0)) != 0) {
        if (len < 0) {
            if (errno == EINTR) continue;
            /* ENOBUFS: events were lost; the /proc scans at each record still run. */
            if (errno == ENOBUFS) {
                rc->forks_lost = 1;
                continue;
            }
            break;
        }
        for (struct nlmsghdr *nl = (struct nlmsghdr *)buf; NLMSG_OK(nl, (size_t)len);
             nl = NLMSG_NEXT(nl, len)) {
            struct cn_msg *cn = NLMSG_DATA(nl);
            if (cn->id.idx != CN_IDX_PROC ||
                cn->len > nl->nlmsg_len - NLMSG_HDRLEN - sizeof *cn) /* a malformed message */
                continue;
            /* The event sits at a 4-byte offset; copy it out before reading its 8-byte fields. */
            struct proc_event ev = {0};
            memcpy(&ev, cn->data, cn->len < sizeof ev ? cn->len : sizeof ev);
            if (ev.what != PROC_EVENT_FORK) continue;
            if (ev.event_data.fork.child_pid != ev.event_data.fork.child_tgid)
                continue; /* a thread */
            if (ev.event_data.fork.child_tgid == rc->child) rc->forks_live = 1;
            if (in_tree(rc, ev.event_data.fork.parent_tgid))
                add_to_tree(rc, ev.event_data.fork.child_tgid);
        }
    }
}

void run_count_event(struct run_count *rc)
{
    if (!rc) return;
    if (rc->forks >= 0) read_fork_events(rc);
    if (rc->ino < 0) return;
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t len;
    int log_written = 0;
    while ((len = read(rc->ino, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + len;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->wd == rc->parent_wd) {
                /* Only a log directory appearing matters there, not the
                 * parent's (/tmp's) other traffic. */
                if (!(ev->mask & IN_ISDIR) || !ev->len || !is_log_dir_name(rc, ev->name)) continue;
                char path[PATH_MAX];
                if (snprintf(path, sizeof path, "%s/%s", strcmp(rc->parent, "/") ? rc->parent : "",
                             ev->name) < (int)sizeof path)
                    watch_dir(rc, path, 0); /* new: every file in it is new */
                log_written = 1;
            } else if (!(ev->mask & IN_ISDIR)) {
                log_written = 1;
            }
        }
    }
    /* The writer is running (or has just exited) now: find it in the tree,
     * unless the kernel's fork events already give the whole tree. */
    if (log_written && (!rc->forks_live || rc->forks_lost)) scan_tree(rc);
}

/* A record line of ours: the shim's own prefix (not any JSON an application
 * logs to the same stderr), not a periodic summary of counts, and a pid in
 * the tree; or pid 0 (unknown: a child forked under a seccomp filter, which
 * writes to the fd its parent opened) in a destination the tree opened,
 * when unknown_ours says so. */
static int is_counted_record(const struct run_count *rc, const char *line, int unknown_ours)
{
    static const char prefix[] = "{\"v\":1,\"type\":\"";
    if (strncmp(line, prefix, sizeof prefix - 1)) return 0;
    if (!strncmp(line + sizeof prefix - 1, "summary\"", 8)) return 0;
    const char *pid = strstr(line, "\"pid\":");
    if (!pid) return 0;
    if (pid[6] == '0' && (pid[7] < '0' || pid[7] > '9')) return unknown_ours;
    return in_tree(rc, (pid_t)atol(pid + 6));
}

/* The pid a log file's name gives through the template's %p (the process
 * that opened the file), or 0 when the name gives none. */
static pid_t name_pid(const struct run_count *rc, const char *name)
{
    char tmpl[PATH_MAX];
    const char *slash = strrchr(rc->tmpl, '/');
    snprintf(tmpl, sizeof tmpl, "%s", rc->is_default ? "%p.jsonl" : slash ? slash + 1 : rc->tmpl);
    expand_host(tmpl, sizeof tmpl);
    long pid = 0;
    const char *n = name;
    for (const char *t = tmpl; *t; t++) {
        if (t[0] == '%' && (t[1] == 'p' || t[1] == 't' || t[1] == 'u')) {
            size_t digits = strspn(n, "0123456789");
            if (!digits || digits > 10) return 0;
            if (t[1] == 'p') pid = strtol(n, NULL, 10);
            n += digits, t++;
            continue;
        }
        if (t[0] == '%' && t[1] == '%') t++;
        if (*n++ != *t) return 0;
    }
    return *n || pid > INT_MAX ? 0 : (pid_t)pid;
}

/* Counts the records in fd from offset `from` whose pid is in the tree (and
 * those of unknown pid when unknown_ours). */
static long count_records(const struct run_count *rc, int fd, off_t from, int unknown_ours)
{
    long records = 0;
    char buf[65536];
    size_t have = 0;
    off_t off = from;
    for (;;) {
        ssize_t n = pread(fd, buf + have, sizeof buf - 1 - have, off);
        if (n <= 0) break;
        off += n;
        have += (size_t)n;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
            *nl = 0;
            if (is_counted_record(rc, line, unknown_ours)) records++;
            line = nl + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        if (have == sizeof buf - 1) have = 0; /* a line longer than the buffer: skip it */
    }
    return records;
}

static off_t old_size(const struct watched_dir *d, const char *name)
{
    struct file_size key = {.name = (char *)name};
    const struct file_size *f =
        d->count ? bsearch(&key, d->files, d->count, sizeof *d->files, by_name) : NULL;
    return f ? f->size : 0;
}

static void finish_files(struct run_count *rc)
{
    /* A log directory that did not exist when the run started, and was not
     * seen appearing (its parent was missing too): everything in it is new. */
    struct stat dst;
    if (rc->is_default)
        watch_existing_dirs(rc, 0);
    else if (rc->logdir[0] && stat(rc->logdir, &dst) == 0 && S_ISDIR(dst.st_mode))
        watch_dir(rc, rc->logdir, 0);
    long total = 0, files = 0, dirs_with = 0;
    char last[PATH_MAX] = "", dirs[1024] = "";
    for (size_t i = 0; i < rc->ndirs; i++) {
        struct watched_dir *d = &rc->dirs[i];
        DIR *dir = opendir(d->path);
        if (!dir) continue;
        long in_dir = 0;
        struct dirent *e;
        struct stat st;
        while ((e = next_regular_file(dir, &st))) {
            off_t was = old_size(d, e->d_name);
            if (st.st_size <= was) continue;
            int fd = openat(dirfd(dir), e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            if (fd < 0) continue;
            /* A file named after a process of the tree was opened by it: the
             * records of unknown pid there are its filtered children's. */
            long n = count_records(rc, fd, was, in_tree(rc, name_pid(rc, e->d_name)));
            close(fd);
            if (n <= 0) continue;
            total += n;
            in_dir += n;
            files++;
            snprintf(last, sizeof last, "%s/%s", d->path, e->d_name);
        }
        closedir(dir);
        if (in_dir) {
            size_t used = strlen(dirs);
            snprintf(dirs + used, sizeof dirs - used, "%s%s", used ? " " : "", d->path);
            dirs_with++;
        }
    }
    if (!total) return;
    if (files == 1)
        fprintf(stderr, "rstwatch: %ld record%s written to %s (rstwatch report %s)\n", total,
                total == 1 ? "" : "s", last, last);
    else
        fprintf(stderr, "rstwatch: %ld records written to %ld files in %s (rstwatch report %s)\n",
                total, files, dirs, dirs);
}

static void finish_fd(struct run_count *rc)
{
    const char *name = rc->fdnum == 2 ? "stderr" : NULL;
    char fdname[32];
    if (!name) {
        snprintf(fdname, sizeof fdname, "fd %d", rc->fdnum);
        name = fdname;
    }
    struct stat st;
    char self_fd[64];
    snprintf(self_fd, sizeof self_fd, "/proc/self/fd/%d", rc->fdnum);
    /* Reopened for reading: the fd itself is usually write-only. */
    int fd = rc->fd_is_file ? open(self_fd, O_RDONLY | O_CLOEXEC) : -1;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == rc->fd_dev && st.st_ino == rc->fd_ino) {
        /* The fd is the command's own: a record of unknown pid in it is a
         * filtered child's of the tree. */
        long n = count_records(rc, fd, rc->fd_start, 1);
        close(fd);
        if (n)
            fprintf(stderr, "rstwatch: %ld record%s written to %s\n", n, n == 1 ? "" : "s", name);
        return;
    }
    if (fd >= 0) close(fd);
    fprintf(stderr, "rstwatch: records, if any, were written to %s\n", name);
}

void run_count_finish(struct run_count *rc)
{
    if (!rc) return;
    switch (rc->sink) {
    case SINK_FILES:
        run_count_event(rc); /* the last writes */
        finish_files(rc);
        break;
    case SINK_FD: finish_fd(rc); break;
    case SINK_SYSLOG:
        fprintf(stderr,
                "rstwatch: records, if any, went to syslog tagged rstwatch "
                "(journalctl -t rstwatch --since @%lld)\n",
                (long long)rc->started);
        break;
    case SINK_JOURNAL:
        fprintf(stderr,
                "rstwatch: records, if any, went to the journal "
                "(journalctl -o json --since @%lld | rstwatch report -)\n",
                (long long)rc->started);
        break;
    case SINK_TEMPLATED_DIR:
        fprintf(stderr, "rstwatch: records, if any, went to files named %s\n", rc->tmpl);
        break;
    }
    if (rc->ino >= 0) close(rc->ino);
    if (rc->forks >= 0) {
        fork_events_op(rc->forks, PROC_CN_MCAST_IGNORE); /* the kernel counts listeners */
        close(rc->forks);
    }
    for (size_t i = 0; i < rc->ndirs; i++) {
        for (size_t k = 0; k < rc->dirs[i].count; k++)
            free(rc->dirs[i].files[k].name);
        free(rc->dirs[i].files);
        free(rc->dirs[i].path);
    }
    free(rc->tree);
    free(rc);
}

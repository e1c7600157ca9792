// SPDX-License-Identifier: MIT
/* seccomp_exec.c: runs a program, or a small client of its own, under a
 * seccomp filter, the way sandboxed daemons run (OpenSSH's privsep child,
 * tor's Sandbox 1, a systemd unit's SystemCallFilter=).
 *
 *   seccomp_exec [FILTER] [--fd N:PATH]... [--preload LIB] -- PROG [ARGS...]
 *       installs the filter, then execs PROG (with LD_PRELOAD=LIB when
 *       given: the harness itself runs bare).
 *   seccomp_exec [FILTER] [--fd N:PATH]... --client HOST PORT IO
 *       installs the filter, then (in this process, under whatever
 *       LD_PRELOAD it was started with) connects to HOST:PORT, sends one HTTP
 *       request with IO (send, write or writev) and reads once. Prints
 *       "IO: <ok|error>, read: <bytes n|error>", exit 0.
 *   seccomp_exec [FILTER] [--fd N:PATH]... --fork N --client HOST PORT IO
 *       the same, after the filter, first in N fork children one after the
 *       other (a filtered daemon's per-connection processes), then in this
 *       process.
 *
 * FILTER (none: no filter, for learning a program's system calls):
 *   --allow FILE     allow the system calls named in FILE (one per line,
 *                    unknown names ignored) and nothing else
 *   --deny NAME,...  allow everything but these
 *   --kill | --errno what happens to the rest: the process is killed with
 *                    SIGSYS (default), or the call fails with EPERM
 *   --api libseccomp|prctl|raw   how the filter is installed: libseccomp's
 *                    seccomp_load (default), prctl(PR_SET_SECCOMP), or
 *                    syscall(SYS_seccomp) (the last two with the program
 *                    libseccomp exports)
 * --fd N:PATH opens PATH (append, created 0600) on fd N before the filter:
 * a log the filtered process can write without opening anything.
 * Exit status 2 on a usage or set-up error. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "common.h"

static const char *prog = "seccomp_exec";

/* Adds rules for the names in list (separated by sep) with action; 0 or -1. */
static void add_names(scmp_filter_ctx ctx, char *list, const char *sep, uint32_t action)
{
    for (char *save = NULL, *name = strtok_r(list, sep, &save); name;
         name = strtok_r(NULL, sep, &save)) {
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR) continue; /* not a system call on this arch */
        int rc = seccomp_rule_add(ctx, action, nr, 0);
        if (rc < 0 && rc != -EEXIST) die(prog, "seccomp_rule_add %s: %s", name, strerror(-rc));
    }
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) die(prog, "%s: %s", path, strerror(errno));
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* The filter as a BPF program (for prctl/raw installs), via a memfd. */
static void install_bpf(scmp_filter_ctx ctx, int raw)
{
    int mfd = (int)syscall(SYS_memfd_create, "bpf", 0);
    if (mfd < 0 || seccomp_export_bpf(ctx, mfd) < 0) die(prog, "cannot export the filter");
    off_t len = lseek(mfd, 0, SEEK_END);
    struct sock_filter *insns = malloc((size_t)len);
    if (!insns || pread(mfd, insns, (size_t)len, 0) != len) die(prog, "cannot read the filter");
    close(mfd);
    struct sock_fprog fprog = {.len = (unsigned short)(len / sizeof *insns), .filter = insns};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die(prog, "no_new_privs: %s", strerror(errno));
    long rc = raw ? syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog)
                  : prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog);
    if (rc < 0) die(prog, "installing the filter: %s", strerror(errno));
}

static int client(const char *host, const char *port, const char *io)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die(prog, "connect: %s", strerror(errno));
    ssize_t w;
    if (!strcmp(io, "send")) {
        w = send(fd, req, sizeof req - 1, 0);
    } else if (!strcmp(io, "write")) {
        w = write(fd, req, sizeof req - 1);
    } else if (!strcmp(io, "writev")) {
        struct iovec v[2] = {{(void *)req, 10}, {(void *)(req + 10), sizeof req - 11}};
        w = writev(fd, v, 2);
    } else {
        die(prog, "unknown IO '%s'", io);
    }
    char out[160];
    int n = snprintf(out, sizeof out, "%s: %s, ", io,
                     w == (ssize_t)sizeof req - 1 ? "ok" : strerror(errno));
    char buf[512];
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0)
        n += snprintf(out + n, sizeof out - (size_t)n, "read: %s\n", strerror(errno));
    else
        n += snprintf(out + n, sizeof out - (size_t)n, "read: bytes %zd\n", r);
    if (write(1, out, (size_t)n) < 0) return 1; /* no stdio buffers after the filter */
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    const char *allow = NULL, *api = "libseccomp", *preload = NULL;
    char *deny = NULL;
    int kill = 1, forks = 0, i;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--allow") && i + 1 < argc)
            allow = argv[++i];
        else if (!strcmp(argv[i], "--deny") && i + 1 < argc)
            deny = argv[++i];
        else if (!strcmp(argv[i], "--kill"))
            kill = 1;
        else if (!strcmp(argv[i], "--errno"))
            kill = 0;
        else if (!strcmp(argv[i], "--api") && i + 1 < argc)
            api = argv[++i];
        else if (!strcmp(argv[i], "--fork") && i + 1 < argc)
            forks = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--preload") && i + 1 < argc)
            preload = argv[++i];
        else if (!strcmp(argv[i], "--fd") && i + 1 < argc) {
            char *spec = argv[++i], *colon = strchr(spec, ':');
            if (!colon) die(prog, "--fd wants N:PATH");
            int want = atoi(spec), fd = open(colon + 1, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (fd < 0 || dup2(fd, want) < 0) die(prog, "%s: %s", colon + 1, strerror(errno));
            if (fd != want) close(fd);
        } else
            break;
    }
    int is_client = i < argc && !strcmp(argv[i], "--client");
    if (is_client ? argc - i != 4 : (i >= argc || strcmp(argv[i], "--") || i + 1 >= argc))
        die(prog, "usage: seccomp_exec [--allow FILE|--deny NAMES] [--kill|--errno] "
                  "[--api libseccomp|prctl|raw] [--fd N:PATH] [--preload LIB] "
                  "(-- PROG [ARGS...] | [--fork N] --client HOST PORT IO)");
    if (allow || deny) {
        uint32_t refuse = kill ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_ERRNO(EPERM);
        scmp_filter_ctx ctx = seccomp_init(allow ? refuse : SCMP_ACT_ALLOW);
        if (!ctx) die(prog, "seccomp_init failed");
        if (allow) add_names(ctx, read_file(allow), "\n", SCMP_ACT_ALLOW);
        if (deny) add_names(ctx, deny, ",", refuse);
        if (!strcmp(api, "libseccomp")) {
            int rc = seccomp_load(ctx);
            if (rc < 0) die(prog, "seccomp_load: %s", strerror(-rc));
        } else {
            install_bpf(ctx, !strcmp(api, "raw"));
        }
    }
    for (int k = 0; is_client && k < forks; k++) {
        pid_t pid = fork();
        if (pid < 0) die(prog, "fork: %s", strerror(errno));
        if (pid == 0) _exit(client(argv[i + 1], argv[i + 2], argv[i + 3]));
        int st;
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            die(prog, "fork child %d did not exit 0", k);
    }
    if (is_client) return client(argv[i + 1], argv[i + 2], argv[i + 3]);
    if (preload) setenv("LD_PRELOAD", preload, 1);
    execvp(argv[i + 1], argv + i + 1);
    die(prog, "exec %s: %s", argv[i + 1], strerror(errno));
}

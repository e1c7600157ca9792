// SPDX-License-Identifier: MIT
/* run.c: `rstwatch run`: prepend librstwatch.so to LD_PRELOAD (keeping what
 * was there), set RSTWATCH_* from the flags, run the command, and exit with
 * its status (re-raising its fatal signal, so a shell sees the same thing).
 *
 * Like timeout(1) and tini it stays the command's parent and forwards
 * SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to it, so a
 * supervisor that signals the wrapper reaches the program. Signals the
 * terminal sends to the whole foreground process group are not forwarded:
 * the command, in the same group, already got its own copy.
 *
 * Before running it warns (one line, and runs the command anyway) when the
 * target cannot be watched (see target.c); afterwards one line on stderr
 * says how many of the command's own records were written and where (see
 * runcount.c). Its own failures exit 125; a command that cannot be run exits
 * 126 (not executable) or 127 (not found), as in the shell. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"

static const int forwarded_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define N_FORWARDED (sizeof forwarded_signals / sizeof forwarded_signals[0])

static volatile sig_atomic_t child_pid;

/* "RSTWATCH_RETRY_BASE_MS" -> "retry-base-ms": every variable is a flag. */
static void flag_name(const char *var, char *out, size_t len)
{
    const char *p = var + strlen("RSTWATCH_");
    size_t i = 0;
    for (; *p && i + 1 < len; p++)
        out[i++] = *p == '_' ? '-' : (char)tolower((unsigned char)*p);
    out[i] = 0;
}

void run_print_options(FILE *out)
{
    for (size_t i = 0; i < option_count; i++) {
        char flag[64];
        flag_name(option_defs[i].name, flag, sizeof flag);
        fprintf(out, "  --%-20s sets %s (%s)\n", flag, option_defs[i].name, option_defs[i].values);
    }
}

static void run_usage(FILE *out)
{
    fputs("usage: rstwatch run [OPTION...] [--] COMMAND [ARGS...]\n"
          "\n"
          "Runs COMMAND with librstwatch.so preloaded; exits with its status.\n"
          "Options stop at COMMAND or at \"--\". --NAME=VALUE and --NAME VALUE both work.\n"
          "  -l, --log DEST           the same as --log=DEST below\n"
          "  -h, --help               this text\n",
          out);
    run_print_options(out);
}

/* Sets the variable from a flag value after validating it with the shim's own parser. */
static int set_option(const struct option_def *d, const char *value)
{
    struct options o;
    options_defaults(&o);
    if (!*value || d->parse(value, &o) < 0) {
        fprintf(stderr, "rstwatch run: bad value '%s' for %s (expected %s)\n", value, d->name,
                d->values);
        return -1;
    }
    setenv(d->name, value, 1);
    return 0;
}

static int prepend_preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    const char *san = RSTWATCH_SAN_RUNTIME; /* sanitizer builds: its runtime must come first */
    size_t len = strlen(lib) + strlen(san) + (old ? strlen(old) : 0) + 4;
    char *v = malloc(len);
    if (!v) return -1;
    snprintf(v, len, "%s%s%s%s%s", san, *san ? ":" : "", lib, old && *old ? ":" : "",
             old ? old : "");
    setenv("LD_PRELOAD", v, 1);
    free(v);
    return 0;
}

static void forward_signal(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    /* SI_KERNEL: the terminal (or a hangup) signalled the whole process
     * group, the command included; passing it on would deliver it twice. */
    if (si && si->si_code == SI_KERNEL) return;
    pid_t p = child_pid;
    if (p > 0) kill(p, sig);
}

/* Parses the flags; returns the index of COMMAND, or -1 (help printed) / -2 (usage error). */
static int parse_flags(int argc, char **argv)
{
    struct option *longopts = calloc(option_count + 2, sizeof *longopts);
    char(*names)[64] = calloc(option_count, sizeof *names);
    if (!longopts || !names) {
        free(longopts);
        free(names);
        return -2;
    }
    for (size_t i = 0; i < option_count; i++) {
        flag_name(option_defs[i].name, names[i], sizeof names[i]);
        longopts[i] = (struct option){names[i], required_argument, NULL, 256 + (int)i};
    }
    longopts[option_count] = (struct option){"help", no_argument, NULL, 'h'};
    int result = 0, c;
    opterr = 0;
    optind = 1;
    while (result == 0 && (c = getopt_long(argc, argv, "+:hl:", longopts, NULL)) != -1) {
        if (c == 'h') {
            run_usage(stdout);
            result = -1;
        } else if (c == 'l' || c >= 256) {
            const char *var = c == 'l' ? "RSTWATCH_LOG" : option_defs[c - 256].name;
            for (size_t i = 0; i < option_count; i++)
                if (!strcmp(option_defs[i].name, var) && set_option(&option_defs[i], optarg) < 0)
                    result = -2;
        } else if (c == ':') {
            fprintf(stderr, "rstwatch run: %s needs a value\n", argv[optind - 1]);
            result = -2;
        } else {
            if (optopt)
                fprintf(stderr, "rstwatch run: unknown option '-%c'\n", optopt);
            else
                fprintf(stderr, "rstwatch run: unknown option '%s'\n", argv[optind - 1]);
            fputs("(rstwatch run --help lists the options)\n", stderr);
            result = -2;
        }
    }
    free(longopts);
    free(names);
    if (result) return result;
    if (optind >= argc) {
        fputs("rstwatch run: no command given\n", stderr);
        run_usage(stderr);
        return -2;
    }
    return optind;
}

/* Waits for the child, reaping adopted orphans and feeding the record counter. */
static int wait_child(pid_t pid, struct run_count *rc, int *status)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    struct pollfd fds[3] = {{.fd = pidfd, .events = POLLIN}};
    int extra[2];
    int n_extra = run_count_fds(rc, extra);
    for (int k = 0; k < n_extra; k++)
        fds[1 + k] = (struct pollfd){.fd = extra[k], .events = POLLIN};
    for (;;) {
        int st;
        pid_t r;
        while ((r = waitpid(-1, &st, WNOHANG)) > 0)
            if (r == pid) {
                *status = st;
                if (pidfd >= 0) close(pidfd);
                return 0;
            }
        if (r < 0 && errno != EINTR && errno != ECHILD) break;
        /* Without a pidfd (old kernels), look again every 100 ms. */
        int n = poll(fds, (nfds_t)(1 + n_extra), pidfd >= 0 ? -1 : 100);
        if (n < 0 && errno != EINTR) break;
        int events = 0;
        for (int k = 0; n > 0 && k < n_extra; k++)
            events |= fds[1 + k].revents & POLLIN;
        if (events) run_count_event(rc);
    }
    if (pidfd >= 0) close(pidfd);
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR) return -1;
    return 0;
}

int cmd_run(int argc, char **argv)
{
    int cmd = parse_flags(argc, argv);
    if (cmd == -1) return 0;
    if (cmd < 0) return CLI_EXIT_USAGE;
    char lib[PATH_MAX];
    if (cli_find_library(lib, sizeof lib) < 0) {
        fprintf(stderr,
                "rstwatch run: cannot find librstwatch.so (installed in %s, or next to "
                "this program; set RSTWATCH_LIB to its path)\n",
                RSTWATCH_PKGLIBDIR);
        return CLI_EXIT_USAGE;
    }
    if (prepend_preload(lib) < 0) return CLI_EXIT_USAGE;

    char path[PATH_MAX];
    if (cli_resolve_command(argv[cmd], path, sizeof path) == 0) cli_warn_unwatchable(path);

    struct run_count *rc = run_count_start();

    /* Forwarded signals wait, blocked, until the child's pid is known. */
    sigset_t fwd, old_mask;
    sigemptyset(&fwd);
    for (size_t k = 0; k < N_FORWARDED; k++)
        sigaddset(&fwd, forwarded_signals[k]);
    sigprocmask(SIG_BLOCK, &fwd, &old_mask);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("rstwatch run: fork");
        return CLI_EXIT_USAGE;
    }
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        execvp(argv[cmd], argv + cmd);
        int err = errno;
        fprintf(stderr, "rstwatch run: %s: %s\n", argv[cmd], strerror(err));
        _exit(err == ENOENT ? 127 : 126);
    }
    child_pid = pid;
    run_count_child(rc, pid);
    struct sigaction fw = {.sa_sigaction = forward_signal, .sa_flags = SA_SIGINFO | SA_RESTART};
    sigemptyset(&fw.sa_mask);
    for (size_t k = 0; k < N_FORWARDED; k++)
        sigaction(forwarded_signals[k], &fw, NULL);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);

    int status = 0;
    if (wait_child(pid, rc, &status) < 0) {
        perror("rstwatch run: waitpid");
        return CLI_EXIT_USAGE;
    }
    child_pid = 0;
    run_count_finish(rc);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        signal(sig, SIG_DFL);
        sigset_t one;
        sigemptyset(&one);
        sigaddset(&one, sig);
        sigprocmask(SIG_UNBLOCK, &one, NULL);
        raise(sig);
        return 128 + sig;
    }
    return WEXITSTATUS(status);
}

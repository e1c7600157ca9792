/* run.c: `rstwatch run`: prepend librstwatch.so to LD_PRELOAD (keeping what
 * was there), set RSTWATCH_* from the flags, run the command, and exit with
 * its status (re-raising its fatal signal, so a shell sees the same thing).
 * Afterwards, one line on stderr says how many records were written and
 * where, only when there were any. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"

#define MAX_TRACKED_FILES 4096

struct file_size {
    char name[256];
    off_t size;
};

struct log_snapshot {
    char dir[PATH_MAX];
    struct file_size *files;
    size_t count;
};

static void run_usage(void)
{
    fputs("usage: rstwatch run [--log DEST] [--record resets|errors|all] [--retry "
          "off|connect|idempotent]\n"
          "                    [--config FILE] [--inject SPEC] [--events N] -- COMMAND [ARGS...]\n",
          stderr);
}

/* The shim next to this executable (build tree or PREFIX/bin + PREFIX/lib/rstwatch). */
static int find_library(char *out, size_t len)
{
    const char *env = getenv("RSTWATCH_LIB");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return access(out, R_OK) == 0 ? 0 : -ENOENT;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0) return -errno;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return -ENOENT;
    *slash = 0;
    const char *candidates[] = {"%s/librstwatch.so", "%s/../lib/rstwatch/librstwatch.so"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, candidates[i], exe);
        if (access(path, R_OK) == 0 && realpath(path, out)) return 0;
    }
    (void)len;
    return -ENOENT;
}

/* Sets variable name from a flag value after validating it with the shim's own parser. */
static int set_option(const char *name, const char *value)
{
    for (size_t i = 0; i < option_count; i++) {
        if (strcmp(option_defs[i].name, name)) continue;
        struct options o;
        options_defaults(&o);
        if (!*value || option_defs[i].parse(value, &o) < 0) {
            fprintf(stderr, "rstwatch run: bad value '%s' for %s (expected %s)\n", value, name,
                    option_defs[i].values);
            return -1;
        }
        setenv(name, value, 1);
        return 0;
    }
    return -1;
}

/* The directory records will land in, if they go to files; "" otherwise. */
static void log_dir_of(char *out, size_t len)
{
    out[0] = 0;
    const char *log = getenv("RSTWATCH_LOG");
    if (!log || !*log) {
        cli_default_log_dir(out, len);
        return;
    }
    if (!strcmp(log, "stderr") || !strcmp(log, "syslog") || !strncmp(log, "fd:", 3)) return;
    const char *slash = strrchr(log, '/');
    if (!slash) {
        snprintf(out, len, ".");
        return;
    }
    size_t n = (size_t)(slash - log);
    if (n == 0) n = 1;
    if (n >= len || memchr(log, '%', n)) return; /* a templated directory: can't tell */
    memcpy(out, log, n);
    out[n] = 0;
}

static void snapshot_logs(struct log_snapshot *s)
{
    s->files = NULL;
    s->count = 0;
    log_dir_of(s->dir, sizeof s->dir);
    if (!s->dir[0]) return;
    DIR *d = opendir(s->dir);
    if (!d) return;
    s->files = calloc(MAX_TRACKED_FILES, sizeof *s->files);
    struct dirent *e;
    while (s->files && (e = readdir(d)) && s->count < MAX_TRACKED_FILES) {
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        snprintf(s->files[s->count].name, sizeof s->files[0].name, "%s", e->d_name);
        s->files[s->count++].size = st.st_size;
    }
    closedir(d);
}

static off_t old_size(const struct log_snapshot *s, const char *name)
{
    for (size_t i = 0; i < s->count; i++)
        if (!strcmp(s->files[i].name, name)) return s->files[i].size;
    return 0;
}

/* Newlines appended to dir/name past offset from. */
static long count_new_lines(int dfd, const char *name, off_t from)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return 0;
    long lines = 0;
    char buf[65536];
    ssize_t n;
    if (lseek(fd, from, SEEK_SET) == from)
        while ((n = read(fd, buf, sizeof buf)) > 0)
            for (ssize_t i = 0; i < n; i++)
                lines += buf[i] == '\n';
    close(fd);
    return lines;
}

static void report_new_records(const struct log_snapshot *before)
{
    if (!before->dir[0]) return;
    DIR *d = opendir(before->dir);
    if (!d) return;
    long total = 0, files = 0;
    char last[256] = "";
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        off_t was = old_size(before, e->d_name);
        if (st.st_size <= was) continue;
        long n = count_new_lines(dirfd(d), e->d_name, was);
        if (n <= 0) continue;
        total += n;
        files++;
        snprintf(last, sizeof last, "%s", e->d_name);
    }
    closedir(d);
    if (!total) return;
    if (files == 1)
        fprintf(stderr, "rstwatch: %ld record%s written to %s/%s (rstwatch report %s/%s)\n", total,
                total == 1 ? "" : "s", before->dir, last, before->dir, last);
    else
        fprintf(stderr, "rstwatch: %ld records written to %ld files in %s (rstwatch report %s)\n",
                total, files, before->dir, before->dir);
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

int cmd_run(int argc, char **argv)
{
    static const struct {
        const char *flag, *env;
    } flags[] = {
        {"--log", "RSTWATCH_LOG"},       {"--record", "RSTWATCH_RECORD"},
        {"--retry", "RSTWATCH_RETRY"},   {"--config", "RSTWATCH_CONFIG"},
        {"--inject", "RSTWATCH_INJECT"}, {"--events", "RSTWATCH_EVENTS"},
    };
    int i = 1;
    while (i < argc) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        }
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            run_usage();
            return 0;
        }
        if (argv[i][0] != '-') break;
        size_t f = 0;
        const char *value = NULL;
        for (; f < sizeof flags / sizeof flags[0]; f++) {
            size_t fl = strlen(flags[f].flag);
            if (!strncmp(argv[i], flags[f].flag, fl) && argv[i][fl] == '=') {
                value = argv[i] + fl + 1;
                break;
            }
            if (!strcmp(argv[i], flags[f].flag)) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "rstwatch run: %s needs a value\n", argv[i]);
                    return 2;
                }
                value = argv[++i];
                break;
            }
        }
        if (!value) {
            fprintf(stderr, "rstwatch run: unknown option '%s'\n", argv[i]);
            run_usage();
            return 2;
        }
        if (set_option(flags[f].env, value) < 0) return 2;
        i++;
    }
    if (i >= argc) {
        run_usage();
        return 2;
    }
    char lib[PATH_MAX];
    if (find_library(lib, sizeof lib) < 0) {
        fprintf(stderr, "rstwatch run: cannot find librstwatch.so next to this program "
                        "(set RSTWATCH_LIB)\n");
        return 2;
    }
    if (prepend_preload(lib) < 0) return 2;

    struct log_snapshot before;
    snapshot_logs(&before);

    /* Like system(): the terminal's SIGINT/SIGQUIT go to the child; we wait. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int, old_quit;
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    pid_t pid = fork();
    if (pid < 0) {
        perror("rstwatch run: fork");
        return 2;
    }
    if (pid == 0) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        execvp(argv[i], argv + i);
        fprintf(stderr, "rstwatch run: %s: %s\n", argv[i], strerror(errno));
        _exit(errno == ENOENT ? 127 : 126);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            perror("rstwatch run: waitpid");
            return 2;
        }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    report_new_records(&before);
    free(before.files);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        signal(sig, SIG_DFL);
        raise(sig);
        return 128 + sig;
    }
    return WEXITSTATUS(status);
}

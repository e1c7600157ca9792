// SPDX-License-Identifier: MIT
/* target.c: can LD_PRELOAD see this program? Before `rstwatch run` executes
 * a command it resolves the command as execvp() will (PATH search) and reads
 * the file's ELF headers itself, so it can say, in one line, when the run
 * will produce no records for a reason other than "no resets happened":
 *
 *   - no PT_INTERP program header: statically linked, the dynamic loader
 *     never runs, nothing is preloaded;
 *   - set-uid/set-gid bits (or file capabilities) that change the caller's
 *     credentials: the loader runs in secure mode and drops LD_PRELOAD paths,
 *     and the shim stays inert under AT_SECURE anyway;
 *   - a Go binary (a .note.go.buildid or .go.buildinfo section) that does not
 *     import connect() from libc: Go's runtime makes its socket system calls
 *     itself, even when it links libc for cgo (DNS, user lookups). A Go
 *     program built with gccgo imports connect and is watched normally.
 *
 * Only headers are read (pread at the offsets they give, bounded sizes); a
 * file that is not ELF (a #! script, for instance) gets no warning. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cli.h"

#define MAX_HEADERS 4096             /* program or section headers we look at */
#define MAX_TABLE (64 * 1024 * 1024) /* largest symbol/string table read */

int cli_resolve_command(const char *cmd, char *out, size_t len)
{
    if (strchr(cmd, '/')) {
        int n = snprintf(out, len, "%s", cmd);
        return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
    }
    const char *path = getenv("PATH");
    char def[256];
    if (!path) { /* execvp's default search path when PATH is unset */
        size_t n = confstr(_CS_PATH, def, sizeof def);
        path = n > 0 && n <= sizeof def ? def : "/bin:/usr/bin";
    }
    int err = -ENOENT;
    for (const char *p = path;; p++) {
        const char *end = strchrnul(p, ':');
        int n = end == p ? snprintf(out, len, "%s", cmd) /* empty entry: the current directory */
                         : snprintf(out, len, "%.*s/%s", (int)(end - p), p, cmd);
        struct stat st;
        if (n > 0 && (size_t)n < len && stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(out, X_OK) == 0) return 0;
            err = -EACCES;
        }
        if (!*end) break;
        p = end;
    }
    return err;
}

/* The parts of an ELF file the checks need, 32- or 64-bit, any byte order
 * the host reads (others are skipped: they cannot run here anyway). */
struct elf_info {
    int is_elf;
    int has_interp;
    int is_go;
    int imports_connect;
};

static int read_at(int fd, void *buf, size_t n, off_t off)
{
    ssize_t r = pread(fd, buf, n, off);
    return r == (ssize_t)n ? 0 : -EIO;
}

/* Reads a whole table (bounded) into a fresh buffer; NULL on failure. */
static char *read_table(int fd, off_t off, size_t size)
{
    if (size == 0 || size > MAX_TABLE) return NULL;
    char *p = malloc(size + 1);
    if (!p) return NULL;
    if (read_at(fd, p, size, off) < 0) {
        free(p);
        return NULL;
    }
    p[size] = 0;
    return p;
}

/* One generic walker for both classes: X is 32 or 64. */
#define DEFINE_ELF_SCAN(X)                                                                         \
    static void scan_elf##X(int fd, struct elf_info *info)                                         \
    {                                                                                              \
        Elf##X##_Ehdr eh;                                                                          \
        if (read_at(fd, &eh, sizeof eh, 0) < 0) return;                                            \
        info->is_elf = 1;                                                                          \
        if (eh.e_phentsize == sizeof(Elf##X##_Phdr) && eh.e_phnum < MAX_HEADERS) {                 \
            for (unsigned i = 0; i < eh.e_phnum; i++) {                                            \
                Elf##X##_Phdr ph;                                                                  \
                if (read_at(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) < 0) break;   \
                if (ph.p_type == PT_INTERP) info->has_interp = 1;                                  \
            }                                                                                      \
        }                                                                                          \
        if (eh.e_shentsize != sizeof(Elf##X##_Shdr) || eh.e_shnum >= MAX_HEADERS ||                \
            eh.e_shstrndx >= eh.e_shnum)                                                           \
            return;                                                                                \
        Elf##X##_Shdr *sh = calloc(eh.e_shnum, sizeof *sh);                                        \
        if (!sh) return;                                                                           \
        if (read_at(fd, sh, eh.e_shnum * sizeof *sh, (off_t)eh.e_shoff) < 0) goto out;             \
        char *names =                                                                              \
            read_table(fd, (off_t)sh[eh.e_shstrndx].sh_offset, sh[eh.e_shstrndx].sh_size);         \
        for (unsigned i = 0; names && i < eh.e_shnum; i++) {                                       \
            if (sh[i].sh_name >= sh[eh.e_shstrndx].sh_size) continue;                              \
            const char *n = names + sh[i].sh_name;                                                 \
            if (!strcmp(n, ".note.go.buildid") || !strcmp(n, ".go.buildinfo")) info->is_go = 1;    \
        }                                                                                          \
        free(names);                                                                               \
        for (unsigned i = 0; i < eh.e_shnum && !info->imports_connect; i++) {                      \
            if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh.e_shnum) continue;              \
            if (sh[i].sh_entsize != sizeof(Elf##X##_Sym)) continue;                                \
            Elf##X##_Sym *syms =                                                                   \
                (Elf##X##_Sym *)read_table(fd, (off_t)sh[i].sh_offset, sh[i].sh_size);             \
            char *str =                                                                            \
                read_table(fd, (off_t)sh[sh[i].sh_link].sh_offset, sh[sh[i].sh_link].sh_size);     \
            size_t count = syms && str ? sh[i].sh_size / sizeof *syms : 0;                         \
            for (size_t k = 0; k < count; k++)                                                     \
                if (syms[k].st_shndx == SHN_UNDEF &&                                               \
                    syms[k].st_name < sh[sh[i].sh_link].sh_size &&                                 \
                    !strcmp(str + syms[k].st_name, "connect"))                                     \
                    info->imports_connect = 1;                                                     \
            free(syms);                                                                            \
            free(str);                                                                             \
        }                                                                                          \
    out:                                                                                           \
        free(sh);                                                                                  \
    }

DEFINE_ELF_SCAN(32)
DEFINE_ELF_SCAN(64)

static void scan_elf(int fd, struct elf_info *info)
{
    memset(info, 0, sizeof *info);
    unsigned char ident[EI_NIDENT];
    if (read_at(fd, ident, sizeof ident, 0) < 0 || memcmp(ident, ELFMAG, SELFMAG)) return;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (ident[EI_DATA] != ELFDATA2LSB) return;
#else
    if (ident[EI_DATA] != ELFDATA2MSB) return;
#endif
    if (ident[EI_CLASS] == ELFCLASS64)
        scan_elf64(fd, info);
    else if (ident[EI_CLASS] == ELFCLASS32)
        scan_elf32(fd, info);
}

/* True when exec'ing a file with this mode would change the caller's
 * credentials (what makes the kernel set AT_SECURE). */
static int gains_privilege(const char *path, const struct stat *st)
{
    struct statvfs vfs;
    if (statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_NOSUID)) return 0; /* bits ignored */
    if ((st->st_mode & S_ISUID) && st->st_uid != getuid()) return 1;
    if ((st->st_mode & S_ISGID) && (st->st_mode & S_IXGRP) && st->st_gid != getgid()) return 1;
    /* File capabilities raise a non-root caller's permitted set. */
    if (getuid() != 0 && getxattr(path, "security.capability", NULL, 0) > 0) return 1;
    return 0;
}

int cli_warn_unwatchable(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) return 0; /* exec will say what is wrong */
    struct elf_info info = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC); /* fails for an execute-only file: no ELF checks */
    if (fd >= 0) {
        scan_elf(fd, &info);
        close(fd);
    }
    const char *why; /* what keeps LD_PRELOAD out, up to "no records will be written" */
    if (info.is_elf && !info.has_interp)
        why = "is statically linked (no ELF interpreter): LD_PRELOAD cannot reach it,";
    else if (info.is_go && !info.imports_connect)
        why = "is a Go program that makes its own socket system calls (it does not call libc's "
              "connect):";
    else if (gains_privilege(path, &st))
        why = "is set-uid/set-gid or has file capabilities: the loader ignores LD_PRELOAD for it,";
    else
        return 0;
    fprintf(stderr, "rstwatch: warning: %s %s no records will be written\n", path, why);
    return 1;
}

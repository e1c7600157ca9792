// SPDX-License-Identifier: MIT
/* recfmt.c: the record writers' shared layer (see recfmt.h): the schema's
 * keys as arrays, JSON objects written key by key, the header every record
 * starts with (and the program and host names it carries, captured at load),
 * and the RFC 3339 time. It depends on strbuf, sandbox (the cached pid), real
 * and libc only, so record.c and summary.c both sit above it and neither
 * calls the other for formatting. */
#include "recfmt.h"

#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "real.h"
#include "sandbox.h"

#define RECFMT_KEY(key, kind, member, doc) key,
const char *const recfmt_keys[RF_NFIELDS] = {RECORD_FIELDS(RECFMT_KEY)};
const char *const recfmt_tcp_keys[RF_TCP_NFIELDS] = {RECORD_TCP_FIELDS(RECFMT_KEY)};
const char *const recfmt_cause_keys[RF_CAUSE_NFIELDS] = {RECORD_CAUSE_FIELDS(RECFMT_KEY)};
const char *const recfmt_event_keys[RF_EV_NFIELDS] = {RECORD_EVENT_FIELDS(RECFMT_KEY)};
const char *const recfmt_count_keys[RF_CNT_NFIELDS] = {RECORD_COUNT_FIELDS(RECFMT_KEY)};

extern char *program_invocation_short_name;

/* The program's name as it was at load. Servers rewrite their argv for ps
 * (nginx: "nginx: worker process", postgres, sshd), and glibc's short name
 * points into that memory: read later, it names a fragment ("ker process"). */
static char prog_name[256];
/* The host name at load: records from many hosts end up in one report. */
static char host_name[65];

__attribute__((constructor)) static void recfmt_capture_prog(void)
{
    /* The same name as uname()'s, by the calls a filtered process allows
     * (uname only where there is no /proc and no filter). */
    int fd = open("/proc/sys/kernel/hostname", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = real_read(fd, host_name, sizeof host_name - 1);
        real_close(fd);
        if (n > 0 && host_name[n - 1] == '\n') n--;
        host_name[n > 0 ? n : 0] = 0;
    }
    struct utsname u;
    if (!host_name[0] && !sandbox_filtered() && uname(&u) == 0) {
        size_t hn = strnlen(u.nodename, sizeof host_name - 1);
        memcpy(host_name, u.nodename, hn);
        host_name[hn] = 0;
    }
    const char *p = program_invocation_short_name;
    if (!p) return;
    size_t n = strlen(p);
    if (n >= sizeof prog_name) n = sizeof prog_name - 1;
    memcpy(prog_name, p, n);
    prog_name[n] = 0;
}

void jobj_key(struct jobj *o, const char *key)
{
    sb_putc(o->b, o->n++ ? ',' : '{');
    sb_putc(o->b, '"');
    sb_puts(o->b, key);
    sb_puts(o->b, "\":");
}

void jobj_end(struct jobj *o)
{
    if (!o->n) sb_putc(o->b, '{');
    sb_putc(o->b, '}');
}

static void put_str(struct strbuf *b, const char *s)
{
    sb_put_json_str(b, s, strlen(s));
}

void recfmt_put_header_field(struct jobj *o, enum rec_field f, const char *type)
{
    struct strbuf *b = o->b;
    switch (f) {
    case RF_v: jobj_key(o, recfmt_keys[f]), sb_putc(b, '1'); return;
    case RF_type: jobj_key(o, recfmt_keys[f]), put_str(b, type); return;
    case RF_time: {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        jobj_key(o, recfmt_keys[f]);
        sb_putc(b, '"');
        recfmt_put_time(b, ts.tv_sec, ts.tv_nsec);
        sb_putc(b, '"');
        return;
    }
    case RF_host: jobj_key(o, recfmt_keys[f]), put_str(b, host_name); return;
    case RF_pid: jobj_key(o, recfmt_keys[f]), sb_putu(b, (uint64_t)sandbox_pid()); return;
    case RF_tid: jobj_key(o, recfmt_keys[f]), sb_putu(b, (uint64_t)sandbox_tid()); return;
    case RF_prog: {
        const char *prog = prog_name[0] ? prog_name : program_invocation_short_name;
        jobj_key(o, recfmt_keys[f]);
        put_str(b, prog ? prog : "");
        return;
    }
    default: return; /* not a header field */
    }
}

/* Days since 1970-01-01 -> civil date (proleptic Gregorian), after H. Hinnant's
 * public-domain derivation of the era/day-of-era arithmetic. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void put_2(struct strbuf *b, unsigned v)
{
    char t[2] = {(char)('0' + v / 10 % 10), (char)('0' + v % 10)};
    sb_putn(b, t, 2);
}

void recfmt_put_time(struct strbuf *b, int64_t sec, long nsec)
{
    int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0) rem += 86400, days--;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    sb_puti(b, y);
    sb_putc(b, '-');
    put_2(b, m);
    sb_putc(b, '-');
    put_2(b, d);
    sb_putc(b, 'T');
    put_2(b, (unsigned)(rem / 3600));
    sb_putc(b, ':');
    put_2(b, (unsigned)(rem / 60 % 60));
    sb_putc(b, ':');
    put_2(b, (unsigned)(rem % 60));
    sb_putc(b, '.');
    unsigned us = (unsigned)(nsec / 1000);
    char t[6];
    for (int i = 5; i >= 0; i--)
        t[i] = (char)('0' + us % 10), us /= 10;
    sb_putn(b, t, 6);
    sb_putc(b, 'Z');
}

// SPDX-License-Identifier: MIT
/* summary.c: writing summary records (see summary.h). A summary line is
 * {"v":1,"type":"summary", the usual header, "reason", "since", "period_ms",
 * "counts":[{"type","role","peer","local","cause","n","records","suppressed"}]}
 * where n counts every record due for that key in the period, records those
 * written, and suppressed those left out that no record's "suppressed" field
 * has reported yet. A reader that adds 1 + "suppressed" for every record and
 * "suppressed" for every summary entry counts each due record exactly once.
 * Many keys are split over several lines, each within the sink's line limit.
 * Keys and their order come from the schema table (schema.h, through
 * recfmt.h), as for connection records; "counts" is the table's last field,
 * so a line's entries are appended after it. */
#include "summary.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "ratelimit.h"
#include "recfmt.h"
#include "sandbox.h"
#include "sink.h"
#include "strbuf.h"

#define SUMMARY_BUF (64 * 1024)
#define SUMMARY_LINE_MAX 60000

static _Atomic uint64_t next_ns; /* end of the current period; 0 = not started */
static _Atomic int busy;
static int64_t since_sec;
static long since_nsec;
static uint64_t since_mono;

__attribute__((constructor)) static void summary_start(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    since_sec = ts.tv_sec, since_nsec = ts.tv_nsec;
    since_mono = clock_now_ns();
}

static void put_str(struct strbuf *b, const char *s)
{
    sb_put_json_str(b, s, strlen(s));
}

struct line {
    struct strbuf b;
    size_t limit;
    size_t entries;
    uint64_t n, suppressed;
    const char *reason;
    uint64_t now;
};

/* The counts' entries are appended after the line's last key. */
_Static_assert(RF_counts == RF_NFIELDS - 1, "a summary line ends with its counts array");

/* Writes the line up to and including "counts":[ . */
static void line_begin(struct line *l)
{
    struct strbuf *b = &l->b;
    struct jobj o = jobj_begin(b);
    for (unsigned i = 0; i < RF_NFIELDS; i++) {
        enum rec_field f = (enum rec_field)i;
        switch (f) {
        RECFMT_HEADER_CASES:
            recfmt_put_header_field(&o, f, "summary");
            break;
        case RF_reason: jobj_key(&o, recfmt_keys[f]), put_str(b, l->reason); break;
        case RF_since:
            jobj_key(&o, recfmt_keys[f]);
            sb_putc(b, '"');
            recfmt_put_time(b, since_sec, since_nsec);
            sb_putc(b, '"');
            break;
        case RF_period_ms:
            jobj_key(&o, recfmt_keys[f]);
            sb_put_ms(b, l->now > since_mono ? l->now - since_mono : 0);
            break;
        case RF_counts: jobj_key(&o, recfmt_keys[f]), sb_putc(b, '['); break;
        default: break; /* a connection record's field */
        }
    }
    l->entries = 0;
    l->n = l->suppressed = 0;
}

static void line_end(struct line *l)
{
    sb_puts(&l->b, "]}\n");
    if (l->b.overflow) return; /* never a torn line */
    char msg[160];
    struct strbuf m;
    sb_init(&m, msg, sizeof msg);
    sb_puts(&m, "rstwatch summary: ");
    sb_putu(&m, l->n);
    sb_puts(&m, " records due, ");
    sb_putu(&m, l->suppressed);
    sb_puts(&m, " left out by the rate limit");
    struct sink_fields f = {.type = "summary", .message = sb_cstr(&m), .priority = 6};
    sink_write_record(l->b.p, l->b.len, &f);
}

/* One entry of "counts": "local" and "cause" only when the key has them. */
static void put_entry(struct strbuf *b, const struct rl_counts *c)
{
    struct jobj o = jobj_begin(b);
    for (unsigned i = 0; i < RF_CNT_NFIELDS; i++) {
        enum rec_count_field f = (enum rec_count_field)i;
        const char *key = recfmt_count_keys[f];
        switch (f) {
        case RF_CNT_type: jobj_key(&o, key), put_str(b, c->key.type); break;
        case RF_CNT_role: jobj_key(&o, key), put_str(b, c->key.server ? "server" : "client"); break;
        case RF_CNT_peer: jobj_key(&o, key), put_str(b, c->key.peer); break;
        case RF_CNT_local:
            if (c->key.local[0]) jobj_key(&o, key), put_str(b, c->key.local);
            break;
        case RF_CNT_cause:
            if (c->key.cause[0]) jobj_key(&o, key), put_str(b, c->key.cause);
            break;
        case RF_CNT_n: jobj_key(&o, key), sb_putu(b, c->n); break;
        case RF_CNT_records: jobj_key(&o, key), sb_putu(b, c->records); break;
        case RF_CNT_suppressed: jobj_key(&o, key), sb_putu(b, c->suppressed); break;
        case RF_CNT_NFIELDS: break;
        }
    }
    jobj_end(&o);
}

static void write_summary(const char *reason, uint64_t now)
{
    int limited = ratelimit_ever_suppressed() && !ratelimit_limits()->off;
    if (!limited && !ratelimit_ever_dropped()) return;
    if (atomic_exchange(&busy, 1)) return; /* another thread is writing it */
    if (!ratelimit_take_due()) {
        atomic_store(&busy, 0);
        return;
    }
    int saved = errno;
    char *buf = mmap(NULL, SUMMARY_BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf != MAP_FAILED) {
        struct line l = {.reason = reason, .now = now};
        size_t limit = sink_line_limit();
        l.limit = limit && limit < SUMMARY_LINE_MAX ? limit : SUMMARY_LINE_MAX;
        sb_init(&l.b, buf, SUMMARY_BUF);
        line_begin(&l);
        for (size_t i = 0; i < ratelimit_nslots(); i++) {
            struct rl_counts c;
            if (!ratelimit_drain(i, &c)) continue;
            char tmp[512];
            struct strbuf e;
            sb_init(&e, tmp, sizeof tmp);
            put_entry(&e, &c);
            if (e.overflow) continue; /* cannot happen: keys are bounded */
            if (l.entries && l.b.len + 1 + e.len + 3 > l.limit) {
                line_end(&l);
                sb_init(&l.b, buf, SUMMARY_BUF);
                line_begin(&l);
            }
            if (l.entries) sb_putc(&l.b, ',');
            sb_putn(&l.b, tmp, e.len);
            l.entries++;
            l.n += c.n;
            l.suppressed += c.suppressed;
        }
        if (l.entries) line_end(&l);
        munmap(buf, SUMMARY_BUF);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    since_sec = ts.tv_sec, since_nsec = ts.tv_nsec;
    since_mono = now;
    atomic_store(&next_ns, now + ratelimit_limits()->summary_ns);
    atomic_store(&busy, 0);
    errno = saved;
}

void summary_tick(uint64_t now)
{
    uint64_t next = atomic_load_explicit(&next_ns, memory_order_relaxed);
    if (!next) {
        uint64_t expected = 0;
        atomic_compare_exchange_strong(&next_ns, &expected, now + ratelimit_limits()->summary_ns);
        return;
    }
    if (now >= next) write_summary("interval", now);
}

void summary_poll(void)
{
    if (!ratelimit_due()) return;
    summary_tick(clock_now_ns());
}

void summary_flush(const char *reason)
{
    if (sandbox_vfork_child()) return; /* the counts are its parent's */
    write_summary(reason, clock_now_ns());
    sink_last_chance(); /* records held for want of a descriptor: now or never */
}

void summary_atfork_child(void)
{
    atomic_store(&busy, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    since_sec = ts.tv_sec, since_nsec = ts.tv_nsec;
    since_mono = clock_now_ns();
    atomic_store(&next_ns, 0);
}

/* After every other destructor (a lower number runs later): the shim's own
 * exit work may still write records, which this last summary must count. */
__attribute__((destructor(101))) static void summary_at_exit(void)
{
    summary_flush("exit");
}

// SPDX-License-Identifier: MIT
/* inject.c: fault injection (see inject.h).
 *
 *   RSTWATCH_INJECT="ACTION:key=value,...[;ACTION:...]"
 *   ACTION  reset   abort the connection for real (connect(AF_UNSPEC) makes the
 *                   kernel send a RST, as SO_LINGER 0 would, without closing the
 *                   app's fd), then fail the app's read with ECONNRESET
 *           refuse  fail connect() with ECONNREFUSED without sending a SYN
 *           delay   sleep delay_ms before each request's first write
 *   keys    peer=ADDR[:PORT] | CIDR   port=N | N-M   (which connections)
 *           after=N    fire once the connection has completed N requests (default 0)
 *           bytes=N    ... and moved at least N bytes
 *           ms=N       ... and is at least N ms old
 *           prob=P     probability (0..1) per eligible connection/connect (default 1)
 *           count=N    at most N injections per process (default unlimited)
 *           seed=S     seed of the deterministic random sequence (default 1)
 *           delay_ms=N for delay (default 100)
 * A malformed spec: one warning, no injection at all. */
#include "inject.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "conn_event.h"
#include "guard.h"
#include "prng.h"
#include "real.h"
#include "record.h"
#include "sink.h"

#define SPECS_MAX 8

enum inj_action { INJ_RESET, INJ_REFUSE, INJ_DELAY };

struct inj_spec {
    enum inj_action action;
    struct retry_rule match; /* only the peer/port fields are used */
    unsigned after, delay_ms;
    uint64_t bytes, ms;
    double prob;
    long count; /* -1: unlimited */
    _Atomic long fired;
};

int inject_enabled;
static struct inj_spec specs[SPECS_MAX];
static unsigned nspecs;
static _Atomic uint64_t rng;

/* Per-connection decisions live in conn flags (bits above the CONN_* ones). */
enum { INJ_DECIDED = 1u << 16, INJ_ARMED = 1u << 17, INJ_DONE = 1u << 18 };

static const char *const action_names[] = {"reset", "refuse", "delay"};

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-') return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v > max) return -EINVAL;
    *out = v;
    return 0;
}

static int parse_spec(char *text, struct inj_spec *sp)
{
    char *colon = strchr(text, ':');
    if (colon) *colon = 0;
    unsigned a = 0;
    while (a < 3 && strcmp(text, action_names[a]))
        a++;
    if (a == 3) return -EINVAL;
    memset(sp, 0, sizeof *sp);
    sp->action = (enum inj_action)a;
    sp->match.port_hi = 65535;
    sp->prob = 1.0;
    sp->count = -1;
    sp->delay_ms = 100;
    if (!colon) return 0;
    char *save = NULL;
    for (char *kv = strtok_r(colon + 1, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) return -EINVAL;
        *eq = 0;
        const char *v = eq + 1;
        uint64_t n;
        if (!strcmp(kv, "peer")) {
            if (config_parse_peer(v, &sp->match)) return -EINVAL;
        } else if (!strcmp(kv, "port")) {
            if (config_parse_ports(v, &sp->match.port_lo, &sp->match.port_hi)) return -EINVAL;
        } else if (!strcmp(kv, "after")) {
            if (parse_u64(v, 1u << 30, &n)) return -EINVAL;
            sp->after = (unsigned)n;
        } else if (!strcmp(kv, "bytes")) {
            if (parse_u64(v, UINT64_MAX / 2, &sp->bytes)) return -EINVAL;
        } else if (!strcmp(kv, "ms")) {
            if (parse_u64(v, 1ull << 40, &sp->ms)) return -EINVAL;
        } else if (!strcmp(kv, "delay_ms")) {
            if (parse_u64(v, 600000, &n)) return -EINVAL;
            sp->delay_ms = (unsigned)n;
        } else if (!strcmp(kv, "count")) {
            if (parse_u64(v, 1u << 30, &n)) return -EINVAL;
            sp->count = (long)n;
        } else if (!strcmp(kv, "seed")) {
            if (parse_u64(v, UINT64_MAX, &n)) return -EINVAL;
            atomic_store(&rng, n ? n : 1);
        } else if (!strcmp(kv, "prob")) {
            char *end;
            errno = 0;
            double p = strtod(v, &end);
            if (*end || end == v || errno || !(p >= 0.0 && p <= 1.0)) return -EINVAL;
            sp->prob = p;
        } else {
            return -EINVAL;
        }
    }
    return 0;
}

void inject_init(const char *spec)
{
    if (!spec[0]) return;
    atomic_store(&rng, 1);
    char buf[OPT_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL;
    nspecs = 0;
    for (char *s = strtok_r(buf, ";", &save); s; s = strtok_r(NULL, ";", &save)) {
        if (nspecs == SPECS_MAX || parse_spec(s, &specs[nspecs]) < 0) {
            char msg[OPT_PATH_MAX + 160];
            snprintf(msg, sizeof msg,
                     "ignoring RSTWATCH_INJECT=%s (expected ACTION:key=value,... with ACTION "
                     "reset|refuse|delay, see docs/retry.md); injecting nothing",
                     spec);
            sink_warn(msg);
            nspecs = 0;
            return;
        }
        nspecs++;
    }
    inject_enabled = nspecs > 0;
}

/* Deterministic for a given seed and sequence of eligible events. */
static int coin(double p)
{
    if (p >= 1.0) return 1;
    return (double)(prng_next(&rng) >> 11) / 9007199254740992.0 < p;
}

static int take_one(struct inj_spec *sp)
{
    if (sp->count < 0) return 1;
    return atomic_fetch_add(&sp->fired, 1) < sp->count;
}

static void inject_record(int fd, struct conn *c, unsigned op, int err, enum inj_action a)
{
    struct record_info ri = {.type = "inject",
                             .fd = fd,
                             .op = op,
                             .err = err,
                             .now_ns = clock_now_ns(),
                             .attempt = 0,
                             .action = action_names[a],
                             .outcome = "injected",
                             .reason = "RSTWATCH_INJECT"};
    conn_record(fd, c, &ri);
}

int inject_connect_attempt(int fd, struct conn *c, const struct sockaddr *sa, socklen_t len)
{
    for (unsigned i = 0; inject_enabled && i < nspecs; i++) {
        struct inj_spec *sp = &specs[i];
        if (sp->action != INJ_REFUSE || !config_rule_matches(&sp->match, &c->peer.sa)) continue;
        if (!coin(sp->prob) || !take_one(sp)) continue;
        inject_record(fd, c, OP_CONNECT, ECONNREFUSED, INJ_REFUSE);
        atomic_store(&c->recorded, 1); /* the inject record is this failure's record */
        return -ECONNREFUSED;
    }
    return real_connect(fd, sa, len) < 0 ? -errno : 0;
}

static struct inj_spec *armed_spec(struct conn *c)
{
    if (!(c->flags & INJ_DECIDED)) {
        c->flags |= INJ_DECIDED;
        for (unsigned i = 0; i < nspecs; i++)
            if (specs[i].action != INJ_REFUSE &&
                config_rule_matches(&specs[i].match, &c->peer.sa) && coin(specs[i].prob)) {
                c->flags |= INJ_ARMED | ((uint32_t)i << 24);
                break;
            }
    }
    if (!(c->flags & INJ_ARMED)) return NULL;
    return &specs[(c->flags >> 24) & 0x7];
}

int inject_before_io(int fd, struct conn *c, int out)
{
    if (guard_active() || (c->flags & INJ_DONE) || c->role == ROLE_SERVER) return 0;
    struct inj_spec *sp = armed_spec(c);
    if (!sp) return 0;
    /* Requests completed: the current one counts once its response began. */
    unsigned done = c->exchanges ? c->exchanges - (c->exchange_resp == 0) : 0;
    if (done < sp->after || c->bytes_in + c->bytes_out < sp->bytes ||
        (clock_now_ns() - c->t_create) / 1000000 < sp->ms)
        return 0;
    if (sp->action == INJ_DELAY) {
        if (!out || c->dir == DIR_OUT) return 0; /* once per request, before its first write */
        if (!take_one(sp)) return 0;
        ring_push(&c->ring, OP_INJECT, sp->delay_ms, 0, clock_now_ns());
        inject_record(fd, c, OP_INJECT, 0, INJ_DELAY);
        struct timespec ts = {sp->delay_ms / 1000, (long)(sp->delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        return 0;
    }
    /* reset: on the read that waits for the response, like a crashing server */
    if (out || c->dir != DIR_OUT || c->exchange_resp) return 0;
    if (!take_one(sp)) {
        c->flags |= INJ_DONE;
        return 0;
    }
    c->flags |= INJ_DONE;
    conn_fill_local(fd, c); /* after the disconnect the socket is unbound */
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    real_connect(fd, &unspec, sizeof unspec); /* tcp_disconnect(): sends RST to the peer */
    ring_push(&c->ring, OP_INJECT, -1, ECONNRESET, clock_now_ns());
    inject_record(fd, c, OP_INJECT, ECONNRESET, INJ_RESET);
    return -ECONNRESET;
}

// SPDX-License-Identifier: MIT
/* config.c: the rules file (see config.h). Schema:
 *
 *   {"defaults": {"retry": "idempotent", "attempts": 3, "base_ms": 50, "cap_ms": 2000,
 *                 "budget_percent": 20, "budget_min": 3, "methods": ["POST"]},
 *    "rules": [{"peer": "127.0.0.1:8080" | "10.0.0.0/8" | "[::1]:443" | "*",
 *               "ports": "8000-8999" | 8080, ...same keys as defaults...}],
 *    "rate": "burst=10,interval=1s,budget=1MiB/min,summary=60s" | "off"}
 *
 * Unknown keys are errors (a typo must not silently change behaviour). */
#include "config.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ratelimit.h"
#include "real.h"
#include "sink.h"

/* jansson's public types, declared here so the shim does not link it. */
typedef struct json_t json_t;
typedef struct {
    int line, column, position;
    char source[80];
    char text[160];
} json_error_t;

static struct {
    json_t *(*loadb)(const char *, size_t, size_t, json_error_t *);
    void (*delete_)(json_t *);
    json_t *(*object_get)(const json_t *, const char *);
    void *(*object_iter)(json_t *);
    void *(*object_iter_next)(json_t *, void *);
    const char *(*object_iter_key)(void *);
    size_t (*array_size)(const json_t *);
    json_t *(*array_get)(const json_t *, size_t);
    const char *(*string_value)(const json_t *);
    long long (*integer_value)(const json_t *);
} J;

/* jansson.h's public json_t is {json_type type; volatile size_t refcount;}: its
 * json_typeof() and json_decref() macros read these fields; so do we. */
enum { JT_OBJECT, JT_ARRAY, JT_STRING, JT_INTEGER, JT_REAL, JT_TRUE, JT_FALSE, JT_NULL };
struct json_head {
    int type;
    volatile size_t refcount;
};

static int jtype(const json_t *j)
{
    return j ? ((const struct json_head *)j)->type : -1;
}

static void jdecref(json_t *j)
{
    struct json_head *h = (struct json_head *)j;
    if (h && h->refcount != (size_t)-1 &&
        __atomic_sub_fetch(&h->refcount, 1, __ATOMIC_RELEASE) == 0)
        J.delete_(j);
}

static int load_jansson(char *err, size_t errlen)
{
    if (J.loadb) return 0;
    void *h = dlopen("libjansson.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "cannot load libjansson.so.4 to read the rules file");
        return -ENOENT;
    }
#define SYM(field, name) *(void **)&J.field = dlsym(h, name)
    SYM(loadb, "json_loadb");
    SYM(delete_, "json_delete");
    SYM(object_get, "json_object_get");
    SYM(object_iter, "json_object_iter");
    SYM(object_iter_next, "json_object_iter_next");
    SYM(object_iter_key, "json_object_iter_key");
    SYM(array_size, "json_array_size");
    SYM(array_get, "json_array_get");
    SYM(string_value, "json_string_value");
    SYM(integer_value, "json_integer_value");
#undef SYM
    if (!J.loadb || !J.delete_ || !J.object_get || !J.object_iter || !J.object_iter_next ||
        !J.object_iter_key || !J.array_size || !J.array_get || !J.string_value ||
        !J.integer_value) {
        J.loadb = NULL;
        snprintf(err, errlen, "libjansson.so.4 lacks a needed symbol");
        return -ENOENT;
    }
    return 0;
}

static int parse_mode(const char *s, enum retry_mode *m)
{
    if (!strcmp(s, "off"))
        *m = RETRY_OFF;
    else if (!strcmp(s, "connect"))
        *m = RETRY_CONNECT;
    else if (!strcmp(s, "idempotent"))
        *m = RETRY_IDEMPOTENT;
    else
        return -EINVAL;
    return 0;
}

int config_parse_ports(const char *s, uint16_t *lo, uint16_t *hi)
{
    char *end;
    errno = 0;
    long a = strtol(s, &end, 10), b = a;
    if (end == s || a < 0 || a > 65535 || errno) return -EINVAL;
    if (*end == '-') {
        const char *p = end + 1;
        b = strtol(p, &end, 10);
        if (end == p || b < a || b > 65535 || errno) return -EINVAL;
    }
    if (*end) return -EINVAL;
    *lo = (uint16_t)a, *hi = (uint16_t)b;
    return 0;
}

/* "1.2.3.4", "1.2.3.4:80", "10.0.0.0/8", "[::1]:443", "::1", "fd00::/8", "*". */
int config_parse_peer(const char *s, struct retry_rule *r)
{
    char host[64];
    const char *port = NULL;
    unsigned prefix = 0;
    if (!strcmp(s, "*")) {
        r->family = 0;
        return 0;
    }
    if (strlen(s) >= sizeof host) return -EINVAL;
    strcpy(host, s);
    char *slash = strchr(host, '/');
    if (slash) {
        *slash = 0;
        char *end;
        long p = strtol(slash + 1, &end, 10);
        if (*end || end == slash + 1 || p < 0 || p > 128) return -EINVAL;
        prefix = (unsigned)p + 1; /* +1: "given" */
    }
    char *h = host;
    if (host[0] == '[') {
        char *close = strchr(host, ']');
        if (!close) return -EINVAL;
        *close = 0;
        h = host + 1;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1])
            return -EINVAL;
    } else {
        char *colon = strchr(host, ':');
        if (colon && !strchr(colon + 1, ':')) { /* exactly one colon: IPv4:port */
            *colon = 0;
            port = colon + 1;
        }
    }
    if (inet_pton(AF_INET, h, r->addr) == 1)
        r->family = AF_INET;
    else if (inet_pton(AF_INET6, h, r->addr) == 1)
        r->family = AF_INET6;
    else
        return -EINVAL;
    unsigned full = r->family == AF_INET ? 32 : 128;
    r->prefix = prefix ? prefix - 1 : full;
    if (r->prefix > full) return -EINVAL;
    if (port && config_parse_ports(port, &r->port_lo, &r->port_hi)) return -EINVAL;
    return 0;
}

/* Applies the keys of object obj to r. Returns 0 or -EINVAL with err set. */
static int apply_object(json_t *obj, struct retry_rule *r, int allow_match, char *err,
                        size_t errlen)
{
    if (jtype(obj) != JT_OBJECT) {
        snprintf(err, errlen, "expected an object");
        return -EINVAL;
    }
    for (void *it = J.object_iter(obj); it; it = J.object_iter_next(obj, it)) {
        const char *key = J.object_iter_key(it);
        json_t *v = J.object_get(obj, key);
        int t = jtype(v);
        long long n = t == JT_INTEGER ? J.integer_value(v) : -1;
        const char *s = t == JT_STRING ? J.string_value(v) : NULL;
        if (allow_match && !strcmp(key, "peer")) {
            if (!s || config_parse_peer(s, r)) goto bad;
        } else if (allow_match && !strcmp(key, "ports")) {
            char tmp[16];
            if (t == JT_INTEGER && n >= 0 && n <= 65535)
                snprintf(tmp, sizeof tmp, "%lld", n), s = tmp;
            if (!s || config_parse_ports(s, &r->port_lo, &r->port_hi)) goto bad;
        } else if (!strcmp(key, "retry")) {
            if (!s || parse_mode(s, &r->mode)) goto bad;
        } else if (!strcmp(key, "attempts")) {
            if (n < 1 || n > 20) goto bad;
            r->attempts = (unsigned)n;
        } else if (!strcmp(key, "base_ms")) {
            if (n < 1 || n > 60000) goto bad;
            r->base_ms = (unsigned)n;
        } else if (!strcmp(key, "cap_ms")) {
            if (n < 1 || n > 600000) goto bad;
            r->cap_ms = (unsigned)n;
        } else if (!strcmp(key, "budget_percent")) {
            if (n < 0 || n > 100) goto bad;
            r->budget_percent = (unsigned)n;
        } else if (!strcmp(key, "budget_min")) {
            if (n < 0 || n > 1000000) goto bad;
            r->budget_min = (unsigned)n;
        } else if (!strcmp(key, "methods")) {
            if (t != JT_ARRAY || J.array_size(v) > RULE_METHODS_MAX) goto bad;
            r->nmethods = 0;
            for (size_t i = 0; i < J.array_size(v); i++) {
                const char *m = J.string_value(J.array_get(v, i));
                if (!m || !*m || strlen(m) >= sizeof r->methods[0] || strpbrk(m, " \t\r\n"))
                    goto bad;
                strcpy(r->methods[r->nmethods++], m);
            }
        } else {
            snprintf(err, errlen, "unknown key \"%.40s\"", key);
            return -EINVAL;
        }
        continue;
    bad:
        snprintf(err, errlen, "bad value for \"%.40s\"", key);
        return -EINVAL;
    }
    if (r->cap_ms < r->base_ms) r->cap_ms = r->base_ms;
    return 0;
}

static void defaults_from_options(struct retry_rule *d, const struct options *o)
{
    memset(d, 0, sizeof *d);
    d->port_hi = 65535;
    d->mode = o->retry;
    d->attempts = o->retry_attempts;
    d->base_ms = o->retry_base_ms;
    d->cap_ms = o->retry_cap_ms;
    d->budget_percent = 20; /* docs/design.md "Retry and replay": at most 20% */
    d->budget_min = 3;      /* ... with a floor of 3 (Envoy's retry budgets work alike) */
}

int config_parse(struct retry_config *cfg, const struct options *o, const char *json, size_t len,
                 char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    defaults_from_options(&cfg->defaults, o);
    cfg->rate = o->rate;
    if (load_jansson(err, errlen)) goto fail;
    json_error_t je;
    json_t *root = J.loadb(json, len, 0, &je);
    if (!root) {
        snprintf(err, errlen, "line %d, column %d: %s", je.line, je.column, je.text);
        goto fail;
    }
    char sub[200] = "";
    int rc = 0;
    if (jtype(root) != JT_OBJECT) {
        snprintf(sub, sizeof sub, "the top level must be an object");
        rc = -EINVAL;
    }
    for (void *it = rc ? NULL : J.object_iter(root); it; it = J.object_iter_next(root, it)) {
        const char *key = J.object_iter_key(it);
        json_t *v = J.object_get(root, key);
        if (!strcmp(key, "version")) {
            if (jtype(v) != JT_INTEGER || J.integer_value(v) != 1) {
                snprintf(sub, sizeof sub, "\"version\" must be 1");
                rc = -EINVAL;
            }
        } else if (!strcmp(key, "defaults")) {
            char e2[160];
            if ((rc = apply_object(v, &cfg->defaults, 0, e2, sizeof e2)))
                snprintf(sub, sizeof sub, "defaults: %s", e2);
        } else if (!strcmp(key, "rate")) {
            /* The same syntax as RSTWATCH_RATE: "burst=10,interval=1s,..." or "off". */
            const char *rv = jtype(v) == JT_STRING ? J.string_value(v) : NULL;
            if (!rv || !*rv || options_parse_rate(rv, &cfg->rate)) {
                snprintf(sub, sizeof sub, "\"rate\" must be a string like \"%s\" or \"off\"",
                         RATE_DEFAULT);
                rc = -EINVAL;
            }
        } else if (!strcmp(key, "rules")) {
            if (jtype(v) != JT_ARRAY || J.array_size(v) > RULES_MAX) {
                snprintf(sub, sizeof sub, "\"rules\" must be an array of at most %d", RULES_MAX);
                rc = -EINVAL;
            }
        } else {
            snprintf(sub, sizeof sub, "unknown key \"%.40s\"", key);
            rc = -EINVAL;
        }
        if (rc) break;
    }
    json_t *rules = rc ? NULL : J.object_get(root, "rules");
    for (size_t i = 0; rules && i < J.array_size(rules); i++) {
        struct retry_rule *r = &cfg->rules[cfg->nrules];
        *r = cfg->defaults;
        r->family = 0;
        r->port_lo = 0, r->port_hi = 65535;
        char e2[160];
        if ((rc = apply_object(J.array_get(rules, i), r, 1, e2, sizeof e2))) {
            snprintf(sub, sizeof sub, "rules[%zu]: %s", i, e2);
            break;
        }
        cfg->nrules++;
    }
    jdecref(root);
    if (!rc) return 0;
    snprintf(err, errlen, "%s", sub);
fail:
    memset(cfg, 0, sizeof *cfg);
    defaults_from_options(&cfg->defaults, o);
    cfg->defaults.mode = RETRY_OFF;
    cfg->rate = o->rate;
    return -EINVAL;
}

int config_load(struct retry_config *cfg, const struct options *o, const char *path)
{
    if (!path || !*path) { /* the common case: no file, only the defaults (no 13 KiB memset) */
        cfg->nrules = 0;
        defaults_from_options(&cfg->defaults, o);
        cfg->rate = o->rate;
        ratelimit_configure(&cfg->rate);
        return 0;
    }
    char err[300];
    /* O_NONBLOCK: a FIFO without a writer must not hang the host at load. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    FILE *f = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc = -EINVAL;
    if (fd < 0) {
        snprintf(err, sizeof err, "%s", strerror(errno));
    } else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, sizeof err, "not a regular file");
        real_close(fd);
    } else if (!(f = real_fdopen(fd, "r"))) {
        snprintf(err, sizeof err, "%s", strerror(errno));
        real_close(fd);
    } else {
        size_t cap = 1 << 20; /* a rules file is small; refuse anything past 1 MiB */
        buf = malloc(cap + 1);
        if (buf) len = fread(buf, 1, cap + 1, f);
        real_fclose(f);
        if (!buf)
            snprintf(err, sizeof err, "out of memory");
        else if (len > cap)
            snprintf(err, sizeof err, "larger than 1 MiB");
        else if (memchr(buf, 0, len))
            snprintf(err, sizeof err, "contains NUL bytes (binary?)");
        else
            rc = config_parse(cfg, o, buf, len, err, sizeof err);
    }
    free(buf);
    ratelimit_configure(rc == 0 ? &cfg->rate : &o->rate);
    if (rc == 0) return 0;
    char msg[480];
    snprintf(msg, sizeof msg, "ignoring RSTWATCH_CONFIG=%.150s: %.280s; retry is off", path, err);
    sink_warn(msg);
    memset(cfg, 0, sizeof *cfg);
    defaults_from_options(&cfg->defaults, o);
    cfg->defaults.mode = RETRY_OFF;
    return -EINVAL;
}

static int prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned bytes = bits / 8, rest = bits % 8;
    if (memcmp(a, b, bytes)) return 0;
    if (!rest) return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[bytes] & mask) == (b[bytes] & mask);
}

int config_rule_matches(const struct retry_rule *r, const struct sockaddr *sa)
{
    const uint8_t *addr = NULL;
    unsigned port = 0;
    int family = sa->sa_family;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        addr = (const uint8_t *)&in->sin_addr;
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        addr = (const uint8_t *)&in6->sin6_addr;
        port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) family = AF_INET, addr += 12; /* dual-stack */
    }
    if (port < r->port_lo || port > r->port_hi) return 0;
    if (r->family && (!addr || r->family != family || !prefix_match(addr, r->addr, r->prefix)))
        return 0;
    return 1;
}

const struct retry_rule *config_match(const struct retry_config *cfg, const struct sockaddr *sa)
{
    for (unsigned i = 0; i < cfg->nrules; i++)
        if (config_rule_matches(&cfg->rules[i], sa)) return &cfg->rules[i];
    return &cfg->defaults;
}

/* config_test.c: the RSTWATCH_CONFIG rules file (shim/config.c).
 *
 * A table of documents -> accepted (with field checks) or rejected (with the
 * words the one-line error must contain, and pass-through afterwards: no
 * rules, retry off); then a table of peer addresses -> the rule config_match
 * picks, and the peer/ports parsers on their own. Prints TAP; exits 1 on
 * any failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

#include "config.h"

static struct options opts; /* the environment's defaults: retry connect, 3 attempts ... */
static struct retry_config cfg;

static int parse(const char *doc, char *err, size_t errlen)
{
    err[0] = 0;
    return config_parse(&cfg, &opts, doc, strlen(doc), err, errlen);
}

/* ---- rejected documents ------------------------------------------------------------ */

static char deep_doc[10000];
static char many_rules[8000];

static const struct {
    const char *name;
    const char *doc;
    const char *words[3]; /* the error must contain each */
} bad_docs[] = {
    {"syntax error on line 3",
     "{\n  \"rules\": [\n    {\"peer\": \"1.2.3.4\",}\n  ]\n}\n",
     {"line 3", "column"}},
    {"unterminated document", "{\"defaults\": {\"retry\": \"connect\"", {"line 1", "column"}},
    {"empty document", "", {"line", "column"}},
    {"trailing garbage after the object", "{} x", {"line 1", "column"}},
    {"top level is an array", "[]", {"top level", "object"}},
    {"top level is a string", "\"rules\"", {"line", "column"}},
    {"unknown top-level key", "{\"rulez\": []}", {"unknown key", "rulez"}},
    {"unknown key in defaults",
     "{\"defaults\": {\"retries\": 3}}",
     {"defaults", "unknown key", "retries"}},
    {"unknown key in a rule",
     "{\"rules\": [{\"peer\": \"*\", \"mode\": \"connect\"}]}",
     {"rules[0]", "unknown key", "mode"}},
    {"version 2", "{\"version\": 2}", {"version", "1"}},
    {"version as a string", "{\"version\": \"1\"}", {"version"}},
    {"rules is an object", "{\"rules\": {\"peer\": \"*\"}}", {"rules", "array"}},
    {"a rule that is a number", "{\"rules\": [1]}", {"rules[0]", "object"}},
    {"defaults is an array", "{\"defaults\": []}", {"defaults", "object"}},
    {"retry is a number", "{\"defaults\": {\"retry\": 1}}", {"bad value", "retry"}},
    {"retry mode unknown", "{\"defaults\": {\"retry\": \"always\"}}", {"bad value", "retry"}},
    {"attempts as a string", "{\"defaults\": {\"attempts\": \"3\"}}", {"bad value", "attempts"}},
    {"attempts 0", "{\"defaults\": {\"attempts\": 0}}", {"attempts"}},
    {"attempts 21", "{\"defaults\": {\"attempts\": 21}}", {"attempts"}},
    {"attempts as a real", "{\"defaults\": {\"attempts\": 3.0}}", {"attempts"}},
    {"attempts huge", "{\"defaults\": {\"attempts\": 99999999999999999999}}", {"line", "column"}},
    {"attempts 2^32+3 (no wrap to 3)", "{\"defaults\": {\"attempts\": 4294967299}}", {"attempts"}},
    {"base_ms 0", "{\"defaults\": {\"base_ms\": 0}}", {"base_ms"}},
    {"cap_ms negative", "{\"defaults\": {\"cap_ms\": -1}}", {"cap_ms"}},
    {"budget_percent 101", "{\"defaults\": {\"budget_percent\": 101}}", {"budget_percent"}},
    {"budget_min true", "{\"defaults\": {\"budget_min\": true}}", {"budget_min"}},
    {"methods is a string", "{\"defaults\": {\"methods\": \"POST\"}}", {"methods"}},
    {"methods with a number", "{\"defaults\": {\"methods\": [\"POST\", 7]}}", {"methods"}},
    {"methods with an empty name", "{\"defaults\": {\"methods\": [\"\"]}}", {"methods"}},
    {"methods with a space", "{\"defaults\": {\"methods\": [\"PO ST\"]}}", {"methods"}},
    {"methods with a 16-byte name",
     "{\"defaults\": {\"methods\": [\"ABCDEFGHIJKLMNOP\"]}}",
     {"methods"}},
    {"9 methods (max 8)",
     "{\"defaults\": {\"methods\": [\"A\",\"B\",\"C\",\"D\",\"E\",\"F\",\"G\",\"H\",\"I\"]}}",
     {"methods"}},
    {"peer in defaults (match keys only in rules)",
     "{\"defaults\": {\"peer\": \"*\"}}",
     {"unknown key", "peer"}},
    {"peer as a number", "{\"rules\": [{\"peer\": 1234}]}", {"rules[0]", "peer"}},
    {"peer with a bad IPv4", "{\"rules\": [{\"peer\": \"300.1.1.1\"}]}", {"peer"}},
    {"peer host name (no DNS)", "{\"rules\": [{\"peer\": \"example.com:80\"}]}", {"peer"}},
    {"peer /33", "{\"rules\": [{\"peer\": \"10.0.0.0/33\"}]}", {"peer"}},
    {"peer IPv6 /129", "{\"rules\": [{\"peer\": \"fd00::/129\"}]}", {"peer"}},
    {"peer /-1", "{\"rules\": [{\"peer\": \"10.0.0.0/-1\"}]}", {"peer"}},
    {"peer unclosed bracket", "{\"rules\": [{\"peer\": \"[::1:443\"}]}", {"peer"}},
    {"peer port 65536", "{\"rules\": [{\"peer\": \"1.2.3.4:65536\"}]}", {"peer"}},
    {"peer empty port", "{\"rules\": [{\"peer\": \"1.2.3.4:\"}]}", {"peer"}},
    {"peer junk after the bracket", "{\"rules\": [{\"peer\": \"[::1]x\"}]}", {"peer"}},
    {"ports reversed", "{\"rules\": [{\"ports\": \"9000-8000\"}]}", {"ports"}},
    {"ports 70000", "{\"rules\": [{\"ports\": 70000}]}", {"ports"}},
    {"ports negative", "{\"rules\": [{\"ports\": -1}]}", {"ports"}},
    {"ports with junk", "{\"rules\": [{\"ports\": \"80,443\"}]}", {"ports"}},
    {"ports as an array", "{\"rules\": [{\"ports\": [80]}]}", {"ports"}},
    {"second rule bad: the index is named",
     "{\"rules\": [{\"peer\": \"*\"}, {\"attempts\": 0}]}",
     {"rules[1]", "attempts"}},
    {"65 rules (max 64)", many_rules, {"rules", "64"}},
    {"nesting 4000 deep", deep_doc, {"line", "column"}},
};

static void check_bad_docs(void)
{
    for (size_t i = 0; i < sizeof bad_docs / sizeof bad_docs[0]; i++) {
        char err[300];
        memset(&cfg, 0x5a, sizeof cfg);
        int rc = parse(bad_docs[i].doc, err, sizeof err);
        int good = rc == -EINVAL && err[0] && !strchr(err, '\n');
        for (int k = 0; k < 3 && bad_docs[i].words[k]; k++)
            if (!strstr(err, bad_docs[i].words[k])) good = 0;
        /* a broken file means pass-through: no rules, retry off */
        good = good && cfg.nrules == 0 && cfg.defaults.mode == RETRY_OFF;
        if (!ok(good, "rejected: %s", bad_docs[i].name))
            printf("#   rc %d, nrules %u, mode %d, error \"%s\"\n", rc, cfg.nrules,
                   cfg.defaults.mode, err);
    }
}

/* ---- accepted documents ------------------------------------------------------------- */

static void check_good_docs(void)
{
    char err[300];
    int rc = parse("{}", err, sizeof err);
    ok(rc == 0 && cfg.nrules == 0 && cfg.defaults.mode == RETRY_CONNECT &&
           cfg.defaults.attempts == 3 && cfg.defaults.base_ms == 50 &&
           cfg.defaults.cap_ms == 2000 && cfg.defaults.budget_percent == 20 &&
           cfg.defaults.budget_min == 3 && cfg.defaults.port_lo == 0 &&
           cfg.defaults.port_hi == 65535 && cfg.defaults.family == 0,
       "{}: the environment's settings and the documented budget (20%%, floor 3) as defaults");

    rc = parse(" \n\t{ \"version\" : 1 }\n\n", err, sizeof err);
    ok(rc == 0, "whitespace and \"version\": 1 are accepted");

    const char *doc = "{\"version\": 1,\n"
                      " \"defaults\": {\"retry\": \"idempotent\", \"attempts\": 4, \"base_ms\": "
                      "10, \"cap_ms\": 5,\n"
                      "              \"budget_percent\": 50, \"budget_min\": 0, \"methods\": "
                      "[\"POST\", \"PATCH\"]},\n"
                      " \"rules\": [\n"
                      "   {\"peer\": \"127.0.0.1:8080\", \"retry\": \"connect\"},\n"
                      "   {\"peer\": \"10.0.0.0/8\", \"ports\": \"8000-8999\", \"attempts\": 7},\n"
                      "   {\"peer\": \"[::1]:443\", \"retry\": \"off\"},\n"
                      "   {\"peer\": \"fd00::/8\", \"methods\": []},\n"
                      "   {\"ports\": 9000, \"base_ms\": 200, \"cap_ms\": 100},\n"
                      "   {\"peer\": \"172.16.0.0/12\"},\n"
                      "   {\"peer\": \"::ffff:192.0.2.1\"},\n"
                      "   {\"peer\": \"*\", \"ports\": \"0\"}\n"
                      " ]}\n";
    rc = parse(doc, err, sizeof err);
    ok(rc == 0 && cfg.nrules == 8, "a full document parses: 8 rules (rc %d, \"%s\")", rc, err);
    const struct retry_rule *d = &cfg.defaults, *r = cfg.rules;
    ok(d->mode == RETRY_IDEMPOTENT && d->attempts == 4 && d->base_ms == 10 && d->cap_ms == 10 &&
           d->budget_percent == 50 && d->budget_min == 0 && d->nmethods == 2 &&
           !strcmp(d->methods[0], "POST") && !strcmp(d->methods[1], "PATCH"),
       "defaults applied; cap_ms below base_ms raised to it");
    ok(r[0].family == AF_INET && r[0].prefix == 32 && r[0].port_lo == 8080 &&
           r[0].port_hi == 8080 && r[0].mode == RETRY_CONNECT && r[0].attempts == 4 &&
           r[0].nmethods == 2,
       "rule 0: host:port, mode overridden, the rest inherited from defaults");
    ok(r[1].family == AF_INET && r[1].prefix == 8 && r[1].port_lo == 8000 && r[1].port_hi == 8999 &&
           r[1].attempts == 7 && r[1].mode == RETRY_IDEMPOTENT,
       "rule 1: CIDR /8 and a port range");
    ok(r[2].family == AF_INET6 && r[2].prefix == 128 && r[2].port_lo == 443 &&
           r[2].mode == RETRY_OFF,
       "rule 2: [::1]:443, retry off");
    ok(r[3].family == AF_INET6 && r[3].prefix == 8 && r[3].nmethods == 0 && r[3].port_hi == 65535,
       "rule 3: IPv6 CIDR, an empty methods list clears the inherited one");
    ok(r[4].family == 0 && r[4].port_lo == 9000 && r[4].port_hi == 9000 && r[4].base_ms == 200 &&
           r[4].cap_ms == 200,
       "rule 4: ports as a number, any address; its cap raised to its base");
    ok(r[5].prefix == 12 && r[6].family == AF_INET6 && r[7].family == 0 && r[7].port_hi == 0,
       "rules 5-7: /12, a v4-mapped IPv6 host, \"*\" with port 0");

    rc =
        parse("{\"rules\": [{\"peer\": \"*\"}], \"defaults\": {\"attempts\": 9}}", err, sizeof err);
    ok(rc == 0 && cfg.nrules == 1 && cfg.rules[0].attempts == 9,
       "rules inherit \"defaults\" even when it comes after them in the file");

    /* exactly 64 rules are fine */
    char doc64[8000] = "{\"rules\": [";
    for (int i = 0; i < 64; i++)
        strcat(doc64, i ? ",{\"ports\": 1}" : "{\"ports\": 1}");
    strcat(doc64, "]}");
    rc = parse(doc64, err, sizeof err);
    ok(rc == 0 && cfg.nrules == 64, "64 rules (the maximum) are accepted");

    /* a parse failure after a good parse leaves nothing of the good one */
    parse(doc, err, sizeof err);
    rc = parse("{\"rules\": [{\"peer\": \"*\"}, {\"bogus\": 1}]}", err, sizeof err);
    ok(rc == -EINVAL && cfg.nrules == 0 && cfg.defaults.mode == RETRY_OFF &&
           cfg.defaults.attempts == 3,
       "a bad rule after a good one: no rules at all, environment defaults with retry off");

    /* not NUL-terminated: config_parse honours len */
    const char buf[] = {'{', '}', 'x', 'x'};
    rc = config_parse(&cfg, &opts, buf, 2, err, sizeof err);
    ok(rc == 0, "config_parse reads only len bytes");
}

/* ---- config_match --------------------------------------------------------------------------- */

static void sa_of(struct sockaddr_storage *ss, const char *ip, unsigned port)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
    } else if (!strcmp(ip, "unix")) {
        ss->ss_family = AF_UNIX;
    } else {
        abort();
    }
}

static void check_match(void)
{
    const char *doc = "{\"defaults\": {\"retry\": \"off\"}, \"rules\": [\n"
                      "  {\"peer\": \"127.0.0.1:8080\", \"retry\": \"connect\"},\n"  /* 0 */
                      "  {\"peer\": \"10.0.0.0/8\", \"ports\": \"8000-8999\"},\n"    /* 1 */
                      "  {\"peer\": \"[::1]:443\"},\n"                               /* 2 */
                      "  {\"peer\": \"fd00::/8\"},\n"                                /* 3 */
                      "  {\"ports\": 9000},\n"                                       /* 4 */
                      "  {\"peer\": \"172.16.0.0/12\"},\n"                           /* 5 */
                      "  {\"peer\": \"192.168.1.128/25\", \"ports\": \"1-1024\"},\n" /* 6 */
                      "  {\"peer\": \"0.0.0.0/0\", \"ports\": \"5432\"},\n"          /* 7 */
                      "  {\"peer\": \"::/0\", \"ports\": \"6379\"},\n"               /* 8 */
                      "  {\"peer\": \"10.0.0.1\"}\n" /* 9: shadowed by 1 for 8xxx */
                      "]}";
    char err[300];
    int rc = parse(doc, err, sizeof err);
    ok(rc == 0 && cfg.nrules == 10, "the match document parses (rc %d, \"%s\")", rc, err);
    static const struct {
        const char *ip;
        unsigned port;
        int want; /* rule index, -1 = defaults */
    } cases[] = {
        {"127.0.0.1", 8080, 0},
        {"127.0.0.1", 8081, -1},
        {"127.0.0.2", 8080, -1},
        {"10.1.2.3", 8000, 1},
        {"10.255.255.255", 8999, 1},
        {"10.1.2.3", 7999, -1},
        {"10.1.2.3", 9000, 4},
        {"11.0.0.1", 8500, -1},
        {"::1", 443, 2},
        {"::1", 80, -1},
        {"::2", 443, -1},
        {"fd12:3456::5", 1, 3},
        {"fdff:ffff::1", 65535, 3},
        {"fe00::1", 1, -1},
        {"2001:db8::1", 9000, 4},
        {"172.16.0.1", 80, 5},
        {"172.31.255.255", 80, 5},
        {"172.32.0.0", 80, -1},
        {"172.15.255.255", 80, -1},
        {"192.168.1.128", 22, 6},
        {"192.168.1.255", 1024, 6},
        {"192.168.1.127", 22, -1},
        {"192.168.1.200", 1025, -1},
        {"8.8.8.8", 5432, 7},
        {"2001:db8::9", 5432, -1},
        {"2001:db8::9", 6379, 8},
        {"8.8.8.8", 6379, -1},
        {"10.0.0.1", 8080, 1},
        {"10.0.0.1", 80, 9},
        {"unix", 0, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sockaddr_storage ss;
        sa_of(&ss, cases[i].ip, cases[i].port);
        const struct retry_rule *m = config_match(&cfg, (struct sockaddr *)&ss);
        int got = m == &cfg.defaults ? -1 : (int)(m - cfg.rules);
        char want_s[16], got_s[16];
        snprintf(want_s, sizeof want_s, cases[i].want < 0 ? "defaults" : "rule %d", cases[i].want);
        snprintf(got_s, sizeof got_s, got < 0 ? "defaults" : "rule %d", got);
        ok(got == cases[i].want, "config_match %s port %u -> %s (got %s)", cases[i].ip,
           cases[i].port, want_s, got_s);
    }
    /* A dual-stack AF_INET6 socket (Java's default, or any "::" client)
     * reaches an IPv4 peer as ::ffff:a.b.c.d: an IPv4 rule should apply. */
    struct sockaddr_storage ss;
    sa_of(&ss, "::ffff:127.0.0.1", 8080);
    const struct retry_rule *m = config_match(&cfg, (struct sockaddr *)&ss);
    ok(m == &cfg.rules[0],
       "config_match ::ffff:127.0.0.1 port 8080 -> rule 0 (127.0.0.1:8080): v4-mapped peers of "
       "dual-stack sockets match IPv4 rules");
}

/* ---- the shared parsers ------------------------------------------------------------------------
 */

static void check_parsers(void)
{
    static const struct {
        const char *s;
        int rc, family;
        unsigned prefix;
        int lo, hi; /* -1: untouched */
    } peers[] = {
        {"1.2.3.4", 0, AF_INET, 32, -1, -1},
        {"1.2.3.4:80", 0, AF_INET, 32, 80, 80},
        {"1.2.3.4:8000-8080", 0, AF_INET, 32, 8000, 8080},
        {"10.0.0.0/8", 0, AF_INET, 8, -1, -1},
        {"0.0.0.0/0", 0, AF_INET, 0, -1, -1},
        {"::1", 0, AF_INET6, 128, -1, -1},
        {"[::1]", 0, AF_INET6, 128, -1, -1},
        {"[::1]:443", 0, AF_INET6, 128, 443, 443},
        {"fd00::/8", 0, AF_INET6, 8, -1, -1},
        {"*", 0, 0, 0, -1, -1},
        {"", -EINVAL, 0, 0, -1, -1},
        {"1.2.3", -EINVAL, 0, 0, -1, -1},
        {"1.2.3.4/", -EINVAL, 0, 0, -1, -1},
        {"1.2.3.4/8x", -EINVAL, 0, 0, -1, -1},
        {"::1:443x", -EINVAL, 0, 0, -1, -1},
        {"[::1]:", -EINVAL, 0, 0, -1, -1},
        {"localhost", -EINVAL, 0, 0, -1, -1},
        {"0123456789012345678901234567890123456789012345678901234567890123456789", -EINVAL, 0, 0,
         -1, -1},
    };
    for (size_t i = 0; i < sizeof peers / sizeof peers[0]; i++) {
        struct retry_rule r;
        memset(&r, 0, sizeof r);
        r.port_lo = 11, r.port_hi = 22;
        int rc = config_parse_peer(peers[i].s, &r);
        int good = rc == peers[i].rc;
        if (good && rc == 0) {
            good = r.family == peers[i].family && (!r.family || r.prefix == peers[i].prefix) &&
                   r.port_lo == (peers[i].lo < 0 ? 11 : peers[i].lo) &&
                   r.port_hi == (peers[i].hi < 0 ? 22 : peers[i].hi);
        }
        ok(good, "config_parse_peer(\"%.20s\") %s", peers[i].s,
           peers[i].rc ? "rejected" : "accepted");
    }
    static const struct {
        const char *s;
        int rc, lo, hi;
    } ports[] = {
        {"80", 0, 80, 80},        {"0", 0, 0, 0},           {"65535", 0, 65535, 65535},
        {"1-65535", 0, 1, 65535}, {"80-80", 0, 80, 80},     {"65536", -EINVAL, 0, 0},
        {"", -EINVAL, 0, 0},      {"-80", -EINVAL, 0, 0},   {"80-", -EINVAL, 0, 0},
        {"80-79", -EINVAL, 0, 0}, {"8o", -EINVAL, 0, 0},    {"99999999999999999999", -EINVAL, 0, 0},
        {"80 ", -EINVAL, 0, 0},   {"1-2-3", -EINVAL, 0, 0},
    };
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
        uint16_t lo = 7, hi = 7;
        int rc = config_parse_ports(ports[i].s, &lo, &hi);
        ok(rc == ports[i].rc && (rc || (lo == ports[i].lo && hi == ports[i].hi)) &&
               (!rc || (lo == 7 && hi == 7)),
           "config_parse_ports(\"%s\") %s", ports[i].s,
           ports[i].rc ? "rejected, output untouched" : "accepted");
    }
}

int main(void)
{
    options_defaults(&opts);
    opts.retry = RETRY_CONNECT;
    /* deep nesting inside a known key */
    size_t n = 0;
    n += (size_t)snprintf(deep_doc, sizeof deep_doc, "{\"defaults\": {\"methods\": ");
    for (int i = 0; i < 4000; i++)
        deep_doc[n++] = '[';
    for (int i = 0; i < 4000; i++)
        deep_doc[n++] = ']';
    strcpy(deep_doc + n, "}}");
    strcpy(many_rules, "{\"rules\": [");
    for (int i = 0; i < 65; i++)
        strcat(many_rules, i ? ",{}" : "{}");
    strcat(many_rules, "]}");

    check_bad_docs();
    check_good_docs();
    check_match();
    check_parsers();
    return tap_done();
}

// SPDX-License-Identifier: MIT
/* config.h: the RSTWATCH_CONFIG rules file: per-peer retry mode, attempts,
 * backoff, budget and extra idempotent methods. Parsed once at load with
 * jansson, which is dlopen'ed only when a rules file is given (a host that
 * does not use one never loads it). Any problem: one warning naming file,
 * line and column, and no rules at all (pass-through), never a failed host. */
#ifndef RSTWATCH_CONFIG_H
#define RSTWATCH_CONFIG_H

#include <stdint.h>
#include <sys/socket.h>

#include "options.h"

#define RULES_MAX 64
#define RULE_METHODS_MAX 8

struct retry_rule {
    /* match */
    int family;                /* 0 = any address */
    uint8_t addr[16];          /* network address */
    unsigned prefix;           /* CIDR bits; full length for a host */
    uint16_t port_lo, port_hi; /* 0..65535 = any port */
    /* action */
    enum retry_mode mode;
    unsigned attempts, base_ms, cap_ms;
    unsigned budget_percent, budget_min;
    char methods[RULE_METHODS_MAX][16]; /* extra idempotent methods */
    unsigned nmethods;
};

struct retry_config {
    struct retry_rule defaults; /* from the environment, then "defaults" in the file */
    struct retry_rule rules[RULES_MAX];
    unsigned nrules;
    struct rate_limits rate; /* from the environment, then "rate" in the file */
};

/* Fills cfg from the options and, if path is non-empty, the rules file, and
 * puts cfg->rate in force (ratelimit_configure).
 * Returns 0, or -EINVAL after one warning (cfg then holds the defaults with
 * retry off: a broken rules file means pass-through). */
int config_load(struct retry_config *cfg, const struct options *o, const char *path);

/* Parses an in-memory JSON document (the fuzz target and unit tests); the
 * warning text goes to err. Same contract as config_load. */
int config_parse(struct retry_config *cfg, const struct options *o, const char *json, size_t len,
                 char *err, size_t errlen);

/* Does the rule's peer/ports match sa? */
int config_rule_matches(const struct retry_rule *r, const struct sockaddr *sa);

/* Parsers shared with inject.c: "1.2.3.4[:port]", "[v6]:port", CIDR, "*"; "80" or "8000-8999".
 * Return 0 or -EINVAL. */
int config_parse_peer(const char *s, struct retry_rule *r);
int config_parse_ports(const char *s, uint16_t *lo, uint16_t *hi);

/* The first rule matching the peer address, else &cfg->defaults. */
const struct retry_rule *config_match(const struct retry_config *cfg, const struct sockaddr *sa);

#endif

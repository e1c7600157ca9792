// SPDX-License-Identifier: MIT
/* fuzz_config.c: libFuzzer target for the RSTWATCH_CONFIG rules parser
 * (config_parse) and the rule matcher, the only code in the shim that reads a
 * structured file. Every input must end in "ok" or one clear error string,
 * never a crash, a leak or undefined behaviour. */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct retry_config cfg; /* large: keep it off the stack */
    struct options o;
    options_defaults(&o);
    char err[300];
    int rc = config_parse(&cfg, &o, (const char *)data, size, err, sizeof err);
    if (rc != 0 && !err[0]) __builtin_trap(); /* a failure must say why */
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(8080)};
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &in6.sin6_addr);
    const struct retry_rule *r1 = config_match(&cfg, (struct sockaddr *)&in);
    const struct retry_rule *r2 = config_match(&cfg, (struct sockaddr *)&in6);
    if (!r1 || !r2 || r1->attempts < 1 || r2->cap_ms < r2->base_ms) __builtin_trap();
    return 0;
}

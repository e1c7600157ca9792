// SPDX-License-Identifier: MIT
/* strbuf.h: bounded, allocation-free, async-signal-safe string building.
 * Appending past the end sets overflow and stops; the caller decides whether
 * a truncated result may be used (a record line never is). */
#ifndef RSTWATCH_STRBUF_H
#define RSTWATCH_STRBUF_H

#include <stddef.h>
#include <stdint.h>

struct strbuf {
    char *p;
    size_t len, cap;
    int overflow;
};

static inline void sb_init(struct strbuf *b, char *p, size_t cap)
{
    b->p = p;
    b->len = 0;
    b->cap = cap;
    b->overflow = 0;
}

void sb_putn(struct strbuf *b, const char *s, size_t n);
void sb_puts(struct strbuf *b, const char *s);
void sb_putc(struct strbuf *b, char c);
void sb_putu(struct strbuf *b, uint64_t v);
void sb_puti(struct strbuf *b, int64_t v);
/* ns as milliseconds with three decimals: 1503215000 -> "1503.215". */
void sb_put_ms(struct strbuf *b, uint64_t ns);
/* A JSON string literal, quoted; control bytes and invalid UTF-8 escaped (\u00XX). */
void sb_put_json_str(struct strbuf *b, const char *s, size_t n);
/* NUL-terminates (within cap) and returns p; "" on overflow-at-zero. */
const char *sb_cstr(struct strbuf *b);

#endif

// SPDX-License-Identifier: MIT
/* strbuf.c: the bounded string builder behind every record and hint. No libc
 * formatting (printf is neither async-signal-safe nor allocation-free). */
#include "strbuf.h"

#include <string.h>

void sb_putn(struct strbuf *b, const char *s, size_t n)
{
    if (b->overflow || n > b->cap - b->len) {
        b->overflow = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void sb_puts(struct strbuf *b, const char *s)
{
    sb_putn(b, s, strlen(s));
}

void sb_putc(struct strbuf *b, char c)
{
    sb_putn(b, &c, 1);
}

void sb_putu(struct strbuf *b, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sb_putn(b, tmp + i, sizeof tmp - i);
}

void sb_puti(struct strbuf *b, int64_t v)
{
    if (v < 0) {
        sb_putc(b, '-');
        sb_putu(b, (uint64_t)0 - (uint64_t)v);
    } else {
        sb_putu(b, (uint64_t)v);
    }
}

void sb_put_ms(struct strbuf *b, uint64_t ns)
{
    uint64_t us = ns / 1000;
    sb_putu(b, us / 1000);
    char frac[4] = {'.', (char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10),
                    (char)('0' + us % 10)};
    sb_putn(b, frac, sizeof frac);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len) return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

void sb_put_json_str(struct strbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    sb_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned c = u[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sb_putn(b, esc, 2);
            i++;
        } else if (c == '\n') {
            sb_putn(b, "\\n", 2), i++;
        } else if (c == '\t') {
            sb_putn(b, "\\t", 2), i++;
        } else if (c == '\r') {
            sb_putn(b, "\\r", 2), i++;
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sb_putn(b, esc, 6);
            i++;
        } else {
            size_t len = utf8_len(u + i, n - i);
            if (len) {
                sb_putn(b, s + i, len);
                i += len;
            } else { /* not UTF-8: keep the byte visible as U+00XX */
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                sb_putn(b, esc, 6);
                i++;
            }
        }
    }
    sb_putc(b, '"');
}

const char *sb_cstr(struct strbuf *b)
{
    if (b->cap == 0) return "";
    if (b->len >= b->cap) b->len = b->cap - 1;
    b->p[b->len] = 0;
    return b->p;
}

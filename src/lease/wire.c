/*
 * wire.c - strict number parsing, tokens and line building for the lease protocol (wire.h).
 *
 * Strictness is deliberate: one spelling per message means the server never has to guess what
 * a client meant, and a fuzzed or corrupted line is rejected instead of half-understood.
 */
#include <errno.h>
#include <string.h>

#include "wire.h"

bool mk__lease_printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

int mk__lease_parse_u64(struct mk__lease_tok t, uint64_t *ret)
{
    uint64_t v = 0;
    if (t.n == 0 || t.n > MK__LEASE_U64_DIGITS || (t.n > 1 && t.p[0] == '0'))
        return -EINVAL;
    for (size_t i = 0; i < t.n; i++) {
        unsigned d = (unsigned)(unsigned char)t.p[i] - '0';
        if (d > 9)
            return -EINVAL;
        if (v > (UINT64_MAX - d) / 10)
            return -EINVAL;
        v = v * 10 + d;
    }
    *ret = v;
    return 0;
}

void mk__lease_cursor_init(struct mk__lease_cursor *c, const char *line, size_t n)
{
    c->p = line;
    c->end = line + n;
}

int mk__lease_next(struct mk__lease_cursor *c, struct mk__lease_tok *ret)
{
    const char *sp;
    if (c->p == c->end)
        return 0;
    sp = memchr(c->p, ' ', (size_t)(c->end - c->p));
    if (!sp)
        sp = c->end;
    if (sp == c->p)
        return -EINVAL;
    ret->p = c->p;
    ret->n = (size_t)(sp - c->p);
    if (sp == c->end) {
        c->p = c->end;
        return 1;
    }
    /* A separator must be followed by a token: "GRANT 5 " is malformed. */
    if (sp + 1 == c->end)
        return -EINVAL;
    c->p = sp + 1;
    return 1;
}

struct mk__lease_tok mk__lease_rest(struct mk__lease_cursor *c)
{
    struct mk__lease_tok t = {c->p, (size_t)(c->end - c->p)};
    c->p = c->end;
    return t;
}

bool mk__lease_tok_is(struct mk__lease_tok t, const char *s)
{
    size_t n = strlen(s);
    return t.n == n && memcmp(t.p, s, n) == 0;
}

bool mk__lease_tok_key(struct mk__lease_tok t, const char *key, struct mk__lease_tok *ret_value)
{
    size_t n = strlen(key);
    if (t.n <= n || memcmp(t.p, key, n) != 0 || t.p[n] != '=')
        return false;
    ret_value->p = t.p + n + 1;
    ret_value->n = t.n - n - 1;
    return true;
}

void mk__lease_line_init(struct mk__lease_line *l, char *buf, size_t cap)
{
    l->p = buf;
    l->len = 0;
    l->cap = cap;
    l->overflow = false;
}

void mk__lease_line_putn(struct mk__lease_line *l, const char *s, size_t n)
{
    if (l->overflow || n > l->cap - l->len) {
        l->overflow = true;
        return;
    }
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

void mk__lease_line_put(struct mk__lease_line *l, const char *s)
{
    mk__lease_line_putn(l, s, strlen(s));
}

void mk__lease_line_put_u64(struct mk__lease_line *l, uint64_t v)
{
    char digits[MK__LEASE_U64_DIGITS];
    size_t i = sizeof(digits);
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    mk__lease_line_putn(l, digits + i, sizeof(digits) - i);
}

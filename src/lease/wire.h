/*
 * wire.h - the few text helpers of the lease protocol shared by the client (src/lease/client.c)
 * and the server (src/daemon/lease.c): strict decimal numbers, single-space tokens and an
 * append-only line builder. No allocation, no stdio, no locale: the shim calls them on its
 * allocation path.
 */
#ifndef MIGKIT_LEASE_WIRE_H
#define MIGKIT_LEASE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Digits of UINT64_MAX (18446744073709551615). */
#define MK__LEASE_U64_DIGITS 20

/* A token: a borrowed slice of a line, not NUL-terminated. */
struct mk__lease_tok {
    const char *p;
    size_t n;
};

/* Reads the tokens of a line one by one. */
struct mk__lease_cursor {
    const char *p, *end;
};

/* A line under construction in a caller's fixed buffer. overflow is set, and nothing more is
 * written, once an append does not fit; the caller checks it once at the end. */
struct mk__lease_line {
    char *p;
    size_t len, cap;
    bool overflow;
};

/* True when every byte of [s, s+n) is printable ASCII (0x20..0x7e). */
bool mk__lease_printable(const char *s, size_t n);

/*
 * Parses a token as a strict decimal: 1 to 20 digits, no sign, no leading zero unless the
 * number is 0, no overflow. Returns 0 and *ret, or -EINVAL.
 */
int mk__lease_parse_u64(struct mk__lease_tok t, uint64_t *ret);

/* Starts a cursor over [line, line+n). */
void mk__lease_cursor_init(struct mk__lease_cursor *c, const char *line, size_t n);

/*
 * Takes the next token. Tokens are separated by exactly one space. Returns 1 and *ret, 0 at the
 * end of the line, or -EINVAL for an empty token (two spaces, or a space at either end).
 */
int mk__lease_next(struct mk__lease_cursor *c, struct mk__lease_tok *ret);

/* The rest of the line from the cursor on, spaces included (possibly empty). */
struct mk__lease_tok mk__lease_rest(struct mk__lease_cursor *c);

/* True when t is exactly the NUL-terminated word s. */
bool mk__lease_tok_is(struct mk__lease_tok t, const char *s);

/* True when t starts with key followed by '='; *ret_value gets what follows. */
bool mk__lease_tok_key(struct mk__lease_tok t, const char *key, struct mk__lease_tok *ret_value);

/* Line builder over buf[0..cap). */
void mk__lease_line_init(struct mk__lease_line *l, char *buf, size_t cap);
void mk__lease_line_put(struct mk__lease_line *l, const char *s);
void mk__lease_line_putn(struct mk__lease_line *l, const char *s, size_t n);
void mk__lease_line_put_u64(struct mk__lease_line *l, uint64_t v);

#endif /* MIGKIT_LEASE_WIRE_H */

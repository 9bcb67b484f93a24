/*
 * uuid.c - random UUIDs in the forms the driver prints (GPU-..., MIG-...).
 *
 * The driver derives MIG UUIDs from hidden inputs; a simulator cannot reproduce them, so it
 * makes random version-4 UUIDs, fixed for the life of the instance they name.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "migkit/uuid.h"

int mk_uuid_generate(const char *prefix, char *buf, size_t len)
{
    uint8_t b[16];
    size_t got = 0;
    if (strlen(prefix) + 37 > len)
        return -EINVAL;
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        got += (size_t)n;
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(buf, len,
             "%s%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", prefix,
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
             b[13], b[14], b[15]);
    return 0;
}

bool mk_uuid_valid(const char *prefix, const char *s)
{
    size_t pl = strlen(prefix);
    if (strncmp(s, prefix, pl) != 0 || strlen(s) != pl + 36)
        return false;
    s += pl;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

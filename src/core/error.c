/*
 * error.c - error records and the mapping from error classes to nvidia-smi's texts and exit
 * codes. This is the only place that knows those mappings.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "migkit/common.h"

int mk_error_setv(struct mk_error *err, int code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        err->vendor_code = 0;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    }
    return code;
}

int mk_error_set(struct mk_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mk_error_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

const char *mk_status_text(int code)
{
    switch (-code) {
#define X(name, errno_value, text)                                                            \
    case errno_value:                                                                         \
        return text;
        MK_STATUS_MAP(X)
#undef X
    default:
        return "Unknown Error";
    }
}

const char *mk_strerror(const struct mk_error *err)
{
    if (!err)
        return "Unknown Error";
    if (err->msg[0])
        return err->msg;
    return mk_status_text(err->code);
}

int mk_status_exit_code(int code)
{
    switch (-code) {
    case 0:
        return 0;
    case EINVAL:
        return 2;
    case ENOTSUP:
        return 3;
    case EPERM:
        return 4;
    case ENOENT:
        return 6;
    default:
        return 255;
    }
}

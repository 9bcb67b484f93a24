/*
 * common.h - error reporting, allocation and small helpers shared by every migkit module.
 *
 * Conventions (see shared style guide):
 *   - Functions return int: >= 0 is success, -errno is failure.
 *   - Detail for the user goes into a struct mk_error owned by the caller. Its buffer is fixed
 *     size so failure paths never allocate.
 *   - Out-parameters are named ret_* and are written only on success.
 */
#ifndef MIGKIT_COMMON_H
#define MIGKIT_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* 256 bytes hold the longest message we build (a file path plus a position and an
 * explanation); longer text is truncated, never overflowed. */
#define MK_ERROR_LEN 256

/*
 * Error classes, one list for the enum and its texts. The text is what nvidia-smi prints for
 * the matching NVML return code (nvmlErrorString), so CLI messages match byte for byte.
 * Each class maps to a negative errno so library functions can return it directly.
 */
#define MK_STATUS_MAP(X)                                                                      \
    X(OK, 0, "Success")                                                                       \
    X(INVALID_ARGUMENT, EINVAL, "Invalid Argument")                                           \
    X(NOT_SUPPORTED, ENOTSUP, "Not Supported")                                                \
    X(NO_PERMISSION, EPERM, "Insufficient Permissions")                                       \
    X(NOT_FOUND, ENOENT, "Not Found")                                                         \
    X(INSUFFICIENT_RESOURCES, ENOSPC, "Insufficient Resources")                               \
    X(IN_USE, EBUSY, "In use by another client")                                              \
    X(RESET_REQUIRED, EAGAIN, "GPU requires reset")                                           \
    X(CORRUPTED, EBADMSG, "Corrupted state")                                                  \
    X(NO_MEMORY, ENOMEM, "Insufficient Memory")                                               \
    X(IO, EIO, "I/O error")

/* A struct mk_error carries the failing class, an optional vendor code (nvmlReturn_t or
 * CUresult, 0 when none) and a human message. Owned by the caller, usually on the stack. */
struct mk_error {
    int code;        /* negative errno, 0 when no error is recorded */
    int vendor_code; /* vendor library return code, 0 when not applicable */
    char msg[MK_ERROR_LEN];
};

/* Records an error in err (which may be NULL) and returns code, so callers can write
 * `return mk_error_set(err, -EINVAL, "...")`. code must be a negative errno. */
int mk_error_set(struct mk_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int mk_error_setv(struct mk_error *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Returns the message recorded in err, or the class text of its code when no message was
 * recorded. The pointer is borrowed from err. */
const char *mk_strerror(const struct mk_error *err);

/* Returns nvidia-smi's text for a negative errno ("Insufficient Resources", ...). Static
 * storage; never NULL. */
const char *mk_status_text(int code);

/* nvidia-smi's process exit status for a negative errno, from the RETURN VALUE section of
 * nvidia-smi(1): 2 invalid argument, 3 not supported, 4 no permission, 6 not found, 255 for
 * every other failure. */
int mk_status_exit_code(int code);

/* Allocation goes through these so tests can inject failures (mk__alloc_fail_after). */
void *mk__malloc(size_t n);
void *mk__calloc(size_t n, size_t size);
void *mk__realloc(void *p, size_t n);
char *mk__strdup(const char *s);
void mk__free(void *p);
/* Test hook: the n-th allocation from now fails (n >= 1); n <= 0 turns injection off. */
void mk__alloc_fail_after(long n);

/* Cleanup helpers in the systemd style. */
static inline void mk__freep(void *p)
{
    mk__free(*(void **)p);
}
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(mk__freep)

#define MK_ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* systemd-style argument check for public functions. */
#define mk_assert_return(expr, r)                                                             \
    do {                                                                                      \
        if (!(expr))                                                                          \
            return (r);                                                                       \
    } while (0)

#endif /* MIGKIT_COMMON_H */

/*
 * nvml.c - loading libnvidia-ml.so.1 and the one mapping of nvmlReturn_t to migkit errors.
 *
 * The library is opened by soname with dlopen(RTLD_NOW) and every symbol of MK_NVML_SYMBOLS
 * (vendor/nvml.h) is resolved once, under pthread_once, into a typed table that lives for the
 * rest of the process: a CLI opens it once, and a long-lived caller must not pay dlsym per
 * call (libnvidia-container's call_nvml does). dlerror()'s text is copied into storage owned
 * here before anything else can overwrite it. A missing OPT symbol leaves a NULL entry its
 * callers check; a missing REQ symbol fails the load with the names and the NVML version that
 * introduced them.
 *
 * Thread-safety: mk__nvml_load() is safe from any thread; the mapping functions are pure.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "vendor/nvml.h"

/* ---- the symbol list as data ---- */

#define MK_NVML_NEED_REQ true
#define MK_NVML_NEED_OPT false

static const struct symbol {
    const char *name;
    const char *since;
    bool required;
    size_t offset; /* of the entry in struct mk_nvml */
} symbols[] = {
#define X(need, since_, ret, name_, params)                                                        \
    {.name = #name_,                                                                               \
     .since = since_,                                                                              \
     .required = MK_NVML_NEED_##need,                                                              \
     .offset = offsetof(struct mk_nvml, name_)},
    MK_NVML_SYMBOLS(X)
#undef X
};

size_t mk__nvml_symbol_count(void)
{
    return MK_ELEMENTSOF(symbols);
}

const char *mk__nvml_symbol_name(size_t i)
{
    return i < MK_ELEMENTSOF(symbols) ? symbols[i].name : NULL;
}

bool mk__nvml_symbol_required(size_t i)
{
    return i < MK_ELEMENTSOF(symbols) && symbols[i].required;
}

const char *mk__nvml_symbol_since(size_t i)
{
    return i < MK_ELEMENTSOF(symbols) ? symbols[i].since : NULL;
}

/* ---- loading ---- */

/* The outcome of the one load, written only inside load_once() (pthread_once orders it
 * before every reader). */
static struct {
    struct mk_nvml table;
    int code; /* 0, -ELIBACC or -ENOSYS */
    char msg[MK_ERROR_LEN];
} loaded;
static pthread_once_t load_once_control = PTHREAD_ONCE_INIT;

/* Stores one resolved address into its typed slot. dlsym returns void *; POSIX guarantees
 * it converts to the function type the symbol really has, which the list declares. */
static void store(size_t offset, void *addr)
{
    memcpy((char *)&loaded.table + offset, &addr, sizeof(addr));
}

/* Names shown in the missing-symbol message; the rest are counted. An old driver lacks
 * dozens, and the message must fit struct mk_error. */
#define MISSING_SHOWN 3

/* Appends ", name (NVML since)" to the missing-symbol list for the first few. */
static void note_missing(char *buf, size_t len, int n, const struct symbol *s)
{
    size_t used = strlen(buf);
    if (n < MISSING_SHOWN && used < len)
        snprintf(buf + used, len - used, "%s%s (NVML %s)", used ? ", " : "", s->name, s->since);
}

static void load_once(void)
{
    char missing[MK_ERROR_LEN] = "";
    int nmissing = 0;
    void *lib;
    dlerror(); /* clear any earlier error */
    lib = dlopen(MK_NVML_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        loaded.code = -ELIBACC;
        snprintf(loaded.msg, sizeof(loaded.msg), "cannot load %s: %s", MK_NVML_SONAME,
                 why ? why : "unknown dlopen error");
        return;
    }
    for (size_t i = 0; i < MK_ELEMENTSOF(symbols); i++) {
        void *addr = dlsym(lib, symbols[i].name);
        store(symbols[i].offset, addr);
        if (!addr && symbols[i].required)
            note_missing(missing, sizeof(missing), nmissing++, &symbols[i]);
    }
    if (nmissing > 0) {
        /* The library stays loaded (a later dlclose would gain nothing in a process that
         * will not use it); the table is unusable and never handed out. */
        char more[32] = "";
        if (nmissing > MISSING_SHOWN)
            snprintf(more, sizeof(more), " and %d more", nmissing - MISSING_SHOWN);
        loaded.code = -ENOSYS;
        snprintf(loaded.msg, sizeof(loaded.msg),
                 "%s lacks %.120s%s: migkit needs the NVML of driver R470 (CUDA 11.4) or later",
                 MK_NVML_SONAME, missing, more);
    }
}

int mk__nvml_load(const struct mk_nvml **ret, struct mk_error *err)
{
    mk_assert_return(ret, -EINVAL);
    pthread_once(&load_once_control, load_once);
    if (loaded.code < 0)
        return mk_error_set(err, loaded.code, "%s", loaded.msg);
    *ret = &loaded.table;
    return 0;
}

/* ---- return codes ---- */

int mk__nvml_errno(nvmlReturn_t rc)
{
    switch (rc) {
#define X(name, value, errno_value, text)                                                          \
    case NVML_##name:                                                                              \
        return -(errno_value);
        MK_NVML_RETURN_MAP(X)
#undef X
    default:
        return -EIO;
    }
}

const char *mk__nvml_text(nvmlReturn_t rc)
{
    switch (rc) {
#define X(name, value, errno_value, text)                                                          \
    case NVML_##name:                                                                              \
        return text;
        MK_NVML_RETURN_MAP(X)
#undef X
    default:
        return "Unknown Error";
    }
}

const char *mk__nvml_name(nvmlReturn_t rc)
{
    switch (rc) {
#define X(name, value, errno_value, text)                                                          \
    case NVML_##name:                                                                              \
        return "NVML_" #name;
        MK_NVML_RETURN_MAP(X)
#undef X
    default:
        return NULL;
    }
}

int mk__nvml_parse(const char *s, nvmlReturn_t *ret)
{
    mk_assert_return(s && ret, -EINVAL);
    if (strncmp(s, "NVML_", 5) == 0)
        s += 5;
#define X(name, value, errno_value, text)                                                          \
    if (strcmp(s, #name) == 0 ||                                                                   \
        (strncmp(#name, "ERROR_", 6) == 0 && strcmp(s, #name + 6) == 0)) {                         \
        *ret = NVML_##name;                                                                        \
        return 0;                                                                                  \
    }
    MK_NVML_RETURN_MAP(X)
#undef X
    return -EINVAL;
}

/* What the user can do about rc, appended to the message; NULL when nvidia-smi's text says
 * all there is. */
static const char *advice(nvmlReturn_t rc)
{
    switch (rc) {
    case NVML_ERROR_NO_PERMISSION:
        return "requires root (or the MIG capability devices): run it with sudo";
    case NVML_ERROR_RESET_REQUIRED:
        return "reboot the system or try nvidia-smi --gpu-reset to make the change effective";
    case NVML_ERROR_DRIVER_NOT_LOADED:
        return "is the NVIDIA kernel driver loaded?";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH:
        return "the NVML library and the kernel driver differ: reboot or reload the driver";
    case NVML_ERROR_FUNCTION_NOT_FOUND:
        return "this driver's NVML lacks the function: upgrade the driver";
    default:
        return NULL;
    }
}

int mk__nvml_error(struct mk_error *err, nvmlReturn_t rc, const char *fmt, ...)
{
    char context[MK_ERROR_LEN];
    const char *more = advice(rc);
    int code = mk__nvml_errno(rc);
    va_list ap;
    if (rc == NVML_SUCCESS)
        return 0;
    va_start(ap, fmt);
    vsnprintf(context, sizeof(context), fmt, ap);
    va_end(ap);
    /* The context is cut short rather than the nvidia-smi text or the advice. */
    mk_error_set(err, code, "%.120s: %s%s%s", context, mk__nvml_text(rc), more ? "; " : "",
                 more ? more : "");
    if (err)
        err->vendor_code = (int)rc;
    return code;
}

/* ---- SMs from cores ---- */

int mk__nvml_cores_per_sm(int major, int minor)
{
    switch (major) {
    case 3: /* Kepler */
        return 192;
    case 5: /* Maxwell */
        return 128;
    case 6: /* Pascal: GP100 (6.0) has half the cores per SM of GP10x */
        return minor == 0 ? 64 : 128;
    case 7: /* Volta 7.0/7.2, Turing 7.5 */
        return 64;
    case 8: /* Ampere GA100 (8.0) 64; GA10x (8.6, 8.7) and Ada (8.9) 128 */
        return minor == 0 ? 64 : 128;
    case 9:  /* Hopper */
    case 10: /* Blackwell datacenter */
    case 12: /* Blackwell consumer and RTX PRO */
        return 128;
    default:
        return 0;
    }
}

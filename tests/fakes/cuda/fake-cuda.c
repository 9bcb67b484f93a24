/*
 * fake-cuda.c - the fake libcuda.so.1's device, initialisation, entry-point lookup
 * (cuGetProcAddress and _v2), identity queries, kernel launches and error strings. The
 * memory families are in fake-cuda-mem.c.
 *
 * Configuration, read once by the first cuInit: the file named by MIGKIT_FAKE_CUDA_CONFIG
 * (lines "key=value", '#' comments), then the variables MIGKIT_FAKE_CUDA_<KEY> (upper case),
 * which win. Keys and defaults (an H100 SXM5 80GB as the driver describes it):
 *
 *     name=NVIDIA H100 80GB HBM3       total=85520809984 (bytes; or 64MiB, 80GiB)
 *     sms=132                          uuid=GPU-4e7a3a1c-8c1f-4d7e-9b2a-6f1e5d3c2b10
 *     devices=1                        pitch_align=512        granularity=2MiB
 *
 * granularity is also the fake's page: the unit in which it takes device memory for arrays
 * and for linear allocations above half a page, as the real driver does (fake-cuda-mem.c).
 * A bad configuration makes cuInit fail with CUDA_ERROR_INVALID_VALUE and a message on stderr.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake-cuda.h"

/* The driver version the fake reports: CUDA 13.0, the toolkit it is built with. */
#define FAKE_DRIVER_VERSION CUDA_VERSION
#define MIB                 (UINT64_C(1) << 20)
#define GIB                 (UINT64_C(1) << 30)

static struct fake_device dev = {
    .name = "NVIDIA H100 80GB HBM3",
    .total = UINT64_C(85520809984), /* 81559 MiB, what an H100 SXM5 80GB reports */
    .sms = 132,
    .count = 1,
    .pitch_align = 512,
    .granularity = 2 * MIB, /* the real driver's granularity for device memory, and its page */
};
static const char default_uuid[] = "GPU-4e7a3a1c-8c1f-4d7e-9b2a-6f1e5d3c2b10";

static pthread_once_t config_once = PTHREAD_ONCE_INIT;
static CUresult config_result;
static atomic_bool initialized;
static atomic_ullong launches;

const struct fake_device *fake_device(void)
{
    return &dev;
}

/* ---- configuration ---- */

/* Parses "123", "64MiB" or "80GiB" into *ret. Returns 0 or -EINVAL. */
static int parse_size(const char *s, uint64_t *ret)
{
    char *end;
    unsigned long long v;
    uint64_t unit = 1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-')
        return -EINVAL;
    if (strcmp(end, "MiB") == 0)
        unit = MIB;
    else if (strcmp(end, "GiB") == 0)
        unit = GIB;
    else if (*end)
        return -EINVAL;
    if (v > UINT64_MAX / unit)
        return -EINVAL;
    *ret = (uint64_t)v * unit;
    return 0;
}

static int parse_int(const char *s, int lo, int hi, int *ret)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -EINVAL;
    *ret = (int)v;
    return 0;
}

/* Applies one key=value pair. Returns 0, or -EINVAL for an unknown key or a bad value. */
static int apply(const char *key, const char *value)
{
    uint64_t size;
    if (strcmp(key, "name") == 0) {
        if (strlen(value) >= sizeof(dev.name))
            return -EINVAL;
        strcpy(dev.name, value);
        return 0;
    }
    if (strcmp(key, "total") == 0)
        return parse_size(value, &dev.total);
    if (strcmp(key, "sms") == 0)
        return parse_int(value, 1, 1024, &dev.sms);
    if (strcmp(key, "devices") == 0)
        return parse_int(value, 1, FAKE_MAX_DEVICES, &dev.count);
    if (strcmp(key, "uuid") == 0)
        return mk__cuda_uuid_parse(value, (CUuuid *)dev.uuid);
    if (strcmp(key, "pitch_align") == 0 || strcmp(key, "granularity") == 0) {
        /* Powers of two, as the hardware's are (the rounding below relies on it). */
        if (parse_size(value, &size) < 0 || size == 0 || (size & (size - 1)) != 0)
            return -EINVAL;
        *(key[0] == 'p' ? &dev.pitch_align : &dev.granularity) = size;
        return 0;
    }
    return -EINVAL;
}

static int read_file(const char *path)
{
    char line[512];
    int r = 0;
    FILE *f = fopen(path, "re");
    if (!f) {
        fprintf(stderr, "fake libcuda.so.1: cannot open %s\n", path);
        return -ENOENT;
    }
    while (r == 0 && fgets(line, sizeof(line), f)) {
        char *eq = strchr(line, '=');
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        if (!eq || (*eq = '\0', apply(line, eq + 1) < 0)) {
            fprintf(stderr, "fake libcuda.so.1: %s: bad line \"%s\"\n", path, line);
            r = -EINVAL;
        }
    }
    fclose(f);
    return r;
}

static void configure(void)
{
    static const char *const keys[] = {"name",    "total",       "sms",        "uuid",
                                       "devices", "pitch_align", "granularity"};
    const char *file = getenv("MIGKIT_FAKE_CUDA_CONFIG");
    config_result = CUDA_ERROR_INVALID_VALUE;
    if (mk__cuda_uuid_parse(default_uuid, (CUuuid *)dev.uuid) < 0)
        return;
    if (file && *file && read_file(file) < 0)
        return;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char var[64];
        const char *v;
        size_t n = (size_t)snprintf(var, sizeof(var), "MIGKIT_FAKE_CUDA_%s", keys[i]);
        for (size_t j = sizeof("MIGKIT_FAKE_CUDA_") - 1; j < n; j++)
            var[j] = (char)(var[j] >= 'a' && var[j] <= 'z' ? var[j] - 'a' + 'A' : var[j]);
        if ((v = getenv(var)) && apply(keys[i], v) < 0) {
            fprintf(stderr, "fake libcuda.so.1: bad %s=\"%s\"\n", var, v);
            return;
        }
    }
    fake_mem_init();
    config_result = CUDA_SUCCESS;
}

/* ---- initialisation ---- */

CUresult cuInit(unsigned int Flags)
{
    if (Flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_once(&config_once, configure);
    if (config_result == CUDA_SUCCESS)
        atomic_store(&initialized, true);
    return config_result;
}

CUresult fake_ready(void)
{
    return atomic_load(&initialized) ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}

CUresult fake_check_device(CUdevice d)
{
    CUresult r = fake_ready();
    if (r != CUDA_SUCCESS)
        return r;
    return d >= 0 && d < dev.count ? CUDA_SUCCESS : CUDA_ERROR_INVALID_DEVICE;
}

CUresult cuDriverGetVersion(int *driverVersion)
{
    if (!driverVersion)
        return CUDA_ERROR_INVALID_VALUE;
    *driverVersion = FAKE_DRIVER_VERSION;
    return CUDA_SUCCESS;
}

/* ---- cuGetProcAddress ---- */

/* Every entry point, indexed like the list. The library is linked -Bsymbolic, so these are
 * the fake's own functions even where a preloaded library interposes the same names, as the
 * real driver's cuGetProcAddress returns its own. */
static void *const entry_points[] = {
#define X(sym, export, name, since, flavor, role) (void *)sym,
    MK_CUDA_SYMBOLS(X)
#undef X
};

/* The lookup both versions share: the driver's rule, from the list (mk__cuda_sym_lookup). */
static CUresult lookup(const char *symbol, void **pfn, int version, cuuint64_t flags,
                       CUdriverProcAddressQueryResult *status)
{
    CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SUCCESS;
    int i;
    if (!symbol || !pfn)
        return CUDA_ERROR_INVALID_VALUE;
    if (flags & ~(cuuint64_t)(CU_GET_PROC_ADDRESS_LEGACY_STREAM |
                              CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM))
        return CUDA_ERROR_INVALID_VALUE;
    i = mk__cuda_sym_lookup(symbol, version, flags, &st);
    *pfn = i >= 0 ? entry_points[i] : NULL;
    if (status)
        *status = st;
    return i >= 0 ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                             CUdriverProcAddressQueryResult *symbolStatus)
{
    return lookup(symbol, pfn, cudaVersion, flags, symbolStatus);
}

CUresult cuGetProcAddress_v1(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags)
{
    return lookup(symbol, pfn, cudaVersion, flags, NULL);
}

/* ---- identity ---- */

CUresult cuDeviceGet(CUdevice *device, int ordinal)
{
    CUresult r = fake_check_device(ordinal);
    if (r == CUDA_SUCCESS && !device)
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        *device = ordinal;
    return r;
}

CUresult cuDeviceGetCount(int *count)
{
    CUresult r = fake_ready();
    if (r == CUDA_SUCCESS && !count)
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        *count = dev.count;
    return r;
}

CUresult cuDeviceGetName(char *name, int len, CUdevice d)
{
    CUresult r = fake_check_device(d);
    if (r != CUDA_SUCCESS)
        return r;
    if (!name || len <= 0)
        return CUDA_ERROR_INVALID_VALUE;
    snprintf(name, (size_t)len, "%s", dev.name); /* truncates, as the driver does */
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice d)
{
    CUresult r = fake_check_device(d);
    if (r != CUDA_SUCCESS)
        return r;
    if (!uuid)
        return CUDA_ERROR_INVALID_VALUE;
    memcpy(uuid->bytes, dev.uuid, sizeof(uuid->bytes));
    uuid->bytes[15] = (char)(uuid->bytes[15] + d);
    return CUDA_SUCCESS;
}

CUresult cuDeviceGetUuid_v1(CUuuid *uuid, CUdevice d)
{
    return cuDeviceGetUuid_v2(uuid, d);
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice d)
{
    CUresult r = fake_check_device(d);
    if (r == CUDA_SUCCESS && !bytes)
        r = CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        *bytes = dev.total;
    return r;
}

/* The pre-3.2 version: sizes in 32 bits, clamped as the driver clamps them. */
CUresult cuDeviceTotalMem_v1(unsigned int *bytes, CUdevice d)
{
    size_t total;
    CUresult r = bytes ? cuDeviceTotalMem_v2(&total, d) : CUDA_ERROR_INVALID_VALUE;
    if (r == CUDA_SUCCESS)
        *bytes = total > UINT_MAX ? UINT_MAX : (unsigned int)total;
    return r;
}

CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice d)
{
    CUresult r = fake_check_device(d);
    if (r != CUDA_SUCCESS)
        return r;
    if (!pi || attrib <= 0 || attrib >= CU_DEVICE_ATTRIBUTE_MAX)
        return CUDA_ERROR_INVALID_VALUE;
    switch (attrib) {
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT:
        *pi = dev.sms;
        break;
    case CU_DEVICE_ATTRIBUTE_TEXTURE_PITCH_ALIGNMENT:
        *pi = (int)dev.pitch_align;
        break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
        *pi = 9; /* Hopper, like the default device */
        break;
    default:
        *pi = 0; /* every other attribute: a valid query with an uninteresting answer */
        break;
    }
    return CUDA_SUCCESS;
}

/* ---- launches: counted, nothing runs ---- */

CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                        unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                        unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                        void **kernelParams, void **extra)
{
    CUresult r = fake_ready();
    (void)sharedMemBytes, (void)hStream, (void)kernelParams, (void)extra;
    if (r != CUDA_SUCCESS)
        return r;
    if (!f)
        return CUDA_ERROR_INVALID_HANDLE;
    if (!gridDimX || !gridDimY || !gridDimZ || !blockDimX || !blockDimY || !blockDimZ)
        return CUDA_ERROR_INVALID_VALUE;
    atomic_fetch_add_explicit(&launches, 1, memory_order_relaxed);
    return CUDA_SUCCESS;
}

CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                             unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                             unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                             void **kernelParams, void **extra)
{
    return cuLaunchKernel(f, gridDimX, gridDimY, gridDimZ, blockDimX, blockDimY, blockDimZ,
                          sharedMemBytes, hStream, kernelParams, extra);
}

/* ---- errors ---- */

CUresult cuGetErrorName(CUresult error, const char **pStr)
{
    const char *s = NULL;
    if (!pStr)
        return CUDA_ERROR_INVALID_VALUE;
    switch (error) {
#define NAME(e)                                                                                    \
    case e:                                                                                        \
        s = #e;                                                                                    \
        break;
        NAME(CUDA_SUCCESS)
        NAME(CUDA_ERROR_INVALID_VALUE)
        NAME(CUDA_ERROR_OUT_OF_MEMORY)
        NAME(CUDA_ERROR_NOT_INITIALIZED)
        NAME(CUDA_ERROR_INVALID_DEVICE)
        NAME(CUDA_ERROR_INVALID_HANDLE)
        NAME(CUDA_ERROR_NOT_FOUND)
        NAME(CUDA_ERROR_NOT_PERMITTED)
        NAME(CUDA_ERROR_NOT_SUPPORTED)
#undef NAME
    default:
        break;
    }
    *pStr = s;
    return s ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetErrorString(CUresult error, const char **pStr)
{
    return cuGetErrorName(error, pStr); /* the names are description enough for tests */
}

/* ---- the fake's own interface ---- */

__attribute__((visibility("default"))) int mk_fake_cuda_stats(struct mk_fake_cuda_stats *s);
int mk_fake_cuda_stats(struct mk_fake_cuda_stats *s)
{
    if (!s)
        return -EINVAL;
    memset(s, 0, sizeof(*s));
    fake_mem_stats(s);
    s->total = dev.total;
    s->launches = atomic_load(&launches);
    s->graph_launches = fake_graph_launches();
    return 0;
}

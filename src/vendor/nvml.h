/*
 * nvml.h - the few NVML declarations migkit uses, and the one list of NVML symbols.
 *
 * NVIDIA's nvml.h is not copied into this tree (and these machines have none): every type,
 * struct layout, version word, constant and return code below was written from
 * shared/reference/nvml-mig-api.md (facts checked against nvml.h 13.3.29 on x86-64 Linux),
 * section numbers given as "ref §N". The one exception is nvmlPciInfo_t, which the reference
 * does not describe; see its comment.
 *
 * Only src/vendor/nvml.c, src/backend/nvml.c and the test double in tests/fakes include this
 * header: nothing else in migkit sees vendor declarations (shared/style.md).
 *
 * MK_NVML_SYMBOLS is the single list of functions. It generates
 *   - the function types (mk_nvml_<symbol>_fn) and the typed table struct mk_nvml that
 *     src/vendor/nvml.c fills with dlsym() (never untyped pointers);
 *   - the names looked up, which are the *versioned* symbols (ref §1: nvmlInit_v2, ...);
 *   - the prototypes the fake libnvidia-ml.so.1 defines and exports, so a fake function whose
 *     signature drifts from this list does not compile.
 */
#ifndef MIGKIT_VENDOR_NVML_H
#define MIGKIT_VENDOR_NVML_H

#include <errno.h>
#include <stddef.h>

#include "migkit/common.h"

/* ---- handles (ref §2): pointers to opaque structs, compared only for identity ---- */

typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct nvmlGpuInstance_st *nvmlGpuInstance_t;
typedef struct nvmlComputeInstance_st *nvmlComputeInstance_t;

/* ---- return codes (ref §3) ----
 *
 * X(NAME, value, errno, text): NVML_<NAME> = value; the negative errno migkit returns for it
 * (the classes of migkit/common.h where one fits, so the CLI prints nvidia-smi's text); and
 * the text nvmlErrorString/nvidia-smi print. The reference gives no text for 21, 22 and
 * 24-30: those rows carry the header's meaning instead, marked "(header)".
 *
 * RESET_REQUIRED has no migkit class: it becomes -EAGAIN ("try again after a reset") and
 * the backend adds the explanation (src/backend/nvml.c). LIBRARY_NOT_FOUND is -ELIBACC so
 * it is not mistaken for NOT_FOUND's "Not Found" and exit status 6.
 */
#define MK_NVML_RETURN_MAP(X)                                                                      \
    X(SUCCESS, 0, 0, "Success")                                                                    \
    X(ERROR_UNINITIALIZED, 1, EIO, "Uninitialized")                                                \
    X(ERROR_INVALID_ARGUMENT, 2, EINVAL, "Invalid Argument")                                       \
    X(ERROR_NOT_SUPPORTED, 3, ENOTSUP, "Not Supported")                                            \
    X(ERROR_NO_PERMISSION, 4, EPERM, "Insufficient Permissions")                                   \
    X(ERROR_ALREADY_INITIALIZED, 5, EALREADY, "Already Initialized")                               \
    X(ERROR_NOT_FOUND, 6, ENOENT, "Not Found")                                                     \
    X(ERROR_INSUFFICIENT_SIZE, 7, ENOBUFS, "Insufficient Size")                                    \
    X(ERROR_INSUFFICIENT_POWER, 8, EIO, "Insufficient External Power")                             \
    X(ERROR_DRIVER_NOT_LOADED, 9, ENODEV, "Driver Not Loaded")                                     \
    X(ERROR_TIMEOUT, 10, ETIMEDOUT, "Timeout")                                                     \
    X(ERROR_IRQ_ISSUE, 11, EIO, "Interrupt Request Issue")                                         \
    X(ERROR_LIBRARY_NOT_FOUND, 12, ELIBACC, "NVML Shared Library Not Found")                       \
    X(ERROR_FUNCTION_NOT_FOUND, 13, ENOSYS, "Function Not Found")                                  \
    X(ERROR_CORRUPTED_INFOROM, 14, EIO, "Corrupted infoROM")                                       \
    X(ERROR_GPU_IS_LOST, 15, ENODEV, "GPU is lost")                                                \
    X(ERROR_RESET_REQUIRED, 16, EAGAIN, "GPU requires reset")                                      \
    X(ERROR_OPERATING_SYSTEM, 17, EACCES, "GPU access blocked by the operating system")            \
    X(ERROR_LIB_RM_VERSION_MISMATCH, 18, EPROTO, "Driver/library version mismatch")                \
    X(ERROR_IN_USE, 19, EBUSY, "In use by another client")                                         \
    X(ERROR_MEMORY, 20, ENOMEM, "Insufficient Memory")                                             \
    X(ERROR_NO_DATA, 21, ENODATA, "No data (header)")                                              \
    X(ERROR_VGPU_ECC_NOT_SUPPORTED, 22, ENOTSUP,                                                   \
      "vGPU operation not available because ECC is enabled (header)")                              \
    X(ERROR_INSUFFICIENT_RESOURCES, 23, ENOSPC, "Insufficient Resources")                          \
    X(ERROR_FREQ_NOT_SUPPORTED, 24, ENOTSUP, "Frequency not supported (header)")                   \
    X(ERROR_ARGUMENT_VERSION_MISMATCH, 25, EINVAL,                                                 \
      "The provided version is invalid/unsupported (header)")                                      \
    X(ERROR_DEPRECATED, 26, ENOSYS, "The requested functionality has been deprecated (header)")    \
    X(ERROR_NOT_READY, 27, EAGAIN, "The system is not ready for the request (header)")             \
    X(ERROR_GPU_NOT_FOUND, 28, ENODEV, "No GPUs were found (header)")                              \
    X(ERROR_INVALID_STATE, 29, EINVAL,                                                             \
      "Resource not in correct state to perform requested operation (header)")                     \
    X(ERROR_RESET_TYPE_NOT_SUPPORTED, 30, ENOTSUP,                                                 \
      "Reset not supported for given device/parameters (header)")                                  \
    X(ERROR_UNKNOWN, 999, EIO, "Unknown Error")

/* A C enum, 4 bytes (ref §1). */
typedef enum nvmlReturn_enum {
#define MK_NVML_X_ENUM(name, value, err, text) NVML_##name = value,
    MK_NVML_RETURN_MAP(MK_NVML_X_ENUM)
#undef MK_NVML_X_ENUM
} nvmlReturn_t;

/* ---- constants (ref §4) ---- */

#define NVML_DEVICE_UUID_V2_BUFFER_SIZE        96 /* GPU and MIG UUIDs, with the NUL */
#define NVML_DEVICE_NAME_V2_BUFFER_SIZE        96 /* device names and profile-info names */
#define NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE     32 /* nvmlPciInfo_t.busId */
#define NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE 80
#define NVML_INIT_FLAG_NO_GPUS                 1u /* don't fail nvmlInit when no GPU is found */
#define NVML_VALUE_NOT_AVAILABLE_ULL           0xFFFFFFFFFFFFFFFFull /* (unsigned long long)-1 */

#define NVML_DEVICE_MIG_DISABLE 0x0u
#define NVML_DEVICE_MIG_ENABLE  0x1u

/* GPU-instance profile constants: migkit's MK_GI_CONST_MAP (catalog.h) holds the values
 * 0x0-0x11 with their names; NVML_GPU_INSTANCE_PROFILE_COUNT is the end of that list in
 * nvml.h 13.3.29 (older drivers stop earlier: ref §4.5). */
#define NVML_GPU_INSTANCE_PROFILE_COUNT 0x12u

/* Compute-instance profile constants (ref §4.4). On every GPU observed the CI profile ID the
 * other CI functions take equals the constant (ref §7.1). */
#define NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE       0x0u
#define NVML_COMPUTE_INSTANCE_PROFILE_2_SLICE       0x1u
#define NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE       0x2u
#define NVML_COMPUTE_INSTANCE_PROFILE_4_SLICE       0x3u
#define NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE       0x4u
#define NVML_COMPUTE_INSTANCE_PROFILE_8_SLICE       0x5u
#define NVML_COMPUTE_INSTANCE_PROFILE_6_SLICE       0x6u
#define NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE_REV1  0x7u
#define NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE_NVL   0x8u
#define NVML_COMPUTE_INSTANCE_PROFILE_COUNT         0x9u
#define NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED 0x0u

#define NVML_GPU_INSTANCE_PROFILE_CAPS_P2P     0x1u
#define NVML_GPU_INSTANCE_PROFILE_CAPS_GFX     0x2u
#define NVML_COMPUTE_INSTANCE_PROFILE_CAPS_GFX 0x1u

/* NVML_STRUCT_VERSION(T, ver) = sizeof(T_v<ver>_t) | ver << 24 (ref §1): the size in the low
 * 24 bits, the version in the top 8. The _Static_asserts below check each word against the
 * size of the struct declared here. */
#define MK_NVML_STRUCT_VERSION(type, ver) ((unsigned int)(sizeof(type) | (ver) << 24))
#define nvmlGpuInstanceProfileInfo_v2     0x02000098u /* ref §5.3 */
#define nvmlGpuInstanceProfileInfo_v3     0x03000098u /* ref §5.4 */
#define nvmlComputeInstanceProfileInfo_v2 0x02000088u /* ref §5.8 */
#define nvmlComputeInstanceProfileInfo_v3 0x0300008Cu /* ref §5.9 */
#define nvmlMemory_v2                     0x02000028u /* ref §5.12 */

/* ---- structs (ref §5; all fields unsigned int unless noted) ---- */

typedef struct nvmlGpuInstancePlacement_st { /* ref §5.1, 8 bytes; in memory slices */
    unsigned int start;
    unsigned int size;
} nvmlGpuInstancePlacement_t;

typedef struct nvmlGpuInstanceProfileInfo_st { /* ref §5.2, v1, 48 bytes */
    unsigned int id;                           /* device-specific profile ID (19, 20, ...) */
    unsigned int isP2pSupported;
    unsigned int sliceCount;
    unsigned int instanceCount; /* the maximum number of GIs of the profile */
    unsigned int multiprocessorCount;
    unsigned int copyEngineCount;
    unsigned int decoderCount;
    unsigned int encoderCount;
    unsigned int jpegCount;
    unsigned int ofaCount;
    unsigned long long memorySizeMB; /* really MiB (ref §5.2) */
} nvmlGpuInstanceProfileInfo_t;

typedef struct nvmlGpuInstanceProfileInfo_v2_st { /* ref §5.3, 152 bytes */
    unsigned int version;                         /* nvmlGpuInstanceProfileInfo_v2 */
    unsigned int id;
    unsigned int isP2pSupported;
    unsigned int sliceCount;
    unsigned int instanceCount;
    unsigned int multiprocessorCount;
    unsigned int copyEngineCount;
    unsigned int decoderCount;
    unsigned int encoderCount;
    unsigned int jpegCount;
    unsigned int ofaCount;
    unsigned long long memorySizeMB;            /* offset 48, after 4 bytes of padding */
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE]; /* "MIG 1g.10gb" */
} nvmlGpuInstanceProfileInfo_v2_t;

/* v3 drops isP2pSupported and adds capabilities, so every offset from sliceCount on differs
 * from v2 although the size is the same: always dispatch on the version word (ref §5.4). The
 * ...V functions take a v2 pointer; a v3 struct is passed cast to it. */
typedef struct nvmlGpuInstanceProfileInfo_v3_st { /* ref §5.4, 152 bytes */
    unsigned int version;                         /* nvmlGpuInstanceProfileInfo_v3 */
    unsigned int id;
    unsigned int sliceCount;
    unsigned int instanceCount;
    unsigned int multiprocessorCount;
    unsigned int copyEngineCount;
    unsigned int decoderCount;
    unsigned int encoderCount;
    unsigned int jpegCount;
    unsigned int ofaCount;
    unsigned long long memorySizeMB; /* offset 40 */
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    unsigned int capabilities; /* NVML_GPU_INSTANCE_PROFILE_CAPS_* */
} nvmlGpuInstanceProfileInfo_v3_t;

typedef struct nvmlGpuInstanceInfo_st { /* ref §5.5, 24 bytes */
    nvmlDevice_t device;                /* parent device */
    unsigned int id;                    /* the GI ID */
    unsigned int profileId;
    nvmlGpuInstancePlacement_t placement;
} nvmlGpuInstanceInfo_t;

typedef struct nvmlComputeInstancePlacement_st { /* ref §5.6, 8 bytes; in compute slices */
    unsigned int start;
    unsigned int size;
} nvmlComputeInstancePlacement_t;

typedef struct nvmlComputeInstanceProfileInfo_st { /* ref §5.7, v1, 36 bytes */
    unsigned int id;
    unsigned int sliceCount;
    unsigned int instanceCount;
    unsigned int multiprocessorCount;
    unsigned int sharedCopyEngineCount;
    unsigned int sharedDecoderCount;
    unsigned int sharedEncoderCount;
    unsigned int sharedJpegCount;
    unsigned int sharedOfaCount;
} nvmlComputeInstanceProfileInfo_t;

typedef struct nvmlComputeInstanceProfileInfo_v2_st { /* ref §5.8, 136 bytes */
    unsigned int version;                             /* nvmlComputeInstanceProfileInfo_v2 */
    unsigned int id;
    unsigned int sliceCount;
    unsigned int instanceCount;
    unsigned int multiprocessorCount;
    unsigned int sharedCopyEngineCount;
    unsigned int sharedDecoderCount;
    unsigned int sharedEncoderCount;
    unsigned int sharedJpegCount;
    unsigned int sharedOfaCount;
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
} nvmlComputeInstanceProfileInfo_v2_t;

typedef struct nvmlComputeInstanceProfileInfo_v3_st { /* ref §5.9, 140 bytes, no padding */
    unsigned int version;                             /* nvmlComputeInstanceProfileInfo_v3 */
    unsigned int id;
    unsigned int sliceCount;
    unsigned int instanceCount;
    unsigned int multiprocessorCount;
    unsigned int sharedCopyEngineCount;
    unsigned int sharedDecoderCount;
    unsigned int sharedEncoderCount;
    unsigned int sharedJpegCount;
    unsigned int sharedOfaCount;
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    unsigned int capabilities; /* NVML_COMPUTE_INSTANCE_PROFILE_CAPS_* */
} nvmlComputeInstanceProfileInfo_v3_t;

typedef struct nvmlComputeInstanceInfo_st { /* ref §5.10, 32 bytes */
    nvmlDevice_t device;
    nvmlGpuInstance_t gpuInstance;
    unsigned int id; /* the CI ID, unique within its GI */
    unsigned int profileId;
    nvmlComputeInstancePlacement_t placement;
} nvmlComputeInstanceInfo_t;

typedef struct nvmlMemory_st { /* ref §5.11, 24 bytes; bytes */
    unsigned long long total;
    unsigned long long free;
    unsigned long long used; /* reserved + allocated */
} nvmlMemory_t;

typedef struct nvmlMemory_v2_st { /* ref §5.12, 40 bytes */
    unsigned int version;         /* nvmlMemory_v2 */
    unsigned long long total;     /* offset 8 */
    unsigned long long reserved;
    unsigned long long free;
    unsigned long long used; /* allocated only */
} nvmlMemory_v2_t;

typedef struct nvmlDeviceAttributes_st { /* ref §5.13, 40 bytes; MIG device handles only */
    unsigned int multiprocessorCount;
    unsigned int sharedCopyEngineCount;
    unsigned int sharedDecoderCount;
    unsigned int sharedEncoderCount;
    unsigned int sharedJpegCount;
    unsigned int sharedOfaCount;
    unsigned int gpuInstanceSliceCount;
    unsigned int computeInstanceSliceCount;
    unsigned long long memorySizeMB; /* MiB */
} nvmlDeviceAttributes_t;

/* nvmlProcessInfo_v2_t, typedef'd as nvmlProcessInfo_t: what the _v3 process functions take
 * (ref §5.14, 24 bytes). */
typedef struct nvmlProcessInfo_st {
    unsigned int pid;
    unsigned long long usedGpuMemory; /* bytes, or NVML_VALUE_NOT_AVAILABLE_ULL */
    unsigned int gpuInstanceId;       /* 0xFFFFFFFF without MIG */
    unsigned int computeInstanceId;   /* 0xFFFFFFFF without MIG */
} nvmlProcessInfo_t;

/*
 * nvmlPciInfo_t, as nvmlDeviceGetPciInfo_v3 fills it. NOT in the reference pack: the layout
 * is taken from NVIDIA's own Python bindings (nvidia-ml-py, pynvml.py class nvmlPciInfo_t,
 * BSD licence), which is also the client tests/nvml/test_pynvml.py drives the fake with. It
 * is therefore unverified against the C header and a real driver (docs/nvml.md); migkit
 * reads only pciDeviceId and busId from it.
 */
#define MK_NVML_PCI_BUS_ID_LEGACY_SIZE 16 /* NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE in pynvml */
typedef struct nvmlPciInfo_st {
    char busIdLegacy[MK_NVML_PCI_BUS_ID_LEGACY_SIZE];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pciDeviceId; /* 0xDDDDVVVV: device ID << 16 | vendor ID (0x10DE) */
    unsigned int pciSubSystemId;
    char busId[NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE]; /* "00000000:01:00.0" */
} nvmlPciInfo_t;

/* The layouts above against the reference's numbers (x86-64 LP64). */
#if defined(__x86_64__)
_Static_assert(sizeof(nvmlGpuInstancePlacement_t) == 8, "ref 5.1");
_Static_assert(sizeof(nvmlGpuInstanceProfileInfo_t) == 48, "ref 5.2");
_Static_assert(offsetof(nvmlGpuInstanceProfileInfo_t, memorySizeMB) == 40, "ref 5.2");
_Static_assert(sizeof(nvmlGpuInstanceProfileInfo_v2_t) == 152, "ref 5.3");
_Static_assert(offsetof(nvmlGpuInstanceProfileInfo_v2_t, memorySizeMB) == 48, "ref 5.3");
_Static_assert(offsetof(nvmlGpuInstanceProfileInfo_v2_t, name) == 56, "ref 5.3");
_Static_assert(sizeof(nvmlGpuInstanceProfileInfo_v3_t) == 152, "ref 5.4");
_Static_assert(offsetof(nvmlGpuInstanceProfileInfo_v3_t, memorySizeMB) == 40, "ref 5.4");
_Static_assert(offsetof(nvmlGpuInstanceProfileInfo_v3_t, name) == 48, "ref 5.4");
_Static_assert(offsetof(nvmlGpuInstanceProfileInfo_v3_t, capabilities) == 144, "ref 5.4");
_Static_assert(sizeof(nvmlGpuInstanceInfo_t) == 24, "ref 5.5");
_Static_assert(offsetof(nvmlGpuInstanceInfo_t, placement) == 16, "ref 5.5");
_Static_assert(sizeof(nvmlComputeInstanceProfileInfo_t) == 36, "ref 5.7");
_Static_assert(sizeof(nvmlComputeInstanceProfileInfo_v2_t) == 136, "ref 5.8");
_Static_assert(sizeof(nvmlComputeInstanceProfileInfo_v3_t) == 140, "ref 5.9");
_Static_assert(offsetof(nvmlComputeInstanceProfileInfo_v3_t, capabilities) == 136, "ref 5.9");
_Static_assert(sizeof(nvmlComputeInstanceInfo_t) == 32, "ref 5.10");
_Static_assert(offsetof(nvmlComputeInstanceInfo_t, placement) == 24, "ref 5.10");
_Static_assert(sizeof(nvmlMemory_t) == 24, "ref 5.11");
_Static_assert(sizeof(nvmlMemory_v2_t) == 40, "ref 5.12");
_Static_assert(offsetof(nvmlMemory_v2_t, total) == 8, "ref 5.12");
_Static_assert(sizeof(nvmlDeviceAttributes_t) == 40, "ref 5.13");
_Static_assert(sizeof(nvmlProcessInfo_t) == 24, "ref 5.14");
_Static_assert(offsetof(nvmlProcessInfo_t, gpuInstanceId) == 16, "ref 5.14");
_Static_assert(sizeof(nvmlPciInfo_t) == 68, "pynvml nvmlPciInfo_t");
#endif
_Static_assert(MK_NVML_STRUCT_VERSION(nvmlGpuInstanceProfileInfo_v2_t, 2) ==
                   nvmlGpuInstanceProfileInfo_v2,
               "version word");
_Static_assert(MK_NVML_STRUCT_VERSION(nvmlGpuInstanceProfileInfo_v3_t, 3) ==
                   nvmlGpuInstanceProfileInfo_v3,
               "version word");
_Static_assert(MK_NVML_STRUCT_VERSION(nvmlComputeInstanceProfileInfo_v2_t, 2) ==
                   nvmlComputeInstanceProfileInfo_v2,
               "version word");
_Static_assert(MK_NVML_STRUCT_VERSION(nvmlComputeInstanceProfileInfo_v3_t, 3) ==
                   nvmlComputeInstanceProfileInfo_v3,
               "version word");
_Static_assert(MK_NVML_STRUCT_VERSION(nvmlMemory_v2_t, 2) == nvmlMemory_v2, "version word");

/* ---- the symbol list (ref §6) ----
 *
 * X(need, since, return type, symbol, (parameters)). `symbol` is the versioned name to
 * resolve (ref §1). `need` is REQ when migkit cannot work without it, OPT when it degrades
 * (each OPT use says how). `since` is the earliest NVML header that has it (ref §4.5), quoted
 * in messages. Every REQ symbol exists in the NVML of CUDA 11.4 (driver R470), migkit's
 * minimum.
 */
#define MK_NVML_SYMBOLS(X)                                                                         \
    X(REQ, "11.0", nvmlReturn_t, nvmlInit_v2, (void))                                              \
    X(OPT, "11.0", nvmlReturn_t, nvmlInitWithFlags, (unsigned int flags))                          \
    X(REQ, "11.0", nvmlReturn_t, nvmlShutdown, (void))                                             \
    X(REQ, "11.0", const char *, nvmlErrorString, (nvmlReturn_t result))                           \
    X(OPT, "11.0", nvmlReturn_t, nvmlSystemGetDriverVersion, (char *version, unsigned int length)) \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceGetCount_v2, (unsigned int *deviceCount))               \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceGetHandleByIndex_v2,                                    \
      (unsigned int index, nvmlDevice_t *device))                                                  \
    X(OPT, "11.0", nvmlReturn_t, nvmlDeviceGetHandleByUUID,                                        \
      (const char *uuid, nvmlDevice_t *device))                                                    \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceGetName,                                                \
      (nvmlDevice_t device, char *name, unsigned int length))                                      \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceGetUUID,                                                \
      (nvmlDevice_t device, char *uuid, unsigned int length))                                      \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceGetPciInfo_v3,                                          \
      (nvmlDevice_t device, nvmlPciInfo_t * pci))                                                  \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceGetMemoryInfo,                                          \
      (nvmlDevice_t device, nvmlMemory_t * memory))                                                \
    X(OPT, "11.6", nvmlReturn_t, nvmlDeviceGetMemoryInfo_v2,                                       \
      (nvmlDevice_t device, nvmlMemory_v2_t * memory))                                             \
    X(OPT, "11.1", nvmlReturn_t, nvmlDeviceGetAttributes_v2,                                       \
      (nvmlDevice_t device, nvmlDeviceAttributes_t * attributes))                                  \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceGetMigMode,                                             \
      (nvmlDevice_t device, unsigned int *currentMode, unsigned int *pendingMode))                 \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceSetMigMode,                                             \
      (nvmlDevice_t device, unsigned int mode, nvmlReturn_t *activationStatus))                    \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceGetGpuInstanceProfileInfo,                              \
      (nvmlDevice_t device, unsigned int profile, nvmlGpuInstanceProfileInfo_t *info))             \
    X(OPT, "11.6", nvmlReturn_t, nvmlDeviceGetGpuInstanceProfileInfoV,                             \
      (nvmlDevice_t device, unsigned int profile, nvmlGpuInstanceProfileInfo_v2_t *info))          \
    X(OPT, "13.0", nvmlReturn_t, nvmlDeviceGetGpuInstanceProfileInfoByIdV,                         \
      (nvmlDevice_t device, unsigned int profileId, nvmlGpuInstanceProfileInfo_v2_t *info))        \
    X(REQ, "11.4", nvmlReturn_t, nvmlDeviceGetGpuInstancePossiblePlacements_v2,                    \
      (nvmlDevice_t device, unsigned int profileId, nvmlGpuInstancePlacement_t *placements,        \
       unsigned int *count))                                                                       \
    X(OPT, "11.0", nvmlReturn_t, nvmlDeviceGetGpuInstanceRemainingCapacity,                        \
      (nvmlDevice_t device, unsigned int profileId, unsigned int *count))                          \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceCreateGpuInstance,                                      \
      (nvmlDevice_t device, unsigned int profileId, nvmlGpuInstance_t *gpuInstance))               \
    X(REQ, "11.2.2", nvmlReturn_t, nvmlDeviceCreateGpuInstanceWithPlacement,                       \
      (nvmlDevice_t device, unsigned int profileId, const nvmlGpuInstancePlacement_t *placement,   \
       nvmlGpuInstance_t *gpuInstance))                                                            \
    X(REQ, "11.0", nvmlReturn_t, nvmlGpuInstanceDestroy, (nvmlGpuInstance_t gpuInstance))          \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceGetGpuInstances,                                        \
      (nvmlDevice_t device, unsigned int profileId, nvmlGpuInstance_t *gpuInstances,               \
       unsigned int *count))                                                                       \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceGetGpuInstanceById,                                     \
      (nvmlDevice_t device, unsigned int id, nvmlGpuInstance_t *gpuInstance))                      \
    X(REQ, "11.0", nvmlReturn_t, nvmlGpuInstanceGetInfo,                                           \
      (nvmlGpuInstance_t gpuInstance, nvmlGpuInstanceInfo_t * info))                               \
    X(REQ, "11.0", nvmlReturn_t, nvmlGpuInstanceGetComputeInstanceProfileInfo,                     \
      (nvmlGpuInstance_t gpuInstance, unsigned int profile, unsigned int engProfile,               \
       nvmlComputeInstanceProfileInfo_t *info))                                                    \
    X(OPT, "11.6", nvmlReturn_t, nvmlGpuInstanceGetComputeInstanceProfileInfoV,                    \
      (nvmlGpuInstance_t gpuInstance, unsigned int profile, unsigned int engProfile,               \
       nvmlComputeInstanceProfileInfo_v2_t *info))                                                 \
    X(OPT, "11.0", nvmlReturn_t, nvmlGpuInstanceGetComputeInstanceRemainingCapacity,               \
      (nvmlGpuInstance_t gpuInstance, unsigned int profileId, unsigned int *count))                \
    X(OPT, "12.0", nvmlReturn_t, nvmlGpuInstanceGetComputeInstancePossiblePlacements,              \
      (nvmlGpuInstance_t gpuInstance, unsigned int profileId,                                      \
       nvmlComputeInstancePlacement_t *placements, unsigned int *count))                           \
    X(REQ, "11.0", nvmlReturn_t, nvmlGpuInstanceCreateComputeInstance,                             \
      (nvmlGpuInstance_t gpuInstance, unsigned int profileId,                                      \
       nvmlComputeInstance_t *computeInstance))                                                    \
    X(OPT, "12.0", nvmlReturn_t, nvmlGpuInstanceCreateComputeInstanceWithPlacement,                \
      (nvmlGpuInstance_t gpuInstance, unsigned int profileId,                                      \
       const nvmlComputeInstancePlacement_t *placement, nvmlComputeInstance_t *computeInstance))   \
    X(REQ, "11.0", nvmlReturn_t, nvmlComputeInstanceDestroy,                                       \
      (nvmlComputeInstance_t computeInstance))                                                     \
    X(REQ, "11.0", nvmlReturn_t, nvmlGpuInstanceGetComputeInstances,                               \
      (nvmlGpuInstance_t gpuInstance, unsigned int profileId,                                      \
       nvmlComputeInstance_t *computeInstances, unsigned int *count))                              \
    X(REQ, "11.0", nvmlReturn_t, nvmlGpuInstanceGetComputeInstanceById,                            \
      (nvmlGpuInstance_t gpuInstance, unsigned int id, nvmlComputeInstance_t *computeInstance))    \
    X(REQ, "11.2", nvmlReturn_t, nvmlComputeInstanceGetInfo_v2,                                    \
      (nvmlComputeInstance_t computeInstance, nvmlComputeInstanceInfo_t * info))                   \
    X(OPT, "11.0", nvmlReturn_t, nvmlDeviceIsMigDeviceHandle,                                      \
      (nvmlDevice_t device, unsigned int *isMigDevice))                                            \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceGetGpuInstanceId,                                       \
      (nvmlDevice_t device, unsigned int *id))                                                     \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceGetComputeInstanceId,                                   \
      (nvmlDevice_t device, unsigned int *id))                                                     \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceGetMaxMigDeviceCount,                                   \
      (nvmlDevice_t device, unsigned int *count))                                                  \
    X(REQ, "11.0", nvmlReturn_t, nvmlDeviceGetMigDeviceHandleByIndex,                              \
      (nvmlDevice_t device, unsigned int index, nvmlDevice_t *migDevice))                          \
    X(OPT, "11.0", nvmlReturn_t, nvmlDeviceGetDeviceHandleFromMigDeviceHandle,                     \
      (nvmlDevice_t migDevice, nvmlDevice_t * device))                                             \
    X(OPT, "11.6", nvmlReturn_t, nvmlDeviceGetComputeRunningProcesses_v3,                          \
      (nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos))                    \
    X(OPT, "11.6", nvmlReturn_t, nvmlDeviceGetGraphicsRunningProcesses_v3,                         \
      (nvmlDevice_t device, unsigned int *infoCount, nvmlProcessInfo_t *infos))                    \
    X(OPT, "11.0", nvmlReturn_t, nvmlDeviceGetCudaComputeCapability,                               \
      (nvmlDevice_t device, int *major, int *minor))                                               \
    X(OPT, "12.0", nvmlReturn_t, nvmlDeviceGetNumGpuCores,                                         \
      (nvmlDevice_t device, unsigned int *numCores))

/* The last two rows are NOT in the reference pack: their signatures are taken from NVIDIA's
 * Python bindings (nvidia-ml-py), as nvmlPciInfo_t is, and their "since" versions are not
 * verified (both are optional). They give the SM count of a GPU without MIG, which NVML has
 * no direct query for: cores / mk__nvml_cores_per_sm(compute capability). Driver 580.159.04
 * has both: on an H200 they answered 16896 cores and 9.0, so 132 SMs (tests/gpu/README.md). */

/* The function types: mk_nvml_nvmlInit_v2_fn and so on. */
#define MK_NVML_X_TYPEDEF(need, since, ret, name, params) typedef ret mk_nvml_##name##_fn params;
MK_NVML_SYMBOLS(MK_NVML_X_TYPEDEF)
#undef MK_NVML_X_TYPEDEF

/* The typed table of resolved functions. A NULL entry is an OPT symbol the library lacks;
 * callers check before calling (a REQ symbol is never NULL once loading succeeded). */
struct mk_nvml {
#define MK_NVML_X_MEMBER(need, since, ret, name, params) mk_nvml_##name##_fn *name;
    MK_NVML_SYMBOLS(MK_NVML_X_MEMBER)
#undef MK_NVML_X_MEMBER
};

/* The soname, loaded with dlopen(RTLD_NOW); migkit never links -lnvidia-ml. */
#define MK_NVML_SONAME "libnvidia-ml.so.1"

/* Loads MK_NVML_SONAME and resolves every symbol of the list, once per process
 * (pthread_once); later calls return the cached outcome. On success *ret points at the
 * table (static storage, valid for the life of the process: the library is never unloaded).
 * Fails with -ELIBACC when the library cannot be loaded (dlerror's text, copied) and -ENOSYS
 * when a REQ symbol is missing (their names and the NVML version that has them). Thread-safe. */
int mk__nvml_load(const struct mk_nvml **ret, struct mk_error *err);

/* The one mapping of nvmlReturn_t: records in err the errno class of rc (the table above),
 * vendor_code = rc, and the message "<formatted context>: <nvidia-smi text>", adding what the
 * user can do where the code calls for it (NO_PERMISSION: "requires root"; RESET_REQUIRED: how
 * to reset). Returns the negative errno (0 for NVML_SUCCESS, err untouched). */
int mk__nvml_error(struct mk_error *err, nvmlReturn_t rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The negative errno of rc (0 for success); -EIO for a code the table lacks. */
int mk__nvml_errno(nvmlReturn_t rc);
/* nvidia-smi's text for rc ("In use by another client"); "Unknown Error" for codes the table
 * lacks. Static storage. */
const char *mk__nvml_text(nvmlReturn_t rc);
/* "NVML_ERROR_IN_USE"; NULL for codes the table lacks. Static storage. */
const char *mk__nvml_name(nvmlReturn_t rc);
/* Parses "IN_USE", "ERROR_IN_USE" or "NVML_ERROR_IN_USE" (and "SUCCESS"). Returns 0 and sets
 * *ret, or -EINVAL. */
int mk__nvml_parse(const char *s, nvmlReturn_t *ret);

/* FP32 cores per SM of a compute capability (the CUDA C Programming Guide's throughput
 * table, as NVIDIA's CUDA samples encode it in _ConvertSMVer2Cores), or 0 when unknown. */
int mk__nvml_cores_per_sm(int major, int minor);

/* The whole symbol list, for tests and messages: count and name/need/since of entry i. */
size_t mk__nvml_symbol_count(void);
const char *mk__nvml_symbol_name(size_t i);
bool mk__nvml_symbol_required(size_t i);
const char *mk__nvml_symbol_since(size_t i);

#endif /* MIGKIT_VENDOR_NVML_H */

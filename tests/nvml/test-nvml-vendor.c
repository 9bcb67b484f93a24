/*
 * test-nvml-vendor.c - unit tests of src/vendor/nvml.c (the NVML error mapping and the
 * symbol list) and of the fake libnvidia-ml.so.1's ABI, called through the table the real
 * loader fills: versioned names, struct version words, the v2/v3 layouts, two-step count
 * queries, and the answers of nvml-mig-api.md §7.
 *
 * ctest runs it with LD_LIBRARY_PATH at the fake, so mk__nvml_load() takes the ordinary
 * dlopen path. Each test builds its machine in a fresh MIGKIT_STATE_DIR.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "migkit/backend.h"
#include "vendor/nvml.h"

/* ---- fixture: a catalog, a state directory, the loaded table ---- */

struct fixture {
    struct mk_catalog *cat;
    const struct mk_nvml *fn;
    char dir[64];
};

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        char sub[512];
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(sub);
        else
            unlink(sub);
    }
    closedir(d);
    rmdir(path);
}

/* A machine of one model (MIG mode as given) in a new state directory, and nvmlInit. */
static void machine(struct fixture *f, const char *slug, bool mig)
{
    const struct mk_model *m = mk_catalog_find(f->cat, slug);
    struct mk_error err = {0};
    assert_non_null(m);
    assert_int_equal(mk_sim_init(f->dir, f->cat, &m, 1, mig, &err), 0);
    assert_int_equal(f->fn->nvmlInit_v2(), NVML_SUCCESS);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct mk_error err = {0};
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/migkit-test-nvml-XXXXXX");
    if (!mkdtemp(f->dir) || mk_catalog_new(&f->cat, &err) < 0 || mk__nvml_load(&f->fn, &err) < 0) {
        fprintf(stderr, "setup: %s\n", err.msg[0] ? err.msg : strerror(errno));
        free(f);
        return -1;
    }
    setenv("MIGKIT_STATE_DIR", f->dir, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    f->fn->nvmlShutdown();
    remove_tree(f->dir);
    mk_catalog_free(f->cat);
    free(f);
    return 0;
}

static nvmlDevice_t gpu0(struct fixture *f)
{
    nvmlDevice_t dev = NULL;
    assert_int_equal(f->fn->nvmlDeviceGetHandleByIndex_v2(0, &dev), NVML_SUCCESS);
    return dev;
}

static void write_script(struct fixture *f, const char *json)
{
    char path[128];
    FILE *fp;
    snprintf(path, sizeof(path), "%s/nvml-fake.json", f->dir);
    assert_non_null(fp = fopen(path, "w"));
    fputs(json, fp);
    assert_int_equal(fclose(fp), 0);
}

/* ---- the error mapping (no library needed) ---- */

static void test_error_mapping(void **state)
{
    struct mk_error err = {0};
    nvmlReturn_t rc;
    (void)state;
    assert_int_equal(mk__nvml_errno(NVML_SUCCESS), 0);
    assert_int_equal(mk__nvml_errno(NVML_ERROR_INSUFFICIENT_RESOURCES), -ENOSPC);
    assert_int_equal(mk__nvml_errno(NVML_ERROR_IN_USE), -EBUSY);
    assert_int_equal(mk__nvml_errno(NVML_ERROR_NOT_FOUND), -ENOENT);
    assert_int_equal(mk__nvml_errno(NVML_ERROR_NO_PERMISSION), -EPERM);
    assert_int_equal(mk__nvml_errno(NVML_ERROR_NOT_SUPPORTED), -ENOTSUP);
    assert_int_equal(mk__nvml_errno(NVML_ERROR_INVALID_ARGUMENT), -EINVAL);
    assert_int_equal(mk__nvml_errno(NVML_ERROR_RESET_REQUIRED), -EAGAIN);
    assert_int_equal(mk__nvml_errno((nvmlReturn_t)12345), -EIO);
    /* the texts the CLI prints are migkit's own classes' texts, so the two agree */
    assert_string_equal(mk__nvml_text(NVML_ERROR_IN_USE), mk_status_text(-EBUSY));
    assert_string_equal(mk__nvml_text(NVML_ERROR_INSUFFICIENT_RESOURCES), mk_status_text(-ENOSPC));
    assert_string_equal(mk__nvml_text(NVML_ERROR_NO_PERMISSION), mk_status_text(-EPERM));
    assert_string_equal(mk__nvml_text(NVML_ERROR_NOT_FOUND), mk_status_text(-ENOENT));
    assert_string_equal(mk__nvml_text(NVML_ERROR_NOT_SUPPORTED), mk_status_text(-ENOTSUP));
    assert_string_equal(mk__nvml_text(NVML_ERROR_INVALID_ARGUMENT), mk_status_text(-EINVAL));
    assert_string_equal(mk__nvml_name(NVML_ERROR_GPU_IS_LOST), "NVML_ERROR_GPU_IS_LOST");
    assert_null(mk__nvml_name((nvmlReturn_t)12345));

    assert_int_equal(mk__nvml_error(&err, NVML_SUCCESS, "nothing"), 0);
    assert_int_equal(err.code, 0);
    assert_int_equal(mk__nvml_error(&err, NVML_ERROR_NO_PERMISSION, "Creating GI %d", 7), -EPERM);
    assert_int_equal(err.vendor_code, NVML_ERROR_NO_PERMISSION);
    assert_non_null(strstr(err.msg, "Creating GI 7: Insufficient Permissions"));
    assert_non_null(strstr(err.msg, "requires root"));
    assert_int_equal(mk__nvml_error(&err, NVML_ERROR_RESET_REQUIRED, "x"), -EAGAIN);
    assert_non_null(strstr(err.msg, "--gpu-reset"));
    assert_int_equal(mk__nvml_error(NULL, NVML_ERROR_IN_USE, "x"), -EBUSY);

    assert_int_equal(mk__nvml_parse("IN_USE", &rc), 0);
    assert_int_equal(rc, NVML_ERROR_IN_USE);
    assert_int_equal(mk__nvml_parse("NVML_ERROR_RESET_REQUIRED", &rc), 0);
    assert_int_equal(rc, NVML_ERROR_RESET_REQUIRED);
    assert_int_equal(mk__nvml_parse("ERROR_NOT_SUPPORTED", &rc), 0);
    assert_int_equal(rc, NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(mk__nvml_parse("SUCCESS", &rc), 0);
    assert_int_equal(rc, NVML_SUCCESS);
    assert_int_equal(mk__nvml_parse("NOT_A_CODE", &rc), -EINVAL);
}

static void test_symbol_list(void **state)
{
    size_t n = mk__nvml_symbol_count(), required = 0;
    (void)state;
    assert_true(n > 40);
    for (size_t i = 0; i < n; i++) {
        const char *name = mk__nvml_symbol_name(i);
        assert_int_equal(strncmp(name, "nvml", 4), 0);
        assert_non_null(mk__nvml_symbol_since(i));
        required += mk__nvml_symbol_required(i);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(name, mk__nvml_symbol_name(k));
        /* the versioned names of ref §1, never the unversioned legacy ones */
        assert_string_not_equal(name, "nvmlInit");
        assert_string_not_equal(name, "nvmlDeviceGetCount");
        assert_string_not_equal(name, "nvmlDeviceGetHandleByIndex");
        assert_string_not_equal(name, "nvmlComputeInstanceGetInfo");
        assert_string_not_equal(name, "nvmlDeviceGetGpuInstancePossiblePlacements");
    }
    assert_true(required > 20 && required < n);
    assert_null(mk__nvml_symbol_name(n));
}

/* ---- the fake, through the loader's table ---- */

static void test_fake_exports_every_symbol(void **state)
{
    struct fixture *f = *state;
    const void *const *slots = (const void *const *)f->fn;
    /* struct mk_nvml is one function pointer per list entry, in list order */
    assert_int_equal(sizeof(struct mk_nvml), mk__nvml_symbol_count() * sizeof(void *));
    for (size_t i = 0; i < mk__nvml_symbol_count(); i++)
        if (!slots[i])
            fail_msg("the fake does not export %s", mk__nvml_symbol_name(i));
}

static void test_fake_identity_and_init(void **state)
{
    struct fixture *f = *state;
    char buf[NVML_DEVICE_NAME_V2_BUFFER_SIZE], small[8];
    unsigned int n = 0, cur = 9, pend = 9;
    nvmlPciInfo_t pci;
    nvmlDevice_t dev;
    assert_int_equal(f->fn->nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNINITIALIZED);
    machine(f, "h100-sxm5-80gb", true);
    assert_int_equal(f->fn->nvmlDeviceGetCount_v2(&n), NVML_SUCCESS);
    assert_int_equal(n, 1);
    dev = gpu0(f);
    assert_int_equal(f->fn->nvmlDeviceGetHandleByIndex_v2(1, &dev), NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(f->fn->nvmlDeviceGetName(dev, buf, sizeof(buf)), NVML_SUCCESS);
    assert_string_equal(buf, "NVIDIA H100 80GB HBM3");
    assert_int_equal(f->fn->nvmlDeviceGetName(dev, small, sizeof(small)),
                     NVML_ERROR_INSUFFICIENT_SIZE);
    assert_int_equal(f->fn->nvmlDeviceGetUUID(dev, buf, sizeof(buf)), NVML_SUCCESS);
    assert_int_equal(strncmp(buf, "GPU-", 4), 0);
    assert_int_equal(f->fn->nvmlDeviceGetPciInfo_v3(dev, &pci), NVML_SUCCESS);
    assert_int_equal(pci.pciDeviceId, 0x233010DEu);
    assert_string_equal(pci.busId, "00000000:01:00.0");
    assert_int_equal(pci.bus, 1);
    assert_int_equal(f->fn->nvmlDeviceGetMigMode(dev, &cur, &pend), NVML_SUCCESS);
    assert_int_equal(cur, NVML_DEVICE_MIG_ENABLE);
    assert_int_equal(pend, NVML_DEVICE_MIG_ENABLE);
    assert_string_equal(f->fn->nvmlErrorString(NVML_ERROR_IN_USE), "In use by another client");
    /* nvmlInit is reference-counted */
    assert_int_equal(f->fn->nvmlInit_v2(), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlShutdown(), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlDeviceGetCount_v2(&n), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlShutdown(), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNINITIALIZED);
    assert_int_equal(f->fn->nvmlShutdown(), NVML_SUCCESS); /* more shutdowns than inits: fine */
    assert_int_equal(f->fn->nvmlInit_v2(), NVML_SUCCESS);
}

/* The v2 and v3 profile-info structs: same size, different offsets, dispatched on the version
 * word; a wrong word is an invalid argument (ref §5.3-5.4, §7.7). */
static void test_fake_profile_info_versions(void **state)
{
    struct fixture *f = *state;
    nvmlGpuInstanceProfileInfo_v2_t v2 = {.version = nvmlGpuInstanceProfileInfo_v2};
    nvmlGpuInstanceProfileInfo_v3_t v3 = {.version = nvmlGpuInstanceProfileInfo_v3};
    nvmlGpuInstanceProfileInfo_v2_t bad = {.version = 0x01000098u};
    nvmlGpuInstanceProfileInfo_t v1;
    nvmlDevice_t dev;
    machine(f, "h100-sxm5-80gb", true);
    dev = gpu0(f);
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstanceProfileInfoV(dev, 0x9, &v2), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstanceProfileInfoV(
                         dev, 0x9, (nvmlGpuInstanceProfileInfo_v2_t *)&v3),
                     NVML_SUCCESS);
    /* 1_SLICE_REV2 (0x9) is profile ID 15, 1g.20gb: 26 SMs, max 4 (mig-gpus §4.4) */
    assert_int_equal(v2.id, 15);
    assert_int_equal(v3.id, 15);
    assert_int_equal(v2.instanceCount, 4);
    assert_int_equal(v3.instanceCount, 4);
    assert_int_equal(v2.multiprocessorCount, 26);
    assert_int_equal(v3.multiprocessorCount, 26);
    assert_true(v2.memorySizeMB > 0);
    assert_int_equal(v2.memorySizeMB, v3.memorySizeMB);
    assert_string_equal(v2.name, "MIG 1g.20gb");
    assert_string_equal(v3.name, "MIG 1g.20gb");
    assert_int_equal(v3.version, nvmlGpuInstanceProfileInfo_v3);
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstanceProfileInfoV(dev, 0x9, &bad),
                     NVML_ERROR_INVALID_ARGUMENT);
    /* constants: past the list invalid, known but absent on this GPU unsupported (ref §7.2) */
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstanceProfileInfoV(dev, 0x12, &v2),
                     NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstanceProfileInfoV(dev, 0xA, &v2),
                     NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstanceProfileInfo(dev, 0x0, &v1), NVML_SUCCESS);
    assert_int_equal(v1.id, 19);
    v2.version = nvmlGpuInstanceProfileInfo_v2;
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstanceProfileInfoByIdV(dev, 19, &v2), NVML_SUCCESS);
    assert_int_equal(v2.multiprocessorCount, 16);
}

static void test_fake_mig_disabled(void **state)
{
    struct fixture *f = *state;
    nvmlGpuInstanceProfileInfo_v2_t v2 = {.version = nvmlGpuInstanceProfileInfo_v2};
    nvmlGpuInstanceProfileInfo_t v1;
    nvmlGpuInstance_t gi;
    unsigned int n = 0, cur, pend;
    nvmlReturn_t act;
    nvmlDevice_t dev;
    machine(f, "a100-sxm4-40gb", false);
    dev = gpu0(f);
    /* ref §7.4: the versioned query and creation want MIG mode; v1 and placements do not */
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstanceProfileInfoV(dev, 0, &v2),
                     NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstanceProfileInfo(dev, 0, &v1), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstancePossiblePlacements_v2(dev, 19, NULL, &n),
                     NVML_SUCCESS);
    assert_int_equal(n, 7);
    assert_int_equal(f->fn->nvmlDeviceCreateGpuInstance(dev, 19, &gi), NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(f->fn->nvmlDeviceGetMaxMigDeviceCount(dev, &n), NVML_SUCCESS);
    assert_int_equal(n, 0);
    assert_int_equal(f->fn->nvmlDeviceSetMigMode(dev, NVML_DEVICE_MIG_ENABLE, &act), NVML_SUCCESS);
    assert_int_equal(act, NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlDeviceGetMigMode(dev, &cur, &pend), NVML_SUCCESS);
    assert_int_equal(cur, NVML_DEVICE_MIG_ENABLE);
    assert_int_equal(f->fn->nvmlDeviceSetMigMode(dev, 7, &act), NVML_ERROR_INVALID_ARGUMENT);
}

static void test_fake_placements_and_create(void **state)
{
    struct fixture *f = *state;
    nvmlGpuInstancePlacement_t pl[8], want = {4, 4}, wrong = {2, 4}, odd = {4, 2};
    nvmlGpuInstance_t gi, list[2];
    nvmlGpuInstanceInfo_t info;
    unsigned int n = 0, left = 0;
    nvmlDevice_t dev;
    machine(f, "h100-sxm5-80gb", true);
    dev = gpu0(f);
    /* two steps: NULL for the count, then an array that holds them all (ref §7.3) */
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstancePossiblePlacements_v2(dev, 9, NULL, &n),
                     NVML_SUCCESS);
    assert_int_equal(n, 2);
    n = 1;
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstancePossiblePlacements_v2(dev, 9, pl, &n),
                     NVML_ERROR_INSUFFICIENT_SIZE);
    n = 8;
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstancePossiblePlacements_v2(dev, 9, pl, &n),
                     NVML_SUCCESS);
    assert_int_equal(n, 2);
    assert_int_equal(pl[1].start, 4);
    assert_int_equal(pl[1].size, 4);
    /* a placement that is not possible is invalid; a possible one that is taken is not free */
    assert_int_equal(f->fn->nvmlDeviceCreateGpuInstanceWithPlacement(dev, 9, &odd, &gi),
                     NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(f->fn->nvmlDeviceCreateGpuInstanceWithPlacement(dev, 9, &wrong, &gi),
                     NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(f->fn->nvmlDeviceCreateGpuInstanceWithPlacement(dev, 9, &want, &gi),
                     NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlGpuInstanceGetInfo(gi, &info), NVML_SUCCESS);
    assert_int_equal(info.id, 2); /* 3g at 4:4 is GI 2 (mig-gpus §6.3) */
    assert_int_equal(info.profileId, 9);
    assert_int_equal(info.placement.start, 4);
    assert_ptr_equal(info.device, dev);
    assert_int_equal(f->fn->nvmlDeviceCreateGpuInstanceWithPlacement(dev, 9, &want, &gi),
                     NVML_ERROR_INSUFFICIENT_RESOURCES);
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstanceRemainingCapacity(dev, 9, &left), NVML_SUCCESS);
    assert_int_equal(left, 1);
    /* the buffer must hold the profile's instanceCount (2 for 3g) */
    n = 1;
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstances(dev, 9, list, &n),
                     NVML_ERROR_INSUFFICIENT_SIZE);
    n = 2;
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstances(dev, 9, list, &n), NVML_SUCCESS);
    assert_int_equal(n, 1);
    assert_ptr_equal(list[0], gi);
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstanceById(dev, 3, &gi), NVML_ERROR_NOT_FOUND);
    /* automatic placement follows the driver's order: the next 3g goes to 0:4, GI 1 */
    assert_int_equal(f->fn->nvmlDeviceCreateGpuInstance(dev, 9, &gi), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlGpuInstanceGetInfo(gi, &info), NVML_SUCCESS);
    assert_int_equal(info.id, 1);
    assert_int_equal(f->fn->nvmlDeviceCreateGpuInstance(dev, 19, &gi),
                     NVML_ERROR_INSUFFICIENT_RESOURCES);
}

/* Compute instances, MIG devices, teardown order and stale handles (ref §6.6-6.7, §7.6). */
static void test_fake_compute_instances(void **state)
{
    struct fixture *f = *state;
    nvmlComputeInstanceProfileInfo_v2_t c2 = {.version = nvmlComputeInstanceProfileInfo_v2};
    nvmlComputeInstanceProfileInfo_v3_t c3 = {.version = nvmlComputeInstanceProfileInfo_v3};
    nvmlComputeInstancePlacement_t cpl[4], at2 = {2, 1};
    nvmlComputeInstance_t ci, ci2, list[8];
    nvmlComputeInstanceInfo_t cinfo;
    nvmlDeviceAttributes_t attr;
    nvmlGpuInstance_t gi;
    nvmlDevice_t dev, mig, parent;
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE], name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
    unsigned int n = 0, id = 99;
    nvmlMemory_t mem;
    machine(f, "a100-sxm4-40gb", true);
    dev = gpu0(f);
    assert_int_equal(f->fn->nvmlDeviceCreateGpuInstance(dev, 9, &gi), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlGpuInstanceGetComputeInstanceProfileInfoV(
                         gi, NVML_COMPUTE_INSTANCE_PROFILE_3_SLICE,
                         NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED, &c2),
                     NVML_SUCCESS);
    assert_int_equal(c2.id, 2);
    assert_int_equal(c2.multiprocessorCount, 42);
    assert_string_equal(c2.name, "MIG 3g.20gb");
    assert_int_equal(f->fn->nvmlGpuInstanceGetComputeInstanceProfileInfoV(
                         gi, NVML_COMPUTE_INSTANCE_PROFILE_1_SLICE,
                         NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED,
                         (nvmlComputeInstanceProfileInfo_v2_t *)&c3),
                     NVML_SUCCESS);
    assert_int_equal(c3.sliceCount, 1);
    assert_int_equal(c3.instanceCount, 3);
    assert_string_equal(c3.name, "MIG 1c.3g.20gb");
    assert_int_equal(f->fn->nvmlGpuInstanceGetComputeInstanceProfileInfoV(
                         gi, NVML_COMPUTE_INSTANCE_PROFILE_7_SLICE,
                         NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED, &c2),
                     NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(f->fn->nvmlGpuInstanceGetComputeInstancePossiblePlacements(gi, 0, NULL, &n),
                     NVML_SUCCESS);
    assert_int_equal(n, 3);
    n = 4;
    assert_int_equal(f->fn->nvmlGpuInstanceGetComputeInstancePossiblePlacements(gi, 0, cpl, &n),
                     NVML_SUCCESS);
    assert_int_equal(cpl[2].start, 2);
    assert_int_equal(f->fn->nvmlGpuInstanceCreateComputeInstanceWithPlacement(gi, 0, &at2, &ci2),
                     NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlGpuInstanceCreateComputeInstance(gi, 0, &ci), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlComputeInstanceGetInfo_v2(ci, &cinfo), NVML_SUCCESS);
    assert_int_equal(cinfo.id, 1);
    assert_int_equal(cinfo.placement.start, 0);
    assert_ptr_equal(cinfo.gpuInstance, gi);
    n = 8;
    assert_int_equal(f->fn->nvmlGpuInstanceGetComputeInstances(gi, 0, list, &n), NVML_SUCCESS);
    assert_int_equal(n, 2);
    /* MIG devices: by GI then CI; handles answer identity, memory and attribute queries */
    assert_int_equal(f->fn->nvmlDeviceGetMaxMigDeviceCount(dev, &n), NVML_SUCCESS);
    assert_int_equal(n, 7);
    assert_int_equal(f->fn->nvmlDeviceGetMigDeviceHandleByIndex(dev, 1, &mig), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlDeviceGetMigDeviceHandleByIndex(dev, 2, &mig),
                     NVML_ERROR_NOT_FOUND);
    assert_int_equal(f->fn->nvmlDeviceGetMigDeviceHandleByIndex(dev, 1, &mig), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlDeviceGetComputeInstanceId(mig, &id), NVML_SUCCESS);
    assert_int_equal(id, 1);
    assert_int_equal(f->fn->nvmlDeviceGetGpuInstanceId(dev, &id), NVML_ERROR_NOT_SUPPORTED);
    assert_int_equal(f->fn->nvmlDeviceGetUUID(mig, uuid, sizeof(uuid)), NVML_SUCCESS);
    assert_int_equal(strncmp(uuid, "MIG-", 4), 0);
    assert_int_equal(f->fn->nvmlDeviceGetName(mig, name, sizeof(name)), NVML_SUCCESS);
    assert_string_equal(name, "NVIDIA A100-SXM4-40GB MIG 1c.3g.20gb");
    assert_int_equal(f->fn->nvmlDeviceGetMemoryInfo(mig, &mem), NVML_SUCCESS);
    assert_int_equal(mem.total, 19968ull << 20); /* 3g.20gb: 19.50 GiB (mig-gpus §4.1) */
    assert_int_equal(f->fn->nvmlDeviceGetAttributes_v2(mig, &attr), NVML_SUCCESS);
    assert_int_equal(attr.multiprocessorCount, 14);
    assert_int_equal(attr.gpuInstanceSliceCount, 3);
    assert_int_equal(f->fn->nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig, &parent),
                     NVML_SUCCESS);
    assert_ptr_equal(parent, dev);
    /* teardown order: a GI with CIs is in use (ref §7.6); stale handles are invalid */
    assert_int_equal(f->fn->nvmlGpuInstanceDestroy(gi), NVML_ERROR_IN_USE);
    assert_int_equal(f->fn->nvmlComputeInstanceDestroy(ci), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlComputeInstanceDestroy(ci), NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(f->fn->nvmlDeviceGetUUID(mig, uuid, sizeof(uuid)),
                     NVML_ERROR_INVALID_ARGUMENT);
    assert_int_equal(f->fn->nvmlComputeInstanceDestroy(ci2), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlGpuInstanceDestroy(gi), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlGpuInstanceDestroy(gi), NVML_ERROR_INVALID_ARGUMENT);
}

/* "sim busy" shows as processes, through the _v3 counting protocol (ref §6.8). */
static void test_fake_processes_and_injection(void **state)
{
    struct fixture *f = *state;
    nvmlProcessInfo_t procs[4];
    nvmlGpuInstance_t gi;
    nvmlComputeInstance_t ci;
    nvmlDevice_t dev, mig;
    unsigned int n = 0;
    nvmlMemory_v2_t m2 = {.version = 0x01000028u};
    struct mk_backend *b;
    struct mk_backend_config cfg = {.name = "sim", .state_dir = f->dir, .writable = true};
    struct mk_error err = {0};
    machine(f, "h100-sxm5-80gb", true);
    dev = gpu0(f);
    assert_int_equal(f->fn->nvmlDeviceCreateGpuInstance(dev, 19, &gi), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlGpuInstanceCreateComputeInstance(gi, 0, &ci), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlDeviceGetMigDeviceHandleByIndex(dev, 0, &mig), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlDeviceGetComputeRunningProcesses_v3(mig, &n, NULL), NVML_SUCCESS);
    assert_int_equal(n, 0);
    assert_int_equal(mk_backend_open(&cfg, f->cat, &b, &err), 0);
    assert_int_equal(mk_backend_set_busy(b, 0, 13, true, &err), 0);
    assert_int_equal(mk_backend_commit(b, &err), 0);
    mk_backend_close(b);
    assert_int_equal(f->fn->nvmlDeviceGetComputeRunningProcesses_v3(mig, &n, NULL),
                     NVML_ERROR_INSUFFICIENT_SIZE);
    assert_int_equal(n, 1);
    n = 4;
    assert_int_equal(f->fn->nvmlDeviceGetComputeRunningProcesses_v3(dev, &n, procs), NVML_SUCCESS);
    assert_int_equal(n, 1);
    assert_int_equal(procs[0].gpuInstanceId, 13);
    assert_int_equal(procs[0].computeInstanceId, 0);
    assert_int_equal(procs[0].usedGpuMemory, NVML_VALUE_NOT_AVAILABLE_ULL);
    assert_int_equal(f->fn->nvmlComputeInstanceDestroy(ci), NVML_ERROR_IN_USE);
    assert_int_equal(f->fn->nvmlDeviceGetMemoryInfo_v2(dev, &m2), NVML_ERROR_INVALID_ARGUMENT);
    /* the script: a counted injection is used up, an uncounted one stays */
    write_script(f, "{\"inject\": [{\"function\": \"nvmlDeviceCreateGpuInstance\", \"error\": "
                    "\"NO_PERMISSION\", \"count\": 2}, {\"function\": \"nvmlDeviceGetCount_v2\", "
                    "\"error\": \"GPU_IS_LOST\"}]}");
    assert_int_equal(f->fn->nvmlDeviceCreateGpuInstance(dev, 19, &gi), NVML_ERROR_NO_PERMISSION);
    assert_int_equal(f->fn->nvmlDeviceCreateGpuInstance(dev, 19, &gi), NVML_ERROR_NO_PERMISSION);
    assert_int_equal(f->fn->nvmlDeviceCreateGpuInstance(dev, 19, &gi), NVML_SUCCESS);
    assert_int_equal(f->fn->nvmlDeviceGetCount_v2(&n), NVML_ERROR_GPU_IS_LOST);
    assert_int_equal(f->fn->nvmlDeviceGetCount_v2(&n), NVML_ERROR_GPU_IS_LOST);
    write_script(f,
                 "{\"inject\": [{\"function\": \"nvmlDeviceGetCount_v2\", \"error\": \"NOPE\"}]}");
    assert_int_equal(f->fn->nvmlDeviceGetCount_v2(&n), NVML_ERROR_UNKNOWN);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_mapping), cmocka_unit_test(test_symbol_list),
        T(test_fake_exports_every_symbol),    T(test_fake_identity_and_init),
        T(test_fake_profile_info_versions),   T(test_fake_mig_disabled),
        T(test_fake_placements_and_create),   T(test_fake_compute_instances),
        T(test_fake_processes_and_injection),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}

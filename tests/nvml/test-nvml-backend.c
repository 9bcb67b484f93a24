/*
 * test-nvml-backend.c - unit tests of the NVML backend (src/backend/nvml.c, nvml-model.c)
 * against the fake libnvidia-ml.so.1: the model of every catalog GPU read back from the
 * driver equals the catalog's, a GPU the catalog lacks gets the same tables built from the
 * driver's answers alone, the driver's values win where they differ, "auto" picks NVML,
 * operations and "busy", the hints (requires root, pending MIG mode), and allocation
 * failures during open.
 *
 * ctest runs it with LD_LIBRARY_PATH at the fake; each test has its own MIGKIT_STATE_DIR.
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

struct fixture {
    struct mk_catalog *cat;
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

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct mk_error err = {0};
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/migkit-test-nvmlb-XXXXXX");
    if (!mkdtemp(f->dir) || mk_catalog_new(&f->cat, &err) < 0) {
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
    remove_tree(f->dir);
    mk_catalog_free(f->cat);
    free(f);
    return 0;
}

static void machine(struct fixture *f, const struct mk_model *m, bool mig)
{
    struct mk_error err = {0};
    assert_int_equal(mk_sim_init(f->dir, f->cat, &m, 1, mig, &err), 0);
}

static void write_script(struct fixture *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void write_script(struct fixture *f, const char *fmt, ...)
{
    char path[128];
    va_list ap;
    FILE *fp;
    snprintf(path, sizeof(path), "%s/nvml-fake.json", f->dir);
    assert_non_null(fp = fopen(path, "w"));
    va_start(ap, fmt);
    vfprintf(fp, fmt, ap);
    va_end(ap);
    assert_int_equal(fclose(fp), 0);
}

static struct mk_backend *open_backend(struct fixture *f, const char *name)
{
    struct mk_backend_config cfg = {.name = name, .state_dir = f->dir, .writable = true};
    struct mk_backend *b = NULL;
    struct mk_error err = {0};
    if (mk_backend_open(&cfg, f->cat, &b, &err) < 0)
        fail_msg("mk_backend_open(%s): %s", name, err.msg);
    return b;
}

/* The GI-profile fields the driver can tell (all but the automatic order, the unverified
 * marks and the alternatives, which only the catalog knows). */
static void assert_same_profiles(const struct mk_model *want, const struct mk_model *got)
{
    assert_int_equal(got->nprofiles, want->nprofiles);
    for (int i = 0; i < want->nprofiles; i++) {
        const struct mk_gi_profile *a = &want->profiles[i], *b = &got->profiles[i];
        assert_string_equal(b->name, a->name);
        assert_int_equal(b->id, a->id);
        assert_int_equal(b->nvml, a->nvml);
        assert_int_equal(b->mem_slices, a->mem_slices);
        assert_int_equal(b->compute_slices, a->compute_slices);
        assert_int_equal(b->sms, a->sms);
        assert_int_equal(b->memory_mib, a->memory_mib);
        assert_int_equal(b->dec, a->dec);
        assert_int_equal(b->enc, a->enc);
        assert_int_equal(b->ce, a->ce);
        assert_int_equal(b->jpeg, a->jpeg);
        assert_int_equal(b->ofa, a->ofa);
        assert_int_equal(b->max, a->max);
        assert_int_equal(b->media, a->media);
        assert_int_equal(b->nstarts, a->nstarts);
        assert_memory_equal(b->starts, a->starts, (size_t)a->nstarts * sizeof(int));
        assert_int_equal(b->nci, a->nci);
        assert_memory_equal(b->ci, a->ci, (size_t)a->nci * sizeof(int));
        assert_int_equal(b->ci_default, a->ci_default);
    }
}

/* Every catalog GPU, read back through NVML: the catalog's model, unchanged (the fake
 * reports what the catalog says), and with MIG mode off too. */
static void test_catalog_models_read_back(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < mk_catalog_count(f->cat); i++) {
        const struct mk_model *m = mk_catalog_at(f->cat, i);
        for (int mig = 0; mig < 2; mig++) {
            struct mk_backend *b;
            const struct mk_gpu *g;
            machine(f, m, mig);
            b = open_backend(f, "nvml");
            assert_string_equal(mk_backend_name(b), "nvml");
            g = mk_backend_gpu(b, 0);
            assert_ptr_equal(g->model, m); /* the catalog's own model: nothing differed */
            assert_string_equal(g->model->slug, m->slug);
            assert_string_equal(g->model->name, m->name);
            assert_int_equal(g->mig_enabled, mig);
            assert_int_equal(g->model->nnotes, m->nnotes); /* nothing differed */
            assert_same_profiles(m, g->model);
            assert_memory_equal(g->model->profiles[0].auto_order, m->profiles[0].auto_order,
                                sizeof(m->profiles[0].auto_order));
            mk_backend_close(b);
        }
    }
}

/* A GPU the catalog does not know: the model is built from the driver's profile information
 * and placements alone, and still has every catalog model's tables (the row order, the grid,
 * the CI sizes offered and the GI ID unit included). */
static void test_driver_models_match_catalog(void **state)
{
    struct fixture *f = *state;
    write_script(f, "{\"gpus\": [{\"index\": 0, \"name\": \"NVIDIA Future GPU\", "
                    "\"pci_device_id\": \"0xFFFF10DE\"}]}");
    for (size_t i = 0; i < mk_catalog_count(f->cat); i++) {
        const struct mk_model *m = mk_catalog_at(f->cat, i);
        struct mk_backend *b;
        const struct mk_model *d;
        machine(f, m, true);
        b = open_backend(f, "nvml");
        d = mk_backend_gpu(b, 0)->model;
        assert_string_equal(d->slug, "from-driver");
        assert_string_equal(d->name, "NVIDIA Future GPU");
        assert_int_equal(d->pci_ids[0], 0xFFFF10DEu);
        assert_int_equal(d->grid, m->grid);
        assert_int_equal(d->compute_slices, m->compute_slices);
        assert_int_equal(d->max_gis, m->max_gis);
        assert_int_equal(d->gi_id_unit, m->gi_id_unit);
        assert_int_equal(d->memory_mib, m->memory_mib);
        assert_same_profiles(m, d);
        assert_non_null(strstr(d->notes[0], "not in the catalog"));
        mk_backend_close(b);
    }
}

/* Where the driver and the catalog differ, the driver wins and a note says so; the name
 * the driver reports is shown, the catalog's kept as an alternative. */
static void test_driver_values_win(void **state)
{
    struct fixture *f = *state;
    const struct mk_model *m = mk_catalog_find(f->cat, "a100-sxm4-40gb");
    const struct mk_gi_profile *p;
    struct mk_backend *b;
    const struct mk_model *d;
    machine(f, m, true);
    write_script(f, "{\"gpus\": [{\"index\": 0, \"name\": \"NVIDIA A100-PCIE-40GB\", "
                    "\"pci_device_id\": \"0x20F110DE\", \"profile_memory_mib\": {\"19\": 4992}}]}");
    b = open_backend(f, "nvml");
    d = mk_backend_gpu(b, 0)->model;
    assert_string_equal(d->slug, "a100-sxm4-40gb");
    assert_string_equal(d->name, "NVIDIA A100-PCIE-40GB");
    assert_non_null(p = mk_model_profile_by_id(d, 19));
    assert_int_equal(p->memory_mib, 4992);
    assert_int_equal(mk_model_profile_by_id(m, 19)->memory_mib, 4864); /* catalog untouched */
    assert_non_null(strstr(d->notes[d->nnotes - 1], "4992"));
    mk_backend_close(b);
}

/* A model the backend made (not the catalog's) outlives the backend, and one equal model is
 * shared: a struct mk_gpu's model and profile pointers stay valid and comparable across a
 * close and re-open, as with the simulator (migctl apply relies on it). */
static void test_models_outlive_the_backend(void **state)
{
    struct fixture *f = *state;
    const struct mk_model *before;
    const struct mk_gi_profile *p;
    struct mk_backend *b;
    machine(f, mk_catalog_find(f->cat, "h100-sxm5-80gb"), true);
    write_script(f, "{\"gpus\": [{\"index\": 0, \"name\": \"NVIDIA Future GPU\", "
                    "\"pci_device_id\": \"0xFFFF10DE\"}]}");
    b = open_backend(f, "nvml");
    before = mk_backend_gpu(b, 0)->model;
    p = mk_model_profile_by_id(before, 9);
    mk_backend_close(b);
    assert_string_equal(before->slug, "from-driver");
    assert_int_equal(p->id, 9); /* still readable after close */
    b = open_backend(f, "nvml");
    assert_ptr_equal(mk_backend_gpu(b, 0)->model, before);
    assert_ptr_equal(mk_model_profile_by_id(mk_backend_gpu(b, 0)->model, 9), p);
    mk_backend_close(b);
}

static void test_auto_picks_nvml_and_non_mig_gpus(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    struct mk_backend *b;
    const struct mk_gpu *l4;
    machine(f, mk_catalog_find(f->cat, "h100-sxm5-80gb"), true);
    write_script(f, "{\"non_mig_gpus\": [{\"name\": \"NVIDIA L4\", \"pci_device_id\": "
                    "\"0x27B810DE\", \"memory_mib\": 23034}]}");
    b = open_backend(f, "auto");
    assert_string_equal(mk_backend_name(b), "nvml");
    assert_int_equal(mk_backend_gpu_count(b), 2);
    l4 = mk_backend_gpu(b, 1);
    assert_string_equal(l4->model->name, "NVIDIA L4");
    assert_string_equal(l4->model->slug, "from-driver");
    assert_int_equal(l4->model->nprofiles, 0);
    assert_false(l4->mig_enabled);
    assert_string_equal(l4->pci_bus_id, "00000000:02:00.0");
    assert_int_equal(mk_backend_set_mig(b, 1, true, &err), -ENOTSUP);
    assert_int_equal(err.vendor_code, 3); /* NVML_ERROR_NOT_SUPPORTED */
    assert_int_equal(mk_backend_set_busy(b, 0, 0, true, &err), -ENOTSUP);
    mk_backend_close(b);
    /* NVML that cannot initialise: auto is the simulator */
    write_script(f, "{\"inject\": [{\"function\": \"nvmlInit_v2\", \"error\": "
                    "\"DRIVER_NOT_LOADED\"}]}");
    b = open_backend(f, "auto");
    assert_string_equal(mk_backend_name(b), "sim");
    mk_backend_close(b);
}

static void test_operations_and_busy(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    struct mk_backend *b, *s;
    const struct mk_gpu *g;
    const struct mk_gi *gi;
    int id = -1, ci = -1;
    machine(f, mk_catalog_find(f->cat, "h100-sxm5-80gb"), true);
    b = open_backend(f, "nvml");
    g = mk_backend_gpu(b, 0);
    assert_int_equal(mk_backend_gi_create(b, 0, mk_model_profile_by_id(g->model, 14), 2, &id, &err),
                     0);
    assert_int_equal(id, 4); /* 2g at 2:2 */
    assert_int_equal(mk_backend_gi_create(b, 0, mk_model_profile_by_id(g->model, 14), 2, &id, &err),
                     -ENOSPC);
    assert_int_equal(err.vendor_code, 23); /* NVML_ERROR_INSUFFICIENT_RESOURCES */
    assert_int_equal(mk_backend_ci_create(b, 0, 4, 0, &ci, &err), 0);
    assert_int_equal(mk_backend_ci_create(b, 0, 4, 0, &ci, &err), 0);
    assert_int_equal(ci, 1);
    assert_int_equal(mk_backend_ci_create(b, 0, 4, 0, &ci, &err), -ENOSPC);
    assert_non_null(gi = mk_gpu_gi_find_const(mk_backend_gpu(b, 0), 4));
    assert_int_equal(gi->nci, 2);
    assert_int_equal(gi->ci[1].start, 1);
    assert_int_equal(strncmp(gi->ci[1].uuid, "MIG-", 4), 0);
    assert_int_equal(mk_backend_gi_destroy(b, 0, 4, &err), -EBUSY);
    assert_int_equal(mk_backend_gi_destroy(b, 0, 9, &err), -ENOENT);
    assert_int_equal(mk_backend_ci_destroy(b, 0, 4, 5, &err), -ENOENT);
    assert_int_equal(mk_backend_commit(b, &err), 0); /* nothing to commit */
    mk_backend_close(b);
    /* the simulator marks the GI busy; NVML sees processes on its MIG devices */
    s = open_backend(f, "sim");
    assert_int_equal(mk_backend_set_busy(s, 0, 4, true, &err), 0);
    assert_int_equal(mk_backend_commit(s, &err), 0);
    mk_backend_close(s);
    b = open_backend(f, "nvml");
    assert_true(mk_gpu_gi_find_const(mk_backend_gpu(b, 0), 4)->busy);
    assert_int_equal(mk_backend_ci_destroy(b, 0, 4, 0, &err), -EBUSY);
    assert_null(mk_backend_hint(b)); /* nvidia-smi's line says it all */
    assert_int_equal(mk_backend_set_mig(b, 0, false, &err), -EBUSY);
    mk_backend_close(b);
}

static void test_hints(void **state)
{
    struct fixture *f = *state;
    struct mk_error err = {0};
    struct mk_backend *b;
    const struct mk_model *m;
    machine(f, mk_catalog_find(f->cat, "h100-sxm5-80gb"), true);
    write_script(f, "{\"inject\": [{\"function\": \"nvmlDeviceCreateGpuInstance\", \"error\": "
                    "\"NO_PERMISSION\"}, {\"function\": \"nvmlDeviceSetMigMode\", "
                    "\"activation_status\": \"IN_USE\", \"count\": 1}, "
                    "{\"function\": \"nvmlDeviceSetMigMode\", \"activation_status\": "
                    "\"RESET_REQUIRED\", \"count\": 1}]}");
    b = open_backend(f, "nvml");
    m = mk_backend_gpu(b, 0)->model;
    assert_int_equal(mk_backend_gi_create(b, 0, &m->profiles[0], -1, NULL, &err), -EPERM);
    assert_non_null(strstr(mk_backend_hint(b), "requires root"));
    assert_int_equal(mk_backend_gi_create(b, 0, &m->profiles[0], -1, NULL, &err), -EPERM);
    assert_null(strchr(mk_backend_hint(b), '\n')); /* said once */
    assert_int_equal(mk_backend_set_mig(b, 0, false, &err), -EBUSY);
    assert_non_null(strstr(mk_backend_hint(b), "pending disable state for GPU 00000000:01:00.0"));
    assert_non_null(strstr(mk_backend_hint(b), "Please first kill all processes"));
    assert_true(mk_backend_gpu(b, 0)->mig_enabled); /* not changed */
    assert_int_equal(mk_backend_set_mig(b, 0, false, &err), -EAGAIN);
    assert_non_null(strstr(mk_backend_hint(b), "nvidia-smi --gpu-reset"));
    assert_int_equal(mk_backend_set_mig(b, 0, false, &err), 0);
    assert_false(mk_backend_gpu(b, 0)->mig_enabled);
    mk_backend_close(b);
}

/* Every allocation of open failing in turn: a clean -ENOMEM each time, nothing leaked
 * (the sanitizer build checks), and NVML's reference count balanced. */
static void test_open_survives_alloc_failures(void **state)
{
    struct fixture *f = *state;
    int failures = 0;
    machine(f, mk_catalog_find(f->cat, "a100-sxm4-40gb"), true);
    for (long n = 1; n < 100; n++) {
        struct mk_backend_config cfg = {.name = "nvml"};
        struct mk_backend *b = NULL;
        struct mk_error err = {0};
        int r;
        mk__alloc_fail_after(n);
        r = mk_backend_open(&cfg, f->cat, &b, &err);
        mk__alloc_fail_after(0);
        if (r == 0) {
            mk_backend_close(b);
            break;
        }
        failures++;
        assert_int_equal(r, -ENOMEM);
        assert_null(b);
    }
    assert_true(failures >= 3);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_catalog_models_read_back),
        T(test_driver_models_match_catalog),
        T(test_driver_values_win),
        T(test_models_outlive_the_backend),
        T(test_auto_picks_nvml_and_non_mig_gpus),
        T(test_operations_and_busy),
        T(test_hints),
        T(test_open_survives_alloc_failures),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * desired.c - the desired configuration (see desired.h): checked with the core library's
 * mig-parted parser (include/migkit/config.h), kept in the store's one-row table desired,
 * and compared with the registry's instances at start-up with the same rules as migctl
 * assert (mk_layout_spec_from_entry, mk_layout_matches).
 *
 * It works on the registry's state under reg->lock through registry-internal.h, like
 * registry-view.c, and writes through the store directly: recording is one row and one
 * event, with none of the instance rules of registry.c.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "desired.h"
#include "log.h"
#include "migkit/config.h"
#include "migkit/layout.h"
#include "registry-internal.h"

/* The origin the parser names in its messages ("desired:3:5: ..."). */
#define ORIGIN "desired"

/* Parses config into *ret and finds label in it (*ret_label, borrowed from *ret). */
static int parse(const char *config, size_t len, const char *label, struct mk_config **ret,
                 const struct mk_config_label **ret_label, struct mk_error *err)
{
    struct mk_config *cfg = NULL;
    const struct mk_config_label *l;
    int r;
    if (memchr(config, '\0', len))
        return mk_error_set(err, -EINVAL, "the configuration holds a NUL byte");
    if ((r = mk_config_parse(config, len, ORIGIN, &cfg, err)) < 0)
        return r;
    if (!(l = mk_config_find(cfg, label))) {
        mk_config_free(cfg);
        return mk_error_set(err, -ENOENT, "the configuration has no label \"%s\"", label);
    }
    *ret = cfg;
    *ret_label = l;
    return 0;
}

int desired_check(const char *config, size_t len, const char *label, struct mk_error *err)
{
    struct mk_config *cfg = NULL;
    const struct mk_config_label *l;
    int r = parse(config, len, label, &cfg, &l, err);
    if (r == 0)
        mk_config_free(cfg);
    return r;
}

int desired_set(struct registry *reg, const struct registry_who *who, const char *config,
                const char *label, struct mk_error *err)
{
    char detail[128];
    struct store_event e = {.at = (int64_t)time(NULL),
                            .uid = who->uid,
                            .pid = who->pid,
                            .action = "desired.set",
                            .subject = label,
                            .detail = detail};
    int64_t id;
    int r;
    if ((r = desired_check(config, strlen(config), label, err)) < 0)
        return r == -ENOENT ? -EINVAL : r; /* a bad value, not a missing resource */
    snprintf(detail, sizeof(detail), "label=%s bytes=%zu", label, strlen(config));
    pthread_mutex_lock(&reg->lock);
    if ((r = store_begin(reg->store, err)) == 0) {
        if ((r = store_desired_put(reg->store, config, label, err)) == 0 &&
            (id = store_event_add(reg->store, &e, err)) < 0)
            r = (int)id;
        if (r == 0)
            r = store_commit(reg->store, err);
        if (r < 0)
            store_rollback(reg->store);
    }
    pthread_mutex_unlock(&reg->lock);
    return r;
}

/* The recorded label is read in the same transaction as the delete, so the event names what
 * was cleared even when two admins race. */
int desired_clear(struct registry *reg, const struct registry_who *who, struct mk_error *err)
{
    /* detail: "label=" (6) + DESIRED_MAX_LABEL (63) + " bytes=" (7) + a size_t (20 digits at
     * most) + NUL is 97 bytes; 128 leaves room. */
    char detail[128], *config = NULL, *label = NULL;
    struct store_event e = {.at = (int64_t)time(NULL),
                            .uid = who->uid,
                            .pid = who->pid,
                            .action = "desired.clear",
                            .detail = detail};
    int64_t id;
    int r;
    pthread_mutex_lock(&reg->lock);
    if ((r = store_begin(reg->store, err)) == 0) {
        if ((r = store_desired_get(reg->store, &config, &label, err)) == 0) {
            e.subject = label;
            snprintf(detail, sizeof(detail), "label=%s bytes=%zu", label, strlen(config));
            r = store_desired_delete(reg->store, err);
        }
        if (r == 0 && (id = store_event_add(reg->store, &e, err)) < 0)
            r = (int)id;
        if (r == 0)
            r = store_commit(reg->store, err);
        if (r < 0)
            store_rollback(reg->store);
    }
    pthread_mutex_unlock(&reg->lock);
    mk__free(config);
    mk__free(label);
    return r;
}

int desired_get(struct registry *reg, char **ret_config, char **ret_label, struct mk_error *err)
{
    int r;
    pthread_mutex_lock(&reg->lock);
    r = store_desired_get(reg->store, ret_config, ret_label, err);
    pthread_mutex_unlock(&reg->lock);
    return r;
}

/* GPU g's instances as migctl's soft backend shows them: each profile instance a GI with its
 * profile's default CI (soft.c, place()), MIG mode on. */
static void as_shown(const struct reg_gpu *g, struct mk_gpu *ret)
{
    *ret = g->geo;
    for (int i = 0; i < ret->ngi; i++)
        (void)mk_gpu_ci_create(ret, ret->gi[i].id, ret->gi[i].profile->ci_default, NULL, NULL);
}

/* Whether GPU i matches label l: 1 yes (or no entry applies: apply leaves such a GPU as it
 * is), 0 no (why in err), -errno when the label cannot be judged on it. */
static int gpu_matches(struct registry *reg, int i, const struct mk_config *cfg,
                       const struct mk_config_label *l, struct mk_gpu *shown, struct mk_error *err)
{
    const struct reg_gpu *g = &reg->gpus[i];
    const struct mk_config_entry *e;
    struct mk_layout_spec spec;
    int bad, r;
    r = mk_config_label_select(cfg, l, i, g->geo.pci_device_id, g->geo.pci_subsystem_id, &e, err);
    if (r <= 0)
        return r < 0 ? r : 1;
    if (!g->model)
        return mk_error_set(err, -EINVAL, "it has no MIG profiles");
    if ((r = mk_layout_spec_from_entry(e, g->model, &spec, &bad, err)) < 0)
        return r;
    as_shown(g, shown);
    if (mk_layout_matches(shown, &spec))
        return 1;
    mk_error_set(err, -EINVAL, "its instances differ from the entry at line %d", e->pos.line);
    return 0;
}

/* Compares every GPU with the recorded label; the caller holds reg->lock. */
static int report_locked(struct registry *reg, const char *config, const char *label)
{
    struct mk_config *cfg = NULL;
    const struct mk_config_label *l;
    struct mk_error err = {0};
    struct mk_gpu *shown = mk__malloc(sizeof(*shown)); /* a few KiB: not on the stack */
    int bad = 0, r;
    if (!shown)
        return -ENOMEM;
    if ((r = parse(config, strlen(config), label, &cfg, &l, &err)) < 0) {
        log_msg(LOG_WARNING, "desired configuration: label %s recorded but unreadable: %s", label,
                mk_strerror(&err));
        mk__free(shown);
        return r;
    }
    for (int i = 0; i < reg->ngpus; i++) {
        memset(&err, 0, sizeof(err));
        if ((r = gpu_matches(reg, i, cfg, l, shown, &err)) == 1)
            continue;
        bad++;
        log_msg(LOG_WARNING, "desired configuration: GPU %d (%s) does not match label %s: %s", i,
                reg->gpus[i].rec.model, label, mk_strerror(&err));
    }
    if (bad == 0)
        log_msg(LOG_INFO, "desired configuration: label %s; the restored instances match it",
                label);
    else
        log_msg(LOG_WARNING,
                "desired configuration: %d of %d GPUs do not match label %s (nothing is "
                "changed: migctl --backend soft apply makes them match)",
                bad, reg->ngpus, label);
    mk_config_free(cfg);
    mk__free(shown);
    return bad;
}

int desired_report(struct registry *reg)
{
    struct mk_error err = {0};
    char *config = NULL, *label = NULL;
    int r;
    pthread_mutex_lock(&reg->lock);
    r = store_desired_get(reg->store, &config, &label, &err);
    if (r == 0)
        r = report_locked(reg, config, label);
    pthread_mutex_unlock(&reg->lock);
    if (r == -ENOENT) {
        log_msg(LOG_INFO, "desired configuration: none recorded");
        r = 0;
    } else if (r < 0 && !config) {
        log_msg(LOG_WARNING, "desired configuration: cannot read it: %s", mk_strerror(&err));
    }
    mk__free(config);
    mk__free(label);
    return r;
}

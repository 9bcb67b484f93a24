/*
 * desired.h - migd's desired configuration: the mig-parted configuration and label that
 * `migctl --backend soft apply` last applied, recorded so that `migctl --backend soft assert`
 * (without -f) and migd's own start-up can check the machine against it (docs/migd.md
 * "Desired configuration").
 *
 * migd records and reports; it never acts on the desired configuration (it creates and
 * destroys instances only when asked through the API). The text is kept as given, after
 * checking that it parses as a mig-parted v1 file and holds the label. Every function takes
 * the registry's mutex; the API's thread and main() call them.
 */
#ifndef MIGD_DESIRED_H
#define MIGD_DESIRED_H

#include "registry.h"

/* Largest configuration text, in bytes. migctl apply records one label of its file, a few
 * hundred bytes; 32 KiB holds a whole file with dozens of labels, and as a JSON string
 * (newlines and quotes escape to two bytes) it still fits the API's 64 KiB body limit
 * (API_MAX_BODY) for any ordinary YAML text. */
#define DESIRED_MAX_CONFIG (32 * 1024)
/* Longest label: the configuration parser keeps label names in MK_NAME_LEN bytes. */
#define DESIRED_MAX_LABEL (MK_NAME_LEN - 1)

/* Checks a candidate: config (len bytes, no NUL inside) parses as a mig-parted v1 file and
 * has label. Returns 0, -EINVAL when config does not parse ("desired:LINE:COLUMN: ..." in
 * err), or -ENOENT when it lacks the label. Touches no state; thread-safe. */
int desired_check(const char *config, size_t len, const char *label, struct mk_error *err);

/* Checks (desired_check) and records config and label, replacing what was recorded, with a
 * "desired.set" event by who, in one transaction. Returns 0, -EINVAL for a bad candidate
 * (nothing changes), or -errno from the store. */
int desired_set(struct registry *reg, const struct registry_who *who, const char *config,
                const char *label, struct mk_error *err);

/* Clears the recorded configuration and label, with a "desired.clear" event by who (naming
 * the label cleared), in one transaction. Returns 0, -ENOENT when none is recorded (nothing
 * changes, no event), or -errno from the store. */
int desired_clear(struct registry *reg, const struct registry_who *who, struct mk_error *err);

/* The recorded configuration and label, as copies the caller frees with mk__free. Returns 0,
 * -ENOENT when none is recorded, or -errno from the store. */
int desired_get(struct registry *reg, char **ret_config, char **ret_label, struct mk_error *err);

/* Logs, once at start-up, whether a desired configuration is recorded and whether the
 * restored instances match it, GPU by GPU (as `migctl assert` judges: profile instances and
 * their default compute instances; custom instances are outside mig-parted's format and do
 * not count). Changes nothing. Returns the number of GPUs that do not match, 0 when all do
 * or none is recorded, or -errno when it cannot tell (logged). */
int desired_report(struct registry *reg);

#endif /* MIGD_DESIRED_H */

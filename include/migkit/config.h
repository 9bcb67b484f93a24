/*
 * config.h - mig-parted v1 configuration files: parse, validate, select, emit.
 *
 * A file maps labels to lists of entries; each entry says which GPUs it is for (devices,
 * device-filter), whether MIG mode is on, and how many MIG devices of each profile to create:
 *
 *   version: v1
 *   mig-configs:
 *     all-balanced:
 *       - device-filter: ["0x233010DE"]
 *         devices: all
 *         mig-enabled: true
 *         mig-devices:
 *           "1g.10gb": 2
 *           "2g.20gb": 1
 *           "3g.40gb": 1
 *
 * Every MIG device is one GPU instance holding one compute instance: "3g.40gb" is a 3g GI with
 * its full CI, "1c.3g.40gb" a 3g GI with one 1c CI (mig-parted's meaning).
 *
 * Parsing is strict (docs/config.md lists every place migkit is stricter than mig-parted):
 * every error names origin:line:column and what was expected. The structs below are plain
 * records owned by the struct mk_config they came from.
 */
#ifndef MIGKIT_CONFIG_H
#define MIGKIT_CONFIG_H

#include "migkit/catalog.h"

/* Bounds: a node holds at most 64 GPUs (as the simulator); mig-parted's default file has at
 * most 9 profiles in one entry and 13 entries in one label; the limits leave ample room. */
#define MK_CONFIG_MAX_DEVICES 64
#define MK_CONFIG_MAX_FILTERS 16
#define MK_CONFIG_MAX_MIGDEVS 32

struct mk_config_pos {
    int line;   /* 1-based */
    int column; /* 1-based */
};

struct mk_config_filter {
    uint32_t device;    /* 0xDDDDVVVV */
    uint32_t subsystem; /* 0xSSSSVVVV, valid when has_subsystem */
    bool has_subsystem;
};

struct mk_config_migdev {
    char name[MK_NAME_LEN]; /* as written: "1g.10gb", "1g.10gb+me", "1c.2g.10gb" */
    int count;              /* >= 0 */
    struct mk_config_pos pos;
};

struct mk_config_entry {
    struct mk_config_pos pos;
    bool all_devices; /* devices: all */
    int ndevices;
    int devices[MK_CONFIG_MAX_DEVICES]; /* GPU indices when !all_devices */
    int nfilters;                       /* 0: no device-filter (matches every GPU) */
    struct mk_config_filter filters[MK_CONFIG_MAX_FILTERS];
    bool mig_enabled;
    int nmigdevs;
    struct mk_config_migdev migdevs[MK_CONFIG_MAX_MIGDEVS];
};

struct mk_config_label {
    char name[MK_NAME_LEN];
    struct mk_config_pos pos;
    int nentries;
    struct mk_config_entry *entries;
};

struct mk_config {
    char origin[256]; /* file name, or "<stdin>" */
    int nlabels;
    struct mk_config_label *labels; /* in file order */
};

/* Parses YAML text (len bytes) into a new config. origin names it in messages. On error
 * returns -EINVAL with "origin:line:column: what was expected" in err and sets nothing. */
int mk_config_parse(const char *text, size_t len, const char *origin, struct mk_config **ret,
                    struct mk_error *err);

/* Reads and parses a file; path "-" reads standard input. */
int mk_config_load(const char *path, struct mk_config **ret, struct mk_error *err);

void mk_config_free(struct mk_config *cfg);

/* The label with this name, or NULL. Borrowed from cfg. */
const struct mk_config_label *mk_config_find(const struct mk_config *cfg, const char *name);

/* Resolves a mig-devices name on model m: the GI profile and the CI profile ID of each MIG
 * device. Returns 0, or -EINVAL with a message naming the profile and the model. */
int mk_config_resolve(const struct mk_model *m, const char *name,
                      const struct mk_gi_profile **ret_gi, int *ret_ci_profile,
                      struct mk_error *err);

/* True when entry e is for GPU index `index` with PCI device ID pci (0xDDDDVVVV) and
 * subsystem ID subsys (0 when unknown). */
bool mk_config_entry_matches(const struct mk_config_entry *e, int index, uint32_t pci,
                             uint32_t subsys);

/* The one entry of label l (from cfg) that applies to GPU `index` (arguments as for
 * mk_config_entry_matches). Returns 1 and sets *ret_entry (borrowed from cfg), 0 when no entry
 * applies (the GPU is left as it is), or -EINVAL when two entries apply: migkit rejects such a
 * label rather than letting the last entry win, and err names both entries' positions. */
int mk_config_label_select(const struct mk_config *cfg, const struct mk_config_label *l,
                           int index, uint32_t pci, uint32_t subsys,
                           const struct mk_config_entry **ret_entry, struct mk_error *err);

/* True when a and b hold the same labels, entries, devices, filters and MIG devices, in the
 * same order; origin and positions are ignored. Used to check that emitted text re-parses to
 * the configuration it came from. */
bool mk_config_equal(const struct mk_config *a, const struct mk_config *b);

/* Emits cfg (or only label `only` when not NULL) as mig-parted v1 YAML or as JSON. Returns a
 * newly allocated string (caller frees with free()), or NULL on allocation failure (errno
 * ENOMEM) or when `only` is not a label of cfg (errno ENOENT). Both re-parse with
 * mk_config_parse() to a configuration mk_config_equal() to cfg (or to that one label). */
char *mk_config_emit_yaml(const struct mk_config *cfg, const char *only);
char *mk_config_emit_json(const struct mk_config *cfg, const char *only);

#endif /* MIGKIT_CONFIG_H */

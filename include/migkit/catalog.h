/*
 * catalog.h - MIG-capable GPU models and their profile tables.
 *
 * The catalog is data (the JSON files in data/gpus, see docs/catalog.md) compiled into the library
 * and optionally extended at run time with --catalog FILE. Every struct here is a read-only record
 * owned by the struct mk_catalog it came from: pointers stay valid until mk_catalog_free().
 */
#ifndef MIGKIT_CATALOG_H
#define MIGKIT_CATALOG_H

#include "migkit/common.h"

/* Array bounds, chosen from the hardware: the largest grid is 12 memory slices (RTX PRO
 * 6000), so 16 starts always suffice; NVML defines 9 CI profile constants; the largest
 * profile table (RTX PRO 6000) has 11 GI profiles. */
#define MK_MAX_STARTS      16
#define MK_MAX_CI_PROFILES 10
#define MK_MAX_GI_PROFILES 24
#define MK_MAX_ALTS        4
#define MK_MAX_PCI_IDS     8
#define MK_MAX_NOTES       8
#define MK_NAME_LEN        64

/* NVML_GPU_INSTANCE_PROFILE_* constants (nvml.h 13.3), X(suffix, value, name-suffix). The
 * name suffix is the one go-nvlib and the driver append to "<g>g.<N>gb". */
#define MK_GI_CONST_MAP(X)                                                                         \
    X(1_SLICE, 0x0, "")                                                                            \
    X(2_SLICE, 0x1, "")                                                                            \
    X(3_SLICE, 0x2, "")                                                                            \
    X(4_SLICE, 0x3, "")                                                                            \
    X(7_SLICE, 0x4, "")                                                                            \
    X(8_SLICE, 0x5, "")                                                                            \
    X(6_SLICE, 0x6, "")                                                                            \
    X(1_SLICE_REV1, 0x7, "+me")                                                                    \
    X(2_SLICE_REV1, 0x8, "+me")                                                                    \
    X(1_SLICE_REV2, 0x9, "")                                                                       \
    X(1_SLICE_GFX, 0xA, "+gfx")                                                                    \
    X(2_SLICE_GFX, 0xB, "+gfx")                                                                    \
    X(4_SLICE_GFX, 0xC, "+gfx")                                                                    \
    X(1_SLICE_NO_ME, 0xD, "-me")                                                                   \
    X(2_SLICE_NO_ME, 0xE, "-me")                                                                   \
    X(1_SLICE_ALL_ME, 0xF, "+me.all")                                                              \
    X(2_SLICE_ALL_ME, 0x10, "+me.all")                                                             \
    X(3_SLICE_GFX, 0x11, "+gfx")

enum mk_gi_const {
#define X(n, v, s) MK_GI_CONST_##n = v,
    MK_GI_CONST_MAP(X)
#undef X
};

/* The media-engine class of a profile, which decides what may coexist with it. */
enum mk_media_class {
    MK_MEDIA_PLAIN,  /* 1_SLICE, 2_SLICE, ..., REV2, GFX */
    MK_MEDIA_ME,     /* REV1 "+me": at most one such GI on the GPU */
    MK_MEDIA_ALL_ME, /* ALL_ME "+me.all": excludes every profile except NO_ME */
    MK_MEDIA_NO_ME,  /* NO_ME "-me" */
};

/* Bits of the `unverified` masks: which values are modelled rather than observed. */
#define MK_FIELD_MAP(X)                                                                            \
    X(ID, "id")                                                                                    \
    X(SMS, "sms")                                                                                  \
    X(MEMORY, "memory_mib")                                                                        \
    X(ENGINES, "engines")                                                                          \
    X(STARTS, "starts")                                                                            \
    X(AUTO_ORDER, "auto_order")                                                                    \
    X(MAX, "max")                                                                                  \
    X(CI, "ci")                                                                                    \
    X(PCI, "pci_device_ids")                                                                       \
    X(SM_TOTAL, "sm_total")                                                                        \
    X(MIN_DRIVER, "min_driver")                                                                    \
    X(NAME, "name")                                                                                \
    X(GI_IDS, "gi_ids")

enum mk_field_bit {
#define X(n, s) MK_FIELD_BIT_##n,
    MK_FIELD_MAP(X)
#undef X
        MK_FIELD__COUNT
};
#define MK_FIELD(n) (1u << MK_FIELD_BIT_##n)

/* Returns the JSON name of field bit b ("sms"), or NULL when out of range. */
const char *mk_field_name(int bit);

struct mk_memory_alt {
    uint32_t mib;
    char note[96];
};

struct mk_ci_profile {
    int id;     /* NVML CI profile ID nvidia-smi prints (0=1c, 1=2c, ..., 4=7c, 7=1c of REV2) */
    int slices; /* compute slices */
};

struct mk_gi_profile {
    char name[MK_NAME_LEN]; /* short name without "MIG ", e.g. "1g.10gb+me" */
    int id;                 /* device-specific profile ID */
    int nvml;               /* enum mk_gi_const */
    int mem_slices;         /* placement size in grid units */
    int compute_slices;     /* the "g" */
    int sms;
    uint32_t memory_mib;
    int dec, enc, ce, jpeg, ofa;
    int max;
    int nstarts;
    int starts[MK_MAX_STARTS];
    int nauto;
    int auto_order[MK_MAX_STARTS];
    int nci;
    int ci[MK_MAX_CI_PROFILES]; /* CI profile IDs offered, in -lcip order */
    int ci_default;
    int nalts;
    struct mk_memory_alt alts[MK_MAX_ALTS];
    int nnames_alt;
    char names_alt[MK_MAX_ALTS][MK_NAME_LEN];
    unsigned unverified; /* MK_FIELD() bits */
    enum mk_media_class media;
};

struct mk_model {
    char slug[MK_NAME_LEN];
    char name[96];
    int nnames_alt;
    char names_alt[MK_MAX_ALTS][96];
    int npci;
    uint32_t pci_ids[MK_MAX_PCI_IDS]; /* 0xDDDDVVVV */
    char arch[32];
    char chip[32];
    char compute_capability[8];
    char min_driver[64];
    uint32_t memory_mib;
    int name_base_gib;
    int sm_total;
    int grid;
    int compute_slices;
    int max_gis;
    int gi_id_unit;
    bool pcie_board;
    unsigned unverified;
    int nnotes;
    char notes[MK_MAX_NOTES][256];
    int nci_profiles;
    struct mk_ci_profile ci_profiles[MK_MAX_CI_PROFILES];
    int nprofiles;
    struct mk_gi_profile profiles[MK_MAX_GI_PROFILES];
};

struct mk_catalog;

/* Creates a catalog holding the built-in models. On failure returns -errno with detail in err
 * and leaves *ret_catalog untouched. Free with mk_catalog_free(). */
int mk_catalog_new(struct mk_catalog **ret_catalog, struct mk_error *err);

/* Loads models from a JSON file (one model object, or an array of them) into cat. A model
 * whose slug exists replaces it in place: pointers to it stay valid and show the new values. On
 * error nothing in cat changes and err names the file, the field and what was expected (with
 * line:column for syntax errors). */
int mk_catalog_load_file(struct mk_catalog *cat, const char *path, struct mk_error *err);

/* Same as mk_catalog_load_file() for text in memory; origin names it in messages. */
int mk_catalog_load_string(struct mk_catalog *cat, const char *text, const char *origin,
                           struct mk_error *err);

void mk_catalog_free(struct mk_catalog *cat);

size_t mk_catalog_count(const struct mk_catalog *cat);
/* Returns model i (0-based, sorted by slug) or NULL. Borrowed from cat. */
const struct mk_model *mk_catalog_at(const struct mk_catalog *cat, size_t i);
/* Returns the model with this slug, or NULL. Borrowed from cat. */
const struct mk_model *mk_catalog_find(const struct mk_catalog *cat, const char *slug);
/* Returns the first model whose PCI ID list holds pci_id (0xDDDDVVVV), or NULL. */
const struct mk_model *mk_catalog_find_pci(const struct mk_catalog *cat, uint32_t pci_id);

/* Profile lookups inside a model; each returns NULL when there is no match. */
const struct mk_gi_profile *mk_model_profile_by_id(const struct mk_model *m, int id);
/* Accepts "3g.20gb" and "MIG 3g.20gb" (and alternative names). */
const struct mk_gi_profile *mk_model_profile_by_name(const struct mk_model *m, const char *name);
const struct mk_ci_profile *mk_model_ci_profile(const struct mk_model *m, int ci_id);
/* Index of p inside m->profiles. */
int mk_model_profile_index(const struct mk_model *m, const struct mk_gi_profile *p);

/* Computes the profile name the driver gives a GI of memory_mib on this model (reference
 * §2.4: the go-nvlib rule), without the "MIG " prefix, into buf. Returns buf. */
char *mk_model_profile_name(const struct mk_model *m, int nvml_const, int g, uint32_t memory_mib,
                            char *buf, size_t len);

/* Name of a CI of size c inside GI profile p: "1c.3g.20gb", or the GI name without its
 * media suffix when the CI covers the whole GI. */
char *mk_ci_name(const struct mk_gi_profile *p, int c, char *buf, size_t len);

/* SMs of a CI of c slices inside GI profile p. The full-GI CI has the GI's SMs; smaller CIs
 * get c * floor(SM/g) rounded down to an even number (reference §5.3, exact on A100,
 * modelled elsewhere). *ret_exact tells whether the value is observed. */
int mk_ci_sms(const struct mk_gi_profile *p, int c, bool *ret_exact);

/*
 * The generic model of a GPU outside the catalog (docs/geometry.md, "Generic geometry"),
 * derived from its SM count and total memory: the A100's layout (8 memory, 7 compute slices)
 * on GPUs of at least 56 SMs and about 19.5 GiB, the A30's (4, 4) on smaller ones, no profiles
 * (custom instances only) below that. name and pci_id (0: none) are copied. Pure: no I/O.
 * Returns 0 and fills *ret, or -EINVAL (sms < 1, memory_mib 0, NULL arguments).
 */
int mk_model_generic(const char *name, uint32_t pci_id, uint32_t memory_mib, int sms,
                     struct mk_model *ret);

/* Returns "1_SLICE_REV2"-style text of an NVML GI constant, or NULL. */
const char *mk_gi_const_name(int value);
/* Parses the text form; returns the value or -EINVAL. */
int mk_gi_const_parse(const char *s);

#endif /* MIGKIT_CATALOG_H */

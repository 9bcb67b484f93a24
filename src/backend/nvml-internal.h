/*
 * nvml-internal.h - what the two halves of the NVML backend share: nvml.c (the backend:
 * enumeration, instances, operations) and nvml-model.c (the model of each GPU, from the
 * catalog and from what the driver reports).
 */
#ifndef MIGKIT_NVML_INTERNAL_H
#define MIGKIT_NVML_INTERNAL_H

#include "backend-internal.h"
#include "vendor/nvml.h"

/* The slug of a model the catalog does not know, built from the driver's answers. */
#define MK_NVML_DRIVER_SLUG "from-driver"

/*
 * The model the backend shows for the GPU behind dev, into *ret:
 *   - the catalog model whose PCI device ID list holds pci_id (a name match breaks ties and
 *     stands in when no ID matches), with the driver's product name, and its GPU-instance
 *     profiles overlaid with what the driver reports (memory, SMs, engines, counts,
 *     placements: the driver is the hardware truth where they differ, and a note says so;
 *     profiles the driver lacks are dropped, profiles the catalog lacks are added);
 *   - or, for a GPU the catalog does not know, a model built only from the driver's profile
 *     information and possible placements, with slug MK_NVML_DRIVER_SLUG, its modelled
 *     fields (CI sizes, automatic placement order, SM total) marked unverified;
 *   - with no GPU-instance profiles at all when mig_capable is false (NVML answered
 *     NOT_SUPPORTED to the MIG mode query, as on an L4).
 * When the driver answers no profile query (MIG mode off on a driver that wants it on, no
 * permission), a catalog model is kept as the catalog has it.
 * *ret is the catalog's own model when nothing differs, else a model kept for the rest of the
 * process (never freed, shared by equal models): either way it outlives the backend, as
 * struct mk_gpu's model must. Returns 0 or -errno with err; *ret is set only on success.
 */
int mk__nvml_model_build(const struct mk_nvml *fn, nvmlDevice_t dev, const struct mk_catalog *cat,
                         const char *name, unsigned int pci_id, bool mig_capable,
                         const struct mk_model **ret, struct mk_error *err);

#endif /* MIGKIT_NVML_INTERNAL_H */

/*
 * state.h - the machine state (GPUs with their MIG mode, GIs and CIs) as JSON text.
 *
 * This is the simulator's state-file format and the fake NVML's; it does no I/O itself.
 * Format (version 1):
 *   {"version": 1, "gpus": [{"model": SLUG, "uuid": "GPU-...", "pci_bus_id": "...",
 *     "mig_enabled": bool, "gis": [{"id": N, "profile_id": N, "start": N, "busy": bool,
 *     "cis": [{"id": N, "profile_id": N, "start": N, "uuid": "MIG-..."}]}]}]}
 */
#ifndef MIGKIT_STATE_H
#define MIGKIT_STATE_H

#include "migkit/geometry.h"

#define MK_STATE_VERSION 1

/* Parses state text. Models are looked up in cat (which must outlive the result). Every GPU
 * is validated with mk_gpu_validate(); a damaged or inconsistent file fails with -EBADMSG and
 * a message naming origin and the problem. On success *ret_gpus (caller frees with
 * mk__free) and *ret_n are set. */
int mk_state_parse(const char *text, const char *origin, const struct mk_catalog *cat,
                   struct mk_gpu **ret_gpus, int *ret_n, struct mk_error *err);

/* Returns newly allocated JSON text (caller frees with free()), or NULL on allocation
 * failure. */
char *mk_state_dump(const struct mk_gpu *gpus, int n);

#endif /* MIGKIT_STATE_H */

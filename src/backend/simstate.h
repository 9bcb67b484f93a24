/*
 * simstate.h - the simulated machine on disk: the state directory, its lock and its state
 * file, shared by the simulator backend (sim.c) and the fake libnvidia-ml.so.1 (tests/fakes),
 * so both serve one machine with one lock discipline.
 *
 * Discipline: whoever reads or changes DIR/state.json holds flock() on DIR/lock (shared to
 * read, exclusive to write) for as long as it relies on what it read, and replaces files
 * atomically (write a temporary file, fsync, rename, fsync the directory), so a crash leaves
 * either the old or the new file, never a torn one.
 */
#ifndef MIGKIT_SIMSTATE_H
#define MIGKIT_SIMSTATE_H

#include "migkit/geometry.h"

#define MK_SIM_STATE_FILE "state.json"
#define MK_SIM_LOCK_FILE  "lock"
/* The model a first use creates: the GPU the project's examples are written for. */
#define MK_SIM_DEFAULT_MODEL "h100-sxm5-80gb"

/* The PCI bus ID of simulated GPU i ("00000000:01:00.0" for GPU 0), into buf (len bytes;
 * sizeof(struct mk_gpu.pci_bus_id) holds it). migd --simulate numbers its GPUs the same way. */
void mk__sim_pci_bus_id(int i, char *buf, size_t len);

/* mkdir -p with mode 0755 for each missing component. */
int mk__sim_mkdir_p(const char *path, struct mk_error *err);

/* Opens DIR/lock (creating it) and takes flock() on it, shared or exclusive, waiting as long
 * as it takes. Returns the descriptor (close it to unlock) or -errno. */
int mk__sim_lock(const char *dir, bool exclusive, struct mk_error *err);

/* Reads a whole file into a NUL-terminated buffer the caller frees with mk__free. Returns 0,
 * -ENOENT without touching err when the file does not exist, or -errno. */
int mk__sim_read_file(const char *path, char **ret, struct mk_error *err);

/* Atomically replaces DIR/name with text plus a newline. The caller holds the exclusive lock. */
int mk__sim_write_file(const char *dir, const char *name, const char *text, struct mk_error *err);

/* Reads and validates DIR/state.json. Models come from cat, which must outlive the result.
 * *ret_gpus is the caller's (mk__free). -ENOENT when there is no state file (err untouched);
 * -EBADMSG naming the file for a damaged one. The caller holds the lock. */
int mk__sim_load(const char *dir, const struct mk_catalog *cat, struct mk_gpu **ret_gpus,
                 int *ret_n, struct mk_error *err);

/* Atomically writes gpus[0..n) to DIR/state.json. The caller holds the exclusive lock. */
int mk__sim_save(const char *dir, const struct mk_gpu *gpus, int n, struct mk_error *err);

/* Writes a fresh machine of n GPUs (models[i], MIG mode as given, new UUIDs) into dir. The
 * caller holds the exclusive lock. */
int mk__sim_init_locked(const char *dir, const struct mk_model *const *models, int n,
                        bool mig_enabled, struct mk_error *err);

/* First use of a state directory: creates it and the default machine (one
 * MK_SIM_DEFAULT_MODEL with MIG enabled) unless DIR/state.json exists, re-checked under the
 * exclusive lock so two first uses cannot both create it. Takes and releases the lock
 * itself: call it without holding one. */
int mk__sim_ensure(const char *dir, const struct mk_catalog *cat, struct mk_error *err);

#endif /* MIGKIT_SIMSTATE_H */

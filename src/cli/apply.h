/*
 * apply.h - shared by the configuration commands (apply, assert, export) and their hooks.
 */
#ifndef MIGKIT_CLI_APPLY_H
#define MIGKIT_CLI_APPLY_H

#include "cli.h"
#include "migkit/config.h"
#include "migkit/layout.h"

/* Hooks in the spirit of mig-parted's hooks file:
 *
 *   version: v1
 *   hooks:
 *     apply-start:
 *       - command: /bin/sh
 *         args: ["-c", "systemctl stop my-gpu-service"]
 *         workdir: /
 *         envs: {FOO: bar}
 *
 * Events: apply-start (before anything), pre-apply-mode (before the first MIG mode change),
 * pre-apply-config (before the first instance change), apply-exit (always, last). */
struct hooks;

/* Loads a hooks file; errors name file:line:column. */
int hooks_load(const char *path, struct hooks **ret, struct mk_error *err);
void hooks_free(struct hooks *h);

/* Runs every command of event in order with the hook environment (MIGKIT_CONFIG_FILE,
 * MIGKIT_SELECTED_CONFIG, MIGKIT_HOOK_EVENT, plus extra "K=V" strings, NULL-terminated).
 * Returns 0 when all succeeded (or h is NULL), else -ECANCELED with the failing command in
 * err. */
int hooks_run(const struct hooks *h, const char *event, const char *config_file,
              const char *label, const char *const *extra_env, struct mk_error *err);

#endif

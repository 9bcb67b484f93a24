/*
 * cli.h - the migctl command table and what every command shares.
 *
 * Adding a command:
 *   1. Write src/cli/cmd-<name>.c with `int cmd_<name>(struct cli *cli, int argc, char **argv)`
 *      that parses its options with getopt_long_only (nvidia-smi's single-dash long options)
 *      and accepts the common options through CLI_COMMON_LONGOPTS / cli_common_option().
 *   2. Declare it below and add a row to the table in main.c with its flags.
 *   3. Add it to CMakeLists.txt, to `migctl --help` (main.c usage()), to docs/man/migctl.1
 *      and to the bash completion, and give it tests (tests/cli/).
 *   4. Every listing takes --json; document new JSON fields in docs/json.md.
 *   5. Errors: nvidia-smi's text and exit code where nvidia-smi has the verb, otherwise
 *      "migctl: <what failed>: <why>" on stderr and a non-zero exit. Never change state on a
 *      usage error.
 */
#ifndef MIGKIT_CLI_H
#define MIGKIT_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "migkit/backend.h"
#include "migkit/catalog.h"

/* Exit statuses outside nvidia-smi's set (mk_status_exit_code covers those). */
#define CLI_EXIT_USAGE 2

struct cli {
    /* Common options. */
    const char *state_dir;    /* --state, or NULL for the default */
    const char *catalog_file; /* --catalog, or NULL */
    const char *backend_name; /* --backend (auto, nvml, sim, soft), or NULL: MIGKIT_BACKEND,
                                 auto */
    bool json;                /* --json */
    int gpu;                  /* -i/--id, or -1 for every GPU */
    /* Loaded on demand by cli_catalog()/cli_backend(). */
    struct mk_catalog *cat;
    struct mk_backend *backend;
    /* The exit status after cli_backend() failed: CLI_EXIT_USAGE for a bad backend name or a
     * rejected --catalog file, 255 when the backend would not open. */
    int backend_exit;
    bool tty;   /* stdout is a terminal */
    bool color; /* colour allowed (TTY, and NO_COLOR unset) */
};

/* Long-option values of the common options; commands put CLI_COMMON_LONGOPTS in their
 * option table and pass unknown values to cli_common_option(). */
enum {
    OPT_STATE = 1000,
    OPT_CATALOG,
    OPT_JSON,
    OPT_ID,
    OPT_RUN_DIR,
    OPT__COMMON_END,
};
#define CLI_COMMON_LONGOPTS                                                                   \
    {"state", required_argument, NULL, OPT_STATE},                                            \
        {"catalog", required_argument, NULL, OPT_CATALOG},                                    \
        {"json", no_argument, NULL, OPT_JSON}, {"id", required_argument, NULL, 'i'},          \
        {"i", required_argument, NULL, 'i'}, {"run-dir", required_argument, NULL, OPT_RUN_DIR}

/* Applies common option c (with optarg). Returns 1 when handled, 0 when c is not common, or
 * -1 after printing a usage error. */
int cli_common_option(struct cli *cli, int c, const char *arg);

/* The catalog (built-in plus --catalog/MIGKIT_CATALOG), loaded once. Prints the error and
 * returns NULL on failure. */
struct mk_catalog *cli_catalog(struct cli *cli);

/* Opens the backend (once), for writing when writable. Prints the error and returns NULL on
 * failure, with the exit status in cli->backend_exit. */
struct mk_backend *cli_backend(struct cli *cli, bool writable);

/* Prints "migctl: msg" to stderr; returns CLI_EXIT_USAGE for `return cli_usage_error(...)`. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "migctl: msg" to stderr; returns exit status code. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses a non-negative decimal integer; false on anything else. */
bool cli_parse_uint(const char *s, int max, int *ret);
/* Parses a comma-separated list of non-negative integers (at most maxn). */
bool cli_parse_uint_list(const char *s, int max, int *out, int maxn, int *ret_n);

/* Writes s to f with XML's five special characters escaped (for the SVG pictures). */
void cli_xml_escape(FILE *f, const char *s);

/* Writes a JSON value to stdout followed by a newline, and releases it. */
struct json_t;
void cli_print_json(struct json_t *v);

/* Commands. */
int cmd_list(struct cli *cli, int argc, char **argv);   /* -L */
int cmd_mode(struct cli *cli, int argc, char **argv);   /* -mig 0|1 */
int cmd_mig(struct cli *cli, int argc, char **argv);    /* mig ... */
int cmd_gpus(struct cli *cli, int argc, char **argv);   /* gpus */
int cmd_sim(struct cli *cli, int argc, char **argv);    /* sim ... */
int cmd_status(struct cli *cli, int argc, char **argv); /* status */
int cmd_apply(struct cli *cli, int argc, char **argv);  /* apply */
int cmd_assert(struct cli *cli, int argc, char **argv); /* assert */
int cmd_export(struct cli *cli, int argc, char **argv); /* export */
int cmd_plan(struct cli *cli, int argc, char **argv);   /* plan */
int cmd_exec(struct cli *cli, int argc, char **argv);   /* exec */
int cmd_grant(struct cli *cli, int argc, char **argv);  /* grant */

/* cmd-status.c: draws one GPU's slice map and legend (the `status` picture) under heading,
 * in the style stdout calls for. Returns 0 or -ENOMEM. */
int status_print_gpu(FILE *f, const struct cli *cli, const struct mk_gpu *g, const char *heading);

/* soft-view.c: what the soft backend shows beyond GIs and CIs (docs/soft.md); each does
 * nothing for other backends. -L's custom instances after GPU g's MIG devices, as text or
 * appended to devs; status's table of g's software instances and their guarantees, as text or
 * as fields of the GPU's JSON object o. */
void soft_print_list(FILE *f, const struct mk_backend *b, const struct mk_gpu *g);
void soft_json_list(const struct mk_backend *b, const struct mk_gpu *g, struct json_t *devs);
void soft_print_status(FILE *f, const struct mk_backend *b, const struct mk_gpu *g);
void soft_json_status(const struct mk_backend *b, const struct mk_gpu *g, struct json_t *o);

/* smi.c: nvidia-smi's tables and messages, and their JSON forms. */
void smi_print_lgip(FILE *f, const struct mk_gpu *const *gpus, int n);
void smi_print_lgipp(FILE *f, const struct mk_gpu *const *gpus, int n);
void smi_print_lgi(FILE *f, const struct mk_gpu *const *gpus, int n);
/* gi_filter: NULL for every GI, else a list of nfilter GI IDs. */
void smi_print_lcip(FILE *f, const struct mk_gpu *const *gpus, int n, const int *gi_filter,
                    int nfilter);
void smi_print_lci(FILE *f, const struct mk_gpu *const *gpus, int n, const int *gi_filter,
                   int nfilter);
void smi_print_list(FILE *f, const struct mk_gpu *const *gpus, int n);
struct json_t *smi_json_gpu(const struct mk_gpu *g);
struct json_t *smi_json_profiles(const struct mk_gpu *g);
struct json_t *smi_json_gis(const struct mk_gpu *g);
struct json_t *smi_json_ci_profiles(const struct mk_gpu *g, const int *gi_filter, int nfilter);
struct json_t *smi_json_cis(const struct mk_gpu *g, const int *gi_filter, int nfilter);
/* "MIG 1c.3g.20gb" etc. for a CI of profile ci_id in gi. */
char *smi_ci_name(const struct mk_gpu *g, const struct mk_gi *gi, int ci_id, char *buf,
                  size_t len);

#endif /* MIGKIT_CLI_H */

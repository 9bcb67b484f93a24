/*
 * main.c - migctl: the command table and dispatch.
 *
 * migctl speaks nvidia-smi's language (`migctl -L`, `migctl -i 0 -mig 1`, `migctl mig -lgip`)
 * plus its own commands (gpus, sim, status). The first word that is a command name selects
 * the command; without one, nvidia-smi's top-level flags (-L, -mig) select it. Options may
 * come before or after the command word.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "migkit/catalog.h"

struct command {
    const char *name;
    int (*fn)(struct cli *cli, int argc, char **argv);
    /* What `migctl NAME --help` prints, for commands whose parser has no help of its own
     * (NULL: the command prints its own). */
    const char *help;
};

static const struct command commands[] = {
    {"mig", cmd_mig, NULL},
    {"gpus", cmd_gpus,
     "Usage: migctl gpus [--model SLUG] [--json] [--catalog FILE]\n"
     "\n"
     "The GPU catalog: every model, or one model's profiles, placements, compute instance\n"
     "profiles and the values not yet observed on hardware (docs/catalog.md).\n"},
    {"sim", cmd_sim,
     "Usage: migctl sim init [--gpu SLUG[,SLUG...]] [--count N] [--mig-disabled]\n"
     "       migctl sim busy GI [-i N] [--clear]\n"
     "       migctl sim fault KIND [-i N] [--count N]\n"
     "\n"
     "The simulated machine (docs/simulator.md): init creates it in --state DIR (env\n"
     "MIGKIT_STATE_DIR); busy marks a GPU instance in use; fault makes the next create-gi,\n"
     "create-ci, destroy-gi or destroy-ci operations fail, for testing.\n"},
    {"status", cmd_status,
     "Usage: migctl status [-i N] [--json] [--svg FILE]\n"
     "\n"
     "A picture of each GPU's memory and compute slices and the instances on them: Unicode\n"
     "and colour on a terminal (no colour with NO_COLOR), plain ASCII otherwise; --svg FILE\n"
     "writes an SVG picture.\n"},
    {"apply", cmd_apply, NULL},
    {"assert", cmd_assert, NULL},
    {"export", cmd_export, NULL},
    {"plan", cmd_plan,
     "Usage: migctl plan -f WORKLOADS [--fleet FLEET] [--headroom H] [-o FILE]\n"
     "                   [--label NAME] [--svg FILE] [--json]\n"
     "\n"
     "MIG layouts for workloads across a fleet, written as a mig-parted configuration\n"
     "(docs/planner.md).\n"},
    {"exec", cmd_exec, NULL},
    {"grant", cmd_grant, NULL},
};

/* Whether argv asks for help (-h or --help) before any "--". */
static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return true;
    return false;
}

static void usage(FILE *f)
{
    fputs("Usage: migctl [OPTIONS] COMMAND [ARGS]\n"
          "\n"
          "Partition GPUs into MIG instances: nvidia-smi's MIG verbs on real or simulated GPUs.\n"
          "\n"
          "nvidia-smi compatible:\n"
          "  -L, --list-gpus                 list GPUs and their MIG devices\n"
          "  [-i N] -mig 0|1                 disable/enable MIG mode\n"
          "  mig [-i N] -lgip                list GPU instance profiles\n"
          "  mig [-i N] -lgipp               list possible GPU instance placements\n"
          "  mig [-i N] -cgi LIST [-C]       create GPU instances (IDs, names, NAME:START)\n"
          "  mig [-i N] -lgi                 list GPU instances\n"
          "  mig [-i N] -dgi [-gi IDS]       destroy GPU instances\n"
          "  mig [-i N] -lcip [-gi ID]       list compute instance profiles\n"
          "  mig [-i N] -cci [LIST] -gi ID   create compute instances (default profile)\n"
          "  mig [-i N] -lci [-gi IDS]       list compute instances\n"
          "  mig [-i N] -dci [-ci IDS] [-gi IDS]  destroy compute instances\n"
          "\n"
          "migkit commands:\n"
          "  gpus [--model SLUG]             the GPU catalog: models, profiles, what is unverified\n"
          "  sim init [--gpu SLUG[,SLUG..]] [--count N] [--mig-disabled]\n"
          "                                  create a simulated machine\n"
          "  sim busy GI [--clear]           mark a simulated GPU instance in use\n"
          "  sim fault KIND [--count N]      make the next create-gi/create-ci/destroy-gi/\n"
          "                                  destroy-ci operations fail (testing)\n"
          "  status [--svg FILE]             picture of each GPU's slices and instances\n"
          "  apply -f FILE [-c LABEL] [--dry-run] [--force] [--hooks FILE]\n"
          "                                  apply a mig-parted v1 configuration, changing\n"
          "                                  only what differs\n"
          "  assert -f FILE [-c LABEL] [--valid-config]\n"
          "                                  check the machine (or only the file) against it\n"
          "  export [-o yaml|json] [-l LABEL] the current layout as a configuration\n"
          "  plan -f WORKLOADS [--fleet FLEET] [--headroom H] [-o FILE] [--label NAME]\n"
          "       [--svg FILE]                MIG layouts for workloads across a fleet\n"
          "  exec [--no-shim] INSTANCE -- CMD [ARGS]\n"
          "                                  run CMD in a MIG device or software instance\n"
          "  grant INSTANCE --uid U [--revoke]\n"
          "                                  let uid U see and use a software instance\n"
          "\n"
          "Common options:\n"
          "  -i, --id N        act on GPU N only (default: every GPU)\n"
          "  --json            machine-readable output (docs/json.md)\n"
          "  --state DIR       simulator state directory (env MIGKIT_STATE_DIR)\n"
          "  --catalog FILE    extra GPU models (env MIGKIT_CATALOG)\n"
          "  --backend B       auto (default: NVML when libnvidia-ml.so.1 finds a GPU, else\n"
          "                    the simulator), nvml, sim, or soft: migd's software instances\n"
          "                    (env MIGKIT_BACKEND; docs/nvml.md, docs/soft.md)\n"
          "  --run-dir DIR     migd's run directory, for soft, exec and grant\n"
          "                    (env MIGKIT_RUN_DIR, default /run/migkit)\n"
          "  -h, --help        this help;  --version  the version\n"
          "\n"
          "See migctl(1) and docs/ for details.\n",
          f);
}

/* Top-level nvidia-smi flags when no command word is given: -L, -mig, --help, --version. */
static int top_level(struct cli *cli, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-L") || !strcmp(a, "--list-gpus"))
            return cmd_list(cli, argc, argv);
        if (!strcmp(a, "-mig") || !strcmp(a, "--multi-instance-gpu") ||
            !strncmp(a, "--multi-instance-gpu=", 21))
            return cmd_mode(cli, argc, argv);
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--version")) {
            printf("migctl %s\n", MIGKIT_VERSION);
            return 0;
        }
    }
    if (argc <= 1) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    return cli_usage_error("no command given");
}

/* Options of the common set that take a value: their argument is never a command word. */
static bool takes_value(const char *a)
{
    static const char *const opts[] = {"--state", "--catalog", "-state", "-catalog", "-i",
                                       "--id", "-id", "-f", "-c", "-mig",
                                       "--multi-instance-gpu", "--run-dir", "-run-dir", NULL};
    for (int i = 0; opts[i]; i++)
        if (!strcmp(a, opts[i]))
            return true;
    return false;
}

/*
 * Takes --backend B (also -backend B, --backend=B) out of argv wherever it is before a "--",
 * so that it works before or after any command word and no command's parser sees it, while
 * the words after "--" (the command `migctl exec` runs) stay as they are. Returns 0, or
 * CLI_EXIT_USAGE after printing the error.
 */
static int take_backend_option(struct cli *cli, int *argc, char **argv)
{
    for (int i = 1; i < *argc && strcmp(argv[i], "--");) {
        const char *a = argv[i], *value = NULL;
        int words = 1;
        char names[64];
        if (!strcmp(a, "--backend") || !strcmp(a, "-backend")) {
            if (i + 1 >= *argc)
                return cli_usage_error("--backend needs a value: one of %s",
                                       mk_backend_names(names, sizeof(names)));
            value = argv[i + 1];
            words = 2;
        } else if (!strncmp(a, "--backend=", 10) || !strncmp(a, "-backend=", 9)) {
            value = strchr(a, '=') + 1;
        } else {
            i++;
            continue;
        }
        if (!mk_backend_known(value))
            return cli_usage_error("--backend: expected one of %s, got \"%s\"",
                                   mk_backend_names(names, sizeof(names)), value);
        cli->backend_name = value;
        memmove(&argv[i], &argv[i + words], (size_t)(*argc - i - words + 1) * sizeof(*argv));
        *argc -= words;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct cli cli = {.gpu = -1};
    int r = -1, cmd_at = -1;

    cli.tty = isatty(STDOUT_FILENO);
    /* NO_COLOR counts only when set to a non-empty value (no-color.org). */
    cli.color = cli.tty && !(getenv("NO_COLOR") && *getenv("NO_COLOR"));

    if ((r = take_backend_option(&cli, &argc, argv)) != 0)
        return r;
    r = -1;
    for (int i = 1; i < argc && cmd_at < 0; i++) {
        if (argv[i][0] == '-') {
            i += takes_value(argv[i]);
            continue;
        }
        for (size_t k = 0; k < MK_ELEMENTSOF(commands); k++)
            if (!strcmp(argv[i], commands[k].name))
                cmd_at = i;
        if (cmd_at < 0) {
            r = cli_usage_error("unknown command \"%s\"", argv[i]);
            break;
        }
    }
    if (cmd_at > 0) {
        /* Remove the command word so the command sees options from both sides of it. */
        const char *name = argv[cmd_at];
        memmove(&argv[cmd_at], &argv[cmd_at + 1], (size_t)(argc - cmd_at) * sizeof(*argv));
        argc--;
        /* `migctl sim ...` manages the simulated machine, whatever --backend says. */
        if (!strcmp(name, "sim"))
            cli.backend_name = "sim";
        for (size_t k = 0; k < MK_ELEMENTSOF(commands); k++) {
            if (strcmp(name, commands[k].name))
                continue;
            if (commands[k].help && wants_help(argc, argv)) {
                fputs(commands[k].help, stdout);
                fputs("\nCommon options: migctl --help. See migctl(1).\n", stdout);
                r = 0;
            } else {
                r = commands[k].fn(&cli, argc, argv);
            }
        }
    } else if (r < 0) {
        r = top_level(&cli, argc, argv);
    }
    /* What a failure needs said beyond nvidia-smi's line ("requires root", a pending mode),
     * after that line. */
    if (cli.backend && mk_backend_hint(cli.backend)) {
        fflush(stdout);
        fprintf(stderr, "migctl: %s\n", mk_backend_hint(cli.backend));
    }
    mk_backend_close(cli.backend);
    mk_catalog_free(cli.cat);
    if (fflush(stdout) != 0 && r == 0)
        r = 255;
    return r;
}

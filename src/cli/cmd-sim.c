/*
 * cmd-sim.c - `migctl sim`: manage the simulated machine.
 *
 *   sim init [--gpu SLUG[,SLUG...]] [--count N] [--mig-disabled]
 *       Replace the simulated machine with new GPUs (default: one h100-sxm5-80gb). With
 *       --count, the list of models is repeated until there are N GPUs.
 *   sim busy GI [-i N] [--clear]
 *       Mark GPU instance GI as in use by processes (or clear the mark), so that destroying
 *       it fails with "In use by another client" as on a real GPU with work running.
 *   sim fault KIND [-i N] [--count C]
 *       Make the next C (default 1; 0 clears) operations of KIND (create-gi, create-ci,
 *       destroy-gi, destroy-ci) on GPU N fail with "In use by another client", as when another
 *       process holds the GPU's device node; for testing how failures are handled.
 */
#include <errno.h>
#include <string.h>

#include "cli.h"

/* The simulator builds machines of up to 64 GPUs (the largest state state.c accepts). */
#define MAX_SIM_GPUS 64

enum { OPT_GPU = OPT__COMMON_END + 1, OPT_COUNT, OPT_MIG_OFF, OPT_CLEAR };

static int sim_init(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"gpu", required_argument, NULL, OPT_GPU},
        {"count", required_argument, NULL, OPT_COUNT},
        {"mig-disabled", no_argument, NULL, OPT_MIG_OFF},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const struct mk_model *models[MAX_SIM_GPUS];
    const struct mk_model *listed[MAX_SIM_GPUS];
    const char *gpus = "h100-sxm5-80gb";
    char buf[2048], *save = NULL, *tok, dir[4096];
    struct mk_error err = {0};
    int c, r, count = 0, nlisted = 0;
    bool mig = true;
    while ((c = getopt_long_only(argc, argv, "+:i:", longopts, NULL)) != -1) {
        if ((r = cli_common_option(cli, c, optarg)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if (c == OPT_GPU)
            gpus = optarg;
        else if (c == OPT_COUNT && (!cli_parse_uint(optarg, MAX_SIM_GPUS, &count) || count == 0))
            return cli_usage_error("sim init: --count: expected 1-%d, got \"%s\"", MAX_SIM_GPUS,
                                   optarg);
        else if (c == OPT_MIG_OFF)
            mig = false;
        else if (c != OPT_COUNT)
            return cli_usage_error("sim init: unknown option \"%s\"", argv[optind - 1]);
    }
    if (optind < argc)
        return cli_usage_error("sim init: unexpected argument \"%s\"", argv[optind]);
    if (!cli_catalog(cli))
        return 255;
    if (strlen(gpus) >= sizeof(buf))
        return cli_usage_error("sim init: --gpu list is too long");
    memcpy(buf, gpus, strlen(gpus) + 1);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const struct mk_model *m = mk_catalog_find(cli->cat, tok);
        if (!m)
            return cli_usage_error("sim init: --gpu: unknown GPU model \"%s\" (see 'migctl "
                                   "gpus')",
                                   tok);
        if (nlisted >= MAX_SIM_GPUS)
            return cli_usage_error("sim init: at most %d GPUs", MAX_SIM_GPUS);
        listed[nlisted++] = m;
    }
    if (nlisted == 0)
        return cli_usage_error("sim init: --gpu: expected at least one model");
    if (count == 0)
        count = nlisted;
    if (count < nlisted)
        return cli_usage_error("sim init: --count %d is less than the %d models given", count,
                               nlisted);
    for (int i = 0; i < count; i++)
        models[i] = listed[i % nlisted];
    if (cli->state_dir)
        snprintf(dir, sizeof(dir), "%s", cli->state_dir);
    else if (!mk_sim_default_dir(dir, sizeof(dir)))
        return cli_fail(2, "sim init: no state directory: set --state, MIGKIT_STATE_DIR or HOME");
    if ((r = mk_sim_init(dir, cli->cat, models, count, mig, &err)) < 0)
        return cli_fail(255, "sim init: %s", mk_strerror(&err));
    printf("Simulated machine in %s:\n", dir);
    for (int i = 0; i < count; i++)
        printf("  GPU %d: %s (%s), MIG mode %s\n", i, models[i]->name, models[i]->slug,
               mig ? "Enabled" : "Disabled");
    return 0;
}

static int sim_busy(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"clear", no_argument, NULL, OPT_CLEAR},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct mk_backend *b;
    struct mk_error err = {0};
    int c, r, gi;
    bool busy = true;
    while ((c = getopt_long_only(argc, argv, ":i:", longopts, NULL)) != -1) {
        if ((r = cli_common_option(cli, c, optarg)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if (c != OPT_CLEAR)
            return cli_usage_error("sim busy: unknown option \"%s\"", argv[optind - 1]);
        busy = false;
    }
    if (optind != argc - 1 || !cli_parse_uint(argv[optind], MK_MAX_GIS - 1, &gi))
        return cli_usage_error("sim busy: expected one GPU instance ID (0-14)");
    if (!(b = cli_backend(cli, true)))
        return cli->backend_exit;
    if ((r = mk_backend_set_busy(b, cli->gpu < 0 ? 0 : cli->gpu, gi, busy, &err)) < 0)
        return cli_fail(mk_status_exit_code(r), "sim busy: %s", mk_strerror(&err));
    if ((r = mk_backend_commit(b, &err)) < 0)
        return cli_fail(255, "sim busy: cannot save the new state: %s", mk_strerror(&err));
    printf("GPU instance %d on GPU %d is now %s\n", gi, cli->gpu < 0 ? 0 : cli->gpu,
           busy ? "busy" : "idle");
    return 0;
}

static int sim_fault(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"count", required_argument, NULL, OPT_COUNT},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct mk_backend *b;
    struct mk_error err = {0};
    int c, r, kind, count = 1, gpu;
    while ((c = getopt_long_only(argc, argv, ":i:", longopts, NULL)) != -1) {
        if ((r = cli_common_option(cli, c, optarg)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        /* 1000 bounds what the state file accepts; no test needs more. */
        if (c != OPT_COUNT || !cli_parse_uint(optarg, 1000, &count))
            return cli_usage_error("sim fault: expected --count 0-1000 or -i N");
    }
    for (kind = 0; optind == argc - 1 && kind < MK_FAULT__COUNT; kind++)
        if (!strcmp(argv[optind], mk_fault_name(kind)))
            break;
    if (optind != argc - 1 || kind == MK_FAULT__COUNT)
        return cli_usage_error("sim fault: expected one kind: create-gi, create-ci, destroy-gi "
                               "or destroy-ci");
    if (!(b = cli_backend(cli, true)))
        return cli->backend_exit;
    gpu = cli->gpu < 0 ? 0 : cli->gpu;
    if ((r = mk_backend_set_fault(b, gpu, kind, count, &err)) < 0)
        return cli_fail(mk_status_exit_code(r), "sim fault: %s", mk_strerror(&err));
    if ((r = mk_backend_commit(b, &err)) < 0)
        return cli_fail(255, "sim fault: cannot save the new state: %s", mk_strerror(&err));
    if (count == 0)
        printf("No %s operation on GPU %d will be made to fail\n", mk_fault_name(kind), gpu);
    else
        printf("The next %d %s operation%s on GPU %d will fail\n", count, mk_fault_name(kind),
               count == 1 ? "" : "s", gpu);
    return 0;
}

int cmd_sim(struct cli *cli, int argc, char **argv)
{
    const char *sub;
    opterr = 0;
    optind = 1;
    /* The subcommand is the first non-option word. */
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            static const char *const with_value[] = {"--state", "--catalog", "-i", "--id",
                                                     "--gpu", "-gpu", "--count", "-count"};
            for (size_t k = 0; k < MK_ELEMENTSOF(with_value); k++)
                if (!strcmp(argv[i], with_value[k]))
                    i++;
            continue;
        }
        sub = argv[i];
        memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof(*argv));
        argc--;
        if (!strcmp(sub, "init"))
            return sim_init(cli, argc, argv);
        if (!strcmp(sub, "busy"))
            return sim_busy(cli, argc, argv);
        if (!strcmp(sub, "fault"))
            return sim_fault(cli, argc, argv);
        return cli_usage_error("sim: unknown subcommand \"%s\" (expected init, busy or fault)",
                               sub);
    }
    return cli_usage_error("sim: expected a subcommand: init, busy or fault");
}

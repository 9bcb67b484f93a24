/*
 * cmd-mode.c - `migctl [-i N] -mig 0|1`: MIG mode on or off, with nvidia-smi's messages.
 *
 * The simulator takes the mode at once on every architecture (on Ampere the real driver
 * resets the GPU to do so, on Hopper and later no reset is needed; see docs/simulator.md).
 * Disabling MIG mode while GPU instances exist is refused as the driver refuses it.
 */
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

static int parse(struct cli *cli, int argc, char **argv, int *mode)
{
    static const struct option longopts[] = {
        {"mig", required_argument, NULL, 'm'},
        {"multi-instance-gpu", required_argument, NULL, 'm'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int c, r;
    opterr = 0;
    optind = 1;
    *mode = -1;
    while ((c = getopt_long_only(argc, argv, "+:i:", longopts, NULL)) != -1) {
        if ((r = cli_common_option(cli, c, optarg)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if (c != 'm')
            return cli_usage_error("-mig: unexpected option \"%s\"", argv[optind - 1]);
        if (strcmp(optarg, "0") != 0 && strcmp(optarg, "1") != 0)
            return cli_usage_error("-mig: expected 0 (disable) or 1 (enable), got \"%s\"",
                                   optarg);
        *mode = optarg[0] - '0';
    }
    if (optind < argc)
        return cli_usage_error("-mig: unexpected argument \"%s\"", argv[optind]);
    if (*mode < 0)
        return cli_usage_error("-mig: expected 0 or 1");
    return 0;
}

int cmd_mode(struct cli *cli, int argc, char **argv)
{
    struct mk_backend *b;
    struct mk_error err = {0};
    json_t *events = json_array();
    int mode, r, status = 0;
    if ((r = parse(cli, argc, argv, &mode)) != 0) {
        json_decref(events);
        return r;
    }
    if (!(b = cli_backend(cli, true))) {
        json_decref(events);
        return cli->backend_exit;
    }
    if (cli->gpu >= mk_backend_gpu_count(b)) {
        json_decref(events);
        printf("No devices were found\n");
        return 6;
    }
    for (int i = 0; i < mk_backend_gpu_count(b); i++) {
        const struct mk_gpu *g = mk_backend_gpu(b, i);
        json_t *e = json_object();
        if (cli->gpu >= 0 && cli->gpu != i) {
            json_decref(e);
            continue;
        }

        r = mk_backend_set_mig(b, i, mode == 1, &err);
        json_object_set_new(e, "gpu", json_integer(i));
        json_object_set_new(e, "pci_bus_id", json_string(g->pci_bus_id));
        json_object_set_new(e, "mig_enabled", json_boolean(g->mig_enabled));
        json_object_set_new(e, "ok", json_boolean(r == 0));
        if (r < 0) {
            json_object_set_new(e, "error", json_string(mk_status_text(r)));
            status = mk_status_exit_code(r);
            if (!cli->json)
                printf("Unable to %s MIG Mode for GPU %s: %s\nTreating as warning and moving "
                       "on.\n",
                       mode ? "enable" : "disable", g->pci_bus_id, mk_status_text(r));
        } else if (!cli->json) {
            printf("%s MIG Mode for GPU %s\n", mode ? "Enabled" : "Disabled", g->pci_bus_id);
        }
        json_array_append_new(events, e);
    }
    if ((r = mk_backend_commit(b, &err)) < 0) {
        json_decref(events);
        return cli_fail(255, "cannot save the new state: %s", mk_strerror(&err));
    }
    if (cli->json)
        cli_print_json(events);
    else {
        json_decref(events);
        printf("All done.\n");
    }
    return status;
}

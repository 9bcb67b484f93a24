/*
 * cmd-list.c - `migctl -L`: every GPU and its MIG devices, as `nvidia-smi -L` prints them
 * (R470+ format: one line per compute instance with its own MIG UUID).
 */
#include <jansson.h>

#include "cli.h"

static int parse(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"L", no_argument, NULL, 'L'},
        {"list-gpus", no_argument, NULL, 'L'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int c, r;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long_only(argc, argv, "+:Li:", longopts, NULL)) != -1) {
        if ((r = cli_common_option(cli, c, optarg)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        if (c != 'L')
            return cli_usage_error("-L: unexpected option \"%s\"", argv[optind - 1]);
    }
    if (optind < argc)
        return cli_usage_error("-L: unexpected argument \"%s\"", argv[optind]);
    return 0;
}

int cmd_list(struct cli *cli, int argc, char **argv)
{
    const struct mk_gpu *gpus[64];
    struct mk_backend *b;
    int r, n = 0;
    if ((r = parse(cli, argc, argv)) != 0)
        return r;
    if (!(b = cli_backend(cli, false)))
        return cli->backend_exit;
    for (int i = 0; i < mk_backend_gpu_count(b); i++)
        if (cli->gpu < 0 || cli->gpu == i)
            gpus[n++] = mk_backend_gpu(b, i);
    if (n == 0) {
        printf("No devices were found\n");
        return 6;
    }
    if (!cli->json) {
        /* One GPU at a time: the soft backend's custom instances follow their GPU's. */
        for (int i = 0; i < n; i++) {
            smi_print_list(stdout, &gpus[i], 1);
            soft_print_list(stdout, b, gpus[i]);
        }
        return 0;
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o = smi_json_gpu(gpus[i]), *devs = json_array(), *gis = smi_json_gis(gpus[i]);
        json_t *gi, *ci;
        size_t k, j;
        json_object_set_new(o, "backend", json_string(mk_backend_name(b)));
        json_array_foreach(gis, k, gi)
        {
            json_array_foreach(json_object_get(gi, "compute_instances"), j, ci)
                json_array_append(devs, ci);
        }
        json_decref(gis);
        soft_json_list(b, gpus[i], devs);
        json_object_set_new(o, "mig_devices", devs);
        json_array_append_new(arr, o);
    }
    cli_print_json(arr);
    return 0;
}

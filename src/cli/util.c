/*
 * util.c - what every migctl command shares: common options, lazy catalog and backend,
 * error printing, number parsing and JSON output.
 */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("migctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nTry 'migctl --help' for more information.\n", stderr);
    return CLI_EXIT_USAGE;
}

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("migctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

bool cli_parse_uint(const char *s, int max, int *ret)
{
    char *end;
    long v;
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || v > max)
        return false;
    *ret = (int)v;
    return true;
}

bool cli_parse_uint_list(const char *s, int max, int *out, int maxn, int *ret_n)
{
    char buf[1024], *save = NULL, *tok;
    int n = 0;
    if (!s || strlen(s) >= sizeof(buf) || !*s)
        return false;
    memcpy(buf, s, strlen(s) + 1);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n >= maxn || !cli_parse_uint(tok, max, &out[n]))
            return false;
        n++;
    }
    if (n == 0 || s[strlen(s) - 1] == ',' || s[0] == ',' || strstr(s, ",,"))
        return false;
    *ret_n = n;
    return true;
}

int cli_common_option(struct cli *cli, int c, const char *arg)
{
    switch (c) {
    case OPT_STATE:
        cli->state_dir = arg;
        return 1;
    case OPT_CATALOG:
        cli->catalog_file = arg;
        return 1;
    case OPT_JSON:
        cli->json = true;
        return 1;
    case OPT_RUN_DIR:
        /* Through the environment, so that the soft backend finds migd there and a command
         * run by `migctl exec` (its shim) finds the same run directory. */
        if (!*arg || setenv("MIGKIT_RUN_DIR", arg, 1) < 0) {
            cli_usage_error("--run-dir: expected a directory, got \"%s\"", arg);
            return -1;
        }
        return 1;
    case 'i':
        /* 64 matches the largest machine the simulator builds. */
        if (!cli_parse_uint(arg, 63, &cli->gpu)) {
            cli_usage_error("-i/--id: expected a GPU index (0-63), got \"%s\"", arg);
            return -1;
        }
        return 1;
    default:
        return 0;
    }
}

struct mk_catalog *cli_catalog(struct cli *cli)
{
    struct mk_error err = {0};
    const char *file = cli->catalog_file ? cli->catalog_file : getenv("MIGKIT_CATALOG");
    if (cli->cat)
        return cli->cat;
    if (mk_catalog_new(&cli->cat, &err) < 0) {
        cli_fail(255, "cannot load the built-in catalog: %s", mk_strerror(&err));
        return NULL;
    }
    if (file && *file && mk_catalog_load_file(cli->cat, file, &err) < 0) {
        cli_fail(2, "%s", mk_strerror(&err));
        mk_catalog_free(cli->cat);
        cli->cat = NULL;
        return NULL;
    }
    return cli->cat;
}

/* The backend to open: --backend, else MIGKIT_BACKEND, else "auto" -- except that an
 * explicit --state asks for the simulator, so "auto" then means sim. NULL after printing a
 * usage error for a name no backend has. */
static const char *backend_name(const struct cli *cli)
{
    const char *name = cli->backend_name, *env = getenv("MIGKIT_BACKEND");
    char names[64];
    if (!name)
        name = env && *env ? env : cli->state_dir ? "sim" : "auto";
    if (!mk_backend_known(name)) {
        cli_usage_error("%s: expected one of %s, got \"%s\"",
                        cli->backend_name ? "--backend" : "MIGKIT_BACKEND",
                        mk_backend_names(names, sizeof(names)), name);
        return NULL;
    }
    return name;
}

struct mk_backend *cli_backend(struct cli *cli, bool writable)
{
    struct mk_backend_config cfg = {.state_dir = cli->state_dir, .writable = writable};
    struct mk_error err = {0};
    if (cli->backend)
        return cli->backend;
    cli->backend_exit = CLI_EXIT_USAGE;
    if (!(cfg.name = backend_name(cli)) || !cli_catalog(cli))
        return NULL;
    cli->backend_exit = 255;
    if (mk_backend_open(&cfg, cli->cat, &cli->backend, &err) < 0) {
        cli_fail(255, "%s", mk_strerror(&err));
        return NULL;
    }
    return cli->backend;
}

void cli_print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
    json_decref(v);
}

void cli_xml_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&apos;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

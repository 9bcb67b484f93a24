/*
 * cmd-grant.c - `migctl grant INSTANCE --uid U [--revoke] [--json]`: lets uid U see and use a
 * software instance (list it, and run processes in it with migctl exec), or takes that back.
 *
 * Always migd's business, whatever --backend says: POST /v1/instances/{uuid}/grants, and
 * DELETE /v1/instances/{uuid}/grants/{uid} for --revoke (docs/api.md). Only root and members
 * of group migkit may grant; migd checks that from the connection's credentials.
 */
#include <errno.h>
#include <pwd.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "migkit/soft.h"

/* The largest uid: (uid_t)-1 means "none" to the kernel (as migd's API bounds it). */
#define MAX_UID 4294967294LL

enum { OPT_UID = OPT__COMMON_END + 1, OPT_REVOKE };

struct grant_opts {
    const char *instance;
    long long uid; /* -1: not given */
    bool revoke;
};

static void usage(void)
{
    fputs("Usage: migctl grant INSTANCE --uid U [--revoke] [--json]\n"
          "  Lets uid U (a number or a user name) see and use software instance INSTANCE\n"
          "  (MIG-...); --revoke takes that back. Requires root or group migkit.\n",
          stdout);
}

/* A uid: decimal, or a user name the system knows. */
static bool parse_uid(const char *s, long long *ret)
{
    struct passwd *pw;
    char *end;
    long long v;
    if (*s >= '0' && *s <= '9') {
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno || *end || v > MAX_UID)
            return false;
        *ret = v;
        return true;
    }
    if (!*s || !(pw = getpwnam(s)))
        return false;
    *ret = (long long)pw->pw_uid;
    return true;
}

/* Returns 0, -1 after --help, or an exit status. */
static int parse(struct cli *cli, int argc, char **argv, struct grant_opts *o)
{
    static const struct option longopts[] = {
        {"uid", required_argument, NULL, OPT_UID},
        {"revoke", no_argument, NULL, OPT_REVOKE},
        {"help", no_argument, NULL, 'h'},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    int c, r;
    opterr = 0;
    optind = 1;
    o->uid = -1;
    while ((c = getopt_long_only(argc, argv, ":hi:", longopts, NULL)) != -1) {
        if ((r = cli_common_option(cli, c, optarg)) != 0) {
            if (r < 0)
                return CLI_EXIT_USAGE;
            continue;
        }
        switch (c) {
        case 'h':
            usage();
            return -1;
        case OPT_UID:
            if (!parse_uid(optarg, &o->uid))
                return cli_usage_error("grant: --uid: expected a uid or a user name, got \"%s\"",
                                       optarg);
            break;
        case OPT_REVOKE:
            o->revoke = true;
            break;
        case ':':
            return cli_usage_error("grant: option %s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error("grant: unknown option \"%s\"", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error("grant: no instance given (a UUID, MIG-...)");
    o->instance = argv[optind++];
    if (optind < argc)
        return cli_usage_error("grant: unexpected argument \"%s\"", argv[optind]);
    if (o->uid < 0)
        return cli_usage_error("grant: --uid U is required");
    if (strncmp(o->instance, "MIG-", 4) || strlen(o->instance) >= MK_UUID_LEN)
        return cli_usage_error("grant: expected a software instance's UUID (MIG-...), got \"%s\"",
                               o->instance);
    return 0;
}

/* Sends the grant or the revocation; prints the outcome. Returns an exit status. */
static int grant_send(struct cli *cli, struct mk_migd *m, const struct grant_opts *o)
{
    struct mk_error err = {0};
    json_t *body = NULL, *out = NULL;
    char path[160];
    int r;
    if (o->revoke) {
        snprintf(path, sizeof(path), "/v1/instances/%s/grants/%lld", o->instance, o->uid);
        r = mk_migd_request(m, "DELETE", path, NULL, NULL, &err);
    } else {
        snprintf(path, sizeof(path), "/v1/instances/%s/grants", o->instance);
        body = json_pack("{s:I}", "uid", (json_int_t)o->uid);
        r = body ? mk_migd_request(m, "POST", path, body, &out, &err) : -ENOMEM;
        json_decref(body);
    }
    if (r < 0)
        return cli_fail(mk_status_exit_code(r), "grant: %s: %s%s", mk_status_text(r),
                        mk_strerror(&err),
                        r == -EPERM ? " (granting requires root or group migkit)" : "");
    if (cli->json) {
        cli_print_json(out ? out
                           : json_pack("{s:s, s:I, s:b}", "uuid", o->instance, "uid",
                                       (json_int_t)o->uid, "granted", 0));
        return 0;
    }
    if (o->revoke)
        printf("Revoked uid %lld's grant of %s\n", o->uid, o->instance);
    else
        printf("Granted %s to uid %lld\n", o->instance, o->uid);
    json_decref(out);
    return 0;
}

int cmd_grant(struct cli *cli, int argc, char **argv)
{
    struct grant_opts o = {0};
    struct mk_error err = {0};
    struct mk_migd *m = NULL;
    int r;
    if ((r = parse(cli, argc, argv, &o)) != 0)
        return r < 0 ? 0 : r;
    if ((r = mk_migd_open(NULL, &m, &err)) < 0)
        return cli_fail(mk_status_exit_code(r), "grant: %s", mk_strerror(&err));
    r = grant_send(cli, m, &o);
    mk_migd_free(m);
    return r;
}

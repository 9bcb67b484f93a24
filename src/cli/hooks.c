/*
 * hooks.c - apply hooks, compatible in spirit with mig-parted's hooks file (apply.h).
 *
 * Each hook is a program run without a shell (command + args), in workdir, with the
 * environment of migctl plus envs and MIGKIT_* variables describing the apply. A hook that
 * exits non-zero fails its event: before any change that aborts the apply; apply-exit runs
 * always and its failure only makes the exit status non-zero.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <yaml.h>

#include "apply.h"

/* Bounds that keep a hooks file to sane sizes: mig-parted's own example has one hook per
 * event; 16 hooks per event, 32 arguments and 32 variables per hook leave ample room. */
#define MAX_HOOKS 16
#define MAX_ARGS 32
#define MAX_ENVS 32

static const char *const events[] = {"apply-start", "pre-apply-mode", "pre-apply-config",
                                     "apply-exit"};
#define NEVENTS 4

struct hook {
    char *command;
    char *workdir;
    char *args[MAX_ARGS + 2]; /* argv[0] = command, NULL-terminated */
    char *envs[MAX_ENVS + 1]; /* "K=V", NULL-terminated */
    int nargs, nenvs;
};

struct hooks {
    char path[256];
    int n[NEVENTS];
    struct hook hook[NEVENTS][MAX_HOOKS];
};

void hooks_free(struct hooks *h)
{
    if (!h)
        return;
    for (int e = 0; e < NEVENTS; e++)
        for (int i = 0; i < h->n[e]; i++) {
            struct hook *k = &h->hook[e][i];
            mk__free(k->command);
            mk__free(k->workdir);
            for (int a = 1; a <= k->nargs; a++)
                mk__free(k->args[a]);
            for (int v = 0; v < k->nenvs; v++)
                mk__free(k->envs[v]);
        }
    mk__free(h);
}

struct ctx {
    yaml_document_t *doc;
    const char *path;
    struct mk_error *err;
};

static int bad(struct ctx *c, yaml_node_t *n, const char *what)
{
    return mk_error_set(c->err, -EINVAL, "%s:%zu:%zu: expected %s", c->path,
                        n->start_mark.line + 1, n->start_mark.column + 1, what);
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* Duplicate keys are errors, not last-one-wins (libyaml keeps both). */
static int check_dups(struct ctx *c, yaml_node_t *map)
{
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++)
        for (yaml_node_pair_t *b = a + 1; b < map->data.mapping.pairs.top; b++) {
            const char *ka = scalar(yaml_document_get_node(c->doc, a->key));
            const char *kb = scalar(yaml_document_get_node(c->doc, b->key));
            if (ka && kb && !strcmp(ka, kb))
                return bad(c, yaml_document_get_node(c->doc, b->key), "a key not used before");
        }
    return 0;
}

/* A mapping node without duplicate keys, or an error saying what was expected there. */
static int mapping(struct ctx *c, yaml_node_t *n, const char *what)
{
    if (n->type != YAML_MAPPING_NODE)
        return bad(c, n, what);
    return check_dups(c, n);
}

static int str_list(struct ctx *c, yaml_node_t *n, char **out, int max, int *count)
{
    if (n->type != YAML_SEQUENCE_NODE)
        return bad(c, n, "a list of strings");
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        const char *s = scalar(yaml_document_get_node(c->doc, *it));
        if (!s || *count >= max)
            return bad(c, yaml_document_get_node(c->doc, *it), "a string (at most 32 of them)");
        if (!(out[(*count)++] = mk__strdup(s)))
            return mk_error_set(c->err, -ENOMEM, "out of memory");
    }
    return 0;
}

static int env_map(struct ctx *c, yaml_node_t *n, struct hook *k)
{
    int r;
    if ((r = mapping(c, n, "a mapping of environment variables")) < 0)
        return r;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
        const char *key = scalar(kn), *val = scalar(yaml_document_get_node(c->doc, p->value));
        char buf[4096];
        if (!key || !val || !*key || strchr(key, '=') || k->nenvs >= MAX_ENVS)
            return bad(c, kn, "NAME: value pairs (at most 32)");
        snprintf(buf, sizeof(buf), "%s=%s", key, val);
        if (!(k->envs[k->nenvs++] = mk__strdup(buf)))
            return mk_error_set(c->err, -ENOMEM, "out of memory");
    }
    return 0;
}

static int parse_hook(struct ctx *c, yaml_node_t *n, struct hook *k)
{
    int r;
    if ((r = mapping(c, n, "a hook: {command, args, workdir, envs}")) < 0)
        return r;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(c->doc, p->value);
        const char *key = scalar(kn);
        if (key && !strcmp(key, "command") && scalar(vn) && *scalar(vn)) {
            if (!(k->command = mk__strdup(scalar(vn))))
                return mk_error_set(c->err, -ENOMEM, "out of memory");
        } else if (key && !strcmp(key, "workdir") && scalar(vn)) {
            if (!(k->workdir = mk__strdup(scalar(vn))))
                return mk_error_set(c->err, -ENOMEM, "out of memory");
        } else if (key && !strcmp(key, "args")) {
            if ((r = str_list(c, vn, k->args + 1, MAX_ARGS, &k->nargs)) < 0)
                return r;
        } else if (key && !strcmp(key, "envs")) {
            if ((r = env_map(c, vn, k)) < 0)
                return r;
        } else {
            return bad(c, key && (!strcmp(key, "command") || !strcmp(key, "workdir")) ? vn : kn,
                       key && !strcmp(key, "command") ? "a non-empty command"
                                                      : "one of command, args, workdir, envs");
        }
    }
    if (!k->command)
        return bad(c, n, "a \"command\" in every hook");
    k->args[0] = k->command;
    return 0;
}

static int parse_events(struct ctx *c, yaml_node_t *n, struct hooks *h)
{
    int r;
    if ((r = mapping(c, n, "a mapping from event names to lists of hooks")) < 0)
        return r;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(c->doc, p->value);
        const char *key = scalar(kn);
        int e;
        for (e = 0; e < NEVENTS; e++)
            if (key && !strcmp(key, events[e]))
                break;
        if (e == NEVENTS)
            return bad(c, kn, "an event: apply-start, pre-apply-mode, pre-apply-config or "
                              "apply-exit");
        if (vn->type != YAML_SEQUENCE_NODE)
            return bad(c, vn, "a list of hooks");
        for (yaml_node_item_t *it = vn->data.sequence.items.start;
             it < vn->data.sequence.items.top; it++) {
            if (h->n[e] >= MAX_HOOKS)
                return bad(c, vn, "at most 16 hooks per event");
            if ((r = parse_hook(c, yaml_document_get_node(c->doc, *it), &h->hook[e][h->n[e]++])) < 0)
                return r;
        }
    }
    return 0;
}

static int parse_root(struct ctx *c, struct hooks *h)
{
    yaml_node_t *root = yaml_document_get_root_node(c->doc), *hooks = NULL;
    int r;
    if (!root || root->type != YAML_MAPPING_NODE)
        return root ? bad(c, root, "a mapping with version: v1 and hooks")
                    : mk_error_set(c->err, -EINVAL, "%s: empty hooks file", c->path);
    if ((r = check_dups(c, root)) < 0)
        return r;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(c->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(c->doc, p->value);
        const char *key = scalar(kn);
        if (key && !strcmp(key, "version")) {
            if (!scalar(vn) || strcmp(scalar(vn), "v1") != 0)
                return bad(c, vn, "version v1");
        } else if (key && !strcmp(key, "hooks")) {
            hooks = vn;
        } else {
            return bad(c, kn, "version or hooks");
        }
    }
    if (!hooks)
        return bad(c, root, "a \"hooks\" mapping");
    return parse_events(c, hooks, h);
}

int hooks_load(const char *path, struct hooks **ret, struct mk_error *err)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    struct hooks *h;
    struct ctx c = {&doc, path, err};
    FILE *f = fopen(path, "re");
    int r;
    if (!f)
        return mk_error_set(err, -errno, "%s: cannot open hooks file: %s", path, strerror(errno));
    if (!(h = mk__calloc(1, sizeof(*h)))) {
        fclose(f);
        return mk_error_set(err, -ENOMEM, "out of memory");
    }
    snprintf(h->path, sizeof(h->path), "%s", path);
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        r = mk_error_set(err, -EINVAL, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
                         parser.problem_mark.column + 1, parser.problem ? parser.problem : "YAML error");
        yaml_parser_delete(&parser);
        fclose(f);
        hooks_free(h);
        return r;
    }
    r = parse_root(&c, h);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    if (r < 0) {
        hooks_free(h);
        return r;
    }
    *ret = h;
    return 0;
}

/* Runs one hook and waits for it. Returns its exit status, or -errno. */
static int run_one(const struct hook *k, char *const *env)
{
    pid_t pid = fork();
    int st;
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        if (k->workdir && chdir(k->workdir) < 0)
            _exit(126);
        for (char *const *e = env; *e; e++)
            putenv(*e);
        execvp(k->command, k->args);
        _exit(127); /* the shell's status for "command not found" */
    }
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int hooks_run(const struct hooks *h, const char *event, const char *config_file,
              const char *label, const char *const *extra_env, struct mk_error *err)
{
    char file_env[1024], label_env[256], event_env[64];
    char *env[MAX_ENVS + 8];
    int e, n;
    if (!h)
        return 0;
    for (e = 0; e < NEVENTS && strcmp(events[e], event); e++)
        ;
    if (e == NEVENTS)
        return mk_error_set(err, -EINVAL, "unknown hook event %s", event);
    snprintf(file_env, sizeof(file_env), "MIGKIT_CONFIG_FILE=%s", config_file ? config_file : "");
    snprintf(label_env, sizeof(label_env), "MIGKIT_SELECTED_CONFIG=%s", label ? label : "");
    snprintf(event_env, sizeof(event_env), "MIGKIT_HOOK_EVENT=%s", event);
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < h->n[e]; i++) {
        const struct hook *k = &h->hook[e][i];
        int r;
        n = 0;
        env[n++] = file_env;
        env[n++] = label_env;
        env[n++] = event_env;
        for (int x = 0; extra_env && extra_env[x] && n < MAX_ENVS + 6; x++)
            env[n++] = (char *)extra_env[x];
        for (int v = 0; v < k->nenvs; v++)
            env[n++] = k->envs[v];
        env[n] = NULL;
        if ((r = run_one(k, env)) != 0)
            return mk_error_set(err, -ECANCELED, "%s (hook %d of %s in %s) %s %d", k->command,
                                i + 1, event, h->path, r < 0 ? "could not start:" : "exited with",
                                r < 0 ? -r : r);
    }
    return 0;
}

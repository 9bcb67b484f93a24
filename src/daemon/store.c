/*
 * store.c - migd's SQLite database (see store.h and docs/migd.md "State").
 *
 * One connection, opened at start and owned by the registry (whose mutex serialises every
 * call). Statements used after start-up are prepared once from one X-macro list, so each SQL
 * text and its slot come from the same line. Schema changes are migrations keyed by
 * PRAGMA user_version; each runs in its own transaction, so a crash during one leaves the
 * previous version intact.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"

/* How long a statement waits for a lock held by another connection (sqlite3 or a backup
 * tool reading the database) before failing with SQLITE_BUSY: long enough for a reader's
 * checkpoint, short enough that an API request does not hang. */
#define STORE_BUSY_TIMEOUT_MS 5000
/* The events table keeps the latest rows only: about 20 MiB at the ~200 bytes a row takes.
 * Pruned at open and every EVENTS_PRUNE_EVERY inserts, so the hot path stays one INSERT. */
#define EVENTS_KEEP        100000
#define EVENTS_PRUNE_EVERY 1024

/* Schema version 1 (docs/migd.md). Child keys are indexed so ON DELETE CASCADE does not scan. */
static const char SCHEMA_V1[] =
    "CREATE TABLE gpus (idx INTEGER PRIMARY KEY, uuid TEXT UNIQUE NOT NULL, model TEXT,"
    "  name TEXT NOT NULL, memory_bytes INTEGER NOT NULL, sms INTEGER NOT NULL);"
    "CREATE TABLE instances (uuid TEXT PRIMARY KEY, gpu INTEGER NOT NULL REFERENCES gpus(idx),"
    "  kind TEXT NOT NULL CHECK (kind IN ('profile','custom')),"
    "  profile_id INTEGER, gi_id INTEGER, placement INTEGER,"
    "  quota_bytes INTEGER NOT NULL CHECK (quota_bytes > 0), sms INTEGER NOT NULL,"
    "  name TEXT NOT NULL, created_at INTEGER NOT NULL,"
    "  CHECK ((kind = 'profile') = (profile_id IS NOT NULL AND gi_id IS NOT NULL"
    "                               AND placement IS NOT NULL)));"
    "CREATE UNIQUE INDEX instances_gi ON instances(gpu, gi_id) WHERE gi_id IS NOT NULL;"
    "CREATE TABLE grants (instance TEXT NOT NULL REFERENCES instances(uuid) ON DELETE CASCADE,"
    "  uid INTEGER NOT NULL, PRIMARY KEY (instance, uid));"
    "CREATE TABLE processes (pid INTEGER NOT NULL, start_time INTEGER NOT NULL,"
    "  instance TEXT NOT NULL REFERENCES instances(uuid) ON DELETE CASCADE,"
    "  uid INTEGER NOT NULL, PRIMARY KEY (pid, start_time));"
    "CREATE INDEX processes_instance ON processes(instance);"
    "CREATE TABLE desired (id INTEGER PRIMARY KEY CHECK (id = 1), config TEXT, label TEXT);"
    "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,"
    "  uid INTEGER NOT NULL, pid INTEGER NOT NULL, action TEXT NOT NULL,"
    "  subject TEXT, detail TEXT);";

/* migrations[v] brings a database from version v to v + 1. */
static const char *const migrations[] = {SCHEMA_V1};

/* The prepared statements: X(slot, SQL). */
#define STORE_STMT_MAP(X)                                                                          \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                    \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(GPU_PUT, "INSERT INTO gpus (idx, uuid, model, name, memory_bytes, sms)"                      \
               " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(idx) DO UPDATE SET"                   \
               " uuid = excluded.uuid, model = excluded.model, name = excluded.name,"              \
               " memory_bytes = excluded.memory_bytes, sms = excluded.sms")                        \
    X(INSTANCE_INSERT, "INSERT INTO instances (uuid, gpu, kind, profile_id, gi_id, placement,"     \
                       " quota_bytes, sms, name, created_at)"                                      \
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                        \
    X(INSTANCE_QUOTA, "UPDATE instances SET quota_bytes = ?2 WHERE uuid = ?1")                     \
    X(INSTANCE_DELETE, "DELETE FROM instances WHERE uuid = ?1")                                    \
    X(GRANT_INSERT, "INSERT OR IGNORE INTO grants (instance, uid) VALUES (?1, ?2)")                \
    X(GRANT_DELETE, "DELETE FROM grants WHERE instance = ?1 AND uid = ?2")                         \
    X(PROCESS_INSERT, "INSERT INTO processes (pid, start_time, instance, uid)"                     \
                      " VALUES (?1, ?2, ?3, ?4)")                                                  \
    X(PROCESS_DELETE, "DELETE FROM processes WHERE pid = ?1 AND start_time = ?2")                  \
    X(EVENT_INSERT, "INSERT INTO events (at, uid, pid, action, subject, detail)"                   \
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                            \
    X(EVENTS_PRUNE, "DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - ?1")            \
    X(EVENTS_SELECT, "SELECT id, at, uid, pid, action, subject, detail FROM events"                \
                     " WHERE id > ?1 AND (?3 < 0 OR uid = ?3) ORDER BY id LIMIT ?2")               \
    X(DESIRED_PUT, "INSERT INTO desired (id, config, label) VALUES (1, ?1, ?2)"                    \
                   " ON CONFLICT(id) DO UPDATE SET config = excluded.config,"                      \
                   " label = excluded.label")                                                      \
    X(DESIRED_GET, "SELECT config, label FROM desired WHERE id = 1")                               \
    X(DESIRED_DELETE, "DELETE FROM desired WHERE id = 1")

enum store_stmt {
#define X(n, sql) STMT_##n,
    STORE_STMT_MAP(X)
#undef X
        STMT__COUNT
};

static const char *const stmt_sql[] = {
#define X(n, sql) [STMT_##n] = sql,
    STORE_STMT_MAP(X)
#undef X
};

struct store {
    sqlite3 *db;
    sqlite3_stmt *stmt[STMT__COUNT];
    unsigned events_added; /* inserts since the last prune */
    char path[4096];
};

/* Maps a SQLite result code to -errno and records the message. */
static int fail_db(struct store *s, int rc, const char *what, struct mk_error *err)
{
    int code;
    switch (rc & 0xff) { /* the primary code: extended codes keep it in the low byte */
    case SQLITE_CONSTRAINT:
        code = -EEXIST;
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        code = -EBADMSG;
        break;
    case SQLITE_FULL:
        code = -ENOSPC;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = -EBUSY;
        break;
    case SQLITE_NOMEM:
        code = -ENOMEM;
        break;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_CANTOPEN:
        code = -EACCES;
        break;
    default:
        code = -EIO;
    }
    return mk_error_set(err, code, "%s: %s: %s", s->path, what,
                        s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

/* Runs SQL text that returns no rows we need. */
static int exec(struct store *s, const char *sql, const char *what, struct mk_error *err)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : fail_db(s, rc, what, err);
}

/* Reads a one-integer PRAGMA. */
static int pragma_int(struct store *s, const char *sql, int64_t *ret, struct mk_error *err)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return fail_db(s, rc, sql, err);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *ret = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : fail_db(s, rc, sql, err);
}

/*
 * Connection settings. WAL lets readers (sqlite3 on the command line, backups, the crash
 * test's checker) read while migd writes; synchronous=FULL makes every commit durable, which
 * an instance change must be; foreign keys are off by default in SQLite and the schema relies
 * on them for cascades. journal_mode is read back because it silently stays "delete" where
 * WAL is impossible (a read-only directory, some network file systems).
 */
static int configure(struct store *s, struct mk_error *err)
{
    sqlite3_stmt *st;
    int rc, r;
    sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return fail_db(s, rc, "setting WAL mode", err);
    rc = sqlite3_step(st);
    r = rc == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return fail_db(s, rc, "setting WAL mode", err);
    if (!r)
        return mk_error_set(err, -ENOTSUP, "%s: the database cannot use WAL mode here", s->path);
    if ((r = exec(s, "PRAGMA synchronous=FULL", "setting synchronous=FULL", err)) < 0)
        return r;
    return exec(s, "PRAGMA foreign_keys=ON", "enabling foreign keys", err);
}

/* Brings the schema to STORE_SCHEMA_VERSION, one migration per transaction. */
static int migrate(struct store *s, struct mk_error *err)
{
    int64_t v = 0;
    int r;
    if ((r = pragma_int(s, "PRAGMA user_version", &v, err)) < 0)
        return r;
    if (v > STORE_SCHEMA_VERSION)
        return mk_error_set(err, -EPROTONOSUPPORT,
                            "%s has schema version %lld; this migd knows up to %d (downgrade "
                            "is not supported: run the newer migd)",
                            s->path, (long long)v, STORE_SCHEMA_VERSION);
    for (; v < STORE_SCHEMA_VERSION; v++) {
        char bump[64];
        snprintf(bump, sizeof(bump), "PRAGMA user_version=%lld", (long long)v + 1);
        if ((r = exec(s, "BEGIN IMMEDIATE", "starting a migration", err)) < 0)
            return r;
        if ((r = exec(s, migrations[v], "migrating the schema", err)) < 0 ||
            (r = exec(s, bump, "recording the schema version", err)) < 0 ||
            (r = exec(s, "COMMIT", "committing a migration", err)) < 0) {
            (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return r;
        }
    }
    return 0;
}

static int prepare_all(struct store *s, struct mk_error *err)
{
    for (int i = 0; i < STMT__COUNT; i++) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                                    NULL);
        if (rc != SQLITE_OK)
            return fail_db(s, rc, stmt_sql[i], err);
    }
    return 0;
}

int store_open(const char *path, struct store **ret, struct mk_error *err)
{
    struct store *s;
    int rc, r;
    if (strlen(path) >= sizeof(s->path))
        return mk_error_set(err, -ENAMETOOLONG, "database path too long: %s", path);
    if (!(s = mk__calloc(1, sizeof(*s))))
        return mk_error_set(err, -ENOMEM, "out of memory opening %s", path);
    snprintf(s->path, sizeof(s->path), "%s", path);
    rc = sqlite3_open_v2(path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                             SQLITE_OPEN_EXRESCODE,
                         NULL);
    if (rc != SQLITE_OK) {
        r = fail_db(s, rc, "cannot open", err);
        goto fail;
    }
    if ((r = configure(s, err)) < 0 || (r = migrate(s, err)) < 0 || (r = prepare_all(s, err)) < 0)
        goto fail;
    sqlite3_bind_int64(s->stmt[STMT_EVENTS_PRUNE], 1, EVENTS_KEEP);
    rc = sqlite3_step(s->stmt[STMT_EVENTS_PRUNE]);
    sqlite3_reset(s->stmt[STMT_EVENTS_PRUNE]);
    if (rc != SQLITE_DONE) {
        r = fail_db(s, rc, "pruning old events", err);
        goto fail;
    }
    *ret = s;
    return 0;
fail:
    store_close(s);
    return r;
}

void store_close(struct store *s)
{
    if (!s)
        return;
    for (int i = 0; i < STMT__COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close(s->db);
    mk__free(s);
}

/* Steps a prepared statement that returns no rows, then resets it for the next use. */
static int run(struct store *s, enum store_stmt id, const char *what, struct mk_error *err)
{
    sqlite3_stmt *st = s->stmt[id];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : fail_db(s, rc, what, err);
}

int store_begin(struct store *s, struct mk_error *err)
{
    return run(s, STMT_BEGIN, "starting a transaction", err);
}

int store_commit(struct store *s, struct mk_error *err)
{
    return run(s, STMT_COMMIT, "committing", err);
}

void store_rollback(struct store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        (void)run(s, STMT_ROLLBACK, "rolling back", NULL);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* Binds an optional integer: negative values (-1 = "none") become NULL. */
static void bind_opt(sqlite3_stmt *st, int i, int v)
{
    if (v >= 0)
        sqlite3_bind_int(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

int store_gpu_put(struct store *s, const struct store_gpu *g, struct mk_error *err)
{
    sqlite3_stmt *st = s->stmt[STMT_GPU_PUT];
    sqlite3_bind_int(st, 1, g->idx);
    bind_text(st, 2, g->uuid);
    bind_text(st, 3, g->model[0] ? g->model : NULL);
    bind_text(st, 4, g->name);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)g->memory_bytes);
    sqlite3_bind_int(st, 6, g->sms);
    return run(s, STMT_GPU_PUT, "writing a GPU", err);
}

int store_instance_insert(struct store *s, const struct store_instance *in, struct mk_error *err)
{
    sqlite3_stmt *st = s->stmt[STMT_INSTANCE_INSERT];
    bool profile = in->kind == STORE_KIND_PROFILE;
    bind_text(st, 1, in->uuid);
    sqlite3_bind_int(st, 2, in->gpu);
    bind_text(st, 3, profile ? "profile" : "custom");
    bind_opt(st, 4, profile ? in->profile_id : -1);
    bind_opt(st, 5, profile ? in->gi_id : -1);
    bind_opt(st, 6, profile ? in->placement : -1);
    sqlite3_bind_int64(st, 7, (sqlite3_int64)in->quota_bytes);
    sqlite3_bind_int(st, 8, in->sms);
    bind_text(st, 9, in->name);
    sqlite3_bind_int64(st, 10, in->created_at);
    return run(s, STMT_INSTANCE_INSERT, "writing an instance", err);
}

int store_instance_set_quota(struct store *s, const char *uuid, uint64_t quota_bytes,
                             struct mk_error *err)
{
    sqlite3_stmt *st = s->stmt[STMT_INSTANCE_QUOTA];
    bind_text(st, 1, uuid);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)quota_bytes);
    return run(s, STMT_INSTANCE_QUOTA, "resizing an instance", err);
}

int store_instance_delete(struct store *s, const char *uuid, struct mk_error *err)
{
    bind_text(s->stmt[STMT_INSTANCE_DELETE], 1, uuid);
    return run(s, STMT_INSTANCE_DELETE, "deleting an instance", err);
}

int store_grant_insert(struct store *s, const char *instance, uid_t uid, struct mk_error *err)
{
    sqlite3_stmt *st = s->stmt[STMT_GRANT_INSERT];
    bind_text(st, 1, instance);
    sqlite3_bind_int64(st, 2, uid);
    return run(s, STMT_GRANT_INSERT, "writing a grant", err);
}

int store_grant_delete(struct store *s, const char *instance, uid_t uid, struct mk_error *err)
{
    sqlite3_stmt *st = s->stmt[STMT_GRANT_DELETE];
    bind_text(st, 1, instance);
    sqlite3_bind_int64(st, 2, uid);
    return run(s, STMT_GRANT_DELETE, "deleting a grant", err);
}

int store_process_insert(struct store *s, const struct store_process *p, struct mk_error *err)
{
    sqlite3_stmt *st = s->stmt[STMT_PROCESS_INSERT];
    sqlite3_bind_int64(st, 1, p->pid);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)p->start_time);
    bind_text(st, 3, p->instance);
    sqlite3_bind_int64(st, 4, p->uid);
    return run(s, STMT_PROCESS_INSERT, "writing a process", err);
}

int store_process_delete(struct store *s, pid_t pid, uint64_t start_time, struct mk_error *err)
{
    sqlite3_stmt *st = s->stmt[STMT_PROCESS_DELETE];
    sqlite3_bind_int64(st, 1, pid);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)start_time);
    return run(s, STMT_PROCESS_DELETE, "deleting a process", err);
}

int64_t store_event_add(struct store *s, const struct store_event *e, struct mk_error *err)
{
    sqlite3_stmt *st = s->stmt[STMT_EVENT_INSERT];
    int r;
    sqlite3_bind_int64(st, 1, e->at);
    sqlite3_bind_int64(st, 2, e->uid);
    sqlite3_bind_int64(st, 3, e->pid);
    bind_text(st, 4, e->action);
    bind_text(st, 5, e->subject);
    bind_text(st, 6, e->detail);
    if ((r = run(s, STMT_EVENT_INSERT, "writing an event", err)) < 0)
        return r;
    if (++s->events_added >= EVENTS_PRUNE_EVERY) {
        s->events_added = 0;
        sqlite3_bind_int64(s->stmt[STMT_EVENTS_PRUNE], 1, EVENTS_KEEP);
        if ((r = run(s, STMT_EVENTS_PRUNE, "pruning old events", err)) < 0)
            return r;
    }
    return sqlite3_last_insert_rowid(s->db);
}

/* Copies text column i into buf; false when it is NULL or does not fit. */
static bool col_text(sqlite3_stmt *st, int i, char *buf, size_t len, bool null_ok)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    if (!t) {
        buf[0] = '\0';
        return null_ok;
    }
    if (strlen((const char *)t) >= len)
        return false;
    memcpy(buf, t, strlen((const char *)t) + 1);
    return true;
}

/* An integer column within [lo, hi]; NULL reads as -1 and passes only when lo <= -1. */
static bool col_int(sqlite3_stmt *st, int i, int64_t lo, int64_t hi, int64_t *ret)
{
    int64_t v = sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
    if (v < lo || v > hi ||
        (sqlite3_column_type(st, i) != SQLITE_NULL && sqlite3_column_type(st, i) != SQLITE_INTEGER))
        return false;
    *ret = v;
    return true;
}

static int row_gpu(sqlite3_stmt *st, struct store_gpu *g)
{
    int64_t idx, mem, sms;
    if (!col_int(st, 0, 0, INT32_MAX, &idx) || !col_text(st, 1, g->uuid, sizeof(g->uuid), false) ||
        !col_text(st, 2, g->model, sizeof(g->model), true) ||
        !col_text(st, 3, g->name, sizeof(g->name), false) || !col_int(st, 4, 1, INT64_MAX, &mem) ||
        !col_int(st, 5, 0, INT32_MAX, &sms))
        return -EBADMSG;
    g->idx = (int)idx;
    g->memory_bytes = (uint64_t)mem;
    g->sms = (int)sms;
    return 0;
}

static int row_instance(sqlite3_stmt *st, struct store_instance *in)
{
    char kind[16];
    int64_t gpu, pid, gi, pl, quota, sms, at;
    if (!col_text(st, 0, in->uuid, sizeof(in->uuid), false) ||
        !col_int(st, 1, 0, INT32_MAX, &gpu) || !col_text(st, 2, kind, sizeof(kind), false) ||
        !col_int(st, 3, -1, INT32_MAX, &pid) || !col_int(st, 4, -1, INT32_MAX, &gi) ||
        !col_int(st, 5, -1, INT32_MAX, &pl) || !col_int(st, 6, 1, INT64_MAX, &quota) ||
        !col_int(st, 7, 0, INT32_MAX, &sms) ||
        !col_text(st, 8, in->name, sizeof(in->name), false) || !col_int(st, 9, 0, INT64_MAX, &at))
        return -EBADMSG;
    if (strcmp(kind, "profile") && strcmp(kind, "custom"))
        return -EBADMSG;
    in->kind = strcmp(kind, "profile") ? STORE_KIND_CUSTOM : STORE_KIND_PROFILE;
    in->gpu = (int)gpu;
    in->profile_id = (int)pid;
    in->gi_id = (int)gi;
    in->placement = (int)pl;
    in->quota_bytes = (uint64_t)quota;
    in->sms = (int)sms;
    in->created_at = at;
    return 0;
}

static int row_grant(sqlite3_stmt *st, char *instance, size_t len, uid_t *uid)
{
    int64_t u;
    if (!col_text(st, 0, instance, len, false) || !col_int(st, 1, 0, UINT32_MAX - 1, &u))
        return -EBADMSG;
    *uid = (uid_t)u;
    return 0;
}

static int row_process(sqlite3_stmt *st, struct store_process *p)
{
    int64_t pid, start, uid;
    if (!col_int(st, 0, 1, INT32_MAX, &pid) || !col_int(st, 1, 0, INT64_MAX, &start) ||
        !col_text(st, 2, p->instance, sizeof(p->instance), false) ||
        !col_int(st, 3, 0, UINT32_MAX - 1, &uid))
        return -EBADMSG;
    p->pid = (pid_t)pid;
    p->start_time = (uint64_t)start;
    p->uid = (uid_t)uid;
    return 0;
}

/* The four tables in load order. Instances come back in creation order (rowid), so a
 * listing reads the same before and after a restart. */
enum load_table { LOAD_GPUS, LOAD_INSTANCES, LOAD_GRANTS, LOAD_PROCESSES, LOAD__COUNT };
static const char *const load_sql[LOAD__COUNT] = {
    [LOAD_GPUS] = "SELECT idx, uuid, model, name, memory_bytes, sms FROM gpus ORDER BY idx",
    [LOAD_INSTANCES] = "SELECT uuid, gpu, kind, profile_id, gi_id, placement, quota_bytes, sms,"
                       " name, created_at FROM instances ORDER BY rowid",
    [LOAD_GRANTS] = "SELECT instance, uid FROM grants ORDER BY instance, uid",
    [LOAD_PROCESSES] = "SELECT pid, start_time, instance, uid FROM processes ORDER BY pid",
};

/* Decodes one row of table t and hands it to its callback. */
static const char *const load_names[LOAD__COUNT] = {"gpus", "instances", "grants", "processes"};

static int damaged(struct store *s, enum load_table t, struct mk_error *err)
{
    return mk_error_set(err, -EBADMSG, "%s: damaged row in table %s", s->path, load_names[t]);
}

static int load_row(struct store *s, sqlite3_stmt *st, enum load_table t,
                    const struct store_load_ops *ops, void *ctx, struct mk_error *err)
{
    union {
        struct store_gpu g;
        struct store_instance in;
        struct store_process p;
        struct {
            char instance[MK_UUID_LEN];
            uid_t uid;
        } gr;
    } u;
    int r;
    memset(&u, 0, sizeof(u));
    switch (t) {
    case LOAD_GPUS:
        r = row_gpu(st, &u.g);
        return r < 0 ? damaged(s, t, err) : ops->gpu(ctx, &u.g, err);
    case LOAD_INSTANCES:
        r = row_instance(st, &u.in);
        return r < 0 ? damaged(s, t, err) : ops->instance(ctx, &u.in, err);
    case LOAD_GRANTS:
        r = row_grant(st, u.gr.instance, sizeof(u.gr.instance), &u.gr.uid);
        return r < 0 ? damaged(s, t, err) : ops->grant(ctx, u.gr.instance, u.gr.uid, err);
    case LOAD_PROCESSES:
        r = row_process(st, &u.p);
        return r < 0 ? damaged(s, t, err) : ops->process(ctx, &u.p, err);
    default:
        return -EINVAL;
    }
}

int store_load(struct store *s, const struct store_load_ops *ops, void *ctx, struct mk_error *err)
{
    for (int t = 0; t < LOAD__COUNT; t++) {
        sqlite3_stmt *st;
        int rc = sqlite3_prepare_v2(s->db, load_sql[t], -1, &st, NULL), r = 0;
        if (rc != SQLITE_OK)
            return fail_db(s, rc, load_sql[t], err);
        while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            r = load_row(s, st, (enum load_table)t, ops, ctx, err);
        }
        sqlite3_finalize(st);
        if (r < 0)
            return r;
        if (rc != SQLITE_DONE)
            return fail_db(s, rc, load_sql[t], err);
    }
    return 0;
}

int store_events(struct store *s, int64_t since, int limit, uid_t uid,
                 int (*cb)(void *ctx, const struct store_event *e), void *ctx, struct mk_error *err)
{
    sqlite3_stmt *st = s->stmt[STMT_EVENTS_SELECT];
    int rc, n = 0, r = 0;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int(st, 2, limit);
    sqlite3_bind_int64(st, 3, uid == (uid_t)-1 ? -1 : (sqlite3_int64)uid);
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_event e = {
            .id = sqlite3_column_int64(st, 0),
            .at = sqlite3_column_int64(st, 1),
            .uid = (uid_t)sqlite3_column_int64(st, 2),
            .pid = (pid_t)sqlite3_column_int64(st, 3),
            .action = (const char *)sqlite3_column_text(st, 4),
            .subject = (const char *)sqlite3_column_text(st, 5),
            .detail = (const char *)sqlite3_column_text(st, 6),
        };
        if (!e.action)
            e.action = "";
        if ((r = cb(ctx, &e)) == 0)
            n++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (r < 0)
        return mk_error_set(err, r, "out of memory listing events");
    if (rc != SQLITE_DONE)
        return fail_db(s, rc, "reading events", err);
    return n;
}

int store_desired_put(struct store *s, const char *config, const char *label, struct mk_error *err)
{
    sqlite3_stmt *st = s->stmt[STMT_DESIRED_PUT];
    bind_text(st, 1, config);
    bind_text(st, 2, label);
    return run(s, STMT_DESIRED_PUT, "writing the desired configuration", err);
}

/* sqlite3_changes() counts the rows the DELETE removed (0 or 1: the table has one row at most,
 * id = 1); reset does not clear it, so it can be read after run(). */
int store_desired_delete(struct store *s, struct mk_error *err)
{
    int r = run(s, STMT_DESIRED_DELETE, "clearing the desired configuration", err);
    if (r == 0 && sqlite3_changes(s->db) == 0)
        r = mk_error_set(err, -ENOENT, "no desired configuration is recorded");
    return r;
}

/* Copies text column i into a new string (NULL stays NULL). */
static int col_dup(sqlite3_stmt *st, int i, char **ret)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;
    *ret = NULL;
    if (!t)
        return 0;
    if (!(*ret = mk__malloc(n + 1)))
        return -ENOMEM;
    memcpy(*ret, t, n);
    (*ret)[n] = '\0';
    return 0;
}

int store_desired_get(struct store *s, char **ret_config, char **ret_label, struct mk_error *err)
{
    sqlite3_stmt *st = s->stmt[STMT_DESIRED_GET];
    char *config = NULL, *label = NULL;
    int rc = sqlite3_step(st), r = 0;
    if (rc == SQLITE_ROW && (col_dup(st, 0, &config) < 0 || col_dup(st, 1, &label) < 0))
        r = mk_error_set(err, -ENOMEM, "out of memory reading the desired configuration");
    else if (rc == SQLITE_ROW && (!config || !label))
        r = mk_error_set(err, -EBADMSG, "%s: damaged row in table desired", s->path);
    else if (rc == SQLITE_DONE)
        r = mk_error_set(err, -ENOENT, "no desired configuration is recorded");
    else if (rc != SQLITE_ROW)
        r = fail_db(s, rc, "reading the desired configuration", err);
    sqlite3_reset(st);
    if (r < 0) {
        mk__free(config);
        mk__free(label);
        return r;
    }
    *ret_config = config;
    *ret_label = label;
    return 0;
}

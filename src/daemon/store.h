/*
 * store.h - migd's durable state: one SQLite database (STATE_DIR/migd.db) in WAL mode with
 * synchronous=FULL, so a change is on disk when its transaction commits and survives kill -9
 * or a power cut. docs/migd.md gives the schema; migrations run at open (PRAGMA user_version).
 *
 * The store is a thin typed layer over prepared statements: it knows rows, not rules (the
 * registry owns the rules and calls these inside one transaction per change). Not
 * thread-safe: the registry's mutex serialises every call. Every function returns 0 (or a
 * count) on success and -errno on failure with detail in err: -EIO for SQLite failures,
 * -EBADMSG for a damaged or unreadable database, -EEXIST for a constraint violation.
 */
#ifndef MIGD_STORE_H
#define MIGD_STORE_H

#include <sys/types.h>

#include "migkit/geometry.h"

/* The schema version this migd writes; PRAGMA user_version of a current database. */
#define STORE_SCHEMA_VERSION 1
/* Longest instance name: "<product> MIG <profile>" with a 96-byte product and 64-byte
 * profile, or "<product> MIG custom". */
#define STORE_NAME_LEN 176

enum store_kind {
    STORE_KIND_PROFILE, /* follows a catalog profile: placement and GI ID from geometry */
    STORE_KIND_CUSTOM,  /* any memory and SM count, no placement */
};

struct store_gpu {
    int idx;                 /* 0-based GPU index */
    char uuid[MK_UUID_LEN];  /* "GPU-..." */
    char model[MK_NAME_LEN]; /* catalog slug, "" when the GPU is not in the catalog */
    char name[96];           /* product name */
    uint64_t memory_bytes;
    int sms;
};

struct store_instance {
    char uuid[MK_UUID_LEN]; /* "MIG-..." */
    int gpu;
    enum store_kind kind;
    int profile_id; /* profile instances only; -1 otherwise */
    int gi_id;      /* profile instances only; -1 otherwise */
    int placement;  /* profile instances only; -1 otherwise */
    uint64_t quota_bytes;
    int sms;
    char name[STORE_NAME_LEN];
    int64_t created_at; /* Unix time, seconds */
};

struct store_process {
    pid_t pid;
    uint64_t start_time; /* field 22 of /proc/PID/stat: clock ticks after boot */
    char instance[MK_UUID_LEN];
    uid_t uid;
};

/* One row of the events table. Strings are borrowed: for the duration of the call that takes
 * or passes the struct. subject and detail may be NULL. */
struct store_event {
    int64_t id; /* assigned by the store; ignored when adding */
    int64_t at; /* Unix time, seconds */
    uid_t uid;
    pid_t pid; /* 0 when the change has no process behind it (start-up reconciliation) */
    const char *action;
    const char *subject;
    const char *detail;
};

/* Callbacks of store_load(), called in this order: every GPU, every instance, every grant,
 * every process. A callback returning < 0 stops the load with that value (and its err). */
struct store_load_ops {
    int (*gpu)(void *ctx, const struct store_gpu *g, struct mk_error *err);
    int (*instance)(void *ctx, const struct store_instance *in, struct mk_error *err);
    int (*grant)(void *ctx, const char *instance, uid_t uid, struct mk_error *err);
    int (*process)(void *ctx, const struct store_process *p, struct mk_error *err);
};

struct store;

/* Opens (creating when missing) the database at path and brings its schema to
 * STORE_SCHEMA_VERSION. A database from a newer migd is refused (-EPROTONOSUPPORT). */
int store_open(const char *path, struct store **ret, struct mk_error *err);
/* Closes the database. NULL is a no-op. */
void store_close(struct store *s);

/* Transactions: every change is made between store_begin() and store_commit(); on failure
 * the caller calls store_rollback(), which never fails in a way that matters (SQLite has
 * already rolled back when a statement fails inside a transaction it cannot keep). */
int store_begin(struct store *s, struct mk_error *err);
int store_commit(struct store *s, struct mk_error *err);
void store_rollback(struct store *s);

/* Inserts or replaces the GPU with g->idx. */
int store_gpu_put(struct store *s, const struct store_gpu *g, struct mk_error *err);
int store_instance_insert(struct store *s, const struct store_instance *in, struct mk_error *err);
int store_instance_set_quota(struct store *s, const char *uuid, uint64_t quota_bytes,
                             struct mk_error *err);
/* Deletes the instance and (ON DELETE CASCADE) its grants and processes. */
int store_instance_delete(struct store *s, const char *uuid, struct mk_error *err);
int store_grant_insert(struct store *s, const char *instance, uid_t uid, struct mk_error *err);
int store_grant_delete(struct store *s, const char *instance, uid_t uid, struct mk_error *err);
int store_process_insert(struct store *s, const struct store_process *p, struct mk_error *err);
int store_process_delete(struct store *s, pid_t pid, uint64_t start_time, struct mk_error *err);
/* Appends an event; returns its id (> 0) or -errno. */
int64_t store_event_add(struct store *s, const struct store_event *e, struct mk_error *err);

/* The desired configuration (docs/migd.md "Desired configuration"): the one row of table
 * desired, a mig-parted YAML text and the label selected in it. put inserts or replaces it
 * and delete removes it (inside a transaction, like every change). get returns copies the
 * caller frees with mk__free; get and delete return -ENOENT when none is recorded. None of
 * them checks the text: the API does. */
int store_desired_put(struct store *s, const char *config, const char *label, struct mk_error *err);
int store_desired_get(struct store *s, char **ret_config, char **ret_label, struct mk_error *err);
int store_desired_delete(struct store *s, struct mk_error *err);

/* Reads the whole state through ops (see struct store_load_ops). */
int store_load(struct store *s, const struct store_load_ops *ops, void *ctx, struct mk_error *err);

/* Calls cb for events with id > since, oldest first, at most limit of them; when uid is not
 * (uid_t)-1 only events caused by that uid. The event's strings are valid during the call.
 * Returns the number of events passed to cb, or -errno. */
int store_events(struct store *s, int64_t since, int limit, uid_t uid,
                 int (*cb)(void *ctx, const struct store_event *e), void *ctx,
                 struct mk_error *err);

#endif /* MIGD_STORE_H */

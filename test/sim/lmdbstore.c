/* The sim store on lib/storage (LMDB in a temp directory, fsync off: the simulator's crashes
 * are logical, so durability against power loss is not what is being tested here). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/util.h"
#include "storage/storage.h"
#include "store.h"

struct lmdb_store {
    struct sim_store base;
    struct storage *st;
    char *dir;
};

static struct storage *st(struct sim_store *s) { return ((struct lmdb_store *)s)->st; }

static void die(const char *what, const char *err)
{
    fprintf(stderr, "sim lmdb store: %s: %s\n", what, err);
    abort();
}

static struct raft_storage l_reader(struct sim_store *s) { return storage_reader(st(s)); }

static void l_load(struct sim_store *s, struct raft_init *init)
{
    char err[256];
    if (storage_load(st(s), init, err, sizeof err) != 0)
        die("load", err);
}

static void l_save(struct sim_store *s, const struct raft_ready *rd)
{
    char err[256];
    if (storage_save(st(s), rd, err, sizeof err) != 0)
        die("save", err);
}

static void l_compact(struct sim_store *s, uint64_t index, uint64_t term, const uint8_t *data,
                      size_t len)
{
    char err[256];
    if (storage_compact(st(s), index, term, data, len, err, sizeof err) != 0)
        die("compact", err);
}

static void l_snapshot(struct sim_store *s, struct raft_snapshot_meta *meta, uint8_t **data,
                       size_t *len)
{
    if (storage_snapshot(st(s), meta, data, len) != 0)
        die("snapshot", "read failed");
}

static size_t l_size(struct sim_store *s) { return storage_raft_state_size(st(s)); }

static void l_open(struct lmdb_store *l, bool replace)
{
    struct storage_opts o;
    storage_opts_default(&o);
    o.sync = false;
    o.map_size = 1u << 20; /* small, so the tests also exercise growing a full map */
    o.replace = replace;
    char err[512];
    if (storage_open(l->dir, &o, &l->st, err, sizeof err) != 0)
        die("open", err);
}

/* Through lib/storage's real paths: data.mdb alone deleted and reopened as a replacement, or
 * the whole directory deleted and reopened as new (a first start). */
static void l_wipe(struct sim_store *s, bool recover)
{
    struct lmdb_store *l = (struct lmdb_store *)s;
    storage_close(l->st);
    l->st = NULL;
    static const char *const files[] = { "data.mdb", "lock.mdb", "LOCK", "MEMBER" };
    for (size_t i = 0; i < (recover ? 1 : ARRAY_LEN(files)); i++) {
        char *path = xasprintf("%s/%s", l->dir, files[i]);
        if (unlink(path) != 0)
            die("wipe", path);
        free(path);
    }
    l_open(l, recover);
}

static void l_destroy(struct sim_store *s)
{
    storage_close(st(s));
    free(((struct lmdb_store *)s)->dir);
    free(s);
}

static const struct sim_store_ops lmdb_ops = {
    l_reader, l_load, l_save, l_compact, l_snapshot, l_size, l_wipe, l_destroy,
};

struct sim_store *sim_lmdb_store_new(const char *dir)
{
    struct lmdb_store *l = xcalloc(1, sizeof *l);
    l->dir = xstrdup(dir);
    l_open(l, false);
    l->base.ops = &lmdb_ops;
    return &l->base;
}

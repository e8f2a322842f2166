/* The sim store on lib/storage (LMDB in a temp directory, fsync off: the simulator's crashes
 * are logical, so durability against power loss is not what is being tested here). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/util.h"
#include "storage/storage.h"
#include "store.h"

struct lmdb_store {
    struct sim_store sim;
    struct storage *st;
    char *dir;
};

static void die(const char *what, const char *err)
{
    fprintf(stderr, "sim lmdb store: %s: %s\n", what, err);
    abort();
}

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
    l->sim.store = storage_store(l->st);
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
    struct lmdb_store *l = (struct lmdb_store *)s;
    storage_close(l->st);
    free(l->dir);
    free(l);
}

struct sim_store *sim_lmdb_store_new(const char *dir)
{
    struct lmdb_store *l = xcalloc(1, sizeof *l);
    l->dir = xstrdup(dir);
    l->sim.wipe = l_wipe;
    l->sim.destroy = l_destroy;
    l_open(l, false);
    return &l->sim;
}

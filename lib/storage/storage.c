#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/util.h"
#include "storage/internal.h"

#define FORMAT "raftkv-storage-2"     /* the snapshot in chunks (snapshot.c) */
#define FORMAT_V1 "raftkv-storage-1"  /* the snapshot as one record: migrated at open */
#define ENTRY_HEADER 12u   /* term (8) + type (4), before the data */
#define KEY_SIZE 8u
#define HARD_STATE_SIZE 20u
#define RECOVERY_SIZE 9u   /* "recovery" record: recovering (1) + recover_term (8) */
#define MARKER "MEMBER"    /* written next to every store: its absence with data.mdb gone ... */
#define MARKER_TEXT "This directory holds a raftkv Raft store (data.mdb, lock.mdb).\n" \
    "If data.mdb is lost, restart the node as a replacement member\n" \
    "(kvd/raftd: --initial-cluster-state existing), never as a new one.\n"


void storage_opts_default(struct storage_opts *o)
{
    o->sync = true;
    o->map_size = 64u << 20;
    o->replace = false;
    o->max_map_size = 0;
    o->background_write_rate = 100000000;
    o->planted_late_sync = false;
}

/* ---- encoding -------------------------------------------------------------------------------- */

static MDB_val str_key(const char *k) { return (MDB_val){ strlen(k), (void *)k }; }

static size_t entry_cost(size_t value_size) { return KEY_SIZE + value_size; }

/* ---- open / close ---------------------------------------------------------------------------- */

static bool is_corruption(int rc)
{
    return rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_VERSION_MISMATCH ||
           rc == MDB_PANIC || rc == MDB_PAGE_NOTFOUND;
}

/* Walks the whole log once at open: sums its stored size and checks every record's shape
 * (8-byte consecutive keys, values holding at least the header, terms never decreasing), so a
 * damaged page is reported now rather than as a failed read later. */
static int scan_log(struct storage *s, MDB_txn *txn)
{
    MDB_cursor *c;
    if (mdb_cursor_open(txn, s->log, &c) != 0)
        return -1;
    MDB_val k, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    uint64_t prev_index = 0, prev_term = 0;
    bool first = true;
    s->log_bytes = 0;
    while (rc == 0) {
        if (k.mv_size != KEY_SIZE || v.mv_size < ENTRY_HEADER)
            break;
        uint64_t index = be64_get(k.mv_data), term = be64_get(v.mv_data);
        if ((!first && index != prev_index + 1) || term < prev_term)
            break;
        first = false;
        prev_index = index;
        prev_term = term;
        s->log_bytes += entry_cost(v.mv_size);
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : -1;
}

static int put_recovery(struct storage *s, MDB_txn *txn, bool recovering, uint64_t term);

/* Opens the three databases and checks (or, in a new store, writes) the format marker; a new
 * store is marked recovering when `recovering` (a replacement for a lost one). *legacy: the
 * store is of the format before (migrate_v1 converts it). */
static int open_dbs(struct storage *s, bool recovering, bool *legacy, char *err, size_t errlen)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0)
        return errorf(err, errlen, "%s: cannot begin a transaction: %s", s->dir, mdb_strerror(rc));
    if ((rc = mdb_dbi_open(txn, "log", MDB_CREATE, &s->log)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) != 0 ||
        (rc = mdb_dbi_open(txn, "snapshot", MDB_CREATE, &s->snap)) != 0) {
        mdb_txn_abort(txn);
        return errorf(err, errlen, "%s: corrupted data directory: %s", s->dir, mdb_strerror(rc));
    }
    MDB_val key = str_key("format"), val;
    rc = mdb_get(txn, s->meta, &key, &val);
    *legacy = rc == 0 && val.mv_size == strlen(FORMAT_V1) &&
              memcmp(val.mv_data, FORMAT_V1, val.mv_size) == 0;
    if (rc == MDB_NOTFOUND) {
        MDB_stat st;
        mdb_stat(txn, s->log, &st);
        size_t entries = st.ms_entries;
        mdb_stat(txn, s->meta, &st);
        if (entries > 0 || st.ms_entries > 0) {
            mdb_txn_abort(txn);
            return errorf(err, errlen, "%s: corrupted data directory: format marker missing", s->dir);
        }
        MDB_val fv = str_key(FORMAT);
        rc = mdb_put(txn, s->meta, &key, &fv, 0);
        if (rc == 0 && recovering)
            rc = put_recovery(s, txn, true, 0);
    } else if (rc == 0 && !*legacy &&
               (val.mv_size != strlen(FORMAT) || memcmp(val.mv_data, FORMAT, val.mv_size))) {
        mdb_txn_abort(txn);
        return errorf(err, errlen, "%s: not a data directory of this version (format '%.*s')", s->dir,
                      (int)MIN(val.mv_size, 40), (const char *)val.mv_data);
    }
    if (rc == 0 && scan_log(s, txn) != 0)
        rc = MDB_CORRUPTED;
    if (rc == 0 && !*legacy)
        rc = snap_open(s, txn);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return errorf(err, errlen, "%s: corrupted data directory: %s", s->dir, mdb_strerror(rc));
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0)
        return errorf(err, errlen, "%s: cannot commit: %s", s->dir, mdb_strerror(rc));
    return 0;
}

/* ---- data.mdb before LMDB maps it ----------------------------------------------------------
 *
 * LMDB maps data.mdb and follows page numbers into the mapping: a page past the end of a
 * truncated file is a SIGBUS, not an error. So the file is checked against its own meta pages
 * first. LMDB 0.9's layout (mdb.c: MDB_page, MDB_meta, MDB_db), native byte order, 64-bit:
 * pages 0 and 1 are meta pages; each page starts with a 16-byte header (mp_pgno u64, mp_pad u16,
 * mp_flags u16 with P_META = 0x08, mp_lower u16, mp_upper u16); an MDB_meta follows: mm_magic
 * u32 (0xBEEFC0DE), mm_version u32 (1), mm_address (pointer), mm_mapsize (size_t), mm_dbs[2]
 * (FREE, MAIN: 48 bytes each, md_pad u32 first, which for FREE is the page size), mm_last_pg
 * u64, mm_txnid u64. LMDB uses the valid meta with the larger txnid; its tree uses pages up to
 * mm_last_pg, so the file must hold (mm_last_pg + 1) pages. */
#define LMDB_PAGE_HEADER 16u
#define LMDB_P_META 0x08u
#define LMDB_MAGIC 0xBEEFC0DEu
#define LMDB_VERSION 1u
#define LMDB_META_PSIZE (LMDB_PAGE_HEADER + 24u)     /* mm_dbs[FREE].md_pad */
#define LMDB_META_LAST_PG (LMDB_PAGE_HEADER + 120u)
#define LMDB_META_TXNID (LMDB_PAGE_HEADER + 128u)
#define LMDB_META_SIZE (LMDB_PAGE_HEADER + 136u)     /* header + MDB_meta */

_Static_assert(sizeof(void *) == 8 && sizeof(size_t) == 8,
               "the LMDB meta page offsets below are those of 64-bit platforms");

struct lmdb_meta {
    uint32_t psize;
    uint64_t last_pg, txnid;
};

/* Parses the meta page in buf (LMDB_META_SIZE bytes); returns false when it is not one. */
static bool parse_meta(const uint8_t *buf, struct lmdb_meta *m)
{
    uint16_t flags;
    uint32_t magic, version;
    memcpy(&flags, buf + 10, 2);
    memcpy(&magic, buf + LMDB_PAGE_HEADER, 4);
    memcpy(&version, buf + LMDB_PAGE_HEADER + 4, 4);
    memcpy(&m->psize, buf + LMDB_META_PSIZE, 4);
    memcpy(&m->last_pg, buf + LMDB_META_LAST_PG, 8);
    memcpy(&m->txnid, buf + LMDB_META_TXNID, 8);
    return (flags & LMDB_P_META) && magic == LMDB_MAGIC && version == LMDB_VERSION;
}

/* Checks a non-empty data.mdb of `size` bytes against its meta pages, without mapping it. */
static int check_data_file(const char *path, int fd, uint64_t size, char *err, size_t errlen)
{
    uint8_t buf[LMDB_META_SIZE];
    struct lmdb_meta m[2];
    if (size < LMDB_META_SIZE || pread(fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf)
        return errorf(err, errlen, "%s: corrupted data directory: %llu bytes, shorter than one LMDB "
                      "meta page", path, (unsigned long long)size);
    if (!parse_meta(buf, &m[0]))
        return errorf(err, errlen, "%s: corrupted data directory: page 0 is not an LMDB meta page",
                      path);
    uint32_t ps = m[0].psize;
    if (ps < 512 || ps > 65536 || (ps & (ps - 1)) != 0)
        return errorf(err, errlen, "%s: corrupted data directory: meta page 0 gives a page size of %u",
                      path, ps);
    if (size < 2ull * ps || pread(fd, buf, sizeof buf, ps) != (ssize_t)sizeof buf)
        return errorf(err, errlen, "%s: corrupted data directory: %llu bytes, shorter than its two meta "
                      "pages (%u bytes each)", path, (unsigned long long)size, ps);
    if (!parse_meta(buf, &m[1]))
        return errorf(err, errlen, "%s: corrupted data directory: page 1 is not an LMDB meta page",
                      path);
    const struct lmdb_meta *live = m[1].txnid > m[0].txnid ? &m[1] : &m[0];
    uint64_t pages = size / ps;
    if (live->last_pg >= pages) {
        uint64_t need = live->last_pg < UINT64_MAX / ps ? (live->last_pg + 1) * ps : UINT64_MAX;
        return errorf(err, errlen, "%s: corrupted data directory: it is %llu bytes, but its meta page "
                      "(transaction %llu) uses pages up to %llu of %u bytes, i.e. requires %llu "
                      "bytes: the file was truncated", path, (unsigned long long)size,
                      (unsigned long long)live->txnid, (unsigned long long)live->last_pg, ps,
                      (unsigned long long)need);
    }
    return 0;
}

static bool path_exists(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* What the directory holds, before LMDB touches it: an intact-looking store (checked against
 * its meta pages), nothing at all (a first start), or the traces of a store that is gone. */
enum dir_state { DIR_STORE, DIR_FRESH, DIR_LOST };

static int classify_dir(const char *dir, enum dir_state *state, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT)
        return errorf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    struct stat st = { 0 };
    if (fd >= 0 && fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return errorf(err, errlen, "%s: cannot stat: %s", path, strerror(e));
    }
    if (fd >= 0 && st.st_size > 0) {
        int rc = check_data_file(path, fd, (uint64_t)st.st_size, err, errlen);
        close(fd);
        *state = DIR_STORE;
        return rc;
    }
    if (fd >= 0)
        close(fd);
    /* Without data.mdb's contents, the marker tells a lost store from a first start: it is
     * written (durably) only after the store's first durable commit, so a directory without it
     * never held anything this node promised. An empty data.mdb and lock.mdb without the
     * marker are a first start cut short (a power cut before LMDB's first fsync loses the meta
     * pages it wrote when it made the file): a first start again, not a lost store forever. */
    *state = path_exists(dir, MARKER) ? DIR_LOST : DIR_FRESH;
    return 0;
}

bool storage_present(const char *dir)
{
    enum dir_state state;
    char err[64];
    return classify_dir(dir, &state, err, sizeof err) != 0 || state != DIR_FRESH;
}

/* Writes the marker next to a store (once; durably when sync is on). */
static int write_marker(const char *dir, bool sync, char *err, size_t errlen)
{
    if (path_exists(dir, MARKER))
        return 0;
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, MARKER);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t len = strlen(MARKER_TEXT);
    bool ok = fd >= 0 && write(fd, MARKER_TEXT, len) == (ssize_t)len && (!sync || fsync(fd) == 0);
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        e = errno;
    }
    if (ok && sync) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    if (!ok)
        return errorf(err, errlen, "%s: cannot write the marker file: %s", path, strerror(e));
    return 0;
}

static const struct store_ops lmdb_store_ops;
static int migrate_v1(struct storage *s, char *err, size_t errlen);

int storage_open(const char *dir, const struct storage_opts *o, struct storage **out, char *err,
                 size_t errlen)
{
    struct storage_opts def;
    if (!o) {
        storage_opts_default(&def);
        o = &def;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return errorf(err, errlen, "%s: cannot create data directory: %s", dir, strerror(errno));
    char lock_path[4096];
    snprintf(lock_path, sizeof lock_path, "%s/LOCK", dir);
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return errorf(err, errlen, "%s: cannot open lock file: %s", dir, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return errorf(err, errlen, "%s: data directory is in use by another process", dir);
    }
    enum dir_state state = DIR_FRESH;
    if (classify_dir(dir, &state, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    if (state == DIR_LOST && !o->replace) {
        close(fd);
        return errorf(err, errlen, "%s: the store is lost: data.mdb is missing or empty, but the "
                      "directory held one (its %s marker is there). Starting empty as a new member "
                      "could vote twice in a term and forget acknowledged data, so this is refused. "
                      "To rejoin as a replacement for the lost store, restart with "
                      "--initial-cluster-state existing (it catches up from the other members and "
                      "votes only once that is safe); if this node never was a member, empty the "
                      "directory", dir, MARKER);
    }
    struct storage *s = xcalloc(1, sizeof *s);
    s->iface.ops = &lmdb_store_ops;
    s->dir = xstrdup(dir);
    s->lock_fd = fd;
    s->map_size = o->map_size;
    s->max_map_size = o->max_map_size;
    s->sync = o->sync;
    s->late_sync = o->sync && o->planted_late_sync;
    s->background_write_rate = o->background_write_rate;
    int rc = mdb_env_create(&s->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(s->env, 4);
    if (rc == 0)
        rc = mdb_env_set_mapsize(s->env, s->map_size);
    if (rc == 0)
        rc = mdb_env_open(s->env, dir,
                          MDB_NOTLS | (o->sync && !s->late_sync ? 0 : MDB_NOSYNC), 0644);
    if (rc != 0) {
        if (is_corruption(rc))
            errorf(err, errlen, "%s: corrupted data directory: %s", dir, mdb_strerror(rc));
        else
            errorf(err, errlen, "%s: cannot open LMDB environment: %s", dir, mdb_strerror(rc));
        storage_close(s);
        return -1;
    }
    /* The map may be larger than asked (an earlier run grew it). */
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    s->map_size = info.me_mapsize;
    bool legacy = false;
    if (open_dbs(s, o->replace && state != DIR_STORE, &legacy, err, errlen) != 0 ||
        (legacy && migrate_v1(s, err, errlen) != 0) ||
        write_marker(dir, o->sync, err, errlen) != 0) {
        storage_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

void storage_close(struct storage *s)
{
    if (!s)
        return;
    bg_kill(s);
    if (s->env)
        mdb_env_close(s->env);
    close(s->lock_fd);
    free(s->dir);
    free(s->loaded_conf);
    free(s);
}

/* ---- load ------------------------------------------------------------------------------------ */

int storage_load(struct storage *s, struct raft_init *init, char *err, size_t errlen)
{
    memset(init, 0, sizeof *init);
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return errorf(err, errlen, "%s: cannot read: %s", s->dir, mdb_strerror(rc));
    MDB_val key = str_key("hard"), v;
    if (mdb_get(txn, s->meta, &key, &v) == 0) {
        if (v.mv_size != HARD_STATE_SIZE)
            goto corrupt;
        init->hard_state.term = be64_get(v.mv_data);
        init->hard_state.vote = be32_get((uint8_t *)v.mv_data + 8);
        init->hard_state.commit = be64_get((uint8_t *)v.mv_data + 12);
        s->saved_term = init->hard_state.term;
        s->saved_vote = init->hard_state.vote;
        s->saved_commit = init->hard_state.commit;
    }
    key = str_key("recovery");
    if (mdb_get(txn, s->meta, &key, &v) == 0) {
        if (v.mv_size != RECOVERY_SIZE || ((const uint8_t *)v.mv_data)[0] > 1)
            goto corrupt;
        init->hard_state.recovering = ((const uint8_t *)v.mv_data)[0] == 1;
        init->hard_state.recover_term = be64_get((const uint8_t *)v.mv_data + 1);
        s->saved_recovering = init->hard_state.recovering;
        s->saved_recover_term = init->hard_state.recover_term;
    }
    key = str_key("conf");
    if (mdb_get(txn, s->meta, &key, &v) == 0) { /* the core parses it (raft_new checks it) */
        free(s->loaded_conf);
        s->loaded_conf = xmalloc(v.mv_size ? v.mv_size : 1);
        memcpy(s->loaded_conf, v.mv_data, v.mv_size);
        init->conf = s->loaded_conf;
        init->conf_len = v.mv_size;
    }
    struct snap_meta sm;
    rc = snap_meta_get(s, txn, &sm);
    if (rc != 0 && rc != MDB_NOTFOUND)
        goto corrupt;
    init->snapshot.index = sm.index;
    init->snapshot.term = sm.term;
    MDB_stat st;
    mdb_stat(txn, s->log, &st);
    init->last_index = init->snapshot.index;
    if (st.ms_entries > 0) {
        MDB_cursor *c;
        mdb_cursor_open(txn, s->log, &c);
        MDB_val k1, k2, v1;
        int r1 = mdb_cursor_get(c, &k1, &v1, MDB_FIRST);
        int r2 = mdb_cursor_get(c, &k2, &v1, MDB_LAST);
        mdb_cursor_close(c);
        if (r1 || r2 || k1.mv_size != KEY_SIZE || k2.mv_size != KEY_SIZE)
            goto corrupt;
        uint64_t first = be64_get(k1.mv_data), last = be64_get(k2.mv_data);
        /* The log must start right after the snapshot and have no holes. */
        if (first != init->snapshot.index + 1 || last - first + 1 != st.ms_entries) {
            mdb_txn_abort(txn);
            return errorf(err, errlen, "%s: corrupted data directory: log holds %zu entries from %llu "
                          "to %llu after a snapshot at %llu", s->dir, (size_t)st.ms_entries,
                          (unsigned long long)first, (unsigned long long)last,
                          (unsigned long long)init->snapshot.index);
        }
        init->last_index = last;
    }
    if (init->hard_state.commit > init->last_index) {
        mdb_txn_abort(txn);
        return errorf(err, errlen, "%s: corrupted data directory: commit index %llu beyond the log "
                      "(last index %llu)", s->dir,
                      (unsigned long long)init->hard_state.commit,
                      (unsigned long long)init->last_index);
    }
    mdb_txn_abort(txn);
    return 0;
corrupt:
    mdb_txn_abort(txn);
    return errorf(err, errlen, "%s: corrupted data directory: malformed record", s->dir);
}

/* ---- reads for the core ---------------------------------------------------------------------- */

static int get_entry(MDB_txn *txn, MDB_dbi dbi, uint64_t index, MDB_val *v)
{
    uint8_t kb[KEY_SIZE];
    be64_put(kb, index);
    MDB_val k = { KEY_SIZE, kb };
    if (mdb_get(txn, dbi, &k, v) != 0 || v->mv_size < ENTRY_HEADER)
        return -1;
    return 0;
}

static int read_term(void *ctx, uint64_t index, uint64_t *term)
{
    struct storage *s = ctx;
    MDB_txn *txn;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
        return -1;
    MDB_val v;
    int rc = get_entry(txn, s->log, index, &v);
    if (rc == 0)
        *term = be64_get(v.mv_data);
    struct snap_meta sm;
    if (rc != 0 && snap_meta_get(s, txn, &sm) == 0 && sm.index == index) {
        *term = sm.term; /* the last entry a snapshot covers keeps its term (storage_reader) */
        rc = 0;
    }
    mdb_txn_abort(txn);
    return rc;
}

static int read_entries(void *ctx, uint64_t lo, uint64_t hi, size_t max_bytes,
                        struct raft_entry *out, size_t *n)
{
    struct storage *s = ctx;
    MDB_txn *txn;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
        return -1;
    MDB_cursor *c;
    mdb_cursor_open(txn, s->log, &c);
    uint8_t kb[KEY_SIZE];
    be64_put(kb, lo);
    MDB_val k = { KEY_SIZE, kb }, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
    size_t count = 0, bytes = 0;
    for (uint64_t i = lo; i <= hi; i++) {
        if (rc != 0 || k.mv_size != KEY_SIZE || be64_get(k.mv_data) != i || v.mv_size < ENTRY_HEADER) {
            raft_entries_free(out, count);
            count = 0;
            rc = -1;
            break;
        }
        size_t len = v.mv_size - ENTRY_HEADER;
        if (count > 0 && bytes + len > max_bytes)
            break;
        const uint8_t *p = v.mv_data;
        out[count] = (struct raft_entry){ be64_get(p), i, be32_get(p + 8), xmalloc(len ? len : 1), len };
        memcpy(out[count].data, p + ENTRY_HEADER, len);
        bytes += len;
        count++;
        rc = i < hi ? mdb_cursor_get(c, &k, &v, MDB_NEXT) : 0;
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    *n = count;
    return rc == 0 ? 0 : -1;
}

static int read_snapshot(void *ctx, uint64_t offset, uint8_t *buf, size_t cap, size_t *n,
                         uint64_t *total, struct raft_snapshot_meta *meta)
{
    struct storage *s = ctx;
    MDB_txn *txn;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
        return -1;
    struct snap_meta sm;
    int rc = snap_meta_get(s, txn, &sm);
    if (rc == 0)
        rc = snap_read(s, txn, &sm, offset, buf, cap, n);
    mdb_txn_abort(txn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return -1;
    *meta = (struct raft_snapshot_meta){ .index = sm.index, .term = sm.term };
    *total = sm.len;
    if (rc == MDB_NOTFOUND)
        *n = 0;
    return 0;
}

struct raft_storage storage_reader(struct storage *s)
{
    return (struct raft_storage){ s, read_term, read_entries, read_snapshot };
}

int storage_snapshot(struct storage *s, struct raft_snapshot_meta *meta, uint8_t **data,
                     size_t *len)
{
    uint64_t total;
    size_t n;
    uint8_t probe;
    if (read_snapshot(s, 0, &probe, 0, &n, &total, meta) != 0)
        return -1;
    *data = NULL;
    *len = 0;
    if (meta->index == 0)
        return 0;
    *data = xmalloc(total ? total : 1);
    if (read_snapshot(s, 0, *data, total, &n, &total, meta) != 0) {
        free(*data);
        return -1;
    }
    *len = n;
    return 0;
}

/* ---- writes ---------------------------------------------------------------------------------- */

int storage_del_next(MDB_cursor *c, MDB_val *k, MDB_val *v)
{
    int rc = mdb_cursor_del(c, 0);
    if (rc != 0)
        return rc;
    rc = mdb_cursor_get(c, k, v, MDB_GET_CURRENT);
    if (rc == MDB_NOTFOUND || rc == EINVAL)
        rc = mdb_cursor_get(c, k, v, MDB_NEXT);
    return rc;
}

/* Deletes log entries with index >= from (or <= to, when upto), tracking log_bytes. */
static int delete_range(struct storage *s, MDB_txn *txn, uint64_t bound, bool upto, size_t *freed)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->log, &c);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    if (upto) {
        rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        while (rc == 0 && be64_get(k.mv_data) <= bound) {
            *freed += entry_cost(v.mv_size);
            if ((rc = mdb_cursor_del(c, 0)) != 0)
                break;
            rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
            if (rc == MDB_NOTFOUND || rc == EINVAL)
                rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        }
    } else {
        uint8_t kb[KEY_SIZE];
        be64_put(kb, bound);
        k = (MDB_val){ KEY_SIZE, kb };
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        while (rc == 0) {
            *freed += entry_cost(v.mv_size);
            rc = storage_del_next(c, &k, &v);
        }
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int put_hard_state(struct storage *s, MDB_txn *txn, uint64_t term, uint32_t vote,
                          uint64_t commit)
{
    uint8_t hb[HARD_STATE_SIZE];
    be64_put(hb, term);
    be32_put(hb + 8, vote);
    be64_put(hb + 12, commit);
    MDB_val k = str_key("hard"), v = { HARD_STATE_SIZE, hb };
    return mdb_put(txn, s->meta, &k, &v, 0);
}

/* The recovery record, beside the hard state (so that the hard state keeps its size, and a
 * store written before recovery existed reads as not recovering). */
static int put_recovery(struct storage *s, MDB_txn *txn, bool recovering, uint64_t term)
{
    uint8_t b[RECOVERY_SIZE];
    b[0] = recovering ? 1 : 0;
    be64_put(b + 1, term);
    MDB_val k = str_key("recovery"), v = { RECOVERY_SIZE, b };
    return mdb_put(txn, s->meta, &k, &v, 0);
}

static bool recovery_changed(const struct storage *s, const struct raft_hard_state *hs)
{
    return hs->recovering != s->saved_recovering || hs->recover_term != s->saved_recover_term;
}

struct write_op {
    const struct raft_ready *rd;                           /* save */
    uint64_t index, term; const uint8_t *data; size_t len; /* compact (a snapshot) */
    store_write_fn write; void *write_arg;                 /* compact_fill: data is NULL */
    size_t log_bytes, snapshot_len; uint64_t snap_gen;     /* results, applied on commit */
};

/* Makes the snapshot stored as gen's chunks (op's index, term, len) the current one and
 * deletes the previous one's chunks. */
static int snap_adopt(struct storage *s, MDB_txn *txn, struct write_op *op, uint64_t gen)
{
    struct snap_meta m = { op->index, op->term, gen, op->len };
    int rc = snap_meta_put(s, txn, &m);
    if (rc == 0 && s->snap_gen != gen)
        rc = snap_drop(s, txn, s->snap_gen);
    op->snap_gen = gen;
    op->snapshot_len = op->len;
    return rc;
}

/* Stores a snapshot under a new generation and makes it current, deleting the one before:
 * its data from op's buffer or writer. The generation and size take effect on commit. */
static int put_snapshot(struct storage *s, MDB_txn *txn, struct write_op *op)
{
    uint64_t gen = s->next_gen;
    int rc = op->write ? snap_put_written(s, txn, gen, op->len, op->write, op->write_arg)
                       : snap_put(s, txn, gen, op->data, op->len);
    return rc ?: snap_adopt(s, txn, op, gen);
}

static int do_save(struct storage *s, MDB_txn *txn, struct write_op *op)
{
    const struct raft_ready *rd = op->rd;
    int rc = 0;
    size_t freed = 0, added = 0;
    if (rd->has_snapshot) {
        if ((rc = mdb_drop(txn, s->log, 0)) != 0)
            return rc;
        freed = op->log_bytes;
        op->index = rd->snapshot.index;
        op->term = rd->snapshot.term;
        op->data = rd->snapshot_data;
        op->len = rd->snapshot_len;
        if ((rc = put_snapshot(s, txn, op)) != 0)
            return rc;
    }
    if (rd->n_entries > 0) {
        if ((rc = delete_range(s, txn, rd->entries[0].index, false, &freed)) != 0)
            return rc;
        for (size_t i = 0; i < rd->n_entries; i++) {
            const struct raft_entry *e = &rd->entries[i];
            uint8_t kb[KEY_SIZE];
            be64_put(kb, e->index);
            MDB_val k = { KEY_SIZE, kb }, v = { ENTRY_HEADER + e->len, NULL };
            if ((rc = mdb_put(txn, s->log, &k, &v, MDB_RESERVE | MDB_APPEND)) != 0)
                return rc;
            uint8_t *p = v.mv_data;
            be64_put(p, e->term);
            be32_put(p + 8, e->type);
            if (e->len)
                memcpy(p + ENTRY_HEADER, e->data, e->len);
            added += entry_cost(ENTRY_HEADER + e->len);
        }
    }
    if (rd->hard_state_changed &&
        (rc = put_hard_state(s, txn, rd->hard_state.term, rd->hard_state.vote,
                             rd->hard_state.commit)) != 0)
        return rc;
    if (rd->hard_state_changed && recovery_changed(s, &rd->hard_state) &&
        (rc = put_recovery(s, txn, rd->hard_state.recovering, rd->hard_state.recover_term)) != 0)
        return rc;
    if (rd->conf_changed) { /* the membership state, in the same transaction as its entries */
        MDB_val k = str_key("conf"), v = { rd->conf_len, (void *)rd->conf };
        if ((rc = mdb_put(txn, s->meta, &k, &v, 0)) != 0)
            return rc;
    }
    op->log_bytes = op->log_bytes - freed + added;
    return 0;
}

/* Drops the log up to the snapshot's index and keeps the stored commit index at least there
 * (a snapshot holds only committed state). */
static int drop_covered(struct storage *s, MDB_txn *txn, struct write_op *op)
{
    size_t freed = 0;
    int rc = delete_range(s, txn, op->index, true, &freed);
    if (rc == 0 && s->saved_commit < op->index)
        rc = put_hard_state(s, txn, s->saved_term, s->saved_vote, op->index);
    op->log_bytes -= freed;
    return rc;
}

static int do_compact(struct storage *s, MDB_txn *txn, struct write_op *op)
{
    return drop_covered(s, txn, op) ?: put_snapshot(s, txn, op);
}

/* The background writer's chunks (s->bg.gen) adopted (storage_compact_poll). */
static int do_adopt(struct storage *s, MDB_txn *txn, struct write_op *op)
{
    return drop_covered(s, txn, op) ?: snap_adopt(s, txn, op, s->bg.gen);
}

/* The background writer's chunks deleted: it failed, or a newer snapshot came first. */
static int do_drop_bg(struct storage *s, MDB_txn *txn, struct write_op *op)
{
    (void)op;
    return snap_drop(s, txn, s->bg.gen);
}

int storage_space(const struct storage *s, uint64_t *avail, uint64_t *reserve)
{
    struct statvfs v;
    if (statvfs(s->dir, &v) != 0)
        return -1;
    uint64_t total = (uint64_t)v.f_blocks * v.f_frsize;
    *avail = (uint64_t)v.f_bavail * v.f_frsize;
    *reserve = MAX((uint64_t)16 << 20, total / 100);
    return 0;
}

/* Whether a failed commit (rc) was for lack of room on the volume. ENOSPC and EDQUOT say so; a
 * short write, which LMDB reports as EIO ("short write, filesystem full?" in mdb_page_flush),
 * is taken as one when the volume is under its reserve now. Either way the failure must have
 * come before the meta page: LMDB aborts a commit whose data pages or fsync fail and keeps the
 * old state, but a failed meta write marks the environment fatally broken (MDB_FATAL_ERROR,
 * every later transaction MDB_PANIC), and that is no space problem to wait out. */
static bool failed_for_space(struct storage *s, int rc)
{
    uint64_t avail, reserve;
    if (rc == EIO)
        rc = storage_space(s, &avail, &reserve) == 0 && avail < reserve ? ENOSPC : EIO;
    if (rc != ENOSPC && rc != EDQUOT)
        return false;
    MDB_txn *probe;
    if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &probe) != 0)
        return false;
    mdb_txn_abort(probe);
    return true;
}

/* Runs one write transaction; when the map is full, grows it (up to max_map_size) and tries
 * again. Returns 0, STORAGE_NO_SPACE or STORAGE_ERR (with err); nothing changed on failure. */
static int run_write(struct storage *s, int (*fn)(struct storage *, MDB_txn *, struct write_op *),
                     struct write_op *op, char *err, size_t errlen)
{
    if (s->late_sync) /* the planted bug: the previous commit's fsync, one write late */
        mdb_env_sync(s->env, 1);
    for (;;) {
        op->log_bytes = s->log_bytes;
        op->snapshot_len = s->snapshot_len;
        op->snap_gen = s->snap_gen;
        MDB_txn *txn;
        int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (rc == 0) {
            rc = fn(s, txn, op);
            if (rc == 0)
                rc = mdb_txn_commit(txn);
            else
                mdb_txn_abort(txn);
        }
        if (rc == 0) {
            s->log_bytes = op->log_bytes;
            s->snapshot_len = op->snapshot_len;
            s->snap_gen = op->snap_gen;
            s->next_gen = MAX(s->next_gen, op->snap_gen + 1);
            return STORAGE_OK;
        }
        if (rc != MDB_MAP_FULL) {
            if (failed_for_space(s, rc)) {
                errorf(err, errlen, "%s: no space left on the data volume (%s)", s->dir,
                       mdb_strerror(rc));
                return STORAGE_NO_SPACE;
            }
            errorf(err, errlen, "%s: write failed: %s", s->dir, mdb_strerror(rc));
            return STORAGE_ERR;
        }
        if (s->max_map_size && s->map_size >= s->max_map_size) {
            errorf(err, errlen, "%s: no space left in the store: it reached its limit of %zu bytes",
                   s->dir, s->max_map_size);
            return STORAGE_NO_SPACE;
        }
        size_t bigger = s->map_size * 2;
        if (s->max_map_size)
            bigger = MIN(bigger, s->max_map_size);
        /* A failed remap leaves LMDB without a map at all: fatal, not a wait for space. */
        if (mdb_env_set_mapsize(s->env, bigger) != 0) {
            errorf(err, errlen, "%s: LMDB map full and cannot grow past %zu bytes", s->dir,
                   s->map_size);
            return STORAGE_ERR;
        }
        s->map_size = bigger;
    }
}

/* A store of the format before (its snapshot one record "data", meta "snap" its index and
 * term) converted at open, in one transaction: the snapshot rewritten as generation 1. */
static int do_migrate_v1(struct storage *s, MDB_txn *txn, struct write_op *op)
{
    MDB_val k = str_key("snap"), v, dk = str_key("data"), d = { 0, NULL };
    int rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0) {
        if (v.mv_size != 16)
            return MDB_CORRUPTED;
        struct snap_meta m = { be64_get(v.mv_data), be64_get((uint8_t *)v.mv_data + 8), 1, 0 };
        if ((rc = mdb_get(txn, s->snap, &dk, &d)) != 0 && rc != MDB_NOTFOUND)
            return rc;
        m.len = d.mv_size;
        /* The chunks first: "data"'s pages stay valid until it is deleted. */
        if ((rc = snap_put(s, txn, 1, d.mv_data, d.mv_size)) != 0 ||
            (rc = snap_meta_put(s, txn, &m)) != 0)
            return rc;
        if ((rc = mdb_del(txn, s->snap, &dk, NULL)) != 0 && rc != MDB_NOTFOUND)
            return rc;
    } else if (rc != MDB_NOTFOUND) {
        return rc;
    }
    MDB_val fk = str_key("format"), fv = str_key(FORMAT);
    if ((rc = mdb_put(txn, s->meta, &fk, &fv, 0)) != 0 || (rc = snap_open(s, txn)) != 0)
        return rc;
    op->snap_gen = s->snap_gen;
    op->snapshot_len = s->snapshot_len;
    return 0;
}

static int migrate_v1(struct storage *s, char *err, size_t errlen)
{
    struct write_op op = { 0 };
    char why[512];
    if (run_write(s, do_migrate_v1, &op, why, sizeof why) == 0)
        return 0;
    return errorf(err, errlen, "%s: cannot convert the store from format %s: %s", s->dir,
                  FORMAT_V1, why);
}

/* Whether a ready carries anything that must be stored now. A ready that moves only the commit
 * index is not written at all: the index rides along with the next durable write (or the one at
 * shutdown, storage_save_commit), and a node that lost it relearns it from the leader. Writing
 * it without fsync instead would be unsafe: LMDB orders its data pages before its meta page only
 * through the fsync between them, so a power loss during a later flush could leave the meta of
 * an unsynced transaction pointing at pages that never reached the disk. */
static bool must_store(const struct storage *s, const struct raft_ready *rd)
{
    return rd->has_snapshot || rd->n_entries > 0 || rd->conf_changed ||
           (rd->hard_state_changed &&
            (rd->hard_state.term != s->saved_term || rd->hard_state.vote != s->saved_vote ||
             recovery_changed(s, &rd->hard_state)));
}

int storage_save(struct storage *s, const struct raft_ready *rd, char *err, size_t errlen)
{
    if (!must_store(s, rd))
        return 0;
    struct write_op op = { .rd = rd };
    int rc = run_write(s, do_save, &op, err, errlen);
    if (rc != 0)
        return rc;
    if (rd->hard_state_changed) {
        s->saved_term = rd->hard_state.term;
        s->saved_vote = rd->hard_state.vote;
        s->saved_commit = rd->hard_state.commit;
        s->saved_recovering = rd->hard_state.recovering;
        s->saved_recover_term = rd->hard_state.recover_term;
    }
    return 0;
}

static int do_save_commit(struct storage *s, MDB_txn *txn, struct write_op *op)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, s->log, &c);
    if (rc != 0)
        return rc;
    MDB_val k, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    /* Never past the stored log (a follower's commit may cover entries still unstored). */
    uint64_t last = rc == 0 ? be64_get(k.mv_data) : 0;
    if (rc == MDB_NOTFOUND) { /* an empty log: the snapshot is all there is */
        struct snap_meta sm;
        rc = snap_meta_get(s, txn, &sm);
        if (rc != 0 && rc != MDB_NOTFOUND)
            return rc;
        last = sm.index;
    }
    op->index = MIN(op->index, last);
    return put_hard_state(s, txn, s->saved_term, s->saved_vote, op->index);
}

int storage_save_commit(struct storage *s, uint64_t commit, char *err, size_t errlen)
{
    if (commit <= s->saved_commit)
        return 0;
    struct write_op op = { .index = commit };
    int rc = run_write(s, do_save_commit, &op, err, errlen);
    if (rc != 0)
        return rc;
    s->saved_commit = MAX(s->saved_commit, op.index);
    return 0;
}

/* Refuses a snapshot at op->index that would not advance the stored one. */
static int check_advances(struct storage *s, uint64_t index, char *err, size_t errlen)
{
    struct raft_snapshot_meta cur;
    uint64_t total;
    size_t n;
    uint8_t probe;
    if (read_snapshot(s, 0, &probe, 0, &n, &total, &cur) != 0)
        return errorf(err, errlen, "%s: cannot read the snapshot metadata", s->dir);
    if (index <= cur.index)
        return errorf(err, errlen, "%s: snapshot at %llu would not advance the one at %llu",
                      s->dir, (unsigned long long)index, (unsigned long long)cur.index);
    return 0;
}

static int compact(struct storage *s, struct write_op *op, char *err, size_t errlen)
{
    if (check_advances(s, op->index, err, errlen) != 0)
        return STORAGE_ERR;
    int rc = run_write(s, do_compact, op, err, errlen);
    if (rc != 0)
        return rc;
    s->saved_commit = MAX(s->saved_commit, op->index);
    return 0;
}

int storage_compact(struct storage *s, uint64_t index, uint64_t term, const uint8_t *data,
                    size_t len, char *err, size_t errlen)
{
    struct write_op op = { .index = index, .term = term, .data = data, .len = len };
    return compact(s, &op, err, errlen);
}

int storage_compact_fill(struct storage *s, uint64_t index, uint64_t term, size_t len,
                         store_write_fn write, void *arg, char *err, size_t errlen)
{
    struct write_op op = { .index = index, .term = term, .len = len, .write = write,
                           .write_arg = arg };
    return compact(s, &op, err, errlen);
}

/* Grows the map, before a fork, so that the child finds room for len more bytes (it never
 * grows the map itself: the parent would then have to remap under its own transactions). The
 * pages in use now are counted as if none were free: a bound, not an estimate. */
static int room_for(struct storage *s, size_t len, char *err, size_t errlen)
{
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0)
        return errorf(err, errlen, "%s: cannot read the map's use", s->dir);
    size_t need = (info.me_last_pgno + 1) * (size_t)st.ms_psize + len + len / 8 + (32u << 20);
    if (s->map_size >= need)
        return 0;
    size_t bigger = MAX(need, s->map_size * 2);
    if (s->max_map_size && bigger > s->max_map_size) {
        if (need > s->max_map_size)
            return errorf(err, errlen, "%s: no room for a %zu-byte snapshot within the "
                          "store's limit of %zu bytes", s->dir, len, s->max_map_size);
        bigger = s->max_map_size;
    }
    if (mdb_env_set_mapsize(s->env, bigger) != 0)
        return errorf(err, errlen, "%s: cannot grow the map to %zu bytes", s->dir, bigger);
    s->map_size = bigger;
    return 0;
}

int storage_compact_begin(struct storage *s, uint64_t index, uint64_t term, size_t len,
                          store_write_fn write, void *arg, char *err, size_t errlen)
{
    if (s->bg.pid)
        return errorf(err, errlen, "%s: a snapshot is already being written", s->dir);
    if (check_advances(s, index, err, errlen) != 0 || room_for(s, len, err, errlen) != 0)
        return STORAGE_ERR;
    s->bg = (struct bg_snapshot){ 0, s->next_gen++, index, term, len };
    return bg_start(s, write, arg, err, errlen) == 0 ? 0 : STORAGE_ERR;
}

int storage_compact_poll(struct storage *s, uint64_t *index, uint64_t *term, size_t *len,
                         char *err, size_t errlen)
{
    if (!s->bg.pid && !s->bg.gen)
        return errorf(err, errlen, "%s: no snapshot is being written", s->dir);
    int rc = bg_poll(s, err, errlen);
    if (rc == STORAGE_PENDING)
        return rc;
    struct write_op op = { .index = s->bg.index, .term = s->bg.term, .len = s->bg.len };
    *index = 0;
    if (rc == STORAGE_OK && check_advances(s, op.index, err, errlen) == 0) {
        rc = run_write(s, do_adopt, &op, err, errlen);
        if (rc == STORAGE_OK) {
            s->saved_commit = MAX(s->saved_commit, op.index);
            *index = op.index;
            *term = op.term;
            *len = op.len;
        }
    } else {
        /* Failed, or superseded (rc 0 with *index 0): the chunks go. */
        char why[256];
        if (run_write(s, do_drop_bg, &op, why, sizeof why) == STORAGE_ERR) {
            snprintf(err, errlen, "%s", why);
            rc = STORAGE_ERR;
        }
    }
    s->bg.gen = 0;
    return rc;
}

size_t storage_raft_state_size(const struct storage *s) { return HARD_STATE_SIZE + s->log_bytes; }
size_t storage_snapshot_size(const struct storage *s) { return s->snapshot_len; }

/* ---- the store interface (storage/store.h) ---------------------------------------------------- */

static struct storage *of(struct store *s) { return (struct storage *)s; }

static struct raft_storage l_reader(struct store *s) { return storage_reader(of(s)); }
static int l_load(struct store *s, struct raft_init *init, char *err, size_t errlen)
{
    return storage_load(of(s), init, err, errlen);
}
static int l_save(struct store *s, const struct raft_ready *rd, char *err, size_t errlen)
{
    return storage_save(of(s), rd, err, errlen);
}
static int l_compact(struct store *s, uint64_t index, uint64_t term, const uint8_t *data,
                     size_t len, char *err, size_t errlen)
{
    return storage_compact(of(s), index, term, data, len, err, errlen);
}
static int l_compact_fill(struct store *s, uint64_t index, uint64_t term, size_t len,
                          store_write_fn write, void *arg, char *err, size_t errlen)
{
    return storage_compact_fill(of(s), index, term, len, write, arg, err, errlen);
}
static int l_compact_begin(struct store *s, uint64_t index, uint64_t term, size_t len,
                           store_write_fn write, void *arg, char *err, size_t errlen)
{
    return storage_compact_begin(of(s), index, term, len, write, arg, err, errlen);
}
static int l_compact_poll(struct store *s, uint64_t *index, uint64_t *term, size_t *len,
                          char *err, size_t errlen)
{
    return storage_compact_poll(of(s), index, term, len, err, errlen);
}
static int l_snapshot(struct store *s, struct raft_snapshot_meta *meta, uint8_t **data, size_t *len)
{
    return storage_snapshot(of(s), meta, data, len);
}
static uint64_t l_size(struct store *s) { return storage_raft_state_size(of(s)); }

static const struct store_ops lmdb_store_ops = {
    l_reader, l_load, l_save, l_compact, l_snapshot, l_size, l_compact_fill, l_compact_begin,
    l_compact_poll,
};

struct store *storage_store(struct storage *s) { return &s->iface; }

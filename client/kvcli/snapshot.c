/* kvcli snapshot save / status / restore (snapshot.h). */
#include "snapshot.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/crc32c.h"
#include "base/util.h"
#include "kv/codec.h"
#include "node.pb-c.h"
#include "node/backup.h"
#include "node/node.h"
#include "node/restore.h"
#include "node/snapfile.h"
#include "rpc/rpc.h"

#define CALL_MS 10000
#define RETRY_MS 200

/* ---- save ------------------------------------------------------------------------------------ */

/* Reads the held snapshot r describes, after its first chunk, into w through s. Returns 0, or
 * -1 with why (the save starts over). */
static int fetch_rest(struct rpc_sync *s, const Node__SnapshotSaveReply *r,
                      struct snapfile_writer *w, uint32_t *crc, char *why, size_t whylen)
{
    uint64_t offset = r->data.len;
    while (offset < r->size) {
        Node__SnapshotChunkRequest q = NODE__SNAPSHOT_CHUNK_REQUEST__INIT;
        q.transfer_id = r->transfer_id;
        q.offset = offset;
        q.max_bytes = NODE_BACKUP_CHUNK;
        uint8_t req[64], *rep = NULL;
        size_t len = node__snapshot_chunk_request__pack(&q, req), rlen = 0;
        char *error = NULL;
        enum rpc_status st = rpc_sync_call(s, "node.SnapshotChunk", req, len, CALL_MS, &rep,
                                           &rlen, &error);
        if (st != RPC_OK) {
            snprintf(why, whylen, "reading the snapshot at offset %llu: %s%s%s",
                     (unsigned long long)offset, rpc_status_name(st), error ? ": " : "",
                     error ? error : "");
            free(error);
            return -1;
        }
        Node__SnapshotChunkReply *c = node__snapshot_chunk_reply__unpack(NULL, rlen, rep);
        free(rep);
        int rc = -1;
        if (!c)
            snprintf(why, whylen, "a malformed node.SnapshotChunk reply");
        else if (c->status != NODE__ADMIN_STATUS__ADMIN_OK)
            snprintf(why, whylen, "%s", c->error);
        else if (c->data.len == 0 || c->data.len > r->size - offset)
            snprintf(why, whylen, "a chunk of %zu bytes at offset %llu of %llu", c->data.len,
                     (unsigned long long)offset, (unsigned long long)r->size);
        else
            rc = snapfile_append(w, c->data.data, c->data.len, why, whylen);
        if (rc == 0) {
            *crc = crc32c(*crc, c->data.data, c->data.len);
            offset += c->data.len;
        }
        if (c)
            node__snapshot_chunk_reply__free_unpacked(c, NULL);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* One save from server: 0 (FILE written), 1 (retry: why), -1 (failed for good: why). */
static int save_from(const char *server, const char *path, char *why, size_t whylen)
{
    char err[256];
    struct rpc_sync *s = rpc_sync_new(server, err, sizeof err);
    if (!s) {
        snprintf(why, whylen, "%s: %s", server, err);
        return 1;
    }
    uint64_t t0 = clock_mono_ms();
    Node__SnapshotSaveRequest q = NODE__SNAPSHOT_SAVE_REQUEST__INIT;
    q.max_bytes = NODE_BACKUP_CHUNK;
    uint8_t req[16], *rep = NULL;
    size_t len = node__snapshot_save_request__pack(&q, req), rlen = 0;
    char *error = NULL;
    enum rpc_status st = rpc_sync_call(s, "node.SnapshotSave", req, len, CALL_MS, &rep, &rlen,
                                       &error);
    if (st != RPC_OK) {
        snprintf(why, whylen, "%s: %s%s%s", server,
                 st == RPC_UNKNOWN_METHOD ? "not a Raft daemon of this version (no backups)"
                                          : rpc_status_name(st),
                 error && error[0] ? ": " : "", error ? error : "");
        free(error);
        rpc_sync_free(s);
        return 1;
    }
    Node__SnapshotSaveReply *r = node__snapshot_save_reply__unpack(NULL, rlen, rep);
    free(rep);
    int rc = 1;
    if (!r) {
        snprintf(why, whylen, "%s: a malformed node.SnapshotSave reply", server);
    } else if (r->status != NODE__ADMIN_STATUS__ADMIN_OK) {
        snprintf(why, whylen, "%s: %s", server, r->error[0] ? r->error : "no leader");
    } else if (r->data.len > r->size || r->index == 0 || r->term == 0 ||
               r->n_members > RAFT_MAX_MEMBERS) {
        snprintf(why, whylen, "%s: an inconsistent node.SnapshotSave reply", server);
    } else {
        struct snapfile_meta m = { .index = r->index, .term = r->term, .payload_len = r->size,
                                   .created_ms = clock_wall_ns() / 1000000,
                                   .taken_by = r->taken_by };
        snprintf(m.machine, sizeof m.machine, "%s", r->machine);
        for (size_t i = 0; i < r->n_members; i++) {
            struct raft_member *mb = &m.members.m[m.members.n++];
            mb->id = r->members[i]->id;
            mb->voter = !r->members[i]->learner;
            snprintf(mb->addr, sizeof mb->addr, "%s", r->members[i]->addr);
        }
        struct snapfile_writer *w;
        uint32_t crc = crc32c(0, r->data.data, r->data.len), file_crc;
        if (snapfile_create(path, &m, &w, why, whylen) != 0 ||
            snapfile_append(w, r->data.data, r->data.len, why, whylen) != 0) {
            rc = -1; /* the file cannot be written: no retry helps */
        } else if (fetch_rest(s, r, w, &crc, why, whylen) != 0) {
            snapfile_abort(w);
        } else if (crc != r->crc32c) {
            snprintf(why, whylen, "the snapshot's CRC-32C is %08x, the leader's %08x: damaged "
                     "in transfer", crc, r->crc32c);
            snapfile_abort(w);
        } else if (snapfile_finish(w, &file_crc, why, whylen) != 0) {
            rc = -1;
        } else {
            printf("saved %s: index %llu, term %llu, %llu bytes of %s snapshot (CRC-32C %08x), "
                   "taken by member %u, in %.2f s\n", path, (unsigned long long)r->index,
                   (unsigned long long)r->term, (unsigned long long)r->size, r->machine,
                   r->crc32c, r->taken_by, (double)(clock_mono_ms() - t0) / 1000.0);
            rc = 0;
        }
    }
    if (r)
        node__snapshot_save_reply__free_unpacked(r, NULL);
    rpc_sync_free(s);
    return rc;
}

/* Tries each server in turn (a follower relays to the leader) until a save succeeds or the
 * timeout passes; a transfer that breaks off starts over. */
static int cmd_save(const char *path, char **servers, size_t n, uint64_t timeout_ms)
{
    uint64_t deadline = clock_mono_ms() + timeout_ms;
    char why[512] = "no server given";
    for (size_t attempt = 0; n > 0; attempt++) {
        int rc = save_from(servers[attempt % n], path, why, sizeof why);
        if (rc == 0)
            return 0;
        if (rc < 0 || clock_mono_ms() + RETRY_MS >= deadline)
            break;
        clock_sleep_ms(RETRY_MS);
    }
    fprintf(stderr, "kvcli: snapshot save: %s\n", why);
    return 1;
}

/* ---- status and restore ---------------------------------------------------------------------- */

/* Reads and checks FILE; a kvd snapshot must also decode (its keys and clients in *st). */
static int load(const char *path, struct snapfile_meta *m, uint8_t **payload, struct kv_stats *st,
                bool *is_kv)
{
    char err[512];
    if (snapfile_read(path, m, payload, err, sizeof err) != 0) {
        fprintf(stderr, "kvcli: %s\n", err);
        return -1;
    }
    *is_kv = strcmp(m->machine, "kvd") == 0;
    if (*is_kv) {
        struct kv *kv = kv_new();
        int rc = kv_codec_restore(kv, *payload, m->payload_len);
        if (rc == 0)
            kv_stats(kv, st);
        kv_free(kv);
        if (rc != 0) {
            fprintf(stderr, "kvcli: %s: its checksum is right but its payload is not a kvd "
                            "snapshot\n", path);
            free(*payload);
            return -1;
        }
    }
    return 0;
}

static void print_members(const struct raft_membership *ms)
{
    if (ms->n == 0)
        printf("(not known at that index)");
    for (size_t i = 0; i < ms->n; i++)
        printf("%s%u=%s%s", i ? "," : "", ms->m[i].id, ms->m[i].addr[0] ? ms->m[i].addr : "?",
               ms->m[i].voter ? "" : "(learner)");
    printf("\n");
}

static int cmd_status(const char *path)
{
    struct snapfile_meta m;
    uint8_t *payload;
    struct kv_stats st = { 0 };
    bool is_kv;
    if (load(path, &m, &payload, &st, &is_kv) != 0)
        return 1;
    time_t secs = (time_t)(m.created_ms / 1000);
    struct tm tm;
    char when[64];
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("file:      %s (format %u, checksum ok)\n", path, SNAPFILE_VERSION);
    printf("machine:   %s\n", m.machine);
    printf("index:     %llu\n", (unsigned long long)m.index);
    printf("term:      %llu\n", (unsigned long long)m.term);
    printf("taken:     by member %u at %s\n", m.taken_by, when);
    printf("members:   ");
    print_members(&m.members);
    printf("payload:   %llu bytes (CRC-32C %08x)\n", (unsigned long long)m.payload_len,
           crc32c(0, payload, m.payload_len));
    if (is_kv)
        printf("keys:      %llu\nclients:   %llu\n", (unsigned long long)st.keys,
               (unsigned long long)st.clients);
    free(payload);
    return 0;
}

/* --name VALUE or --name=VALUE at args[*i]; advances *i. NULL when args[*i] is not --name. */
static const char *flag(char **args, int nargs, int *i, const char *name)
{
    size_t n = strlen(name);
    const char *a = args[*i];
    if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, n) != 0)
        return NULL;
    if (a[2 + n] == '=') {
        (*i)++;
        return a + 3 + n;
    }
    if (a[2 + n] != '\0' || *i + 1 >= nargs)
        return NULL;
    *i += 2;
    return args[*i - 1];
}

static int cmd_restore(const char *path, char **args, int nargs)
{
    const char *dir = NULL, *peers = NULL, *id_s = NULL, *v;
    for (int i = 0; i < nargs;) {
        if ((v = flag(args, nargs, &i, "data-dir")))
            dir = v;
        else if ((v = flag(args, nargs, &i, "peers")))
            peers = v;
        else if ((v = flag(args, nargs, &i, "id")))
            id_s = v;
        else {
            fprintf(stderr, "kvcli: snapshot restore: unexpected '%s' (expected --data-dir DIR "
                            "--id N --peers ID=HOST:PORT,...)\n", args[i]);
            return 2;
        }
    }
    uint64_t id;
    if (!dir || !peers || !id_s) {
        fprintf(stderr, "kvcli: snapshot restore needs --data-dir DIR, --id N and --peers "
                        "ID=HOST:PORT,... (the new cluster's members)\n");
        return 2;
    }
    if (parse_u64(id_s, &id) != 0 || id == 0 || id > UINT32_MAX) {
        fprintf(stderr, "kvcli: snapshot restore: --id: bad value '%s' (expected N >= 1)\n", id_s);
        return 2;
    }
    struct node_peer *members;
    size_t n;
    char err[1024];
    if (node_parse_peers(peers, &members, &n, err, sizeof err) != 0) {
        fprintf(stderr, "kvcli: snapshot restore: --%s\n", err);
        return 2;
    }
    struct snapfile_meta m;
    uint8_t *payload;
    struct kv_stats st = { 0 };
    bool is_kv;
    if (load(path, &m, &payload, &st, &is_kv) != 0) {
        free(members);
        return 1;
    }
    int rc = node_restore_dir(dir, &m, payload, members, n, (uint32_t)id, true, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "kvcli: snapshot restore: %s\n", err);
    } else {
        printf("restored %s into %s: member %llu of %zu, index %llu, term %llu", path, dir,
               (unsigned long long)id, n, (unsigned long long)m.index, (unsigned long long)m.term);
        if (is_kv)
            printf(", %llu keys", (unsigned long long)st.keys);
        printf("\nstart it with: %s --id %llu --peers %s --data-dir %s\n", m.machine,
               (unsigned long long)id, peers, dir);
    }
    free(payload);
    free(members);
    return rc == 0 ? 0 : 1;
}

int snapshot_main(char **args, int nargs, char **servers, size_t n, uint64_t timeout_ms)
{
    const char *sub = nargs > 0 ? args[0] : "";
    if (strcmp(sub, "save") == 0 && nargs == 2)
        return cmd_save(args[1], servers, n, timeout_ms);
    if (strcmp(sub, "status") == 0 && nargs == 2)
        return cmd_status(args[1]);
    if (strcmp(sub, "restore") == 0 && nargs >= 2)
        return cmd_restore(args[1], args + 2, nargs - 2);
    fprintf(stderr, "kvcli: usage: kvcli [OPTION]... " SNAPSHOT_SYNOPSIS "\n");
    return 2;
}

#include "node/restore.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "raft/membership.h"
#include "storage/storage.h"

/* 1: dir does not exist, 0: it exists and is empty, -1: it holds something (or is no
 * directory, or cannot be read: why in err). */
static int dir_state(const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d && errno == ENOENT)
        return 1;
    if (!d) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    const char *first = NULL;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            first = e->d_name;
            break;
        }
    }
    if (first)
        snprintf(err, errlen, "%s is not empty (it holds %s): a restore makes a new member's "
                 "store and never writes over a directory that may hold one; give a new or empty "
                 "directory", dir, first);
    closedir(d);
    return first ? -1 : 0;
}

/* Creates dir's missing parents (storage_open creates dir itself). */
static int make_parents(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; (p = strchr(p, '/')); p++) {
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    return 0;
}

/* Removes what storage_open and the save put in dir (LMDB's files, the marker, the lock). */
static void undo(const char *dir, bool created)
{
    static const char *const files[] = { "data.mdb", "lock.mdb", "MEMBER", "MEMBER.tmp", "LOCK" };
    char path[4096];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    if (created)
        rmdir(dir);
}

int node_restore_dir(const char *dir, const struct snapfile_meta *m, const uint8_t *payload,
                     const struct node_peer *members, size_t n, uint32_t self, bool fsync,
                     char *err, size_t errlen)
{
    bool member = false;
    for (size_t i = 0; i < n; i++)
        member |= members[i].id == self;
    if (!member) {
        snprintf(err, errlen, "member id %u is not among the peers", self);
        return -1;
    }
    if (n > RAFT_MAX_MEMBERS) {
        snprintf(err, errlen, "too many peers: a cluster has at most %d members", RAFT_MAX_MEMBERS);
        return -1;
    }
    if (m->index == 0 || m->term == 0) {
        snprintf(err, errlen, "a snapshot at index %llu, term %llu cannot start a cluster",
                 (unsigned long long)m->index, (unsigned long long)m->term);
        return -1;
    }
    int st = dir_state(dir, err, errlen);
    if (st < 0 || (st == 1 && make_parents(dir, err, errlen) != 0))
        return -1;
    struct membership_state ms = { .base_index = m->index };
    for (size_t i = 0; i < n; i++) {
        struct raft_member *r = &ms.base.m[ms.base.n++];
        *r = (struct raft_member){ .id = members[i].id, .voter = true };
        snprintf(r->addr, sizeof r->addr, "%s", members[i].addr);
    }
    uint8_t *conf;
    size_t conf_len;
    membership_state_encode(&ms, &conf, &conf_len);
    struct storage_opts so;
    storage_opts_default(&so);
    so.sync = fsync;
    /* Sized for the snapshot at once rather than doubled several times while it goes in. */
    while (so.map_size < 2 * m->payload_len + (16u << 20))
        so.map_size *= 2;
    struct storage *s;
    char why[512];
    if (storage_open(dir, &so, &s, why, sizeof why) != 0) {
        snprintf(err, errlen, "%s", why);
        free(conf);
        if (st >= 0)
            undo(dir, st == 1);
        return -1;
    }
    /* What a follower stores when it installs a leader's snapshot, plus the hard state. */
    struct raft_ready rd = {
        .hard_state_changed = true,
        .hard_state = { .term = m->term, .vote = RAFT_NONE, .commit = m->index },
        .conf_changed = true, .conf = conf, .conf_len = conf_len,
        .has_snapshot = true, .snapshot = { m->index, m->term },
        .snapshot_data = payload, .snapshot_len = m->payload_len,
    };
    int rc = storage_save(s, &rd, why, sizeof why);
    storage_close(s);
    free(conf);
    if (rc != 0) {
        snprintf(err, errlen, "%s", why);
        undo(dir, st == 1);
        return -1;
    }
    return 0;
}

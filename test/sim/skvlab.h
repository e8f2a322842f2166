/* The 6.5840 Lab 5 shardkv tester's config on the deterministic simulator: one controller of 3
 * (simctrl, nodes 0-2) and groups 100, 101, 102 of 3 servers each (simshardkv, nodes 3-11), as
 * clusters of one sim on one simnet; the real shard clerk (lib/clerk/shard.h) on simtransports
 * for the clients, every operation recorded in one lincheck history (kvlab's clients and
 * recording, kvl_new_on); a controller clerk for join and leave, as the lab's cfg.ctl.
 * Failures do not abort (kvlab.h). */
#ifndef SIM_SKVLAB_H
#define SIM_SKVLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kvlab.h"
#include "simctrl.h"
#include "simshardkv.h"

#define SKVL_GROUPS 3
#define SKVL_PER_GROUP 3
#define SKVL_NSHARDS 10

struct skvl_opts {
    uint64_t seed;
    bool unreliable;
    int maxraftstate;     /* -1: none */
    int skv_bugs;         /* shardkv_set_planted_bug */
    uint64_t chunk_bytes; /* the drivers' pull chunk (0: default) */
};

struct skvl {
    struct skvl_opts o;
    struct sim *s;
    struct simnet *net;
    struct simctrl *ctrl;
    struct simshardkv *k;
    struct kvl *t; /* clerks, operations, history */
    struct simtransport *ctl_t;
    struct ctrl_clerk *ctl;
};

struct skvl *skvl_new(const struct skvl_opts *o);
void skvl_free(struct skvl *c);
void skvl_set_unreliable(struct skvl *c, bool on);

/* The node of server i of group g. */
size_t skvl_node(size_t g, size_t i);

/* The lab's join / leave (groups by index 0..2), through the controller clerk, blocking. */
void skvl_join(struct skvl *c, const size_t *groups, size_t n);
void skvl_leave(struct skvl *c, const size_t *groups, size_t n);
void skvl_join1(struct skvl *c, size_t g);
/* Moves shard to group g (which must have joined). */
void skvl_move(struct skvl *c, uint32_t shard, size_t g);
void skvl_leave1(struct skvl *c, size_t g);

void skvl_shutdown_server(struct skvl *c, size_t g, size_t i);
void skvl_start_server(struct skvl *c, size_t g, size_t i);
void skvl_shutdown_group(struct skvl *c, size_t g);
void skvl_start_group(struct skvl *c, size_t g);

/* The lab's checklogs: with maxraftstate >= 0 every group server's raft state within 8 times
 * it; with -1 no snapshot at all. */
void skvl_checklogs(struct skvl *c);

#endif

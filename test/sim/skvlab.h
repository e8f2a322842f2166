/* The 6.5840 Lab 5 shardkv tester's config on the deterministic simulator: one controller of 3
 * (simctrl, nodes 0-2) and groups 100, 101, 102 of 3 servers each (simshardkv, nodes 3-11), as
 * clusters of one sim on one simnet; the real shard clerk (lib/clerk/shard.h) on simtransports
 * for the clients, every operation recorded in one lincheck history (kvlab's clients and
 * recording, kvl_new_on); a controller clerk for join and leave, as the lab's cfg.ctl. With
 * skvl_opts.second_ctrl, a second, independent controller of 3 (nodes 12-14, TestRejection5A's
 * ctl1) that the groups do not follow, its own clerk (skvl_ctl2_join1) and shard clerks bound
 * to it (skvl_ck_new_ctrl2). Failures do not abort (kvlab.h). */
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
    bool second_ctrl;     /* nodes 12-14: a second controller service (ctrl2) */
    bool background_snapshots; /* sim_opts.background_snapshots */
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
    struct simctrl *ctrl2; /* with second_ctrl, else NULL */
    struct simtransport *ctl2_t;
    struct ctrl_clerk *ctl2;
    bool clerks_on_ctrl2; /* the controller the next shard clerk follows (skvl_ck_new_ctrl2) */
};

struct skvl *skvl_new(const struct skvl_opts *o);
void skvl_free(struct skvl *c);
void skvl_set_unreliable(struct skvl *c, bool on);

/* The node of server i of group g. */
size_t skvl_node(size_t g, size_t i);
/* The node of server i of the controller (second: of the second controller). */
size_t skvl_ctrl_node(bool second, size_t i);

/* The lab's join / leave (groups by index 0..2), through the controller clerk, blocking. */
void skvl_join(struct skvl *c, const size_t *groups, size_t n);
void skvl_leave(struct skvl *c, const size_t *groups, size_t n);
void skvl_join1(struct skvl *c, size_t g);
/* Moves shard to group g (which must have joined). */
void skvl_move(struct skvl *c, uint32_t shard, size_t g);
void skvl_leave1(struct skvl *c, size_t g);
/* The lab's ctljoin(g, ctl1): group g joins the second controller only (second_ctrl). */
void skvl_ctl2_join1(struct skvl *c, size_t g);
/* A clerk of c->t whose shard clerk follows the second controller (second_ctrl). */
struct kvl_ck *skvl_ck_new_ctrl2(struct skvl *c);

void skvl_shutdown_server(struct skvl *c, size_t g, size_t i);
void skvl_start_server(struct skvl *c, size_t g, size_t i);
void skvl_shutdown_group(struct skvl *c, size_t g);
void skvl_start_group(struct skvl *c, size_t g);

/* The lab's checklogs: with maxraftstate >= 0 every group server's raft state within 8 times
 * it; with -1 no snapshot at all. */
void skvl_checklogs(struct skvl *c);
/* The sum over every group server of its persisted Raft state and its snapshot, in bytes
 * (TestChallenge1Delete's measure; a crashed server's store counts too). */
size_t skvl_stored_bytes(struct skvl *c);

#endif

/* lib/shardkv as a replica's state machine: the adapter shardkvd runs on its node, bytes in and
 * out through lib/shardkv's codec. Besides applying, it logs what moves the group (each config
 * it reaches, each shard's state change, once per event, on every replica) and tells the
 * service after entries that may have made the driver's next step due. */
#ifndef SHARDKVD_MACHINE_H
#define SHARDKVD_MACHINE_H

#include <stdint.h>

#include "replica/replica.h"
#include "shardkv/codec.h"
#include "shardkv/shardkv.h"

struct shardkvd_machine {
    struct shardkv *skv;   /* set by the check hook (shardkv_new(--gid)), before the node opens */
    /* Called after a CONFIG, INSTALL, DELETE or GC_DONE entry applied and after a restore
     * (NULL: nobody listens). From inside the node's apply: the listener must not propose
     * or read there (shardkvd defers to the loop). */
    void (*moved)(void *arg);
    void *moved_arg;
    /* What was logged last: the config number and each shard's state. */
    uint64_t logged_num;
    uint8_t *logged_states;
    uint32_t logged_n;
    struct skv_snapshot_view *snap; /* a snapshot being written into the store */
};

struct node_sm shardkvd_state_machine(struct shardkvd_machine *m);
void shardkvd_machine_release(struct shardkvd_machine *m); /* frees skv and the log's copy */

#endif

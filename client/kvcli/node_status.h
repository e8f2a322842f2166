/* kvcli status: one node's Raft status, whichever daemon it is. kvd answers kv.Status,
 * shardkvd shardkv.Status, shardctrld shardctrl.Status; each reply carries node.Status. So
 * `kvcli --servers 127.0.0.1:7000 status` is a health check for any of them (the compose
 * file's). */
#ifndef KVCLI_NODE_STATUS_H
#define KVCLI_NODE_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct node_row {
    const char *daemon; /* "kvd", "shardkvd", "shardctrld" */
    uint32_t id, leader_id;
    char role[24];
    uint64_t term, commit, applied, last, snapshot;
    uint64_t keys;      /* kvd: its keys; shardkvd: its gid; shardctrld: the latest config */
};

/* Asks addr kv.Status, then (when it has no such method) shardkv.Status, then shardctrl.Status.
 * Returns 0 with row filled, or -1 with why ("unreachable (...)", "not a kvd server (...)": none
 * of the three). */
int node_status_fetch(const char *addr, uint64_t timeout_ms, struct node_row *row, char *why,
                      size_t whylen);

#endif

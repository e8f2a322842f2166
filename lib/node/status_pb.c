#include "node/status_pb.h"

#include <stdlib.h>

#include "base/util.h"
#include "rpc/rpc.h"

void node_status_pb(const struct node *n, uint64_t applied_hash, Node__Status *r)
{
    struct node_status st;
    node_status(n, &st);
    r->id = st.id;
    r->role = (char *)raft_role_name(st.soft.role);
    r->term = st.soft.term;
    r->leader_id = st.soft.leader;
    r->leader_addr = (char *)st.leader_addr;
    r->commit_index = st.commit;
    r->applied_index = st.applied;
    r->applied_hash = applied_hash;
    r->last_index = st.last_index;
    r->snapshot_index = st.snapshot_index;
    r->snapshot_term = st.snapshot_term;
    r->snapshots_installed = st.snapshots_installed;
    r->snapshots_taken = st.snapshots_taken;
    r->snapshots_background = st.snapshots_background;
    r->raft_state_bytes = st.raft_state_bytes;
    r->snapshot_bytes = st.snapshot_bytes;
    const struct raft_membership *m = node_membership(n);
    size_t np = m->n; /* 0 on a node that joins, before it learns the membership */
    r->n_peers = 0;
    if (np == 0)
        return;
    Node__PeerStatus *ps = xcalloc(np, sizeof *ps);
    r->peers = xcalloc(np, sizeof *r->peers);
    for (size_t i = 0; i < np; i++) {
        node__peer_status__init(&ps[i]);
        ps[i].id = m->m[i].id;
        ps[i].addr = (char *)node_peer_addr(n, m->m[i].id);
        ps[i].match_index = node_peer_match(n, m->m[i].id);
        ps[i].learner = !m->m[i].voter;
        r->peers[i] = &ps[i];
    }
    r->n_peers = np;
}

void node_status_pb_release(Node__Status *r)
{
    if (r->peers)
        free(r->peers[0]); /* the array of structs behind the pointers */
    free(r->peers);
    r->peers = NULL;
    r->n_peers = 0;
}

void node_status_reply(struct rpc_call *call, const struct node *n, uint64_t applied_hash)
{
    Node__Status r = NODE__STATUS__INIT;
    node_status_pb(n, applied_hash, &r);
    rpc_call_reply_msg(call, &r.base);
    node_status_pb_release(&r);
}

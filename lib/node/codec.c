#include "node/codec.h"

#include <stdlib.h>

#include "base/util.h"
#include "raft.pb-c.h"

size_t node_msg_pack(const struct raft_msg *m, uint8_t **out)
{
    Raft__Message pb = RAFT__MESSAGE__INIT;
    pb.type = m->type;
    pb.from = m->from;
    pb.to = m->to;
    pb.term = m->term;
    pb.prevote = m->prevote;
    pb.last_index = m->last_index;
    pb.last_term = m->last_term;
    pb.granted = m->granted;
    pb.prev_index = m->prev_index;
    pb.prev_term = m->prev_term;
    pb.commit = m->commit;
    pb.heartbeat = m->heartbeat;
    pb.read_seq = m->read_seq;
    pb.hb_round = m->hb_round;
    pb.grace = m->grace;
    pb.success = m->success;
    pb.match_index = m->match_index;
    pb.conflict_term = m->conflict_term;
    pb.conflict_index = m->conflict_index;
    pb.snap_index = m->snap.index;
    pb.snap_term = m->snap.term;
    pb.offset = m->offset;
    pb.data.data = m->data;
    pb.data.len = m->len;
    pb.done = m->done;
    pb.nonce = m->nonce;
    pb.recovering = m->recovering;
    pb.transfer = m->transfer;
    pb.conf.data = m->conf;
    pb.conf.len = m->conf_len;
    Raft__Entry *ents = NULL, **ptrs = NULL;
    if (m->n_entries) {
        ents = xmalloc(m->n_entries * sizeof *ents);
        ptrs = xmalloc(m->n_entries * sizeof *ptrs);
        for (size_t i = 0; i < m->n_entries; i++) {
            raft__entry__init(&ents[i]);
            ents[i].term = m->entries[i].term;
            ents[i].index = m->entries[i].index;
            ents[i].type = m->entries[i].type;
            ents[i].data.data = m->entries[i].data;
            ents[i].data.len = m->entries[i].len;
            ptrs[i] = &ents[i];
        }
        pb.entries = ptrs;
        pb.n_entries = m->n_entries;
    }
    size_t n = raft__message__get_packed_size(&pb);
    *out = xmalloc(n ? n : 1);
    raft__message__pack(&pb, *out);
    free(ents);
    free(ptrs);
    return n;
}

int node_msg_unpack(const uint8_t *buf, size_t len, struct raft_msg *m, void **keep)
{
    Raft__Message *pb = raft__message__unpack(NULL, len, buf);
    if (!pb)
        return -1;
    if (pb->type > RAFT_MSG_TIMEOUT_NOW) {
        raft__message__free_unpacked(pb, NULL);
        return -1;
    }
    *m = (struct raft_msg){
        .type = (enum raft_msg_type)pb->type, .from = pb->from, .to = pb->to, .term = pb->term,
        .prevote = pb->prevote, .last_index = pb->last_index, .last_term = pb->last_term,
        .granted = pb->granted, .prev_index = pb->prev_index, .prev_term = pb->prev_term,
        .commit = pb->commit, .heartbeat = pb->heartbeat, .success = pb->success,
        .match_index = pb->match_index, .conflict_term = pb->conflict_term,
        .conflict_index = pb->conflict_index, .snap = { pb->snap_index, pb->snap_term },
        .offset = pb->offset, .data = pb->data.data, .len = pb->data.len, .done = pb->done,
        .read_seq = pb->read_seq,
        .hb_round = pb->hb_round,
        .grace = pb->grace,
        .nonce = pb->nonce, .recovering = pb->recovering, .transfer = pb->transfer,
        .conf = pb->conf.data, .conf_len = pb->conf.len,
    };
    if (pb->n_entries) {
        m->entries = xmalloc(pb->n_entries * sizeof *m->entries);
        m->n_entries = pb->n_entries;
        for (size_t i = 0; i < pb->n_entries; i++) {
            const Raft__Entry *e = pb->entries[i];
            m->entries[i] = (struct raft_entry){ e->term, e->index, e->type, e->data.data,
                                                 e->data.len };
        }
    }
    *keep = pb;
    return 0;
}

void node_msg_release(struct raft_msg *m, void *keep)
{
    free(m->entries);
    m->entries = NULL;
    raft__message__free_unpacked(keep, NULL);
}

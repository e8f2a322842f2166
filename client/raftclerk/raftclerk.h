/* raftd's layer on the clerk engine (lib/clerk/engine.h): raftd.Propose requests and the
 * classification of raftd.ProposeReply, for raftcli, raftbench and the raftd cluster test. It
 * lives beside the clients, not in lib/, because it speaks raftd's schema. */
#ifndef RAFTCLERK_H
#define RAFTCLERK_H

#include <stddef.h>
#include <stdint.h>

#include "clerk/engine.h"
#include "clerk/net.h"
#include "raftd.pb-c.h"

/* An engine proposing to the servers of net. On CLERK_OK the value handed to done is the
 * encoded raftd.ProposeReply (index, term, applied hash). */
struct clerk_engine *raftclerk_new(struct clerk_net *net, const struct clerk_opts *o);

/* Queues a proposal of data (copied). */
void raftclerk_propose(struct clerk_engine *e, const uint8_t *data, size_t len,
                       clerk_engine_done_fn done, void *arg);

/* ---- blocking, with its own event loop (one per thread) ---- */

struct raftclerk_sync;
struct raftclerk_sync *raftclerk_sync_new(const char *const *servers, size_t n,
                                          const struct clerk_opts *o, char *err, size_t errlen);
void raftclerk_sync_free(struct raftclerk_sync *s);
/* Proposes data and waits: CLERK_OK with *reply (free with raftd__propose_reply__free_unpacked),
 * or the failure (clerk_engine_error(raftclerk_sync_engine(s)) says why). */
enum clerk_result raftclerk_sync_propose(struct raftclerk_sync *s, const uint8_t *data, size_t len,
                                         Raftd__ProposeReply **reply);
struct clerk_engine *raftclerk_sync_engine(struct raftclerk_sync *s);

#endif

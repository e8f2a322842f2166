/* The shard controller's clerk: shardctrld's layer on the clerk engine (engine.h). Join, Leave
 * and Move carry the clerk's random client id and a sequence number (at most once); Query
 * carries none. Operations run one at a time in order and retry forever unless the options give
 * a deadline. A request the controller refuses (an unknown gid, gid 0, a gid joined twice, a
 * shard out of range) ends with CLERK_REFUSED and the controller's message. */
#ifndef CLERK_CTRL_H
#define CLERK_CTRL_H

#include <stddef.h>
#include <stdint.h>

#include "clerk/engine.h"
#include "clerk/net.h"
#include "shardctrl/shardctrl.h"

struct ctrl_clerk;

struct ctrl_clerk *ctrl_clerk_new(struct clerk_net *net, const struct clerk_opts *o);
/* A clerk on any transport (the simulator's). */
struct ctrl_clerk *ctrl_clerk_new_on(const struct clerk_transport *t, const struct clerk_opts *o);
/* Pending operations are dropped without their callbacks. */
void ctrl_clerk_free(struct ctrl_clerk *c);
uint64_t ctrl_clerk_client_id(const struct ctrl_clerk *c);
/* Why the last operation that did not succeed failed (CLERK_REFUSED: the controller's
 * message; otherwise clerk_engine_error's text). Valid until the next operation ends. */
const char *ctrl_clerk_error(const struct ctrl_clerk *c);

/* An operation's outcome, exactly once (unless the clerk is freed first). On CLERK_OK: num is
 * the config a write made, or the config a Query returned (config, valid during the call only:
 * sc_config_copy it to keep it). */
typedef void (*ctrl_done_fn)(enum clerk_result r, uint64_t num, const struct sc_config *config,
                             void *arg);

/* Queue an operation (arguments copied). */
void ctrl_clerk_join(struct ctrl_clerk *c, const struct sc_join_group *groups, size_t n,
                     ctrl_done_fn done, void *arg);
void ctrl_clerk_leave(struct ctrl_clerk *c, const uint32_t *gids, size_t n, ctrl_done_fn done,
                      void *arg);
void ctrl_clerk_move(struct ctrl_clerk *c, uint32_t shard, uint32_t gid, ctrl_done_fn done,
                     void *arg);
/* num -1: the latest. */
void ctrl_clerk_query(struct ctrl_clerk *c, int64_t num, ctrl_done_fn done, void *arg);

/* ---- blocking, with its own event loop and connections (one per thread) ---- */

struct ctrl_sync;
struct ctrl_sync *ctrl_sync_new(const char *const *servers, size_t n, const struct clerk_opts *o,
                                char *err, size_t errlen);
void ctrl_sync_free(struct ctrl_sync *s);
/* Each waits for the outcome; *num (may be NULL) gets the config number made. */
enum clerk_result ctrl_sync_join(struct ctrl_sync *s, const struct sc_join_group *groups,
                                 size_t n, uint64_t *num);
enum clerk_result ctrl_sync_leave(struct ctrl_sync *s, const uint32_t *gids, size_t n,
                                  uint64_t *num);
enum clerk_result ctrl_sync_move(struct ctrl_sync *s, uint32_t shard, uint32_t gid,
                                 uint64_t *num);
/* On CLERK_OK *config is the config (free with sc_config_free). */
enum clerk_result ctrl_sync_query(struct ctrl_sync *s, int64_t num, struct sc_config **config);
struct ctrl_clerk *ctrl_sync_clerk(struct ctrl_sync *s);

#endif

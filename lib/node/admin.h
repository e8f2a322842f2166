/* Membership administration as RPC methods (proto/node.proto): node.Members, node.ChangeMember
 * (add a learner, promote it, remove a member) and node.TransferLeader, registered by the
 * daemon shape on every Raft daemon. A change is answered once it applied (or with why not); a
 * transfer once this node no longer leads (or the transfer was abandoned). */
#ifndef NODE_ADMIN_H
#define NODE_ADMIN_H

struct event_base;
struct rpc_server;
struct node;
struct node_admin;

struct node_admin *node_admin_new(struct event_base *base, struct rpc_server *srv,
                                  struct node *node);
/* Answers the transfers still waiting (SHUTDOWN) and frees. Call after node_free (which answers
 * the pending changes) and before the server is freed. */
void node_admin_free(struct node_admin *a);

#endif

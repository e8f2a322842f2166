/* kvcli member list | member add ID=HOST:PORT | member promote ID | member remove ID |
 * leader transfer ID: the membership administration every Raft daemon serves (node.Members,
 * node.ChangeMember, node.TransferLeader; lib/node/admin.h), through any one member. A change
 * is retried while the cluster is busy with another (or the learner catches up) until the
 * timeout. */
#ifndef KVCLI_MEMBER_H
#define KVCLI_MEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEMBER_SYNOPSIS \
    "member list | member add ID=HOST:PORT | member promote ID | member remove ID | " \
    "leader transfer ID"

/* cmd is "member" or "leader", args what follows it. Returns the exit status (0 done, 1
 * failed, 2 bad member), or -1 when the arguments are not one of the commands. */
int member_main(const char *cmd, char **args, int nargs, char **servers, size_t n,
                uint64_t timeout_ms, bool json);

#endif

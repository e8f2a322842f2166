/* A cluster's membership: who votes, who only learns, where each is reached; the quorum rule;
 * and the two encodings the core persists: a membership as the data of a RAFT_ENTRY_CONFIG
 * entry, and the core's membership state (the membership at the snapshot point and every
 * config entry of the log after it) saved with the hard state. Pure. See docs/RAFT.md,
 * "Membership changes". */
#ifndef RAFT_MEMBERSHIP_H
#define RAFT_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RAFT_MAX_MEMBERS 16 /* voters and learners together (membership.c names the number) */
#define RAFT_ADDR_MAX 128   /* a member's address, its terminating NUL included */

struct raft_member {
    uint32_t id;
    bool voter;               /* false: a learner (receives the log, never votes or counts) */
    char addr[RAFT_ADDR_MAX]; /* "" when the driver knows it otherwise (the initial members) */
};

struct raft_membership {
    size_t n;
    struct raft_member m[RAFT_MAX_MEMBERS];
};

enum raft_change_type {
    RAFT_CHANGE_ADD_LEARNER, /* a new member that receives the log but does not vote yet */
    RAFT_CHANGE_PROMOTE,     /* a learner becomes a voter */
    RAFT_CHANGE_REMOVE,      /* a member (voter or learner) leaves */
};

/* The member with this id, or NULL. */
const struct raft_member *membership_find(const struct raft_membership *c, uint32_t id);
bool membership_is_voter(const struct raft_membership *c, uint32_t id);
size_t membership_voters(const struct raft_membership *c);
/* The quorum rule, in one place: a strict majority of the voters. */
size_t membership_quorum(const struct raft_membership *c);

/* The membership after one change to c, in *out. Returns 0, or -1 with the reason in err
 * (an id of 0 or already a member, a full membership, an address too long, promoting a voter
 * or a non-member, removing a non-member or the last voter). */
int membership_change(const struct raft_membership *c, enum raft_change_type t, uint32_t id,
                      const char *addr, struct raft_membership *out, char *err, size_t errlen);

/* A config entry's data: malloc'd into *data / *len. */
void membership_encode(const struct raft_membership *c, uint8_t **data, size_t *len);
/* Parses a config entry's data; -1 when it is not a valid one. */
int membership_decode(const uint8_t *data, size_t len, struct raft_membership *c);

/* The core's membership state: the membership at base_index (the snapshot point, or 0) and
 * every config entry after it, in index order. */
struct membership_state {
    uint64_t base_index;
    struct raft_membership base;
    struct conf_entry {
        uint64_t index;
        struct raft_membership conf;
    } *hist;
    size_t n_hist, cap_hist;
};

/* The latest membership: that of the last config entry, or the base. */
const struct raft_membership *membership_latest(const struct membership_state *s);
/* Index of the latest config entry (base_index when there is none). */
uint64_t membership_latest_index(const struct membership_state *s);
/* The membership in force at index (>= base_index). */
const struct raft_membership *membership_at(const struct membership_state *s, uint64_t index);
/* A config entry appended at index (every entry from index on was replaced first). */
void membership_push(struct membership_state *s, uint64_t index, const struct raft_membership *c);
/* The log from index on was replaced or dropped: its config entries no longer count. */
void membership_truncate(struct membership_state *s, uint64_t index);
/* The log up to index became a snapshot: the base moves there. */
void membership_compact(struct membership_state *s, uint64_t index);
/* A received snapshot at index with membership c replaces the whole log. */
void membership_reset(struct membership_state *s, uint64_t index, const struct raft_membership *c);
void membership_state_free(struct membership_state *s);

/* The state's persisted form: malloc'd into *data / *len. */
void membership_state_encode(const struct membership_state *s, uint8_t **data, size_t *len);
/* Parses a persisted state into *s (which it initialises); -1 when it is not a valid one. */
int membership_state_decode(const uint8_t *data, size_t len, struct membership_state *s);

#endif

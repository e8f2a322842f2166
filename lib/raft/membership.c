/* Memberships, the quorum rule, and their encodings (membership.h).
 *
 * A membership's bytes, big-endian: a version byte (1), a member count byte, then per member
 * its id (4 bytes), a flags byte (bit 0: voter), an address length byte and the address. The
 * state's bytes: a version byte (1), base_index (8), the base membership's length (4) and
 * bytes, the entry count (4), then per entry its index (8) and its membership's length (4)
 * and bytes. Decoding checks every length and rejects trailing bytes. */
#include "raft/membership.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

#define MEMBERSHIP_VERSION 1
#define STATE_VERSION 1

const struct raft_member *membership_find(const struct raft_membership *c, uint32_t id)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->m[i].id == id)
            return &c->m[i];
    return NULL;
}

bool membership_is_voter(const struct raft_membership *c, uint32_t id)
{
    const struct raft_member *m = membership_find(c, id);
    return m && m->voter;
}

size_t membership_voters(const struct raft_membership *c)
{
    size_t v = 0;
    for (size_t i = 0; i < c->n; i++)
        v += c->m[i].voter;
    return v;
}

size_t membership_quorum(const struct raft_membership *c) { return membership_voters(c) / 2 + 1; }

int membership_change(const struct raft_membership *c, enum raft_change_type t, uint32_t id,
                      const char *addr, struct raft_membership *out, char *err, size_t errlen)
{
    const struct raft_member *m = membership_find(c, id);
    const char *problem = NULL;
    if (id == 0)
        problem = "member id 0 is not allowed";
    else if (t == RAFT_CHANGE_ADD_LEARNER && m)
        problem = "already a member";
    else if (t == RAFT_CHANGE_ADD_LEARNER && c->n >= RAFT_MAX_MEMBERS)
        problem = "the membership is full (16 members)";
    else if (t == RAFT_CHANGE_ADD_LEARNER && (!addr || strlen(addr) >= RAFT_ADDR_MAX))
        problem = "a new member needs an address of at most 127 bytes";
    else if (t != RAFT_CHANGE_ADD_LEARNER && !m)
        problem = "not a member";
    else if (t == RAFT_CHANGE_PROMOTE && m->voter)
        problem = "already a voter";
    else if (t == RAFT_CHANGE_REMOVE && m->voter && membership_voters(c) == 1)
        problem = "the last voter cannot be removed";
    if (problem) {
        snprintf(err, errlen, "%s", problem);
        return -1;
    }
    *out = *c;
    if (t == RAFT_CHANGE_ADD_LEARNER) {
        struct raft_member *n = &out->m[out->n++];
        memset(n, 0, sizeof *n);
        n->id = id;
        snprintf(n->addr, sizeof n->addr, "%s", addr);
    } else if (t == RAFT_CHANGE_PROMOTE) {
        out->m[m - c->m].voter = true;
    } else {
        size_t i = (size_t)(m - c->m);
        memmove(&out->m[i], &out->m[i + 1], (out->n - i - 1) * sizeof out->m[0]);
        out->n--;
    }
    return 0;
}

/* ---- encodings ------------------------------------------------------------------------- */

static size_t encoded_size(const struct raft_membership *c)
{
    size_t n = 2;
    for (size_t i = 0; i < c->n; i++)
        n += 6 + strlen(c->m[i].addr);
    return n;
}

static uint8_t *put_membership(uint8_t *p, const struct raft_membership *c)
{
    *p++ = MEMBERSHIP_VERSION;
    *p++ = (uint8_t)c->n;
    for (size_t i = 0; i < c->n; i++) {
        size_t alen = strlen(c->m[i].addr);
        be32_put(p, c->m[i].id);
        p[4] = c->m[i].voter ? 1 : 0;
        p[5] = (uint8_t)alen;
        memcpy(p + 6, c->m[i].addr, alen);
        p += 6 + alen;
    }
    return p;
}

void membership_encode(const struct raft_membership *c, uint8_t **data, size_t *len)
{
    *len = encoded_size(c);
    *data = xmalloc(*len);
    put_membership(*data, c);
}

int membership_decode(const uint8_t *data, size_t len, struct raft_membership *c)
{
    if (len < 2 || data[0] != MEMBERSHIP_VERSION || data[1] > RAFT_MAX_MEMBERS)
        return -1;
    memset(c, 0, sizeof *c);
    c->n = data[1];
    size_t off = 2;
    for (size_t i = 0; i < c->n; i++) {
        if (len - off < 6)
            return -1;
        const uint8_t *p = data + off;
        size_t alen = p[5];
        if (alen >= RAFT_ADDR_MAX || len - off - 6 < alen || (p[4] & ~1u) != 0)
            return -1;
        c->m[i].id = be32_get(p);
        c->m[i].voter = p[4] & 1;
        memcpy(c->m[i].addr, p + 6, alen);
        c->m[i].addr[alen] = '\0';
        if (c->m[i].id == 0 || memchr(c->m[i].addr, '\0', alen))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (c->m[j].id == c->m[i].id)
                return -1;
        off += 6 + alen;
    }
    return off == len ? 0 : -1;
}

/* ---- the state ------------------------------------------------------------------------- */

const struct raft_membership *membership_latest(const struct membership_state *s)
{
    return s->n_hist ? &s->hist[s->n_hist - 1].conf : &s->base;
}

uint64_t membership_latest_index(const struct membership_state *s)
{
    return s->n_hist ? s->hist[s->n_hist - 1].index : s->base_index;
}

const struct raft_membership *membership_at(const struct membership_state *s, uint64_t index)
{
    for (size_t i = s->n_hist; i > 0; i--)
        if (s->hist[i - 1].index <= index)
            return &s->hist[i - 1].conf;
    return &s->base;
}

void membership_push(struct membership_state *s, uint64_t index, const struct raft_membership *c)
{
    membership_truncate(s, index);
    if (s->n_hist == s->cap_hist) {
        s->cap_hist = s->cap_hist ? 2 * s->cap_hist : 4;
        s->hist = xrealloc(s->hist, s->cap_hist * sizeof *s->hist);
    }
    s->hist[s->n_hist].index = index;
    s->hist[s->n_hist].conf = *c;
    s->n_hist++;
}

void membership_truncate(struct membership_state *s, uint64_t index)
{
    while (s->n_hist && s->hist[s->n_hist - 1].index >= index)
        s->n_hist--;
}

void membership_compact(struct membership_state *s, uint64_t index)
{
    size_t fold = 0;
    while (fold < s->n_hist && s->hist[fold].index <= index)
        fold++;
    if (fold)
        s->base = s->hist[fold - 1].conf;
    s->base_index = index;
    s->n_hist -= fold;
    if (s->n_hist) /* (hist is NULL while nothing was ever pushed) */
        memmove(s->hist, s->hist + fold, s->n_hist * sizeof *s->hist);
}

void membership_reset(struct membership_state *s, uint64_t index, const struct raft_membership *c)
{
    s->n_hist = 0;
    s->base_index = index;
    s->base = *c;
}

void membership_state_free(struct membership_state *s)
{
    free(s->hist);
    s->hist = NULL;
    s->n_hist = s->cap_hist = 0;
}

void membership_state_encode(const struct membership_state *s, uint8_t **data, size_t *len)
{
    size_t n = 1 + 8 + 4 + encoded_size(&s->base) + 4;
    for (size_t i = 0; i < s->n_hist; i++)
        n += 12 + encoded_size(&s->hist[i].conf);
    uint8_t *p = *data = xmalloc(n);
    *len = n;
    *p++ = STATE_VERSION;
    be64_put(p, s->base_index);
    be32_put(p + 8, (uint32_t)encoded_size(&s->base));
    p = put_membership(p + 12, &s->base);
    be32_put(p, (uint32_t)s->n_hist);
    p += 4;
    for (size_t i = 0; i < s->n_hist; i++) {
        be64_put(p, s->hist[i].index);
        be32_put(p + 8, (uint32_t)encoded_size(&s->hist[i].conf));
        p = put_membership(p + 12, &s->hist[i].conf);
    }
}

/* One length-prefixed membership at data[*off]: -1 when it does not fit or parse. */
static int get_membership(const uint8_t *data, size_t len, size_t *off, struct raft_membership *c)
{
    if (len - *off < 4)
        return -1;
    uint32_t n = be32_get(data + *off);
    *off += 4;
    if (len - *off < n || membership_decode(data + *off, n, c) != 0)
        return -1;
    *off += n;
    return 0;
}

int membership_state_decode(const uint8_t *data, size_t len, struct membership_state *s)
{
    memset(s, 0, sizeof *s);
    if (len < 9 || data[0] != STATE_VERSION)
        return -1;
    s->base_index = be64_get(data + 1);
    size_t off = 9;
    if (get_membership(data, len, &off, &s->base) != 0 || len - off < 4)
        return -1;
    uint32_t count = be32_get(data + off);
    off += 4;
    for (uint32_t i = 0; i < count; i++) {
        struct raft_membership c;
        if (len - off < 8)
            goto bad;
        uint64_t index = be64_get(data + off);
        off += 8;
        uint64_t prev = s->n_hist ? s->hist[s->n_hist - 1].index : s->base_index;
        if (index <= prev || get_membership(data, len, &off, &c) != 0)
            goto bad;
        membership_push(s, index, &c);
    }
    if (off == len)
        return 0;
bad:
    membership_state_free(s);
    return -1;
}

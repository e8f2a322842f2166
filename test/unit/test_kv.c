/* lib/kv: the state machine's semantics — Get/Put/Append, at-most-once writes from (client id,
 * sequence), Gets leaving no per-client state, previous values, sessions per partition, memory
 * accounting bounded by clients rather than requests, Delete and compare-and-swap (retries
 * answered from the first execution) — and its codec (lib/kv/codec.h): bytes
 * in / bytes out, deterministic snapshots, old-format snapshots. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.pb-c.h"
#include "kv/codec.h"
#include "kv/kv.h"
#include "session/session.h"

struct res {
    enum kv_err err;
    char value[256];
};

/* Applies c through the decoded API (kv_apply), or, bytes set, through the codec (what kvd's
 * state machine adapter calls). */
static struct res apply(struct kv *kv, const struct kv_cmd *c, bool bytes)
{
    struct res out = { 0, "" };
    if (!bytes) {
        struct kv_result r;
        kv_apply(kv, c, &r);
        out.err = r.err;
        snprintf(out.value, sizeof out.value, "%.*s", (int)r.vlen, (const char *)r.value);
        return out;
    }
    uint8_t *buf, *reply;
    size_t n, len;
    kv_codec_encode_cmd(c, &buf, &n);
    kv_codec_apply(kv, buf, n, &reply, &len);
    Kv__Reply *r = kv__reply__unpack(NULL, len, reply);
    ck_assert_ptr_nonnull(r);
    out.err = (enum kv_err)r->err;
    snprintf(out.value, sizeof out.value, "%.*s", (int)r->value.len, (const char *)r->value.data);
    kv__reply__free_unpacked(r, NULL);
    free(reply);
    free(buf);
    return out;
}

static struct res run_how(struct kv *kv, enum kv_op op, const char *key, const char *val,
                          uint64_t client, uint64_t seq, bool want_prev, bool bytes)
{
    struct kv_cmd c = { .op = op, .key = (const uint8_t *)key, .klen = strlen(key),
                        .value = (const uint8_t *)val, .vlen = val ? strlen(val) : 0,
                        .client_id = client, .seq = seq, .want_prev = want_prev };
    return apply(kv, &c, bytes);
}

static struct res run(struct kv *kv, enum kv_op op, const char *key, const char *val,
                      uint64_t client, uint64_t seq, bool want_prev)
{
    return run_how(kv, op, key, val, client, seq, want_prev, false);
}

static struct res run_bytes(struct kv *kv, enum kv_op op, const char *key, const char *val,
                            uint64_t client, uint64_t seq, bool want_prev)
{
    return run_how(kv, op, key, val, client, seq, want_prev, true);
}

#define GET(kv, k) run(kv, KV_OP_GET, k, NULL, 0, 0, false)
#define PUT(kv, k, v, cl, seq) run(kv, KV_OP_PUT, k, v, cl, seq, true)
#define APPEND(kv, k, v, cl, seq) run(kv, KV_OP_APPEND, k, v, cl, seq, true)

START_TEST(test_basic_ops)
{
    struct kv *kv = kv_new();
    ck_assert_int_eq(GET(kv, "a").err, KV_NO_KEY);
    ck_assert_str_eq(PUT(kv, "a", "1", 7, 1).value, "");
    ck_assert_str_eq(GET(kv, "a").value, "1");
    ck_assert_str_eq(APPEND(kv, "a", "23", 7, 2).value, "1"); /* the previous value */
    ck_assert_str_eq(GET(kv, "a").value, "123");
    ck_assert_str_eq(PUT(kv, "a", "x", 7, 3).value, "123");
    ck_assert_str_eq(APPEND(kv, "new", "v", 7, 4).value, "");
    ck_assert_str_eq(GET(kv, "new").value, "v");
    kv_free(kv);
}
END_TEST

START_TEST(test_at_most_once)
{
    struct kv *kv = kv_new();
    ck_assert_str_eq(APPEND(kv, "k", "x", 1, 1).value, "");
    /* The same (client, seq) again: the first reply, and the append is not redone. */
    ck_assert_str_eq(APPEND(kv, "k", "x", 1, 1).value, "");
    ck_assert_str_eq(GET(kv, "k").value, "x");
    /* Another client's identical request is a different request. */
    APPEND(kv, "k", "x", 2, 1);
    ck_assert_str_eq(GET(kv, "k").value, "xx");
    /* An older sequence number is stale, not executed. */
    APPEND(kv, "k", "y", 1, 2);
    ck_assert_int_eq(APPEND(kv, "k", "z", 1, 1).err, KV_STALE);
    ck_assert_str_eq(GET(kv, "k").value, "xxy");
    kv_free(kv);
}
END_TEST

START_TEST(test_gets_leave_no_client_state)
{
    struct kv *kv = kv_new();
    PUT(kv, "k", "v", 1, 1);
    struct kv_stats before, after;
    kv_stats(kv, &before);
    for (int i = 0; i < 1000; i++)
        GET(kv, "k");
    kv_stats(kv, &after);
    ck_assert_uint_eq(after.clients, before.clients);
    ck_assert_uint_eq(after.bytes, before.bytes);
    kv_free(kv);
}
END_TEST

START_TEST(test_memory_is_per_client_not_per_request)
{
    struct kv *kv = kv_new();
    /* Many appends by one client: no history of old values or requests is kept. */
    char val[1001];
    memset(val, 'v', 1000);
    val[1000] = '\0';
    for (uint64_t i = 1; i <= 1000; i++)
        run(kv, KV_OP_APPEND, "big", val, 3, i, false);
    struct kv_stats st;
    kv_stats(kv, &st);
    ck_assert_uint_eq(st.clients, 1);
    ck_assert_uint_lt(st.bytes, 1000 * 1000 + 200); /* the value itself, plus small change */
    /* Many clients, one small put each: bounded bytes per client. */
    struct kv *kv2 = kv_new();
    for (uint64_t c = 1; c <= 10000; c++)
        run(kv2, KV_OP_PUT, "k", "v", c, 1, false);
    kv_stats(kv2, &st);
    ck_assert_uint_eq(st.clients, 10000);
    ck_assert_msg(st.bytes / 10000 < 200, "%llu bytes per client",
                  (unsigned long long)(st.bytes / 10000));
    kv_free(kv);
    kv_free(kv2);
}
END_TEST

START_TEST(test_snapshot_round_trip)
{
    struct kv *kv = kv_new();
    PUT(kv, "a", "1", 1, 1);
    APPEND(kv, "b", "2", 2, 5);
    uint8_t *snap;
    size_t len;
    kv_codec_snapshot(kv, &snap, &len);
    struct kv *copy = kv_new();
    PUT(copy, "junk", "gone", 9, 1);
    ck_assert_int_eq(kv_codec_restore(copy, snap, len), 0);
    ck_assert_int_eq(GET(copy, "junk").err, KV_NO_KEY);
    ck_assert_str_eq(GET(copy, "a").value, "1");
    ck_assert_str_eq(GET(copy, "b").value, "2");
    /* The de-duplication table travels with the snapshot. */
    ck_assert_str_eq(APPEND(copy, "b", "2", 2, 5).value, "");
    ck_assert_str_eq(GET(copy, "b").value, "2");
    struct kv_stats s1, s2;
    kv_stats(kv, &s1);
    kv_stats(copy, &s2);
    ck_assert_uint_eq(s1.bytes, s2.bytes);
    ck_assert_int_eq(kv_codec_restore(copy, (const uint8_t *)"\xff\xff\xff", 3), -1);
    ck_assert_str_eq(GET(copy, "a").value, "1"); /* unchanged after a bad snapshot */
    free(snap);
    kv_free(kv);
    kv_free(copy);
}
END_TEST

START_TEST(test_codec_bytes_in_bytes_out)
{
    struct kv *kv = kv_new();
    ck_assert_int_eq(run_bytes(kv, KV_OP_GET, "a", NULL, 0, 0, false).err, KV_NO_KEY);
    ck_assert_str_eq(run_bytes(kv, KV_OP_PUT, "a", "1", 4, 1, true).value, "");
    ck_assert_str_eq(run_bytes(kv, KV_OP_APPEND, "a", "2", 4, 2, true).value, "1");
    ck_assert_str_eq(run_bytes(kv, KV_OP_APPEND, "a", "2", 4, 2, true).value, "1"); /* retry */
    ck_assert_int_eq(run_bytes(kv, KV_OP_APPEND, "a", "z", 4, 1, true).err, KV_STALE);
    ck_assert_str_eq(run_bytes(kv, KV_OP_GET, "a", NULL, 0, 0, false).value, "12");
    /* Bytes that are no kv.Command, or name no op, get STALE and change nothing. */
    struct kv_stats before, after;
    kv_stats(kv, &before);
    uint8_t *reply;
    size_t len;
    kv_codec_apply(kv, (const uint8_t *)"\xff\xff\xff", 3, &reply, &len);
    Kv__Reply *r = kv__reply__unpack(NULL, len, reply);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->err, KV__ERR__STALE);
    kv__reply__free_unpacked(r, NULL);
    free(reply);
    Kv__Command c = KV__COMMAND__INIT;
    c.op = 5; /* past CAS: unknown */
    c.key.data = (uint8_t *)"a";
    c.key.len = 1;
    uint8_t buf[64];
    size_t n = kv__command__pack(&c, buf);
    struct kv_codec_cmd d;
    ck_assert_int_eq(kv_codec_decode_cmd(buf, n, &d), -1);
    kv_codec_get(kv, (const uint8_t *)"a", 1, &reply, &len);
    r = kv__reply__unpack(NULL, len, reply);
    ck_assert_int_eq(r->err, KV__ERR__OK);
    ck_assert_int_eq((int)r->value.len, 2);
    kv__reply__free_unpacked(r, NULL);
    free(reply);
    kv_stats(kv, &after);
    ck_assert_uint_eq(after.bytes, before.bytes);
    kv_free(kv);
}
END_TEST

START_TEST(test_prev_value_without_session)
{
    /* Client id 0: always executed, no session, and want_prev still returns the old value. */
    struct kv *kv = kv_new();
    run(kv, KV_OP_PUT, "k", "old", 0, 0, false);
    ck_assert_str_eq(run(kv, KV_OP_PUT, "k", "new", 0, 0, true).value, "old");
    ck_assert_str_eq(run(kv, KV_OP_APPEND, "k", "!", 0, 0, true).value, "new");
    ck_assert_str_eq(GET(kv, "k").value, "new!");
    struct kv_stats st;
    kv_stats(kv, &st);
    ck_assert_uint_eq(st.clients, 0);
    kv_free(kv);
}
END_TEST

/* Partition = the key's first byte minus 'a' (a key "b..." is in partition 1). */
static uint32_t first_letter(const uint8_t *key, size_t klen, void *arg)
{
    (void)arg;
    return klen && key[0] >= 'a' && key[0] <= 'z' ? (uint32_t)(key[0] - 'a') : 0;
}

START_TEST(test_sessions_per_partition)
{
    struct kv *kv = kv_new();
    kv_set_partition(kv, first_letter, NULL);
    ck_assert_uint_eq(kv_partition_of(kv, (const uint8_t *)"cat", 3), 2);
    APPEND(kv, "a1", "x", 1, 5);
    /* The same client's seq 1 on another partition is a new write there, not stale. */
    ck_assert_int_eq(APPEND(kv, "b1", "y", 1, 1).err, KV_OK);
    ck_assert_str_eq(GET(kv, "b1").value, "y");
    ck_assert_int_eq(APPEND(kv, "a2", "z", 1, 1).err, KV_STALE); /* partition 0: seq 5 seen */
    ck_assert_str_eq(APPEND(kv, "b1", "y", 1, 1).value, "");     /* duplicate in partition 1 */
    ck_assert_str_eq(GET(kv, "b1").value, "y");
    const struct session_table *t = kv_sessions(kv);
    ck_assert_uint_eq(session_count_part(t, 0), 1);
    ck_assert_uint_eq(session_count_part(t, 1), 1);
    /* Partitions travel in the snapshot. */
    uint8_t *snap;
    size_t len;
    kv_codec_snapshot(kv, &snap, &len);
    struct kv *copy = kv_new();
    kv_set_partition(copy, first_letter, NULL);
    ck_assert_int_eq(kv_codec_restore(copy, snap, len), 0);
    ck_assert_uint_eq(session_count_part(kv_sessions(copy), 1), 1);
    ck_assert_int_eq(APPEND(copy, "b9", "w", 1, 1).err, KV_OK); /* partition 1's duplicate: */
    ck_assert_int_eq(GET(copy, "b9").err, KV_NO_KEY);           /* answered, not executed */
    ck_assert_int_eq(APPEND(copy, "a9", "w", 1, 4).err, KV_STALE);
    ck_assert_str_eq(GET(copy, "b1").value, "y");
    free(snap);
    kv_free(kv);
    kv_free(copy);
}
END_TEST

/* Builds the same state as a different history: keys and clients written in the order given by
 * step (1: ascending, -1: descending). */
static struct kv *build(int step)
{
    struct kv *kv = kv_new();
    char key[32], val[32];
    for (int j = 0; j < 300; j++) {
        int i = step > 0 ? j : 299 - j;
        snprintf(key, sizeof key, "key%d", i);
        snprintf(val, sizeof val, "v%d", i);
        run(kv, KV_OP_PUT, key, val, (uint64_t)i + 1, 7, true);
    }
    return kv;
}

START_TEST(test_snapshot_bytes_deterministic)
{
    struct kv *a = build(1), *b = build(-1);
    uint8_t *sa, *sb;
    size_t la, lb;
    kv_codec_snapshot(a, &sa, &la);
    kv_codec_snapshot(b, &sb, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert_msg(memcmp(sa, sb, la) == 0, "same state, different snapshot bytes");
    /* A replica restored from the snapshot writes the same bytes again. */
    struct kv *c = kv_new();
    ck_assert_int_eq(kv_codec_restore(c, sb, lb), 0);
    uint8_t *sc;
    size_t lc;
    kv_codec_snapshot(c, &sc, &lc);
    ck_assert_uint_eq(lc, la);
    ck_assert(memcmp(sa, sc, la) == 0);
    free(sa);
    free(sb);
    free(sc);
    kv_free(a);
    kv_free(b);
    kv_free(c);
}
END_TEST

/* A snapshot written by kvd before sessions had a partition (lib/kv at a38b1b4) after:
 * put a=1 (client 7, seq 1, want_prev), append a+=2 (7, 2, want_prev), put b=x (9, 4). */
static const uint8_t old_snapshot[] = "\x0a\x07\x0a\x01\x61\x12\x02\x31\x32\x0a\x06\x0a\x01\x62"
                                      "\x12\x01\x78\x12\x07\x08\x07\x10\x02\x1a\x01\x31\x12\x04"
                                      "\x08\x09\x10\x04";

START_TEST(test_restore_old_format_snapshot)
{
    struct kv *kv = kv_new();
    ck_assert_int_eq(kv_codec_restore(kv, old_snapshot, sizeof old_snapshot - 1), 0);
    ck_assert_str_eq(GET(kv, "a").value, "12");
    ck_assert_str_eq(GET(kv, "b").value, "x");
    ck_assert_uint_eq(session_count_part(kv_sessions(kv), 0), 2);
    ck_assert_str_eq(APPEND(kv, "a", "2", 7, 2).value, "1"); /* the stored reply */
    ck_assert_int_eq(PUT(kv, "b", "y", 9, 3).err, KV_STALE);
    ck_assert_str_eq(GET(kv, "a").value, "12");
    /* With every session in partition 0, the new format is the old one, byte for byte. */
    uint8_t *snap;
    size_t len;
    kv_codec_snapshot(kv, &snap, &len);
    ck_assert_uint_eq(len, sizeof old_snapshot - 1);
    ck_assert(memcmp(snap, old_snapshot, len) == 0);
    free(snap);
    kv_free(kv);
}
END_TEST

/* A Delete or CAS command (through the codec when bytes is set). */
static struct res cond(struct kv *kv, enum kv_op op, const char *key, const char *expected,
                       bool absent, const char *val, uint64_t client, uint64_t seq, bool bytes)
{
    struct kv_cmd c = { .op = op, .key = (const uint8_t *)key, .klen = strlen(key),
                        .value = (const uint8_t *)val, .vlen = val ? strlen(val) : 0,
                        .client_id = client, .seq = seq, .expected = (const uint8_t *)expected,
                        .elen = expected ? strlen(expected) : 0, .expect_absent = absent };
    return apply(kv, &c, bytes);
}
#define DEL(kv, k, cl, seq) cond(kv, KV_OP_DELETE, k, NULL, false, NULL, cl, seq, false)
#define CAS(kv, k, old, new, cl, seq) cond(kv, KV_OP_CAS, k, old, false, new, cl, seq, false)
#define CAS_ABSENT(kv, k, new, cl, seq) cond(kv, KV_OP_CAS, k, NULL, true, new, cl, seq, false)

START_TEST(test_delete)
{
    struct kv *kv = kv_new();
    PUT(kv, "a", "1", 1, 1);
    PUT(kv, "b", "2", 1, 2);
    ck_assert_int_eq(DEL(kv, "a", 1, 3).err, KV_OK);
    ck_assert_int_eq(GET(kv, "a").err, KV_NO_KEY);
    ck_assert_str_eq(GET(kv, "b").value, "2");
    ck_assert_int_eq(DEL(kv, "a", 1, 4).err, KV_NO_KEY); /* absent: nothing to delete */
    ck_assert_int_eq(DEL(kv, "never", 0, 0).err, KV_NO_KEY);
    struct kv_stats st;
    kv_stats(kv, &st);
    ck_assert_uint_eq(st.keys, 1);
    /* After a delete an append starts from nothing. */
    ck_assert_int_eq(APPEND(kv, "a", "x", 1, 5).err, KV_OK);
    ck_assert_str_eq(GET(kv, "a").value, "x");
    kv_free(kv);
}
END_TEST

/* Deleting from a table keeps every other key findable (backward-shift deletion), whatever
 * the probe runs: thousands of keys, every third one deleted, the rest read back, then
 * re-inserted. */
START_TEST(test_delete_many_keys)
{
    struct kv *kv = kv_new();
    char k[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "key%d", i);
        PUT(kv, k, k, 0, 0);
    }
    for (int i = 0; i < 3000; i += 3) {
        snprintf(k, sizeof k, "key%d", i);
        ck_assert_int_eq(DEL(kv, k, 0, 0).err, KV_OK);
    }
    for (int i = 0; i < 3000; i++) {
        snprintf(k, sizeof k, "key%d", i);
        struct res r = GET(kv, k);
        if (i % 3 == 0) {
            ck_assert_int_eq(r.err, KV_NO_KEY);
        } else {
            ck_assert_int_eq(r.err, KV_OK);
            ck_assert_str_eq(r.value, k);
        }
    }
    struct kv_stats st;
    kv_stats(kv, &st);
    ck_assert_uint_eq(st.keys, 2000);
    for (int i = 0; i < 3000; i += 3) {
        snprintf(k, sizeof k, "key%d", i);
        ck_assert_int_eq(CAS_ABSENT(kv, k, "back", 0, 0).err, KV_OK);
    }
    kv_stats(kv, &st);
    ck_assert_uint_eq(st.keys, 3000);
    ck_assert_str_eq(GET(kv, "key0").value, "back");
    kv_free(kv);
}
END_TEST

START_TEST(test_cas)
{
    struct kv *kv = kv_new();
    for (int bytes = 0; bytes < 2; bytes++) {
        kv_clear(kv);
        /* only if absent: on an absent key it swaps, on a present one it fails with the value */
        ck_assert_int_eq(cond(kv, KV_OP_CAS, "k", NULL, true, "v1", 1, 1, bytes).err, KV_OK);
        struct res r = cond(kv, KV_OP_CAS, "k", NULL, true, "v2", 1, 2, bytes);
        ck_assert_int_eq(r.err, KV_CAS_FAILED);
        ck_assert_str_eq(r.value, "v1");
        /* OLD matching swaps; not matching reports the current value */
        ck_assert_int_eq(cond(kv, KV_OP_CAS, "k", "v1", false, "v3", 1, 3, bytes).err, KV_OK);
        ck_assert_str_eq(GET(kv, "k").value, "v3");
        r = cond(kv, KV_OP_CAS, "k", "v1", false, "v4", 1, 4, bytes);
        ck_assert_int_eq(r.err, KV_CAS_FAILED);
        ck_assert_str_eq(r.value, "v3");
        ck_assert_str_eq(GET(kv, "k").value, "v3");
        /* on an absent key a CAS with an expected value fails with NO_KEY, even for "" */
        ck_assert_int_eq(cond(kv, KV_OP_CAS, "n", "", false, "x", 1, 5, bytes).err, KV_NO_KEY);
        ck_assert_int_eq(GET(kv, "n").err, KV_NO_KEY);
        /* present with an empty value: "" matches, "only if absent" does not */
        PUT(kv, "e", "", 1, 6);
        r = cond(kv, KV_OP_CAS, "e", NULL, true, "x", 1, 7, bytes);
        ck_assert_int_eq(r.err, KV_CAS_FAILED);
        ck_assert_str_eq(r.value, "");
        ck_assert_int_eq(cond(kv, KV_OP_CAS, "e", "", false, "y", 1, 8, bytes).err, KV_OK);
        ck_assert_str_eq(GET(kv, "e").value, "y");
        /* after a delete, only-if-absent swaps again */
        ck_assert_int_eq(cond(kv, KV_OP_DELETE, "k", NULL, false, NULL, 1, 9, bytes).err, KV_OK);
        ck_assert_int_eq(cond(kv, KV_OP_CAS, "k", NULL, true, "v5", 1, 10, bytes).err, KV_OK);
        ck_assert_str_eq(GET(kv, "k").value, "v5");
    }
    kv_free(kv);
}
END_TEST

/* A retried Delete or CAS gets its first execution's outcome: a CAS that swapped is not
 * re-evaluated (which would now fail), a Delete that deleted does not report "absent" the
 * second time, a CAS that failed still reports the value it saw then. With the planted bug
 * KV_BUG_REAPPLY_RETRY the retries are re-evaluated, and these checks see it. */
static bool retries_answered_from_session(int bugs)
{
    struct kv *kv = kv_new();
    kv_set_planted_bug(kv, bugs);
    bool ok = true;
    ok &= CAS_ABSENT(kv, "k", "a", 5, 1).err == KV_OK;
    ok &= CAS_ABSENT(kv, "k", "a", 5, 1).err == KV_OK; /* the retry */
    ok &= CAS(kv, "k", "a", "b", 5, 2).err == KV_OK;
    ok &= CAS(kv, "k", "a", "b", 5, 2).err == KV_OK;
    struct res r = CAS(kv, "k", "zz", "c", 5, 3);
    ok &= r.err == KV_CAS_FAILED && strcmp(r.value, "b") == 0;
    PUT(kv, "k", "d", 6, 1); /* another client changes the value */
    r = CAS(kv, "k", "zz", "c", 5, 3);
    ok &= r.err == KV_CAS_FAILED && strcmp(r.value, "b") == 0; /* what it saw then */
    ok &= DEL(kv, "k", 5, 4).err == KV_OK;
    ok &= DEL(kv, "k", 5, 4).err == KV_OK;
    ok &= DEL(kv, "k", 5, 3).err == KV_STALE;
    ok &= GET(kv, "k").err == KV_NO_KEY;
    kv_free(kv);
    return ok;
}

START_TEST(test_cas_delete_at_most_once)
{
    ck_assert(retries_answered_from_session(KV_BUG_NONE));
    ck_assert(!retries_answered_from_session(KV_BUG_REAPPLY_RETRY));
}
END_TEST

/* The Delete/CAS sessions survive a snapshot (their stored outcome with them), and the planted
 * KV_BUG_CAS_ALWAYS_SWAPS does what it says. */
START_TEST(test_cas_snapshot_and_planted_bug)
{
    struct kv *kv = kv_new();
    PUT(kv, "k", "v", 1, 1);
    struct res r = CAS(kv, "k", "other", "w", 2, 1);
    ck_assert_int_eq(r.err, KV_CAS_FAILED);
    ck_assert_int_eq(DEL(kv, "gone", 3, 1).err, KV_NO_KEY);
    uint8_t *snap;
    size_t len;
    kv_codec_snapshot(kv, &snap, &len);
    struct kv *b = kv_new();
    ck_assert_int_eq(kv_codec_restore(b, snap, len), 0);
    free(snap);
    r = CAS(b, "k", "other", "w", 2, 1); /* a retry after the restore */
    ck_assert_int_eq(r.err, KV_CAS_FAILED);
    ck_assert_str_eq(r.value, "v");
    ck_assert_int_eq(DEL(b, "gone", 3, 1).err, KV_NO_KEY);
    kv_set_planted_bug(b, KV_BUG_CAS_ALWAYS_SWAPS);
    ck_assert_int_eq(CAS(b, "k", "other", "w", 2, 2).err, KV_OK);
    ck_assert_str_eq(GET(b, "k").value, "w");
    kv_free(b);
    kv_free(kv);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("kv");
    TCase *tc = tcase_create("kv");
    tcase_add_test(tc, test_basic_ops);
    tcase_add_test(tc, test_at_most_once);
    tcase_add_test(tc, test_gets_leave_no_client_state);
    tcase_add_test(tc, test_memory_is_per_client_not_per_request);
    tcase_add_test(tc, test_snapshot_round_trip);
    tcase_add_test(tc, test_codec_bytes_in_bytes_out);
    tcase_add_test(tc, test_prev_value_without_session);
    tcase_add_test(tc, test_sessions_per_partition);
    tcase_add_test(tc, test_snapshot_bytes_deterministic);
    tcase_add_test(tc, test_restore_old_format_snapshot);
    tcase_add_test(tc, test_delete);
    tcase_add_test(tc, test_delete_many_keys);
    tcase_add_test(tc, test_cas);
    tcase_add_test(tc, test_cas_delete_at_most_once);
    tcase_add_test(tc, test_cas_snapshot_and_planted_bug);
    suite_add_tcase(s, tc);
    return s;
}

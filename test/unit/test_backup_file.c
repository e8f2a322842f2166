/* Backups' pure parts (docs/BACKUP.md): CRC-32C against its published check values; the backup
 * file (lib/node/snapfile) written and read back, and refused, with the reason, when any one
 * byte is changed, when it is cut at any length, or when it is longer; a store made by
 * node_restore_dir, read back by lib/storage as a starting node would (snapshot, hard state,
 * membership, an empty log after the snapshot), and a non-empty directory left untouched. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/crc32c.h"
#include "node/restore.h"
#include "node/snapfile.h"
#include "raft/membership.h"
#include "storage/storage.h"
#include "testdir.h"

static char g_dir[64];

static void dir_setup(void) { testdir_make(g_dir, sizeof g_dir, "test_backup"); }
static void dir_teardown(void) { testdir_remove(g_dir); }

static void path_in(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", g_dir, name);
}

START_TEST(crc32c_check_values)
{
    ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(crc32c(0, "", 0), 0);
    uint8_t zeros[32] = { 0 }, ones[32];
    memset(ones, 0xFF, sizeof ones);
    ck_assert_uint_eq(crc32c(0, zeros, 32), 0x8A9136AAu); /* RFC 3720, B.4 */
    ck_assert_uint_eq(crc32c(0, ones, 32), 0x62A8AB43u);
    /* In pieces of any size, the same. */
    const char *s = "The quick brown fox jumps over the lazy dog, twice over the lazy dog";
    size_t n = strlen(s);
    uint32_t whole = crc32c(0, s, n);
    for (size_t cut = 0; cut <= n; cut++)
        ck_assert_uint_eq(crc32c(crc32c(0, s, cut), s + cut, n - cut), whole);
}
END_TEST

/* A file of 3 members and a payload of len bytes; its bytes in *buf (malloc'd). */
static void make_file(const char *path, size_t len, struct snapfile_meta *m, uint8_t **payload,
                      uint8_t **buf, size_t *size)
{
    *m = (struct snapfile_meta){ .index = 1234, .term = 7, .payload_len = len,
                                 .created_ms = 1764790000000ull, .taken_by = 2 };
    snprintf(m->machine, sizeof m->machine, "kvd");
    for (uint32_t i = 1; i <= 3; i++) {
        struct raft_member *r = &m->members.m[m->members.n++];
        r->id = i;
        r->voter = i != 3;
        snprintf(r->addr, sizeof r->addr, "127.0.0.%u:700%u", i, i);
    }
    *payload = malloc(len ? len : 1);
    for (size_t i = 0; i < len; i++)
        (*payload)[i] = (uint8_t)(i * 31 + 7);
    struct snapfile_writer *w;
    char err[256];
    ck_assert_int_eq(snapfile_create(path, m, &w, err, sizeof err), 0);
    /* In uneven pieces, as chunks arrive. */
    for (size_t off = 0; off < len;) {
        size_t k = off + 1000 < len ? 1000 : len - off;
        ck_assert_int_eq(snapfile_append(w, *payload + off, k, err, sizeof err), 0);
        off += k;
    }
    uint32_t crc;
    ck_assert_int_eq(snapfile_finish(w, &crc, err, sizeof err), 0);
    ck_assert_uint_eq(crc, crc32c(0, *payload, len));
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *size = (size_t)ftell(f);
    rewind(f);
    *buf = malloc(*size);
    ck_assert_uint_eq(fread(*buf, 1, *size, f), *size);
    fclose(f);
}

START_TEST(file_round_trip)
{
    char path[128], tmp[160];
    path_in(path, sizeof path, "a.snap");
    struct snapfile_meta m, got;
    uint8_t *payload, *buf, *back;
    size_t size;
    make_file(path, 5000, &m, &payload, &buf, &size);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_ne(access(tmp, F_OK), 0); /* renamed into place */
    char err[256];
    ck_assert_int_eq(snapfile_read(path, &got, &back, err, sizeof err), 0);
    ck_assert_uint_eq(got.index, 1234);
    ck_assert_uint_eq(got.term, 7);
    ck_assert_uint_eq(got.payload_len, 5000);
    ck_assert_uint_eq(got.created_ms, m.created_ms);
    ck_assert_uint_eq(got.taken_by, 2);
    ck_assert_str_eq(got.machine, "kvd");
    ck_assert_uint_eq(got.members.n, 3);
    ck_assert_str_eq(got.members.m[2].addr, "127.0.0.3:7003");
    ck_assert(!got.members.m[2].voter && got.members.m[0].voter);
    ck_assert_mem_eq(back, payload, 5000);
    free(back);
    free(payload);
    free(buf);
}
END_TEST

/* Every single-byte change, every cut, and a byte more are refused with a reason. */
START_TEST(file_damage_refused)
{
    char path[128];
    path_in(path, sizeof path, "b.snap");
    struct snapfile_meta m, got;
    uint8_t *payload, *buf;
    size_t size;
    make_file(path, 3000, &m, &payload, &buf, &size);
    const uint8_t *p;
    char err[256];
    ck_assert_int_eq(snapfile_parse(buf, size, &got, &p, err, sizeof err), 0);
    for (size_t i = 0; i < size; i++) {
        buf[i] ^= 0x10;
        err[0] = '\0';
        ck_assert_msg(snapfile_parse(buf, size, &got, &p, err, sizeof err) != 0,
                      "byte %zu changed and accepted", i);
        ck_assert(strlen(err) > 10);
        if (i < 8)
            ck_assert(strstr(err, "not a backup file"));
        else if (i >= 40 && i < size - 4) /* past the lengths: header fields and payload */
            ck_assert_msg(strstr(err, "checksum mismatch"), "byte %zu: %s", i, err);
        buf[i] ^= 0x10;
    }
    for (size_t cut = 0; cut < size; cut++) {
        ck_assert_msg(snapfile_parse(buf, cut, &got, &p, err, sizeof err) != 0, "cut at %zu", cut);
        if (cut >= 60)
            ck_assert_msg(strstr(err, "truncated"), "cut at %zu: %s", cut, err);
    }
    uint8_t *longer = malloc(size + 1);
    memcpy(longer, buf, size);
    longer[size] = 0;
    ck_assert_int_ne(snapfile_parse(longer, size + 1, &got, &p, err, sizeof err), 0);
    ck_assert(strstr(err, "more than the header announces"));
    free(longer);
    free(payload);
    free(buf);
}
END_TEST

START_TEST(file_missing)
{
    struct snapfile_meta m;
    uint8_t *payload;
    char err[256];
    ck_assert_int_ne(snapfile_read("/nonexistent/x.snap", &m, &payload, err, sizeof err), 0);
    ck_assert(strstr(err, "No such file"));
}
END_TEST

START_TEST(restore_makes_a_store)
{
    char path[128], dir[128];
    path_in(path, sizeof path, "c.snap");
    path_in(dir, sizeof dir, "deep/member-2");
    struct snapfile_meta m;
    uint8_t *payload, *buf;
    size_t size;
    make_file(path, 200000, &m, &payload, &buf, &size);
    struct node_peer peers[3] = { { 1, "127.0.0.1:7101" }, { 2, "127.0.0.1:7102" },
                                  { 3, "127.0.0.1:7103" } };
    char err[512];
    ck_assert_int_eq(node_restore_dir(dir, &m, payload, peers, 3, 2, false, err, sizeof err), 0);
    /* What a starting node finds: opened as it is (not lost), the snapshot, an empty log. */
    struct storage *s;
    ck_assert_int_eq(storage_open(dir, NULL, &s, err, sizeof err), 0);
    struct raft_init init;
    ck_assert_int_eq(storage_load(s, &init, err, sizeof err), 0);
    ck_assert_uint_eq(init.snapshot.index, 1234);
    ck_assert_uint_eq(init.snapshot.term, 7);
    ck_assert_uint_eq(init.last_index, 1234);
    ck_assert_uint_eq(init.hard_state.term, 7);
    ck_assert_uint_eq(init.hard_state.vote, 0);
    ck_assert_uint_eq(init.hard_state.commit, 1234);
    ck_assert(!init.hard_state.recovering);
    struct membership_state ms;
    ck_assert_int_eq(membership_state_decode(init.conf, init.conf_len, &ms), 0);
    ck_assert_uint_eq(ms.base_index, 1234);
    ck_assert_uint_eq(ms.base.n, 3);
    ck_assert_uint_eq(ms.n_hist, 0);
    for (size_t i = 0; i < 3; i++) {
        ck_assert(ms.base.m[i].voter);
        ck_assert_str_eq(ms.base.m[i].addr, peers[i].addr);
    }
    membership_state_free(&ms);
    struct raft_snapshot_meta sm;
    uint8_t *data;
    size_t len;
    ck_assert_int_eq(storage_snapshot(s, &sm, &data, &len), 0);
    ck_assert_uint_eq(len, 200000);
    ck_assert_mem_eq(data, payload, len);
    free(data);
    storage_close(s);
    /* A second restore into it: refused, and the store is untouched. */
    ck_assert_int_ne(node_restore_dir(dir, &m, payload, peers, 3, 2, false, err, sizeof err), 0);
    ck_assert(strstr(err, "is not empty"));
    ck_assert_int_eq(storage_open(dir, NULL, &s, err, sizeof err), 0);
    ck_assert_int_eq(storage_load(s, &init, err, sizeof err), 0);
    ck_assert_uint_eq(init.snapshot.index, 1234);
    storage_close(s);
    /* A member outside the peers: nothing made. */
    path_in(dir, sizeof dir, "member-4");
    ck_assert_int_ne(node_restore_dir(dir, &m, payload, peers, 3, 4, false, err, sizeof err), 0);
    ck_assert(strstr(err, "not among the peers"));
    ck_assert_int_ne(access(dir, F_OK), 0);
    free(payload);
    free(buf);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("backup_file");
    TCase *tc = tcase_create("backup_file");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, crc32c_check_values);
    tcase_add_test(tc, file_round_trip);
    tcase_add_test(tc, file_damage_refused);
    tcase_add_test(tc, file_missing);
    tcase_add_test(tc, restore_makes_a_store);
    suite_add_tcase(s, tc);
    return s;
}

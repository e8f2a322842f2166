/* lib/mr scheduling: phases, waiting, timeouts and reassignment, late and duplicate finishes,
 * failures and giving up, and the progress text. Time is passed in, so nothing sleeps. */
#include <check.h>
#include <string.h>

#include "mr/mr.h"

static struct mr_assignment must_run(struct mr_sched *s, uint64_t now)
{
    struct mr_assignment a;
    ck_assert_int_eq(mr_sched_assign(s, now, &a), MR_ASSIGN_RUN);
    return a;
}

START_TEST(test_phases)
{
    struct mr_sched *s = mr_sched_new(3, 2, 10000, 3);
    struct mr_assignment a[3], r;
    for (uint32_t i = 0; i < 3; i++) {
        a[i] = must_run(s, 0);
        ck_assert_int_eq(a[i].kind, MR_KIND_MAP);
        ck_assert_uint_eq(a[i].id, i); /* in order */
        ck_assert_uint_eq(a[i].attempt, 1);
    }
    /* Every map is running: no reduce before they are all done. */
    ck_assert_int_eq(mr_sched_assign(s, 1, &r), MR_ASSIGN_WAIT);
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, 0, 1, true), MR_FINISH_ACCEPTED);
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, 2, 1, true), MR_FINISH_ACCEPTED);
    ck_assert_int_eq(mr_sched_assign(s, 2, &r), MR_ASSIGN_WAIT);
    struct mr_sched_counts c;
    mr_sched_counts(s, &c);
    ck_assert_uint_eq(c.maps_done, 2);
    ck_assert_uint_eq(c.maps_running, 1);
    ck_assert_uint_eq(c.reduces_done, 0);
    ck_assert(!c.done);
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, 1, 1, true), MR_FINISH_ACCEPTED);
    r = must_run(s, 3);
    ck_assert_int_eq(r.kind, MR_KIND_REDUCE);
    ck_assert_uint_eq(r.id, 0);
    struct mr_assignment r1 = must_run(s, 3);
    ck_assert_uint_eq(r1.id, 1);
    ck_assert_int_eq(mr_sched_assign(s, 3, &r), MR_ASSIGN_WAIT);
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_REDUCE, 1, 1, true), MR_FINISH_ACCEPTED);
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_REDUCE, 0, 1, true), MR_FINISH_ACCEPTED);
    mr_sched_counts(s, &c);
    ck_assert(c.done && !c.failed);
    ck_assert_uint_eq(c.reduces_done, 2);
    ck_assert_uint_eq(c.reassigned, 0);
    ck_assert_int_eq(mr_sched_assign(s, 4, &r), MR_ASSIGN_DONE);
    /* A late duplicate after the end changes nothing. */
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, 1, 1, true), MR_FINISH_DUPLICATE);
    mr_sched_free(s);
}
END_TEST

START_TEST(test_timeout)
{
    struct mr_sched *s = mr_sched_new(2, 1, 10000, 3);
    struct mr_assignment m0 = must_run(s, 1000), m1 = must_run(s, 5000), out[4], a;
    /* Nothing expires before its deadline. */
    ck_assert_uint_eq(mr_sched_expire(s, 10999, out, 4), 0);
    ck_assert_uint_eq(mr_sched_expire(s, 11000, out, 4), 1);
    ck_assert_uint_eq(out[0].id, m0.id);
    ck_assert_uint_eq(out[0].attempt, 1);
    a = must_run(s, 11001); /* handed out again */
    ck_assert_uint_eq(a.id, m0.id);
    ck_assert_uint_eq(a.attempt, 2);
    struct mr_sched_counts c;
    mr_sched_counts(s, &c);
    ck_assert_uint_eq(c.reassigned, 1);
    ck_assert_uint_eq(c.maps_running, 2);
    /* The first attempt finishes after all: the task is done; the second one's finish is a
     * duplicate, and its failure is too. */
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, m0.id, 1, true), MR_FINISH_ACCEPTED);
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, m0.id, 2, true), MR_FINISH_DUPLICATE);
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, m0.id, 2, false), MR_FINISH_DUPLICATE);
    /* A task that expired and is queued again, then finished by its old attempt, is not
     * handed out a third time. */
    ck_assert_uint_eq(mr_sched_expire(s, 15000, out, 4), 1);
    ck_assert_uint_eq(out[0].id, m1.id);
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, m1.id, 1, true), MR_FINISH_ACCEPTED);
    a = must_run(s, 15001);
    ck_assert_int_eq(a.kind, MR_KIND_REDUCE);
    mr_sched_counts(s, &c);
    ck_assert_uint_eq(c.reassigned, 1);
    /* A reduce times out too. */
    ck_assert_uint_eq(mr_sched_expire(s, 25001, out, 0), 1); /* counted even with no room */
    a = must_run(s, 25002);
    ck_assert_uint_eq(a.attempt, 2);
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_REDUCE, 0, 2, true), MR_FINISH_ACCEPTED);
    ck_assert_int_eq(mr_sched_assign(s, 25003, &a), MR_ASSIGN_DONE);
    mr_sched_free(s);
}
END_TEST

START_TEST(test_failures)
{
    struct mr_sched *s = mr_sched_new(1, 1, 10000, 3);
    struct mr_assignment a = must_run(s, 0), b;
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, 0, 1, false), MR_FINISH_RETRY);
    b = must_run(s, 1);
    ck_assert_uint_eq(b.attempt, 2);
    /* A failure of an attempt that is no longer current does not count. */
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, 0, 1, false), MR_FINISH_IGNORED);
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, 0, 2, false), MR_FINISH_RETRY);
    a = must_run(s, 2);
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, 0, a.attempt, false), MR_FINISH_ABORTED);
    struct mr_sched_counts c;
    mr_sched_counts(s, &c);
    ck_assert(c.failed && !c.done);
    ck_assert_int_eq(mr_sched_assign(s, 3, &a), MR_ASSIGN_DONE);
    ck_assert_uint_eq(mr_sched_expire(s, 999999, NULL, 0), 0);
    mr_sched_free(s);
}
END_TEST

START_TEST(test_unknown)
{
    struct mr_sched *s = mr_sched_new(2, 2, 10000, 3);
    must_run(s, 0);
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, 2, 1, true), MR_FINISH_UNKNOWN); /* no id 2 */
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, 0, 0, true), MR_FINISH_UNKNOWN);
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, 0, 2, true), MR_FINISH_UNKNOWN); /* not yet */
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_MAP, 1, 1, true), MR_FINISH_UNKNOWN); /* not given */
    ck_assert_int_eq(mr_sched_finish(s, MR_KIND_REDUCE, 0, 1, true), MR_FINISH_UNKNOWN);
    ck_assert_int_eq(mr_sched_finish(s, (enum mr_kind)7, 0, 1, true), MR_FINISH_UNKNOWN);
    struct mr_sched_counts c;
    mr_sched_counts(s, &c);
    ck_assert_uint_eq(c.maps_done, 0);
    mr_sched_free(s);
}
END_TEST

START_TEST(test_progress_text)
{
    struct mr_progress p = { .c = { .maps_done = 8, .maps_total = 8, .reduces_done = 5,
                                    .reduces_total = 10, .reduces_running = 2 },
                             .workers = 3, .elapsed_ms = 2345 };
    char buf[256];
    mr_progress_format_line(&p, buf, sizeof buf);
    ck_assert_str_eq(buf, "maps 8/8 (0 running) reduces 5/10 (2 running) workers 3 reassigned 0 "
                          "elapsed 2.3s");
    mr_progress_format_bar(&p, 60, buf, sizeof buf);
    ck_assert_uint_eq(strlen(buf), 60);
    ck_assert(strncmp(buf, "[####", 5) == 0);
    /* Three quarters done: maps are half the bar, half the reduces a quarter. */
    const char *end = strchr(buf, ']');
    size_t cells = (size_t)(end - buf - 1), full = strspn(buf + 1, "#");
    ck_assert_uint_eq(full, cells * 3 / 4);
    ck_assert(strstr(buf, "maps 8/8 reduces 5/10") != NULL);
    p.c.reduces_done = 10;
    p.c.done = true;
    mr_progress_format_line(&p, buf, sizeof buf);
    ck_assert(strstr(buf, " done") != NULL);
    mr_progress_format_bar(&p, 60, buf, sizeof buf);
    ck_assert(strchr(buf, '-') == NULL);
}
END_TEST

Suite *test_suite(void)
{
    Suite *s = suite_create("mr_sched");
    TCase *tc = tcase_create("mr_sched");
    tcase_add_test(tc, test_phases);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_failures);
    tcase_add_test(tc, test_unknown);
    tcase_add_test(tc, test_progress_text);
    suite_add_tcase(s, tc);
    return s;
}

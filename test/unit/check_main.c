/* The main() of every unit-test binary: runs the file's suite verbosely (one line per test)
 * and ends with "RESULT <passed> passed, <failed> failed" for test/run-all.sh. */
#include <check.h>
#include <stdio.h>

Suite *test_suite(void);

int main(void)
{
    SRunner *sr = srunner_create(test_suite());
    srunner_run_all(sr, CK_VERBOSE);
    int run = srunner_ntests_run(sr);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    printf("RESULT %d passed, %d failed\n", run - failed, failed);
    return failed ? 1 : 0;
}

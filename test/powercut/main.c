/* powercut: the cut from the command line (docs/POWERCUT.md), for scripts that run a daemon
 * under the preloaded shim, kill it, and restart it on what a power cut would have left:
 *
 *   powercut cut --dir D --journal J --seed N [--mode mixed|keep|lose|tear]
 *
 * prints "powercut: 3 files, 41 unsynced pages: 14 kept, 13 lost, 14 torn"; exit 0, 1 when the
 * cut fails (its message on stderr), 2 on a usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "powercut.h"

static int usage(void)
{
    fprintf(stderr, "usage: powercut cut --dir DIR --journal DIR --seed N "
                    "[--mode mixed|keep|lose|tear]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "cut") != 0)
        return usage();
    const char *dir = NULL, *journal = NULL, *seed_arg = NULL, *mode_arg = "mixed";
    for (int i = 2; i < argc; i++) {
        const char **to = strcmp(argv[i], "--dir") == 0       ? &dir
                          : strcmp(argv[i], "--journal") == 0 ? &journal
                          : strcmp(argv[i], "--seed") == 0    ? &seed_arg
                          : strcmp(argv[i], "--mode") == 0    ? &mode_arg
                                                              : NULL;
        if (!to || i + 1 >= argc)
            return usage();
        *to = argv[++i];
    }
    static const char *const modes[] = { "mixed", "keep", "lose", "tear" };
    static const enum powercut_mode mode_of[] = { POWERCUT_MIXED, POWERCUT_KEEP, POWERCUT_LOSE,
                                                  POWERCUT_TEAR };
    int m = -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(mode_arg, modes[i]) == 0)
            m = i;
    char *end;
    unsigned long long seed = seed_arg ? strtoull(seed_arg, &end, 0) : 0;
    if (!dir || !journal || !seed_arg || !*seed_arg || *end || m < 0)
        return usage();
    struct powercut_stats st;
    char err[1024];
    if (powercut_apply(dir, journal, seed, mode_of[m], &st, err, sizeof err) != 0) {
        fprintf(stderr, "powercut: %s\n", err);
        return 1;
    }
    printf("powercut: %u files, %llu unsynced pages: %llu kept, %llu lost, %llu torn", st.files,
           (unsigned long long)st.pages, (unsigned long long)st.kept,
           (unsigned long long)st.lost, (unsigned long long)st.torn);
    if (st.missing)
        printf(" (%u journaled files no longer exist)", st.missing);
    printf("\n");
    return 0;
}

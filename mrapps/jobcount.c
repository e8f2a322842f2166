/* The lab's jobcount: counts map invocations, to test that no task runs twice when nothing
 * fails. Each map creates a new file mr-worker-jobcount-<pid>-<n> and sleeps 2-5 s; the reduce
 * (one key, "a") returns how many such files exist. */
#include "common/appkit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

MR_APP_EXPORT const uint32_t mr_app_abi_version = MR_APP_ABI_VERSION;

/* Creates the next free mr-worker-jobcount-<pid>-<n>. The lab keeps n in a global counter;
 * O_EXCL finds it without state in the app. */
static int mark_invocation(void)
{
    char name[96];
    for (unsigned n = 0;; n++) {
        snprintf(name, sizeof name, "mr-worker-jobcount-%ld-%u", (long)getpid(), n);
        int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno == EEXIST)
            continue;
        if (fd < 0)
            return -1;
        int ok = write(fd, "x", 1) == 1;
        close(fd);
        return ok ? 0 : -1;
    }
}

MR_APP_EXPORT int mr_map(const char *filename, const char *contents, size_t len,
                         struct mr_emitter *out)
{
    (void)filename;
    (void)contents;
    (void)len;
    if (mark_invocation() != 0)
        return 1;
    appkit_sleep_ms(2000 + appkit_random_below(3000));
    return mr_emit(out, "a", 1, "x", 1);
}

MR_APP_EXPORT int mr_reduce(const char *key, size_t key_len, const struct mr_slice *values,
                            size_t nvalues, struct mr_emitter *out)
{
    (void)key;
    (void)key_len;
    (void)values;
    (void)nvalues;
    DIR *d = opendir(".");
    if (!d)
        return 1;
    uint64_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strncmp(e->d_name, "mr-worker-jobcount", 18) == 0;
    closedir(d);
    return appkit_emit_u64(out, n);
}

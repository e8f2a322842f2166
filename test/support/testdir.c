#include "testdir.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

void testdir_make(char *dir, size_t len, const char *prefix)
{
    snprintf(dir, len, "/tmp/%s_XXXXXX", prefix);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

void testdir_remove(char *dir)
{
    if (dir[0])
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    dir[0] = '\0';
}

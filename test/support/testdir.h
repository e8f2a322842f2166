/* A temporary directory per test (for Check fixtures): made under /tmp, removed whole after. */
#ifndef TEST_SUPPORT_TESTDIR_H
#define TEST_SUPPORT_TESTDIR_H

#include <stddef.h>

/* Makes /tmp/<prefix>_XXXXXX into dir (len bytes); aborts with a message on failure. */
void testdir_make(char *dir, size_t len, const char *prefix);

/* Removes dir and everything under it (nothing when dir is ""), then empties dir. */
void testdir_remove(char *dir);

#endif

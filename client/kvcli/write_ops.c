/* kvcli del KEY, kvcli cas KEY OLD NEW, kvcli cas --absent KEY NEW (write_ops.h).
 *
 * del prints "deleted" or "not found" (exit 0 either way: the key is absent afterwards);
 * --json: {"key":K,"deleted":true|false}.
 * cas's NEW "-" is read from standard input (as put's VALUE). cas prints nothing when it
 * swapped (exit 0); when it did not (exit 1) it prints the current value on standard output
 * and "compare failed" on standard error, or, for an absent key, only "compare failed: key not
 * found" on standard error; --json: {"key":K,"swapped":true} or
 * {"key":K,"swapped":false,"exists":true,"value":V} / {"key":K,"swapped":false,"exists":false}
 * (keys and values as json_bytes_member writes them: "value_base64" for bytes that are not
 * UTF-8). */
#include "write_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "json.h"

bool write_ops_match(const char *cmd, char **args, int n)
{
    if (strcmp(cmd, "del") == 0)
        return n == 2;
    if (strcmp(cmd, "cas") == 0) /* a flag other than --absent is a usage error */
        return n == 4 && (strncmp(args[0], "--", 2) != 0 || strcmp(args[0], "--absent") == 0);
    return false;
}

static int run_del(const char *key, struct clerk_sync *kv, struct shard_sync *sharded, bool json,
                   enum clerk_result *r)
{
    *r = kv ? clerk_sync_delete(kv, key) : shard_sync_delete(sharded, key);
    if (*r != CLERK_OK && *r != CLERK_NO_KEY)
        return -1;
    if (json) {
        putchar('{');
        json_bytes_member("key", (const uint8_t *)key, strlen(key));
        printf(",\"deleted\":%s}\n", *r == CLERK_OK ? "true" : "false");
    } else {
        puts(*r == CLERK_OK ? "deleted" : "not found");
    }
    return 0;
}

static int run_cas(const char *key, const char *old, bool absent, const char *new_value,
                   struct clerk_sync *kv, struct shard_sync *sharded, bool json,
                   enum clerk_result *r)
{
    const uint8_t *e = (const uint8_t *)(absent ? "" : old);
    size_t elen = absent ? 0 : strlen(old), vlen = strlen(new_value);
    /* NEW "-" reads the value from standard input, as put's VALUE does. */
    uint8_t *nv = strcmp(new_value, "-") == 0 ? read_stream(stdin, &vlen)
                                              : (uint8_t *)xstrdup(new_value);
    uint8_t *cur = NULL;
    size_t clen = 0;
    *r = kv ? clerk_sync_cas(kv, key, e, elen, absent, nv, vlen, &cur, &clen)
            : shard_sync_cas(sharded, key, e, elen, absent, nv, vlen, &cur, &clen);
    free(nv);
    int rc = -1;
    if (*r == CLERK_OK || *r == CLERK_CAS_FAILED || *r == CLERK_NO_KEY) {
        rc = *r == CLERK_OK ? 0 : 1;
        if (json) {
            putchar('{');
            json_bytes_member("key", (const uint8_t *)key, strlen(key));
            printf(",\"swapped\":%s", *r == CLERK_OK ? "true" : "false");
            if (*r != CLERK_OK)
                printf(",\"exists\":%s", *r == CLERK_CAS_FAILED ? "true" : "false");
            if (*r == CLERK_CAS_FAILED) {
                putchar(',');
                json_bytes_member("value", cur, clen);
            }
            puts("}");
        } else if (*r == CLERK_CAS_FAILED) {
            fwrite(cur, 1, clen, stdout);
            putchar('\n');
            fprintf(stderr, "kvcli: %s: compare failed: the current value is printed\n", key);
        } else if (*r == CLERK_NO_KEY) {
            fprintf(stderr, "kvcli: %s: compare failed: key not found\n", key);
        }
    }
    free(cur);
    return rc;
}

int write_ops_run(const char *cmd, char **args, int n, struct clerk_sync *kv,
                  struct shard_sync *sharded, bool json, enum clerk_result *r)
{
    (void)n;
    if (strcmp(cmd, "del") == 0)
        return run_del(args[0], kv, sharded, json, r);
    bool absent = strcmp(args[0], "--absent") == 0;
    return absent ? run_cas(args[1], NULL, true, args[2], kv, sharded, json, r)
                  : run_cas(args[0], args[1], false, args[2], kv, sharded, json, r);
}

/* The kvd client library: the kv layer on the clerk engine (engine.h). A clerk has a random
 * 64-bit client id and numbers its writes, so a retried Put/Append/Delete/CAS executes at most
 * once (a retried CAS gets its first execution's outcome); it remembers the last known leader,
 * follows leader
 * hints, retries with backoff and gives up at a per-operation deadline.
 *
 * Operations of one clerk run one at a time, in the order they were asked for (that is what
 * makes "only the last sequence number per client" enough on the server); for concurrency use
 * several clerks — they can share one clerk_net (one connection per server). */
#ifndef CLERK_CLERK_H
#define CLERK_CLERK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clerk/engine.h" /* enum clerk_result, struct clerk_opts */
#include "clerk/net.h"    /* struct clerk_net */

struct clerk;
struct clerk *clerk_new(struct clerk_net *net, const struct clerk_opts *o);
/* A clerk on any transport (the simulator's). */
struct clerk *clerk_new_on(const struct clerk_transport *t, const struct clerk_opts *o);
/* Pending operations are dropped without their callbacks. */
void clerk_free(struct clerk *c);
uint64_t clerk_client_id(const struct clerk *c);

/* Why the last operation that did not succeed failed, in words for a user: for CLERK_TOO_LARGE
 * "request of N bytes exceeds the limit of M bytes"; for CLERK_TIMEOUT and CLERK_UNREACHABLE
 * what each server last did ("cannot connect to X: Connection refused; cannot resolve Y: ...;
 * Z is not a kvd server (...)"). "" before any failure. Valid until the next operation ends. */
const char *clerk_error(const struct clerk *c);

/* For CLERK_TOO_LARGE: the size of the refused request and the limit it exceeded (0 when not
 * known), from the last failed operation. */
void clerk_too_large(const struct clerk *c, uint64_t *size, uint64_t *limit);

/* Outcome of an operation, called exactly once (unless the clerk is freed first). value is the
 * Get's value, the previous value of a Put/Append asked with want_prev, or a failed CAS's
 * current value (CLERK_CAS_FAILED); valid during the call. */
typedef void (*clerk_done_fn)(enum clerk_result r, const uint8_t *value, size_t len, void *arg);

/* Queue an operation; key and value are copied. */
void clerk_get(struct clerk *c, const uint8_t *key, size_t klen, clerk_done_fn done, void *arg);
void clerk_put(struct clerk *c, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
               bool want_prev, clerk_done_fn done, void *arg);
void clerk_append(struct clerk *c, const uint8_t *key, size_t klen, const uint8_t *val,
                  size_t vlen, bool want_prev, clerk_done_fn done, void *arg);
/* Delete: CLERK_OK (the key existed and is gone) or CLERK_NO_KEY (it was absent). */
void clerk_delete(struct clerk *c, const uint8_t *key, size_t klen, clerk_done_fn done, void *arg);
/* Compare-and-swap: sets key to val iff it holds expected (a present key with exactly those
 * bytes), or, with expect_absent, iff it is absent (expected ignored). CLERK_OK: swapped;
 * CLERK_CAS_FAILED: not, the key holds value; CLERK_NO_KEY: not, the key is absent. */
void clerk_cas(struct clerk *c, const uint8_t *key, size_t klen, const uint8_t *expected,
               size_t elen, bool expect_absent, const uint8_t *val, size_t vlen,
               clerk_done_fn done, void *arg);

/* ---- blocking API (its own event loop), for command-line tools and simple programs ---- */

struct clerk_sync;
struct clerk_sync *clerk_sync_new(const char *const *servers, size_t n, const struct clerk_opts *o,
                                  char *err, size_t errlen);
void clerk_sync_free(struct clerk_sync *s);

/* Each waits for the outcome; *value (malloc'd, may be NULL) gets the value or previous value. */
enum clerk_result clerk_sync_get(struct clerk_sync *s, const char *key, uint8_t **value, size_t *len);
enum clerk_result clerk_sync_put(struct clerk_sync *s, const char *key, const uint8_t *val,
                                 size_t vlen);
enum clerk_result clerk_sync_append(struct clerk_sync *s, const char *key, const uint8_t *val,
                                    size_t vlen);
enum clerk_result clerk_sync_delete(struct clerk_sync *s, const char *key);
/* *current (malloc'd, may be NULL): the current value on CLERK_CAS_FAILED. */
enum clerk_result clerk_sync_cas(struct clerk_sync *s, const char *key, const uint8_t *expected,
                                 size_t elen, bool expect_absent, const uint8_t *val, size_t vlen,
                                 uint8_t **current, size_t *len);

/* The clerk of s (for clerk_error, clerk_too_large). */
struct clerk *clerk_sync_clerk(struct clerk_sync *s);

#endif

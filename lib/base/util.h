/* Small helpers: allocation that never returns NULL, strict number / duration / size / address
 * parsing (shared by config files, flags and tools), and a few macros. */
#ifndef BASE_UTIL_H
#define BASE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Allocation wrappers: on failure they print a message and abort (a daemon that cannot allocate
 * a few bytes cannot keep any promise). The caller owns and frees the result. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Everything f has left (until EOF or an error), in a buffer of its own (free it). */
uint8_t *read_stream(FILE *f, size_t *len);
/* Formats into a freshly allocated string, like asprintf. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Formats a message into err (errlen bytes) and returns -1: the failure path of the functions
 * that report in (err, errlen). */
int errorf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Strict parsers: the whole string must be consumed; no sign for unsigned values.
 * Each returns 0 and stores the value, or -1 on any error (out left untouched). */
int parse_u64(const char *s, uint64_t *out);
int parse_i64(const char *s, int64_t *out);
int parse_bool(const char *s, bool *out); /* true/false, yes/no, on/off, 1/0 */
/* Durations: "250ms", "2s", "1m", "1h", or a bare number of milliseconds. */
int parse_duration_ms(const char *s, uint64_t *out);
/* Sizes: "64MiB", "4KiB", "1GiB", "512" (bytes); K/M/G and KB/MB/GB are taken as powers of 1024. */
int parse_size(const char *s, uint64_t *out);

/* Splits "host:port" (or "[v6]:port") into host (copied into a buffer of hostlen bytes) and port.
 * Returns 0, or -1 when the form or the port (0..65535) is wrong or the host does not fit. */
/* Splits a comma-separated list ("a,b,c"; empty items skipped) into *out, a malloc'd array of
 * malloc'd strings; returns the count. Free with strv_free. */
size_t split_list(const char *list, char ***out);
void strv_free(char **v, size_t n);

int parse_host_port(const char *s, char *host, size_t hostlen, uint16_t *port);

/* Big-endian encoding of fixed-size integers (keys that sort as numbers, wire and disk
 * layouts). */
void be64_put(uint8_t *p, uint64_t v);
uint64_t be64_get(const uint8_t *p);
void be32_put(uint8_t *p, uint32_t v);
uint32_t be32_get(const uint8_t *p);

/* FNV-1a 32-bit hash (also the MapReduce partition function). */
uint32_t hash_fnv1a32(const void *data, size_t len);

/* True when p[0..len) is well-formed UTF-8 (no overlong forms, surrogates or code points past
 * U+10FFFF). */
bool utf8_valid(const uint8_t *p, size_t len);

/* A splitmix64 generator: small, seeded, deterministic. */
struct rng { uint64_t state; };
void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t rng_below(struct rng *r, uint64_t n);

#endif

/* The workload: which operation comes next (a weighted mix of put / get / append), on which
 * key (uniform over --keys fixed-width keys), with which value (--value-size bytes, stamped so
 * successive writes differ). Pure: no I/O, randomness from a caller's seeded generator. */
#ifndef KVBENCH_WORKLOAD_H
#define KVBENCH_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "bench.h"

struct workload {
    unsigned weight[OP_KINDS]; /* relative weights, summing to > 0 */
    unsigned total;
    uint64_t keys;
    size_t key_size, value_size;
};

/* Parses a mix such as "put=80,get=20" or "put=50,get=25,append=25" (missing kinds weigh 0)
 * into w->weight. Returns 0, or -1 with a message in err. */
int workload_parse_mix(struct workload *w, const char *mix, char *err, size_t errlen);

/* Sets keys and sizes after the mix and checks everything fits (every key index must have a
 * distinct key of key_size bytes). Returns 0, or -1 with a message in err. */
int workload_init(struct workload *w, uint64_t keys, size_t key_size, size_t value_size,
                  char *err, size_t errlen);

/* Draws the next operation kind. */
enum op_kind workload_pick(const struct workload *w, struct rng *r);

/* Draws a key index in [0, keys). */
uint64_t workload_pick_key(const struct workload *w, struct rng *r);

/* Writes key number idx into out (key_size bytes, no terminator): the zero-padded decimal. */
void workload_key(const struct workload *w, uint64_t idx, uint8_t *out);

/* Writes a value of value_size bytes into out: printable filler with stamp at the front. */
void workload_value(const struct workload *w, uint64_t stamp, uint8_t *out);

/* True when a value read back could have been written by this workload: value_size bytes (a
 * put), or a whole number of them (appends). */
bool workload_value_ok(const struct workload *w, size_t len);

/* Writes "put=..,get=..,append=.." (the percentages) into buf. */
void workload_describe_mix(const struct workload *w, char *buf, size_t len);

#endif

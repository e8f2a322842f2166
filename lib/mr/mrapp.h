/* The MapReduce application ABI, version 1: the one header an application includes.
 *
 * An application is a shared object (cc -fPIC -shared -o myapp.so myapp.c) that defines:
 *
 *   MR_APP_EXPORT const uint32_t mr_app_abi_version = MR_APP_ABI_VERSION;
 *   MR_APP_EXPORT int mr_map(const char *filename, const char *contents, size_t len,
 *                            struct mr_emitter *out);
 *   MR_APP_EXPORT int mr_reduce(const char *key, size_t key_len, const struct mr_slice *values,
 *                               size_t nvalues, struct mr_emitter *out);
 * and optionally
 *   MR_APP_EXPORT int mr_combine(same arguments as mr_reduce);
 *
 * The worker (bin/mrworker) and bin/mrsequential load it with dlopen. A missing mr_map,
 * mr_reduce or mr_app_abi_version, or a version other than the loader's, is refused with an
 * error naming the file and the symbol.
 *
 * mr_map is called once per input file. filename is the name given to the coordinator (or to
 * mrsequential); contents[0..len) is the whole file, followed by a '\0' that is not counted in
 * len. It emits any number of pairs with mr_emit(out, key, key_len, value, value_len).
 *
 * mr_reduce is called once per distinct key, keys in increasing byte order within one reduce
 * partition, with every value emitted for that key by every map (or the values mr_combine
 * returned for them). The order of values is unspecified; sort them if the output depends on
 * it. It emits exactly one value with mr_emit_value(out, value, value_len); the framework
 * writes the line "key value\n" to the partition's output file mr-out-Y.
 *
 * mr_combine, when present, runs on each map task's output, per key, before it is written:
 * it receives some values of a key and emits exactly one value standing for all of them (for a
 * word count: their sum). It must be safe to apply zero, one or several times.
 *
 * Memory: every pointer the framework passes (filename, contents, key, values) is valid only
 * during the call; key and every value are followed by a '\0' not counted in their length.
 * mr_emit copies what it is given, so the application may pass pointers into contents or into
 * its own temporary buffers. The application frees whatever it allocates before returning.
 *
 * Errors: return 0 on success. A non-zero return fails the task: the worker reports it to the
 * coordinator, which gives the task to a worker again (and gives up on the job after a few
 * failures of the same task). A map or reduce may also simply exit the process: the task then
 * times out and runs elsewhere.
 *
 * Keys and values are byte strings. Because outputs are text lines "key value", keys should
 * contain no space or newline and values no newline.
 *
 * Threads: a worker calls the functions from one thread, one call at a time, but the same
 * process runs many tasks in turn, and several worker processes run at once. */
#ifndef MR_MRAPP_H
#define MR_MRAPP_H

#include <stddef.h>
#include <stdint.h>

#define MR_APP_ABI_VERSION 1u

/* Marks the symbols the loader looks up (apps may be built with -fvisibility=hidden). */
#define MR_APP_EXPORT __attribute__((visibility("default")))

/* A byte string: data[0..len), followed by a '\0' (not counted). */
struct mr_slice {
    const char *data;
    size_t len;
};

/* Where an app's results go. The framework provides it; apps only call mr_emit / mr_emit_value.
 * emit returns 0, or non-zero when the framework cannot take the pair (the app should then
 * return that value). */
struct mr_emitter {
    int (*emit)(struct mr_emitter *self, const char *key, size_t key_len, const char *value,
                size_t value_len);
};

/* mr_map: emits one intermediate pair. */
static inline int mr_emit(struct mr_emitter *out, const char *key, size_t key_len,
                          const char *value, size_t value_len)
{
    return out->emit(out, key, key_len, value, value_len);
}

/* mr_reduce and mr_combine: emits the one result value for the current key. */
static inline int mr_emit_value(struct mr_emitter *out, const char *value, size_t value_len)
{
    return out->emit(out, NULL, 0, value, value_len);
}

typedef int (*mr_map_fn)(const char *filename, const char *contents, size_t len,
                         struct mr_emitter *out);
typedef int (*mr_reduce_fn)(const char *key, size_t key_len, const struct mr_slice *values,
                            size_t nvalues, struct mr_emitter *out);

#endif

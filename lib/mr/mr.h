/* lib/mr: the MapReduce framework without the network. The daemons (mrcoordinator, mrworker)
 * and bin/mrsequential are thin layers over it.
 *
 *   app loading     mr_app_load: dlopen an application (lib/mr/mrapp.h is its ABI)
 *   records         mr_kvbuf (serialized pairs), mr_kvlist (an index to sort and group)
 *   files           names mr-X-Y / mr-out-Y, whole-file reads, atomic writes (temp + rename)
 *   tasks           mr_task_map, mr_task_reduce, mr_sequential: run one task on local files
 *   scheduling      mr_sched: the coordinator's task table (pure: time is passed in)
 *   progress        mr_progress_format_*: the lines and bars the coordinator shows
 *
 * Nothing here touches an event loop or a socket; everything is single-threaded. Errors are
 * returned as MR_ERR (-1) with a message in the caller's err buffer. */
#ifndef MR_MR_H
#define MR_MR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mr/mrapp.h"

enum { MR_OK = 0, MR_ERR = -1 };

/* ---- applications ------------------------------------------------------------------------ */

struct mr_app {
    void *handle;
    mr_map_fn map;
    mr_reduce_fn reduce;
    mr_reduce_fn combine; /* NULL when the app has none */
};

/* Loads the shared object at path (a name without '/' is looked for in the current directory,
 * not in the library search path) and checks its ABI version and symbols. Returns MR_OK, or
 * MR_ERR with a message such as "wc.so: no symbol mr_reduce (not a MapReduce app?)". Release
 * with mr_app_close. */
int mr_app_load(struct mr_app *app, const char *path, char *err, size_t errlen);

/* Unloads the app (no-op on a zeroed struct). */
void mr_app_close(struct mr_app *app);

/* ---- records ----------------------------------------------------------------------------- */

/* The reduce partition of a key: FNV-1a 32-bit of the key, & 0x7fffffff, mod nreduce (> 0). */
uint32_t mr_partition(const char *key, size_t key_len, uint32_t nreduce);

/* A growable buffer of serialized pairs, in the intermediate file format (see kv.c): a 4-byte
 * magic, then per pair two 32-bit little-endian lengths, the key, '\0', the value, '\0'.
 * Initialize with mr_kvbuf_init; the buffer owns its memory. */
struct mr_kvbuf {
    char *data;
    size_t len, cap;
};

void mr_kvbuf_init(struct mr_kvbuf *b);
/* Appends one pair (copied). Returns MR_ERR only when a length does not fit in 32 bits. */
int mr_kvbuf_add(struct mr_kvbuf *b, const char *key, size_t key_len, const char *value,
                 size_t value_len);
/* Empties the buffer (keeps the magic and the memory). */
void mr_kvbuf_reset(struct mr_kvbuf *b);
void mr_kvbuf_free(struct mr_kvbuf *b);

/* One pair, pointing into a buffer that must outlive it; key and value are '\0'-terminated. */
struct mr_kv {
    uint64_t prefix; /* the first 8 key bytes, big-endian: orders like memcmp */
    const char *key;
    const char *value;
    uint32_t key_len, value_len;
};

/* An index over the pairs of one or more buffers. Initialize with {0}; free with
 * mr_kvlist_free (which does not free the buffers). */
struct mr_kvlist {
    struct mr_kv *items;
    size_t n, cap;
};

/* Appends an index entry for every pair in data[0..len) (a buffer or a file's contents in the
 * mr_kvbuf format; data[len] need not be readable). Returns MR_ERR, with a message that
 * names what (e.g. a file name) and the offset, when the data is not well formed; the list
 * then holds only the pairs before the fault. */
int mr_kvlist_parse(struct mr_kvlist *l, const char *data, size_t len, const char *what,
                    char *err, size_t errlen);

/* Sorts by key (bytewise, shorter first on a tie). Stable: the values of one key keep their
 * order of parsing. */
void mr_kvlist_sort(struct mr_kvlist *l);

/* In a sorted list: the index just past the run of pairs whose key equals items[start]'s. */
size_t mr_kvlist_group_end(const struct mr_kvlist *l, size_t start);

void mr_kvlist_free(struct mr_kvlist *l);

/* ---- files ------------------------------------------------------------------------------- */

/* "<workdir>/mr-<map>-<reduce>" and "<workdir>/mr-out-<reduce>", malloc'd (caller frees). */
char *mr_path_intermediate(const char *workdir, uint32_t map, uint32_t reduce);
char *mr_path_output(const char *workdir, uint32_t reduce);

/* Reads a whole file into a malloc'd buffer with a '\0' after the last byte (caller frees
 * *data). Returns MR_OK, or MR_ERR with "path: reason" in err. */
int mr_file_read(const char *path, char **data, size_t *len, char *err, size_t errlen);

/* Writes the concatenation of n pieces to a temporary file in path's directory, whose name
 * starts with ".tmp." (never "mr-"), then renames it to path; readers see the old file or the
 * whole new one, never a part. The temporary file is removed on failure. */
struct mr_piece {
    const void *data;
    size_t len;
};
int mr_file_write_atomic(const char *path, const struct mr_piece *pieces, size_t n, char *err,
                         size_t errlen);

/* Removes the intermediate files mr-X-Y of a finished job and the temporary files (".tmp.mr-*")
 * that crashed workers left in workdir. Returns how many files were removed. */
size_t mr_workdir_clean(const char *workdir, uint32_t nmap, uint32_t nreduce);

/* ---- tasks ------------------------------------------------------------------------------- */

/* Map task map_id: reads input, calls the app's map, splits the pairs into nreduce partitions
 * (mr_partition), applies the app's combine if any, and writes every mr-<map_id>-<y> in
 * workdir (empty partitions too), each atomically. */
int mr_task_map(const struct mr_app *app, const char *input, uint32_t map_id, uint32_t nreduce,
                const char *workdir, char *err, size_t errlen);

/* Reduce task reduce_id: reads mr-<x>-<reduce_id> for every x < nmap, sorts by key, calls the
 * app's reduce once per key and writes "key value" lines to mr-out-<reduce_id> atomically. */
int mr_task_reduce(const struct mr_app *app, uint32_t reduce_id, uint32_t nmap,
                   const char *workdir, char *err, size_t errlen);

/* The whole job in one process, as the lab's mrsequential: maps every input (no combine),
 * sorts all pairs, reduces, and writes every "key value" line to output (atomically). */
int mr_sequential(const struct mr_app *app, char *const *inputs, size_t ninputs,
                  const char *output, char *err, size_t errlen);

/* ---- scheduling (the coordinator's state, pure) ------------------------------------------- */

enum mr_kind { MR_KIND_MAP = 1, MR_KIND_REDUCE = 2 };

/* The task handed out by mr_sched_assign. */
struct mr_assignment {
    enum mr_kind kind;
    uint32_t id;
    uint32_t attempt; /* 1 the first time, then 2, 3... */
};

enum mr_assign_result {
    MR_ASSIGN_RUN,  /* *out holds a task; it is RUNNING until finished or timed out */
    MR_ASSIGN_WAIT, /* every task of the phase is running or done: ask again later */
    MR_ASSIGN_DONE, /* every reduce is done (or the job failed): the worker should exit */
};

enum mr_finish_result {
    MR_FINISH_ACCEPTED,  /* the task is done now */
    MR_FINISH_DUPLICATE, /* it was already done (another attempt finished first) */
    MR_FINISH_UNKNOWN,   /* no such task */
    MR_FINISH_RETRY,     /* failure reported: the task goes back to the queue */
    MR_FINISH_IGNORED,   /* failure of an attempt that is no longer the current one */
    MR_FINISH_ABORTED,   /* the task failed max_failures times: the job has failed */
};

struct mr_sched_counts {
    uint32_t maps_done, maps_total, maps_running;
    uint32_t reduces_done, reduces_total, reduces_running;
    uint64_t reassigned; /* hand-outs of a task that had been handed out before */
    bool done, failed;
};

struct mr_sched;

/* A job of nmap map tasks and nreduce reduce tasks (both >= 1); a running task whose
 * timeout_ms passes goes back to the queue; a task reported failed max_failures times fails
 * the job. Free with mr_sched_free. */
struct mr_sched *mr_sched_new(uint32_t nmap, uint32_t nreduce, uint64_t timeout_ms,
                              uint32_t max_failures);
void mr_sched_free(struct mr_sched *s);

/* Hands out the first idle task of the current phase (maps, then reduces once every map is
 * done), marking it RUNNING until now_ms + timeout. */
enum mr_assign_result mr_sched_assign(struct mr_sched *s, uint64_t now_ms,
                                      struct mr_assignment *out);

/* Records the outcome of an attempt. A success of any attempt (even one that timed out)
 * completes a task that is not done yet; a failure counts only for the current attempt. */
enum mr_finish_result mr_sched_finish(struct mr_sched *s, enum mr_kind kind, uint32_t id,
                                      uint32_t attempt, bool ok);

/* Puts every RUNNING task whose deadline is <= now_ms back in the queue. Returns how many;
 * for the first max_out of them, (kind, id, attempt) go to out[]. */
size_t mr_sched_expire(struct mr_sched *s, uint64_t now_ms, struct mr_assignment *out,
                       size_t max_out);


void mr_sched_counts(const struct mr_sched *s, struct mr_sched_counts *c);

/* ---- progress ------------------------------------------------------------------------------ */

struct mr_progress {
    struct mr_sched_counts c;
    uint32_t workers;
    uint64_t elapsed_ms;
};

/* "maps 5/8 (2 running) reduces 0/10 (0 running) workers 3 reassigned 0 elapsed 2.3s". */
void mr_progress_format_line(const struct mr_progress *p, char *buf, size_t len);

/* A one-line bar for a terminal, at most width columns (>= 20):
 * "[#########-----------] maps 8/8 reduces 3/10  2.3s". Maps count for half the bar, reduces
 * for the other half. */
void mr_progress_format_bar(const struct mr_progress *p, int width, char *buf, size_t len);

#endif

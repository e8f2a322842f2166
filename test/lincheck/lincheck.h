/* lincheck: a linearizability checker for key/value histories (docs/LINCHECK.md).
 *
 * A history is a list of operations (get / put / append / delete / cas on string keys), each
 * with the client that issued it, its input, its output and the interval [call, return] during
 * which it ran, in nanoseconds of one monotonic clock. lin_check decides whether some total
 * order of the operations respects real time (an operation that returned before another was
 * called comes first) and the key/value model (per key: the key starts absent; get returns its
 * value or "absent"; put sets it; append concatenates (to "" when absent), and when an output is
 * recorded it must equal the value before it; delete makes it absent (its recorded outcome:
 * whether it existed); cas sets it to the new value iff it holds the expected one (or, with
 * if_absent, iff it is absent), and its recorded outcome must agree, a failed one with the
 * current value it reports). An output "" without the absent flag also fits an absent key (what
 * recorders that do not tell them apart write).
 *
 * The algorithm is Porcupine's: the history is partitioned per key (the model is a product of
 * independent per-key registers), and each partition is searched with Wing & Gong's algorithm
 * over the call/return entry list, memoized as Lowe suggested on (set of linearized operations,
 * value). The check stops at a time limit and then answers LIN_UNKNOWN.
 *
 * Histories are written and read as JSON lines, one operation per line:
 *   {"client":7,"op":"append","key":"k","value":"v","output":"o","call":123,"return":456}
 *
 * Nothing here is thread-safe: a history is owned by one thread at a time (recorders that run
 * clients in several threads serialize their calls with a mutex). No global state is kept.
 *
 * Link: $(OUT)/lib/liblincheck.a, then lib/base (libbase.a) after it. */
#ifndef LINCHECK_H
#define LINCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lin_kind { LIN_GET = 0, LIN_PUT = 1, LIN_APPEND = 2, LIN_DELETE = 3, LIN_CAS = 4 };

/* The verdict of a check. The values are bin/lincheck's exit statuses. */
enum lin_result { LIN_OK = 0, LIN_ILLEGAL = 1, LIN_UNKNOWN = 3 };

/* Errors (negative, so they never collide with a verdict). */
enum {
    LIN_ERR_INVALID = -1, /* an operation that cannot be in a history (see lin_history_add_op) */
    LIN_ERR_IO = -2,      /* a file could not be opened, read or written (message in err) */
    LIN_ERR_PARSE = -3,   /* a malformed JSON line (message with file and line number in err) */
};

/* return_ns of an operation whose outcome is unknown (the client crashed or gave up waiting):
 * the operation may have taken effect at any time after its call, or never. In a JSON line it is
 * written "return":-1 (a line without "return" means the same). */
#define LIN_NO_RETURN INT64_C(-1)

/* Default time limit of a check, and the value that means "no limit". */
#define LIN_TIMEOUT_DEFAULT_MS 10000u
#define LIN_TIMEOUT_NONE 0u

/* A check also gives up (LIN_UNKNOWN) when its memo of explored states for one key would hold
 * more than this many bytes. */
#define LIN_MEMORY_LIMIT ((size_t)1 << 30)

/* The environment variable naming a directory where lin_check_and_save writes histories. */
#define LIN_HISTORY_DIR_ENV "KV_HISTORY_DIR"

/* One operation. Strings are byte strings with a length (they may hold any byte, NUL included)
 * and are also NUL-terminated, so text keys can be used as C strings. Inside a history the
 * strings are owned by the history. */
struct lin_op {
    int64_t client;     /* who issued it (for reports only; the check does not use it) */
    enum lin_kind kind;
    const char *key;
    size_t key_len;
    const char *value;  /* put: the new value; append: the suffix; cas: the new value; get,
                         * delete: "" (ignored) */
    size_t value_len;
    const char *output; /* get: the value read; append: the value before it (Lab 2); a failed
                         * cas: the current value it reported; put, delete: unused */
    size_t output_len;
    bool has_output;    /* false: no output recorded (a get without output constrains nothing,
                         * an append without output is not checked against the old value) */
    bool absent;        /* the output is "the key is absent" (a get of NO_KEY; an append to an
                         * absent key; a cas that failed on an absent key): output is "" and
                         * has_output true */
    const char *expected; /* cas: the value the key must hold (unless expect_absent) */
    size_t expected_len;
    bool expect_absent; /* cas: swap only if the key is absent */
    bool has_ok;        /* delete, cas: the outcome was recorded (false: unknown) */
    bool ok;            /* delete: the key existed; cas: it swapped */
    int64_t call_ns;    /* >= 0 */
    int64_t return_ns;  /* >= call_ns, or LIN_NO_RETURN */
    uint32_t line;      /* the JSON line it was read from (1-based), 0 when added in code */
};

/* A growing list of operations, in the order they were added. Initialize with
 * lin_history_init (or = {0}); release with lin_history_free. The fields may be read directly;
 * change them only through the functions below. */
struct lin_history {
    struct lin_op *ops;
    size_t len;
    size_t cap;
};

/* ---- building histories ---------------------------------------------------------------------- */

/* Makes h an empty history. */
void lin_history_init(struct lin_history *h);

/* Frees every operation and the list; h is then empty and may be reused. */
void lin_history_free(struct lin_history *h);

/* Appends a copy of *op (its strings are copied; the caller keeps its own; op->line is kept).
 * Returns 0, or LIN_ERR_INVALID (nothing added) when the kind is not one of enum lin_kind,
 * call_ns < 0, or return_ns is neither LIN_NO_RETURN nor >= call_ns. */
int lin_history_add_op(struct lin_history *h, const struct lin_op *op);

/* lin_history_add_op for text strings: value may be NULL for a get (""); output NULL means
 * "no output recorded". */
int lin_history_add(struct lin_history *h, int64_t client, enum lin_kind kind, const char *key,
                    const char *value, const char *output, int64_t call_ns, int64_t return_ns);

/* Recording in two halves, as a client sees an operation: lin_history_call records the call
 * (no output, return_ns = LIN_NO_RETURN) and stores its index in *index; lin_history_return
 * later completes that operation with its output (NULL with any length: none) and return time.
 * An operation never completed stays an unknown-outcome operation. Both return 0 or
 * LIN_ERR_INVALID (bad kind or time, index out of range, already returned, return < call). */
int lin_history_call(struct lin_history *h, int64_t client, enum lin_kind kind, const char *key,
                     size_t key_len, const char *value, size_t value_len, int64_t call_ns,
                     size_t *index);
int lin_history_return(struct lin_history *h, size_t index, const char *output, size_t output_len,
                       int64_t return_ns);

/* Recording any operation, cas included: lin_history_call with op's kind, strings and call_ns
 * (op->return_ns and outputs are ignored). */
int lin_history_call_op(struct lin_history *h, const struct lin_op *op, size_t *index);
/* Completes it with its outcome: ok (delete: the key existed; cas: swapped; ignored for the
 * others), absent (the output is "absent") or output (NULL: none; cas: the current value when
 * it failed) and the return time. */
int lin_history_return_op(struct lin_history *h, size_t index, bool ok, bool absent,
                          const char *output, size_t output_len, int64_t return_ns);

/* "get", "put", "append", "delete", "cas" (or "?" for a bad value). */
const char *lin_kind_name(enum lin_kind kind);

/* ---- JSON lines ------------------------------------------------------------------------------ */

/* Parses one JSON line (len bytes, no newline needed; blank lines are not accepted here) and
 * appends the operation to h with the given line number. The object must be flat, with exactly
 * these fields, in any order, each at most once:
 *   client (integer, required), op ("get" | "put" | "append" | "delete" | "cas", required),
 *   key (string, required), value (string; required for put, append and cas), output (string or
 *   null), absent (true: the output is "the key is absent"; not with output), expected (string;
 *   cas, unless if_absent), if_absent (cas: true / false), ok (delete: the key existed; cas:
 *   swapped; without it the outcome is unknown), call (integer >= 0, required), return
 *   (integer >= call, or -1 or null or absent: no return).
 * Strings take the escapes \" \\ \/ \b \f \n \r \t \uXXXX (surrogate pairs included; code points
 * are stored as UTF-8); other bytes are taken as they are. Unknown fields are errors.
 * Returns 0, or LIN_ERR_PARSE with "column N: <what is wrong>" in err (nothing added). */
int lin_history_parse_line(struct lin_history *h, const char *line, size_t len, uint32_t line_no,
                           char *err, size_t errlen);

/* Reads a JSON-lines file (blank lines are skipped) and appends its operations to h.
 * Returns 0; LIN_ERR_IO ("<path>: <strerror>"); or LIN_ERR_PARSE ("<path>:<line>: column N:
 * <what is wrong>"), in which case the operations of the lines before the bad one were added. */
int lin_history_load_jsonl(struct lin_history *h, const char *path, char *err, size_t errlen);

/* Writes h as JSON lines (one per operation, in order; fields in the order above; a get has
 * "value":"" and its output; an append has "output" only when it has one; an operation without
 * a return has "return":-1), replacing the file. Returns 0 or LIN_ERR_IO with a message. */
int lin_history_write_jsonl(const struct lin_history *h, const char *path, char *err,
                            size_t errlen);

/* ---- checking -------------------------------------------------------------------------------- */

/* What a check found. Filled by lin_check; free with lin_report_free. */
struct lin_report {
    enum lin_result result;
    size_t ops;           /* operations in the history */
    size_t keys;          /* distinct keys (partitions) */
    size_t keys_checked;  /* partitions decided before the verdict */
    uint64_t elapsed_ns;  /* time the check took */
    uint64_t timeout_ms;  /* the limit it ran under (LIN_TIMEOUT_NONE: none) */
    bool memory_limit;    /* LIN_UNKNOWN because of LIN_MEMORY_LIMIT rather than the time limit */
    char *key;            /* LIN_ILLEGAL: the key with no linearization; LIN_UNKNOWN: the key
                           * being searched at the time limit; NULL for LIN_OK. NUL-terminated. */
    size_t key_len;
    char *explanation;    /* LIN_ILLEGAL: several lines: the longest linearizable prefix found
                           * for that key, the value after it, and why each operation that could
                           * come next cannot; LIN_UNKNOWN: one line; NULL for LIN_OK. */
};

/* Checks h (not modified) under a time limit of timeout_ms (LIN_TIMEOUT_NONE: none).
 * Returns LIN_OK, LIN_ILLEGAL or LIN_UNKNOWN and fills *report (the caller frees it with
 * lin_report_free). Partitions are checked smallest first, and the first key with no
 * linearization ends the check; LIN_UNKNOWN means the limit came before any key was found
 * illegal and before every key was decided. */
enum lin_result lin_check(const struct lin_history *h, uint64_t timeout_ms,
                          struct lin_report *report);

/* For cluster tests: when the environment variable KV_HISTORY_DIR is set (and not empty),
 * first writes h to "$KV_HISTORY_DIR/<test_name>.jsonl" (creating the directory if needed; '/'
 * in test_name becomes '_'), then checks it like lin_check. Returns the verdict, or LIN_ERR_IO
 * when the file could not be written (then nothing is checked and report->explanation says
 * why; report->result is LIN_UNKNOWN). */
int lin_check_and_save(const struct lin_history *h, const char *test_name, uint64_t timeout_ms,
                       struct lin_report *report);

/* Frees the report's strings; the struct may then be reused. */
void lin_report_free(struct lin_report *report);

/* "linearizable", "not linearizable", "unknown". */
const char *lin_result_name(enum lin_result result);

/* Writes a one-line verdict into buf (truncated to len), e.g.
 *   linearizable: 10000 operations, 15 keys, 12.3 ms
 *   NOT linearizable: key "3" (4 of 15 keys checked, 0.8 ms)
 *   unknown: time limit 10000 ms reached on key "3" (14 of 15 keys checked) */
void lin_report_summary(const struct lin_report *report, char *buf, size_t len);

/* ---- generated histories (tests and benchmarks) ---------------------------------------------- */

/* Parameters of a history produced by simulating a linearizable store: each client issues its
 * operations one after the other, each lasting a random time, separated by random gaps; every
 * operation takes effect at a random instant inside its interval, and outputs come from applying
 * the operations to one map in the order of those instants. Values are unique ("x <client> <n> y"
 * for appends, "p <client> <n> q" for puts; no value is a prefix of another), so a wrong output
 * is always detectable. */
struct lin_gen_params {
    uint64_t seed;
    size_t ops;            /* total operations */
    unsigned clients;      /* >= 1 */
    unsigned keys;         /* >= 1; keys are "0", "1", ... */
    unsigned put_pct;      /* percentage of puts; */
    unsigned append_pct;   /* of appends; */
    unsigned delete_pct;   /* of deletes (outcome recorded); */
    unsigned cas_pct;      /* of cas (outcome recorded; expected: the key's value at some recent
                            * instant, or absent); the rest are gets (an absent key reads as
                            * "absent") */
    bool append_output;    /* appends record the old value (Lab 2) */
    unsigned lost_pct;     /* percentage of operations with no return (each applied or not,
                            * at random; a lost get is dropped) */
    int64_t max_duration_ns; /* each operation lasts 1..max_duration_ns */
    int64_t max_gap_ns;      /* a client waits 0..max_gap_ns between operations */
};

/* Fills p with the defaults: seed 1, 10,000 operations, 15 clients, 15 keys, 5% puts, 50%
 * appends, no append output, no lost operations, operations of up to 2 ms, gaps up to 0.5 ms. */
void lin_gen_params_default(struct lin_gen_params *p);

/* Appends the generated operations to h, ordered by call time. Deterministic: the same
 * parameters give the same history. */
void lin_history_generate(struct lin_history *h, const struct lin_gen_params *p);

#endif

/* Logging: one line per event on stderr (or a chosen stream), of the form
 *   2026-11-23T21:10:00.123Z INFO  n1 rpc: listening on 127.0.0.1:7001
 * (wall time in UTC, level, node id, component, message).
 *
 * The level, node id and stream are process-wide settings made once by main() through
 * log_setup(); this is the one deliberate piece of global state outside main, because every
 * layer logs and threading a logger through each call would buy nothing. */
#ifndef BASE_LOG_H
#define BASE_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

/* Sets the minimum level, the node id printed on every line (copied; NULL prints "-"),
 * and the stream (NULL = stderr). Call from main before anything logs. */
void log_setup(enum log_level min, const char *node_id, FILE *out);

/* Parses "debug", "info", "warn", "error" or "off" into *out. Returns 0, or -1 if unknown. */
int log_level_parse(const char *s, enum log_level *out);

/* True when a message of this level would be printed. */
bool log_enabled(enum log_level level);

/* Prints one line; component is a short name such as "rpc" or "raft". The message is
 * truncated at 4 KiB. Thread-safe at line granularity (one write per line). */
void log_write(enum log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_AT(level, comp, ...) \
    do { if (log_enabled(level)) log_write(level, comp, __VA_ARGS__); } while (0)
#define LOG_DEBUG(comp, ...) LOG_AT(LOG_DEBUG, comp, __VA_ARGS__)
#define LOG_INFO(comp, ...) LOG_AT(LOG_INFO, comp, __VA_ARGS__)
#define LOG_WARN(comp, ...) LOG_AT(LOG_WARN, comp, __VA_ARGS__)
#define LOG_ERROR(comp, ...) LOG_AT(LOG_ERROR, comp, __VA_ARGS__)

#endif

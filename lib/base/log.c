#include "base/log.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

static struct {
    enum log_level min;
    char node[32];
    FILE *out;
} g_log = { LOG_INFO, "-", NULL };

static const char *const level_names[] = { "DEBUG", "INFO", "WARN", "ERROR", "OFF" };

void log_setup(enum log_level min, const char *node_id, FILE *out)
{
    g_log.min = min;
    snprintf(g_log.node, sizeof g_log.node, "%s", node_id ? node_id : "-");
    g_log.out = out;
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const char *const names[] = { "debug", "info", "warn", "error", "off" };
    for (int i = 0; i <= LOG_OFF; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

bool log_enabled(enum log_level level) { return level >= g_log.min && level < LOG_OFF; }

void log_write(enum log_level level, const char *component, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char line[4096 + 128];
    uint64_t now = clock_wall_ns();
    time_t secs = (time_t)(now / 1000000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ %-5s %s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (unsigned)(now / 1000000u % 1000u), level_names[level],
                     g_log.node, component);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : ((size_t)m < sizeof line - (size_t)n - 1 ? (size_t)m : sizeof line - (size_t)n - 2));
    line[len++] = '\n';
    int fd = fileno(g_log.out ? g_log.out : stderr);
    /* One write per line, so lines from several processes sharing a file do not interleave. */
    ssize_t w = write(fd, line, len);
    (void)w;
}

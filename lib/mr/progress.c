/* The coordinator's progress display, as text: a log line, or a bar for a terminal. */
#include <stdio.h>
#include <string.h>

#include "mr/mr.h"

void mr_progress_format_line(const struct mr_progress *p, char *buf, size_t len)
{
    const struct mr_sched_counts *c = &p->c;
    snprintf(buf, len, "maps %u/%u (%u running) reduces %u/%u (%u running) workers %u "
             "reassigned %llu elapsed %.1fs%s", c->maps_done, c->maps_total, c->maps_running,
             c->reduces_done, c->reduces_total, c->reduces_running, p->workers,
             (unsigned long long)c->reassigned, (double)p->elapsed_ms / 1000.0,
             c->failed ? " FAILED" : c->done ? " done" : "");
}

void mr_progress_format_bar(const struct mr_progress *p, int width, char *buf, size_t len)
{
    const struct mr_sched_counts *c = &p->c;
    char tail[128];
    snprintf(tail, sizeof tail, " maps %u/%u reduces %u/%u %6.1fs", c->maps_done, c->maps_total,
             c->reduces_done, c->reduces_total, (double)p->elapsed_ms / 1000.0);
    int cells = width - (int)strlen(tail) - 2;
    if (cells < 10)
        cells = 10;
    /* Maps fill the first half of the bar, reduces the second. */
    double frac = 0.5 * c->maps_done / (c->maps_total ? c->maps_total : 1) +
                  0.5 * c->reduces_done / (c->reduces_total ? c->reduces_total : 1);
    int full = (int)(frac * cells + 1e-9);
    char bar[512];
    if (cells > (int)sizeof bar - 1)
        cells = (int)sizeof bar - 1;
    for (int i = 0; i < cells; i++)
        bar[i] = i < full ? '#' : '-';
    bar[cells] = '\0';
    snprintf(buf, len, "[%s]%s", bar, tail);
}

/* The coordinator's progress display on stderr: a bar redrawn in place when stderr is a
 * terminal, otherwise a log line when the counts change (at most one a second, plus one at
 * each phase change). */
#ifndef MRCOORDINATOR_DISPLAY_H
#define MRCOORDINATOR_DISPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "mr/mr.h"

struct display;

/* bar: draw a bar (stderr is a terminal) rather than log lines. Free with display_free. */
struct display *display_new(bool bar);

/* Shows p if it is due (force: now, e.g. at a phase change or the end). */
void display_show(struct display *d, const struct mr_progress *p, uint64_t now_ms, bool force);

/* Erases the bar so that a log line can be printed; it is drawn again at the next show. */
void display_before_log(struct display *d);

/* Leaves the last bar on its own line (later log lines then start on a line of their own);
 * it is drawn again only by a later show. */
void display_end(struct display *d);

/* Ends the bar (display_end) and frees d. */
void display_free(struct display *d);

#endif

#include "display.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

#define BAR_EVERY_MS 100
#define LINE_EVERY_MS 1000

struct display {
    bool bar;
    bool drawn;           /* a bar is on the screen, not ended by a newline */
    uint64_t last_ms;     /* when it was last shown */
    struct mr_progress last;
};

struct display *display_new(bool bar)
{
    struct display *d = xcalloc(1, sizeof *d);
    d->bar = bar;
    return d;
}

static bool counts_changed(const struct mr_progress *a, const struct mr_progress *b)
{
    return a->c.maps_done != b->c.maps_done || a->c.reduces_done != b->c.reduces_done ||
           a->c.maps_running != b->c.maps_running ||
           a->c.reduces_running != b->c.reduces_running ||
           a->c.reassigned != b->c.reassigned || a->workers != b->workers ||
           a->c.done != b->c.done || a->c.failed != b->c.failed;
}

static int terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col - 1;
    return 79;
}

void display_show(struct display *d, const struct mr_progress *p, uint64_t now_ms, bool force)
{
    char text[512];
    if (d->bar) {
        if (!force && d->drawn && now_ms - d->last_ms < BAR_EVERY_MS)
            return;
        mr_progress_format_bar(p, terminal_width(), text, sizeof text);
        fprintf(stderr, "\r%s\033[K", text);
        fflush(stderr);
        d->drawn = true;
    } else {
        if (!force && (!counts_changed(p, &d->last) || now_ms - d->last_ms < LINE_EVERY_MS))
            return;
        mr_progress_format_line(p, text, sizeof text);
        LOG_INFO("coord", "progress: %s", text);
    }
    d->last = *p;
    d->last_ms = now_ms;
}

void display_before_log(struct display *d)
{
    if (d->bar && d->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        d->drawn = false;
    }
}

void display_end(struct display *d)
{
    if (d->bar && d->drawn) {
        fputc('\n', stderr);
        d->drawn = false;
    }
}

void display_free(struct display *d)
{
    if (!d)
        return;
    display_end(d);
    free(d);
}

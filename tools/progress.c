#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "llm.h"

#define BAR_WIDTH 30

void progress_init(progress *p, const char *tool) {
    p->tool = tool;
    p->tty = isatty(STDERR_FILENO) == 1;
    p->bar_shown = false;
    p->total = 0;
}

/* bytes as "812.4 KiB" (binary units, one decimal). */
static void human(char *buf, size_t cap, double bytes) {
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        u++;
    }
    snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
}

void progress_clear(progress *p) {
    if (p->bar_shown) fprintf(stderr, "\r\033[K");
    p->bar_shown = false;
}

void progress_report(void *ud, const llm_tensor_report *r) {
    progress *p = ud;
    char total[32];
    p->total = r->total;
    human(total, sizeof total, (double)r->total);
    progress_clear(p);
    if (r->note)
        fprintf(stderr, "%s: %s: %s -> %s: %s\n", p->tool, r->name, llm_type_name(r->from),
                llm_type_name(r->to), r->note);
    if (!p->tty) {
        fprintf(stderr, "%s: [%llu/%llu] %s: %s -> %s, %llu bytes (%s so far)\n", p->tool,
                (unsigned long long)r->index, (unsigned long long)r->count, r->name,
                llm_type_name(r->from), llm_type_name(r->to), (unsigned long long)r->bytes, total);
        return;
    }
    int filled = r->count ? (int)(BAR_WIDTH * r->index / r->count) : BAR_WIDTH;
    fprintf(stderr, "%s: [%.*s%*s] %llu/%llu tensors, %s", p->tool, filled,
            "##############################", BAR_WIDTH - filled, "", (unsigned long long)r->index,
            (unsigned long long)r->count, total);
    p->bar_shown = true;
}

void progress_done(progress *p, const char *out) {
    char size[32];
    human(size, sizeof size, (double)p->total);
    progress_clear(p);
    fprintf(stderr, "%s: wrote %s (%s of tensor data)\n", p->tool, out, size);
}

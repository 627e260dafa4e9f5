#include "think.h"

#include <string.h>

static void mark(think *t) {
    if (t->tty) fputs(t->inside ? "\033[2m" : "\033[0m", t->out);
    else fputs(t->inside ? "[think]" : "[/think]", t->out);
}

void think_start(think *t, FILE *out, int tty, int inside) {
    *t = (think){out, tty, inside, {0}, 0};
    if (inside) mark(t);
}

void think_put(think *t, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        t->held[t->n_held++] = s[i];
        const char *tag = t->inside ? "</think>" : "<think>";
        while (t->n_held && memcmp(t->held, tag, t->n_held) != 0) {
            fputc(t->held[0], t->out); /* no tag starts here: the first byte goes out */
            memmove(t->held, t->held + 1, --t->n_held);
        }
        if (t->n_held == strlen(tag)) {
            t->inside = !t->inside;
            t->n_held = 0;
            mark(t);
        }
    }
    fflush(t->out);
}

void think_end(think *t) {
    fwrite(t->held, 1, t->n_held, t->out);
    t->n_held = 0;
    if (t->inside) {
        t->inside = 0;
        mark(t);
    }
    fputc('\n', t->out);
    fflush(t->out);
}

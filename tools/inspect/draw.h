/* Pictures of attention: a grid of panels, one per head, each an n x n
 * heatmap (row i the query at position i, column j the key at position
 * j), with the token pieces along both axes of each panel. SVG is text
 * (the labels as <text>); PNG is written by a small encoder of its own
 * (stored deflate blocks, CRC-32 and Adler-32: nothing to link, and a
 * heatmap of a few hundred cells needs no compression) with the labels
 * in a 3 x 5 upper-case font of its own (ASCII; "U+2581" shown as '_',
 * other characters as '?'). */
#ifndef INSPECT_DRAW_H
#define INSPECT_DRAW_H

#include <stdio.h>

typedef struct heatmap {
    int n;               /* tokens: each panel is n x n cells */
    int n_panels;        /* heads drawn */
    int cols;            /* panels per row of the grid */
    int layer;
    const int *head;     /* (n_panels) the head each panel shows */
    const float *w;      /* (n_panels, n, n) weights in [0, 1] */
    char *const *labels; /* (n) token pieces, NUL-terminated UTF-8 */
} heatmap;

void heatmap_svg(FILE *f, const heatmap *h);
/* Returns 0, or -1 when the picture would be too large to hold. */
int heatmap_png(FILE *f, const heatmap *h);

#endif

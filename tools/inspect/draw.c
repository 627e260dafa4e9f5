#include "draw.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"

/* A weight's colour: white at 0 to dark blue at 1, by sqrt(w) so that
 * the small weights most of a row holds still show. */
static void colour(float w, unsigned char rgb[3]) {
    static const unsigned char dark[3] = {8, 48, 107};
    float v = sqrtf(w < 0.0f ? 0.0f : w > 1.0f ? 1.0f : w);
    for (int i = 0; i < 3; i++) rgb[i] = (unsigned char)lrintf(255.0f + (dark[i] - 255.0f) * v);
}

static const float *panel_w(const heatmap *h, int p) { return h->w + (size_t)p * h->n * h->n; }

/* ------------------------------------------------------------ SVG */

enum { SVG_CELL = 18, SVG_LABEL = 110, SVG_GAP = 30, SVG_TITLE = 24 };

void heatmap_svg(FILE *f, const heatmap *h) {
    int side = SVG_LABEL + h->n * SVG_CELL + SVG_GAP, rows = (h->n_panels + h->cols - 1) / h->cols;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"monospace\" "
               "font-size=\"11\">\n", h->cols * side, rows * (side + SVG_TITLE));
    for (int p = 0; p < h->n_panels; p++) {
        int x0 = (p % h->cols) * side + SVG_LABEL, y0 = (p / h->cols) * (side + SVG_TITLE) + SVG_TITLE + SVG_LABEL;
        fprintf(f, "<g class=\"panel\" data-layer=\"%d\" data-head=\"%d\">\n", h->layer, h->head[p]);
        fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"14\">layer %d head %d</text>\n", x0, y0 - SVG_LABEL - 6,
                h->layer, h->head[p]);
        for (int i = 0; i < h->n; i++) {
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", x0 - 4, y0 + i * SVG_CELL + 13);
            put_text(f, h->labels[i], strlen(h->labels[i]), 'x');
            fprintf(f, "</text>\n<text transform=\"translate(%d,%d) rotate(-90)\">", x0 + i * SVG_CELL + 13, y0 - 4);
            put_text(f, h->labels[i], strlen(h->labels[i]), 'x');
            fprintf(f, "</text>\n");
        }
        const float *w = panel_w(h, p);
        for (int i = 0; i < h->n; i++)
            for (int j = 0; j < h->n; j++) {
                unsigned char c[3];
                float v = w[(size_t)i * h->n + j];
                colour(v, c);
                fprintf(f, "<rect class=\"cell\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                           "fill=\"#%02x%02x%02x\"><title>%d&#8594;%d %.4f</title></rect>\n",
                        x0 + j * SVG_CELL, y0 + i * SVG_CELL, SVG_CELL, SVG_CELL, c[0], c[1], c[2], i, j, v);
            }
        fprintf(f, "</g>\n");
    }
    fprintf(f, "</svg>\n");
}

/* ------------------------------------------------------------ PNG */

/* An RGB image being drawn. */
typedef struct image {
    int w, h;
    unsigned char *px; /* (h, w, 3) */
} image;

static void fill(image *im, int x, int y, int w, int h, const unsigned char rgb[3]) {
    for (int r = y; r < y + h && r < im->h; r++)
        for (int c = x; c < x + w && c < im->w; c++) memcpy(im->px + ((size_t)r * im->w + c) * 3, rgb, 3);
}

/* A 3 x 5 font of this file's own for ASCII 32 ('  ') to 95 ('_'), each
 * glyph 5 rows of 3 bits (bit 2 the left pixel); lower case is drawn as
 * upper case. */
static const unsigned char font[64][5] = {
    {0, 0, 0, 0, 0}, {2, 2, 2, 0, 2}, {5, 5, 0, 0, 0}, {5, 7, 5, 7, 5}, /*   ! " # */
    {3, 6, 7, 3, 6}, {5, 1, 2, 4, 5}, {2, 5, 2, 5, 3}, {2, 2, 0, 0, 0}, /* $ % & ' */
    {1, 2, 2, 2, 1}, {4, 2, 2, 2, 4}, {0, 5, 2, 5, 0}, {0, 2, 7, 2, 0}, /* ( ) * + */
    {0, 0, 0, 2, 4}, {0, 0, 7, 0, 0}, {0, 0, 0, 0, 2}, {1, 1, 2, 4, 4}, /* , - . / */
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, /* 0 1 2 3 */
    {5, 5, 7, 1, 1}, {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, /* 4 5 6 7 */
    {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7}, {0, 2, 0, 2, 0}, {0, 2, 0, 2, 4}, /* 8 9 : ; */
    {1, 2, 4, 2, 1}, {0, 7, 0, 7, 0}, {4, 2, 1, 2, 4}, {6, 1, 2, 0, 2}, /* < = > ? */
    {7, 5, 7, 4, 7}, {2, 5, 7, 5, 5}, {6, 5, 6, 5, 6}, {3, 4, 4, 4, 3}, /* @ A B C */
    {6, 5, 5, 5, 6}, {7, 4, 6, 4, 7}, {7, 4, 6, 4, 4}, {3, 4, 5, 5, 3}, /* D E F G */
    {5, 5, 7, 5, 5}, {7, 2, 2, 2, 7}, {1, 1, 1, 5, 2}, {5, 5, 6, 5, 5}, /* H I J K */
    {4, 4, 4, 4, 7}, {5, 7, 7, 5, 5}, {6, 5, 5, 5, 5}, {2, 5, 5, 5, 2}, /* L M N O */
    {6, 5, 6, 4, 4}, {2, 5, 5, 6, 3}, {6, 5, 6, 5, 5}, {3, 4, 2, 1, 6}, /* P Q R S */
    {7, 2, 2, 2, 2}, {5, 5, 5, 5, 7}, {5, 5, 5, 5, 2}, {5, 5, 7, 7, 5}, /* T U V W */
    {5, 5, 2, 5, 5}, {5, 5, 2, 2, 2}, {7, 1, 2, 4, 7}, {3, 2, 2, 2, 3}, /* X Y Z [ */
    {4, 4, 2, 1, 1}, {6, 2, 2, 2, 6}, {2, 5, 0, 0, 0}, {0, 0, 0, 0, 7}, /* \ ] ^ _ */
};

enum { SCALE = 2, CHAR_W = 4 * SCALE, CHAR_H = 5 * SCALE, LABEL_CHARS = 10 };

/* The glyph of the character starting at *s (advanced past it): ASCII
 * from the font, SentencePiece's "U+2581" (a space) as '_', anything else
 * as '?'. */
static const unsigned char *glyph(const char **s) {
    unsigned char c = (unsigned char)**s;
    if (c < 0x80) {
        (*s)++;
        c = c >= 'a' && c <= 'z' ? (unsigned char)(c - 32) : c;
        return font[c >= 32 && c < 96 ? c - 32 : '?' - 32];
    }
    bool space = strncmp(*s, "\xE2\x96\x81", 3) == 0;
    do (*s)++;
    while (((unsigned char)**s & 0xC0) == 0x80);
    return font[(space ? '_' : '?') - 32];
}

/* At most max characters of text in black: left to right with its top
 * left at (x, y), or (up) turned a quarter left, reading upwards from its
 * bottom left at (x, y). */
static void draw_text(image *im, int x, int y, const char *text, int max, bool up) {
    static const unsigned char black[3] = {0, 0, 0};
    for (int k = 0; *text && k < max; k++) {
        const unsigned char *g = glyph(&text);
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 3; c++) {
                if (!(g[r] >> (2 - c) & 1)) continue;
                int px = up ? x + r * SCALE : x + k * CHAR_W + c * SCALE;
                int py = up ? y - k * CHAR_W - (c + 1) * SCALE : y + r * SCALE;
                if (px >= 0 && py >= 0) fill(im, px, py, SCALE, SCALE, black);
            }
    }
}

static uint32_t crc_update(uint32_t crc, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = crc >> 1 ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return crc;
}

static void be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* A chunk: length, type, data, CRC-32 of type and data. */
static void chunk(FILE *f, const char *type, const unsigned char *data, uint32_t n) {
    unsigned char b[4];
    be32(b, n);
    fwrite(b, 1, 4, f);
    fwrite(type, 1, 4, f);
    if (n) fwrite(data, 1, n, f);
    be32(b, ~crc_update(crc_update(0xFFFFFFFFu, (const unsigned char *)type, 4), data, n));
    fwrite(b, 1, 4, f);
}

/* The scanlines (filter byte 0, then the row's RGB) as a zlib stream of
 * stored deflate blocks (at most 65535 bytes each), Adler-32 last. */
static unsigned char *zlib_stored(const image *im, size_t *size) {
    size_t raw = (size_t)im->h * (1 + (size_t)im->w * 3), blocks = raw / 65535 + 1;
    unsigned char *z = malloc(2 + raw + 5 * blocks + 4), *o = z;
    if (!z) return NULL;
    *o++ = 0x78, *o++ = 0x01;
    uint32_t a = 1, b = 0;
    size_t done = 0, in_block = 0, block_len = 0;
    for (int y = 0; y < im->h; y++)
        for (size_t i = 0; i <= (size_t)im->w * 3; i++) {
            if (in_block == block_len) { /* a new block header */
                block_len = raw - done < 65535 ? raw - done : 65535;
                *o++ = done + block_len == raw;
                *o++ = (unsigned char)block_len, *o++ = (unsigned char)(block_len >> 8);
                *o++ = (unsigned char)~block_len, *o++ = (unsigned char)(~block_len >> 8);
                in_block = 0;
            }
            unsigned char byte = i == 0 ? 0 : im->px[((size_t)y * im->w) * 3 + i - 1];
            *o++ = byte;
            a = (a + byte) % 65521, b = (b + a) % 65521;
            done++, in_block++;
        }
    be32(o, b << 16 | a);
    *size = (size_t)(o + 4 - z);
    return z;
}

enum { PNG_LABEL = LABEL_CHARS * CHAR_W + 4, PNG_GAP = 16, PNG_TITLE = CHAR_H + 8 };

int heatmap_png(FILE *f, const heatmap *h) {
    int cell = h->n > 0 && 480 / h->n > CHAR_H + 2 ? (480 / h->n > 24 ? 24 : 480 / h->n) : CHAR_H + 2;
    int side = PNG_LABEL + h->n * cell + PNG_GAP, rows = (h->n_panels + h->cols - 1) / h->cols;
    image im = {h->cols * side, rows * (side + PNG_TITLE), NULL};
    if ((double)im.w * im.h > 1e8) return -1;
    im.px = malloc((size_t)im.w * im.h * 3);
    if (!im.px) return -1;
    memset(im.px, 255, (size_t)im.w * im.h * 3);
    for (int p = 0; p < h->n_panels; p++) {
        int x0 = (p % h->cols) * side + PNG_LABEL, y0 = (p / h->cols) * (side + PNG_TITLE) + PNG_TITLE + PNG_LABEL;
        char title[48];
        snprintf(title, sizeof title, "layer %d head %d", h->layer, h->head[p]);
        draw_text(&im, x0, y0 - PNG_LABEL - PNG_TITLE + 4, title, 32, false);
        int pad = (cell - CHAR_H) / 2;
        for (int i = 0; i < h->n; i++) { /* the pieces: rows on the left, columns above */
            draw_text(&im, x0 - PNG_LABEL, y0 + i * cell + pad, h->labels[i], LABEL_CHARS, false);
            draw_text(&im, x0 + i * cell + pad, y0 - 4, h->labels[i], LABEL_CHARS, true);
        }
        const float *w = panel_w(h, p);
        for (int i = 0; i < h->n; i++)
            for (int j = 0; j < h->n; j++) {
                unsigned char c[3];
                colour(w[(size_t)i * h->n + j], c);
                fill(&im, x0 + j * cell, y0 + i * cell, cell, cell, c);
            }
    }
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    unsigned char ihdr[13] = {0};
    be32(ihdr, (uint32_t)im.w);
    be32(ihdr + 4, (uint32_t)im.h);
    ihdr[8] = 8; /* bits per sample */
    ihdr[9] = 2; /* RGB; compression, filter and interlace methods 0 */
    size_t zn;
    unsigned char *z = zlib_stored(&im, &zn);
    free(im.px);
    if (!z || zn > UINT32_MAX) {
        free(z);
        return -1;
    }
    fwrite(sig, 1, 8, f);
    chunk(f, "IHDR", ihdr, 13);
    chunk(f, "IDAT", z, (uint32_t)zn);
    chunk(f, "IEND", NULL, 0);
    free(z);
    return 0;
}

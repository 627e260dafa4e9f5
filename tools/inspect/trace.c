/* llm-inspect trace and attention: a prompt decoded with an observer
 * (llm_ctx_set_observer, so through the reference path), which keeps the
 * views these commands show: per layer the residual stream and each
 * head's attention row at the last position (trace), or every position's
 * attention rows of one layer (attention). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"
#include "inspect.h"
#include "toolutil.h"

/* What the observer keeps of one decode of the prompt. */
typedef struct capture {
    int n_layer, n_head, n_embd, n;
    int last;      /* the prompt's last position */
    float *resid;  /* (n_layer, n_embd) residual stream leaving each layer at `last` */
    float *ent;    /* (n_layer, n_head) entropy of each head's attention row at `last`, nats */
    int att_layer; /* the layer whose weights att keeps; -1 none */
    float *att;    /* (n_head, n, n) its rows: [h][i][j] query i, key j */
} capture;

static void observe(const llm_view *v, void *ud) {
    capture *c = ud;
    if (v->pos > c->last) return;
    if (strcmp(v->name, "residual") == 0 && v->pos == c->last)
        memcpy(c->resid + (size_t)v->layer * c->n_embd, v->data, sizeof(float) * (size_t)c->n_embd);
    if (strcmp(v->name, "attn_weights") != 0) return;
    for (int h = 0; h < c->n_head; h++) {
        const float *row = v->data + (size_t)h * v->ne0;
        if (v->pos == c->last) {
            double e = 0.0;
            for (int64_t j = 0; j < v->ne0; j++) e -= row[j] > 0.0f ? row[j] * log(row[j]) : 0.0;
            c->ent[(size_t)v->layer * c->n_head + h] = (float)e;
        }
        if (v->layer == c->att_layer)
            memcpy(c->att + ((size_t)h * c->n + v->pos) * c->n, row, sizeof(float) * (size_t)v->ne0);
    }
}

/* Decodes the prompt (n tokens) on ctx with the observer keeping c. */
static void capture_prompt(llm_ctx *ctx, const llm_model *m, const int32_t *toks, int n, int att_layer, capture *c) {
    c->n_layer = llm_model_n_layer(m), c->n_head = llm_model_n_head(m), c->n_embd = llm_model_n_embd(m);
    c->n = n, c->last = n - 1, c->att_layer = att_layer;
    c->resid = calloc((size_t)c->n_layer * c->n_embd, sizeof(float));
    c->ent = calloc((size_t)c->n_layer * c->n_head, sizeof(float));
    c->att = att_layer >= 0 ? calloc((size_t)c->n_head * n * n, sizeof(float)) : NULL;
    if (!c->resid || !c->ent || (att_layer >= 0 && !c->att)) die("%s", "out of memory");
    llm_error err;
    llm_ctx_set_observer(ctx, observe, c);
    if (llm_decode(ctx, toks, n, &err) != LLM_OK) die("%s", err.msg);
    llm_ctx_set_observer(ctx, NULL, NULL);
}

static void capture_free(capture *c) {
    free(c->resid);
    free(c->ent);
    free(c->att);
}

static llm_ctx *prompt_ctx(const llm_model *m, int n_tokens) {
    llm_error err;
    llm_ctx_params cp = llm_ctx_default_params();
    cp.n_ctx = n_tokens;
    llm_ctx *ctx = llm_ctx_new(m, &cp, &err);
    if (!ctx) die("%s", err.msg);
    return ctx;
}

/* The probabilities of logits (n) into p, in double. */
static void softmax(const float *logits, int n, float *p) {
    float max = logits[0];
    for (int i = 1; i < n; i++) max = logits[i] > max ? logits[i] : max;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += exp((double)logits[i] - max);
    for (int i = 0; i < n; i++) p[i] = (float)(exp((double)logits[i] - max) / sum);
}

/* The k most likely tokens of logits: text "'piece' p, ..." or a JSON array. */
static void show_top(jw *w, const llm_model *m, const float *logits, int k) {
    int nv = llm_model_n_vocab(m), idx[64];
    float *p = xmalloc(sizeof(float) * (size_t)nv);
    softmax(logits, nv, p);
    top_k(p, nv, k, idx);
    if (w) jw_open(w, '[');
    for (int i = 0; i < k; i++) {
        char *label = token_label(m, idx[i]);
        if (w) {
            jw_open(w, '{');
            jw_key(w, "id"), jw_int(w, idx[i]);
            jw_key(w, "piece"), jw_cstr(w, label);
            jw_key(w, "p"), jw_num(w, p[idx[i]]);
            jw_close(w, '}');
        } else {
            printf("%s'", i ? ", " : "");
            put_text(stdout, label, strlen(label), 't');
            printf("' %.3f", p[idx[i]]);
        }
        free(label);
    }
    if (w) jw_close(w, ']');
    free(p);
}

/* Per layer at the prompt's last token: the residual stream's norm, each
 * head's attention entropy, the logit lens's top k (j NULL: as text). */
static void trace_layers(jw *j, llm_ctx *ctx, const llm_model *m, const capture *c, int k) {
    float *lens = xmalloc(sizeof(float) * (size_t)llm_model_n_vocab(m));
    for (int l = 0; l < c->n_layer; l++) {
        const float *x = c->resid + (size_t)l * c->n_embd, *ent = c->ent + (size_t)l * c->n_head;
        double norm = 0.0;
        for (int i = 0; i < c->n_embd; i++) norm += (double)x[i] * x[i];
        llm_error err;
        if (llm_logit_lens(ctx, x, lens, &err) != LLM_OK) die("%s", err.msg);
        if (j) {
            jw_open(j, '{');
            jw_key(j, "layer"), jw_int(j, l);
            jw_key(j, "residual_norm"), jw_num(j, sqrt(norm));
            jw_key(j, "entropy"), jw_open(j, '[');
            for (int h = 0; h < c->n_head; h++) jw_num(j, ent[h]);
            jw_close(j, ']');
            jw_key(j, "lens");
        } else {
            printf("layer %2d  |x| %8.3f  entropy", l, sqrt(norm));
            for (int h = 0; h < c->n_head; h++) printf(" %.2f", ent[h]);
            printf("\n          lens: ");
        }
        show_top(j, m, lens, k);
        if (j) jw_close(j, '}');
        else printf("\n");
    }
    free(lens);
}

/* Up to `steps` greedy steps from the prompt's logits: each step's top k
 * and the token taken, which is then decoded (without the observer). */
static void trace_steps(jw *j, llm_ctx *ctx, const llm_model *m, int steps, int k) {
    for (int s = 0; s < steps; s++) {
        const float *logits = llm_logits(ctx);
        int best;
        top_k(logits, llm_model_n_vocab(m), 1, &best);
        int32_t next = best;
        if (j) {
            jw_open(j, '{');
            jw_key(j, "step"), jw_int(j, s);
            jw_key(j, "candidates");
            show_top(j, m, logits, k);
            jw_key(j, "chosen"), jw_token(j, m, next);
            jw_close(j, '}');
        } else {
            char *label = token_label(m, next);
            printf("step %2d  ", s);
            show_top(NULL, m, logits, k);
            printf("  -> '");
            put_text(stdout, label, strlen(label), 't');
            printf("'\n");
            free(label);
        }
        llm_error err;
        if (llm_token_is_eog(m, next) || s + 1 == steps) break;
        if (llm_decode(ctx, &next, 1, &err) != LLM_OK) die("%s", err.msg);
    }
}

int cmd_trace(const inspect_args *o) {
    llm_model *m = open_model(o, o->model, false);
    size_t n;
    int32_t *toks = tokenize_prompt(m, o->arg, &n);
    int k = o->top_k < llm_model_n_vocab(m) ? o->top_k : llm_model_n_vocab(m);
    llm_ctx *ctx = prompt_ctx(m, (int)n + o->steps);
    capture c;
    capture_prompt(ctx, m, toks, (int)n, -1, &c);
    jw w;
    jw_init(&w, stdout);
    jw *j = o->json ? &w : NULL;
    if (j) {
        jw_open(j, '{');
        jw_key(j, "prompt"), jw_open(j, '[');
        for (size_t i = 0; i < n; i++) jw_token(j, m, toks[i]);
        jw_close(j, ']');
        jw_key(j, "layers"), jw_open(j, '[');
    } else {
        printf("%zu prompt tokens; at the last one, per layer: |residual|, attention entropy per head (nats), "
               "logit lens top-%d\n", n, k);
    }
    trace_layers(j, ctx, m, &c, k);
    if (j) jw_close(j, ']'), jw_key(j, "steps"), jw_open(j, '[');
    else printf("generation (greedy), top-%d per step:\n", k);
    trace_steps(j, ctx, m, o->steps, k);
    if (j) jw_close(j, ']'), jw_close(j, '}');
    capture_free(&c);
    llm_ctx_free(ctx);
    free(toks);
    llm_model_free(m);
    return 0;
}

/* The weights of the chosen heads as text rows or JSON. */
static void print_weights(const inspect_args *o, const capture *c, const int *heads, int n_heads, char **labels) {
    jw w;
    jw_init(&w, stdout);
    if (o->json) {
        jw_open(&w, '{');
        jw_key(&w, "layer"), jw_int(&w, o->layer);
        jw_key(&w, "tokens"), jw_open(&w, '[');
        for (int i = 0; i < c->n; i++) jw_cstr(&w, labels[i]);
        jw_close(&w, ']');
        jw_key(&w, "heads"), jw_open(&w, '[');
    }
    for (int p = 0; p < n_heads; p++) {
        const float *a = c->att + (size_t)heads[p] * c->n * c->n;
        if (o->json) jw_open(&w, '{'), jw_key(&w, "head"), jw_int(&w, heads[p]), jw_key(&w, "weights"), jw_open(&w, '[');
        else printf("layer %d head %d (row: query position, column: key position)\n", o->layer, heads[p]);
        for (int i = 0; i < c->n; i++) {
            if (o->json) jw_open(&w, '[');
            else printf("%3d ", i);
            for (int jj = 0; jj < c->n; jj++) {
                if (o->json) jw_num(&w, a[(size_t)i * c->n + jj]);
                else printf(" %.3f", a[(size_t)i * c->n + jj]);
            }
            if (o->json) jw_close(&w, ']');
            else printf("  '%s'\n", labels[i]);
        }
        if (o->json) jw_close(&w, ']'), jw_close(&w, '}');
    }
    if (o->json) jw_close(&w, ']'), jw_close(&w, '}');
}

/* The chosen heads' heatmaps, four to a row, into o->out (.svg or .png). */
static void write_picture(const inspect_args *o, const capture *c, const int *heads, int n_heads, char **labels) {
    size_t n = (size_t)c->n, len = strlen(o->out);
    bool png = len >= 4 && strcmp(o->out + len - 4, ".png") == 0;
    if (!png && !(len >= 4 && strcmp(o->out + len - 4, ".svg") == 0))
        die("-o %s: the picture's name must end in .svg or .png", o->out);
    float *w = xmalloc(sizeof(float) * (size_t)n_heads * n * n); /* the heads' n x n matrices, back to back */
    for (int p = 0; p < n_heads; p++)
        memcpy(w + (size_t)p * n * n, c->att + (size_t)heads[p] * n * n, sizeof(float) * n * n);
    heatmap h = {(int)n, n_heads, n_heads < 4 ? n_heads : 4, o->layer, heads, w, labels};
    FILE *f = fopen(o->out, "wb");
    if (!f) die("cannot write %s", o->out);
    int rc = png ? heatmap_png(f, &h) : (heatmap_svg(f, &h), 0);
    if (fclose(f) != 0 || rc != 0) die("cannot write %s (%s)", o->out, rc ? "picture too large" : "write failed");
    free(w);
    if (o->json) {
        jw jo;
        jw_init(&jo, stdout);
        jw_open(&jo, '{');
        jw_key(&jo, "file"), jw_cstr(&jo, o->out);
        jw_key(&jo, "layer"), jw_int(&jo, o->layer);
        jw_key(&jo, "heads"), jw_int(&jo, n_heads);
        jw_key(&jo, "tokens"), jw_int(&jo, (int64_t)n);
        jw_close(&jo, '}');
    } else {
        printf("wrote %s: layer %d, %d head%s, %zu x %zu\n", o->out, o->layer, n_heads, n_heads > 1 ? "s" : "", n, n);
    }
}

int cmd_attention(const inspect_args *o) {
    llm_model *m = open_model(o, o->model, false);
    int n_layer = llm_model_n_layer(m), n_head = llm_model_n_head(m);
    if (o->layer < 0 || o->layer >= n_layer) die("--layer L is needed, 0 .. %d for this model", n_layer - 1);
    if (o->head >= n_head) die("--head %d: this model has heads 0 .. %d", o->head, n_head - 1);
    size_t n;
    int32_t *toks = tokenize_prompt(m, o->arg, &n);
    llm_ctx *ctx = prompt_ctx(m, (int)n);
    capture c;
    capture_prompt(ctx, m, toks, (int)n, o->layer, &c);
    int *heads = xmalloc(sizeof(int) * (size_t)n_head), n_heads = 0;
    for (int h = 0; h < n_head; h++)
        if (o->head < 0 || o->head == h) heads[n_heads++] = h;
    char **labels = xmalloc(sizeof(char *) * n);
    for (size_t i = 0; i < n; i++) labels[i] = token_label(m, toks[i]);
    if (o->out) write_picture(o, &c, heads, n_heads, labels);
    else print_weights(o, &c, heads, n_heads, labels);
    for (size_t i = 0; i < n; i++) free(labels[i]);
    free(labels);
    free(heads);
    capture_free(&c);
    llm_ctx_free(ctx);
    free(toks);
    llm_model_free(m);
    return 0;
}

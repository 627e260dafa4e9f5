/* The reference forward pass: one token at a time, in the manner of
 * llama2.c's run.c, written to be read. All math is float on single
 * vectors; each weight row is dequantized to floats through its type's
 * traits (dtype.h: to_f32, by llm_tensor_row) just before it is used, and
 * attention is the plain softmax over the cached keys of the window. No
 * threads, no tiles, no batched products. It is the path
 * llm_ctx_params.kernels = "reference" selects and the one an observer
 * (llm_ctx_set_observer) watches; docs/WALKTHROUGH.md follows it line by
 * line, and tests/test_reference.c holds the optimized path to it.
 *
 * The KV cache is the context's own, shared with the optimized path, in
 * its element type (F32, or F16 with llm_ctx_params.kv_type): values as
 * they come, (n_layer, n_ctx, kv_dim); keys in the optimized path's
 * transposed blocks. Both are written and read back one position at a
 * time as floats (llm_attn_store_keys / _values, llm_attn_load_keys /
 * _values), so a cache filled by either path means the same thing. Token t of a batch keeps its stream
 * in row t of ctx->x, where llm_forward_output and the embeddings read
 * it; every other buffer is used as one vector (its first row).
 *
 * Shapes use the hyper-parameters' names: dim = n_embd, hd = head_dim,
 * q_dim = n_head * hd, kv_dim = n_head_kv * hd, ff = n_ff. */
#include <math.h>

#include "attention.h"
#include "context.h"
#include "dtype.h"
#include "error.h"
#include "matmul.h"

/* Hands the observer, when there is one, a read-only view of ne1 rows of
 * ne0 floats: the named point of layer `layer` (-1 outside the layers)
 * for the token at position pos (of the batch that began at ctx->pos). */
static void observe(llm_ctx *c, const char *name, int layer, int pos, int64_t ne0, int64_t ne1,
                    const float *data) {
    if (!c->observer) return;
    llm_view v = {name, layer, pos, c->ref_batch[pos - c->pos], ne0, ne1, data};
    c->observer(&v, c->observer_ud);
}

/* out (rows) = W (rows, cols) x (cols): row r of W dequantized to floats,
 * then its dot product with x, summed left to right. */
static void matvec(llm_ctx *c, float *out, const llm_tensor *w, const float *x) {
    for (int64_t r = 0; r < w->ne[1]; r++) {
        llm_tensor_row(w, r, c->ref_row);
        float sum = 0.0f;
        for (int64_t i = 0; i < w->ne[0]; i++) sum += c->ref_row[i] * x[i];
        out[r] = sum;
    }
}

/* RMSNorm: o = w * x / sqrt(mean(x^2) + eps), over pieces of x (n) as
 * long as the weight w: the whole vector, or each head for q/k norms. */
static void rmsnorm(llm_ctx *c, float *o, const float *x, const llm_tensor *w, int n) {
    int len = (int)w->ne[0];
    llm_tensor_row(w, 0, c->ref_row);
    for (int p = 0; p < n; p += len) {
        float ss = 0.0f;
        for (int j = 0; j < len; j++) ss += x[p + j] * x[p + j];
        float inv = 1.0f / sqrtf(ss / len + c->model->hp.rms_eps);
        for (int j = 0; j < len; j++) o[p + j] = c->ref_row[j] * (inv * x[p + j]);
    }
}

/* RoPE: in each of n_heads heads of v (n_heads, hd), the pair (a, b) of
 * dims i of the first n_rot turns by the angle pos * theta[i]:
 *   a' = m (a cos - b sin),  b' = m (a sin + b cos),
 * m the attention factor of long-context scaling (1 for most models).
 * The pair is (2i, 2i + 1) in the interleaved layout (Llama's GGUF and
 * llama2.c), (i, i + n_rot / 2) in the NeoX one (most newer families). */
static void rope(float *v, int n_heads, const llm_hparams *hp, const float *theta, int pos) {
    int half = hp->n_rot / 2;
    float m = hp->rope_attn_factor;
    for (int h = 0; h < n_heads; h++) {
        float *head = v + (size_t)h * hp->head_dim;
        for (int i = 0; i < half; i++) {
            int ia = hp->rope_neox ? i : 2 * i, ib = hp->rope_neox ? i + half : 2 * i + 1;
            float angle = pos * theta[i], a = head[ia], b = head[ib];
            head[ia] = a * (cosf(angle) * m) - b * (sinf(angle) * m);
            head[ib] = a * (sinf(angle) * m) + b * (cosf(angle) * m);
        }
    }
}

/* s -> cap * tanh(s / cap), the soft-cap of scores and logits (gemma2). */
static float softcap(float s, float cap) { return cap > 0.0f ? cap * tanhf(s / cap) : s; }

/* x (n) -> exp(x - max) / sum: probabilities. */
static void softmax(float *x, int n) {
    float max = x[0], sum = 0.0f;
    for (int i = 1; i < n; i++) max = x[i] > max ? x[i] : max;
    for (int i = 0; i < n; i++) sum += (x[i] = expf(x[i] - max));
    for (int i = 0; i < n; i++) x[i] /= sum;
}

/* Attention of the token at pos: for each query head h, reading KV head
 * h / (n_head / n_head_kv), the scores s_j = cap(q . k_j * scale) over the
 * keys j of its window (first .. pos), softmax, then out_h = sum_j p_j v_j.
 * q (q_dim) -> out (q_dim); the weights are observed as (pos + 1, n_head)
 * rows, zero outside the window (and, causally, after pos). */
static void attention(llm_ctx *c, const llm_layer *L, int l, int pos, const float *q, float *out) {
    const llm_hparams *hp = &c->model->hp;
    int hd = hp->head_dim, group = hp->n_head / hp->n_head_kv, n = pos + 1;
    const void *kc = llm_ctx_layer_keys(c, l), *vc = llm_ctx_layer_values(c, l);
    int first = L->window > 0 && pos - L->window + 1 > 0 ? pos - L->window + 1 : 0;
    float *att = c->ref_att; /* (n_head, n) */
    for (int j = 0; j < n; j++) {
        llm_attn_load_keys(&c->kv, kc, j, 1, c->ref_key, LLM_DT_F32); /* k_j (kv_dim) */
        for (int h = 0; h < hp->n_head; h++) {
            const float *qh = q + (size_t)h * hd, *kh = c->ref_key + (size_t)(h / group) * hd;
            float s = 0.0f;
            for (int d = 0; d < hd; d++) s += qh[d] * kh[d];
            att[(size_t)h * n + j] = softcap(s * hp->attn_scale, hp->attn_softcap);
        }
    }
    for (int h = 0; h < hp->n_head; h++) {
        float *p = att + (size_t)h * n;
        softmax(p + first, n - first);
        for (int j = 0; j < first; j++) p[j] = 0.0f;
    }
    for (int i = 0; i < hp->n_head * hd; i++) out[i] = 0.0f;
    for (int j = first; j < n; j++) {
        llm_attn_load_values(&c->kv, vc, j, 1, c->ref_val); /* v_j (kv_dim) */
        for (int h = 0; h < hp->n_head; h++) {
            const float *vh = c->ref_val + (size_t)(h / group) * hd;
            float pj = att[(size_t)h * n + j], *oh = out + (size_t)h * hd;
            for (int d = 0; d < hd; d++) oh[d] += pj * vh[d];
        }
    }
    observe(c, "attn_weights", l, pos, n, hp->n_head, att);
}

/* A sub-block's output y (dim) joins the residual stream x (dim):
 * x += residual_scale * post_norm(y), the post-norm where the layer has
 * one (gemma, olmo2), the scale where the model says (granite). */
static void residual(llm_ctx *c, float *x, const llm_tensor *post_norm, float *y, const char *name, int l, int pos) {
    const llm_hparams *hp = &c->model->hp;
    if (post_norm->data) rmsnorm(c, y, y, post_norm, hp->n_embd);
    observe(c, name, l, pos, hp->n_embd, 1, y);
    for (int i = 0; i < hp->n_embd; i++) x[i] += hp->residual_scale * y[i];
}

/* The input of a sub-block: norm(x) into xn (dim) where the layer has the
 * pre-norm, else x itself (olmo2). */
static const float *pre_norm(llm_ctx *c, const float *x, const llm_tensor *w, const char *name, int l, int pos) {
    if (!w->data) return x;
    rmsnorm(c, c->xn, x, w, c->model->hp.n_embd);
    observe(c, name, l, pos, c->model->hp.n_embd, 1, c->xn);
    return c->xn;
}

/* Adds an optional bias b (n, F32) to y. */
static void add_bias(float *y, const llm_tensor *b, int n) {
    for (int i = 0; b->data && i < n; i++) y[i] += ((const float *)b->data)[i];
}

/* Layer l's attention sub-block for the token at pos:
 * q = Wq xn (q_dim), k = Wk xn, v = Wv xn (kv_dim) with xn = norm(x),
 * (+ biases, q/k norms), RoPE on q and k, k and v into the cache,
 * attention, then Wo (dim, q_dim) times its output joins x. */
static void attention_block(llm_ctx *c, float *x, const llm_layer *L, int l, int pos) {
    const llm_hparams *hp = &c->model->hp;
    int hd = hp->head_dim, q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd;
    float *q = c->q, *k = c->k, *v = c->v;
    const float *in = pre_norm(c, x, &L->attn_norm, "attn_norm", l, pos);
    matvec(c, q, &L->wq, in);
    matvec(c, k, &L->wk, in);
    matvec(c, v, &L->wv, in);
    add_bias(q, &L->bq, q_dim);
    add_bias(k, &L->bk, kv_dim);
    add_bias(v, &L->bv, kv_dim);
    if (L->q_norm.data) rmsnorm(c, q, q, &L->q_norm, q_dim);
    if (L->k_norm.data) rmsnorm(c, k, k, &L->k_norm, kv_dim);
    if (L->rope >= 0) { /* table 0: global layers, 1: sliding-window layers */
        const float *theta = c->rope_freq + (size_t)L->rope * (hp->n_rot / 2);
        rope(q, hp->n_head, hp, theta, pos);
        rope(k, hp->n_head_kv, hp, theta, pos);
    }
    observe(c, "q", l, pos, hd, hp->n_head, q);
    observe(c, "k", l, pos, hd, hp->n_head_kv, k);
    observe(c, "v", l, pos, hd, hp->n_head_kv, v);
    llm_attn_store_keys(&c->kv, llm_ctx_layer_keys(c, l), pos, 1, k, LLM_DT_F32);
    llm_attn_store_values(&c->kv, llm_ctx_layer_values(c, l), pos, 1, v);
    attention(c, L, l, pos, q, c->att_out);
    matvec(c, c->sub_out, &L->wo, c->att_out);
    residual(c, x, &L->attn_post_norm, c->sub_out, "attn_out", l, pos);
}

/* GELU, tanh form (gemma). */
static float gelu(float x) { return 0.5f * x * (1.0f + tanhf(0.7978845608f * x * (1.0f + 0.044715f * x * x))); }

/* Layer l's feed-forward sub-block: h = act(W_gate xn) * (W_up xn) (ff),
 * act SiLU (x / (1 + e^-x)) or GELU; W_down h (dim) joins x. */
static void ffn_block(llm_ctx *c, float *x, const llm_layer *L, int l, int pos) {
    const llm_hparams *hp = &c->model->hp;
    const float *in = pre_norm(c, x, &L->ffn_norm, "ffn_norm", l, pos);
    matvec(c, c->hb, &L->w_gate, in);
    matvec(c, c->hb2, &L->w_up, in);
    for (int i = 0; i < hp->n_ff; i++) {
        float g = c->hb[i];
        c->hb[i] = (hp->gelu ? gelu(g) : g / (1.0f + expf(-g))) * c->hb2[i];
    }
    matvec(c, c->sub_out, &L->w_down, c->hb);
    residual(c, x, &L->ffn_post_norm, c->sub_out, "ffn_out", l, pos);
}

/* logits (n_vocab) = cap(logit_scale * W_out norm(x)) for a hidden state
 * x (dim), which is left unchanged; the final norm's output goes to xn. */
static void head(llm_ctx *c, const float *x, float *logits) {
    const llm_model *m = c->model;
    rmsnorm(c, c->xn, x, &m->output_norm, m->hp.n_embd);
    matvec(c, logits, &m->output, c->xn);
    for (int i = 0; i < m->hp.n_vocab; i++) logits[i] = softcap(logits[i] * m->hp.logit_scale, m->hp.final_softcap);
}

/* One token at position pos, through every layer: its stream x (dim)
 * starts as the token's embedding row (times embd_scale) and leaves as
 * the hidden state the output head reads. False when the abort callback
 * stopped it. */
static bool forward_token(llm_ctx *c, float *x, int32_t token, int pos) {
    const llm_model *m = c->model;
    int dim = m->hp.n_embd;
    llm_tensor_row(&m->tok_embd, token, x);
    for (int i = 0; i < dim; i++) x[i] *= m->hp.embd_scale;
    observe(c, "embedding", -1, pos, dim, 1, x);
    for (int l = 0; l < m->hp.n_layer; l++) {
        attention_block(c, x, &m->layers[l], l, pos);
        ffn_block(c, x, &m->layers[l], l, pos);
        observe(c, "residual", l, pos, dim, 1, x);
        if (llm_compute_stopped(&c->mc, 0)) return false;
    }
    return true;
}

/* Token t of the batch in row t of ctx->x, one after the other. */
bool llm_forward_ref(llm_ctx *c, const int32_t *tokens, int n) {
    c->ref_batch = tokens;
    for (int t = 0; t < n; t++)
        if (!forward_token(c, c->x + (size_t)t * c->model->hp.n_embd, tokens[t], c->pos + t)) return false;
    return true;
}

int llm_forward_ref_output(llm_ctx *c, int n, const int8_t *want, float *out) {
    const llm_hparams *hp = &c->model->hp;
    int rows = 0;
    for (int t = want ? 0 : n - 1; t < n; t++) {
        if (want && !want[t]) continue;
        float *logits = out + (size_t)rows++ * hp->n_vocab;
        head(c, c->x + (size_t)t * hp->n_embd, logits);
        observe(c, "final_norm", -1, c->pos + t, hp->n_embd, 1, c->xn);
        observe(c, "logits", -1, c->pos + t, hp->n_vocab, 1, logits);
    }
    return rows;
}

llm_status llm_logit_lens(llm_ctx *c, const float *hidden, float *logits, llm_error *err) {
    if (!c || !hidden || !logits)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_logit_lens: NULL context, hidden state or logits");
    head(c, hidden, logits);
    return LLM_OK;
}

/* The Llama forward pass over a batch of tokens, in the shape of llama2.c's
 * run.c: per layer RMSNorm -> Q,K,V -> RoPE -> causal attention over the
 * KV cache -> output projection -> residual, then RMSNorm -> SwiGLU
 * feed-forward -> residual; a final RMSNorm and the classifier give the
 * logits of the last token. The other families are the same block with
 * parts added or left out, which the loader has set in llm_layer and
 * llm_hparams (arch.h): q/k biases or norms, post-norms, GELU, a sliding
 * window, scales and soft-caps. Weight products take the whole batch at once
 * (llm_matmul), so each weight is streamed once per batch, not per token. */
#include <math.h>

#include "attention.h"
#include "context.h"
#include "dtype.h"
#include "matmul.h"

static void rmsnorm(float *o, const float *x, const float *w, int n, float eps) {
    float ss = 0.0f;
    for (int j = 0; j < n; j++) ss += x[j] * x[j];
    ss /= n;
    ss += eps;
    ss = 1.0f / sqrtf(ss);
    for (int j = 0; j < n; j++) o[j] = w[j] * (ss * x[j]);
}

/* The same norm for each of n rows of dim values. Norm weights are F32
 * (converted at load when the file stores them narrower). */
static void rmsnorm_rows(llm_ctx *c, float *o, const float *x, const llm_tensor *w, int n) {
    const float *wf = w->data;
    int dim = c->model->hp.n_embd;
    for (int t = 0; t < n; t++) rmsnorm(o + (size_t)t * dim, x + (size_t)t * dim, wf, dim, c->model->hp.rms_eps);
}

/* An optional norm of n rows of width values in place, in pieces as long
 * as its weight: per head (qwen3, gemma3) or whole rows (olmo2). The
 * weights are F32, checked at load. */
static void norm_pieces(llm_ctx *c, float *x, const llm_tensor *w, int n, int width) {
    if (!w->data) return;
    int len = (int)w->ne[0];
    for (size_t i = 0; i < (size_t)n * width; i += len) rmsnorm(x + i, x + i, w->data, len, c->model->hp.rms_eps);
}

/* Rotates pairs of the first n_rot dims of each head by pos * theta_i,
 * scaled by mscale (LongRoPE's attention factor; 1 elsewhere):
 * (v[2i], v[2i+1]) in the interleaved layout GGUF and llama2.c use for
 * Llama, (v[i], v[i + n_rot/2]) in the NeoX layout (qwen2 and most newer
 * families). */
static void rope(float *v, int n_heads, int head_dim, int n_rot, bool neox, const float *freq, float mscale, int pos) {
    int half = n_rot / 2;
    for (int i = 0; i < half; i++) {
        float val = pos * freq[i];
        float fcr = cosf(val) * mscale, fci = sinf(val) * mscale;
        int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
        for (int h = 0; h < n_heads; h++) {
            float *p = v + h * head_dim;
            float v0 = p[a], v1 = p[b];
            p[a] = v0 * fcr - v1 * fci;
            p[b] = v0 * fci + v1 * fcr;
        }
    }
}

/* Adds an optional bias vector (F32, checked at load) to n rows. */
static void add_bias(float *x, const llm_tensor *bias, int n) {
    if (!bias->data) return;
    const float *b = bias->data;
    int64_t dim = bias->ne[0];
    for (int t = 0; t < n; t++)
        for (int64_t i = 0; i < dim; i++) x[t * dim + i] += b[i];
}

/* x += scale * norm(y) for n rows: a sub-block's output joins the
 * residual stream, through its post-norm where the layer has one (gemma,
 * olmo2) and scaled where the model says (granite). */
static void residual(llm_ctx *c, const llm_tensor *post_norm, float *y, int n) {
    const llm_hparams *hp = &c->model->hp;
    if (post_norm->data) rmsnorm_rows(c, y, y, post_norm, n);
    for (size_t i = 0; i < (size_t)n * hp->n_embd; i++) c->x[i] += hp->residual_scale * y[i];
}

/* The attention sub-block: (norm) -> q, k, v (+ biases) -> (q/k norms)
 * -> RoPE -> attention over the cache, within the layer's window ->
 * output projection -> residual. */
static void attention_block(llm_ctx *c, const llm_layer *L, int l, int n) {
    const llm_hparams *hp = &c->model->hp;
    int kv_dim = hp->n_head_kv * hp->head_dim, q_dim = hp->n_head * hp->head_dim;
    void *kc = llm_ctx_layer_keys(c, l), *vc = llm_ctx_layer_values(c, l);
    float *k_new = c->k, *v_new = c->v;
    const float *in = c->x;
    if (L->attn_norm.data) {
        rmsnorm_rows(c, c->xn, c->x, &L->attn_norm, n);
        in = c->xn;
    }
    llm_matmul_many(&c->mc, (llm_product[]){{c->q, &L->wq}, {k_new, &L->wk}, {v_new, &L->wv}}, 3, in, n);
    add_bias(c->q, &L->bq, n);
    add_bias(k_new, &L->bk, n);
    add_bias(v_new, &L->bv, n);
    norm_pieces(c, c->q, &L->q_norm, n, q_dim);
    norm_pieces(c, k_new, &L->k_norm, n, kv_dim);
    const float *freq = c->rope_freq + (size_t)(L->rope > 0) * (hp->n_rot / 2);
    for (int t = 0; L->rope >= 0 && t < n; t++) {
        int pos = c->pos + t;
        rope(c->q + (size_t)t * q_dim, hp->n_head, hp->head_dim, hp->n_rot, hp->rope_neox, freq,
             hp->rope_attn_factor, pos);
        rope(k_new + (size_t)t * kv_dim, hp->n_head_kv, hp->head_dim, hp->n_rot, hp->rope_neox, freq,
             hp->rope_attn_factor, pos);
    }
    llm_attn_store_keys(&c->kv, kc, c->pos, n, k_new, LLM_DT_F32);
    llm_attn_store_values(&c->kv, vc, c->pos, n, v_new);
    llm_attn a = {c->mc.k, c->mc.pool, hp->n_head, hp->n_head_kv, hp->head_dim, c->n_ctx, c->pos, n,
                  hp->attn_scale, hp->attn_softcap, L->window, c->q, kc, vc, c->kv.type, c->att_out, c->att, &c->mc};
    llm_attention(&a);
    llm_matmul(&c->mc, c->sub_out, &L->wo, c->att_out, n);
    residual(c, &L->attn_post_norm, c->sub_out, n);
}

/* GELU, tanh form, as Gemma's feed-forward uses it. */
static float gelu(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608f * x * (1.0f + 0.044715f * x * x)));
}

/* The feed-forward sub-block: (norm) -> act(gate) * up -> down -> residual. */
static void ffn_block(llm_ctx *c, const llm_layer *L, int n) {
    size_t ff = (size_t)n * c->model->hp.n_ff;
    const float *in = c->x;
    if (L->ffn_norm.data) {
        rmsnorm_rows(c, c->xn, c->x, &L->ffn_norm, n);
        in = c->xn;
    }
    llm_matmul_many(&c->mc, (llm_product[]){{c->hb, &L->w_gate}, {c->hb2, &L->w_up}}, 2, in, n);
    bool use_gelu = c->model->hp.gelu;
    for (size_t i = 0; i < ff; i++) {
        float val = c->hb[i];
        val = use_gelu ? gelu(val) : val / (1.0f + expf(-val)); /* silu */
        c->hb[i] = val * c->hb2[i];
    }
    llm_matmul(&c->mc, c->sub_out, &L->w_down, c->hb, n);
    residual(c, &L->ffn_post_norm, c->sub_out, n);
}

/* Scales n values, then soft-caps them to (-cap, cap) when cap > 0. */
static void scale_cap(float *v, size_t n, float scale, float cap) {
    for (size_t i = 0; i < n; i++) {
        v[i] *= scale;
        if (cap > 0.0f) v[i] = cap * tanhf(v[i] / cap);
    }
}

void llm_forward_rerope(llm_ctx *c, int l, float *rows, int n, int delta) {
    const llm_hparams *hp = &c->model->hp;
    const llm_layer *L = &c->model->layers[l];
    size_t kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    const float *freq = c->rope_freq + (size_t)(L->rope > 0) * (hp->n_rot / 2);
    for (int t = 0; L->rope >= 0 && t < n; t++)
        rope(rows + t * kv_dim, hp->n_head_kv, hp->head_dim, hp->n_rot, hp->rope_neox, freq, 1.0f, delta);
}

bool llm_forward(llm_ctx *c, const int32_t *tokens, int n) {
    if (c->reference || c->observer) return llm_forward_ref(c, tokens, n);
    const llm_model *m = c->model;
    int dim = m->hp.n_embd;
    for (int t = 0; t < n; t++) llm_tensor_row(&m->tok_embd, tokens[t], c->x + (size_t)t * dim);
    scale_cap(c->x, (size_t)n * dim, m->hp.embd_scale, 0.0f);
    for (int l = 0; l < m->hp.n_layer; l++) {
        attention_block(c, &m->layers[l], l, n);
        ffn_block(c, &m->layers[l], n);
        if (llm_compute_stopped(&c->mc, 0)) return false;
    }
    return true;
}

int llm_forward_norm(llm_ctx *c, int from, int n, const int8_t *want, float *out) {
    const llm_model *m = c->model;
    int dim = m->hp.n_embd, rows = 0;
    const float *w = m->output_norm.data;
    for (int t = from; t < n; t++)
        if (!want || want[t])
            rmsnorm(out + (size_t)rows++ * dim, c->x + (size_t)t * dim, w, dim, m->hp.rms_eps);
    return rows;
}

/* The chosen rows are normed into xn side by side, so the classifier
 * streams its weights once for all of them. */
int llm_forward_output(llm_ctx *c, int n, const int8_t *want, float *out) {
    if (c->reference || c->observer) return llm_forward_ref_output(c, n, want, out);
    int rows = llm_forward_norm(c, want ? 0 : n - 1, n, want, c->xn);
    if (!rows) return 0;
    const llm_hparams *hp = &c->model->hp;
    llm_matmul(&c->mc, out, &c->model->output, c->xn, rows);
    scale_cap(out, (size_t)rows * hp->n_vocab, hp->logit_scale, hp->final_softcap);
    return rows;
}

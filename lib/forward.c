/* The Llama forward pass for one token, in the shape of llama2.c's run.c:
 * per layer RMSNorm -> Q,K,V -> RoPE -> attention over the KV cache ->
 * output projection -> residual, then RMSNorm -> SwiGLU feed-forward ->
 * residual; a final RMSNorm and the classifier give the logits. */
#include <math.h>

#include "context.h"
#include "dtype.h"
#include "matmul.h"

/* Norm weights as floats: used in place when stored as F32, else
 * converted into the context's scratch row. */
static const float *norm_weights(llm_ctx *c, const llm_tensor *w) {
    if (w->type == LLM_DT_F32) return w->data;
    llm_tensor_row(w, 0, c->norm_w);
    return c->norm_w;
}

static void rmsnorm(float *o, const float *x, const float *w, int n, float eps) {
    float ss = 0.0f;
    for (int j = 0; j < n; j++) ss += x[j] * x[j];
    ss /= n;
    ss += eps;
    ss = 1.0f / sqrtf(ss);
    for (int j = 0; j < n; j++) o[j] = w[j] * (ss * x[j]);
}

static void softmax(float *x, int n) {
    float max = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max) max = x[i];
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    for (int i = 0; i < n; i++) x[i] /= sum;
}

/* Rotates consecutive pairs (v[2i], v[2i+1]) of the first n_rot dims of
 * each head by pos * theta_i: the interleaved layout GGUF and llama2.c use. */
static void rope(float *v, int n_heads, int head_dim, int n_rot, const float *freq, int pos) {
    for (int i = 0; i < n_rot; i += 2) {
        float val = pos * freq[i / 2];
        float fcr = cosf(val), fci = sinf(val);
        for (int h = 0; h < n_heads; h++) {
            float *p = v + h * head_dim + i;
            float v0 = p[0], v1 = p[1];
            p[0] = v0 * fcr - v1 * fci;
            p[1] = v0 * fci + v1 * fcr;
        }
    }
}

/* Grouped-query attention of the current token over positions 0..pos:
 * query head h reads KV head h / (n_head / n_head_kv). */
static void attention(llm_ctx *c, const float *kc, const float *vc) {
    const llm_hparams *hp = &c->model->hp;
    int hd = hp->head_dim, kv_dim = hp->n_head_kv * hd, group = hp->n_head / hp->n_head_kv;
    float scale = sqrtf((float)hd);
    for (int h = 0; h < hp->n_head; h++) {
        const float *q = c->q + h * hd;
        float *att = c->att + (size_t)h * c->n_ctx;
        int kvh = h / group;
        for (int t = 0; t <= c->pos; t++) {
            const float *k = kc + (size_t)t * kv_dim + kvh * hd;
            float score = 0.0f;
            for (int i = 0; i < hd; i++) score += q[i] * k[i];
            att[t] = score / scale;
        }
        softmax(att, c->pos + 1);
        float *out = c->xb + h * hd;
        for (int i = 0; i < hd; i++) out[i] = 0.0f;
        for (int t = 0; t <= c->pos; t++) {
            const float *v = vc + (size_t)t * kv_dim + kvh * hd;
            for (int i = 0; i < hd; i++) out[i] += att[t] * v[i];
        }
    }
}

static void ffn(llm_ctx *c, const llm_layer *L) {
    int ff = c->model->hp.n_ff;
    llm_matvec(c->pool, c->hb, &L->w_gate, c->xb);
    llm_matvec(c->pool, c->hb2, &L->w_up, c->xb);
    for (int i = 0; i < ff; i++) {
        float val = c->hb[i];
        val *= 1.0f / (1.0f + expf(-val)); /* silu */
        c->hb[i] = val * c->hb2[i];
    }
    llm_matvec(c->pool, c->xb, &L->w_down, c->hb);
}

void llm_forward(llm_ctx *c, int32_t token) {
    const llm_model *m = c->model;
    const llm_hparams *hp = &m->hp;
    int dim = hp->n_embd, kv_dim = hp->n_head_kv * hp->head_dim;
    llm_tensor_row(&m->tok_embd, token, c->x);
    for (int l = 0; l < hp->n_layer; l++) {
        const llm_layer *L = &m->layers[l];
        size_t off = ((size_t)l * c->n_ctx + c->pos) * kv_dim;
        float *kc = c->key_cache + (size_t)l * c->n_ctx * kv_dim;
        float *vc = c->value_cache + (size_t)l * c->n_ctx * kv_dim;
        rmsnorm(c->xb, c->x, norm_weights(c, &L->attn_norm), dim, hp->rms_eps);
        llm_matvec(c->pool, c->q, &L->wq, c->xb);
        llm_matvec(c->pool, c->key_cache + off, &L->wk, c->xb);
        llm_matvec(c->pool, c->value_cache + off, &L->wv, c->xb);
        rope(c->q, hp->n_head, hp->head_dim, hp->n_rot, c->rope_freq, c->pos);
        rope(c->key_cache + off, hp->n_head_kv, hp->head_dim, hp->n_rot, c->rope_freq, c->pos);
        attention(c, kc, vc);
        llm_matvec(c->pool, c->xb2, &L->wo, c->xb);
        for (int i = 0; i < dim; i++) c->x[i] += c->xb2[i];
        rmsnorm(c->xb, c->x, norm_weights(c, &L->ffn_norm), dim, hp->rms_eps);
        ffn(c, L);
        for (int i = 0; i < dim; i++) c->x[i] += c->xb[i];
    }
    rmsnorm(c->x, c->x, norm_weights(c, &m->output_norm), dim, hp->rms_eps);
    llm_matvec(c->pool, c->logits, &m->output, c->x);
}

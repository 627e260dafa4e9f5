/* llm_decode_multi: one token for each of several contexts in one forward
 * pass (llm_forward_seqs), so the weights are streamed once for all of
 * them. The checks come first and change nothing; then passes of at most
 * LLM_MATMUL_EXACT contexts, each context a one-row sequence. */
#include <string.h>

#include "context.h"
#include "error.h"

/* Whether context i can share a pass run in context 0's buffers, with the
 * same results as each alone: the same model, kernel set and thread
 * count. Fills err naming context i otherwise. */
static llm_status same_setup(llm_ctx *const *ctxs, int32_t i, llm_error *err) {
    const llm_ctx *a = ctxs[0], *b = ctxs[i];
    if (b->model != a->model)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_decode_multi: context %d has another model than context 0", i);
    if (b->mc.k != a->mc.k || llm_pool_size(b->mc.pool) != llm_pool_size(a->mc.pool))
        return llm_fail(err, LLM_ERR_INVALID_ARG,
                        "llm_decode_multi: context %d has kernels %s and %d threads, context 0 %s and %d", i,
                        b->mc.k->name, llm_pool_size(b->mc.pool), a->mc.k->name, llm_pool_size(a->mc.pool));
    return LLM_OK;
}

/* Every argument checked, nothing changed. */
static llm_status check_args(llm_ctx *const *ctxs, const int32_t *tokens, int32_t n, llm_error *err) {
    if (!ctxs || !tokens || n <= 0)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_decode_multi: NULL contexts or tokens, or n %d <= 0", n);
    for (int32_t i = 0; i < n; i++)
        if (!ctxs[i]) return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_decode_multi: context %d is NULL", i);
    for (int32_t i = 0; i < n; i++) {
        const llm_ctx *c = ctxs[i];
        llm_status s = same_setup(ctxs, i, err);
        if (s) return s;
        for (int32_t j = 0; j < i; j++)
            if (ctxs[j] == c)
                return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_decode_multi: contexts %d and %d are the same", j, i);
        if (c->reference || c->observer)
            return llm_fail(err, LLM_ERR_UNSUPPORTED,
                            "llm_decode_multi: context %d has %s; decode it with llm_decode", i,
                            c->observer ? "an observer" : "reference kernels");
        if (c->pos >= c->n_ctx)
            return llm_fail(err, LLM_ERR_CONTEXT_FULL, "llm_decode_multi: context %d is full (%d of %d positions)", i,
                            c->pos, c->n_ctx);
        if (tokens[i] < 0 || tokens[i] >= c->model->hp.n_vocab)
            return llm_fail(err, LLM_ERR_INVALID_ARG,
                            "llm_decode_multi: token %d for context %d is outside the vocabulary (0..%d)", tokens[i], i,
                            c->model->hp.n_vocab - 1);
    }
    int32_t pass = n < LLM_MATMUL_EXACT ? n : LLM_MATMUL_EXACT;
    if (ctxs[0]->n_batch < pass)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_decode_multi: context 0's n_batch %d is below %d", ctxs[0]->n_batch,
                        pass);
    return LLM_OK;
}

/* One pass over contexts cs[0..m), m <= LLM_MATMUL_EXACT, in c's buffers:
 * their logits computed side by side in c's output rows, then each row
 * copied to its context. Returns false on an abort. */
static bool decode_pass(llm_ctx *c, llm_ctx *const *cs, const int32_t *tokens, int m) {
    llm_seq seqs[LLM_MATMUL_EXACT];
    int8_t want[LLM_MATMUL_EXACT];
    for (int i = 0; i < m; i++) {
        seqs[i] = (llm_seq){cs[i], i, 1};
        want[i] = 1;
    }
    if (!llm_forward_seqs(c, seqs, m, tokens, m)) return false;
    size_t nv = (size_t)c->model->hp.n_vocab;
    float *rows = c->out_logits + nv; /* row 0 stays ctxs[0]'s */
    llm_forward_output(c, m, want, rows);
    for (int i = 0; i < m; i++) {
        memcpy(cs[i]->out_logits, rows + (size_t)i * nv, nv * sizeof(float));
        if (cs[i]->embeddings) llm_forward_norm(c, i, i + 1, NULL, cs[i]->emb);
        cs[i]->pos++;
    }
    return true;
}

llm_status llm_decode_multi(llm_ctx *const *ctxs, const int32_t *tokens, int32_t n, llm_error *err) {
    llm_status s = check_args(ctxs, tokens, n, err);
    if (s) return s;
    llm_ctx *c = ctxs[0];
    int32_t pass = n < LLM_MATMUL_EXACT ? n : LLM_MATMUL_EXACT;
    if ((s = llm_ctx_reserve_outputs(c, 1 + pass, 1, false, err))) return s;
    for (int32_t i = 1; i < n; i++) /* a row of embeddings where kept */
        if ((s = llm_ctx_reserve_outputs(ctxs[i], 1, 1, false, err))) return s;
    atomic_store(&c->mc.stopped, false);
    for (int32_t i = 0; i < n; i++) ctxs[i]->has_logits = ctxs[i]->has_emb = false;
    int32_t done = 0;
    while (done < n && !llm_compute_stopped(&c->mc, 0)) {
        int m = n - done < pass ? n - done : pass;
        if (!decode_pass(c, ctxs + done, tokens + done, m)) break;
        done += m;
    }
    if (atomic_load(&c->mc.stopped)) {
        for (int32_t i = 0; i < done; i++) ctxs[i]->pos--;
        return llm_fail(err, LLM_ERR_ABORTED, "llm_decode_multi: stopped by the abort callback; no position advanced");
    }
    for (int32_t i = 0; i < n; i++) llm_ctx_decoded(ctxs[i], 1, NULL);
    return LLM_OK;
}

/* The smallest complete libllm program: load a model, generate greedily. */
#include <llm.h>
#include <stdio.h>

int main(int argc, char **argv) {
    llm_error err;
    llm_model *model = llm_model_load(argc > 1 ? argv[1] : "stories260K.gguf", NULL, &err);
    if (!model) { fprintf(stderr, "%s\n", err.msg); return 1; }
    llm_ctx *ctx = llm_ctx_new(model, NULL, &err);
    llm_sampler *greedy = llm_sampler_new(0, &err);
    llm_detok *detok = llm_detok_new(model, &err);
    int32_t tok = llm_token_bos(model);
    char piece[256]; /* enough for most pieces; llm_detok_push says how to grow it */
    size_t len;
    for (int i = 0; i < 64 && llm_decode(ctx, &tok, 1, &err) == LLM_OK; i++) {
        tok = llm_sampler_sample(greedy, llm_logits(ctx), llm_model_n_vocab(model), &err);
        if (llm_token_is_eog(model, tok)) break;
        if (llm_detok_push(detok, tok, piece, sizeof piece, &len) == LLM_OK) fwrite(piece, 1, len, stdout);
    }
    printf("\n");
    llm_detok_free(detok); llm_sampler_free(greedy); llm_ctx_free(ctx); llm_model_free(model);
    return 0;
}

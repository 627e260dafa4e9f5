/* llama2.c: a checkpoint and its tokenizer.bin in one input, laid out as
 * [u32 n: tokenizer length][n bytes tokenizer.bin][checkpoint]. The
 * tokenizer is parsed on its exact bytes (llm_vocab_from_llama2c, with
 * the vocabulary size the checkpoint header claims), then both go through
 * llm_model_load as files and a loaded model is run. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "vocab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    uint32_t n_tok = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                     (uint32_t)data[3] << 24;
    const uint8_t *tok = data + 4, *ckpt;
    if (n_tok > size - 4) n_tok = (uint32_t)(size - 4);
    ckpt = tok + n_tok;
    size_t n_ckpt = size - 4 - n_tok;

    int32_t n_vocab = 0;
    if (n_ckpt >= 24) {
        memcpy(&n_vocab, ckpt + 20, 4); /* vocab_size, the sixth header field */
        n_vocab = n_vocab == INT32_MIN ? 0 : abs(n_vocab);
    }
    llm_vocab v;
    llm_error err = {0};
    llm_status s = llm_vocab_from_llama2c(&v, tok, n_tok, n_vocab, &err);
    if (s == LLM_OK) {
        fuzz_require(v.n == n_vocab, "vocabulary size differs from the one asked for");
        llm_vocab_free(&v);
    } else {
        fuzz_check_error(s, &err);
    }

    llm_model_params mp = llm_model_default_params();
    mp.tokenizer_path = fuzz_file(1, tok, n_tok);
    llm_model *m = llm_model_load(fuzz_file(0, ckpt, n_ckpt), &mp, &err);
    if (m)
        fuzz_run_model(m);
    else
        fuzz_check_error(err.code, &err);
    llm_model_free(m);
    return 0;
}

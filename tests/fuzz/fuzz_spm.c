/* SentencePiece .model files (lib/spm_model.c, a protobuf reader) on
 * the exact bytes: a parse either fails with a message or gives pieces
 * and special ids that are all in range. */
#include <string.h>

#include "fuzz_util.h"
#include "spm_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    spm_model m;
    llm_error err = {0};
    llm_status s = spm_model_parse(&m, data, size, &err);
    if (s) {
        fuzz_check_error(s, &err);
        return 0;
    }
    fuzz_require(m.n > 0 && m.n <= LLM_MAX_VOCAB, "piece count out of range");
    size_t total = 0;
    for (int32_t i = 0; i < m.n; i++) total += strlen(m.pieces[i]) + 1;
    fuzz_require(total <= size, "pieces hold more bytes than the file");
    int32_t ids[] = {m.unk_id, m.bos_id, m.eos_id, m.pad_id};
    for (int i = 0; i < 4; i++) fuzz_require(ids[i] >= -1 && ids[i] < m.n, "special id out of range");
    spm_model_free(&m);
    return 0;
}

/* What a model file holds, listed for tools: its tensors (name, type,
 * shape, place, rows as floats) and the hyper-parameters llm.h's other
 * getters leave out. The tensor index was validated when the file was
 * opened (gguf.c), so this file only reads it. */
#include <inttypes.h>
#include <string.h>

#include "dtype.h"
#include "error.h"
#include "matmul.h"
#include "model.h"

int64_t llm_model_n_tensors(const llm_model *m) { return m ? (int64_t)m->gguf.n_tensors : 0; }

llm_status llm_model_tensor_info(const llm_model *m, int64_t i, llm_tensor_info *info, llm_error *err) {
    if (!m || !info || i < 0 || (uint64_t)i >= m->gguf.n_tensors)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_model_tensor_info: NULL model or info, or tensor %" PRId64
                        " outside 0..%" PRId64, i, llm_model_n_tensors(m) - 1);
    const gguf_tensor *t = &m->gguf.tensors[i];
    info->name = t->name.ptr;
    info->name_len = (size_t)t->name.len;
    info->type = t->type;
    info->n_dims = t->n_dims;
    memcpy(info->ne, t->ne, sizeof info->ne);
    info->offset = m->gguf.data_offset + t->offset;
    info->nbytes = t->nbytes;
    return LLM_OK;
}

llm_status llm_model_tensor_row(const llm_model *m, int64_t i, int64_t r, float *out, llm_error *err) {
    llm_tensor_info info;
    llm_status s = llm_model_tensor_info(m, i, &info, err);
    if (s) return s;
    int64_t rows = info.ne[1] * info.ne[2] * info.ne[3];
    if (!out || r < 0 || r >= rows)
        return llm_fail(err, LLM_ERR_INVALID_ARG, "llm_model_tensor_row: NULL out, or row %" PRId64
                        " outside 0..%" PRId64 " of %.*s", r, rows - 1, (int)info.name_len, info.name);
    if (!llm_dtype_supported(info.type))
        return llm_fail(err, LLM_ERR_UNSUPPORTED, "tensor %.*s is of type %s, which libllm does not read",
                        (int)info.name_len, info.name, llm_type_name(info.type));
    llm_tensor t = {m->gguf.tensors[i].data, info.type, {info.ne[0], rows}};
    llm_tensor_row(&t, r, out);
    return LLM_OK;
}

int32_t llm_model_n_ff(const llm_model *m) { return m ? m->hp.n_ff : 0; }
int32_t llm_model_head_dim(const llm_model *m) { return m ? m->hp.head_dim : 0; }
const char *llm_model_arch(const llm_model *m) { return m && m->arch ? m->arch->name : NULL; }

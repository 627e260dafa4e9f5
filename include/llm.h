/* libllm — a minimal transformer inference library in C.
 *
 * The whole public interface is in this file. Conventions:
 *
 *  - Every name starts with llm_. Objects are opaque handles made by a
 *    *_new or *_load function and released by the matching *_free, which
 *    accepts NULL.
 *  - Functions that can fail return an llm_status (or NULL) and, when the
 *    caller passes a non-NULL llm_error, fill it with the code and a message
 *    naming the problem. The library never prints, never calls exit() or
 *    abort(), and keeps no mutable global state.
 *  - Functions that write into a caller's buffer take its capacity and report
 *    the size needed; a buffer that is too small gives LLM_ERR_BUFFER_TOO_SMALL
 *    and the needed size, so the caller can grow it and call again.
 *
 * Thread safety:
 *  - llm_model is immutable once loaded: any number of threads may use one
 *    model at once (tokenize, detokenize, create contexts).
 *  - llm_ctx, llm_sampler and llm_detok are used by one thread at a time;
 *    different objects may be used by different threads concurrently.
 */
#ifndef LLM_H
#define LLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LLM_API __attribute__((visibility("default")))
#else
#define LLM_API
#endif

#define LLM_VERSION_MAJOR 0
#define LLM_VERSION_MINOR 1
#define LLM_VERSION_PATCH 0

/* ---------------------------------------------------------------- status */

typedef enum llm_status {
    LLM_OK = 0,
    LLM_ERR_INVALID_ARG = 1,      /* NULL or out-of-range argument */
    LLM_ERR_NOMEM = 2,            /* an allocation failed */
    LLM_ERR_IO = 3,               /* a file could not be opened, read or mapped */
    LLM_ERR_FORMAT = 4,           /* a file is malformed, truncated or inconsistent */
    LLM_ERR_UNSUPPORTED = 5,      /* valid input that this build cannot handle */
    LLM_ERR_CONTEXT_FULL = 6,     /* the KV cache has no room for more tokens */
    LLM_ERR_BUFFER_TOO_SMALL = 7, /* a caller's buffer is too small; size reported */
    LLM_ERR_LIMIT = 8,            /* a size exceeds a documented limit (see below) */
    LLM_ERR_ABORTED = 9,          /* the context's abort callback stopped a decode */
    LLM_ERR_TEMPLATE = 10         /* a chat template is malformed or raised an error
                                     (the message is the template's own) */
} llm_status;

#define LLM_ERROR_MSG_SIZE 256

/* Filled by failing functions when the caller passes one. */
typedef struct llm_error {
    llm_status code;
    char msg[LLM_ERROR_MSG_SIZE]; /* human-readable, names the problem */
} llm_error;

/* A static description of a status code ("context full", ...). */
LLM_API const char *llm_strerror(llm_status code);

/* Documented limits: files declaring more are refused with LLM_ERR_LIMIT
 * before any large allocation. */
#define LLM_MAX_TENSORS      65536        /* tensors in one model file */
#define LLM_MAX_KV           65536        /* metadata entries in one GGUF file */
#define LLM_MAX_STRING       (1u << 24)   /* bytes in one metadata string */
#define LLM_MAX_VOCAB        (1 << 22)    /* tokens (and BPE merges) in a vocabulary */
#define LLM_MAX_DIMS         4            /* tensor dimensions */
#define LLM_MAX_PENALTY_WINDOW (1 << 20)  /* sampler repeat_last_n */

/* ---------------------------------------------------------------- types */

/* Element types of tensors (weights, caches), numbered as GGUF numbers
 * them. These are the ones libllm computes with; a file may hold others,
 * which are reported by name. */
typedef enum llm_type {
    LLM_TYPE_F32 = 0,
    LLM_TYPE_F16 = 1,
    LLM_TYPE_Q4_0 = 2,
    LLM_TYPE_Q8_0 = 8,
    LLM_TYPE_Q4_K = 12,
    LLM_TYPE_Q5_K = 13,
    LLM_TYPE_Q6_K = 14,
    LLM_TYPE_BF16 = 30
} llm_type;

/* The GGUF name of a type number ("F16", "Q4_K", ...), also of the types a
 * file may hold that libllm does not compute with; "unknown" for numbers
 * GGUF does not define. */
LLM_API const char *llm_type_name(uint32_t type);

/* ---------------------------------------------------------------- model */

typedef struct llm_model llm_model;

typedef struct llm_model_params {
    /* For llama2.c checkpoints: path of the tokenizer.bin to use. NULL means
     * "tokenizer.bin" in the checkpoint's directory. Ignored for GGUF files,
     * which carry their own vocabulary. */
    const char *tokenizer_path;
    /* Open just the vocabulary and the metadata (llama.cpp's
     * ggml-vocab-*.gguf files have no tensors): tokenize, detokenize, token
     * and metadata functions work, of any architecture; the
     * hyper-parameters other than n_vocab read 0 and llm_ctx_new refuses
     * the model. A llama2.c checkpoint is opened whole but refused by
     * llm_ctx_new all the same. */
    bool vocab_only;
} llm_model_params;

LLM_API llm_model_params llm_model_default_params(void);

/* Opens a model file: GGUF v2/v3 (by its magic) or a llama2.c checkpoint
 * (anything else). The file is mapped read-only and tensor data is used in
 * place. Returns NULL on failure with err filled. params may be NULL. */
LLM_API llm_model *llm_model_load(const char *path, const llm_model_params *params,
                          llm_error *err);
/* Opens a GGUF image in memory (size bytes at data), for programs that
 * embed a model or get it from elsewhere than a file. Nothing is copied:
 * the model's tensors and metadata point into data, which must stay
 * valid and unchanged until llm_model_free. llama2.c checkpoints are not
 * read from memory (LLM_ERR_UNSUPPORTED). params may be NULL. */
LLM_API llm_model *llm_model_load_from_buffer(const void *data, size_t size,
                                      const llm_model_params *params, llm_error *err);
LLM_API void llm_model_free(llm_model *model);

/* Nonzero for a model loaded with vocab_only. */
LLM_API int llm_model_vocab_only(const llm_model *model);

/* Hyper-parameters. All return 0 for a NULL model. */
LLM_API int32_t llm_model_n_vocab(const llm_model *model);
LLM_API int32_t llm_model_n_ctx_train(const llm_model *model); /* trained context length */
LLM_API int32_t llm_model_n_embd(const llm_model *model);
LLM_API int32_t llm_model_n_layer(const llm_model *model);
LLM_API int32_t llm_model_n_head(const llm_model *model);
LLM_API int32_t llm_model_n_head_kv(const llm_model *model);
LLM_API int32_t llm_model_n_ff(const llm_model *model);       /* feed-forward width */
LLM_API int32_t llm_model_head_dim(const llm_model *model);   /* elements per attention head */
/* The architecture's name ("llama", "qwen2", ...); NULL for a NULL model or a
 * vocabulary-only one of an architecture libllm does not know. */
LLM_API const char *llm_model_arch(const llm_model *model);

/* Writes a one-line description ("llama, F32, dim 64, ffn 172, 5 layers, 8
 * heads (4 kv), vocab 512, context 2048") into
 * buf. Returns LLM_ERR_BUFFER_TOO_SMALL with *needed set (including the
 * terminating NUL) when cap is too small. needed may be NULL. */
LLM_API llm_status llm_model_desc(const llm_model *model, char *buf, size_t cap,
                          size_t *needed);

/* Metadata: the key/value pairs of a GGUF file (none for a llama2.c
 * checkpoint), in file order, for a full or a vocabulary-only model.
 * Values are rendered as text: integers in decimal, floats with enough
 * digits to read back (%.9g for F32, %.17g for F64), booleans as
 * true/false, strings as their bytes, arrays as [e0, e1, ...] with every
 * element (strings quoted, with \" \\ \n \t and \u00XX escapes; an
 * array of 32000 tokens renders as a few hundred kilobytes: use
 * llm_model_meta_arr_len and llm_model_meta_arr_str for single
 * elements). The strings written are NUL-terminated and *needed (may be
 * NULL) receives the size including the NUL; LLM_ERR_BUFFER_TOO_SMALL
 * when cap is less. A string value holding a NUL byte is copied whole
 * (its C string ends early). LLM_ERR_INVALID_ARG for a NULL model or
 * key, an index out of range or a key the model does not have. A loaded
 * model's metadata is immutable: any thread may read it. */
LLM_API int32_t llm_model_meta_count(const llm_model *model);
LLM_API llm_status llm_model_meta_key_by_index(const llm_model *model, int32_t i, char *buf,
                                       size_t cap, size_t *needed);
LLM_API llm_status llm_model_meta_val_str_by_index(const llm_model *model, int32_t i, char *buf,
                                           size_t cap, size_t *needed);
LLM_API llm_status llm_model_meta_val_str(const llm_model *model, const char *key, char *buf,
                                  size_t cap, size_t *needed);
/* Elements of the array under key; -1 when there is no such key or its
 * value is not an array. */
LLM_API int64_t llm_model_meta_arr_len(const llm_model *model, const char *key);
/* Element i of the array under key, rendered as above (strings unquoted). */
LLM_API llm_status llm_model_meta_arr_str(const llm_model *model, const char *key, int64_t i,
                                  char *buf, size_t cap, size_t *needed);

/* The tensors of a GGUF file (none for a llama2.c checkpoint), for tools
 * that show what a file holds (llm-inspect). */
typedef struct llm_tensor_info {
    const char *name;      /* (name_len) bytes in the mapped file, not NUL-terminated */
    size_t name_len;
    uint32_t type;         /* GGUF type number: llm_type_name(type) */
    uint32_t n_dims;
    int64_t ne[LLM_MAX_DIMS]; /* ne[0] varies fastest; unused dims are 1 */
    uint64_t offset;       /* of its data from the start of the file */
    uint64_t nbytes;
} llm_tensor_info;

LLM_API int64_t llm_model_n_tensors(const llm_model *model);
/* Tensor i of the file, in file order; valid while the model is.
 * LLM_ERR_INVALID_ARG for a NULL model or info or i out of range. */
LLM_API llm_status llm_model_tensor_info(const llm_model *model, int64_t i, llm_tensor_info *info,
                                         llm_error *err);
/* Row r (0 .. ne[1] * ne[2] * ne[3] - 1) of tensor i as ne[0] floats into
 * out: the weights as the forward pass reads them. LLM_ERR_UNSUPPORTED
 * for a type libllm does not compute with, LLM_ERR_INVALID_ARG for i or r
 * out of range. */
LLM_API llm_status llm_model_tensor_row(const llm_model *model, int64_t i, int64_t r, float *out,
                                        llm_error *err);

/* ---------------------------------------------------------------- tokens */

#define LLM_TOKEN_NULL (-1)

LLM_API int32_t llm_token_bos(const llm_model *model); /* LLM_TOKEN_NULL if none */
LLM_API int32_t llm_token_eos(const llm_model *model);
LLM_API int32_t llm_token_unk(const llm_model *model);
/* Nonzero when tok ends generation: EOS, BOS (as llama2.c treats it), or
 * a control token that ends a turn (<|eot_id|>, <|im_end|>, ...). */
LLM_API int llm_token_is_eog(const llm_model *model, int32_t tok);
/* Nonzero when the vocabulary asks for BOS before a text
 * (tokenizer.ggml.add_bos_token; llama2.c and SentencePiece models do). */
LLM_API int llm_model_add_bos(const llm_model *model);

/* Flags for llm_tokenize. */
#define LLM_TOKENIZE_ADD_BOS  1u  /* prepend BOS */
#define LLM_TOKENIZE_SPECIAL  2u  /* match control tokens written in the text
                                      (user-defined pieces always match) */

/* Encodes len bytes of text (any bytes: invalid UTF-8 goes through byte
 * fallback; a byte-level BPE vocabulary leaves out a byte it has no
 * character for, as llama.cpp does) into token ids. *n_tokens receives
 * the number of tokens the text needs; if that exceeds cap, nothing
 * useful is in out and the result is LLM_ERR_BUFFER_TOO_SMALL. out may be
 * NULL when cap is 0. */
LLM_API llm_status llm_tokenize(const llm_model *model, const char *text, size_t len,
                        int32_t *out, size_t cap, size_t *n_tokens,
                        uint32_t flags, llm_error *err);

/* The bytes of one token: "▁" becomes a space, byte pieces <0xNN> become
 * the byte, a byte-level BPE piece's GPT-2 characters become their bytes,
 * control tokens give no bytes. Not NUL-terminated. *len receives
 * the piece length; LLM_ERR_BUFFER_TOO_SMALL if it exceeds cap. */
LLM_API llm_status llm_token_to_piece(const llm_model *model, int32_t tok, char *buf,
                              size_t cap, size_t *len);

/* The raw text of a token as the vocabulary stores it, for any token,
 * control tokens included ("<|user|>", "<s>"): SentencePiece pieces keep
 * their "▁", byte-level BPE pieces their GPT-2 characters, byte tokens
 * read "<0xNN>". Not NUL-terminated; *len receives its length;
 * LLM_ERR_BUFFER_TOO_SMALL if it exceeds cap, LLM_ERR_INVALID_ARG for an
 * id outside the vocabulary. */
LLM_API llm_status llm_token_get_text(const llm_model *model, int32_t tok, char *buf, size_t cap,
                              size_t *len);

/* Kinds of tokens, numbered as GGUF's tokenizer.ggml.token_type. */
typedef enum llm_token_attr {
    LLM_TOKEN_ATTR_NONE = 0,  /* not a token (NULL model, id out of range) */
    LLM_TOKEN_NORMAL = 1,
    LLM_TOKEN_UNKNOWN = 2,
    LLM_TOKEN_CONTROL = 3,
    LLM_TOKEN_USER_DEFINED = 4,
    LLM_TOKEN_UNUSED = 5,
    LLM_TOKEN_BYTE = 6
} llm_token_attr;

LLM_API llm_token_attr llm_token_get_attr(const llm_model *model, int32_t tok);

/* Streaming detokenizer: feed tokens one at a time and receive the bytes
 * that are complete UTF-8 so far. A character whose bytes are split across
 * byte-fallback tokens is held back until it is whole. When the vocabulary
 * adds a dummy-prefix space, the leading space of the first piece (at the
 * start, or after BOS) is dropped, as SentencePiece does. */
typedef struct llm_detok llm_detok;

LLM_API llm_detok *llm_detok_new(const llm_model *model, llm_error *err);
LLM_API void llm_detok_free(llm_detok *d);
/* Appends tok; writes the newly complete bytes to buf, *len their count.
 * When they exceed cap: LLM_ERR_BUFFER_TOO_SMALL, *len the size needed,
 * and nothing consumed, so pushing tok again with a buffer of *len bytes
 * continues the stream. A call gives at most 3 + the longest piece's
 * bytes (llm_token_to_piece): 256 bytes suffice for most vocabularies,
 * but pieces of any length load (some hold 512 spaces), so a caller must
 * handle LLM_ERR_BUFFER_TOO_SMALL. */
LLM_API llm_status llm_detok_push(llm_detok *d, int32_t tok, char *buf, size_t cap,
                          size_t *len);
/* Emits whatever is held back (an incomplete sequence, as its raw bytes). */
LLM_API llm_status llm_detok_flush(llm_detok *d, char *buf, size_t cap, size_t *len);

/* ---------------------------------------------------------------- context */

typedef struct llm_ctx llm_ctx;

/* How llm_get_embeddings pools the tokens of a decode into one vector. */
typedef enum llm_pooling {
    LLM_POOLING_NONE = 0,  /* no pooled vector: per-token embeddings only */
    LLM_POOLING_MEAN = 1,  /* the mean over the tokens */
    LLM_POOLING_LAST = 2,  /* the last token's */
    LLM_POOLING_FIRST = 3  /* the first token's */
} llm_pooling;

typedef struct llm_ctx_params {
    int32_t n_ctx;     /* KV cache length in tokens; 0 = min(model's, 2048) */
    int32_t n_threads; /* threads for the forward pass, the caller's included;
                          1 = the caller alone, no pool is started */
    int32_t n_batch;   /* most tokens one forward pass processes together;
                          longer llm_decode calls are split (default 512) */
    const char *kernels; /* "scalar", "avx2", "avx512", "neon", or NULL /
                            "auto": $LLM_KERNELS if set, else the best the
                            CPU supports. An unsupported name is an error.
                            "reference" (also as $LLM_KERNELS): the plain
                            single-token forward pass of
                            lib/run/forward_ref.c (float math, naive
                            attention, no threads; batches run token by
                            token), the one docs/WALKTHROUGH.md follows;
                            its logits agree with the optimized path's
                            within 1e-4 of the largest for float weights,
                            2e-2 for quantized ones, whose optimized
                            products round activations to Q8_0, 1e-3
                            with an F16 KV cache (tests/test_reference.c). */
    int32_t n_threads_blas; /* Threads of OpenBLAS's sgemm (float weights in
                            prompts). 0 (default): OpenBLAS keeps its own
                            count, a process-wide setting libllm leaves to
                            the host. > 0: before each sgemm the context sets
                            OpenBLAS's count to this when it differs, which
                            changes it for the whole process (llama.cpp sets
                            it to its thread count the same way). */
    bool embeddings;     /* keep each decoded token's final hidden state
                            (after the output norm, n_embd floats): memory
                            for them only when set (default false) */
    llm_pooling pooling; /* with embeddings: the pooled vector (default MEAN) */
    bool normalize;      /* with embeddings: scale each vector, per token
                            and pooled, to unit L2 norm (default false) */
    llm_type kv_type;    /* element type of the KV cache: LLM_TYPE_F32
                            (default) or LLM_TYPE_F16, half the memory;
                            others are LLM_ERR_UNSUPPORTED. F16 rounds each
                            cached key and value to 11 significant bits
                            (tests: logits within 5e-3 of the largest of an
                            F32 cache's with float weights, 5e-2 with Q8_0)
                            and is read a block at a time into floats, which
                            makes attention slower. States keep the type:
                            one saved from an F16 cache loads only into an
                            F16 context. */
} llm_ctx_params;

LLM_API llm_ctx_params llm_ctx_default_params(void);

LLM_API llm_ctx *llm_ctx_new(const llm_model *model, const llm_ctx_params *params,
                     llm_error *err);
LLM_API void llm_ctx_free(llm_ctx *ctx);

LLM_API int32_t llm_ctx_n_ctx(const llm_ctx *ctx); /* capacity in tokens */
LLM_API int32_t llm_ctx_pos(const llm_ctx *ctx);   /* tokens in the cache */
/* Name of the kernel set the context computes with ("avx2", ...). */
LLM_API const char *llm_ctx_kernels(const llm_ctx *ctx);
/* Forgets every token from position pos on (0 empties the cache).
 * Returns LLM_OK, or LLM_ERR_INVALID_ARG (err filled, when not NULL) for a
 * NULL ctx or a pos outside 0 .. llm_ctx_pos(ctx); the cache is then
 * unchanged. */
LLM_API llm_status llm_ctx_truncate(llm_ctx *ctx, int32_t pos, llm_error *err);

/* Context shift, for going on when the cache is full: keeps the first
 * keep positions, forgets the discard positions after them and moves the
 * rest down by discard, re-rotating their cached keys (RoPE) to their new
 * positions, as llama.cpp's context shift does. The moved entries keep
 * what they were computed from, the forgotten tokens included, so what
 * follows is close to, not the same as, decoding the shortened sequence
 * afresh (tests: layer-0 keys within 1e-4 of a fresh decode's, 2e-3 in
 * an F16 cache). The last
 * decode's logits stay readable. keep + discard must not exceed
 * llm_ctx_pos (LLM_ERR_INVALID_ARG otherwise); discard 0 does nothing. */
LLM_API llm_status llm_ctx_shift(llm_ctx *ctx, int32_t keep, int32_t discard, llm_error *err);

/* Runs the model over n tokens at the next positions of the cache. On
 * success the logits of the last token are available from llm_logits.
 * If the tokens do not fit, nothing is done and LLM_ERR_CONTEXT_FULL is
 * returned. Token ids out of range give LLM_ERR_INVALID_ARG. When the
 * abort callback (llm_ctx_set_abort) asks to stop, the result is
 * LLM_ERR_ABORTED and the context is as before the call: no position is
 * advanced (cache entries the call wrote past llm_ctx_pos are ignored and
 * overwritten later), and llm_logits gives NULL until the next successful
 * decode. Same as llm_decode_ex(ctx, tokens, n, NULL, err). */
LLM_API llm_status llm_decode(llm_ctx *ctx, const int32_t *tokens, int32_t n,
                      llm_error *err);

/* llm_decode with a choice of outputs: want_logits[i] != 0 asks for the
 * logits of tokens[i]; want_logits NULL asks for the last token's only.
 * Rows that are not asked for cost nothing: the output head runs only on
 * the chosen positions (all of a batch together), and memory for their
 * logits (one row of n_vocab floats per position asked for) is allocated
 * by the context when a decode first needs more than it has, then kept
 * for reuse; failing to get it is LLM_ERR_NOMEM before anything is run.
 * The logits of every position agree with decoding the tokens one at a
 * time within the rounding of the batched products (tests: 1e-4 of the
 * largest logit for F32 weights, 2e-2 for Q8_0 and F16 weights, whose
 * batched products round activations differently). Errors as llm_decode. */
LLM_API llm_status llm_decode_ex(llm_ctx *ctx, const int32_t *tokens, int32_t n,
                         const int8_t *want_logits, llm_error *err);

/* Logits (n_vocab floats) of tokens[i] of the last successful decode: i
 * in 0 .. n - 1, or negative to count from the end (-1 is the last token).
 * NULL when that position's logits were not asked for, i is out of range,
 * or there was no decode since the context was made, truncated or
 * aborted. Valid until the next call that changes ctx. */
LLM_API const float *llm_logits_ith(const llm_ctx *ctx, int32_t i);

/* With llm_ctx_params.embeddings: the embedding of tokens[i] of the last
 * successful decode (n_embd floats; i as llm_logits_ith), or the pooled
 * embedding of all its tokens, NULL with pooling NONE. Pooling covers
 * the tokens of one decode call, so embed a text with one llm_decode
 * (llm_decode_ex with a zero mask skips the logits); the pooled vector
 * is made from the unnormalized ones, then normalized when asked. NULL
 * without embeddings, before a decode, after a truncation or an abort.
 * Valid until the next call that changes ctx. */
LLM_API const float *llm_get_embeddings_ith(const llm_ctx *ctx, int32_t i);
LLM_API const float *llm_get_embeddings(const llm_ctx *ctx);

/* Logits of the last token of the last decode: llm_logits_ith(ctx, -1). */
LLM_API const float *llm_logits(const llm_ctx *ctx);

/* Installs a callback that llm_decode polls on the calling thread between
 * layers, between the row chunks of each large product and between
 * attention's tasks, so a decode stops within a chunk's time of the
 * callback returning true (it then returns LLM_ERR_ABORTED, see
 * llm_decode; llm-bench --abort-after measures it: tens of milliseconds
 * on a 2048-token prompt of a 1.1B model). A product OpenBLAS runs (F32
 * weights in batches of 32 or more) is not cut: it is asked around it. The callback must be cheap
 * and must not call into ctx; ud is passed to it unchanged. NULL removes
 * it. Returns LLM_ERR_INVALID_ARG for a NULL ctx. */
LLM_API llm_status llm_ctx_set_abort(llm_ctx *ctx, bool (*abort_cb)(void *ud), void *ud);

/* ---------------------------------------------------------------- state */

/* A context's state is its positions, their KV cache entries and the
 * last token's logits. Saved states start with a header — magic "LLMS",
 * format version, the model's identity (architecture, n_vocab, n_embd,
 * n_layer, n_head_kv, head size and a fingerprint of its weights), the
 * KV cache's element type, the saving context's n_ctx and the position
 * count — that llm_state_load
 * checks field by field: a state of another model or shape, one longer
 * than the loading context, or a truncated or corrupted buffer is
 * refused with LLM_ERR_FORMAT (LLM_ERR_CONTEXT_FULL when it does not fit)
 * and a message naming the field, and leaves the context unchanged. A
 * state may be loaded into a context of another n_ctx, n_threads or
 * kernel set (not of another kv_type). The cached values themselves carry
 * no checksum. These functions read src / ctx only (save, size, the copy's
 * source): like every call on a context, one thread at a time. */

/* Bytes llm_state_save needs for the context as it is now. */
LLM_API size_t llm_state_size(const llm_ctx *ctx);
/* Writes the state into buf; *written (may be NULL) receives its size.
 * LLM_ERR_BUFFER_TOO_SMALL with *written = the size needed when cap is
 * too small. */
LLM_API llm_status llm_state_save(const llm_ctx *ctx, void *buf, size_t cap, size_t *written,
                          llm_error *err);
/* Replaces the context's state by the one in buf (size bytes). */
LLM_API llm_status llm_state_load(llm_ctx *ctx, const void *buf, size_t size, llm_error *err);
/* The same to and from a file (written whole to a temporary name, then
 * renamed into place; only over a new or regular file: a symbolic link,
 * device, FIFO or directory there is refused with LLM_ERR_INVALID_ARG). */
LLM_API llm_status llm_state_save_file(const llm_ctx *ctx, const char *path, llm_error *err);
LLM_API llm_status llm_state_load_file(llm_ctx *ctx, const char *path, llm_error *err);

/* Copies the first n positions of src's cache into dst (both contexts of
 * the same model), which then holds exactly those n positions: the
 * prompt cache of a server, which decodes a shared prefix once. n may be
 * at most llm_ctx_pos(src) and llm_ctx_n_ctx(dst). When n is src's whole
 * position count its last logits are copied too; otherwise dst has none
 * until its next decode. */
LLM_API llm_status llm_ctx_copy_prefix(llm_ctx *dst, const llm_ctx *src, int32_t n,
                               llm_error *err);

/* ---------------------------------------------------------------- looking inside */

/* A read-only view of one tensor of the forward pass: ne1 rows of ne0
 * floats at data, valid only during the observer's call. */
typedef struct llm_view {
    const char *name;   /* the point of the pass, one of the names below */
    int32_t layer;      /* 0 .. n_layer - 1, or -1 outside the layers */
    int32_t pos;        /* the token's position in the cache */
    int32_t token;      /* the token's id */
    int64_t ne0, ne1;   /* shape: ne1 rows of ne0 floats */
    const float *data;
} llm_view;

/* The named points, in the order a token meets them (per layer, the
 * middle ones; "attn_norm" and "ffn_norm" only where the layer has the
 * pre-norm):
 *   "embedding"    (n_embd, 1)          the token's row, times its scale
 *   "attn_norm"    (n_embd, 1)          the attention's normed input
 *   "q"            (head_dim, n_head)   queries after biases, norms, RoPE
 *   "k", "v"       (head_dim, n_head_kv) the key after RoPE, the value
 *   "attn_weights" (pos + 1, n_head)    each head's softmax row over the
 *                                       positions 0 .. pos: sums to 1,
 *                                       0 outside a sliding window
 *   "attn_out"     (n_embd, 1)          the output projection (post-norm'd)
 *   "ffn_norm"     (n_embd, 1)          the feed-forward's normed input
 *   "ffn_out"      (n_embd, 1)          the feed-forward's output (post-norm'd)
 *   "residual"     (n_embd, 1)          the residual stream leaving the layer
 *   "final_norm"   (n_embd, 1)          the output norm of the last stream,
 *   "logits"       (n_vocab, 1)         and the logits, as llm_logits_ith gives
 *                                       them: these two for the tokens whose
 *                                       logits the decode asks for (the last
 *                                       one; all marked by llm_decode_ex)
 * The callback must not call into ctx; ud is passed to it unchanged. */
typedef void (*llm_observer_fn)(const llm_view *view, void *ud);

/* Installs (cb NULL: removes) an observer on ctx. While one is set, every
 * llm_decode runs through the reference path ("reference" kernels above):
 * it is the path that holds each tensor of each token, attention weights
 * included, which the optimized path's tiled attention never forms. So an
 * observed decode is slow (one token at a time, no threads). Without an
 * observer the cost is one NULL check per forward pass. LLM_ERR_INVALID_ARG
 * for a NULL ctx. */
LLM_API llm_status llm_ctx_set_observer(llm_ctx *ctx, llm_observer_fn cb, void *ud);

/* The logit lens: the model's output norm and head applied to a hidden
 * state (n_embd floats, e.g. a copy of a layer's "residual" view) as if
 * the stream were decoded there; n_vocab logits into out. For the last
 * layer's stream it gives the token's logits (the reference path's).
 * Changes nothing llm_logits reports; do not call it from an observer. */
LLM_API llm_status llm_logit_lens(llm_ctx *ctx, const float *hidden, float *out, llm_error *err);

/* ---------------------------------------------------------------- sampler */

/* A sampler is a chain of stages applied in order to the logits of a step.
 * Filtering stages (penalty, top-k, top-p, min-p, temperature) reshape the
 * candidate list; the chain ends by picking a token, greedily when it has a
 * greedy stage or when the temperature is 0, otherwise by drawing from the
 * softmax with the chain's own random generator (seeded, reproducible). */
typedef struct llm_sampler llm_sampler;

/* One entry of a logit bias: bias is added to the logit of token
 * (-INFINITY bans it). */
typedef struct llm_logit_bias {
    int32_t token;
    float bias;
} llm_logit_bias;

typedef struct llm_sampler_params {
    float temperature;    /* 0 = greedy */
    int32_t top_k;        /* 0 = off */
    float top_p;          /* 1 = off */
    float min_p;          /* 0 = off */
    float repeat_penalty; /* 1 = off */
    int32_t repeat_last_n;/* window of recent tokens the penalties look at */
    float presence_penalty;  /* 0 = off: subtracted once from each token in the window */
    float frequency_penalty; /* 0 = off: subtracted per occurrence in the window */
    const llm_logit_bias *logit_bias; /* (n_logit_bias) entries, copied; NULL = none */
    int32_t n_logit_bias;
    uint64_t seed;
} llm_sampler_params;

LLM_API llm_sampler_params llm_sampler_default_params(void);

/* An empty chain (it picks greedily until stages are added). */
LLM_API llm_sampler *llm_sampler_new(uint64_t seed, llm_error *err);
/* A chain built from params in the usual order: logit bias, penalties
 * (repeat, then presence and frequency), top-k, top-p, min-p,
 * temperature, then draw (or greedy when temperature is 0). */
LLM_API llm_sampler *llm_sampler_from_params(const llm_sampler_params *params,
                                     llm_error *err);
LLM_API void llm_sampler_free(llm_sampler *s);

/* Stages appended to the chain. Each returns LLM_OK, or, with err filled
 * (when not NULL) by a message naming the argument and its range and the
 * chain unchanged: LLM_ERR_INVALID_ARG for a NULL sampler or an argument
 * out of range, LLM_ERR_NOMEM when the chain cannot grow.
 *   penalty: repeat penalty, finite and > 0 (1 = off), over the last
 *            last_n accepted tokens, last_n in 0 .. LLM_MAX_PENALTY_WINDOW;
 *   top_k:   k >= 0 (0 = off);
 *   top_p, min_p: p in 0 .. 1;
 *   temperature: t finite (<= 0 = greedy). */
LLM_API llm_status llm_sampler_add_penalty(llm_sampler *s, float penalty, int32_t last_n,
                                           llm_error *err);
LLM_API llm_status llm_sampler_add_top_k(llm_sampler *s, int32_t k, llm_error *err);
LLM_API llm_status llm_sampler_add_top_p(llm_sampler *s, float p, llm_error *err);
LLM_API llm_status llm_sampler_add_min_p(llm_sampler *s, float p, llm_error *err);
LLM_API llm_status llm_sampler_add_temperature(llm_sampler *s, float t, llm_error *err);
LLM_API llm_status llm_sampler_add_greedy(llm_sampler *s, llm_error *err);
/* OpenAI-style penalties over the last last_n accepted tokens: a token
 * seen c > 0 times there loses presence + c * frequency from its logit.
 * Both must be finite; last_n in 0 .. LLM_MAX_PENALTY_WINDOW. Returns as
 * the stages above. */
LLM_API llm_status llm_sampler_add_presence_frequency(llm_sampler *s, float presence,
                                              float frequency, int32_t last_n, llm_error *err);
/* Adds bias[i].bias to the logit of bias[i].token (the n entries are
 * copied). Tokens outside the vocabulary of a step are ignored; a NaN or
 * +inf bias, n < 0 or a NULL bias with n > 0 is LLM_ERR_INVALID_ARG
 * (err filled, when not NULL). */
LLM_API llm_status llm_sampler_add_logit_bias(llm_sampler *s, const llm_logit_bias *bias,
                                      int32_t n, llm_error *err);

/* Picks the next token from n_vocab logits. Returns the token id, or
 * LLM_TOKEN_NULL with err filled on bad arguments or allocation failure.
 * It does NOT record the token: the penalties see only what
 * llm_sampler_accept records, so a generation loop either calls
 * llm_sampler_accept with each sampled token or uses
 * llm_sampler_sample_accept. */
LLM_API int32_t llm_sampler_sample(llm_sampler *s, const float *logits, int32_t n_vocab,
                           llm_error *err);
/* llm_sampler_sample, then llm_sampler_accept of the token it picked. */
LLM_API int32_t llm_sampler_sample_accept(llm_sampler *s, const float *logits, int32_t n_vocab,
                                  llm_error *err);
/* Records a token (prompt or generated) in the penalty window. Prompt
 * tokens may be recorded too, to penalize repeating the prompt. */
LLM_API void llm_sampler_accept(llm_sampler *s, int32_t tok);
/* Forgets recorded tokens and restarts the random generator from the seed. */
LLM_API void llm_sampler_reset(llm_sampler *s);

/* ---------------------------------------------------------------- chat templates */

/* Chat templates turn a conversation into the prompt text a model was
 * trained on. They are Jinja programs (Hugging Face's tokenizer_config.json
 * "chat_template", GGUF's tokenizer.chat_template), which libllm runs in a
 * sandboxed interpreter with the semantics of Python's Jinja2 in the
 * environment transformers' apply_chat_template builds: trim_blocks and
 * lstrip_blocks on, one trailing newline of the source dropped, Python
 * string and comparison semantics, raise_exception(msg), strftime_now(fmt),
 * namespace(), loop controls, {% generation %}, tojson as
 * json.dumps(ensure_ascii=False).
 *
 * Templates come from downloaded files and are treated as hostile: the
 * source (1 MiB), the output (16 MiB), any one string (16 MiB), the memory
 * held by values (256 MiB), the work done (20 million steps) and nesting
 * (100 levels of syntax or of macro calls, 1000 of evaluation in all) are
 * bounded; exceeding one gives LLM_ERR_LIMIT. A malformed template, or one
 * that misuses a value, gives LLM_ERR_TEMPLATE with a message naming the
 * line and column; a template that calls raise_exception gives
 * LLM_ERR_TEMPLATE with exactly its message (cut to fit llm_error.msg; an
 * empty one reads "raise_exception() with an empty message").
 * Allocation failures give LLM_ERR_NOMEM. Rendering keeps no state: any
 * number of threads may render at once, with one model or none. */

typedef struct llm_chat_message {
    const char *role;    /* "system", "user", "assistant", ... */
    const char *content; /* UTF-8 text, passed to the template as data */
} llm_chat_message;

typedef struct llm_chat_params {
    /* Jinja source to render. NULL: template_name when given, else the
     * model's tokenizer.chat_template. */
    const char *template_src;
    /* A built-in template by name ("chatml", "llama3", ...; see
     * llm_chat_builtin_names), used when template_src is NULL: it takes
     * precedence over the model's template, and is needed when the model
     * is NULL or has none. */
    const char *template_name;
    const char *bos_token;     /* NULL: the model's BOS text (undefined without a model) */
    const char *eos_token;     /* NULL: the model's EOS text (undefined without a model) */
    int add_generation_prompt; /* nonzero: end with the assistant turn's opening */
    /* Extra template variables as the text of a JSON object, e.g.
     * {"enable_thinking": false} or {"tools": [...]}; they override the
     * ones above and tools and documents, which are None otherwise (as
     * transformers passes them). NULL: none. */
    const char *vars_json;
    /* "YYYY-MM-DD", the day strftime_now reports (at 00:00:00). NULL:
     * today, in local time. */
    const char *date;
} llm_chat_params;

/* Template from the model, add_generation_prompt on, everything else NULL. */
LLM_API llm_chat_params llm_chat_default_params(void);

/* Renders msgs (n_msgs of them; msgs may be NULL when n_msgs is 0) with
 * the template params selects into buf as a NUL-terminated string.
 * *needed (when needed is not NULL) receives the size the text takes,
 * including the NUL; when that exceeds cap the result is
 * LLM_ERR_BUFFER_TOO_SMALL and buf holds nothing useful. model may be NULL
 * when template_src or template_name is given; params NULL means the
 * defaults. NULL messages, roles or contents, an unknown template_name, a
 * malformed vars_json or date give LLM_ERR_INVALID_ARG. The rendered text
 * writes the BOS text itself when the template does: tokenize it with
 * LLM_TOKENIZE_SPECIAL and without LLM_TOKENIZE_ADD_BOS. */
LLM_API llm_status llm_chat_apply(const llm_model *model, const llm_chat_params *params,
                                  const llm_chat_message *msgs, size_t n_msgs, char *buf,
                                  size_t cap, size_t *needed, llm_error *err);

/* The model's template source (tokenizer.chat_template), or NULL when it
 * has none (or model is NULL). Valid while the model is. */
LLM_API const char *llm_model_chat_template(const llm_model *model);

/* Names of the built-in templates, a NULL-terminated static list. */
LLM_API const char *const *llm_chat_builtin_names(void);

/* ---------------------------------------------------------------- ollama */

/* A model pulled by Ollama, found by name in its store: the GGUF file to
 * load, and the defaults its manifest gives (the params and system
 * layers). Strings are owned by the struct; llm_ollama_model_free
 * releases them. */
typedef struct llm_ollama_model {
    char *model_path;   /* the model layer's blob, a GGUF file: give it to llm_model_load */
    char *system;       /* the system layer's text, or NULL */
    char *params_json;  /* the params layer as it is, or NULL */
    /* The params layer's values that libllm has a use for; a value the
     * layer does not set is NAN (floats) or -1 (integers), so Ollama's own
     * -1 (repeat_last_n: the whole context; num_predict: no limit; seed:
     * random) reads as unset, and num_predict -2 (fill the context) stays. */
    float temperature, top_p, min_p, repeat_penalty;
    int32_t top_k, repeat_last_n, num_ctx, num_predict;
    int64_t seed;
    char **stop;        /* n_stop stop strings */
    size_t n_stop;
    int has_template;   /* the manifest has a template layer: a Go template,
                           which libllm does not run (the GGUF file's own
                           Jinja template is used instead) */
} llm_ollama_model;

/* Most bytes read from a manifest, a params or a system layer. */
#define LLM_OLLAMA_MAX_LAYER (1 << 20)

/* Resolves name, "[[HOST/]NAMESPACE/]MODEL[:TAG]" as Ollama writes it
 * (defaults registry.ollama.ai, library, latest), in the store at
 * models_dir, or when that is NULL at $OLLAMA_MODELS, else
 * $HOME/.ollama/models. Reads manifests/HOST/NAMESPACE/MODEL/TAG and the
 * layers it lists from blobs/sha256-HEX. Each part of the name is 1 to 128
 * characters of [A-Za-z0-9._-] not starting with '.' or '-', so it cannot
 * leave the store. A manifest without a GGUF model layer (per-tensor or
 * cloud models), or with a LoRA adapter layer, gives LLM_ERR_UNSUPPORTED; malformed or oversized
 * manifests and layers LLM_ERR_FORMAT or LLM_ERR_LIMIT. On failure out
 * holds nothing to free. */
LLM_API llm_status llm_ollama_resolve(const char *name, const char *models_dir,
                                      llm_ollama_model *out, llm_error *err);
LLM_API void llm_ollama_model_free(llm_ollama_model *m);

#ifdef __cplusplus
}
#endif

#endif /* LLM_H */

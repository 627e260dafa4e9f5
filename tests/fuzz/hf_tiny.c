#include "hf_tiny.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const hf_file_names[HF_N_FILES] = {
    "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json",
    "model.safetensors", "model.safetensors.index.json", "tokenizer.model",
};

enum { DIM = 8, FF = 16, KV = 4, VOCAB = 16 };

/* A growable byte buffer; running out of memory ends the program (this
 * is test scaffolding, not library code). */
typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            fprintf(stderr, "hf_tiny: out of memory\n");
            exit(1);
        }
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* ---------------------------------------------------------- safetensors */

static const struct { const char *name; int rows, cols; } tensors[] = {
    {"model.embed_tokens.weight", VOCAB, DIM},
    {"model.norm.weight", 0, DIM},
    {"model.layers.0.input_layernorm.weight", 0, DIM},
    {"model.layers.0.self_attn.q_proj.weight", DIM, DIM},
    {"model.layers.0.self_attn.k_proj.weight", KV, DIM},
    {"model.layers.0.self_attn.v_proj.weight", KV, DIM},
    {"model.layers.0.self_attn.o_proj.weight", DIM, DIM},
    {"model.layers.0.post_attention_layernorm.weight", 0, DIM},
    {"model.layers.0.mlp.gate_proj.weight", FF, DIM},
    {"model.layers.0.mlp.up_proj.weight", FF, DIM},
    {"model.layers.0.mlp.down_proj.weight", DIM, FF},
};
#define N_TENSORS (sizeof tensors / sizeof tensors[0])

/* u64 header length, the JSON header padded with spaces to a multiple of
 * 8, then the F32 data (rows 0 means a vector). */
static void safetensors(buf *out) {
    buf h = {0}, data = {0};
    char entry[256];
    puts_(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < N_TENSORS; i++) {
        int n = (tensors[i].rows ? tensors[i].rows : 1) * tensors[i].cols;
        size_t begin = data.n;
        for (int k = 0; k < n; k++) {
            float x = tensors[i].rows ? (float)((k * 7 + (int)i * 3) % 11 - 5) * 0.05f : 1.0f;
            put(&data, &x, 4);
        }
        if (tensors[i].rows)
            snprintf(entry, sizeof entry, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}",
                     tensors[i].name, tensors[i].rows, tensors[i].cols, begin, data.n);
        else
            snprintf(entry, sizeof entry, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]}",
                     tensors[i].name, tensors[i].cols, begin, data.n);
        puts_(&h, entry);
    }
    puts_(&h, "}");
    while (h.n % 8) puts_(&h, " ");
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    put(out, len, 8);
    put(out, h.p, h.n);
    put(out, data.p, data.n);
    free(h.p);
    free(data.p);
}

static void index_json(buf *out) {
    puts_(out, "{\"metadata\":{\"total_size\":1000},\"weight_map\":{");
    for (size_t i = 0; i < N_TENSORS; i++) {
        puts_(out, i ? ",\"" : "\"");
        puts_(out, tensors[i].name);
        puts_(out, "\":\"model.safetensors\"");
    }
    puts_(out, "}}\n");
}

/* ------------------------------------------------------ SentencePiece */

static void varint(buf *b, uint64_t v) {
    do {
        unsigned char c = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) c |= 0x80;
        put(b, &c, 1);
    } while (v);
}

static void field_bytes(buf *b, int num, const void *p, size_t n) {
    varint(b, (uint64_t)num << 3 | 2);
    varint(b, n);
    put(b, p, n);
}

/* ModelProto: pieces (1) {piece 1, score 2, type 3}, trainer_spec (2)
 * {model_type 3, unk_id 40, bos_id 41, eos_id 42}, normalizer_spec (3)
 * {add_dummy_prefix 3}. */
static void spm(buf *out) {
    static const char *const pieces[VOCAB] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "c", "d",
                                              ("\xe2\x96\x81" "a"), "ab", "cd", "abcd", "<0x0A>", "<0x20>",
                                              "e", "<|endoftext|>"};
    for (int i = 0; i < VOCAB; i++) {
        buf p = {0};
        field_bytes(&p, 1, pieces[i], strlen(pieces[i]));
        float score = -(float)i;
        varint(&p, 2 << 3 | 5);
        put(&p, &score, 4);
        int type = i == 0 ? 2 : i < 3 || i == 15 ? 3 : i == 12 || i == 13 ? 6 : 1;
        varint(&p, 3 << 3);
        varint(&p, (uint64_t)type);
        field_bytes(out, 1, p.p, p.n);
        free(p.p);
    }
    buf t = {0};
    const int tfields[][2] = {{3, 2}, {40, 0}, {41, 1}, {42, 2}};
    for (int i = 0; i < 4; i++) {
        varint(&t, (uint64_t)tfields[i][0] << 3);
        varint(&t, (uint64_t)tfields[i][1]);
    }
    field_bytes(out, 2, t.p, t.n);
    free(t.p);
    const unsigned char norm[] = {3 << 3, 1};
    field_bytes(out, 3, norm, sizeof norm);
}

/* ------------------------------------------------------------- JSON */

static const char config[] =
    "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":8,"
    "\"intermediate_size\":16,\"num_hidden_layers\":1,\"num_attention_heads\":2,\"num_key_value_heads\":1,"
    "\"vocab_size\":16,\"max_position_embeddings\":32,\"rms_norm_eps\":1e-05,\"rope_theta\":10000.0,"
    "\"hidden_act\":\"silu\",\"tie_word_embeddings\":true,\"torch_dtype\":\"float32\"}\n";

/* GPT-2 byte-level BPE; \u0120 is the byte-level character of a space. */
static const char tokenizer_json[] =
    "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":15,\"content\":\"<|endoftext|>\",\"special\":true}],"
    "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
    "\"trim_offsets\":true,\"use_regex\":true},\"model\":{\"type\":\"BPE\",\"vocab\":{"
    "\"a\":0,\"b\":1,\"c\":2,\"d\":3,\"e\":4,\"\\u0120\":5,\"ab\":6,\"cd\":7,\"abcd\":8,\"\\u0120a\":9,"
    "\"ee\":10,\"\\u010a\":11,\"!\":12,\"\\u0120\\u0120\":13},"
    "\"merges\":[\"a b\",\"c d\",\"ab cd\",[\"\\u0120\",\"a\"],\"e e\",\"\\u0120 \\u0120\"]}}\n";

static const char tokenizer_config[] =
    "{\"bos_token\":\"<|endoftext|>\",\"eos_token\":{\"content\":\"<|endoftext|>\"},\"add_bos_token\":true}\n";

static const char generation_config[] = "{\"bos_token_id\":15,\"eos_token_id\":[15,14]}\n";

unsigned char *hf_tiny_file(int f, size_t *size) {
    buf b = {0};
    switch (f) {
    case HF_CONFIG: puts_(&b, config); break;
    case HF_TOKENIZER_JSON: puts_(&b, tokenizer_json); break;
    case HF_TOKENIZER_CONFIG: puts_(&b, tokenizer_config); break;
    case HF_GENERATION_CONFIG: puts_(&b, generation_config); break;
    case HF_SAFETENSORS: safetensors(&b); break;
    case HF_INDEX: index_json(&b); break;
    default: spm(&b); break;
    }
    *size = b.n;
    return b.p;
}

/* llm-tokenize: prints the token ids libllm makes of a text, optionally
 * with each token's piece. Uses only the public API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"
#include "opts.h"
#include "toolutil.h"

const char *const tool_name = "llm-tokenize";

static const char synopsis[] =
    "usage: llm-tokenize -m MODEL [-z TOKENIZER] (-p TEXT | -f FILE) [--no-bos] [--special] [--pieces]\n"
    "Prints the token ids of a text.\n\n";

static int32_t *alloc_ids(size_t n) {
    int32_t *ids = n <= SIZE_MAX / sizeof *ids ? malloc(n * sizeof *ids) : NULL;
    if (!ids) die("%s", "out of memory");
    return ids;
}

/* Tokenizes, growing the id buffer to the reported size if the first
 * guess is short. */
static int32_t *tokenize(const llm_model *model, const char *text, size_t len, uint32_t flags, size_t *n) {
    size_t cap = len < SIZE_MAX / 8 ? len + 8 : len;
    int32_t *ids = alloc_ids(cap);
    llm_error err;
    llm_status s = llm_tokenize(model, text, len, ids, cap, n, flags, &err);
    if (s == LLM_ERR_BUFFER_TOO_SMALL) {
        free(ids);
        ids = alloc_ids(*n);
        s = llm_tokenize(model, text, len, ids, *n, n, flags, &err);
    }
    if (s != LLM_OK) die("%s", err.msg);
    return ids;
}

/* A token's bytes as text (llm_token_to_piece), or for a control token,
 * which has none, its raw text (<s>, <|user|>, ...). */
static llm_status token_text(const llm_model *model, int32_t tok, char *buf, size_t cap, size_t *len) {
    if (llm_token_get_attr(model, tok) == LLM_TOKEN_CONTROL) return llm_token_get_text(model, tok, buf, cap, len);
    return llm_token_to_piece(model, tok, buf, cap, len);
}

static void print_pieces(const llm_model *model, const int32_t *ids, size_t n) {
    char buf[256];
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char *piece = buf;
        if (token_text(model, ids[i], buf, sizeof buf, &len) == LLM_ERR_BUFFER_TOO_SMALL) {
            piece = malloc(len);
            if (!piece || token_text(model, ids[i], piece, len, &len) != LLM_OK)
                die("%s", "cannot get a token's piece");
        }
        printf("%d '", (int)ids[i]);
        fwrite(piece, 1, len, stdout);
        printf("'\n");
        if (piece != buf) free(piece);
    }
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *text = NULL, *file = NULL;
    llm_model_params params = llm_model_default_params();
    params.vocab_only = true; /* only the tokenizer is needed: vocabulary files open too */
    int no_bos = 0, special = 0, pieces = 0;
    const opt table[] = {
        {"m", "model", OPT_STR, &model_path, 0, 0, "MODEL", "GGUF file or llama2.c checkpoint", NULL},
        {"z", "tokenizer", OPT_STR, &params.tokenizer_path, 0, 0, "TOKENIZER",
         "tokenizer.bin for a llama2.c checkpoint (default: beside it)", NULL},
        {"p", "prompt", OPT_STR, &text, 0, 0, "TEXT", "text to tokenize", NULL},
        {"f", "file", OPT_STR, &file, 0, 0, "FILE", "file whose bytes to tokenize", NULL},
        {NULL, "no-bos", OPT_FLAG, &no_bos, 0, 0, NULL, "do not prepend the BOS token", NULL},
        {NULL, "special", OPT_FLAG, &special, 0, 0, NULL, "match control tokens written in the text (<s>, ...)", NULL},
        {NULL, "pieces", OPT_FLAG, &pieces, 0, 0, NULL, "print one token per line as: id 'piece' (control\ntokens: their text)", NULL},
        OPTS_END};
    opts_cmd cmd = {tool_name, synopsis, NULL, table, NULL, 0, 0};
    opts_parse_or_exit(&cmd, argc, argv);
    if (!model_path) exit(opts_error(&cmd, "no model given: -m MODEL"));
    if (!text == !file) exit(opts_error(&cmd, "give exactly one of -p TEXT or -f FILE"));
    uint32_t flags = (no_bos ? 0 : LLM_TOKENIZE_ADD_BOS) | (special ? LLM_TOKENIZE_SPECIAL : 0);

    size_t len;
    char *data = NULL;
    if (file) {
        data = read_file(file, &len);
    } else {
        len = strlen(text);
    }
    llm_error err;
    llm_model *model = llm_model_load(model_path, &params, &err);
    if (!model) die("%s", err.msg);

    size_t n;
    int32_t *ids = tokenize(model, file ? data : text, len, flags, &n);
    if (pieces) {
        print_pieces(model, ids, n);
    } else {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        printf("\n");
    }
    free(ids);
    free(data);
    llm_model_free(model);
    return 0;
}

/* llm: generate text with a model, or chat with it, on the public API only.
 *
 * Prints the prompt and the continuation to stdout as they are produced;
 * which model file was opened, and statistics, go to stderr. Exit status
 * 0 on success, 1 on any error, 2 for a mistake on the command line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <llm.h>

#include "llm_chat.h"
#include "llm_args.h"
#include "opts.h"
#include "toolutil.h"

const char *const tool_name = "llm";

/* Streams one token's bytes to stdout as soon as they form whole
 * characters. */
static void emit(llm_detok *d, int32_t tok) {
    char small[512], *owned;
    size_t len;
    const char *bytes = detok_piece(d, tok, small, sizeof small, &len, &owned);
    if (bytes) {
        fwrite(bytes, 1, len, stdout);
        fflush(stdout);
    }
    free(owned);
}

/* Prompt, then up to n_predict sampled tokens; returns generated count or
 * -1 on error. The prompt gets BOS when the vocabulary wants it, and
 * always when empty, which has nothing else to start from. */
static int generate(const options *o, const char *text, const llm_model *m, llm_ctx *ctx, llm_sampler *smp,
                    llm_detok *d, double *t_prompt, double *t_gen, size_t *n_prompt) {
    llm_error err;
    uint32_t flags = (llm_model_add_bos(m) || !*text ? LLM_TOKENIZE_ADD_BOS : 0) |
                     (o->special ? LLM_TOKENIZE_SPECIAL : 0);
    int32_t *prompt = tokenize(m, text, flags, n_prompt, &err);
    if (!prompt) return fail("cannot tokenize the prompt: %s", err.msg), -1;
    if (o->verbose_prompt) print_ids("prompt", 0, prompt, *n_prompt);
    double t0 = now();
    llm_status s = *n_prompt ? llm_decode(ctx, prompt, (int32_t)*n_prompt, &err) : LLM_ERR_INVALID_ARG;
    if (s != LLM_OK) {
        free(prompt);
        return fail("%s", *n_prompt ? err.msg : "the model has no BOS token; give a prompt"), -1;
    }
    for (size_t i = 0; i < *n_prompt; i++) {
        llm_sampler_accept(smp, prompt[i]);
        emit(d, prompt[i]);
    }
    free(prompt);
    double t1 = now();
    *t_prompt = t1 - t0;
    int n = 0;
    while (n < o->n_predict) {
        int32_t tok = llm_sampler_sample(smp, llm_logits(ctx), llm_model_n_vocab(m), &err);
        if (tok < 0) return fail("sampling failed: %s", err.msg), -1;
        if (llm_token_is_eog(m, tok)) break;
        emit(d, tok);
        llm_sampler_accept(smp, tok);
        n++;
        if (n == o->n_predict) break;
        if ((s = llm_decode(ctx, &tok, 1, &err)) != LLM_OK) {
            if (s == LLM_ERR_CONTEXT_FULL) fprintf(stderr, "\nllm: context full, stopping\n");
            else return fail("%s", err.msg), -1;
            break;
        }
    }
    *t_gen = now() - t1;
    return n;
}

/* The prompt of a plain run, and its statistics line on stderr. */
static int run_plain(const options *o, const char *text, const llm_model *m, llm_ctx *ctx, llm_sampler *smp,
                     double t_load) {
    llm_error err;
    llm_detok *d = llm_detok_new(m, &err);
    if (!d) return fail("%s", err.msg);
    double tp = 0, tg = 0;
    size_t np = 0;
    int n = generate(o, text, m, ctx, smp, d, &tp, &tg, &np);
    char tail[64];
    size_t len;
    if (llm_detok_flush(d, tail, sizeof tail, &len) == LLM_OK) fwrite(tail, 1, len, stdout);
    printf("\n");
    fflush(stdout);
    llm_detok_free(d);
    if (n < 0) return 1;
    fprintf(stderr, "llm: load %.1f ms, prompt %zu tokens %.1f tok/s, generated %d tokens %.1f tok/s, seed %llu\n",
            t_load * 1e3, np, tp > 0 ? np / tp : 0.0, n, tg > 0 ? n / tg : 0.0, (unsigned long long)o->sp.seed);
    return 0;
}

/* An Ollama model's defaults (parameters, system prompt) under the
 * command line, which is parsed again over them so that it wins. */
static int ollama_defaults(options *o, int argc, char **argv, llm_ollama_model *om) {
    llm_error err;
    if (llm_ollama_resolve(o->model + strlen("ollama:"), NULL, om, &err) != LLM_OK) return fail("%s", err.msg);
    if (!isnan(om->temperature)) o->sp.temperature = om->temperature;
    if (!isnan(om->top_p)) o->sp.top_p = om->top_p;
    if (!isnan(om->min_p)) o->sp.min_p = om->min_p;
    if (!isnan(om->repeat_penalty)) o->sp.repeat_penalty = om->repeat_penalty;
    if (om->top_k >= 0) o->sp.top_k = om->top_k;
    if (om->repeat_last_n >= 0) o->sp.repeat_last_n = om->repeat_last_n;
    if (om->num_ctx > 0) o->n_ctx = om->num_ctx;
    if (om->num_predict >= 0) o->n_predict = om->num_predict;
    if (om->seed >= 0) o->sp.seed = (uint64_t)om->seed;
    o->system = om->system;
    o->stop = (const char *const *)om->stop;
    o->n_stop = om->n_stop;
    if (om->has_template)
        fprintf(stderr, "llm: the Ollama template layer is a Go template and is not used; "
                        "the GGUF file's chat template is\n");
    return parse_args(argc, argv, o) == OPTS_OK ? 0 : 1;
}

/* The prompt's text, owned: -f FILE's bytes (one trailing newline
 * dropped, as llama.cpp's -f does; a NUL refused) or -p. */
static char *prompt_text(const options *o) {
    size_t len = 0;
    char *text = o->prompt_file ? read_file(o->prompt_file, &len) : NULL;
    const char *nul = text ? memchr(text, 0, len) : NULL;
    if (nul) die("-f %s: a NUL byte at offset %zu (the prompt is text)", o->prompt_file, (size_t)(nul - text));
    if (text && len > 0 && text[len - 1] == '\n') text[len - 1] = 0;
    if (text) return text;
    len = o->prompt ? strlen(o->prompt) : 0;
    text = xmalloc(len + 1);
    memcpy(text, o->prompt ? o->prompt : "", len);
    text[len] = 0;
    return text;
}

/* Conversation mode when asked for, or by default when a chat template is
 * at hand and a person is typing (stdin a terminal), as llama.cpp does. */
static int want_conversation(const options *o, const llm_model *m) {
    if (o->conversation) return 1;
    if (o->no_conversation) return 0;
    return isatty(STDIN_FILENO) && (o->chat_template || llm_model_chat_template(m));
}

int main(int argc, char **argv) {
    options o;
    default_options(&o);
    int r = parse_args(argc, argv, &o);
    if (r) return r == OPTS_HELP ? 0 : 2;
    if (o.escapes) { /* -e: in place, in argv's own strings, which -p and -sys point into */
        if (o.prompt) unescape((char *)o.prompt);
        if (o.system) unescape((char *)o.system);
    }
    llm_ollama_model om = {0};
    if (strncmp(o.model, "ollama:", 7) == 0 && ollama_defaults(&o, argc, argv, &om)) return 1;
    const char *path = om.model_path ? om.model_path : o.model;
    char *text = prompt_text(&o);
    llm_error err;
    double t0 = now();
    llm_model_params mp = llm_model_default_params();
    mp.tokenizer_path = o.tokenizer;
    fprintf(stderr, "llm: model %s\n", path);
    llm_model *m = llm_model_load(path, &mp, &err);
    double t_load = now() - t0;
    int rc = 1;
    if (!m) {
        fail("%s", err.msg);
    } else {
        if (o.verbose) {
            char desc[256];
            if (llm_model_desc(m, desc, sizeof desc, NULL) == LLM_OK) fprintf(stderr, "llm: %s\n", desc);
        }
        llm_ctx_params cp = llm_ctx_default_params();
        cp.n_ctx = o.n_ctx;
        cp.n_threads = o.n_threads;
        cp.n_threads_blas = o.n_threads;
        llm_ctx *ctx = llm_ctx_new(m, &cp, &err);
        if (ctx && o.verbose)
            fprintf(stderr, "llm: context %d tokens, %d threads, kernels %s\n", (int)llm_ctx_n_ctx(ctx),
                    (int)o.n_threads, llm_ctx_kernels(ctx));
        llm_sampler *smp = ctx ? llm_sampler_from_params(&o.sp, &err) : NULL;
        if (!smp) fail("%s", err.msg);
        else if (want_conversation(&o, m)) rc = chat_run(&o, text, m, ctx, smp);
        else rc = run_plain(&o, text, m, ctx, smp, t_load);
        llm_sampler_free(smp);
        llm_ctx_free(ctx);
    }
    llm_model_free(m);
    llm_ollama_model_free(&om);
    free(text);
    return rc;
}

#include "llm_args.h"

#include <stdio.h>

#include "opts.h"

static const char synopsis[] =
    "usage: llm -m MODEL [options]\n"
    "Generate text with a GGUF model or a llama2.c checkpoint, or chat with it.\n\n";

static const char epilog[] =
    "\nConversation mode (-cnv; on by default when the model has a chat template\n"
    "and stdin is a terminal) reads a message per line from stdin and answers\n"
    "each with the model's chat template. A line can also be a command:\n"
    "  /exit    end the conversation (so does end of input)\n"
    "  /clear   forget the conversation, keep the system prompt\n"
    "  /regen   answer the last message again\n"
    "Ctrl-C ends the reply being written, or at the prompt the conversation.\n"
    "A line ending in '\\' continues on the next. When the context fills up, the\n"
    "oldest turns are dropped (the system prompt stays) and the rest is read again.\n"
    "\nMODEL ollama:NAME[:TAG] opens a model pulled by Ollama ($OLLAMA_MODELS, or\n"
    "~/.ollama/models), with its parameters and system prompt as defaults.\n";

void default_options(options *o) {
    *o = (options){0};
    o->sp = llm_sampler_default_params();
    o->sp.seed = opts_random_seed();
    o->n_predict = 256;
    o->n_threads = opts_n_cores();
}

int fail(const char *fmt, const char *arg) {
    fprintf(stderr, "llm: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 1;
}

int parse_args(int argc, char **argv, options *o) {
    const opt table[] = {
        {"m", "model", OPT_STR, &o->model, 0, 0, "PATH", "model file (.gguf, llama2.c .bin, or ollama:NAME[:TAG])", NULL},
        {"z", "tokenizer", OPT_STR, &o->tokenizer, 0, 0, "PATH",
         "tokenizer.bin for a llama2.c checkpoint\n(default: tokenizer.bin beside the model)", NULL},
        {"p", "prompt", OPT_STR, &o->prompt, 0, 0, "TEXT",
         "prompt (default: empty, start from BOS); in conversation\nmode, the first message", NULL},
        {"f", "file", OPT_STR, &o->prompt_file, 0, 0, "FILE", "read the prompt from FILE", NULL},
        {"e", "escape", OPT_FLAG, &o->escapes, 0, 0, NULL, "process \\n, \\t, \\\\, \\\", \\' and \\xNN in -p and -sys", NULL},
        {NULL, "special", OPT_FLAG, &o->special, 0, 0, NULL, "match control tokens (<|im_start|>, ...) written in -p", NULL},
        {"n", "n-predict", OPT_INT, &o->n_predict, 0, INT32_MAX, "N",
         "tokens to generate (default 256; per reply in conversation\nmode); stops early at the end of text", NULL},
        {"c", "ctx-size", OPT_INT, &o->n_ctx, 1, INT32_MAX, "N", "context length in tokens (default: model's, at most 2048)", NULL},
        {"t", "threads", OPT_INT, &o->n_threads, 1, 256, "N", "worker threads (default: the number of cores)", NULL},
        {NULL, "temp", OPT_FLOAT, &o->sp.temperature, 0, 100, "T", "temperature; 0 = greedy (default 0.8)", NULL},
        {NULL, "top-k", OPT_INT, &o->sp.top_k, 0, INT32_MAX, "K", "keep the K most likely tokens; 0 = off (default 40)", NULL},
        {NULL, "top-p", OPT_FLOAT, &o->sp.top_p, 0, 1, "P", "nucleus sampling mass; 1 = off (default 0.95)", NULL},
        {NULL, "min-p", OPT_FLOAT, &o->sp.min_p, 0, 1, "P", "drop tokens below P x the top probability; 0 = off\n(default 0.05)", NULL},
        {NULL, "repeat-penalty", OPT_FLOAT, &o->sp.repeat_penalty, 0, 100, "R", "penalise recently seen tokens; 1 = off (default 1)", NULL},
        {NULL, "repeat-last-n", OPT_INT, &o->sp.repeat_last_n, 0, INT32_MAX, "N", "window of the repeat penalty (default 64)", NULL},
        {NULL, "seed", OPT_U64, &o->sp.seed, 0, 0, "S", "random seed (default: a new one each run, printed at the end)", NULL},
        {"cnv", "conversation", OPT_FLAG, &o->conversation, 0, 0, NULL, "conversation mode (see below)", NULL},
        {"no-cnv", "no-conversation", OPT_FLAG, &o->no_conversation, 0, 0, NULL, "never conversation mode", NULL},
        {"sys", "system-prompt", OPT_STR, &o->system, 0, 0, "TEXT", "the system message of a conversation", NULL},
        {NULL, "chat-template", OPT_STR, &o->chat_template, 0, 0, "NAME|FILE",
         "a built-in chat template (chatml, llama3, ...) or a\nJinja file, instead of the model's", NULL},
        {NULL, "verbose-prompt", OPT_FLAG, &o->verbose_prompt, 0, 0, NULL, "print the token ids fed to the model to stderr", NULL},
        {"v", "verbose", OPT_FLAG, &o->verbose, 0, 0, NULL,
         "print the model and context to stderr, and per conversation\nturn the tokens kept, read and generated", NULL},
        OPTS_END};
    opts_cmd cmd = {"llm", synopsis, epilog, table, NULL, 0, 0};
    int r = opts_parse(&cmd, argc, argv);
    if (r) return r;
    if (!o->model) return opts_error(&cmd, "no model given: use -m MODEL");
    if (o->prompt && o->prompt_file) return opts_error(&cmd, "give -p TEXT or -f FILE, not both");
    if (o->conversation && o->no_conversation) return opts_error(&cmd, "give -cnv or -no-cnv, not both");
    return OPTS_OK;
}

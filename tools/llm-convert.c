/* llm-convert: llama2.c checkpoints and Hugging Face Llama directories to
 * GGUF, with no Python. The work is libllm-convert's (include/llm_convert.h); this is the command
 * line and the progress display. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_convert.h"
#include "opts.h"
#include "progress.h"
#include "tempclean.h"
#include "toolutil.h"

const char *const tool_name = "llm-convert";

static const char synopsis[] =
    "usage: llm-convert --from-llama2c MODEL.bin --tokenizer TOK.bin|TOK.model -o OUT.gguf [--type TYPE]\n"
    "       llm-convert --from-hf DIR -o OUT.gguf [--type TYPE]\n"
    "Writes a GGUF file from a llama2.c checkpoint or a Hugging Face Llama directory.\n\n";

int main(int argc, char **argv) {
    const char *l2c = NULL, *tok = NULL, *hf = NULL, *out = NULL, *type = NULL;
    const opt table[] = {
        {NULL, "from-llama2c", OPT_STR, &l2c, 0, 0, "MODEL", "a llama2.c (v0) checkpoint", NULL},
        {NULL, "tokenizer", OPT_STR, &tok, 0, 0, "TOK", "its llama2.c tokenizer.bin, or a SentencePiece .model", NULL},
        {NULL, "from-hf", OPT_STR, &hf, 0, 0, "DIR",
         "a Hugging Face LlamaForCausalLM directory: config.json,\nmodel.safetensors or shards with "
         "model.safetensors.index.json,\ntokenizer.model or tokenizer.json", NULL},
        {"o", NULL, OPT_STR, &out, 0, 0, "OUT",
         "the GGUF file to write (never one of the inputs): a new or a\nregular file, replaced only once the new one is complete;\n"
         "a symbolic link, device or FIFO there is refused, not followed.\nInterrupted (SIGINT, SIGTERM, SIGHUP), nothing is left behind", NULL},
        {NULL, "type", OPT_STR, &type, 0, 0, "TYPE",
         "f32, f16 or bf16 for the weight matrices (default: the\ncheckpoint's own); norms are always F32", NULL},
        OPTS_END};
    opts_cmd cmd = {tool_name, synopsis, NULL, table, NULL, 0, 0};
    opts_parse_or_exit(&cmd, argc, argv);
    if (!out || (!l2c == !hf)) exit(opts_error(&cmd, "give -o and one of --from-llama2c or --from-hf"));
    if (l2c && !tok) exit(opts_error(&cmd, "--from-llama2c needs --tokenizer"));
    if (hf && tok) exit(opts_error(&cmd, "--tokenizer goes with --from-llama2c; a Hugging Face directory has its own"));

    progress prog;
    progress_init(&prog, "llm-convert");
    llm_convert_params p = llm_convert_default_params();
    p.report = progress_report;
    p.report_ud = &prog;
    p.temp = tempclean_hook;
    tempclean_install();
    if (type && (!llm_type_from_name(type, &p.type) || (p.type != LLM_TYPE_F32 && p.type != LLM_TYPE_F16 && p.type != LLM_TYPE_BF16)))
        exit(opts_error(&cmd, "option --type wants f32, f16 or bf16, not '%s' (llm-quantize makes the quantized types)", type));
    llm_error err;
    llm_status s = l2c ? llm_convert_llama2c(l2c, tok, out, &p, &err) : llm_convert_hf(hf, out, &p, &err);
    if (s) {
        progress_clear(&prog);
        die("%s", err.msg);
    }
    progress_done(&prog, out);
    return 0;
}

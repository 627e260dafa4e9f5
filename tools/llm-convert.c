/* llm-convert: llama2.c checkpoints and Hugging Face Llama directories to
 * GGUF, with no Python. The work is libllm-convert's (include/llm_convert.h); this is the command
 * line and the progress display. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_convert.h"
#include "progress.h"
#include "tempclean.h"
#include "toolutil.h"

const char *const tool_name = "llm-convert";

static const char usage[] =
    "usage: llm-convert --from-llama2c MODEL.bin --tokenizer TOK.bin|TOK.model -o OUT.gguf [--type TYPE]\n"
    "       llm-convert --from-hf DIR -o OUT.gguf [--type TYPE]\n"
    "  --from-llama2c MODEL  a llama2.c (v0) checkpoint\n"
    "  --tokenizer TOK       its llama2.c tokenizer.bin, or a SentencePiece .model\n"
    "  --from-hf DIR         a Hugging Face LlamaForCausalLM directory: config.json,\n"
    "                        model.safetensors or shards with model.safetensors.index.json,\n"
    "                        tokenizer.model or tokenizer.json\n"
    "  -o OUT                the GGUF file to write (never one of the inputs): a new or a\n"
    "                        regular file, replaced only once the new one is complete;\n"
    "                        a symbolic link, device or FIFO there is refused, not followed.\n"
    "                        Interrupted (SIGINT, SIGTERM, SIGHUP), nothing is left behind\n"
    "  --type TYPE           f32, f16 or bf16 for the weight matrices (default: the\n"
    "                        checkpoint's own); norms are always F32\n"
    "  -h, --help            this help\n";

int main(int argc, char **argv) {
    const char *l2c = NULL, *tok = NULL, *hf = NULL, *out = NULL, *type = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        const char **dst = strcmp(a, "--from-llama2c") == 0 ? &l2c
                           : strcmp(a, "--tokenizer") == 0  ? &tok
                           : strcmp(a, "--from-hf") == 0    ? &hf
                           : strcmp(a, "-o") == 0           ? &out
                           : strcmp(a, "--type") == 0       ? &type
                                                            : NULL;
        if (!dst) die("unknown argument '%s' (see --help)", a);
        if (i + 1 >= argc) die("%s needs a value (see --help)", a);
        *dst = argv[++i];
    }
    if (!out || (!l2c == !hf)) die("%s", "give -o and one of --from-llama2c or --from-hf (see --help)");
    if (l2c && !tok) die("%s", "--from-llama2c needs --tokenizer (see --help)");
    if (hf && tok) die("%s", "--tokenizer goes with --from-llama2c; a Hugging Face directory has its own");

    progress prog;
    progress_init(&prog, "llm-convert");
    llm_convert_params p = llm_convert_default_params();
    p.report = progress_report;
    p.report_ud = &prog;
    p.temp = tempclean_hook;
    tempclean_install();
    if (type && (!llm_type_from_name(type, &p.type) || (p.type != LLM_TYPE_F32 && p.type != LLM_TYPE_F16 && p.type != LLM_TYPE_BF16)))
        die("--type '%s': use f32, f16 or bf16 (llm-quantize makes the quantized types)", type);
    llm_error err;
    llm_status s = l2c ? llm_convert_llama2c(l2c, tok, out, &p, &err) : llm_convert_hf(hf, out, &p, &err);
    if (s) {
        progress_clear(&prog);
        die("%s", err.msg);
    }
    progress_done(&prog, out);
    return 0;
}

/* llm-quantize: rewrites a GGUF model with its weight matrices in another
 * type (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, F16, BF16, F32) or mixture (Q4_K_M,
 * Q5_K_M). Which tensor gets which type is lib/quantize.h's rule; every
 * tensor that does not get the type asked for is reported with the
 * reason. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "progress.h"
#include "llm_convert.h"
#include "tempclean.h"
#include "toolutil.h"

const char *const tool_name = "llm-quantize";

#define MAX_RULES 64

static const char usage[] =
    "usage: llm-quantize [--tensor-type PATTERN=TYPE]... IN.gguf OUT.gguf TYPE\n"
    "  TYPE      q8_0, q4_0, q4_k, q5_k, q6_k, f16, bf16 or f32 for the weight\n"
    "            matrices, or the mixtures q4_k_m and q5_k_m: q4_k or q5_k with\n"
    "            q6_k for attn_v and ffn_down in the first and last eighth of the\n"
    "            layers and every third layer between. Norm vectors stay F32; with\n"
    "            q4_0, q4_k or q5_k the output head gets q6_k (q8_0 if its rows are\n"
    "            not whole q6_k blocks), as llama.cpp does; a matrix whose row\n"
    "            length is not a multiple of the block size (32, or 256 for the k\n"
    "            types) falls back to f16 (bf16 if it is bf16), and the tool says so\n"
    "  --tensor-type PATTERN=TYPE\n"
    "            tensors whose name contains PATTERN get TYPE (first match wins),\n"
    "            e.g. --tensor-type ffn_=f32\n"
    "  OUT is never IN: a new or a regular file, replaced only once the new one\n"
    "  is complete; a symbolic link, device or FIFO there is refused, not\n"
    "  followed. Interrupted (SIGINT, SIGTERM, SIGHUP), nothing is left behind.\n";

static llm_type parse_type(const char *name) {
    llm_type t;
    if (!llm_type_from_name(name, &t)) die("unknown type '%s': use q8_0, q4_0, q4_k, q5_k, q6_k, f16, bf16 or f32", name);
    return t;
}

int main(int argc, char **argv) {
    const char *pos[3];
    int n_pos = 0;
    llm_quant_rule rules[MAX_RULES];
    size_t n_rules = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(a, "--tensor-type") == 0) {
            if (i + 1 >= argc) die("%s needs PATTERN=TYPE", a);
            char *rule = argv[++i], *eq = strrchr(rule, '=');
            if (!eq || eq == rule) die("--tensor-type '%s': expected PATTERN=TYPE", rule);
            if (n_rules == MAX_RULES) die("more than %s --tensor-type rules", "64");
            *eq = 0;
            rules[n_rules++] = (llm_quant_rule){rule, parse_type(eq + 1)};
        } else if (a[0] == '-' && a[1]) {
            die("unknown option '%s' (see --help)", a);
        } else {
            if (n_pos == 3) die("unexpected argument '%s' (see --help)", a);
            pos[n_pos++] = a;
        }
    }
    if (n_pos != 3) die("%s", "need IN.gguf OUT.gguf TYPE (see --help)");

    progress prog;
    progress_init(&prog, "llm-quantize");
    bool mix = strcasecmp(pos[2], "q4_k_m") == 0 || strcasecmp(pos[2], "q5_k_m") == 0;
    llm_quantize_params p = llm_quantize_default_params();
    p.type = mix ? (pos[2][1] == '4' ? LLM_TYPE_Q4_K : LLM_TYPE_Q5_K) : parse_type(pos[2]);
    p.rules = rules;
    p.n_rules = n_rules;
    p.report = progress_report;
    p.report_ud = &prog;
    p.mixture_m = mix;
    p.temp = tempclean_hook;
    tempclean_install();
    llm_error err;
    if (llm_quantize_file(pos[0], pos[1], &p, &err)) {
        progress_clear(&prog);
        die("%s", err.msg);
    }
    progress_done(&prog, pos[1]);
    return 0;
}

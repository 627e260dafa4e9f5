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

#include "opts.h"
#include "progress.h"
#include "llm_convert.h"
#include "tempclean.h"
#include "toolutil.h"

const char *const tool_name = "llm-quantize";

#define MAX_RULES 64

static const char synopsis[] =
    "usage: llm-quantize [--tensor-type PATTERN=TYPE]... IN.gguf OUT.gguf TYPE\n"
    "Rewrites a GGUF model with its weight matrices in another type.\n\n";

static const char epilog[] =
    "\n  TYPE      q8_0, q4_0, q4_k, q5_k, q6_k, f16, bf16 or f32 for the weight\n"
    "            matrices, or the mixtures q4_k_m and q5_k_m: q4_k or q5_k with\n"
    "            q6_k for attn_v and ffn_down in the first and last eighth of the\n"
    "            layers and every third layer between. Norm vectors stay F32; with\n"
    "            q4_0, q4_k or q5_k the output head gets q6_k (q8_0 if its rows are\n"
    "            not whole q6_k blocks), as llama.cpp does; a matrix whose row\n"
    "            length is not a multiple of the block size (32, or 256 for the k\n"
    "            types) falls back to f16 (bf16 if it is bf16), and the tool says so\n"
    "  OUT is never IN: a new or a regular file, replaced only once the new one\n"
    "  is complete; a symbolic link, device or FIFO there is refused, not\n"
    "  followed. Interrupted (SIGINT, SIGTERM, SIGHUP), nothing is left behind.\n";

/* The rules of --tensor-type, filled by add_rule. */
typedef struct rules {
    llm_quant_rule r[MAX_RULES];
    size_t n;
} rules;

/* One --tensor-type PATTERN=TYPE: NULL, or why it is refused. */
static const char *add_rule(const char *value, void *dst) {
    rules *rs = dst;
    char *rule = (char *)value, *eq = strrchr(rule, '=');
    llm_type t;
    if (!eq || eq == rule) return "expected PATTERN=TYPE";
    if (!llm_type_from_name(eq + 1, &t)) return "TYPE is not one of q8_0, q4_0, q4_k, q5_k, q6_k, f16, bf16, f32";
    if (rs->n == MAX_RULES) return "more than 64 rules";
    *eq = 0;
    rs->r[rs->n++] = (llm_quant_rule){rule, t};
    return NULL;
}

int main(int argc, char **argv) {
    const char *pos[3];
    rules rs = {.n = 0};
    const opt table[] = {
        {NULL, "tensor-type", OPT_CALL, &rs, 0, 0, "PATTERN=TYPE",
         "tensors whose name contains PATTERN get TYPE (first match\nwins), e.g. --tensor-type ffn_=f32", add_rule},
        OPTS_END};
    opts_cmd cmd = {tool_name, synopsis, epilog, table, pos, 3, 0};
    opts_parse_or_exit(&cmd, argc, argv);
    if (cmd.n_pos != 3) exit(opts_error(&cmd, "need IN.gguf OUT.gguf TYPE"));

    progress prog;
    progress_init(&prog, "llm-quantize");
    bool mix = strcasecmp(pos[2], "q4_k_m") == 0 || strcasecmp(pos[2], "q5_k_m") == 0;
    llm_quantize_params p = llm_quantize_default_params();
    if (mix) p.type = pos[2][1] == '4' ? LLM_TYPE_Q4_K : LLM_TYPE_Q5_K;
    else if (!llm_type_from_name(pos[2], &p.type))
        exit(opts_error(&cmd, "unknown type '%s': use q8_0, q4_0, q4_k, q5_k, q6_k, q4_k_m, q5_k_m, f16, bf16 or f32", pos[2]));
    p.rules = rs.r;
    p.n_rules = rs.n;
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

/* Chat templates from arbitrary bytes: the Jinja lexer, parser and
 * evaluator, the JSON of the extra variables, and the API around them,
 * under small limits so that hostile loops end quickly.
 *
 * Input: one control byte, then fields separated by NUL bytes:
 *   template source, vars_json, then message contents (roles cycle
 *   through system, user, assistant, tool; at most 8 messages).
 *   bit 0: add_generation_prompt   bit 1: pass bos/eos tokens
 *   bit 2: vars_json given         bits 3-5: output buffer 1 << bits
 * Any result is fine except a crash, a leak, a hang or a sanitizer
 * report; a success must be NUL-terminated with *needed its size, and a
 * failure must carry one of the documented codes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "fuzz_util.h"
#include "llm.h"

#define MAX_FIELDS 11

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t ctl = data[0];
    /* the fields, each a NUL-terminated copy */
    char *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = 0;
    const char *field[MAX_FIELDS] = {0};
    size_t nf = 0;
    for (char *p = copy, *end = copy + size - 1; nf < MAX_FIELDS && p <= end; nf++) {
        field[nf] = p;
        p += strlen(p) + 1;
    }
    static const char *const roles[] = {"system", "user", "assistant", "tool"};
    llm_chat_message msgs[MAX_FIELDS];
    size_t n_msgs = 0;
    for (size_t i = 2; i < nf; i++, n_msgs++) {
        msgs[n_msgs].role = roles[n_msgs % 4];
        msgs[n_msgs].content = field[i];
    }
    llm_chat_params p = llm_chat_default_params();
    p.template_src = field[0];
    p.add_generation_prompt = ctl & 1;
    if (ctl & 2) {
        p.bos_token = "<s>";
        p.eos_token = "</s>";
    }
    if ((ctl & 4) && nf > 1) p.vars_json = field[1];
    p.date = "2025-01-05";
    jinja_limits lim = jinja_default_limits();
    lim.max_steps = 200000;
    lim.max_output = lim.max_string = 1 << 16;
    lim.max_memory = 8 << 20;
    lim.max_depth = 40;
    size_t cap = (size_t)1 << (ctl >> 3 & 7), need = 0;
    char *buf = malloc(cap);
    llm_error err = {0};
    llm_status s = buf ? llm_chat_apply_limited(NULL, &p, msgs, n_msgs, buf, cap, &need, &lim, &err) : LLM_OK;
    if (buf && s == LLM_OK)
        fuzz_require(need <= cap && buf[need - 1] == 0 && strlen(buf) <= need - 1, "bad output size");
    if (buf && s != LLM_OK) {
        fuzz_check_error(s, &err);
        fuzz_require(s == LLM_ERR_TEMPLATE || s == LLM_ERR_LIMIT || s == LLM_ERR_BUFFER_TOO_SMALL ||
                         s == LLM_ERR_INVALID_ARG || s == LLM_ERR_NOMEM, "undocumented status");
        fuzz_require(s != LLM_ERR_BUFFER_TOO_SMALL || need > cap, "too small, yet it fits");
    }
    free(buf);
    free(copy);
    return 0;
}

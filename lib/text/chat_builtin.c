/* Built-in chat templates: short Jinja sources for well-known formats,
 * for models whose file carries no tokenizer.chat_template. They are
 * written for this library (data, not copies of any model's template)
 * and follow each format's published layout. */
#include <string.h>

#include "chat.h"
#include "llm.h"

typedef struct builtin { const char *name, *src; } builtin;

static const builtin builtins[] = {
    {"chatml",
     "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
     "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"},
    {"llama2",
     "{% if messages and messages[0].role == 'system' %}"
     "{% set sys = '<<SYS>>\\n' + messages[0].content + '\\n<</SYS>>\\n\\n' %}{% set msgs = messages[1:] %}"
     "{% else %}{% set sys = '' %}{% set msgs = messages %}{% endif %}"
     "{% for m in msgs %}"
     "{% if m.role == 'user' %}"
     "{{ bos_token }}[INST] {{ (sys if loop.first else '') + m.content | trim }} [/INST]"
     "{% elif m.role == 'assistant' %} {{ m.content | trim }} {{ eos_token }}{% endif %}"
     "{% endfor %}"},
    {"llama3",
     "{{ bos_token }}{% for m in messages %}"
     "<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content | trim }}<|eot_id|>"
     "{% endfor %}"
     "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"},
    {"mistral",
     "{{ bos_token }}{% for m in messages %}"
     "{% if m.role == 'system' %}[SYSTEM_PROMPT]{{ m.content }}[/SYSTEM_PROMPT]"
     "{% elif m.role == 'user' %}[INST]{{ m.content }}[/INST]"
     "{% elif m.role == 'assistant' %}{{ m.content }}{{ eos_token }}{% endif %}"
     "{% endfor %}"},
    {"zephyr",
     "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{{ eos_token }}\n{% endfor %}"
     "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"},
    {"gemma",
     "{{ bos_token }}{% set ns = namespace(sys='') %}"
     "{% for m in messages %}"
     "{% if m.role == 'system' %}{% set ns.sys = m.content | trim + '\\n\\n' %}"
     "{% else %}<start_of_turn>{{ 'model' if m.role == 'assistant' else m.role }}\n"
     "{{ ns.sys }}{{ m.content | trim }}<end_of_turn>\n{% set ns.sys = '' %}{% endif %}"
     "{% endfor %}"
     "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"},
    {"phi3",
     "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}<|end|>\n{% endfor %}"
     "{% if add_generation_prompt %}<|assistant|>\n{% else %}{{ eos_token }}{% endif %}"},
};

static const char *const names[] = {"chatml", "llama2", "llama3", "mistral", "zephyr", "gemma", "phi3", NULL};

const char *llm_chat_builtin(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0) return builtins[i].src;
    return NULL;
}

const char *const *llm_chat_builtin_names(void) { return names; }

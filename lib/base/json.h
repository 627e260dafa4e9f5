/* A small strict JSON parser (RFC 8259) for the library's own use: the
 * extra variables of a chat template, manifests. It builds a read-only DOM
 * of null, bool, number, string, array and object values.
 *
 *  - Strings carry their length: "\u0000" is allowed inside them, and they
 *    are also NUL-terminated for convenience.
 *  - Invalid UTF-8, lone surrogates, control characters in strings,
 *    leading zeros, NaN/Infinity, trailing commas and trailing text are
 *    refused with LLM_ERR_FORMAT and a message naming the byte offset.
 *  - Objects keep their members in the order of the text; a repeated key
 *    keeps the place of its first occurrence and the value of its last
 *    (as Python's json.loads does).
 *  - Nesting deeper than LLM_JSON_MAX_DEPTH or a text longer than
 *    LLM_JSON_MAX_SIZE gives LLM_ERR_LIMIT; allocation failures give
 *    LLM_ERR_NOMEM with nothing leaked.
 *
 * Accessors accept NULL and the wrong type, returning NULL / 0, so a
 * caller can chain lookups and check once at the end. */
#ifndef LLM_JSON_H
#define LLM_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "llm.h"

#define LLM_JSON_MAX_DEPTH 256          /* nested arrays and objects */
#define LLM_JSON_MAX_SIZE  (1u << 28)   /* bytes of text */

enum {
    LLM_JSON_NULL = 0,
    LLM_JSON_BOOL = 1,
    LLM_JSON_NUMBER = 2,
    LLM_JSON_STRING = 3,
    LLM_JSON_ARRAY = 4,
    LLM_JSON_OBJECT = 5
};

typedef struct llm_json llm_json;

/* Parses len bytes of text (need not be NUL-terminated) into *out, which
 * the caller releases with llm_json_free. On failure *out is NULL. */
llm_status llm_json_parse(const char *text, size_t len, llm_json **out, llm_error *err);
void llm_json_free(llm_json *v);

/* LLM_JSON_*; -1 for NULL. */
int llm_json_type(const llm_json *v);
/* The member named key (a C string: keys holding NUL never match), or NULL. */
const llm_json *llm_json_get(const llm_json *obj, const char *key);
/* Elements of an array or members of an object, bytes of a string; else 0. */
size_t llm_json_len(const llm_json *v);
/* The i-th element of an array or the i-th member value of an object. */
const llm_json *llm_json_at(const llm_json *arr, size_t i);
/* The key of an object's i-th member (NUL-terminated), or NULL. */
const char *llm_json_key_at(const llm_json *obj, size_t i);
/* Same, with its length in bytes (keys may hold "\u0000"). */
const char *llm_json_key_len_at(const llm_json *obj, size_t i, size_t *len);
/* A string's bytes (NUL-terminated) and length when len is not NULL;
 * NULL for other types. */
const char *llm_json_str(const llm_json *v, size_t *len);
/* A number's value; 0 for other types. */
double llm_json_num(const llm_json *v);
/* Nonzero when a number was written without fraction or exponent and fits
 * int64_t (Python's json gives an int for it); *out receives it. */
int llm_json_int(const llm_json *v, int64_t *out);
/* A bool's value; 0 for other types. */
int llm_json_bool(const llm_json *v);

#endif

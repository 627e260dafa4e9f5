/* An Ollama store in a temporary directory, for the tests of
 * llm_ollama_resolve (test_ollama.c, and test_faults.c under allocation
 * failures): blobs named by made-up digests, the fixture model
 * stories260K.gguf linked in as the model blob, params, system and
 * template layers, and manifests for library/tiny:latest and
 * example.com/someone/tiny:q8. */
#ifndef LLM_TEST_OLLAMA_STORE_H
#define LLM_TEST_OLLAMA_STORE_H

#include <stddef.h>

#define HEX_MODEL "1111111111111111111111111111111111111111111111111111111111111111"
#define HEX_PARAMS "2222222222222222222222222222222222222222222222222222222222222222"
#define HEX_SYSTEM "3333333333333333333333333333333333333333333333333333333333333333"
#define HEX_TEMPLATE "4444444444444444444444444444444444444444444444444444444444444444"
#define HEX_TEXT "5555555555555555555555555555555555555555555555555555555555555555" /* not GGUF */

/* A manifest's layer entry. */
#define LAYER(kind, hex) "{\"mediaType\":\"application/vnd.ollama.image." kind "\",\"digest\":\"sha256:" hex "\",\"size\":1}"

/* Every kind of layer: model, template, params, system, license. */
extern const char ollama_manifest_ok[];

/* Builds the store; its directory (static), or NULL. */
const char *ollama_store_new(void);
/* Writes len bytes (strlen when len is 0) to STORE/rel, making its
 * directories; 0, or -1. */
int ollama_store_put(const char *rel, const char *data, size_t len);
/* The manifest of library/NAME:latest; 0, or -1. */
int ollama_store_put_manifest(const char *name, const char *json);
/* Removes the store. */
void ollama_store_free(void);

#endif

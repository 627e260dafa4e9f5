/* A read-only memory map of a whole file. Model weights are used in place
 * from the map, so a model costs page cache, not heap. */
#ifndef LLM_MAPFILE_H
#define LLM_MAPFILE_H

#include <stddef.h>
#include "llm.h"

typedef struct llm_map {
    const unsigned char *data; /* (size) bytes of the file, NULL when empty */
    size_t size;
} llm_map;

llm_status llm_map_open(llm_map *map, const char *path, llm_error *err);
void llm_map_close(llm_map *map);

#endif

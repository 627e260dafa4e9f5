#include "outfile.h"

#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "error.h"

llm_status llm_output_ok(const char *path, llm_error *err) {
    struct stat st;
    if (lstat(path, &st) != 0) return LLM_OK; /* new (or unreachable: creating it will say) */
    if (S_ISLNK(st.st_mode))
        return llm_fail(err, LLM_ERR_INVALID_ARG,
                        "%s is a symbolic link: refusing to replace it (name its target to write there)", path);
    if (!S_ISREG(st.st_mode))
        return llm_fail(err, LLM_ERR_INVALID_ARG,
                        "%s is a directory, device, FIFO or socket: output goes only to a new or regular file", path);
    return LLM_OK;
}

char *llm_temp_name(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t dir = slash ? (size_t)(slash - path) + 1 : 0, base = strlen(path + dir);
    if (base > NAME_MAX - 7) base = NAME_MAX - 7;
    char *tmp = llm_malloc(dir + base + 8);
    if (!tmp) return NULL;
    memcpy(tmp, path, dir + base);
    memcpy(tmp + dir + base, ".XXXXXX", 8);
    return tmp;
}

#include "mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

/* Maps the file read-only and private: the pages are shared with the page
 * cache, never copied, and nothing the library does can write to the file.
 * An empty file gives a map with size 0 (parsers then report it as
 * truncated) since mmap refuses length 0. The file is opened with
 * O_NONBLOCK, which regular files ignore: a FIFO (or a terminal, or a
 * device) would otherwise block open() until a writer appears, hanging
 * the caller, rather than reach the regular-file check below. */
llm_status llm_map_open(llm_map *map, const char *path, llm_error *err) {
    memset(map, 0, sizeof *map);
    if (strnlen(path, PATH_MAX) == PATH_MAX) /* open() would refuse it; a message holding it would lose its reason */
        return llm_fail(err, LLM_ERR_IO, "cannot open a path of PATH_MAX (%d) bytes or more", PATH_MAX);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return llm_fail(err, LLM_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return llm_fail(err, LLM_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return llm_fail(err, LLM_ERR_IO, "%s: cannot map: %s", path, strerror(e));
        }
        map->data = p;
        map->size = (size_t)st.st_size;
    }
    close(fd);
    return LLM_OK;
}

void llm_map_close(llm_map *map) {
    if (map->data) munmap((void *)map->data, map->size);
    memset(map, 0, sizeof *map);
}

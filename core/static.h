/* static — maps a request target to a regular file under the static root,
 * refusing every path that would leave the root. Does no I/O on the socket:
 * the caller writes the headers and sends the file from out->fd. */
#ifndef LUAHUB_STATIC_H
#define LUAHUB_STATIC_H

#include <sys/types.h>
#include <time.h>

struct static_file {
    int fd;                    /* open O_RDONLY|O_CLOEXEC; caller closes */
    off_t size;
    time_t mtime;
    const char *content_type;  /* static string, e.g. "text/html; charset=utf-8" */
};

/* Resolves the request target (raw, as received: percent-encoded, may carry
 * ?query and #fragment; target_len bytes, need not be NUL-terminated) under root.
 * Returns an HTTP status:
 *   200  *out filled; the caller owns out->fd and closes it.
 *   400  not origin-form (does not start with '/') or bad percent-encoding.
 *   404  no such regular file, or the path tries to leave the root in any way:
 *        "." / ".." segments (raw or encoded), encoded '/' (%2f), '\' raw or
 *        encoded, NUL raw or encoded, a symlink resolving outside root, a
 *        directory without index.html, a root that cannot be resolved.
 *   414  the path, or root joined with it, does not fit in PATH_MAX.
 * On any status but 200, out->fd is -1 and nothing is left open.
 * A directory resolves to its index.html. root is canonicalised (realpath) on
 * each call, so it may be relative or contain symlinks; the file served is the
 * realpath of the request, which must be root itself or under root + "/". */
int static_resolve(const char *root, const char *target, size_t target_len,
                   struct static_file *out);

/* Content type for path by its extension (case-insensitive), e.g.
 * "text/css; charset=utf-8"; "application/octet-stream" when unknown. Text types
 * carry "; charset=utf-8". The result is a static string. */
const char *static_content_type(const char *path);

#endif

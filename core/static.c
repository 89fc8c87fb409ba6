/* static — request target -> file under the static root.
 *
 * Two independent guards, so a mistake in one does not expose a file:
 *   1. Lexical: the path is percent-decoded once and split on '/'; "." and ".."
 *      segments, encoded '/', '\' and NUL are refused before the file system is
 *      touched (browsers normalise dot segments, so only crafted requests carry
 *      them).
 *   2. Canonical: root and the joined path are realpath()ed and the result must be
 *      root itself or lie under root + "/" — this is what stops symlinks that
 *      lead outside. Symlinks that stay inside root are followed.
 * The file is then opened by its canonical path with O_NOFOLLOW, and its device
 * and inode are compared with the lstat() done before opening, so what is served
 * is exactly what was checked, unless someone with write access to the tree swaps
 * a parent directory in between (a local attacker, outside our threat model). */
#include "static.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_SUFFIX "/index.html"

struct content_type {
    const char *extension;
    const char *type;
};

#define TEXT "; charset=utf-8"
static const struct content_type content_types[] = {
    { "html",  "text/html" TEXT },
    { "htm",   "text/html" TEXT },
    { "css",   "text/css" TEXT },
    { "js",    "text/javascript" TEXT },
    { "mjs",   "text/javascript" TEXT },
    { "json",  "application/json" TEXT },
    { "map",   "application/json" TEXT },
    { "txt",   "text/plain" TEXT },
    { "md",    "text/markdown" TEXT },
    { "csv",   "text/csv" TEXT },
    { "xml",   "application/xml" TEXT },
    { "svg",   "image/svg+xml" TEXT },
    { "png",   "image/png" },
    { "jpg",   "image/jpeg" },
    { "jpeg",  "image/jpeg" },
    { "gif",   "image/gif" },
    { "webp",  "image/webp" },
    { "avif",  "image/avif" },
    { "ico",   "image/x-icon" },
    { "woff",  "font/woff" },
    { "woff2", "font/woff2" },
    { "ttf",   "font/ttf" },
    { "otf",   "font/otf" },
    { "wasm",  "application/wasm" },
    { "pdf",   "application/pdf" },
    { "mp3",   "audio/mpeg" },
    { "ogg",   "audio/ogg" },
    { "wav",   "audio/wav" },
    { "mp4",   "video/mp4" },
    { "webm",  "video/webm" },
};
#undef TEXT

#define DEFAULT_CONTENT_TYPE "application/octet-stream"

/* The extension is what follows the last '.' of the last path component; a name
 * that only starts with a dot (".profile") has none. */
const char *static_content_type(const char *path)
{
    const char *name = strrchr(path, '/');
    const char *dot;
    size_t i;

    name = name ? name + 1 : path;
    dot = strrchr(name, '.');
    if (!dot || dot == name || dot[1] == '\0')
        return DEFAULT_CONTENT_TYPE;
    for (i = 0; i < sizeof content_types / sizeof content_types[0]; i++)
        if (strcasecmp(dot + 1, content_types[i].extension) == 0)
            return content_types[i].type;
    return DEFAULT_CONTENT_TYPE;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes src[0..len) into out (capacity >= len; the result is never longer).
 * Malformed encoding wins over a forbidden byte (400 before 404), whatever their
 * order in the target, so the status does not depend on where the error sits. */
static int percent_decode(const char *src, size_t len, char *out, size_t *out_len)
{
    size_t i, n = 0;
    int forbidden = 0;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            int high, low;
            if (len - i < 3 || (high = hex_value(src[i + 1])) < 0 ||
                (low = hex_value(src[i + 2])) < 0)
                return 400;
            c = (unsigned char)(high << 4 | low);
            i += 2;
            if (c == '/')
                forbidden = 1;
        }
        if (c == '\0' || c == '\\')
            forbidden = 1;
        out[n++] = (char)c;
    }
    *out_len = n;
    return forbidden ? 404 : 0;
}

static int is_dot_segment(const char *segment, size_t len)
{
    return (len == 1 && segment[0] == '.') ||
           (len == 2 && segment[0] == '.' && segment[1] == '.');
}

/* Writes root followed by "/segment" for each non-empty segment of path into
 * joined (PATH_MAX bytes, NUL-terminated). Empty segments ("//") are dropped, so
 * a leading "//etc" stays under root; a trailing '/' is kept, so that "/x.js/"
 * fails with ENOTDIR as a file is not a directory. */
static int join_under_root(const char *root, size_t root_len, const char *path,
                           size_t path_len, char *joined)
{
    size_t len = root_len, i = 0;

    memcpy(joined, root, root_len);
    while (i < path_len) {
        size_t start, segment_len;
        while (i < path_len && path[i] == '/')
            i++;
        start = i;
        while (i < path_len && path[i] != '/')
            i++;
        segment_len = i - start;
        if (segment_len == 0)
            break;
        if (is_dot_segment(path + start, segment_len))
            return 404;
        if (len + 1 + segment_len >= PATH_MAX)
            return 414;
        joined[len++] = '/';
        memcpy(joined + len, path + start, segment_len);
        len += segment_len;
    }
    if (path_len > 0 && path[path_len - 1] == '/') {
        if (len + 1 >= PATH_MAX)
            return 414;
        joined[len++] = '/';
    }
    joined[len] = '\0';
    return 0;
}

/* realpath(path) into real (PATH_MAX bytes); 1 if it exists and is root or under
 * root + "/". A root of "/" contains everything. */
static int resolve_under_root(const char *root, size_t root_len, const char *path,
                              char *real)
{
    if (!realpath(path, real))
        return 0;
    if (strncmp(real, root, root_len) != 0)
        return 0;
    return real[root_len] == '\0' || real[root_len] == '/' || root_len == 1;
}

/* Opens the regular file at real (a canonical path), checking that the file
 * opened is the one lstat() saw. lstat() has already refused FIFOs and devices;
 * O_NONBLOCK covers one swapped in since, which would otherwise block the loop in
 * open(). It is cleared again so the caller gets an ordinary fd. */
static int open_regular(const char *real, const struct stat *seen, struct static_file *out)
{
    struct stat st;
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    int flags;

    if (fd < 0)
        return 404;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_dev != seen->st_dev ||
        st.st_ino != seen->st_ino || (flags = fcntl(fd, F_GETFL)) < 0 ||
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        close(fd);
        return 404;
    }
    out->fd = fd;
    out->size = st.st_size;
    out->mtime = st.st_mtime;
    out->content_type = static_content_type(real);
    return 200;
}

int static_resolve(const char *root, const char *target, size_t target_len,
                   struct static_file *out)
{
    char root_real[PATH_MAX], decoded[PATH_MAX], joined[PATH_MAX], real[PATH_MAX];
    size_t path_len = 0, decoded_len, root_len, real_len;
    struct stat st;
    int status;

    out->fd = -1;
    if (target_len == 0 || target[0] != '/')
        return 400;
    while (path_len < target_len && target[path_len] != '?' && target[path_len] != '#')
        path_len++;
    if (path_len >= PATH_MAX)
        return 414;
    if ((status = percent_decode(target, path_len, decoded, &decoded_len)) != 0)
        return status;
    if (!realpath(root, root_real))
        return 404;
    root_len = strlen(root_real);
    if ((status = join_under_root(root_real, root_len, decoded, decoded_len, joined)) != 0)
        return status;
    if (!resolve_under_root(root_real, root_len, joined, real) || lstat(real, &st) != 0)
        return 404;
    if (S_ISDIR(st.st_mode)) {
        real_len = strlen(real);
        if (real_len + sizeof INDEX_SUFFIX > PATH_MAX)
            return 414;
        memcpy(joined, real, real_len);
        memcpy(joined + real_len, INDEX_SUFFIX, sizeof INDEX_SUFFIX);
        if (!resolve_under_root(root_real, root_len, joined, real) || lstat(real, &st) != 0)
            return 404;
    }
    if (!S_ISREG(st.st_mode))
        return 404;
    return open_regular(real, &st, out);
}

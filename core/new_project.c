/* new_project.c — `luahub new DIR`: the starter project compiled into the binary
 * (scaffold/: a hub.lua, its spec, .busted, a README, a systemd unit) written into DIR,
 * which must be new or empty: an existing project is never overwritten, not even in
 * part. In the files, {{name}} becomes DIR's name and {{bin}} this binary's path. */
#include "new_project.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embedded.h"

struct names {
    char name[NAME_MAX + 1];   /* safe in a unit file and a path: [A-Za-z0-9._-] */
    char bin[PATH_MAX];
};

/* Creates dir, or accepts it when it is an empty directory. 0, or -1 with a message. */
static int make_dir(const char *dir)
{
    if (mkdir(dir, 0777) == 0) return 0;
    if (errno != EEXIST) {
        fprintf(stderr, "luahub new: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "luahub new: %s exists and is not a directory we can read: %s\n", dir,
                strerror(errno));
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) && (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)) {}
    if (e) {
        fprintf(stderr,
                "luahub new: %s is not empty (it holds '%s'); nothing was written. Give a new "
                "directory, or an empty one.\n", dir, e->d_name);
        closedir(d);
        return -1;
    }
    closedir(d);
    return 0;
}

static void find_names(const char *dir, struct names *n)
{
    char real[PATH_MAX];
    const char *base = realpath(dir, real) ? real : dir;
    const char *slash = strrchr(base, '/');
    snprintf(n->name, sizeof n->name, "%s", slash && slash[1] ? slash + 1 : "hub");
    for (char *p = n->name; *p; p++)
        if (!(*p == '.' || *p == '_' || *p == '-' || (*p >= '0' && *p <= '9') ||
              ((*p | 32) >= 'a' && (*p | 32) <= 'z')))
            *p = '-';
    ssize_t len = readlink("/proc/self/exe", n->bin, sizeof n->bin - 1);
    n->bin[len > 0 ? len : 0] = 0;
    if (len <= 0) snprintf(n->bin, sizeof n->bin, "/usr/local/bin/luahub");
}

/* The template with {{name}} and {{bin}} filled in, to out. */
static int write_filled(FILE *out, const struct embedded_file *f, const struct names *n)
{
    const char *p = (const char *)f->data, *end = p + f->len;
    while (p < end) {
        if (strncmp(p, "{{name}}", 8) == 0) {
            fputs(n->name, out);
            p += 8;
        } else if (strncmp(p, "{{bin}}", 7) == 0) {
            fputs(n->bin, out);
            p += 7;
        } else {
            fputc(*p++, out);
        }
    }
    return ferror(out) ? -1 : 0;
}

/* dir/f->name, with the directories on the way; never over an existing file. */
static int write_file(const char *dir, const struct embedded_file *f, const struct names *n)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, f->name);
    for (char *slash = strchr(path + strlen(dir) + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = 0;
        int rc = mkdir(path, 0777);
        *slash = '/';
        if (rc != 0 && errno != EEXIST) goto fail;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) goto fail;
    FILE *out = fdopen(fd, "w");
    if (!out) {
        close(fd);
        goto fail;
    }
    int rc = write_filled(out, f, n);
    if (fclose(out) != 0 || rc != 0) goto fail;
    return 0;
fail:
    fprintf(stderr, "luahub new: cannot write %s: %s\n", path, strerror(errno));
    return -1;
}

int new_project(const char *dir)
{
    if (make_dir(dir) != 0) return 1;
    struct names n;
    find_names(dir, &n);
    printf("created %s:\n", dir);
    for (const struct embedded_file *f = embedded_scaffold; f->name; f++) {
        if (write_file(dir, f, &n) != 0) return 1;
        printf("  %s\n", f->name);
    }
    printf("\nnext:\n"
           "  cd %s\n"
           "  luahub hub.lua        serve it on http://127.0.0.1:8080 (WebSocket at /ws)\n"
           "  busted                run its spec (needs busted, luasocket, lua-cjson)\n"
           "  README.md says more.\n", dir);
    return 0;
}

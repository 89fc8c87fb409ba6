/* static_test — core/static.c against a real tree built under mkdtemp:
 *
 *   base/secret.txt            outside the root: must never be served
 *   base/rootx/sibling.txt     outside, but its path starts with root's
 *   base/rootlink -> root      root given through a symlink
 *   base/root/                 the static root
 *     index.html  x.js  img.png  UPPER.PNG  noext  "a b.txt"  "100%.txt"  "%2e%2e"
 *     "a\\b.txt"  (a backslash in the name: legal on POSIX, refused by us)
 *     sub/a.css   (no index)   docs/index.html   empty/
 *     link-in -> x.js          link-in-sub -> sub
 *     link-out -> ../secret.txt        link-out-abs -> base/secret.txt
 *     link-dir-out -> ..               link-sibling -> ../rootx/sibling.txt
 *     idx-out/index.html -> ../../secret.txt
 *     fifo                     a named pipe: not a regular file, must not block
 */
#include "static.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

#define HTML "text/html; charset=utf-8"
#define JS   "text/javascript; charset=utf-8"
#define CSS  "text/css; charset=utf-8"
#define TXT  "text/plain; charset=utf-8"
#define PNG  "image/png"
#define BIN  "application/octet-stream"

static char base[PATH_MAX];
static char root[PATH_MAX];

/* out = dir + "/" + name (PATH_MAX bytes); a test setup that does not fit stops. */
static void join(char *out, const char *dir, const char *name)
{
    if (snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX) {
        fprintf(stderr, "path too long: %s/%s\n", dir, name);
        exit(2);
    }
}

static void path_in_base(char *out, const char *relative)
{
    join(out, base, relative);
}

static void make_file(const char *relative, const char *body)
{
    char path[PATH_MAX];
    FILE *f;

    path_in_base(path, relative);
    f = fopen(path, "w");
    if (!f || fputs(body, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

static void make_dir(const char *relative)
{
    char path[PATH_MAX];

    path_in_base(path, relative);
    if (mkdir(path, 0755) != 0) {
        perror(path);
        exit(2);
    }
}

static void make_link(const char *target, const char *relative)
{
    char path[PATH_MAX];

    path_in_base(path, relative);
    if (symlink(target, path) != 0) {
        perror(path);
        exit(2);
    }
}

static void build_tree(void)
{
    const char *tmp = getenv("TMPDIR");
    char path[PATH_MAX];

    snprintf(base, sizeof base, "%s/luahub-static-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        exit(2);
    }
    join(root, base, "root");

    make_file("secret.txt", "top secret\n");
    make_dir("rootx");
    make_file("rootx/sibling.txt", "sibling\n");
    make_dir("root");
    make_link("root", "rootlink");
    make_file("root/index.html", "<h1>index</h1>\n");
    make_file("root/x.js", "x();\n");
    make_file("root/img.png", "\x89PNG\r\n\x1a\n");
    make_file("root/UPPER.PNG", "upper\n");
    make_file("root/noext", "noext\n");
    make_file("root/a b.txt", "space\n");
    make_file("root/100%.txt", "percent\n");
    make_file("root/%2e%2e", "literal dots\n");
    make_file("root/a\\b.txt", "backslash\n");
    make_dir("root/sub");
    make_file("root/sub/a.css", "body{}\n");
    make_dir("root/docs");
    make_file("root/docs/index.html", "<h1>docs</h1>\n");
    make_dir("root/empty");
    make_link("x.js", "root/link-in");
    make_link("sub", "root/link-in-sub");
    make_link("../secret.txt", "root/link-out");
    path_in_base(path, "secret.txt");
    make_link(path, "root/link-out-abs");
    make_link("..", "root/link-dir-out");
    make_link("../rootx/sibling.txt", "root/link-sibling");
    make_dir("root/idx-out");
    make_link("../../secret.txt", "root/idx-out/index.html");
    path_in_base(path, "root/fifo");
    if (mkfifo(path, 0644) != 0) {
        perror(path);
        exit(2);
    }
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void remove_tree(void)
{
    nftw(base, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Checks one target (of length len) against root_dir: the status, and for 200
 * the content type, the body read back from the fd, size, mtime, CLOEXEC, and
 * that O_NONBLOCK was cleared. Closes the fd. */
static void expect_len(const char *root_dir, const char *target, size_t len, int status,
                       const char *content_type, const char *body)
{
    struct static_file file;
    char label[96];
    int got;

    snprintf(label, sizeof label, "%.*s", len > 60 ? 60 : (int)len, target);
    for (char *c = label; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = '?';
    memset(&file, 0xa5, sizeof file);
    got = static_resolve(root_dir, target, len, &file);
    CHECK(got == status, "\"%s\" (len %zu) -> %d (got %d)", label, len, status, got);
    if (got != 200) {
        CHECK(file.fd == -1, "\"%s\": fd is -1 when not 200", label);
        return;
    }
    if (status != 200) {
        close(file.fd);
        return;
    }

    char buf[256];
    struct stat st;
    ssize_t n = read(file.fd, buf, sizeof buf);
    CHECK(n == (ssize_t)strlen(body) && memcmp(buf, body, (size_t)n) == 0,
          "\"%s\": body is \"%.*s\"", label, (int)strcspn(body, "\n"), body);
    CHECK(strcmp(file.content_type, content_type) == 0, "\"%s\": content type %s (got %s)",
          label, content_type, file.content_type);
    CHECK(fstat(file.fd, &st) == 0 && file.size == st.st_size &&
          file.size == (off_t)strlen(body) && file.mtime == st.st_mtime,
          "\"%s\": size %zu and mtime match fstat", label, strlen(body));
    CHECK((fcntl(file.fd, F_GETFD) & FD_CLOEXEC) && !(fcntl(file.fd, F_GETFL) & O_NONBLOCK),
          "\"%s\": fd is CLOEXEC and blocking", label);
    close(file.fd);
}

static void expect(const char *target, int status, const char *content_type, const char *body)
{
    expect_len(root, target, strlen(target), status, content_type, body);
}

static void check_serves(void)
{
    expect("/", 200, HTML, "<h1>index</h1>\n");
    expect("/index.html", 200, HTML, "<h1>index</h1>\n");
    expect("/x.js", 200, JS, "x();\n");
    expect("/sub/a.css", 200, CSS, "body{}\n");
    expect("/img.png", 200, PNG, "\x89PNG\r\n\x1a\n");
    expect("/UPPER.PNG", 200, PNG, "upper\n");
    expect("/noext", 200, BIN, "noext\n");
    expect("/docs", 200, HTML, "<h1>docs</h1>\n");
    expect("/docs/", 200, HTML, "<h1>docs</h1>\n");
    expect("/a%20b.txt", 200, TXT, "space\n");
    expect("/%78.js", 200, JS, "x();\n");
    expect("/100%25.txt", 200, TXT, "percent\n");
    /* Decoded once only: %252e%252e is the literal name "%2e%2e", not "..". */
    expect("/%252e%252e", 200, BIN, "literal dots\n");
    expect("//x.js", 200, JS, "x();\n");
    expect("/sub//a.css", 200, CSS, "body{}\n");
    /* Symlinks that stay inside are followed; the type is the target's. */
    expect("/link-in", 200, JS, "x();\n");
    expect("/link-in-sub/a.css", 200, CSS, "body{}\n");
    /* Where the file is decides, not the route: this link leaves and comes back. */
    expect("/link-dir-out/root/x.js", 200, JS, "x();\n");
}

static void check_query_and_fragment(void)
{
    expect("/x.js?v=1", 200, JS, "x();\n");
    expect("/x.js#top", 200, JS, "x();\n");
    expect("/x.js?a=1#b", 200, JS, "x();\n");
    expect("/x.js#a?b", 200, JS, "x();\n");
    expect("/?x=../../", 200, HTML, "<h1>index</h1>\n");
    expect("/?", 200, HTML, "<h1>index</h1>\n");
    expect("/#../../secret.txt", 200, HTML, "<h1>index</h1>\n");
    expect("/sub/a.css?%zz", 200, CSS, "body{}\n"); /* the query is not decoded */
    expect("/secret.txt?/../../secret.txt", 404, NULL, NULL);
}

static void check_traversal(void)
{
    static const char *const escapes[] = {
        "/../secret.txt",
        "/..",
        "/../",
        "/.",
        "/./x.js",               /* dot segments are refused even inside root */
        "/sub/../x.js",
        "/sub/../../secret.txt",
        "/../root/x.js",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/%2e%2E/secret.txt",
        "/.%2e/secret.txt",
        "/%2e./secret.txt",
        "/%2e",
        "/%2E%2E%2Fsecret.txt",
        "/sub%2fa.css",          /* an encoded slash, even to a file inside */
        "/sub%2Fa.css",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/..%5csecret.txt",
        "/..%5Csecret.txt",
        "/..\\secret.txt",
        "/sub\\a.css",
        "/a\\b.txt",             /* refused even though the file exists */
        "/a%5cb.txt",
        "/%00",
        "/x.js%00",
        "/x.js%00.png",
        "/link-out",
        "/link-out-abs",
        "/link-dir-out/secret.txt",
        "/link-sibling",           /* ".../rootx" starts with ".../root" */
        "/idx-out/",               /* index.html is a link out */
        "/idx-out",
        "/idx-out/index.html",
        "//etc/passwd",
        "/etc/passwd",
        "/secret.txt",
    };
    size_t i;

    for (i = 0; i < sizeof escapes / sizeof escapes[0]; i++)
        expect(escapes[i], 404, NULL, NULL);
}

static void check_not_found(void)
{
    expect("/missing.html", 404, NULL, NULL);
    expect("/X.JS", 404, NULL, NULL);
    expect("/x.js/", 404, NULL, NULL);
    expect("/sub", 404, NULL, NULL);    /* a directory without index.html */
    expect("/sub/", 404, NULL, NULL);
    expect("/empty/", 404, NULL, NULL);
    expect("/fifo", 404, NULL, NULL);   /* not regular; returns at once */
    expect("/missing/x.js", 404, NULL, NULL);
}

static void check_bad_requests(void)
{
    static const char *const bad[] = {
        "x", "x.js", "*", "?/x.js", "http://localhost/x.js", " /x.js",
        "/%zz", "/%", "/%4", "/%4g", "/%g4", "/a%", "/a%2", "/%%41",
        "/%2f%zz",     /* malformed beats forbidden, wherever they sit */
        "/%00%z", "/../%zz", "/%zz?x=1",
    };
    size_t i;

    expect_len(root, "", 0, 400, NULL, NULL);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect(bad[i], 400, NULL, NULL);
}

/* target_len is honoured: no reads past it, and bytes inside it count, NUL too. */
static void check_explicit_lengths(void)
{
    static const char with_tail[] = "/x.jsGARBAGE";
    static const char with_nul[] = "/x.js\0.png";
    static const char dots_after[] = "/x.js/../../secret.txt";
    char *exact = malloc(5);

    memcpy(exact, "/x.js", 5); /* not NUL-terminated: ASan flags any overread */
    expect_len(root, exact, 5, 200, JS, "x();\n");
    expect_len(root, exact, 1, 200, HTML, "<h1>index</h1>\n");
    free(exact);
    expect_len(root, with_tail, 5, 200, JS, "x();\n");
    expect_len(root, with_nul, sizeof with_nul - 1, 404, NULL, NULL);
    expect_len(root, dots_after, 5, 200, JS, "x();\n");
    expect_len(root, "/%2", 2, 400, NULL, NULL);
}

static void check_lengths(void)
{
    size_t sizes[] = { PATH_MAX - 1, PATH_MAX, PATH_MAX + 1, 3 * PATH_MAX };
    char *target = malloc(3 * PATH_MAX + 64);
    size_t i;

    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        memset(target, 'a', sizes[i]);
        target[0] = '/';
        target[sizes[i]] = '\0';
        expect(target, 414, NULL, NULL);
    }
    /* A path that fits alone but not once joined to root. */
    size_t fits = PATH_MAX - 1 - strlen(root) / 2;
    for (i = 0; i < fits; i++)
        target[i] = i % 2 ? 'a' : '/';
    target[fits] = '\0';
    expect(target, 414, NULL, NULL);
    /* One over-long name (> NAME_MAX) is simply not found. */
    memset(target, 'a', 301);
    target[0] = '/';
    target[301] = '\0';
    expect(target, 404, NULL, NULL);
    /* The length bound applies to the path, not the query. */
    strcpy(target, "/x.js?");
    memset(target + 6, 'q', 2 * PATH_MAX);
    target[6 + 2 * PATH_MAX] = '\0';
    expect(target, 200, JS, "x();\n");
    free(target);
}

static void check_root_forms(void)
{
    char alt[PATH_MAX];

    join(alt, root, "");
    expect_len(alt, "/x.js", 5, 200, JS, "x();\n");
    expect_len(alt, "/link-out", 9, 404, NULL, NULL);
    path_in_base(alt, "./root/../root");
    expect_len(alt, "/x.js", 5, 200, JS, "x();\n");
    expect_len(alt, "/../secret.txt", 14, 404, NULL, NULL);
    path_in_base(alt, "rootlink");
    expect_len(alt, "/sub/a.css", 10, 200, CSS, "body{}\n");
    expect_len(alt, "/link-out", 9, 404, NULL, NULL);
    expect_len(alt, "/link-in", 8, 200, JS, "x();\n");
    path_in_base(alt, "no-such-root");
    expect_len(alt, "/x.js", 5, 404, NULL, NULL);
    join(alt, root, "sub");
    expect_len(alt, "/a.css", 6, 200, CSS, "body{}\n");
    expect_len(alt, "/../x.js", 8, 404, NULL, NULL);
}

static void check_content_types(void)
{
    static const char *const table[][2] = {
        { "a.html", HTML }, { "a.htm", HTML }, { "a.css", CSS }, { "a.js", JS },
        { "a.mjs", JS }, { "a.json", "application/json; charset=utf-8" },
        { "a.js.map", "application/json; charset=utf-8" }, { "a.txt", TXT },
        { "a.svg", "image/svg+xml; charset=utf-8" }, { "a.xml", "application/xml; charset=utf-8" },
        { "a.png", PNG }, { "a.jpg", "image/jpeg" }, { "a.jpeg", "image/jpeg" },
        { "a.gif", "image/gif" }, { "a.webp", "image/webp" }, { "favicon.ico", "image/x-icon" },
        { "a.woff", "font/woff" }, { "a.woff2", "font/woff2" }, { "a.wasm", "application/wasm" },
        { "a.pdf", "application/pdf" }, { "a.mp3", "audio/mpeg" }, { "a.mp4", "video/mp4" },
        { "a.webm", "video/webm" }, { "/dir/INDEX.HTML", HTML }, { "/dir.d/a.Css", CSS },
        { "a.tar.gz", BIN }, { "noext", BIN }, { "/dir.css/noext", BIN }, { "a.", BIN },
        { ".profile", BIN }, { "/x/.css", BIN }, { "", BIN }, { "a.woff3", BIN },
    };
    size_t i;

    for (i = 0; i < sizeof table / sizeof table[0]; i++)
        CHECK(strcmp(static_content_type(table[i][0]), table[i][1]) == 0,
              "content type of \"%s\" is %s (got %s)", table[i][0], table[i][1],
              static_content_type(table[i][0]));
}

/* The lowest free fd is the same before and after: nothing leaked. */
static int lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    close(fd);
    return fd;
}

int main(void)
{
    int fd_before;

    build_tree();
    fd_before = lowest_free_fd();
    check_serves();
    check_query_and_fragment();
    check_traversal();
    check_not_found();
    check_bad_requests();
    check_explicit_lengths();
    check_lengths();
    check_root_forms();
    check_content_types();
    CHECK(lowest_free_fd() == fd_before, "no fd leaked (lowest free fd %d)", fd_before);
    remove_tree();
    return check_summary();
}

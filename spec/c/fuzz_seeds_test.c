/* fuzz_seeds_test — replays the fuzz targets' seed corpus (spec/fuzz/corpus/NAME/)
 * through the harness code libFuzzer drives (spec/fuzz/NAME_fuzz.c), compiled here
 * without libFuzzer, so `make test` (and `make asan`, with sanitizers) keeps the
 * harness working and every seed clean between fuzzing runs. A seed that trips a
 * harness check aborts with "FUZZ FINDING: ..." on stderr, as under libFuzzer. */
#define FUZZ_REPLAY
#include "../fuzz/http_fuzz.c"
#include "../fuzz/ws_fuzz.c"
#include "../fuzz/lua_fuzz.c"
#include "../fuzz/json_field_fuzz.c"

#include <dirent.h>

#include "check.h"

static int fuzz_seeds_select(const struct dirent *e) { return e->d_name[0] != '.'; }

/* Runs every seed of one target; returns how many there were. */
static int fuzz_seeds_replay(const char *name, int (*one)(const uint8_t *, size_t))
{
    char dir[PATH_MAX + 64], path[PATH_MAX * 2];
    struct dirent **names;
    snprintf(dir, sizeof dir, "%s/corpus/%s", fuzz_dir, name);
    int n = scandir(dir, &names, fuzz_seeds_select, alphasort);
    if (n < 0) return 0;
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        FILE *f = fopen(path, "rb");
        uint8_t buf[65536];
        size_t len = f ? fread(buf, 1, sizeof buf, f) : 0;
        if (f) fclose(f);
        if (!f) {
            CHECK(0, "%s seed %s: %s", name, names[i]->d_name, strerror(errno));
        } else {
            printf("# %s seed %s (%zu bytes)\n", name, names[i]->d_name, len);
            fflush(stdout);
            one(buf, len);
            CHECK(1, "%s seed %s replayed", name, names[i]->d_name);
        }
        free(names[i]);
    }
    free(names);
    return n;
}

int main(void)
{
    fuzz_setup_core();
    CHECK(fuzz_seeds_replay("http", fuzz_http) > 0, "http seeds found in %s/corpus", fuzz_dir);
    CHECK(fuzz_seeds_replay("ws", fuzz_ws) > 0, "ws seeds found in %s/corpus", fuzz_dir);
    CHECK(fuzz_seeds_replay("lua", fuzz_lua) > 0, "lua seeds found in %s/corpus", fuzz_dir);
    CHECK(fuzz_seeds_replay("json_field", fuzz_json_field) > 0, "json_field seeds found in %s/corpus",
          fuzz_dir);
    return check_summary();
}

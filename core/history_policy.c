/* history_policy.c — see history_policy.h. Rules are few (a config's history.rooms), so
 * a room's bounds are found by scanning them all. */
#include "history_policy.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "lh_api.h"
#include "lh_errors.h"

struct rule {
    char *name;                      /* without the trailing `*` of a pattern */
    size_t len;
    int pattern;
    double size, ttl;                /* -1: the default's */
};

static struct rule *rules;
static int nrules;
void lh_history_rules_clear(void)
{
    for (int i = 0; i < nrules; i++) free(rules[i].name);
    free(rules);
    rules = NULL;
    nrules = 0;
}

int lh_history_rule(const char *name, size_t len, double size, double ttl)
{
    int pattern = len > 0 && name[len - 1] == '*';
    size_t plen = pattern ? len - 1 : len;
    if (memchr(name, '*', plen) || !(size >= -1 && size <= UINT32_MAX) || !(ttl >= -1))
        return LH_ERR_BAD_ARG;
    struct rule *r = realloc(rules, (size_t)(nrules + 1) * sizeof *r);
    if (!r) return LH_ERR_NOMEM;
    rules = r;
    char *copy = malloc(plen + 1);
    if (!copy) return LH_ERR_NOMEM;
    memcpy(copy, name, plen);
    copy[plen] = 0;
    rules[nrules++] = (struct rule){ copy, plen, pattern, size, ttl };
    return LH_OK;
}

struct history_bounds history_policy(const char *room, size_t len)
{
    const struct rule *best = NULL;
    for (int i = 0; i < nrules; i++) {
        const struct rule *r = &rules[i];
        int match = r->pattern ? len >= r->len && memcmp(room, r->name, r->len) == 0
                               : len == r->len && memcmp(room, r->name, len) == 0;
        if (!match) continue;
        if (!r->pattern) {
            best = r;
            break;
        }
        if (!best || r->len > best->len) best = r;
    }
    struct history_bounds b = { config.history_size, config.history_ttl };
    if (best && best->size >= 0) b.size = (uint32_t)best->size;
    if (best && best->ttl >= 0) b.ttl = best->ttl;
    return b;
}

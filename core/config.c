#include "config.h"
#include "lh_api.h"

#include <stdbool.h>     /* the true / false defaults of config_keys.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct config config;

/* How a key is kept in struct config (see the type list in config_keys.h). */
enum kind { STRING, FLAG, U32, U64, DOUBLE, ENUM_INDEX, ENUM_NAME, LIST, ORIGINS };

struct key {
    const char *path;
    enum kind kind;
    size_t offset;          /* of its field in struct config */
    double number;          /* the default of FLAG, U32, U64, DOUBLE */
    const char *string;     /* the default of the others; NULL: none */
    const char *values;     /* ENUM_*: the allowed names, "a, b, c" */
};

/* The offset of member f, which must have type T: a key whose field has another C type
 * than its type says does not compile (no association matches). */
#define FIELD(f, T) _Generic(((struct config *)0)->f, T: offsetof(struct config, f))

#define NUMBER_KEY(p, k, off, d) { .path = p, .kind = k, .offset = off, .number = d },
#define TEXT_KEY(p, k, off, d, v) { .path = p, .kind = k, .offset = off, .string = d, .values = v },

/* One macro per type of config_keys.h: its kind and the C type of its field. */
#define KEY_string(p, f, d, v)         TEXT_KEY(p, STRING, FIELD(f, char *), d, NULL)
#define KEY_path(p, f, d, v)           KEY_string(p, f, d, v)
#define KEY_url(p, f, d, v)            KEY_string(p, f, d, v)
#define KEY_node_id(p, f, d, v)        KEY_string(p, f, d, v)
#define KEY_channel_prefix(p, f, d, v) KEY_string(p, f, d, v)
#define KEY_boolean(p, f, d, v)        NUMBER_KEY(p, FLAG, FIELD(f, int), d)
#define KEY_count(p, f, d, v)          NUMBER_KEY(p, U32, FIELD(f, uint32_t), d)
#define KEY_bytes(p, f, d, v)          NUMBER_KEY(p, U64, FIELD(f, uint64_t), d)
#define KEY_positive(p, f, d, v)       KEY_bytes(p, f, d, v)
#define KEY_seconds(p, f, d, v)        NUMBER_KEY(p, DOUBLE, FIELD(f, double), d)
#define KEY_rate(p, f, d, v)           KEY_seconds(p, f, d, v)
#define KEY_enum(p, f, d, v) \
    TEXT_KEY(p, _Generic(((struct config *)0)->f, int: ENUM_INDEX, char *: ENUM_NAME), \
             offsetof(struct config, f), d, v)
#define KEY_strings(p, f, d, v)        TEXT_KEY(p, LIST, FIELD(f, struct string_list), d, NULL)
#define KEY_origins(p, f, d, v)        TEXT_KEY(p, ORIGINS, FIELD(f, enum origin_policy), d, NULL)
/* the log module keeps these; config.lua applies them through lh_set_log */
#define KEY_log_level(p, f, d, v)
#define KEY_log_format(p, f, d, v)
/* shdict.c keeps the dictionaries; config.lua declares them through lh_shared_declare */
#define KEY_shared(p, f, d, v)
/* history_policy.c keeps the rules; config.lua sets them through lh_history_rule */
#define KEY_history_rooms(p, f, d, v)

/* values is stringified at this first expansion, so a name that is also a macro (a libc
 * may define `close` or `debug` as one) stays the name */
#define CONFIG_KEY(path, field, type, dflt, ...) KEY_##type(path, field, dflt, #__VA_ARGS__)
#define NONE NULL
static const struct key keys[] = {
#include "config_keys.h"
};
#undef NONE
#undef CONFIG_KEY

#define NKEYS (sizeof keys / sizeof keys[0])

static const struct key *key_named(const char *path)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].path, path) == 0) return &keys[i];
    return NULL;
}

static void *field_of(struct config *c, const struct key *k) { return (char *)c + k->offset; }

static void list_clear(struct string_list *l)
{
    for (int i = 0; i < l->count; i++) free(l->items[i]);
    l->count = 0;
}

/* 0, or -1 when out of memory (the slot is then NULL) */
static int replace(char **slot, const char *value)
{
    free(*slot);
    *slot = strdup(value);
    return *slot ? 0 : -1;
}

/* The index of name in "a, b, c", or -1. */
static int value_index(const char *values, const char *name)
{
    size_t n = strlen(name);
    int i = 0;
    for (const char *p = values; *p; i++) {
        size_t len = strcspn(p, ", ");
        if (len == n && memcmp(p, name, n) == 0) return i;
        p += len;
        p += strspn(p, ", ");
    }
    return -1;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

/* Ranges are config.lua's to check; these guard the conversions, which are undefined
 * for a double out of the target's range (or NaN), against a caller that skipped it. */
static int set_number(struct config *c, const struct key *k, double v, char *err, size_t errlen)
{
    void *f = field_of(c, k);
    switch (k->kind) {
    case FLAG: *(int *)f = v != 0; return 0;
    case U32:
        if (!(v >= 0 && v <= UINT32_MAX)) FAIL("%s: %g is out of range", k->path, v);
        *(uint32_t *)f = (uint32_t)v;
        return 0;
    case U64:
        if (!(v >= 0 && v < 18446744073709551616.0)) FAIL("%s: %g is out of range", k->path, v);
        *(uint64_t *)f = (uint64_t)v;
        return 0;
    case DOUBLE: *(double *)f = v; return 0;
    default: FAIL("%s: not a numeric setting", k->path);
    }
}

static int set_string(struct config *c, const struct key *k, const char *v, char *err, size_t errlen)
{
    void *f = field_of(c, k);
    int i;
    switch (k->kind) {
    case STRING:
        if (replace(f, v) != 0) FAIL("%s: out of memory", k->path);
        return 0;
    case ENUM_INDEX:
    case ENUM_NAME:
        if ((i = value_index(k->values, v)) < 0)
            FAIL("%s: expected one of %s, got \"%s\"", k->path, k->values, v);
        if (k->kind == ENUM_INDEX) *(int *)f = i;
        else if (replace(f, v) != 0) FAIL("%s: out of memory", k->path);
        return 0;
    case ORIGINS:
        if (strcmp(v, "same") == 0) c->origins = ORIGINS_SAME;
        else if (strcmp(v, "*") == 0) c->origins = ORIGINS_ANY;
        else FAIL("origins: expected \"same\", \"*\" or a list of origins, got \"%s\"", v);
        return 0;
    default: FAIL("%s: not a string setting", k->path);
    }
}

/* The list a LIST or ORIGINS key keeps, or NULL. */
static struct string_list *list_of(struct config *c, const struct key *k)
{
    if (k->kind == LIST) return field_of(c, k);
    if (k->kind == ORIGINS) return &c->origin_list;
    return NULL;
}

void config_free(struct config *c)
{
    for (size_t i = 0; i < NKEYS; i++) {
        struct string_list *l = list_of(c, &keys[i]);
        if (l) list_clear(l);
        else if (keys[i].kind == STRING || keys[i].kind == ENUM_NAME) free(*(char **)field_of(c, &keys[i]));
    }
    memset(c, 0, sizeof *c);
}

/* A default that does not apply is a mistake in config_keys.h, which gen_contract.lua
 * already refuses: stop rather than serve with a key half-set. */
void config_defaults(struct config *c)
{
    char err[256];
    config_free(c);
    for (size_t i = 0; i < NKEYS; i++) {
        const struct key *k = &keys[i];
        int rc = 0;
        if (k->kind == FLAG || k->kind == U32 || k->kind == U64 || k->kind == DOUBLE)
            rc = set_number(c, k, k->number, err, sizeof err);
        else if (k->string)
            rc = set_string(c, k, k->string, err, sizeof err);
        if (rc != 0) {
            fprintf(stderr, "luahub: config_keys.h: default of %s\n", err);
            abort();
        }
    }
}

int lh_config_set_number(const char *key, double v, char *err, size_t errlen)
{
    const struct key *k = key_named(key);
    if (!k) FAIL("%s: unknown numeric setting", key);
    return set_number(&config, k, v, err, errlen);
}

int lh_config_set_string(const char *key, const char *v, char *err, size_t errlen)
{
    const struct key *k = key_named(key);
    if (!k) FAIL("%s: unknown string setting", key);
    return set_string(&config, k, v, err, errlen);
}

void lh_config_clear_list(const char *key)
{
    const struct key *k = key_named(key);
    struct string_list *l = k ? list_of(&config, k) : NULL;
    if (l) list_clear(l);
}

int lh_config_add_string(const char *key, const char *v, char *err, size_t errlen)
{
    const struct key *k = key_named(key);
    struct string_list *l = k ? list_of(&config, k) : NULL;
    if (!l) FAIL("%s: not a list setting", key);
    if (l->count == CONFIG_LIST_MAX) FAIL("%s: at most %d entries", key, CONFIG_LIST_MAX);
    char *item = strdup(v);
    if (!item) FAIL("%s: out of memory", key);
    if (k->kind == ORIGINS) config.origins = ORIGINS_LIST;
    l->items[l->count++] = item;
    return 0;
}

/* shared.c — hub.shared's way down: the lh_shared_* functions of lh_api.h over the
 * dictionaries of shdict.h, with the loop's clock for expiries, and what a config's
 * declarations do to the dictionaries that exist (logged here). */
#include <ev.h>
#include <ctype.h>

#include "lh_api.h"
#include "lh_errors.h"
#include "log.h"
#include "shdict.h"

static double now(void) { return ev_now(EV_DEFAULT); }

static double expiry(double ttl) { return ttl > 0 ? now() + ttl : 0; }

#define DICT(d, fail) struct shdict *sd = shdict_at(d); if (!sd) return fail

/* Names are identifiers (config.lua checks them): they go into log lines and metric
 * labels as they are. */
static int identifier(const char *s, size_t len)
{
    if (len == 0 || len > 64 || isdigit((unsigned char)s[0])) return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_') return 0;
    return 1;
}

int lh_shared_declare(const char *name, size_t len, uint64_t bytes)
{
    if (!identifier(name, len)) return LH_ERR_BAD_ARG;
    struct shdict_change c;
    int i = shdict_declare(name, len, bytes, now(), &c);
    if (i < 0) {
        log_error(0, "shared dictionary %.*s: cannot map %llu bytes", (int)len, name,
                  (unsigned long long)bytes);
    } else if (c.what == SHDICT_CREATED) {
        log_info(0, "shared dictionary %.*s: %llu bytes", (int)len, name, (unsigned long long)bytes);
    } else if (c.what == SHDICT_RESIZED) {
        log_warn(0, "shared dictionary %.*s: resized from %llu to %llu bytes; %u keys did not fit "
                 "and were dropped (the least recently used)", (int)len, name,
                 (unsigned long long)c.was, (unsigned long long)bytes, c.dropped);
    }
    return i;
}

void lh_shared_declared(void)
{
    for (int i = 0; i < shdict_total(); i++) {
        struct shdict *d = shdict_at(i);
        if (d->declared && !d->pending)
            log_warn(0, "shared dictionary %s is no longer declared: kept with its %u keys "
                     "(%llu bytes) until the process ends, hidden from the script until a "
                     "config declares it again", d->name, d->count, (unsigned long long)d->bytes);
        else if (!d->declared && d->pending && d->count)
            log_info(0, "shared dictionary %s is declared again, with its %u keys", d->name, d->count);
        d->declared = d->pending;
        d->pending = 0;
    }
}

int lh_shared_get(int d, const char *key, size_t klen, const char **str, size_t *len, double *num,
                  uint32_t *flags)
{
    DICT(d, LH_ERR_BAD_ARG);
    struct shdict_value v;
    enum shdict_type t = shdict_get(sd, now(), key, klen, &v);
    if (t == SHDICT_NONE) return t;
    if (t == SHDICT_STRING) {
        *str = v.str;
        *len = v.len;
    } else {
        *num = v.num;
    }
    *flags = v.flags;
    return t;
}

int lh_shared_set(int d, const char *key, size_t klen, int type, const char *str, size_t len,
                  double num, uint32_t flags, double ttl, int mode, int evict)
{
    DICT(d, LH_ERR_BAD_ARG);
    if (type < SHDICT_NONE || type > SHDICT_BOOLEAN || mode < SHDICT_SET || mode > SHDICT_REPLACE)
        return LH_ERR_BAD_ARG;
    struct shdict_value v = { .type = (enum shdict_type)type, .str = str, .len = len, .num = num,
                              .flags = flags };
    return shdict_store(sd, now(), key, klen, &v, expiry(ttl), (enum shdict_mode)mode, evict);
}

int lh_shared_incr(int d, const char *key, size_t klen, double by, const double *init,
                   double init_ttl, double *value)
{
    DICT(d, LH_ERR_BAD_ARG);
    return shdict_incr(sd, now(), key, klen, by, init, expiry(init_ttl), value);
}

int lh_shared_delete(int d, const char *key, size_t klen)
{
    DICT(d, LH_ERR_BAD_ARG);
    shdict_delete(sd, key, klen);
    return 0;
}

int lh_shared_ttl(int d, const char *key, size_t klen, double *left)
{
    DICT(d, LH_ERR_BAD_ARG);
    double at;
    int rc = shdict_expiry(sd, now(), key, klen, &at);
    if (rc == 0) *left = at > 0 ? at - now() : 0;
    return rc;
}

int lh_shared_expire(int d, const char *key, size_t klen, double ttl)
{
    DICT(d, LH_ERR_BAD_ARG);
    return shdict_set_expiry(sd, now(), key, klen, expiry(ttl));
}

int lh_shared_flush_all(int d)
{
    DICT(d, LH_ERR_BAD_ARG);
    shdict_flush_all(sd);
    return 0;
}

int lh_shared_flush_expired(int d, uint32_t max)
{
    DICT(d, LH_ERR_BAD_ARG);
    return (int)shdict_flush_expired(sd, now(), max);
}

const char *lh_shared_next_key(int d, uint32_t *cursor, size_t *len)
{
    DICT(d, NULL);
    return shdict_next_key(sd, now(), cursor, len);
}

double lh_shared_free_space(int d)
{
    DICT(d, 0);
    return (double)shdict_free_bytes(sd);
}

double lh_shared_capacity(int d)
{
    DICT(d, 0);
    return (double)sd->bytes;
}

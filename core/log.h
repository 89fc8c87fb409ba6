/* log.h — leveled logging to stderr, as text for terminals or JSON lines for machines.
 * One event per line with stable keys: ts, level, msg, and optional client / err. */
#ifndef LUAHUB_LOG_H
#define LUAHUB_LOG_H

#include <stdint.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };
enum log_format { LOG_TEXT, LOG_JSON };

extern enum log_level log_min_level;
extern enum log_format log_output_format;

/* Which process of `--workers` writes ("master", "w0", ...; NULL alone): the text
 * format puts it before the message in brackets, JSON as "process". */
extern const char *log_process;
/* Set by the command line; log_configure (the script's log config) then changes nothing. */
extern int log_pinned_level, log_pinned_format;
/* From Lua's config: level/format as enum values, -1 = leave as is. */
void log_configure(int level, int format);

int log_level_parse(const char *name);      /* -1 when unknown */
int log_format_parse(const char *name);     /* -1 when unknown */

/* client is 0 when the event is not about one connection. */
void log_msg(enum log_level level, uint64_t client, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Raw entry point for Lua's hub.log: msg and fields_json (a JSON object body without braces,
 * or NULL) are emitted as given. */
void log_write(enum log_level level, uint64_t client, const char *msg, size_t msg_len,
               const char *fields_json);

/* A log line that one peer can cause over and over (a refused connection, a killed
 * flooder): at most LOG_LIMIT_BURST such lines per second per limiter; the next line
 * after a quiet spell says how many were suppressed. Counting stays with the caller. */
#define LOG_LIMIT_BURST 10
struct log_limit {
    double second;               /* monotonic second the count is for */
    uint32_t count, suppressed;
};
void log_limited(struct log_limit *lim, enum log_level level, uint64_t client, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(...) do { if (log_min_level <= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif

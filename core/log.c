#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

enum log_level log_min_level = LOG_INFO;
enum log_format log_output_format = LOG_TEXT;

int log_pinned_level, log_pinned_format;
const char *log_process;

void log_configure(int level, int format)
{
    if (level >= LOG_DEBUG && level <= LOG_ERROR && !log_pinned_level) log_min_level = (enum log_level)level;
    if (format >= LOG_TEXT && format <= LOG_JSON && !log_pinned_format) log_output_format = (enum log_format)format;
}

static const char *level_names[] = { "debug", "info", "warn", "error" };

int log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0) return i;
    return -1;
}

int log_format_parse(const char *name)
{
    if (strcmp(name, "text") == 0) return LOG_TEXT;
    if (strcmp(name, "json") == 0) return LOG_JSON;
    return -1;
}

/* Escapes for a JSON string body: a JSON record stays one line. In text mode a newline
 * (a traceback's) starts an indented continuation line and a tab stays a tab, so a
 * traceback reads as Lua prints it while a record still starts with its timestamp; every
 * other control character is escaped as in JSON. */
static void put_escaped(FILE *out, const char *s, size_t n, int text)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (text && ch == '\n') { fputs("\n    ", out); continue; }
        if (text && ch == '\t') { fputc('\t', out); continue; }
        switch (ch) {
        case '"':  fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (ch < 0x20) fprintf(out, "\\u%04x", ch);
            else fputc(ch, out);
        }
    }
}

void log_write(enum log_level level, uint64_t client, const char *msg, size_t msg_len,
               const char *fields_json)
{
    if (level < log_min_level || level >= LOG_OFF) return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t k = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + k, sizeof ts - k, ".%03dZ", (int)(tv.tv_usec / 1000));

    /* The line is built apart and written with one call: stderr is unbuffered, and a
     * reader of the log (a spec, a collector) must never see half a line. */
    char *line = NULL;
    size_t line_len = 0;
    FILE *out = open_memstream(&line, &line_len);
    if (!out) return;
    if (log_output_format == LOG_JSON) {
        fprintf(out, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, level_names[level]);
        put_escaped(out, msg, msg_len, 0);
        fputc('"', out);
        if (log_process) fprintf(out, ",\"process\":\"%s\"", log_process);
        if (client) fprintf(out, ",\"client\":\"%llu\"", (unsigned long long)client);
        if (fields_json && *fields_json) fprintf(out, ",%s", fields_json);
        fputs("}\n", out);
    } else {
        fprintf(out, "%s %-5s ", ts, level_names[level]);
        if (log_process) fprintf(out, "[%s] ", log_process);
        if (client) fprintf(out, "client=%llu ", (unsigned long long)client);
        put_escaped(out, msg, msg_len, 1);
        if (fields_json && *fields_json) fprintf(out, " {%s}", fields_json);
        fputc('\n', out);
    }
    fclose(out);
    if (line) fwrite(line, 1, line_len, stderr);
    free(line);
}

static void log_vmsg(enum log_level level, uint64_t client, const char *fmt, va_list ap)
{
    char buf[2048];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    if (n < 0) return;
    if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
    log_write(level, client, buf, (size_t)n, NULL);
}

void log_msg(enum log_level level, uint64_t client, const char *fmt, ...)
{
    if (level < log_min_level) return;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, client, fmt, ap);
    va_end(ap);
}

void log_limited(struct log_limit *lim, enum log_level level, uint64_t client, const char *fmt, ...)
{
    if (level < log_min_level) return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double second = (double)ts.tv_sec;
    if (second != lim->second) {
        if (lim->suppressed)
            log_msg(level, 0, "%u similar messages suppressed in the last %.0fs", lim->suppressed,
                    second - lim->second);
        lim->second = second;
        lim->count = lim->suppressed = 0;
    }
    if (lim->count++ >= LOG_LIMIT_BURST) {
        lim->suppressed++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, client, fmt, ap);
    va_end(ap);
}

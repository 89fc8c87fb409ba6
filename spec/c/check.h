/* check.h — the assertion helper shared by the C unit tests in spec/c.
 *
 * CHECK(cond, fmt, ...) prints "ok N - message" or, on failure,
 * "not ok N - message (file:line)", and counts both. check_summary() prints the
 * last line exactly as "N passed, M failed" (scripts/test.sh reads it) and
 * returns the process exit status. Each test is one translation unit, so the
 * counters are file-static. */
#ifndef LUAHUB_CHECK_H
#define LUAHUB_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int check_passed;
static int check_failed;

__attribute__((format(printf, 4, 5)))
static inline int check_record(int ok, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    if (ok)
        check_passed++;
    else
        check_failed++;
    printf("%s %d - ", ok ? "ok" : "not ok", check_passed + check_failed);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (!ok)
        printf(" (%s:%d)", file, line);
    putchar('\n');
    return ok;
}

#define CHECK(cond, ...) check_record(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    fflush(stdout);
    return check_failed ? 1 : 0;
}

#endif

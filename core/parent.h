/* parent.h — `--parent-pid PID`: the server stops when that process ends (parent.c). */
#ifndef LUAHUB_PARENT_H
#define LUAHUB_PARENT_H

#include <stddef.h>

/* Watches pid from the default loop and calls gone (with why) from the loop once it has
 * ended; -1 with the cause in err when it cannot (no such process: it has already
 * ended). */
int parent_watch(int pid, void (*gone)(const char *why), char *err, size_t errlen);

#endif

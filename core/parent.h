/* parent.h — `--parent-pid PID`: the server stops when that process ends (parent.c). */
#ifndef LUAHUB_PARENT_H
#define LUAHUB_PARENT_H

#include <stddef.h>

/* Watches pid from the default loop; -1 with the cause in err when it cannot (no such
 * process: it has already ended). */
int parent_watch(int pid, char *err, size_t errlen);

#endif

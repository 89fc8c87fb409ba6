/* new_project.h — `luahub new DIR` (new_project.c). */
#ifndef LUAHUB_NEW_PROJECT_H
#define LUAHUB_NEW_PROJECT_H

/* Writes the starter project into dir (created, or an empty directory) and says what it
 * wrote; the process exit status: 0, or 1 with the reason on stderr. */
int new_project(const char *dir);

#endif

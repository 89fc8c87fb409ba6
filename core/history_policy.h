/* history_policy.h — which rooms keep history, and how much: history.size and
 * history.ttl for every room, overridden per room name or name pattern by history.rooms
 * (config.lua sets the rules through lh_history_rule). A rule's name is exact, or ends
 * in `*` and matches every room starting with what precedes it. The most specific rule
 * wins: an exact name first, then the pattern with the longest prefix. A rule's size or
 * ttl left out (-1) is the default's. */
#ifndef LUAHUB_HISTORY_POLICY_H
#define LUAHUB_HISTORY_POLICY_H

#include <stddef.h>

#include "history.h"

struct history_bounds history_policy(const char *room, size_t len);

#endif

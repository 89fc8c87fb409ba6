/* serve.h — answers plain HTTP requests on the WebSocket port: static files (when
 * config.static is set), 404 for unknown paths, 405 for methods a path does not take.
 * Returns the whole response as one frame (NULL on allocation failure). */
#ifndef LUAHUB_SERVE_H
#define LUAHUB_SERVE_H

#include "frame.h"

struct conn;
struct http_req;

struct frame *serve_http(struct conn *c, const struct http_req *r);

#endif

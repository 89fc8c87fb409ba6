/* serve.h — answers plain HTTP requests on the WebSocket port (the transport's http
 * event): the probes (/healthz, /readyz), /metrics, the authorized /api/ (answered by the
 * script, but for the admin page's tickets), the admin page (/admin/, with an api_key),
 * the script's routes, static files (when config.static is set), 404 for unknown paths,
 * 405 for methods a path does not take. */
#ifndef LUAHUB_SERVE_H
#define LUAHUB_SERVE_H

#include <stddef.h>

#include "frame.h"

struct conn;
struct http_req;

/* What the script adds, registered at start-up. */
struct serve_script {
    /* A route's response, or NULL when no route matches. */
    struct frame *(*route)(struct conn *c, const struct http_req *r);
    /* An authorized /api/ request's response. */
    struct frame *(*api)(struct conn *c, const struct http_req *r);
    /* The script's own series for /metrics (valid until the next call), NULL if none. */
    const char *(*metrics_text)(size_t *len);
};

void serve_set_script(const struct serve_script *s);
/* The whole response as one frame (NULL on allocation failure). */
struct frame *serve_http(struct conn *c, const struct http_req *r);

#endif

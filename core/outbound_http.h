/* outbound_http.h — hub.http.request: outbound HTTP(S) calls a script waits on, made by
 * libcurl's multi-socket interface on the default libev loop. A call is started from a
 * script (lh_http_request) and ends by waking its task (task.h) with
 *     { status = N, headers = { name = value }, body = "..." }     or
 *     nil, code, detail
 * where code is a name of enum outbound_result (metrics.h): timeout, connect, too_large,
 * tls, closed or failed. Limits and TLS come from config.outbound_*, read per call. */
#ifndef LUAHUB_OUTBOUND_HTTP_H
#define LUAHUB_OUTBOUND_HTTP_H

#include <stddef.h>

/* Starts a call: method (a token), an http:// or https:// url, headers as a block of
 * "Name: value\r\n" lines, body (NULL: none; "" is an empty one) and timeout in seconds
 * (<= 0: outbound.timeout). Returns the wait id (> 0) the script yields, or a negative
 * enum lh_err: LH_ERR_BAD_ARG (url, method or a header line), LH_ERR_BUSY
 * (outbound.max_in_flight calls of any kind in flight), LH_ERR_CLOSED (after shutdown),
 * LH_ERR_NOMEM. It never ends the call itself: results come from the loop's callbacks. */
int outbound_http_request(const char *method, size_t method_len, const char *url, size_t url_len,
                          const char *headers, size_t headers_len, const char *body, size_t body_len,
                          double timeout);

/* At exit: ends every call in flight with nil, "closed" (their tasks resume now), closes
 * the kept connections and refuses later calls. */
void outbound_http_shutdown(void);

#endif

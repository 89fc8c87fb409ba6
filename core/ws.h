/* ws.h — the WebSocket protocol side of a connection, through wslay's event API:
 * frame parsing, masking, fragmentation rules, UTF-8 validation of text and close
 * reasons, the message size limit, close-code validation and automatic pong/close
 * replies. wslay never touches the socket: ws_feed hands it bytes already read, and
 * the control frames it produces land in the connection's ctrl buffer. Data frames
 * never pass through wslay's send queue (see frame.h). */
#ifndef LUAHUB_WS_H
#define LUAHUB_WS_H

#include <stddef.h>
#include <stdint.h>

struct conn;

void ws_free(struct conn *c);

/* Feeds bytes read from the socket; whole messages go up through conn_deliver. Returns -1
 * when the connection must be failed (after flushing any close frame wslay queued). */
int ws_feed(struct conn *c, const uint8_t *buf, size_t len);

void ws_queue_close(struct conn *c, int code, const char *reason, size_t reason_len);
void ws_queue_ping(struct conn *c);

int ws_read_enabled(const struct conn *c);
/* When the frame or message now in flight must have arrived (message_timeout), 0 if none. */
double ws_message_deadline(const struct conn *c);
/* Fails the connection with code: reading stops, the close follows the queued data. */
void ws_fail(struct conn *c, int code);

#endif

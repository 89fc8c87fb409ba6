#!/usr/bin/env python3
"""An HTTP/1.1 backend on loopback for the outbound HTTP tests (spec/c/outbound_http_test.c,
spec/integration/http_client_spec.lua). Keep-alive, one thread per connection, and it
counts the TCP connections it accepted, so a test can see that calls reused one.

  /echo                 any method: {"method", "path", "headers" (lower-case names,
                        repeated ones joined with ", "), "body"} as JSON
  /slow?s=SECONDS       answers after that long
  /big?n=N[&chunked=1]  N bytes of "x" (chunked: without a Content-Length)
  /status?code=N        that status, with two X-Multi headers
  /connections          {"connections": N} accepted so far

Usage: http_backend.py [--port N] [--cert PEM --key PEM]
Prints "listening PORT" once it accepts connections (port 0: one the system picks)."""
import argparse
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

connections = 0
connections_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        global connections
        with connections_lock:
            connections += 1
        super().setup()

    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def chunked(self, n):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        piece = b"x" * 16384
        while n > 0:
            chunk = piece[:n]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            n -= len(chunk)
        self.wfile.write(b"0\r\n\r\n")

    def handle_any(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path == "/echo":
            headers = {}
            for name, value in self.headers.items():
                name = name.lower()
                headers[name] = headers[name] + ", " + value if name in headers else value
            doc = {"method": self.command, "path": self.path, "headers": headers,
                   "body": body.decode("latin-1")}
            self.answer(200, json.dumps(doc).encode(), [("Content-Type", "application/json")])
        elif url.path == "/slow":
            time.sleep(float(query.get("s", "1")))
            self.answer(200, b"slow")
        elif url.path == "/big":
            n = int(query.get("n", "0"))
            if query.get("chunked"):
                self.chunked(n)
            else:
                self.answer(200, b"x" * n)
        elif url.path == "/status":
            code = int(query.get("code", "200"))
            self.answer(code, b"status %d" % code, [("X-Multi", "a"), ("X-Multi", "b")])
        elif url.path == "/connections":
            with connections_lock:
                n = connections
            self.answer(200, json.dumps({"connections": n}).encode())
        else:
            self.answer(404, b"no such path")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client that gave up (a timeout, too_large) is what the tests do on purpose
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError)):
            super().handle_error(request, client_address)


def main():
    args = argparse.ArgumentParser()
    args.add_argument("--port", type=int, default=0)
    args.add_argument("--cert")
    args.add_argument("--key")
    opts = args.parse_args()
    server = Server(("127.0.0.1", opts.port), Handler)
    if opts.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(opts.cert, opts.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print("listening", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())

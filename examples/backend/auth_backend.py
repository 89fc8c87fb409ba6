#!/usr/bin/python3
"""A stand-in for your application's session service, for examples/backend/hub.lua.

  GET /session   with "Authorization: Bearer TOKEN":
                 200 {"user": "...", "rooms": [...]} for a known token,
                 401 {"error": "..."} otherwise

The sessions are the fixed ones below; a real service would look the token up in its
own store. Standard library only.

Usage: auth_backend.py [--port 8081]
"""
import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SESSIONS = {
    "ann-token": {"user": "ann", "rooms": ["general", "ops"]},
    "bob-token": {"user": "bob", "rooms": ["general"]},
}


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps the connection open: luahub reuses it for the next check
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != "/session":
            return self.answer(404, {"error": "not found"})
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        session = SESSIONS.get(token) if scheme.lower() == "bearer" else None
        if session is None:
            return self.answer(401, {"error": "unknown or expired session"})
        self.answer(200, session)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()

"""Small hostile HTTP servers for the acquire tests: routes are functions, every request is logged.

    with Routes({"/": lambda h: h.send(200, b"<p>hi</p>")}) as srv:
        srv.url, srv.log   # 'http://127.0.0.1:PORT', [{'path': '/', 'host': ...}]

A route gets the request handler (send(), send_raw(), the raw path in h.path) and returns nothing.
Paths not routed answer 404; /robots.txt answers an empty 200 unless routed.
"""
from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass                 # a client that hangs up mid-body is what these tests provoke


class _V6Server(_Server):
    address_family = socket.AF_INET6


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: dict = {}
    log: list = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
        self.log.append({"path": self.path, "host": self.headers.get("Host", ""), "t": time.monotonic()})
        route = self.routes.get(path)
        try:
            if route is not None:
                route(self)
            elif path == "/robots.txt":
                self.send(200, b"", "text/plain")
            else:
                self.send(404, b"not found", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send(self, status, body=b"", ctype="text/html; charset=utf-8", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def send_raw(self, head: bytes, body: bytes = b""):
        """A response written byte for byte (headers that http.server would not write)."""
        self.wfile.write(head + b"\r\n\r\n" + body)


class Routes:
    def __init__(self, routes: dict, host: str = "127.0.0.1", port: int = 0):
        log: list = []
        handler = type("RoutesHandler", (Handler,), {"routes": routes, "log": log})
        cls = _V6Server if ":" in host else _Server
        self.httpd = cls((host, port), handler)
        self.httpd.daemon_threads = True
        self.log = log
        self.port = self.httpd.server_address[1]
        self.url = f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def paths(self) -> list[str]:
        return [e["path"] for e in self.log]

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True, kwargs={"poll_interval": 0.1}).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def html(body: str, head: str = "") -> bytes:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>".encode()

"""One HTTP port: ``/metrics`` (Prometheus text or OpenMetrics), ``/healthz``, ``/readyz``.

A threading WSGI server (one thread per request) from the standard library; ``/metrics`` is
prometheus-client's WSGI app over the daemon's private registry. No request calls AWS.
"""
from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from .health import Readiness

log = logging.getLogger("auditor.daemon.http")

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


def make_app(registry: CollectorRegistry, readiness: Callable[[], Readiness]) -> WsgiApp:
    metrics = make_wsgi_app(registry)

    def text(start_response: Callable, status: str, body: str) -> list[bytes]:
        data = (body + "\n").encode()
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                                ("Content-Length", str(len(data))), ("Cache-Control", "no-store")])
        return [data]

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/metrics":
            return metrics(environ, start_response)
        if path == "/healthz":
            return text(start_response, "200 OK", "ok")
        if path == "/readyz":
            r = readiness()
            return text(start_response, "200 OK" if r.ready else "503 Service Unavailable",
                        ("ready: " if r.ready else "not ready: ") + r.reason)
        if path == "/":
            return text(start_response, "200 OK", "auditor serve: /metrics /healthz /readyz")
        return text(start_response, "404 Not Found", "not found")
    return app


class _Handler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        log.debug("http %s", format % args, extra={"client": self.client_address[0]})


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True          # a slow client never holds up shutdown
    allow_reuse_address = True


class _ThreadingWSGIServer6(_ThreadingWSGIServer):
    address_family = socket.AF_INET6


class HttpServer:
    """Serve ``app`` on ``address:port`` (port 0: any free port) in a background thread."""

    def __init__(self, app: WsgiApp, address: str, port: int):
        server_class = _ThreadingWSGIServer6 if ":" in address else _ThreadingWSGIServer
        self._server = make_server(address, port, app, server_class=server_class, handler_class=_Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="auditor-http", daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def address(self) -> str:
        return str(self._server.server_address[0])

    def start(self) -> HttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)

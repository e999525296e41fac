"""One HTTP port: ``/metrics`` (Prometheus text or OpenMetrics), ``/healthz``, ``/readyz``.

A threading WSGI server (one thread per request) from the standard library; ``/metrics`` is
prometheus-client's WSGI app over the daemon's private registry. No request calls AWS.

With ``version`` (the daemon passes its immutable MetricsState), a ``/metrics`` body is rendered
once per state and format and served from memory until the state changes: a burst of scrapes
costs one rendering (several ms for a large rule set), not one each.

The listen backlog is ``REQUEST_QUEUE_SIZE`` (socketserver's default is 5: a burst of scrapes,
e.g. many Prometheus replicas and a dashboard at once, would see refused or reset connections).
"""
from __future__ import annotations

import gzip
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import choose_encoder, gzip_accepted

from .health import Readiness

log = logging.getLogger("auditor.daemon.http")

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]
REQUEST_QUEUE_SIZE = max(1024, socket.SOMAXCONN)   # the kernel caps it at net.core.somaxconn
REQUEST_TIMEOUT_SECONDS = 30   # a client that stops sending holds its thread no longer


class _RenderCache:
    """``/metrics`` bodies of one version of the metrics, by content type and compression."""

    def __init__(self, registry: CollectorRegistry, version: Callable[[], object]):
        self._registry = registry
        self._version = version
        self._lock = threading.Lock()
        self._of: object = None
        self._bodies: dict[tuple[str, bool], bytes] = {}

    def body(self, accept: str | None, compress: bool) -> tuple[str, bytes]:
        encoder, content_type = choose_encoder(accept)
        key = (content_type, compress)
        with self._lock:   # concurrent scrapes of a new version render it once
            current = self._version()
            if current is not self._of:
                self._of, self._bodies = current, {}
            body = self._bodies.get(key)
            if body is None:
                plain = self._bodies.get((content_type, False))
                if plain is None:
                    plain = self._bodies[(content_type, False)] = encoder(self._registry)
                body = self._bodies[key] = gzip.compress(plain) if compress else plain
        return content_type, body


def make_app(registry: CollectorRegistry, readiness: Callable[[], Readiness],
             version: Callable[[], object] | None = None) -> WsgiApp:
    """The daemon's WSGI app. ``version``: an object that is replaced whenever the metrics change
    (the MetricsState); while it is the same one, ``/metrics`` bodies come from memory."""
    metrics = make_wsgi_app(registry)
    cache = _RenderCache(registry, version) if version is not None else None

    def cached_metrics(environ: dict, start_response: Callable) -> Iterable[bytes]:
        compress = gzip_accepted(environ.get("HTTP_ACCEPT_ENCODING"))
        content_type, body = cache.body(environ.get("HTTP_ACCEPT"), compress)   # type: ignore[union-attr]
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        if compress:
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", headers)
        return [body]

    def text(start_response: Callable, status: str, body: str) -> list[bytes]:
        data = (body + "\n").encode()
        start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                                ("Content-Length", str(len(data))), ("Cache-Control", "no-store")])
        return [data]

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/metrics":
            if (cache is not None and environ.get("REQUEST_METHOD", "GET") == "GET"
                    and "name[]" not in parse_qs(environ.get("QUERY_STRING", ""))):
                return cached_metrics(environ, start_response)
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
    timeout = REQUEST_TIMEOUT_SECONDS

    def log_message(self, format: str, *args: object) -> None:
        log.debug("http %s", format % args, extra={"client": self.client_address[0]})


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True          # a slow client never holds up shutdown
    allow_reuse_address = True
    request_queue_size = REQUEST_QUEUE_SIZE


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

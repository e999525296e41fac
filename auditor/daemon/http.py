"""One HTTP port: ``/metrics`` (Prometheus text or OpenMetrics), ``/healthz``, ``/readyz``.

A small HTTP/1.1 server over a WSGI app: ``WORKERS`` threads, started once, each accepts a
connection, reads one request, answers it and closes the connection (``Connection: close``, as
HTTP/1.0 servers do). Not wsgiref's server: its thread per connection and per-request work made a
burst of 200 scrapes take about three times as long (benchmarks/scrape_burst.py); nor cheroot's,
measured in its place: p99 over 100 ms for that burst, TLS handshakes in its accepting thread and
no deadline for a whole request. ``/metrics`` is
prometheus-client's WSGI app over the daemon's private registry. No request calls AWS.

With ``version`` (the daemon passes its immutable MetricsState), a ``/metrics`` body is rendered
once per state and format and served from memory until the state changes: a burst of scrapes
costs one rendering (several ms for a large rule set), not one each.

The listen backlog is ``REQUEST_QUEUE_SIZE``: a burst of scrapes (many Prometheus replicas and a
dashboard at once) waits in the kernel's queue for a free worker instead of being refused. A
client has ``REQUEST_TIMEOUT_SECONDS`` for its TLS handshake and request together; a silent or
slow one holds one worker that long, never the others.

With a web config (:class:`~auditor.daemon.config.WebConfig`): TLS on every connection (the
handshake in the worker, under the timeout) and HTTP basic auth on every path but ``/healthz``
(liveness probes carry no credentials). Passwords and Authorization headers are never logged.
"""
from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import hmac
import io
import logging
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from email.utils import formatdate
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote

import bcrypt
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import choose_encoder, gzip_accepted

from .health import Readiness

if TYPE_CHECKING:
    from .config import WebConfig

log = logging.getLogger("auditor.daemon.http")

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]
REQUEST_QUEUE_SIZE = max(1024, socket.SOMAXCONN)   # the kernel caps it at net.core.somaxconn
REQUEST_TIMEOUT_SECONDS = 30   # a client that stops sending holds its worker no longer
WORKERS = 32                   # connections served at once; more wait in the listen backlog
MAX_HEAD_BYTES = 65536         # request line and headers
REALM = "auditor"
_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")


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

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == "/metrics":
            if (cache is not None and environ.get("REQUEST_METHOD", "GET") == "GET"
                    and "name[]" not in parse_qs(environ.get("QUERY_STRING", ""))):
                return cached_metrics(environ, start_response)
            return metrics(environ, start_response)
        if path == "/healthz":
            return _text(start_response, "200 OK", "ok")
        if path == "/readyz":
            r = readiness()
            return _text(start_response, "200 OK" if r.ready else "503 Service Unavailable",
                         ("ready: " if r.ready else "not ready: ") + r.reason)
        if path == "/":
            return _text(start_response, "200 OK", "auditor serve: /metrics /healthz /readyz")
        return _text(start_response, "404 Not Found", "not found")
    return app


def _text(start_response: Callable, status: str, body: str, headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    data = (body + "\n").encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data))),
                            ("Cache-Control", "no-store"), *headers])
    return [data]


class BasicAuth:
    """HTTP basic auth against bcrypt hashes. A successful (user, password) is remembered (as an
    HMAC under a key of this process) so that a burst of scrapes costs one bcrypt run, not one each
    (~0.3 s at cost 12); bcrypt runs one at a time, so that wrong passwords cannot take every CPU."""

    def __init__(self, users: Mapping[str, bytes]):
        self._users = dict(users)   # at least one
        self._key = secrets.token_bytes(32)
        self._known: set[bytes] = set()
        self._lock = threading.Lock()

    def check(self, header: str | None) -> bool:
        """True when ``header`` (the Authorization header) names a user and the right password."""
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep:
            return False
        key = hmac.new(self._key, f"{user}\0{password}".encode(), hashlib.sha256).digest()
        if key in self._known:
            return True
        with self._lock:   # the scrapes of a burst wait for the first one's bcrypt run, then hit the cache
            if key in self._known:
                return True
            hashed = None
            for name, value in self._users.items():   # every name compared, in constant time
                if hmac.compare_digest(name.encode(), user.encode()):
                    hashed = value
            # an unknown user is checked against a real hash too: it costs the time a wrong password does
            ok = bcrypt.checkpw(password.encode(), hashed or next(iter(self._users.values()))) and hashed is not None
            if ok:
                if len(self._known) >= 1024:   # bcrypt reads 72 bytes: endless passwords match
                    self._known.clear()
                self._known.add(key)
        return ok


def _with_auth(app: WsgiApp, auth: BasicAuth) -> WsgiApp:
    def guarded(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz" or auth.check(environ.get("HTTP_AUTHORIZATION")):
            return app(environ, start_response)
        return _text(start_response, "401 Unauthorized", "unauthorized",
                     [("WWW-Authenticate", f'Basic realm="{REALM}"')])
    return guarded


class _BadRequest(Exception):
    """A request that is not HTTP/1.x; the message is the status to answer."""


class HttpServer:
    """Serve ``app`` on ``address:port`` (port 0: any free port; a host name: its first address)
    with ``workers`` threads; ``web``: TLS and basic auth. Raises OSError when it cannot listen."""

    def __init__(self, app: WsgiApp, address: str, port: int, web: WebConfig | None = None,
                 workers: int = WORKERS):
        family, _, _, _, where = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM,
                                                    flags=socket.AI_PASSIVE)[0]
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind(where)
            self._socket.listen(REQUEST_QUEUE_SIZE)
        except OSError:
            self._socket.close()
            raise
        host, self.port = self._socket.getsockname()[:2]
        self.address = str(host)
        self._app = _with_auth(app, BasicAuth(web.users)) if web is not None and web.users else app
        self._tls = web.tls if web is not None else None
        self._stopping = False
        self._threads = [threading.Thread(target=self._serve, name=f"auditor-http-{i}", daemon=True)
                         for i in range(workers)]

    def start(self) -> HttpServer:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        try:
            self._socket.shutdown(socket.SHUT_RDWR)   # wakes the workers blocked in accept()
        except OSError:
            pass
        self._socket.close()
        deadline = time.monotonic() + 2
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _serve(self) -> None:
        while not self._stopping:
            try:
                conn, client = self._socket.accept()
            except OSError as exc:
                if self._stopping:
                    return
                log.warning(f"http: cannot accept a connection: {exc}")   # e.g. out of file descriptors
                time.sleep(0.1)
                continue
            self._handle(conn, client[0])

    def _handle(self, conn: socket.socket, client: str) -> None:
        deadline = time.monotonic() + REQUEST_TIMEOUT_SECONDS
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(REQUEST_TIMEOUT_SECONDS)
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
                conn.do_handshake()
            try:
                environ = self._environ(_read_head(conn, deadline), client)
            except _BadRequest as exc:
                conn.sendall(_response(str(exc), [("Content-Type", "text/plain; charset=utf-8")],
                                       f"{exc}\n".encode()))
                return
            conn.sendall(self._call(environ))
        except OSError as exc:   # timeouts, resets, TLS errors: the client is gone or not speaking TLS
            log.debug(f"http: {type(exc).__name__}: {exc}", extra={"client": client})
        except Exception:   # a bug: this worker goes on serving
            log.exception("http: cannot answer a request", extra={"client": client})
        finally:
            conn.close()

    def _environ(self, head: bytes, client: str) -> dict:
        request_line, *lines = head.decode("latin-1").split("\n")
        parts = request_line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest("400 Bad Request")
        method, target, protocol = parts
        path, _, query = target.partition("?")
        environ = {"REQUEST_METHOD": method, "SCRIPT_NAME": "", "PATH_INFO": unquote(path, "latin-1"),
                   "QUERY_STRING": query, "SERVER_PROTOCOL": protocol, "SERVER_NAME": self.address,
                   "SERVER_PORT": str(self.port), "REMOTE_ADDR": client, "wsgi.version": (1, 0),
                   "wsgi.url_scheme": "https" if self._tls else "http", "wsgi.input": io.BytesIO(),
                   "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
                   "wsgi.run_once": False}
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                raise _BadRequest("400 Bad Request")
            if "_" in name:   # as wsgiref: Foo_Bar would pass for Foo-Bar
                continue
            name = name.strip().upper().replace("-", "_")
            key = name if name in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + name
            value = value.strip()
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _call(self, environ: dict) -> bytes:
        """The app's whole response to one request, as bytes to send."""
        answer: list = []
        chunks: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> Callable:
            answer[:] = [status, headers]
            return chunks.append

        try:
            body = self._app(environ, start_response)
            try:
                chunks.extend(body)
            finally:
                getattr(body, "close", lambda: None)()
        except Exception:   # a bug in the app: answer 500, keep serving
            log.exception(f"http: {environ['REQUEST_METHOD']} {environ['PATH_INFO']} failed")
            answer[:] = ["500 Internal Server Error", [("Content-Type", "text/plain; charset=utf-8")]]
            chunks[:] = [b"internal server error\n"]
        status, headers = answer
        data = b"".join(chunks)
        log.debug(f"http {environ['REQUEST_METHOD']} {environ['PATH_INFO']} {status[:3]} {len(data)}",
                  extra={"client": environ["REMOTE_ADDR"]})
        return _response(status, headers, b"" if environ["REQUEST_METHOD"] == "HEAD" else data, len(data))


def _read_head(conn: socket.socket, deadline: float) -> bytes:
    """The request line and headers, read within ``deadline``; the body, if any, is not read."""
    data = bytearray()
    end = None
    while end is None and len(data) <= MAX_HEAD_BYTES:
        conn.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionResetError("the client closed the connection before the end of its request")
        data += chunk
        end = _END_OF_HEAD.search(data, max(0, len(data) - len(chunk) - 3))   # a byte at a time stays linear
    if end is None or end.start() > MAX_HEAD_BYTES:
        raise _BadRequest("431 Request Header Fields Too Large")
    return bytes(data[:end.start()]).replace(b"\r\n", b"\n")


def _response(status: str, headers: list[tuple[str, str]], body: bytes, length: int | None = None) -> bytes:
    names = {name.lower() for name, _ in headers}
    extra = [("Date", formatdate(usegmt=True)), ("Connection", "close")]
    if "content-length" not in names:
        extra.append(("Content-Length", str(len(body) if length is None else length)))
    lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in [*headers, *extra])]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

"""A burst of concurrent scrapes of the daemon's HTTP server, before and after, side by side.

The server runs in this process over a MetricsStore holding one audit with ``--findings`` failing
finding series (~200 kB of text, 9 kB gzipped); the scrapes come from a separate process (asyncio
raw streams, Prometheus' Accept and gzip headers, ``Connection: close``), all started at once and
each timed from connect to the last byte, so the figures include that one client process's own
time (the server's CPU time per scrape is shown beside them). One burst warms up (renders and
caches the body, runs bcrypt once), then ``--rounds`` bursts are pooled. Servers: ``before`` is
the one HttpServer replaced (wsgiref, a thread per connection); HttpServer plain, then with TLS
(self-signed ECDSA P-256) and basic auth (bcrypt cost 12).

    .venv/bin/python benchmarks/scrape_burst.py [--scrapes 200] [--rounds 5] [--findings 400]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
          "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
USER, PASSWORD = "prometheus", "scrape-burst"


def client(port: int, scrapes: int, tls: bool, auth: str | None) -> None:
    """Fire ``scrapes`` scrapes at once; print a JSON list of seconds (or errors)."""
    head = f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {ACCEPT}\r\nAccept-Encoding: gzip\r\n"
    if auth:
        head += f"Authorization: Basic {base64.b64encode(auth.encode()).decode()}\r\n"
    request = (head + "Connection: close\r\n\r\n").encode()
    context = ssl._create_unverified_context() if tls else None

    async def scrape() -> float | str:
        t0 = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
            writer.write(request)
            answer = await reader.read()
            writer.close()
        except OSError as exc:
            return type(exc).__name__
        status = answer.split(b" ", 2)[1].decode() if answer else "no answer"
        return time.perf_counter() - t0 if status == "200" else f"HTTP {status}"

    async def at_once() -> list[float | str]:
        return await asyncio.gather(*(scrape() for _ in range(scrapes)))
    print(json.dumps(asyncio.run(at_once())))


def metrics_app(findings: int, folder: Path):   # noqa: ANN201 - the daemon's WSGI app
    """make_app over a store after one audit of mattilda with ``findings`` failing findings."""
    from auditor.audit import load_ruleset
    from auditor.aws import ApiStats
    from auditor.daemon import runner as runner_module
    from auditor.daemon.config import DaemonConfig
    from auditor.daemon.health import Readiness
    from auditor.daemon.http import make_app
    from auditor.daemon.metrics import MetricsStore, make_registry
    from auditor.daemon.runner import AuditRunner
    from auditor.model import Finding, Snapshot
    from auditor.results import AuditResult

    severities = ("critical", "high", "medium", "low")
    result = AuditResult("mattilda", "production", "123456789012", "eu-west-1", "2026-01-05T06:00:00Z", 1.3,
                         [Finding(f"mattilda.rule_{i % 40}", "a rule", severities[i % 4], "fail",
                                  {"type": "security_group", "id": f"sg-{i:017x}", "name": f"mattilda-sg-{i}"},
                                  "no ingress from 0.0.0.0/0", f"0.0.0.0/0 on port {i}", "open", None, None)
                          for i in range(findings)],
                         (), Snapshot("123456789012", "eu-west-1", []), ApiStats())
    runner_module.run_audit = lambda *_a, **_k: result
    config = DaemonConfig(architecture="mattilda", region="eu-west-1", state={"path": str(folder / "state.sqlite3")})
    ruleset = load_ruleset("mattilda")
    store = MetricsStore()
    AuditRunner(store, lambda: (config, ruleset), clock=time.time)()
    return make_app(make_registry(store), lambda: Readiness(True, "ok"), lambda: store.state)


def web_config(folder: Path) -> Path:
    """A web config file: a self-signed certificate and one user (bcrypt cost 12)."""
    import bcrypt
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12)).decode()
    path = folder / "web.yml"
    path.write_text(f"tls_server_config: {{cert_file: cert.pem, key_file: key.pem}}\n"
                    f"basic_auth_users: {{{USER}: '{hashed}'}}\n")
    return path


class Before:
    """The server HttpServer replaced: wsgiref's, a new thread per connection."""

    class _Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        request_queue_size = 1024

    class _Handler(WSGIRequestHandler):
        def log_message(self, *_a: object) -> None:
            pass

    def __init__(self, app, address: str, port: int):   # noqa: ANN001
        self._server = make_server(address, port, app, server_class=self._Server, handler_class=self._Handler)
        self.port = self._server.server_port

    def start(self) -> Before:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def burst(port: int, scrapes: int, tls: bool = False, auth: str | None = None) -> list[float | str]:
    command = [sys.executable, __file__, "--client", str(port), "--scrapes", str(scrapes)]
    command += ["--tls"] * tls + (["--auth", auth] if auth else [])
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def figures(name: str, answers: list[float | str], cpu_seconds: float) -> str:
    seconds = sorted(a for a in answers if isinstance(a, float))
    errors = len(answers) - len(seconds)
    if not seconds:
        return f"{name:40s} all {errors} failed: {sorted(set(answers))}"
    p99 = seconds[min(len(seconds), max(1, round(0.99 * len(answers)))) - 1]
    return (f"{name:40s} p50 {statistics.median(seconds) * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms  "
            f"max {seconds[-1] * 1000:6.1f} ms  errors {errors}  server CPU {cpu_seconds / len(answers) * 1e6:4.0f} µs/scrape")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scrapes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--findings", type=int, default=400)
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)   # the scraping process, on this port
    parser.add_argument("--tls", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--auth", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        return client(args.client, args.scrapes, args.tls, args.auth)
    from auditor.daemon.config import load_web_config
    from auditor.daemon.http import HttpServer

    with tempfile.TemporaryDirectory() as folder:
        app = metrics_app(args.findings, Path(folder))
        web = load_web_config(web_config(Path(folder)))
        print(f"{args.findings} failing finding series; {args.scrapes} concurrent scrapes x {args.rounds} rounds; "
              f"{os.cpu_count()} CPUs")
        servers = [("before: wsgiref, thread per connection", lambda: Before(app, "127.0.0.1", 0), {}),
                   ("HttpServer", lambda: HttpServer(app, "127.0.0.1", 0), {}),
                   ("HttpServer, TLS + basic auth", lambda: HttpServer(app, "127.0.0.1", 0, web),
                    {"tls": True, "auth": f"{USER}:{PASSWORD}"})]
        for name, make, options in servers:
            server = make().start()
            try:
                burst(server.port, args.scrapes, **options)
                cpu = time.process_time()   # this process only serves while the bursts run
                answers = [a for _ in range(args.rounds) for a in burst(server.port, args.scrapes, **options)]
                cpu = time.process_time() - cpu
            finally:
                server.stop()
            print(figures(name, answers, cpu), flush=True)


if __name__ == "__main__":
    main()

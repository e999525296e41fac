"""The daemon's HTTP server: TLS, client certificates and basic auth from a web config file, its
errors (file, line, field), a half-open TLS client, the bind address, and plain HTTP details."""
from __future__ import annotations

import base64
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import bcrypt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from auditor.daemon import http as http_module
from auditor.daemon import service
from auditor.daemon.config import ConfigError, WebConfig, load_config, load_web_config
from auditor.daemon.health import Readiness
from auditor.daemon.http import HttpServer, make_app
from auditor.daemon.metrics import MetricsStore, make_registry
from auditor.daemon.service import Daemon

PASSWORD = "correct horse"


def _issue(folder: Path, name: str, ca: tuple | None = None, usage: x509.ObjectIdentifier | None = None) -> tuple:
    """A certificate and key as PEM files ``name.pem``, ``name.key``: a CA when ``ca`` is None, else
    signed by ``ca`` (its key and certificate), for ``usage``. Returns (key, certificate)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_key, issuer = ca or (key, None)
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer.subject if issuer else subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca is None, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False))
    if ca is None:
        builder = builder.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                                        critical=True)
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False).add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    return key, cert


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """ca.pem, server.pem/.key (localhost, 127.0.0.1) and client.pem/.key, both signed by the CA;
    other.pem/.key: a client of another CA."""
    folder = tmp_path_factory.mktemp("pki")
    ca = _issue(folder, "ca")
    _issue(folder, "server", ca, ExtendedKeyUsageOID.SERVER_AUTH)
    _issue(folder, "client", ca, ExtendedKeyUsageOID.CLIENT_AUTH)
    _issue(folder, "other", _issue(folder, "other-ca"), ExtendedKeyUsageOID.CLIENT_AUTH)
    return folder


def _web(folder: Path, text: str) -> WebConfig:
    path = folder / "web.yml"
    path.write_text(text)
    return load_web_config(path)


@pytest.fixture
def server():
    """Starts HttpServers (over a WebConfig or None) on any free port; stops them after the test."""
    servers: list[HttpServer] = []

    def start(web: WebConfig | None = None, address: str = "127.0.0.1") -> HttpServer:
        store = MetricsStore()
        app = make_app(make_registry(store), lambda: Readiness(True, "the last audit finished 1 s ago"),
                       lambda: store.state)
        servers.append(HttpServer(app, address, 0, web).start())
        return servers[-1]
    yield start
    for s in servers:
        s.stop()


TLS = "tls_server_config:\n  cert_file: {pki}/server.pem\n  key_file: {pki}/server.key\n"


# --- TLS ------------------------------------------------------------------------------------------

def test_tls(pki, server):
    s = server(_web(pki, TLS.format(pki=pki)))
    r = requests.get(f"https://localhost:{s.port}/metrics", verify=pki / "ca.pem", timeout=5)
    assert r.status_code == 200 and "auditor_audit_running" in r.text
    with pytest.raises(requests.ConnectionError):   # plain HTTP is not answered
        requests.get(f"http://127.0.0.1:{s.port}/healthz", timeout=5)


def test_tls_minimum_version(pki, server):
    s = server(_web(pki, TLS.format(pki=pki) + "  min_version: TLS13\n"))
    context = ssl.create_default_context(cafile=pki / "ca.pem")
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as raw, pytest.raises(ssl.SSLError):
        context.wrap_socket(raw, server_hostname="localhost")


def test_a_client_certificate_required(pki, server):
    s = server(_web(pki, TLS.format(pki=pki) + f"  client_auth_type: RequireAndVerifyClientCert\n"
                                               f"  client_ca_file: {pki}/ca.pem\n"))
    url = f"https://localhost:{s.port}/metrics"
    r = requests.get(url, verify=pki / "ca.pem", cert=(pki / "client.pem", pki / "client.key"), timeout=5)
    assert r.status_code == 200
    for cert in (None, (pki / "other.pem", pki / "other.key")):   # none, or one of another CA
        with pytest.raises(requests.ConnectionError):
            requests.get(url, verify=pki / "ca.pem", cert=cert, timeout=5)


def test_a_client_certificate_if_given(pki, server):
    s = server(_web(pki, TLS.format(pki=pki) + f"  client_auth_type: VerifyClientCertIfGiven\n"
                                               f"  client_ca_file: {pki}/ca.pem\n"))
    url = f"https://localhost:{s.port}/metrics"
    assert requests.get(url, verify=pki / "ca.pem", timeout=5).status_code == 200
    with pytest.raises(requests.ConnectionError):
        requests.get(url, verify=pki / "ca.pem", cert=(pki / "other.pem", pki / "other.key"), timeout=5)


def test_a_half_open_tls_client_does_not_block_other_scrapes(pki, server):
    s = server(_web(pki, TLS.format(pki=pki)))
    silent = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(http_module.WORKERS - 1)]
    silent[0].sendall(b"\x16\x03\x01\x02\x00\x01")   # the start of a ClientHello, then nothing
    try:
        for _ in range(3):
            r = requests.get(f"https://localhost:{s.port}/metrics", verify=pki / "ca.pem", timeout=5)
            assert r.status_code == 200
    finally:
        for sock in silent:
            sock.close()


# --- basic auth -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def users() -> str:
    return f"basic_auth_users:\n  prometheus: '{bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()}'\n"


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_basic_auth(pki, server, users, tls):
    s = server(_web(pki, users + (TLS.format(pki=pki) if tls else "")))
    base = f"{'https' if tls else 'http'}://localhost:{s.port}"

    def get(path: str, auth: tuple[str, str] | None = None) -> requests.Response:
        return requests.get(base + path, auth=auth, verify=pki / "ca.pem", timeout=5)
    assert get("/metrics", ("prometheus", PASSWORD)).status_code == 200
    for auth in (None, ("prometheus", "wrong"), ("someone", PASSWORD), ("prometheus", PASSWORD + "x")):
        for path in ("/metrics", "/readyz", "/", "/nope"):
            r = get(path, auth)
            assert r.status_code == 401, (path, auth)
            assert r.headers["WWW-Authenticate"] == 'Basic realm="auditor"'
    assert get("/healthz").status_code == 200   # liveness probes carry no credentials
    assert get("/readyz", ("prometheus", PASSWORD)).text == "ready: the last audit finished 1 s ago\n"


@pytest.mark.parametrize("header", ["Bearer abc", "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(),
                                    "Basic " + base64.b64encode(b"\xff:\xfe").decode()])
def test_basic_auth_malformed_headers(pki, server, users, header):
    s = server(_web(pki, users))
    r = requests.get(f"http://127.0.0.1:{s.port}/metrics", headers={"Authorization": header}, timeout=5)
    assert r.status_code == 401


def test_200_concurrent_tls_scrapes_cost_one_bcrypt_run(pki, server, users, monkeypatch):
    runs = []
    checkpw = bcrypt.checkpw
    monkeypatch.setattr(http_module.bcrypt, "checkpw", lambda *a: runs.append(1) or checkpw(*a))
    s = server(_web(pki, users + TLS.format(pki=pki)))
    url = f"https://localhost:{s.port}/metrics"
    n = 200
    barrier = threading.Barrier(n, timeout=30)

    def scrape(_i: int) -> int:
        barrier.wait()   # all at once
        return requests.get(url, auth=("prometheus", PASSWORD), verify=pki / "ca.pem", timeout=30).status_code
    with ThreadPoolExecutor(max_workers=n) as pool:
        assert list(pool.map(scrape, range(n))) == [200] * n
    assert len(runs) == 1
    assert requests.get(url, auth=("prometheus", "wrong"), verify=pki / "ca.pem", timeout=5).status_code == 401
    assert len(runs) == 2   # a failed check is not remembered


def test_no_password_in_the_logs(pki, server, users, caplog):
    s = server(_web(pki, users))
    with caplog.at_level("DEBUG", logger="auditor.daemon.http"):
        requests.get(f"http://127.0.0.1:{s.port}/metrics", auth=("prometheus", PASSWORD), timeout=5)
        requests.get(f"http://127.0.0.1:{s.port}/metrics", auth=("prometheus", "wrong-one"), timeout=5)
    assert caplog.records and not any(secret in caplog.text for secret in
                                      (PASSWORD, "wrong-one", "Authorization", "Basic "))


# --- web config file errors -----------------------------------------------------------------------

def _config_errors(folder: Path, web_text: str | None) -> list[str]:
    config = folder / "auditor.yaml"
    config.write_text("architecture: mattilda\nhttp:\n  port: 0\n  web_config_file: web.yml\n")
    if web_text is not None:
        (folder / "web.yml").write_text(web_text)
    with pytest.raises(ConfigError) as exc:
        load_config(config)
    return exc.value.problems


def test_web_config_errors_name_file_line_and_field(pki, tmp_path):
    web = tmp_path / "web.yml"
    tls = TLS.format(pki=pki)
    assert _config_errors(tmp_path, tls + "  colour: blue\n") == [f"{web}:4: tls_server_config.colour: unknown key"]
    assert _config_errors(tmp_path, "tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.key\n") == [
        f"{web}:2: tls_server_config.cert_file: cannot read {tmp_path}/missing.pem: No such file or directory",
        f"{web}:3: tls_server_config.key_file: cannot read {tmp_path}/missing.key: No such file or directory"]
    problems = _config_errors(tmp_path, "basic_auth_users:\n  prometheus: hunter2\n")
    assert problems == [f"{web}:2: basic_auth_users.prometheus: not a bcrypt hash ($2b$, $2a$ or $2y$, cost, "
                        "53 characters)"]
    assert _config_errors(tmp_path, "basic_auth_users: [prometheus]\n") == [
        f"{web}:1: basic_auth_users: Input should be a valid dictionary"]
    assert _config_errors(tmp_path, "basic_auth_users:\n  prometheus: 1234\n") == [
        f"{web}:2: basic_auth_users.prometheus: Input should be a valid string"]   # the value is not echoed
    assert _config_errors(tmp_path, tls + "  client_auth_type: RequireAnyClientCert\n") == [
        f"{web}:4: tls_server_config.client_auth_type: Input should be 'NoClientCert', 'VerifyClientCertIfGiven' "
        "or 'RequireAndVerifyClientCert'"]
    assert _config_errors(tmp_path, tls + "  client_auth_type: RequireAndVerifyClientCert\n") == [
        f"{web}:4: tls_server_config.client_auth_type: client_ca_file goes with client_auth_type "
        "VerifyClientCertIfGiven or RequireAndVerifyClientCert, and only with them"]
    assert _config_errors(tmp_path, f"tls_server_config:\n  cert_file: {pki}/server.pem\n  key_file: {pki}/client.key\n") == [
        f"{web}:3: tls_server_config.key_file: {pki}/client.key: not the PEM private key of {pki}/server.pem "
        "(KEY_VALUES_MISMATCH)"]
    assert _config_errors(tmp_path, f"tls_server_config:\n  cert_file: {pki}/server.key\n  key_file: {pki}/server.key\n") == [
        f"{web}:2: tls_server_config.cert_file: {pki}/server.key: no PEM certificate in it (NO_CERTIFICATE_OR_CRL_FOUND)"]
    assert _config_errors(tmp_path, "- tls_server_config\n") == [
        f"{web}:1: (top level): a web config file is a mapping: tls_server_config, basic_auth_users"]
    web.unlink()
    assert _config_errors(tmp_path, None) == [f"http.web_config_file: {web}: cannot read: No such file or directory"]


def test_web_config_paths_are_relative_to_it(pki, tmp_path):
    folder = tmp_path / "conf"
    folder.mkdir()
    for name in ("server.pem", "server.key"):
        (folder / name).write_bytes((pki / name).read_bytes())
    (folder / "web.yml").write_text(TLS.format(pki="."))
    config = tmp_path / "auditor.yaml"
    config.write_text("architecture: mattilda\nhttp: {port: 0, web_config_file: conf/web.yml}\n")
    assert load_config(config).http.web().tls is not None


def test_serve_check_reports_a_bad_web_config(tmp_path, monkeypatch, json_logs):
    config = tmp_path / "auditor.yaml"
    config.write_text("architecture: mattilda\nhttp:\n  web_config_file: web.yml\n")
    (tmp_path / "web.yml").write_text("basic_auth_users:\n  prometheus: $2b$12$short\n")
    monkeypatch.setattr(service, "setup_logging", lambda *_a, **_k: None)
    assert service.main(config, check=True) == service.EXIT_INVALID
    line = next(r for r in json_logs() if r.get("event") == "start")
    assert line["problems"] == [f"{tmp_path}/web.yml:2: basic_auth_users.prometheus: not a bcrypt hash "
                                "($2b$, $2a$ or $2y$, cost, 53 characters)"]


def test_a_reload_that_changes_the_web_config_asks_for_a_restart(pki, tmp_path, users, json_logs):
    config = tmp_path / "auditor.yaml"
    config.write_text("architecture: mattilda\nschedule: {interval_seconds: 3600}\n"
                      "http: {address: 127.0.0.1, port: 0, web_config_file: web.yml}\n")
    (tmp_path / "web.yml").write_text(users)
    daemon = Daemon(*service.load(config), config)
    daemon.start()
    try:
        assert daemon.reload() is True   # the same file: nothing to say
        assert not [r for r in json_logs() if "restart" in r["message"]]
        (tmp_path / "web.yml").write_text(users + TLS.format(pki=pki))
        assert daemon.reload() is True
        assert [r["message"] for r in json_logs() if "restart" in r["message"]] == ["http settings change on restart only"]
        (tmp_path / "web.yml").write_text("basic_auth_users: {prometheus: nope}\n")
        assert daemon.reload() is False   # an invalid web config fails the reload like any invalid setting
        r = requests.get(f"http://127.0.0.1:{daemon.http.port}/metrics", auth=("prometheus", PASSWORD), timeout=5)
        assert r.status_code == 200   # the listener keeps what it started with
    finally:
        daemon.stop()


# --- bind address and plain HTTP ------------------------------------------------------------------

def test_the_bind_address_is_validated(tmp_path):
    config = tmp_path / "auditor.yaml"
    for address in ("0.0.0.0:9797", "[::]", ""):
        config.write_text(f"architecture: mattilda\nhttp:\n  address: '{address}'\n")
        with pytest.raises(ConfigError) as exc:
            load_config(config)
        assert exc.value.problems == [f"{config}:3: http.address: Value error, not an IP address nor a host name "
                                      f"that resolves (got {address!r})"]
    for address in ("127.0.0.1", "::", "fe80::1%1", "localhost"):
        config.write_text(f"architecture: mattilda\nhttp:\n  address: '{address}'\n")
        assert load_config(config).http.address == address


def test_a_host_name_and_ipv6(server):
    s = server(address="localhost")
    assert requests.get(f"http://{s.address}:{s.port}/healthz", timeout=5).status_code == 200
    try:
        s = server(address="::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    assert requests.get(f"http://[::1]:{s.port}/healthz", timeout=5).text == "ok\n"


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def test_plain_http_details(server):
    s = server()
    answer = _raw(s.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\nok\n")
    assert b"\r\nConnection: close\r\n" in answer and b"\r\nContent-Length: 3\r\n" in answer
    head = _raw(s.port, b"HEAD /metrics HTTP/1.0\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405 ") and head.endswith(b"\r\n\r\n")   # prometheus-client's answer, no body
    assert _raw(s.port, b"hello\r\n\r\n").startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert _raw(s.port, b"GET / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n").startswith(b"HTTP/1.1 431 ")
    r = requests.get(f"http://127.0.0.1:{s.port}/metrics?name[]=auditor_audit_running", timeout=5)
    assert r.status_code == 200 and "auditor_build_info" not in r.text   # prometheus-client's app, not the cache


def test_a_slow_client_is_cut_off_at_the_request_timeout(server, monkeypatch):
    monkeypatch.setattr(http_module, "REQUEST_TIMEOUT_SECONDS", 0.5)
    s = server()
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as sock, pytest.raises(OSError):
        for i in range(100):   # a header line every 0.1 s, never the end of the request: 10 s
            sock.sendall(b"X-Slow: 1\r\n" if i else b"GET / HTTP/1.1\r\n")
            time.sleep(0.1)

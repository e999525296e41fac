"""AWS answers that are not AWS's: a proxy's HTML error page, a body botocore cannot parse.

Whatever an endpoint answers, the collector that called it records a CollectorError (service,
operation, a short code and a message of at most ~200 characters), the rules on its types report
``error`` and the audit ends ``incomplete`` (exit 2): never a crash, never a traceback, never ``pass``.
"""
from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from cli_runner import audit_json

from auditor.aws import AwsContext, error_code, error_message
from auditor.collect import REGISTRY, Collector, collect
from auditor.emulated.demo import deploy

HTML = b"<html><body>" + b"Bad gateway " * 100 + b"</body></html>"   # ~1.2 kB of markup


def _answering(status: int, body: bytes) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass
    return Handler


@pytest.fixture
def html_endpoint(request) -> Iterator[str]:
    """A local HTTP server answering every request with (status, HTML body) from the test's param."""
    status, body = request.param
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _answering(status, body))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


# 502 with a whole HTML page: botocore reads it as a generic error (code "502"); a 5xx whose body
# is not even well-formed markup: botocore raises ResponseParserError (no BotoCoreError); any 2xx
# HTML page, well-formed or not, is refused before botocore parses it (NotAnAwsAnswer).
ANSWERS = [pytest.param((502, HTML), "502", id="502-html-page"),
           pytest.param((200, b"<html><body>Bad gateway"), "NotAnAwsAnswer", id="200-broken-html"),
           pytest.param((503, b"{oops"), "ResponseParserError", id="503-garbage"),
           # well-formed markup with status 200 would parse as an empty answer: every VPC gone, a false pass
           pytest.param((200, b"<!DOCTYPE html>\n" + HTML), "NotAnAwsAnswer", id="200-html-page")]


@pytest.mark.parametrize(("html_endpoint", "code"), ANSWERS, indirect=["html_endpoint"])
def test_ec2_answering_html_is_an_incomplete_audit(account, html_endpoint, code, capsys, monkeypatch):
    deploy("mattilda", "production", account)
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", html_endpoint)   # every other service: moto
    exit_code, report = audit_json(capsys, "mattilda", "--max-attempts", "1")
    _, err = capsys.readouterr()
    assert exit_code == 2   # incomplete
    assert "Traceback" not in err
    ec2 = [e for e in report["errors"] if e["service"] == "ec2"]
    assert ec2, report["errors"]
    assert {e["code"] for e in ec2} == {code}
    assert all(e["operation"] != "unknown" and e["operation"].startswith("Describe") for e in ec2)
    assert all(len(e["message"]) <= 200 and "\n" not in e["message"] for e in ec2)
    assert not any("Bad gateway Bad gateway" in e["message"] for e in ec2)
    assert {e["service"] for e in report["errors"]} == {"ec2"}   # moto answered the rest
    failed_types = {t for e in ec2 for t in e["resource_types"]}
    assert "vpc" in failed_types and "security_group" in failed_types
    on_ec2 = [f for f in report["findings"] if f["resource"].get("type") in failed_types
              or f["rule_id"].startswith(("mattilda.vpc.", "baseline.vpc.", "baseline.ec2."))]
    assert on_ec2 and all(f["status"] == "error" for f in on_ec2 if f["resource"].get("type") in failed_types)
    for f in report["findings"]:
        if f["status"] == "pass":
            assert f["resource"].get("type") not in failed_types, f


def _raising(exc: Exception):
    def fn(ctx):
        ctx.client("ec2").describe_vpcs()   # the call the error belongs to (answered by moto)
        raise exc
        yield  # pragma: no cover - a generator, like the real collectors
    return fn


@pytest.mark.parametrize("html_endpoint", [(200, b"<html><body>Bad gateway")], indirect=True)
def test_response_parser_error_in_a_collector_is_its_collector_error(account, html_endpoint, monkeypatch):
    """Unit level: a real parser error from a client, through :func:`collect`."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", html_endpoint)

    def vpcs(ctx):
        yield from ctx.paginate("ec2", "describe_vpcs", "Vpcs")
    monkeypatch.setitem(REGISTRY, "ec2.vpcs_under_test", Collector("ec2.vpcs_under_test", "ec2", ("vpc",), vpcs))
    snapshot = collect(AwsContext(region="us-east-1", max_attempts=1), only_types={"vpc"})
    errors = [e for e in snapshot.errors if e.service == "ec2"]
    assert errors
    assert {(e.operation, e.code) for e in errors} == {("DescribeVpcs", "NotAnAwsAnswer")}
    assert {e.message for e in errors} == {"HTTP 200 answer is an HTML page (Content-Type text/html), not an AWS response"}
    assert "vpc" in snapshot.failed_types()


@pytest.mark.parametrize(("html_endpoint", "what"), [((200, HTML), "an HTML page"), ((200, b"OK\n"), "not JSON")],
                         indirect=["html_endpoint"], ids=["html", "plain-text"])
def test_a_json_service_answering_something_else_is_its_collector_error(account, html_endpoint, what, monkeypatch):
    """ECS speaks JSON: botocore would read a 200 that is not JSON as an empty list of clusters."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_ECS", html_endpoint)
    snapshot = collect(AwsContext(region="us-east-1", max_attempts=1), only_types={"ecs_cluster"})
    [error] = [e for e in snapshot.errors if e.service == "ecs"]
    assert (error.operation, error.code) == ("ListClusters", "NotAnAwsAnswer")
    assert error.message == f"HTTP 200 answer is {what} (Content-Type text/html), not an AWS response"
    assert "ecs_cluster" in snapshot.failed_types()


def test_error_message_of_a_parser_error_is_short():
    from botocore.parsers import ResponseParserError
    exc = ResponseParserError("Unable to parse response (no element found: line 1, column 23), invalid XML "
                              "received. Further retries may succeed:\nb'" + "<html>" * 500 + "'")
    assert error_code(exc) == "ResponseParserError"
    message = error_message(exc)
    assert message.startswith("Unable to parse response (no element found") and "<html>" not in message
    assert len(error_message(ValueError("x" * 5000))) == 200


def test_any_botocore_exception_is_a_collector_error(account, monkeypatch):
    """botocore exceptions that are no BotoCoreError, and BotoCoreError subclasses, alike."""
    from botocore.exceptions import ReadTimeoutError
    from botocore.parsers import ResponseParserError
    for name, exc in {"a": ResponseParserError("Unable to parse response\n<html>" + "x" * 1000),
                      "b": ReadTimeoutError(endpoint_url="https://ec2.example")}.items():
        monkeypatch.setitem(REGISTRY, f"ec2.raising_{name}",
                            Collector(f"ec2.raising_{name}", "ec2", (f"thing_{name}",), _raising(exc)))
    snapshot = collect(AwsContext(region="us-east-1", max_attempts=1), only_types={"thing_a", "thing_b"})
    by_type = {e.resource_types[0]: e for e in snapshot.errors}
    assert by_type["thing_a"].code == "ResponseParserError" and by_type["thing_a"].operation == "DescribeVpcs"
    assert by_type["thing_a"].message == "Unable to parse response"
    assert by_type["thing_b"].code == "ReadTimeoutError" and by_type["thing_b"].operation == "DescribeVpcs"


def test_a_bug_in_a_collector_is_not_hidden(account, monkeypatch):
    monkeypatch.setitem(REGISTRY, "ec2.buggy", Collector("ec2.buggy", "ec2", ("thing_c",), _raising(KeyError("x"))))
    with pytest.raises(KeyError):
        collect(AwsContext(region="us-east-1", max_attempts=1), only_types={"thing_c"})

"""boto3 session and clients: standard credential chain, botocore retries, call accounting."""
from __future__ import annotations

import functools
import re
import threading
from collections import Counter
from dataclasses import dataclass, field

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.loaders import Loader, create_loader
from botocore.parsers import ResponseParserError

from .model import truncate

DEFAULT_MAX_ATTEMPTS = 5
MESSAGE_LIMIT = 200   # characters of an error message kept (an HTML error page is no message)

# What an AWS call may raise besides AuditCancelled: AWS's own error answers (ClientError),
# botocore's failures (BotoCoreError) and answers botocore cannot parse (ResponseParserError,
# which is no BotoCoreError), e.g. an HTML page from a proxy in front of the endpoint.
AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError, ResponseParserError)


# Error codes that are an ordinary answer, not a failure (the collector reads them as "not
# configured"): counted as calls, never as errors, so API-error alerts stay quiet on them.
NORMAL_ANSWERS: dict[tuple[str, str], set[str]] = {}


class NotAnAwsAnswer(ResponseParserError):
    """A successful HTTP answer that is no AWS response (an HTML page, or not JSON where JSON is due):
    botocore would read it as an empty result, so every resource of the call would vanish."""


_HTML = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<(?:!doctype\s+html|html[\s>])", re.IGNORECASE)
_JSON_PROTOCOLS = ("json", "rest-json")


def refuse_foreign_answers(operation_model, response_dict, **_kwargs) -> None:
    """botocore ``before-parse`` hook: raise :class:`NotAnAwsAnswer` for a 2xx answer whose body
    cannot be AWS's (a captive portal, a proxy's status page), instead of parsing it as empty."""
    status = response_dict.get("status_code") or 0
    body = response_dict.get("body")
    if not 200 <= status < 300 or not isinstance(body, bytes | bytearray) or operation_model.has_streaming_output:
        return
    content_type = str(response_dict.get("headers", {}).get("content-type") or "unknown")
    head = bytes(body[:256])
    protocol = operation_model.service_model.resolved_protocol
    if _HTML.match(head):
        what = "an HTML page"
    elif protocol in _JSON_PROTOCOLS and head.strip() and not head.lstrip().startswith((b"{", b"[")):
        what = "not JSON"
    else:
        return
    raise NotAnAwsAnswer(f"HTTP {status} answer is {what} (Content-Type {content_type}), not an AWS response")


def normal_answer(service: str, operation: str, code: str) -> None:
    """Declare that ``code`` from ``service:operation`` is a normal answer (e.g. no policy set)."""
    NORMAL_ANSWERS.setdefault((service, operation), set()).add(code)


# What kind of failure an AWS error is (:func:`classify`): the report's ``errors`` and the
# ``category`` label of ``auditor_aws_api_errors_total`` carry it.
DENIED, THROTTLED, NOT_FOUND = "denied", "throttled", "not_found"
REGION_UNAVAILABLE, OPT_IN_REQUIRED, OTHER = "region_unavailable", "opt_in_required", "other"
CATEGORIES = (DENIED, THROTTLED, NOT_FOUND, REGION_UNAVAILABLE, OPT_IN_REQUIRED, OTHER)

_DENIED = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess", "AuthorizationError",
    "AuthorizationErrorException", "UnauthorizedException", "NotAuthorized", "Forbidden", "ForbiddenException"})
_THROTTLED = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded", "TooManyRequestsException",
    "RequestThrottled", "RequestThrottledException", "SlowDown", "ProvisionedThroughputExceededException",
    "EC2ThrottledException", "PriorRequestNotComplete", "BandwidthLimitExceeded"})
_NOT_FOUND = re.compile(r"NotFound|^NoSuch")
_NO_ENDPOINT = frozenset({"EndpointConnectionError", "UnknownEndpoint", "UnknownEndpointError",
                          "EndpointResolutionError", "UnknownRegionError"})
_UNSUPPORTED = frozenset({"InvalidAction", "UnsupportedOperation", "UnsupportedOperationException",
                          "OperationNotSupportedException"})
# Credentials refused. In an opt-in region that the account has not enabled, STS answers
# InvalidClientTokenId, EC2 AuthFailure and JSON services UnrecognizedClientException: the same
# codes as bad credentials. They count as ``opt_in_required`` in the regions below (AWS's opt-in
# regions, whose only usual cause of these codes is a disabled region), as ``denied`` elsewhere.
_REFUSED_CREDENTIALS = frozenset({"AuthFailure", "InvalidClientTokenId", "UnrecognizedClientException"})
OPT_IN_REGIONS = frozenset({
    "af-south-1", "ap-east-1", "ap-east-2", "ap-south-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
    "ap-southeast-6", "ap-southeast-7", "ca-west-1", "eu-central-2", "eu-south-1", "eu-south-2", "il-central-1",
    "me-central-1", "me-south-1", "mx-central-1"})


def classify(error: BaseException | str, region: str | None = None) -> str:
    """The category of an AWS error (an exception or its code): denied, throttled (after botocore's
    retries), not_found, region_unavailable, opt_in_required or other."""
    code = error if isinstance(error, str) else error_code(error)
    message = "" if isinstance(error, str) else error_message(error).lower()
    if code in _DENIED:
        return DENIED
    if code in _THROTTLED:
        return THROTTLED
    if code == "OptInRequired":
        return OPT_IN_REQUIRED
    if code in _REFUSED_CREDENTIALS:
        return OPT_IN_REQUIRED if region in OPT_IN_REGIONS else DENIED
    if code in _NO_ENDPOINT or (code in _UNSUPPORTED and "region" in message):
        return REGION_UNAVAILABLE
    if _NOT_FOUND.search(code):
        return NOT_FOUND
    return OTHER


@dataclass
class ApiStats:
    """Counts of AWS API calls, and of their errors by service, operation, error code and category."""

    calls: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    retries: Counter = field(default_factory=Counter)
    region: str | None = None   # for :func:`classify`
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def on_after_call(self, http_response, parsed, model, **_kwargs) -> None:
        service = model.service_model.service_name
        with self._lock:
            self.calls[(service, model.name)] += 1
            code = (parsed or {}).get("Error", {}).get("Code")
            if code and code not in NORMAL_ANSWERS.get((service, model.name), ()):
                self.errors[(service, model.name, code, classify(code, self.region))] += 1

    def on_after_call_error(self, exception, model=None, **_kwargs) -> None:
        if model is None:
            return
        service = model.service_model.service_name
        with self._lock:
            self.calls[(service, model.name)] += 1
            self.errors[(service, model.name, type(exception).__name__, classify(exception, self.region))] += 1


def is_aws_error(exc: BaseException) -> bool:
    """Did an AWS call fail (any botocore or urllib3 exception), rather than the code around it?"""
    if isinstance(exc, AWS_ERRORS):
        return True
    module = type(exc).__module__ or ""
    return module.split(".", 1)[0] in ("botocore", "urllib3")


def short_message(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """One line of at most ``limit`` characters (an ellipsis marks a cut)."""
    return truncate(re.sub(r"\s+", " ", text).strip(), limit)


def error_code(exc: BaseException) -> str:
    """A short, stable error code for an exception raised by boto3."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    """The message of an exception raised by boto3: one line, at most MESSAGE_LIMIT characters
    (a proxy's HTML error page or a response botocore cannot parse is not dumped whole)."""
    if isinstance(exc, ClientError):
        text = str(exc.response.get("Error", {}).get("Message") or exc)
    elif isinstance(exc, ResponseParserError):
        text = str(exc).split("\n", 1)[0].rstrip(": ")   # not the unparsable body that follows
    else:
        text = str(exc)
    return short_message(text)


@functools.cache
def _loader(data_path: str | None) -> Loader:
    return create_loader(data_path)


def share_models(session: boto3.Session) -> boto3.Session:
    """``session`` with botocore's data loader of this process for its data path: service models,
    paginators and endpoint rules are read from botocore's JSON files once per process, not once per
    session (every audit, every target, every daemon run makes sessions; EC2's model alone is 0.1 s).
    Only the read-only models are shared; clients, events and credentials stay the session's own."""
    core = session._session
    core.register_component("data_loader", _loader(core.get_config_variable("data_path")))
    return session


class AwsContext:
    """One account and region: a boto3 session, cached clients and API statistics.

    Credentials, region and ``AWS_ENDPOINT_URL`` come from boto3's standard chain;
    ``endpoint_url`` overrides the endpoint of every client (the emulated demo account).
    """

    def __init__(self, region: str | None = None, profile: str | None = None,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, retry_mode: str = "standard",
                 session: boto3.Session | None = None, endpoint_url: str | None = None):
        self.session = share_models(session or boto3.Session(profile_name=profile, region_name=region))
        self.endpoint_url = endpoint_url
        self.region = region or self.session.region_name
        if not self.region:
            raise AuditSetupError("no AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION")
        self.config = Config(retries={"mode": retry_mode, "total_max_attempts": max_attempts},
                             connect_timeout=10, read_timeout=30, max_pool_connections=20,
                             user_agent_extra="auditor")
        self.stats = ApiStats(region=self.region)
        self._clients: dict[str, object] = {}
        self._lock = threading.Lock()
        self._account: str | None = None
        self._calls = threading.local()   # the operation each thread called last
        events = self.session.events
        events.register("before-call.*.*", self._on_before_call)
        events.register("before-parse.*.*", refuse_foreign_answers)
        events.register("after-call.*.*", self.stats.on_after_call)
        events.register("after-call-error.*.*", self.stats.on_after_call_error)

    def _on_before_call(self, model=None, **_kwargs) -> None:
        if model is not None:
            self._calls.operation = model.name

    def last_operation(self) -> str | None:
        """The operation this thread called last (for errors that do not name it)."""
        return getattr(self._calls, "operation", None)

    def forget_last_operation(self) -> None:
        self._calls.operation = None

    def client(self, service: str):
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(
                    service, region_name=self.region, config=self.config, endpoint_url=self.endpoint_url)
            return self._clients[service]

    @property
    def account(self) -> str:
        """The account ID from STS; raises AuditSetupError when there are no usable credentials."""
        if self._account is None:
            try:
                self._account = self.client("sts").get_caller_identity()["Account"]
            except AWS_ERRORS as exc:
                raise AuditSetupError(
                    f"cannot identify the AWS account (sts:GetCallerIdentity): "
                    f"{error_code(exc)}: {error_message(exc)}") from exc
        return self._account


class AuditSetupError(Exception):
    """The audit cannot start: configuration, rules or credentials are unusable."""

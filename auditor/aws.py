"""boto3 session and clients: standard credential chain, botocore retries, call accounting."""
from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

DEFAULT_MAX_ATTEMPTS = 5


# Error codes that are an ordinary answer, not a failure (the collector reads them as "not
# configured"): counted as calls, never as errors, so API-error alerts stay quiet on them.
NORMAL_ANSWERS: dict[tuple[str, str], set[str]] = {}


def normal_answer(service: str, operation: str, code: str) -> None:
    """Declare that ``code`` from ``service:operation`` is a normal answer (e.g. no policy set)."""
    NORMAL_ANSWERS.setdefault((service, operation), set()).add(code)


@dataclass
class ApiStats:
    """Counts of AWS API calls and their errors, by service, operation and error code."""

    calls: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    retries: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def on_after_call(self, http_response, parsed, model, **_kwargs) -> None:
        service = model.service_model.service_name
        with self._lock:
            self.calls[(service, model.name)] += 1
            code = (parsed or {}).get("Error", {}).get("Code")
            if code and code not in NORMAL_ANSWERS.get((service, model.name), ()):
                self.errors[(service, model.name, code)] += 1

    def on_after_call_error(self, exception, model=None, **_kwargs) -> None:
        if model is None:
            return
        service = model.service_model.service_name
        with self._lock:
            self.calls[(service, model.name)] += 1
            self.errors[(service, model.name, type(exception).__name__)] += 1


def error_code(exc: BaseException) -> str:
    """A short, stable error code for an exception raised by boto3."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Message") or exc)
    return str(exc)


class AwsContext:
    """One account and region: a boto3 session, cached clients and API statistics.

    Credentials, region and ``AWS_ENDPOINT_URL`` come from boto3's standard chain;
    ``endpoint_url`` overrides the endpoint of every client (the emulated demo account).
    """

    def __init__(self, region: str | None = None, profile: str | None = None,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, retry_mode: str = "standard",
                 session: boto3.Session | None = None, endpoint_url: str | None = None):
        self.session = session or boto3.Session(profile_name=profile, region_name=region)
        self.endpoint_url = endpoint_url
        self.region = region or self.session.region_name
        if not self.region:
            raise AuditSetupError("no AWS region: pass --region or set AWS_REGION / AWS_DEFAULT_REGION")
        self.config = Config(retries={"mode": retry_mode, "total_max_attempts": max_attempts},
                             connect_timeout=10, read_timeout=30, max_pool_connections=20,
                             user_agent_extra="auditor")
        self.stats = ApiStats()
        self._clients: dict[str, object] = {}
        self._lock = threading.Lock()
        self._account: str | None = None
        events = self.session.events
        events.register("after-call.*.*", self.stats.on_after_call)
        events.register("after-call-error.*.*", self.stats.on_after_call_error)

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
            except (ClientError, BotoCoreError) as exc:
                raise AuditSetupError(
                    f"cannot identify the AWS account (sts:GetCallerIdentity): "
                    f"{error_code(exc)}: {error_message(exc)}") from exc
        return self._account


class AuditSetupError(Exception):
    """The audit cannot start: configuration, rules or credentials are unusable."""

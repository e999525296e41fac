"""Settings of the state store (``state.*``) and of the notification channels: Slack
(``slack.*``) and a generic JSON webhook (``webhook.*``), both :class:`ChannelConfig`.

They are sections of the daemon's settings (:class:`auditor.daemon.config.DaemonConfig`), and
``auditor audit --notify`` reads the same keys (``--config FILE`` and ``AUDITOR_<SECTION>__*``).
Secrets are never settings: ``*_env`` keys name environment variables and ``*_secret`` keys name
Secrets Manager secrets that hold them.
"""
from __future__ import annotations

import os
import re
from abc import abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..model import SEVERITIES
from ..state import utcnow

if TYPE_CHECKING:
    from .channel import Channel

Severity = Literal["critical", "high", "medium", "low", "info"]
CHANNEL_KEYS = ("default", *SEVERITIES)
DEFAULT_STATE_PATH = Path("auditor-state.sqlite3")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)\s*d)?\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m)?"
                       r"\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$", re.IGNORECASE)


def parse_duration(value: Any) -> float:
    """Seconds from a number or a text such as ``90``, ``45s``, ``30m``, ``24h``, ``1d``, ``1h30m``."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text like 24h, 30m, 1d")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    m = _DURATION.match(text)
    if not text or not m or not any(m.groups()):
        raise ValueError(f"not a duration (e.g. 24h, 30m, 1d, 3600): {text!r}")
    d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + s


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _env_name(value: str | None) -> str | None:
    if value is None:
        return None
    if not _ENV_NAME.match(value):
        raise ValueError("must name an environment variable (letters, digits, _), not hold the secret")
    if value.upper().startswith("AUDITOR_"):
        raise ValueError("AUDITOR_* variables are settings; name a variable outside that prefix")
    return value


def _http_url(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://", value):
        raise ValueError("must be an http(s) URL")
    return value


class StateConfig(_Section):
    """Where the durable state lives (finding lifecycle, last snapshot, notification outbox)."""

    path: Path = DEFAULT_STATE_PATH   # ":memory:" keeps it in memory (lost at exit)


class ChannelConfig(_Section):
    """What every notification channel has: which findings it takes, reminders, and how it retries."""

    name: ClassVar[str]   # the channel's name: its settings section, outbox rows and metrics label
    enabled: bool = False
    min_severity: Severity = "low"
    reminder_interval: float = Field(86400.0, gt=0)
    notify_on_changes: bool = False
    dashboard_url: str | None = None
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    max_retries: int = Field(2, ge=0, le=10)
    max_retry_after_seconds: float = Field(30.0, ge=0, le=600)
    retry_backoff_seconds: float = Field(1.0, ge=0, le=60)
    outbox_backoff_seconds: float = Field(60.0, ge=0)
    outbox_max_backoff_seconds: float = Field(3600.0, ge=0)

    @field_validator("reminder_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard(cls, value: str | None) -> str | None:
        return _http_url(value)

    def takes(self, severity: str) -> bool:
        """Whether a finding of ``severity`` is at or above ``min_severity``."""
        return SEVERITIES.index(severity) <= SEVERITIES.index(self.min_severity)

    @abstractmethod
    def problems(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """What keeps the enabled channel from working, checked at start (never a secret's value)."""

    @abstractmethod
    def open(self, environ: Mapping[str, str] | None = None, clock: Callable[[], datetime] = utcnow) -> Channel:
        """The channel these settings describe (raises ValueError without its credentials)."""


class WebhookConfig(ChannelConfig):
    """A generic JSON webhook: each message POSTed to ``url``; see README "Webhook notifications"."""

    name: ClassVar[str] = "webhook"
    url: str | None = None
    url_env: str | None = None          # or the URL from this environment variable (it may hold a token)
    headers: dict[str, str] = Field(default_factory=dict)   # plain headers; never a secret
    token_env: str | None = None        # a bearer token from this environment variable...
    token_secret: str | None = None     # ...or from this Secrets Manager secret
    token_header: str = "Authorization"
    token_scheme: str = "Bearer"
    max_items: int = Field(100, ge=1, le=1000)   # entries per list of a message (counts has them all)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("url_env", "token_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        return _env_name(value)

    @field_validator("headers", mode="after")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for k, v in value.items():
            if not _HEADER_NAME.match(k):
                raise ValueError(f"not a header name: {k!r}")
            if "\n" in v or "\r" in v:
                raise ValueError(f"header {k}: a value is one line")
            if k.lower() in ("authorization", "proxy-authorization", "content-type", "content-length"):
                raise ValueError(f"header {k}: set by the auditor (a token comes from token_env or token_secret)")
        return value

    @field_validator("token_header")
    @classmethod
    def _token_header(cls, value: str) -> str:
        if not _HEADER_NAME.match(value):
            raise ValueError(f"not a header name: {value!r}")
        return value

    @model_validator(mode="after")
    def _one_each(self) -> WebhookConfig:
        if self.url and self.url_env:
            raise ValueError("set url or url_env, not both")
        if self.token_env and self.token_secret:
            raise ValueError("set token_env or token_secret, not both")
        return self

    def problems(self, environ: Mapping[str, str] | None = None) -> list[str]:
        if not self.enabled:
            return []
        environ = os.environ if environ is None else environ
        out = []
        if not self.url and not self.url_env:
            out.append("webhook.url: required (or webhook.url_env, the environment variable that holds it)")
        for key, name in (("url_env", self.url_env), ("token_env", self.token_env)):
            if name and not environ.get(name, "").strip():
                out.append(f"webhook.{key}: the environment variable {name} is not set")
        return out

    def open(self, environ: Mapping[str, str] | None = None, clock: Callable[[], datetime] = utcnow) -> Channel:
        from .webhook import WebhookChannel

        return WebhookChannel(self, environ=environ)   # its documents carry no time of their own


class SlackConfig(ChannelConfig):
    """Slack notifications; see README "Slack alerts" for each key."""

    name: ClassVar[str] = "slack"
    token_env: str = "SLACK_BOT_TOKEN"
    webhook_url_env: str = "SLACK_WEBHOOK_URL"
    token_secret: str | None = None
    webhook_url_secret: str | None = None
    channels: dict[str, str] = Field(default_factory=dict)
    templates_dir: Path | None = None
    max_findings: int = Field(20, ge=1, le=40)
    base_url: str = "https://slack.com/api/"

    @field_validator("token_env", "webhook_url_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        return str(_env_name(value))

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(CHANNEL_KEYS))
        if unknown:
            raise ValueError(f"unknown channel key(s) {', '.join(unknown)} (known: {', '.join(CHANNEL_KEYS)})")
        empty = sorted(k for k, v in value.items() if not str(v).strip())
        if empty:
            raise ValueError(f"empty channel for {', '.join(empty)}")
        return {k: str(v).strip() for k, v in value.items()}

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return str(_http_url(value))

    @model_validator(mode="after")
    def _one_secret(self) -> SlackConfig:
        if self.token_secret and self.webhook_url_secret:
            raise ValueError("set token_secret or webhook_url_secret, not both")
        return self

    def mode(self, environ: Mapping[str, str] | None = None) -> Literal["token", "webhook"]:
        """``token`` (chat.postMessage, threads) or ``webhook`` (incoming webhook): a configured
        secret first, then whichever environment variable is set (the token wins)."""
        environ = os.environ if environ is None else environ
        if self.token_secret:
            return "token"
        if self.webhook_url_secret:
            return "webhook"
        if environ.get(self.token_env, "").strip():
            return "token"
        if environ.get(self.webhook_url_env, "").strip():
            return "webhook"
        raise ValueError(f"no Slack credentials: set the environment variable {self.token_env} (bot token) "
                         f"or {self.webhook_url_env} (incoming webhook URL), or slack.token_secret / "
                         "slack.webhook_url_secret")

    def problems(self, environ: Mapping[str, str] | None = None) -> list[str]:
        if not self.enabled:
            return []
        try:
            mode = self.mode(environ)
        except ValueError as exc:
            return [f"slack: {exc}"]
        if mode == "token" and "default" not in self.channels:
            return ["slack.channels.default: required with a bot token (the channel for changes, "
                    "notices and severities without a channel of their own)"]
        if self.templates_dir is not None:
            from .messages import Templates  # jinja2 and the bundled templates: only when overridden
            return [f"slack.templates_dir: {p}" for p in Templates().problems(Path(self.templates_dir))]
        return []

    def open(self, environ: Mapping[str, str] | None = None, clock: Callable[[], datetime] = utcnow) -> Channel:
        from .slack import SlackChannel

        return SlackChannel(self, environ=environ, clock=clock)

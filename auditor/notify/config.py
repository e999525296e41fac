"""Settings of the state store (``state.*``) and of Slack notifications (``slack.*``).

They are sections of the daemon's settings (:class:`auditor.daemon.config.DaemonConfig`), and
``auditor audit --slack`` reads the same keys (``--config FILE`` and ``AUDITOR_SLACK__*``).
Secrets are never settings: ``token_env`` / ``webhook_url_env`` name environment variables and
``token_secret`` / ``webhook_url_secret`` name Secrets Manager secrets that hold them.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..model import SEVERITIES

Severity = Literal["critical", "high", "medium", "low", "info"]
CHANNEL_KEYS = ("default", *SEVERITIES)
DEFAULT_STATE_PATH = Path("auditor-state.sqlite3")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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


class StateConfig(_Section):
    """Where the durable state lives (finding lifecycle, last snapshot, Slack outbox)."""

    path: Path = DEFAULT_STATE_PATH   # ":memory:" keeps it in memory (lost at exit)


class SlackConfig(_Section):
    """Slack notifications; see README "Slack alerts" for each key."""

    enabled: bool = False
    token_env: str = "SLACK_BOT_TOKEN"
    webhook_url_env: str = "SLACK_WEBHOOK_URL"
    token_secret: str | None = None
    webhook_url_secret: str | None = None
    channels: dict[str, str] = Field(default_factory=dict)
    min_severity: Severity = "low"
    reminder_interval: float = Field(86400.0, gt=0)
    dashboard_url: str | None = None
    templates_dir: Path | None = None
    notify_on_changes: bool = False
    max_findings: int = Field(20, ge=1, le=40)
    base_url: str = "https://slack.com/api/"
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

    @field_validator("token_env", "webhook_url_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError("must name an environment variable (letters, digits, _), not hold the secret")
        if value.upper().startswith("AUDITOR_"):
            raise ValueError("AUDITOR_* variables are settings; name a variable outside that prefix")
        return value

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

    @field_validator("base_url", "dashboard_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://", value):
            raise ValueError("must be an http(s) URL")
        return value

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
        """What keeps enabled Slack notifications from working, checked at start (never a value)."""
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

    def channel_for(self, severity: str, mode: str) -> str | None:
        """The channel of a finding of ``severity``; None below ``min_severity`` (not notified).
        An incoming webhook posts to its own channel: ``""``."""
        if SEVERITIES.index(severity) > SEVERITIES.index(self.min_severity):
            return None
        if mode == "webhook":
            return ""
        return self.channels.get(severity) or self.channels.get("default", "")

    def default_channel(self, mode: str) -> str:
        return "" if mode == "webhook" else self.channels.get("default", "")

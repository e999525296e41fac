"""Settings of the state store (``state.*``), and what the settings of every notification channel
have (:class:`ChannelConfig`; each channel's own sit in its package, and :mod:`auditor.notify.channels`
lists them).

They are sections of the daemon's settings (:class:`auditor.daemon.config.DaemonConfig`), and
``auditor audit --notify`` reads the same keys (``--config FILE`` and ``AUDITOR_<SECTION>__*``).
Secrets are never settings: ``*_env`` keys name environment variables and ``*_secret`` keys name
Secrets Manager secrets that hold them.
"""
from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator

from ..model import SEVERITIES, Severity
from ..settings import Section
from ..state import utcnow

if TYPE_CHECKING:
    from .channel import Channel

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


def env_name(value: str | None) -> str | None:
    """A setting that names an environment variable (outside ``AUDITOR_*``), never a secret's value."""
    if value is None:
        return None
    if not _ENV_NAME.match(value):
        raise ValueError("must name an environment variable (letters, digits, _), not hold the secret")
    if value.upper().startswith("AUDITOR_"):
        raise ValueError("AUDITOR_* variables are settings; name a variable outside that prefix")
    return value


def http_url(value: str | None) -> str | None:
    """A setting that holds an http(s) URL."""
    if value is not None and not re.match(r"^https?://", value):
        raise ValueError("must be an http(s) URL")
    return value


class StateConfig(Section):
    """Where the durable state lives (finding lifecycle, last snapshot, notification outbox)."""

    path: Path = DEFAULT_STATE_PATH   # ":memory:" keeps it in memory (lost at exit)


class ChannelConfig(Section):
    """What every notification channel has: which findings it takes, reminders, and how it retries."""

    name: ClassVar[str]   # the channel's name: its settings section, outbox rows and metrics label
    path_fields: ClassVar[tuple[str, ...]] = ()   # keys holding a path, relative to the config file
    loggers: ClassVar[tuple[str, ...]] = ()       # third-party loggers kept at WARNING (their debug shows requests)
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
        return http_url(value)

    def takes(self, severity: str) -> bool:
        """Whether a finding of ``severity`` is at or above ``min_severity``."""
        return SEVERITIES.index(severity) <= SEVERITIES.index(self.min_severity)

    def summary(self) -> dict[str, Any]:
        """The settings as the daemon's start-up log line shows them (never a secret)."""
        return self.model_dump(mode="json")

    @abstractmethod
    def problems(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """What keeps the enabled channel from working, checked at start (never a secret's value)."""

    @abstractmethod
    def open(self, environ: Mapping[str, str] | None = None, clock: Callable[[], datetime] = utcnow) -> Channel:
        """The channel these settings describe (raises ValueError without its credentials)."""

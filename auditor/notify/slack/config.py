"""Slack's settings (``slack.*``); see README "Slack alerts" for each key."""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ...model import SEVERITIES
from ...state import utcnow
from ..config import ChannelConfig, env_name, http_url

if TYPE_CHECKING:
    from ..channel import Channel

CHANNEL_KEYS = ("default", *SEVERITIES)   # the keys of slack.channels: a Slack channel per severity


class SlackConfig(ChannelConfig):
    """Slack notifications; see README "Slack alerts" for each key."""

    name: ClassVar[str] = "slack"
    path_fields: ClassVar[tuple[str, ...]] = ("templates_dir",)
    loggers: ClassVar[tuple[str, ...]] = ("slack_sdk",)
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
        return str(env_name(value))

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
        return str(http_url(value))

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
        from .channel import SlackChannel

        return SlackChannel(self, environ=environ, clock=clock)

"""The generic webhook's settings (``webhook.*``); see README "Webhook notifications"."""
from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator, model_validator

from ...state import utcnow
from ..config import ChannelConfig, env_name, http_url

if TYPE_CHECKING:
    from ..channel import Channel

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


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
        return http_url(value)

    @field_validator("url_env", "token_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        return env_name(value)

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

    def summary(self) -> dict[str, Any]:
        data = super().summary()
        data["url"] = "(set)" if self.url else None   # a URL may carry a token, and so may a header
        data["headers"] = sorted(self.headers)
        return data

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
        from .channel import WebhookChannel

        return WebhookChannel(self, environ=environ)   # its documents carry no time of their own

"""The Slack channel: Block Kit messages (:mod:`.messages`, templates in ``templates/slack``) sent
with a bot token (threads, in-doubt look-ups) or an incoming webhook (:mod:`.delivery`), the
credential from :func:`.credentials.resolve`."""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from ...state import utcnow
from ..channel import AuditInfo, Outgoing, Transport
from ..lifecycle import Plan
from ..secrets import SecretReader
from .config import SlackConfig
from .credentials import resolve
from .delivery import TokenTransport, WebhookTransport
from .messages import Composer, Templates

log = logging.getLogger("auditor.notify")


class SlackChannel:
    """Slack, per ``slack.*``. ``transport`` is normally built from the credential on first delivery
    (an environment variable now, or a Secrets Manager secret read then); tests pass one."""

    name = SlackConfig.name

    def __init__(self, config: SlackConfig, *, environ: Mapping[str, str] | None = None,
                 read_secret: SecretReader | None = None, transport: Transport | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.config = config
        self._environ = environ
        self._read_secret = read_secret
        self._transport = transport
        if transport is not None:
            self.mode = "token" if transport.threads else "webhook"
        else:
            self.mode = config.mode(environ)
        self.composer = Composer(Templates(config.templates_dir, now=clock), config.dashboard_url,
                                 config.max_findings)

    @property
    def threads(self) -> bool:
        return self.mode == "token"

    def transport(self) -> Transport:
        if self._transport is None:
            credential = resolve(self.config, self._environ, self._read_secret)
            cls = TokenTransport if credential.mode == "token" else WebhookTransport
            self._transport = cls(credential, self.config)
            log.info(f"slack: {credential.mode} from {credential.source}", extra={"event": "notify", "channel": self.name})
        return self._transport

    def destination(self, severity: str) -> str | None:
        """The Slack channel of a finding of ``severity``; an incoming webhook posts to its own: ``""``."""
        if not self.config.takes(severity):
            return None
        return "" if self.mode == "webhook" else self.config.channels.get(severity) or self.default_destination

    @property
    def default_destination(self) -> str:
        return "" if self.mode == "webhook" else self.config.channels.get("default", "")

    def render(self, plan: Plan, audit: AuditInfo, parents: Mapping[int, str]) -> list[Outgoing]:
        return self.composer.compose(plan, audit, self.destination, self.default_destination, self.threads, parents)

    def render_notice(self, plan: Plan, audit: AuditInfo) -> list[Outgoing]:
        return self.composer.notice(plan, audit, self.default_destination)

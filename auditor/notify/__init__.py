"""Slack notifications that remember: new, still failing, resolved; changes; audit health.

- :mod:`.config`: the ``slack.*`` and ``state.*`` settings;
- :mod:`.lifecycle`: what an audit means (pure: stored rows + result + now -> news);
- :mod:`.messages`: Jinja2 text (``auditor/templates/slack/*.j2``) in Block Kit, escaped, within Slack's limits;
- :mod:`.delivery`: the outbox sent with slack-sdk (bot token or incoming webhook), retries;
- :mod:`.secrets`: the token or webhook URL, from the environment or Secrets Manager, never logged;
- :mod:`.notifier`: all of it over one :class:`auditor.state.StateStore`.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Notifier", "SlackConfig", "StateConfig"]


def __getattr__(name: str) -> Any:   # lazy: the daemon's settings import .config without slack-sdk
    if name == "Notifier":
        from .notifier import Notifier
        return Notifier
    if name in ("SlackConfig", "StateConfig"):
        from . import config
        return getattr(config, name)
    raise AttributeError(name)

"""Notifications that remember: new, still failing, resolved; changes; audit health.

- :mod:`.config`: the ``state.*`` settings and what every channel's settings have;
- :mod:`.channels`: the channels, by their settings classes (the only generic module naming them);
- :mod:`.lifecycle`: what an audit means (pure: stored rows + result + now + routing -> news);
- :mod:`.channel`: the channel interface (a renderer plus a transport) and the outbox delivery;
- :mod:`.slack`: Slack, in Block Kit with slack-sdk (``slack.*``);
- :mod:`.webhook`: a generic JSON webhook (``webhook.*``);
- :mod:`.secrets`: credentials, from the environment or Secrets Manager, never logged;
- :mod:`.notifier`: all of it over one :class:`auditor.state.StateStore`;
- :mod:`.runtime`: the state file and the enabled channels, as the daemon and the CLI hold them.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Notifier", "StateConfig"]


def __getattr__(name: str) -> Any:   # lazy: the daemon's settings import .config without a channel's client
    if name == "Notifier":
        from .notifier import Notifier
        return Notifier
    if name == "StateConfig":
        from .config import StateConfig
        return StateConfig
    raise AttributeError(name)

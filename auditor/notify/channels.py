"""The notification channels: the settings class of each, in delivery order.

The one generic place that names a channel. The daemon's settings take a section per entry (its
``name``), relative paths from its ``path_fields`` and never echo its values in errors; the
daemon's logs keep its ``loggers`` at WARNING.
"""
from __future__ import annotations

from .config import ChannelConfig
from .slack.config import SlackConfig
from .webhook.config import WebhookConfig

CHANNELS: tuple[type[ChannelConfig], ...] = (SlackConfig, WebhookConfig)

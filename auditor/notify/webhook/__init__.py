"""A generic JSON webhook (settings ``webhook.*``; README "Webhook notifications").

- :mod:`.config`: :class:`~.config.WebhookConfig`, the ``webhook.*`` settings;
- :mod:`.channel`: :class:`~.channel.WebhookChannel`, the documents it POSTs and how.
"""

"""Slack notifications, in Block Kit with slack-sdk (settings ``slack.*``; README "Slack alerts").

- :mod:`.config`: :class:`~.config.SlackConfig`, the ``slack.*`` settings;
- :mod:`.channel`: :class:`~.channel.SlackChannel`, the channel (renderer and transport);
- :mod:`.messages`: the Block Kit messages, text from the templates in ``auditor/templates/slack``;
- :mod:`.delivery`: the transports, a bot token (threads, in-doubt look-ups) or an incoming webhook;
- :mod:`.credentials`: the token or webhook URL, from the environment or Secrets Manager.

Only :mod:`.config` is light (no slack-sdk, no Jinja2): the daemon's settings import it.
"""

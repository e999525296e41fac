"""Slack's credential: a bot token or an incoming-webhook URL, from the environment variable or
the Secrets Manager secret ``slack.*`` names, and the logger handed to slack-sdk's clients."""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

from ..secrets import Credential, CredentialError, RedactSecrets, SecretReader, from_secret_string, secretsmanager_reader
from .config import SlackConfig


def sdk_logger() -> logging.Logger:
    """The logger handed to slack-sdk's clients: WARNING and above only (its debug lines carry
    request URLs and bodies), with secrets redacted."""
    logger = logging.getLogger("auditor.notify.slack_sdk")
    if not any(isinstance(f, RedactSecrets) for f in logger.filters):
        logger.addFilter(RedactSecrets())
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)
    return logger


def resolve(config: SlackConfig, environ: Mapping[str, str] | None = None,
            read_secret: SecretReader | None = None) -> Credential:
    """The Slack credential the settings name; raises CredentialError (naming the source, never the value)."""
    environ = os.environ if environ is None else environ
    try:
        mode = config.mode(environ)
    except ValueError as exc:
        raise CredentialError(str(exc)) from None
    secret_id = config.token_secret if mode == "token" else config.webhook_url_secret
    if secret_id:
        reader = read_secret or secretsmanager_reader()
        keys = ("token", "bot_token") if mode == "token" else ("webhook_url", "url")
        value = from_secret_string(reader(secret_id), keys, secret_id)
        source = f"Secrets Manager secret {secret_id}"
    else:
        name = config.token_env if mode == "token" else config.webhook_url_env
        value = environ.get(name, "").strip()
        source = f"environment variable {name}"
    credential = Credential(mode, value, source)
    if mode == "webhook" and not re.match(r"^https?://", value):
        raise CredentialError(f"the webhook URL from {source} is not an http(s) URL")
    return credential

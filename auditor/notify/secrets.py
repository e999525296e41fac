"""Channel credentials (e.g. a bot token, a webhook URL, a bearer token), from an environment
variable or a Secrets Manager secret (:func:`secretsmanager_reader`, :func:`from_secret_string`;
each channel resolves its own). They are never logged, never in a report or a metric.

- :class:`Credential` keeps the value out of ``repr``/``str`` (both show ``[redacted]``); only
  :meth:`Credential.reveal` gives it, to the transport.
- Every value read is registered with :class:`RedactSecrets`, a logging filter that replaces it
  with ``[redacted]`` in any record it sees. The filter sits on the daemon's log handler and on
  the loggers a channel hands to its client library, and scrubs every delivery error.
"""
from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

REDACTED = "[redacted]"
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):")


class CredentialError(Exception):
    """The credential could not be read (the message never holds the value)."""


class Credential:
    """A secret value that does not print itself."""

    __slots__ = ("mode", "source", "_value")

    def __init__(self, mode: str, value: str, source: str):
        self.mode = mode          # what it is, e.g. "token" or "webhook"
        self.source = source      # where it came from, e.g. "environment variable NAME"
        self._value = value
        RedactSecrets.register(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Credential({self.mode}, {self.source}, {REDACTED})"

    __str__ = __repr__

    def __reduce__(self) -> Any:   # never pickled (e.g. into a multiprocessing queue or a cache)
        raise TypeError("a Credential cannot be pickled")


class RedactSecrets(logging.Filter):
    """Replaces every registered secret value in a log record's message, arguments and extra
    fields. Values shorter than 8 characters are not registered (they would mask ordinary text)."""

    _values: set[str] = set()
    _lock = threading.Lock()

    @classmethod
    def register(cls, value: str) -> None:
        if value and len(value) >= 8:
            with cls._lock:
                cls._values = cls._values | {value}

    @classmethod
    def scrub(cls, text: str) -> str:
        for value in cls._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        values = self._values
        if not values:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's problem, not ours
            return True
        scrubbed = self.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        for name, value in list(vars(record).items()):
            if name in _STANDARD_ATTRS or name in ("msg", "args"):
                continue
            if isinstance(value, str) and any(v in value for v in values):
                setattr(record, name, self.scrub(value))
            elif isinstance(value, (dict, list, tuple)):
                text = json.dumps(value, default=str)
                if any(v in text for v in values):
                    setattr(record, name, json.loads(self.scrub(text)))
        if record.exc_info and record.exc_info[1] is not None:
            text = str(record.exc_info[1])
            if any(v in text for v in values):
                record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)))


SecretReader = Callable[[str], str]


def secretsmanager_reader(region: str | None = None, profile: str | None = None) -> SecretReader:
    """Reads a secret's string with boto3 (``AWS_ENDPOINT_URL`` honoured, as everywhere)."""
    def read(secret_id: str) -> str:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError

        m = _ARN_REGION.match(secret_id)
        try:
            session = boto3.Session(profile_name=profile, region_name=(m.group(1) if m else None) or region)
            value = session.client("secretsmanager").get_secret_value(SecretId=secret_id)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            raise CredentialError(f"cannot read Secrets Manager secret {secret_id!r}: {code}") from None
        except BotoCoreError as exc:
            raise CredentialError(f"cannot read Secrets Manager secret {secret_id!r}: {type(exc).__name__}") from None
        if "SecretString" not in value:
            raise CredentialError(f"Secrets Manager secret {secret_id!r} holds no string")
        return value["SecretString"]
    return read


def from_secret_string(text: str, keys: tuple[str, ...], secret_id: str) -> str:
    """A plain string, or a JSON object with one of ``keys`` or one string value."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            raise CredentialError(f"Secrets Manager secret {secret_id!r}: not valid JSON") from None
        for k in keys:
            if isinstance(data.get(k), str) and data[k].strip():
                return data[k].strip()
        strings = [v for v in data.values() if isinstance(v, str) and v.strip()]
        if len(strings) == 1:
            return strings[0].strip()
        raise CredentialError(f"Secrets Manager secret {secret_id!r}: a JSON secret needs the key "
                              f"{' or '.join(keys)}")
    if not stripped:
        raise CredentialError(f"Secrets Manager secret {secret_id!r} is empty")
    return stripped

"""JSON lines on stdout, one object per record, for CloudWatch Logs Insights.

Each line has ``timestamp`` (ISO 8601, UTC), ``level``, ``logger`` and ``message``, plus the
record's ``extra`` fields (``outcome``, ``duration_seconds``, ``errors``, ...). botocore, boto3
and urllib3, and the client libraries of the notification channels, stay at WARNING whatever
``log_level`` says: their debug output shows request headers and parameters, and the auditor
never logs credentials or secrets. botocore's warning that refreshing assumed-role credentials
failed comes without its traceback: one line, with the error's type and message in ``error``
(the target's audit reports the failure itself).
"""
from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

from ..aws import short_message
from ..notify.channels import CHANNELS
from ..notify.secrets import RedactSecrets

_QUIET = ("botocore", "boto3", "urllib3", "s3transfer", *(name for c in CHANNELS for name in c.loggers))
_HANDLER_MARK = "_auditor_json"


class _Formatter(JsonFormatter):
    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        log_data["timestamp"] = stamp.replace("+00:00", "Z")   # first key of every line
        super().add_fields(log_data, record, message_dict)


class _OneLine(logging.Filter):
    """A record's traceback folded into an ``error`` field (type: message, one line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.error = f"{type(exc).__name__}: {short_message(str(exc))}"
            record.exc_info, record.exc_text = None, None
        return True


def json_formatter() -> logging.Formatter:
    return _Formatter("%(levelname)s %(name)s %(message)s",
                      rename_fields={"levelname": "level", "name": "logger"},
                      json_default=str, json_ensure_ascii=False)


def setup_logging(level: str = "INFO", stream: IO[str] | None = None) -> None:
    """Send every record to ``stream`` (default stdout) as one JSON line; idempotent."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(json_formatter())
    handler.addFilter(RedactSecrets())   # a channel's credential, should any record carry it
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    set_level(level)


def set_level(level: str) -> None:
    logging.getLogger().setLevel(level)
    # APScheduler logs every run at INFO ("Running job ..."); the runner logs each audit itself.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    credentials = logging.getLogger("botocore.credentials")
    if not any(isinstance(f, _OneLine) for f in credentials.filters):
        credentials.addFilter(_OneLine())

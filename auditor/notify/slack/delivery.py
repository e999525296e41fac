"""Slack's transports (slack-sdk), exactly once where Slack lets us tell.

- :class:`TokenTransport`: a bot token and ``chat.postMessage`` (``WebClient``), so resolutions go
  in the thread of the message that raised them. Each message carries Slack message metadata
  (``event_type: auditor_notification``, the store id and the outbox id), so that after an attempt
  whose outcome is unknown (a read timeout, a crash between sending and recording) the next
  attempt first looks for the message (``conversations.history`` / ``conversations.replies``,
  scopes ``channels:history`` / ``groups:history``) and records it instead of posting it again.
- :class:`WebhookTransport`: an incoming webhook (``WebhookClient``); no threads, and no way to
  look a message up, so an attempt of unknown outcome is sent again (at least once).

Both use slack-sdk's retry handlers, bounded: ``RateLimitErrorRetryHandler`` (honours
``Retry-After`` up to ``slack.max_retry_after_seconds``; a longer wait leaves the message queued
until then), ``ServerErrorRetryHandler`` (500, 503) and ``ConnectionErrorRetryHandler`` for errors
before the request was sent (connection refused, DNS). A message that still fails stays queued
(:class:`auditor.notify.channel.Deliverer`).
"""
from __future__ import annotations

import random
import socket
from collections.abc import Mapping
from http.client import HTTPException
from typing import Any
from urllib.error import URLError

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.jitter import Jitter
from slack_sdk.webhook import WebhookClient

from ..channel import DeliveryError, Posted
from ..secrets import Credential
from .config import SlackConfig
from .credentials import sdk_logger

EVENT_TYPE = "auditor_notification"
# Errors that say this channel cannot take the message now (others may): skip the channel, go on.
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived", "restricted_action",
                            "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
                            "restricted_action_non_threadable_channel", "team_access_not_granted",
                            "thread_not_found", "ekm_access_denied", "msg_too_long", "invalid_blocks",
                            "invalid_blocks_format", "no_text"})


class _ProportionalJitter(Jitter):
    """Up to half the interval again, at random (slack-sdk's default adds up to a whole second)."""

    def recalculate(self, duration: float) -> float:
        return duration * (1 + random.random() / 2)


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler (sleeps ``Retry-After``), retrying only while the wait is at most
    ``max_wait`` seconds: a longer one leaves the message queued until then."""

    def __init__(self, max_retry_count: int, max_wait: float):
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(self, *, state: Any, request: Any, response: Any = None, error: Any = None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        return _retry_after(response.headers) <= self.max_wait


def _retry_after(headers: Mapping[str, Any] | None) -> float:
    for k, v in (headers or {}).items():
        if k.lower() == "retry-after":
            value = v[0] if isinstance(v, (list, tuple)) else v
            try:
                return float(value)
            except (TypeError, ValueError):
                return 1.0
    return 1.0


def retry_handlers(config: SlackConfig) -> list[RetryHandler]:
    backoff = BackoffRetryIntervalCalculator(backoff_factor=config.retry_backoff_seconds, jitter=_ProportionalJitter())
    return [
        BoundedRateLimitRetryHandler(config.max_retries, config.max_retry_after_seconds),
        ServerErrorRetryHandler(max_retry_count=config.max_retries, interval_calculator=backoff),
        # Only errors raised before the request went out: a retry cannot duplicate the message.
        ConnectionErrorRetryHandler(max_retry_count=config.max_retries, interval_calculator=backoff,
                                    error_types=[URLError]),
    ]


def _network_error(exc: BaseException) -> DeliveryError:
    if isinstance(exc, URLError):
        return DeliveryError(f"cannot reach Slack: {exc.reason}")
    # raised while waiting for the answer: the request went out, Slack may have it
    return DeliveryError(f"no answer from Slack: {type(exc).__name__}: {exc}", in_doubt=True)


_NETWORK_ERRORS = (URLError, TimeoutError, socket.timeout, ConnectionError, HTTPException, OSError)


class TokenTransport:
    threads = True

    def __init__(self, credential: Credential, config: SlackConfig):
        from slack_sdk import WebClient

        self.client = WebClient(token=credential.reveal(), base_url=_slash(config.base_url),
                                timeout=config.timeout_seconds,  # type: ignore[arg-type]
                                logger=sdk_logger(), retry_handlers=retry_handlers(config))

    def post(self, channel: str, payload: Mapping[str, Any], thread_ts: str | None,
             metadata: Mapping[str, Any]) -> Posted:
        """Post to a Slack channel (a reply in the thread of ``thread_ts``)."""
        try:
            resp = self.client.chat_postMessage(channel=channel, text=payload.get("text"), blocks=payload.get("blocks"),
                                                thread_ts=thread_ts, unfurl_links=False, unfurl_media=False,
                                                metadata={"event_type": EVENT_TYPE, "event_payload": dict(metadata)})
        except SlackApiError as exc:
            raise _api_error(exc) from None
        except SlackClientError as exc:
            raise DeliveryError(f"slack client error: {exc}") from None
        except _NETWORK_ERRORS as exc:
            raise _network_error(exc) from None
        return Posted(resp.get("channel") or channel, resp.get("ts"))

    def find(self, channel: str, thread_ts: str | None, oldest: float, metadata: Mapping[str, Any]) -> Posted | None:
        args = {"channel": channel, "oldest": f"{oldest:.6f}", "include_all_metadata": True, "limit": 200}
        cursor = None
        try:
            for _ in range(20):
                if thread_ts:
                    resp = self.client.conversations_replies(ts=thread_ts, cursor=cursor, **args)
                else:
                    resp = self.client.conversations_history(cursor=cursor, **args)
                for m in resp.get("messages") or []:
                    meta = m.get("metadata") or {}
                    if meta.get("event_type") == EVENT_TYPE and _same(meta.get("event_payload") or {}, metadata):
                        return Posted(resp.get("channel") or channel, m.get("ts"))
                cursor = (resp.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return None
        except SlackApiError as exc:
            raise _api_error(exc, action="look up") from None
        except SlackClientError as exc:
            raise DeliveryError(f"slack client error: {exc}") from None
        except _NETWORK_ERRORS as exc:
            raise _network_error(exc) from None
        return None


class WebhookTransport:
    threads = False

    def __init__(self, credential: Credential, config: SlackConfig):
        self.client = WebhookClient(url=credential.reveal(), timeout=config.timeout_seconds,  # type: ignore[arg-type]
                                    logger=sdk_logger(), retry_handlers=retry_handlers(config))

    def post(self, channel: str, payload: Mapping[str, Any], thread_ts: str | None,
             metadata: Mapping[str, Any]) -> Posted:
        try:
            resp = self.client.send(text=payload.get("text"), blocks=payload.get("blocks"),
                                    unfurl_links=False, unfurl_media=False)
        except SlackClientError as exc:
            raise DeliveryError(f"slack client error: {exc}") from None
        except _NETWORK_ERRORS as exc:
            raise _network_error(exc) from None
        if resp.status_code == 200:
            return Posted(None, None)
        body = (resp.body or "").strip()[:200]
        if resp.status_code == 429:
            raise DeliveryError(f"webhook: HTTP 429 {body}", retry_after=_retry_after(resp.headers))
        raise DeliveryError(f"webhook: HTTP {resp.status_code} {body}",
                            destination_only=resp.status_code in (400, 403, 404, 410), refused=resp.status_code < 500)

    def find(self, channel: str, thread_ts: str | None, oldest: float, metadata: Mapping[str, Any]) -> Posted | None:
        raise DeliveryError("an incoming webhook cannot look messages up")


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _same(payload: Mapping[str, Any], metadata: Mapping[str, Any]) -> bool:
    return all(str(payload.get(k)) == str(v) for k, v in metadata.items())


def _api_error(exc: SlackApiError, action: str = "post") -> DeliveryError:
    resp = exc.response
    status = getattr(resp, "status_code", None)
    error = ""
    try:
        error = str(resp.get("error") or "")
    except Exception:  # noqa: BLE001 - a non-JSON body
        error = ""
    if status == 429 or error == "ratelimited":
        return DeliveryError(f"slack {action}: rate limited (HTTP {status})", retry_after=_retry_after(resp.headers))
    if status is not None and status >= 500:
        return DeliveryError(f"slack {action}: HTTP {status} {error}".strip())
    return DeliveryError(f"slack {action}: {error or f'HTTP {status}'}", destination_only=error in CHANNEL_ERRORS,
                         refused=True)

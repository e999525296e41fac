"""A generic JSON webhook channel: each message is POSTed to ``webhook.url`` as one JSON document.

The body (``schema: auditor.notification/v1``; README "Webhook notifications")::

    {"schema": "auditor.notification/v1", "kind": "alert" | "notice", "delivery_id": "<store>:<outbox id>",
     "audit": {"architecture", "environment", "account", "region", "started_at"}, "dashboard_url",
     "counts": {"new", "reminders", "expired_waivers", "resolved", "changes"},
     "new": [finding], "reminders": [{"finding", "first_seen", "announced_at"}],
     "expired_waivers": [{"finding", "waiver"}],
     "resolved": [{"rule_id", "resource_type", "resource_id", "resource_name", "title", "severity",
                   "reason", "first_seen"}],
     "changes": [change], "compared_to", "health": {"state", "since", "failed", "errors"} | null}

A finding is :meth:`auditor.model.Finding.as_dict`, a change
:meth:`auditor.changes.ResourceChange.as_dict`; each list holds at most ``webhook.max_items``
entries (``counts`` has them all). The ``Idempotency-Key`` header repeats ``delivery_id``: an
attempt whose outcome is unknown (a timeout) is sent again with the same key (at least once).

Headers: ``webhook.headers`` (plain, not secret) and, with ``webhook.token_env`` or
``webhook.token_secret``, ``Authorization: Bearer <token>``. The token, and a URL taken from
``webhook.url_env``, are registered with :class:`~auditor.notify.secrets.RedactSecrets` and never
logged. A 2xx answer confirms a message; 429 (honouring ``Retry-After`` up to
``webhook.max_retry_after_seconds``), 5xx and a refused connection are retried up to
``webhook.max_retries`` times, then the message stays queued.
"""
from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from collections.abc import Callable, Mapping
from http.client import HTTPException
from typing import Any
from urllib.error import HTTPError, URLError

from ... import __version__
from ..channel import AuditInfo, DeliveryError, Outgoing, Posted, Transport, dashboard_link
from ..lifecycle import Plan, finding_key, target_of
from ..secrets import Credential, CredentialError, SecretReader, from_secret_string, secretsmanager_reader
from .config import WebhookConfig

log = logging.getLogger("auditor.notify")

SCHEMA = "auditor.notification/v1"
_RETRIED = (429, 500, 502, 503, 504)


class WebhookChannel:
    """The generic webhook, per ``webhook.*``; one destination (``""``), no threads."""

    name = WebhookConfig.name
    threads = False
    default_destination = ""

    def __init__(self, config: WebhookConfig, *, environ: Mapping[str, str] | None = None,
                 read_secret: SecretReader | None = None):
        self.config = config
        self._environ = environ
        self._read_secret = read_secret
        self._transport: WebhookPoster | None = None

    def destination(self, severity: str) -> str | None:
        return "" if self.config.takes(severity) else None

    def transport(self) -> Transport:
        if self._transport is None:
            self._transport = WebhookPoster(self.config, *self._credentials())
            log.info("webhook: ready", extra={"event": "notify", "channel": self.name})
        return self._transport

    def _credentials(self) -> tuple[Credential, Credential | None]:
        environ = os.environ if self._environ is None else self._environ
        c = self.config
        if c.url_env:
            value = environ.get(c.url_env, "").strip()
            if not value.startswith(("http://", "https://")):
                raise CredentialError(f"the environment variable {c.url_env} holds no http(s) URL")
            url = Credential("url", value, f"environment variable {c.url_env}")
        else:
            url = Credential("url", str(c.url), "webhook.url")
        if c.token_secret:
            reader = self._read_secret or secretsmanager_reader()
            value = from_secret_string(reader(c.token_secret), ("token",), c.token_secret)
            return url, Credential("token", value, f"Secrets Manager secret {c.token_secret}")
        if c.token_env:
            value = environ.get(c.token_env, "").strip()
            if not value:
                raise CredentialError(f"the environment variable {c.token_env} is not set")
            return url, Credential("token", value, f"environment variable {c.token_env}")
        return url, None

    def render(self, plan: Plan, audit: AuditInfo, parents: Mapping[int, str]) -> list[Outgoing]:
        new = [f for f in plan.new if self.config.takes(f.severity)]
        reminders = [(row, f) for row, f in plan.reminders if self.config.takes(f.severity)]
        expired = [e for e in plan.expired if self.config.takes(e.finding.severity)]
        news = new or reminders or expired or plan.resolved or plan.health is not None
        changes = list(plan.changes or ()) if news or plan.changes_alone else []
        if not news and not changes:
            return []
        n = self.config.max_items
        body = self._body("alert", audit, plan)
        body["counts"] = {"new": len(new), "reminders": len(reminders), "expired_waivers": len(expired),
                          "resolved": len(plan.resolved), "changes": len(changes)}
        body["new"] = [f.as_dict() for f in new[:n]]
        body["reminders"] = [{"finding": f.as_dict(), "first_seen": row.first_seen, "announced_at": row.announced_at}
                             for row, f in reminders[:n]]
        body["expired_waivers"] = [{"finding": e.finding.as_dict(), "waiver": dict(e.waiver)} for e in expired[:n]]
        body["resolved"] = [{"rule_id": r.row.rule_id, "resource_type": r.row.resource_type,
                             "resource_id": r.row.resource_id, "resource_name": r.row.resource_name,
                             "title": r.row.title, "severity": r.row.severity, "reason": r.reason,
                             "first_seen": r.row.first_seen} for r in plan.resolved[:n]]
        body["changes"] = [c.as_dict() for c in changes[:n]]
        body["compared_to"] = plan.compared_to if changes else None
        target = target_of(audit)
        announces = [finding_key(f, *target) for f in new] + [finding_key(e.finding, *target) for e in expired]
        return [Outgoing("alert", "", body, announces=announces)]

    def render_notice(self, plan: Plan, audit: AuditInfo) -> list[Outgoing]:
        if plan.health is None:
            return []
        return [Outgoing("notice", "", self._body("notice", audit, plan))]

    def _body(self, kind: str, audit: AuditInfo, plan: Plan) -> dict[str, Any]:
        h = plan.health
        health = None if h is None else {"state": h.state, "since": h.since, "failed": h.failed,
                                         "errors": [dict(e) for e in h.errors]}
        return {"schema": SCHEMA, "kind": kind,
                "audit": {"architecture": audit.architecture, "environment": audit.environment,
                          "account": audit.account, "region": audit.region, "started_at": audit.started_at},
                "dashboard_url": dashboard_link(self.config.dashboard_url, audit), "health": health}


class WebhookPoster:
    """POSTs one JSON document per message, with bounded retries."""

    threads = False

    def __init__(self, config: WebhookConfig, url: Credential, token: Credential | None,
                 sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self._url = url
        self._headers = {"Content-Type": "application/json", "User-Agent": f"auditor/{__version__}",
                         **config.headers}
        if token is not None:
            self._headers[config.token_header] = f"{config.token_scheme} {token.reveal()}".strip()
        self._sleep = sleep

    def post(self, destination: str, payload: Mapping[str, Any], thread_ref: str | None,
             metadata: Mapping[str, Any]) -> Posted:
        delivery_id = f"{metadata['store']}:{metadata['outbox_id']}"
        data = json.dumps({**payload, "delivery_id": delivery_id}, sort_keys=True, default=str).encode()
        headers = {**self._headers, "Idempotency-Key": delivery_id}
        attempt = 0
        while (retry_in := self._attempt(data, headers, last=attempt == self.config.max_retries)) is not None:
            self._sleep(retry_in if retry_in >= 0 else self.config.retry_backoff_seconds * 2 ** attempt)
            attempt += 1
        return Posted(None, delivery_id)

    def _attempt(self, data: bytes, headers: Mapping[str, str], last: bool) -> float | None:
        """None when confirmed; the seconds to wait before a retry (-1: the usual backoff); raises when
        the message stays queued."""
        request = urllib.request.Request(self._url.reveal(), data=data, headers=dict(headers), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_seconds) as resp:   # noqa: S310 - http(s) only
                resp.read(65536)
            return None
        except HTTPError as exc:
            body = exc.read(200).decode("utf-8", "replace").strip()
            wait = _retry_after(exc.headers.get("Retry-After")) if exc.code == 429 else -1.0
            if exc.code in _RETRIED and not last and wait <= self.config.max_retry_after_seconds:
                return wait
            raise DeliveryError(f"webhook: HTTP {exc.code} {body}".strip(), retry_after=wait if exc.code == 429 else None,
                                refused=exc.code < 500 and exc.code != 429) from None
        except URLError as exc:   # before the request went out (refused, DNS): a retry cannot duplicate it
            if isinstance(exc.reason, TimeoutError):
                raise DeliveryError(f"webhook: no answer: {exc.reason}", in_doubt=True) from None
            if not last:
                return -1.0
            raise DeliveryError(f"webhook: cannot connect: {exc.reason}") from None
        except (TimeoutError, ConnectionError, HTTPException, OSError) as exc:
            raise DeliveryError(f"webhook: no answer: {type(exc).__name__}: {exc}", in_doubt=True) from None

    def find(self, destination: str, thread_ref: str | None, oldest: float,
             metadata: Mapping[str, Any]) -> Posted | None:
        raise DeliveryError("a webhook cannot look messages up")


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 1.0
    except ValueError:
        return 1.0

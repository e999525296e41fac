"""A fake Slack Web API on a local port (pytest-httpserver), recording every request.

It answers ``chat.postMessage`` (bot token checked, messages kept per channel with their ts,
thread_ts and metadata), ``conversations.history`` / ``conversations.replies`` (with
``include_all_metadata``) and an incoming webhook at ``/services/T000/B000/<secret>``. Failures are
scripted per call: ``fail("429", retry_after=1)``, ``fail("500")``, ``fail("timeout", seconds=1.5)``
(the message is *accepted* and then the answer comes too late, as when Slack posts a message and
the connection times out), ``fail("error", error="channel_not_found")``.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

TOKEN = "xoxb-000000000000-1111111111111-FakeTokenValue0123456789"
WEBHOOK_PATH = "/services/T000FAKE/B000FAKE/WebhookSecretValue0123456789"
CHANNEL_IDS = {"#auditor": "C0AUDITOR", "#auditor-critical": "C0CRITICAL"}


@dataclass
class Recorded:
    """One request as the fake saw it."""

    method: str                 # chat.postMessage, conversations.history, webhook, ...
    headers: dict[str, str]
    body: dict[str, Any]
    at: float
    answer: int                 # HTTP status of the answer


@dataclass
class Posted:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    metadata: dict[str, Any] | None
    via: str                    # "api" or "webhook"
    body: dict[str, Any] = field(default_factory=dict)


class FakeSlack:
    def __init__(self, server: HTTPServer, token: str = TOKEN):
        self.server = server
        self.token = token
        self.requests: list[Recorded] = []
        self.messages: list[Posted] = []
        self._failures: dict[str, deque[dict[str, Any]]] = {}
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        server.clear()
        for method in ("chat.postMessage", "conversations.history", "conversations.replies"):
            server.expect_request(f"/api/{method}", method="POST").respond_with_handler(self._api(method))
        server.expect_request(WEBHOOK_PATH, method="POST").respond_with_handler(self._webhook)

    @property
    def base_url(self) -> str:
        return self.server.url_for("/api/")

    @property
    def webhook_url(self) -> str:
        return self.server.url_for(WEBHOOK_PATH)

    def fail(self, kind: str, method: str = "chat.postMessage", times: int = 1, **options: Any) -> None:
        """Script the next ``times`` calls of ``method`` (``webhook`` for the webhook) to fail."""
        for _ in range(times):
            self._failures.setdefault(method, deque()).append({"kind": kind, **options})

    def calls(self, method: str = "chat.postMessage") -> list[Recorded]:
        return [r for r in self.requests if r.method == method]

    def top_level(self) -> list[Posted]:
        return [m for m in self.messages if m.thread_ts is None]

    def replies(self, ts: str) -> list[Posted]:
        return [m for m in self.messages if m.thread_ts == ts]

    def _late(self, seconds: float) -> None:
        self._idle.clear()
        time.sleep(seconds)
        self._idle.set()

    def wait_idle(self, timeout: float = 10) -> None:
        """Until a late answer has gone out (the fake serves one request at a time)."""
        assert self._idle.wait(timeout)
        time.sleep(0.05)

    # -- handlers -----------------------------------------------------------------------------

    def _record(self, method: str, request: Request, body: dict[str, Any], status: int) -> None:
        self.requests.append(Recorded(method, dict(request.headers), body, time.time(), status))

    def _next_failure(self, method: str) -> dict[str, Any] | None:
        queue = self._failures.get(method)
        return queue.popleft() if queue else None

    @staticmethod
    def _body(request: Request) -> dict[str, Any]:
        if request.is_json:
            return request.get_json(silent=True) or {}
        return {k: v for k, v in request.form.items()}

    def _api(self, method: str):
        def handle(request: Request) -> Response:
            body = self._body(request)
            failure = self._next_failure(method)
            if failure and failure["kind"] in ("429", "500", "503"):
                status = int(failure["kind"])
                self._record(method, request, body, status)
                headers = {"Retry-After": str(failure.get("retry_after", 1))} if status == 429 else {}
                return Response(json.dumps({"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"}),
                                status=status, headers=headers, content_type="application/json")
            if failure and failure["kind"] == "error":
                self._record(method, request, body, 200)
                return _json({"ok": False, "error": failure["error"]})
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                self._record(method, request, body, 200)
                return _json({"ok": False, "error": "invalid_auth"})
            self._record(method, request, body, 200)
            if method == "chat.postMessage":
                answer = self._post(body, "api")
            else:
                answer = self._history(method, body)
            if failure and failure["kind"] == "timeout":
                self._late(failure.get("seconds", 1.5))   # accepted, but the answer comes too late
            return _json(answer)
        return handle

    def _post(self, body: dict[str, Any], via: str) -> dict[str, Any]:
        channel = body.get("channel") or "C0WEBHOOK"
        if channel.startswith("#") and channel not in CHANNEL_IDS:
            return {"ok": False, "error": "channel_not_found"}
        channel_id = CHANNEL_IDS.get(channel, channel)
        blocks = body.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        metadata = body.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        with self._lock:
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            self.messages.append(Posted(channel_id, ts, body.get("text") or "", blocks, body.get("thread_ts"),
                                        metadata, via, body))
        return {"ok": True, "channel": channel_id, "ts": ts, "message": {"text": body.get("text"), "ts": ts}}

    def _history(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        channel = CHANNEL_IDS.get(body.get("channel", ""), body.get("channel"))
        if str(channel).startswith("#"):
            return {"ok": False, "error": "channel_not_found"}
        with_metadata = str(body.get("include_all_metadata")).lower() in ("1", "true")
        oldest = float(body.get("oldest") or 0)
        if method == "conversations.replies":
            found = [m for m in self.messages if m.channel == channel
                     and (m.ts == body.get("ts") or m.thread_ts == body.get("ts"))]
        else:
            found = [m for m in self.messages if m.channel == channel and m.thread_ts is None]
        out = []
        for m in reversed(found):
            if float(m.ts) < oldest:
                continue
            item: dict[str, Any] = {"type": "message", "ts": m.ts, "text": m.text}
            if m.thread_ts:
                item["thread_ts"] = m.thread_ts
            if with_metadata and m.metadata:
                item["metadata"] = m.metadata
            out.append(item)
        return {"ok": True, "messages": out, "has_more": False}

    def _webhook(self, request: Request) -> Response:
        body = self._body(request)
        failure = self._next_failure("webhook")
        if failure and failure["kind"] in ("429", "500", "503"):
            status = int(failure["kind"])
            self._record("webhook", request, body, status)
            headers = {"Retry-After": str(failure.get("retry_after", 1))} if status == 429 else {}
            return Response("rate_limited" if status == 429 else "server_error", status=status, headers=headers)
        self._record("webhook", request, body, 200)
        self._post({**body, "channel": "C0WEBHOOK"}, "webhook")
        if failure and failure["kind"] == "timeout":
            self._late(failure.get("seconds", 1.5))
        return Response("ok", status=200, content_type="text/plain")


def _json(data: dict[str, Any]) -> Response:
    return Response(json.dumps(data), status=200, content_type="application/json")

"""A JSON webhook receiver on a local port (pytest-httpserver, a server of its own), recording every
request. Failures are scripted per call: ``fail("429", retry_after=0)``, ``fail("503")``,
``fail("400")``, ``fail("timeout", seconds=1)`` (the document is *accepted*, then the answer comes
too late)."""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

PATH = "/hooks/auditor"


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    answer: int
    accepted: bool    # counted as received (a 2xx, or a timeout after taking it)


class FakeWebhook:
    def __init__(self) -> None:
        self.server = HTTPServer(host="127.0.0.1")
        self.requests: list[Received] = []
        self._failures: deque[dict[str, Any]] = deque()
        self._idle = threading.Event()
        self._idle.set()
        self.server.expect_request(PATH, method="POST").respond_with_handler(self._handle)

    def __enter__(self) -> FakeWebhook:
        self.server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.clear()
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url_for(PATH)

    @property
    def received(self) -> list[Received]:
        return [r for r in self.requests if r.accepted]

    def fail(self, kind: str, times: int = 1, **options: Any) -> None:
        self._failures.extend({"kind": kind, **options} for _ in range(times))

    def wait_idle(self, timeout: float = 10) -> None:
        assert self._idle.wait(timeout)
        time.sleep(0.05)

    def _handle(self, request: Request) -> Response:
        body = json.loads(request.get_data() or b"{}")
        failure = self._failures.popleft() if self._failures else None
        if failure and failure["kind"] != "timeout":
            status = int(failure["kind"])
            self.requests.append(Received(dict(request.headers), body, status, False))
            headers = {"Retry-After": str(failure.get("retry_after", 1))} if status == 429 else {}
            return Response("no", status=status, headers=headers)
        self.requests.append(Received(dict(request.headers), body, 202, True))
        if failure:
            self._idle.clear()
            time.sleep(failure.get("seconds", 1.5))
            self._idle.set()
        return Response("", status=202)

"""Fixtures for the daemon tests: one drifted mattilda deployment shared by the package, the
daemon's settings without a file, and a JSON log capture."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest
import requests

from auditor.daemon.logs import setup_logging
from auditor.emulated.demo import deploy

DRIFTS = ["db-single-az", "ecs-ssh-open"]


@pytest.fixture(scope="package")
def drifted_endpoint(moto_endpoint) -> str:
    """mattilda production with two documented drifts, deployed once for the daemon tests."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    deploy("mattilda", "production", moto_endpoint, DRIFTS)
    return moto_endpoint


@pytest.fixture
def drifted(drifted_endpoint, monkeypatch) -> str:
    """boto3 (and so the daemon) reaches the drifted deployment through AWS_ENDPOINT_URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", drifted_endpoint)
    return drifted_endpoint


@pytest.fixture
def json_logs() -> Iterator[Callable[[], list[dict]]]:
    """The daemon's JSON log lines, parsed (each line must be one JSON object)."""
    buffer = io.StringIO()
    root = logging.getLogger()
    level = root.level
    setup_logging("INFO", stream=buffer)

    def lines() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines()]
    yield lines
    for handler in list(root.handlers):
        if getattr(handler, "_auditor_json", False):
            root.removeHandler(handler)
    root.setLevel(level)

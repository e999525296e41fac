"""Shared fixtures: fake credentials, a moto account, a collector context on it, and a capture of
the daemon's JSON log lines."""
from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest
import requests
from moto import mock_aws

from auditor.aws import AwsContext
from auditor.collect import CollectContext
from auditor.daemon.logs import setup_logging
from auditor.emulated import moto_patches
from auditor.emulated.demo import moto_server

REGION = "us-east-1"


@pytest.fixture(scope="session", autouse=True)
def _moto_as_aws_answers():
    """moto with the documented gaps filled (auditor.emulated.moto_patches), for every test."""
    moto_patches.apply()
    yield


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch, tmp_path):
    """Never reach a real account: fake credentials, fixed region, no endpoint override; and the
    bundled price table only (no price cache of the machine's user)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("AUDITOR_COST__PRICES", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def aws():
    """An emulated AWS account (moto's in-memory backends) with an AwsContext on it."""
    with mock_aws():
        yield AwsContext(region=REGION, max_attempts=2)


@pytest.fixture
def ctx(aws):
    """A collector context over the emulated account."""
    return CollectContext(aws, aws.account)


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's threaded server, in this process, for the whole session."""
    with moto_server() as url:
        yield url


@pytest.fixture
def account(moto_endpoint, monkeypatch):
    """A fresh emulated account that boto3 (and so the CLI) reaches through AWS_ENDPOINT_URL."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


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

"""Fixtures for the daemon tests: one drifted mattilda deployment (and one audit of it) shared by
the package (the capture of the daemon's JSON log lines, ``json_logs``, is in tests/conftest.py)."""
from __future__ import annotations

import pytest
import requests
from daemon_helpers import DRIFTS, make_config

from auditor.emulated.demo import deploy


@pytest.fixture(autouse=True)
def _state_file(tmp_path, monkeypatch):
    """Each test's daemon keeps its state file (changes, notification outbox) in its own temporary folder."""
    monkeypatch.setenv("AUDITOR_STATE__PATH", str(tmp_path / "auditor-state.sqlite3"))


@pytest.fixture(scope="module")
def drifted_endpoint(moto_endpoint) -> str:
    """mattilda production with two documented drifts, deployed once per module: moto's state is the
    process's, so a test of another module on the same worker (a mock_aws one, a reset) may wipe it."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    deploy("mattilda", "production", moto_endpoint, DRIFTS)
    return moto_endpoint


@pytest.fixture
def drifted(drifted_endpoint, monkeypatch) -> str:
    """boto3 (and so the daemon) reaches the drifted deployment through AWS_ENDPOINT_URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", drifted_endpoint)
    return drifted_endpoint


@pytest.fixture(scope="module")
def drifted_audit(drifted_endpoint):
    """One audit of the drifted deployment (result and rule set), for tests that only read it."""
    from auditor.audit import load_ruleset, run_audit
    from auditor.aws import AwsContext
    from auditor.emulated.demo import fake_session

    config = make_config()
    ruleset = load_ruleset(config.architecture, config.rules, config.params)
    aws = AwsContext(region="us-east-1", session=fake_session(), endpoint_url=drifted_endpoint, max_attempts=2)
    return run_audit(config.audit_options(), ruleset, aws=aws), ruleset

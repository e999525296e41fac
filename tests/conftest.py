"""Shared fixtures: fake credentials, a moto account, a collector context on it, and a capture of
the daemon's JSON log lines; and the ``unit``, ``e2e`` and ``slow`` markers, given to each test by what it uses."""
from __future__ import annotations

import io
import json
import logging
import socket
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from moto import mock_aws
from moto.core.models import MockAWS
from xdist.scheduler import LoadScopeScheduling

from auditor.aws import AwsContext
from auditor.collect import CollectContext
from auditor.daemon.logs import setup_logging
from auditor.emulated import moto_patches
from auditor.emulated.architectures import ENVIRONMENTS
from auditor.emulated.builder import _Builder
from auditor.emulated.demo import moto_server

REGION = "us-east-1"
TESTS = Path(__file__).parent

# e2e: moto's server (in this process or its own), a process (the CLI, the daemon, the built wheel, promtool,
# hadolint, ruff) or a socket to a server (the daemon's HTTP, a fake Slack). unit: none of those and no moto.
# The rest run moto in this process (mock_aws). The fixtures tell for most tests; these modules do it in their
# tests' bodies, and a single test says it with @pytest.mark.e2e (the guard below finds a new one).
SERVER_FIXTURES = {"moto_endpoint", "moto_process", "installed", "wheel", "httpserver"}
MOTO_FIXTURES = {"aws", "clients"}
E2E_MODULES = {"daemon/test_daemon_http.py", "daemon/test_daemon_process.py", "daemon/test_daemon_soak.py",
               "emulated/test_demo_serve.py", "monitoring/test_monitoring.py", "monitoring/test_prometheus_e2e.py",
               "notify/test_notify_integration.py", "test_cli_e2e.py", "test_dependencies.py", "test_dockerfile.py",
               "test_lint.py", "test_packaging.py"}
MOTO_MODULES = {"daemon/test_daemon_targets.py", "emulated/test_emulated_architectures.py", "emulated/test_moto_patches.py",
                "emulated/test_regions.py", "emulated/test_tagging_and_neighbours.py", "test_attributes.py",
                "test_fleet_audit.py", "test_targets.py"}


# Under pytest-xdist (scripts/test.sh: -n 2 --dist loadscope) a module's tests run on one worker, so its module
# fixtures (a built wheel, a Prometheus stack, recorded audits) are made once; these modules have no such fixture
# and many tests (every rule's cases and properties, each architecture's builds): they spread over the workers.
SPREAD_MODULES = {"test_rule_files.py", "emulated/test_emulated_architectures.py", "badinput/test_properties.py"}
# test_packs builds each architecture's accounts once per worker and restores them for every drift: its tests
# spread by architecture (the first parameter of each test id), so each account is built on one worker only.
BY_ARCHITECTURE = {"test_packs.py"}


class _ModuleScheduling(LoadScopeScheduling):
    """xdist's loadscope with a module as the scope, except SPREAD_MODULES whose tests go one by one and
    BY_ARCHITECTURE whose tests go by architecture. (Not loadgroup with xdist_group marks: pytest 9.2 ignores
    the node ids xdist renames for it.)"""

    def _split_scope(self, nodeid: str) -> str:
        module, _, test = nodeid.partition("::")
        name = module.removeprefix(f"{TESTS.name}/")
        if name in BY_ARCHITECTURE:
            return next((f"{module}::{a}" for a in ENVIRONMENTS if f"[{a}-" in test or test.endswith(f"[{a}]")), nodeid)
        return nodeid if name in SPREAD_MODULES else module


# The modules that take longest (about 50 to 10 s of a worker's time each) run first, so that the two workers
# finish together instead of one of them starting the soak when the other is nearly done.
LONGEST_FIRST = ("daemon/test_daemon_soak.py", "test_packaging.py", "test_packs.py", "badinput/test_properties.py",
                 "emulated/test_regions.py", "cost/test_estimates.py", "test_cli_e2e.py",
                 "emulated/test_emulated_architectures.py", "daemon/test_daemon_process.py",
                 "monitoring/test_prometheus_e2e.py", "notify/test_notify_integration.py", "emulated/test_demo_serve.py")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
    """Scopes go out in the order of collection (LONGEST_FIRST), not xdist's most-tests-first."""
    if config.getvalue("dist") != "loadscope":
        return None
    config.option.loadscopereorder = False
    return _ModuleScheduling(config, log)


# slow: every e2e test, and the tests that build a documented deployment (the modules below build one for
# each test or in a module fixture; elsewhere the test says it with @pytest.mark.slow, and the guard below
# finds a new one). -m "not slow" is what is left: no process, no server, no emulated deployment.
SLOW_MODULES = {"cost/test_estimates.py", "cost/test_spend.py", "emulated/test_emulated_architectures.py",
                "emulated/test_regions.py", "emulated/test_tagging_and_neighbours.py", "test_attributes.py",
                "daemon/test_daemon_targets.py", "test_fleet_audit.py"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.relative_to(TESTS).as_posix(), len(rank)))   # stable: the rest as found
    for item in items:
        module = item.path.relative_to(TESTS).as_posix()
        uses = set(getattr(item, "fixturenames", ()))
        if uses & SERVER_FIXTURES or module in E2E_MODULES:
            item.add_marker(pytest.mark.e2e)
        elif item.get_closest_marker("e2e") is None and not uses & MOTO_FIXTURES and module not in MOTO_MODULES:
            item.add_marker(pytest.mark.unit)
        if item.get_closest_marker("e2e") is not None or module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _unit_guard(request, monkeypatch):
    """A ``unit`` test that starts moto, a process or a connection fails, naming what it did: mark it (or list
    its module above)."""
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(what: str) -> Callable[..., None]:
        def call(*args, **kwargs) -> None:
            raise AssertionError(f"a unit test {what}: mark it e2e, or list {request.node.path.name} in tests/conftest.py")
        return call
    monkeypatch.setattr(MockAWS, "start", refuse("starts moto (mock_aws)"))
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse("starts a process"))
    monkeypatch.setattr(socket.socket, "connect", refuse("opens a connection"))


@contextmanager
def _no_builds(item: pytest.Item) -> Iterator[None]:
    """Outside ``slow``, building a documented deployment (in the test or in a fixture it sets up) fails,
    saying so: mark the test slow, or list its module above."""
    if item.get_closest_marker("slow") is not None:
        yield
        return

    def refuse(*args, **kwargs) -> None:
        raise AssertionError(f"a test outside 'slow' builds an emulated deployment: mark it @pytest.mark.slow, "
                             f"or list {item.path.name} in SLOW_MODULES of tests/conftest.py")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_Builder, "run", refuse)
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _no_builds(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _no_builds(item):
        yield


@pytest.fixture(scope="session", autouse=True)
def _moto_as_aws_answers():
    """moto with the documented gaps filled (auditor.emulated.moto_patches), for every test."""
    moto_patches.apply()
    yield


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch, tmp_path):
    """Never reach a real account: fake credentials, fixed region, no endpoint override; and the
    bundled price table only (no price cache of the machine's user); reports as wide as the CLI makes them
    (pytest-xdist's workers set COLUMNS=80)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("AUDITOR_COST__PRICES", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    for name, value in moto_patches.SETTINGS.items():   # as the emulated accounts run moto, under mock_aws too
        monkeypatch.setenv(name, value)


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

"""The embedded default account: moto's server in this process, a documented deployment built
into it, optional drifts applied, and an AwsContext pointing at it (never at real AWS).

* :func:`deploy` - one architecture in one environment (plus the environments its drifts need).
* :func:`deploy_many` - several architectures/environments into one account, optionally with the
  neighbour application (:mod:`.neighbour`, project ``billing``), drifts applied last.
* :func:`companions` - the other environments of an architecture that fit in the same account.

``region`` (default :data:`REGION`) is where everything is built and what the AwsContext
audits: moto keeps each region's resources apart, as AWS does.

``tagging`` is the builder's tagging style (:data:`~auditor.emulated.builder.TAGGING`): ``"all"``
tags every resource with Project/Environment, ``"owners"`` only the VPC, ECS cluster and
services, load balancer, database, cache and ECR repositories.
"""
from __future__ import annotations

import functools
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import requests

from ..aws import AwsContext
from . import drifts as drift_registry
from . import moto_patches
from .architectures import ENVIRONMENTS, spec
from .builder import DEFAULT_REGION, Deployment, Spec, build, name_collisions
from .neighbour import billing

DEFAULT_ARCHITECTURE = "mattilda"
REGION = DEFAULT_REGION
# moto's fixed fake credentials: the emulated account must never see real ones.
_FAKE = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_session_token": "testing"}


def drift_names(architecture: str) -> list[str]:
    return [f"{d.name}\t{d.area}\t{d.description}" for d in drift_registry.drifts_for(architecture)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def moto_server() -> Iterator[str]:
    """moto's threaded server on a free loopback port, patched for the documented gaps."""
    from moto.server import ThreadedMotoServer

    moto_patches.apply()
    for name, value in moto_patches.SETTINGS.items():   # for the server's life: it makes backends as asked
        os.environ.setdefault(name, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log on the terminal
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    _remember_backends(server._server.app)
    url = f"http://127.0.0.1:{port}"
    # moto's state is per process: start from an empty account even if another server ran here.
    requests.post(f"{url}/moto-api/reset", timeout=30).raise_for_status()
    try:
        yield url
    finally:
        server.stop()



def _remember_backends(app: Any) -> None:
    """moto's dispatcher finds each request's backend under one lock for all requests, listing moto's
    package folder and matching its URL patterns every time: remember each host's answer (a host always
    maps to the same backend), so concurrent collectors are not served one by one."""
    lookup = app.get_backend_for_host
    known: dict[str | None, Any] = {}

    def backend_for(host: str | None) -> Any:
        if host not in known:
            known[host] = lookup(host)
        return known[host]
    app.get_backend_for_host = backend_for


@contextmanager
def moto_process(timeout: float = 30) -> Iterator[str]:
    """moto's server (from this Python's environment) in a process of its own, unpatched: an
    account whose memory is not this process's, or that another installation reaches."""
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-p", str(port)],
                              env={**moto_patches.SETTINGS, **os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                requests.get(f"{url}/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"moto_server did not start on port {port}") from None
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)

def fake_session(region: str = REGION) -> boto3.Session:
    return boto3.Session(region_name=region, **_FAKE)


def _check_documented(architecture: str, environment: str) -> None:
    if environment not in ENVIRONMENTS.get(architecture, ()):
        known = ", ".join(ENVIRONMENTS.get(architecture, ())) or "none"
        raise ValueError(f"{architecture} documents the environments {known}, not {environment!r}")


@functools.lru_cache(maxsize=8)
def _clients(endpoint: str, region: str) -> Callable[[str], Any]:
    """One client per service at ``endpoint`` in ``region``, kept for later calls (creating boto3
    clients costs about as much as building a deployment into moto)."""
    session, made = fake_session(region), {}

    def clients(service: str):
        if service not in made:
            made[service] = session.client(service, endpoint_url=endpoint)
        return made[service]
    return clients


def companions(architecture: str, environment: str) -> list[str]:
    """The other documented environments of ``architecture`` that can be deployed into the same
    account as ``environment``: their account-unique names (cluster, load balancer, target
    groups, database, roles, alarms, ...) differ. Shared resources (secrets, log groups, ECR
    repositories named without an environment) are reused by the later deployment.

    mattilda, portfolio and indii-music name their resources per environment; miss-you-app and
    fckdoomscroll name their load balancer, target group, database, roles and alarms once for
    every environment, so each of their environments needs an account of its own."""
    _check_documented(architecture, environment)
    mine = spec(architecture, environment)
    return [e for e in ENVIRONMENTS[architecture]
            if e != environment and not name_collisions(spec(architecture, e), [mine])]


def deploy_many(endpoint: str, entries: Sequence[tuple[str, str] | tuple[str, str, Sequence[str]]], *,
                tagging: str = "all", neighbour: bool = False, region: str = REGION) -> list[Deployment]:
    """Build several deployments into the account at ``endpoint``, in ``region``; return them in order.

    ``entries``: ``(architecture, environment)`` or ``(architecture, environment, drifts)``,
    built in order; then, with ``neighbour=True``, the neighbour application (project
    ``billing``, appended last to the result); then each entry's drifts, applied to its own
    deployment once everything is built. An entry whose account-unique names clash with an
    earlier one is refused (ValueError) before anything is built; shared resources (secrets,
    log groups, ECR repositories) that exist already are reused, listed in
    ``Deployment.reused``."""
    specs: list[Spec] = []
    drift_lists: list[Sequence[str]] = []
    for entry in entries:
        architecture, environment, *rest = entry
        _check_documented(architecture, environment)
        names = list(rest[0]) if rest else []
        for name in names:
            drift_registry.get(architecture, name)  # unknown drift: KeyError before building
        specs.append(spec(architecture, environment, region))
        drift_lists.append(names)
    if neighbour:
        specs.append(billing(region=region))
    for i, one in enumerate(specs):
        if clashes := name_collisions(one, specs[:i]):
            raise ValueError(f"{one.project} {one.environment} cannot share the account with "
                             f"{', '.join(f'{o.project} {o.environment}' for o in specs[:i])}: "
                             f"{', '.join(clashes)}")
    deployments = [build(one, _clients(endpoint, region), tagging=tagging) for one in specs]
    for (architecture, *_), names, deployment in zip(entries, drift_lists, deployments, strict=False):
        apply_drifts(endpoint, architecture, deployment, names, region=region)
    return deployments


def apply_drifts(endpoint: str, architecture: str, deployment: Deployment, names: Sequence[str], *,
                 region: str = REGION) -> None:
    """Apply the named drifts of ``architecture``, in order, to ``deployment`` (built at ``endpoint``)."""
    for name in names:
        drift_registry.get(architecture, name).change(_clients(endpoint, region), deployment)


def deploy(architecture: str, environment: str, endpoint: str,
           drifts: Sequence[str] = (), *, tagging: str = "all", region: str = REGION) -> Deployment:
    """Build the documented deployment at ``endpoint`` in ``region`` and apply the named drifts; return it.

    A drift that needs other environments deployed beside it (``Drift.environments``) gets
    them: they are built after this one, undrifted."""
    _check_documented(architecture, environment)
    others: list[str] = []
    for name in drifts:
        others += [e for e in drift_registry.get(architecture, name).environments
                   if e != environment and e not in others]
    entries: list[tuple[str, str] | tuple[str, str, Sequence[str]]] = [(architecture, environment, drifts)]
    entries += [(architecture, e) for e in others]
    return deploy_many(endpoint, entries, tagging=tagging, region=region)[0]


@contextmanager
def emulated_account(architecture: str, environment: str = "production", drifts: Sequence[str] = (),
                     tagging: str = "all", region: str = REGION) -> Iterator[AwsContext]:
    """moto's server with the documented deployment built in ``region``, and an AwsContext auditing that region."""
    with moto_server() as endpoint:
        deploy(architecture, environment, endpoint, drifts, tagging=tagging, region=region)
        yield AwsContext(region=region, session=fake_session(region), endpoint_url=endpoint, max_attempts=2)

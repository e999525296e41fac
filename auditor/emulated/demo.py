"""The embedded default account: moto's server in this process, a documented deployment built
into it, optional drifts applied, and an AwsContext pointing at it (never at real AWS)."""
from __future__ import annotations

import logging
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import boto3
import requests

from ..aws import AwsContext
from . import drifts as drift_registry
from . import moto_patches
from .architectures import ENVIRONMENTS, spec
from .builder import Deployment, build

DEFAULT_ARCHITECTURE = "mattilda"
REGION = "us-east-1"
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
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log on the terminal
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    # moto's state is per process: start from an empty account even if another server ran here.
    requests.post(f"{url}/moto-api/reset", timeout=30).raise_for_status()
    try:
        yield url
    finally:
        server.stop()


def fake_session() -> boto3.Session:
    return boto3.Session(region_name=REGION, **_FAKE)


def deploy(architecture: str, environment: str, endpoint: str,
           drifts: Sequence[str] = ()) -> Deployment:
    """Build the documented deployment at ``endpoint`` and apply the named drifts."""
    if environment not in ENVIRONMENTS.get(architecture, ()):
        known = ", ".join(ENVIRONMENTS.get(architecture, ())) or "none"
        raise ValueError(f"{architecture} documents the environments {known}, not {environment!r}")
    session = fake_session()

    def clients(service: str):
        return session.client(service, endpoint_url=endpoint)
    deployment = build(spec(architecture, environment), clients)
    for name in drifts:
        drift_registry.get(architecture, name).change(clients, deployment)
    return deployment


@contextmanager
def emulated_account(architecture: str, environment: str = "production",
                     drifts: Sequence[str] = ()) -> Iterator[AwsContext]:
    with moto_server() as endpoint:
        deploy(architecture, environment, endpoint, drifts)
        yield AwsContext(region=REGION, session=fake_session(), endpoint_url=endpoint, max_attempts=2)

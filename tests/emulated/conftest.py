"""Fixtures for the emulated-account tests: moto in-process (mock_aws) and moto's threaded server."""
from __future__ import annotations

import logging
import urllib.request

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

REGION = "us-east-1"


@pytest.fixture(scope="session")
def moto_server_url():
    """One in-process moto server on a free port for the whole session."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request log lines
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def server_endpoint(moto_server_url, monkeypatch):
    """Point plain boto3 clients at the moto server (AWS_ENDPOINT_URL), with a clean state."""
    request = urllib.request.Request(f"{moto_server_url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server_url)
    return moto_server_url


@pytest.fixture(params=["mock_aws", "server"])
def clients(request):
    """A function service -> boto3 client, against mock_aws or against the moto server."""

    def make(service: str):
        return boto3.client(service, region_name=REGION)

    if request.param == "mock_aws":
        with mock_aws():
            yield make
    else:
        request.getfixturevalue("server_endpoint")
        yield make

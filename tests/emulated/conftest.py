"""Fixtures for the emulated-account tests: boto3 clients on moto in-process (mock_aws) or on moto's server
(``account`` of tests/conftest.py)."""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

REGION = "us-east-1"


@pytest.fixture(params=["mock_aws", "server"])
def clients(request):
    """A function service -> boto3 client, against mock_aws or against the moto server."""

    def make(service: str):
        return boto3.client(service, region_name=REGION)

    if request.param == "mock_aws":
        with mock_aws():
            yield make
    else:
        request.getfixturevalue("account")
        yield make

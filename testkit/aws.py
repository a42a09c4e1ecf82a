"""Helpers for tests that talk to moto's server over HTTP on loopback."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config

from local import emulator


@contextmanager
def moto_server() -> Iterator[str]:
    """Run moto's server for the duration; yields its endpoint URL."""
    proc: subprocess.Popen[bytes] = emulator.start_moto(0)  # it binds a free port itself
    try:
        yield f"http://127.0.0.1:{emulator.moto_port(proc)}"
    finally:
        proc.kill()  # its state is the test's own; moto's server takes seconds to stop on SIGTERM
        proc.wait(timeout=10)


def client(service: str, endpoint: str) -> Any:
    """An ordinary boto3 client pointed at the emulator."""
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=emulator.REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 3}),
    )


def create_state_table(endpoint: str) -> str:
    """A fresh table with the StateTable definition of the infrastructure stack; returns its name."""
    from infra.stack import infrastructure

    props = infrastructure("local")["Resources"]["StateTable"]["Properties"]
    name = f"hookway-test-{uuid.uuid4().hex[:12]}"
    client("dynamodb", endpoint).create_table(
        TableName=name,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )
    return name

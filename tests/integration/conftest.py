"""Integration fixtures: moto's server over HTTP, and each port as fake and as real adapter."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.aws.dynamo import DynamoStore
from chalicelib.aws.s3 import S3BlobStore
from chalicelib.aws.sqs import SqsQueue
from testkit import aws
from testkit.fakes import FakeClock, MemoryBlobs, MemoryQueue, MemoryStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def endpoint() -> Iterator[str]:
    with aws.moto_server() as url:
        yield url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "dynamodb"])
def store(request: pytest.FixtureRequest, clock: FakeClock) -> Any:
    if request.param == "memory":
        return MemoryStore(clock)
    endpoint = request.getfixturevalue("endpoint")
    return DynamoStore(aws.client("dynamodb", endpoint), aws.create_state_table(endpoint), clock)


@pytest.fixture(params=["memory", "sqs"])
def queue(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return MemoryQueue()
    endpoint = request.getfixturevalue("endpoint")
    sqs = aws.client("sqs", endpoint)
    url = sqs.create_queue(
        QueueName=f"q-{uuid.uuid4().hex[:10]}", Attributes={"MaximumMessageSize": "1048576"}
    )["QueueUrl"]
    q = SqsQueue(sqs, url)
    q.sqs = sqs  # type: ignore[attr-defined]
    return q


@pytest.fixture(params=["memory", "s3"])
def blobs(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return MemoryBlobs()
    endpoint = request.getfixturevalue("endpoint")
    s3 = aws.client("s3", endpoint)
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    return S3BlobStore(s3, bucket)

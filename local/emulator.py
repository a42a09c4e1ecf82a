"""Start moto's server on loopback and deploy the local stage's infrastructure stack to its CloudFormation.

The same template builder ``make deploy`` and ``make package`` use (``infra/stack.py``); there are no
functions in the emulator: the local API server and queue workers play them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
STAGE = "local"
STACK_NAME = f"hookway-{STAGE}-infra"
REGION = "us-east-1"

# Fixed dummy credentials: moto accepts anything, and nothing may ever reach real AWS from here.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that turns CloudFormation's short tags (!Ref, !GetAtt, !Sub) into their long forms."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def emulator_template() -> str:
    """The local stage's infrastructure stack."""
    from infra.stack import infrastructure

    return json.dumps(infrastructure(STAGE))


_PORTS: dict[int, int] = {}


def moto_port(proc: subprocess.Popen[bytes]) -> int:
    """The port a server started by ``start_moto`` listens on."""
    return _PORTS[proc.pid]


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_LISTENING = re.compile(rb"Running on http://127\.0\.0\.1:([0-9]+)")


def start_moto(port: int, log_path: Path | None = None, *, held: bool = False) -> subprocess.Popen[bytes]:
    """Run moto's server as a child process on 127.0.0.1:port and wait until it answers.

    Port 0 lets the server choose a free port itself (no race with other processes between picking a
    port and binding it); ``moto_port(proc)`` then tells which. ``held``: the server ignores SIGINT and
    SIGTERM (``local/moto_child.py``), so the caller can save its state after a Ctrl-C, then ``kill()`` it.
    """
    if log_path is None:
        log_path = Path(tempfile.mkstemp(prefix="moto-", suffix=".log")[1])
    start = log_path.stat().st_size if log_path.exists() else 0
    # Private (0600): beside the local stack's state, and what the emulator logs is that state's traffic.
    out = os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    # Always our launcher: it installs the emulator's speed-ups (local/moto_speedups.py) before moto starts.
    command = [str(Path(__file__).with_name("moto_child.py")), *(["--held"] if held else [])]
    proc = subprocess.Popen(
        [sys.executable, *command, "-H", "127.0.0.1", "-p", str(port)],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, **AWS_ENV},
    )
    deadline = time.monotonic() + 30
    while port == 0 and time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        with log_path.open("rb") as log:
            log.seek(start)
            found = _LISTENING.search(log.read())
        if found:
            port = int(found.group(1))
            break
        time.sleep(0.05)
    _PORTS[proc.pid] = port
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start within 30 s")


def _client(boto3: Any, service: str, endpoint_url: str) -> Any:
    """A client of the emulator's ``service``, with its dummy credentials."""
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - the emulator's dummy credential
    )


def deploy(endpoint_url: str) -> dict[str, str]:
    """Create the stack from the template in the emulator; returns the environment Hookway needs."""
    import boto3

    cfn = _client(boto3, "cloudformation", endpoint_url)
    cfn.create_stack(StackName=STACK_NAME, TemplateBody=emulator_template())
    deadline = time.monotonic() + 60
    while True:
        stack = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
        status = stack["StackStatus"]
        if status == "CREATE_COMPLETE":
            break
        if status.endswith("FAILED") or "ROLLBACK" in status or time.monotonic() > deadline:
            raise RuntimeError(f"stack {STACK_NAME} ended in {status}")
        time.sleep(0.2)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    from chalicelib.aws.dynamodb.listing import Era

    # A new table: its listing era says it holds no older layout's entry and no message before now
    # (a restored dump brings its own, or ``local.state`` records an upgraded one).
    db = _client(boto3, "dynamodb", endpoint_url)
    db.put_item(TableName=outputs["StateTableName"], Item=Era.fresh(time.time()).to_item())
    return {
        **AWS_ENV,
        "HOOKWAY_AWS_ENDPOINT_URL": endpoint_url,
        "HOOKWAY_TABLE": outputs["StateTableName"],
        "HOOKWAY_BUCKET": outputs["PayloadBucketName"],
        "HOOKWAY_INGEST_QUEUE_URL": outputs["IngestQueueUrl"],
        "HOOKWAY_INGEST_DLQ_URL": outputs["IngestDeadLetterQueueUrl"],
        "HOOKWAY_DELIVERIES_QUEUE_URL": outputs["DeliveriesQueueUrl"],
        "HOOKWAY_SLOW_DELIVERIES_QUEUE_URL": outputs["SlowDeliveriesQueueUrl"],
        "HOOKWAY_DELIVERIES_DLQ_URL": outputs["DeliveriesDeadLetterQueueUrl"],
        "HOOKWAY_KMS_KEY_ID": outputs["SecretsKeyArn"],
    }


def start_release_here(env: Mapping[str, str], now: float | None = None) -> None:
    """Give a new stack's release step its checkpoint: the due-time bucket of ``now`` (its creation).

    Without one, the release step's first run starts a day back (``chalicelib.outbound.parking``), which
    is right for a deployed stage's first run and costs it a few thousand queries once; an emulator is a
    new stage at every start, and a day of empty buckets is tens of seconds of a loaded machine's CPU at
    every start. Nothing can be parked in a stack before it exists, so nothing is skipped. Not for a stack
    loaded with saved state (``make dev``'s restore brings its own checkpoint)."""
    import boto3

    from chalicelib.aws.dynamodb.counters import checkpoint_key
    from chalicelib.outbound.parking import CHECKPOINT, bucket_of

    table = _client(boto3, "dynamodb", env["HOOKWAY_AWS_ENDPOINT_URL"])
    started = bucket_of(time.time() if now is None else now)
    with contextlib.suppress(table.exceptions.ConditionalCheckFailedException):
        table.put_item(
            TableName=env["HOOKWAY_TABLE"],
            Item={**checkpoint_key(CHECKPOINT), "value": {"S": str(started)}},
            ConditionExpression="attribute_not_exists(pk)",  # never moves a checkpoint a run wrote
        )

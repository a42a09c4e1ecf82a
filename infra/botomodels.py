"""Trimmed botocore data for the Lambda package: only the operations the functions call, no documentation.

Making a botocore client loads its service's whole model (DynamoDB's is 556 KB of JSON, KMS's 538 KB,
mostly documentation strings) and, once per session, ``endpoints.json`` (1.25 MB: every region of every
AWS service). The API function's first webhook makes three clients (DynamoDB for the source, KMS for its
secrets' data key, SQS for the message), so a cold start parsed about 2.5 MB of JSON it never used.

At package time (``infra.package.stage_project``) this module writes, from the pinned botocore installed
here, into the package's ``chalicelib/aws/botocore-data/`` (the directory ``chalicelib.aws.botomodels``
puts first on the composition root's session's loader search path):

- for each service the composition root makes a client of (``SERVICES``), its ``service-2.json`` with only
  the operations in ``OPERATIONS`` (every one a function calls; ``tests/unit/test_botomodels.py`` checks
  the code and the IAM policies against the list, ``tests/integration/test_iam_calls.py`` runs every
  handler on the trimmed models and checks each call made) and the operations botocore itself may call
  (an endpoint-discovery operation), the shapes they reach and every error shape (so ``client.exceptions``
  and error parsing are unchanged), without documentation;
- ``endpoints.json`` with every partition and region, and only those services.

Anything not written here (endpoint rule sets, retry and default configs, paginators, waiters, another
service's model) is found further down the search path, in botocore's own data, as before.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: The services ``chalicelib.wiring`` makes clients of (``Root._client`` / ``Shared.client``).
SERVICES = ("dynamodb", "sqs", "kms", "s3", "ssm", "secretsmanager")

#: Per service, every operation a function's code calls (any role: api, router, senders, sweep, dead letters).
OPERATIONS: dict[str, frozenset[str]] = {
    "dynamodb": frozenset(
        {
            "BatchGetItem",
            "BatchWriteItem",
            "DeleteItem",
            "GetItem",
            "PutItem",
            "Query",
            "TransactGetItems",
            "TransactWriteItems",
            "UpdateItem",
        }
    ),
    "sqs": frozenset(
        {"ChangeMessageVisibilityBatch", "DeleteMessageBatch", "SendMessage", "SendMessageBatch"}
    ),
    # Sign and Verify: names the code also gives to its own signing and verification functions.
    "kms": frozenset({"Decrypt", "Encrypt", "GenerateDataKey", "Sign", "Verify"}),
    # HeadBucket: botocore's own S3 region redirector calls it after a wrong-region answer.
    "s3": frozenset({"GetObject", "HeadBucket", "HeadObject", "PutObject"}),
    "ssm": frozenset({"GetParameter"}),
    # RotateSecret: the name of an endpoint route's function too.
    "secretsmanager": frozenset({"GetSecretValue", "RotateSecret"}),
}

MODELS_DIR = Path("chalicelib") / "aws" / "botocore-data"  # inside the staged project


def _loader() -> Any:
    import botocore.session

    return botocore.session.get_session().get_component("data_loader")


def _undocumented(ref: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ref.items() if k not in ("documentation", "documentationUrl")}


def trim_service(model: dict[str, Any], keep: frozenset[str]) -> dict[str, Any]:
    """A service model with only ``keep`` (and an endpoint-discovery operation), the shapes they reach and
    every error shape, without documentation. KeyError if an operation of ``keep`` is not in the model."""
    operations = {name: model["operations"][name] for name in sorted(keep)}
    for name, op in model["operations"].items():
        if op.get("endpointoperation"):
            operations[name] = op
    shapes: dict[str, Any] = model["shapes"]
    wanted = [name for name, shape in shapes.items() if shape.get("exception")]
    for op in operations.values():
        wanted += [ref["shape"] for ref in (op.get("input"), op.get("output")) if ref]
        wanted += [ref["shape"] for ref in op.get("errors", ())]
    reached: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name in reached:
            continue
        reached.add(name)
        shape = shapes[name]
        refs = list(shape.get("members", {}).values())
        refs += [shape[k] for k in ("member", "key", "value") if k in shape]
        wanted += [ref["shape"] for ref in refs]
    trimmed_shapes = {}
    for name in sorted(reached):
        shape = _undocumented(shapes[name])
        if "members" in shape:
            shape["members"] = {m: _undocumented(ref) for m, ref in shape["members"].items()}
        for k in ("member", "key", "value"):
            if k in shape:
                shape[k] = _undocumented(shape[k])
        trimmed_shapes[name] = shape
    trimmed_ops = {}
    for name, whole in operations.items():
        op = _undocumented(whole)
        for k in ("input", "output"):
            if k in op:
                op[k] = _undocumented(op[k])
        if "errors" in op:
            op["errors"] = [_undocumented(ref) for ref in op["errors"]]
        trimmed_ops[name] = op
    top = _undocumented(model)
    return {**top, "operations": trimmed_ops, "shapes": trimmed_shapes}


def trim_endpoints(endpoints: dict[str, Any], services: tuple[str, ...]) -> dict[str, Any]:
    """``endpoints.json`` with every partition and its regions, and only ``services``."""
    partitions = [
        {**p, "services": {k: v for k, v in p["services"].items() if k in services}}
        for p in endpoints["partitions"]
    ]
    return {**endpoints, "partitions": partitions}


def write(directory: Path) -> dict[str, int]:
    """Write the trimmed data under ``directory`` (a botocore data directory); the bytes of each file."""
    import botocore

    loader = _loader()
    sizes: dict[str, int] = {}

    def put(rel: str, data: dict[str, Any]) -> None:
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, separators=(",", ":"))
        path.write_text(text, encoding="utf-8")
        sizes[rel] = len(text)

    for service in SERVICES:
        version = loader.determine_latest_version(service, "service-2")
        model = loader.load_data(f"{service}/{version}/service-2")
        put(f"{service}/{version}/service-2.json", trim_service(model, OPERATIONS[service]))
    put("endpoints.json", trim_endpoints(loader.load_data("endpoints"), SERVICES))
    (directory / "BOTOCORE_VERSION").write_text(botocore.__version__ + "\n", encoding="utf-8")
    return sizes

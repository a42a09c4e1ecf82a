"""What the benchmarks feed the code: signed bodies, API Gateway proxy events, the app on in-memory fakes.

Only the standard library is imported at module level, so a fresh interpreter that measures Hookway's cold
start can import this module without pre-loading anything Hookway's own cold path would load.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import tempfile
import time
import uuid
from typing import Any

GITHUB_SECRET = "It's a Secret to Everybody"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"hookway-bench-standard-webhooks-key!").decode()
ADMIN_KEY = "hk_bench_admin_key_0123456789"


def emulated_env(endpoint: str, **extra: str) -> dict[str, str]:
    """The settings of a stack deployed to the emulator at ``endpoint``, as ``make dev`` sets them: the
    bench admin key, loopback receivers and plain http allowed explicitly; ``extra`` adds or overrides."""
    from local import emulator

    env = emulator.deploy(endpoint)
    env.update(
        {
            "HOOKWAY_STAGE": "local",
            "HOOKWAY_ADMIN_KEY": ADMIN_KEY,
            "HOOKWAY_PUBLIC_URL": "",
            "HOOKWAY_ALLOW_PRIVATE_DESTINATIONS": "true",
            "HOOKWAY_ALLOW_HTTP": "true",
            **extra,
        }
    )
    return env


# A closed loopback port: if anything ever made a real boto3 call while the fakes are in place, it would fail
# here at once instead of reaching out of the machine.
DEAD_ENDPOINT = "http://127.0.0.1:9"
BENCH_ENV = {
    "HOOKWAY_STAGE": "local",
    "HOOKWAY_ADMIN_KEY": ADMIN_KEY,
    "HOOKWAY_AWS_ENDPOINT_URL": DEAD_ENDPOINT,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh interpreter the bench starts: bytecode cached, outside the repository.

    Caches are written under a temporary prefix (not into the work tree), so after one untimed run each
    timed run imports from bytecode, as a deployment that ships compiled modules would.
    """
    prefix = os.path.join(tempfile.gettempdir(), "hookway-bench-pycache")
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": prefix, **extra}


def json_body(size: int) -> bytes:
    """A realistic webhook JSON body of exactly ``size`` bytes: an event with a list of line items."""

    def dumps(doc: Any) -> str:
        return json.dumps(doc, separators=(",", ":"))

    def item(i: int) -> dict[str, Any]:
        return {
            "id": f"li_{i:05d}",
            "sku": f"SKU-{i:05d}",
            "qty": 1 + i % 3,
            "price": 1999,
            "currency": "eur",
            "desc": "A line item with a short description",
        }

    doc: dict[str, Any] = {
        "type": "invoice.paid",
        "id": "evt_2Qh7bench",
        "created": 1_800_000_000,
        "data": {"items": []},
        "pad": "",
    }
    per_item = len(dumps(item(0))) + 1
    doc["data"]["items"] = [item(i) for i in range(max(0, (size - len(dumps(doc))) // per_item - 1))]
    doc["pad"] = "x" * max(0, size - len(dumps(doc)))
    return dumps(doc).encode()


def github_headers(body: bytes, delivery: str = "d-1") -> dict[str, str]:
    """The headers GitHub would send with ``body``."""
    digest = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/bench",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": f"sha256={digest}",
    }


def standard_headers(body: bytes, timestamp: int, msg_id: str = "msg_2Qh7bench") -> dict[str, str]:
    """Standard Webhooks headers for ``body`` signed at ``timestamp`` with STANDARD_SECRET."""
    key = base64.b64decode(STANDARD_SECRET.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{signature}"}


def proxy_event(
    method: str,
    resource: str,
    path: str,
    *,
    headers: dict[str, str],
    body: bytes | None = None,
    path_params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The API Gateway REST (proxy integration) event for one request, as Lambda hands it to Chalice."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": path_params,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "apiId": "abc123",
            "identity": {"sourceIp": "192.0.2.10", "userAgent": headers.get("User-Agent", "")},
        },
        "body": body.decode("utf-8") if body is not None else None,
        "isBase64Encoded": False,
    }


def ingest_event(source_id: str, body: bytes, delivery: str = "d-1") -> dict[str, Any]:
    """The proxy event of a GitHub-signed ``POST /in/{source_id}``."""
    headers = {
        "Host": "abc123.execute-api.us-east-1.amazonaws.com",
        "X-Forwarded-Proto": "https",
        **github_headers(body, delivery),
    }
    return proxy_event(
        "POST",
        "/in/{source_id}",
        f"/in/{source_id}",
        headers=headers,
        body=body,
        path_params={"source_id": source_id},
    )


def lambda_context() -> Any:
    """A Lambda context object like the one the runtime passes."""
    from chalice.local import LambdaContext

    return LambdaContext("api_handler", 512, max_runtime_ms=30_000)


def use_bench_environment() -> None:
    """Point Hookway's settings at the bench values (loopback only) for this process."""
    os.environ.update(BENCH_ENV)


def app_on_fakes() -> tuple[Any, Any, str]:
    """Hookway's Chalice app with the container's AWS adapters replaced by the in-memory fakes.

    Returns ``(app, container, source_id)`` with one GitHub source created. The container is the one
    ``chalicelib.wiring.api_root()`` builds from the environment, so every other part is the real one.
    """
    use_bench_environment()
    import app as app_module
    from chalicelib import wiring
    from testkit.fakes import MemoryBlobs, MemoryQueue, MemoryStore

    wiring.reset()
    from chalicelib.api.sources import parse_create as parse_create_source

    container = wiring.api_root()
    container.use(store=MemoryStore(container.clock), ingest_queue=MemoryQueue(), blobs=MemoryBlobs())
    source = container.sources.create(
        parse_create_source(
            {
                "name": "bench",
                "dedupe": "header:X-GitHub-Delivery",
                "verification": {"scheme": "github", "secrets": [GITHUB_SECRET]},
            }
        )
    )
    return app_module.app, container, source.id


def bare_app() -> Any:
    """The smallest Chalice app with the same route shape: it answers ``{"id": "x"}`` with 202."""
    from chalice import Chalice, Response

    bare = Chalice(app_name="bare")

    @bare.route("/in/{source_id}", methods=["POST"])
    def receive(source_id: str) -> Response:
        return Response(body={"id": "x"}, status_code=202)

    return bare

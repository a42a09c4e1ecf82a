"""The API about itself: health, its OpenAPI document, the addresses deliveries come from."""

from __future__ import annotations

from pathlib import Path

from chalice.app import Response

from chalicelib.api.resource import Resource, container, json_reply

routes = Resource(__name__)

HERE = Path(__file__).resolve().parent
DOCUMENT = HERE / "openapi.yaml"
# Built from DOCUMENT when the package is made (infra.package) and by the local stack (python -m local
# openapi); never committed. Without it, or older than the document (edited since), the view builds it.
DOCUMENT_JSON = HERE / "openapi.json"


@routes.operation("/v1/health", ["GET"], access="public")
def health() -> Response:
    """200 when the state table answers; 503 otherwise."""
    return json_reply(container().health())


@routes.operation("/v1/openapi.json", ["GET"], access="public")
def openapi_json() -> Response:
    """This API's OpenAPI 3.1 document as JSON (built from ``openapi.yaml`` at package time)."""
    try:
        fresh = DOCUMENT_JSON.stat().st_mtime_ns >= DOCUMENT.stat().st_mtime_ns
    except FileNotFoundError:
        fresh = False
    text = DOCUMENT_JSON.read_text(encoding="utf-8") if fresh else as_json(DOCUMENT.read_bytes())
    return _document(text, "application/json")


@routes.operation("/v1/openapi.yaml", ["GET"], access="public")
def openapi_yaml() -> Response:
    """This API's OpenAPI 3.1 document as written."""
    return _document(DOCUMENT.read_text(encoding="utf-8"), "application/yaml")


def _document(text: str, media_type: str) -> Response:
    return Response(
        body=text,
        status_code=200,
        headers={"Content-Type": f"{media_type}; charset=utf-8", "Cache-Control": "public, max-age=300"},
    )


def as_json(yaml_text: bytes) -> str:
    """The document as the JSON that is served (PyYAML: a build-time dependency of the package)."""
    import json

    import yaml

    return json.dumps(yaml.safe_load(yaml_text), indent=1, ensure_ascii=False) + "\n"


# The scheme metadata holds no secret and no tenant's data: every front (console, CLI) reads it.
@routes.operation("/v1/schemes", ["GET"], access="public")
def schemes() -> Response:
    """The verification schemes and signing modes: labels, headers, options, secret rules (public)."""
    from chalicelib.schemes import describe

    return json_reply(describe(), headers={"Cache-Control": "public, max-age=300"})


@routes.operation("/v1/egress", ["GET"], access="read")  # a customer's receiver allowlists them too
def egress_addresses() -> Response:
    """The addresses deliveries come from, for receivers' allowlists (static only with static egress IPs)."""
    ips = list(container().settings.egress_ips)
    return json_reply({"static": bool(ips), "ips": ips})

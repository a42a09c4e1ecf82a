"""Answers Chalice gives on its own arrive in Hookway's error shape; raw bodies reach any client.

The app runs on the in-memory fakes through Chalice's test client, which builds the same proxy events
API Gateway sends, so the framework's own checks (method, content type, Accept) run as deployed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.app import error_response
from chalice.test import Client

import app as app_module
from chalicelib import wiring
from chalicelib.api.sources import parse_create as parse_create_source
from chalicelib.replies import chalice_error, is_chalice_error
from local.gateway import Gateway
from tests.conftest import GITHUB_SECRET, Services, github_headers, make_services

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "hk_test_key"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}
UNSERVED = ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "HEAD"]


@pytest.fixture
def services() -> Services:
    return make_services(stage="test", public_url="http://127.0.0.1:8000", admin_key=ADMIN_KEY)


@pytest.fixture
def client(services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setattr(wiring, "_api", services.api)
    with Client(app_module.app, stage_name="local", project_dir=str(ROOT)) as test_client:
        yield test_client


class _Answer:
    def __init__(self, result: dict[str, Any]) -> None:
        self.status_code = int(result["statusCode"])
        self.headers = dict(result.get("headers") or {})
        self.body = str(result.get("body") or "").encode()


def _through_gateway(method: str, path: str) -> _Answer:
    """One request as the local gateway hands it to the app (Chalice's test client answers OPTIONS itself)."""
    gateway = Gateway(app_module.app)
    event = gateway.event(method, path, list(AUTH.items()), b"", "127.0.0.1")
    assert event is not None
    return _Answer(gateway.invoke(event))


def _error(response: Any) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/json"
    doc = json.loads(response.body)
    assert set(doc) == {"error"}, doc
    assert set(doc["error"]) == {"code", "message"}, doc
    assert doc["error"]["message"]
    return dict(doc["error"])


@pytest.mark.parametrize("method", UNSERVED)
@pytest.mark.parametrize(
    ("path", "allowed"),
    [("/v1/health", "GET"), ("/in/src_1", "POST, GET"), ("/v1/messages/msg_1/body", "GET")],
)
def test_a_method_a_route_does_not_serve_is_method_not_allowed(
    client: Client, method: str, path: str, allowed: str
) -> None:
    # GIVEN a route without the method WHEN it is called with it (authenticated where needed)
    response = _through_gateway(method, path)
    # THEN 405 in Hookway's shape, with Allow naming the methods it serves
    assert response.status_code == 405
    assert sorted(response.headers["Allow"].split(", ")) == sorted(allowed.split(", "))
    if method != "HEAD":
        assert _error(response)["code"] == "method_not_allowed"


def test_every_route_refuses_unserved_methods_in_the_error_shape(client: Client) -> None:
    # GIVEN every route of the app WHEN each method it does not serve is sent THEN 405 method_not_allowed
    for path, methods in app_module.app.routes.items():
        concrete = path.replace("{", "x").replace("}", "")
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"):
            if method in methods:
                continue
            response = _through_gateway(method, concrete)
            assert response.status_code == 405, (method, path)
            assert _error(response)["code"] == "method_not_allowed", (method, path)


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("UnsupportedMediaType", 415, "unsupported_media_type"),
        ("BadRequest", 400, "not_acceptable"),
        ("InternalServerError", 500, "internal_error"),
        ("MethodNotAllowedError", 405, "method_not_allowed"),
        ("TooManyRequestsError", 429, "too_many_requests"),
    ],
)
def test_chalice_error_bodies_map_to_stable_codes(name: str, status: int, code: str) -> None:
    # GIVEN an answer exactly as Chalice builds it (no route of ours lets it reach 415 or the Accept rule)
    chalice = error_response(
        message="Unsupported media type: text/x", error_code=name, http_status_code=status
    )
    # WHEN it is reshaped THEN the code is stable and Chalice's own fields are gone
    assert is_chalice_error(chalice.body)
    assert chalice_error(chalice.body, "PUT", None)["error"]["code"] == code
    assert not is_chalice_error({"Code": "x", "Message": "y", "extra": 1})


@pytest.mark.parametrize(
    "headers", [{}, {"Accept": "application/json"}, {"Accept": "text/html, */*;q=0.1"}, {"Accept": "*/*"}]
)
def test_the_message_body_is_served_to_any_client(
    client: Client, services: Services, headers: dict[str, str]
) -> None:
    # GIVEN a stored webhook
    source = services.sources.create(
        parse_create_source({"name": "gh", "verification": {"scheme": "github", "secrets": [GITHUB_SECRET]}})
    )
    body = b'{"zen": "\xff raw bytes"}'
    signed = {**{k: v[0] for k, v in github_headers(body).items()}, "content-type": "text/plain"}
    accepted = client.http.request("POST", f"/in/{source.id}", headers=signed, body=body)
    assert accepted.status_code == 202, accepted.body
    services.drain()
    message_id = json.loads(accepted.body)["id"]
    # WHEN a client with this Accept header (or none, as urllib) fetches the body
    response = client.http.request("GET", f"/v1/messages/{message_id}/body", headers={**AUTH, **headers})
    # THEN it gets the exact bytes, with the type they arrived with in Hookway-Content-Type
    assert response.status_code == 200, response.body
    assert response.body == body
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Hookway-Content-Type"] == "text/plain"

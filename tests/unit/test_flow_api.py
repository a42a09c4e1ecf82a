"""The flow-control fields of an endpoint (throttle_rate, ordering, circuit_breaker, circuit) through the
HTTP API on fakes (Chalice's test client): set on create and PATCH, shown on GET, refused by field name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client

import app as app_module
from chalicelib import wiring
from chalicelib.api.applications import parse_create as parse_create_application
from chalicelib.api.applications import parse_mint
from chalicelib.models import Circuit
from chalicelib.scope import OPERATOR
from tests.conftest import Services, make_services

ROOT = Path(__file__).resolve().parents[2]
ADMIN = {"Authorization": "Bearer hk_test_key", "Content-Type": "application/json"}


@pytest.fixture
def services() -> Services:
    return make_services(
        {"resolver": lambda host, port: ["93.184.215.14"]},
        stage="test",
        public_url="http://127.0.0.1:8000",
        admin_key="hk_test_key",
    )


@pytest.fixture
def client(services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setattr(wiring, "_api", services.api)
    with Client(app_module.app, stage_name="local", project_dir=str(ROOT)) as test_client:
        yield test_client


def _call(client: Client, method: str, path: str, doc: Any = None, headers: dict[str, str] = ADMIN) -> Any:
    body = None if doc is None else json.dumps(doc)
    response = getattr(client.http, method.lower())(path, headers=headers, body=body)
    return response.status_code, json.loads(response.body) if response.body else None


def test_flow_fields_default_to_no_limit_any_order_the_deployments_breaker_and_a_closed_circuit(
    client: Client,
) -> None:
    # GIVEN an endpoint created without flow fields WHEN it is read
    status, created = _call(client, "POST", "/v1/endpoints", {"url": "https://hooks.example.com/a"})
    assert status == 201
    _, shown = _call(client, "GET", f"/v1/endpoints/{created['id']}")
    # THEN no throttle, no ordering, the default breaker, and a closed circuit
    assert shown["throttle_rate"] is None and shown["ordering"] == "none"
    assert shown["circuit_breaker"] is None
    assert shown["circuit"] == {"state": "closed", "opened_at": None, "next_probe_at": None}


def test_flow_fields_are_set_on_create_changed_with_patch_and_cleared_with_null(client: Client) -> None:
    # GIVEN an endpoint created with a throttle and its own breaker
    doc = {
        "url": "https://hooks.example.com/a",
        "throttle_rate": 5,
        "ordering": "none",
        "circuit_breaker": {"failures": 3, "probe_seconds": 10},
    }
    status, created = _call(client, "POST", "/v1/endpoints", doc)
    assert status == 201, created
    assert created["throttle_rate"] == 5
    assert created["circuit_breaker"] == {"failures": 3, "probe_seconds": 10}
    path = f"/v1/endpoints/{created['id']}"
    # WHEN a PATCH changes the throttle only THEN the breaker stays
    status, patched = _call(client, "PATCH", path, {"throttle_rate": 50})
    assert status == 200 and patched["throttle_rate"] == 50
    assert patched["circuit_breaker"] == {"failures": 3, "probe_seconds": 10}
    # WHEN a PATCH clears both THEN GET shows the defaults again
    _call(client, "PATCH", path, {"throttle_rate": None, "circuit_breaker": None})
    _, shown = _call(client, "GET", path)
    assert shown["throttle_rate"] is None and shown["circuit_breaker"] is None


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"throttle_rate": 0}, "throttle_rate"),
        ({"throttle_rate": 501}, "throttle_rate"),
        ({"throttle_rate": 2.5}, "throttle_rate"),
        ({"throttle_rate": True}, "throttle_rate"),
        ({"throttle_rate": "10"}, "throttle_rate"),
        ({"ordering": "lifo"}, "ordering"),
        ({"ordering": None}, "ordering"),
        ({"circuit_breaker": 3}, "circuit_breaker"),
        ({"circuit_breaker": {"failures": 3}}, "circuit_breaker"),
        ({"circuit_breaker": {"failures": 3, "probe_seconds": 10, "x": 1}}, "circuit_breaker"),
        ({"circuit_breaker": {"failures": 0, "probe_seconds": 10}}, "circuit_breaker.failures"),
        ({"circuit_breaker": {"failures": "3", "probe_seconds": 10}}, "circuit_breaker.failures"),
        ({"circuit_breaker": {"failures": 3, "probe_seconds": 0}}, "circuit_breaker.probe_seconds"),
        ({"circuit_breaker": {"failures": 3, "probe_seconds": 86400}}, "circuit_breaker.probe_seconds"),
    ],
)
def test_bad_flow_values_are_400_naming_the_field_on_create_and_patch(
    client: Client, doc: dict[str, Any], field: str
) -> None:
    # GIVEN a bad flow value WHEN it is sent on create THEN 400 naming the field, nothing created
    status, body = _call(client, "POST", "/v1/endpoints", {"url": "https://hooks.example.com/a", **doc})
    assert status == 400, body
    assert field.split(".")[-1] in body["error"]["message"]
    _, listed = _call(client, "GET", "/v1/endpoints")
    assert listed["data"] == []
    # AND on PATCH of an existing endpoint: 400, the endpoint unchanged
    _, created = _call(client, "POST", "/v1/endpoints", {"url": "https://hooks.example.com/a"})
    status, body = _call(client, "PATCH", f"/v1/endpoints/{created['id']}", doc)
    assert status == 400, body
    _, shown = _call(client, "GET", f"/v1/endpoints/{created['id']}")
    assert shown["throttle_rate"] is None and shown["circuit_breaker"] is None and shown["ordering"] == "none"


def test_fifo_is_accepted_on_create_and_patch_and_shown(client: Client) -> None:
    # GIVEN a deployment with FIFO delivery WHEN an endpoint asks for it THEN 201 and GET shows it
    status, body = _call(
        client, "POST", "/v1/endpoints", {"url": "https://hooks.example.com/a", "ordering": "fifo"}
    )
    assert status == 201, body
    assert _call(client, "GET", f"/v1/endpoints/{body['id']}")[1]["ordering"] == "fifo"
    # AND a PATCH back to none, and to fifo again, is kept
    for ordering in ("none", "fifo"):
        status, _ = _call(client, "PATCH", f"/v1/endpoints/{body['id']}", {"ordering": ordering})
        assert status == 200
        assert _call(client, "GET", f"/v1/endpoints/{body['id']}")[1]["ordering"] == ordering


def test_a_token_sets_flow_fields_on_its_own_endpoints_only(client: Client, services: Services) -> None:
    # GIVEN two applications and a portal token of the first
    apps = services.api.applications
    mine = apps.create(parse_create_application({"name": "mine"}), OPERATOR)
    theirs = apps.create(parse_create_application({"name": "theirs"}), OPERATOR)
    token = services.api.tokens.mint(mine, parse_mint({}), OPERATOR).token
    as_token = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    _, other = _call(
        client, "POST", "/v1/endpoints", {"url": "https://hooks.example.com/b", "application": theirs.id}
    )
    # WHEN the token creates and patches its own endpoint's flow fields THEN they are kept
    doc = {
        "url": "https://hooks.example.com/a",
        "throttle_rate": 2,
        "circuit_breaker": {"failures": 4, "probe_seconds": 30},
    }
    status, own = _call(client, "POST", "/v1/endpoints", doc, as_token)
    assert status == 201, own
    assert own["application_id"] == mine.id and own["throttle_rate"] == 2
    status, patched = _call(client, "PATCH", f"/v1/endpoints/{own['id']}", {"throttle_rate": 3}, as_token)
    assert status == 200 and patched["throttle_rate"] == 3
    # WHEN it patches another application's endpoint THEN 404, and that endpoint is unchanged
    status, _ = _call(client, "PATCH", f"/v1/endpoints/{other['id']}", {"throttle_rate": 1}, as_token)
    assert status == 404
    _, shown = _call(client, "GET", f"/v1/endpoints/{other['id']}")
    assert shown["throttle_rate"] is None


def test_get_shows_an_open_circuit_and_enabling_a_disabled_endpoint_closes_it(
    client: Client, services: Services
) -> None:
    # GIVEN an endpoint whose circuit the sender opened, then an operator disabled it
    _, created = _call(client, "POST", "/v1/endpoints", {"url": "https://hooks.example.com/a"})
    endpoint = services.store.get_endpoint(created["id"])
    services.store.put_endpoint(endpoint.with_changes(circuit=Circuit("open", 10, 1000.0, 1060.0, 1)))
    path = f"/v1/endpoints/{created['id']}"
    # WHEN it is read THEN the circuit shows open, with its times
    _, shown = _call(client, "GET", path)
    assert shown["circuit"] == {"state": "open", "opened_at": 1000.0, "next_probe_at": 1060.0}
    # WHEN it is disabled and enabled again THEN the circuit starts closed
    _call(client, "POST", f"{path}/disable", {})
    _, enabled = _call(client, "POST", f"{path}/enable", {})
    assert enabled["circuit"]["state"] == "closed"

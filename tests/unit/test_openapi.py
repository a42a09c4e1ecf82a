"""docs/openapi.yaml: a valid OpenAPI 3.1 document that describes exactly the routes and shapes of the app.

Three checks keep the hand-written document honest: it validates; its (method, path) pairs are the Chalice
routes; and what the code really returns (the ``public()`` views, and whole HTTP answers of the app run on
the in-memory fakes) validates against the documented schemas, with no property the document leaves out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from chalice.test import Client
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from referencing import Registry
from referencing.jsonschema import DRAFT202012

import app as app_module
from chalicelib.delivery import Recovery
from chalicelib.endpoints import EndpointService, public_endpoint
from chalicelib.errors import ConflictError, NotFoundError, ValidationError
from chalicelib.models import SIGNING_MODES, Attempt, generation_of
from chalicelib.publish import Publisher
from chalicelib.sources import public_source
from chalicelib.verification import scheme_names
from tests.conftest import GITHUB_SECRET, Services, github_headers
from tests.fakes import MemoryQueue

ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = ROOT / "docs" / "openapi.yaml"
BASE_URI = "urn:hookway:openapi"
METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
ADMIN_KEY = "hk_test_key"
PUBLIC_URL = "http://127.0.0.1:8000"
AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@cache
def _doc() -> dict[str, Any]:
    with DOC_PATH.open(encoding="utf-8") as f:
        doc: dict[str, Any] = yaml.safe_load(f)
    return doc


@cache
def _registry() -> Registry:
    return Registry().with_resource(BASE_URI, DRAFT202012.create_resource(_doc()))


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointer(pointer: str) -> Any:
    node: Any = _doc()
    for raw in pointer.removeprefix("#/").split("/"):
        node = node[raw.replace("~1", "/").replace("~0", "~")]
    return node


def _deref(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = _pointer(node["$ref"])
    return node


def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{BASE_URI}{quote(pointer, safe='/#~')}"}, registry=_registry())


def _branches(schema: Any) -> Iterator[dict[str, Any]]:
    """The schema and every subschema that can add properties to the same instance."""
    schema = _deref(schema)
    if not isinstance(schema, dict):
        return
    yield schema
    for key in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(key, []):
            yield from _branches(sub)
    for key in ("then", "else"):
        if key in schema:
            yield from _branches(schema[key])


def _undeclared(instance: Any, schemas: list[Any], where: str = "$") -> list[str]:
    """Properties of ``instance`` that none of the schemas declares (where they declare a fixed set)."""
    branches = [branch for schema in schemas for branch in _branches(schema)]
    found: list[str] = []
    if isinstance(instance, dict):
        props: dict[str, list[Any]] = {}
        extra: list[Any] = []
        open_object = not any("properties" in branch for branch in branches)
        for branch in branches:
            for name, sub in branch.get("properties", {}).items():
                props.setdefault(name, []).append(sub)
            additional = branch.get("additionalProperties")
            if additional not in (None, False):
                open_object = True
                if isinstance(additional, dict):
                    extra.append(additional)
        for name, value in instance.items():
            if name not in props and not open_object:
                found.append(f"{where}.{name}")
            found += _undeclared(value, props.get(name, extra), f"{where}.{name}")
    elif isinstance(instance, list):
        items = [branch["items"] for branch in branches if isinstance(branch.get("items"), dict)]
        for index, item in enumerate(instance):
            found += _undeclared(item, items, f"{where}[{index}]")
    return sorted(set(found))


def assert_matches(instance: Any, pointer: str) -> None:
    """``instance`` validates against the schema at ``pointer`` and has no undocumented property."""
    errors = sorted(_validator(pointer).iter_errors(instance), key=lambda e: list(e.absolute_path))
    assert not errors, f"{pointer}: " + "; ".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    assert not _undeclared(instance, [_pointer(pointer)]), (
        f"{pointer}: undocumented {_undeclared(instance, [_pointer(pointer)])}"
    )


def component(name: str) -> str:
    return f"#/components/schemas/{name}"


# ------------------------------------------------------------------------------------- the document


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = _doc()
    assert doc["openapi"].startswith("3.1")
    validate(doc, cls=OpenAPIV31SpecValidator)
    assert doc["servers"][0]["url"] == PUBLIC_URL


def test_every_reference_resolves() -> None:
    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(_doc()):
        assert ref.startswith("#/"), ref
        _pointer(ref)


def test_the_documented_operations_are_exactly_the_chalice_routes() -> None:
    routes = {(m.lower(), path) for path, methods in app_module.app.routes.items() for m in methods}
    documented = {(m, path) for path, item in _doc()["paths"].items() for m in item if m in METHODS}
    assert documented - routes == set(), "documented but not routed"
    assert routes - documented == set(), "routed but not documented"


def test_path_parameters_match_the_view_arguments() -> None:
    for path, methods in app_module.app.routes.items():
        item = _doc()["paths"][path]
        for method, entry in methods.items():
            operation = item[method.lower()]
            params = [_deref(p) for p in (*item.get("parameters", []), *operation.get("parameters", []))]
            in_path = {p["name"] for p in params if p["in"] == "path"}
            assert in_path == set(entry.view_args), (method, path)


def test_the_admin_key_guards_every_v1_route_but_health() -> None:
    assert _doc()["security"] == [{"adminKey": []}]
    assert _doc()["components"]["securitySchemes"]["adminKey"] == {
        **_doc()["components"]["securitySchemes"]["adminKey"],
        "type": "http",
        "scheme": "bearer",
    }
    for path, item in _doc()["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            public = not path.startswith("/v1/") or path == "/v1/health"
            assert ("security" in operation and operation["security"] == []) == public, (method, path)
            if not public:
                assert "401" in operation["responses"], (method, path)


def test_enums_follow_the_code() -> None:
    schemas = _doc()["components"]["schemas"]
    assert schemas["SchemeName"]["enum"] == scheme_names()
    assert schemas["SigningMode"]["enum"] == list(SIGNING_MODES)
    assert schemas["SigningModeCreate"]["enum"] == [*SIGNING_MODES, "standard-ed25519"]


# --------------------------------------------------------------------- public views against the schemas


def _endpoints(services: Services) -> EndpointService:
    return EndpointService(
        services.store,
        services.clock,
        allow_private=False,
        https_only=False,
        resolver=lambda host, port: ["93.184.215.14"],
    )


FULL_SOURCE: dict[str, Any] = {
    "name": "everything",
    "description": "all the fields",
    "verification": {
        "scheme": "meta",
        "secrets": ["app-secret-0123456789"],
        "tolerance": 300,
        "options": {"verify_token": "hub-token"},
    },
    "ip_allowlist": ["192.30.252.0/22", "2001:db8::/32"],
    "basic_auth": ["user:pass"],
    "mtls": {"subjects": ["CN=client"], "issuers": None},
    "rejection_status": 403,
    "dedupe": "header:X-Request-Id",
    "replay_window": 3600,
    "max_body_bytes": 1024,
    "enabled": False,
}


def test_the_request_examples_are_valid_bodies() -> None:
    schemas = _doc()["components"]["schemas"]
    for name in ("SourceCreate", "EndpointCreate", "PublishRequest"):
        for example in schemas[name]["examples"]:
            assert_matches(example, component(name))
    assert_matches(FULL_SOURCE, component("SourceCreate"))


@pytest.mark.parametrize(
    ("schema", "body"),
    [
        ("SourceCreate", {"verification": {"scheme": "github", "secrets": ["s"]}}),
        ("SourceCreate", {"name": "x", "verification": {"scheme": "GitHub", "secrets": ["s"]}}),
        ("SourceCreate", {"name": "x", "verification": {"scheme": "hmac", "secrets": ["s"]}}),
        ("SourceCreate", {"name": "x", "verification": {"scheme": "basic", "secrets": ["nocolon"]}}),
        ("SourceCreate", {"name": "x", "verification": {"scheme": "github", "secrets": [" s"]}}),
        ("SourceCreate", {**FULL_SOURCE, "replay_window": 10}),
        ("SourceCreate", {**FULL_SOURCE, "dedupe": "cookie:x"}),
        ("EndpointCreate", {"url": "https://example.com/", "signing": "standard-ed25519", "secret": "x"}),
        ("EndpointCreate", {"url": "https://example.com/", "signing": "github", "secret": "short"}),
        ("EndpointCreate", {"url": "https://example.com/", "secret": "not-whsec"}),
        ("EndpointCreate", {"url": "https://example.com/", "timeout": 31}),
        ("EndpointUpdate", {"signing": "github"}),
        ("PublishRequest", {"event_type": "a b", "payload": 1}),
        ("PublishRequest", {"event_type": "a"}),
    ],
)
def test_bodies_the_code_refuses_do_not_validate(
    schema: str, body: dict[str, Any], services: Services
) -> None:
    assert list(_validator(component(schema)).iter_errors(body))
    with pytest.raises(ValidationError):
        if schema == "SourceCreate":
            services.sources.create(body)
        elif schema == "EndpointCreate":
            _endpoints(services).create(body)
        elif schema == "EndpointUpdate":
            endpoint, _, _ = _endpoints(services).create({"url": "https://example.com/"})
            _endpoints(services).update(endpoint.id, body)
        else:
            Publisher(store=services.store, queue=services.queue, clock=services.clock).publish(body, None)


def test_public_source_matches_the_source_schema(services: Services) -> None:
    source = services.sources.create(FULL_SOURCE)
    shown = public_source(source, PUBLIC_URL)
    assert_matches(shown, component("Source"))
    assert shown["verification"]["options"] == {"verify_token": "***"}
    minimal = services.sources.get(services.github_source())
    assert_matches(public_source(minimal, PUBLIC_URL), component("Source"))


@pytest.mark.parametrize("signing", ["standard", "github", "passthrough", "standard-ed25519"])
def test_public_endpoint_matches_the_endpoint_schema(services: Services, signing: str) -> None:
    service = _endpoints(services)
    endpoint, secret, public_key = service.create(
        {
            "url": "https://hooks.example.com/in",
            "signing": signing,
            "description": "d",
            "filter": {"sources": ["src_1"], "event_types": ["invoice.*"]},
            "headers": {"X-Tenant": "t1"},
            "auth": {"type": "basic", "username": "u", "password": "p"},
            "timeout": 5,
            "retry_schedule": [0, 60],
        }
    )
    assert_matches(public_endpoint(endpoint), component("Endpoint"))
    created = {
        **public_endpoint(endpoint),
        **({"public_key": public_key} if public_key else {"secret": secret}),
    }
    assert_matches(created, component("EndpointCreated"))
    assert_matches(service.secret(endpoint.id), component("EndpointSecret"))
    updated = service.update(endpoint.id, {"auth": {"type": "bearer", "token": "t"}, "enabled": False})
    assert_matches(public_endpoint(updated), component("Endpoint"))


def test_errors_match_the_error_schema() -> None:
    for error in (
        ValidationError("name is required", field="name"),
        NotFoundError("no source 'x'", code="source_not_found"),
        ConflictError("too many", code="too_many_secrets"),
    ):
        assert_matches(error.to_body(), component("Error"))


# ----------------------------------------------------------------------- the app's answers, over HTTP


class Api:
    """The Chalice app on the in-memory fakes; every answer is checked against the document."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.seen: set[tuple[str, str]] = set()

    def __call__(
        self,
        method: str,
        template: str,
        status: int,
        *,
        params: dict[str, str] | None = None,
        query: str = "",
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> Any:
        path = template
        for name, value in (params or {}).items():
            path = path.replace("{" + name + "}", value)
        sent = {"Content-Type": "application/json", **(AUTH if auth else {}), **(headers or {})}
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        response = self.client.http.request(method, path + query, headers=sent, body=data)
        assert response.status_code == status, (method, path, response.status_code, response.body)
        self.seen.add((method.lower(), template))
        return self._check(method.lower(), template, response)

    def _check(self, method: str, template: str, response: Any) -> Any:
        status = str(response.status_code)
        pointer = f"#/paths/{_escape(template)}/{method}/responses"
        responses = _pointer(pointer)
        key = status if status in responses else f"{status[0]}XX"
        assert key in responses, f"{method.upper()} {template}: {status} is not documented"
        pointer = f"{pointer}/{key}"
        while "$ref" in _pointer(pointer):
            pointer = _pointer(pointer)["$ref"]
        documented = _pointer(pointer)
        if response.status_code == 204:
            assert "content" not in documented
            assert response.body == b""
            return None
        media = response.headers["Content-Type"].split(";")[0].strip()
        assert media in documented["content"], f"{method.upper()} {template}: {status} {media} not documented"
        sent_headers = {h.lower() for h in response.headers}
        for header, spec in documented.get("headers", {}).items():
            assert not spec.get("required") or header.lower() in sent_headers, header
        if media == "application/json":
            doc = json.loads(response.body)
            assert_matches(doc, f"{pointer}/content/{_escape(media)}/schema")
            return doc
        return response.body


@pytest.fixture
def api(services: Services, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    container = SimpleNamespace(
        admin_key=ADMIN_KEY,
        settings=SimpleNamespace(public_url=PUBLIC_URL, stage="test", egress_ips=()),
        store=services.store,
        blobs=services.blobs,
        sources=services.sources,
        endpoints=_endpoints(services),
        publisher=Publisher(store=services.store, queue=services.queue, clock=services.clock),
        ingest=services.ingest,
    )
    container.recovery = Recovery(
        store=services.store, queue=MemoryQueue(), endpoints=container.endpoints, clock=services.clock
    )
    monkeypatch.setattr(app_module, "_container", lambda: container)
    with Client(app_module.app, stage_name="local", project_dir=str(ROOT)) as client:
        yield Api(client)


def _sign(body: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in github_headers(body).items()}


def test_every_route_answers_as_documented(api: Api, services: Services) -> None:
    src = "/v1/sources/{source_id}"
    ep = "/v1/endpoints/{endpoint_id}"
    msg = "/v1/messages/{message_id}"

    assert api("GET", "/v1/health", 200, auth=False) == {"status": "ok", "stage": "test"}
    # Without the static egress option, deliveries leave from Lambda's shared addresses: none to list.
    assert api("GET", "/v1/egress", 200) == {"static": False, "ips": []}
    api("GET", "/v1/egress", 401, auth=False)
    api("GET", "/v1/sources", 401, auth=False)
    api("POST", "/v1/sources", 400, raw=b"{not json")
    api("POST", "/v1/sources", 400, body={"name": "", "verification": {"scheme": "github", "secrets": ["s"]}})

    # sources
    gh = api(
        "POST",
        "/v1/sources",
        201,
        body={"name": "gh", "verification": {"scheme": "github", "secrets": [GITHUB_SECRET]}},
    )
    sid = {"source_id": gh["id"]}
    assert gh["ingest_url"] == f"{PUBLIC_URL}/in/{gh['id']}"
    full = api(
        "POST", "/v1/sources", 201, body={**FULL_SOURCE, "enabled": True, "ip_allowlist": None, "mtls": None}
    )
    meta_id = {"source_id": full["id"]}
    x = api(
        "POST",
        "/v1/sources",
        201,
        body={"name": "x", "verification": {"scheme": "x", "secrets": ["consumer-secret"]}},
    )
    page = api("GET", "/v1/sources", 200, query="?limit=2")
    assert page["next_cursor"] is not None
    api("GET", "/v1/sources", 200, query=f"?limit=2&cursor={page['next_cursor']}")
    api("GET", "/v1/sources", 400, query="?limit=0")
    api("GET", src, 200, params=sid)
    api("GET", src, 404, params={"source_id": "src_nope"})
    api("PATCH", src, 200, params=sid, body={"description": "patched", "dedupe": "json:/id"})
    api("PUT", src, 200, params=sid, body={"verification": {"scheme": "github", "tolerance": 600}})
    added = api(
        "POST",
        src + "/secrets",
        201,
        params=sid,
        body={"secret": "second-secret-value", "retire_others_after": 0},
    )
    api("DELETE", src + "/secrets/{secret_id}", 409, params={**sid, "secret_id": added["secret"]["id"]})
    api("DELETE", src + "/secrets/{secret_id}", 404, params={**sid, "secret_id": "sec_nope"})
    api("POST", src + "/secrets", 201, params=sid, body={"secret": GITHUB_SECRET})
    api("DELETE", src + "/secrets/{secret_id}", 204, params={**sid, "secret_id": added["secret"]["id"]})

    # ingest, handshakes and rejections
    body = b'{"zen": "Design for failure."}'
    accepted = api("POST", "/in/{source_id}", 202, params=sid, raw=body, auth=False, headers=_sign(body))
    wrong = {**_sign(body), "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert (
        api("POST", "/in/{source_id}", 401, params=sid, raw=body, auth=False, headers=wrong)["error"]["code"]
        == "signature_mismatch"
    )
    api("POST", "/in/{source_id}", 404, params={"source_id": "src_nope"}, raw=body, auth=False)
    api("GET", "/in/{source_id}", 405, params=sid, auth=False)
    hub = "?hub.mode=subscribe&hub.verify_token=hub-token&hub.challenge=c123"
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}  # user:pass, the source's Basic rule
    assert api("GET", "/in/{source_id}", 200, params=meta_id, query=hub, auth=False, headers=basic) == b"c123"
    api(
        "GET",
        "/in/{source_id}",
        403,
        params=meta_id,
        query=hub.replace("hub-token", "bad"),
        auth=False,
        headers=basic,
    )
    api("POST", "/in/{source_id}", 413, params=meta_id, raw=b"x" * 2048, auth=False, headers=basic)
    api("GET", "/in/{source_id}", 200, params={"source_id": x["id"]}, query="?crc_token=abc", auth=False)
    rejections = api("GET", src + "/rejections", 200, params=sid)
    assert rejections["counts"]["signature_mismatch"] == 1

    # messages
    assert services.drain() == ["stored"]
    api("GET", "/v1/messages", 400)
    listed = api("GET", "/v1/messages", 200, query=f"?source={gh['id']}")
    assert [m["id"] for m in listed["data"]] == [accepted["id"]]
    mid = {"message_id": accepted["id"]}
    endpoint = api("POST", "/v1/endpoints", 201, body={"url": "https://hooks.example.com/a"})
    now = services.clock()
    for number, (status, delivery) in enumerate([("failed", "pending"), ("succeeded", "succeeded")], 1):
        attempt = Attempt(
            generation=generation_of(services.store.get_message(accepted["id"])),
            message_id=accepted["id"],
            endpoint_id=endpoint["id"],
            number=number,
            claim_id=f"c{number}",
            started_at=now + number,
            status=status,
            delivery_status=delivery,
            duration_ms=12,
            response_status=500 if status == "failed" else 200,
            error_class="http_status" if status == "failed" else None,
            next_attempt_at=now + 10 if status == "failed" else None,
        )
        assert services.store.claim_attempt(attempt, now)
    detail = api("GET", msg, 200, params=mid)
    assert detail["deliveries"][0]["status"] == "succeeded"
    attempts = api("GET", msg + "/attempts", 200, params=mid, query="?limit=1")
    api("GET", msg + "/attempts", 200, params=mid, query=f"?cursor={attempts['next_cursor']}")
    api("GET", msg + "/attempts", 400, params=mid, query="?cursor=abc")
    assert api("GET", msg + "/body", 200, params=mid, headers={"Accept": "application/octet-stream"}) == body
    api("GET", msg, 404, params={"message_id": "msg_nope"})
    # documented framework behaviour: /body needs an Accept header that matches octet-stream
    bare = api.client.http.request("GET", f"/v1/messages/{accepted['id']}/body", headers=AUTH)
    assert bare.status_code == 400
    assert json.loads(bare.body)["Code"] == "BadRequest"
    published = api(
        "POST",
        "/v1/messages",
        202,
        body={"event_type": "a.b", "payload": None},
        headers={"Idempotency-Key": "k1"},
    )
    again = api(
        "POST",
        "/v1/messages",
        202,
        body={"event_type": "a.b", "payload": None},
        headers={"Idempotency-Key": "k1"},
    )
    assert again == published
    api(
        "POST",
        "/v1/messages",
        409,
        body={"event_type": "a.b", "payload": 1},
        headers={"Idempotency-Key": "k1"},
    )

    # endpoints
    eid = {"endpoint_id": endpoint["id"]}
    assert endpoint["secret"].startswith("whsec_")
    ed = api(
        "POST",
        "/v1/endpoints",
        201,
        body={"url": "https://hooks.example.com/b", "signing": "standard-ed25519"},
    )
    assert "secret" not in ed
    assert "public_key" in api("GET", ep + "/secret", 200, params={"endpoint_id": ed["id"]})
    api("POST", "/v1/endpoints", 400, body={"url": "ftp://hooks.example.com/"})
    api("GET", "/v1/endpoints", 200, query="?limit=1")
    api("GET", ep, 200, params=eid)
    api("GET", ep, 404, params={"endpoint_id": "ep_nope"})
    api(
        "PATCH",
        ep,
        200,
        params=eid,
        body={"headers": {"X-Tenant": "t"}, "auth": {"type": "bearer", "token": "t"}},
    )
    api("PATCH", ep, 400, params=eid, body={"signing": "github"})
    api("PUT", ep, 200, params=eid, body={"filter": {"event_types": ["a.*"]}})
    api("POST", ep + "/disable", 200, params=eid)
    api("POST", ep + "/enable", 200, params=eid)
    api("GET", ep + "/secret", 200, params=eid)
    api("POST", ep + "/secret/rotate", 201, params=eid, body={"retire_old_after": 60})
    api("POST", ep + "/secret/rotate", 201, params=eid)
    resent = api("POST", msg + "/resend", 202, params=mid, body={"endpoint_ids": [endpoint["id"]]})
    assert resent == {"id": accepted["id"], "endpoint_ids": [endpoint["id"]]}
    api("POST", msg + "/resend", 400, params=mid, body={"endpoint_ids": "all"})
    api("POST", msg + "/resend", 404, params=mid, body={"endpoint_ids": ["ep_nope"]})
    recovered = api("POST", ep + "/recover", 202, params=eid, body={"since": 0})
    assert recovered["count"] == len(recovered["message_ids"])
    api("POST", ep + "/recover", 400, params=eid, body={})
    api("GET", ep + "/attempts", 200, params=eid)
    api("DELETE", ep, 204, params=eid)
    api("DELETE", src, 204, params=sid)

    routes = {(m.lower(), p) for p, methods in app_module.app.routes.items() for m in methods}
    assert routes - api.seen == set(), "routes this test does not exercise"


def test_nan_in_a_published_payload_is_refused(api: Api) -> None:
    reply = api("POST", "/v1/messages", 400, raw=b'{"event_type": "a.b", "payload": {"x": NaN}}')
    assert reply["error"]["code"] == "invalid_json"

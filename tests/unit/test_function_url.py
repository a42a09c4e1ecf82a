"""The function URL front door: a function URL's event (payload 2.0) served by the app on two routes only.

Each request goes through the real handler (``app.app``, as the deployed API function is invoked) on the
in-memory fakes: the event is the one a Lambda function URL sends.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

import app as app_module
from chalicelib import wiring
from chalicelib.envelope import Envelope
from tests.conftest import Services, github_headers, make_services

ADMIN_KEY = "hk_test_key"


@pytest.fixture
def services(monkeypatch: pytest.MonkeyPatch) -> Services:
    made = make_services(stage="test", admin_key=ADMIN_KEY)
    monkeypatch.setattr(wiring, "_api", made.api)
    return made


class _Context:
    function_name = "hookway-test-api_handler"
    memory_limit_in_mb = 512
    aws_request_id = "r-1"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _event(
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    query: str = "",
    source_ip: str = "198.51.100.7",
    cookies: list[str] | None = None,
) -> dict[str, Any]:
    """The event a Lambda function URL hands the function (payload format 2.0)."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "host": "abc123.lambda-url.us-east-1.on.aws",
            "x-forwarded-proto": "https",
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abc123",
            "domainName": "abc123.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": "t",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "07/Dec/2026:20:00:00 +0000",
            "timeEpoch": 1_796_000_000_000,
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    if cookies:
        event["cookies"] = cookies
    return event


def _call(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    reply = app_module.app(event, _Context())
    assert set(reply) <= {"statusCode", "headers", "body", "isBase64Encoded", "cookies"}, reply
    body = reply["body"]
    if reply.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return int(reply["statusCode"]), json.loads(body) if body else {}, reply["headers"]


def _github(body: bytes, delivery: str = "d-1") -> dict[str, str]:
    return {k: v[0] for k, v in github_headers(body, delivery=delivery).items()}


def test_a_signed_webhook_through_the_function_url_is_accepted_with_its_exact_bytes(
    services: Services,
) -> None:
    # GIVEN a GitHub source and a signed webhook with bytes a re-encoding would change
    sid = services.github_source()
    body = b'{"zen": "caf\xc3\xa9",  "n": 1.50}'
    # WHEN it comes in through the function URL
    status, doc, _ = _call(_event("POST", f"/in/{sid}", headers=_github(body), body=body))
    # THEN 202 with the message id, and the queued envelope holds exactly the bytes received
    assert status == 202, doc
    [sent] = services.queue.sent
    assert Envelope.decode(sent).body == body


def test_publishing_through_the_function_url_needs_the_bearer_credential(services: Services) -> None:
    body = json.dumps({"event_type": "invoice.paid", "payload": {"id": 1}}).encode()
    json_type = {"content-type": "application/json"}
    # WHEN a publish comes without a credential THEN 401, nothing queued
    status, doc, _ = _call(_event("POST", "/v1/messages", headers=json_type, body=body))
    assert (status, doc["error"]["code"]) == (401, "unauthorized") and not services.queue.sent
    # WHEN with the admin key THEN 202, queued
    auth = {**json_type, "authorization": f"Bearer {ADMIN_KEY}"}
    status, doc, _ = _call(_event("POST", "/v1/messages", headers=auth, body=body))
    assert status == 202, doc
    assert len(services.queue.sent) == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/sources"),  # the management API stays behind the REST API
        ("POST", "/v1/sources"),
        ("GET", "/v1/messages"),  # search: only the publish route's POST
        ("DELETE", "/v1/messages"),
        ("GET", "/v1/health"),
        ("GET", "/console"),
        ("GET", "/portal"),
        ("POST", "/in/src_1/../../v1/sources"),  # a path that escapes /in/ by its dots
        ("POST", "/in/%2e%2e%2fv1%2fsources"),
        ("POST", "/in/"),
        ("POST", "/in/src_1/extra"),
        ("PUT", "/in/src_1"),
        ("POST", "/v1/messages/"),
    ],
)
def test_nothing_but_the_two_routes_is_served_even_with_the_admin_key(
    services: Services, method: str, path: str
) -> None:
    # GIVEN the admin key (the attacker found it, or replays an operator's request to the public URL)
    headers = {"authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"}
    # WHEN any other route is asked for through the function URL
    status, doc, response_headers = _call(_event(method, path, headers=headers, body=b'{"name": "x"}'))
    # THEN 404 not_found in Hookway's shape, before the app serves anything
    assert (status, doc["error"]["code"]) == (404, "not_found")
    assert response_headers["Content-Type"] == "application/json"
    assert not services.queue.sent


def test_a_source_that_needs_mutual_tls_rejects_what_comes_through_the_function_url(
    services: Services,
) -> None:
    # GIVEN a source with an mtls rule, and a request that claims a client certificate in its headers
    sid = services.github_source(mtls={"subjects": ["CN=client"]})
    body = b"{}"
    forged = {**_github(body), "x-amzn-mtls-clientcert": "CN=client", "x-client-cert": "CN=client"}
    # WHEN it comes through the function URL (which has no mutual TLS)
    status, doc, _ = _call(_event("POST", f"/in/{sid}", headers=forged, body=body))
    # THEN it is rejected for want of a certificate, and nothing is queued
    assert (status, doc["error"]["code"]) == (401, "client_certificate_required")
    assert not services.queue.sent


def test_the_ip_allowlist_checks_the_connection_not_a_forwarded_for_header(services: Services) -> None:
    # GIVEN a source that accepts 203.0.113.0/24 only
    sid = services.github_source(ip_allowlist=["203.0.113.0/24"])
    body = b"{}"
    spoofed = {**_github(body), "x-forwarded-for": "203.0.113.9"}
    # WHEN a request from elsewhere says it was forwarded for an allowed address THEN rejected
    status, doc, _ = _call(_event("POST", f"/in/{sid}", headers=spoofed, body=body, source_ip="198.51.100.7"))
    assert (status, doc["error"]["code"]) == (401, "ip_not_allowed")
    # AND from an allowed address it is accepted
    status, _, _ = _call(
        _event("POST", f"/in/{sid}", headers=_github(body, "d-2"), body=body, source_ip="203.0.113.9")
    )
    assert status == 202


def test_a_console_session_cookie_is_not_a_credential_through_the_function_url(services: Services) -> None:
    # GIVEN an operator's console session
    session = services.api.sessions.sign_in(ADMIN_KEY)
    body = json.dumps({"event_type": "a.b", "payload": 1}).encode()
    headers = {"content-type": "application/json", "x-hookway-csrf": session.csrf_token}
    # WHEN a publish carries only the session cookie through the function URL
    status, doc, _ = _call(
        _event(
            "POST",
            "/v1/messages",
            headers=headers,
            body=body,
            cookies=[f"hookway_session={session.session_id}"],
        )
    )
    # THEN the cookie is dropped: 401, nothing queued
    assert (status, doc["error"]["code"]) == (401, "unauthorized")
    assert not services.queue.sent


def test_a_query_string_reaches_the_webhook_url_a_sender_signed(services: Services) -> None:
    # GIVEN a GitHub source WHEN a webhook comes with a query string THEN accepted (the query is the
    # event's, parsed; repeated names kept)
    sid = services.github_source()
    body = b"{}"
    status, _, _ = _call(_event("POST", f"/in/{sid}", headers=_github(body), body=body, query="a=1&a=2&b="))
    assert status == 202

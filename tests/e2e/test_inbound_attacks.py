"""Attacks on the inbound side, performed over HTTP on the local stack (issue 19's security list).

Each test does what an outsider (or a read-only tenant) would do and checks that nothing they should not get
is stored, shown or forwarded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any
from urllib.parse import quote

from testkit.receivers import Receivers
from testkit.stack import Stack, github_headers, wait_until
from tests.conftest import GITHUB_SECRET


def _endpoint(stack: Stack, receivers: Receivers, source_id: str, **doc: Any) -> tuple[str, str]:
    """An operator endpoint receiving this source only; returns its id and receiver path."""
    path = f"/attacks/{uuid.uuid4().hex}"
    body = {"url": receivers.url(path), "filter": {"sources": [source_id]}, **doc}
    resp = stack.request("POST", "/v1/endpoints", admin=True, json_body=body)
    assert resp.status == 201, resp.body
    return str(resp.json()["id"]), path


def _settled(stack: Stack, source_id: str, marker: tuple[bytes, dict[str, str]]) -> list[dict[str, Any]]:
    """Send a good marker request and wait until it is stored: everything sent before has been routed."""
    body, headers = marker
    resp = stack.request("POST", f"/in/{source_id}", body=body, headers=headers)
    assert resp.status == 202, resp.body
    marker_id = resp.json()["id"]
    wait_until(lambda: any(m["id"] == marker_id for m in stack.messages(source_id)))
    wait_until(lambda: stack.queue_depth() == 0)
    return [m for m in stack.messages(source_id) if m["id"] != marker_id]


def test_x_crc_answer_cannot_sign_a_chosen_delivery(stack: Stack) -> None:
    # GIVEN an X source, and an outsider who knows only its ingest URL
    secret = "x-consumer-secret-" + uuid.uuid4().hex
    sid = stack.create_source({"name": "x", "verification": {"scheme": "x", "secrets": [secret]}})["id"]
    chosen = json.dumps({"for_user_id": "1", "tweet_create_events": [{"text": "forged"}]})
    # WHEN the outsider asks the CRC handshake to "sign" a chosen JSON event
    oracle = stack.request("GET", f"/in/{sid}?crc_token={quote(chosen)}")
    # THEN the token is refused (it is no crc_token X sends)
    assert oracle.status == 400, oracle.body
    assert oracle.json()["error"]["code"] == "invalid_challenge"
    # WHEN the outsider uses a token X could send, then POSTs that token as a body with the answer
    token = "dGhpcyBpcyBhIGNoYWxsZW5nZQ-_"
    answer = stack.request("GET", f"/in/{sid}?crc_token={token}")
    assert answer.status == 200, answer.body
    signature = answer.json()["response_token"]
    forged = stack.request(
        "POST",
        f"/in/{sid}",
        body=token.encode(),
        headers={"X-Twitter-Webhooks-Signature": signature, "Content-Type": "application/json"},
    )
    # THEN it is refused and nothing is enqueued: only the genuine marker below is ever stored
    assert forged.status == 401, forged.body
    assert forged.json()["error"]["code"] == "malformed_body"
    genuine = b'{"for_user_id": "2"}'
    mac = base64.b64encode(hmac.new(secret.encode(), genuine, hashlib.sha256).digest()).decode()
    marker = (genuine, {"X-Twitter-Webhooks-Signature": "sha256=" + mac})
    assert _settled(stack, sid, marker) == []


def test_source_rules_that_would_let_replays_or_any_certificate_in_are_refused(stack: Stack) -> None:
    # GIVEN an operator (or a script) sending weak source rules over the API
    stripe = {"scheme": "stripe", "secrets": ["whsec_" + uuid.uuid4().hex]}
    cases = [
        # a dedupe memory shorter than the signature's validity (300 s each side): a copy replays
        ({"name": "s", "verification": stripe, "replay_window": 120}, "replay_window"),
        # an mTLS rule naming nothing accepts every certificate
        ({"name": "m", "verification": stripe, "mtls": {}}, "mtls"),
    ]
    for doc, field in cases:
        # WHEN created THEN 400 naming the field
        resp = stack.request("POST", "/v1/sources", json_body=doc, admin=True)
        assert resp.status == 400, resp.body
        assert resp.json()["error"]["field"] == field
        # WHEN a good source is updated to it THEN 400 too, and the source is unchanged
        sid = stack.create_source({"name": "ok", "verification": stripe})["id"]
        patch = {k: v for k, v in doc.items() if k in ("replay_window", "mtls")}
        resp = stack.request("PATCH", f"/v1/sources/{sid}", json_body=patch, admin=True)
        assert resp.status == 400 and resp.json()["error"]["field"] == field, resp.body
        shown = stack.request("GET", f"/v1/sources/{sid}", admin=True).json()
        assert (shown["replay_window"], shown["mtls"]) == (3 * 86400, None)


def test_a_captured_github_delivery_replayed_with_a_new_id_is_stored_once(stack: Stack) -> None:
    # GIVEN a GitHub source, and an attacker holding one captured, signed delivery
    sid = stack.github_source()
    body = json.dumps({"action": "opened", "n": uuid.uuid4().hex}).encode()
    original = github_headers(body, "delivery-1")
    first = stack.request("POST", f"/in/{sid}", body=body, headers=original)
    assert first.status == 202, first.body
    # WHEN it is replayed with fresh delivery ids and other event types (GitHub signs the body only)
    replays = [
        {**github_headers(body, f"delivery-{n}"), "X-GitHub-Event": event}
        for n, event in ((2, "release"), (3, "push"), (4, "deployment"))
    ]
    ids = {stack.request("POST", f"/in/{sid}", body=body, headers=h).json()["id"] for h in replays}
    # THEN every copy is the first message, and it is stored once, its header-derived type marked unverified
    assert ids == {first.json()["id"]}
    marker_body = b'{"marker": true}'
    [stored] = _settled(stack, sid, (marker_body, github_headers(marker_body, "marker")))
    assert (stored["delivery_id"], stored["event_type"]) == ("delivery-1", "push")
    assert stored["event_type_verified"] is False


def test_an_event_type_that_would_break_every_attempt_is_dropped_and_the_message_delivered(
    stack: Stack, receivers: Receivers
) -> None:
    # GIVEN a source whose provider signs bodies carrying event types no HTTP header can hold
    secret = "whsec_" + base64.b64encode(uuid.uuid4().bytes * 2).decode()
    sid = stack.create_source({"name": "sw", "verification": {"scheme": "standard", "secrets": [secret]}})[
        "id"
    ]
    endpoint_id, path = _endpoint(stack, receivers, sid)
    sent = []
    for event_type in ("order.created\r\nX-Injected: 1", "\u2603.created", "x" * 5000):
        body = json.dumps({"type": event_type, "data": {}}).encode()
        msg_id, ts = f"msg_{uuid.uuid4().hex}", str(int(time.time()))
        key = base64.b64decode(secret.removeprefix("whsec_"))
        mac = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest())
        headers = {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": "v1," + mac.decode()}
        # WHEN it arrives THEN it is accepted (the signature is good) ...
        resp = stack.request("POST", f"/in/{sid}", body=body, headers=headers)
        assert resp.status == 202, resp.body
        sent.append(resp.json()["id"])

    # ... stored without the event type, marked invalid, and delivered (not failing every attempt)
    def delivered(message_id: str) -> Any:
        resp = stack.request("GET", f"/v1/messages/{message_id}", admin=True)
        doc = resp.json() if resp.status == 200 else {}
        return doc if [d["status"] for d in doc.get("deliveries", [])] == ["succeeded"] else None

    for message_id in sent:
        shown = wait_until(lambda m=message_id: delivered(m))
        assert (shown["event_type"], shown["event_type_invalid"]) == (None, True)
        assert shown["deliveries"][0]["endpoint_id"] == endpoint_id
    assert len(receivers.at(path)) == 3
    assert all("hookway-event-type" not in r.headers for r in receivers.at(path))


def _token(stack: Stack, application_id: str) -> dict[str, str]:
    resp = stack.request(
        "POST", f"/v1/applications/{application_id}/portal-access", admin=True, json_body={"read_only": True}
    )
    assert resp.status == 201, resp.body
    return {"Authorization": f"Bearer {resp.json()['token']}"}


def test_a_sources_credentials_are_neither_shown_nor_forwarded(stack: Stack, receivers: Receivers) -> None:
    # GIVEN an application's token source (its secret in a custom header) and GitHub source, a passthrough
    # endpoint of that application, and a read-only portal token of it
    app = stack.request("POST", "/v1/applications", admin=True, json_body={"name": "creds"}).json()["id"]
    secret = "tok-" + uuid.uuid4().hex
    token_source = stack.create_source(
        {
            "name": "t",
            "application": app,
            "verification": {
                "scheme": "token",
                "secrets": [secret],
                "options": {"header": "X-Webhook-Token"},
            },
        }
    )["id"]
    github = stack.create_source(
        {"name": "g", "application": app, "verification": {"scheme": "github", "secrets": [GITHUB_SECRET]}}
    )["id"]
    path = f"/attacks/{uuid.uuid4().hex}"
    endpoint = stack.request(
        "POST",
        "/v1/endpoints",
        admin=True,
        json_body={"url": receivers.url(path), "application": app, "signing": "passthrough"},
    )
    assert endpoint.status == 201, endpoint.body
    reader = _token(stack, app)
    # WHEN the provider sends its secret in the token header, again in other headers and in the query string
    body = b'{"order": 1}'
    resp = stack.request(
        "POST",
        f"/in/{token_source}?token={secret}&api_key={secret}&copy={quote('Bearer ' + secret)}&keep=1",
        body=body,
        headers={"X-Webhook-Token": secret, "X-Echo": f"Bearer {secret}", "X-Plain": "kept"},
    )
    assert resp.status == 202, resp.body
    token_message = resp.json()["id"]
    gh_body = b'{"action": "signed"}'
    gh = stack.request(
        "POST", f"/in/{github}", body=gh_body, headers=github_headers(gh_body, uuid.uuid4().hex)
    )
    assert gh.status == 202, gh.body
    wait_until(lambda: len(receivers.at(path)) == 2)
    # THEN the read-only token reads the messages (list and one by one) without the secret or a signature
    listing = stack.request("GET", "/v1/messages?limit=50", headers=reader)
    assert listing.status == 200 and secret.encode() not in listing.body
    for message_id in (token_message, gh.json()["id"]):
        shown = stack.request("GET", f"/v1/messages/{message_id}", headers=reader)
        assert shown.status == 200 and secret.encode() not in shown.body
        assert not any("signature" in name for name in shown.json()["headers"])
    token_doc = stack.request("GET", f"/v1/messages/{token_message}", headers=reader).json()
    assert token_doc["headers"]["x-plain"] == "kept" and token_doc["query"] == "keep=1"
    # ... the operator still sees the provider's signature
    operator_view = stack.request("GET", f"/v1/messages/{gh.json()['id']}", admin=True).json()
    assert operator_view["headers"]["x-hub-signature-256"].startswith("sha256=")
    # ... and the passthrough receiver gets no secret in any header
    for received in receivers.at(path):
        assert all(secret not in value for value in received.headers.values()), received.headers
    assert any(r.headers.get("x-plain") == "kept" for r in receivers.at(path))

"""Attacks on the inbound side, performed over HTTP on the local stack (issue 19's security list).

Each test does what an outsider (or a read-only tenant) would do and checks that nothing they should not get
is stored, shown or forwarded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import quote

from tests.stack import Stack, wait_until


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

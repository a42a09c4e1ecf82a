"""No credential of a source is stored with its messages; no signature is shown to an application token."""

from __future__ import annotations

import base64

from chalicelib.api.sources import parse_create as parse_create_source
from chalicelib.envelope import Envelope
from chalicelib.inbound.credentials import for_tokens, strip_query
from chalicelib.messages import shown_to
from chalicelib.scope import OPERATOR, Scope
from tests.conftest import Services, github_headers, inbound

SECRET = "s3cret-token-value"


def test_a_token_sources_header_and_every_copy_of_its_secret_are_dropped(services: Services) -> None:
    # GIVEN a token source reading X-Webhook-Token, with Basic auth as well
    sid = services.sources.create(
        parse_create_source(
            {
                "name": "t",
                "verification": {
                    "scheme": "token",
                    "secrets": [SECRET],
                    "options": {"header": "X-Webhook-Token"},
                },
                "basic_auth": ["user:basic-password-1"],
            }
        )
    ).id
    basic = "Basic " + base64.b64encode(b"user:basic-password-1").decode()
    headers = {
        "x-webhook-token": [SECRET],
        "authorization": [basic],
        "x-copy": [f"Bearer {SECRET}"],
        "x-basic-copy": [basic],
        "x-plain": ["kept"],
    }
    request = inbound(sid, b"{}", headers)
    request = type(request)(**{**request.__dict__, "query_string": f"token={SECRET}&a=1&x={SECRET}&key=k"})
    # WHEN it is accepted THEN the envelope holds no copy of either credential
    assert services.ingest.receive(request).status == 202
    text = services.queue.sent[0]
    assert SECRET not in text and "basic-password-1" not in text and basic.split()[1] not in text
    envelope = Envelope.decode(text)
    assert envelope.headers == {"x-plain": "kept"}
    assert envelope.query == "a=1"


def test_a_short_secret_is_dropped_only_as_a_whole_value() -> None:
    assert strip_query("a=abc&b=xabcx&c=1", ["abc"]) == "b=xabcx&c=1"
    assert strip_query("a=long-secret-value&b=Bearer%20long-secret-value", ["long-secret-value"]) == ""
    assert strip_query("", [SECRET]) == ""


def test_an_application_token_never_sees_a_signature(services: Services) -> None:
    # GIVEN a stored GitHub message
    sid = services.github_source()
    services.ingest.receive(inbound(sid, b"{}", {**github_headers(b"{}"), "x-api-key": ["k"]}))
    message_id = Envelope.decode(services.queue.sent[0]).id
    services.drain()
    message = services.store.get_message(message_id)
    # WHEN shown THEN the operator sees the signature, a token sees none of the signature-like headers
    assert "x-hub-signature-256" in shown_to(message, OPERATOR).headers
    token_view = shown_to(message, Scope(application_id="app_1", read_only=True)).headers
    assert set(token_view) == {"x-github-delivery", "x-github-event", "content-type"}
    assert (
        for_tokens({"Stripe-Signature": "t=1", "webhook-signature": "v1,x", "X-Shopify-Hmac-Sha256": "x"})
        == {}
    )
